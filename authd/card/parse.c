/* Parsers of what a card and its helper send: the helper's answers and the
 * certificate subject (DER Name). Untrusted bytes; fuzzed (fuzz_cardsubject). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sodium.h>

#include "../card/cardproto.h"
#include "card_priv.h"
#include "validate.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int card_hex_decode(const char *s, unsigned char *out, size_t max, size_t *ret_len)
{
	size_t n = strlen(s);

	if (n % 2 || n / 2 > max)
		return -EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		int h = hexval(s[2 * i]), l = hexval(s[2 * i + 1]);
		if (h < 0 || l < 0)
			return -EINVAL;
		out[i] = (unsigned char)(h * 16 + l);
	}
	*ret_len = n / 2;
	return 0;
}

void card_hex_encode(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

void card_copy_word(char *dst, size_t dstsz, const char *src)
{
	size_t n = 0;

	/* Results and labels are short words; anything else is refused by the caller. */
	while (src && src[n] && n + 1 < dstsz)
		n++;
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

void card_answer_clear(struct card_answer *a)
{
	free(a->cert);
	sodium_memzero(a, sizeof(*a));
}

int card_answer_parse(const struct mm_msg *m, struct card_answer *ret)
{
	const char *result = mm_msg_get(m, "result"), *tries = mm_msg_get(m, "tries");
	const char *token = mm_msg_get(m, "token"), *cert = mm_msg_get(m, "cert"),
		   *sig = mm_msg_get(m, "sig");
	struct card_answer a = {0};

	memset(ret, 0, sizeof(*ret));
	if (!m->reply || !result || strlen(result) >= sizeof(a.result) ||
		strspn(result, "abcdefghijklmnopqrstuvwxyz_") != strlen(result))
		return -EBADMSG;
	if (tries && strcmp(tries, "low") && strcmp(tries, "final"))
		return -EBADMSG;
	if (mm_msg_get(m, "pin_tried") && strcmp(mm_msg_get(m, "pin_tried"), "yes"))
		return -EBADMSG;
	a.pin_tried = mm_msg_get(m, "pin_tried") != NULL;
	if (token && (strlen(token) >= sizeof(a.token) || validate_text(token, sizeof(a.token) - 1) < 0))
		return -EBADMSG;
	card_copy_word(a.result, sizeof(a.result), result);
	card_copy_word(a.tries, sizeof(a.tries), tries);
	card_copy_word(a.token, sizeof(a.token), token);
	if (!strcmp(result, "ok") && (!cert || !sig || !*cert || !*sig))
		return -EBADMSG;
	/* A read (MM_CARD_OP_READ) answers "present" with the certificate alone. */
	if (!strcmp(result, "ok") || (!strcmp(result, "present") && cert)) {
		if (!*cert)
			return -EBADMSG;
		a.cert = malloc(strlen(cert) / 2 + 1);
		if (!a.cert)
			return -ENOMEM;
		if (card_hex_decode(cert, a.cert, MM_CARD_CERT_MAX, &a.cert_len) < 0 ||
			(sig && card_hex_decode(sig, a.sig, sizeof(a.sig), &a.sig_len) < 0)) {
			card_answer_clear(&a);
			return -EBADMSG;
		}
	}
	*ret = a;
	return 0;
}

