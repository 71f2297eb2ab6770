/* The Pro Santé Connect provider as the relying party talks to it: the
 * client secret, the HTTP client, discovery, the JWKS and the verification
 * of what the provider signs. Shared by the login flow (login.c) and e-CPS
 * (ecps.c); not for use outside psc/. */
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

enum psc_endpoint { PSC_EP_AUTHORIZATION, PSC_EP_TOKEN, PSC_EP_USERINFO, PSC_EP_JWKS, PSC_EP_CIBA };

long long psc_now(void);
/* The endpoint from the configuration, else from discovery (malloc'ed); NULL
 * when it cannot be had. */
char *psc_endpoint(const struct mm_config *c, enum psc_endpoint ep);
/* One call: a POST of form when given (else a GET), with client_secret_basic
 * (client_auth) or a bearer token. -EHOSTUNREACH unreachable or a URL that is
 * neither https nor loopback http. */
int psc_call(const struct mm_config *c, const char *url, const char *form, bool client_auth,
	const char *bearer, struct psc_resp *ret) MM_WUR;
/* The answer as a JSON object, NULL when it is none. */
json_t *psc_resp_json(const struct psc_resp *r);
void psc_resp_free(struct psc_resp *r);
/* Verifies the ID token of a token response (nonce NULL: none expected),
 * reads userinfo when configured and fills id (not account_dn/login).
 * -EACCES refused (*why), -EHOSTUNREACH. */
int psc_identity_from(const struct mm_config *c, const json_t *tok, const char *nonce,
	struct psc_identity *id, const char **why) MM_WUR;
/* A form value, URL-encoded (curl_free). */
char *psc_esc(const char *v);
