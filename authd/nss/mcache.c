/* The name-service snapshot of the directory and the memory-mapped cache files (mcfile.h) the NSS module reads. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"
#include "mcache_int.h"
#include "metrics.h"
#include "mcfile.h"
#include "names.h"

/* ------------------------------------------------------------------ indexes */

/* A snapshot's users and groups found by DN (case-blind, as slapd returns DNs as stored), and
 * its groups by name and gid: hashes keyed per snapshot (SipHash: registrants choose the names,
 * and must not be able to pile them on one slot), linear probing, at most half full. Each slot
 * is the hash's 32 bits and index + 1. */

static unsigned char ascii_lower(unsigned char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (unsigned char)(ch + 'a' - 'A') : ch;
}

static bool dn_same(const char *a, const char *b)
{
	for (; *a && ascii_lower((unsigned char)*a) == ascii_lower((unsigned char)*b); a++, b++)
		;
	return ascii_lower((unsigned char)*a) == ascii_lower((unsigned char)*b);
}

static uint32_t ix_hash(const struct mc_snapshot *s, enum mc_index_kind k, const char *str, uint32_t id)
{
	unsigned char f[1024], h[crypto_shorthash_BYTES];
	size_t n = 0;
	uint32_t v;

	if (k == MC_IX_GROUP_GID) {
		memcpy(f, &id, sizeof(id));
		n = sizeof(id);
	} else {
		/* A longer key is hashed by its first 1024 bytes: more probes, never a wrong match. */
		for (; str[n] && n < sizeof(f); n++)
			f[n] = k == MC_IX_GROUP_NAME ? (unsigned char)str[n]
						     : ascii_lower((unsigned char)str[n]);
	}
	crypto_shorthash(h, f, n, s->dn_key);
	memcpy(&v, h, sizeof(v));
	return v;
}

static uint32_t ix_hash_at(const struct mc_snapshot *s, enum mc_index_kind k, size_t i)
{
	switch (k) {
	case MC_IX_USER_DN: return ix_hash(s, k, s->users[i].dn, 0);
	case MC_IX_GROUP_DN: return ix_hash(s, k, s->groups[i].dn, 0);
	case MC_IX_GROUP_NAME: return ix_hash(s, k, s->groups[i].name, 0);
	default: return ix_hash(s, k, NULL, s->groups[i].gid);
	}
}

static bool ix_match(
	const struct mc_snapshot *s, enum mc_index_kind k, size_t i, const char *str, uint32_t id)
{
	switch (k) {
	case MC_IX_USER_DN: return dn_same(s->users[i].dn, str);
	case MC_IX_GROUP_DN: return dn_same(s->groups[i].dn, str);
	case MC_IX_GROUP_NAME: return !strcmp(s->groups[i].name, str);
	default: return s->groups[i].gid == id;
	}
}

static int ix_build(struct mc_snapshot *s, enum mc_index_kind k, size_t n)
{
	struct mc_index *ix = &s->index[k];
	size_t size = 16;

	while (size < 2 * n)
		size *= 2;
	if (n >= UINT32_MAX || !(ix->slots = calloc(size, sizeof(*ix->slots))))
		return -ENOMEM;
	ix->mask = size - 1;
	for (size_t i = 0; i < n; i++) {
		uint32_t h = ix_hash_at(s, k, i);
		size_t at = h & ix->mask;

		while (ix->slots[at])
			at = (at + 1) & ix->mask;
		ix->slots[at] = (uint64_t)h << 32 | (uint64_t)(i + 1);
	}
	return 0;
}

/* The index of the first entry of that key, or SIZE_MAX. */
static size_t ix_find(const struct mc_snapshot *s, enum mc_index_kind k, const char *str, uint32_t id)
{
	const struct mc_index *ix = &s->index[k];
	uint32_t h;

	if (!ix->slots || (k != MC_IX_GROUP_GID && !str))
		return SIZE_MAX;
	h = ix_hash(s, k, str, id);
	for (size_t at = h & ix->mask;; at = (at + 1) & ix->mask) {
		uint64_t v = ix->slots[at];

		if (!v)
			return SIZE_MAX;
		if ((uint32_t)(v >> 32) == h && ix_match(s, k, (uint32_t)v - 1, str, id))
			return (uint32_t)v - 1;
	}
}

