/* The name service's groups (the BAL ORG and their connection accounts):
 * getgrnam, getgrgid, initgroups, grent (nss.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "follow.h"
#include "mcache.h"
#include "mcfile.h"
#include "protocol.h"
#include "names.h"
#include "nss.h"
#include "nss_lookup.h"

/* Searches use one indexed equality term; the other conditions are checked
 * on the entry (slapd would otherwise intersect ~100k-entry index slots). */
#define MEMBER_BATCH 500
#define GRENT_FIELDS 240
#define GRENT_BYTES (MM_FRAME_MAX / 2)
#define GROUP_BYTES_MAX (MM_FRAME_MAX - 4096) /* a larger group is served by the cache files only */

static const char *const user_attrs[] = {"uid", "mmLoginMail", "givenName", "sn", "cn", "uidNumber",
	"mmStatus", "mmAccountType", "objectClass", NULL};
static const char *const org_attrs[] = {
	"uid", "gidNumber", "mmMember", "mmStatus", "mmAccountType", "objectClass", NULL};

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static int casecmp_ptr(const void *a, const void *b)
{
	return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

/* Logins of the active users among the member DNs of an ORG: those the followed snapshot
 * knows as current (mcache_members_current), and the others read from the directory. */
static int org_members(
	struct store *s, const struct mm_config *c, const struct entry *org, char ***ret, size_t *ret_n)
{
	const struct attr *mem = entry_attr(org, "mmMember");
	char *base = nss_base(c, "people"), **out = NULL, **sorted = NULL;
	const struct mc_user **known = NULL;
	struct mc_snapshot *snap = NULL;
	size_t n = 0, nask = 0;
	int rc = 0;

	*ret = NULL;
	*ret_n = 0;
	if (!base)
		return -ENOMEM;
	if (!mem || !mem->nvals)
		goto done;
	out = calloc(mem->nvals + 1, sizeof(*out));
	sorted = calloc(mem->nvals + 1, sizeof(*sorted));
	known = calloc(mem->nvals + 1, sizeof(*known));
	if (!out || !sorted || !known) {
		rc = -ENOMEM;
		goto done;
	}
	/* With every base followed, a changed account is listed within moments of its change. */
	if (follow_all_live() && (snap = mcache_snapshot_get()))
		mcache_members_current(snap, mem->vals, mem->nvals, known);
	for (size_t i = 0; i < mem->nvals; i++) {
		if (!known[i]) {
			sorted[nask++] = mem->vals[i];
		} else if (nss_user_servable(c, known[i]->login, known[i]->uid, 0) &&
			!(out[n++] = strdup(known[i]->login))) {
			rc = -ENOMEM;
			goto done;
		}
	}
	/* The others sorted once: each answer's DN is found by bisection (a scan per answer was
	 * quadratic, ~2/3 of the daemon's CPU on groups). */
	qsort(sorted, nask, sizeof(*sorted), casecmp_ptr);
	/* One search per batch of member logins (the RDN of the DN); the DN of
	 * each answer is then compared with the member value itself. */
	for (size_t i = 0; i < nask && rc == 0; i += MEMBER_BATCH) {
		size_t end = i + MEMBER_BATCH < nask ? i + MEMBER_BATCH : nask;
		size_t flen = 64;
		struct entry **v = NULL;
		size_t nv = 0;
		char *filter, *p;

		for (size_t j = i; j < end; j++)
			flen += 3 * strlen(sorted[j]) + 8;
		filter = malloc(flen);
		if (!filter) {
			rc = -ENOMEM;
			break;
		}
		p = filter + sprintf(filter, "(|");
		for (size_t j = i; j < end; j++) {
			const char *dn = sorted[j];
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
			rc = store_search_all(s, base, LDAP_SCOPE_SUBTREE, filter, user_attrs, &v, &nv);
		free(filter);
		for (size_t k = 0; rc == 0 && k < nv; k++) {
			const char *login = entry_get(v[k], "uid");
			unsigned long uid;

			if (!nss_is_user(v[k]) || !login || strchr(login, '@') ||
				!nss_id_parse(entry_get(v[k], "uidNumber"), c->uid_min, c->uid_max, &uid) ||
				!bsearch(&v[k]->dn, sorted, nask, sizeof(*sorted), casecmp_ptr) ||
				!nss_user_servable(c, login, uid, 0))
				continue;
			if (!(out[n] = strdup(login)))
				rc = -ENOMEM;
			else
				n++;
		}
		entries_free(v, nv);
	}
done:
	mcache_snapshot_put(snap);
	free(base);
	free(sorted);
	free(known);
	if (rc < 0) {
		strv_free(out, n);
		return rc;
	}
	*ret = out;
	*ret_n = n;
	return 0;
}

/* The group of the one ORG the filter finds (exact_name: its login, case-sensitive). */
static int group_answer(struct store *s, const struct mm_config *c, const char *filter,
	const char *exact_name, struct nss_group *ret, struct fault *f)
{
	char *base = nss_base(c, "orgs"), **members = NULL, name[MC_KEY_MAX + 1];
	struct entry *e = NULL;
	unsigned long gid;
	size_t n = 0, bytes = 0;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if (!base)
		return fault_set(f, -ENOMEM, "mémoire insuffisante");
	rc = store_search_one(s, base, LDAP_SCOPE_SUBTREE, filter, org_attrs, &e);
	free(base);
	if (rc == 0 &&
		(!nss_is_org(e) || !entry_get(e, "uid") || !nss_name_ok(entry_get(e, "uid")) ||
			!nss_id_parse(entry_get(e, "gidNumber"), c->gid_min, c->gid_max, &gid) ||
			/* group names are case-sensitive (the directory matches case-blind) */
			(exact_name && strcmp(entry_get(e, "uid"), exact_name)) ||
			names_group_name(c, entry_get(e, "uid"), name, sizeof(name)) < 0 ||
			!nss_group_servable(c, name, gid, NAMES_ASK_HOST | NAMES_GROUP)))
		rc = -ENOENT;
	if (rc < 0) {
		rc = nss_store_fault(f, rc);
		goto out;
	}
	if ((rc = org_members(s, c, e, &members, &n)) < 0) {
		rc = nss_store_fault(f, rc);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		bytes += strlen(members[i]) + 1;
	if (bytes > GROUP_BYTES_MAX) {
		rc = fault_set(f, -E2BIG, "groupe trop grand pour une réponse (voir le cache)");
		goto out;
	}
	if (!(ret->name = strdup(name))) {
		rc = fault_set(f, -ENOMEM, "mémoire insuffisante");
		goto out;
	}
	ret->gid = (uint32_t)gid;
	ret->members = members;
	ret->nmembers = n;
	members = NULL;
	n = 0;
out:
	strv_free(members, n);
	entry_free(e);
	return rc;
}

/* While every base is followed, a group the snapshot has, with no change of it or of its
 * members listed since, is answered from the snapshot with no directory search: the same
 * answer as the cache files, as current as the follow. 1: not known there (ask the directory). */
static int group_from_snapshot(
	const struct mm_config *c, const char *name, uint32_t gid, struct nss_group *ret, struct fault *f)
{
	struct mc_snapshot *snap;
	const struct mc_group *g;
	size_t bytes = 0;
	int rc = 1;

	if (!follow_all_live() || !(snap = mcache_snapshot_get()))
		return 1;
	g = name ? mcache_group_by_name(snap, name) : mcache_group_by_gid(snap, gid);
	if (!mcache_group_current(snap, g) ||
		!nss_group_servable(c, g->name, g->gid, NAMES_ASK_HOST | NAMES_GROUP))
		goto out;
	for (size_t i = 0; i < g->nmembers; i++)
		bytes += strlen(g->members[i]) + 1;
	if (bytes > GROUP_BYTES_MAX) {
		rc = fault_set(f, -E2BIG, "groupe trop grand pour une réponse (voir le cache)");
		goto out;
	}
	rc = -ENOMEM;
	if (!(ret->name = strdup(g->name)) || !(ret->members = calloc(g->nmembers + 1, sizeof(char *))))
		goto fail;
	for (; ret->nmembers < g->nmembers; ret->nmembers++)
		if (!(ret->members[ret->nmembers] = strdup(g->members[ret->nmembers])))
			goto fail;
	ret->gid = g->gid;
	rc = 0;
	goto out;
fail:
	nss_group_clear(ret);
	fault_set(f, rc, "mémoire insuffisante");
out:
	mcache_snapshot_put(snap);
	return rc;
}

void nss_group_clear(struct nss_group *g)
{
	free(g->name);
	strv_free(g->members, g->nmembers);
	memset(g, 0, sizeof(*g));
}

int nss_getgrnam(struct store *s, const struct mm_config *c, const struct caller *who, const char *name,
	struct nss_group *ret, struct fault *f)
{
	const char *login;
	char *esc, filter[MC_KEY_MAX * 3 + 16];
	int rc;

	(void)who;
	memset(ret, 0, sizeof(*ret));
	if (!nss_name_ok(name))
		return fault_field(f, "name", "format", "nom invalide");
	/* Without the site's org_group_prefix the name is not one of ours. */
	if (!(login = names_group_login(c, name)))
		return nss_store_fault(f, -ENOENT);
	if ((rc = group_from_snapshot(c, name, 0, ret, f)) <= 0)
		return rc;
	if (!(esc = store_escape(login)))
		return fault_set(f, -ENOMEM, "mémoire insuffisante");
	snprintf(filter, sizeof(filter), "(uid=%s)", esc);
	free(esc);
	return group_answer(s, c, filter, login, ret, f);
}

int nss_getgrgid(struct store *s, const struct mm_config *c, const struct caller *who, uint32_t gid,
	struct nss_group *ret, struct fault *f)
{
	char filter[48];
	int rc;

	(void)who;
	memset(ret, 0, sizeof(*ret));
	if ((rc = group_from_snapshot(c, NULL, gid, ret, f)) <= 0)
		return rc;
	snprintf(filter, sizeof(filter), "(gidNumber=%lu)", (unsigned long)gid);
	return group_answer(s, c, filter, NULL, ret, f);
}

int nss_initgroups(struct store *s, const struct mm_config *c, const struct caller *who, const char *name,
	struct nss_groups_of *ret, struct fault *f)
{
	static const char *const attrs[] = {
		"uid", "gidNumber", "mmStatus", "mmAccountType", "objectClass", NULL};
	char *esc = NULL, *filter = NULL, *base = NULL;
	struct entry *e = NULL, **v = NULL;
	unsigned long uid;
	size_t nv = 0;
	int rc;

	(void)who;
	memset(ret, 0, sizeof(*ret));
	if (!nss_name_ok(name))
		return fault_field(f, "name", "format", "nom invalide");
	if ((rc = nss_user_find(s, c, name, &e, &uid)) < 0)
		return nss_store_fault(f, rc);
	rc = -ENOMEM;
	esc = store_escape(e->dn);
	if (!esc || !(base = nss_base(c, "orgs")) || asprintf(&filter, "(mmMember=%s)", esc) < 0) {
		filter = NULL;
		goto out;
	}
	if ((rc = store_search_all(s, base, LDAP_SCOPE_SUBTREE, filter, attrs, &v, &nv)) < 0)
		goto out;
	rc = -ENOMEM;
	if (!(ret->gids = calloc(nv + 1, sizeof(*ret->gids))) || !(ret->name = strdup(entry_get(e, "uid"))))
		goto out;
	for (size_t i = 0; i < nv; i++) {
		unsigned long gid;
		char gname[MC_KEY_MAX + 1];

		if (!nss_is_org(v[i]) || !entry_get(v[i], "uid") ||
			!nss_id_parse(entry_get(v[i], "gidNumber"), c->gid_min, c->gid_max, &gid) ||
			names_group_name(c, entry_get(v[i], "uid"), gname, sizeof(gname)) < 0 ||
			!nss_group_servable(c, gname, gid, NAMES_ASK_HOST | NAMES_GROUP))
			continue;
		ret->gids[ret->n++] = (uint32_t)gid;
	}
	rc = 0;
out:
	if (rc < 0) {
		nss_groups_of_clear(ret);
		nss_store_fault(f, rc);
	}
	entries_free(v, nv);
	entry_free(e);
	free(esc);
	free(filter);
	free(base);
	return rc;
}

void nss_groups_of_clear(struct nss_groups_of *g)
{
	free(g->name);
	free(g->gids);
	memset(g, 0, sizeof(*g));
}

int nss_grent(const struct mm_config *c, const struct caller *who, size_t offset, struct nss_group_page *ret,
	struct fault *f)
{
	struct mc_snapshot *snap;
	size_t i, fields = 0, bytes = 0;

	(void)who;
	memset(ret, 0, sizeof(*ret));
	if (!c->enumerate) {
		fault_set(f, -EPERM, "énumération désactivée (enumerate = no)");
		fault_put(f, "reason", "enumeration-disabled");
		return -EPERM;
	}
	if (!(snap = mcache_snapshot_get()))
		return fault_set(f, -EAGAIN, "cache en construction, réessayez");
	ret->snapshot = snap;
	if (offset < snap->ngroups &&
		!(ret->items = calloc(
			  snap->ngroups - offset < GRENT_FIELDS ? snap->ngroups - offset : GRENT_FIELDS,
			  sizeof(*ret->items)))) {
		nss_group_page_clear(ret);
		return fault_set(f, -ENOMEM, "mémoire insuffisante");
	}
	/* As many groups as fit in one answer (fields and bytes). */
	for (i = offset; i < snap->ngroups; i++) {
		const struct mc_group *g = &snap->groups[i];
		size_t gb = 64 + strlen(g->name), gf = 4 + 1;

		for (size_t j = 0; j < g->nmembers; j++)
			gb += strlen(g->members[j]) + 1;
		gf += gb / (MM_VALUE_MAX / 2);
		if (gb > GROUP_BYTES_MAX)
			continue; /* too large for the socket: only the cache serves it */
		if (ret->n && (fields + gf > GRENT_FIELDS || bytes + gb > GRENT_BYTES))
			break;
		fields += gf;
		bytes += gb;
		ret->items[ret->n++] = (struct nss_group){g->name, g->gid, g->members, g->nmembers};
	}
	ret->more = i < snap->ngroups;
	ret->next = i;
	return 0;
}

void nss_group_page_clear(struct nss_group_page *p)
{
	free(p->items);
	mcache_snapshot_put(p->snapshot);
	memset(p, 0, sizeof(*p));
}
