/* The OpenID Connect provider's endpoints: discovery, JWKS, authorize, token, userinfo, introspect, revoke, consent, logout. */
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http.h"
#include "jwt.h"
#include "log.h"
#include "login.h"
#include "oidc.h"
#include "secret.h"

#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define CONSENT_TTL (180 * 86400)
#define RECORD_OIDC_CONSENT "oidc-consent"

/* --- small helpers ----------------------------------------------------------- */

static void issuer_of(const struct http_req *r, char *out, size_t n)
{
	const struct mm_config *c = r->cfg;

	if (c->op_issuer)
		snprintf(out, n, "%s", c->op_issuer);
	else if (c->web_origin)
		snprintf(out, n, "%s", c->web_origin);
	else
		snprintf(out, n, "%s://%s", r->tls ? "https" : "http",
			c->http_listen ? c->http_listen : "localhost");
	/* no trailing slash: endpoints are issuer + path */
	size_t len = strlen(out);
	if (len > 0 && out[len - 1] == '/')
		out[len - 1] = '\0';
}

static bool provider_on(struct http_req *r)
{
	if (r->cfg->op_key_file)
		return true;
	http_fail(r, 404, "no_provider", "no OpenID Connect provider here (op_key_file is not set)");
	return false;
}

/* OAuth's error reply {error, error_description}. */
static unsigned oauth_fail(struct http_req *r, unsigned status, const char *code, const char *desc)
{
	if (status == 401 && !r->www_authenticate)
		r->www_authenticate = "Basic realm=\"medimail-authd\"";
	return http_ok(r, status, json_pack("{s:s, s:s}", "error", code, "error_description", desc));
}

struct count_ctx {
	const char *name;
	unsigned n;
};

static enum MHD_Result count_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct count_ctx *x = cls;

	(void)kind;
	(void)value;
	if (key && !strcmp(key, x->name))
		x->n++;
	return MHD_YES;
}

/* A query parameter given at most once (RFC 6749 3.1); *dup set when repeated. */
static const char *qarg(const struct http_req *r, const char *name, bool *dup)
{
	struct count_ctx x = {name, 0};

	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, count_arg, &x);
	if (x.n > 1)
		*dup = true;
	const char *v = http_arg(r, name);
	return v && *v ? v : NULL;
}

static const char *form(const struct http_req *r, const char *name)
{
	const char *v = r->body ? json_string_value(json_object_get(r->body, name)) : NULL;

	return v && *v ? v : NULL;
}

static void url_add(char *url, size_t n, const char *key, const char *value)
{
	size_t len = strlen(url);
	char sep = strchr(url, '?') ? '&' : '?';

	if (!value || len + 2 >= n)
		return;
	len += (size_t)snprintf(url + len, n - len, "%c%s=", sep, key);
	for (const unsigned char *p = (const unsigned char *)value; *p && len + 4 < n; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
			*p == '-' || *p == '.' || *p == '_' || *p == '~')
			url[len++] = (char)*p;
		else
			len += (size_t)snprintf(url + len, n - len, "%%%02X", *p);
	}
	url[len < n ? len : n - 1] = '\0';
}

static unsigned redirect(struct http_req *r, const char *url)
{
	free(r->location);
	r->location = strdup(url);
	return http_ok(r, 302, json_pack("{s:s}", "location", url));
}

/* An error sent back to the client's redirect_uri (only once it is known good). */
static unsigned redirect_error(
	struct http_req *r, const char *uri, const char *error, const char *desc, const char *state)
{
	char url[2048], iss[300];

	issuer_of(r, iss, sizeof(iss));
	snprintf(url, sizeof(url), "%s", uri);
	url_add(url, sizeof(url), "error", error);
	url_add(url, sizeof(url), "error_description", desc);
	url_add(url, sizeof(url), "state", state);
	url_add(url, sizeof(url), "iss", iss);
	return redirect(r, url);
}

static void oidc_audit(const struct http_req *r, const char *event, const char *client, const char *account,
	bool ok, const char *why)
{
	struct audit_ctx a = {.event = event,
		.caller = client ? client : "oidc",
		.service = "oidc",
		.remote = r->remote,
		.account = account};

	audit(&a, ok, why);
}

/* --- discovery and keys ------------------------------------------------------ */

