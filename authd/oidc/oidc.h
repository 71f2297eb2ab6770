/* The OpenID Connect provider: signing keys, registered clients, authorization codes, tokens and claims. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "access.h"
#include "config.h"
#include "fault.h"
#include "records.h"
#include "store.h"

#define MM_WUR __attribute__((warn_unused_result))
#define OIDC_ID_MAX 64
#define OIDC_URIS_MAX 8
#define OIDC_URI_MAX 512
#define OIDC_SCOPE_MAX 256
#define OIDC_NONCE_MAX 256

/* --- keys.c: the signing keys (op_key_file) -------------------------------
 * One file on each host (like hash_key_file, the same on every daemon of a
 * directory): a JSON object {"keys": [{kid, alg, created, retired, pem}]},
 * root-owned (or the daemon's user's) and 0600. The current key of an
 * algorithm is its newest one not retired; retired keys stay published until
 * every token they signed has expired. Re-read when the file changes. */
/* Loads op_key_file, creating it (one ES256 and one RS256 key) when missing;
 * refuses a file with a wider mode or another owner. */
int oidc_keys_init(const struct mm_config *c, char *errbuf, size_t errlen) MM_WUR;
void oidc_keys_cleanup(void);
/* New current keys (ES256 and RS256); the previous ones retired now, keys
 * retired longer than the longest token life dropped. ret_kid: the new ES256 kid. */
int oidc_keys_rotate(const struct mm_config *c, char ret_kid[64], struct fault *f) MM_WUR;
/* The public JWK Set (new reference). */
json_t *oidc_jwks(const struct mm_config *c);
/* A compact JWS of payload with the current key of alg ("ES256", "RS256"). */
int oidc_sign(const struct mm_config *c, const char *alg, const char *typ, const json_t *payload,
	char **ret) MM_WUR;
/* Verifies a JWS signed by one of our published keys. */
int oidc_verify_own(const struct mm_config *c, const char *jwt, json_t **ret_payload) MM_WUR;

/* --- clients.c: registered clients (ou=services, mmClientId "oidc:<id>") --- */
struct oidc_client {
	char id[OIDC_ID_MAX];
	char name[128];
	bool public_client; /* no secret: PKCE S256 required */
	bool first_party; /* no consent screen */
	char auth_method[32]; /* client_secret_basic, client_secret_post, private_key_jwt, none */
	char alg[8]; /* id_token_signed_response_alg */
	size_t nredirect, npost_logout;
	char redirect_uris[OIDC_URIS_MAX][OIDC_URI_MAX];
	char post_logout_uris[OIDC_URIS_MAX][OIDC_URI_MAX];
	char backchannel_logout_uri[OIDC_URI_MAX];
	char *jwks; /* private_key_jwt: the client's public keys (JSON text) */
	char secret_hash[SECRET_HASH_HEX];
};
struct oidc_client_args {
	const char *id, *name, *type, *first_party, *auth_method, *alg;
	const char *redirect_uris, *post_logout_redirect_uris; /* space separated */
	const char *backchannel_logout_uri, *jwks;
};
/* Registers a client; a confidential client with a secret method gets a
 * fresh secret in ret_secret (shown once, stored as a keyed hash), else "". */
int oidc_client_add(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct oidc_client_args *a, char ret_secret[SECRET_TOKEN_HEX], struct fault *f) MM_WUR;
int oidc_client_remove(struct store *s, const struct mm_config *c, const struct caller *who, const char *id,
	struct fault *f) MM_WUR;
/* -ENOENT unknown. */
int oidc_client_get(
	struct store *s, const struct mm_config *c, const char *id, struct oidc_client **ret) MM_WUR;
int oidc_client_list(
	struct store *s, const struct mm_config *c, struct oidc_client ***ret, size_t *ret_n) MM_WUR;
void oidc_client_free(struct oidc_client *cl);
/* Forgets the clients read lately (one was added or removed, here or on another daemon). */
void oidc_client_cache_clear(void);
void oidc_clients_free(struct oidc_client **v, size_t n);
/* 0 when secret is the client's; -EACCES otherwise (constant time). */
int oidc_client_secret_check(const struct oidc_client *cl, const char *secret) MM_WUR;
/* private_key_jwt: the assertion is signed by the client's keys, iss = sub =
 * the client, aud our token endpoint or issuer, not expired, its jti unseen. */
