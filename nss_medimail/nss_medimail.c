/* libnss_medimail.so.2: passwd, group and initgroups from the daemon's mmap cache, else from the daemon. No policy here. */
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "maps.h"
#include "mcfile.h"
#include "protocol.h"
#include "reserved.h"
#include "wire.h"

#define EXPORT __attribute__((visibility("default")))

#define CALL_TIMEOUT_MS 2000 /* whole round trip to the daemon */
#define CHANGED (-EKEYEXPIRED) /* the key changed since the file was built: ask the daemon */

/* The entry points glibc looks up (nss_module.c naming). */
enum nss_status _nss_medimail_getpwnam_r(
	const char *name, struct passwd *pw, char *buf, size_t buflen, int *errnop);
enum nss_status _nss_medimail_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t buflen, int *errnop);
enum nss_status _nss_medimail_setpwent(int stayopen);
enum nss_status _nss_medimail_getpwent_r(struct passwd *pw, char *buf, size_t buflen, int *errnop);
enum nss_status _nss_medimail_endpwent(void);
enum nss_status _nss_medimail_getgrnam_r(
	const char *name, struct group *gr, char *buf, size_t buflen, int *errnop);
enum nss_status _nss_medimail_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t buflen, int *errnop);
enum nss_status _nss_medimail_setgrent(int stayopen);
enum nss_status _nss_medimail_getgrent_r(struct group *gr, char *buf, size_t buflen, int *errnop);
enum nss_status _nss_medimail_endgrent(void);
enum nss_status _nss_medimail_initgroups_dyn(const char *user, gid_t skipgroup, long int *start,
	long int *size, gid_t **groupsp, long int limit, int *errnop);

/* ---------------------------------------------------------------- helpers */

/* Set in the daemon's own environment: never resolve through ourselves.
 * Ignored in setuid programs: a user must not make Medimail users and groups
 * vanish inside a privileged program (its group checks, its file owners). */
static bool bypassed(void)
{
	const char *v = secure_getenv("MEDIMAIL_NSS_BYPASS");

	return v && *v && strcmp(v, "0") != 0;
}

static const char *socket_path(void)
{
	const char *v = secure_getenv("MEDIMAIL_SOCKET");

	return v && *v ? v : MM_DEFAULT_SOCKET;
}

/* The one place where internal errors become NSS statuses. */
static enum nss_status map_status(int r, int *errnop)
{
	switch (r) {
	case 0: return NSS_STATUS_SUCCESS;
	case -ENOENT: *errnop = ENOENT; return NSS_STATUS_NOTFOUND;
	case -ERANGE: *errnop = ERANGE; return NSS_STATUS_TRYAGAIN;
	case -ENOMEM:
	case -EAGAIN: *errnop = -r; return NSS_STATUS_TRYAGAIN;
	default:
		/* daemon unreachable, directory down, protocol error: not our service today */
		*errnop = ENOENT;
		return NSS_STATUS_UNAVAIL;
	}
}

struct pw_arg {
	const char *name;
	uint32_t id;
	struct passwd *pw;
	struct group *gr;
	char *buf;
	size_t buflen;
};

/* A key to look for in a changed-keys file (mcfile.h). */
enum probe_kind { PROBE_PWNAM, PROBE_PWUID, PROBE_GRNAM, PROBE_GRGID, PROBE_MEMBEROF };

struct probe {
	enum probe_kind kind;
	const char *name;
	uint32_t id;
};

/* 0 or -ERANGE: the key is listed; -ENOENT: it is not. */
static int fn_changed(const struct mc_map *m, void *p)
{
	const struct probe *k = p;
	uint64_t buf[8]; /* the strings do not matter, only whether the record is there */
	const uint32_t *g;
	struct passwd pw;
	struct group gr;
	size_t n;

	switch (k->kind) {
	case PROBE_PWNAM: return mc_getpwnam(m, k->name, &pw, (char *)buf, sizeof(buf), NULL);
	case PROBE_PWUID: return mc_getpwuid(m, k->id, &pw, (char *)buf, sizeof(buf), NULL);
	case PROBE_GRNAM: return mc_getgrnam(m, k->name, &gr, (char *)buf, sizeof(buf), NULL);
	case PROBE_GRGID: return mc_getgrgid(m, k->id, &gr, (char *)buf, sizeof(buf), NULL);
	default: return mc_initgroups(m, k->name, buf, sizeof(buf), &g, &n, NULL);
	}
}