unsigned oidc_discovery(struct http_req *r)
{
	char iss[300], ep[9][400];
	static const char *const paths[] = {"/oidc/authorize", "/oidc/token", "/oidc/userinfo", "/oidc/jwks",
		"/oidc/introspect", "/oidc/revoke", "/oidc/logout", "", ""};

	if (!provider_on(r))
		return r->status;
	issuer_of(r, iss, sizeof(iss));
	for (size_t i = 0; i < 7; i++)
		snprintf(ep[i], sizeof(ep[i]), "%s%s", iss, paths[i]);
	return http_ok(r, 200,
		json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:[s], s:[s, s], s:[s], s:[s, s], "
			  "s:[s, s, s, s], s:[s, s], s:[s, s, s], s:[s, s, s], s:[s, s, s, s, s, s], "
			  "s:[s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s], s:[s], s:[s, s], "
			  "s:[s, s, s, s], s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:[s]}",
			"issuer", iss, "authorization_endpoint", ep[0], "token_endpoint", ep[1],
			"userinfo_endpoint", ep[2], "jwks_uri", ep[3], "introspection_endpoint", ep[4],
			"revocation_endpoint", ep[5], "end_session_endpoint", ep[6],
			"response_types_supported", "code", "response_modes_supported", "query",
			"grant_types_supported", "authorization_code", "refresh_token",
			"subject_types_supported", "public", "id_token_signing_alg_values_supported", "ES256",
			"RS256", "token_endpoint_auth_methods_supported", "client_secret_basic",
			"client_secret_post", "private_key_jwt", "none",
			"token_endpoint_auth_signing_alg_values_supported", "ES256", "RS256",
			"introspection_endpoint_auth_methods_supported", "client_secret_basic",
			"client_secret_post", "private_key_jwt", "revocation_endpoint_auth_methods_supported",
			"client_secret_basic", "client_secret_post", "private_key_jwt", "scopes_supported",
			"openid", "profile", "email", "medimail", "orgs", "offline_access",
			"claims_supported", "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr",
			"amr", "sid", "name", "given_name", "family_name", "preferred_username", "email",
			"email_verified", "mss_address", "rpps", "profession", "account_type",
			"code_challenge_methods_supported", "S256", "prompt_values_supported", "none",
			"login", "acr_values_supported", "pwd+otp", "sc+pin", "e-cps", "psc",
			"claims_parameter_supported", 0, "request_parameter_supported", 0,
			"request_uri_parameter_supported", 0, "require_request_uri_registration", 0,
			"authorization_response_iss_parameter_supported", 1, "backchannel_logout_supported",
			1, "backchannel_logout_session_supported", 1, "claim_types_supported", "normal"));
}

unsigned oidc_jwks_get(struct http_req *r)
{
	if (!provider_on(r))
		return r->status;
	return http_ok(r, 200, oidc_jwks(r->cfg));
}

/* --- authorize ------------------------------------------------------------- */

static bool challenge_valid(const char *v)
{
	size_t n = strlen(v);

	if (n != 43)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= 'a' && v[i] <= 'z') ||
			    (v[i] >= '0' && v[i] <= '9') || v[i] == '-' || v[i] == '_'))
			return false;
	return true;
}

static bool printable(const char *v, size_t max)
{
	if (!v)
		return true;
	if (strlen(v) > max)
		return false;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static const char *jstr(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v && *v ? v : NULL;
}

static char *consent_handle(const char *client, const char *user_dn)
{
	char *h = NULL;

	if (asprintf(&h, "%s\n%s", client, user_dn) < 0)
		return NULL;
	return h;
}

/* Has the user consented to scope for this client (every word of scope)? */
static bool consented(struct http_req *r, const char *client, const char *user_dn, const char *scope)
{
	char *h = consent_handle(client, user_dn), *acct = NULL, *data = NULL, *copy, *save = NULL;
	bool ok = false;

	if (!h)
		return false;
	if (flow_get(r->store, r->cfg, RECORD_OIDC_CONSENT, h, &acct, &data) == 0 && data &&
		(copy = strdup(scope))) {
		ok = true;
		for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save))
			if (!oidc_scope_has(data, t))
				ok = false;
		free(copy);
	}
	free(h);
	free(acct);
	free(data);
	return ok;
}

/* After validation (or resumed after the login): the session decides. */
static unsigned authorize_finish(
	struct http_req *r, const struct oidc_client *cl, json_t *p, const char *handle)
{
	struct login_web_session ws;
	const char *redirect_uri = jstr(p, "redirect_uri"), *state = jstr(p, "state"),
		   *prompt = jstr(p, "prompt");
	const char *scope = jstr(p, "scope"), *token = NULL;
	long long now = (long long)time(NULL), created = json_integer_value(json_object_get(p, "created"));
	json_int_t max_age = json_is_integer(json_object_get(p, "max_age"))
		? json_integer_value(json_object_get(p, "max_age"))
		: -1;
	long long auth_time;
	char url[2048], iss[300], code[SECRET_TOKEN_HEX];
	struct oidc_grant g = {0};
	unsigned st;
	int rc;

