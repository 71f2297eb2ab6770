/* Session tokens and API service clients, stored hashed under ou=sessions and ou=services. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "secret.h"
#include "store.h"

#define MM_WUR __attribute__((warn_unused_result))
#define SESSION_TOKEN_LEN 64 /* hex characters of a session token */

struct session_info {
	char login[128]; /* uid of the account the session acts as */
	char mss_address[256]; /* empty when the account has none */
	char method[32]; /* password, ecps, psc, ... */
	char service[64]; /* API client or PAM service that opened it */
	long long iat, exp;
};

/* What opening a session needs; strings may be NULL except account_dn and method. */
struct session_open_args {
	const char *account_dn;
	const char *method;
	const char *service;
	const char *remote;
};

/* Creates a session for an active account; writes the token (SESSION_TOKEN_LEN
 * hex + NUL) and its expiry. The token itself is never stored. */
int session_open(struct store *s, const struct mm_config *c, const struct session_open_args *a,
	char ret_token[SECRET_TOKEN_HEX], long long *ret_exp) MM_WUR;
/* 0 and *ret filled when the token is a live session of an active account;
 * -ENOENT unknown, revoked or expired; -EINVAL malformed; -EHOSTDOWN. A
 * verified token is trusted from memory for session_cache_ttl seconds. */
int session_introspect(
	struct store *s, const struct mm_config *c, const char *token, struct session_info *ret) MM_WUR;
/* Deletes the session; -ENOENT when there was none. */
int session_revoke(struct store *s, const struct mm_config *c, const char *token) MM_WUR;
/* Drops every cached verification (tests, reload). */
void session_cache_clear(void);

/* A service client: id [a-z0-9][a-z0-9._-]{0,62}. */
bool service_id_valid(const char *id);
/* Adds a service client with a fresh secret (written to ret_secret, shown once). */
int service_add(
	struct store *s, const struct mm_config *c, const char *id, char ret_secret[SECRET_TOKEN_HEX]) MM_WUR;
int service_remove(struct store *s, const struct mm_config *c, const char *id) MM_WUR;
/* 0 when id/secret is a registered client; -EACCES otherwise. */
int service_verify(struct store *s, const struct mm_config *c, const char *id, const char *secret) MM_WUR;

/* Generic single-use, expiring records under ou=sessions for flows that another
 * daemon may finish (PSC login state, e-CPS requests): keyed by the hash of a
 * random handle; data is opaque text kept in "description". */
int flow_put(struct store *s, const struct mm_config *c, const char *kind, const char *handle,
	const char *account_dn, const char *data, unsigned ttl) MM_WUR;
/* Reads a live record of this kind; *ret_account_dn and *ret_data are malloc'ed
 * (NULL when absent). -ENOENT unknown or expired. */
int flow_get(struct store *s, const struct mm_config *c, const char *kind, const char *handle,
	char **ret_account_dn, char **ret_data) MM_WUR;
/* Deletes it; -ENOENT when another request consumed it first (single use). */
int flow_take(struct store *s, const struct mm_config *c, const char *kind, const char *handle) MM_WUR;
