/* The HTTP API's endpoints and its route table: sessions, Pro Santé Connect
 * and the generic OpenID Connect provider (/v1/oidc/...), e-CPS. Each endpoint reads its body, calls the typed service (psc/,
 * store/records.c) with the request's caller and writes the JSON reply;
 * the unix socket's twins are in ipc/psc_req.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>
#include <strings.h>

#include "accounts.h"
#include "http.h"
#include "log.h"
#include "login.h"
#include "psc.h"
#include "secret.h"
#include "records.h"

#define PSC_COOKIE "mm_psc_state"
#define OIDC_COOKIE "mm_oidc_state"

/* Each provider's browser binding: its own cookie on its own path. */
static const struct {
	const char *cookie, *path;
} idp_http[IDP_N] = {
	[IDP_PSC] = {PSC_COOKIE, "/v1/psc"},
	[IDP_OIDC] = {OIDC_COOKIE, "/v1/oidc"},
};

static void audit_http(const struct http_req *r, const char *event, const char *method, const char *account,
	bool ok, const char *reason)
{
	struct audit_ctx a = {.event = event,
		.caller = r->client[0] ? r->client : "http",
		.method = method,
		.service = r->client[0] ? r->client : NULL,
		.remote = r->remote,
		.account = account};

	audit(&a, ok, reason);
}

/* One mapping of internal errors to HTTP for the directory and the provider. */
static unsigned fail_errno(struct http_req *r, int rc, const char *what)
{
	switch (rc) {
	case -EHOSTDOWN:
		return http_fail(r, 503, "directory_unavailable", "directory unavailable, retry later");
	case -EHOSTUNREACH:
		/* TLS refused, no client certificate, unreachable: said once, in the log */
		if (*idp_transport_error())
			log_msg(LOG_WARNING, "api %s: %s", what, idp_transport_error());
		return http_fail(r, 502, "provider_error", "%s: identity provider unreachable or failing%s",
			what,
			strstr(idp_transport_error(), "TLS") ? " (TLS session refused: see the daemon's log)"
							     : "");
	case -ENOSYS:
		return http_fail(
			r, 404, "not_configured", "this identity provider is not configured on this daemon");
	default:
		log_msg(LOG_ERR, "api %s: %s", what, strerror(-rc));
		return http_fail(r, 500, "internal", "%s failed", what);
	}
}

/* The reply of a session: the account it acts as, or cgu_required (403,
 * with the token that POST /v1/cgu/accept takes). */
unsigned api_session_json(
	struct http_req *r, const struct login_api_session *ls, const char *token, unsigned status)
{
	json_t *o;

	if (ls->cgu_required) {
		status = http_fail(r, 403, "cgu_required",
			"les conditions générales d'utilisation doivent être acceptées avant la première "
			"connexion (POST /v1/cgu/accept)");
		o = r->reply;
		json_object_set_new(o, "cgu_required", json_true());
		json_object_set_new(o, "status", json_string("cgu_required"));
	} else {
		o = json_pack("{s:s, s:s, s:s, s:b}", "status", "authenticated", "account", ls->account.login,
			"account_type", ls->account.account_type, "cgu_required", 0);
		http_ok(r, status, o);
	}
	if (!o)
		return status;
	json_object_set_new(o, "user", json_string(ls->user));
	json_object_set_new(o, "method", json_string(ls->method));
	json_object_set_new(o, "expires_at", json_integer(ls->expires_at));
	if (token)
		json_object_set_new(o, "session_token", json_string(token));
	return status;
}

unsigned api_session_reply(struct http_req *r, const char *account_dn, const char *method, unsigned status)
{
	struct login_api_session ls;
	struct fault f = {0};
	struct caller who;
	int rc;

	if (r->web)
		return web_session_open_reply(r, account_dn, method, status);
	http_client_caller(r, &who);
	rc = login_api_session_open(r->store, r->cfg, &who, account_dn, method, &ls, &f);
	if (rc == -EPERM) {
		status = http_fail(
			r, 403, "not_permitted", "%s", f.message ? f.message : "account not active");
		if (fault_get(&f, "reason"))
			json_object_set_new(r->reply, "reason", json_string(fault_get(&f, "reason")));
		fault_clear(&f);
		return status;
	}
	fault_clear(&f);
	if (rc < 0)
		return fail_errno(r, rc == -ENOENT ? -EIO : rc, "session");
	status = api_session_json(r, &ls, ls.token, status);
	secret_wipe(&ls, sizeof(ls));
	return status;
}