	issuer_of(r, iss, sizeof(iss));
	rc = web_session_current(r, &ws, &token, &st);
	if (rc < 0)
		return st;
	auth_time = rc ? ws.ends_at - (long long)r->cfg->web_absolute_timeout : 0;
	if (rc == 0 || !ws.account_dn[0] || (prompt && !strcmp(prompt, "login") && auth_time <= created) ||
		(max_age >= 0 && now - auth_time > max_age)) {
		if (prompt && !strcmp(prompt, "none")) {
			oidc_authz_drop(r->store, r->cfg, handle);
			return redirect_error(
				r, redirect_uri, "login_required", "no session, or one too old", state);
		}
		/* the web login, which comes back here (connexion.js: suite) */
		char back[200];
		snprintf(back, sizeof(back), "/oidc/authorize?requete=%s", handle);
		snprintf(url, sizeof(url), "/connexion");
		url_add(url, sizeof(url), "suite", back);
		url_add(url, sizeof(url), "login_hint", jstr(p, "login_hint"));
		return redirect(r, url);
	}
	if (!cl->first_party && !consented(r, cl->id, ws.user_dn, scope)) {
		if (prompt && !strcmp(prompt, "none")) {
			oidc_authz_drop(r->store, r->cfg, handle);
			return redirect_error(
				r, redirect_uri, "consent_required", "the user has not consented", state);
		}
		snprintf(url, sizeof(url), "/oidc/consentement");
		url_add(url, sizeof(url), "requete", handle);
		return redirect(r, url);
	}
	snprintf(g.client_id, sizeof(g.client_id), "%s", cl->id);
	snprintf(g.scope, sizeof(g.scope), "%s", scope);
	snprintf(g.nonce, sizeof(g.nonce), "%s", jstr(p, "nonce") ?: "");
	snprintf(g.user_dn, sizeof(g.user_dn), "%s", ws.user_dn);
	snprintf(g.method, sizeof(g.method), "%s", ws.s.method);
	g.auth_time = auth_time;
	snprintf(g.redirect_uri, sizeof(g.redirect_uri), "%s", redirect_uri);
	snprintf(g.code_challenge, sizeof(g.code_challenge), "%s", jstr(p, "code_challenge") ?: "");
	/* sid: the browser session's record id, so that logout finds it */
	if (token && secret_keyed_hash(RECORD_SESSION, token, g.sid) < 0)
		g.sid[0] = '\0';
	rc = oidc_code_issue(r->store, r->cfg, &g, code);
	if (rc < 0)
		return http_fail(r, rc == -EHOSTDOWN ? 503 : 500, "server_error", "code not issued");
	oidc_authz_drop(r->store, r->cfg, handle);
	oidc_audit(r, "oidc-authorize", cl->id, ws.user_dn, true, NULL);
	snprintf(url, sizeof(url), "%s", redirect_uri);
	url_add(url, sizeof(url), "code", code);
	url_add(url, sizeof(url), "state", state);
	url_add(url, sizeof(url), "iss", iss);
	secret_wipe(code, sizeof(code));
	return redirect(r, url);
}

