/* Inside libnss_medimail: the memory-mapped cache files (shared between threads without a lock
 * on the read path) and the negative cache of the daemon's "no such entry". */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "mcfile.h"

#define NO_MAP (-ENODATA) /* no usable cache file */

/* The cache files, and beside each the keys changed since it was built (mcfile.h). */
enum { MAP_PASSWD, MAP_GROUP, MAP_PASSWD_CHANGED, MAP_GROUP_CHANGED, MAP_N };

typedef int (*map_fn)(const struct mc_map *m, void *arg);

/* Runs fn on the current map idx: its result, or NO_MAP when there is no usable file. fn
 * checks the generation after its copy (-ESTALE); a miss on a map that is no longer current
 * is asked again of the new file. */
int with_map(int idx, map_fn fn, void *arg);

/* Names and ids the daemon said do not exist, kept NEG_TTL_MS (maps.c). */
enum { NEG_PWNAM = 1, NEG_PWUID, NEG_GRNAM, NEG_GRGID, NEG_INIT };
bool neg_hit(int kind, const char *name, uint32_t id);
void neg_add(int kind, const char *name, uint32_t id);

/* CLOCK_MONOTONIC_COARSE in milliseconds. */
long long now_ms(void);
/* In the child after fork(): the locks start afresh, no reader is counted. */
void maps_after_fork(void);
