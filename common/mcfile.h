/* The memory-mapped passwd/group cache: file format, builder (daemon side) and bounds-checked reader (NSS module). */
#pragma once

#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * One file per map ("passwd", "group") in the cache directory. The daemon
 * builds a complete new file, renames it over the old one, then sets the old
 * file's "stale" flag; a file is never modified in place otherwise. Readers
 * keep a private copy of the validated header fields, and for every answer:
 * find the record through a hash chain (every offset bounds-checked, chain
 * length bounded), copy the record out, verify its checksum and guard, then
 * re-check that the file is still current (generation unchanged, not stale).
 * Anything odd is reported as a miss and the caller asks the daemon instead.
 *
 * Layout (host byte order: the file never leaves the machine):
 *   struct mc_header
 *   MC_TABLES bucket arrays of nbuckets u32 (offset of a chain's first record, 0 = empty)
 *   records, each 8-byte aligned: struct mc_rec, u32 ids[nids], nstrs NUL-terminated strings
 *
 * Tables:   passwd: 0 login, 1 login e-mail (ASCII lower case), 2 uid
 *           group:  0 group name, 1 gid, 2 member login (memberof records)
 * Records:  MC_REC_PW        id=uid id2=gid; strings login, mail ("" if none), gecos, dir, shell
 *           MC_REC_GR        id=gid; strings name, member logins...
 *           MC_REC_MEMBEROF  ids = gids of the groups of the user; strings login (the daemon
 *                            writes one for every user, empty for a user in no group)
 *
 * Changed keys: a file with MC_FLAG_CHANGES has beside it "passwd.changed" / "group.changed",
 * files of the same format and kind whose records name the keys (login, e-mail, uid; group
 * name, gid, memberof login) that changed in the directory since it was built. One change
 * rewrites only that small file (the same way: new file, rename, old one marked stale); a
 * reader that finds its key there, or finds no usable changed file, asks the daemon. The
 * next full build folds the changes in. Those records carry keys only (empty strings, no ids).
 */

#define MC_MAGIC 0x314d434du /* "MCM1" */
#define MC_VERSION 1u
#define MC_TABLES 3
#define MC_FLAG_ENUMERATE 1u
#define MC_FLAG_CHANGES 2u /* a changed-keys file accompanies this one */
#define MC_REC_MAX (4u << 20)
#define MC_FILE_MAX (1u << 30)
#define MC_BUCKETS_MAX (1u << 24)
#define MC_KEY_MAX 256u

enum mc_kind { MC_PASSWD = 1, MC_GROUP = 2 };
enum mc_rec_kind { MC_REC_PW = 1, MC_REC_GR = 2, MC_REC_MEMBEROF = 3 };

struct mc_header {
	uint32_t magic;
	uint32_t version;
	uint32_t kind;
	uint32_t header_size;
	uint64_t generation;
	uint32_t stale; /* 0, then 1 once a newer file replaced this one (atomic) */
	uint32_t flags;
	uint64_t file_size;
	uint32_t seed; /* of the key hashes */
	uint32_t nbuckets; /* power of two */
	uint32_t nrecords;
	uint32_t ntables;
	uint32_t table_off[MC_TABLES];
	uint32_t data_off;
	uint32_t data_size;
	uint32_t header_sum; /* checksum of the header with stale = 0 and header_sum = 0 */
	uint32_t reserved[4];
};

struct mc_rec {
	uint32_t guard; /* (uint32_t)generation of the file */
	uint32_t len; /* whole record, multiple of 8 */
	uint32_t sum; /* checksum of the record header (sum = 0) and its data */
	uint32_t kind;
	uint32_t next[MC_TABLES];
	uint32_t hash[MC_TABLES];
	uint32_t id;
	uint32_t id2;
	uint32_t nids;
	uint32_t nstrs;
	uint32_t data_len; /* 4 * nids + bytes of the strings */
	uint32_t reserved;
};

_Static_assert(sizeof(struct mc_header) == 96, "mc_header layout");
_Static_assert(sizeof(struct mc_rec) == 64, "mc_rec layout");

/* ---- builder (daemon, tests) ---- */
struct mc_builder;

int mc_builder_new(uint32_t kind, uint32_t seed, struct mc_builder **ret) MM_WUR;
void mc_builder_free(struct mc_builder *b);
/* mail may be NULL or empty. */
int mc_builder_add_pw(struct mc_builder *b, const char *login, const char *mail, uint32_t uid, uint32_t gid,
	const char *gecos, const char *dir, const char *shell) MM_WUR;
int mc_builder_add_gr(struct mc_builder *b, const char *name, uint32_t gid, const char *const *members,
	size_t nmembers) MM_WUR;
int mc_builder_add_memberof(
	struct mc_builder *b, const char *login, const uint32_t *gids, size_t ngids) MM_WUR;
/* Links the chains and returns the whole file image (free() it). */
int mc_builder_finish(
	struct mc_builder *b, uint64_t generation, uint32_t flags, uint8_t **ret, size_t *ret_len) MM_WUR;

/* ---- reader (NSS module) ---- */
struct mc_map {
	const uint8_t *base; /* NULL when not mapped */
	size_t size;
	bool mapped; /* base came from mmap() */
	uint32_t kind, seed, nbuckets, nrecords, flags;
	uint32_t table_off[MC_TABLES];
	uint32_t data_off, data_end;
	uint64_t generation;
};

/* Maps path read-only after checking owner (root or the caller's euid),
 * mode (not group/world writable), size and header. */
int mc_map_open(const char *path, uint32_t kind, struct mc_map *ret) MM_WUR;
/* Validates a header in memory the caller keeps alive (tests, fuzzing). */
int mc_map_memory(const void *p, size_t len, uint32_t kind, struct mc_map *ret) MM_WUR;
void mc_map_close(struct mc_map *m);
/* True while the file is the current one (generation unchanged, not stale). */
bool mc_map_current(const struct mc_map *m);

/*
 * Lookups: 0 found (every string in buf); -ENOENT not in the cache;
 * -ERANGE buf too small (*ret_need, when not NULL, says how much);
 * -EBADMSG the file is damaged; -ESTALE the file was replaced meanwhile.
 * A name containing '@' is looked up as a login e-mail.
 */
int mc_getpwnam(const struct mc_map *m, const char *name, struct passwd *ret, char *buf, size_t buflen,
	size_t *ret_need) MM_WUR;
int mc_getpwuid(const struct mc_map *m, uint32_t uid, struct passwd *ret, char *buf, size_t buflen,
	size_t *ret_need) MM_WUR;
int mc_getgrnam(const struct mc_map *m, const char *name, struct group *ret, char *buf, size_t buflen,
	size_t *ret_need) MM_WUR;
int mc_getgrgid(const struct mc_map *m, uint32_t gid, struct group *ret, char *buf, size_t buflen,
	size_t *ret_need) MM_WUR;
/* The gids of user's groups, copied into scratch (8-byte aligned); *ret_gids
 * points into scratch. */
int mc_initgroups(const struct mc_map *m, const char *user, void *scratch, size_t scratchlen,
	const uint32_t **ret_gids, size_t *ret_n, size_t *ret_need) MM_WUR;

/* Hashes and checksums of the format (exposed for tests). */
uint32_t mc_hash_str(uint32_t seed, const char *s, size_t n);
uint32_t mc_hash_id(uint32_t seed, uint32_t id);
