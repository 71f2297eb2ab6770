/* Daemon logging (syslog or stderr) and the audit trail: one structured line per decision. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <syslog.h>

void log_setup(bool to_stderr, int max_level);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* For a line that a flood could repeat: true at most once a second (monotonic clock) for each
 * *last, which the caller keeps (static, zero at first). */
bool log_once_a_second(_Atomic long long *last);

/* The context of an audited decision. Strings may be NULL. Never pass a secret. */
struct audit_ctx {
	const char *event; /* register, confirm, validate, auth, otp, ... */
	const char *caller; /* "uid=1000" or a service id */
	const char *method; /* password, otp, cps, ecps, psc */
	const char *service; /* PAM service or API client */
	const char *remote; /* remote host */
	const char *account; /* login or DN of the account concerned */
};
void audit(const struct audit_ctx *ctx, bool ok, const char *reason);
/* Opens (again, at a reload) the audit file every audit line is also appended to,
 * mode 0600, or 0640 of group (admin_group; (gid_t)-1: none); NULL closes it.
 * 0 or a negative errno (-EPERM: not the daemon's user's, or writable by others). */
int audit_file_open(const char *path, gid_t group);
/* This daemon's last audit lines about account (its login, exactly),
 * newest first, at most max (the ring holds the last 4096 lines of every
 * account): put(ctx, time, line) for each; the count. */
size_t audit_trail(
	const char *account, size_t max, void (*put)(void *ctx, long long at, const char *line), void *ctx);
