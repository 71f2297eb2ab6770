/* The grant cache's kept versions (grants.c): a struct oidc_grant packed into the bytes it uses. */
#pragma once

#include <stddef.h>

#include "oidc.h"

/* A kept version, parsed once and packed: each string of struct oidc_grant as its length and
 * its bytes, the numbers as they are. The struct is 4.5 KB of mostly unused arrays; a grant
 * with a short client id, scope and DN and one refresh token packs in about 700 bytes, so 8192
 * slots of such grants hold ~6 MB instead of ~37 MB (a grant with every field at its longest
 * still takes as much as the struct). */
struct kept_grant {
	unsigned long long serial;
	size_t len;
	unsigned char b[];
};

/* g packed (NULL: out of memory); free it with kept_grant_free. */
struct kept_grant *grant_pack(const struct oidc_grant *g);
/* *g as it was packed: every byte the same as when it was parsed (zero past each string). */
void grant_unpack(const struct kept_grant *k, struct oidc_grant *g);
/* Wipes (keyed hashes only, but wiped as every value read from ou=sessions is) and frees k. */
void kept_grant_free(struct kept_grant *k);
