/* The name-service view of the directory: a snapshot of users and ORG groups, and the memory-mapped cache files written from it. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

struct mc_user {
	char *login;
	char *mail; /* login e-mail, may be NULL */
	char *gecos; /* "Prénom NOM" */
	char *dn;
	uint32_t uid;
};

struct mc_group {
	char *name;
	char *dn;
	uint32_t gid;
	size_t nmembers;
	char **members; /* logins of the active connection accounts */
};

/* Where each entry of a snapshot array is found by a key (mcache.c). */
enum mc_index_kind { MC_IX_USER_DN, MC_IX_GROUP_DN, MC_IX_GROUP_NAME, MC_IX_GROUP_GID, MC_IX_N };

struct mc_index {
	uint64_t *slots;
	size_t mask;
};

struct mc_snapshot {
	atomic_uint refs;
	uint64_t generation;
	struct mc_user *users;
	size_t nusers;
	struct mc_group *groups;
	size_t ngroups;
	unsigned char dn_key[16]; /* keys the indexes' hash (crypto_shorthash_KEYBYTES) */
	struct mc_index index[MC_IX_N];
	unsigned long dirty, gaps; /* mcache.c's counts when its read began (mc_snapshot_current) */
};

/* Reads the active users and ORGs from the directory. */
int mcache_snapshot_load(struct store *s, const struct mm_config *c, struct mc_snapshot **ret) MM_WUR;
void mcache_snapshot_put(struct mc_snapshot *snap);
/* The snapshot's ORG group of that name or gid, or NULL. */
const struct mc_group *mcache_group_by_name(const struct mc_snapshot *s, const char *name);
const struct mc_group *mcache_group_by_gid(const struct mc_snapshot *s, uint32_t gid);
/* The latest snapshot (a reference: mcache_snapshot_put() it), or NULL. */
struct mc_snapshot *mcache_snapshot_get(void);
/* Writes the passwd and group cache files of snap into c->cache_dir. */
int mcache_write(const struct mm_config *c, const struct mc_snapshot *snap) MM_WUR;

/* The entry dn (an account or an ORG) was changed in the directory (through this daemon or, as
 * the follower reports, another one): the keys it had and the keys whose answers it changes
 * (its groups, its members' group lists) are written to the changed-keys files at once, which
 * readers then ask the daemon about until the next full build (mcfile.h). Reads the directory
 * through s (one search); falls back to mcache_invalidate() when it cannot tell what changed. */
void mcache_changed(struct store *s, const struct mm_config *c, const char *dn);
/* What mcache_changed reads of an account (mcache_user_attrs) or an ORG (mcache_org_attrs): the
 * follower asks for them with each change. */
extern const char *const mcache_user_attrs[];
extern const char *const mcache_org_attrs[];
/* The same as mcache_changed, from the follower's thread: the daemon's configuration and
 * directory pool under its reload lock. dn NULL: the follow (re)started, what was missed is
 * unknown: a full build. e: dn as the change left it, with those attributes (not read again);
 * NULL: read from the directory. */
void mcache_followed(const char *dn, const struct entry *e);

/* For each member DN of an ORG, the snapshot's active user of that DN when no change of its
 * account was listed since (users[i] points into snap), else NULL: that member is to be read
 * from the directory. Current only while the directory is followed. */
void mcache_members_current(
	const struct mc_snapshot *snap, char *const *dns, size_t n, const struct mc_user **users);

/* g (of snap) shows what the directory holds: snap is not doubtful (mc_snapshot_current: no
 * unlisted change, no restart of the follow since its read) and no change of the group or of
 * its members' accounts was listed since. Current only while the directory is followed. */
bool mcache_group_current(const struct mc_snapshot *snap, const struct mc_group *g);

/* Home directory of a login from the configured template (%u = login). */
void mcache_home(const struct mm_config *c, const char *login, char *out, size_t outsz);

/* The builder thread: builds at start, every cache_refresh seconds, and
 * after mcache_invalidate(). reload_lock is held shared while it reads the
 * daemon's configuration and directory pool (*cfg, *store: a reload
 * replaces them). */
int mcache_start(
	struct mm_config *const *cfg, struct store *const *store, pthread_rwlock_t *reload_lock) MM_WUR;
void mcache_stop(void);
/* The directory was changed through the daemon: the current files are
 * marked stale at once (readers ask the daemon, which asks the directory),
 * and a rebuild is scheduled. Safe to call when the thread is not running. */
void mcache_invalidate(void);