/* --- endpoints ------------------------------------------------------------ */

static unsigned ep_healthz(struct http_req *r)
{
	static const char *const attrs[] = {"1.1", NULL};
	struct entry *e = NULL;
	int rc = store_read(r->store, r->cfg->ldap_base, attrs, &e);

	entry_free(e);
	if (rc < 0)
		return http_fail(r, 503, "directory_unavailable", "directory unreachable");
	return http_ok(r, 200, json_pack("{s:s, s:s}", "status", "ok", "version", MM_VERSION));
}

static unsigned ep_metrics(struct http_req *r)
{
	const char *auth = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");

	/* A token in the URL lands in proxies' and browsers' logs: refused, whatever it is. */
	if (http_arg(r, "token") || http_arg(r, "access_token"))
		return http_fail(r, 403, "forbidden", "the token goes in an Authorization header");
	if (!metrics_allowed(r->cfg, r->remote, auth))
		return http_fail(r, 403, "forbidden", "not allowed to read the metrics");
	r->text = http_metrics_render();
	r->text_type = "text/plain; version=0.0.4";
	r->status = r->text ? 200 : 500;
	return r->status;
}

static const struct body_field token_fields[] = {{"token", true, 256}};

static unsigned ep_introspect(struct http_req *r)
{
	struct session_info si;
	json_t *o;
	int rc;

	if ((rc = (int)http_body_check(r, token_fields, 1)))
		return (unsigned)rc;
	rc = session_introspect(r->store, r->cfg, http_body_str(r, "token"), &si);
	if (rc == -ENOENT || rc == -EINVAL)
		return http_ok(r, 200, json_pack("{s:b}", "active", 0));
	if (rc < 0)
		return fail_errno(r, rc, "introspect");
	o = json_pack("{s:b, s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "active", 1, "sub", si.login, "account",
		si.login, "username", si.login, "exp", (json_int_t)si.exp, "iat", (json_int_t)si.iat,
		"method", si.method, "token_type", "session");
	if (o && si.mss_address[0])
		json_object_set_new(o, "mss_address", json_string(si.mss_address));
	if (o && si.service[0])
		json_object_set_new(o, "client_id", json_string(si.service));
	return http_ok(r, 200, o);
}

static unsigned ep_logout(struct http_req *r)
{
	int rc;

	if ((rc = (int)http_body_check(r, token_fields, 1)))
		return (unsigned)rc;
	rc = session_revoke(r->store, r->cfg, http_body_str(r, "token"));
	if (rc < 0 && rc != -ENOENT && rc != -EINVAL)
		return fail_errno(r, rc, "logout");
	audit_http(r, "logout", NULL, NULL, rc == 0, rc == 0 ? "session revoked" : "no such session");
	return http_ok(r, 200, json_pack("{s:b}", "revoked", rc == 0));
}

/* A refusal of ecps_start or ecps_poll, in the API's words. */
static unsigned ecps_fault(struct http_req *r, const struct fault *f)
{
	const char *reason = fault_get(f, "reason");

	switch (f->status) {
	case -ENOENT:
		return http_fail(r, 404, "unknown_user", "%s",
			reason && !strcmp(reason, "unknown_user") ? "unknown to Pro Santé Connect"
								  : "unknown account");
	case -EPERM:
		if (reason && !strcmp(reason, "no_national_id"))
			return http_fail(r, 403, "not_permitted", "no national id: link a CPS/e-CPS first");
		return http_fail(r, 403, "not_permitted", "account not active");
	default: return fail_errno(r, f->status ? f->status : -EIO, "e-CPS");
	}
}

/* A service client starts a push for any account it names: the approval
 * on the person's phone is what authenticates. */