int mc_snap_index_users(struct mc_snapshot *s)
{
	return ix_build(s, MC_IX_USER_DN, s->nusers);
}

int mc_snap_index_groups(struct mc_snapshot *s)
{
	int r = ix_build(s, MC_IX_GROUP_DN, s->ngroups);

	if (r == 0)
		r = ix_build(s, MC_IX_GROUP_NAME, s->ngroups);
	if (r == 0)
		r = ix_build(s, MC_IX_GROUP_GID, s->ngroups);
	return r;
}

const struct mc_user *mc_snap_user(const struct mc_snapshot *s, const char *dn)
{
	size_t i = ix_find(s, MC_IX_USER_DN, dn, 0);

	return i == SIZE_MAX ? NULL : &s->users[i];
}

const struct mc_group *mc_snap_group(const struct mc_snapshot *s, const char *dn)
{
	size_t i = ix_find(s, MC_IX_GROUP_DN, dn, 0);

	return i == SIZE_MAX ? NULL : &s->groups[i];
}

const struct mc_group *mcache_group_by_name(const struct mc_snapshot *s, const char *name)
{
	size_t i = ix_find(s, MC_IX_GROUP_NAME, name, 0);

	return i == SIZE_MAX ? NULL : &s->groups[i];
}

const struct mc_group *mcache_group_by_gid(const struct mc_snapshot *s, uint32_t gid)
{
	size_t i = ix_find(s, MC_IX_GROUP_GID, NULL, gid);

	return i == SIZE_MAX ? NULL : &s->groups[i];
}

/* ---------------------------------------------------------------- snapshot */

void mcache_home(const struct mm_config *c, const char *login, char *out, size_t outsz)
{
	size_t o = 0;

	for (const char *t = c->home_template; *t && o + 1 < outsz; t++) {
		if (t[0] == '%' && t[1] == 'u') {
			int n = snprintf(out + o, outsz - o, "%s", login);

			o = n < 0 ? o : (size_t)n >= outsz - o ? outsz - 1 : o + (size_t)n;
			t++;
		} else {
			out[o++] = *t;
		}
	}
	out[o] = '\0';
}

static void snapshot_free(struct mc_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nusers; i++) {
		free(s->users[i].login);
		free(s->users[i].mail);
		free(s->users[i].gecos);
		free(s->users[i].dn);
	}
	for (size_t i = 0; i < s->ngroups; i++) {
		free(s->groups[i].name);
		free(s->groups[i].dn);
		free(s->groups[i].members); /* the strings belong to the users */
	}
	free(s->users);
	free(s->groups);
	for (int k = 0; k < MC_IX_N; k++)
		free(s->index[k].slots);
	free(s);
}

void mcache_snapshot_put(struct mc_snapshot *snap)
{
	if (snap && atomic_fetch_sub(&snap->refs, 1) == 1)
		snapshot_free(snap);
}

uint32_t mc_parse_id(const char *s, unsigned long min, unsigned long max)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max || v == 0 || v > UINT32_MAX - 1)
		return 0;
	return (uint32_t)v;
}

char *mc_gecos(const struct entry *e)
{
	const char *g = entry_get(e, "givenName"), *sn = entry_get(e, "sn"), *cn = entry_get(e, "cn");
	char *s = NULL;

	if (g && sn) {
		if (asprintf(&s, "%s %s", g, sn) < 0)
			return NULL;
		return s;
	}
	return strdup(cn ? cn : sn ? sn : "");
}

char *mc_base(const struct mm_config *c, const char *ou)
{
	char *s = NULL;

	return asprintf(&s, "ou=%s,%s", ou, c->ldap_base) < 0 ? NULL : s;
}

/* What the two streamed searches of a load fill in, entry by entry: a million accounts are
 * never held as directory entries at once, and no single wait covers the whole answer (one
 * ldap_timeout for the whole result made every build at 1M accounts fail). */
struct load {
	const struct mm_config *c;
	struct host_view *host;
	struct mc_snapshot *s;
	size_t ucap, gcap, refused;
};