unsigned oidc_authorize(struct http_req *r)
{
	bool dup = false;
	const char *handle = qarg(r, "requete", &dup);
	const char *client_id, *redirect_uri, *response_type, *scope, *state, *nonce, *cc, *ccm, *prompt,
		*max_age, *hint;
	struct oidc_client *cl = NULL;
	char h[SECRET_TOKEN_HEX];
	json_t *p = NULL;
	unsigned st;
	int rc;

	if (!provider_on(r))
		return r->status;
	if (handle) {
		/* back from the login or the consent page */
		rc = oidc_authz_get(r->store, r->cfg, handle, &p);
		if (rc < 0)
			return http_fail(
				r, 400, "invalid_request", "demande d'autorisation inconnue ou expirée");
		if (oidc_client_get(r->store, r->cfg, jstr(p, "client_id"), &cl) < 0 ||
			!oidc_client_redirect_ok(cl, jstr(p, "redirect_uri"))) {
			st = http_fail(r, 400, "invalid_request", "client inconnu");
			goto out;
		}
		st = authorize_finish(r, cl, p, handle);
		goto out;
	}
	client_id = qarg(r, "client_id", &dup);
	redirect_uri = qarg(r, "redirect_uri", &dup);
	/* Until client and redirect_uri are known good, nothing goes to redirect_uri. */
	if (!client_id || (rc = oidc_client_get(r->store, r->cfg, client_id, &cl)) < 0) {
		oidc_audit(r, "oidc-authorize", client_id, NULL, false, "unknown client");
		return http_fail(r, 400, "invalid_client", "client_id inconnu");
	}
	if (!redirect_uri || !oidc_client_redirect_ok(cl, redirect_uri)) {
		oidc_audit(r, "oidc-authorize", client_id, NULL, false, "redirect_uri not registered");
		st = http_fail(r, 400, "invalid_request",
			"redirect_uri n'est pas une adresse enregistrée pour ce client");
		goto out;
	}
	response_type = qarg(r, "response_type", &dup);
	scope = qarg(r, "scope", &dup);
	state = qarg(r, "state", &dup);
	nonce = qarg(r, "nonce", &dup);
	cc = qarg(r, "code_challenge", &dup);
	ccm = qarg(r, "code_challenge_method", &dup);
	prompt = qarg(r, "prompt", &dup);
	max_age = qarg(r, "max_age", &dup);
	hint = qarg(r, "login_hint", &dup);
	if (dup || http_arg(r, "client_id") != client_id) {
		st = redirect_error(r, redirect_uri, "invalid_request", "a parameter is repeated", NULL);
		goto out;
	}
	if (http_arg(r, "request") || http_arg(r, "request_uri")) {
		st = redirect_error(r, redirect_uri,
			http_arg(r, "request") ? "request_not_supported" : "request_uri_not_supported",
			"request objects are not supported", state);
		goto out;
	}
	if (!printable(state, 512) || !printable(nonce, OIDC_NONCE_MAX - 1) || !printable(hint, 254)) {
		st = redirect_error(
			r, redirect_uri, "invalid_request", "state, nonce or login_hint malformed", NULL);
		goto out;
	}
	if (!response_type || strcmp(response_type, "code")) {
		st = redirect_error(
			r, redirect_uri, "unsupported_response_type", "only response_type=code", state);
		goto out;
	}
	if (!scope || !oidc_scope_has(scope, "openid") || !printable(scope, OIDC_SCOPE_MAX - 1)) {
		st = redirect_error(r, redirect_uri, "invalid_scope", "scope must hold openid", state);
		goto out;
	}
	if (ccm && strcmp(ccm, "S256")) {
		st = redirect_error(
			r, redirect_uri, "invalid_request", "code_challenge_method must be S256", state);
		goto out;
	}
	if ((cc && !challenge_valid(cc)) || (!cc && ccm)) {
		st = redirect_error(r, redirect_uri, "invalid_request", "code_challenge malformed", state);
		goto out;
	}
	if (cc && !ccm) {
		/* no method means plain (RFC 7636 4.3): refused */
		st = redirect_error(
			r, redirect_uri, "invalid_request", "code_challenge_method=S256 is required", state);
		goto out;
	}
	if (cl->public_client && !cc) {
		st = redirect_error(r, redirect_uri, "invalid_request",
			"PKCE (S256) is required for public clients", state);
		goto out;
	}
	if (prompt && strcmp(prompt, "none") && strcmp(prompt, "login")) {
		st = redirect_error(r, redirect_uri, "invalid_request", "prompt: none or login", state);
		goto out;
	}
	char *end = NULL;
	long long ma = -1;
	if (max_age) {
		ma = strtoll(max_age, &end, 10);
		if (*end || ma < 0 || ma > 100000000 || strlen(max_age) > 9) {
			st = redirect_error(r, redirect_uri, "invalid_request", "max_age: seconds", state);
			goto out;
		}
	}
	p = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:I}", "client_id", client_id,
		"redirect_uri", redirect_uri, "scope", scope, "state", state, "nonce", nonce,
		"code_challenge", cc, "prompt", prompt, "login_hint", hint, "created",
		(json_int_t)time(NULL));
	if (p && ma >= 0)
		json_object_set_new(p, "max_age", json_integer(ma));
	if (!p || (rc = oidc_authz_put(r->store, r->cfg, p, h)) < 0) {
		st = redirect_error(r, redirect_uri, "server_error", "the request could not be kept", state);
		goto out;
	}
	st = authorize_finish(r, cl, p, h);
out:
	json_decref(p);
	oidc_client_free(cl);
	return st;
}

/* --- the consent page's calls ---------------------------------------------- */

