/* The HTTP API listener (libmicrohttpd): TLS, bounded requests, per-source rate limits, metrics, JSON replies. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "forwarded.h"
#include "http.h"
#include "jwt.h"
#include "log.h"
#include "ratelimit.h"
#include "secret.h"
#include "records.h"

/* The connection table: every open connection, in the list of its phase.
 * Headers and bodies have deadlines; a connection past its deadline, or the
 * oldest still reading headers when the table is full, is cut with
 * shutdown(2): its worker sees the end of the stream and closes it, and the
 * descriptor stays ours until MHD_CONNECTION_NOTIFY_CLOSED, which takes the
 * table lock, so a cut never reaches a reused descriptor. */
enum conn_phase { PH_HEAD, PH_BODY, PH_BUSY, PH_CUT };
struct src {
	struct src *next;
	unsigned char key[16];
	unsigned n;
};
struct tconn {
	struct tconn *prev, *next;
	struct src *src; /* NULL for a trusted proxy: not limited per source */
	int fd;
	enum conn_phase phase;
	double deadline; /* PH_HEAD, PH_BODY */
};
struct tlist {
	struct tconn *head, *tail;
	size_t n;
};
#define SRC_BUCKETS 4096u

struct http {
	struct MHD_Daemon *mhd;
	struct daemon *d;
	pthread_rwlock_t *lock;
	bool tls;
	char *cert, *key;
	/* limits, read at start */
	unsigned max_conn, per_source, header_timeout, body_rate, body_max;
	struct net_prefix *proxies;
	size_t nproxies;
	enum fwd_kind proxy_header; /* the header they set, of the start too */
	/* the table */
	pthread_mutex_t tlock;
	struct tlist lists[PH_CUT + 1];
	struct src *srcs[SRC_BUCKETS];
	unsigned char src_key[crypto_shorthash_KEYBYTES];
	/* the sweeper */
	pthread_t sweeper;
	bool sweeping, stopping;
	pthread_cond_t wake;
};

/* --- metrics ---------------------------------------------------------- */

static const double buckets[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))
static atomic_ulong m_count[ROUTE_N][600];
static atomic_ulong m_hist[ROUTE_N][NBUCKETS];
static atomic_ulong m_total[ROUTE_N];
static atomic_ulong m_sum_us[ROUTE_N];
static atomic_ulong m_rate_limited;
/* connections refused or cut, by cause */
enum conn_cause {
	CUT_PER_SOURCE,
	CUT_HEADER_DEADLINE,
	CUT_BODY_DEADLINE,
	CUT_TABLE_FULL,
	CUT_EVICTED,
	CUT_N
};
static const char *const cause_names[CUT_N] = {
	"per_source_limit", "header_deadline", "body_deadline", "table_full", "table_full_evicted"};
static atomic_ulong m_conn_cut[CUT_N];
static atomic_long m_conn_open;
static atomic_ulong m_fwd_malformed;

static void metrics_record(enum http_route rt, unsigned status, double seconds)
{
	if (status >= 600)
		status = 599;
	atomic_fetch_add_explicit(&m_count[rt][status], 1, memory_order_relaxed);
	for (size_t i = 0; i < NBUCKETS; i++)
		if (seconds <= buckets[i]) {
			atomic_fetch_add_explicit(&m_hist[rt][i], 1, memory_order_relaxed);
			break;
		}
	atomic_fetch_add_explicit(&m_total[rt], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m_sum_us[rt], (unsigned long)(seconds * 1e6), memory_order_relaxed);
}

