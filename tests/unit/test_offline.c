/* Unit tests for the offline-login failure counts (authd/login/offline.c): reserved before the check, kept in files, never shared, never trusted when tampered with. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "offline.h"
#include "secret.h"

static char dir[] = "/tmp/mm-offline-unit-XXXXXX";
static char sub[64];

static int setup(void **state)
{
	char key[128], err[256];
	FILE *f;

	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(key, sizeof(key), "%s/key", dir);
	f = fopen(key, "w");
	if (!f)
		return -1;
	fputs("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", f);
	fclose(f);
	chmod(key, 0600);
	return secret_init(key, 1, 8192 * 1024, 1, err, sizeof(err)) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A fresh offline_dir per test. */
static struct mm_config conf(const char *name)
{
	struct mm_config c;

	memset(&c, 0, sizeof(c));
	snprintf(sub, sizeof(sub), "%s/%s", dir, name);
	c.offline_dir = sub;
	c.offline_login = true;
	c.lockout_threshold = 3;
	c.lockout_duration = 600;
	return c;
}

static void test_reserved_attempts_are_capped_and_lock(void **state)
{
	struct mm_config c = conf("cap");
	long long until = -1;
	unsigned n;

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(offline_attempt_reserve(&c, "alice", &until, &n), 0);
	/* three attempts in flight: a fourth is not evaluated */
	assert_int_equal(offline_attempt_reserve(&c, "alice", &until, &n), -ENOLCK);
	assert_int_equal(until, 0);
	/* the third failure locks */
	assert_int_equal(offline_attempt_failed(&c, "alice", &until), 0);
	assert_true(until > (long long)time(NULL) + 500);
	assert_int_equal(offline_attempt_reserve(&c, "alice", &until, &n), -ENOLCK);
	assert_true(until > (long long)time(NULL) + 500);
}

static void test_two_logins_never_share_a_count(void **state)
{
	struct mm_config c = conf("share");
	long long until;
	unsigned n;

	(void)state;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(offline_attempt_reserve(&c, "bob", &until, &n), 0);
		assert_int_equal(offline_attempt_reserve(&c, "carol", &until, &n), 0);
	}
	assert_int_equal(offline_attempt_reserve(&c, "bob", &until, &n), -ENOLCK);
	assert_int_equal(offline_attempt_reset(&c, "carol", 0), 0);
	assert_int_equal(offline_attempt_reserve(&c, "carol", &until, &n), 0);
	assert_int_equal(offline_attempt_reserve(&c, "bob", &until, &n), -ENOLCK);
}

static void test_right_password_forgives(void **state)
{
	struct mm_config c = conf("forgive");
	long long until;
	unsigned n;

	(void)state;
	for (int i = 0; i < 2; i++)
		assert_int_equal(offline_attempt_reserve(&c, "dan", &until, &n), 0);
	assert_int_equal(offline_attempt_reset(&c, "dan", 0), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(offline_attempt_reserve(&c, "dan", &until, &n), 0);
	/* nothing to reset for a login without failures */
	assert_int_equal(offline_attempt_reset(&c, "nobody-yet", 0), 0);
}

/* The .fails file of a login: the only one in its directory besides what other tests made. */
static void fails_path(const struct mm_config *c, char *out, size_t outsz)
{
	char cmd[256];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls %s/*.fails", c->offline_dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, (int)outsz, p));
	out[strcspn(out, "\n")] = '\0';
	pclose(p);
}

static void test_damaged_or_exposed_files_are_not_trusted(void **state)
{
	struct mm_config c = conf("damage");
	char path[512];
	long long until;
	unsigned n;
	int fd;

	(void)state;
	assert_int_equal(offline_attempt_reserve(&c, "erin", &until, &n), 0);
	fails_path(&c, path, sizeof(path));
	/* garbage counts as spent, not as forgiven */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "fails=x", 7), 7);
	close(fd);
	assert_int_equal(offline_attempt_reserve(&c, "erin", &until, &n), -ENOLCK);
	/* readable by others: refused */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(offline_attempt_reserve(&c, "erin", &until, &n), -EPERM);
	/* a symbolic link in its place: refused */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink("/dev/null", path), 0);
	assert_true(offline_attempt_reserve(&c, "erin", &until, &n) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reserved_attempts_are_capped_and_lock),
		cmocka_unit_test(test_two_logins_never_share_a_count),
		cmocka_unit_test(test_right_password_forgives),
		cmocka_unit_test(test_damaged_or_exposed_files_are_not_trusted),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
