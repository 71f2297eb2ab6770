/* The HTTP API (libmicrohttpd): TLS, bounded requests, per-source rate limits, metrics, JSON replies.
 * listener.c, routes.c, tokens.c, metrics.c make the listener (listener.h);
 * api.c and api_login.c are the endpoints, adapters over typed services. */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

#include "access.h"
#include "config.h"
#include "store.h"

#define MM_WUR __attribute__((warn_unused_result))
#define HTTP_JSON_DEPTH 4 /* request bodies are flat objects */
#define HTTP_MAX_HEADERS 64

struct daemon;
struct http;
struct MHD_Connection;
struct web_files;

/* One API request, as the handlers in api.c see it. */
struct http_req {
	struct daemon *d;
	const struct mm_config *cfg;
	struct store *store;
	struct MHD_Connection *conn;
	const char *method;
	const char *url;
	bool tls;
	char remote[64];
	char client[64]; /* authenticated service client id, if any */
	json_t *body; /* POST: the parsed JSON object */
	/* the reply */
	unsigned status;
	json_t *reply; /* object; for errors {"error", "message"} */
	char *location; /* 302 target */
	char *cookie; /* Set-Cookie value */
	bool www_auth; /* 401: ask for Basic credentials */
	const char *www_authenticate; /* 401: this WWW-Authenticate instead (OAuth) */
	char *text; /* non-JSON body (metrics) */
	const char *text_type;
	/* the web pages */
	const struct web_files *files; /* web_root, read at start (static.c) */
	bool web; /* a browser's request: a session goes to the cookie (web.c) */
	const unsigned char *blob; /* a page or asset (not copied), of blob_len bytes */
	size_t blob_len;
	/* more Set-Cookie (http_add_cookie): a Pro Santé Connect landing clears the
	 * state, the web flag and the resume handle, and sets a session or a link */
	char *more_cookies[5];
};

/* Starts the listener when http_listen is configured; lock is the daemon's
 * reload lock, held shared while a request runs. */
int http_start(
	struct daemon *d, pthread_rwlock_t *lock, struct http **ret, char *errbuf, size_t errlen) MM_WUR;
void http_stop(struct http *h);

/* The request's caller for the typed services: the service client that
 * authenticated it (or none: "http"), no uid, not an administrator; the
 * remote address for the audit. */
void http_client_caller(const struct http_req *r, struct caller *who);

