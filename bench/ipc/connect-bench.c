/* connect-bench: what a connection to medimail-authd's socket costs, beside a request on a kept one. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"
#include "wire.h"

/*
 * Every NSS lookup that reaches the socket and every PAM call opens a connection, sends one
 * request and closes it (mm_client_call).  This driver times that, with MM_REQ_PING (no directory
 * work: the daemon's own cost), against the same request on a connection kept open, in one run:
 * the difference is what accepting a connection costs the daemon.  T threads, N calls each,
 * alternating the two modes so that neither gets the warmer machine.
 */

struct worker {
	const char *socket;
	unsigned n;
	double *fresh_us, *kept_us;
	int err;
};

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int ping_fd(int fd, const struct mm_msg *req)
{
	struct mm_msg *reply = NULL;
	int r = mm_client_call_fd(fd, MM_IO_TIMEOUT_MS, req, &reply);

	if (r == 0 && (reply->status != 0 || !mm_msg_get(reply, "version")))
		r = -EPROTO;
	mm_msg_free(reply);
	return r;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct mm_msg *req = mm_msg_new(MM_REQ_PING, false);
	int kept = -1, r;

	if (!req) {
		w->err = -ENOMEM;
		return NULL;
	}
	if ((r = mm_client_connect(w->socket, MM_IO_TIMEOUT_MS, (uid_t)-1, &kept)) < 0) {
		w->err = r;
		goto out;
	}
	for (unsigned i = 0; i < w->n; i++) {
		for (int mode = 0; mode < 2; mode++) {
			bool fresh = (mode == 0) == (i % 2 == 0);
			double t0 = now_us();
			int fd = kept;

			if (fresh && (r = mm_client_connect(w->socket, MM_IO_TIMEOUT_MS, (uid_t)-1, &fd)) < 0)
				break;
			r = ping_fd(fd, req);
			if (!fresh && (r == -EPIPE || r == -ECONNRESET)) {
				/* The daemon ends a connection after MAX_REQUESTS_PER_CONN requests. */
				close(kept);
				kept = -1;
				if ((r = mm_client_connect(w->socket, MM_IO_TIMEOUT_MS, (uid_t)-1, &kept)) <
					0)
					break;
				t0 = now_us();
				fd = kept;
				r = ping_fd(fd, req);
			}
			if (fresh)
				close(fd);
			if (r < 0)
				break;
			(fresh ? w->fresh_us : w->kept_us)[i] = now_us() - t0;
		}
		if (r < 0) {
			w->err = r;
			break;
		}
	}
out:
	if (kept >= 0)
		close(kept);
	mm_msg_free(req);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void report(const char *what, double *v, size_t n, double wall_s)
{
	qsort(v, n, sizeof(*v), cmp_double);
	printf("%-6s n=%zu p50=%.1fus p90=%.1fus p99=%.1fus max=%.1fus (%.0f calls/s of this mode)\n", what,
		n, v[n / 2], v[n * 9 / 10], v[n * 99 / 100], v[n - 1], n / wall_s);
}

int main(int argc, char **argv)
{
	unsigned n, t;
	struct worker *w;
	pthread_t *th;
	double *fresh, *kept, t0, wall;

	if (argc != 4 || (n = (unsigned)strtoul(argv[2], NULL, 10)) == 0 ||
		(t = (unsigned)strtoul(argv[3], NULL, 10)) == 0 || t > 256) {
		fprintf(stderr, "usage: connect-bench SOCKET CALLS_PER_THREAD THREADS(1-256)\n");
		return 2;
	}
	w = calloc(t, sizeof(*w));
	th = calloc(t, sizeof(*th));
	fresh = calloc((size_t)n * t, sizeof(*fresh));
	kept = calloc((size_t)n * t, sizeof(*kept));
	if (!w || !th || !fresh || !kept) {
		fprintf(stderr, "connect-bench: out of memory\n");
		return 1;
	}
	t0 = now_us();
	for (unsigned i = 0; i < t; i++) {
		w[i] = (struct worker){.socket = argv[1],
			.n = n,
			.fresh_us = fresh + (size_t)i * n,
			.kept_us = kept + (size_t)i * n};
		if (pthread_create(&th[i], NULL, work, &w[i]) != 0) {
			fprintf(stderr, "connect-bench: pthread_create failed\n");
			return 1;
		}
	}
	for (unsigned i = 0; i < t; i++) {
		pthread_join(th[i], NULL);
		if (w[i].err) {
			fprintf(stderr, "connect-bench: thread %u: %s\n", i, strerror(-w[i].err));
			return 1;
		}
	}
	wall = (now_us() - t0) / 1e6;
	printf("socket %s, %u threads x %u calls of each mode, %.2f s\n", argv[1], t, n, wall);
	report("fresh", fresh, (size_t)n * t, wall);
	report("kept", kept, (size_t)n * t, wall);
	free(w);
	free(th);
	free(fresh);
	free(kept);
	return 0;
}
