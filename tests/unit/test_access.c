/* Unit tests of the access rule (store/access.c) and of the socket's request
 * table (ipc/dispatch.c): for every request code, which callers are let in
 * -- root, a member of the admin group, the owner, a connection account of
 * the ORG, another user, a suspended owner, a uid without an account --, on
 * a fake directory (fake_accounts.c): no root, no slapd. And the web's
 * bridge (ipc/json_door.c): only the rows flagged ACCESS_WEB answer it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "access.h"
#include "accounts.h"
#include "dispatch.h"
#include "fake_accounts.h"
#include "json_door.h"
#include "log.h"

/* The people of the fake directory. */
enum {
	UID_ALICE = 2000,
	UID_BOB = 2001,
	UID_SUSAN = 2002,
	UID_GERARD = 2003,
	UID_CAROL = 2004,
	UID_DIANE = 2005,
	UID_NOBODY = 3000
};

/* Two structures: alice and cabinet are of A, susan of B; diane is the
 * structure administrator ("gestionnaire") of A. */
#define FINESS_A "310000120"
#define FINESS_B "810000034"

static struct mm_config cfg;

static int setup(void **state)
{
	(void)state;
	fake_reset();
	fake_add("alice", "PER", "active", UID_ALICE, NULL); /* the owner */
	fake_add("bob", "PER", "active", UID_BOB, NULL); /* a connection account of cabinet */
	fake_add("susan", "PER", "suspended", UID_SUSAN, NULL); /* suspended, also of cabinet */
	fake_add("gerard", "PER", "active", UID_GERARD, NULL); /* in the admin group */
	fake_add("carol", "MED", "active", UID_CAROL, NULL); /* someone else */
	fake_add("cabinet", "ORG", "active", 5000, "bob,susan");
	fake_add("diane", "PER", "active", UID_DIANE, NULL); /* structure administrator of A */
	fake_set_structure("alice", "FINESS", FINESS_A);
	fake_set_structure("cabinet", "FINESS", FINESS_A);
	fake_set_structure("susan", "FINESS", FINESS_B);
	fake_set_struct_admin("diane", "FINESS:" FINESS_A);
	return 0;
}

struct who {
	const char *what;
	uid_t uid;
	bool admin;
	const char *own; /* login of its own account, NULL: none */
};

static const struct who callers[] = {
	{"root", 0, true, NULL},
	{"admin group", UID_GERARD, true, "gerard"},
	{"owner", UID_ALICE, false, "alice"},
	{"ORG connection account", UID_BOB, false, "bob"},
	{"another user", UID_CAROL, false, "carol"},
	{"suspended owner", UID_SUSAN, false, "susan"},
	{"uid without an account", UID_NOBODY, false, NULL},
	{"structure administrator", UID_DIANE, false, "diane"},
};

static const char *const names[] = {NULL, "alice", "cabinet", "susan", "nosuch"};

static bool is_org(const char *n)
{
	return n && !strcmp(n, "cabinet");
}

static bool exists(const char *n)
{
	return n && strcmp(n, "nosuch");
}

/* The accounts of structure A, which diane administers. */
static bool of_structure_a(const char *n)
{
	return n && (!strcmp(n, "alice") || !strcmp(n, "cabinet"));
}

/* The rule as the protocol documents it (protocol.h, access.h), written out
 * independently of access.c: the status access_resolve must give, and the
 * login of the account it must hand over (NULL: none). */