/* An AVA value as UTF-8 text without control characters. */
static int ava_text(const gnutls_x509_ava_st *ava, char *out, size_t outsz)
{
	const unsigned char *p = ava->value.data;
	size_t n = ava->value.size, o = 0;

	switch (ava->value_tag) {
	case 12: /* UTF8String */
	case 19: /* PrintableString */
	case 22: /* IA5String */
		if (n >= outsz)
			return -EINVAL;
		memcpy(out, p, n);
		o = n;
		break;
	case 20: /* TeletexString: read as Latin-1, as the old cards wrote it */
		for (size_t i = 0; i < n; i++) {
			if (o + 3 > outsz)
				return -EINVAL;
			if (p[i] < 0x80) {
				out[o++] = (char)p[i];
			} else {
				out[o++] = (char)(0xc0 | (p[i] >> 6));
				out[o++] = (char)(0x80 | (p[i] & 0x3f));
			}
		}
		break;
	case 30: /* BMPString: UCS-2 big-endian, no surrogates */
		if (n % 2)
			return -EINVAL;
		for (size_t i = 0; i < n; i += 2) {
			unsigned u = (unsigned)p[i] << 8 | p[i + 1];
			if (u >= 0xd800 && u <= 0xdfff)
				return -EINVAL;
			if (o + 4 > outsz)
				return -EINVAL;
			if (u < 0x80) {
				out[o++] = (char)u;
			} else if (u < 0x800) {
				out[o++] = (char)(0xc0 | (u >> 6));
				out[o++] = (char)(0x80 | (u & 0x3f));
			} else {
				out[o++] = (char)(0xe0 | (u >> 12));
				out[o++] = (char)(0x80 | ((u >> 6) & 0x3f));
				out[o++] = (char)(0x80 | (u & 0x3f));
			}
		}
		break;
	default: return -EINVAL;
	}
	out[o] = '\0';
	if (memchr(out, '\0', o) || validate_utf8(out, o) < 0)
		return -EINVAL;
	for (size_t i = 0; i < o; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			return -EINVAL;
	return 0;
}

static bool oid_is(const gnutls_x509_ava_st *ava, const char *oid)
{
	size_t n = ava->oid.size;

	/* gnutls may count the terminating NUL */
	if (n > 0 && ava->oid.data[n - 1] == '\0')
		n--;
	return n == strlen(oid) && !memcmp(ava->oid.data, oid, n);
}

int card_subject_parse(const unsigned char *der, size_t len, struct card_subject *ret)
{
	static const struct {
		const char *oid;
		size_t off;
	} wanted[] = {
		{"2.5.4.3", offsetof(struct card_subject, cn)},
		{"2.5.4.4", offsetof(struct card_subject, sn)},
		{"2.5.4.42", offsetof(struct card_subject, gn)},
		{"2.5.4.12", offsetof(struct card_subject, title)},
		{"2.5.4.6", offsetof(struct card_subject, c)},
	};
	struct card_subject s = {0};
	gnutls_x509_dn_t dn = NULL;
	gnutls_datum_t d = {(unsigned char *)der, (unsigned)len};
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	if (len == 0 || len > 64 * 1024)
		return -EBADMSG;
	if (gnutls_x509_dn_init(&dn) < 0)
		return -ENOMEM;
	if (gnutls_x509_dn_import(dn, &d) < 0) {
		r = -EBADMSG;
		goto out;
	}
	for (int irdn = 0; irdn < 64; irdn++) {
		int iava;
		for (iava = 0; iava < 16; iava++) {
			gnutls_x509_ava_st ava;
			int g = gnutls_x509_dn_get_rdn_ava(dn, irdn, iava, &ava);

			if (g == GNUTLS_E_ASN1_ELEMENT_NOT_FOUND)
				break;
			if (g < 0) {
				r = -EBADMSG;
				goto out;
			}
			if (oid_is(&ava, "2.5.4.11")) {
				if (!s.ou[0] && ava_text(&ava, s.ou, sizeof(s.ou)) < 0) {
					r = -EINVAL;
					goto out;
				}
				continue;
			}
			for (size_t w = 0; w < sizeof(wanted) / sizeof(wanted[0]); w++) {
				char *dst = (char *)&s + wanted[w].off;
				if (!oid_is(&ava, wanted[w].oid))
					continue;
				/* A repeated CN would make the identity ambiguous. */
				if (*dst || ava_text(&ava, dst, CARD_FIELD_MAX) < 0 || !*dst) {
					r = -EINVAL;
					goto out;
				}
			}
		}
		if (iava == 0)
			break;
	}
	if (s.cn[0] == '8' && strlen(s.cn) == 12 && strspn(s.cn + 1, "0123456789") == 11 &&
		validate_rpps(s.cn + 1) == 0) {
		s.kind = CARD_ID_RPPS;
		memcpy(s.id, s.cn + 1, 12);
	} else if (s.cn[0] == '0' && strlen(s.cn) == 10 && validate_adeli(s.cn + 1) == 0) {
		s.kind = CARD_ID_ADELI;
		memcpy(s.id, s.cn + 1, 10);
	}
	*ret = s;
out:
	gnutls_x509_dn_deinit(dn);
	return r;
}
