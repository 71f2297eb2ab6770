/* A fake directory for the unit tests of the access rule: the account
 * look-ups of store/accounts.h (store/lookup.c) answered from an in-memory
 * table, counting every look-up, with no slapd and no LDAP connection. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "accounts.h"
#include "fake_accounts.h"

static struct fake_account accounts[FAKE_MAX];
static size_t naccounts;
unsigned fake_lookups;

void fake_reset(void)
{
	naccounts = 0;
	fake_lookups = 0;
}

void fake_add(const char *login, const char *type, const char *status, unsigned uid, const char *members)
{
	struct fake_account *a = &accounts[naccounts++];

	memset(a, 0, sizeof(*a));
	snprintf(a->login, sizeof(a->login), "%s", login);
	snprintf(a->dn, sizeof(a->dn), "uid=%s,ou=people,dc=test", login);
	snprintf(a->type, sizeof(a->type), "%s", type);
	snprintf(a->status, sizeof(a->status), "%s", status);
	a->uid = uid;
	snprintf(a->members, sizeof(a->members), "%s", members ? members : "");
}

static struct fake_account *by_login(const char *login)
{
	for (size_t i = 0; i < naccounts; i++)
		if (!strcmp(accounts[i].login, login))
			return &accounts[i];
	return NULL;
}

void fake_set_structure(const char *login, const char *type, const char *id)
{
	struct fake_account *a = by_login(login);

	snprintf(a->struct_type, sizeof(a->struct_type), "%s", type);
	snprintf(a->struct_id, sizeof(a->struct_id), "%s", id);
}

void fake_set_struct_admin(const char *login, const char *value)
{
	struct fake_account *a = by_login(login);

	snprintf(a->struct_admin, sizeof(a->struct_admin), "%s", value);
}

static void put(struct entry *e, const char *name, const char *value)
{
	struct attr *a = NULL;

	for (size_t i = 0; i < e->nattrs; i++)
		if (!strcmp(e->attrs[i].name, name))
			a = &e->attrs[i];
	if (!a) {
		e->attrs = realloc(e->attrs, (e->nattrs + 1) * sizeof(*e->attrs));
		a = &e->attrs[e->nattrs++];
		a->name = strdup(name);
		a->nvals = 0;
		a->vals = NULL;
	}
	a->vals = realloc(a->vals, (a->nvals + 1) * sizeof(*a->vals));
	a->vals[a->nvals++] = strdup(value);
}

static struct entry *entry_of(const struct fake_account *a)
{
	struct entry *e = calloc(1, sizeof(*e));
	char n[16], members[sizeof(a->members)], *save = NULL;

	e->dn = strdup(a->dn);
	put(e, "uid", a->login);
	put(e, "mmAccountType", a->type);
	put(e, "mmStatus", a->status);
	snprintf(members, sizeof(members), "%s", a->members);
	for (char *m = strtok_r(members, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
		char dn[128];

		snprintf(dn, sizeof(dn), "uid=%s,ou=people,dc=test", m);
		put(e, "mmMember", dn);
	}
	if (a->struct_type[0]) {
		put(e, "mmStructIdType", a->struct_type);
		put(e, "mmStructId", a->struct_id);
	}
	if (a->struct_admin[0])
		put(e, "mmStructAdmin", a->struct_admin);
	if (a->uid) {
		snprintf(n, sizeof(n), "%u", a->uid);
		put(e, strcmp(a->type, "ORG") ? "uidNumber" : "gidNumber", n);
	}
	return e;
}

int accounts_find(struct store *s, const struct mm_config *c, const char *ident, const char *const *attrs,
	struct entry **ret)
{
	(void)s, (void)c, (void)attrs;
	fake_lookups++;
	*ret = NULL;
	for (size_t i = 0; i < naccounts; i++)
		if (!strcmp(accounts[i].login, ident)) {
			*ret = entry_of(&accounts[i]);
			return 0;
		}
	return -ENOENT;
}

int accounts_by_uid(
	struct store *s, const struct mm_config *c, uid_t uid, const char *const *attrs, struct entry **ret)
{
	(void)s, (void)c, (void)attrs;
	fake_lookups++;
	*ret = NULL;
	for (size_t i = 0; i < naccounts; i++)
		if (accounts[i].uid == uid && strcmp(accounts[i].type, "ORG")) {
			*ret = entry_of(&accounts[i]);
			return 0;
		}
	return -ENOENT;
}

int accounts_by_dn(struct store *s, const struct mm_config *c, const char *dn, const char *const *attrs,
	struct entry **ret)
{
	(void)s, (void)c, (void)attrs;
	fake_lookups++;
	*ret = NULL;
	for (size_t i = 0; i < naccounts; i++)
		if (!strcasecmp(accounts[i].dn, dn)) {
			*ret = entry_of(&accounts[i]);
			return 0;
		}
	return -ENOENT;
}

void accounts_uid_filter(uid_t uid, char *buf, size_t size)
{
	snprintf(buf, size, "(fake uidNumber=%u)", (unsigned)uid);
}

int accounts_mail_taken(
	struct store *s, const struct mm_config *c, const char *mail, const char *self_dn, bool *ret)
{
	(void)s, (void)c, (void)mail, (void)self_dn;
	fake_lookups++;
	*ret = false; /* the fake accounts have no address */
	return 0;
}