static int expected(const struct request_type *t, const struct who *w, const char *name, const char **ret)
{
	bool member;

	*ret = NULL;
	if (t->access == ACCESS_PUBLIC)
		return 0;
	if (t->access == ACCESS_ADMIN && !w->admin) {
		/* A structure administrator, on the rows that let one in: the
		 * accounts of its structure; any other reads as unknown. */
		if (!(t->flags & ACCESS_STRUCTURE) || !w->own || strcmp(w->own, "diane"))
			return -EACCES;
		if (!t->target_key)
			return 0;
		if (!name)
			return -EINVAL;
		if (!of_structure_a(name))
			return -ENOENT;
		if ((t->flags & ACCESS_INDIVIDUAL) && is_org(name))
			return -EPERM;
		*ret = name;
		return 0;
	}
	if (!t->target_key)
		return 0;
	if (!name && t->access == ACCESS_ADMIN && !(t->flags & ACCESS_NAME_REQUIRED))
		return 0;
	if (!name && w->admin && (t->flags & ACCESS_ADMIN_MAY_OMIT))
		return 0;
	if (!name && (t->access == ACCESS_ADMIN || (t->flags & ACCESS_NAME_REQUIRED) || w->uid == 0))
		return -EINVAL;
	if (w->admin) {
		const char *n = name ? name : w->own;

		if (!exists(n))
			return -ENOENT;
		if ((t->flags & ACCESS_INDIVIDUAL) && is_org(n))
			return -EPERM;
		*ret = n;
		return 0;
	}
	if ((t->flags & ACCESS_CALLER_ACTIVE) && w->own && !strcmp(w->own, "susan"))
		return -EPERM;
	if (!name) {
		if (!w->own)
			return -ENOENT;
		*ret = w->own;
		return 0;
	}
	/* bob and susan are cabinet's connection accounts; only an active one acts for it. */
	member = w->own && !strcmp(w->own, "bob");
	if (!exists(name) || !w->own ||
		!(!strcmp(name, w->own) || (t->access == ACCESS_SELF_OR_ORG && is_org(name) && member)))
		return -ENOENT;
	if ((t->flags & ACCESS_INDIVIDUAL) && is_org(name))
		return -EPERM;
	*ret = name;
	return 0;
}

static void test_every_request_every_caller(void **state)
{
	size_t n;
	const struct request_type *table = dispatch_table(&n);
	unsigned checked = 0;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		const struct request_type *t = &table[i];

		for (size_t c = 0; c < sizeof(callers) / sizeof(callers[0]); c++) {
			const struct who *w = &callers[c];
			struct caller who;

			caller_from_peer(&who, w->uid, w->uid, 1, w->admin);
			for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
				struct entry *e = NULL;
				struct fault f = {0};
				const char *want_login;
				int want = expected(t, w, names[k], &want_login);
				int rc = access_resolve(&cfg, NULL, &who, t->access, t->flags, t->target_key,
					t->target_key ? names[k] : NULL, t->attrs, t->name, &e, &f);

				if (rc != want)
					fail_msg("%s (0x%04x) by %s naming %s: %d, expected %d (%s)", t->name,
						t->code, w->what, names[k] ? names[k] : "nothing", rc, want,
						f.message ? f.message : "");
				if (want_login && (!e || strcmp(entry_get(e, "uid"), want_login)))
					fail_msg("%s by %s naming %s: acted on %s, expected %s", t->name,
						w->what, names[k] ? names[k] : "nothing",
						e ? entry_get(e, "uid") : "nothing", want_login);
				if (!want_login)
					assert_null(e);
				if (rc < 0)
					assert_non_null(f.message);
				entry_free(e);
				fault_clear(&f);
				checked++;
			}
		}
	}
	assert_true(checked >= 60 * 7 * 5);
}

/* Someone else's account and an unknown one: the same status, the same
 * message (but for the name), the same directory work. */
static void test_someone_elses_account_looks_unknown(void **state)
{
	enum access levels[] = {ACCESS_SELF, ACCESS_SELF_OR_ORG};
	struct caller who;

	(void)state;
	caller_from_peer(&who, UID_CAROL, UID_CAROL, 1, false);
	for (size_t l = 0; l < 2; l++) {
		struct fault f1 = {0}, f2 = {0};
		struct entry *e = NULL;
		unsigned work1, work2;
		int r1, r2;

		fake_lookups = 0;
		r1 = access_resolve(&cfg, NULL, &who, levels[l], 0, "login", "alice", NULL, "t", &e, &f1);
		work1 = fake_lookups;
		fake_lookups = 0;
		r2 = access_resolve(&cfg, NULL, &who, levels[l], 0, "login", "nosuch", NULL, "t", &e, &f2);
		work2 = fake_lookups;
		assert_int_equal(r1, -ENOENT);
		assert_int_equal(r2, -ENOENT);
		assert_int_equal(work1, work2);
		assert_string_equal(f1.message, "alice : compte introuvable");
		assert_string_equal(f2.message, "nosuch : compte introuvable");
		assert_int_equal(f1.nfacts, f2.nfacts);
		fault_clear(&f1);
		fault_clear(&f2);
	}
}