char *http_metrics_render(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fprintf(f,
		"# HELP medimail_http_requests_total HTTP API requests by endpoint and status.\n"
		"# TYPE medimail_http_requests_total counter\n");
	for (int rt = 0; rt < ROUTE_N; rt++)
		for (unsigned st = 100; st < 600; st++) {
			unsigned long n = atomic_load_explicit(&m_count[rt][st], memory_order_relaxed);
			if (n)
				fprintf(f,
					"medimail_http_requests_total{endpoint=\"%s\",status=\"%u\"} %lu\n",
					api_routes[rt].name, st, n);
		}
	fprintf(f,
		"# HELP medimail_http_request_duration_seconds HTTP API latency by endpoint.\n"
		"# TYPE medimail_http_request_duration_seconds histogram\n");
	for (int rt = 0; rt < ROUTE_N; rt++) {
		unsigned long cum = 0, total = atomic_load_explicit(&m_total[rt], memory_order_relaxed);
		if (!total)
			continue;
		for (size_t i = 0; i < NBUCKETS; i++) {
			cum += atomic_load_explicit(&m_hist[rt][i], memory_order_relaxed);
			fprintf(f,
				"medimail_http_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"} "
				"%lu\n",
				api_routes[rt].name, buckets[i], cum);
		}
		fprintf(f, "medimail_http_request_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} %lu\n",
			api_routes[rt].name, total);
		fprintf(f, "medimail_http_request_duration_seconds_sum{endpoint=\"%s\"} %.6f\n",
			api_routes[rt].name,
			(double)atomic_load_explicit(&m_sum_us[rt], memory_order_relaxed) / 1e6);
		fprintf(f, "medimail_http_request_duration_seconds_count{endpoint=\"%s\"} %lu\n",
			api_routes[rt].name, total);
	}
	fprintf(f,
		"# HELP medimail_http_rate_limited_total Requests refused by the per-source rate limit.\n"
		"# TYPE medimail_http_rate_limited_total counter\n"
		"medimail_http_rate_limited_total %lu\n",
		atomic_load(&m_rate_limited));
	fprintf(f,
		"# HELP medimail_http_connections_refused_total Connections refused at accept or cut, by "
		"cause.\n"
		"# TYPE medimail_http_connections_refused_total counter\n");
	for (int i = 0; i < CUT_N; i++)
		fprintf(f, "medimail_http_connections_refused_total{cause=\"%s\"} %lu\n", cause_names[i],
			atomic_load(&m_conn_cut[i]));
	fprintf(f,
		"# HELP medimail_http_connections_open Connections open on the HTTP listener.\n"
		"# TYPE medimail_http_connections_open gauge\n"
		"medimail_http_connections_open %ld\n"
		"# HELP medimail_http_forwarded_malformed_total Proxy address headers ignored as malformed.\n"
		"# TYPE medimail_http_forwarded_malformed_total counter\n"
		"medimail_http_forwarded_malformed_total %lu\n",
		atomic_load(&m_conn_open), atomic_load(&m_fwd_malformed));
	fclose(f);
	return buf;
}

/* --- per-source rate limit: token buckets ------------------------------ */

/* The shared keyed limiter (ratelimit.h): a peer picks its source address
 * (any of 127.0.0.0/8, an IPv6 /64), never where its bucket lives, and a new
 * address never refills another's bucket. */
#define RATE_SETS 4096u /* of RATELIMIT_WAYS buckets each: 65536 sources refilling at once */

static struct ratelimit *http_limits;
static pthread_once_t http_limits_once = PTHREAD_ONCE_INIT;

