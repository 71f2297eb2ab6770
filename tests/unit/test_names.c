/* Unit tests of the name-service name rule: reserved list, patterns, configured names, group prefix, ranges. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "names.h"
#include "nsswitch.h"
#include "reserved.h"

static struct mm_config *parse(const char *extra)
{
	struct mm_config *c = NULL;
	char text[2048], err[256] = "";

	snprintf(text, sizeof(text), "hash_key_file = /k\n%s", extra);
	if (config_parse(text, strlen(text), &c, err, sizeof(err)) < 0)
		fail_msg("config: %s", err);
	return c;
}

static const char *rule_of(const struct mm_config *c, const char *name)
{
	const char *rule = "unset";

	if (names_check(c, NULL, name, 0, &rule) == 0)
		return NULL;
	return rule;
}

static void test_builtin_reserved_names(void **state)
{
	struct mm_config *c = parse("");

	(void)state;
	for (const char *const *n = (const char *const[]){"root", "sudo", "adm", "wheel", "shadow", "disk",
		     "docker", "lxd", "staff", "daemon", "bin", "sys", "nogroup", NULL};
		*n; n++) {
		assert_true(mm_name_reserved_builtin(*n));
		assert_string_equal(rule_of(c, *n), "reserved_name");
	}
	/* sudo and polkit may compare case-blind: "Sudo" and "ROOT" are the same names */
	assert_string_equal(rule_of(c, "Sudo"), "reserved_name");
	assert_string_equal(rule_of(c, "ROOT"), "reserved_name");
	/* a name that only starts like a reserved one is not reserved */
	assert_null(rule_of(c, "sudoku-club"));
	assert_null(rule_of(c, "rooted"));
	assert_null(rule_of(c, "pharmacie-du-centre"));
	assert_null(rule_of(c, "jean.durand"));
	config_free(c);
}

static void test_patterns(void **state)
{
	struct mm_config *c = parse("");

	(void)state;
	assert_string_equal(rule_of(c, "systemd-journal"), "reserved_name");
	assert_string_equal(rule_of(c, "systemd-network"), "reserved_name");
	assert_string_equal(rule_of(c, "Systemd-Timesync"), "reserved_name");
	assert_string_equal(rule_of(c, "_apt"), "reserved_name");
	assert_null(rule_of(c, "systemd"));
	assert_null(rule_of(c, "labo-systemd-x"));
	assert_true(mm_name_match("mss-*", "mss-x"));
	assert_true(mm_name_match("mss-*", "MSS-"));
	assert_false(mm_name_match("mss-*", "ms"));
	assert_false(mm_name_match("abc", "abcd"));
	assert_false(mm_name_match("", "x"));
	config_free(c);
}

static void test_configured_reserved_names(void **state)
{
	struct mm_config *c = parse("reserved_names = comptabilite, dsi-*\n");

	(void)state;
	assert_string_equal(rule_of(c, "comptabilite"), "reserved_name");
	assert_string_equal(rule_of(c, "dsi-admins"), "reserved_name");
	assert_string_equal(rule_of(c, "sudo"), "reserved_name"); /* added to, never replacing, the list */
	assert_null(rule_of(c, "dsi"));
	config_free(c);
}

static void test_bad_reserved_names_refused(void **state)
{
	struct mm_config *c = (struct mm_config *)1;
	char err[256] = "";
	const char *t = "hash_key_file = /k\nreserved_names = a*b\n";

	(void)state;
	assert_true(config_parse(t, strlen(t), &c, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "reserved_names"));
}

static void test_group_prefix(void **state)
{
	struct mm_config *none = parse(""), *c = parse("org_group_prefix = mss-\n");
	char name[64];

	(void)state;
	/* without a prefix the group is the ORG's login, and "sudo" is refused */
	assert_int_equal(names_group_name(none, "sudo", name, sizeof(name)), 0);
	assert_string_equal(name, "sudo");
	assert_string_equal(rule_of(none, name), "reserved_name");
	assert_string_equal(names_group_login(none, "labo"), "labo");
	/* with one, every group name carries it: "mss-sudo" is no local group */
	assert_int_equal(names_group_name(c, "sudo", name, sizeof(name)), 0);
	assert_string_equal(name, "mss-sudo");
	assert_null(rule_of(c, name));
	assert_string_equal(names_group_login(c, "mss-labo"), "labo");
	assert_null(names_group_login(c, "labo"));
	assert_null(names_group_login(c, "mss-"));
	assert_null(names_group_login(c, "sudo"));
	assert_int_equal(names_group_name(c, "abcdefgh", name, 8), -ENAMETOOLONG);
	config_free(none);
	config_free(c);
}