static int load_user(const struct entry *e, void *ctx)
{
	struct load *l = ctx;
	const struct mm_config *c = l->c;
	const char *login = entry_get(e, "uid"), *mail = entry_get(e, "mmLoginMail"), *rule = NULL;
	uint32_t uid = mc_parse_id(entry_get(e, "uidNumber"), c->uid_min, c->uid_max);
	struct mc_snapshot *s = l->s;
	struct mc_user *u;

	/* Out of the configured range (or malformed): never served, above all never uid 0. */
	if (!login || !uid || strlen(login) > MC_KEY_MAX || strchr(login, '@'))
		return 0;
	/* A name or uid the host knows would inherit what the host grants it. */
	if (names_check(c, l->host, login, 0, &rule) < 0 || names_check_uid(c, l->host, uid, 0, &rule) < 0) {
		log_msg(LOG_DEBUG, "name-service cache: user %s (uid %u) not served: %s", login,
			(unsigned)uid, rule);
		l->refused++;
		return 0;
	}
	/* The login e-mail is a name the module answers too (getpwnam,
	 * initgroups): not when the host has a user of that name (sssd's
	 * fully-qualified names), whom initgroups would give our ORGs. */
	if (mail && names_check(c, l->host, mail, 0, &rule) < 0) {
		log_msg(LOG_DEBUG, "name-service cache: user %s not served by e-mail: %s", login, rule);
		mail = NULL;
	}
	if (array_grow(&s->users, &l->ucap, s->nusers, sizeof(*s->users), 1024) < 0)
		return -ENOMEM;
	u = &s->users[s->nusers];
	*u = (struct mc_user){.uid = uid,
		.login = strdup(login),
		.mail = mail && strlen(mail) <= MC_KEY_MAX ? strdup(mail) : NULL,
		.gecos = mc_gecos(e),
		.dn = strdup(e->dn)};
	s->nusers++;
	if (!u->login || !u->gecos || !u->dn || (mail && strlen(mail) <= MC_KEY_MAX && !u->mail))
		return -ENOMEM;
	return 0;
}

static int load_group(const struct entry *e, void *ctx)
{
	struct load *l = ctx;
	const struct mm_config *c = l->c;
	struct mc_snapshot *s = l->s;
	const char *name = entry_get(e, "uid"), *rule = NULL;
	uint32_t gid = mc_parse_id(entry_get(e, "gidNumber"), c->gid_min, c->gid_max);
	const struct attr *mem = entry_attr(e, "mmMember");
	char gname[MC_KEY_MAX + 1];
	struct mc_group *g;

	if (!name || !gid || names_group_name(c, name, gname, sizeof(gname)) < 0)
		return 0;
	if (names_check(c, l->host, gname, 0, &rule) < 0 || names_check_gid(c, l->host, gid, 0, &rule) < 0) {
		log_msg(LOG_DEBUG, "name-service cache: group %s (gid %u) not served: %s", gname,
			(unsigned)gid, rule);
		l->refused++;
		return 0;
	}
	if (array_grow(&s->groups, &l->gcap, s->ngroups, sizeof(*s->groups), 256) < 0)
		return -ENOMEM;
	g = &s->groups[s->ngroups];
	*g = (struct mc_group){.gid = gid, .name = strdup(gname), .dn = strdup(e->dn)};
	s->ngroups++;
	if (!g->name || !g->dn || (mem && !(g->members = calloc(mem->nvals + 1, sizeof(char *)))))
		return -ENOMEM;
	for (size_t j = 0; mem && j < mem->nvals; j++) {
		const struct mc_user *u = mc_snap_user(s, mem->vals[j]);

		if (u) /* only active users are members */
			g->members[g->nmembers++] = u->login;
	}
	return 0;
}

static atomic_size_t refused_last;

