/* The directory: a small pool of LDAP connections to slapd and the operations the daemon needs. */
#pragma once

#include <ldap.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define MM_WUR __attribute__((warn_unused_result))

struct store;

struct attr {
	char *name;
	size_t nvals;
	char **vals;
};

struct entry {
	char *dn;
	size_t nattrs;
	struct attr *attrs;
	size_t packed_size; /* entries read from slapd are one allocation of this size */
};

int store_new(const struct mm_config *c, struct store **ret) MM_WUR;
void store_free(struct store *s);
/* Where attempt counters and locks are reserved and written: the provider
 * of ldap_lockout_uri, one for every daemon of a replicated directory (a
 * counter incremented on two providers at once is only as atomic as each
 * one), else s itself. */
struct store *store_counters(struct store *s);
/* Closes every connection (after slapd restarts or on SIGHUP). */
void store_reset(struct store *s);

const char *entry_get(const struct entry *e, const char *attr);
/* The value of a DN's first RDN when its attribute is attr: "attr=value,..." into out (escaped
 * values, which no record id or login has, are refused; as is one of outsz bytes or more). */
bool dn_rdn_value(const char *dn, const char *attr, char *out, size_t outsz);
const struct attr *entry_attr(const struct entry *e, const char *attr);
bool entry_has_value(const struct entry *e, const char *attr, const char *value);
void entry_free(struct entry *e);
void entries_free(struct entry **v, size_t n);

/* Searches; at most max entries (0: no limit). -EHOSTDOWN when slapd is unreachable. */
int store_search(struct store *s, const char *base, int scope, const char *filter, const char *const *attrs,
	size_t max, struct entry ***ret, size_t *ret_n) MM_WUR;
/* Streams every matching entry to each() as it arrives from slapd, never
 * holding more than one: for exports of any size.  A negative return of
 * each() abandons the search and is returned.  *ret_n: entries passed. */
typedef int (*store_each_fn)(const struct entry *e, void *ctx);
int store_search_each(struct store *s, const char *base, int scope, const char *filter,
	const char *const *attrs, store_each_fn each, void *ctx, size_t *ret_n) MM_WUR;
/* The same for at most max entries (max > 0), the whole answer within ldap_timeout: an answer
 * made while slapd still sends, such as the directory's typeahead. slapd's "size limit
 * exceeded" is no error: it returns 1 (after max entries, or fewer if slapd's own limit for
 * the daemon is lower), 0 when the answer was whole. An answer cut or refused after its first
 * entry is -EIO, not retried (in both functions). */
int store_search_each_max(struct store *s, const char *base, int scope, const char *filter,
	const char *const *attrs, size_t max, store_each_fn each, void *ctx, size_t *ret_n) MM_WUR;
/* Every matching entry; -E2BIG when a server size limit cut the answer
 * (the daemon's identity needs "limits ... size=unlimited" in slapd). */
int store_search_all(struct store *s, const char *base, int scope, const char *filter,
	const char *const *attrs, struct entry ***ret, size_t *ret_n) MM_WUR;
/* Exactly one entry, else -ENOENT (none) or -ENOTUNIQ (several). */
int store_search_one(struct store *s, const char *base, int scope, const char *filter,
	const char *const *attrs, struct entry **ret) MM_WUR;
int store_read(struct store *s, const char *dn, const char *const *attrs, struct entry **ret) MM_WUR;
/* Number of entries matching (up to max+1, to tell "more than max"). */
int store_count(struct store *s, const char *base, const char *filter, size_t max, size_t *ret) MM_WUR;

/* A list of modifications under construction. */
struct mods {
	LDAPMod **v;
	size_t n, cap;
	int err;
};
void mods_init(struct mods *m);
/* op: LDAP_MOD_ADD / LDAP_MOD_REPLACE / LDAP_MOD_DELETE / LDAP_MOD_INCREMENT.
 * value NULL with DELETE/REPLACE removes the attribute. Skipped when value is
 * NULL or empty with ADD. */
void mods_add(struct mods *m, int op, const char *attr, const char *value);
void mods_addf(struct mods *m, int op, const char *attr, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Wipes values (they may hold password hashes) and frees. */
void mods_free(struct mods *m);

/* What base would hold once m is written (base NULL: the entry m adds), in
 * memory: ADD appends, REPLACE sets, DELETE removes; freed with entry_free. */
int entry_apply(const struct entry *base, const struct mods *m, struct entry **ret) MM_WUR;

int store_add(struct store *s, const char *dn, struct mods *m) MM_WUR;
int store_modify(struct store *s, const char *dn, struct mods *m) MM_WUR;
int store_delete(struct store *s, const char *dn) MM_WUR;
/* Atomically adds delta to an integer attribute and returns the new value
 * (LDAP modify-increment with the post-read control). */
int store_increment(
	struct store *s, const char *dn, const char *attr, long long delta, long long *ret_value) MM_WUR;
/* Reserves one attempt: adds 1 to attr (created at 0 when absent) only if
 * the entry matches the assertion filter, in one LDAP operation (RFC 4528),
 * so that parallel requests cannot all pass a check made before they act.
 * -ECANCELED when the entry does not match; *ret_value: the new count. */
int store_reserve(struct store *s, const char *dn, const char *attr, const char *assertion,
	long long *ret_value) MM_WUR;
/* Adds delta to attr only if the entry matches the assertion filter, in one
 * operation: -ECANCELED when it does not, -ESTALE when attr is absent. */
int store_increment_if(struct store *s, const char *dn, const char *attr, long long delta,
	const char *assertion, long long *ret_value) MM_WUR;

/* RFC 4515 escaping of a filter value; the result is freed with free(). */
char *store_escape(const char *value);
/* RFC 4514 escaping of an RDN value. */
char *store_escape_dn(const char *value);
/* GeneralizedTime "YYYYmmddHHMMSSZ" of t, and back (-1 on error). */
void store_time(long long t, char out[16]);
long long store_parse_time(const char *s);