static void test_suspended_connection_account_acts_for_no_org(void **state)
{
	struct caller who;
	struct entry *e = NULL;
	struct fault f = {0};

	(void)state;
	caller_from_peer(&who, UID_SUSAN, UID_SUSAN, 1, false);
	/* Without the active-caller flag: the ORG is not hers to act for. */
	assert_int_equal(access_resolve(&cfg, NULL, &who, ACCESS_SELF_OR_ORG, 0, "login", "cabinet", NULL,
				 "t", &e, &f),
		-ENOENT);
	assert_null(e);
	fault_clear(&f);
	/* With it: her own state is the refusal, and it says why. */
	assert_int_equal(access_resolve(&cfg, NULL, &who, ACCESS_SELF_OR_ORG, ACCESS_CALLER_ACTIVE, "login",
				 "cabinet", NULL, "t", &e, &f),
		-EPERM);
	assert_string_equal(fault_get(&f, "reason"), "account_state");
	assert_string_equal(fault_get(&f, "status"), "suspended");
	fault_clear(&f);
}

static void test_active_connection_account_acts_for_its_org(void **state)
{
	struct caller who;
	struct entry *e = NULL;
	struct fault f = {0};

	(void)state;
	caller_from_peer(&who, UID_BOB, UID_BOB, 1, false);
	assert_int_equal(access_resolve(&cfg, NULL, &who, ACCESS_SELF_OR_ORG, ACCESS_CALLER_ACTIVE, "login",
				 "cabinet", NULL, "t", &e, &f),
		0);
	assert_string_equal(entry_get(e, "uid"), "cabinet");
	entry_free(e);
	/* ... but not where the request is about individual accounts only. */
	assert_int_equal(access_resolve(&cfg, NULL, &who, ACCESS_SELF_OR_ORG, ACCESS_INDIVIDUAL, "login",
				 "cabinet", NULL, "t", &e, &f),
		-EPERM);
	fault_clear(&f);
	/* ... nor where only its own account is meant. */
	assert_int_equal(
		access_resolve(&cfg, NULL, &who, ACCESS_SELF, 0, "login", "cabinet", NULL, "t", &e, &f),
		-ENOENT);
	fault_clear(&f);
}

static void test_suspended_org_is_managed_by_administrators_only(void **state)
{
	struct caller who;
	struct entry *e = NULL;
	struct fault f = {0};

	(void)state;
	fake_add("ferme", "ORG", "suspended", 5001, "bob");
	caller_from_peer(&who, UID_BOB, UID_BOB, 1, false);
	/* A request that changes something: the ORG's state is the refusal. */
	assert_int_equal(access_resolve(&cfg, NULL, &who, ACCESS_SELF_OR_ORG, ACCESS_CALLER_ACTIVE, "login",
				 "ferme", NULL, "t", &e, &f),
		-EPERM);
	assert_null(e);
	assert_string_equal(fault_get(&f, "reason"), "account_state");
	assert_string_equal(fault_get(&f, "status"), "suspended");
	fault_clear(&f);
	/* Showing it to its connection account is still fine. */
	assert_int_equal(
		access_resolve(&cfg, NULL, &who, ACCESS_SELF_OR_ORG, 0, "login", "ferme", NULL, "t", &e, &f),
		0);
	entry_free(e);
	e = NULL;
	/* Someone else still gets "unknown", not the state. */
	caller_from_peer(&who, UID_CAROL, UID_CAROL, 1, false);
	assert_int_equal(access_resolve(&cfg, NULL, &who, ACCESS_SELF_OR_ORG, ACCESS_CALLER_ACTIVE, "login",
				 "ferme", NULL, "t", &e, &f),
		-ENOENT);
	fault_clear(&f);
	/* An administrator manages it. */
	caller_from_peer(&who, 0, 0, 1, true);
	assert_int_equal(access_resolve(&cfg, NULL, &who, ACCESS_SELF_OR_ORG, ACCESS_CALLER_ACTIVE, "login",
				 "ferme", NULL, "t", &e, &f),
		0);
	entry_free(e);
}

