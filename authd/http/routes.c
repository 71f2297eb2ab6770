/* The request cycle of the HTTP listener (listener.h): a request's bounds
 * decided before its body, the body read within its limit, the JSON body
 * checked, the route found and its handler called, the reply sent. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jwt.h"
#include "daemon.h"
#include "listener.h"
#include "secret.h"

/* --- replies ------------------------------------------------------------- */

unsigned http_ok(struct http_req *r, unsigned status, json_t *reply)
{
	json_decref(r->reply);
	r->reply = reply;
	r->status = status;
	return status;
}

unsigned http_fail(struct http_req *r, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return http_ok(r, status, json_pack("{s:s, s:s}", "error", code, "message", msg));
}

const char *http_arg(const struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_cookie(const struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

unsigned http_body_check(struct http_req *r, const struct body_field *spec, size_t n)
{
	const char *key;
	json_t *v;

	json_object_foreach(r->body, key, v)
	{
		size_t i;
		for (i = 0; i < n; i++)
			if (!strcmp(key, spec[i].name))
				break;
		if (i == n)
			return http_fail(r, 400, "unknown_field", "unknown field \"%.64s\"", key);
		if (!json_is_string(v))
			return http_fail(r, 400, "invalid_field", "%s must be a string", spec[i].name);
		if (json_string_length(v) > spec[i].max ||
			strlen(json_string_value(v)) != json_string_length(v))
			return http_fail(
				r, 400, "invalid_field", "%s is too long or holds a NUL", spec[i].name);
	}
	for (size_t i = 0; i < n; i++)
		if (spec[i].required && !json_object_get(r->body, spec[i].name))
			return http_fail(r, 400, "missing_field", "%s is required", spec[i].name);
	return 0;
}

const char *http_body_str(const struct http_req *r, const char *name)
{
	return json_string_value(json_object_get(r->body, name));
}

/* An application/x-www-form-urlencoded body (OAuth's endpoints) as a flat
 * object of strings; a name given twice, a NUL or a bad escape: NULL. */
static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static char *form_decode(const char *p, size_t n)
{
	char *out = malloc(n + 1);
	size_t k = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '+') {
			out[k++] = ' ';
		} else if (p[i] == '%') {
			int hi = i + 2 < n ? hexval(p[i + 1]) : -1, lo = i + 2 < n ? hexval(p[i + 2]) : -1;
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(out);
				return NULL;
			}
			out[k++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[k++] = p[i];
		}
	}
	out[k] = '\0';
	return out;
}

static json_t *form_parse(const char *body, size_t len)
{
	json_t *o = json_object();
	size_t i = 0;

	while (o && i < len) {
		const char *amp = memchr(body + i, '&', len - i);
		size_t end = amp ? (size_t)(amp - body) : len;
		const char *eq = memchr(body + i, '=', end - i);
		if (end > i) {
			size_t klen = eq ? (size_t)(eq - body) - i : end - i;
			char *k = form_decode(body + i, klen);
			char *v = eq ? form_decode(eq + 1, end - (size_t)(eq + 1 - body)) : strdup("");
			bool bad = !k || !v || !*k || json_object_get(o, k) ||
				json_object_set_new(o, k, json_string(v)) < 0;
			if (bad) {
				json_decref(o);
				o = NULL;
			}
			if (v)
				secret_wipe(v, strlen(v));
			free(k);
			free(v);
		}
		i = end + 1;
	}
	return o;
}

static bool method_ok(const char *method, const char *allowed)
{
	if (!strcmp(allowed, "GET|POST"))
		return !strcmp(method, "GET") || !strcmp(method, "POST");
	return !strcmp(method, allowed);
}

/* --- the request cycle --------------------------------------------------- */

struct conn_ctx {
	struct src *fsrc; /* behind a proxy: the client's count of requests under way */
	double start;
	unsigned char addr[16]; /* the client (client_addr) */
	char remote[64];
	enum http_route route;
	unsigned early; /* a refusal decided before the body (status) */
	const char *early_code, *early_msg;
	bool too_big;
	char *body;
	size_t len;
};

static enum http_route route_find(const char *url)
{
	for (int i = 0; i < ROUTE_CALL; i++)
		if (!strcmp(api_routes[i].path, url))
			return (enum http_route)i;
	if (!strncmp(url, "/v1/call/", 9))
		return ROUTE_CALL;
	/* Outside the API, a page (web.c answers 404 when web_root has no such file). */
	if (strncmp(url, "/v1/", 4) && strcmp(url, "/v1"))
		return ROUTE_PAGE;
	return ROUTE_OTHER;
}

#define MORE_COOKIES (sizeof(((struct http_req *)0)->more_cookies) / sizeof(char *))

