/* The web pages' door (docs/architecture.md, "Web pages"): the files of
 * web_root, the browser session in a cookie, CSRF, the login routes for a
 * browser, and the bridge POST /v1/call/<request-name> to the socket's
 * request table (ipc/json_door.c). The rules stay in the services. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>
#include <strings.h>

#include "account.h"
#include "accounts.h"
#include "http.h"
#include "json_door.h"
#include "log.h"
#include "login.h"
#include "secret.h"

#define COOKIE_TLS "__Host-mm_session"
#define COOKIE_PLAIN "mm_session" /* plain HTTP, on loopback only (listener.c) */
#define PSC_WEB_COOKIE "mm_psc_web"
#define CSRF_CONTEXT "web-csrf"

static const char *cookie_name(const struct http_req *r)
{
	return r->tls ? COOKIE_TLS : COOKIE_PLAIN;
}

static const char *header(const struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

/* The caller of a browser: nobody's uid, never an administrator; the
 * person of the session (dn) when there is one. */
static void web_caller(const struct http_req *r, struct caller *who, const char *dn)
{
	memset(who, 0, sizeof(*who));
	who->uid = (uid_t)-1;
	who->gid = (gid_t)-1;
	who->dn = dn && *dn ? dn : NULL;
	snprintf(who->name, sizeof(who->name), "%s", who->dn ? "web-session" : "web");
	who->service = "web";
	who->rhost = r->remote;
}

static void set_cookie(struct http_req *r, const char *token)
{
	char *c = NULL;

	if (token) {
		if (asprintf(&c, "%s=%s; Path=/; HttpOnly; SameSite=Strict%s", cookie_name(r), token,
			    r->tls ? "; Secure" : "") < 0)
			c = NULL;
	} else if (asprintf(&c, "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s", cookie_name(r),
			   r->tls ? "; Secure" : "") < 0) {
		c = NULL;
	}
	http_add_cookie(r, c);
}

static int csrf_of(const char *token, char out[SECRET_HASH_HEX])
{
	return secret_keyed_hash(CSRF_CONTEXT, token, out);
}

/* A state change comes from the daemon's own pages: Origin is this
 * origin (web_origin, else the scheme and Host of the request), or,
 * without Origin, Sec-Fetch-Site says same-origin. 0, or the 403 set. */
static unsigned origin_check(struct http_req *r)
{
	const char *origin = header(r, "Origin"), *host = header(r, "Host"), *sfs;
	char own[300];

	if (origin) {
		if (r->cfg->web_origin)
			snprintf(own, sizeof(own), "%s", r->cfg->web_origin);
		else if (host)
			snprintf(own, sizeof(own), "%s://%s", r->tls ? "https" : "http", host);
		else
			own[0] = '\0';
		if (own[0] && !strcasecmp(origin, own))
			return 0;
	} else if ((sfs = header(r, "Sec-Fetch-Site")) && !strcmp(sfs, "same-origin")) {
		return 0;
	}
	struct audit_ctx a = {.event = "web-csrf", .caller = "web", .remote = r->remote};
	audit(&a, false, origin ? "request from another origin" : "no Origin nor Sec-Fetch-Site");
	return http_fail(r, 403, "csrf_origin",
		"requête refusée : elle ne vient pas des pages de ce service (en-tête Origin %s)",
		origin ? "d'un autre site" : "absent");
}

/* X-CSRF-Token must be the keyed hash of the session's token. */
static unsigned csrf_check(struct http_req *r, const char *token)
{
	const char *got = header(r, "X-CSRF-Token");
	char want[SECRET_HASH_HEX];

	if (csrf_of(token, want) < 0)
		return http_fail(r, 500, "internal", "CSRF token unavailable");
	if (got && strlen(got) == strlen(want) && secret_equal(got, want)) {
		secret_wipe(want, sizeof(want));
		return 0;
	}
	secret_wipe(want, sizeof(want));
	struct audit_ctx a = {.event = "web-csrf", .caller = "web-session", .remote = r->remote};
	audit(&a, false, got ? "wrong X-CSRF-Token" : "no X-CSRF-Token");
	return http_fail(r, 403, "csrf_token", "requête refusée : jeton anti-CSRF (en-tête X-CSRF-Token) %s",
		got ? "invalide" : "absent");
}

/* The live browser session of the cookie: 1 and *ws filled, 0 none (no
 * cookie, or a session unknown, deleted or timed out), or the error reply
 * set and *st its status. */
static int session_of(struct http_req *r, struct login_web_session *ws, unsigned *st)
{
	const char *token = http_cookie(r, cookie_name(r));
	struct fault f = {0};
	struct caller who;
	int rc;

	*st = 0;
	memset(ws, 0, sizeof(*ws));
	if (!token)
		return 0;
	web_caller(r, &who, NULL);
	rc = login_web_check(r->store, r->cfg, &who, token, ws, &f);
	if (rc == 0) {
		fault_clear(&f);
		return 1;
	}
	if (rc == -ENOENT || rc == -EPERM) {
		fault_clear(&f);
		return 0;
	}
	fault_clear(&f);
	*st = rc == -EHOSTDOWN
		? http_fail(r, 503, "directory_unavailable", "annuaire indisponible, réessayez plus tard")
		: http_fail(r, 500, "internal", "session illisible");
	return -1;
}

static unsigned guard(struct http_req *r, struct login_web_session *ws);

int web_session_current(
	struct http_req *r, struct login_web_session *ws, const char **ret_token, unsigned *st)
{
	int rc = session_of(r, ws, st);

	*ret_token = rc == 1 ? http_cookie(r, cookie_name(r)) : NULL;
	return rc;
}

unsigned web_guard(struct http_req *r, struct login_web_session *ws)
{
	return guard(r, ws);
}

/* Origin, then the session (required), then the CSRF token. */
static unsigned guard(struct http_req *r, struct login_web_session *ws)
{
	unsigned st;
	int rc;

	if ((st = origin_check(r)))
		return st;
	if ((rc = session_of(r, ws, &st)) < 0)
		return st;
	if (rc == 0)
		return http_fail(r, 401, "login_required", "connexion requise");
	return csrf_check(r, http_cookie(r, cookie_name(r)));
}

static json_t *account_json(const struct login_account *a)
{
	return json_pack(
		"{s:s, s:s, s:s}", "login", a->login, "type", a->account_type, "address", a->address);
}

/* The reply of a session just opened or rotated (token: the new one). */
static unsigned session_reply(struct http_req *r, const struct login_web_session *ws, const char *token)
{
	char csrf[SECRET_HASH_HEX];
	json_t *o;

	if (csrf_of(token, csrf) < 0)
		return http_fail(r, 500, "internal", "CSRF token unavailable");
	set_cookie(r, token);
	o = json_pack("{s:s, s:s, s:b, s:s, s:I, s:I}", "status",
		ws->s.cgu_required ? "cgu_required" : "authenticated", "user", ws->s.user, "cgu_required",
		ws->s.cgu_required, "csrf_token", csrf, "expires_at", (json_int_t)ws->s.expires_at, "ends_at",
		(json_int_t)ws->ends_at);
	secret_wipe(csrf, sizeof(csrf));
	if (o && !ws->s.cgu_required)
		json_object_set_new(o, "account", account_json(&ws->s.account));
	return http_ok(r, 200, o);
}

unsigned web_session_open_reply(
	struct http_req *r, const char *account_dn, const char *method, unsigned status)
{
	const char *old = http_cookie(r, cookie_name(r));
	struct login_web_session ws;
	struct fault f = {0};
	struct caller who;
	unsigned st;
	int rc;

	(void)status;
	web_caller(r, &who, NULL);
	/* A new login: whatever session this browser had dies with it. */
	if (old && login_web_close(r->store, r->cfg, &who, old, &f) < 0)
		log_msg(LOG_WARNING, "web: the previous session of a login was not deleted");
	fault_clear(&f);
	rc = login_web_open(r->store, r->cfg, &who, account_dn, method, &ws, &f);
	if (rc == -EPERM) {
		st = http_fail(r, 403, "not_permitted", "%s", f.message ? f.message : "compte inactif");
		if (fault_get(&f, "reason"))
			json_object_set_new(r->reply, "reason", json_string(fault_get(&f, "reason")));
		fault_clear(&f);
		return st;
	}
	fault_clear(&f);
	if (rc < 0)
		return rc == -EHOSTDOWN ? http_fail(r, 503, "directory_unavailable", "annuaire indisponible")
					: http_fail(r, 500, "internal", "la session n'a pas pu être ouverte");
	st = session_reply(r, &ws, ws.s.token);
	secret_wipe(&ws, sizeof(ws));
	return st;
}

/* --- GET of a page or an asset -------------------------------------------- */

unsigned web_page(struct http_req *r)
{
	const unsigned char *data;
	const char *type;
	size_t len;

	if (web_file_find(r->files, r->url, &data, &len, &type)) {
		r->status = 200;
	} else if (web_file_find(r->files, "/404", &data, &len, &type)) {
		r->status = 404;
	} else {
		return http_fail(r, 404, "no_such_page", "no such page");
	}
	r->blob = data;
	r->blob_len = len;
	r->text_type = type;
	return r->status;
}

/* --- GET /v1/web/registration ----------------------------------------------- */

/* What the "Créer un compte" page needs before any field: the regions where
 * registration is open ("disponible seulement dans les régions où Medimail a
 * été choisi", guide 000), as regions_open spells them; none listed: every
 * region is open and the page offers France's. */
unsigned web_registration_get(struct http_req *r)
{
	json_t *list = json_array();

	for (size_t i = 0; list && i < r->cfg->nregions; i++)
		json_array_append_new(list, json_string(r->cfg->regions[i]));
	if (!list)
		return http_fail(r, 500, "internal", "mémoire insuffisante");
	return http_ok(
		r, 200, json_pack("{s:o, s:b}", "regions", list, "every_region", r->cfg->nregions == 0));
}

/* --- GET /v1/web/session ---------------------------------------------------- */

unsigned web_session_get(struct http_req *r)
{
	static const char *const attrs[] = {"uid", "mmAccountType", "mmStatus", "mmLoginMail", "mmMssAddress",
		"mmDefaultAccount", "uidNumber", "mmStatusReason", "sn", "givenName", NULL};
	const char *token = http_cookie(r, cookie_name(r));
	struct login_web_session ws;
	struct login_choice *ch = NULL;
	struct entry *u = NULL;
	struct fault f = {0};
	struct caller who;
	char csrf[SECRET_HASH_HEX];
	size_t n = 0;
	unsigned st;
	json_t *o, *user, *list;
	int rc;

	if ((rc = session_of(r, &ws, &st)) < 0)
		return st;
	if (rc == 0) {
		if (token)
			set_cookie(r, NULL); /* a dead cookie is dropped */
		return http_ok(r, 200, json_pack("{s:b}", "authenticated", 0));
	}
	web_caller(r, &who, ws.user_dn);
	if ((rc = accounts_by_dn(r->store, r->cfg, ws.user_dn, attrs, &u)) < 0)
		return http_fail(r, 503, "directory_unavailable", "annuaire indisponible");
	if (!ws.s.cgu_required && (rc = login_accounts(r->store, r->cfg, &who, u, &ch, &n, &f)) < 0) {
		fault_clear(&f);
		entry_free(u);
		return http_fail(r, 503, "directory_unavailable", "annuaire indisponible");
	}
	if (csrf_of(token, csrf) < 0) {
		free(ch);
		entry_free(u);
		return http_fail(r, 500, "internal", "CSRF token unavailable");
	}
	user = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "login", ws.s.user, "given_name",
		entry_get(u, "givenName") ?: "", "sn", entry_get(u, "sn") ?: "", "login_mail",
		entry_get(u, "mmLoginMail") ?: "", "mss_address", entry_get(u, "mmMssAddress") ?: "", "type",
		entry_get(u, "mmAccountType") ?: "");
	list = json_array();
	for (size_t i = 0; list && i < n; i++)
		json_array_append_new(list,
			json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:b}", "login", ch[i].login, "type",
				ch[i].type, "status", ch[i].status, "mss_address", ch[i].mss_address,
				"login_mail", ch[i].login_mail, "default", ch[i].is_default, "self",
				ch[i].self));
	o = json_pack("{s:b, s:s, s:b, s:o, s:o, s:s, s:s, s:I, s:I}", "authenticated", 1, "status",
		ws.s.cgu_required ? "cgu_required" : "authenticated", "cgu_required", ws.s.cgu_required,
		"user", user, "accounts", list, "csrf_token", csrf, "method", ws.s.method, "expires_at",
		(json_int_t)ws.s.expires_at, "ends_at", (json_int_t)ws.ends_at);
	secret_wipe(csrf, sizeof(csrf));
	if (o && !ws.s.cgu_required)
		json_object_set_new(o, "account", account_json(&ws.s.account));
	free(ch);
	entry_free(u);
	return http_ok(r, 200, o);
}

