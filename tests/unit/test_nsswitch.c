/* nsswitch.conf lines as glibc reads them: which sources a passwd line names. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "nsswitch.h"

static char src[8][NSSWITCH_SOURCE_MAX];

static void expect_sources(const char *line, const char *want)
{
	char got[512] = "";
	int n = nsswitch_line_sources(line, "passwd", src, 8);

	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		if (i)
			strcat(got, " ");
		strcat(got, src[i]);
	}
	assert_string_equal(got, want);
}

static void test_plain_lines(void **state)
{
	(void)state;
	expect_sources("passwd: files systemd\n", "files systemd");
	expect_sources("  passwd:\tfiles   sss  medimail  # comment sss2\n", "files sss medimail");
	expect_sources("passwd:", "");
	expect_sources("PASSWD: files ldap", "files ldap");
}

static void test_actions_name_no_source(void **state)
{
	(void)state;
	expect_sources("passwd: files [NOTFOUND=return] sss", "files sss");
	/* glibc ends a name at '[': the source before it counts */
	expect_sources("passwd: files sss[NOTFOUND=return] medimail", "files sss medimail");
	expect_sources("passwd: files [ !UNAVAIL = return  SUCCESS=continue ] ldap", "files ldap");
	/* an unclosed action list ends the services */
	expect_sources("passwd: files [NOTFOUND=return sss", "files");
}

static void test_blank_before_colon(void **state)
{
	(void)state;
	expect_sources("passwd : files sss", "files sss");
	expect_sources("passwd\t:sss", "sss");
}

static void test_other_lines(void **state)
{
	(void)state;
	assert_int_equal(nsswitch_line_sources("group: files sss", "passwd", src, 8), -ENOENT);
	assert_int_equal(nsswitch_line_sources("passwdx: files sss", "passwd", src, 8), -ENOENT);
	assert_int_equal(nsswitch_line_sources("# passwd: sss", "passwd", src, 8), -ENOENT);
	assert_int_equal(nsswitch_line_sources("passwd files sss", "passwd", src, 8), -ENOENT);
	assert_int_equal(nsswitch_line_sources("", "passwd", src, 8), -ENOENT);
	assert_int_equal(nsswitch_line_sources(NULL, "passwd", src, 8), -ENOENT);
}

static void test_odd_names_left_out(void **state)
{
	char line[200];

	(void)state;
	expect_sources("passwd: files ../../tmp/x SSS sss", "files sss");
	memset(line, 0, sizeof(line));
	strcpy(line, "passwd: files ");
	memset(line + strlen(line), 'a', NSSWITCH_SOURCE_MAX);
	strcat(line, " sss");
	expect_sources(line, "files sss");
	/* no more than max */
	assert_int_equal(nsswitch_line_sources("passwd: a b c d e f g h i j", "passwd", src, 8), 8);
	assert_string_equal(src[7], "h");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_lines),
		cmocka_unit_test(test_actions_name_no_source),
		cmocka_unit_test(test_blank_before_colon),
		cmocka_unit_test(test_other_lines),
		cmocka_unit_test(test_odd_names_left_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
