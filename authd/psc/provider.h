/* The identity providers as the relying party talks to them, one table
 * (Pro Santé Connect, a generic OpenID Connect provider): the client
 * secret, the HTTP client (mutual TLS towards PSC), discovery, the JWKS and
 * the verification of what each provider signs, with its own keys, issuer
 * and client id. Shared by the login flow (login.c) and e-CPS (ecps.c); not
 * for use outside psc/. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "psc.h"

/* A provider's answer. */
struct psc_resp {
	long status;
	char ctype[128];
	char *body;
	size_t len;
	bool too_big;
};

enum psc_endpoint { PSC_EP_AUTHORIZATION, PSC_EP_TOKEN, PSC_EP_USERINFO, PSC_EP_JWKS, PSC_EP_CIBA, PSC_EP_N };

/* One provider of the table, as the configuration describes it (pointers
 * into the configuration). */
struct idp_conf {
	enum idp id;
	const char *name, *label, *issuer, *discovery_url, *discovery_path;
	const char *client_id, *secret_file, *redirect_uri, *scope;
	const char *acr; /* NULL: not asked, not checked */
	const char *subject_claim; /* NULL: PSC's sub and national id */
	const char *ep[PSC_EP_N]; /* configured endpoints (NULL: discovered) */
	bool userinfo;
	bool mtls; /* client certificate on every call */
};
void idp_conf_of(const struct mm_config *c, enum idp id, struct idp_conf *ret);

long long psc_now(void);
/* The endpoint from the configuration, else from discovery (malloc'ed); NULL
 * when it cannot be had (CIBA is PSC's only). */
char *idp_endpoint(const struct mm_config *c, enum idp id, enum psc_endpoint ep);
/* One call: a POST of form when given (else a GET), with client_secret_basic
 * (client_auth) or a bearer token; with PSC's client certificate when
 * psc_mtls. -EHOSTUNREACH unreachable, TLS refused or a URL that is neither
 * https nor loopback http (idp_transport_error() says which). */
int idp_call(const struct mm_config *c, enum idp id, const char *url, const char *form, bool client_auth,
	const char *bearer, struct psc_resp *ret) MM_WUR;

static inline char *psc_endpoint(const struct mm_config *c, enum psc_endpoint ep)
{
	return idp_endpoint(c, IDP_PSC, ep);
}

static inline int psc_call(const struct mm_config *c, const char *url, const char *form, bool client_auth,
	const char *bearer, struct psc_resp *ret)
{
	return idp_call(c, IDP_PSC, url, form, client_auth, bearer, ret);
}
/* The answer as a JSON object, NULL when it is none. */
json_t *psc_resp_json(const struct psc_resp *r);
void psc_resp_free(struct psc_resp *r);
/* Verifies the ID token of a token response of provider idp (nonce NULL:
 * none expected), reads userinfo when configured and fills id (not
 * account_dn/login). -EACCES refused (*why), -EHOSTUNREACH. */
int idp_identity_from(const struct mm_config *c, enum idp idp, const json_t *tok, const char *nonce,
	struct psc_identity *id, const char **why) MM_WUR;

static inline int psc_identity_from(const struct mm_config *c, const json_t *tok, const char *nonce,
	struct psc_identity *id, const char **why)
{
	return idp_identity_from(c, IDP_PSC, tok, nonce, id, why);
}
/* A form value, URL-encoded (curl_free). */
char *psc_esc(const char *v);