/* --- the login routes, for a browser ---------------------------------------- */

/* The API's login endpoint h for a browser: the same services, the same
 * lockout and limits; a session goes to the cookie. */
static unsigned as_browser(struct http_req *r, unsigned (*h)(struct http_req *))
{
	unsigned st;

	if ((st = origin_check(r)))
		return st;
	r->web = true;
	snprintf(r->client, sizeof(r->client), "web");
	return h(r);
}

unsigned web_login_password(struct http_req *r)
{
	return as_browser(r, api_login_password);
}

unsigned web_login_code(struct http_req *r)
{
	return as_browser(r, api_login_code);
}

unsigned web_login_resend(struct http_req *r)
{
	return as_browser(r, api_login_resend);
}

unsigned web_ecps_start(struct http_req *r)
{
	return as_browser(r, api_ecps_start);
}

unsigned web_ecps_poll(struct http_req *r)
{
	return as_browser(r, api_ecps_poll);
}

/* A top-level navigation: no Origin to check, nothing changed but a flow
 * started; the callback knows by the cookie that a browser session is due. */
bool web_resume_handle_ok(const char *h)
{
	return h && strlen(h) == SECRET_TOKEN_HEX - 1 &&
		strspn(h, "0123456789abcdef") == SECRET_TOKEN_HEX - 1;
}

