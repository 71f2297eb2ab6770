/* The HTTP listener (listener.h): libmicrohttpd set up with TLS, the
 * connection table with its deadlines and sweeper, the per-source limits,
 * and the client address behind a trusted proxy. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "listener.h"
#include "log.h"
#include "ratelimit.h"
#include "secret.h"

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

double http_mono(void)
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
bool rate_allow(const struct mm_config *c, const unsigned char addr[16])
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
	metrics_conn_cut(why);
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
			metrics_conn_cut(CUT_PER_SOURCE);
			ok = MHD_NO;
			goto out;
		}
	}
	if (conn_live(h) >= h->max_conn) {
		struct tconn *oldest = h->lists[PH_HEAD].head;
		if (!oldest) {
			metrics_conn_cut(CUT_TABLE_FULL);
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
		metrics_conn_open(-1);
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
	t->deadline = http_mono() + h->header_timeout;
	tlist_append(&h->lists[PH_HEAD], t);
	/* accepted by another worker at the same time: over the limit after all */
	if (!t->src && !net_prefixes_match(h->proxies, h->nproxies, addr))
		conn_cut(h, t, CUT_PER_SOURCE);
	else if (t->src && t->src->n > h->per_source)
		conn_cut(h, t, CUT_PER_SOURCE);
	pthread_mutex_unlock(&h->tlock);
	metrics_conn_open(1);
	*socket_context = t;
}

void conn_phase(struct http *h, struct MHD_Connection *conn, enum conn_phase ph, double seconds)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct tconn *t = ci ? ci->socket_context : NULL;

	if (!t)
		return;
	pthread_mutex_lock(&h->tlock);
	if (t->phase != PH_CUT && t->phase != ph)
		conn_move(h, t, ph, seconds > 0 ? http_mono() + seconds : 0);
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
		now = http_mono();
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

/* --- the client address ------------------------------------------------ */

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
	unsigned long n = metrics_fwd_malformed();
	long now = (long)http_mono(), prev = atomic_load(&last);

	if ((prev < 0 || now - prev >= 60) && atomic_compare_exchange_strong(&last, &prev, now))
		log_msg(LOG_WARNING,
			"http: %s from proxy %s ignored (%s), the proxy's address is used; %lu so far", name,
			peer, r == -E2BIG ? "too many hops" : "malformed", n);
}

/* The address that rate limits, lockouts, the login limits and the audit
 * see: the peer, or behind a trusted proxy the client the chain reports
 * (Forwarded, else X-Forwarded-For). From anyone else those headers mean
 * nothing. */
bool client_addr(
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
bool forwarded_take(struct http *h, const unsigned char addr[16], struct src **ret)
{
	unsigned char key[16];
	struct src *s;
	bool ok = true;

	src_key_of(addr, key);
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
		*ret = s;
	}
	pthread_mutex_unlock(&h->tlock);
	return ok;
}

void forwarded_release(struct http *h, struct src **s)
{
	if (!*s)
		return;
	pthread_mutex_lock(&h->tlock);
	src_put(h, *s);
	pthread_mutex_unlock(&h->tlock);
	*s = NULL;
}

/* --- start and stop ------------------------------------------------------ */

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
	if ((r = metrics_token_load(c->metrics_token_file, errbuf, errlen)) < 0)
		goto fail;
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
	/* The pages: read once; without them the API still serves. */
	if ((r = web_files_load(c->web_root, &h->files)) < 0)
		log_msg(LOG_WARNING, "web_root %s: %s: no web pages served", c->web_root, strerror(-r));
	else
		log_msg(LOG_INFO, "web_root %s: %zu files", c->web_root, web_files_count(h->files));
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
		h->mhd = MHD_start_daemon(flags, 0, on_accept, h, http_on_request, h,
			MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h, MHD_OPTION_NOTIFY_COMPLETED,
			http_on_completed, h, MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
			MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
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
	web_files_free(h->files);
	free(h);
}
