/* The changed-keys files (mcfile.h): the keys whose answer in the published cache files may be
 * wrong since a change was seen, listed at once for every reader until a build folds them in. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "buf.h"
#include "log.h"
#include "mcache_int.h"
#include "mcfile.h"
#include "names.h"

static int str_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keys whose answer in the published files may be wrong since a change was seen, each with the
 * number of the change (a build folds in what was seen before its read began). */
enum chg_kind { CHG_PW, CHG_GR, CHG_MEMBEROF };

struct chg {
	uint64_t seq;
	char *dn; /* the entry whose change listed it */
	enum chg_kind kind;
	uint32_t id; /* uid, gid; 0 for a memberof login */
	char *name; /* login, group name */
	char *mail; /* CHG_PW: login e-mail, or NULL */
};

#define CHG_MAX 20000 /* changed keys before the next build: past that, a build now */
/* chg.v by kind and name (index + 1, 0 free; linear probing): more than three slots per key,
 * so a change listing a thousand members, or a group lookup, costs probes and not scans of
 * every key listed. */
#define CHG_SLOTS 65536

static struct {
	pthread_mutex_t lock;
	struct chg *v;
	size_t n, cap;
	uint64_t seq;
	bool keyed;
	unsigned char key[crypto_shorthash_KEYBYTES]; /* names are chosen by registrants */
	uint32_t slots[CHG_SLOTS];
} chg = {.lock = PTHREAD_MUTEX_INITIALIZER};

static uint32_t chg_hash(enum chg_kind kind, const char *name)
{
	unsigned char b[1 + MC_KEY_MAX + 1], h[crypto_shorthash_BYTES];
	size_t n = strnlen(name, MC_KEY_MAX + 1); /* a longer name: hashed by its start */
	uint32_t v;

	if (!chg.keyed) {
		randombytes_buf(chg.key, sizeof(chg.key));
		chg.keyed = true;
	}
	b[0] = (unsigned char)kind;
	memcpy(b + 1, name, n);
	crypto_shorthash(h, b, 1 + n, chg.key);
	memcpy(&v, h, sizeof(v));
	return v;
}

/* Under chg.lock: slot of chg.v[i] taken. */
static void chg_slot_add(size_t i)
{
	size_t k = chg_hash(chg.v[i].kind, chg.v[i].name) & (CHG_SLOTS - 1);

	while (chg.slots[k])
		k = (k + 1) & (CHG_SLOTS - 1);
	chg.slots[k] = (uint32_t)i + 1;
}

/* Under chg.lock: the first listed key of that kind and name at or after *pos in its probe
 * sequence (start with *pos = SIZE_MAX), or NULL. */
static struct chg *chg_next(enum chg_kind kind, const char *name, size_t *pos)
{
	size_t k = *pos == SIZE_MAX ? chg_hash(kind, name) & (CHG_SLOTS - 1) : (*pos + 1) & (CHG_SLOTS - 1);

	for (; chg.slots[k]; k = (k + 1) & (CHG_SLOTS - 1)) {
		struct chg *c = &chg.v[chg.slots[k] - 1];

		if (c->kind == kind && !strcmp(c->name, name)) {
			*pos = k;
			return c;
		}
	}
	return NULL;
}

static void chg_clear(struct chg *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].dn);
		free(v[i].name);
		free(v[i].mail);
	}
}

/* Under chg.lock: the two changed-keys files from chg.v. */
static int chg_publish_locked(const struct mm_config *c)
{
	struct mc_builder *pw = NULL, *gr = NULL;
	uint8_t *img = NULL;
	size_t len = 0;
	uint64_t gen = mc_next_generation();
	int r = mc_builder_new(MC_PASSWD, mc_random_seed(), &pw);

	if (r == 0)
		r = mc_builder_new(MC_GROUP, mc_random_seed(), &gr);
	for (size_t i = 0; r == 0 && i < chg.n; i++) {
		const struct chg *k = &chg.v[i];

		if (k->kind == CHG_PW)
			r = mc_builder_add_pw(pw, k->name, k->mail, k->id, 0, "", "", "");
		else if (k->kind == CHG_GR)
			r = mc_builder_add_gr(gr, k->name, k->id, NULL, 0);
		else
			r = mc_builder_add_memberof(gr, k->name, NULL, 0);
		if (r == -EINVAL) /* a key the cache files refuse too: never answered from them */
			r = 0;
	}
	if (r == 0)
		r = mc_builder_finish(pw, gen, 0, &img, &len);
	if (r == 0)
		r = mc_publish(c->cache_dir, "passwd.changed", img, len);
	free(img);
	img = NULL;
	if (r == 0)
		r = mc_builder_finish(gr, gen, 0, &img, &len);
	if (r == 0)
		r = mc_publish(c->cache_dir, "group.changed", img, len);
	free(img);
	mc_builder_free(pw);
	mc_builder_free(gr);
	return r;
}