static void http_limits_init(void)
{
	if (ratelimit_new(RATE_SETS, NULL, &http_limits) < 0)
		http_limits = NULL;
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A host holds a /64 of IPv6: one source. */
static void src_key_of(const unsigned char addr[16], unsigned char key[16])
{
	memcpy(key, addr, 16);
	if (!net_addr_is_v4(addr))
		memset(key + 8, 0, 8);
}

/* true when the source may go on; refused when the table cannot be had. */
static bool rate_allow(const struct mm_config *c, const unsigned char addr[16])
{
	struct rate_rule rule = {.burst = c->http_rate_burst, .per_second = c->http_rate};
	unsigned char key[16];
	unsigned retry = 0;

	/* by source, as the connection table counts: an IPv6 /64 is one bucket */
	src_key_of(addr, key);
	pthread_once(&http_limits_once, http_limits_init);
	return http_limits &&
		ratelimit_take(http_limits, RATE_HTTP_SOURCE, key, 16, &rule, ratelimit_now_ms(), &retry) ==
		0;
}

/* --- the connection table ---------------------------------------------- */

/* The peer as 16 bytes, IPv4 mapped (forwarded.h). */
static bool sockaddr_addr(const struct sockaddr *sa, unsigned char out[16])
{
	memset(out, 0, 16);
	if (sa && sa->sa_family == AF_INET) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa && sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	return false;
}

static struct src **src_slot(struct http *h, const unsigned char key[16])
{
	unsigned char hash[crypto_shorthash_BYTES];
	uint64_t v;

	/* keyed: a client cannot pick addresses that share one chain */
	crypto_shorthash(hash, key, 16, h->src_key);
	memcpy(&v, hash, sizeof(v));
	return &h->srcs[v % SRC_BUCKETS];
}

static struct src *src_find(struct http *h, const unsigned char key[16])
{
	for (struct src *s = *src_slot(h, key); s; s = s->next)
		if (!memcmp(s->key, key, 16))
			return s;
	return NULL;
}

static void src_put(struct http *h, struct src *s)
{
	struct src **pp;

	if (!s || --s->n)
		return;
	for (pp = src_slot(h, s->key); *pp != s; pp = &(*pp)->next)
		;
	*pp = s->next;
	free(s);
}

static void tlist_append(struct tlist *l, struct tconn *t)
{
	t->next = NULL;
	t->prev = l->tail;
	if (l->tail)
		l->tail->next = t;
	else
		l->head = t;
	l->tail = t;
	l->n++;
}

static void tlist_remove(struct tlist *l, struct tconn *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		l->head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	else
		l->tail = t->prev;
	t->prev = t->next = NULL;
	l->n--;
}

static void conn_move(struct http *h, struct tconn *t, enum conn_phase ph, double deadline)
{
	tlist_remove(&h->lists[t->phase], t);
	t->phase = ph;
	t->deadline = deadline;
	tlist_append(&h->lists[ph], t);
}

/* Table lock held. */
static void conn_cut(struct http *h, struct tconn *t, enum conn_cause why)
{
	shutdown(t->fd, SHUT_RDWR);
	conn_move(h, t, PH_CUT, 0);
	atomic_fetch_add(&m_conn_cut[why], 1);
}

static size_t conn_live(const struct http *h)
{
	return h->lists[PH_HEAD].n + h->lists[PH_BODY].n + h->lists[PH_BUSY].n;
}

/* At accept, before MHD sets the connection up: the per-source limit, and
 * room in the table, made by cutting the oldest connection still reading
 * its headers (never one whose request is being answered). */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *sa, socklen_t salen)
{
	struct http *h = cls;
	unsigned char addr[16], key[16];
	enum MHD_Result ok = MHD_YES;

	(void)salen;
	if (!sockaddr_addr(sa, addr))
		return MHD_NO;
	src_key_of(addr, key);
	pthread_mutex_lock(&h->tlock);
	if (!net_prefixes_match(h->proxies, h->nproxies, addr)) {
		struct src *s = src_find(h, key);
		if (s && s->n >= h->per_source) {
			atomic_fetch_add(&m_conn_cut[CUT_PER_SOURCE], 1);
			ok = MHD_NO;
			goto out;
		}
	}
	if (conn_live(h) >= h->max_conn) {
		struct tconn *oldest = h->lists[PH_HEAD].head;
		if (!oldest) {
			atomic_fetch_add(&m_conn_cut[CUT_TABLE_FULL], 1);
			ok = MHD_NO;
			goto out;
		}
		conn_cut(h, oldest, CUT_EVICTED);
	}
out:
	pthread_mutex_unlock(&h->tlock);
	return ok;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
	enum MHD_ConnectionNotificationCode code)
{
	struct http *h = cls;
	struct tconn *t = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (!t)
			return;
		pthread_mutex_lock(&h->tlock);
		tlist_remove(&h->lists[t->phase], t);
		src_put(h, t->src);
		pthread_mutex_unlock(&h->tlock);
		atomic_fetch_sub(&m_conn_open, 1);
		free(t);
		*socket_context = NULL;
		return;
	}
	const union MHD_ConnectionInfo *fi = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	const union MHD_ConnectionInfo *ai =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	unsigned char addr[16], key[16];

	if (!fi)
		return;
	t = calloc(1, sizeof(*t));
	if (!t) {
		shutdown(fi->connect_fd, SHUT_RDWR);
		return;
	}
	t->fd = fi->connect_fd;
	(void)sockaddr_addr(ai ? ai->client_addr : NULL, addr);
	src_key_of(addr, key);
	pthread_mutex_lock(&h->tlock);
	if (!net_prefixes_match(h->proxies, h->nproxies, addr)) {
		struct src *s = src_find(h, key);
		if (!s && (s = calloc(1, sizeof(*s)))) {
			struct src **slot = src_slot(h, key);
			memcpy(s->key, key, 16);
			s->next = *slot;
			*slot = s;
		}
		if (s)
			s->n++;
		t->src = s;
	}
	t->phase = PH_HEAD;
	t->deadline = mono() + h->header_timeout;
	tlist_append(&h->lists[PH_HEAD], t);
	/* accepted by another worker at the same time: over the limit after all */
	if (!t->src && !net_prefixes_match(h->proxies, h->nproxies, addr))
		conn_cut(h, t, CUT_PER_SOURCE);
	else if (t->src && t->src->n > h->per_source)
		conn_cut(h, t, CUT_PER_SOURCE);
	pthread_mutex_unlock(&h->tlock);
	atomic_fetch_add(&m_conn_open, 1);
	*socket_context = t;
}