void http_add_cookie(struct http_req *r, char *cookie)
{
	if (!cookie)
		return;
	if (!r->cookie) {
		r->cookie = cookie;
		return;
	}
	for (size_t i = 0; i < MORE_COOKIES; i++)
		if (!r->more_cookies[i]) {
			r->more_cookies[i] = cookie;
			return;
		}
	free(cookie); /* beyond what any reply sets */
}

/* On every answer, page or JSON (docs/architecture.md, "Web pages"). */
static void security_headers(struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "Content-Security-Policy",
		"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
}

struct hdr_sum {
	size_t bytes, count;
};

static enum MHD_Result sum_headers(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct hdr_sum *s = cls;

	s->bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
	s->count++;
	return MHD_YES;
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct conn_ctx *cx, struct http_req *r)
{
	struct MHD_Response *resp;
	char *out = NULL;
	size_t len;
	enum MHD_Result ret;

	if (r->blob) {
		/* a file of web_root: in memory until the listener stops */
		resp = MHD_create_response_from_buffer(r->blob_len, (void *)r->blob, MHD_RESPMEM_PERSISTENT);
		if (!resp)
			return MHD_NO;
		MHD_add_response_header(resp, "Content-Type", r->text_type);
		MHD_add_response_header(resp, "Cache-Control", "no-cache");
		security_headers(resp);
		ret = MHD_queue_response(conn, r->status, resp);
		MHD_destroy_response(resp);
		metrics_record(cx->route, r->status, http_mono() - cx->start);
		return ret;
	}
	if (r->text) {
		out = r->text;
		r->text = NULL;
	} else {
		if (!r->reply)
			r->reply = json_pack("{s:s, s:s}", "error", "internal", "message", "no reply");
		out = json_dumps(r->reply, JSON_COMPACT);
	}
	if (!out)
		return MHD_NO;
	len = strlen(out);
	resp = MHD_create_response_from_buffer_with_free_callback(len, out, free);
	if (!resp) {
		free(out);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", r->text_type ? r->text_type : "application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	security_headers(resp);
	if (r->location)
		MHD_add_response_header(resp, "Location", r->location);
	if (r->cookie)
		MHD_add_response_header(resp, "Set-Cookie", r->cookie);
	for (size_t i = 0; i < MORE_COOKIES && r->more_cookies[i]; i++)
		MHD_add_response_header(resp, "Set-Cookie", r->more_cookies[i]);
	if (r->www_authenticate)
		MHD_add_response_header(resp, "WWW-Authenticate", r->www_authenticate);
	else if (r->www_auth)
		MHD_add_response_header(resp, "WWW-Authenticate", "Basic realm=\"medimail-authd\"");
	if (r->status == 413 || r->status == 431)
		MHD_add_response_header(resp, "Connection", "close");
	ret = MHD_queue_response(conn, r->status, resp);
	MHD_destroy_response(resp);
	metrics_record(cx->route, r->status, http_mono() - cx->start);
	return ret;
}

static void req_clear(struct http_req *r)
{
	json_decref(r->reply);
	json_decref(r->body);
	free(r->location);
	free(r->cookie);
	for (size_t i = 0; i < MORE_COOKIES; i++)
		free(r->more_cookies[i]);
	free(r->text);
}

enum MHD_Result http_on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct http *h = cls;
	struct conn_ctx *cx = *con_cls;
	struct http_req r = {0};
	enum MHD_Result ret;

	if (!cx) {
		const struct mm_config *c;
		struct hdr_sum hs = {0};
		const char *cl;
		bool forwarded;

		cx = calloc(1, sizeof(*cx));
		if (!cx)
			return MHD_NO;
		*con_cls = cx;
		cx->start = http_mono();
		cx->route = route_find(url);
		pthread_rwlock_rdlock(h->lock);
		c = h->d->cfg;
		forwarded = client_addr(conn, h, cx->addr, cx->remote, sizeof(cx->remote));
		MHD_get_connection_values(conn, MHD_HEADER_KIND, sum_headers, &hs);
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
		if (forwarded && !forwarded_take(h, cx->addr, &cx->fsrc)) {
			metrics_conn_cut(CUT_PER_SOURCE);
			cx->early = 429;
			cx->early_code = "too_many_connections";
			cx->early_msg = "too many requests under way from this address";
		} else if (!rate_allow(c, cx->addr)) {
			metrics_rate_limited();
			cx->early = 429;
			cx->early_code = "rate_limited";
			cx->early_msg = "too many requests from this address, slow down";
		} else if (hs.bytes > c->http_header_max || hs.count > HTTP_MAX_HEADERS) {
			cx->early = 431;
			cx->early_code = "headers_too_large";
			cx->early_msg = "request headers too large";
		} else if (cl && (strlen(cl) > 10 || strtoull(cl, NULL, 10) > c->http_body_max)) {
			cx->early = 413;
			cx->early_code = "body_too_large";
			cx->early_msg = "request body too large";
		}
		pthread_rwlock_unlock(h->lock);
		if (cx->early == 413 || cx->early == 431) {
			/* Answer before reading the body: the connection is closed after. */
			conn_phase(h, conn, PH_BUSY, 0);
			r.status = cx->early;
			r.reply = json_pack("{s:s, s:s}", "error", cx->early_code, "message", cx->early_msg);
			ret = send_reply(conn, cx, &r);
			req_clear(&r);
			return ret;
		}
		/* The body gets a deadline in proportion to what it declares (a
		 * chunked one: to the largest accepted). */
		if (cl || MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding")) {
			double len = cl ? (double)strtoull(cl, NULL, 10) : (double)h->body_max;
			conn_phase(h, conn, len > 0 ? PH_BODY : PH_BUSY,
				(double)h->header_timeout + len / (double)h->body_rate);
		} else {
			conn_phase(h, conn, PH_BUSY, 0);
		}
		return MHD_YES;
	}
	if (*upload_size) {
		/* Bodies are bounded; past the limit the rest is read and dropped. */
		pthread_rwlock_rdlock(h->lock);
		size_t max = h->d->cfg->http_body_max;
		pthread_rwlock_unlock(h->lock);
		if (!cx->too_big && cx->len + *upload_size <= max) {
			char *nb = realloc(cx->body, cx->len + *upload_size + 1);
			if (!nb)
				return MHD_NO;
			memcpy(nb + cx->len, upload, *upload_size);
			cx->body = nb;
			cx->len += *upload_size;
			cx->body[cx->len] = '\0';
		} else {
			cx->too_big = true;
		}
		*upload_size = 0;
		return MHD_YES;
	}

	conn_phase(h, conn, PH_BUSY, 0);
	pthread_rwlock_rdlock(h->lock);
	r.d = h->d;
	r.cfg = h->d->cfg;
	r.store = h->d->store;
	r.conn = conn;
	r.method = method;
	r.url = url;
	r.tls = h->tls;
	r.files = h->files;
	snprintf(r.remote, sizeof(r.remote), "%s", cx->remote);
	if (cx->early) {
		http_fail(&r, cx->early, cx->early_code, "%s", cx->early_msg);
	} else if (cx->too_big) {
		http_fail(&r, 413, "body_too_large", "request body too large");
	} else if (cx->route == ROUTE_OTHER) {
		http_fail(&r, 404, "not_found", "no such endpoint");
	} else if (!method_ok(method, api_routes[cx->route].method)) {
		http_fail(&r, 405, "method_not_allowed", "use %s", api_routes[cx->route].method);
	} else if (!strcmp(method, "POST") && api_routes[cx->route].form) {
		const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");

		if (cx->len &&
			(!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) ||
				(ct[33] && ct[33] != ';' && ct[33] != ' ')))
			http_fail(
				&r, 415, "unsupported_media_type", "send application/x-www-form-urlencoded");
		else if (memchr(cx->body ? cx->body : "", '\0', cx->len) ||
			!(r.body = form_parse(cx->body ? cx->body : "", cx->len)))
			http_ok(&r, 400,
				json_pack("{s:s, s:s}", "error", "invalid_request", "error_description",
					"malformed form body or a parameter repeated"));
	} else if (!strcmp(method, "POST")) {
		const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
		json_error_t je;

		if (!ct || strncasecmp(ct, "application/json", 16) ||
			(ct[16] && ct[16] != ';' && ct[16] != ' '))
			http_fail(&r, 415, "unsupported_media_type", "send application/json");
		else if (!cx->body || !json_depth_ok(cx->body, cx->len, HTTP_JSON_DEPTH))
			http_fail(&r, 400, "invalid_json", "a flat JSON object is expected");
		else if (!(r.body = json_loadb(cx->body, cx->len, JSON_REJECT_DUPLICATES, &je)) ||
			!json_is_object(r.body))
			http_fail(&r, 400, "invalid_json", "malformed JSON or not an object");
	} else if (cx->len) {
		http_fail(&r, 400, "unexpected_body", "this endpoint takes no body");
	}
	if (!r.status && api_routes[cx->route].service_auth)
		(void)http_authenticate(&r);
	if (!r.status)
		api_routes[cx->route].handler(&r);
	pthread_rwlock_unlock(h->lock);
	if (cx->body) {
		secret_wipe(cx->body, cx->len);
		free(cx->body);
		cx->body = NULL;
	}
	ret = send_reply(conn, cx, &r);
	req_clear(&r);
	return ret;
}

void http_on_completed(
	void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct http *h = cls;
	struct conn_ctx *cx = *con_cls;

	/* keep-alive: the next request's headers are on the clock from now */
	(void)toe;
	conn_phase(h, conn, PH_HEAD, (double)h->header_timeout);
	if (!cx)
		return;
	forwarded_release(h, &cx->fsrc);
	if (cx->body) {
		secret_wipe(cx->body, cx->len);
		free(cx->body);
	}
	free(cx);
	*con_cls = NULL;
}