int mcache_snapshot_load(struct store *st, const struct mm_config *c, struct mc_snapshot **ret)
{
	static const char *const uattrs[] = {
		"uid", "mmLoginMail", "givenName", "sn", "cn", "uidNumber", NULL};
	static const char *const gattrs[] = {"uid", "gidNumber", "mmMember", NULL};
	struct load l = {.c = c};
	char *people = mc_base(c, "people"), *orgs = mc_base(c, "orgs");
	size_t n = 0;
	int r = -ENOMEM;

	*ret = NULL;
	/* Fresh at every rebuild: a package that adds a local group takes the name at once. */
	l.host = host_view_get(0);
	if (!people || !orgs || !l.host || !(l.s = calloc(1, sizeof(*l.s))))
		goto out;
	atomic_init(&l.s->refs, 1);
	randombytes_buf(l.s->dn_key, sizeof(l.s->dn_key));
	r = store_search_each(st, people, LDAP_SCOPE_SUBTREE,
		"(&(objectClass=mmAccount)(mmStatus=active)(uidNumber=*)(!(mmAccountType=ORG)))", uattrs,
		load_user, &l, &n);
	if (r < 0)
		goto out;
	r = -ENOMEM;
	if (!l.s->users && !(l.s->users = calloc(1, sizeof(*l.s->users))))
		goto out;
	if (mc_snap_index_users(l.s) < 0)
		goto out;
	r = store_search_each(st, orgs, LDAP_SCOPE_SUBTREE,
		"(&(objectClass=mmAccount)(mmAccountType=ORG)(mmStatus=active)(gidNumber=*))", gattrs,
		load_group, &l, &n);
	if (r < 0)
		goto out;
	r = -ENOMEM;
	if (!l.s->groups && !(l.s->groups = calloc(1, sizeof(*l.s->groups))))
		goto out;
	if (mc_snap_index_groups(l.s) < 0)
		goto out;
	/* Once per change, not at every rebuild: the debug lines name them. */
	if (l.refused != atomic_exchange(&refused_last, l.refused))
		log_msg(l.refused ? LOG_NOTICE : LOG_INFO,
			"name-service cache: %zu entries not served (reserved names, or names or numbers "
			"the host already knows)",
			l.refused);
	*ret = l.s;
	l.s = NULL;
	r = 0;
out:
	host_view_put(l.host);
	snapshot_free(l.s);
	free(people);
	free(orgs);
	return r;
}

/* ------------------------------------------------------------------- files */

/* Sets the stale flag of the file at path, if there is one. */
static void mark_stale_path(const char *path)
{
	static const uint32_t one = 1;
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		/* A read-only cache_dir: readers keep trusting this file (said once per cause). */
		static _Atomic int said;
		int e = errno;

		if (e != ENOENT && atomic_exchange(&said, e) != e)
			log_msg(LOG_WARNING, "cache %s: cannot mark stale: %s", path, strerror(e));
		return;
	}
	/* 0 -> 1 changes a single byte: readers can never see a torn value. */
	if (pwrite(fd, &one, sizeof(one), offsetof(struct mc_header, stale)) != sizeof(one))
		log_msg(LOG_WARNING, "cache %s: cannot mark stale: %s", path, strerror(errno));
	close(fd);
}

int mc_publish(const char *dir, const char *name, const uint8_t *img, size_t len)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int fd, r = 0, old;
	size_t off = 0;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
		snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0644) < 0)
		r = -errno;
	while (r == 0 && off < len) {
		ssize_t k = write(fd, img + off, len - off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			r = k < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)k;
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	old = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (rename(tmp, path) < 0) {
		r = -errno;
		unlink(tmp);
	} else if (old >= 0) {
		static const uint32_t one = 1;

		if (pwrite(old, &one, sizeof(one), offsetof(struct mc_header, stale)) != sizeof(one))
			log_msg(LOG_WARNING, "cache %s: cannot mark the old file stale", path);
	}
	if (old >= 0)
		close(old);
	return r;
}

uint64_t mc_next_generation(void)
{
	static atomic_uint_fast64_t counter;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	/* Unique within this run; different from a previous run's files in practice. */
	return ((uint64_t)ts.tv_sec << 24) ^ ((uint64_t)ts.tv_nsec >> 6) ^
		(atomic_fetch_add(&counter, 1) + 1);
}

uint32_t mc_random_seed(void)
{
	uint32_t v = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (read(fd, &v, sizeof(v)) != sizeof(v))
			v = 0;
		close(fd);
	}
	return v ? v : (uint32_t)time(NULL);
}