static void test_root_names_the_account(void **state)
{
	struct caller who;
	struct entry *e = NULL;
	struct fault f = {0};

	(void)state;
	caller_from_peer(&who, 0, 0, 1, true);
	assert_int_equal(
		access_resolve(&cfg, NULL, &who, ACCESS_SELF, 0, "user", NULL, NULL, "t", &e, &f), -EINVAL);
	assert_string_equal(fault_get(&f, "field"), "user");
	assert_string_equal(fault_get(&f, "rule"), "required");
	fault_clear(&f);
}

static void test_malformed_name_is_refused_before_any_lookup(void **state)
{
	static const char *const bad[] = {"al\nice", "a\tb", "x\x7f"};
	struct caller who;

	(void)state;
	caller_from_peer(&who, UID_ALICE, UID_ALICE, 1, false);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct entry *e = NULL;
		struct fault f = {0};

		fake_lookups = 0;
		assert_int_equal(
			access_resolve(&cfg, NULL, &who, ACCESS_SELF, 0, "login", bad[i], NULL, "t", &e, &f),
			-EINVAL);
		assert_string_equal(fault_get(&f, "rule"), "characters");
		assert_int_equal(fake_lookups, 0);
		fault_clear(&f);
	}
}

/* An HTTP caller is the account of its session, never an administrator. */
static void test_session_caller_is_its_account(void **state)
{
	struct caller who = {.uid = (uid_t)-1, .dn = "uid=alice,ou=people,dc=test"};
	struct entry *e = NULL;
	struct fault f = {0};

	(void)state;
	snprintf(who.name, sizeof(who.name), "session");
	assert_int_equal(
		access_resolve(&cfg, NULL, &who, ACCESS_SELF, 0, "login", NULL, NULL, "t", &e, &f), 0);
	assert_string_equal(entry_get(e, "uid"), "alice");
	entry_free(e);
	assert_int_equal(
		access_resolve(&cfg, NULL, &who, ACCESS_SELF, 0, "login", "carol", NULL, "t", &e, &f),
		-ENOENT);
	fault_clear(&f);
	assert_int_equal(
		access_resolve(&cfg, NULL, &who, ACCESS_ADMIN, 0, NULL, NULL, NULL, "t", &e, &f), -EACCES);
	fault_clear(&f);
}

/* Fiche réflexe, "Vos informations Gestionnaire : Contactez le ou les
 * administrateurs Medimail de votre structure": the structure administrator
 * of FINESS A validates and manages the accounts of A. */
static void test_structure_administrator_manages_the_accounts_of_its_structure(void **state)
{
	const struct request_type *validate = dispatch_find(0x0103), *list = dispatch_find(0x0105);
	struct caller who;
	struct entry *e = NULL;
	struct fault f = {0};

	(void)state;
	assert_non_null(validate);
	assert_true(validate->flags & ACCESS_STRUCTURE);
	assert_true(list->flags & ACCESS_STRUCTURE);
	caller_from_peer(&who, UID_DIANE, UID_DIANE, 1, false);
	for (const char *const *n = (const char *const[]){"alice", "cabinet", NULL}; *n; n++) {
		assert_int_equal(access_resolve(&cfg, NULL, &who, validate->access, validate->flags, "login",
					 *n, NULL, "validate", &e, &f),
			0);
		assert_string_equal(entry_get(e, "uid"), *n);
		entry_free(e);
		e = NULL;
	}
	/* The validation queue: let in; the service narrows it to structure A. */
	assert_int_equal(access_resolve(&cfg, NULL, &who, list->access, list->flags, list->target_key, NULL,
				 NULL, "list", &e, &f),
		0);
	assert_null(e);
}

/* The structure administrator of FINESS A acting on an account of FINESS B
 * gets what an unknown account gets: status, message, facts, work. */