unsigned oidc_consent_info(struct http_req *r)
{
	bool dup = false;
	const char *handle = qarg(r, "requete", &dup);
	struct login_web_session ws;
	struct oidc_client *cl = NULL;
	const char *token;
	json_t *p = NULL;
	unsigned st;
	int rc;

	if (!provider_on(r))
		return r->status;
	if ((rc = web_session_current(r, &ws, &token, &st)) < 0)
		return st;
	if (rc == 0)
		return http_fail(r, 401, "login_required", "connexion requise");
	if (!handle || oidc_authz_get(r->store, r->cfg, handle, &p) < 0 ||
		oidc_client_get(r->store, r->cfg, jstr(p, "client_id"), &cl) < 0) {
		json_decref(p);
		return http_fail(r, 404, "unknown_request", "demande d'autorisation inconnue ou expirée");
	}
	st = http_ok(r, 200,
		json_pack("{s:s, s:s, s:s}", "client_id", cl->id, "client_name", cl->name, "scope",
			jstr(p, "scope")));
	json_decref(p);
	oidc_client_free(cl);
	return st;
}

static const struct body_field consent_fields[] = {{"requete", true, 64}, {"decision", true, 8}};

unsigned oidc_consent(struct http_req *r)
{
	struct login_web_session ws;
	struct oidc_client *cl = NULL;
	const char *handle, *decision;
	char next[300], url[2048];
	json_t *p = NULL;
	unsigned st;

	if (!provider_on(r))
		return r->status;
	if ((st = web_guard(r, &ws)))
		return st;
	if ((st = http_body_check(r, consent_fields, 2)))
		return st;
	handle = http_body_str(r, "requete");
	decision = http_body_str(r, "decision");
	if (strcmp(decision, "accept") && strcmp(decision, "refuse"))
		return http_fail(r, 400, "invalid_field", "decision : accept ou refuse");
	if (oidc_authz_get(r->store, r->cfg, handle, &p) < 0 ||
		oidc_client_get(r->store, r->cfg, jstr(p, "client_id"), &cl) < 0) {
		json_decref(p);
		return http_fail(r, 404, "unknown_request", "demande d'autorisation inconnue ou expirée");
	}
	if (!strcmp(decision, "refuse")) {
		oidc_authz_drop(r->store, r->cfg, handle);
		oidc_audit(r, "oidc-consent", cl->id, ws.user_dn, false, "refused by the user");
		char iss[300];
		issuer_of(r, iss, sizeof(iss));
		snprintf(url, sizeof(url), "%s", jstr(p, "redirect_uri"));
		url_add(url, sizeof(url), "error", "access_denied");
		url_add(url, sizeof(url), "state", jstr(p, "state"));
		url_add(url, sizeof(url), "iss", iss);
		st = http_ok(r, 200, json_pack("{s:s}", "redirect", url));
		goto out;
	}
	char *h = consent_handle(cl->id, ws.user_dn);
	int rc = h ? flow_put(r->store, r->cfg, RECORD_OIDC_CONSENT, h, ws.user_dn, jstr(p, "scope"),
			     CONSENT_TTL)
		   : -ENOMEM;
	if (rc == -EEXIST) {
		rc = flow_take(r->store, r->cfg, RECORD_OIDC_CONSENT, h);
		rc = flow_put(
			r->store, r->cfg, RECORD_OIDC_CONSENT, h, ws.user_dn, jstr(p, "scope"), CONSENT_TTL);
	}
	free(h);
	if (rc < 0) {
		st = http_fail(r, 500, "internal", "consentement non enregistré");
		goto out;
	}
	oidc_audit(r, "oidc-consent", cl->id, ws.user_dn, true, NULL);
	snprintf(next, sizeof(next), "/oidc/authorize?requete=%s", handle);
	st = http_ok(r, 200, json_pack("{s:s}", "redirect", next));
out:
	json_decref(p);
	oidc_client_free(cl);
	return st;
}

/* --- client authentication (token, introspect, revoke) ------------------- */

static char *pct_decode(const char *s)
{
	size_t n = strlen(s), k = 0;
	char *out = malloc(n + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n + 0 + 1 && s[i + 1] && s[i + 2]) {
			char hex[3] = {s[i + 1], s[i + 2], 0};
			char *end;
			long v = strtol(hex, &end, 16);
			if (*end || v == 0) {
				free(out);
				return NULL;
			}
			out[k++] = (char)v;
			i += 2;
		} else {
			out[k++] = s[i] == '+' ? ' ' : s[i];
		}
	}
	out[k] = '\0';
	return out;
}

