/* The OpenID Connect provider's administration over the socket: clients and key rotation. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "oidc.h"
#include "oidc_req.h"
#include "request.h"

int oidc_req_client_add(struct req *r)
{
	static const char *const keys[] = {"id", "name", "type", "first_party", "token_endpoint_auth_method",
		"id_token_signed_response_alg", "redirect_uris", "post_logout_redirect_uris",
		"backchannel_logout_uri", "jwks", "service", "rhost", NULL};
	struct oidc_client_args a = {.id = req_get(r, "id"),
		.name = req_get(r, "name"),
		.type = req_get(r, "type"),
		.first_party = req_get(r, "first_party"),
		.auth_method = req_get(r, "token_endpoint_auth_method"),
		.alg = req_get(r, "id_token_signed_response_alg"),
		.redirect_uris = req_get(r, "redirect_uris"),
		.post_logout_redirect_uris = req_get(r, "post_logout_redirect_uris"),
		.backchannel_logout_uri = req_get(r, "backchannel_logout_uri"),
		.jwks = req_get(r, "jwks")};
	char secret[SECRET_TOKEN_HEX];
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (oidc_client_add(r->store, r->cfg, &r->who, &a, secret, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "id", a.id);
	if (secret[0])
		req_put(r, "secret", secret);
	secret_wipe(secret, sizeof(secret));
	return 0;
}

int oidc_req_client_list(struct req *r)
{
	static const char *const keys[] = {"service", "rhost", NULL};
	struct oidc_client **v = NULL;
	size_t n = 0;
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if ((rc = oidc_client_list(r->store, r->cfg, &v, &n)) < 0)
		return req_errno(r, rc, "clients OpenID Connect");
	req_putf(r, "count", "%zu", n);
	for (size_t i = 0; i < n; i++) {
		char uris[OIDC_URIS_MAX * OIDC_URI_MAX] = "";
		size_t len = 0;
		req_put_index(r, i);
		req_put(r, "id", v[i]->id);
		req_put(r, "name", v[i]->name);
		req_put(r, "type", v[i]->public_client ? "public" : "confidential");
		req_put(r, "first_party", v[i]->first_party ? "yes" : "no");
		req_put(r, "token_endpoint_auth_method", v[i]->auth_method);
		req_put(r, "id_token_signed_response_alg", v[i]->alg);
		for (size_t k = 0; k < v[i]->nredirect && len < sizeof(uris); k++)
			len += (size_t)snprintf(
				uris + len, sizeof(uris) - len, "%s%s", k ? " " : "", v[i]->redirect_uris[k]);
		req_put(r, "redirect_uris", uris);
	}
	oidc_clients_free(v, n);
	return 0;
}

int oidc_req_client_remove(struct req *r)
{
	static const char *const keys[] = {"id", "service", "rhost", NULL};
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (oidc_client_remove(r->store, r->cfg, &r->who, req_get(r, "id"), &f) < 0)
		return req_fault(r, &f);
	req_put(r, "id", req_get(r, "id"));
	return 0;
}

int oidc_req_key_rotate(struct req *r)
{
	static const char *const keys[] = {"service", "rhost", NULL};
	struct fault f = {0};
	char kid[64];
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (oidc_keys_rotate(r->cfg, kid, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "kid", kid);
	return 0;
}