/* suite: where /connexion was to go next; only an authorization request's
 * own path is kept (as its handle), anything else is no destination. */
static const char *resume_handle(const char *suite)
{
	static const char prefix[] = "/oidc/authorize?requete=";

	if (!suite || strncmp(suite, prefix, sizeof(prefix) - 1))
		return NULL;
	return web_resume_handle_ok(suite + sizeof(prefix) - 1) ? suite + sizeof(prefix) - 1 : NULL;
}

unsigned web_psc_login(struct http_req *r)
{
	const char *handle = resume_handle(http_arg(r, "suite"));
	char *c = NULL;
	unsigned st;

	r->web = true;
	st = api_psc_login(r);
	if (st == 302 &&
		asprintf(&c, PSC_WEB_COOKIE "=1; Path=/v1/psc; Max-Age=%u; HttpOnly; SameSite=Lax%s",
			r->cfg->psc_flow_ttl, r->tls ? "; Secure" : "") >= 0)
		http_add_cookie(r, c);
	/* Lax: sent on the provider's top-level redirect back to the callback */
	if (st == 302 &&
		asprintf(&c, PSC_RESUME_COOKIE "=%s; Path=/v1/psc; Max-Age=%u; HttpOnly; SameSite=Lax%s",
			handle ? handle : "", handle ? r->cfg->psc_flow_ttl : 0,
			r->tls ? "; Secure" : "") >= 0)
		http_add_cookie(r, c);
	return st;
}

