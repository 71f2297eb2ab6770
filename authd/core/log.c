/* Daemon logging (syslog or stderr) and the audit trail: one structured line per decision. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

static bool use_stderr;
static int level_max = LOG_INFO;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void log_setup(bool to_stderr, int max_level)
{
	use_stderr = to_stderr;
	level_max = max_level;
	if (!to_stderr)
		openlog("medimail-authd", LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
}

static void emit(int level, const char *text)
{
	if (use_stderr) {
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		pthread_mutex_lock(&lock);
		fprintf(stderr, "%s.%03ldZ medimail-authd[%d]: %s\n", stamp, ts.tv_nsec / 1000000, level,
			text);
		fflush(stderr);
		pthread_mutex_unlock(&lock);
	} else {
		syslog(level, "%s", text);
	}
}

bool log_once_a_second(_Atomic long long *last)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return atomic_exchange(last, (long long)ts.tv_sec) != (long long)ts.tv_sec;
}

void log_msg(int level, const char *fmt, ...)
{
	char text[2048];
	va_list ap;

	if (level > level_max)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	/* A log line never carries control characters from user input. */
	for (char *p = text; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	emit(level, text);
}

/* key=value with the value quoted when needed; bounded. */
static size_t put_kv(char *out, size_t off, size_t cap, const char *key, const char *v)
{
	int n;

	if (off >= cap)
		return off;
	if (!v || !*v)
		v = "-";
	n = snprintf(out + off, cap - off, "%s%s=\"", off ? " " : "", key);
	if (n < 0)
		return off;
	off += (size_t)n;
	for (size_t i = 0; v[i] && i < 256 && off + 3 < cap; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			c = '?';
		out[off++] = (char)c;
	}
	if (off + 1 < cap)
		out[off++] = '"';
	out[off < cap ? off : cap - 1] = '\0';
	return off;
}

/* The audit file (audit_file): append-only, 0600 (0640 of admin_group when set), one line per decision with its UTC
 * instant; the fd is swapped under the lock at a reopen (logrotate's SIGHUP). */
static int audit_fd = -1;
static pthread_mutex_t audit_fd_lock = PTHREAD_MUTEX_INITIALIZER;

int audit_file_open(const char *path, gid_t group)
{
	mode_t mode = group == (gid_t)-1 ? 0600 : 0640;
	int fd = -1, old;
	struct stat st;

	if (path) {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
		if (fd < 0)
			return -errno;
		/* An existing file another user owns is not ours; then only admin_group may read it. */
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
			(st.st_mode & 0002) || (group != (gid_t)-1 && fchown(fd, (uid_t)-1, group) < 0) ||
			fchmod(fd, mode) < 0) {
			close(fd);
			return -EPERM;
		}
	}
	pthread_mutex_lock(&audit_fd_lock);
	old = audit_fd;
	audit_fd = fd;
	pthread_mutex_unlock(&audit_fd_lock);
	if (old >= 0)
		close(old);
	return 0;
}

static void audit_file_put(const char *line)
{
	struct timespec ts;
	struct tm tm;
	char out[2100];
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(out, sizeof(out), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s\n", tm.tm_year + 1900,
		tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, line);
	if (n < 0 || (size_t)n >= sizeof(out))
		return;
	pthread_mutex_lock(&audit_fd_lock);
	/* One write(2) of O_APPEND: lines of several daemons never interleave. */
	if (audit_fd >= 0 && write(audit_fd, out, (size_t)n) != n)
		emit(LOG_ERR, "audit file: a line could not be written");
	pthread_mutex_unlock(&audit_fd_lock);
}

/* The last audit lines of this daemon, for the back office's audit-trail
 * request (log.h): a ring, oldest overwritten; per daemon, not shared. */
#define RING_N 4096
static struct ring_line {
	long long at;
	char account[64];
	char line[448];
} ring[RING_N];
static size_t ring_next, ring_used;
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;

static void ring_put(const char *account, const char *line)
{
	struct ring_line *r;

	if (!account || !*account || strlen(account) >= sizeof(r->account))
		return;
	pthread_mutex_lock(&ring_lock);
	r = &ring[ring_next];
	r->at = (long long)time(NULL);
	snprintf(r->account, sizeof(r->account), "%s", account);
	snprintf(r->line, sizeof(r->line), "%s", line);
	ring_next = (ring_next + 1) % RING_N;
	if (ring_used < RING_N)
		ring_used++;
	pthread_mutex_unlock(&ring_lock);
}

size_t audit_trail(
	const char *account, size_t max, void (*put)(void *ctx, long long at, const char *line), void *ctx)
{
	size_t n = 0;

	pthread_mutex_lock(&ring_lock);
	for (size_t i = 0; i < ring_used && n < max; i++) {
		const struct ring_line *r = &ring[(ring_next + RING_N - 1 - i) % RING_N];

		if (!strcmp(r->account, account)) {
			put(ctx, r->at, r->line);
			n++;
		}
	}
	pthread_mutex_unlock(&ring_lock);
	return n;
}

void audit(const struct audit_ctx *ctx, bool ok, const char *reason)
{
	char line[2048];
	size_t off = 0;

	line[0] = '\0';
	off = put_kv(line, off, sizeof(line), "audit", ctx->event);
	off = put_kv(line, off, sizeof(line), "caller", ctx->caller);
	off = put_kv(line, off, sizeof(line), "method", ctx->method);
	off = put_kv(line, off, sizeof(line), "service", ctx->service);
	off = put_kv(line, off, sizeof(line), "remote", ctx->remote);
	off = put_kv(line, off, sizeof(line), "account", ctx->account);
	off = put_kv(line, off, sizeof(line), "result", ok ? "ok" : "refused");
	put_kv(line, off, sizeof(line), "reason", reason);
	emit(ok ? LOG_INFO : LOG_NOTICE, line);
	audit_file_put(line);
	ring_put(ctx->account, line);
	metrics_audit(ctx, ok);
}