/* Sets a JSON error reply {"error": code, "message": msg}; returns status. */
unsigned http_fail(struct http_req *r, unsigned status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Sets a JSON reply (takes the reference); returns status. */
unsigned http_ok(struct http_req *r, unsigned status, json_t *reply);
/* Adds a Set-Cookie header (takes the malloc'ed value; NULL: nothing). */
void http_add_cookie(struct http_req *r, char *cookie);
/* A query-string or cookie value (NULL when absent). */
const char *http_arg(const struct http_req *r, const char *name);
const char *http_cookie(const struct http_req *r, const char *name);

/* Field rules of a JSON body: every key must be known, of the right type,
 * and within max bytes. */
struct body_field {
	const char *name;
	bool required;
	size_t max;
};
/* 0, or an error reply already set (400) and its status. */
unsigned http_body_check(struct http_req *r, const struct body_field *spec, size_t n);
const char *http_body_str(const struct http_req *r, const char *name);

/* Routes (api.c). */
enum http_route {
	ROUTE_HEALTHZ,
	ROUTE_METRICS,
	ROUTE_INTROSPECT,
	ROUTE_LOGOUT,
	ROUTE_ECPS_START,
	ROUTE_ECPS_POLL,
	ROUTE_PSC_LOGIN,
	ROUTE_PSC_CALLBACK,
	ROUTE_LOGIN_PASSWORD,
	ROUTE_LOGIN_CODE,
	ROUTE_PSC_LINK,
	ROUTE_CGU_ACCEPT,
	ROUTE_SESSION_SWITCH,
	ROUTE_PSC_REGISTER_PREFILL,
	ROUTE_PSC_REGISTER,
	ROUTE_OIDC_LOGIN,
	ROUTE_OIDC_CALLBACK,
	ROUTE_OIDC_LINK,
	ROUTE_WEB_SESSION,
	ROUTE_WEB_REGISTRATION,
	ROUTE_WEB_LOGIN_PASSWORD,
	ROUTE_WEB_LOGIN_CODE,
	ROUTE_WEB_LOGIN_RESEND,
	ROUTE_WEB_CGU_ACCEPT,
	ROUTE_WEB_SWITCH,
	ROUTE_WEB_LOGOUT,
	ROUTE_WEB_ECPS_START,
	ROUTE_WEB_ECPS_POLL,
	ROUTE_WEB_PSC_LOGIN,
	ROUTE_WEB_PSC_LINK,
	ROUTE_WEB_PSC_REGISTER_PREFILL,
	ROUTE_WEB_PSC_REGISTER,
	ROUTE_OIDC_DISCOVERY, /* the OpenID Connect provider (oidc_web.c, oidc_token.c) */
	ROUTE_OIDC_JWKS,
	ROUTE_OIDC_AUTHORIZE,
	ROUTE_OIDC_TOKEN,
	ROUTE_OIDC_USERINFO,
	ROUTE_OIDC_INTROSPECT,
	ROUTE_OIDC_REVOKE,
	ROUTE_OIDC_LOGOUT,
	ROUTE_OIDC_CONSENT_INFO,
	ROUTE_OIDC_CONSENT,
	ROUTE_CALL, /* POST /v1/call/<request-name> */
	ROUTE_PAGE, /* GET of anything else outside /v1/: a file of web_root */
	ROUTE_OTHER,
	ROUTE_N
};
struct route {
	const char *path;
	const char *method;
	bool service_auth; /* HTTP Basic with a service client */
	unsigned (*handler)(struct http_req *r);
	const char *name; /* metrics label */
	bool form; /* POST body application/x-www-form-urlencoded (OAuth), read as a flat object */
};
extern const struct route api_routes[ROUTE_N];
/* A session for account_dn as the JSON reply {session_token, ...} (api.c). */
unsigned api_session_reply(struct http_req *r, const char *account_dn, const char *method, unsigned status);
/* api_login.c: password + e-mailed code, and linking a PSC identity after it. */
struct psc_identity;
unsigned api_login_password(struct http_req *r);
unsigned api_login_code(struct http_req *r);
unsigned api_login_resend(struct http_req *r);
unsigned api_psc_link(struct http_req *r);
unsigned api_oidc_link(struct http_req *r);
/* POST /v1/cgu/accept, POST /v1/session/switch: a session token's CGU and Changer de compte. */
unsigned api_cgu_accept(struct http_req *r);
unsigned api_session_switch(struct http_req *r);
struct login_api_session;
/* The JSON reply of a session (token NULL: not repeated); returns the status. */
unsigned api_session_json(
	struct http_req *r, const struct login_api_session *ls, const char *token, unsigned status);
/* api_register.c: "Inscription simplifiée par Pro Santé Connect" with the handle of an unmapped identity. */
unsigned api_psc_register_prefill(struct http_req *r);
unsigned api_psc_register(struct http_req *r);
/* Adds a single-use link handle for an unmapped identity to the reply; resume
 * (NULL: none), the authorization request the login came from, is kept with it
 * and is where the link's browser session goes (its reply's "suite"). */
void api_psc_link_offer(struct http_req *r, const struct psc_identity *id, const char *resume);
/* Renders the Prometheus text exposition (malloc'ed). */
char *http_metrics_render(void);
/* May this source, with this Authorization header (NULL: none), read /metrics? */
bool metrics_allowed(const struct mm_config *c, const char *remote, const char *authorization);

/* --- the web pages (static.c, web.c) --- */
/* Reads the allowed files under root (web_root): -errno when root cannot be opened. */
int web_files_load(const char *root, struct web_files **ret) MM_WUR;
void web_files_free(struct web_files *w);
size_t web_files_count(const struct web_files *w);
/* The file served at url (borrowed), false when there is none. */
bool web_file_find(const struct web_files *w, const char *url, const unsigned char **ret_data,
	size_t *ret_len, const char **ret_type);
/* The endpoints of web.c. */
unsigned web_page(struct http_req *r);
unsigned web_session_get(struct http_req *r);
unsigned web_registration_get(struct http_req *r);
unsigned web_psc_register_prefill(struct http_req *r);
/* Pro Santé Connect reached from /oidc/authorize: the pending request's
 * handle rides in this cookie through the provider and back, so that the
 * callback resumes /oidc/authorize?requete=<handle> instead of landing on /. */
#define PSC_RESUME_COOKIE "mm_psc_suite"
/* true when h is an authorization request's handle (hex, SECRET_TOKEN_HEX - 1 long). */
bool web_resume_handle_ok(const char *h);
unsigned web_psc_register(struct http_req *r);
unsigned web_login_password(struct http_req *r);
unsigned web_login_code(struct http_req *r);
unsigned web_login_resend(struct http_req *r);
unsigned web_cgu_accept(struct http_req *r);
unsigned web_switch(struct http_req *r);
unsigned web_logout(struct http_req *r);
unsigned web_ecps_start(struct http_req *r);
unsigned web_ecps_poll(struct http_req *r);
unsigned web_psc_login(struct http_req *r);
unsigned web_psc_link(struct http_req *r);
unsigned web_call(struct http_req *r);
/* For a browser (r->web): a browser session for account_dn, its cookie set,
 * the reply {status, account..., csrf_token}; returns the status. */
unsigned web_session_open_reply(
	struct http_req *r, const char *account_dn, const char *method, unsigned status);
/* The browser session of the request's cookie: 1 and *ws (and *ret_token,
 * the cookie's token), 0 none, -1 the error reply set and *st its status. */
struct login_web_session;
int web_session_current(
	struct http_req *r, struct login_web_session *ws, const char **ret_token, unsigned *st);
/* Origin, the session (required), the CSRF token: 0, or the refusal's status. */
unsigned web_guard(struct http_req *r, struct login_web_session *ws);
/* The OpenID Connect provider (oidc_web.c: browser; oidc_token.c: clients). */
unsigned oidc_discovery(struct http_req *r);
unsigned oidc_jwks_get(struct http_req *r);
unsigned oidc_authorize(struct http_req *r);
unsigned oidc_token(struct http_req *r);
unsigned oidc_userinfo(struct http_req *r);
unsigned oidc_introspect(struct http_req *r);
unsigned oidc_revoke(struct http_req *r);
unsigned oidc_logout(struct http_req *r);
unsigned oidc_consent_info(struct http_req *r);
unsigned oidc_consent(struct http_req *r);
/* The endpoints of api.c that web.c calls for a browser. */
unsigned api_ecps_start(struct http_req *r);
unsigned api_ecps_poll(struct http_req *r);
unsigned api_psc_login(struct http_req *r);
