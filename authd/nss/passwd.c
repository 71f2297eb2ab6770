/* The name service's users: getpwnam, getpwuid, pwent (nss.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "mcache.h"
#include "mcfile.h"
#include "names.h"
#include "nss.h"
#include "protocol.h"
#include "nss_lookup.h"

#define HOST_VIEW_AGE 5 /* seconds a socket answer trusts the host's enumerated users and groups */

static const char *const user_attrs[] = {"uid", "mmLoginMail", "givenName", "sn", "cn", "uidNumber",
	"mmStatus", "mmAccountType", "objectClass", NULL};

bool nss_is_user(const struct entry *e)
{
	const char *st = entry_get(e, "mmStatus"), *type = entry_get(e, "mmAccountType");

	return entry_has_value(e, "objectClass", "mmAccount") && st && !strcmp(st, MM_STATUS_ACTIVE) &&
		type && strcmp(type, MM_TYPE_ORG) != 0;
}

bool nss_is_org(const struct entry *e)
{
	const char *st = entry_get(e, "mmStatus"), *type = entry_get(e, "mmAccountType");

	return entry_has_value(e, "objectClass", "mmAccount") && st && !strcmp(st, MM_STATUS_ACTIVE) &&
		type && !strcmp(type, MM_TYPE_ORG);
}

bool nss_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > MC_KEY_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || s[i] == 0x7f || s[i] == ',' || s[i] == ':')
			return false;
	return true;
}

bool nss_id_parse(const char *s, unsigned long min, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max || v == 0)
		return false;
	*ret = v;
	return true;
}

bool nss_user_servable(const struct mm_config *c, const char *login, unsigned long uid, unsigned flags)
{
	struct host_view *h = host_view_get(HOST_VIEW_AGE);
	const char *rule = NULL;
	bool ok = names_check(c, h, login, flags, &rule) == 0 &&
		names_check_uid(c, h, (uint32_t)uid, flags, &rule) == 0;

	host_view_put(h);
	if (!ok)
		log_msg(LOG_DEBUG, "name service: user %s (uid %lu) not served: %s", login, uid, rule);
	return ok;
}

/* May the name service answer for this user name (a login e-mail asked for)? */
static bool name_servable(const struct mm_config *c, const char *name)
{
	struct host_view *h = host_view_get(HOST_VIEW_AGE);
	const char *rule = NULL;
	bool ok = names_check(c, h, name, NAMES_ASK_HOST | NAMES_USER, &rule) == 0;

	host_view_put(h);
	if (!ok)
		log_msg(LOG_DEBUG, "name service: e-mail %s not answered: %s", name, rule);
	return ok;
}

bool nss_group_servable(const struct mm_config *c, const char *name, unsigned long gid, unsigned flags)
{
	struct host_view *h = host_view_get(HOST_VIEW_AGE);
	const char *rule = NULL;
	bool ok = names_check(c, h, name, flags, &rule) == 0 &&
		names_check_gid(c, h, (uint32_t)gid, flags, &rule) == 0;

	host_view_put(h);
	if (!ok)
		log_msg(LOG_DEBUG, "name service: group %s (gid %lu) not served: %s", name, gid, rule);
	return ok;
}

char *nss_base(const struct mm_config *c, const char *ou)
{
	char *s = NULL;

	return asprintf(&s, "ou=%s,%s", ou, c->ldap_base) < 0 ? NULL : s;
}

int nss_store_fault(struct fault *f, int rc)
{
	/* An ambiguous name is no name to the name service. */
	if (rc == -ENOENT || rc == -ENOTUNIQ)
		return fault_set(f, -ENOENT, "introuvable");
	return fault_store(f, rc, "service de noms");
}

int nss_user_find(struct store *s, const struct mm_config *c, const char *name, struct entry **ret,
	unsigned long *ret_uid)
{
	char *esc = store_escape(name), *filter = NULL, *base = nss_base(c, "people");
	bool by_mail = strchr(name, '@') != NULL;
	struct entry *e = NULL;
	const char *login;
	int rc = -ENOMEM;

	*ret = NULL;
	if (!esc || !base || asprintf(&filter, "(%s=%s)", by_mail ? "mmLoginMail" : "uid", esc) < 0)
		goto out;
	rc = store_search_one(s, base, LDAP_SCOPE_SUBTREE, filter, user_attrs, &e);
	if (rc < 0)
		goto out;
	login = entry_get(e, "uid");
	/* The e-mail asked for is a name we would answer as well: not one the host knows. */
	if (by_mail && !name_servable(c, name)) {
		rc = -ENOENT;
		goto out;
	}
	/* Logins are case-sensitive names in Unix (the directory matches case-blind). */
	if (!nss_is_user(e) || !login || (!by_mail && strcmp(login, name)) || strchr(login, '@') ||
		!nss_id_parse(entry_get(e, "uidNumber"), c->uid_min, c->uid_max, ret_uid) ||
		!nss_user_servable(c, login, *ret_uid, NAMES_ASK_HOST | NAMES_USER)) {
		rc = -ENOENT;
		goto out;
	}
	*ret = e;
	e = NULL;
out:
	entry_free(e);
	free(esc);
	free(filter);
	free(base);
	return rc;
}