/* The Pro Santé Connect identity of this browser's last login, not yet
 * linked (its handle in the cookie mm_psc_link), linked to the account of a
 * password + code login: the API's /v1/psc/link, the session to the cookie. */
/* The API's handler h with the link handle that Pro Santé Connect's callback
 * left in its HttpOnly cookie (never in the URL nor the body). When done, used
 * or refused for good (a status in ends), the handle goes; a wrong code or a
 * field to correct keeps it. */
static unsigned with_psc_link(struct http_req *r, unsigned (*h)(struct http_req *), const unsigned *ends)
{
	const char *link = http_cookie(r, "mm_psc_link");
	char *c = NULL;
	unsigned st;

	if ((st = origin_check(r)))
		return st;
	if (!link || json_object_get(r->body, "link"))
		return http_fail(r, 410, "link_expired",
			"aucune identité Pro Santé Connect en attente : connectez-vous d'abord avec Pro "
			"Santé Connect");
	if (json_object_set_new(r->body, "link", json_string(link)))
		return http_fail(r, 400, "invalid_field", "link is malformed");
	st = as_browser(r, h);
	for (; *ends; ends++)
		if (st == *ends &&
			asprintf(&c, "mm_psc_link=; Path=/v1/web/psc; Max-Age=0; HttpOnly; SameSite=Strict%s",
				r->tls ? "; Secure" : "") >= 0) {
			http_add_cookie(r, c);
			break;
		}
	return st;
}

