/* Which user and group names and numbers the name service may serve: never one the host already knows. */
#include <errno.h>
#include <stddef.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "names.h"
#include "nsswitch.h"
#include "reserved.h"

#define NAME_MAX_LEN 256
#define LOOKUP_BUF_MAX (1u << 20)

struct host_view {
	char **names; /* sorted, folded */
	size_t nnames;
	uint32_t *uids; /* sorted */
	size_t nuids;
	uint32_t *gids; /* sorted */
	size_t ngids;
	long long loaded; /* CLOCK_MONOTONIC seconds */
	/* Every source of the host's passwd (group) database is one whose every
	 * entry the view holds: an exact lookup would tell nothing more. Cleared,
	 * never set, once the view is shared (a failed reload). */
	atomic_bool whole_users, whole_groups;
	atomic_uint refs;
};

/* ------------------------------------------------------------- host view */

static void fold(const char *in, char *out, size_t outsz)
{
	size_t i = 0;

	for (; in[i] && i + 1 < outsz; i++)
		out[i] = (in[i] >= 'A' && in[i] <= 'Z') ? (char)(in[i] - 'A' + 'a') : in[i];
	out[i] = '\0';
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

struct grow {
	void *v;
	size_t n, cap, size;
};

static int grow_push(struct grow *g, const void *item)
{
	if (array_grow(&g->v, &g->cap, g->n, g->size, 64) < 0)
		return -ENOMEM;
	memcpy((char *)g->v + g->n * g->size, item, g->size);
	g->n++;
	return 0;
}

static int push_name(struct grow *names, const char *name)
{
	char f[NAME_MAX_LEN + 1], *s;

	fold(name, f, sizeof(f));
	s = strdup(f);
	if (!s || grow_push(names, &s) < 0) {
		free(s);
		return -ENOMEM;
	}
	return 0;
}

/* The arrays grown while reading become the view's (to free with it, even on failure). */
static void view_take(
	struct host_view *h, const struct grow *names, const struct grow *uids, const struct grow *gids)
{
	h->names = names->v;
	h->nnames = names->n;
	h->uids = uids->v;
	h->nuids = uids->n;
	h->gids = gids->v;
	h->ngids = gids->n;
}

/* An entry larger than the buffer (ERANGE): twice the room. */
static int buf_double(char **buf, size_t *sz)
{
	char *nb = realloc(*buf, *sz * 2);

	if (!nb)
		return -ENOMEM;
	*buf = nb;
	*sz *= 2;
	return 0;
}

/* Enumeration is process-wide state in glibc: one enumeration at a time. */
static pthread_mutex_t enum_lock = PTHREAD_MUTEX_INITIALIZER;

static int enumerate(struct host_view *h)
{
	struct grow names = {.size = sizeof(char *)}, uids = {.size = sizeof(uint32_t)},
		    gids = {.size = sizeof(uint32_t)};
	size_t bufsz = 16384;
	char *buf = malloc(bufsz);
	int r = buf ? 0 : -ENOMEM, e;

	setpwent();
	while (r == 0) {
		struct passwd pw, *res = NULL;
		uint32_t id;

		e = getpwent_r(&pw, buf, bufsz, &res);
		if (e == ERANGE && bufsz < LOOKUP_BUF_MAX) {
			if ((r = buf_double(&buf, &bufsz)) < 0)
				break;
			continue;
		}
		if (e || !res)
			break; /* ENOENT: the end */
		id = (uint32_t)pw.pw_uid;
		if (push_name(&names, pw.pw_name) < 0 || grow_push(&uids, &id) < 0)
			r = -ENOMEM;
	}
	endpwent();
	setgrent();
	while (r == 0) {
		struct group gr, *res = NULL;
		uint32_t id;

		e = getgrent_r(&gr, buf, bufsz, &res);
		if (e == ERANGE && bufsz < LOOKUP_BUF_MAX) {
			if ((r = buf_double(&buf, &bufsz)) < 0)
				break;
			continue;
		}
		if (e || !res)
			break;
		id = (uint32_t)gr.gr_gid;
		if (push_name(&names, gr.gr_name) < 0 || grow_push(&gids, &id) < 0)
			r = -ENOMEM;
	}
	endgrent();
	free(buf);
	view_take(h, &names, &uids, &gids);
	return r;
}

/* What a lookup asked: a user or group name, a uid or a gid. */
enum ask_kind { ASK_PWNAM, ASK_GRNAM, ASK_PWUID, ASK_GRGID };

/* One getpw*_r / getgr*_r lookup with a growing buffer: 1 found, 0 not, -1 cannot tell. */
static int ask_once(enum ask_kind kind, const char *name, uint32_t id)
{
	size_t sz = 4096;

	for (;;) {
		char *buf = malloc(sz);
		struct passwd pw, *pres = NULL;
		struct group gr, *gres = NULL;
		int e;

		if (!buf)
			return -1;
		switch (kind) {
		case ASK_PWNAM: e = getpwnam_r(name, &pw, buf, sz, &pres); break;
		case ASK_GRNAM: e = getgrnam_r(name, &gr, buf, sz, &gres); break;
		case ASK_PWUID: e = getpwuid_r((uid_t)id, &pw, buf, sz, &pres); break;
		default: e = getgrgid_r((gid_t)id, &gr, buf, sz, &gres); break;
		}
		free(buf);
		if (e == ERANGE && sz < LOOKUP_BUF_MAX) {
			sz *= 2;
			continue;
		}
		if (pres || gres)
			return 1;
		/* ENOENT and friends mean "no such entry" for glibc; other errors: unknown. */
		return e == 0 || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM ? 0 : -1;
	}
}

/* ------------------------------------------- sources the view holds whole */

#define NSSWITCH_PATH "/etc/nsswitch.conf"
#define NSSWITCH_MAX (64u << 10)

/* nss-systemd's services (sockets) and drop-in records: with none of them it
 * serves its built-in root and nobody alone. */
static const char *const systemd_paths[] = {"/run/systemd/userdb", "/etc/userdb", "/run/userdb",
	"/run/host/userdb", "/usr/local/lib/userdb", "/usr/lib/userdb", "/lib/userdb", /* split /usr */
	"/run/systemd/dynamic-uid"};

/* nscd answers before every source, from what it cached under any earlier nsswitch.conf. */
static const char *const nscd_paths[] = {"/run/nscd/socket", "/var/run/nscd/socket"};

static bool none_of(const char *const *paths, size_t n)
{
	struct stat sb;

	for (size_t i = 0; i < n; i++)
		if (lstat(paths[i], &sb) == 0 || errno != ENOENT)
			return false; /* there, or cannot tell */
	return true;
}

/* A whole small file; NULL if unreadable, larger than max or read with an error. */
static char *read_small(const char *path, size_t max, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	char *text = f ? malloc(max + 1) : NULL;
	size_t n = text ? fread(text, 1, max + 1, f) : 0;
	bool bad = !f || ferror(f);

	if (f)
		fclose(f);
	if (!text || bad || n > max) {
		free(text);
		return NULL;
	}
	text[n] = '\0';
	*ret_len = n;
	return text;
}

/* /etc/passwd or /etc/group read here, with the parser nss_files uses
 * (fgetpwent_r, fgetgrent_r), to the end: 0 with *ret_first (the first name,
 * or "" for an empty file), -errno if any of it could not be read. */
static int read_db(bool users, struct grow *names, struct grow *ids, char *ret_first, size_t firstsz)
{
	FILE *f = fopen(users ? "/etc/passwd" : "/etc/group", "re");
	size_t bufsz = 16384;
	char *buf = malloc(bufsz);
	int r = f && buf ? 0 : -(errno ? errno : EIO), e;

	ret_first[0] = '\0';
	while (r == 0) {
		struct passwd pw, *pres = NULL;
		struct group gr, *gres = NULL;
		uint32_t id;

		e = users ? fgetpwent_r(f, &pw, buf, bufsz, &pres) : fgetgrent_r(f, &gr, buf, bufsz, &gres);
		if (e == ERANGE && bufsz < LOOKUP_BUF_MAX) { /* the entry is read again, whole */
			if ((r = buf_double(&buf, &bufsz)) < 0)
				break;
			continue;
		}
		if (e || !(pres || gres)) {
			/* the end, only with no error on the stream */
			r = e == ENOENT && feof(f) && !ferror(f) ? 1 : -(e ? e : EIO);
			break;
		}
		id = (uint32_t)(users ? pw.pw_uid : gr.gr_gid);
		if (!ret_first[0])
			snprintf(ret_first, firstsz, "%s", users ? pw.pw_name : gr.gr_name);
		if (push_name(names, users ? pw.pw_name : gr.gr_name) < 0 || grow_push(ids, &id) < 0)
			r = -ENOMEM;
	}
	free(buf);
	if (f)
		fclose(f);
	return r == 1 ? 0 : r;
}

/* Does glibc's own lookup of a name the file has find it? (Its reading of
 * nsswitch.conf failing, or a file it does not read, is seen here.) */
static bool glibc_finds(bool users, const char *name)
{
	return !name[0] || ask_once(users ? ASK_PWNAM : ASK_GRNAM, name, 0) == 1;
}

/* Which databases the view holds whole, the files' and nss-systemd's built-in
 * entries added to it. */
static int whole_sources(struct host_view *h)
{
	struct grow names = {.v = h->names, .n = h->nnames, .cap = h->nnames, .size = sizeof(char *)},
		    uids = {.v = h->uids, .n = h->nuids, .cap = h->nuids, .size = sizeof(uint32_t)},
		    gids = {.v = h->gids, .n = h->ngids, .cap = h->ngids, .size = sizeof(uint32_t)};
	static const char *const builtin[] = {"root", "nobody", "nogroup"};
	static const uint32_t builtin_ids[] = {0, 65534};
	char first_user[NAME_MAX_LEN + 1], first_group[NAME_MAX_LEN + 1];
	size_t len = 0;
	char *text = read_small(NSSWITCH_PATH, NSSWITCH_MAX, &len);
	int pw = -1, gr = -1, r = 0;
	bool users_read, groups_read,
		idle = none_of(systemd_paths, sizeof(systemd_paths) / sizeof(systemd_paths[0]));

	if (!text || nsswitch_plain_sources(text, len, &pw, &gr) < 0 ||
		!none_of(nscd_paths, sizeof(nscd_paths) / sizeof(nscd_paths[0])))
		pw = gr = -1;
	free(text);
	users_read = read_db(true, &names, &uids, first_user, sizeof(first_user)) == 0;
	groups_read = read_db(false, &names, &gids, first_group, sizeof(first_group)) == 0;
	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (push_name(&names, builtin[i]) < 0)
			r = -ENOMEM;
	for (size_t i = 0; i < sizeof(builtin_ids) / sizeof(builtin_ids[0]); i++)
		if (grow_push(&uids, &builtin_ids[i]) < 0 || grow_push(&gids, &builtin_ids[i]) < 0)
			r = -ENOMEM;
	view_take(h, &names, &uids, &gids);
	if (r < 0)
		return r;
	/* files: read whole here; medimail: answers nothing to the daemon
	 * (MEDIMAIL_NSS_BYPASS); systemd: only its built-in entries, when idle */
	atomic_init(&h->whole_users,
		pw >= 0 && !(pw & NSS_SRC_OTHER) && (!(pw & NSS_SRC_SYSTEMD) || idle) &&
			(!(pw & NSS_SRC_FILES) || (users_read && glibc_finds(true, first_user))));
	atomic_init(&h->whole_groups,
		gr >= 0 && !(gr & NSS_SRC_OTHER) && (!(gr & NSS_SRC_SYSTEMD) || idle) &&
			(!(gr & NSS_SRC_FILES) || (groups_read && glibc_finds(false, first_group))));
	return 0;
}

int host_view_load(struct host_view **ret)
{
	struct host_view *h = calloc(1, sizeof(*h));
	int r;

	*ret = NULL;
	if (!h)
		return -ENOMEM;
	atomic_init(&h->refs, 1);
	pthread_mutex_lock(&enum_lock);
	r = enumerate(h);
	pthread_mutex_unlock(&enum_lock);
	if (r == 0)
		r = whole_sources(h);
	if (r < 0) {
		host_view_free(h);
		return r;
	}
	qsort(h->names, h->nnames, sizeof(char *), str_cmp);
	qsort(h->uids, h->nuids, sizeof(uint32_t), u32_cmp);
	qsort(h->gids, h->ngids, sizeof(uint32_t), u32_cmp);
	h->loaded = mm_mono_s();
	*ret = h;
	return 0;
}

void host_view_free(struct host_view *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->nnames; i++)
		free(h->names[i]);
	free(h->names);
	free(h->uids);
	free(h->gids);
	free(h);
}

