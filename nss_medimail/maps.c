/* Inside libnss_medimail: the memory-mapped cache files and the negative cache (maps.h). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "maps.h"

#define MAP_RETRIES 3
#define REOPEN_MIN_MS 100 /* between two attempts to (re)open a cache file */
#define NEG_TTL_MS 3000
#define NEG_SETS 256
#define NEG_WAYS 4

/* The cache files, and beside each the keys changed since it was built (mcfile.h). */
static const char *const map_file[MAP_N] = {"passwd", "group", "passwd.changed", "group.changed"};
static const uint32_t map_kind[MAP_N] = {MC_PASSWD, MC_GROUP, MC_PASSWD, MC_GROUP};

long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Overrides are ignored in setuid programs (secure_getenv). */
static const char *cache_dir(void)
{
	const char *v = secure_getenv("MEDIMAIL_NSS_CACHE_DIR");

	return v && *v ? v : MM_DEFAULT_CACHEDIR;
}

/* -------------------------------------------------------------- the maps */

/* A map, once published, is never changed: readers load the pointer and use
 * it without a lock. One that was replaced is unmapped only once no reader
 * can still hold it: every reader counts itself in `readers` around its use,
 * and a replaced map waits in `retired` until the count is seen at 0 after
 * the swap (a reader that started later loaded the new pointer). */
static _Atomic(struct mc_map *) maps[MAP_N];
static atomic_uint readers;
static atomic_bool retired_any;
static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER; /* writers: refresh, reap */
static struct mc_map *retired[8];
static size_t nretired;
static long long map_tried[MAP_N];

static void map_free(struct mc_map *m)
{
	if (m) {
		mc_map_close(m);
		free(m);
	}
}

/* Under map_lock: unmaps the retired maps if no reader is running now. */
static void reap_locked(void)
{
	if (!nretired || atomic_load(&readers) != 0)
		return;
	for (size_t i = 0; i < nretired; i++)
		map_free(retired[i]);
	nretired = 0;
	atomic_store(&retired_any, false);
}

/* Opens (again) the cache file of map idx; true when a current map is in place. */
static bool map_refresh(int idx)
{
	char path[4096];
	struct mc_map nm, *cur, *fresh;
	long long t = now_ms();
	bool ok;

	pthread_mutex_lock(&map_lock);
	reap_locked();
	cur = atomic_load(&maps[idx]);
	if (cur && mc_map_current(cur)) {
		pthread_mutex_unlock(&map_lock);
		return true;
	}
	if (map_tried[idx] && t - map_tried[idx] < REOPEN_MIN_MS) {
		pthread_mutex_unlock(&map_lock);
		return false;
	}
	map_tried[idx] = t;
	if (nretired == sizeof(retired) / sizeof(retired[0])) {
		/* readers are still on every retired map: keep the current one too */
		pthread_mutex_unlock(&map_lock);
		return false;
	}
	fresh = NULL;
	if (snprintf(path, sizeof(path), "%s/%s", cache_dir(), map_file[idx]) < (int)sizeof(path) &&
		mc_map_open(path, map_kind[idx], &nm) == 0) {
		if ((fresh = malloc(sizeof(*fresh))))
			*fresh = nm;
		else
			mc_map_close(&nm);
		map_tried[idx] = 0;
	}
	/* The old map (gone or stale) is withdrawn either way. */
	atomic_store(&maps[idx], fresh);
	if (cur) {
		retired[nretired++] = cur;
		atomic_store(&retired_any, true);
		reap_locked();
	}
	ok = fresh && mc_map_current(fresh);
	pthread_mutex_unlock(&map_lock);
	return ok;
}

int with_map(int idx, map_fn fn, void *arg)
{
	for (int attempt = 0; attempt < MAP_RETRIES; attempt++) {
		struct mc_map *m;
		int r = -ESTALE;

		atomic_fetch_add(&readers, 1);
		m = atomic_load(&maps[idx]);
		if (m) {
			r = fn(m, arg);
			if (r == -ENOENT && !mc_map_current(m))
				r = -ESTALE;
		}
		if (atomic_fetch_sub(&readers, 1) == 1 &&
			atomic_load_explicit(&retired_any, memory_order_relaxed)) {
			pthread_mutex_lock(&map_lock);
			reap_locked();
			pthread_mutex_unlock(&map_lock);
		}
		if (r != -ESTALE)
			return r;
		if (!map_refresh(idx))
			return NO_MAP;
	}
	return NO_MAP;
}

/* ------------------------------------------------------- negative cache */

/* Names and ids the daemon said do not exist, for NEG_TTL_MS: a small
 * set-associative table of 64-bit keys (a key collision could hide an entry
 * for NEG_TTL_MS at worst, with odds of 2^-64). */
struct neg {
	uint64_t key;
	long long expires;
};

static pthread_mutex_t neg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct neg negs[NEG_SETS][NEG_WAYS];

static uint64_t neg_key(int kind, const char *name, uint32_t id)
{
	uint64_t h = 14695981039346656037ULL ^ (uint64_t)kind;

	if (name)
		for (const char *c = name; *c; c++)
			h = (h ^ (uint8_t)*c) * 1099511628211ULL;
	else
		h = (h ^ id) * 1099511628211ULL;
	h ^= h >> 32;
	return h ? h : 1;
}

bool neg_hit(int kind, const char *name, uint32_t id)
{
	uint64_t key = neg_key(kind, name, id);
	struct neg *set = negs[key % NEG_SETS];
	long long t = now_ms();
	bool hit = false;

	pthread_mutex_lock(&neg_lock);
	for (int w = 0; w < NEG_WAYS && !hit; w++)
		hit = set[w].key == key && set[w].expires > t;
	pthread_mutex_unlock(&neg_lock);
	return hit;
}

void neg_add(int kind, const char *name, uint32_t id)
{
	uint64_t key = neg_key(kind, name, id);
	struct neg *set = negs[key % NEG_SETS], *victim;

	pthread_mutex_lock(&neg_lock);
	victim = &set[0];
	for (int w = 0; w < NEG_WAYS; w++) {
		if (set[w].key == key) {
			victim = &set[w];
			break;
		}
		if (set[w].expires < victim->expires)
			victim = &set[w]; /* the oldest goes */
	}
	victim->key = key;
	victim->expires = now_ms() + NEG_TTL_MS;
	pthread_mutex_unlock(&neg_lock);
}

void maps_after_fork(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	map_lock = fresh;
	atomic_store(&readers, 0); /* the other threads' lookups ended with them */
	neg_lock = fresh;
}