static void test_bad_prefix_refused(void **state)
{
	const char *bad[] = {"MSS-", "-mss", "mss:", "a-prefix-far-too-long", "9x", NULL};

	(void)state;
	for (size_t i = 0; bad[i]; i++) {
		struct mm_config *c = (struct mm_config *)1;
		char text[128], err[256] = "";

		snprintf(text, sizeof(text), "hash_key_file = /k\norg_group_prefix = %s\n", bad[i]);
		assert_true(config_parse(text, strlen(text), &c, err, sizeof(err)) < 0);
		assert_non_null(strstr(err, "org_group_prefix"));
	}
}

static void test_numbers(void **state)
{
	struct mm_config *c =
		parse("uid_min = 210000\nuid_max = 219999\ngid_min = 310000\ngid_max = 310999\n");
	const char *rule = NULL;

	(void)state;
	assert_int_equal(names_check_uid(c, NULL, 210000, 0, &rule), 0);
	assert_int_equal(names_check_uid(c, NULL, 0, 0, &rule), -EPERM);
	assert_string_equal(rule, "uid_range");
	assert_int_equal(names_check_uid(c, NULL, 220000, 0, &rule), -EPERM);
	assert_int_equal(names_check_gid(c, NULL, 310999, 0, &rule), 0);
	assert_int_equal(names_check_gid(c, NULL, 27, 0, &rule), -EPERM);
	assert_string_equal(rule, "gid_range");
	config_free(c);
}

/* The host view: what this machine's own sources enumerate (root is in every /etc/passwd). */
static void test_host_view(void **state)
{
	struct host_view *h = NULL;
	struct mm_config *c = parse("uid_min = 1\nuid_max = 100\n");
	const char *rule = NULL;

	(void)state;
	assert_int_equal(host_view_load(&h), 0);
	assert_true(host_knows_uid(h, 0, 0));
	assert_true(host_knows_gid(h, 0, 0));
	assert_true(host_knows_name(h, "root", 0));
	assert_true(host_knows_name(h, "ROOT", 0)); /* case-blind */
	assert_false(host_knows_name(h, "no-such-name-on-any-host.x", 0));
	assert_false(host_knows_name(h, "no-such-name-on-any-host.x", NAMES_ASK_HOST));
	assert_true(host_knows_name(NULL, "root", NAMES_ASK_HOST | NAMES_USER));
	assert_true(host_knows_uid(NULL, 0, NAMES_ASK_HOST));
	assert_false(host_knows_uid(NULL, 0, 0));
	/* uid 0 is refused before the host is even asked */
	assert_int_equal(names_check_uid(c, h, 0, 0, &rule), -EPERM);
	assert_string_equal(rule, "uid_range");
	host_view_free(h);
	config_free(c);
}

/* Which nsswitch.conf texts let the view stand for the host's sources, and
 * every text this reader might take otherwise than glibc refused. */
static int src_of(const char *text, size_t len, bool group)
{
	int pw = -2, gr = -2;

	if (nsswitch_plain_sources(text, len, &pw, &gr) < 0) {
		assert_int_equal(pw, -1);
		assert_int_equal(gr, -1);
		return -1;
	}
	return group ? gr : pw;
}
#define SRC(text) src_of(text, sizeof(text) - 1, false)
#define GSRC(text) src_of(text, sizeof(text) - 1, true)