static struct {
	pthread_mutex_t lock;
	struct host_view *cur;
} shared = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct host_view *host_view_get(unsigned max_age)
{
	struct host_view *h = NULL, *old = NULL;

	pthread_mutex_lock(&shared.lock);
	if (!shared.cur || max_age == 0 || mm_mono_s() - shared.cur->loaded >= (long long)max_age) {
		if (host_view_load(&h) == 0) {
			old = shared.cur;
			shared.cur = h;
			if (!old || atomic_load(&old->whole_users) != atomic_load(&h->whole_users) ||
				atomic_load(&old->whole_groups) != atomic_load(&h->whole_groups))
				log_msg(LOG_INFO, "host names: users %s, groups %s",
					atomic_load(&h->whole_users) ? "all in the view"
								     : "asked of the host for each name",
					atomic_load(&h->whole_groups) ? "all in the view"
								      : "asked of the host for each name");
		} else if (shared.cur) {
			/* the old names still stand; that they were all the host had, no longer */
			bool was_users = atomic_exchange(&shared.cur->whole_users, false);
			bool was_groups = atomic_exchange(&shared.cur->whole_groups, false);

			if (was_users || was_groups)
				log_msg(LOG_WARNING,
					"host names: not read again; each name asked of the host");
		}
	}
	h = shared.cur;
	if (h)
		atomic_fetch_add(&h->refs, 1);
	pthread_mutex_unlock(&shared.lock);
	host_view_put(old);
	return h;
}

