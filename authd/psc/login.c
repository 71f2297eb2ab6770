/* The login at a provider of the table (Pro Santé Connect, the generic
 * OpenID Connect one): the authorization code flow with PKCE, its state
 * single use under ou=sessions and bound to that provider, and the mapping
 * of a verified identity to its account through that provider's links. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"
#include "login.h"
#include "provider.h"
#include "records.h"

static bool rpps_of(const char *national_id, char out[12])
{
	size_t n = strlen(national_id);

	if (n != 12 || national_id[0] != '8')
		return false;
	for (size_t i = 1; i < n; i++)
		if (national_id[i] < '0' || national_id[i] > '9')
			return false;
	memcpy(out, national_id + 1, 12);
	return true;
}

/* The record kinds and derivation labels of each provider: a state one
 * provider issued is unknown to the other's callback. */
static const struct {
	const char *state, *nonce, *pkce;
} flow_names[IDP_N] = {
	[IDP_PSC] = {"psc-state", "psc-nonce", "psc-pkce"},
	[IDP_OIDC] = {"oidc-state", "oidc-nonce", "oidc-pkce"},
};

/* The account linked to this subject at this provider, else (PSC) the PER
 * account of that RPPS. */
static int identity_map(const struct mm_config *c, struct store *s, struct psc_identity *id)
{
	static const char *const attrs[] = {"uid", "mmStatus", NULL};
	struct entry *e = NULL;
	char *filter = NULL, rpps[12];
	int r;

	r = login_link_filter(idp_name(c, id->idp), id->subject, &filter);
	if (r == 0) {
		r = store_search_one(s, c->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, &e);
		free(filter);
		filter = NULL;
	} else if (r == -EINVAL) {
		r = -ENOENT; /* a subject no link can hold: linked to no account */
	}
	if (r < 0 && r != -ENOENT)
		return r == -ENOTUNIQ ? -ENOLINK : r;
	if (r == -ENOENT && id->idp == IDP_PSC && rpps_of(id->national_id, rpps)) {
		/* rpps is 11 digits: nothing to escape */
		if (asprintf(&filter, "(&(objectClass=mmAccount)(mmAccountType=PER)(mmRpps=%s))", rpps) < 0)
			return -ENOMEM;
		r = store_search_one(s, c->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, &e);
		free(filter);
	}
	if (r == -ENOENT)
		return -ENOLINK;
	if (r < 0)
		return r == -ENOTUNIQ ? -ENOLINK : r;
	if (!entry_has_value(e, "mmStatus", "active")) {
		entry_free(e);
		return -EPERM;
	}
	snprintf(id->login, sizeof(id->login), "%s", entry_get(e, "uid") ? entry_get(e, "uid") : "");
	id->account_dn = strdup(e->dn);
	entry_free(e);
	return id->account_dn ? 0 : -ENOMEM;
}

/* --- authorization code flow ------------------------------------------- */

static int derive(const char *what, const char *state, char out[SECRET_HASH_HEX])
{
	return secret_keyed_hash(what, state, out);
}

static void challenge_of(const char *verifier, char out[64])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)verifier, strlen(verifier));
	b64url_encode(h, sizeof(h), out, 64);
}

