/* Inside the HTTP listener: what its files share (not for use outside http/).
 *   listener.c  MHD setup, the connection table, deadlines and the sweeper,
 *               per-source limits, the client address behind a proxy
 *   routes.c    the request cycle: bounded bodies, JSON, routing, replies
 *   tokens.c    who a request comes from: service clients, sessions
 *   metrics.c   the Prometheus counters */
#pragma once

#include <microhttpd.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>

#include "forwarded.h"
#include "http.h"

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
	/* the web pages, read at start (static.c) */
	struct web_files *files;
};

/* Connections refused or cut, by cause. */
enum conn_cause {
	CUT_PER_SOURCE,
	CUT_HEADER_DEADLINE,
	CUT_BODY_DEADLINE,
	CUT_TABLE_FULL,
	CUT_EVICTED,
	CUT_N
};

/* --- metrics.c --- */
void metrics_record(enum http_route rt, unsigned status, double seconds);
void metrics_conn_cut(enum conn_cause why);
void metrics_conn_open(long delta);
void metrics_rate_limited(void);
/* Counts one malformed proxy header; returns the count so far. */
unsigned long metrics_fwd_malformed(void);
/* Reads metrics_token_file (NULL: no token needed); 0 or a negative errno with errbuf set. */
int metrics_token_load(const char *path, char *errbuf, size_t errlen);

/* --- listener.c --- */
double http_mono(void);
/* The request went on to its next phase (seconds 0: no deadline). */
void conn_phase(struct http *h, struct MHD_Connection *conn, enum conn_phase ph, double seconds);
/* true when the source may go on (the per-source token bucket). */
bool rate_allow(const struct mm_config *c, const unsigned char addr[16]);
/* The client's address (16 bytes, IPv4 mapped) and its text: the peer, or
 * behind a trusted proxy the client it names; true in that second case. */
bool client_addr(
	struct MHD_Connection *conn, const struct http *h, unsigned char out[16], char *text, size_t textlen);
/* Behind a trusted proxy: counts a request of the client at addr under
 * way (*ret, to release); false when it is over the per-source limit. */
bool forwarded_take(struct http *h, const unsigned char addr[16], struct src **ret);
void forwarded_release(struct http *h, struct src **s);

/* --- routes.c: the MHD callbacks of a request --- */
enum MHD_Result http_on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	const char *version, const char *upload, size_t *upload_size, void **con_cls);
void http_on_completed(
	void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe);

/* --- tokens.c --- */
/* HTTP Basic with a registered service client: 0 and r->client set, or the
 * refusal (401/503) already in r and its status. */
unsigned http_authenticate(struct http_req *r);