void host_view_put(struct host_view *h)
{
	if (h && atomic_fetch_sub(&h->refs, 1) == 1)
		host_view_free(h);
}

/* Answers of the host's sources, remembered for MEMO_TTL seconds: a lookup
 * through nss-systemd or sss costs 50-200 µs, and socket answers ask for the
 * same names again and again. */
#define MEMO_SETS 2048
#define MEMO_WAYS 4
#define MEMO_TTL 30
#define MEMO_KEY 64

static struct memo {
	uint64_t hash;
	long long expires;
	uint8_t kind;
	bool known;
	char key[MEMO_KEY];
} memo[MEMO_SETS][MEMO_WAYS];
static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t memo_hash(enum ask_kind kind, const char *key)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)kind;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	/* FNV's high bits barely move on short keys ("210001"): mix them (murmur3 fmix64) */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

/* Does the host know this name or number (kind)? Unknown answers count as known. */
static bool ask(enum ask_kind kind, const char *name, uint32_t id)
{
	char num[16];
	const char *key = name;
	struct memo *m, *set;
	uint64_t h;
	long long t = mm_mono_s();
	int found;

	if (kind == ASK_PWUID || kind == ASK_GRGID) {
		snprintf(num, sizeof(num), "%u", (unsigned)id);
		key = num;
	}
	h = memo_hash(kind, key);
	set = memo[(h >> 32) % MEMO_SETS];
	if (strlen(key) < MEMO_KEY) {
		bool hit = false, known = false;

		pthread_mutex_lock(&memo_lock);
		for (size_t w = 0; w < MEMO_WAYS && !hit; w++) {
			m = &set[w];
			hit = m->hash == h && m->kind == kind && m->expires > t && !strcmp(m->key, key);
			known = m->known;
		}
		pthread_mutex_unlock(&memo_lock);
		if (hit)
			return known;
	}
	found = ask_once(kind, name, id);
	if (found >= 0 && strlen(key) < MEMO_KEY) {
		pthread_mutex_lock(&memo_lock);
		/* the way that expires first makes room */
		m = &set[0];
		for (size_t w = 1; w < MEMO_WAYS; w++)
			if (set[w].expires < m->expires)
				m = &set[w];
		m->hash = h;
		m->kind = (uint8_t)kind;
		m->known = found == 1;
		m->expires = t + MEMO_TTL;
		snprintf(m->key, sizeof(m->key), "%s", key);
		pthread_mutex_unlock(&memo_lock);
	}
	return found != 0;
}