int mc_changes_publish(const struct mm_config *c)
{
	int r;

	pthread_mutex_lock(&chg.lock);
	r = chg_publish_locked(c);
	pthread_mutex_unlock(&chg.lock);
	return r;
}

void mc_changes_fold(const struct mm_config *c, uint64_t mark)
{
	size_t k = 0;
	int r;

	pthread_mutex_lock(&chg.lock);
	for (size_t i = 0; i < chg.n; i++) {
		if (chg.v[i].seq <= mark)
			chg_clear(&chg.v[i], 1);
		else
			chg.v[k++] = chg.v[i];
	}
	chg.n = k;
	memset(chg.slots, 0, sizeof(chg.slots));
	for (size_t i = 0; i < chg.n; i++)
		chg_slot_add(i);
	r = chg_publish_locked(c);
	pthread_mutex_unlock(&chg.lock);
	if (r < 0) /* the previous, larger list stays in place: more questions, never a wrong answer */
		log_msg(LOG_WARNING, "name-service cache: changed keys not rewritten: %s", strerror(-r));
}

uint64_t mc_changes_mark(void)
{
	uint64_t m;

	pthread_mutex_lock(&chg.lock);
	m = chg.seq;
	pthread_mutex_unlock(&chg.lock);
	return m;
}

/* The keys of one change, gathered before they are listed. */
struct chg_set {
	const char *dn;
	struct chg *v;
	size_t n, cap;
	int err;
};

static void set_add(struct chg_set *set, enum chg_kind kind, const char *name, const char *mail, uint32_t id)
{
	struct chg *k;

	if (set->err)
		return;
	if (array_grow(&set->v, &set->cap, set->n, sizeof(*set->v), 16) < 0) {
		set->err = -ENOMEM;
		return;
	}
	k = &set->v[set->n];
	*k = (struct chg){.dn = strdup(set->dn),
		.kind = kind,
		.id = id,
		.name = strdup(name),
		.mail = mail ? strdup(mail) : NULL};
	if (!k->dn || !k->name || (mail && !k->mail)) {
		chg_clear(k, 1);
		set->err = -ENOMEM;
		return;
	}
	set->n++;
}

static void set_user(struct chg_set *set, const struct mc_user *u)
{
	if (!u)
		return;
	set_add(set, CHG_PW, u->login, u->mail, u->uid);
	set_add(set, CHG_MEMBEROF, u->login, NULL, 0);
}

static void set_group(struct chg_set *set, const struct mc_group *g)
{
	if (!g)
		return;
	set_add(set, CHG_GR, g->name, NULL, g->gid);
	for (size_t i = 0; i < g->nmembers; i++)
		set_add(set, CHG_MEMBEROF, g->members[i], NULL, 0);
}

static bool str_same(const char *a, const char *b)
{
	return !a == !b && (!a || !strcmp(a, b));
}

/* What the name service shows of an account entry now equals what the snapshot has (absent
 * from both included): a report that changes nothing it shows (a failed login's counters, a
 * session) lists nothing and starts no build, so no one can make every daemon rebuild. */
