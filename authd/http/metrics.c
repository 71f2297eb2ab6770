/* The HTTP listener's Prometheus counters and their text exposition. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "follow.h"
#include "forwarded.h"
#include "listener.h"
#include "metrics.h"

/* The bearer token /metrics also needs when metrics_token_file is set: read once at start. */
#define TOKEN_MIN 16
#define TOKEN_MAX 256
static char metrics_token[TOKEN_MAX + 1];
static size_t metrics_token_len;

int metrics_token_load(const char *path, char *errbuf, size_t errlen)
{
	char buf[TOKEN_MAX + 3];
	struct stat st;
	ssize_t n;
	int fd, r = 0;

	sodium_memzero(metrics_token, sizeof(metrics_token));
	metrics_token_len = 0;
	if (!path)
		return 0;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(errbuf, errlen, "metrics_token_file %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) ||
		(st.st_mode & 077)) {
		snprintf(errbuf, errlen,
			"metrics_token_file %s: must be a regular file owned by root (or the daemon's "
			"user), of mode 0600 or 0400",
			path);
		close(fd);
		return -EPERM;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	/* One line: the token, at most one final newline, printable without blanks. */
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n < TOKEN_MIN || n > TOKEN_MAX)
		r = -EINVAL;
	for (ssize_t i = 0; r == 0 && i < n; i++)
		if ((unsigned char)buf[i] <= 0x20 || (unsigned char)buf[i] >= 0x7f)
			r = -EINVAL;
	if (r < 0)
		snprintf(errbuf, errlen,
			"metrics_token_file %s: one line of %d to %d printable characters, no blank", path,
			TOKEN_MIN, TOKEN_MAX);
	else {
		memcpy(metrics_token, buf, (size_t)n);
		metrics_token_len = (size_t)n;
	}
	sodium_memzero(buf, sizeof(buf));
	return r;
}

bool metrics_allowed(const struct mm_config *c, const char *remote, const char *authorization)
{
	unsigned char addr[16];
	char given[TOKEN_MAX + 1];
	size_t n;
	bool ok;

	if (net_addr_parse(remote, strlen(remote), addr) < 0 ||
		!net_prefixes_match(c->metrics_allow, c->nmetrics_allow, addr))
		return false;
	if (!metrics_token_len)
		return true;
	if (!authorization || strncasecmp(authorization, "Bearer ", 7))
		return false;
	authorization += 7;
	n = strlen(authorization);
	if (n != metrics_token_len)
		return false;
	/* Constant time over the token's length (its length is no secret worth keeping). */
	memcpy(given, authorization, n);
	ok = sodium_memcmp(given, metrics_token, n) == 0;
	sodium_memzero(given, sizeof(given));
	return ok;
}

static const double buckets[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))
static atomic_ulong m_count[ROUTE_N][600];
static atomic_ulong m_hist[ROUTE_N][NBUCKETS];
static atomic_ulong m_total[ROUTE_N];
static atomic_ulong m_sum_us[ROUTE_N];
static atomic_ulong m_rate_limited;
static const char *const cause_names[CUT_N] = {
	"per_source_limit", "header_deadline", "body_deadline", "table_full", "table_full_evicted"};
static atomic_ulong m_conn_cut[CUT_N];
static atomic_long m_conn_open;
static atomic_ulong m_fwd_malformed;

void metrics_record(enum http_route rt, unsigned status, double seconds)
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
	metrics_flows_render(f);
	fprintf(f,
		"# HELP medimail_follow_live Directory bases followed live (content synchronization "
		"persist phase).\n# TYPE medimail_follow_live gauge\nmedimail_follow_live %zu\n",
		follow_live());
	fclose(f);
	return buf;
}

void metrics_conn_cut(enum conn_cause why)
{
	atomic_fetch_add(&m_conn_cut[why], 1);
}

void metrics_conn_open(long delta)
{
	atomic_fetch_add(&m_conn_open, delta);
}

void metrics_rate_limited(void)
{
	atomic_fetch_add(&m_rate_limited, 1);
}

unsigned long metrics_fwd_malformed(void)
{
	return atomic_fetch_add(&m_fwd_malformed, 1) + 1;
}