/* The passwd answer of a user entry. */
static int passwd_of(const struct mm_config *c, const char *login, const char *given, const char *sn,
	const char *cn, unsigned long uid, struct nss_passwd *ret, struct fault *f)
{
	char home[512];

	memset(ret, 0, sizeof(*ret));
	mcache_home(c, login, home, sizeof(home));
	ret->uid = (uint32_t)uid;
	ret->gid = (uint32_t)c->user_gid;
	ret->shell = c->shell;
	ret->name = strdup(login);
	ret->dir = strdup(home);
	if (!given || !sn)
		ret->gecos = strdup(cn ? cn : sn ? sn : "");
	else if (asprintf(&ret->gecos, "%s %s", given, sn) < 0)
		ret->gecos = NULL;
	if (!ret->name || !ret->dir || !ret->gecos) {
		nss_passwd_clear(ret);
		return fault_set(f, -ENOMEM, "mémoire insuffisante");
	}
	return 0;
}

static int passwd_of_entry(const struct mm_config *c, const struct entry *e, unsigned long uid,
	struct nss_passwd *ret, struct fault *f)
{
	return passwd_of(c, entry_get(e, "uid"), entry_get(e, "givenName"), entry_get(e, "sn"),
		entry_get(e, "cn"), uid, ret, f);
}

void nss_passwd_clear(struct nss_passwd *p)
{
	free(p->name);
	free(p->gecos);
	free(p->dir);
	memset(p, 0, sizeof(*p));
}

int nss_getpwnam(struct store *s, const struct mm_config *c, const struct caller *who, const char *name,
	struct nss_passwd *ret, struct fault *f)
{
	struct entry *e = NULL;
	unsigned long uid;
	int rc;

	(void)who;
	memset(ret, 0, sizeof(*ret));
	if (!nss_name_ok(name))
		return fault_field(f, "name", "format", "nom invalide");
	if ((rc = nss_user_find(s, c, name, &e, &uid)) < 0)
		return nss_store_fault(f, rc);
	rc = passwd_of_entry(c, e, uid, ret, f);
	entry_free(e);
	return rc;
}

int nss_getpwuid(struct store *s, const struct mm_config *c, const struct caller *who, uint32_t uid,
	struct nss_passwd *ret, struct fault *f)
{
	char filter[160], *base = nss_base(c, "people");
	struct entry *e = NULL;
	unsigned long got;
	int rc;

	(void)who;
	memset(ret, 0, sizeof(*ret));
	if (!base)
		return fault_set(f, -ENOMEM, "mémoire insuffisante");
	snprintf(filter, sizeof(filter), "(uidNumber=%lu)", (unsigned long)uid);
	rc = store_search_one(s, base, LDAP_SCOPE_SUBTREE, filter, user_attrs, &e);
	free(base);
	if (rc == 0 &&
		(!nss_is_user(e) || !entry_get(e, "uid") || strchr(entry_get(e, "uid"), '@') ||
			!nss_id_parse(entry_get(e, "uidNumber"), c->uid_min, c->uid_max, &got) ||
			got != uid ||
			!nss_user_servable(c, entry_get(e, "uid"), uid, NAMES_ASK_HOST | NAMES_USER)))
		rc = -ENOENT;
	if (rc < 0) {
		entry_free(e);
		return nss_store_fault(f, rc);
	}
	rc = passwd_of_entry(c, e, uid, ret, f);
	entry_free(e);
	return rc;
}

/* Enumeration: allowed by the configuration, from the current snapshot. */
static int ent_start(const struct mm_config *c, struct mc_snapshot **ret, struct fault *f)
{
	*ret = NULL;
	if (!c->enumerate) {
		fault_set(f, -EPERM, "énumération désactivée (enumerate = no)");
		fault_put(f, "reason", "enumeration-disabled");
		return -EPERM;
	}
	*ret = mcache_snapshot_get();
	if (!*ret)
		return fault_set(f, -EAGAIN, "cache en construction, réessayez");
	return 0;
}

int nss_pwent(const struct mm_config *c, const struct caller *who, size_t offset, struct nss_passwd_page *ret,
	struct fault *f)
{
	struct mc_snapshot *snap = NULL;
	size_t i;
	int rc;

	(void)who;
	memset(ret, 0, sizeof(*ret));
	if ((rc = ent_start(c, &snap, f)) < 0)
		return rc;
	if (!(ret->items = calloc(NSS_PWENT_PAGE, sizeof(*ret->items)))) {
		mcache_snapshot_put(snap);
		return fault_set(f, -ENOMEM, "mémoire insuffisante");
	}
	for (i = offset; i < snap->nusers && ret->n < NSS_PWENT_PAGE && rc == 0; i++) {
		const struct mc_user *u = &snap->users[i];

		rc = passwd_of(c, u->login, NULL, NULL, u->gecos, u->uid, &ret->items[ret->n], f);
		if (rc == 0)
			ret->n++;
	}
	ret->more = rc == 0 && i < snap->nusers;
	ret->next = i;
	mcache_snapshot_put(snap);
	if (rc < 0)
		nss_passwd_page_clear(ret);
	return rc;
}

void nss_passwd_page_clear(struct nss_passwd_page *p)
{
	for (size_t i = 0; i < p->n; i++)
		nss_passwd_clear(&p->items[i]);
	free(p->items);
	memset(p, 0, sizeof(*p));
}