static bool user_unchanged(const struct mm_config *c, const struct mc_user *u, const struct entry *e)
{
	const char *login = e ? entry_get(e, "uid") : NULL, *type = e ? entry_get(e, "mmAccountType") : NULL;
	uint32_t uid = e ? mc_parse_id(entry_get(e, "uidNumber"), c->uid_min, c->uid_max) : 0;
	bool shown = e && login && uid && entry_has_value(e, "objectClass", "mmAccount") &&
		str_same(entry_get(e, "mmStatus"), "active") && !(type && !strcmp(type, "ORG"));
	char *gecos;
	bool same;

	if (!u || !shown)
		return !u && !shown;
	if (strcmp(u->login, login) || u->uid != uid || !str_same(u->mail, entry_get(e, "mmLoginMail")))
		return false;
	gecos = mc_gecos(e);
	same = gecos && !strcmp(gecos, u->gecos);
	free(gecos);
	return same;
}

const char *const mcache_user_attrs[] = {"uid", "mmLoginMail", "givenName", "sn", "cn", "uidNumber",
	"mmStatus", "mmAccountType", "objectClass", NULL};
const char *const mcache_org_attrs[] = {
	"uid", "gidNumber", "mmMember", "mmStatus", "mmAccountType", "objectClass", NULL};

/* dn as told, or read now into *owned (entry_free): *ret, NULL when it is gone. */
static int entry_now(struct store *s, const char *dn, const struct entry *told, const char *const *attrs,
	const struct entry **ret, struct entry **owned)
{
	int r;

	*ret = told;
	*owned = NULL;
	if (told)
		return 0;
	r = store_search_one(s, dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, owned);
	*ret = *owned;
	return r == -ENOENT ? 0 : r;
}

/* An account: its own keys, and the groups of every ORG that lists it (a member's status
 * decides whether the ORG's group shows it). 1: nothing shown changed. */
static int user_keys(struct store *s, const struct mm_config *c, const char *orgs,
	const struct mc_snapshot *snap, const char *dn, const struct entry *told, bool listed,
	struct chg_set *set)
{
	static const char *const none[] = {"1.1", NULL};
	const struct mc_user *u = mc_snap_user(snap, dn);
	const struct entry *e;
	struct entry **v = NULL, *owned;
	size_t nv = 0;
	char *esc, *filter = NULL;
	int r = entry_now(s, dn, told, mcache_user_attrs, &e, &owned);

	if (r < 0)
		return r;
	if (!listed && user_unchanged(c, u, e)) {
		entry_free(owned);
		return 1;
	}
	set_user(set, u); /* what the files show */
	if (e && entry_get(e, "uid") && !strchr(entry_get(e, "uid"), '@') &&
		strlen(entry_get(e, "uid")) <= MC_KEY_MAX) {
		/* and what it is now, which a build under way may show */
		uint32_t uid = mc_parse_id(entry_get(e, "uidNumber"), c->uid_min, c->uid_max);
		const char *mail = entry_get(e, "mmLoginMail");

		if (uid)
			set_add(set, CHG_PW, entry_get(e, "uid"),
				mail && strlen(mail) <= MC_KEY_MAX ? mail : NULL, uid);
		set_add(set, CHG_MEMBEROF, entry_get(e, "uid"), NULL, 0);
	}
	entry_free(owned);
	esc = store_escape(dn);
	if (!esc || asprintf(&filter, "(mmMember=%s)", esc) < 0) {
		free(esc);
		return -ENOMEM;
	}
	free(esc);
	r = store_search_all(s, orgs, LDAP_SCOPE_SUBTREE, filter, none, &v, &nv);
	free(filter);
	for (size_t i = 0; r == 0 && i < nv; i++) {
		const struct mc_group *g = mc_snap_group(snap, v[i]->dn);

		if (g)
			set_add(set, CHG_GR, g->name, NULL, g->gid);
	}
	entries_free(v, nv);
	return r;
}

/* The logins of the snapshot's users among an ORG entry's members, sorted. */
static const char **member_logins(const struct mc_snapshot *snap, const struct entry *e, size_t *ret_n)
{
	const struct attr *mem = entry_attr(e, "mmMember");
	const char **v = calloc((mem ? mem->nvals : 0) + 1, sizeof(*v));
	size_t n = 0;

	for (size_t i = 0; v && mem && i < mem->nvals; i++) {
		const struct mc_user *u = mc_snap_user(snap, mem->vals[i]);

		if (u)
			v[n++] = u->login;
	}
	if (v)
		qsort(v, n, sizeof(*v), str_ptr_cmp);
	*ret_n = n;
	return v;
}

