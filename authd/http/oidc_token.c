/* The provider's client-facing endpoints: discovery, JWKS, token, userinfo, introspect, revoke. */
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http.h"
#include "json.h"
#include "jwt.h"
#include "log.h"
#include "login.h"
#include "oidc.h"
#include "oidc_door.h"
#include "secret.h"

#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/* --- shared with oidc_web.c ----------------------------------------------- */

void oidc_door_issuer(const struct http_req *r, char *out, size_t n)
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

bool oidc_door_on(struct http_req *r)
{
	if (r->cfg->op_key_file)
		return true;
	http_fail(r, 404, "no_provider", "no OpenID Connect provider here (op_key_file is not set)");
	return false;
}

void oidc_door_audit(const struct http_req *r, const char *event, const char *client, const char *account,
	bool ok, const char *why)
{
	struct audit_ctx a = {.event = event,
		.caller = client ? client : "oidc",
		.service = "oidc",
		.remote = r->remote,
		.account = account};

	audit(&a, ok, why);
}

/* --- small helpers ----------------------------------------------------------- */

/* OAuth's error reply {error, error_description}. */
static unsigned oauth_fail(struct http_req *r, unsigned status, const char *code, const char *desc)
{
	if (status == 401 && !r->www_authenticate)
		r->www_authenticate = "Basic realm=\"medimail-authd\"";
	return http_ok(r, status, json_pack("{s:s, s:s}", "error", code, "error_description", desc));
}

static const char *form(const struct http_req *r, const char *name)
{
	const char *v = r->body ? json_string_value(json_object_get(r->body, name)) : NULL;

	return v && *v ? v : NULL;
}

/* --- discovery and keys ------------------------------------------------------ */

unsigned oidc_discovery(struct http_req *r)
{
	char iss[300], ep[9][400];
	static const char *const paths[] = {"/oidc/authorize", "/oidc/token", "/oidc/userinfo", "/oidc/jwks",
		"/oidc/introspect", "/oidc/revoke", "/oidc/logout", "", ""};

	if (!oidc_door_on(r))
		return r->status;
	oidc_door_issuer(r, iss, sizeof(iss));
	for (size_t i = 0; i < 7; i++)
		snprintf(ep[i], sizeof(ep[i]), "%s%s", iss, paths[i]);
	return http_ok(r, 200,
		json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:[s], s:[s, s], s:[s], s:[s, s], "
			  "s:[s, s, s, s], s:[s, s], s:[s, s, s], s:[s, s, s], s:[s, s, s, s, s, s, s], "
			  "s:[s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s], s:[s], "
			  "s:[s, s], "
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
			"openid", "profile", "email", "medimail", "orgs", "bal_org", "offline_access",
			"claims_supported", "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr",
			"amr", "sid", "name", "given_name", "family_name", "preferred_username", "email",
			"email_verified", "mss_address", "rpps", "profession", "account_type", "orgs",
			"bal_org", "code_challenge_methods_supported", "S256", "prompt_values_supported",
			"none", "login", "acr_values_supported", "pwd+otp", "sc+pin", "e-cps", "psc",
			"claims_parameter_supported", 0, "request_parameter_supported", 0,
			"request_uri_parameter_supported", 0, "require_request_uri_registration", 0,
			"authorization_response_iss_parameter_supported", 1, "backchannel_logout_supported",
			1, "backchannel_logout_session_supported", 1, "claim_types_supported", "normal"));
}