static void test_nsswitch_sources(void **state)
{
	(void)state;
	assert_int_equal(SRC("passwd: files\ngroup: files\n"), NSS_SRC_FILES);
	assert_int_equal(SRC("passwd:\tfiles medimail\ngroup: files\n"), NSS_SRC_FILES | NSS_SRC_MEDIMAIL);
	assert_int_equal(SRC("# c\n  passwd:  files [NOTFOUND=return] systemd\ngroup: files\n\n"),
		NSS_SRC_FILES | NSS_SRC_SYSTEMD);
	assert_int_equal(
		SRC("passwd: files[SUCCESS=merge notfound=Continue]\ngroup: files\n"), NSS_SRC_FILES);
	assert_int_equal(SRC("passwd: files sss\ngroup: files\n"), NSS_SRC_FILES | NSS_SRC_OTHER);
	assert_int_equal(SRC("passwd: compat\ngroup: files\n"), NSS_SRC_OTHER);
	assert_int_equal(SRC("passwd: filesystem\ngroup: files\n"), NSS_SRC_OTHER); /* a word, not a prefix */
	assert_int_equal(SRC("passwd: Files\ngroup: files\n"), NSS_SRC_OTHER); /* libnss_Files: not ours */
	assert_int_equal(SRC("passwd:\ngroup: files\n"), 0);
	assert_int_equal(GSRC("passwd: files\ngroup: files ldap\n"), NSS_SRC_FILES | NSS_SRC_OTHER);
	assert_int_equal(
		SRC("passwd: files\ngroup: files\nsudoers: files sss\nhosts: files dns\n"), NSS_SRC_FILES);
	/* Debian's own */
	assert_int_equal(SRC("passwd:         files systemd\ngroup:          files systemd\n"
			     "shadow:         files systemd\nnetgroup:       nis\n"),
		NSS_SRC_FILES | NSS_SRC_SYSTEMD);
	/* a line or a database missing: glibc's built-in default, not assumed */
	assert_int_equal(SRC(""), -1);
	assert_int_equal(SRC("group: files\n"), -1);
	assert_int_equal(SRC("passwd: files\n"), -1);
	assert_int_equal(SRC("#passwd: files\ngroup: files\n"), -1);
	/* what glibc reads otherwise, or may: refused whole */
	assert_int_equal(SRC("passwd: files\ngroup: files\npasswd : sss\n"), -1); /* glibc: a passwd line */
	assert_int_equal(SRC("passwd: files\ngroup: files\npasswd\t: sss\n"), -1);
	assert_int_equal(SRC("passwd: files\ngroup: files\npasswd sss\n"), -1); /* so is this */
	assert_int_equal(SRC("passwd: files\ngroup: files\n\vpasswd: sss\n"), -1); /* isspace() to glibc */
	assert_int_equal(SRC("passwd: files\ngroup: files\n\fpasswd: sss\n"), -1);
	assert_int_equal(SRC("passwd: files\ngroup: files\n\rpasswd: sss\n"), -1);
	assert_int_equal(SRC("passwd: files\ngroup: files\n\0\npasswd: sss\n"), -1); /* a NUL */
	assert_int_equal(SRC("passwd: files\0 sss\ngroup: files\n"), -1);
	assert_int_equal(SRC("passwd: files\ngroup: files\npasswd: files\n"), -1); /* the last wins */
	assert_int_equal(SRC("passwd: sss\npasswd: files\ngroup: files\n"), -1);
	assert_int_equal(SRC("passwd: files\ngroup: files"), -1); /* glibc drops it */
	assert_int_equal(SRC("passwd: files systemd\ngroup: files\npasswd: sss"), -1);
	assert_int_equal(SRC("passwd: files # sss\ngroup: files\n"), -1); /* '#' after text */
	assert_int_equal(SRC("passwd: files [NOTFOUND=return # ] sss\ngroup: files\n"), -1);
	assert_int_equal(SRC("passwd: files [NOTFOUND=return\ngroup: files\n"), -1); /* unterminated */
	assert_int_equal(SRC("passwd: files [NOTFOUND = return]\ngroup: files\n"), -1);
	assert_int_equal(SRC("passwd: files [!NOTFOUND=return]\ngroup: files\n"), NSS_SRC_FILES);
	assert_int_equal(SRC("passwd: files\ngroup: files\nhosts: files resolve [!UNAVAIL=return] dns\n"),
		NSS_SRC_FILES);
	assert_int_equal(SRC("passwd: files [!!NOTFOUND=return]\ngroup: files\n"), -1);
	assert_int_equal(SRC("passwd: files [! NOTFOUND=return]\ngroup: files\n"), -1);
	assert_int_equal(SRC("passwd: files []\ngroup: files\n"), -1);
	assert_int_equal(SRC("passwd: [NOTFOUND=return] files\ngroup: files\n"), -1);
	assert_int_equal(
		SRC("passwd: files\ngroup: files\nhosts: files [BOGUS=return]\n"), -1); /* glibc fails */
	assert_int_equal(SRC("passwd: files\ngroup: files\nhosts: files [NOTFOUND=bogus]\n"), -1);
	assert_int_equal(SRC("passwd: files\ngroup: files\nhosts: fi\"les\n"), -1);
	assert_int_equal(SRC("passwd: files\ngroup: files\n\xc3\xa9: files\n"), -1); /* not ASCII */
	assert_int_equal(SRC("passwdx: files\ngroup: files\n"), -1); /* no passwd line */
	assert_int_equal(SRC("Passwd: files\ngroup: files\n"), -1);
}

