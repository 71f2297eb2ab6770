/* ou=sessions records (records.c, sessions.c) and the API service clients of ou=services, stored hashed. */
#pragma once

#include <pthread.h>
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

/* What opening a session needs; strings may be NULL except method and one
 * of user_dn, account_dn. user_dn: the account that logged in (NULL: the
 * account itself); account_dn: the account the session acts as, NULL for a
 * session of no use yet (introspected as inactive) until record_set_account. */
struct session_open_args {
	const char *account_dn;
	const char *user_dn;
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
/* Forgets the cached verification of token (its record was changed). */
void session_cache_forget(const char *token);
/* Drops every cached verification (tests, reload). */
void session_cache_clear(void);
/* The directory said (store/follow.h) that an ou=sessions entry changed or went: dn is its name
 * (NULL: anything may have changed: drop everything). */
void session_cache_record_changed(const char *dn);
/* The directory said that the account entry dn changed (locked, disabled...): the sessions of
 * that account are verified again at their next use (NULL: all of them). */
void session_cache_account_changed(const char *dn);

/* Drops the cached verifications of service clients (one was removed, maybe on another daemon). */
void service_cache_clear(void);
/* A service client: id [a-z0-9][a-z0-9._-]{0,62}. */
bool service_id_valid(const char *id);
/* Adds a service client with a fresh secret (written to ret_secret, shown once). */
int service_add(
	struct store *s, const struct mm_config *c, const char *id, char ret_secret[SECRET_TOKEN_HEX]) MM_WUR;
int service_remove(struct store *s, const struct mm_config *c, const char *id) MM_WUR;
/* 0 when id/secret is a registered client; -EACCES otherwise. */
int service_verify(struct store *s, const struct mm_config *c, const char *id, const char *secret) MM_WUR;

/* --- the one encoding of an ou=sessions record ------------------------------
 *
 * Every record under ou=sessions is an mmSession entry written and read here:
 *   mmSessionId       keyed hash of its handle; the hashing context is the
 *                     record's kind, so a handle of one kind never finds a
 *                     record of another
 *   description       the kind ("session", "pam-txn", "pam-session",
 *                     "psc-link", "psc-state", "ecps"), and for a flow its
 *                     opaque data as a second value "data:<text>"
 *   mmSessionUser     the account that logged in (may be absent)
 *   mmSessionAccount  the account it acts as (may be absent)
 *   mmSessionExpires  end of life; records_sweep() removes the expired ones
 *   mmSessionMethod   login method or step (IA5; may be absent); a flow's kind
 *   mmSessionService, mmSessionRemote  who opened it (IA5, audit only)
 * (card/pins.c's PIN counters, mmCardPinCount, live beside them and are swept too.) */
#define RECORD_SESSION "session" /* HTTP API session tokens */
#define RECORD_TXN "pam-txn" /* a login between its password step and its code */
#define RECORD_PAM_SESSION "pam-session" /* a PAM session handle */
#define RECORD_PSC_LINK "psc-link" /* an unmapped PSC identity: its link or registration offer */

struct record {
	const char *user_dn;
	const char *account_dn;
	const char *method;
	const char *service; /* kept only when printable ASCII, 128 bytes at most */
	const char *remote; /* likewise */
	const char *data; /* flows only */
	long long expires; /* absolute, seconds */
};

/* The DN of the record whose mmSessionId is id (malloc'ed; NULL: ENOMEM). */
char *records_dn(const struct mm_config *c, const char *id);
/* Writes the record of kind under handle (any text; the caller checks its shape). */
int record_put(struct store *s, const struct mm_config *c, const char *kind, const char *handle,
	const struct record *rec) MM_WUR;
/* The same under a fresh handle (64 hex + NUL, written to ret_handle on success only). */
int record_create(struct store *s, const struct mm_config *c, const char *kind, const struct record *rec,
	char ret_handle[SECRET_TOKEN_HEX]) MM_WUR;
/* Reads a live record of this kind (all the attributes above): -ENOENT when
 * unknown or of another kind, -ETIMEDOUT when expired (then deleted). */
int record_load(struct store *s, const struct mm_config *c, const char *kind, const char *handle,
	struct entry **ret) MM_WUR;
/* The data of a loaded flow record, NULL when it has none. */
const char *record_data(const struct entry *e);
/* Changes a loaded record's method and expiry (method NULL: unchanged). */
int record_update(struct store *s, const struct entry *e, const char *method, long long expires) MM_WUR;
/* A compare-and-swap of a record whose mmSessionMethod says its version: in
 * one modify, old_method is deleted (the value read), new_method added, the
 * data and the expiry replaced. -ESTALE when another request changed the
 * record since it was read, -ENOENT when it is gone: then nothing changed. */
struct record_swap {
	const char *old_method;
	const char *new_method;
	const char *data;
	long long expires;
};
int record_swap(struct store *s, const struct mm_config *c, const char *kind, const char *handle,
	const struct record_swap *w) MM_WUR;
/* Points a loaded record at another account (Changer de compte). */
int record_set_account(struct store *s, const struct entry *e, const char *account_dn) MM_WUR;
/* Deletes a loaded record; -ENOENT when another request deleted it first. */
int record_delete(struct store *s, const struct entry *e) MM_WUR;
/* Removes at most max expired records (any kind); returns how many, or a
 * negative errno. Run on a timer by the daemon (main.c), never from a request. */
int records_sweep(struct store *s, const struct mm_config *c, size_t max);

/* Starts the thread that runs records_sweep (200 records at most) once a
 * minute, on *s and *c read under lock held shared (a reload swaps them
 * under it held exclusively), until records_sweeper_stop(). */
int records_sweeper_start(struct store *const *s, struct mm_config *const *c, pthread_rwlock_t *lock) MM_WUR;
void records_sweeper_stop(void);

/* Generic single-use, expiring records for flows that another daemon may
 * finish (PSC login state, e-CPS requests, PSC link offers). */
int flow_put(struct store *s, const struct mm_config *c, const char *kind, const char *handle,
	const char *account_dn, const char *data, unsigned ttl) MM_WUR;
/* Reads a live record of this kind; *ret_account_dn and *ret_data are malloc'ed
 * (NULL when absent). -ENOENT unknown or expired. */
int flow_get(struct store *s, const struct mm_config *c, const char *kind, const char *handle,
	char **ret_account_dn, char **ret_data) MM_WUR;
/* Deletes it; -ENOENT when another request consumed it first (single use). */
int flow_take(struct store *s, const struct mm_config *c, const char *kind, const char *handle) MM_WUR;

/* The login e-mail's claim. slapd's unique overlay searches before it
 * writes, so two accounts taking one address at the same moment both pass
 * it: whoever gives an account an address (a registration of any kind, a
 * login e-mail change) first adds the record named by the address, folded
 * (one add succeeds), then checks that no account has it and writes, then
 * drops the claim. 0 with the claim held and its key (the folded address)
 * in key; -EBUSY when another request holds it (key emptied). */
#define RECORD_MAIL_CLAIM "email-claim"
#define MAIL_CLAIM_TTL 30
int mail_claim_take(
	struct store *s, const struct mm_config *c, const char *mail, char *key, size_t keysz) MM_WUR;
/* Drops the claim of key (empty: none); on failure it expires on its own. */
void mail_claim_drop(struct store *s, const struct mm_config *c, const char *key);
/* The same for any value an account alone may have (the RPPS at
 * registration: RECORD_RPPS_CLAIM), the claim's kind naming the value. */
#define RECORD_RPPS_CLAIM "rpps-claim"
int record_claim_take(struct store *s, const struct mm_config *c, const char *kind, const char *value,
	char *key, size_t keysz) MM_WUR;
void record_claim_drop(struct store *s, const struct mm_config *c, const char *kind, const char *key);