/* The client of the request, authenticated by its registered method. 0 and
 * *ret, or the error reply set (401 invalid_client) and its status. */
static unsigned client_auth(struct http_req *r, bool allow_public, struct oidc_client **ret)
{
	char *bu = NULL, *bp = NULL, *user = NULL, *pass = NULL;
	const char *id = form(r, "client_id"), *secret = form(r, "client_secret");
	const char *atype = form(r, "client_assertion_type"), *assertion = form(r, "client_assertion");
	const char *method;
	struct oidc_client *cl = NULL;
	char iss[300], tep[400];
	unsigned st = 0;
	int rc = -EACCES;

	*ret = NULL;
	bu = MHD_basic_auth_get_username_password(r->conn, &bp);
	if (bu && bp) {
		user = pct_decode(bu);
		pass = pct_decode(bp);
		method = "client_secret_basic";
		if (!user || !pass || (id && strcmp(id, user)) || secret || assertion)
			goto bad;
		id = user;
		secret = pass;
	} else if (assertion || atype) {
		method = "private_key_jwt";
		if (!atype || strcmp(atype, ASSERTION_TYPE) || !assertion || secret)
			goto bad;
		if (!id) {
			/* the client is the assertion's sub; read unverified only to find its keys */
			const char *d1 = strchr(assertion, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
			unsigned char *b = NULL;
			size_t n = 0;
			if (d1 && d2 && b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &b, &n) == 0) {
				json_t *o = json_loadb((const char *)b, n, 0, NULL);
				const char *s = json_string_value(json_object_get(o, "sub"));
				if (s && strlen(s) < OIDC_ID_MAX)
					user = strdup(s);
				json_decref(o);
			}
			free(b);
			id = user;
		}
	} else if (secret) {
		method = "client_secret_post";
	} else {
		method = "none";
	}
	if (!id || oidc_client_get(r->store, r->cfg, id, &cl) < 0)
		goto bad;
	if (strcmp(cl->auth_method, method) || (!strcmp(method, "none") && !allow_public))
		goto bad;
	if (!strcmp(method, "private_key_jwt")) {
		issuer_of(r, iss, sizeof(iss));
		snprintf(tep, sizeof(tep), "%s/oidc/token", iss);
		rc = oidc_client_assertion_check(r->store, r->cfg, cl, assertion, iss, tep);
	} else if (!strcmp(method, "none")) {
		rc = cl->public_client ? 0 : -EACCES;
	} else {
		rc = oidc_client_secret_check(cl, secret);
	}
	if (rc < 0)
		goto bad;
	snprintf(r->client, sizeof(r->client), "%s", cl->id);
	*ret = cl;
	cl = NULL;
	goto out;
bad:
	oidc_audit(r, "oidc-client-auth", id, NULL, false, "client authentication failed");
	st = oauth_fail(r, 401, "invalid_client", "client authentication failed");
out:
	if (bp) {
		secret_wipe(bp, strlen(bp));
		MHD_free(bp);
	}
	if (bu)
		MHD_free(bu);
	free(user);
	secret_free(pass);
	oidc_client_free(cl);
	return st;
}

/* --- token ------------------------------------------------------------------- */

static unsigned token_reply(struct http_req *r, const struct oidc_client *cl, const struct oidc_grant *g)
{
	char at[SECRET_TOKEN_HEX], rt[SECRET_TOKEN_HEX], iss[300], *idt = NULL;
	int rc;

	issuer_of(r, iss, sizeof(iss));
	rc = oidc_tokens_issue(r->store, r->cfg, g, at, rt);
	if (rc == 0)
		rc = oidc_id_token(r->store, r->cfg, cl, g, iss, &idt);
	if (rc == -ENOENT) {
		int d = oidc_family_revoke(r->store, r->cfg, g->family);
		(void)d;
		return oauth_fail(r, 400, "invalid_grant", "the account is no longer active");
	}
	if (rc == -EACCES)
		return oauth_fail(
			r, 400, "invalid_grant", "the grant was revoked (a token of it was reused)");
	if (rc < 0)
		return oauth_fail(r, rc == -EHOSTDOWN ? 503 : 500, "server_error", "tokens not issued");
	oidc_audit(r, "oidc-token", cl->id, g->user_dn, true, NULL);
	unsigned st = http_ok(r, 200,
		json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "access_token", at, "token_type", "Bearer",
			"expires_in", (json_int_t)r->cfg->op_access_token_ttl, "refresh_token", rt,
			"id_token", idt, "scope", g->scope));
	secret_wipe(at, sizeof(at));
	secret_wipe(rt, sizeof(rt));
	free(idt);
	return st;
}