/* The request went on to its next phase (deadline 0: none). */
static void conn_phase(struct http *h, struct MHD_Connection *conn, enum conn_phase ph, double seconds)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct tconn *t = ci ? ci->socket_context : NULL;

	if (!t)
		return;
	pthread_mutex_lock(&h->tlock);
	if (t->phase != PH_CUT && t->phase != ph)
		conn_move(h, t, ph, seconds > 0 ? mono() + seconds : 0);
	pthread_mutex_unlock(&h->tlock);
}

static void *sweep(void *arg)
{
	struct http *h = arg;

	pthread_mutex_lock(&h->tlock);
	while (!h->stopping) {
		struct timespec ts;
		struct tconn *t, *next;
		double now;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 200 * 1000 * 1000;
		if (ts.tv_nsec >= 1000 * 1000 * 1000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000 * 1000 * 1000;
		}
		pthread_cond_timedwait(&h->wake, &h->tlock, &ts);
		now = mono();
		/* headers: one deadline for all, so the list is in deadline order */
		while ((t = h->lists[PH_HEAD].head) && t->deadline <= now)
			conn_cut(h, t, CUT_HEADER_DEADLINE);
		for (t = h->lists[PH_BODY].head; t; t = next) {
			next = t->next;
			if (t->deadline <= now)
				conn_cut(h, t, CUT_BODY_DEADLINE);
		}
	}
	pthread_mutex_unlock(&h->tlock);
	return NULL;
}

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
	for (int i = 0; i < ROUTE_OTHER; i++)
		if (!strcmp(api_routes[i].path, url))
			return (enum http_route)i;
	return ROUTE_OTHER;
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

struct hdr_values {
	const char *name;
	const char *v[HTTP_MAX_HEADERS];
	size_t n;
	bool over;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct hdr_values *hv = cls;

	(void)kind;
	if (!key || strcasecmp(key, hv->name))
		return MHD_YES;
	if (hv->n == HTTP_MAX_HEADERS) {
		hv->over = true;
		return MHD_NO;
	}
	hv->v[hv->n++] = value ? value : "";
	return MHD_YES;
}

/* Logged once a minute at most: a proxy sending bad headers sends many. */
static void forwarded_malformed(const char *peer, const char *name, int r)
{
	static atomic_long last = -1;
	unsigned long n = atomic_fetch_add(&m_fwd_malformed, 1) + 1;
	long now = (long)mono(), prev = atomic_load(&last);

	if ((prev < 0 || now - prev >= 60) && atomic_compare_exchange_strong(&last, &prev, now))
		log_msg(LOG_WARNING,
			"http: %s from proxy %s ignored (%s), the proxy's address is used; %lu so far", name,
			peer, r == -E2BIG ? "too many hops" : "malformed", n);
}

/* The address that rate limits, lockouts, the login limits and the audit
 * see: the peer, or behind a trusted proxy the client the chain reports
 * (Forwarded, else X-Forwarded-For). From anyone else those headers mean
 * nothing. */