unsigned api_ecps_start(struct http_req *r)
{
	static const struct body_field fields[] = {{"user", true, 254}};
	const char **attrs = accounts_attrs_with_identity(ecps_account_attrs);
	struct entry *account = NULL;
	struct fault f = {0};
	struct ecps_start st;
	struct caller who;
	unsigned status;
	int rc;

	if (!attrs)
		return http_fail(r, 500, "internal", "out of memory");
	if ((rc = (int)http_body_check(r, fields, 1))) {
		free(attrs);
		return (unsigned)rc;
	}
	http_client_caller(r, &who);
	rc = accounts_find(r->store, r->cfg, http_body_str(r, "user"), attrs, &account);
	free(attrs);
	if (rc == -ENOENT || rc == -ENOTUNIQ) {
		audit_http(r, "ecps-start", "ecps", http_body_str(r, "user"), false, "unknown account");
		return http_fail(r, 404, "unknown_user", "unknown account");
	}
	if (rc < 0)
		return fail_errno(r, rc, "e-CPS");
	rc = ecps_start(r->store, r->cfg, &who, account, &st, &f);
	entry_free(account);
	if (rc < 0) {
		status = ecps_fault(r, &f);
		fault_clear(&f);
		return status;
	}
	http_ok(r, 200,
		json_pack("{s:s, s:s, s:i, s:i}", "request_id", st.request_id, "binding_message",
			st.binding_message, "interval", (int)st.interval, "expires_in", (int)st.expires_in));
	secret_wipe(&st, sizeof(st));
	return 200;
}

/* A service client collects any approval (ACCESS_PUBLIC): it holds the
 * request id it was given at the start. */
unsigned api_ecps_poll(struct http_req *r)
{
	static const struct body_field fields[] = {{"request_id", true, 128}};
	struct ecps_result res;
	struct fault f = {0};
	struct caller who;
	unsigned status;
	int rc;

	if ((rc = (int)http_body_check(r, fields, 1)))
		return (unsigned)rc;
	http_client_caller(r, &who);
	rc = ecps_poll(r->store, r->cfg, &who, ACCESS_PUBLIC, http_body_str(r, "request_id"), &res, &f);
	if (rc < 0) {
		if (f.status == -EINVAL)
			status = http_fail(r, 400, "invalid_field", "request_id is malformed");
		else if (f.status == -EACCES || f.status == -EPERM) {
			audit_http(r, "ecps", "ecps", NULL, false, res.why);
			status = http_fail(r, 403, "access_denied", "%s", res.why ? res.why : "refused");
		} else {
			status = fail_errno(r, f.status ? f.status : -EIO, "e-CPS");
		}
		fault_clear(&f);
		return status;
	}
	switch (res.state) {
	case ECPS_PENDING:
	case ECPS_SLOW_DOWN: return http_ok(r, 200, json_pack("{s:s}", "status", ecps_state_name(res.state)));
	case ECPS_DENIED:
		audit_http(r, "ecps", "ecps", NULL, false, "denied by the user");
		status = http_fail(r, 403, "access_denied", "the user refused the request");
		json_object_set_new(r->reply, "status", json_string("denied"));
		return status;
	case ECPS_EXPIRED:
		status = http_fail(r, 410, "expired", "the request expired or was already used");
		json_object_set_new(r->reply, "status", json_string("expired"));
		return status;
	case ECPS_DONE: break;
	}
	status = api_session_reply(r, res.account_dn, "ecps", 200);
	ecps_result_clear(&res);
	return status;
}

static unsigned idp_login(struct http_req *r, enum idp idp)
{
	char state[SECRET_TOKEN_HEX];
	char *url = NULL;
	int rc = idp_login_begin(r->cfg, r->store, idp, &url, state);

	if (rc < 0)
		return fail_errno(r, rc, "login");
	if (asprintf(&r->cookie, "%s=%s; Path=%s; Max-Age=%u; HttpOnly; SameSite=Lax%s", idp_http[idp].cookie,
		    state, idp_http[idp].path, r->cfg->psc_flow_ttl, r->tls ? "; Secure" : "") < 0)
		r->cookie = NULL;
	secret_wipe(state, sizeof(state));
	r->location = url;
	return http_ok(r, 302, json_pack("{s:s}", "authorization_url", url));
}

/* A browser's Pro Santé Connect login ends on a page: the account's, the
 * CGU's, or the login page saying why (its error code in the query). */