static void test_structure_administrator_of_another_structure_sees_an_unknown_account(void **state)
{
	struct caller who;
	struct fault f1 = {0}, f2 = {0};
	struct entry *e = NULL;
	unsigned work1, work2;
	int r1, r2;
	unsigned flags = ACCESS_NAME_REQUIRED | ACCESS_STRUCTURE;

	(void)state;
	caller_from_peer(&who, UID_DIANE, UID_DIANE, 1, false);
	fake_lookups = 0;
	r1 = access_resolve(&cfg, NULL, &who, ACCESS_ADMIN, flags, "login", "susan", NULL, "t", &e, &f1);
	work1 = fake_lookups;
	fake_lookups = 0;
	r2 = access_resolve(&cfg, NULL, &who, ACCESS_ADMIN, flags, "login", "nosuch", NULL, "t", &e, &f2);
	work2 = fake_lookups;
	assert_int_equal(r1, -ENOENT);
	assert_int_equal(r2, -ENOENT);
	assert_null(e);
	assert_int_equal(work1, work2);
	assert_string_equal(f1.message, "susan : compte introuvable");
	assert_string_equal(f2.message, "nosuch : compte introuvable");
	assert_int_equal(f1.nfacts, f2.nfacts);
	fault_clear(&f1);
	fault_clear(&f2);
	/* An account of no structure (carol, bob) and the caller's own: the same. */
	for (const char *const *n = (const char *const[]){"carol", "bob", "diane", NULL}; *n; n++) {
		assert_int_equal(access_resolve(&cfg, NULL, &who, ACCESS_ADMIN, flags, "login", *n, NULL, "t",
					 &e, &f1),
			-ENOENT);
		fault_clear(&f1);
	}
	/* A row that does not let structure administrators in (close, publish): administrators only. */
	assert_int_equal(access_resolve(&cfg, NULL, &who, ACCESS_ADMIN, ACCESS_NAME_REQUIRED, "login",
				 "alice", NULL, "t", &e, &f1),
		-EACCES);
	fault_clear(&f1);
}

static void test_structure_role_of_a_suspended_or_plain_account_gives_nothing(void **state)
{
	unsigned flags = ACCESS_NAME_REQUIRED | ACCESS_STRUCTURE;
	struct caller who;
	struct entry *e = NULL;
	struct fault f = {0};
	char *filter = NULL;

	(void)state;
	/* A plain user: the administrators' refusal, whatever it names. */
	caller_from_peer(&who, UID_ALICE, UID_ALICE, 1, false);
	assert_int_equal(
		access_resolve(&cfg, NULL, &who, ACCESS_ADMIN, flags, "login", "alice", NULL, "t", &e, &f),
		-EACCES);
	fault_clear(&f);
	assert_int_equal(access_structure_scope(&cfg, NULL, &who, "list", &filter, &f), -EACCES);
	assert_null(filter);
	fault_clear(&f);
	/* A suspended holder acts for no structure. */
	fake_set_struct_admin("susan", "FINESS:" FINESS_B);
	caller_from_peer(&who, UID_SUSAN, UID_SUSAN, 1, false);
	assert_int_equal(
		access_resolve(&cfg, NULL, &who, ACCESS_ADMIN, flags, "login", "susan", NULL, "t", &e, &f),
		-EPERM);
	assert_string_equal(fault_get(&f, "reason"), "account_state");
	fault_clear(&f);
	/* A name with a newline: refused before any look-up. */
	caller_from_peer(&who, UID_DIANE, UID_DIANE, 1, false);
	fake_lookups = 0;
	assert_int_equal(
		access_resolve(&cfg, NULL, &who, ACCESS_ADMIN, flags, "login", "al\nice", NULL, "t", &e, &f),
		-EINVAL);
	assert_string_equal(fault_get(&f, "rule"), "characters");
	assert_int_equal(fake_lookups, 0);
	assert_null(e);
	fault_clear(&f);
}