unsigned oidc_jwks_get(struct http_req *r)
{
	if (!oidc_door_on(r))
		return r->status;
	return http_ok(r, 200, oidc_jwks(r->cfg));
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
		oidc_door_issuer(r, iss, sizeof(iss));
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
	oidc_door_audit(r, "oidc-client-auth", id, NULL, false, "client authentication failed");
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

	oidc_door_issuer(r, iss, sizeof(iss));
	/* the ID token first: once the tokens are issued the code or refresh token is spent, and a
	 * failure after that would leave the client only a retry that counts as a reuse */
	rc = oidc_id_token(r->store, r->cfg, cl, g, iss, &idt);
	if (rc == 0)
		rc = oidc_tokens_issue(r->store, r->cfg, g, at, rt);
	if (rc < 0) {
		free(idt);
		idt = NULL;
	}
	if (rc == -ENOENT) {
		int d = oidc_family_revoke(r->store, r->cfg, g->family);
		(void)d;
		return oauth_fail(r, 400, "invalid_grant", "the account is no longer active");
	}
	if (rc == -EACCES)
		return oauth_fail(
			r, 400, "invalid_grant", "the grant was revoked (a token of it was reused)");
	if (rc < 0) {
		return oauth_fail(r, rc == -EHOSTDOWN || rc == -EAGAIN ? 503 : 500, "server_error",
			"tokens not issued");
	}
	oidc_door_audit(r, "oidc-token", cl->id, g->user_dn, true, NULL);
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

	if (!oidc_door_on(r))
		return r->status;
	if ((st = client_auth(r, true, &cl)))
		return st;
	if (gt && !strcmp(gt, "authorization_code")) {
		rc = oidc_code_redeem(r->store, r->cfg, form(r, "code"), cl->id, form(r, "redirect_uri"),
			form(r, "code_verifier"), &g, &f);
	} else if (gt && !strcmp(gt, "refresh_token")) {
		rc = oidc_refresh_redeem(r->store, r->cfg, form(r, "refresh_token"), cl->id, &g, &f);
		const char *scope = form(r, "scope");
		if (rc == 0 && scope && strlen(scope) >= sizeof(g.scope))
			rc = fault_set(&f, -EACCES, "scope trop long");
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
		oidc_door_audit(r, "oidc-token", cl->id, NULL, false, f.message);
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

	if (!oidc_door_on(r))
		return r->status;
	if (!at || oidc_access_check(r->store, r->cfg, at, &g) < 0 || !oidc_scope_has(g.scope, "openid")) {
		r->www_authenticate = at ? "Bearer error=\"invalid_token\"" : "Bearer";
		return oauth_fail(r, 401, "invalid_token", "access token unknown, revoked or expired");
	}
	o = json_object();
	rc = o ? oidc_claims(r->store, r->cfg, g.user_dn, g.account_dn, g.scope, o) : -ENOMEM;
	if (rc < 0) {
		json_decref(o);
		r->www_authenticate = "Bearer error=\"invalid_token\"";
		return oauth_fail(r, 401, "invalid_token", "the account is no longer active");
	}
	return http_ok(r, 200, o);
}

/* A refresh token's answer (RFC 7662 2.2): what it grants, not who holds it. */
static unsigned introspect_refresh(struct http_req *r, const struct oidc_grant *g)
{
	json_t *o = json_object();
	char iss[300];

	if (!o || oidc_claims(r->store, r->cfg, g->user_dn, NULL, "openid", o) < 0) {
		json_decref(o);
		return http_ok(r, 200, json_pack("{s:b}", "active", 0));
	}
	oidc_door_issuer(r, iss, sizeof(iss));
	json_object_set_new(o, "active", json_true());
	json_object_set_new(o, "scope", json_string(g->scope));
	json_object_set_new(o, "client_id", json_string(g->client_id));
	json_object_set_new(o, "aud", json_string(g->client_id));
	json_object_set_new(o, "iss", json_string(iss));
	json_object_set_new(o, "exp", json_integer(g->exp));
	json_object_set_new(o, "auth_time", json_integer(g->auth_time));
	return http_ok(r, 200, o);
}

unsigned oidc_introspect(struct http_req *r)
{
	struct oidc_client *cl = NULL;
	struct oidc_grant g;
	const char *hint = form(r, "token_type_hint"), *tok = form(r, "token");
	struct json_out out;
	char iss[300], *text;
	size_t n;
	unsigned st;
	int rc;

	if (!oidc_door_on(r))
		return r->status;
	if ((st = client_auth(r, false, &cl)))
		return st;
	/* the hint says where to look first, the other kind is looked at after (RFC 7662 2.1) */
	if (hint && !strcmp(hint, "refresh_token")) {
		rc = oidc_refresh_check(r->store, r->cfg, tok, cl->id, &g);
		if (rc == 0) {
			oidc_client_free(cl);
			return introspect_refresh(r, &g);
		}
		rc = oidc_access_check(r->store, r->cfg, tok, &g);
	} else {
		rc = oidc_access_check(r->store, r->cfg, tok, &g);
		if (rc < 0 && oidc_refresh_check(r->store, r->cfg, tok, cl->id, &g) == 0) {
			oidc_client_free(cl);
			return introspect_refresh(r, &g);
		}
	}
	oidc_client_free(cl);
	if (rc < 0)
		return http_ok(r, 200, json_pack("{s:b}", "active", 0));
	/* an access token: flat, as Dovecot's passdb oauth2 reads it; the claims' part is kept text */
	if (oidc_claims_introspection(
		    r->store, r->cfg, g.user_dn, "openid email medimail profile", &text, &n) < 0)
		return http_ok(r, 200, json_pack("{s:b}", "active", 0));
	oidc_door_issuer(r, iss, sizeof(iss));
	json_out_take(&out, text, n);
	json_out_bool(&out, "active", true);
	json_out_str(&out, "scope", g.scope);
	json_out_str(&out, "client_id", g.client_id);
	json_out_str(&out, "aud", g.client_id);
	json_out_str(&out, "iss", iss);
	json_out_str(&out, "token_type", "bearer");
	json_out_int(&out, "exp", g.exp);
	json_out_int(&out, "auth_time", g.auth_time);
	if (!(r->text = json_out_end(&out)))
		return http_fail(r, 500, "internal", "out of memory");
	r->text_type = "application/json";
	r->status = 200;
	return 200;
}

unsigned oidc_revoke(struct http_req *r)
{
	struct oidc_client *cl = NULL;
	unsigned st;
	int rc;

	if (!oidc_door_on(r))
		return r->status;
	if ((st = client_auth(r, true, &cl)))
		return st;
	if (!form(r, "token")) {
		oidc_client_free(cl);
		return oauth_fail(r, 400, "invalid_request", "token is required");
	}
	rc = oidc_token_revoke(r->store, r->cfg, form(r, "token"), cl->id);
	oidc_door_audit(r, "oidc-revoke", cl->id, NULL, rc == 0, rc == 0 ? NULL : "not revoked");
	oidc_client_free(cl);
	if (rc == -EHOSTDOWN || (rc < 0 && rc != -EACCES))
		return oauth_fail(r, 503, "temporarily_unavailable", "directory unavailable");
	/* RFC 7009 2.2: 200 whatever the token was */
	return http_ok(r, 200, json_object());
}