static char *write_defs(const char *text)
{
	static char path[] = "/tmp/test_names_defs.XXXXXX";
	char *p = strdup(path);
	int fd = mkstemp(p);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return p;
}

static void test_ranges_against_login_defs(void **state)
{
	char *defs = write_defs("# shadow\nSYS_UID_MIN 100\nSYS_UID_MAX 999\nUID_MIN 1000\nUID_MAX 60000\n"
				"GID_MIN 1000\nGID_MAX 60000\n");
	char extra[512], err[512] = "";
	struct mm_config *c;

	(void)state;
	snprintf(extra, sizeof(extra),
		"login_defs = %s\nsubuid_file = /nonexistent/subuid\nsubgid_file = /nonexistent/subgid\n"
		"uid_min = 200000\nuid_max = 299999\n",
		defs);
	c = parse(extra);
	assert_int_equal(names_check_ranges_with(c, NULL, err, sizeof(err)), 0);
	config_free(c);
	/* a user range inside the host's UID_MIN..UID_MAX */
	snprintf(extra, sizeof(extra), "login_defs = %s\nuid_min = 50000\nuid_max = 70000\n", defs);
	c = parse(extra);
	assert_int_equal(names_check_ranges_with(c, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "UID_MIN..UID_MAX (1000..60000)"));
	config_free(c);
	/* a gid range inside the system groups (SYS_GID_MAX defaults to GID_MIN - 1) */
	snprintf(extra, sizeof(extra), "login_defs = %s\ngid_min = 500\ngid_max = 600\n", defs);
	c = parse(extra);
	assert_int_equal(names_check_ranges_with(c, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "SYS_GID_MIN..SYS_GID_MAX (101..999)"));
	config_free(c);
	unlink(defs);
	free(defs);
	/* no login.defs at all: shadow's own defaults still apply */
	c = parse("login_defs = /nonexistent/login.defs\nuid_min = 1500\nuid_max = 1600\n");
	assert_int_equal(names_check_ranges_with(c, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "UID_MIN..UID_MAX"));
	config_free(c);
}

/* A local user given subordinate ids (useradd does it for every new user
 * where /etc/subuid exists) maps them in a user namespace: uid 200000 there
 * is a Medimail user's on the host, setuid files included. */