unsigned oidc_token(struct http_req *r)
{
	struct oidc_client *cl = NULL;
	struct oidc_grant g;
	struct fault f = {0};
	const char *gt = form(r, "grant_type");
	unsigned st;
	int rc;

	if (!provider_on(r))
		return r->status;
	if ((st = client_auth(r, true, &cl)))
		return st;
	if (gt && !strcmp(gt, "authorization_code")) {
		rc = oidc_code_redeem(r->store, r->cfg, form(r, "code"), cl->id, form(r, "redirect_uri"),
			form(r, "code_verifier"), &g, &f);
	} else if (gt && !strcmp(gt, "refresh_token")) {
		rc = oidc_refresh_redeem(r->store, r->cfg, form(r, "refresh_token"), cl->id, &g, &f);
		const char *scope = form(r, "scope");
		if (rc == 0 && scope) {
			/* a narrower scope only */
			char *copy = strdup(scope), *save = NULL;
			for (char *t = copy ? strtok_r(copy, " ", &save) : NULL; t;
				t = strtok_r(NULL, " ", &save))
				if (!oidc_scope_has(g.scope, t))
					rc = fault_set(&f, -EACCES, "scope plus large que celui accordé");
			free(copy);
			if (rc == 0)
				snprintf(g.scope, sizeof(g.scope), "%s", scope);
		}
	} else {
		st = oauth_fail(r, 400, "unsupported_grant_type", "authorization_code or refresh_token");
		goto out;
	}
	if (rc < 0) {
		oidc_audit(r, "oidc-token", cl->id, NULL, false, f.message);
		st = rc == -EACCES
			? oauth_fail(r, 400, "invalid_grant", f.message ? f.message : "invalid grant")
			: oauth_fail(r, rc == -EHOSTDOWN ? 503 : 500, "server_error", "directory error");
		goto out;
	}
	st = token_reply(r, cl, &g);
out:
	fault_clear(&f);
	oidc_client_free(cl);
	return st;
}

/* --- userinfo, introspect, revoke ------------------------------------------ */

static const char *bearer(const struct http_req *r)
{
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");

	if (!h || strncasecmp(h, "Bearer ", 7))
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return *h ? h : NULL;
}

unsigned oidc_userinfo(struct http_req *r)
{
	const char *at = bearer(r);
	struct oidc_grant g;
	json_t *o;
	int rc;

	if (!provider_on(r))
		return r->status;
	if (!at || oidc_access_check(r->store, r->cfg, at, &g) < 0 || !oidc_scope_has(g.scope, "openid")) {
		r->www_authenticate = at ? "Bearer error=\"invalid_token\"" : "Bearer";
		return oauth_fail(r, 401, "invalid_token", "access token unknown, revoked or expired");
	}
	o = json_object();
	rc = o ? oidc_claims(r->store, r->cfg, g.user_dn, g.scope, o) : -ENOMEM;
	if (rc < 0) {
		json_decref(o);
		r->www_authenticate = "Bearer error=\"invalid_token\"";
		return oauth_fail(r, 401, "invalid_token", "the account is no longer active");
	}
	return http_ok(r, 200, o);
}

unsigned oidc_introspect(struct http_req *r)
{
	struct oidc_client *cl = NULL;
	struct oidc_grant g;
	json_t *o;
	char iss[300];
	unsigned st;

	if (!provider_on(r))
		return r->status;
	if ((st = client_auth(r, false, &cl)))
		return st;
	oidc_client_free(cl);
	if (oidc_access_check(r->store, r->cfg, form(r, "token"), &g) < 0)
		return http_ok(r, 200, json_pack("{s:b}", "active", 0));
	/* flat, as Dovecot's passdb oauth2 reads it */
	o = json_object();
	if (!o || oidc_claims(r->store, r->cfg, g.user_dn, "openid email medimail profile", o) < 0) {
		json_decref(o);
		return http_ok(r, 200, json_pack("{s:b}", "active", 0));
	}
	issuer_of(r, iss, sizeof(iss));
	json_object_del(o, "email_verified");
	json_object_set_new(o, "active", json_true());
	json_object_set_new(o, "scope", json_string(g.scope));
	json_object_set_new(o, "client_id", json_string(g.client_id));
	json_object_set_new(o, "aud", json_string(g.client_id));
	json_object_set_new(o, "iss", json_string(iss));
	json_object_set_new(o, "token_type", json_string("bearer"));
	json_object_set_new(o, "exp", json_integer(g.exp));
	json_object_set_new(o, "auth_time", json_integer(g.auth_time));
	if (json_object_get(o, "preferred_username"))
		json_object_set(o, "username", json_object_get(o, "preferred_username"));
	return http_ok(r, 200, o);
}