bool host_knows_name(const struct host_view *h, const char *name, unsigned flags)
{
	char f[NAME_MAX_LEN + 1];
	const char *key = f;

	if (!name)
		return false;
	fold(name, f, sizeof(f));
	if (h && bsearch(&key, h->names, h->nnames, sizeof(char *), str_cmp))
		return true;
	if (flags & NAMES_ASK_HOST) {
		/* a user name against the host's users, a group name against its groups (both by
		 * default), unless the view holds every entry of that database's sources */
		bool users = (!(flags & NAMES_GROUP) || (flags & NAMES_USER)) &&
			!(h && atomic_load(&h->whole_users));
		bool groups = (!(flags & NAMES_USER) || (flags & NAMES_GROUP)) &&
			!(h && atomic_load(&h->whole_groups));

		if ((users && ask(ASK_PWNAM, name, 0)) || (groups && ask(ASK_GRNAM, name, 0)))
			return true;
		if (strcmp(f, name) && ((users && ask(ASK_PWNAM, f, 0)) || (groups && ask(ASK_GRNAM, f, 0))))
			return true;
	}
	return false;
}

bool host_knows_uid(const struct host_view *h, uint32_t uid, unsigned flags)
{
	if (h && bsearch(&uid, h->uids, h->nuids, sizeof(uint32_t), u32_cmp))
		return true;
	return (flags & NAMES_ASK_HOST) && !(h && atomic_load(&h->whole_users)) && ask(ASK_PWUID, NULL, uid);
}

