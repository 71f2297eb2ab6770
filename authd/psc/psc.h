/* Pro Santé Connect relying party: discovery, authorization code flow with PKCE, e-CPS (CIBA poll mode). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
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

/* e-CPS push. */
struct ecps_start {
	char request_id[SECRET_TOKEN_HEX];
	char binding_message[16];
	unsigned interval;
	unsigned expires_in;
};
/* -ENOENT unknown account, -EPERM not active or no national id. */
int psc_ecps_start(const struct mm_config *c, struct store *s, const char *login, struct ecps_start *ret,
	const char **ret_why) MM_WUR;
enum ecps_state { ECPS_PENDING, ECPS_SLOW_DOWN, ECPS_DENIED, ECPS_EXPIRED, ECPS_DONE };
/* ECPS_DONE: *ret_account_dn (malloc'ed) is the authenticated account. */
int psc_ecps_poll(const struct mm_config *c, struct store *s, const char *request_id,
	enum ecps_state *ret_state, char **ret_account_dn, const char **ret_why) MM_WUR;
const char *ecps_state_name(enum ecps_state st);