unsigned oidc_revoke(struct http_req *r)
{
	struct oidc_client *cl = NULL;
	unsigned st;
	int rc;

	if (!provider_on(r))
		return r->status;
	if ((st = client_auth(r, true, &cl)))
		return st;
	if (!form(r, "token")) {
		oidc_client_free(cl);
		return oauth_fail(r, 400, "invalid_request", "token is required");
	}
	rc = oidc_token_revoke(r->store, r->cfg, form(r, "token"), cl->id);
	oidc_audit(r, "oidc-revoke", cl->id, NULL, rc == 0, rc == 0 ? NULL : "not revoked");
	oidc_client_free(cl);
	if (rc == -EHOSTDOWN || (rc < 0 && rc != -EACCES))
		return oauth_fail(r, 503, "temporarily_unavailable", "directory unavailable");
	/* RFC 7009 2.2: 200 whatever the token was */
	return http_ok(r, 200, json_object());
}

/* --- RP-initiated logout (and back-channel logout through oidc_session_end) -- */

unsigned oidc_logout(struct http_req *r)
{
	bool dup = false;
	const char *hint = qarg(r, "id_token_hint", &dup), *plr = qarg(r, "post_logout_redirect_uri", &dup);
	const char *state = qarg(r, "state", &dup), *client_id = qarg(r, "client_id", &dup), *token = NULL;
	const char *aud = NULL, *sid = NULL;
	struct login_web_session ws;
	struct oidc_client *cl = NULL;
	json_t *claims = NULL;
	char iss[300], url[2048], own_sid[SECRET_HASH_HEX] = "";
	unsigned st;
	int rc;

	if (!provider_on(r))
		return r->status;
	issuer_of(r, iss, sizeof(iss));
	if (dup)
		return http_fail(r, 400, "invalid_request", "un paramètre est répété");
	if (hint) {
		/* our own signature; an expired hint is still a hint (RP-Initiated Logout 2) */
		const char *i;
		if (oidc_verify_own(r->cfg, hint, &claims) < 0 || !(i = jstr(claims, "iss")) ||
			strcmp(i, iss)) {
			json_decref(claims);
			return http_fail(r, 400, "invalid_request", "id_token_hint invalide");
		}
		aud = jstr(claims, "aud");
		sid = jstr(claims, "sid");
		if (client_id && (!aud || strcmp(aud, client_id))) {
			st = http_fail(r, 400, "invalid_request", "id_token_hint d'un autre client");
			goto out;
		}
	}
	if ((aud || client_id) && oidc_client_get(r->store, r->cfg, aud ? aud : client_id, &cl) < 0) {
		st = http_fail(r, 400, "invalid_request", "client inconnu");
		goto out;
	}
	if (plr && (!cl || !oidc_client_post_logout_ok(cl, plr))) {
		oidc_audit(r, "oidc-logout", cl ? cl->id : NULL, NULL, false,
			"post_logout_redirect_uri not registered");
		st = http_fail(r, 400, "invalid_request",
			"post_logout_redirect_uri n'est pas une adresse enregistrée pour ce client");
		goto out;
	}
	if (sid && (rc = oidc_session_end(r->store, r->cfg, iss, sid)) < 0 && rc != -EINVAL)
		oidc_audit(r, "oidc-logout", aud, NULL, false, "the session's grants were not all revoked");
	rc = web_session_current(r, &ws, &token, &st);
	if (rc < 0)
		goto out;
	if (rc == 1 && token && secret_keyed_hash(RECORD_SESSION, token, own_sid) == 0 &&
		(!sid || strcmp(sid, own_sid))) {
		int x = oidc_session_end(r->store, r->cfg, iss, own_sid);
		(void)x;
	}
	oidc_audit(r, "oidc-logout", cl ? cl->id : NULL, NULL, true, NULL);
	if (plr) {
		snprintf(url, sizeof(url), "%s", plr);
		url_add(url, sizeof(url), "state", state);
	} else {
		snprintf(url, sizeof(url), "/connexion");
	}
	st = redirect(r, url);
out:
	secret_wipe(own_sid, sizeof(own_sid));
	json_decref(claims);
	oidc_client_free(cl);
	return st;
}
