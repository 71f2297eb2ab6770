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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_names_are_counted_exactly),
		cmocka_unit_test(test_unknown_names_stay_bounded),
		cmocka_unit_test(test_histograms_are_cumulative),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