static int build_passwd(
	const struct mm_config *c, const struct mc_snapshot *snap, uint64_t gen, uint8_t **img, size_t *len)
{
	struct mc_builder *b = NULL;
	char home[512];
	int r = mc_builder_new(MC_PASSWD, mc_random_seed(), &b);

	for (size_t i = 0; r == 0 && i < snap->nusers; i++) {
		const struct mc_user *u = &snap->users[i];

		mcache_home(c, u->login, home, sizeof(home));
		r = mc_builder_add_pw(
			b, u->login, u->mail, u->uid, (uint32_t)c->user_gid, u->gecos, home, c->shell);
		if (r == -EINVAL) /* one odd entry must not take the whole cache down */
			r = 0;
	}
	if (r == 0)
		r = mc_builder_finish(
			b, gen, MC_FLAG_CHANGES | (c->enumerate ? MC_FLAG_ENUMERATE : 0), img, len);
	mc_builder_free(b);
	return r;
}

static int ptr_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;

	return x < y ? -1 : x > y;
}

static int build_group(
	const struct mm_config *c, const struct mc_snapshot *snap, uint64_t gen, uint8_t **img, size_t *len)
{
	struct mc_builder *b = NULL;
	/* memberof: for each user (by its login pointer), the gids of its groups */
	struct link {
		const char *login;
		uint32_t gid;
	} *links = NULL;
	size_t nlinks = 0, total = 0;
	uint32_t *gids = NULL;
	int r = mc_builder_new(MC_GROUP, mc_random_seed(), &b);

	for (size_t i = 0; i < snap->ngroups; i++)
		total += snap->groups[i].nmembers;
	if (r == 0 && !(links = calloc(total + 1, sizeof(*links))))
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < snap->ngroups; i++) {
		const struct mc_group *g = &snap->groups[i];

		r = mc_builder_add_gr(b, g->name, g->gid, (const char *const *)g->members, g->nmembers);
		if (r == -EINVAL || r == -E2BIG)
			r = 0;
		for (size_t j = 0; j < g->nmembers; j++)
			links[nlinks++] = (struct link){g->members[j], g->gid};
	}
	/* Group the links by user: member strings are shared with the users, so the pointer is the key. */
	if (r == 0)
		qsort(links, nlinks, sizeof(*links), ptr_cmp);
	if (r == 0 && !(gids = calloc(nlinks + 1, sizeof(*gids))))
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < nlinks;) {
		size_t j = i, n = 0;

		while (j < nlinks && links[j].login == links[i].login)
			gids[n++] = links[j++].gid;
		r = mc_builder_add_memberof(b, links[i].login, gids, n);
		if (r == -EINVAL)
			r = 0;
		i = j;
	}
	/* An empty record for each user in no ORG: initgroups then answers
	 * every user from one probe (mcfile.h). */
	for (size_t i = 0; r == 0 && i < snap->nusers; i++) {
		struct link key = {snap->users[i].login, 0};

		if (bsearch(&key, links, nlinks, sizeof(*links), ptr_cmp))
			continue;
		r = mc_builder_add_memberof(b, snap->users[i].login, NULL, 0);
		if (r == -EINVAL)
			r = 0;
	}
	if (r == 0)
		r = mc_builder_finish(
			b, gen, MC_FLAG_CHANGES | (c->enumerate ? MC_FLAG_ENUMERATE : 0), img, len);
	free(gids);
	free(links);
	mc_builder_free(b);
	return r;
}

int mcache_write(const struct mm_config *c, const struct mc_snapshot *snap)
{
	uint8_t *img = NULL;
	size_t len = 0;
	int r;

	if (mkdir(c->cache_dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	/* The files below promise a changed-keys file (MC_FLAG_CHANGES): it is there first, still
	 * listing every change seen (rebuild() then drops those this build read). */
	r = mc_changes_publish(c);
	if (r == 0)
		r = build_passwd(c, snap, snap->generation, &img, &len);
	if (r == 0)
		r = mc_publish(c->cache_dir, "passwd", img, len);
	free(img);
	img = NULL;
	if (r < 0)
		return r;
	r = build_group(c, snap, snap->generation, &img, &len);
	if (r == 0)
		r = mc_publish(c->cache_dir, "group", img, len);
	free(img);
	return r;
}

/* ------------------------------------------------------------------ thread */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool running, stopping, pending;
	unsigned long dirty; /* bumped by every invalidation */
	unsigned long gaps; /* bumped when the follow (re)starts: changes may have been missed */
	char *dir; /* cache_dir of the files currently published */
	struct mc_snapshot *snap; /* latest snapshot */
	unsigned refresh; /* cache_refresh of the configuration last read */
	long build_ms; /* how long the last build took */
	struct mm_config *const *cfg; /* the daemon's, replaced by a reload */
	struct store *const *store;
	pthread_rwlock_t *reload_lock;
} mc = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

struct mc_snapshot *mcache_snapshot_get(void)
{
	struct mc_snapshot *s;

	pthread_mutex_lock(&mc.lock);
	s = mc.snap;
	if (s)
		atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&mc.lock);
	return s;
}