static bool org_unchanged(const struct mm_config *c, const struct mc_group *g, const struct entry *e,
	const char **logins, size_t nlogins)
{
	const char *login = e ? entry_get(e, "uid") : NULL;
	uint32_t gid = e ? mc_parse_id(entry_get(e, "gidNumber"), c->gid_min, c->gid_max) : 0;
	char name[MC_KEY_MAX + 1];
	bool shown = e && login && gid && entry_has_value(e, "objectClass", "mmAccount") &&
		str_same(entry_get(e, "mmAccountType"), "ORG") &&
		str_same(entry_get(e, "mmStatus"), "active") &&
		names_group_name(c, login, name, sizeof(name)) == 0;
	const char **old;
	bool same;

	if (!g || !shown)
		return !g && !shown;
	if (strcmp(g->name, name) || g->gid != gid || g->nmembers != nlogins)
		return false;
	if (!(old = calloc(g->nmembers + 1, sizeof(*old))))
		return false;
	memcpy(old, g->members, g->nmembers * sizeof(*old));
	qsort(old, g->nmembers, sizeof(*old), str_ptr_cmp);
	same = true;
	for (size_t i = 0; same && i < nlogins; i++)
		same = !strcmp(old[i], logins[i]);
	free(old);
	return same;
}

/* An ORG: its group's keys and the group lists of its members, before and after. 1: nothing
 * shown changed. */
static int org_keys(struct store *s, const struct mm_config *c, const struct mc_snapshot *snap,
	const char *dn, const struct entry *told, bool listed, struct chg_set *set)
{
	const struct mc_group *g = mc_snap_group(snap, dn);
	const struct entry *e;
	struct entry *owned;
	const char **logins = NULL;
	size_t n = 0;
	int r = entry_now(s, dn, told, mcache_org_attrs, &e, &owned);

	if (r < 0)
		return r;
	if (e && !(logins = member_logins(snap, e, &n)))
		r = -ENOMEM;
	else if (!listed && org_unchanged(c, g, e, logins, n))
		r = 1;
	else if (e) {
		const struct attr *mem = entry_attr(e, "mmMember");
		const char *login = entry_get(e, "uid");
		uint32_t gid = mc_parse_id(entry_get(e, "gidNumber"), c->gid_min, c->gid_max);
		char name[MC_KEY_MAX + 1];

		set_group(set, g); /* what the files show, and what it is now */
		if (login && gid && names_group_name(c, login, name, sizeof(name)) == 0)
			set_add(set, CHG_GR, name, NULL, gid);
		/* every member by its DN (a build under way may know one the snapshot does not) */
		for (size_t i = 0; mem && i < mem->nvals; i++)
			if (dn_rdn_value(mem->vals[i], "uid", name, sizeof(name)) && !strchr(name, '@'))
				set_add(set, CHG_MEMBEROF, name, NULL, 0);
	} else {
		set_group(set, g);
	}
	free(logins);
	entry_free(owned);
	return r;
}

static bool same_key(const struct chg *a, const struct chg *b)
{
	return a->kind == b->kind && a->id == b->id && !strcmp(a->name, b->name) &&
		str_same(a->mail, b->mail) && !strcasecmp(a->dn, b->dn);
}

/* Some key listed by a change of dn is still there. */
static bool dn_listed(const char *dn)
{
	bool found = false;

	pthread_mutex_lock(&chg.lock);
	for (size_t i = 0; i < chg.n && !found; i++)
		found = !strcasecmp(chg.v[i].dn, dn);
	pthread_mutex_unlock(&chg.lock);
	return found;
}

/* dn ends with ",base" (case-blind). */
static bool dn_under(const char *dn, const char *base)
{
	size_t n = strlen(dn), b = strlen(base);

	return n > b + 1 && dn[n - b - 1] == ',' && !strcasecmp(dn + n - b, base);
}