static void test_structure_scope_is_the_filter_of_its_structures(void **state)
{
	struct caller who;
	struct fault f = {0};
	char *filter = NULL;

	(void)state;
	caller_from_peer(&who, 0, 0, 1, true);
	assert_int_equal(access_structure_scope(&cfg, NULL, &who, "list", &filter, &f), 0);
	assert_null(filter); /* the service centre: every account */
	caller_from_peer(&who, UID_DIANE, UID_DIANE, 1, false);
	assert_int_equal(access_structure_scope(&cfg, NULL, &who, "list", &filter, &f), 0);
	assert_string_equal(filter, "(|(&(mmStructIdType=FINESS)(mmStructId=" FINESS_A ")))");
	free(filter);
	/* A stored value that is not what the service writes holds nothing. */
	fake_set_struct_admin("diane", "FINESS:*)(uid=*");
	assert_int_equal(access_structure_scope(&cfg, NULL, &who, "list", &filter, &f), 0);
	assert_string_equal(filter, "(|(!(objectClass=*)))");
	free(filter);
}

static void test_table_codes_are_unique_and_named(void **state)
{
	size_t n;
	const struct request_type *t = dispatch_table(&n);

	(void)state;
	assert_true(n > 60);
	for (size_t i = 0; i < n; i++) {
		assert_non_null(t[i].handler);
		assert_non_null(t[i].name);
		assert_ptr_equal(dispatch_find(t[i].code), &t[i]);
		for (size_t j = 0; j < i; j++)
			assert_int_not_equal(t[i].code, t[j].code);
	}
	assert_null(dispatch_find(0x7fff));
}

/* The rows the web pages may call: each has one bridge name; no login row
 * (HTTP has its own login routes) and no administrators' row. */
static void test_web_flag_rows(void **state)
{
	static const char *const login_rows[] = {"auth", "otp-send", "otp-verify", "acct", "password-change",
		"session-open", "session-close", "switch", "login-mode", "card-auth", "card-link",
		"mail-auth", NULL};
	size_t n, nn, web = 0;
	const struct request_type *t = dispatch_table(&n);
	const struct json_door_name *names_ = json_door_names(&nn);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		size_t named = 0;

		if (!(t[i].flags & ACCESS_WEB))
			continue;
		web++;
		/* The back office's rows only (a service-centre operator over the
		 * bridge, json_door.c); never the operator role itself. */
		if (t[i].access == ACCESS_ADMIN) {
			static const char *const back_office[] = {"validate", "list", "suspend", "reactivate",
				"close", "convert", "publish", "mss-grant", "struct-admin-add",
				"struct-admin-del", "audit-trail", "oidc-client-list", "oidc-client-add",
				"oidc-client-remove", NULL};
			bool ok = false;

			for (size_t k = 0; back_office[k]; k++)
				ok = ok || !strcmp(t[i].name, back_office[k]);
			if (!ok)
				fail_msg("%s (0x%04x): an administrators' row carries WEB", t[i].name,
					t[i].code);
		}
		for (size_t k = 0; login_rows[k]; k++)
			if (!strcmp(t[i].name, login_rows[k]))
				fail_msg("%s: a login row carries WEB", t[i].name);
		for (size_t j = 0; j < nn; j++)
			named += names_[j].code == t[i].code;
		if (named != 1)
			fail_msg("%s (0x%04x): %zu bridge names", t[i].name, t[i].code, named);
	}
	assert_true(web >= 30);
	for (size_t j = 0; j < nn; j++) {
		assert_non_null(dispatch_find(names_[j].code));
		for (size_t k = 0; k < j; k++)
			assert_string_not_equal(names_[j].name, names_[k].name);
	}
}

static int bridge(const char *dn, const char *name, const char *login, json_t **ret)
{
	struct caller who = {.uid = (uid_t)-1, .gid = (gid_t)-1, .dn = dn};
	json_t *in = login ? json_pack("{s:s}", "login", login) : json_object();
	int rc;

	snprintf(who.name, sizeof(who.name), "web-session");
	rc = json_door_call(NULL, &cfg, NULL, &who, name, in, ret);
	json_decref(in);
	return rc;
}

/* Over the bridge: a row without WEB answers as an unknown name, before any
 * look-up (the store is NULL: a handler would crash); a row for a session
 * needs one; a WEB row applies the same access rule as the socket. */