unsigned web_psc_link(struct http_req *r)
{
	static const unsigned ends[] = {200, 409, 410, 0};

	return with_psc_link(r, api_psc_link, ends);
}

/* "Inscription simplifiée par Pro Santé Connect" (guide 000) from the pages:
 * the identity no account carries, its claims first, then the registration. */
unsigned web_psc_register_prefill(struct http_req *r)
{
	static const unsigned ends[] = {410, 0};

	return with_psc_link(r, api_psc_register_prefill, ends);
}

unsigned web_psc_register(struct http_req *r)
{
	static const unsigned ends[] = {201, 409, 410, 0};

	return with_psc_link(r, api_psc_register, ends);
}

/* A rotation's refusal. */
static unsigned rotate_fail(struct http_req *r, struct fault *f, int rc)
{
	unsigned st;

	switch (rc) {
	case -ENOENT:
		st = http_fail(r, 401, "login_required", "session inconnue, révoquée ou expirée");
		break;
	case -EACCES: st = http_fail(r, 403, "not_permitted", "%s", f->message ?: "refusé"); break;
	case -EPERM:
		st = http_fail(r, 403, "not_permitted", "%s", f->message ?: "refusé");
		if (fault_get(f, "reason"))
			json_object_set_new(r->reply, "reason", json_string(fault_get(f, "reason")));
		break;
	case -EINVAL:
		st = http_fail(r, 400, "invalid_field", "%s", f->message ?: "champ invalide");
		if (fault_get(f, "field"))
			json_object_set_new(r->reply, "field", json_string(fault_get(f, "field")));
		if (fault_get(f, "rule"))
			json_object_set_new(r->reply, "rule", json_string(fault_get(f, "rule")));
		break;
	case -EHOSTDOWN: st = http_fail(r, 503, "directory_unavailable", "annuaire indisponible"); break;
	default: st = http_fail(r, 500, "internal", "%s", f->message ?: "erreur interne");
	}
	fault_clear(f);
	return st;
}

unsigned web_cgu_accept(struct http_req *r)
{
	const char *token = http_cookie(r, cookie_name(r));
	struct login_web_session ws, nws;
	struct entry *u = NULL;
	struct fault f = {0};
	struct caller who;
	char stamp[16];
	unsigned st;
	int rc;

	if ((st = guard(r, &ws)) || (st = http_body_check(r, NULL, 0)))
		return st;
	web_caller(r, &who, ws.user_dn);
	if ((rc = login_api_user(r->store, r->cfg, &who, "cgu-accept", token, &u, &f)) < 0 ||
		(rc = account_cgu_accept(r->store, r->cfg, &who, u, stamp, &f)) < 0 ||
		(rc = login_web_rotate(r->store, r->cfg, &who, token, NULL, true, &nws, &f)) < 0) {
		entry_free(u);
		return rotate_fail(r, &f, rc);
	}
	entry_free(u);
	st = session_reply(r, &nws, nws.s.token);
	secret_wipe(&nws, sizeof(nws));
	if (st == 200)
		json_object_set_new(r->reply, "cgu_accepted_at", json_string(stamp));
	return st;
}

