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

#include "log.h"
#include "mcache.h"
#include "metrics.h"
#include "mcfile.h"
#include "names.h"

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
	free(s->users_by_dn);
	free(s->groups_by_dn);
	free(s);
}

void mcache_snapshot_put(struct mc_snapshot *snap)
{
	if (snap && atomic_fetch_sub(&snap->refs, 1) == 1)
		snapshot_free(snap);
}

/* A decimal id inside [min, max]; 0 otherwise (0 is never served: it is root). */
static uint32_t parse_id(const char *s, unsigned long min, unsigned long max)
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

static char *make_gecos(const struct entry *e)
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

/* DN comparison for membership: slapd returns DNs as stored, compare case-blind. */
static int dn_cmp(const void *a, const void *b)
{
	const struct mc_user *const *x = a, *const *y = b;

	return strcasecmp((*x)->dn, (*y)->dn);
}

static int group_dn_cmp(const void *a, const void *b)
{
	const struct mc_group *const *x = a, *const *y = b;

	return strcasecmp((*x)->dn, (*y)->dn);
}

static char *base_of(const struct mm_config *c, const char *ou)
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
	uint32_t uid = parse_id(entry_get(e, "uidNumber"), c->uid_min, c->uid_max);
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
	if (s->nusers == l->ucap) {
		size_t cap = l->ucap ? l->ucap * 2 : 1024;
		struct mc_user *nv = reallocarray(s->users, cap + 1, sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		s->users = nv;
		l->ucap = cap;
	}
	u = &s->users[s->nusers];
	*u = (struct mc_user){.uid = uid,
		.login = strdup(login),
		.mail = mail && strlen(mail) <= MC_KEY_MAX ? strdup(mail) : NULL,
		.gecos = make_gecos(e),
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
	uint32_t gid = parse_id(entry_get(e, "gidNumber"), c->gid_min, c->gid_max);
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
	if (s->ngroups == l->gcap) {
		size_t cap = l->gcap ? l->gcap * 2 : 256;
		struct mc_group *nv = reallocarray(s->groups, cap + 1, sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		s->groups = nv;
		l->gcap = cap;
	}
	g = &s->groups[s->ngroups];
	*g = (struct mc_group){.gid = gid, .name = strdup(gname), .dn = strdup(e->dn)};
	s->ngroups++;
	if (!g->name || !g->dn || (mem && !(g->members = calloc(mem->nvals + 1, sizeof(char *)))))
		return -ENOMEM;
	for (size_t j = 0; mem && j < mem->nvals; j++) {
		struct mc_user key = {.dn = mem->vals[j]}, *kp = &key, **hit;

		hit = bsearch(&kp, s->users_by_dn, s->nusers, sizeof(*s->users_by_dn), dn_cmp);
		if (hit) /* only active users are members */
			g->members[g->nmembers++] = (*hit)->login;
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
	char *people = base_of(c, "people"), *orgs = base_of(c, "orgs");
	size_t n = 0;
	int r = -ENOMEM;

	*ret = NULL;
	/* Fresh at every rebuild: a package that adds a local group takes the name at once. */
	l.host = host_view_get(0);
	if (!people || !orgs || !l.host || !(l.s = calloc(1, sizeof(*l.s))))
		goto out;
	atomic_init(&l.s->refs, 1);
	r = store_search_each(st, people, LDAP_SCOPE_SUBTREE,
		"(&(objectClass=mmAccount)(mmStatus=active)(uidNumber=*)(!(mmAccountType=ORG)))", uattrs,
		load_user, &l, &n);
	if (r < 0)
		goto out;
	r = -ENOMEM;
	if (!l.s->users && !(l.s->users = calloc(1, sizeof(*l.s->users))))
		goto out;
	if (!(l.s->users_by_dn = calloc(l.s->nusers + 1, sizeof(*l.s->users_by_dn))))
		goto out;
	for (size_t i = 0; i < l.s->nusers; i++)
		l.s->users_by_dn[i] = &l.s->users[i];
	qsort(l.s->users_by_dn, l.s->nusers, sizeof(*l.s->users_by_dn), dn_cmp);
	r = store_search_each(st, orgs, LDAP_SCOPE_SUBTREE,
		"(&(objectClass=mmAccount)(mmAccountType=ORG)(mmStatus=active)(gidNumber=*))", gattrs,
		load_group, &l, &n);
	if (r < 0)
		goto out;
	r = -ENOMEM;
	if (!l.s->groups && !(l.s->groups = calloc(1, sizeof(*l.s->groups))))
		goto out;
	if (!(l.s->groups_by_dn = calloc(l.s->ngroups + 1, sizeof(*l.s->groups_by_dn))))
		goto out;
	for (size_t i = 0; i < l.s->ngroups; i++)
		l.s->groups_by_dn[i] = &l.s->groups[i];
	qsort(l.s->groups_by_dn, l.s->ngroups, sizeof(*l.s->groups_by_dn), group_dn_cmp);
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

/* Writes img as dir/name: a new file, renamed over the old one, which is then marked stale. */
static int publish(const char *dir, const char *name, const uint8_t *img, size_t len)
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

static uint64_t next_generation(void)
{
	static atomic_uint_fast64_t counter;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	/* Unique within this run; different from a previous run's files in practice. */
	return ((uint64_t)ts.tv_sec << 24) ^ ((uint64_t)ts.tv_nsec >> 6) ^
		(atomic_fetch_add(&counter, 1) + 1);
}

static uint32_t random_seed(void)
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
	int r = mc_builder_new(MC_PASSWD, random_seed(), &b);

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
	int r = mc_builder_new(MC_GROUP, random_seed(), &b);

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

static int chg_publish(const struct mm_config *c);
static void chg_fold(const struct mm_config *c, uint64_t mark);
static uint64_t chg_mark(void);

int mcache_write(const struct mm_config *c, const struct mc_snapshot *snap)
{
	uint8_t *img = NULL;
	size_t len = 0;
	int r;

	if (mkdir(c->cache_dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	/* The files below promise a changed-keys file (MC_FLAG_CHANGES): it is there first, still
	 * listing every change seen (rebuild() then drops those this build read). */
	r = chg_publish(c);
	if (r == 0)
		r = build_passwd(c, snap, snap->generation, &img, &len);
	if (r == 0)
		r = publish(c->cache_dir, "passwd", img, len);
	free(img);
	img = NULL;
	if (r < 0)
		return r;
	r = build_group(c, snap, snap->generation, &img, &len);
	if (r == 0)
		r = publish(c->cache_dir, "group", img, len);
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
	char *dir;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_rwlock_rdlock(mc.reload_lock);
	pthread_mutex_lock(&mc.lock);
	*ret_seen = mc.dirty;
	pthread_mutex_unlock(&mc.lock);
	mark = chg_mark(); /* the changes seen so far are in what the load reads */
	r = mcache_snapshot_load(*mc.store, (*mc.cfg), &snap);
	if (r == 0) {
		snap->generation = next_generation();
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
	chg_fold(*mc.cfg, mark);
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

/* ------------------------------------------------------------- changed keys */

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

static struct {
	pthread_mutex_t lock;
	struct chg *v;
	size_t n, cap;
	uint64_t seq;
} chg = {.lock = PTHREAD_MUTEX_INITIALIZER};

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
	uint64_t gen = next_generation();
	int r = mc_builder_new(MC_PASSWD, random_seed(), &pw);

	if (r == 0)
		r = mc_builder_new(MC_GROUP, random_seed(), &gr);
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
		r = publish(c->cache_dir, "passwd.changed", img, len);
	free(img);
	img = NULL;
	if (r == 0)
		r = mc_builder_finish(gr, gen, 0, &img, &len);
	if (r == 0)
		r = publish(c->cache_dir, "group.changed", img, len);
	free(img);
	mc_builder_free(pw);
	mc_builder_free(gr);
	return r;
}

static int chg_publish(const struct mm_config *c)
{
	int r;

	pthread_mutex_lock(&chg.lock);
	r = chg_publish_locked(c);
	pthread_mutex_unlock(&chg.lock);
	return r;
}

/* After a build that read the directory once the changes up to mark were seen: those are in
 * the new files, the later ones stay listed. */
static void chg_fold(const struct mm_config *c, uint64_t mark)
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
	r = chg_publish_locked(c);
	pthread_mutex_unlock(&chg.lock);
	if (r < 0) /* the previous, larger list stays in place: more questions, never a wrong answer */
		log_msg(LOG_WARNING, "name-service cache: changed keys not rewritten: %s", strerror(-r));
}

static uint64_t chg_mark(void)
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
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 16;
		struct chg *nv = reallocarray(set->v, cap, sizeof(*nv));

		if (!nv) {
			set->err = -ENOMEM;
			return;
		}
		set->v = nv;
		set->cap = cap;
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

static const struct mc_user *snap_user(const struct mc_snapshot *snap, const char *dn)
{
	struct mc_user key = {.dn = (char *)dn}, *kp = &key, **hit;

	hit = bsearch(&kp, snap->users_by_dn, snap->nusers, sizeof(*snap->users_by_dn), dn_cmp);
	return hit ? *hit : NULL;
}

static const struct mc_group *snap_group(const struct mc_snapshot *snap, const char *dn)
{
	struct mc_group key = {.dn = (char *)dn}, *kp = &key, **hit;

	hit = bsearch(&kp, snap->groups_by_dn, snap->ngroups, sizeof(*snap->groups_by_dn), group_dn_cmp);
	return hit ? *hit : NULL;
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
	uint32_t uid = e ? parse_id(entry_get(e, "uidNumber"), c->uid_min, c->uid_max) : 0;
	bool shown = e && login && uid && entry_has_value(e, "objectClass", "mmAccount") &&
		str_same(entry_get(e, "mmStatus"), "active") && !(type && !strcmp(type, "ORG"));
	char *gecos;
	bool same;

	if (!u || !shown)
		return !u && !shown;
	if (strcmp(u->login, login) || u->uid != uid || !str_same(u->mail, entry_get(e, "mmLoginMail")))
		return false;
	gecos = make_gecos(e);
	same = gecos && !strcmp(gecos, u->gecos);
	free(gecos);
	return same;
}

/* An account: its own keys, and the groups of every ORG that lists it (a member's status
 * decides whether the ORG's group shows it). 1: nothing shown changed. */
static int user_keys(struct store *s, const struct mm_config *c, const char *orgs,
	const struct mc_snapshot *snap, const char *dn, bool listed, struct chg_set *set)
{
	static const char *const attrs[] = {"uid", "mmLoginMail", "givenName", "sn", "cn", "uidNumber",
		"mmStatus", "mmAccountType", "objectClass", NULL};
	static const char *const none[] = {"1.1", NULL};
	const struct mc_user *u = snap_user(snap, dn);
	struct entry **v = NULL, *e = NULL;
	size_t nv = 0;
	char *esc, *filter = NULL;
	int r = store_search_one(s, dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, &e);

	if (r < 0 && r != -ENOENT)
		return r;
	if (!listed && user_unchanged(c, u, e)) {
		entry_free(e);
		return 1;
	}
	set_user(set, u); /* what the files show */
	if (e && entry_get(e, "uid") && !strchr(entry_get(e, "uid"), '@') &&
		strlen(entry_get(e, "uid")) <= MC_KEY_MAX) {
		/* and what it is now, which a build under way may show */
		uint32_t uid = parse_id(entry_get(e, "uidNumber"), c->uid_min, c->uid_max);
		const char *mail = entry_get(e, "mmLoginMail");

		if (uid)
			set_add(set, CHG_PW, entry_get(e, "uid"),
				mail && strlen(mail) <= MC_KEY_MAX ? mail : NULL, uid);
		set_add(set, CHG_MEMBEROF, entry_get(e, "uid"), NULL, 0);
	}
	entry_free(e);
	esc = store_escape(dn);
	if (!esc || asprintf(&filter, "(mmMember=%s)", esc) < 0) {
		free(esc);
		return -ENOMEM;
	}
	free(esc);
	r = store_search_all(s, orgs, LDAP_SCOPE_SUBTREE, filter, none, &v, &nv);
	free(filter);
	for (size_t i = 0; r == 0 && i < nv; i++) {
		const struct mc_group *g = snap_group(snap, v[i]->dn);

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
		const struct mc_user *u = snap_user(snap, mem->vals[i]);

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
	uint32_t gid = e ? parse_id(entry_get(e, "gidNumber"), c->gid_min, c->gid_max) : 0;
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
	const char *dn, bool listed, struct chg_set *set)
{
	static const char *const attrs[] = {
		"uid", "gidNumber", "mmMember", "mmStatus", "mmAccountType", "objectClass", NULL};
	const struct mc_group *g = snap_group(snap, dn);
	struct entry *e = NULL;
	const char **logins = NULL;
	size_t n = 0;
	int r = store_search_one(s, dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, &e);

	if (r < 0 && r != -ENOENT)
		return r;
	r = 0;
	if (e && !(logins = member_logins(snap, e, &n)))
		r = -ENOMEM;
	else if (!listed && org_unchanged(c, g, e, logins, n))
		r = 1;
	else if (e) {
		const struct attr *mem = entry_attr(e, "mmMember");
		const char *login = entry_get(e, "uid");
		uint32_t gid = parse_id(entry_get(e, "gidNumber"), c->gid_min, c->gid_max);
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
	entry_free(e);
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

void mcache_changed(struct store *s, const struct mm_config *c, const char *dn)
{
	struct mc_snapshot *snap = mcache_snapshot_get();
	struct chg_set set = {.dn = dn};
	char *people = base_of(c, "people"), *orgs = base_of(c, "orgs");
	size_t added = 0;
	bool full = false;
	int r;

	if (!snap) {
		/* Nothing built yet by this run: files a previous run left are outdated now. */
		r = -EAGAIN;
	} else if (!people || !orgs) {
		r = -ENOMEM;
	} else if (dn_under(dn, people)) {
		r = user_keys(s, c, orgs, snap, dn, dn_listed(dn), &set);
	} else if (dn_under(dn, orgs)) {
		r = org_keys(s, c, snap, dn, dn_listed(dn), &set);
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
			size_t j;

			for (j = 0; j < chg.n && !same_key(&chg.v[j], &set.v[i]); j++)
				;
			if (j < chg.n) {
				chg.v[j].seq = chg.seq; /* seen again: kept until a build after this one */
				continue;
			}
			if (chg.n == CHG_MAX) {
				full = true;
				break;
			}
			if (chg.n == chg.cap) {
				size_t cap = chg.cap ? chg.cap * 2 : 64;
				struct chg *nv = reallocarray(chg.v, cap, sizeof(*nv));

				if (!nv) {
					r = -ENOMEM;
					break;
				}
				chg.v = nv;
				chg.cap = cap;
			}
			chg.v[chg.n] = set.v[i];
			chg.v[chg.n++].seq = chg.seq;
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
		pthread_mutex_lock(&mc.lock);
		if (mc.running && mc.build_ms < (long)c->cache_fold_ms) {
			mc.pending = true;
			pthread_cond_signal(&mc.wake);
		}
		pthread_mutex_unlock(&mc.lock);
	}
out:
	for (size_t i = 0; i < set.n; i++)
		chg_clear(&set.v[i], 1);
	free(set.v);
	free(people);
	free(orgs);
	mcache_snapshot_put(snap);
}

void mcache_followed(const char *dn)
{
	if (!mc.running)
		return;
	if (!dn) {
		/* What happened while nobody listened is unknown: read it all again (the files stay
		 * trusted meanwhile, as they are between two timed builds). */
		pthread_mutex_lock(&mc.lock);
		mc.pending = true;
		pthread_cond_signal(&mc.wake);
		pthread_mutex_unlock(&mc.lock);
		return;
	}
	pthread_rwlock_rdlock(mc.reload_lock);
	mcache_changed(*mc.store, *mc.cfg, dn);
	pthread_rwlock_unlock(mc.reload_lock);
}

void mcache_members_current(
	const struct mc_snapshot *snap, char *const *dns, size_t n, const struct mc_user **users)
{
	const char **listed = NULL;
	size_t nlisted = 0;

	for (size_t i = 0; i < n; i++)
		users[i] = NULL;
	pthread_mutex_lock(&chg.lock);
	if (chg.n && !(listed = calloc(chg.n, sizeof(*listed)))) {
		pthread_mutex_unlock(&chg.lock);
		return; /* every member read from the directory */
	}
	for (size_t i = 0; i < chg.n; i++)
		if (chg.v[i].kind == CHG_PW)
			listed[nlisted++] = chg.v[i].name;
	qsort(listed, nlisted, sizeof(*listed), str_ptr_cmp);
	for (size_t i = 0; i < n; i++) {
		const struct mc_user *u = snap_user(snap, dns[i]);

		if (u && !bsearch(&u->login, listed, nlisted, sizeof(*listed), str_ptr_cmp))
			users[i] = u;
	}
	pthread_mutex_unlock(&chg.lock);
	free(listed);
}