/* r: what the cache file m answered for a key. A found key that its changed-keys file lists
 * (or a file that promises one when none is usable) is CHANGED: the daemon answers it. */
static int unless_changed(const struct mc_map *m, int r, enum probe_kind kind, const char *name, uint32_t id)
{
	struct probe key = {kind, name, id};
	int idx = kind == PROBE_PWNAM || kind == PROBE_PWUID ? MAP_PASSWD_CHANGED : MAP_GROUP_CHANGED;

	if ((r != 0 && r != -ERANGE) || !(m->flags & MC_FLAG_CHANGES))
		return r;
	return with_map(idx, fn_changed, &key) == -ENOENT ? r : CHANGED;
}

static int fn_pwnam(const struct mc_map *m, void *p)
{
	struct pw_arg *a = p;

	return unless_changed(
		m, mc_getpwnam(m, a->name, a->pw, a->buf, a->buflen, NULL), PROBE_PWNAM, a->name, 0);
}

static int fn_pwuid(const struct mc_map *m, void *p)
{
	struct pw_arg *a = p;

	return unless_changed(
		m, mc_getpwuid(m, a->id, a->pw, a->buf, a->buflen, NULL), PROBE_PWUID, NULL, a->id);
}

static int fn_grnam(const struct mc_map *m, void *p)
{
	struct pw_arg *a = p;

	return unless_changed(
		m, mc_getgrnam(m, a->name, a->gr, a->buf, a->buflen, NULL), PROBE_GRNAM, a->name, 0);
}

static int fn_grgid(const struct mc_map *m, void *p)
{
	struct pw_arg *a = p;

	return unless_changed(
		m, mc_getgrgid(m, a->id, a->gr, a->buf, a->buflen, NULL), PROBE_GRGID, NULL, a->id);
}

/* ----------------------------------------------------------- the socket */

/* One request, one reply, within CALL_TIMEOUT_MS in all. */
static int daemon_call(uint16_t code, const char *key, const char *value, struct mm_msg **ret)
{
	long long deadline = now_ms() + CALL_TIMEOUT_MS;
	struct mm_msg *req = mm_msg_new(code, false), *rep = NULL;
	uint8_t hdr[MM_HEADER_SIZE], *payload = NULL;
	uint16_t rcode;
	uint32_t len;
	int fd = -1, r;

	*ret = NULL;
	if (!req)
		return -ENOMEM;
	r = key ? mm_msg_add(req, key, value) : 0;
	if (r == 0)
		r = mm_client_connect(socket_path(), CALL_TIMEOUT_MS, (uid_t)-1, &fd);
	if (r == 0)
		r = mm_msg_send(fd, req, (int)(deadline - now_ms()));
	if (r == 0)
		r = mm_read_full(fd, hdr, sizeof(hdr), (int)(deadline - now_ms()));
	if (r == 0)
		r = mm_header_parse(hdr, true, &rcode, &len);
	if (r == 0 && rcode != code)
		r = -EPROTO;
	if (r == 0 && !(payload = malloc(len ? len : 1)))
		r = -ENOMEM;
	if (r == 0)
		r = mm_read_full(fd, payload, len, (int)(deadline - now_ms()));
	if (r == 0)
		r = mm_msg_decode(rcode, true, payload, len, &rep);
	free(payload);
	if (fd >= 0)
		close(fd);
	mm_msg_free(req);
	if (r < 0)
		return r == -ENOENT ? -ECONNREFUSED : r; /* no socket is not "no such user" */
	if (rep->status < 0) {
		r = rep->status;
		mm_msg_free(rep);
		return r == -ENOENT ? -ENOENT : r == -EPERM ? -EPERM : -EHOSTDOWN;
	}
	*ret = rep;
	return 0;
}

/* Value of key among fields [from, to) of a reply. */
static const char *rec_get(const struct mm_msg *m, size_t from, size_t to, const char *key)
{
	for (size_t i = from; i < to && i < m->nfields; i++)
		if (!strcmp(m->fields[i].key, key))
			return m->fields[i].value;
	return NULL;
}

static bool parse_u32(const char *s, uint32_t *ret)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > UINT32_MAX - 1)
		return false;
	*ret = (uint32_t)v;
	return true;
}

static char *put_str(char **p, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = *p;

	memcpy(d, s, n);
	*p += n;
	return d;
}