bool host_knows_gid(const struct host_view *h, uint32_t gid, unsigned flags)
{
	if (h && bsearch(&gid, h->gids, h->ngids, sizeof(uint32_t), u32_cmp))
		return true;
	return (flags & NAMES_ASK_HOST) && !(h && atomic_load(&h->whole_groups)) && ask(ASK_GRGID, NULL, gid);
}

/* ------------------------------------------------------------------ rules */

static bool reserved(const struct mm_config *c, const char *name)
{
	if (mm_name_reserved_builtin(name))
		return true;
	for (size_t i = 0; i < c->nreserved_names; i++)
		if (mm_name_match(c->reserved_names[i], name))
			return true;
	return false;
}

int names_check(const struct mm_config *c, const struct host_view *h, const char *name, unsigned flags,
	const char **ret_rule)
{
	const char *rule = NULL;

	if (!name || !*name || strlen(name) > NAME_MAX_LEN)
		rule = "name_syntax";
	else if (reserved(c, name))
		rule = "reserved_name";
	else if (host_knows_name(h, name, flags))
		rule = "host_name";
	if (ret_rule)
		*ret_rule = rule;
	return rule ? -EPERM : 0;
}

/* A number of [min, max] that the host does not hold (asked only when in range). */
static int number_check(const struct host_view *h, uint32_t n, uint32_t min, uint32_t max,
	bool (*knows)(const struct host_view *, uint32_t, unsigned), unsigned flags, const char *range_rule,
	const char *host_rule, const char **ret_rule)
{
	const char *rule = NULL;

	if (n == 0 || n < min || n > max)
		rule = range_rule;
	else if (knows(h, n, flags))
		rule = host_rule;
	if (ret_rule)
		*ret_rule = rule;
	return rule ? -EPERM : 0;
}

int names_check_uid(const struct mm_config *c, const struct host_view *h, uint32_t uid, unsigned flags,
	const char **ret_rule)
{
	return number_check(
		h, uid, c->uid_min, c->uid_max, host_knows_uid, flags, "uid_range", "host_uid", ret_rule);
}

