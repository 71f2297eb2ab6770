/* Unit tests for the CPS certificate subject parser and the helper's answers (authd/card/parse.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "card.h"
#include "wire.h"

/* A tiny DER writer: enough to build Names attribute by attribute. */
struct der {
	unsigned char b[4096];
	size_t n;
};

static void tlv(struct der *out, unsigned char tag, const unsigned char *p, size_t n)
{
	out->b[out->n++] = tag;
	if (n < 128) {
		out->b[out->n++] = (unsigned char)n;
	} else {
		out->b[out->n++] = 0x82;
		out->b[out->n++] = (unsigned char)(n >> 8);
		out->b[out->n++] = (unsigned char)n;
	}
	memcpy(out->b + out->n, p, n);
	out->n += n;
}

/* AVA of attribute 2.5.4.<attr> with a value of ASN.1 type tag. */
static void ava(struct der *rdn, unsigned char attr, unsigned char tag, const void *v, size_t n)
{
	struct der a = {.n = 0};
	const unsigned char oid[] = {0x55, 0x04, attr};

	tlv(&a, 0x06, oid, sizeof(oid));
	tlv(&a, tag, v, n);
	tlv(rdn, 0x30, a.b, a.n);
}

static void ava_s(struct der *rdn, unsigned char attr, const char *s)
{
	ava(rdn, attr, 12, s, strlen(s));
}

enum { CN = 3, SN = 4, C = 6, OU = 11, TITLE = 12, GN = 42 };

static void rdn_close(struct der *name, struct der *rdn)
{
	tlv(name, 0x31, rdn->b, rdn->n);
	rdn->n = 0;
}

static int parse(struct der *name, struct card_subject *s)
{
	struct der seq = {.n = 0};

	tlv(&seq, 0x30, name->b, name->n);
	return card_subject_parse(seq.b, seq.n, s);
}

/* CN=810002813839+SN=DONNAT-GADY+GN=ISABELLE, title=Médecin, C=FR */
static void test_cps_subject(void **state)
{
	struct der name = {.n = 0}, rdn = {.n = 0};
	struct card_subject s;

	ava(&rdn, C, 19, "FR", 2);
	rdn_close(&name, &rdn);
	ava_s(&rdn, TITLE, "Médecin");
	rdn_close(&name, &rdn);
	ava(&rdn, CN, 19, "810002813839", 12);
	ava_s(&rdn, SN, "DONNAT-GADY");
	ava_s(&rdn, GN, "ISABELLE");
	rdn_close(&name, &rdn);
	assert_int_equal(parse(&name, &s), 0);
	assert_string_equal(s.cn, "810002813839");
	assert_int_equal(s.kind, CARD_ID_RPPS);
	assert_string_equal(s.id, "10002813839");
	assert_string_equal(s.sn, "DONNAT-GADY");
	assert_string_equal(s.gn, "ISABELLE");
	assert_string_equal(s.title, "Médecin");
	assert_string_equal(s.c, "FR");
}

/* Older cards: CN=0<ADELI>, the profession in OU. */
static void test_adeli_subject(void **state)
{
	struct der name = {.n = 0}, rdn = {.n = 0};
	struct card_subject s;

	ava_s(&rdn, OU, "Infirmier");
	rdn_close(&name, &rdn);
	ava_s(&rdn, OU, "second OU ignored");
	rdn_close(&name, &rdn);
	ava_s(&rdn, CN, "0751234567");
	rdn_close(&name, &rdn);
	assert_int_equal(parse(&name, &s), 0);
	assert_int_equal(s.kind, CARD_ID_ADELI);
	assert_string_equal(s.id, "751234567");
	assert_string_equal(s.ou, "Infirmier");
	assert_string_equal(s.title, "");
}

static void test_national_id_shapes(void **state)
{
	static const struct {
		const char *cn;
		enum card_id_kind kind;
	} cases[] = {
		{"810002813839", CARD_ID_RPPS},
		{"810002813838", CARD_ID_NONE}, /* Luhn fails */
		{"81000281383", CARD_ID_NONE}, /* too short */
		{"8100028138390", CARD_ID_NONE}, /* too long */
		{"10002813839", CARD_ID_NONE}, /* no prefix */
		{"310000120", CARD_ID_NONE}, /* FINESS-based id */
		{"0ABCDEFGH1", CARD_ID_ADELI},
		{"0ABC-EFGH1", CARD_ID_NONE},
		{"DONNAT", CARD_ID_NONE},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct der name = {.n = 0}, rdn = {.n = 0};
		struct card_subject s;

		ava_s(&rdn, CN, cases[i].cn);
		rdn_close(&name, &rdn);
		assert_int_equal(parse(&name, &s), 0);
		assert_int_equal(s.kind, cases[i].kind);
		if (s.kind == CARD_ID_NONE)
			assert_string_equal(s.id, "");
	}
}