static unsigned psc_web_landing(struct http_req *r, unsigned status)
{
	const char *err = json_string_value(json_object_get(r->reply, "error"));
	const char *st = json_string_value(json_object_get(r->reply, "status"));
	char *c = NULL;

	if (asprintf(&c, "mm_psc_web=; Path=/v1/psc; Max-Age=0; HttpOnly; SameSite=Lax%s",
		    r->tls ? "; Secure" : "") >= 0)
		http_add_cookie(r, c);
	free(r->location);
	r->location = NULL;
	/* An identity to link: its handle waits in a cookie for the password +
	 * code login of the account (POST /v1/web/psc/link), never in the URL. */
	if (err && !strcmp(err, "link_required") && json_string_value(json_object_get(r->reply, "link")) &&
		asprintf(&c, "mm_psc_link=%s; Path=/v1/web/psc; Max-Age=%u; HttpOnly; SameSite=Strict%s",
			json_string_value(json_object_get(r->reply, "link")), r->cfg->psc_flow_ttl,
			r->tls ? "; Secure" : "") >= 0)
		http_add_cookie(r, c);
	/* from /oidc/authorize: back there (the request is kept server-side under its handle) */
	const char *resume = http_cookie(r, PSC_RESUME_COOKIE);
	if (!web_resume_handle_ok(resume))
		resume = NULL;
	if (resume &&
		asprintf(&c, PSC_RESUME_COOKIE "=; Path=/v1/psc; Max-Age=0; HttpOnly; SameSite=Lax%s",
			r->tls ? "; Secure" : "") >= 0)
		http_add_cookie(r, c);
	if (status == 200 && st && !strcmp(st, "cgu_required")) {
		/* the CGU first, then back to the pending authorization request */
		if (asprintf(&r->location, "/cgu%s%s",
			    resume ? "?suite=%2Foidc%2Fauthorize%3Frequete%3D" : "",
			    resume ? resume : "") < 0)
			r->location = NULL;
	} else if (status == 200 && resume) {
		if (asprintf(&r->location, "/oidc/authorize?requete=%s", resume) < 0)
			r->location = NULL;
	} else if (status == 200)
		r->location = strdup("/");
	else if (asprintf(&r->location, "/connexion?psc=%s%s%s",
			 err && strspn(err, "abcdefghijklmnopqrstuvwxyz_") == strlen(err) ? err : "error",
			 resume ? "&suite=%2Foidc%2Fauthorize%3Frequete%3D" : "", resume ? resume : "") < 0)
		r->location = NULL;
	r->status = r->location ? 302 : status;
	return r->status;
}

static unsigned idp_callback(struct http_req *r, enum idp idp)
{
	const char *state = http_arg(r, "state"), *code = http_arg(r, "code"), *err = http_arg(r, "error");
	const char *cookie = http_cookie(r, idp_http[idp].cookie), *why = NULL;
	const char *method = idp_name(r->cfg, idp), *label = idp_label(r->cfg, idp);
	struct psc_identity id;
	unsigned status;
	int rc;

	r->web = http_cookie(r, "mm_psc_web") != NULL;
	/* The flow belongs to the browser that started it. */
	if (!state || !cookie || strlen(state) != strlen(cookie) || !secret_equal(state, cookie)) {
		audit_http(r, method, method, NULL, false, "state mismatch");
		status = http_fail(r, 400, "invalid_state", "state missing or not this browser's");
		return r->web ? psc_web_landing(r, status) : status;
	}
	if (asprintf(&r->cookie, "%s=; Path=%s; Max-Age=0; HttpOnly; SameSite=Lax%s", idp_http[idp].cookie,
		    idp_http[idp].path, r->tls ? "; Secure" : "") < 0)
		r->cookie = NULL;
	if (err) {
		/* consume the state so that it cannot serve again */
		idp_login_abort(r->cfg, r->store, idp, state);
		audit_http(r, method, method, NULL, false, "provider returned an error");
		status = http_fail(r, 403, "access_denied", "%s refused the login", label);
		return r->web ? psc_web_landing(r, status) : status;
	}
	rc = idp_login_finish(r->cfg, r->store, idp, state, code, &id, &why);
	switch (rc) {
	case 0: status = api_session_reply(r, id.account_dn, method, 200); break;
	case -EINVAL:
		audit_http(r, method, method, NULL, false, why);
		status = http_fail(r, 400, "invalid_request", "%s missing, unknown, expired or already used",
			why ? why : "state");
		break;
	case -EACCES:
		audit_http(r, method, method, NULL, false, why);
		status = http_fail(r, 401, "invalid_token", "%s answer refused: %s", label, why ? why : "?");
		break;
	case -ENOLINK:
		audit_http(r, method, method, idp == IDP_PSC ? id.national_id : NULL, false, "link required");
		/* Linking needs one password + code login: POST <path>/link with the handle. */
		status = http_fail(r, 403, "link_required",
			"no account is linked to this %s identity; log in with your password and code "
			"once to link it",
			label);
		if (idp == IDP_PSC)
			json_object_set_new(r->reply, "national_id", json_string(id.national_id));
		json_object_set_new(r->reply, "given_name", json_string(id.given_name));
		json_object_set_new(r->reply, "family_name", json_string(id.family_name));
		/* from /oidc/authorize: the link, once made, resumes that request */
		api_psc_link_offer(r, &id, r->web ? http_cookie(r, PSC_RESUME_COOKIE) : NULL);
		break;
	case -EPERM:
		audit_http(r, method, method, id.login, false, "account not active");
		status = http_fail(r, 403, "not_permitted", "account not active");
		break;
	default: status = fail_errno(r, rc, idp == IDP_PSC ? "Pro Santé Connect login" : "login");
	}
	psc_identity_clear(&id);
	return r->web ? psc_web_landing(r, status) : status;
}