static void mark_stale_dir(const char *dir)
{
	char path[PATH_MAX];

	if (!dir)
		return;
	if (snprintf(path, sizeof(path), "%s/passwd", dir) < (int)sizeof(path))
		mark_stale_path(path);
	if (snprintf(path, sizeof(path), "%s/group", dir) < (int)sizeof(path))
		mark_stale_path(path);
}

void mcache_invalidate(void)
{
	pthread_mutex_lock(&mc.lock);
	mc.dirty++;
	mc.pending = true;
	mark_stale_dir(mc.dir);
	pthread_cond_signal(&mc.wake);
	pthread_mutex_unlock(&mc.lock);
}

/* One rebuild; returns 0 or a negative errno. */
static int rebuild(unsigned long *ret_seen)
{
	struct mc_snapshot *snap = NULL, *old;
	struct timespec t0, t1;
	uint64_t mark;
	unsigned long gaps;
	char *dir;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_rwlock_rdlock(mc.reload_lock);
	pthread_mutex_lock(&mc.lock);
	*ret_seen = mc.dirty;
	gaps = mc.gaps;
	pthread_mutex_unlock(&mc.lock);
	mark = mc_changes_mark(); /* the changes seen so far are in what the load reads */
	r = mcache_snapshot_load(*mc.store, (*mc.cfg), &snap);
	if (r == 0) {
		snap->dirty = *ret_seen;
		snap->gaps = gaps;
		snap->generation = mc_next_generation();
		r = mcache_write((*mc.cfg), snap);
	}
	dir = strdup((*mc.cfg)->cache_dir);
	__atomic_store_n(&mc.refresh, (*mc.cfg)->cache_refresh, __ATOMIC_RELAXED);
	pthread_rwlock_unlock(mc.reload_lock);
	if (r < 0) {
		/* What is published may be outdated now: readers ask the socket instead. */
		pthread_mutex_lock(&mc.lock);
		mark_stale_dir(mc.dir);
		pthread_mutex_unlock(&mc.lock);
		mcache_snapshot_put(snap);
		free(dir);
		return r;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_msg(LOG_INFO, "name-service cache rebuilt: %zu users, %zu groups in %ld ms", snap->nusers,
		snap->ngroups, (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
	pthread_mutex_lock(&mc.lock);
	mc.build_ms = (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
	old = mc.snap;
	mc.snap = snap;
	if (dir) {
		free(mc.dir);
		mc.dir = dir;
	}
	/* Changed while we were reading: what we just wrote may miss it. */
	if (mc.dirty != *ret_seen) {
		mark_stale_dir(mc.dir);
		mc.pending = true;
	}
	pthread_mutex_unlock(&mc.lock);
	mcache_snapshot_put(old);
	/* Only now that the new snapshot is served: a key dropped from the list earlier would
	 * leave the old snapshot's answer current for members' lookups (group.c). */
	pthread_rwlock_rdlock(mc.reload_lock);
	mc_changes_fold(*mc.cfg, mark);
	pthread_rwlock_unlock(mc.reload_lock);
	return 0;
}

static void *builder_main(void *arg)
{
	unsigned retry = 0;
	int failing = 0;

	(void)arg;
	pthread_mutex_lock(&mc.lock);
	mc.pending = true;
	while (!mc.stopping) {
		unsigned long seen;
		int r;

		if (!mc.pending) {
			struct timespec until;
			unsigned every;

			every = __atomic_load_n(&mc.refresh, __ATOMIC_RELAXED);
			if (retry)
				every = every && every < retry ? every : retry;
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += every ? every : 3600;
			while (!mc.pending && !mc.stopping)
				if (pthread_cond_timedwait(&mc.wake, &mc.lock, &until) == ETIMEDOUT) {
					if (every)
						mc.pending = true;
					break;
				}
			continue;
		}
		mc.pending = false;
		pthread_mutex_unlock(&mc.lock);
		{
			double t0 = metrics_mono();

			r = rebuild(&seen);
			metrics_nss_rebuild(metrics_mono() - t0, r >= 0);
		}
		/* Said once per cause (a full or read-only cache_dir fails every retry), and
		 * once when it is over; meanwhile the files are stale and readers ask the socket. */
		if (r < 0 && r != failing)
			log_msg(LOG_ERR,
				"name-service cache not rebuilt: %s (previous files marked stale: "
				"lookups go to the socket; retrying every 5 s, said once)",
				strerror(-r));
		else if (r == 0 && failing)
			log_msg(LOG_NOTICE, "name-service cache written again after: %s", strerror(-failing));
		failing = r < 0 ? r : 0;
		retry = r < 0 ? 5 : 0;
		pthread_mutex_lock(&mc.lock);
	}
	pthread_mutex_unlock(&mc.lock);
	return NULL;
}

int mcache_start(struct mm_config *const *cfg, struct store *const *store, pthread_rwlock_t *reload_lock)
{
	pthread_condattr_t ca;
	int r;

	if (mc.running)
		return -EALREADY;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&mc.wake);
	pthread_cond_init(&mc.wake, &ca);
	pthread_condattr_destroy(&ca);
	mc.cfg = cfg;
	mc.store = store;
	mc.reload_lock = reload_lock;
	mc.refresh = (*cfg)->cache_refresh;
	mc.stopping = false;
	mc.dir = strdup((*cfg)->cache_dir);
	if (!mc.dir)
		return -ENOMEM;
	/* Files a previous run left keep answering until the first rebuild
	 * replaces them: they were current when it stopped, and were served
	 * while no daemon ran anyway. */
	r = pthread_create(&mc.thread, NULL, builder_main, NULL);
	if (r != 0)
		return -r;
	mc.running = true;
	return 0;
}

void mcache_stop(void)
{
	if (!mc.running)
		return;
	pthread_mutex_lock(&mc.lock);
	mc.stopping = true;
	pthread_cond_signal(&mc.wake);
	pthread_mutex_unlock(&mc.lock);
	pthread_join(mc.thread, NULL);
	mc.running = false;
	mcache_snapshot_put(mc.snap);
	mc.snap = NULL;
	free(mc.dir);
	mc.dir = NULL;
}

bool mc_snapshot_current(const struct mc_snapshot *s)
{
	bool current;

	pthread_mutex_lock(&mc.lock);
	current = s && s == mc.snap && s->dirty == mc.dirty && s->gaps == mc.gaps;
	pthread_mutex_unlock(&mc.lock);
	return current;
}

void mc_build_if_quick(const struct mm_config *c)
{
	pthread_mutex_lock(&mc.lock);
	if (mc.running && mc.build_ms < (long)c->cache_fold_ms) {
		mc.pending = true;
		pthread_cond_signal(&mc.wake);
	}
	pthread_mutex_unlock(&mc.lock);
}

void mcache_followed(const char *dn, const struct entry *e)
{
	if (!mc.running)
		return;
	if (!dn) {
		/* What happened while nobody listened is unknown: read it all again (the files stay
		 * trusted meanwhile, as they are between two timed builds; the socket's answers no
		 * longer come from this snapshot: mc_snapshot_current). */
		pthread_mutex_lock(&mc.lock);
		mc.gaps++;
		mc.pending = true;
		pthread_cond_signal(&mc.wake);
		pthread_mutex_unlock(&mc.lock);
		return;
	}
	pthread_rwlock_rdlock(mc.reload_lock);
	mcache_changed_as(*mc.store, *mc.cfg, dn, e);
	pthread_rwlock_unlock(mc.reload_lock);
}
