/* The provider's browser-facing endpoints: authorize, the consent page's two calls, RP-initiated logout. */
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
#include "oidc_door.h"
#include "secret.h"

#define CONSENT_TTL (180 * 86400)
#define RECORD_OIDC_CONSENT "oidc-consent"

/* --- small helpers ----------------------------------------------------------- */

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

	oidc_door_issuer(r, iss, sizeof(iss));
	snprintf(url, sizeof(url), "%s", uri);
	url_add(url, sizeof(url), "error", error);
	url_add(url, sizeof(url), "error_description", desc);
	url_add(url, sizeof(url), "state", state);
	url_add(url, sizeof(url), "iss", iss);
	return redirect(r, url);
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

	oidc_door_issuer(r, iss, sizeof(iss));
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
	/* "Changer de compte" at the provider's pages (their header): a client asking bal_org learns
	 * the BAL ORG the session acts as; the claim checks again that the person may open it. */
	if (oidc_scope_has(scope, "bal_org") && strcmp(ws.account_dn, ws.user_dn))
		snprintf(g.account_dn, sizeof(g.account_dn), "%s", ws.account_dn);
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
	oidc_door_audit(r, "oidc-authorize", cl->id, ws.user_dn, true, NULL);
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

	if (!oidc_door_on(r))
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
		oidc_door_audit(r, "oidc-authorize", client_id, NULL, false, "unknown client");
		return http_fail(r, 400, "invalid_client", "client_id inconnu");
	}
	if (!redirect_uri || !oidc_client_redirect_ok(cl, redirect_uri)) {
		oidc_door_audit(r, "oidc-authorize", client_id, NULL, false, "redirect_uri not registered");
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

	if (!oidc_door_on(r))
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

	if (!oidc_door_on(r))
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
		oidc_door_audit(r, "oidc-consent", cl->id, ws.user_dn, false, "refused by the user");
		char iss[300];
		oidc_door_issuer(r, iss, sizeof(iss));
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
	oidc_door_audit(r, "oidc-consent", cl->id, ws.user_dn, true, NULL);
	snprintf(next, sizeof(next), "/oidc/authorize?requete=%s", handle);
	st = http_ok(r, 200, json_pack("{s:s}", "redirect", next));
out:
	json_decref(p);
	oidc_client_free(cl);
	return st;
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

	if (!oidc_door_on(r))
		return r->status;
	oidc_door_issuer(r, iss, sizeof(iss));
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
		oidc_door_audit(r, "oidc-logout", cl ? cl->id : NULL, NULL, false,
			"post_logout_redirect_uri not registered");
		st = http_fail(r, 400, "invalid_request",
			"post_logout_redirect_uri n'est pas une adresse enregistrée pour ce client");
		goto out;
	}
	if (sid && (rc = oidc_session_end(r->store, r->cfg, iss, sid)) < 0 && rc != -EINVAL)
		oidc_door_audit(
			r, "oidc-logout", aud, NULL, false, "the session's grants were not all revoked");
	rc = web_session_current(r, &ws, &token, &st);
	if (rc < 0)
		goto out;
	if (rc == 1 && token && secret_keyed_hash(RECORD_SESSION, token, own_sid) == 0 &&
		(!sid || strcmp(sid, own_sid))) {
		int x = oidc_session_end(r->store, r->cfg, iss, own_sid);
		(void)x;
	}
	oidc_door_audit(r, "oidc-logout", cl ? cl->id : NULL, NULL, true, NULL);
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
