/* The name-service requests (MM_REQ_GETPWNAM .. MM_REQ_GRENT): answers straight from the directory, enumeration from the snapshot. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "mcache.h"
#include "mcfile.h"
#include "names.h"

/* Searches use one indexed equality term; the other conditions are checked
 * on the entry (slapd would otherwise intersect ~100k-entry index slots). */
#define MEMBER_BATCH 500
#define PWENT_PAGE 32
#define GRENT_FIELDS 240
#define GRENT_BYTES (MM_FRAME_MAX / 2)
#define HOST_VIEW_AGE 5 /* seconds a socket answer trusts the host's enumerated users and groups */

static const char *const user_attrs[] = {"uid", "mmLoginMail", "givenName", "sn", "cn", "uidNumber",
	"mmStatus", "mmAccountType", "objectClass", NULL};
static const char *const org_attrs[] = {
	"uid", "gidNumber", "mmMember", "mmStatus", "mmAccountType", "objectClass", NULL};

/* An active individual account. */
static bool is_user(const struct entry *e)
{
	const char *st = entry_get(e, "mmStatus"), *type = entry_get(e, "mmAccountType");

	return entry_has_value(e, "objectClass", "mmAccount") && st && !strcmp(st, MM_STATUS_ACTIVE) &&
		type && strcmp(type, MM_TYPE_ORG) != 0;
}

/* An active BAL ORG. */
static bool is_org(const struct entry *e)
{
	const char *st = entry_get(e, "mmStatus"), *type = entry_get(e, "mmAccountType");

	return entry_has_value(e, "objectClass", "mmAccount") && st && !strcmp(st, MM_STATUS_ACTIVE) &&
		type && !strcmp(type, MM_TYPE_ORG);
}

static const char *get(const struct req *r, const char *key)
{
	const char *v = mm_msg_get(r->in, key);

	return v && *v ? v : NULL;
}

/* A name as a key: 1..MC_KEY_MAX printable bytes, no filter tricks needed (we escape anyway). */
static bool name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > MC_KEY_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || s[i] == 0x7f || s[i] == ',' || s[i] == ':')
			return false;
	return true;
}

static bool id_parse(const char *s, unsigned long min, unsigned long max, unsigned long *ret)
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

/* May the name service serve this user (names.h: never a name or uid the host knows)? */
static bool user_servable(const struct req *r, const char *login, unsigned long uid, unsigned flags)
{
	struct host_view *h = host_view_get(HOST_VIEW_AGE);
	const char *rule = NULL;
	bool ok = names_check(r->cfg, h, login, flags, &rule) == 0 &&
		names_check_uid(r->cfg, h, (uint32_t)uid, flags, &rule) == 0;

	host_view_put(h);
	if (!ok)
		log_msg(LOG_DEBUG, "name service: user %s (uid %lu) not served: %s", login, uid, rule);
	return ok;
}

/* May the name service answer for this user name (a login e-mail asked for)? */
static bool name_servable(const struct req *r, const char *name)
{
	struct host_view *h = host_view_get(HOST_VIEW_AGE);
	const char *rule = NULL;
	bool ok = names_check(r->cfg, h, name, NAMES_ASK_HOST | NAMES_USER, &rule) == 0;

	host_view_put(h);
	if (!ok)
		log_msg(LOG_DEBUG, "name service: e-mail %s not answered: %s", name, rule);
	return ok;
}

/* The same for the group of an ORG, under its group name (org_group_prefix + login). */
static bool group_servable(const struct req *r, const char *name, unsigned long gid, unsigned flags)
{
	struct host_view *h = host_view_get(HOST_VIEW_AGE);
	const char *rule = NULL;
	bool ok = names_check(r->cfg, h, name, flags, &rule) == 0 &&
		names_check_gid(r->cfg, h, (uint32_t)gid, flags, &rule) == 0;

	host_view_put(h);
	if (!ok)
		log_msg(LOG_DEBUG, "name service: group %s (gid %lu) not served: %s", name, gid, rule);
	return ok;
}

static char *base_of(const struct req *r, const char *ou)
{
	char *s = NULL;

	return asprintf(&s, "ou=%s,%s", ou, r->cfg->ldap_base) < 0 ? NULL : s;
}