int oidc_client_assertion_check(struct store *s, const struct mm_config *c, const struct oidc_client *cl,
	const char *assertion, const char *issuer, const char *token_endpoint) MM_WUR;
/* Exact match, byte for byte, with a registered URI. */
bool oidc_client_redirect_ok(const struct oidc_client *cl, const char *uri);
bool oidc_client_post_logout_ok(const struct oidc_client *cl, const char *uri);

/* --- grants.c: one ou=sessions record per authorization ---------------------
 * An authorization is a family: its code, then its access and refresh tokens,
 * all in one record (RECORD_OIDC_GRANT) named by the family's handle. Every
 * code and token is that handle (OIDC_FAMILY_HEX - 1 hex) followed by a
 * secret of its own of the same length, which the record keeps as a keyed
 * hash only. Each change of the record (the code exchanged, a rotation, an
 * access token revoked) is one compare-and-swap on its serial (record_swap):
 * of two requests racing with one code or one refresh token, one wins and the
 * other revokes the family (the record deleted) on every daemon writing to
 * the same provider. Two providers (docs/replication.md) each accept their
 * own swap within the replication delay, and replication keeps one version:
 * the race is closed per provider only, as single use was before. */
#define RECORD_OIDC_AUTHZ "oidc-authz" /* an authorization request waiting for the login */
#define RECORD_OIDC_GRANT "oidc-grant"
#define RECORD_OIDC_JTI "oidc-jti"
#define OIDC_FAMILY_HEX 33
#define OIDC_RT_USED_MAX 16 /* rotated refresh tokens remembered, to tell reuse from forgery */

/* What the record says besides the grant itself (grants.c reads and writes it). */
struct oidc_grant_state {
	unsigned long long serial;
	bool live; /* false: the code is not exchanged yet */
	char granted[OIDC_SCOPE_MAX]; /* the scope of the authorization (refreshes may narrow) */
	char code[SECRET_HASH_HEX], at[SECRET_HASH_HEX], at_prev[SECRET_HASH_HEX], rt[SECRET_HASH_HEX];
	char at_scope[OIDC_SCOPE_MAX], at_prev_scope[OIDC_SCOPE_MAX];
	long long code_exp, at_exp, at_prev_exp, rt_exp;
	char rt_used[OIDC_RT_USED_MAX][SECRET_HASH_HEX];
	size_t n_rt_used;
};

/* A field added here or to oidc_grant_state is also added to grant_strings or grant_numbers
 * (grant_pack.c), which pack a kept version: one left out would read back empty from memory. */
struct oidc_grant {
	char client_id[OIDC_ID_MAX];
	char scope[OIDC_SCOPE_MAX]; /* of the token read, or to issue */
	char nonce[OIDC_NONCE_MAX];
	char user_dn[512]; /* the person who logged in */
	char account_dn[512]; /* scope bal_org: the BAL ORG the browser session acted as; empty: none */
	char method[32]; /* the web session's login method */
	long long auth_time;
	char family[OIDC_FAMILY_HEX];
	char sid[SECRET_HASH_HEX]; /* the browser session (keyed hash of its token) */
	char redirect_uri[OIDC_URI_MAX];
	char code_challenge[128];
	long long exp; /* of the token read */
	struct oidc_grant_state rec;
};

/* A pending authorization request (its validated parameters) for the login to finish. */
int oidc_authz_put(struct store *s, const struct mm_config *c, const json_t *params,
	char ret_handle[SECRET_TOKEN_HEX]) MM_WUR;
int oidc_authz_get(struct store *s, const struct mm_config *c, const char *handle, json_t **ret) MM_WUR;
void oidc_authz_drop(struct store *s, const struct mm_config *c, const char *handle);

/* A code for g (a new family). */
int oidc_code_issue(struct store *s, const struct mm_config *c, struct oidc_grant *g,
	char ret_code[SECRET_TOKEN_HEX]) MM_WUR;
/* Checks a code for client_id without changing anything (oidc_tokens_issue
 * consumes it): -EACCES with f saying why (unknown, expired, of another
 * client, other redirect_uri, PKCE: then the code is revoked); a code
 * exchanged before revokes what its first use gave. */
int oidc_code_redeem(struct store *s, const struct mm_config *c, const char *code, const char *client_id,
	const char *redirect_uri, const char *verifier, struct oidc_grant *ret, struct fault *f) MM_WUR;