unsigned api_psc_login(struct http_req *r)
{
	return idp_login(r, IDP_PSC);
}

static unsigned ep_psc_callback(struct http_req *r)
{
	return idp_callback(r, IDP_PSC);
}

static unsigned ep_oidc_login(struct http_req *r)
{
	return idp_login(r, IDP_OIDC);
}

static unsigned ep_oidc_callback(struct http_req *r)
{
	return idp_callback(r, IDP_OIDC);
}

static unsigned ep_other(struct http_req *r)
{
	return http_fail(r, 404, "not_found", "no such endpoint");
}

const struct route api_routes[ROUTE_N] = {
	[ROUTE_HEALTHZ] = {"/healthz", "GET", false, ep_healthz, "healthz", false},
	[ROUTE_METRICS] = {"/metrics", "GET", false, ep_metrics, "metrics", false},
	[ROUTE_INTROSPECT] = {"/v1/introspect", "POST", true, ep_introspect, "introspect", false},
	[ROUTE_LOGOUT] = {"/v1/logout", "POST", true, ep_logout, "logout", false},
	[ROUTE_ECPS_START] = {"/v1/ecps/start", "POST", true, api_ecps_start, "ecps_start", false},
	[ROUTE_ECPS_POLL] = {"/v1/ecps/poll", "POST", true, api_ecps_poll, "ecps_poll", false},
	[ROUTE_PSC_LOGIN] = {"/v1/psc/login", "GET", false, api_psc_login, "psc_login", false},
	[ROUTE_PSC_CALLBACK] = {"/v1/psc/callback", "GET", false, ep_psc_callback, "psc_callback", false},
	[ROUTE_LOGIN_PASSWORD] = {"/v1/login/password", "POST", true, api_login_password, "login_password",
		false},
	[ROUTE_LOGIN_CODE] = {"/v1/login/code", "POST", true, api_login_code, "login_code", false},
	[ROUTE_PSC_LINK] = {"/v1/psc/link", "POST", true, api_psc_link, "psc_link", false},
	[ROUTE_CGU_ACCEPT] = {"/v1/cgu/accept", "POST", true, api_cgu_accept, "cgu_accept", false},
	[ROUTE_SESSION_SWITCH] = {"/v1/session/switch", "POST", true, api_session_switch, "session_switch",
		false},
	[ROUTE_PSC_REGISTER_PREFILL] = {"/v1/psc/register/prefill", "POST", true, api_psc_register_prefill,
		"psc_register_prefill", false},
	[ROUTE_PSC_REGISTER] = {"/v1/psc/register", "POST", true, api_psc_register, "psc_register", false},
	[ROUTE_OIDC_LOGIN] = {"/v1/oidc/login", "GET", false, ep_oidc_login, "oidc_login", false},
	[ROUTE_OIDC_CALLBACK] = {"/v1/oidc/callback", "GET", false, ep_oidc_callback, "oidc_callback", false},
	[ROUTE_OIDC_LINK] = {"/v1/oidc/link", "POST", true, api_oidc_link, "oidc_link", false},
	[ROUTE_WEB_SESSION] = {"/v1/web/session", "GET", false, web_session_get, "web_session", false},
	[ROUTE_WEB_REGISTRATION] = {"/v1/web/registration", "GET", false, web_registration_get,
		"web_registration", false},
	[ROUTE_WEB_LOGIN_PASSWORD] = {"/v1/web/login/password", "POST", false, web_login_password,
		"web_login_password", false},
	[ROUTE_WEB_LOGIN_CODE] = {"/v1/web/login/code", "POST", false, web_login_code, "web_login_code",
		false},
	[ROUTE_WEB_LOGIN_RESEND] = {"/v1/web/login/resend", "POST", false, web_login_resend,
		"web_login_resend", false},
	[ROUTE_WEB_CGU_ACCEPT] = {"/v1/web/cgu/accept", "POST", false, web_cgu_accept, "web_cgu_accept",
		false},
	[ROUTE_WEB_SWITCH] = {"/v1/web/switch", "POST", false, web_switch, "web_switch", false},
	[ROUTE_WEB_LOGOUT] = {"/v1/web/logout", "POST", false, web_logout, "web_logout", false},
	[ROUTE_WEB_ECPS_START] = {"/v1/web/ecps/start", "POST", false, web_ecps_start, "web_ecps_start",
		false},
	[ROUTE_WEB_ECPS_POLL] = {"/v1/web/ecps/poll", "POST", false, web_ecps_poll, "web_ecps_poll", false},
	[ROUTE_WEB_PSC_LOGIN] = {"/v1/web/psc/login", "GET", false, web_psc_login, "web_psc_login", false},
	[ROUTE_WEB_PSC_LINK] = {"/v1/web/psc/link", "POST", false, web_psc_link, "web_psc_link", false},
	[ROUTE_WEB_PSC_REGISTER_PREFILL] = {"/v1/web/psc/register/prefill", "POST", false,
		web_psc_register_prefill, "web_psc_register_prefill", false},
	[ROUTE_WEB_PSC_REGISTER] = {"/v1/web/psc/register", "POST", false, web_psc_register,
		"web_psc_register", false},
	[ROUTE_OIDC_DISCOVERY] = {"/.well-known/openid-configuration", "GET", false, oidc_discovery,
		"oidc_discovery", false},
	[ROUTE_OIDC_JWKS] = {"/oidc/jwks", "GET", false, oidc_jwks_get, "oidc_jwks", false},
	[ROUTE_OIDC_AUTHORIZE] = {"/oidc/authorize", "GET", false, oidc_authorize, "oidc_authorize", false},
	[ROUTE_OIDC_TOKEN] = {"/oidc/token", "POST", false, oidc_token, "oidc_token", true},
	[ROUTE_OIDC_USERINFO] = {"/oidc/userinfo", "GET|POST", false, oidc_userinfo, "oidc_userinfo",
		.form = true},
	[ROUTE_OIDC_INTROSPECT] = {"/oidc/introspect", "POST", false, oidc_introspect, "oidc_introspect",
		.form = true},
	[ROUTE_OIDC_REVOKE] = {"/oidc/revoke", "POST", false, oidc_revoke, "oidc_revoke", true},
	[ROUTE_OIDC_LOGOUT] = {"/oidc/logout", "GET", false, oidc_logout, "oidc_logout", false},
	[ROUTE_OIDC_CONSENT_INFO] = {"/v1/oidc/consent", "GET", false, oidc_consent_info, "oidc_consent_info",
		false},
	[ROUTE_OIDC_CONSENT] = {"/v1/oidc/consent/decide", "POST", false, oidc_consent, "oidc_consent",
		false},
	[ROUTE_CALL] = {"/v1/call/{name}", "POST", false, web_call, "call", false},
	[ROUTE_PAGE] = {"/{page}", "GET", false, web_page, "page", false},
	[ROUTE_OTHER] = {"", "", false, ep_other, "other", false},
};
