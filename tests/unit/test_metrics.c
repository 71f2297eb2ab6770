/* Unit tests of the flow counters (authd/core/metrics.c): bounded labels, exact counts, the exposition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "metrics.h"

static char *render(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	metrics_flows_render(f);
	fclose(f);
	return buf;
}

static unsigned long value(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; (p = strstr(p, series)); p += n)
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtoul(p + n + 1, NULL, 10);
	return 0;
}

static void test_known_names_are_counted_exactly(void **state)
{
	struct audit_ctx ok = {
		.event = "auth", .caller = "uid=0", .method = "password", .account = "jean.dupont"};
	struct audit_ctx web = {.event = "otp-verify", .caller = "web", .method = "password+otp"};
	char *t;

	(void)state;
	metrics_audit(&ok, true);
	metrics_audit(&ok, false);
	metrics_audit(&ok, false);
	metrics_audit(&web, true);
	t = render();
	assert_int_equal(
		value(t, "medimail_logins_total{method=\"password\",door=\"socket\",result=\"ok\"}"), 1);
	assert_int_equal(
		value(t, "medimail_logins_total{method=\"password\",door=\"socket\",result=\"refused\"}"), 2);
	assert_int_equal(
		value(t, "medimail_logins_total{method=\"password+otp\",door=\"web\",result=\"ok\"}"), 1);
	assert_null(strstr(t, "jean.dupont"));
	free(t);
}

static void test_unknown_names_stay_bounded(void **state)
{
	struct audit_ctx a = {.event = "x\"}\nforged 1", .caller = "uid=0", .method = "m\"}\nforged 2"};
	struct audit_ctx b = {.event = "otp-send", .caller = "someclient", .method = "otp"};
	char *t;

	(void)state;
	metrics_audit(&a, true);
	metrics_audit(&b, false);
	t = render();
	assert_null(strstr(t, "forged"));
	assert_int_equal(
		value(t,
			"medimail_audit_events_total{event=\"other\",method=\"other\",door=\"socket\","
			"result=\"ok\"}"),
		1);
	assert_int_equal(value(t, "medimail_codes_failed_total"), 1);
	assert_int_equal(
		value(t,
			"medimail_audit_events_total{event=\"otp-send\",method=\"otp\",door=\"http\","
			"result=\"refused\"}"),
		1);
	free(t);
}

static void test_every_login_kind_has_its_method_and_door(void **state)
{
	static const struct {
		struct audit_ctx a;
		const char *series;
	} kinds[] = {
		{{.event = "auth", .caller = "uid=0", .method = "cps"},
			"medimail_logins_total{method=\"cps\",door=\"socket\",result=\"ok\"}"},
		{{.event = "ecps", .caller = "webmail", .method = "ecps"},
			"medimail_logins_total{method=\"ecps\",door=\"http\",result=\"ok\"}"},
		{{.event = "session-open", .caller = "web-session", .method = "psc"},
			"medimail_logins_total{method=\"psc\",door=\"web\",result=\"ok\"}"},
		{{.event = "oidc-token", .caller = "rp-client", .service = "oidc"},
			"medimail_logins_total{method=\"none\",door=\"oidc\",result=\"ok\"}"},
		{{.event = "mail-auth", .caller = "uid=0", .method = "app-password"},
			"medimail_logins_total{method=\"app-password\",door=\"socket\",result=\"ok\"}"},
	};
	struct audit_ctx not_login = {.event = "register", .caller = "uid=0", .method = "psc"};
	char *t;

	(void)state;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		metrics_audit(&kinds[i].a, true);
	metrics_audit(&not_login, true);
	t = render();
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		assert_int_equal(value(t, kinds[i].series), 1);
	/* a registration is audited, not a login */
	assert_int_equal(
		value(t,
			"medimail_audit_events_total{event=\"register\",method=\"psc\",door=\"socket\","
			"result=\"ok\"}"),
		1);
	assert_int_equal(value(t, "medimail_logins_total{method=\"psc\",door=\"socket\",result=\"ok\"}"), 0);
	free(t);
}

static void test_histograms_are_cumulative(void **state)
{
	char *t;

	(void)state;
	metrics_ldap(0.0002, true);
	metrics_ldap(0.3, false);
	metrics_ldap(60, true);
	metrics_nss_rebuild(0.5, true);
	metrics_nss_rebuild(0.25, false);
	t = render();
	assert_int_equal(value(t, "medimail_ldap_operation_seconds_bucket{le=\"0.0005\"}"), 1);
	assert_int_equal(value(t, "medimail_ldap_operation_seconds_bucket{le=\"0.5\"}"), 2);
	assert_int_equal(value(t, "medimail_ldap_operation_seconds_bucket{le=\"10\"}"), 2);
	assert_int_equal(value(t, "medimail_ldap_operation_seconds_bucket{le=\"+Inf\"}"), 3);
	assert_int_equal(value(t, "medimail_ldap_operation_seconds_count"), 3);
	assert_int_equal(value(t, "medimail_ldap_operation_failed_total"), 1);
	assert_int_equal(value(t, "medimail_nss_cache_rebuilds_total"), 1);
	assert_int_equal(value(t, "medimail_nss_cache_rebuild_failures_total"), 1);
	assert_non_null(strstr(t, "\nmedimail_nss_cache_last_rebuild_seconds 0.250000\n"));
	free(t);
}

static void test_cache_lookups_by_cache_and_result(void **state)
{
	char *t;

	(void)state;
	metrics_cache(METRICS_CACHE_OIDC_GRANT, true);
	metrics_cache(METRICS_CACHE_OIDC_GRANT, true);
	metrics_cache(METRICS_CACHE_OIDC_GRANT, false);
	metrics_cache(METRICS_CACHE_OIDC_CLAIMS, false);
	metrics_cache(METRICS_CACHE_N, true); /* out of range: counted nowhere */
	t = render();
	assert_int_equal(value(t, "medimail_cache_lookups_total{cache=\"oidc_grant\",result=\"hit\"}"), 2);
	assert_int_equal(value(t, "medimail_cache_lookups_total{cache=\"oidc_grant\",result=\"miss\"}"), 1);
	assert_int_equal(value(t, "medimail_cache_lookups_total{cache=\"oidc_claims\",result=\"miss\"}"), 1);
	assert_int_equal(value(t, "medimail_cache_lookups_total{cache=\"oidc_client\",result=\"hit\"}"), 0);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_names_are_counted_exactly),
		cmocka_unit_test(test_unknown_names_stay_bounded),
		cmocka_unit_test(test_every_login_kind_has_its_method_and_door),
		cmocka_unit_test(test_histograms_are_cumulative),
		cmocka_unit_test(test_cache_lookups_by_cache_and_result),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
