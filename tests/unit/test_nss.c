/* Unit tests of the name service's request checks (authd/nss/): numbers and names. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mcfile.h"
#include "nss.h"
#include "nss_lookup.h"

static void test_id_parse(void **state)
{
	unsigned long v = 7;

	(void)state;
	assert_true(nss_id_parse("1000", 1, UINT32_MAX - 1, &v));
	assert_int_equal(v, 1000);
	v = 7;
	/* not a number, signs, spaces, trailing text, zero, out of range: refused, v untouched */
	assert_false(nss_id_parse(NULL, 1, 10, &v));
	assert_false(nss_id_parse("", 1, 10, &v));
	assert_false(nss_id_parse("-1", 1, 10, &v));
	assert_false(nss_id_parse("+5", 1, 10, &v));
	assert_false(nss_id_parse(" 5", 1, 10, &v));
	assert_false(nss_id_parse("5x", 1, 10, &v));
	assert_false(nss_id_parse("0", 0, 10, &v));
	assert_false(nss_id_parse("11", 1, 10, &v));
	assert_false(nss_id_parse("4294967295", 1, UINT32_MAX - 1, &v));
	assert_false(nss_id_parse("99999999999999999999999", 1, ULONG_MAX, &v));
	assert_int_equal(v, 7);
}

static void test_name_ok(void **state)
{
	char big[MC_KEY_MAX + 2];

	(void)state;
	assert_true(nss_name_ok("jdupont"));
	assert_true(nss_name_ok("jean.dupont@example.org"));
	assert_false(nss_name_ok(NULL));
	assert_false(nss_name_ok(""));
	assert_false(nss_name_ok("a b"));
	assert_false(nss_name_ok("a,b"));
	assert_false(nss_name_ok("a:b"));
	assert_false(nss_name_ok("a\tb"));
	assert_false(nss_name_ok("a\x7f"));
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_false(nss_name_ok(big));
	big[MC_KEY_MAX] = '\0';
	assert_true(nss_name_ok(big));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_parse),
		cmocka_unit_test(test_name_ok),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