static bool client_addr(
	struct MHD_Connection *conn, const struct http *h, unsigned char out[16], char *text, size_t textlen)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct hdr_values hv = {.name = h->proxy_header == FWD_FORWARDED ? "Forwarded" : "X-Forwarded-For"};
	unsigned char a[16];
	int r;

	if (!sockaddr_addr(ci ? ci->client_addr : NULL, out)) {
		snprintf(text, textlen, "?");
		return false;
	}
	net_addr_format(out, text, textlen);
	/* the list of the start, the one the table exempts at accept */
	if (!h->nproxies || !net_prefixes_match(h->proxies, h->nproxies, out))
		return false;
	/* Only the header the proxy sets: it passes a client's own copy of the
	 * other one through, and that copy would name any address. */
	MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, &hv);
	if (!hv.n)
		return false;
	r = hv.over ? -E2BIG : fwd_client(h->proxy_header, hv.v, hv.n, h->proxies, h->nproxies, a);
	if (r < 0) {
		forwarded_malformed(text, hv.name, r);
		return false;
	}
	memcpy(out, a, 16);
	net_addr_format(out, text, textlen);
	return true;
}

/* Behind a trusted proxy the table counts the peer as one source; the
 * client the proxy names is held to the same limit by its requests under
 * way. false when it is over. */
static bool forwarded_take(struct http *h, struct conn_ctx *cx)
{
	unsigned char key[16];
	struct src *s;
	bool ok = true;

	src_key_of(cx->addr, key);
	pthread_mutex_lock(&h->tlock);
	s = src_find(h, key);
	if (!s && (s = calloc(1, sizeof(*s)))) {
		struct src **slot = src_slot(h, key);
		memcpy(s->key, key, 16);
		s->next = *slot;
		*slot = s;
	}
	if (!s || s->n >= h->per_source) {
		ok = false;
	} else {
		s->n++;
		cx->fsrc = s;
	}
	pthread_mutex_unlock(&h->tlock);
	return ok;
}

static void forwarded_release(struct http *h, struct conn_ctx *cx)
{
	if (!cx->fsrc)
		return;
	pthread_mutex_lock(&h->tlock);
	src_put(h, cx->fsrc);
	pthread_mutex_unlock(&h->tlock);
	cx->fsrc = NULL;
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct conn_ctx *cx, struct http_req *r)
{
	struct MHD_Response *resp;
	char *out = NULL;
	size_t len;
	enum MHD_Result ret;

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
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (r->location)
		MHD_add_response_header(resp, "Location", r->location);
	if (r->cookie)
		MHD_add_response_header(resp, "Set-Cookie", r->cookie);
	if (r->www_auth)
		MHD_add_response_header(resp, "WWW-Authenticate", "Basic realm=\"medimail-authd\"");
	if (r->status == 413 || r->status == 431)
		MHD_add_response_header(resp, "Connection", "close");
	ret = MHD_queue_response(conn, r->status, resp);
	MHD_destroy_response(resp);
	metrics_record(cx->route, r->status, mono() - cx->start);
	return ret;
}

static void req_clear(struct http_req *r)
{
	json_decref(r->reply);
	json_decref(r->body);
	free(r->location);
	free(r->cookie);
	free(r->text);
}

