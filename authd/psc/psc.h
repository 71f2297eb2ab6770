/* Pro Santé Connect relying party, and a second, generic OpenID Connect
 * identity provider (PASS Occitanie) beside it, as typed services for both
 * doors (the unix socket's adapters in ipc/psc_req.c, the HTTP endpoints in
 * http/):
 *   provider.c  the provider table: client secret, HTTP client (mutual TLS
 *               towards PSC), discovery, JWKS, ID token and userinfo
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

/* The providers of the table. PSC has CIBA (e-CPS), acr eidas1 and the
 * RPPS; the generic one is configured by issuer, client, scopes and the claim
 * that identifies the person (oidc_* options). */
enum idp { IDP_PSC, IDP_OIDC };
#define IDP_N 2

/* Reads the client secrets and checks PSC's TLS client key (root-only, the
 * certificate's), at start and at each reload; a no-op for a provider that
 * is not configured. On failure nothing changes (*errbuf says why). */
int psc_init(const struct mm_config *c, char *errbuf, size_t errlen) MM_WUR;
void psc_cleanup(void);
bool psc_enabled(const struct mm_config *c);
bool idp_enabled(const struct mm_config *c, enum idp id);
/* The provider's short name (links are stored under it: "psc", oidc_name)
 * and the name a person reads. */
const char *idp_name(const struct mm_config *c, enum idp id);
const char *idp_label(const struct mm_config *c, enum idp id);
/* The label of the provider a link names; the name itself for a provider no
 * longer configured. */
const char *idp_label_by_name(const struct mm_config *c, const char *name);
/* Why the last call of this thread to a provider failed (TLS refused, no
 * client certificate, unreachable), "" when it did not: for the log. */
const char *idp_transport_error(void);
bool psc_handle_valid(const char *h);

/* Starts a login at provider idp: *ret_url (malloc'ed) is the authorization
 * request, ret_state the state to bind to the browser. Nonce and PKCE
 * verifier are derived from the state with the shared hash key, so any
 * daemon can finish the flow; the state is recorded as this provider's. */
int idp_login_begin(const struct mm_config *c, struct store *s, enum idp idp, char **ret_url,
	char ret_state[SECRET_TOKEN_HEX]) MM_WUR;

static inline int psc_login_begin(
	const struct mm_config *c, struct store *s, char **ret_url, char ret_state[SECRET_TOKEN_HEX])
{
	return idp_login_begin(c, s, IDP_PSC, ret_url, ret_state);
}

/* The outcome of a verified authentication at a provider. */
struct psc_identity {
	enum idp idp; /* the provider that vouched for it */
	char subject[256]; /* what the link holds: PSC's sub, or the identifying claim */
	char sub[256];
	char national_id[64]; /* SubjectNameID / preferred_username (8 + RPPS) */
	char given_name[128];
	char family_name[128];
	char *ref_pro; /* malloc'ed: the SubjectRefPro claim as JSON text, NULL when absent */
	char *account_dn; /* malloc'ed; NULL when no account is linked */
	char login[128];
};
void psc_identity_clear(struct psc_identity *id);

/* Finishes a login at provider idp: state single use and this provider's,
 * code exchanged with the derived PKCE verifier, ID token verified against
 * this provider's issuer, client id and keys, userinfo read, identity mapped
 * through this provider's links (PSC: else the PER account of the RPPS).
 * Errors: -EINVAL bad state/code (a state another provider issued is
 * unknown here), -EACCES token refused (*ret_why), -ENOLINK no linked account
 * (identity filled), -EPERM account not active, -EHOSTUNREACH provider
 * unreachable or failing. */
int idp_login_finish(const struct mm_config *c, struct store *s, enum idp idp, const char *state,
	const char *code, struct psc_identity *ret, const char **ret_why) MM_WUR;

static inline int psc_login_finish(const struct mm_config *c, struct store *s, const char *state,
	const char *code, struct psc_identity *ret, const char **ret_why)
{
	return idp_login_finish(c, s, IDP_PSC, state, code, ret, ret_why);
}

/* Consumes a state after the provider reported an error. */
void idp_login_abort(const struct mm_config *c, struct store *s, enum idp idp, const char *state);

static inline void psc_login_abort(const struct mm_config *c, struct store *s, const char *state)
{
	idp_login_abort(c, s, IDP_PSC, state);
}

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
/* Forgets the pending request request_id (the user cancelled the wait): a later
 * approval on the phone finds nothing to collect. Under the same rule as
 * ecps_poll: someone else's request, or one already gone, answers 0 and stays
 * as it was. Sets *ret_cancelled when a request was dropped. */
int ecps_cancel(struct store *s, const struct mm_config *c, const struct caller *who, enum access collect,
	const char *request_id, bool *ret_cancelled, char ret_login[128], struct fault *f) MM_WUR;

/* --- the HTTP API's service clients, clients.c --- */

/* Registers client id with a fresh secret (ret_secret, shown once). -EINVAL
 * bad id (field "id"), -EEXIST. Audited "service-add". */
int clients_add(struct store *s, const struct mm_config *c, const struct caller *who, const char *id,
	char ret_secret[SECRET_TOKEN_HEX], struct fault *f) MM_WUR;
/* -EINVAL bad id, -ENOENT unknown. Audited "service-remove". */
int clients_remove(struct store *s, const struct mm_config *c, const struct caller *who, const char *id,
	struct fault *f) MM_WUR;