int names_check_gid(const struct mm_config *c, const struct host_view *h, uint32_t gid, unsigned flags,
	const char **ret_rule)
{
	return number_check(
		h, gid, c->gid_min, c->gid_max, host_knows_gid, flags, "gid_range", "host_gid", ret_rule);
}

const char *names_rule_message(const char *rule)
{
	if (!rule)
		return "";
	if (!strcmp(rule, "reserved_name"))
		return "nom réservé au système (root, sudo, adm, docker, systemd-*... : il donnerait les "
		       "droits du groupe local de même nom)";
	if (!strcmp(rule, "host_name"))
		return "nom déjà connu de la machine (utilisateur ou groupe local)";
	if (!strcmp(rule, "host_uid"))
		return "uid déjà attribué à un utilisateur local de la machine";
	if (!strcmp(rule, "host_gid"))
		return "gid déjà attribué à un groupe local de la machine";
	if (!strcmp(rule, "uid_range") || !strcmp(rule, "gid_range"))
		return "numéro hors de la plage configurée";
	return "nom invalide";
}

int names_group_name(const struct mm_config *c, const char *login, char *out, size_t outsz)
{
	const char *p = c->org_group_prefix ? c->org_group_prefix : "";
	int n = snprintf(out, outsz, "%s%s", p, login);

	if (n < 0 || (size_t)n >= outsz) {
		if (outsz)
			out[0] = '\0';
		return -ENAMETOOLONG;
	}
	return 0;
}

const char *names_group_login(const struct mm_config *c, const char *name)
{
	size_t n = c->org_group_prefix ? strlen(c->org_group_prefix) : 0;

	if (!name || strncmp(name, c->org_group_prefix ? c->org_group_prefix : "", n) || !name[n])
		return NULL;
	return name + n;
}

/* ----------------------------------------------------------------- ranges */

struct host_ranges {
	unsigned long sys_uid_min, sys_uid_max, uid_min, uid_max;
	unsigned long sys_gid_min, sys_gid_max, gid_min, gid_max;
	/* where useradd takes the subordinate ids of new users (user namespaces) */
	unsigned long sub_uid_min, sub_uid_max, sub_uid_count;
	unsigned long sub_gid_min, sub_gid_max, sub_gid_count;
	bool have_sys_uid_max, have_sys_gid_max;
};

/* A value as shadow's getdef reads it: surrounding double quotes dropped,
 * then a whole unsigned number in C notation (1000, 0x3e8, 01750). */
static bool defs_number(char *v, unsigned long *ret)
{
	size_t n = strlen(v);
	char *end;
	unsigned long x;

	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		v[n - 1] = '\0';
		v++;
	}
	if (*v < '0' || *v > '9')
		return false;
	errno = 0;
	x = strtoul(v, &end, 0);
	if (errno || *end)
		return false;
	*ret = x;
	return true;
}

/* login.defs as shadow reads it: "KEY value" lines of any length, '#'
 * comments, shadow's defaults for what is absent or unreadable. */
