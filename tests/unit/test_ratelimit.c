/* Unit tests of the login rate limiter (authd/core/ratelimit.c): keyed placement, no reset by a colliding key. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ratelimit.h"

#define SETS 64
static const unsigned char fixed_key[RATELIMIT_KEY_BYTES] = "0123456789abcdef";
static const struct rate_rule slow = {.burst = 3, .per_second = 3 / 60.0}; /* 3 a minute */
static const struct rate_rule fast = {.burst = 2, .per_second = 100};

static int take(struct ratelimit *rl, enum rate_kind kind, const char *id, const struct rate_rule *rule,
	long long now, unsigned *retry)
{
	return ratelimit_take(rl, kind, id, strlen(id), rule, now, retry);
}

static struct ratelimit *table(void)
{
	struct ratelimit *rl = NULL;

	assert_int_equal(ratelimit_new(SETS, fixed_key, &rl), 0);
	return rl;
}

static void drain(struct ratelimit *rl, enum rate_kind kind, const char *id, const struct rate_rule *rule,
	long long now)
{
	unsigned retry = 0;

	for (int i = 0; i < (int)rule->burst; i++)
		assert_int_equal(take(rl, kind, id, rule, now, &retry), 0);
	assert_int_equal(take(rl, kind, id, rule, now, &retry), -EAGAIN);
	assert_true(retry >= 1);
}

/* Ids "uid=N" of other callers that land in the victim's set: what an attacker
 * who knew the key would compute. */
static size_t colliding_ids(
	struct ratelimit *rl, enum rate_kind kind, const char *victim, char ids[][32], size_t want)
{
	size_t set = ratelimit_set_of(rl, RATE_LOGIN_SOURCE, victim, strlen(victim)), n = 0;

	for (unsigned uid = 1; n < want && uid < 10000000; uid++) {
		snprintf(ids[n], sizeof(ids[n]), "uid=%u", uid);
		if (strcmp(ids[n], victim) && ratelimit_set_of(rl, kind, ids[n], strlen(ids[n])) == set)
			n++;
	}
	return n;
}

static void test_colliding_key_does_not_refill_victim_bucket(void **state)
{
	struct ratelimit *rl = table();
	char ids[3 * RATELIMIT_WAYS][32];
	unsigned retry = 0;
	size_t n = colliding_ids(rl, RATE_LOGIN_SOURCE, "uid=1000", ids, 3 * RATELIMIT_WAYS);
	int refused = 0;

	assert_int_equal(n, 3 * RATELIMIT_WAYS);
	drain(rl, RATE_LOGIN_SOURCE, "uid=1000", &slow, 1000);
	/* Every colliding key takes what it can: the set fills, newcomers wait. */
	for (size_t i = 0; i < n; i++) {
		int r = take(rl, RATE_LOGIN_SOURCE, ids[i], &slow, 1001, &retry);

		if (r == -ENOBUFS) {
			assert_true(retry >= 1);
			refused++;
		} else {
			assert_int_equal(r, 0);
		}
	}
	assert_int_equal(refused, (int)n - (RATELIMIT_WAYS - 1));
	assert_int_equal(take(rl, RATE_LOGIN_SOURCE, "uid=1000", &slow, 1002, &retry), -EAGAIN);
	assert_true(retry >= 1 && retry <= 20);
	/* A minute later the victim has its tokens back. */
	assert_int_equal(take(rl, RATE_LOGIN_SOURCE, "uid=1000", &slow, 61002, &retry), 0);
	ratelimit_free(rl);
}

static void test_full_buckets_are_evicted_before_a_spent_one(void **state)
{
	struct ratelimit *rl = table();
	char ids[3 * RATELIMIT_WAYS][32];
	unsigned retry = 0;
	size_t n = colliding_ids(rl, RATE_LOGIN_ACCOUNT, "uid=1000", ids, 3 * RATELIMIT_WAYS);

	assert_int_equal(n, 3 * RATELIMIT_WAYS);
	drain(rl, RATE_LOGIN_SOURCE, "uid=1000", &slow, 1000);
	/* Fast buckets are full again 100 ms later: forgetting them loses nothing,
	 * so newcomers take their place, in least-recently-used order. */
	for (size_t i = 0; i < n; i++)
		assert_int_equal(
			take(rl, RATE_LOGIN_ACCOUNT, ids[i], &fast, 1000 + 100 * (long long)i, &retry), 0);
	assert_int_equal(
		take(rl, RATE_LOGIN_SOURCE, "uid=1000", &slow, 1000 + 100 * (long long)n, &retry), -EAGAIN);
	ratelimit_free(rl);
}

