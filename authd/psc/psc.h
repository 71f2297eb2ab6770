/* Pro Santé Connect relying party, as typed services for both doors (the
 * unix socket's adapters in ipc/psc_req.c, the HTTP endpoints in http/):
 *   provider.c  client secret, HTTP client, discovery, JWKS, ID token and userinfo
 *   login.c     the authorization code flow with PKCE, identity to account
 *   ecps.c      e-CPS push (CIBA poll mode)
 *   clients.c   the HTTP API's service clients */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "access.h"
#include "config.h"
#include "fault.h"
#include "secret.h"
#include "store.h"

#define MM_WUR __attribute__((warn_unused_result))
#define PSC_HANDLE_LEN 64 /* hex characters of a state or e-CPS request id */

/* Reads the client secret; a no-op when PSC is not configured. */
int psc_init(const struct mm_config *c, char *errbuf, size_t errlen) MM_WUR;
void psc_cleanup(void);
bool psc_enabled(const struct mm_config *c);
bool psc_handle_valid(const char *h);

/* Starts a login: *ret_url (malloc'ed) is the authorization request, ret_state
 * the state to bind to the browser. Nonce and PKCE verifier are derived from
 * the state with the shared hash key, so any daemon can finish the flow. */
int psc_login_begin(
	const struct mm_config *c, struct store *s, char **ret_url, char ret_state[SECRET_TOKEN_HEX]) MM_WUR;

/* The outcome of a verified PSC authentication. */
struct psc_identity {
	char sub[256];
	char national_id[64]; /* SubjectNameID / preferred_username (8 + RPPS) */
	char given_name[128];
	char family_name[128];
	char *ref_pro; /* malloc'ed: the SubjectRefPro claim as JSON text, NULL when absent */
	char *account_dn; /* malloc'ed; NULL when no account is linked */
	char login[128];
};
void psc_identity_clear(struct psc_identity *id);

/* Finishes a login: state single use, code exchanged with the derived PKCE
 * verifier, ID token verified, userinfo read, identity mapped. Errors:
 * -EINVAL bad state/code, -EACCES token refused (*ret_why), -ENOLINK no linked
 * account (identity filled), -EPERM account not active, -EHOSTUNREACH provider
 * unreachable or failing. */
int psc_login_finish(const struct mm_config *c, struct store *s, const char *state, const char *code,
	struct psc_identity *ret, const char **ret_why) MM_WUR;

/* Consumes a state after the provider reported an error. */
void psc_login_abort(const struct mm_config *c, struct store *s, const char *state);

/* --- e-CPS push (CIBA poll mode), ecps.c: typed services for both doors --- */

struct ecps_start {
	char request_id[SECRET_TOKEN_HEX];
	char binding_message[16];
	unsigned interval;
	unsigned expires_in;
};
/* What ecps_start reads on the account (plus accounts_identity_attrs). */
extern const char *const ecps_account_attrs[];
/* Sends a push to account, which the door found and authorised (the unix
 * socket's table: the caller's own account, an administrator's any; an HTTP
 * service client names any account, the approval on the phone is the
 * proof). Audited as "ecps-start" for who. Refusals (f): -ENOENT a BAL ORG
 * or a person unknown to Pro Santé Connect (fact reason "unknown_user");
 * -EPERM account not active (reason pending|suspended|closed) or without a
 * national id (reason "no_national_id"); -ENOSYS not configured;
 * -EHOSTUNREACH provider unreachable or failing. */
int ecps_start(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *account, struct ecps_start *ret, struct fault *f) MM_WUR;

enum ecps_state { ECPS_PENDING, ECPS_SLOW_DOWN, ECPS_DENIED, ECPS_EXPIRED, ECPS_DONE };
const char *ecps_state_name(enum ecps_state st);
struct ecps_result {
	enum ecps_state state;
	char *account_dn; /* ECPS_DONE: the approved account (malloc'ed) */
	char login[128]; /* ECPS_DONE: its login */
	const char *why; /* a refusal's cause, English, for the audit and the HTTP answer */
};
void ecps_result_clear(struct ecps_result *r);
/* Polls the provider for the request request_id started. collect is the
 * access (access.h) under which who may collect an approval: ACCESS_SELF
 * on the unix socket (the account's own user; an administrator any),
 * ACCESS_PUBLIC for an HTTP service client. A request who may not collect
 * answers as an unknown one: ECPS_EXPIRED, nothing sent to the provider.
 * A denied or expired request is forgotten; an approved one is consumed
 * (single use). Refusals (f): -EINVAL request_id malformed (field), -EACCES
 * the approving identity is not the account's or its answer was refused,
 * -EPERM account no longer active, -ENOSYS, -EHOSTUNREACH, directory errors. */
int ecps_poll(struct store *s, const struct mm_config *c, const struct caller *who, enum access collect,
	const char *request_id, struct ecps_result *ret, struct fault *f) MM_WUR;

/* --- the HTTP API's service clients, clients.c --- */

/* Registers client id with a fresh secret (ret_secret, shown once). -EINVAL
 * bad id (field "id"), -EEXIST. Audited "service-add". */
int clients_add(struct store *s, const struct mm_config *c, const struct caller *who, const char *id,
	char ret_secret[SECRET_TOKEN_HEX], struct fault *f) MM_WUR;
/* -EINVAL bad id, -ENOENT unknown. Audited "service-remove". */
int clients_remove(struct store *s, const struct mm_config *c, const struct caller *who, const char *id,
	struct fault *f) MM_WUR;
