/* Between the two halves of the name-service cache: mcache.c (the snapshot, the files, the
 * builder thread) and changes.c (the changed-keys files). Not for the services. */
#pragma once

#include "mcache.h"

/* A decimal id inside [min, max]; 0 otherwise (0 is never served: it is root). */
uint32_t mc_parse_id(const char *s, unsigned long min, unsigned long max);
/* "Prénom NOM", else cn, else sn, else "" (NULL: out of memory). */
char *mc_gecos(const struct entry *e);
/* "ou=<ou>,<ldap_base>", or NULL. */
char *mc_base(const struct mm_config *c, const char *ou);
/* Indexes the snapshot's users by DN (before its groups are loaded: they name members by DN),
 * or its groups by DN, name and gid, under its dn_key; 0 or -ENOMEM. */
int mc_snap_index_users(struct mc_snapshot *s) MM_WUR;
int mc_snap_index_groups(struct mc_snapshot *s) MM_WUR;
/* The snapshot's active user / ORG of that DN (case-blind), or NULL. */
const struct mc_user *mc_snap_user(const struct mc_snapshot *s, const char *dn);
const struct mc_group *mc_snap_group(const struct mc_snapshot *s, const char *dn);
/* Writes img as dir/name: a new file, renamed over the old one, which is then marked stale. */
int mc_publish(const char *dir, const char *name, const uint8_t *img, size_t len) MM_WUR;
uint64_t mc_next_generation(void);
uint32_t mc_random_seed(void);
/* s is the latest snapshot, and since its read began nothing was invalidated (a change that
 * could not be listed) and the follow did not restart (changes missed meanwhile): what it
 * shows is current but for the keys listed since. */
bool mc_snapshot_current(const struct mc_snapshot *s);
/* A build now when the last one took less than c->cache_fold_ms. */
void mc_build_if_quick(const struct mm_config *c);

/* changes.c: writes the changed-keys files as they stand (before the main files that promise
 * them); the change counter a build's read starts from; and, once that build is served, drops
 * the keys of the changes up to mark (they are in the new files), rewriting the files. */
int mc_changes_publish(const struct mm_config *c) MM_WUR;
/* mcache_changed, with the entry as the change left it when the follower was told it (NULL:
 * read from the directory). */
void mcache_changed_as(struct store *s, const struct mm_config *c, const char *dn, const struct entry *told);
uint64_t mc_changes_mark(void);
void mc_changes_fold(const struct mm_config *c, uint64_t mark);