/* A passwd answer (fields [from, to)) into the caller's buffer. */
static int pw_from_reply(
	const struct mm_msg *m, size_t from, size_t to, struct passwd *pw, char *buf, size_t buflen)
{
	const char *name = rec_get(m, from, to, "name"), *gecos = rec_get(m, from, to, "gecos");
	const char *dir = rec_get(m, from, to, "dir"), *shell = rec_get(m, from, to, "shell");
	uint32_t uid, gid;
	size_t need;
	char *p = buf;

	if (!name || !*name || !gecos || !dir || !shell || !parse_u32(rec_get(m, from, to, "uid"), &uid) ||
		!parse_u32(rec_get(m, from, to, "gid"), &gid))
		return -EPROTO;
	need = strlen(name) + strlen(gecos) + strlen(dir) + strlen(shell) + 4 + 2;
	if (buflen < need)
		return -ERANGE;
	pw->pw_name = put_str(&p, name);
	pw->pw_passwd = put_str(&p, "*");
	pw->pw_gecos = put_str(&p, gecos);
	pw->pw_dir = put_str(&p, dir);
	pw->pw_shell = put_str(&p, shell);
	pw->pw_uid = uid;
	pw->pw_gid = gid;
	return 0;
}

/* A group answer: members come as comma-separated chunks. */
static int gr_from_reply(
	const struct mm_msg *m, size_t from, size_t to, struct group *gr, char *buf, size_t buflen)
{
	const char *name = rec_get(m, from, to, "name");
	size_t pad = (size_t)(-(uintptr_t)buf & (sizeof(char *) - 1));
	size_t nmem = 0, bytes = 0, need, k = 0;
	uint32_t gid;
	char **mem, *p;

	if (!name || !*name || !parse_u32(rec_get(m, from, to, "gid"), &gid))
		return -EPROTO;
	for (size_t i = from; i < to && i < m->nfields; i++) {
		const char *v = m->fields[i].value;

		if (strcmp(m->fields[i].key, "members") || !*v)
			continue;
		nmem += 1;
		for (const char *c = v; *c; c++)
			nmem += *c == ',';
		bytes += strlen(v) + 1;
	}
	need = pad + (nmem + 1) * sizeof(char *) + strlen(name) + 1 + 2 + bytes;
	if (buflen < need)
		return -ERANGE;
	mem = (char **)(void *)(buf + pad);
	p = buf + pad + (nmem + 1) * sizeof(char *);
	gr->gr_name = put_str(&p, name);
	gr->gr_passwd = put_str(&p, "*");
	gr->gr_gid = gid;
	for (size_t i = from; i < to && i < m->nfields; i++) {
		const char *v = m->fields[i].value;

		if (strcmp(m->fields[i].key, "members") || !*v)
			continue;
		/* Copy the chunk, then cut it at the commas in place. */
		mem[k++] = put_str(&p, v);
		for (char *c = mem[k - 1]; *c; c++)
			if (*c == ',') {
				*c = '\0';
				mem[k++] = c + 1;
			}
	}
	mem[k] = NULL;
	gr->gr_mem = mem;
	return 0;
}

static int sock_pw(
	uint16_t code, const char *key, const char *value, struct passwd *pw, char *buf, size_t buflen)
{
	struct mm_msg *rep = NULL;
	int r = daemon_call(code, key, value, &rep);

	if (r == 0)
		r = pw_from_reply(rep, 0, rep->nfields, pw, buf, buflen);
	mm_msg_free(rep);
	return r;
}

static int sock_gr(
	uint16_t code, const char *key, const char *value, struct group *gr, char *buf, size_t buflen)
{
	struct mm_msg *rep = NULL;
	int r = daemon_call(code, key, value, &rep);

	if (r == 0)
		r = gr_from_reply(rep, 0, rep->nfields, gr, buf, buflen);
	mm_msg_free(rep);
	return r;
}

/* ---------------------------------------------------------- lookups */

/* The daemon never serves a reserved name (common/reserved.h); an answer
 * carrying one (a cache file or daemon of another version) is not passed on.
 * An answer to a by-name key was proven equal to the key, already checked. */
static int answer_checked(int idx, const struct pw_arg *a)
{
	const char *name = idx == MAP_PASSWD ? a->pw->pw_name : a->gr->gr_name;

	if (a->name && !strcmp(name, a->name))
		return 0;
	return mm_name_reserved_builtin(name) ? -ENOENT : 0;
}

/* Cache first; on a miss (or a damaged/replaced file) the daemon, with a
 * short negative cache. key = value, or key = the id in decimal (value NULL). */
