/* The daemon's flow counters: one table of atomics per family, fixed label sets, no lock. */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"

/* The audit's event names; any other counts as "other" (the label set stays bounded). */
static const char *const events[] = {"other", "auth", "otp-send", "otp-verify", "lockout", "mail-auth",
	"ecps", "ecps-start", "session-open", "session-close", "logout", "psc-link", "oidc-link",
	"psc-unlink", "oidc-authorize", "oidc-token", "oidc-consent", "oidc-revoke", "oidc-logout",
	"oidc-client-auth", "oidc-refresh-reuse", "oidc-backchannel-logout", "oidc-client-add",
	"oidc-client-remove", "card_removed", "register", "confirm", "validate", "email-confirm",
	"email-change", "password-change", "password-reset", "password-forgot", "device-enrol",
	"device-verify", "device-complete", "device-revoke", "app-password-create", "app-password-revoke",
	"web-session", "web-csrf", "api-auth", "switch", "account", "export"};
#define NEVENTS (sizeof(events) / sizeof(events[0]))
static const char *const methods[] = {"none", "other", "password", "otp", "password+otp", "offline", "cps",
	"ecps", "psc", "oidc", "app-password", "device"};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))
enum door { DOOR_SOCKET, DOOR_WEB, DOOR_OIDC, DOOR_HTTP, DOOR_INTERNAL, DOOR_N };
static const char *const doors[DOOR_N] = {"socket", "web", "oidc", "http", "internal"};
/* The events that are a login step, counted again as medimail_logins_total. */
static const char *const login_events[] = {
	"auth", "otp-verify", "mail-auth", "ecps", "session-open", "oidc-authorize", "oidc-token"};

static atomic_ulong m_audit[NEVENTS][NMETHODS][DOOR_N][2];

static const double buckets[] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))
struct histogram {
	atomic_ulong le[NBUCKETS];
	atomic_ulong count, failed, sum_us;
};
static struct histogram h_ldap, h_smtp;
static atomic_ulong nss_rebuilds, nss_failures, nss_last_us;
static atomic_ulong m_cache[METRICS_CACHE_N][2];
static const char *const cache_names[METRICS_CACHE_N] = {
	[METRICS_CACHE_OIDC_CLIENT] = "oidc_client",
	[METRICS_CACHE_OIDC_GRANT] = "oidc_grant",
	[METRICS_CACHE_OIDC_CLAIMS] = "oidc_claims",
};

static size_t index_of(const char *const *v, size_t n, const char *s, size_t dflt)
{
	for (size_t i = 0; s && i < n; i++)
		if (!strcmp(v[i], s))
			return i;
	return dflt;
}

static enum door door_of(const struct audit_ctx *ctx)
{
	const char *c = ctx->caller ? ctx->caller : "";

	if (!strncmp(c, "uid=", 4))
		return DOOR_SOCKET;
	/* the web pages' callers (http/web.c, ipc/json_door.c); not a prefix: a service
	 * client may well be called "webmail" */
	if (!strcmp(c, "web") || !strcmp(c, "web-session") || !strcmp(c, "web-operator"))
		return DOOR_WEB;
	if (ctx->service && !strcmp(ctx->service, "oidc"))
		return DOOR_OIDC;
	if (!strcmp(c, "monitor") || !*c)
		return DOOR_INTERNAL;
	return DOOR_HTTP;
}

void metrics_audit(const struct audit_ctx *ctx, bool ok)
{
	size_t e = index_of(events, NEVENTS, ctx->event, 0);
	size_t m = ctx->method ? index_of(methods, NMETHODS, ctx->method, 1) : 0;

	atomic_fetch_add_explicit(&m_audit[e][m][door_of(ctx)][ok], 1, memory_order_relaxed);
}

static void observe(struct histogram *h, double seconds, bool ok)
{
	for (size_t i = 0; i < NBUCKETS; i++)
		if (seconds <= buckets[i]) {
			atomic_fetch_add_explicit(&h->le[i], 1, memory_order_relaxed);
			break;
		}
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	if (!ok)
		atomic_fetch_add_explicit(&h->failed, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, (unsigned long)(seconds * 1e6), memory_order_relaxed);
}

void metrics_ldap(double seconds, bool ok)
{
	observe(&h_ldap, seconds, ok);
}

void metrics_smtp(double seconds, bool ok)
{
	observe(&h_smtp, seconds, ok);
}

void metrics_nss_rebuild(double seconds, bool ok)
{
	atomic_fetch_add_explicit(ok ? &nss_rebuilds : &nss_failures, 1, memory_order_relaxed);
	atomic_store_explicit(&nss_last_us, (unsigned long)(seconds * 1e6), memory_order_relaxed);
}

void metrics_cache(enum metrics_cache which, bool hit)
{
	if ((unsigned)which < METRICS_CACHE_N)
		atomic_fetch_add_explicit(&m_cache[which][hit], 1, memory_order_relaxed);
}