static int read_login_defs(const char *path, struct host_ranges *h, char *err, size_t errlen)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{"SYS_UID_MIN", offsetof(struct host_ranges, sys_uid_min)},
		{"SYS_UID_MAX", offsetof(struct host_ranges, sys_uid_max)},
		{"UID_MIN", offsetof(struct host_ranges, uid_min)},
		{"UID_MAX", offsetof(struct host_ranges, uid_max)},
		{"SYS_GID_MIN", offsetof(struct host_ranges, sys_gid_min)},
		{"SYS_GID_MAX", offsetof(struct host_ranges, sys_gid_max)},
		{"GID_MIN", offsetof(struct host_ranges, gid_min)},
		{"GID_MAX", offsetof(struct host_ranges, gid_max)},
		{"SUB_UID_MIN", offsetof(struct host_ranges, sub_uid_min)},
		{"SUB_UID_MAX", offsetof(struct host_ranges, sub_uid_max)},
		{"SUB_UID_COUNT", offsetof(struct host_ranges, sub_uid_count)},
		{"SUB_GID_MIN", offsetof(struct host_ranges, sub_gid_min)},
		{"SUB_GID_MAX", offsetof(struct host_ranges, sub_gid_max)},
		{"SUB_GID_COUNT", offsetof(struct host_ranges, sub_gid_count)},
	};
	char *line = NULL;
	size_t cap = 0;
	FILE *f;

	*h = (struct host_ranges){.sys_uid_min = 101,
		.uid_min = 1000,
		.uid_max = 60000,
		.sys_gid_min = 101,
		.gid_min = 1000,
		.gid_max = 60000,
		.sub_uid_min = 100000,
		.sub_uid_max = 600100000,
		.sub_uid_count = 65536,
		.sub_gid_min = 100000,
		.sub_gid_max = 600100000,
		.sub_gid_count = 65536};
	f = fopen(path, "re");
	if (!f && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	while (f && getline(&line, &cap, f) > 0) {
		char *key = line + strspn(line, " \t"), *v, *e;
		unsigned long n;

		if (*key == '#')
			continue;
		v = key + strcspn(key, " \t\r\n");
		if (!*v)
			continue;
		*v++ = '\0';
		v += strspn(v, " \t");
		/* the value runs to the end of the line, blanks at its end dropped */
		e = v + strlen(v);
		while (e > v && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (!defs_number(v, &n))
			continue;
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (!strcmp(key, keys[i].key)) {
				*(unsigned long *)((char *)h + keys[i].off) = n;
				if (!strcmp(key, "SYS_UID_MAX"))
					h->have_sys_uid_max = true;
				if (!strcmp(key, "SYS_GID_MAX"))
					h->have_sys_gid_max = true;
			}
	}
	free(line);
	if (f)
		fclose(f);
	if (!h->have_sys_uid_max)
		h->sys_uid_max = h->uid_min ? h->uid_min - 1 : 0;
	if (!h->have_sys_gid_max)
		h->sys_gid_max = h->gid_min ? h->gid_min - 1 : 0;
	return 0;
}

static bool overlap(unsigned long a, unsigned long b, unsigned long c, unsigned long d)
{
	return a <= d && c <= b;
}

/* The first range of a subordinate id file (/etc/subuid: "owner:start:count")
 * that meets lo..hi, in *ret_line; 0 none (or no file), 1 found, -errno. A
 * user given such a range maps it in a user namespace: a file it makes there
 * belongs, on the host, to the Medimail user with that uid (a setuid one
 * too). Shadow reads the file as text lines; so do we, whole lines only. */
static int subid_file_overlap(const char *path, unsigned long lo, unsigned long hi, char *ret_line,
	size_t linesz, bool *ret_present)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int found = 0;
	FILE *f = fopen(path, "re");

	*ret_present = f != NULL;
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while (!found && (n = getline(&line, &cap, f)) > 0) {
		char *owner = line, *a, *b, *end;
		unsigned long start, count;

		line[strcspn(line, "\n")] = '\0';
		if (!(a = strchr(owner, ':')) || !(b = strchr(a + 1, ':')))
			continue;
		*a++ = '\0';
		*b++ = '\0';
		errno = 0;
		start = strtoul(a, &end, 10);
		if (errno || end == a || *end || *a == '-')
			continue;
		count = strtoul(b, &end, 10);
		if (errno || end == b || *end || *b == '-' || count == 0)
			continue;
		/* count so large it wraps: up to the top */
		if (overlap(lo, hi, start, start + count - 1 < start ? ULONG_MAX : start + count - 1)) {
			snprintf(ret_line, linesz, "%.64s:%lu:%lu", owner, start, count);
			found = 1;
		}
	}
	free(line);
	fclose(f);
	return found;
}