static int lookup(
	int idx, map_fn fn, struct pw_arg *a, int negkind, uint16_t code, const char *key, const char *value)
{
	int r = with_map(idx, fn, a);
	char num[16];

	if (r == 0 || r == -ERANGE)
		return r == 0 ? answer_checked(idx, a) : r;
	if (r != CHANGED && neg_hit(negkind, a->name, a->id))
		return -ENOENT;
	if (!value) {
		snprintf(num, sizeof(num), "%u", (unsigned)a->id);
		value = num;
	}
	r = idx == MAP_PASSWD ? sock_pw(code, key, value, a->pw, a->buf, a->buflen)
			      : sock_gr(code, key, value, a->gr, a->buf, a->buflen);
	if (r == -ENOENT)
		neg_add(negkind, a->name, a->id);
	return r == 0 ? answer_checked(idx, a) : r;
}

/* One by-key lookup as an NSS status; none: a key never served (root, -1, ""). errno is kept. */
static enum nss_status key_lookup(int idx, map_fn fn, struct pw_arg *a, int negkind, uint16_t code,
	const char *key, const char *value, bool none, int *errnop)
{
	int saved = errno, r;
	enum nss_status st;

	/* Bypassed: NO_MAP maps to NSS_STATUS_UNAVAIL, ENOENT. */
	r = bypassed() ? NO_MAP : none ? -ENOENT : lookup(idx, fn, a, negkind, code, key, value);
	st = map_status(r, errnop);
	errno = saved;
	return st;
}

EXPORT enum nss_status _nss_medimail_getpwnam_r(
	const char *name, struct passwd *pw, char *buf, size_t buflen, int *errnop)
{
	struct pw_arg a = {.name = name, .pw = pw, .buf = buf, .buflen = buflen};

	return key_lookup(MAP_PASSWD, fn_pwnam, &a, NEG_PWNAM, MM_REQ_GETPWNAM, "name", name,
		!name || !*name || mm_name_reserved_builtin(name), errnop);
}

EXPORT enum nss_status _nss_medimail_getpwuid_r(
	uid_t uid, struct passwd *pw, char *buf, size_t buflen, int *errnop)
{
	struct pw_arg a = {.id = (uint32_t)uid, .pw = pw, .buf = buf, .buflen = buflen};

	return key_lookup(MAP_PASSWD, fn_pwuid, &a, NEG_PWUID, MM_REQ_GETPWUID, "uid", NULL,
		uid == 0 || uid == (uid_t)-1, errnop);
}

EXPORT enum nss_status _nss_medimail_getgrnam_r(
	const char *name, struct group *gr, char *buf, size_t buflen, int *errnop)
{
	struct pw_arg a = {.name = name, .gr = gr, .buf = buf, .buflen = buflen};

	return key_lookup(MAP_GROUP, fn_grnam, &a, NEG_GRNAM, MM_REQ_GETGRNAM, "name", name,
		!name || !*name || mm_name_reserved_builtin(name), errnop);
}

EXPORT enum nss_status _nss_medimail_getgrgid_r(
	gid_t gid, struct group *gr, char *buf, size_t buflen, int *errnop)
{
	struct pw_arg a = {.id = (uint32_t)gid, .gr = gr, .buf = buf, .buflen = buflen};

	return key_lookup(MAP_GROUP, fn_grgid, &a, NEG_GRGID, MM_REQ_GETGRGID, "gid", NULL,
		gid == 0 || gid == (gid_t)-1, errnop);
}

/* ------------------------------------------------------------ initgroups */

struct ig_arg {
	const char *login;
	uint32_t *gids;
	size_t cap, n;
	uint32_t *heap; /* when the stack scratch was too small */
};

static int fn_memberof(const struct mc_map *m, void *p)
{
	struct ig_arg *a = p;
	const uint32_t *g = NULL;
	size_t need = 0, n = 0;
	int r = mc_initgroups(m, a->login, a->gids, a->cap * 4, &g, &n, &need);

	if (r == -ERANGE && !a->heap && need <= MC_REC_MAX) {
		a->heap = malloc(need + 4);
		if (!a->heap)
			return -ENOMEM;
		a->gids = a->heap;
		a->cap = (need + 4) / 4;
		r = mc_initgroups(m, a->login, a->gids, a->cap * 4, &g, &n, &need);
	}
	if (r == 0)
		a->n = n;
	return unless_changed(m, r, PROBE_MEMBEROF, a->login, 0);
}