void mcache_changed_as(struct store *s, const struct mm_config *c, const char *dn, const struct entry *told)
{
	struct mc_snapshot *snap = mcache_snapshot_get();
	struct chg_set set = {.dn = dn};
	char *people = mc_base(c, "people"), *orgs = mc_base(c, "orgs");
	size_t added = 0;
	bool full = false;
	int r;

	if (!snap) {
		/* Nothing built yet by this run: files a previous run left are outdated now. */
		r = -EAGAIN;
	} else if (!people || !orgs) {
		r = -ENOMEM;
	} else if (dn_under(dn, people)) {
		r = user_keys(s, c, orgs, snap, dn, told, dn_listed(dn), &set);
	} else if (dn_under(dn, orgs)) {
		r = org_keys(s, c, snap, dn, told, dn_listed(dn), &set);
	} else {
		r = 1;
	}
	if (r >= 0 && set.err)
		r = set.err;
	if (r == 1)
		goto out; /* nothing the name service shows changed */
	if (r == 0) {
		pthread_mutex_lock(&chg.lock);
		chg.seq++;
		/* What earlier changes of dn listed stays listed past the next build too: a build
		 * under way may show any state the entry went through since the files were built. */
		for (size_t i = 0; i < chg.n; i++)
			if (!strcasecmp(chg.v[i].dn, dn))
				chg.v[i].seq = chg.seq;
		for (size_t i = 0; i < set.n; i++) {
			size_t pos = SIZE_MAX;
			struct chg *k;

			while ((k = chg_next(set.v[i].kind, set.v[i].name, &pos)) && !same_key(k, &set.v[i]))
				;
			if (k) {
				k->seq = chg.seq; /* seen again: kept until a build after this one */
				continue;
			}
			if (chg.n == CHG_MAX) {
				full = true;
				break;
			}
			if (array_grow(&chg.v, &chg.cap, chg.n, sizeof(*chg.v), 64) < 0) {
				r = -ENOMEM;
				break;
			}
			chg.v[chg.n] = set.v[i];
			chg.v[chg.n].seq = chg.seq;
			chg_slot_add(chg.n++);
			set.v[i] = (struct chg){0};
			added++;
		}
		if (r == 0 && !full && added)
			r = chg_publish_locked(c);
		pthread_mutex_unlock(&chg.lock);
	}
	if (r < 0 || full) {
		/* Not known what to list: every lookup asks the daemon until the next build. */
		if (r != -EAGAIN)
			log_msg(LOG_NOTICE, "name-service cache: change of %s not listed (%s): full rebuild",
				dn, full ? "too many changes since the last build" : strerror(-r));
		mcache_invalidate();
	} else {
		if (added)
			log_msg(LOG_DEBUG, "name-service cache: %s changed, %zu keys listed", dn, added);
		/* A quick build makes the files current again at once (a small directory), and shows
		 * what no key listed can: a new account or ORG. */
		mc_build_if_quick(c);
	}
out:
	for (size_t i = 0; i < set.n; i++)
		chg_clear(&set.v[i], 1);
	free(set.v);
	free(people);
	free(orgs);
	mcache_snapshot_put(snap);
}

void mcache_changed(struct store *s, const struct mm_config *c, const char *dn)
{
	mcache_changed_as(s, c, dn, NULL);
}

void mcache_members_current(
	const struct mc_snapshot *snap, char *const *dns, size_t n, const struct mc_user **users)
{
	if (!mc_snapshot_current(snap)) {
		for (size_t i = 0; i < n; i++)
			users[i] = NULL; /* every member read from the directory */
		return;
	}
	pthread_mutex_lock(&chg.lock);
	for (size_t i = 0; i < n; i++) {
		const struct mc_user *u = mc_snap_user(snap, dns[i]);
		size_t pos = SIZE_MAX;

		users[i] = u && !chg_next(CHG_PW, u->login, &pos) ? u : NULL;
	}
	pthread_mutex_unlock(&chg.lock);
}

bool mcache_group_current(const struct mc_snapshot *snap, const struct mc_group *g)
{
	size_t pos = SIZE_MAX;
	bool current;

	if (!g || !mc_snapshot_current(snap))
		return false;
	pthread_mutex_lock(&chg.lock);
	current = !chg_next(CHG_GR, g->name, &pos);
	for (size_t i = 0; current && i < g->nmembers; i++) {
		pos = SIZE_MAX;
		current = !chg_next(CHG_PW, g->members[i], &pos);
	}
	pthread_mutex_unlock(&chg.lock);
	return current;
}
