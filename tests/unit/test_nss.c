/* Unit tests of the name service (authd/nss/): request checks (numbers, names), the snapshot's indexes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "mcache_int.h"
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

/* The snapshot's indexes: DNs case-blind, group names exact, gids; every entry found, absent
 * keys not, a DN longer than what is hashed still told apart by its end. */
static void test_snapshot_indexes(void **state)
{
	enum { N = 5000 };
	struct mc_snapshot s = {0};
	char dn[1200];

	(void)state;
	assert_true(sodium_init() >= 0);
	randombytes_buf(s.dn_key, sizeof(s.dn_key));
	s.users = calloc(N + 2, sizeof(*s.users));
	assert_non_null(s.users);
	for (size_t i = 0; i < N; i++) {
		snprintf(dn, sizeof(dn), "uid=user%zu,ou=people,dc=medimail,dc=test", i);
		s.users[i].dn = strdup(dn);
		s.users[i].uid = (uint32_t)i + 1;
	}
	memset(dn, 'x', sizeof(dn) - 1);
	dn[sizeof(dn) - 1] = '\0';
	dn[sizeof(dn) - 2] = 'a';
	s.users[N].dn = strdup(dn);
	dn[sizeof(dn) - 2] = 'b';
	s.users[N + 1].dn = strdup(dn);
	s.nusers = N + 2;
	assert_int_equal(mc_snap_index_users(&s), 0);
	s.groups = calloc(3, sizeof(*s.groups));
	assert_non_null(s.groups);
	s.groups[0] = (struct mc_group){.name = "labo", .dn = "uid=labo,ou=orgs,dc=x", .gid = 1910000001};
	s.groups[1] = (struct mc_group){.name = "Labo", .dn = "uid=Labo2,ou=orgs,dc=x", .gid = 1910000002};
	s.ngroups = 2;
	assert_int_equal(mc_snap_index_groups(&s), 0);
	/* group names are case-sensitive, DNs are not */
	assert_ptr_equal(mcache_group_by_name(&s, "labo"), &s.groups[0]);
	assert_ptr_equal(mcache_group_by_name(&s, "Labo"), &s.groups[1]);
	assert_null(mcache_group_by_name(&s, "LABO"));
	assert_ptr_equal(mcache_group_by_gid(&s, 1910000002), &s.groups[1]);
	assert_null(mcache_group_by_gid(&s, 1910000003));
	assert_null(mcache_group_by_gid(&s, 0));
	assert_ptr_equal(mc_snap_group(&s, "UID=LABO,OU=orgs,dc=X"), &s.groups[0]);
	for (size_t i = 0; i < N; i++) {
		snprintf(dn, sizeof(dn), "UID=User%zu,OU=People,DC=medimail,dc=TEST", i);
		assert_ptr_equal(mc_snap_user(&s, dn), &s.users[i]);
	}
	assert_null(mc_snap_user(&s, "uid=user5000,ou=people,dc=medimail,dc=test"));
	assert_null(mc_snap_user(&s, "uid=user1,ou=people,dc=medimail,dc=tes"));
	assert_null(mc_snap_user(&s, "uid=user1,ou=people,dc=medimail,dc=test,"));
	assert_null(mc_snap_user(&s, ""));
	assert_null(mc_snap_group(&s, s.users[0].dn));
	assert_null(mc_snap_user(&s, s.groups[0].dn));
	memset(dn, 'X', sizeof(dn) - 1);
	dn[sizeof(dn) - 1] = '\0';
	dn[sizeof(dn) - 2] = 'B';
	assert_ptr_equal(mc_snap_user(&s, dn), &s.users[N + 1]);
	dn[sizeof(dn) - 2] = 'c';
	assert_null(mc_snap_user(&s, dn));
	for (size_t i = 0; i < s.nusers; i++)
		free(s.users[i].dn);
	free(s.users);
	free(s.groups);
	for (int k = 0; k < MC_IX_N; k++)
		free(s.index[k].slots);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_parse),
		cmocka_unit_test(test_name_ok),
		cmocka_unit_test(test_snapshot_indexes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