/* Appends gid unless it is skip or already there. */
static int add_group(gid_t gid, gid_t skip, long int *start, long int *size, gid_t **groupsp, long int limit)
{
	if (gid == skip)
		return 0;
	for (long int i = 0; i < *start; i++)
		if ((*groupsp)[i] == gid)
			return 0;
	if (limit > 0 && *start >= limit)
		return 1; /* full: the caller's limit wins */
	if (*start == *size) {
		long int nsize;
		gid_t *ng;

		nsize = *size > 0 ? 2 * *size : 16;
		if (limit > 0 && nsize > limit)
			nsize = limit;
		ng = realloc(*groupsp, (size_t)nsize * sizeof(gid_t));
		if (!ng)
			return -ENOMEM;
		*groupsp = ng;
		*size = nsize;
	}
	(*groupsp)[(*start)++] = gid;
	return 0;
}

/* The gids from the cache: 0, or NO_MAP/-ENOENT/... to ask the daemon.
 * One probe: the daemon writes a memberof record (the per-user group index)
 * for every user, an empty one for a user without ORG. A name without one
 * (a login e-mail) goes through passwd. A known login still without one is
 * not "no ORG": a chain walk cannot prove an absence (a damaged record's
 * kind, hash or key is read before its checksum), so the daemon answers. */
static int initgroups_cached(const char *user, struct ig_arg *ig, char *login, size_t loginsz)
{
	char pwbuf[1024];
	struct passwd pw;
	struct pw_arg a = {.name = user, .pw = &pw, .buf = pwbuf, .buflen = sizeof(pwbuf)};
	int r;

	ig->login = user;
	r = with_map(MAP_GROUP, fn_memberof, ig);
	if (r != -ENOENT)
		return r;
	r = with_map(MAP_PASSWD, fn_pwnam, &a);
	if (r < 0)
		return r; /* unknown to the cache: maybe new, ask the daemon */
	snprintf(login, loginsz, "%s", pw.pw_name);
	ig->login = login;
	return with_map(MAP_GROUP, fn_memberof, ig);
}

EXPORT enum nss_status _nss_medimail_initgroups_dyn(const char *user, gid_t skipgroup, long int *start,
	long int *size, gid_t **groupsp, long int limit, int *errnop)
{
	int saved = errno, r;
	uint32_t stack[256];
	struct ig_arg ig = {.gids = stack, .cap = 256};
	char login[MC_KEY_MAX + 1];
	struct mm_msg *rep = NULL;
	enum nss_status st;

	if (bypassed()) {
		*errnop = ENOENT;
		errno = saved;
		return NSS_STATUS_UNAVAIL;
	}
	if (!user || !*user) {
		r = -ENOENT;
		goto out;
	}
	r = initgroups_cached(user, &ig, login, sizeof(login));
	if (r == 0) {
		for (size_t i = 0; i < ig.n && r == 0; i++)
			r = add_group(ig.gids[i], skipgroup, start, size, groupsp, limit);
		r = r > 0 ? 0 : r;
		goto out;
	}
	if (r != CHANGED && neg_hit(NEG_INIT, user, 0)) {
		r = -ENOENT;
		goto out;
	}
	r = daemon_call(MM_REQ_INITGROUPS, "name", user, &rep);
	if (r == -ENOENT)
		neg_add(NEG_INIT, user, 0);
	for (size_t i = 0; r == 0 && i < rep->nfields; i++) {
		const char *v = rep->fields[i].value;

		if (strcmp(rep->fields[i].key, "gids"))
			continue;
		while (*v && r == 0) {
			char num[16];
			size_t l = strcspn(v, ",");
			uint32_t gid;

			if (l == 0 || l >= sizeof(num)) {
				r = -EPROTO;
				break;
			}
			memcpy(num, v, l);
			num[l] = '\0';
			if (!parse_u32(num, &gid))
				r = -EPROTO;
			else
				r = add_group(gid, skipgroup, start, size, groupsp, limit);
			v += l + (v[l] == ',');
		}
		r = r > 0 ? 0 : r;
	}
out:
	mm_msg_free(rep);
	free(ig.heap);
	st = map_status(r, errnop);
	errno = saved;
	return st;
}

/* ----------------------------------------------------------- enumeration */

/* Pages of records from the daemon (which refuses when enumeration is off). */
struct ent {
	pthread_mutex_t lock;
	uint16_t code;
	struct mm_msg *page;
	size_t pos; /* next field of the page */
	uint32_t next; /* offset of the next page */
	bool more; /* there is a next page */
};