static void test_string_types(void **state)
{
	struct der name = {.n = 0}, rdn = {.n = 0};
	struct card_subject s;
	const unsigned char bmp[] = {0x00, 'M', 0x00, 0xe9, 0x00, 'd'}; /* "Méd" */
	const unsigned char t61[] = {'H', 0xe9, 'l', 0xe8, 'n', 'e'}; /* Latin-1 "Hélène" */

	ava(&rdn, TITLE, 30, bmp, sizeof(bmp));
	ava(&rdn, GN, 20, t61, sizeof(t61));
	ava(&rdn, CN, 22, "810002813839", 12);
	rdn_close(&name, &rdn);
	assert_int_equal(parse(&name, &s), 0);
	assert_string_equal(s.title, "Méd");
	assert_string_equal(s.gn, "Hélène");
	assert_int_equal(s.kind, CARD_ID_RPPS);
}

static void test_refusals(void **state)
{
	struct card_subject s;
	struct der name = {.n = 0}, rdn = {.n = 0};
	const unsigned char junk[] = {0x30, 0x05, 0x31, 0x03, 0x30, 0x01};

	/* Two CNs: which identity? */
	ava_s(&rdn, CN, "810002813839");
	ava_s(&rdn, CN, "810001045367");
	rdn_close(&name, &rdn);
	assert_int_equal(parse(&name, &s), -EINVAL);
	assert_int_equal(s.kind, CARD_ID_NONE);
	/* Control characters, invalid UTF-8, NUL, unknown string types. */
	name.n = 0;
	ava_s(&rdn, CN, "8100\n02813839");
	rdn_close(&name, &rdn);
	assert_int_equal(parse(&name, &s), -EINVAL);
	name.n = 0;
	ava(&rdn, SN, 12, "\xc3\x28", 2);
	rdn_close(&name, &rdn);
	assert_int_equal(parse(&name, &s), -EINVAL);
	name.n = 0;
	ava(&rdn, SN, 12, "A\0B", 3);
	rdn_close(&name, &rdn);
	assert_int_equal(parse(&name, &s), -EINVAL);
	name.n = 0;
	ava(&rdn, SN, 4, "AB", 2);
	rdn_close(&name, &rdn);
	assert_int_equal(parse(&name, &s), -EINVAL);
	name.n = 0;
	ava(&rdn, TITLE, 30, "\xd8\x00", 2); /* lone surrogate */
	rdn_close(&name, &rdn);
	assert_int_equal(parse(&name, &s), -EINVAL);
	/* Too long for the field. */
	{
		char big[200];
		memset(big, 'A', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		name.n = 0;
		ava_s(&rdn, SN, big);
		rdn_close(&name, &rdn);
		assert_int_equal(parse(&name, &s), -EINVAL);
	}
	/* Not DER at all. */
	assert_int_equal(card_subject_parse(junk, sizeof(junk), &s), -EBADMSG);
	assert_int_equal(card_subject_parse((const unsigned char *)"x", 0, &s), -EBADMSG);
}

static struct mm_msg *answer(const char *const *kv)
{
	struct mm_msg *m = mm_msg_new(0x0f01, true);

	assert_non_null(m);
	for (size_t i = 0; kv[i]; i += 2)
		assert_int_equal(mm_msg_add(m, kv[i], kv[i + 1]), 0);
	return m;
}

static void test_helper_answers(void **state)
{
	static const char *const ok[] = {
		"result", "ok", "token", "CPS-1", "cert", "3003020100", "sig", "abcd", NULL};
	static const char *const pin[] = {"result", "pin_incorrect", "tries", "final", NULL};
	static const char *const bad[][9] = {
		{"result", "ok", "cert", "30030", "sig", "ab", NULL}, /* odd hex */
		{"result", "ok", "cert", "3003", NULL}, /* no signature */
		{"result", "ok", "cert", "zz", "sig", "ab", NULL}, /* not hex */
		{"result", "pin_incorrect", "tries", "3", NULL}, /* tries is a word */
		{"result", "Ok!", NULL}, {"tries", "low", NULL}, /* no result */
	};
	struct card_answer a;
	struct mm_msg *m;

	m = answer(ok);
	assert_int_equal(card_answer_parse(m, &a), 0);
	assert_string_equal(a.result, "ok");
	assert_string_equal(a.token, "CPS-1");
	assert_int_equal(a.cert_len, 5);
	assert_memory_equal(a.cert, "\x30\x03\x02\x01\x00", 5);
	assert_int_equal(a.sig_len, 2);
	card_answer_clear(&a);
	mm_msg_free(m);

	m = answer(pin);
	assert_int_equal(card_answer_parse(m, &a), 0);
	assert_string_equal(a.result, "pin_incorrect");
	assert_string_equal(a.tries, "final");
	assert_null(a.cert);
	card_answer_clear(&a);
	mm_msg_free(m);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = answer(bad[i]);
		assert_int_equal(card_answer_parse(m, &a), -EBADMSG);
		assert_null(a.cert);
		mm_msg_free(m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cps_subject),
		cmocka_unit_test(test_adeli_subject),
		cmocka_unit_test(test_national_id_shapes),
		cmocka_unit_test(test_string_types),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_helper_answers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