static void test_ranges_against_subordinate_ids(void **state)
{
	char *defs = write_defs("UID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\n"
				"SUB_UID_MIN 100000\nSUB_UID_MAX 600100000\nSUB_UID_COUNT 65536\n");
	char *subuid = write_defs("alice:100000:65536\nbob:165536:65536\n");
	char *empty = write_defs("");
	char extra[1024], err[512] = "";
	struct mm_config *c;

	(void)state;
	/* bob's range holds uid 200000: refused, naming the line */
	snprintf(extra, sizeof(extra),
		"login_defs = %s\nsubuid_file = %s\nsubgid_file = /nonexistent\nuid_min = 200000\n"
		"uid_max = 299999\n",
		defs, subuid);
	c = parse(extra);
	assert_int_equal(names_check_ranges_with(c, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bob:165536:65536"));
	config_free(c);
	/* no range given yet, but useradd takes the next ones from SUB_UID_MIN..SUB_UID_MAX */
	snprintf(extra, sizeof(extra),
		"login_defs = %s\nsubuid_file = %s\nsubgid_file = /nonexistent\nuid_min = 200000\n"
		"uid_max = 299999\n",
		defs, empty);
	c = parse(extra);
	assert_int_equal(names_check_ranges_with(c, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "SUB_UID_MIN..SUB_UID_MAX (100000..600100000)"));
	config_free(c);
	/* the same for gids, with shadow's defaults when login.defs says nothing */
	snprintf(extra, sizeof(extra),
		"login_defs = %s\nsubuid_file = /nonexistent\nsubgid_file = %s\ngid_min = 300000\n"
		"gid_max = 309999\n",
		defs, empty);
	c = parse(extra);
	assert_int_equal(names_check_ranges_with(c, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "SUB_GID_MIN..SUB_GID_MAX (100000..600100000)"));
	config_free(c);
	/* the defaults lie above all of it */
	snprintf(extra, sizeof(extra), "login_defs = %s\nsubuid_file = %s\nsubgid_file = %s\n", defs, subuid,
		empty);
	c = parse(extra);
	assert_int_equal(names_check_ranges_with(c, NULL, err, sizeof(err)), 0);
	config_free(c);
	/* no subordinate file: useradd gives none, only what a file lists counts */
	snprintf(extra, sizeof(extra),
		"login_defs = %s\nsubuid_file = /nonexistent\nsubgid_file = /nonexistent\nuid_min = 200000\n"
		"uid_max = 299999\ngid_min = 300000\ngid_max = 309999\n",
		defs);
	c = parse(extra);
	assert_int_equal(names_check_ranges_with(c, NULL, err, sizeof(err)), 0);
	config_free(c);
	unlink(defs);
	unlink(subuid);
	unlink(empty);
	free(defs);
	free(subuid);
	free(empty);
}

/* A login.defs value misread as 0 empties the host's range it bounds, and a
 * Medimail range inside it would pass: read it as shadow does. */
static void test_login_defs_misread_hides_no_overlap(void **state)
{
	static const char *const defs_texts[] = {
		/* hex, as shadow's getdef takes it (sscanf %lu read 0) */
		"UID_MIN 1000\nUID_MAX 0xEA60\n",
		/* quoted */
		"UID_MIN 1000\nUID_MAX \"60000\"\n",
		/* a comment longer than a line buffer whose tail looks like a setting */
		NULL,
	};
	char longdefs[1200], extra[1600], err[512];

	(void)state;
	memset(longdefs, 0, sizeof(longdefs));
	strcpy(longdefs, "# ");
	memset(longdefs + 2, 'x', 509);
	strcat(longdefs, "UID_MAX 0\nUID_MIN 1000\n");
	for (size_t i = 0; i < 3; i++) {
		char *defs = write_defs(defs_texts[i] ? defs_texts[i] : longdefs);
		struct mm_config *c;

		snprintf(extra, sizeof(extra),
			"login_defs = %s\nsubuid_file = /nonexistent\nsubgid_file = /nonexistent\n"
			"uid_min = 50000\nuid_max = 50100\n",
			defs);
		c = parse(extra);
		err[0] = '\0';
		assert_int_equal(names_check_ranges_with(c, NULL, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "UID_MIN..UID_MAX (1000..60000)"));
		config_free(c);
		unlink(defs);
		free(defs);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtin_reserved_names),
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_configured_reserved_names),
		cmocka_unit_test(test_bad_reserved_names_refused),
		cmocka_unit_test(test_group_prefix),
		cmocka_unit_test(test_bad_prefix_refused),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_host_view),
		cmocka_unit_test(test_nsswitch_sources),
		cmocka_unit_test(test_ranges_against_login_defs),
		cmocka_unit_test(test_ranges_against_subordinate_ids),
		cmocka_unit_test(test_login_defs_misread_hides_no_overlap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
