/* Unit tests for the lockout arithmetic of the login services (authd/login/lockout.c): no directory, no daemon. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "login.h"

#define NOW 1700000000LL
#define DURATION 900u

static void test_until_none(void **state)
{
	(void)state;
	assert_int_equal(lockout_until(NOW, 0, 0, false, DURATION), 0);
	/* A lock that ended is no lock. */
	assert_int_equal(lockout_until(NOW, NOW - 1, 0, false, DURATION), 0);
	assert_int_equal(lockout_until(NOW, NOW, 0, false, DURATION), 0);
}

static void test_until_daemon_lock(void **state)
{
	(void)state;
	assert_int_equal(lockout_until(NOW, NOW + 60, 0, false, DURATION), NOW + 60);
}

static void test_until_ppolicy_lock(void **state)
{
	(void)state;
	/* ppolicy locked 100 s ago: locked for the rest of the duration. */
	assert_int_equal(lockout_until(NOW, 0, NOW - 100, false, DURATION), NOW - 100 + DURATION);
	/* The later of the two ends. */
	assert_int_equal(lockout_until(NOW, NOW + 5000, NOW - 100, false, DURATION), NOW + 5000);
	assert_int_equal(lockout_until(NOW, NOW + 10, NOW - 100, false, DURATION), NOW - 100 + DURATION);
	/* Locked long ago: over. */
	assert_int_equal(lockout_until(NOW, 0, NOW - DURATION - 1, false, DURATION), 0);
	/* ppolicy's permanent lock: a year from now, whatever else says. */
	assert_int_equal(lockout_until(NOW, 0, 0, true, DURATION), NOW + 365LL * 86400);
}

static void test_bind_failures(void **state)
{
	long long t[] = {NOW - 10, NOW - 500, NOW - DURATION - 5, NOW - 2000};

	(void)state;
	assert_int_equal(lockout_bind_failures(NULL, 0, NOW, DURATION, 0), 0);
	/* Only those within the window count. */
	assert_int_equal(lockout_bind_failures(t, 4, NOW, DURATION, 0), 2);
	/* A login since forgives the failures before it. */
	assert_int_equal(lockout_bind_failures(t, 4, NOW, DURATION, NOW - 100), 1);
	assert_int_equal(lockout_bind_failures(t, 4, NOW, DURATION, NOW), 0);
}

static void test_attempts(void **state)
{
	(void)state;
	assert_int_equal(lockout_attempt_limit(5, 0), 5);
	assert_int_equal(lockout_attempt_limit(5, 2), 3);
	assert_true(lockout_attempt_limit(5, 5) <= 0);
	/* Attempt n of 5 locks at the fifth, counting the binds. */
	assert_false(lockout_reached(5, 4, 0));
	assert_true(lockout_reached(5, 5, 0));
	assert_true(lockout_reached(5, 3, 2));
	assert_false(lockout_reached(5, 2, 2));
	/* No threshold: never. */
	assert_false(lockout_reached(0, 1000, 1000));
}

static void test_otp_carried(void **state)
{
	(void)state;
	/* The tries of a code sent within the duration go with the next code. */
	assert_int_equal(lockout_otp_carried(NOW, NOW - 60, 2, DURATION), 2);
	assert_int_equal(lockout_otp_carried(NOW, NOW - DURATION, 2, DURATION), 0);
	assert_int_equal(lockout_otp_carried(NOW, 0, 2, DURATION), 0);
	/* A clock gone backwards, or a negative count, carries nothing. */
	assert_int_equal(lockout_otp_carried(NOW, NOW + 10, 2, DURATION), 0);
	assert_int_equal(lockout_otp_carried(NOW, NOW - 60, -3, DURATION), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_until_none),
		cmocka_unit_test(test_until_daemon_lock),
		cmocka_unit_test(test_until_ppolicy_lock),
		cmocka_unit_test(test_bind_failures),
		cmocka_unit_test(test_attempts),
		cmocka_unit_test(test_otp_carried),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