static void test_bucket_refills_at_its_rate(void **state)
{
	struct ratelimit *rl = table();
	unsigned retry = 0;

	drain(rl, RATE_LOGIN_ACCOUNT, "pierre.durand", &slow, 0);
	assert_int_equal(take(rl, RATE_LOGIN_ACCOUNT, "pierre.durand", &slow, 10000, &retry), -EAGAIN);
	assert_true(retry >= 10 && retry <= 11); /* 10 s, rounded up */
	assert_int_equal(take(rl, RATE_LOGIN_ACCOUNT, "pierre.durand", &slow, 20001, &retry), 0);
	assert_int_equal(take(rl, RATE_LOGIN_ACCOUNT, "pierre.durand", &slow, 20002, &retry), -EAGAIN);
	ratelimit_free(rl);
}

static void test_kinds_and_ids_have_their_own_buckets(void **state)
{
	struct ratelimit *rl = table();
	unsigned retry = 0;

	drain(rl, RATE_LOGIN_SOURCE, "uid=1000", &slow, 0);
	assert_int_equal(take(rl, RATE_LOGIN_ACCOUNT, "uid=1000", &slow, 0, &retry), 0);
	assert_int_equal(take(rl, RATE_LOGIN_SOURCE, "uid=1001", &slow, 0, &retry), 0);
	/* ids are bytes, not strings */
	assert_int_equal(ratelimit_take(rl, RATE_HTTP_SOURCE, "a\0b", 3, &slow, 0, &retry), 0);
	assert_int_equal(ratelimit_take(rl, RATE_HTTP_SOURCE, "a\0c", 3, &slow, 0, &retry), 0);
	ratelimit_free(rl);
}

static void test_placement_depends_on_the_secret_and_uses_every_set(void **state)
{
	struct ratelimit *a = table(), *b = NULL;
	unsigned char other[RATELIMIT_KEY_BYTES] = "fedcba9876543210";
	bool hit[SETS] = {false}, differ = false;
	char id[32];

	assert_int_equal(ratelimit_new(SETS, other, &b), 0);
	for (unsigned i = 0; i < 4096; i++) {
		snprintf(id, sizeof(id), "uid=%u", i);
		hit[ratelimit_set_of(a, RATE_LOGIN_SOURCE, id, strlen(id))] = true;
		differ |= ratelimit_set_of(a, RATE_LOGIN_SOURCE, id, strlen(id)) !=
			ratelimit_set_of(b, RATE_LOGIN_SOURCE, id, strlen(id));
	}
	assert_true(differ);
	for (size_t s = 0; s < SETS; s++)
		assert_true(hit[s]); /* even sets too */
	ratelimit_free(a);
	ratelimit_free(b);
}

static void test_bad_arguments(void **state)
{
	struct ratelimit *rl = NULL;
	static char big[RATELIMIT_ID_MAX + 2];
	const struct rate_rule none = {.burst = 0, .per_second = 1};
	unsigned retry = 77;

	assert_int_equal(ratelimit_new(3, NULL, &rl), -EINVAL);
	assert_null(rl);
	assert_int_equal(ratelimit_new(0, NULL, &rl), -EINVAL);
	rl = table();
	memset(big, 'x', sizeof(big) - 1);
	assert_int_equal(take(rl, RATE_LOGIN_SOURCE, big, &slow, 0, &retry), -EINVAL);
	assert_int_equal(take(rl, RATE_LOGIN_SOURCE, "uid=1", &none, 0, &retry), -EINVAL);
	assert_int_equal(retry, 77);
	ratelimit_free(rl);
	ratelimit_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_colliding_key_does_not_refill_victim_bucket),
		cmocka_unit_test(test_full_buckets_are_evicted_before_a_spent_one),
		cmocka_unit_test(test_bucket_refills_at_its_rate),
		cmocka_unit_test(test_kinds_and_ids_have_their_own_buckets),
		cmocka_unit_test(test_placement_depends_on_the_secret_and_uses_every_set),
		cmocka_unit_test(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