/* HTTP Basic with a registered service client. */
static unsigned authenticate(struct http_req *r)
{
	char *pass = NULL, *user = MHD_basic_auth_get_username_password(r->conn, &pass);
	int rc;

	if (!user || !pass) {
		r->www_auth = true;
		rc = http_fail(r, 401, "unauthorized", "service credentials required (HTTP Basic)");
		goto out;
	}
	rc = service_verify(r->store, r->cfg, user, pass);
	if (rc == -EHOSTDOWN) {
		rc = http_fail(r, 503, "directory_unavailable", "directory unavailable, retry later");
		goto out;
	}
	if (rc < 0) {
		struct audit_ctx a = {.event = "api-auth", .caller = "http", .remote = r->remote};
		r->www_auth = true;
		audit(&a, false, "bad service credentials");
		rc = http_fail(r, 401, "unauthorized", "bad service credentials");
		goto out;
	}
	snprintf(r->client, sizeof(r->client), "%s", user);
	rc = 0;
out:
	if (pass) {
		secret_wipe(pass, strlen(pass));
		MHD_free(pass);
	}
	if (user)
		MHD_free(user);
	return (unsigned)rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
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
		cx->start = mono();
		cx->route = route_find(url);
		pthread_rwlock_rdlock(h->lock);
		c = h->d->cfg;
		forwarded = client_addr(conn, h, cx->addr, cx->remote, sizeof(cx->remote));
		MHD_get_connection_values(conn, MHD_HEADER_KIND, sum_headers, &hs);
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
		if (forwarded && !forwarded_take(h, cx)) {
			atomic_fetch_add(&m_conn_cut[CUT_PER_SOURCE], 1);
			cx->early = 429;
			cx->early_code = "too_many_connections";
			cx->early_msg = "too many requests under way from this address";
		} else if (!rate_allow(c, cx->addr)) {
			atomic_fetch_add(&m_rate_limited, 1);
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
	snprintf(r.remote, sizeof(r.remote), "%s", cx->remote);
	if (cx->early) {
		http_fail(&r, cx->early, cx->early_code, "%s", cx->early_msg);
	} else if (cx->too_big) {
		http_fail(&r, 413, "body_too_large", "request body too large");
	} else if (cx->route == ROUTE_OTHER) {
		http_fail(&r, 404, "not_found", "no such endpoint");
	} else if (strcmp(method, api_routes[cx->route].method)) {
		http_fail(&r, 405, "method_not_allowed", "use %s", api_routes[cx->route].method);
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
		(void)authenticate(&r);
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

static void on_completed(
	void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct http *h = cls;
	struct conn_ctx *cx = *con_cls;

	/* keep-alive: the next request's headers are on the clock from now */
	(void)toe;
	conn_phase(h, conn, PH_HEAD, (double)h->header_timeout);
	if (!cx)
		return;
	forwarded_release(h, cx);
	if (cx->body) {
		secret_wipe(cx->body, cx->len);
		free(cx->body);
	}
	free(cx);
	*con_cls = NULL;
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char text[512];

	vsnprintf(text, sizeof(text), fmt, ap);
	log_msg(LOG_DEBUG, "http: %s", text);
}

static int read_pem(const char *path, char **ret)
{
	struct stat st;
	char *buf;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > 1024 * 1024) {
		close(fd);
		return -EINVAL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		/* a private key, partly read */
		secret_wipe(buf, n > 0 ? (size_t)n : 0);
		free(buf);
		return -EIO;
	}
	buf[n] = '\0';
	*ret = buf;
	return 0;
}

/* "127.0.0.1:8443" or "[::1]:8443". */
static int parse_listen(const char *s, struct sockaddr_storage *ss, bool *ret_loopback)
{
	char host[64];
	const char *colon;
	unsigned long port;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = '\0';
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
	}
	port = strtoul(colon + 1, &end, 10);
	if (*end || port == 0 || port > 65535)
		return -EINVAL;
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		*ret_loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*ret_loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	} else {
		return -EINVAL;
	}
	return 0;
}