int names_check_ranges_with(const struct mm_config *c, const struct host_view *h, char *err, size_t errlen)
{
	struct host_ranges hr;
	int r = read_login_defs(c->login_defs, &hr, err, errlen);

	if (r < 0)
		return r;
#define CHECK(kind, lo, hi, klo, khi, vlo, vhi)                                                              \
	do {                                                                                                 \
		if (overlap(lo, hi, vlo, vhi)) {                                                             \
			snprintf(err, errlen,                                                                \
				"%s_min..%s_max (%lu..%lu) overlaps the host's " klo ".." khi " (%lu..%lu) " \
				"in %s: choose a range the host never allocates",                            \
				kind, kind, (unsigned long)(lo), (unsigned long)(hi), vlo, vhi,              \
				c->login_defs);                                                              \
			return -EINVAL;                                                                      \
		}                                                                                            \
	} while (0)
	CHECK("uid", c->uid_min, c->uid_max, "SYS_UID_MIN", "SYS_UID_MAX", hr.sys_uid_min, hr.sys_uid_max);
	CHECK("uid", c->uid_min, c->uid_max, "UID_MIN", "UID_MAX", hr.uid_min, hr.uid_max);
	CHECK("gid", c->gid_min, c->gid_max, "SYS_GID_MIN", "SYS_GID_MAX", hr.sys_gid_min, hr.sys_gid_max);
	CHECK("gid", c->gid_min, c->gid_max, "GID_MIN", "GID_MAX", hr.gid_min, hr.gid_max);
	for (int g = 0; g < 2; g++) {
		const char *path = g ? c->subgid_file : c->subuid_file, *kind = g ? "gid" : "uid";
		unsigned long lo = g ? c->gid_min : c->uid_min, hi = g ? c->gid_max : c->uid_max;
		char got[128];
		bool present = false;

		r = subid_file_overlap(path, lo, hi, got, sizeof(got), &present);
		if (r < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(-r));
			return r;
		}
		if (r > 0) {
			snprintf(err, errlen,
				"%s_min..%s_max (%lu..%lu) overlaps the subordinate ids \"%s\" of %s: that "
				"user "
				"could own files as a Medimail user in a user namespace",
				kind, kind, lo, hi, got, path);
			return -EINVAL;
		}
		/* useradd hands out new subordinate ranges only where the file exists */
		if (present && (g ? hr.sub_gid_count : hr.sub_uid_count)) {
			if (g)
				CHECK("gid", lo, hi, "SUB_GID_MIN", "SUB_GID_MAX", hr.sub_gid_min,
					hr.sub_gid_max);
			else
				CHECK("uid", lo, hi, "SUB_UID_MIN", "SUB_UID_MAX", hr.sub_uid_min,
					hr.sub_uid_max);
		}
	}
#undef CHECK
	if (!h)
		return 0;
	for (size_t i = 0; i < h->nuids; i++)
		if (h->uids[i] >= c->uid_min && h->uids[i] <= c->uid_max) {
			struct passwd *pw = getpwuid(h->uids[i]);

			snprintf(err, errlen,
				"uid_min..uid_max (%lu..%lu) contains uid %u, which the host already "
				"uses%s%s%s",
				(unsigned long)c->uid_min, (unsigned long)c->uid_max, (unsigned)h->uids[i],
				pw ? " (user " : "", pw ? pw->pw_name : "", pw ? ")" : "");
			return -EINVAL;
		}
	for (size_t i = 0; i < h->ngids; i++)
		if (h->gids[i] >= c->gid_min && h->gids[i] <= c->gid_max) {
			struct group *gr = getgrgid(h->gids[i]);

			snprintf(err, errlen,
				"gid_min..gid_max (%lu..%lu) contains gid %u, which the host already "
				"uses%s%s%s",
				(unsigned long)c->gid_min, (unsigned long)c->gid_max, (unsigned)h->gids[i],
				gr ? " (group " : "", gr ? gr->gr_name : "", gr ? ")" : "");
			return -EINVAL;
		}
	return 0;
}

int names_check_ranges(const struct mm_config *c, char *err, size_t errlen)
{
	struct host_view *h = NULL;
	int r = host_view_load(&h);

	if (r < 0) {
		snprintf(err, errlen, "cannot read the host's users and groups: %s", strerror(-r));
		return r;
	}
	r = names_check_ranges_with(c, h, err, errlen);
	host_view_free(h);
	return r;
}