int idp_login_begin(const struct mm_config *c, struct store *s, enum idp idp, char **ret_url,
	char ret_state[SECRET_TOKEN_HEX])
{
	struct idp_conf p;
	char state[SECRET_TOKEN_HEX], nonce[SECRET_HASH_HEX], verifier[SECRET_HASH_HEX], chal[64];
	char *ep = NULL, *cid = NULL, *ru = NULL, *sc = NULL, *acr = NULL, *url = NULL;
	int r;

	if (idp < 0 || idp >= IDP_N)
		return -ENOSYS;
	idp_conf_of(c, idp, &p);
	if (!idp_enabled(c, idp) || !p.redirect_uri)
		return -ENOSYS;
	ep = idp_endpoint(c, idp, PSC_EP_AUTHORIZATION);
	if (!ep)
		return -EHOSTUNREACH;
	secret_token(state);
	if ((r = derive(flow_names[idp].nonce, state, nonce)) < 0 ||
		(r = derive(flow_names[idp].pkce, state, verifier)) < 0)
		goto out;
	challenge_of(verifier, chal);
	/* The state is single use and expires: recorded (hashed) where every daemon sees it. */
	r = flow_put(s, c, flow_names[idp].state, state, NULL, NULL, c->psc_flow_ttl);
	if (r < 0)
		goto out;
	cid = psc_esc(p.client_id);
	ru = psc_esc(p.redirect_uri);
	sc = psc_esc(p.scope);
	acr = p.acr ? psc_esc(p.acr) : NULL;
	if (!cid || !ru || !sc || (p.acr && !acr) ||
		asprintf(&url,
			"%s%cresponse_type=code&client_id=%s&redirect_uri=%s&scope=%s%s%s"
			"&state=%s&nonce=%s&code_challenge=%s&code_challenge_method=S256",
			ep, strchr(ep, '?') ? '&' : '?', cid, ru, sc, acr ? "&acr_values=" : "",
			acr ? acr : "", state, nonce, chal) < 0) {
		url = NULL;
		r = -ENOMEM;
		goto out;
	}
	*ret_url = url;
	memcpy(ret_state, state, sizeof(state));
	r = 0;
out:
	sodium_memzero(nonce, sizeof(nonce));
	sodium_memzero(verifier, sizeof(verifier));
	sodium_memzero(state, sizeof(state));
	curl_free(cid);
	curl_free(ru);
	curl_free(sc);
	curl_free(acr);
	free(ep);
	return r;
}

int idp_login_finish(const struct mm_config *c, struct store *s, enum idp idp, const char *state,
	const char *code, struct psc_identity *ret, const char **ret_why)
{
	struct idp_conf p;
	char nonce[SECRET_HASH_HEX], verifier[SECRET_HASH_HEX];
	char *ep = NULL, *ecode = NULL, *ru = NULL, *form = NULL;
	struct psc_resp rs = {0};
	json_t *tok = NULL;
	int r;

	*ret_why = "state";
	memset(ret, 0, sizeof(*ret));
	ret->idp = idp;
	if (idp < 0 || idp >= IDP_N || !idp_enabled(c, idp))
		return -ENOSYS;
	idp_conf_of(c, idp, &p);
	if (!psc_handle_valid(state))
		return -EINVAL;
	/* Single use, and this provider's: the first request to delete the record owns the flow. */
	r = flow_take(s, c, flow_names[idp].state, state);
	if (r == -ENOENT)
		return -EINVAL;
	if (r < 0)
		return r;
	*ret_why = "code";
	if (!code || !*code || strlen(code) > 2048)
		return -EINVAL;
	if ((r = derive(flow_names[idp].nonce, state, nonce)) < 0 ||
		(r = derive(flow_names[idp].pkce, state, verifier)) < 0)
		goto out;
	ep = idp_endpoint(c, idp, PSC_EP_TOKEN);
	ecode = psc_esc(code);
	ru = psc_esc(p.redirect_uri);
	if (!ep || !ecode || !ru) {
		r = -EHOSTUNREACH;
		goto out;
	}
	if (asprintf(&form, "grant_type=authorization_code&code=%s&redirect_uri=%s&code_verifier=%s", ecode,
		    ru, verifier) < 0) {
		form = NULL;
		r = -ENOMEM;
		goto out;
	}
	r = idp_call(c, idp, ep, form, true, NULL, &rs);
	if (r < 0) {
		*ret_why = "token endpoint unreachable";
		goto out;
	}
	tok = psc_resp_json(&rs);
	if (rs.status != 200 || !tok) {
		/* invalid_grant: bad code, replayed code or PKCE verifier mismatch */
		*ret_why = "token exchange refused";
		r = -EACCES;
		goto out;
	}
	r = idp_identity_from(c, idp, tok, nonce, ret, ret_why);
	if (r < 0)
		goto out;
	r = identity_map(c, s, ret);
	*ret_why = r == -ENOLINK ? "link required" : r == -EPERM ? "account not active" : NULL;
out:
	secret_free(form);
	sodium_memzero(nonce, sizeof(nonce));
	sodium_memzero(verifier, sizeof(verifier));
	json_decref(tok);
	psc_resp_free(&rs);
	curl_free(ecode);
	curl_free(ru);
	free(ep);
	return r;
}

void idp_login_abort(const struct mm_config *c, struct store *s, enum idp idp, const char *state)
{
	int r;

	if (idp < 0 || idp >= IDP_N || !psc_handle_valid(state))
		return;
	r = flow_take(s, c, flow_names[idp].state, state); /* best effort: it expires anyway */
	(void)r;
}