static const struct body_field switch_fields[] = {{"target", true, 254}};

unsigned web_switch(struct http_req *r)
{
	struct login_web_session ws, nws;
	struct fault f = {0};
	struct caller who;
	unsigned st;
	int rc;

	if ((st = guard(r, &ws)) || (st = http_body_check(r, switch_fields, 1)))
		return st;
	web_caller(r, &who, ws.user_dn);
	rc = login_web_rotate(r->store, r->cfg, &who, http_cookie(r, cookie_name(r)),
		http_body_str(r, "target"), false, &nws, &f);
	if (rc < 0)
		return rotate_fail(r, &f, rc);
	st = session_reply(r, &nws, nws.s.token);
	secret_wipe(&nws, sizeof(nws));
	return st;
}

unsigned web_logout(struct http_req *r)
{
	struct login_web_session ws;
	struct fault f = {0};
	struct caller who;
	unsigned st;
	int rc;

	if ((st = guard(r, &ws)) || (st = http_body_check(r, NULL, 0)))
		return st;
	web_caller(r, &who, ws.user_dn);
	rc = login_web_close(r->store, r->cfg, &who, http_cookie(r, cookie_name(r)), &f);
	fault_clear(&f);
	if (rc < 0)
		return http_fail(r, 503, "directory_unavailable", "la session n'a pas pu être fermée");
	set_cookie(r, NULL);
	return http_ok(r, 200, json_pack("{s:b}", "authenticated", 0));
}

/* --- POST /v1/call/<request-name> -------------------------------------------- */

/* One mapping of a request's status to HTTP. */
static unsigned call_status(int rc, const char **ret_code)
{
	switch (rc) {
	case 0: *ret_code = NULL; return 200;
	case -EINVAL: *ret_code = "invalid_field"; return 400;
	case -ENOTCONN: *ret_code = "login_required"; return 401;
	case -EACCES: *ret_code = "forbidden"; return 403;
	case -EPERM: *ret_code = "not_permitted"; return 403;
	case -ENOENT: *ret_code = "not_found"; return 404;
	case -ENOSYS: *ret_code = "unknown_request"; return 404;
	case -EEXIST: *ret_code = "conflict"; return 409;
	case -ETIMEDOUT: *ret_code = "expired"; return 410;
	case -ENOLCK: *ret_code = "locked"; return 423;
	case -EAGAIN: *ret_code = "rate_limited"; return 429;
	case -ECOMM: *ret_code = "mail_failed"; return 502;
	case -EHOSTDOWN: *ret_code = "directory_unavailable"; return 503;
	default: *ret_code = "internal"; return 500;
	}
}

unsigned web_call(struct http_req *r)
{
	const char *name = r->url + strlen("/v1/call/");
	struct login_web_session ws;
	struct caller who;
	json_t *reply = NULL;
	const char *code;
	unsigned st;
	int rc;

	if ((st = origin_check(r)))
		return st;
	if ((rc = session_of(r, &ws, &st)) < 0)
		return st;
	/* With a session, its CSRF token; without one, only the PUBLIC rows (json_door.c). */
	if (rc == 1 && (st = csrf_check(r, http_cookie(r, cookie_name(r)))))
		return st;
	if (rc == 1 && ws.s.cgu_required) {
		st = http_fail(
			r, 403, "cgu_required", "les conditions générales d'utilisation sont à accepter");
		json_object_set_new(r->reply, "cgu_required", json_true());
		return st;
	}
	web_caller(r, &who, rc == 1 ? ws.user_dn : NULL);
	rc = json_door_call(r->d, r->cfg, r->store, &who, name, r->body, &reply);
	st = call_status(rc, &code);
	if (!reply)
		return http_fail(r, 500, "internal", "no reply");
	if (code)
		json_object_set_new(reply, "error", json_string(code));
	return http_ok(r, st, reply);
}