int http_start(struct daemon *d, pthread_rwlock_t *lock, struct http **ret, char *errbuf, size_t errlen)
{
	const struct mm_config *c = d->cfg;
	struct sockaddr_storage ss;
	struct http *h;
	bool loopback = false;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
	int r;

	*ret = NULL;
	if (!c->http_listen)
		return 0;
	if (parse_listen(c->http_listen, &ss, &loopback) < 0) {
		snprintf(errbuf, errlen, "http_listen %s: expected ADDRESS:PORT", c->http_listen);
		return -EINVAL;
	}
	/* Session tokens and client secrets cross this socket: clear text only on loopback. */
	if (!c->http_tls_cert && !loopback) {
		snprintf(errbuf, errlen,
			"http_listen %s: plain HTTP is refused off loopback; set http_tls_cert/key",
			c->http_listen);
		return -EPERM;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->d = d;
	h->lock = lock;
	h->max_conn = c->http_max_connections;
	h->per_source = c->http_max_conn_per_source;
	h->header_timeout = c->http_header_timeout;
	h->body_rate = c->http_body_rate;
	h->body_max = c->http_body_max;
	pthread_mutex_init(&h->tlock, NULL);
	/* monotonic: a wall clock set back must not hold the deadlines off */
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->wake, &ca);
	pthread_condattr_destroy(&ca);
	randombytes_buf(h->src_key, sizeof(h->src_key));
	if (c->nhttp_proxies) {
		h->proxies = calloc(c->nhttp_proxies, sizeof(*h->proxies));
		if (!h->proxies) {
			r = -ENOMEM;
			goto fail;
		}
		memcpy(h->proxies, c->http_proxies, c->nhttp_proxies * sizeof(*h->proxies));
		h->nproxies = c->nhttp_proxies;
		h->proxy_header = c->http_proxy_header;
	}
	if (c->http_tls_cert) {
		if ((r = read_pem(c->http_tls_cert, &h->cert)) < 0 ||
			(r = read_pem(c->http_tls_key, &h->key)) < 0) {
			snprintf(errbuf, errlen, "http_tls_cert/http_tls_key: %s", strerror(-r));
			goto fail;
		}
		h->tls = true;
		flags |= MHD_USE_TLS;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	{
		struct MHD_OptionItem ops[16];
		size_t n = 0;
#define OPT(o, v, p) ops[n++] = (struct MHD_OptionItem){o, (intptr_t)(v), p}
		OPT(MHD_OPTION_SOCK_ADDR, 0, &ss);
		OPT(MHD_OPTION_THREAD_POOL_SIZE, c->http_threads, NULL);
		/* The table (on_accept) keeps http_max_connections; MHD's own limit,
		 * shared out between its workers, only has to leave room for cut
		 * connections still closing. */
		OPT(MHD_OPTION_CONNECTION_LIMIT, 2 * (size_t)c->http_max_connections + 16 * c->http_threads,
			NULL);
		OPT(MHD_OPTION_CONNECTION_TIMEOUT, c->http_timeout, NULL);
		/* a backstop above http_header_max: headers past it are refused in JSON first */
		OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, 2 * (size_t)c->http_header_max + 32 * 1024, NULL);
		if (h->tls) {
			OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, h->cert);
			OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, h->key);
		}
		OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
		h->mhd = MHD_start_daemon(flags, 0, on_accept, h, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
			on_mhd_log, h, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
			MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_ARRAY, ops,
			MHD_OPTION_END);
	}
	if (!h->mhd) {
		snprintf(errbuf, errlen, "http_listen %s: cannot start the listener (address in use?)",
			c->http_listen);
		r = -EADDRINUSE;
		goto fail;
	}
	if ((r = -pthread_create(&h->sweeper, NULL, sweep, h)) < 0) {
		snprintf(errbuf, errlen, "http: cannot start the deadline sweeper: %s", strerror(-r));
		goto fail;
	}
	h->sweeping = true;
	log_msg(LOG_NOTICE, "HTTP API on %s%s", c->http_listen, h->tls ? " (TLS)" : " (plain, loopback)");
	*ret = h;
	return 0;
fail:
	http_stop(h);
	return r;
}

void http_stop(struct http *h)
{
	if (!h)
		return;
	if (h->sweeping) {
		pthread_mutex_lock(&h->tlock);
		h->stopping = true;
		pthread_cond_signal(&h->wake);
		pthread_mutex_unlock(&h->tlock);
		pthread_join(h->sweeper, NULL);
	}
	/* closes every connection: the table empties through on_connection */
	if (h->mhd)
		MHD_stop_daemon(h->mhd);
	for (size_t i = 0; i < SRC_BUCKETS; i++)
		while (h->srcs[i]) {
			struct src *s = h->srcs[i];
			h->srcs[i] = s->next;
			free(s);
		}
	pthread_mutex_destroy(&h->tlock);
	pthread_cond_destroy(&h->wake);
	free(h->proxies);
	if (h->key) {
		secret_wipe(h->key, strlen(h->key));
		free(h->key);
	}
	free(h->cert);
	free(h);
}