double metrics_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long get(atomic_ulong *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

static void histogram_render(FILE *f, const char *name, const char *help, struct histogram *h)
{
	unsigned long cum = 0, total = get(&h->count);

	fprintf(f, "# HELP %s_seconds %s\n# TYPE %s_seconds histogram\n", name, help, name);
	for (size_t i = 0; i < NBUCKETS; i++) {
		cum += get(&h->le[i]);
		fprintf(f, "%s_seconds_bucket{le=\"%g\"} %lu\n", name, buckets[i], cum);
	}
	fprintf(f, "%s_seconds_bucket{le=\"+Inf\"} %lu\n%s_seconds_sum %.6f\n%s_seconds_count %lu\n", name,
		total, name, (double)get(&h->sum_us) / 1e6, name, total);
	fprintf(f, "# HELP %s_failed_total Operations that failed.\n# TYPE %s_failed_total counter\n", name,
		name);
	fprintf(f, "%s_failed_total %lu\n", name, get(&h->failed));
}

static bool is_login(const char *event)
{
	return index_of(login_events, sizeof(login_events) / sizeof(login_events[0]), event, (size_t)-1) !=
		(size_t)-1;
}

void metrics_flows_render(FILE *f)
{
	static const char *const result[2] = {"refused", "ok"};

	fprintf(f,
		"# HELP medimail_audit_events_total Audited decisions by event, method, door and "
		"result.\n# TYPE medimail_audit_events_total counter\n");
	for (size_t e = 0; e < NEVENTS; e++)
		for (size_t m = 0; m < NMETHODS; m++)
			for (size_t d = 0; d < DOOR_N; d++)
				for (int ok = 0; ok < 2; ok++) {
					unsigned long n = get(&m_audit[e][m][d][ok]);
					if (n)
						fprintf(f,
							"medimail_audit_events_total{event=\"%s\",method=\"%"
							"s\","
							"door=\"%s\",result=\"%s\"} %lu\n",
							events[e], methods[m], doors[d], result[ok], n);
				}
	fprintf(f,
		"# HELP medimail_logins_total Login steps by door, method and result.\n"
		"# TYPE medimail_logins_total counter\n");
	for (size_t m = 0; m < NMETHODS; m++)
		for (size_t d = 0; d < DOOR_N; d++)
			for (int ok = 0; ok < 2; ok++) {
				unsigned long n = 0;

				for (size_t e = 0; e < NEVENTS; e++)
					if (is_login(events[e]))
						n += get(&m_audit[e][m][d][ok]);
				if (n)
					fprintf(f,
						"medimail_logins_total{method=\"%s\",door=\"%s\",result=\"%"
						"s\"} "
						"%lu\n",
						methods[m], doors[d], result[ok], n);
			}
	{
		size_t send = index_of(events, NEVENTS, "otp-send", 0);
		size_t lock = index_of(events, NEVENTS, "lockout", 0);
		unsigned long sent = 0, failed = 0, locks = 0;

		for (size_t m = 0; m < NMETHODS; m++)
			for (size_t d = 0; d < DOOR_N; d++) {
				sent += get(&m_audit[send][m][d][1]);
				failed += get(&m_audit[send][m][d][0]);
				locks += get(&m_audit[lock][m][d][1]) + get(&m_audit[lock][m][d][0]);
			}
		fprintf(f,
			"# HELP medimail_codes_sent_total One-time codes sent by mail.\n"
			"# TYPE medimail_codes_sent_total counter\nmedimail_codes_sent_total %lu\n"
			"# HELP medimail_codes_failed_total One-time codes not sent (refused or the relay "
			"failed).\n# TYPE medimail_codes_failed_total counter\nmedimail_codes_failed_total "
			"%lu\n"
			"# HELP medimail_lockouts_total Accounts locked after too many failures.\n"
			"# TYPE medimail_lockouts_total counter\nmedimail_lockouts_total %lu\n",
			sent, failed, locks);
	}
	histogram_render(f, "medimail_ldap_operation", "Directory operations' duration.", &h_ldap);
	histogram_render(f, "medimail_smtp_send", "Mails handed to the relay, duration.", &h_smtp);
	fprintf(f,
		"# HELP medimail_nss_cache_rebuilds_total Name-service cache rebuilds written.\n"
		"# TYPE medimail_nss_cache_rebuilds_total counter\nmedimail_nss_cache_rebuilds_total %lu\n"
		"# HELP medimail_nss_cache_rebuild_failures_total Name-service cache rebuilds that "
		"failed.\n# TYPE medimail_nss_cache_rebuild_failures_total counter\n"
		"medimail_nss_cache_rebuild_failures_total %lu\n"
		"# HELP medimail_nss_cache_last_rebuild_seconds Duration of the last rebuild.\n"
		"# TYPE medimail_nss_cache_last_rebuild_seconds gauge\n"
		"medimail_nss_cache_last_rebuild_seconds %.6f\n",
		get(&nss_rebuilds), get(&nss_failures), (double)get(&nss_last_us) / 1e6);
	fprintf(f,
		"# HELP medimail_cache_lookups_total Lookups of what the daemon keeps in memory, "
		"answered from it (hit) or from the directory (miss).\n"
		"# TYPE medimail_cache_lookups_total counter\n");
	for (size_t i = 0; i < METRICS_CACHE_N; i++)
		fprintf(f,
			"medimail_cache_lookups_total{cache=\"%s\",result=\"hit\"} %lu\n"
			"medimail_cache_lookups_total{cache=\"%s\",result=\"miss\"} %lu\n",
			cache_names[i], get(&m_cache[i][1]), cache_names[i], get(&m_cache[i][0]));
}