/* An access token and a refresh token of g's family, in one swap of the record
 * as g->rec read it: -EACCES when another request spent the same code or
 * refresh token meanwhile (the family is revoked) or it is gone; -EAGAIN when
 * the record changed at every try without that (nothing spent). */
int oidc_tokens_issue(struct store *s, const struct mm_config *c, const struct oidc_grant *g,
	char ret_at[SECRET_TOKEN_HEX], char ret_rt[SECRET_TOKEN_HEX]) MM_WUR;
/* A refresh token of client_id, checked (oidc_tokens_issue rotates it): an old
 * one presented again revokes its family; an unknown secret under a real
 * family revokes nothing. */
int oidc_refresh_redeem(struct store *s, const struct mm_config *c, const char *rt, const char *client_id,
	struct oidc_grant *ret, struct fault *f) MM_WUR;
/* A live access token: 0 and *ret; -ENOENT unknown, revoked or expired. */
int oidc_access_check(
	struct store *s, const struct mm_config *c, const char *at, struct oidc_grant *ret) MM_WUR;
/* RFC 7662 for a refresh token: 0 and *ret while it is live, unrotated and
 * client_id's; -ENOENT otherwise. An already rotated one presented here
 * revokes its family, as its reuse at the token endpoint does. */
int oidc_refresh_check(struct store *s, const struct mm_config *c, const char *rt, const char *client_id,
	struct oidc_grant *ret) MM_WUR;
/* RFC 7009: the client's access token (that one alone) or refresh token (its whole family). */
int oidc_token_revoke(
	struct store *s, const struct mm_config *c, const char *token, const char *client_id) MM_WUR;
int oidc_family_revoke(struct store *s, const struct mm_config *c, const char *family) MM_WUR;
/* The directory (store/follow.h) reported the ou=sessions entry dn at version method (its
 * mmSessionMethod; NULL: gone or unknown; dn NULL: anything may have changed): a grant version
 * kept in memory that is not that one is dropped. */
void oidc_grant_cache_changed(const char *dn, const char *method);
/* Every family of client_id revoked (its codes and tokens gone): the client was removed. */
int oidc_client_grants_revoke(struct store *s, const struct mm_config *c, const char *client_id) MM_WUR;

/* --- claims.c: what a grant says of its user -------------------------------- */
/* The claims of user_dn for scope into o: sub (entryUUID), and by scope
 * profile, email, medimail (mss_address, rpps, profession, account_type),
 * orgs (the BAL ORGs the user may open), bal_org (account_dn, the BAL ORG the
 * user acted as at the provider, while the user may still open it). -ENOENT:
 * no active account. account_dn may be NULL. */
int oidc_claims(struct store *s, const struct mm_config *c, const char *user_dn, const char *account_dn,
	const char *scope, json_t *o) MM_WUR;
/* The start of an access token's introspection answer: the claims of user_dn for scope as
 * oidc_claims gives them, less email_verified, with username (= preferred_username), as JSON
 * text "{..." without its closing brace (*ret malloc'd, *ret_len bytes), the members the
 * endpoint writes itself (active, scope, client_id, aud, iss, token_type, exp, auth_time) left
 * out. Kept with the claims, so an answer asked again is a copy. -ENOENT: no active account. */
int oidc_claims_introspection(struct store *s, const struct mm_config *c, const char *user_dn,
	const char *scope, char **ret, size_t *ret_len) MM_WUR;
/* The directory reported a change of the account entry dn (NULL: anything may have changed):
 * the claims given lately of that account, or that name it, are read again. */
void oidc_claims_cache_changed(const char *dn);
/* acr and amr of a login method. */
const char *oidc_acr(const char *method);
json_t *oidc_amr(const char *method);
/* The ID token of g for client cl (signed with its alg); access_token NULL: no at_hash. */
int oidc_id_token(struct store *s, const struct mm_config *c, const struct oidc_client *cl,
	const struct oidc_grant *g, const char *issuer, char **ret) MM_WUR;
/* true when scope (space separated) holds word. */
bool oidc_scope_has(const char *scope, const char *word);

/* --- logout.c ---------------------------------------------------------------- */
/* Ends the browser session whose record id is sid (the ID tokens' sid): its
 * grants' families revoked, the session record deleted, a logout token POSTed
 * to the backchannel_logout_uri of each client that had a grant in it.
 * Returns how many clients had one, or a negative errno. */
int oidc_session_end(struct store *s, const struct mm_config *c, const char *issuer, const char *sid) MM_WUR;