static struct ent pwent = {.lock = PTHREAD_MUTEX_INITIALIZER, .code = MM_REQ_PWENT, .more = true};
static struct ent grent = {.lock = PTHREAD_MUTEX_INITIALIZER, .code = MM_REQ_GRENT, .more = true};

/* A lock another thread held at fork() stays held for ever in the child: every
 * lock of the module starts afresh there (the enumeration waits up to
 * CALL_TIMEOUT_MS on the daemon with its lock held). */
static void reset_after_fork(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	maps_after_fork();
	pwent.lock = fresh;
	grent.lock = fresh;
}

__attribute__((constructor)) static void module_init(void)
{
	pthread_atfork(NULL, NULL, reset_after_fork);
}

static void ent_reset(struct ent *e)
{
	mm_msg_free(e->page);
	e->page = NULL;
	e->pos = 0;
	e->next = 0;
	e->more = true;
}

/* The bounds [from, to) of the next record, fetching pages as needed. */
static int ent_next(struct ent *e, size_t *from, size_t *to)
{
	for (;;) {
		char off[16];
		int r;

		while (e->page && e->pos < e->page->nfields && strcmp(e->page->fields[e->pos].key, "#"))
			e->pos++;
		if (e->page && e->pos < e->page->nfields) {
			size_t j = e->pos + 1;

			while (j < e->page->nfields && strcmp(e->page->fields[j].key, "#") &&
				strcmp(e->page->fields[j].key, "next"))
				j++;
			*from = e->pos;
			*to = j;
			return 0;
		}
		if (!e->more)
			return -ENOENT;
		mm_msg_free(e->page);
		e->page = NULL;
		e->pos = 0;
		snprintf(off, sizeof(off), "%u", e->next);
		r = daemon_call(e->code, "offset", off, &e->page);
		if (r == -EPERM) { /* enumeration disabled: an empty list */
			e->more = false;
			return -ENOENT;
		}
		if (r < 0)
			return r;
		e->more = parse_u32(mm_msg_get(e->page, "next"), &e->next);
	}
}

static enum nss_status ent_set(struct ent *e)
{
	int saved = errno;

	pthread_mutex_lock(&e->lock);
	ent_reset(e);
	pthread_mutex_unlock(&e->lock);
	errno = saved;
	return NSS_STATUS_SUCCESS;
}

static enum nss_status ent_end(struct ent *e)
{
	int saved = errno;

	pthread_mutex_lock(&e->lock);
	ent_reset(e);
	e->more = false;
	pthread_mutex_unlock(&e->lock);
	errno = saved;
	return NSS_STATUS_SUCCESS;
}

static enum nss_status ent_get(
	struct ent *e, struct passwd *pw, struct group *gr, char *buf, size_t buflen, int *errnop)
{
	int saved = errno, r;
	size_t from = 0, to = 0;
	enum nss_status st;

	if (bypassed()) {
		*errnop = ENOENT;
		errno = saved;
		return NSS_STATUS_UNAVAIL;
	}
	pthread_mutex_lock(&e->lock);
	r = ent_next(e, &from, &to);
	if (r == 0)
		r = pw ? pw_from_reply(e->page, from, to, pw, buf, buflen)
		       : gr_from_reply(e->page, from, to, gr, buf, buflen);
	if (r == 0)
		e->pos = to; /* only a delivered record is consumed: ERANGE retries it */
	else if (r == -EPROTO)
		e->pos = to;
	pthread_mutex_unlock(&e->lock);
	st = map_status(r, errnop);
	errno = saved;
	return st;
}

EXPORT enum nss_status _nss_medimail_setpwent(int stayopen)
{
	(void)stayopen;
	return ent_set(&pwent);
}

EXPORT enum nss_status _nss_medimail_getpwent_r(struct passwd *pw, char *buf, size_t buflen, int *errnop)
{
	return ent_get(&pwent, pw, NULL, buf, buflen, errnop);
}

EXPORT enum nss_status _nss_medimail_endpwent(void)
{
	return ent_end(&pwent);
}

EXPORT enum nss_status _nss_medimail_setgrent(int stayopen)
{
	(void)stayopen;
	return ent_set(&grent);
}

EXPORT enum nss_status _nss_medimail_getgrent_r(struct group *gr, char *buf, size_t buflen, int *errnop)
{
	return ent_get(&grent, NULL, gr, buf, buflen, errnop);
}

EXPORT enum nss_status _nss_medimail_endgrent(void)
{
	return ent_end(&grent);
}
