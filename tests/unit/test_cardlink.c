/* Unit tests for the card services' typed logic that needs no directory and
 * no card (authd/card/link.c, verify.c): the records of linked cards, and
 * the refusals a link or an unlink makes before it reads anything. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "card.h"
#include "card_priv.h"
#include "../../card/cardproto.h"
#include "protocol.h"

#define FP_A "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FP_B "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* An account entry built on the stack (never freed). */
struct fake {
	struct entry e;
	struct attr a[8];
	char *vals[8][4];
};

static void fake_put(struct fake *f, const char *name, const char *const *vals)
{
	size_t i = f->e.nattrs++, n = 0;

	f->a[i].name = (char *)name;
	for (; vals[n]; n++)
		f->vals[i][n] = (char *)vals[n];
	f->a[i].nvals = n;
	f->a[i].vals = f->vals[i];
}

static void fake_init(struct fake *f, const char *type, const char *status)
{
	memset(f, 0, sizeof(*f));
	f->e.dn = (char *)"uid=jean.nouveau,ou=people,dc=test";
	f->e.attrs = f->a;
	fake_put(f, "uid", (const char *const[]){"jean.nouveau", NULL});
	fake_put(f, "mmAccountType", (const char *const[]){type, NULL});
	fake_put(f, "mmStatus", (const char *const[]){status, NULL});
}

static void test_no_card(void **state)
{
	struct card_record *v = (struct card_record *)&v;
	struct fake f;
	size_t n = 7;

	(void)state;
	fake_init(&f, MM_TYPE_MED, MM_STATUS_ACTIVE);
	assert_int_equal(card_records(&f.e, &v, &n), 0);
	assert_null(v);
	assert_int_equal(n, 0);
}

static void test_records(void **state)
{
	struct card_record *v = NULL;
	struct fake f;
	size_t n = 0;

	(void)state;
	fake_init(&f, MM_TYPE_MED, MM_STATUS_ACTIVE);
	fake_put(&f, "mmCardCert", (const char *const[]){FP_A, FP_B, NULL});
	/* Details of B only; one that merely starts like A's fingerprint; one cut short. */
	fake_put(&f, "mmCardInfo",
		(const char *const[]){FP_B
			" 20260101000000Z 20250101000000Z 20280101000000Z CN=8 1+SN=NOUVEAU,C=FR",
			FP_A "0 20260101000000Z 20250101000000Z 20280101000000Z CN=faux",
			FP_A " 20260101000000Z 20250101000000Z", NULL});
	assert_int_equal(card_records(&f.e, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].fingerprint, FP_A);
	assert_null(v[0].subject);
	assert_string_equal(v[1].fingerprint, FP_B);
	assert_string_equal(v[1].subject, "CN=8 1+SN=NOUVEAU,C=FR");
	assert_string_equal(v[1].linked_at, "20260101000000Z");
	assert_string_equal(v[1].not_before, "20250101000000Z");
	assert_string_equal(v[1].not_after, "20280101000000Z");
	free(v);
}

static struct caller user(void)
{
	struct caller who;

	caller_from_peer(&who, 1000, 1000, 1, false);
	return who;
}

static void test_unlink_refusals(void **state)
{
	struct caller who = user();
	struct fault f = {0};
	struct fake a;

	(void)state;
	fake_init(&a, MM_TYPE_MED, MM_STATUS_ACTIVE);
	fake_put(&a, "mmCardCert", (const char *const[]){FP_A, NULL});
	for (size_t i = 0; i < 4; i++) {
		static const char *const bad[] = {"md5:abc", FP_A "a",
			"sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", ""};

		assert_int_equal(card_unlink(NULL, NULL, &who, &a.e, bad[i], &f), -EINVAL);
		assert_string_equal(fault_get(&f, "field"), "fingerprint");
		assert_string_equal(fault_get(&f, "rule"), "syntax");
		fault_clear(&f);
	}
	assert_int_equal(card_unlink(NULL, NULL, &who, &a.e, NULL, &f), -EINVAL);
	fault_clear(&f);
	/* A card that is not on the account: nothing is written. */
	assert_int_equal(card_unlink(NULL, NULL, &who, &a.e, FP_B, &f), -ENOENT);
	assert_non_null(f.message);
	fault_clear(&f);
}