static int store_fail(struct req *r, int rc)
{
	if (rc == -ENOENT)
		return req_fail(r, rc, "introuvable");
	if (rc == -EHOSTDOWN)
		return req_fail(r, rc, "annuaire indisponible");
	log_msg(LOG_ERR, "name service: directory error %s", strerror(-rc));
	return req_fail(r, rc, "erreur de l'annuaire");
}

/* The user entry for a login (exact) or login e-mail (case-blind); -ENOENT unless active and in range. */
static int user_find(struct req *r, const char *name, struct entry **ret, unsigned long *ret_uid)
{
	char *esc = store_escape(name), *filter = NULL, *base = base_of(r, "people");
	bool by_mail = strchr(name, '@') != NULL;
	struct entry *e = NULL;
	const char *login;
	int rc = -ENOMEM;

	*ret = NULL;
	if (!esc || !base || asprintf(&filter, "(%s=%s)", by_mail ? "mmLoginMail" : "uid", esc) < 0)
		goto out;
	rc = store_search_one(r->store, base, LDAP_SCOPE_SUBTREE, filter, user_attrs, &e);
	if (rc < 0)
		goto out;
	login = entry_get(e, "uid");
	/* The e-mail asked for is a name we would answer as well: not one the host knows. */
	if (by_mail && !name_servable(r, name)) {
		rc = -ENOENT;
		goto out;
	}
	/* Logins are case-sensitive names in Unix (the directory matches case-blind). */
	if (!is_user(e) || !login || (!by_mail && strcmp(login, name)) || strchr(login, '@') ||
		!id_parse(entry_get(e, "uidNumber"), r->cfg->uid_min, r->cfg->uid_max, ret_uid) ||
		!user_servable(r, login, *ret_uid, NAMES_ASK_HOST | NAMES_USER)) {
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

static int put_passwd(struct req *r, const struct entry *e, unsigned long uid)
{
	const char *login = entry_get(e, "uid"), *g = entry_get(e, "givenName"), *sn = entry_get(e, "sn");
	const char *cn = entry_get(e, "cn");
	char home[512];

	mcache_home(r->cfg, login, home, sizeof(home));
	req_put(r, "name", login);
	if (mm_msg_addf(r->out, "uid", "%lu", uid) < 0 ||
		mm_msg_addf(r->out, "gid", "%u", (unsigned)r->cfg->user_gid) < 0)
		return -ENOMEM;
	if (g && sn) {
		if (mm_msg_addf(r->out, "gecos", "%s %s", g, sn) < 0)
			return -ENOMEM;
	} else {
		req_put(r, "gecos", cn ? cn : sn ? sn : "");
	}
	req_put(r, "dir", home);
	req_put(r, "shell", r->cfg->shell);
	return 0;
}

int nss_getpwnam(struct req *r)
{
	const char *name = get(r, "name");
	struct entry *e = NULL;
	unsigned long uid;
	int rc;

	if (!name_ok(name))
		return req_fail_field(r, "name", "format", "nom invalide");
	rc = user_find(r, name, &e, &uid);
	if (rc < 0)
		return store_fail(r, rc == -ENOTUNIQ ? -ENOENT : rc);
	rc = put_passwd(r, e, uid);
	entry_free(e);
	return rc;
}

int nss_getpwuid(struct req *r)
{
	char filter[160], *base = base_of(r, "people");
	struct entry *e = NULL;
	unsigned long uid, got;
	int rc;

	if (!base)
		return -ENOMEM;
	if (!id_parse(get(r, "uid"), 1, UINT32_MAX - 1, &uid)) {
		free(base);
		return req_fail_field(r, "uid", "format", "uid invalide");
	}
	snprintf(filter, sizeof(filter), "(uidNumber=%lu)", uid);
	rc = store_search_one(r->store, base, LDAP_SCOPE_SUBTREE, filter, user_attrs, &e);
	free(base);
	if (rc == 0 &&
		(!is_user(e) || !entry_get(e, "uid") || strchr(entry_get(e, "uid"), '@') ||
			!id_parse(entry_get(e, "uidNumber"), r->cfg->uid_min, r->cfg->uid_max, &got) ||
			got != uid ||
			!user_servable(r, entry_get(e, "uid"), uid, NAMES_ASK_HOST | NAMES_USER)))
		rc = -ENOENT;
	if (rc < 0) {
		entry_free(e);
		return store_fail(r, rc == -ENOTUNIQ ? -ENOENT : rc);
	}
	rc = put_passwd(r, e, uid);
	entry_free(e);
	return rc;
}

/* Adds the values of list as comma-separated chunks under key. */
static int put_chunks(struct req *r, const char *key, char *const *list, size_t n)
{
	char *chunk = malloc(MM_VALUE_MAX);
	size_t len = 0;
	int rc = 0;

	if (!chunk)
		return -ENOMEM;
	for (size_t i = 0; i < n && rc == 0; i++) {
		size_t l = strlen(list[i]);

		if (len && len + 1 + l >= MM_VALUE_MAX) {
			chunk[len] = '\0';
			rc = mm_msg_add(r->out, key, chunk);
			len = 0;
		}
		if (len)
			chunk[len++] = ',';
		memcpy(chunk + len, list[i], l);
		len += l;
	}
	if (rc == 0 && len) {
		chunk[len] = '\0';
		rc = mm_msg_add(r->out, key, chunk);
	}
	free(chunk);
	return rc;
}

/* Logins of the active users among the member DNs of an ORG. */
static int org_members(struct req *r, const struct entry *org, char ***ret, size_t *ret_n)
{
	const struct attr *mem = entry_attr(org, "mmMember");
	char *base = base_of(r, "people"), **out = NULL;
	size_t n = 0;
	int rc = 0;

	*ret = NULL;
	*ret_n = 0;
	if (!base)
		return -ENOMEM;
	if (!mem || !mem->nvals)
		goto done;
	out = calloc(mem->nvals + 1, sizeof(*out));
	if (!out) {
		rc = -ENOMEM;
		goto done;
	}
	/* One search per batch of member logins (the RDN of the DN); the DN of
	 * each answer is then compared with the member value itself. */
	for (size_t i = 0; i < mem->nvals && rc == 0; i += MEMBER_BATCH) {
		size_t end = i + MEMBER_BATCH < mem->nvals ? i + MEMBER_BATCH : mem->nvals;
		size_t flen = 64;
		struct entry **v = NULL;
		size_t nv = 0;
		char *filter, *p;

		for (size_t j = i; j < end; j++)
			flen += 3 * strlen(mem->vals[j]) + 8;
		filter = malloc(flen);
		if (!filter) {
			rc = -ENOMEM;
			break;
		}
		p = filter + sprintf(filter, "(|");
		for (size_t j = i; j < end; j++) {
			const char *dn = mem->vals[j];
			char login[MC_KEY_MAX + 1], *esc;
			size_t l;

			if (strncasecmp(dn, "uid=", 4))
				continue;
			l = strcspn(dn + 4, ",");
			if (l == 0 || l > MC_KEY_MAX || memchr(dn + 4, '\\', l))
				continue;
			memcpy(login, dn + 4, l);
			login[l] = '\0';
			esc = store_escape(login);
			if (!esc) {
				rc = -ENOMEM;
				break;
			}
			p += sprintf(p, "(uid=%s)", esc);
			free(esc);
		}
		strcpy(p, ")");
		if (rc == 0 && strcmp(filter, "(|)"))
			rc = store_search_all(
				r->store, base, LDAP_SCOPE_SUBTREE, filter, user_attrs, &v, &nv);
		free(filter);
		for (size_t k = 0; rc == 0 && k < nv; k++) {
			const char *login = entry_get(v[k], "uid");
			unsigned long uid;

			if (!is_user(v[k]) || !login || strchr(login, '@') ||
				!id_parse(entry_get(v[k], "uidNumber"), r->cfg->uid_min, r->cfg->uid_max,
					&uid) ||
				!entry_has_value(org, "mmMember", v[k]->dn) ||
				!user_servable(r, login, uid, 0))
				continue;
			if (!(out[n] = strdup(login)))
				rc = -ENOMEM;
			else
				n++;
		}
		entries_free(v, nv);
	}
done:
	free(base);
	if (rc < 0) {
		for (size_t i = 0; i < n; i++)
			free(out[i]);
		free(out);
		return rc;
	}
	*ret = out;
	*ret_n = n;
	return 0;
}

static int group_answer(struct req *r, const char *filter_tail, const char *exact_name)
{
	char *base = base_of(r, "orgs"), *filter = NULL, **members = NULL, name[MC_KEY_MAX + 1];
	struct entry *e = NULL;
	unsigned long gid;
	size_t n = 0, bytes = 0;
	int rc = -ENOMEM;

	if (!base || !(filter = strdup(filter_tail)))
		goto out;
	rc = store_search_one(r->store, base, LDAP_SCOPE_SUBTREE, filter, org_attrs, &e);
	if (rc == 0 &&
		(!is_org(e) || !entry_get(e, "uid") || !name_ok(entry_get(e, "uid")) ||
			!id_parse(entry_get(e, "gidNumber"), r->cfg->gid_min, r->cfg->gid_max, &gid) ||
			/* group names are case-sensitive (the directory matches case-blind) */
			(exact_name && strcmp(entry_get(e, "uid"), exact_name)) ||
			names_group_name(r->cfg, entry_get(e, "uid"), name, sizeof(name)) < 0 ||
			!group_servable(r, name, gid, NAMES_ASK_HOST | NAMES_GROUP)))
		rc = -ENOENT;
	if (rc < 0) {
		rc = store_fail(r, rc == -ENOTUNIQ ? -ENOENT : rc);
		goto out;
	}
	rc = org_members(r, e, &members, &n);
	if (rc < 0) {
		rc = store_fail(r, rc);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		bytes += strlen(members[i]) + 1;
	if (bytes > MM_FRAME_MAX - 4096) {
		rc = req_fail(r, -E2BIG, "groupe trop grand pour une réponse (voir le cache)");
		goto out;
	}
	req_put(r, "name", name);
	if (mm_msg_addf(r->out, "gid", "%lu", gid) < 0 || put_chunks(r, "members", members, n) < 0)
		rc = -ENOMEM;
out:
	for (size_t i = 0; i < n; i++)
		free(members[i]);
	free(members);
	entry_free(e);
	free(filter);
	free(base);
	return rc;
}

int nss_getgrnam(struct req *r)
{
	const char *name = get(r, "name"), *login;
	char *esc, tail[MC_KEY_MAX * 3 + 16];
	int rc;

	if (!name_ok(name))
		return req_fail_field(r, "name", "format", "nom invalide");
	/* Without the site's org_group_prefix the name is not one of ours. */
	login = names_group_login(r->cfg, name);
	if (!login)
		return store_fail(r, -ENOENT);
	name = login;
	esc = store_escape(name);
	if (!esc)
		return -ENOMEM;
	snprintf(tail, sizeof(tail), "(uid=%s)", esc);
	free(esc);
	rc = group_answer(r, tail, name);
	return rc;
}

int nss_getgrgid(struct req *r)
{
	unsigned long gid;
	char tail[48];

	if (!id_parse(get(r, "gid"), 1, UINT32_MAX - 1, &gid))
		return req_fail_field(r, "gid", "format", "gid invalide");
	snprintf(tail, sizeof(tail), "(gidNumber=%lu)", gid);
	return group_answer(r, tail, NULL);
}

int nss_initgroups(struct req *r)
{
	static const char *const attrs[] = {
		"uid", "gidNumber", "mmStatus", "mmAccountType", "objectClass", NULL};
	const char *name = get(r, "name");
	char *esc = NULL, *filter = NULL, *base = base_of(r, "orgs");
	char **gids = NULL;
	struct entry *e = NULL, **v = NULL;
	unsigned long uid;
	size_t nv = 0, n = 0;
	int rc = -ENOMEM;

	if (!base)
		return -ENOMEM;
	if (!name_ok(name)) {
		free(base);
		return req_fail_field(r, "name", "format", "nom invalide");
	}
	rc = user_find(r, name, &e, &uid);
	if (rc < 0) {
		rc = store_fail(r, rc == -ENOTUNIQ ? -ENOENT : rc);
		goto out;
	}
	rc = -ENOMEM;
	esc = store_escape(e->dn);
	if (!esc || asprintf(&filter, "(mmMember=%s)", esc) < 0)
		goto out;
	rc = store_search_all(r->store, base, LDAP_SCOPE_SUBTREE, filter, attrs, &v, &nv);
	if (rc < 0) {
		rc = store_fail(r, rc);
		goto out;
	}
	rc = -ENOMEM;
	gids = calloc(nv + 1, sizeof(*gids));
	if (!gids)
		goto out;
	for (size_t i = 0; i < nv; i++) {
		unsigned long gid;
		char gname[MC_KEY_MAX + 1];

		if (!is_org(v[i]) || !entry_get(v[i], "uid") ||
			!id_parse(entry_get(v[i], "gidNumber"), r->cfg->gid_min, r->cfg->gid_max, &gid) ||
			names_group_name(r->cfg, entry_get(v[i], "uid"), gname, sizeof(gname)) < 0 ||
			!group_servable(r, gname, gid, NAMES_ASK_HOST | NAMES_GROUP))
			continue;
		if (asprintf(&gids[n], "%lu", gid) < 0)
			goto out;
		n++;
	}
	req_put(r, "name", entry_get(e, "uid"));
	rc = put_chunks(r, "gids", gids, n);
out:
	for (size_t i = 0; gids && i < n; i++)
		free(gids[i]);
	free(gids);
	entries_free(v, nv);
	entry_free(e);
	free(esc);
	free(filter);
	free(base);
	return rc;
}

static int ent_start(struct req *r, struct mc_snapshot **ret, unsigned long *ret_off)
{
	*ret = NULL;
	if (!r->cfg->enumerate) {
		req_put(r, "reason", "enumeration-disabled");
		return req_fail(r, -EPERM, "énumération désactivée (enumerate = no)");
	}
	*ret_off = 0;
	if (get(r, "offset") && strcmp(get(r, "offset"), "0") &&
		!id_parse(get(r, "offset"), 1, UINT32_MAX, ret_off))
		return req_fail_field(r, "offset", "format", "offset invalide");
	*ret = mcache_snapshot_get();
	if (!*ret)
		return req_fail(r, -EAGAIN, "cache en construction, réessayez");
	return 0;
}

int nss_pwent(struct req *r)
{
	struct mc_snapshot *s = NULL;
	unsigned long off;
	size_t i, k = 0;
	char home[512];
	int rc = ent_start(r, &s, &off);

	if (rc < 0)
		return rc;
	for (i = off; i < s->nusers && k < PWENT_PAGE && rc == 0; i++, k++) {
		const struct mc_user *u = &s->users[i];

		mcache_home(r->cfg, u->login, home, sizeof(home));
		if (mm_msg_addf(r->out, "#", "%zu", k) < 0 || mm_msg_add(r->out, "name", u->login) < 0 ||
			mm_msg_addf(r->out, "uid", "%u", u->uid) < 0 ||
			mm_msg_addf(r->out, "gid", "%u", (unsigned)r->cfg->user_gid) < 0 ||
			mm_msg_add(r->out, "gecos", u->gecos) < 0 || mm_msg_add(r->out, "dir", home) < 0 ||
			mm_msg_add(r->out, "shell", r->cfg->shell) < 0)
			rc = -ENOMEM;
	}
	if (rc == 0 && i < s->nusers && mm_msg_addf(r->out, "next", "%zu", i) < 0)
		rc = -ENOMEM;
	mcache_snapshot_put(s);
	return rc;
}

int nss_grent(struct req *r)
{
	struct mc_snapshot *s = NULL;
	unsigned long off;
	size_t i, k = 0, fields = 0, bytes = 0;
	int rc = ent_start(r, &s, &off);

	if (rc < 0)
		return rc;
	for (i = off; i < s->ngroups && rc == 0; i++) {
		const struct mc_group *g = &s->groups[i];
		size_t gb = 64 + strlen(g->name), gf = 4 + 1;

		for (size_t j = 0; j < g->nmembers; j++)
			gb += strlen(g->members[j]) + 1;
		gf += gb / (MM_VALUE_MAX / 2);
		if (gb > MM_FRAME_MAX - 4096)
			continue; /* too large for the socket: only the cache serves it */
		if (k && (fields + gf > GRENT_FIELDS || bytes + gb > GRENT_BYTES))
			break;
		fields += gf;
		bytes += gb;
		if (mm_msg_addf(r->out, "#", "%zu", k) < 0 || mm_msg_add(r->out, "name", g->name) < 0 ||
			mm_msg_addf(r->out, "gid", "%u", g->gid) < 0 ||
			put_chunks(r, "members", g->members, g->nmembers) < 0)
			rc = -ENOMEM;
		k++;
	}
	if (rc == 0 && i < s->ngroups && mm_msg_addf(r->out, "next", "%zu", i) < 0)
		rc = -ENOMEM;
	mcache_snapshot_put(s);
	return rc;
}
