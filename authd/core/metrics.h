/* The daemon's flow counters (logins, codes, lockouts, LDAP/SMTP latency, NSS cache rebuilds):
 * lock-free atomics, bounded label sets, rendered in the Prometheus text format. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

struct audit_ctx;

/* One audited decision (called by audit() only): its event, method, door and result,
 * each mapped onto a fixed set of labels ("other" beyond it); never the account. */
void metrics_audit(const struct audit_ctx *ctx, bool ok);
/* One directory operation's duration (store_with_conn). */
void metrics_ldap(double seconds, bool ok);
/* One mail handed to the relay (mail_send), sent or not. */
void metrics_smtp(double seconds, bool ok);
/* One rebuild of the name-service cache, written or not. */
void metrics_nss_rebuild(double seconds, bool ok);
/* What the OpenID provider keeps in memory (oidc/): one lookup, answered from memory or not. */
enum metrics_cache {
	METRICS_CACHE_OIDC_CLIENT,
	METRICS_CACHE_OIDC_GRANT,
	METRICS_CACHE_OIDC_CLAIMS,
	METRICS_CACHE_N
};
void metrics_cache(enum metrics_cache which, bool hit);
/* A monotonic clock in seconds, for the durations above. */
double metrics_mono(void);
/* Appends the counters above to f. */
void metrics_flows_render(FILE *f);