static void test_link_refusals(void **state)
{
	struct caller who = user(), admin;
	struct card_link_result res;
	struct fault f = {0};
	struct fake a, org, closed;

	(void)state;
	caller_from_peer(&admin, 0, 0, 1, true);
	fake_init(&a, MM_TYPE_MED, MM_STATUS_ACTIVE);
	fake_init(&org, MM_TYPE_ORG, MM_STATUS_ACTIVE);
	fake_init(&closed, MM_TYPE_PER, MM_STATUS_CLOSED);

	/* The PIN form is the administrators'. */
	assert_int_equal(card_link(NULL, NULL, &who, &a.e, &(struct card_link_args){.pin = "1234"}, &res, &f),
		-EACCES);
	fault_clear(&f);
	/* The owner's form carries no PIN. */
	assert_int_equal(
		card_link(NULL, NULL, &who, &a.e,
			&(struct card_link_args){.pin = "1234", .link_ticket = "x", .txn = "y"}, &res, &f),
		-EINVAL);
	assert_string_equal(fault_get(&f, "field"), "pin");
	assert_string_equal(fault_get(&f, "rule"), "unexpected");
	fault_clear(&f);
	/* An administrator's link needs a PIN of a sane length. */
	assert_int_equal(card_link(NULL, NULL, &admin, &a.e, &(struct card_link_args){0}, &res, &f), -EINVAL);
	assert_string_equal(fault_get(&f, "rule"), "required");
	fault_clear(&f);
	{
		char pin[MM_CARD_PIN_MAX + 2];

		memset(pin, '1', sizeof(pin) - 1);
		pin[sizeof(pin) - 1] = '\0';
		assert_int_equal(
			card_link(NULL, NULL, &admin, &a.e, &(struct card_link_args){.pin = pin}, &res, &f),
			-EINVAL);
		assert_string_equal(fault_get(&f, "rule"), "max_length");
		fault_clear(&f);
	}
	/* A card goes on an individual account that is not closed. */
	assert_int_equal(
		card_link(NULL, NULL, &admin, &org.e, &(struct card_link_args){.pin = "1234"}, &res, &f),
		-EPERM);
	assert_string_equal(fault_get(&f, "reason"), "account_state");
	fault_clear(&f);
	assert_int_equal(
		card_link(NULL, NULL, &admin, &closed.e, &(struct card_link_args){.pin = "1234"}, &res, &f),
		-EPERM);
	assert_string_equal(fault_get(&f, "reason"), "account_state");
	fault_clear(&f);
}

/* The owner's link: the ticket is checked before the login, so that a wrong
 * ticket does not spend the login's txn. */
static int txn_never(void *ctx, const char *txn, const char *dn)
{
	(void)txn;
	(void)dn;
	(*(int *)ctx)++;
	return 0;
}

static void test_link_ticket_first(void **state)
{
	struct caller who = user();
	struct card_link_result res;
	struct fault f = {0};
	struct fake a;
	int calls = 0;
	struct card_link_args args = {
		.txn = "t", .link_ticket = "0000", .txn_consume = txn_never, .txn_ctx = &calls};
	struct mm_config c = {0};

	(void)state;
	fake_init(&a, MM_TYPE_MED, MM_STATUS_ACTIVE);
	assert_int_equal(card_link(NULL, &c, &who, &a.e, &args, &res, &f), -EACCES);
	assert_string_equal(fault_get(&f, "reason"), "ticket");
	assert_int_equal(calls, 0);
	fault_clear(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_card),
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_unlink_refusals),
		cmocka_unit_test(test_link_refusals),
		cmocka_unit_test(test_link_ticket_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