static void test_web_bridge_refusals(void **state)
{
	const char *alice = "uid=alice,ou=people,dc=test";
	size_t n;
	const struct request_type *t = dispatch_table(&n);
	json_t *reply = NULL;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		size_t nn;
		const struct json_door_name *names_ = json_door_names(&nn);

		for (size_t j = 0; j < nn; j++) {
			if (names_[j].code != t[i].code || (t[i].flags & ACCESS_WEB))
				continue;
			assert_int_equal(bridge(alice, names_[j].name, NULL, &reply), -ENOSYS);
			assert_non_null(reply);
			json_decref(reply);
			assert_int_equal(bridge(NULL, names_[j].name, NULL, &reply), -ENOSYS);
			json_decref(reply);
		}
	}
	assert_int_equal(bridge(alice, "operator-grant", "alice", &reply), -ENOSYS);
	json_decref(reply);
	assert_int_equal(bridge(alice, "operator-revoke", "alice", &reply), -ENOSYS);
	json_decref(reply);
	assert_int_equal(bridge(alice, "no-such-request", NULL, &reply), -ENOSYS);
	json_decref(reply);
	assert_int_equal(bridge(alice, "../settings-get", NULL, &reply), -ENOSYS);
	json_decref(reply);
	/* no session: only the PUBLIC rows */
	assert_int_equal(bridge(NULL, "settings-get", NULL, &reply), -ENOTCONN);
	json_decref(reply);
	/* someone else's account, another's ORG: refused by the access rule, as unknown */
	assert_int_equal(bridge(alice, "settings-get", "carol", &reply), -ENOENT);
	assert_non_null(json_object_get(reply, "message"));
	json_decref(reply);
	assert_int_equal(bridge(alice, "settings-get", "cabinet", &reply), -ENOENT);
	json_decref(reply);
	assert_int_equal(bridge(alice, "dir-search", "nosuch", &reply), -ENOENT);
	json_decref(reply);
	/* a suspended caller acts for nobody */
	assert_int_equal(bridge("uid=susan,ou=people,dc=test", "settings-get", NULL, &reply), -EPERM);
	json_decref(reply);
	/* fields are strings with valid keys; service and rhost are the session's */
	{
		struct caller who = {.uid = (uid_t)-1, .dn = alice};
		json_t *in = json_pack("{s:i}", "login", 3);
		assert_int_equal(json_door_call(NULL, &cfg, NULL, &who, "settings-get", in, &reply), -EINVAL);
		json_decref(reply);
		json_decref(in);
		in = json_pack("{s:s}", "rhost", "elsewhere");
		assert_int_equal(json_door_call(NULL, &cfg, NULL, &who, "settings-get", in, &reply), -EINVAL);
		json_decref(reply);
		json_decref(in);
		in = json_pack("{s:s}", "Bad Key", "x");
		assert_int_equal(json_door_call(NULL, &cfg, NULL, &who, "settings-get", in, &reply), -EINVAL);
		json_decref(reply);
		json_decref(in);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_every_request_every_caller, setup),
		cmocka_unit_test_setup(test_someone_elses_account_looks_unknown, setup),
		cmocka_unit_test_setup(test_suspended_connection_account_acts_for_no_org, setup),
		cmocka_unit_test_setup(test_active_connection_account_acts_for_its_org, setup),
		cmocka_unit_test_setup(test_suspended_org_is_managed_by_administrators_only, setup),
		cmocka_unit_test_setup(test_root_names_the_account, setup),
		cmocka_unit_test_setup(test_malformed_name_is_refused_before_any_lookup, setup),
		cmocka_unit_test_setup(test_session_caller_is_its_account, setup),
		cmocka_unit_test_setup(
			test_structure_administrator_manages_the_accounts_of_its_structure, setup),
		cmocka_unit_test_setup(
			test_structure_administrator_of_another_structure_sees_an_unknown_account, setup),
		cmocka_unit_test_setup(
			test_structure_role_of_a_suspended_or_plain_account_gives_nothing, setup),
		cmocka_unit_test_setup(test_structure_scope_is_the_filter_of_its_structures, setup),
		cmocka_unit_test_setup(test_table_codes_are_unique_and_named, setup),
		cmocka_unit_test_setup(test_web_flag_rows, setup),
		cmocka_unit_test_setup(test_web_bridge_refusals, setup),
	};

	log_setup(true, LOG_WARNING); /* the refusals are audited: keep them off syslog */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
