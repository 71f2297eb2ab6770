/* Unit tests for the e-CPS and service-client services (authd/psc/ecps.c,
 * clients.c): the refusals decided before the directory or the provider is
 * asked, without slapd or a provider (the provider's address is closed). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "psc.h"

static char dir[] = "/tmp/test_ecps.XXXXXX";
static char secret_path[64];
static struct mm_config cfg;
static struct caller who = {.uid = 0, .admin = true, .name = "uid=0"};

#define ATTR(n, v)                                                                                           \
	{                                                                                                    \
		.name = (char *)(n), .nvals = 1, .vals = (char *[])                                          \
		{                                                                                            \
			(char *)(v)                                                                          \
		}                                                                                            \
	}

static struct attr org_attrs[] = {
	ATTR("uid", "cabinet"), ATTR("mmAccountType", "ORG"), ATTR("mmStatus", "active")};
static struct entry org = {.dn = (char *)"uid=cabinet,ou=accounts,dc=test", .nattrs = 3, .attrs = org_attrs};
static struct attr susp_attrs[] = {ATTR("uid", "jean.per"), ATTR("mmAccountType", "PER"),
	ATTR("mmStatus", "suspended"), ATTR("mmNationalId", "810001234567")};
static struct entry suspended = {
	.dn = (char *)"uid=jean.per,ou=accounts,dc=test", .nattrs = 4, .attrs = susp_attrs};
static struct attr med_attrs[] = {
	ATTR("uid", "anne.med"), ATTR("mmAccountType", "MED"), ATTR("mmStatus", "active")};
static struct entry med = {.dn = (char *)"uid=anne.med,ou=accounts,dc=test", .nattrs = 3, .attrs = med_attrs};
static struct attr per_attrs[] = {ATTR("uid", "paul.per"), ATTR("mmAccountType", "PER"),
	ATTR("mmStatus", "active"), ATTR("mmNationalId", "810009876543")};
static struct entry per = {.dn = (char *)"uid=paul.per,ou=accounts,dc=test", .nattrs = 4, .attrs = per_attrs};

static int setup(void **state)
{
	char err[256];
	FILE *f;

	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(secret_path, sizeof(secret_path), "%s/secret", dir);
	if (!(f = fopen(secret_path, "w")))
		return -1;
	fputs("s3cret\n", f);
	fclose(f);
	chmod(secret_path, 0600);
	cfg.psc_issuer = (char *)"https://psc.example";
	cfg.psc_client_id = (char *)"medimail";
	cfg.psc_client_secret_file = secret_path;
	cfg.psc_scope = (char *)"openid scope_all";
	cfg.psc_acr = (char *)"eidas1";
	/* port 9 on loopback: closed, so the provider is unreachable at once */
	cfg.psc_ciba_endpoint = (char *)"http://127.0.0.1:9/ciba";
	cfg.psc_token_endpoint = (char *)"http://127.0.0.1:9/token";
	cfg.psc_authorization_endpoint = (char *)"http://127.0.0.1:9/authorize";
	cfg.psc_jwks_uri = (char *)"http://127.0.0.1:9/jwks";
	cfg.psc_timeout = 2;
	cfg.psc_flow_ttl = 120;
	return psc_init(&cfg, err, sizeof(err));
}

static int teardown(void **state)
{
	(void)state;
	psc_cleanup();
	unlink(secret_path);
	rmdir(dir);
	return 0;
}

static void test_not_configured(void **state)
{
	struct mm_config none = {0};
	struct ecps_start st;
	struct ecps_result res;
	struct fault f = {0};

	(void)state;
	assert_int_equal(ecps_start(NULL, &none, &who, &per, &st, &f), -ENOSYS);
	assert_string_equal(f.message, "Pro Santé Connect n'est pas configuré");
	fault_clear(&f);
	assert_int_equal(ecps_poll(NULL, &none, &who, ACCESS_SELF, "ab", &res, &f), -ENOSYS);
	fault_clear(&f);
}

static void test_an_org_is_unknown(void **state)
{
	struct ecps_start st;
	struct fault f = {0};

	(void)state;
	assert_int_equal(ecps_start(NULL, &cfg, &who, &org, &st, &f), -ENOENT);
	assert_string_equal(f.message, "cabinet : compte introuvable");
	assert_null(fault_get(&f, "reason"));
	fault_clear(&f);
}

static void test_inactive_account_says_its_state(void **state)
{
	struct ecps_start st;
	struct fault f = {0};

	(void)state;
	assert_int_equal(ecps_start(NULL, &cfg, &who, &suspended, &st, &f), -EPERM);
	assert_string_equal(fault_get(&f, "reason"), "suspended");
	assert_non_null(strstr(f.message, "jean.per"));
	fault_clear(&f);
}

static void test_no_national_id(void **state)
{
	struct ecps_start st;
	struct fault f = {0};

	(void)state;
	assert_int_equal(ecps_start(NULL, &cfg, &who, &med, &st, &f), -EPERM);
	assert_string_equal(fault_get(&f, "reason"), "no_national_id");
	fault_clear(&f);
}

static void test_provider_unreachable_leaves_nothing(void **state)
{
	struct ecps_start st;
	struct fault f = {0};

	(void)state;
	memset(&st, 'x', sizeof(st));
	assert_int_equal(ecps_start(NULL, &cfg, &who, &per, &st, &f), -EHOSTUNREACH);
	assert_string_equal(f.message, "Pro Santé Connect injoignable");
	assert_string_equal(st.request_id, "");
	assert_string_equal(st.binding_message, "");
	fault_clear(&f);
}

static void test_poll_refuses_a_malformed_request_id(void **state)
{
	static const char *const bad[] = {"", "../../etc",
		"ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB",
		"abababababababababababababababababababababababababababababababab0", NULL};
	struct ecps_result res;
	struct fault f = {0};

	(void)state;
	assert_int_equal(ecps_poll(NULL, &cfg, &who, ACCESS_SELF, NULL, &res, &f), -EINVAL);
	fault_clear(&f);
	for (size_t i = 0; bad[i]; i++) {
		assert_int_equal(ecps_poll(NULL, &cfg, &who, ACCESS_PUBLIC, bad[i], &res, &f), -EINVAL);
		assert_string_equal(fault_get(&f, "field"), "request_id");
		assert_string_equal(fault_get(&f, "rule"), "format");
		assert_null(res.account_dn);
		fault_clear(&f);
	}
}

static void test_state_names(void **state)
{
	(void)state;
	assert_string_equal(ecps_state_name(ECPS_PENDING), "pending");
	assert_string_equal(ecps_state_name(ECPS_SLOW_DOWN), "slow_down");
	assert_string_equal(ecps_state_name(ECPS_DENIED), "denied");
	assert_string_equal(ecps_state_name(ECPS_EXPIRED), "expired");
	assert_string_equal(ecps_state_name(ECPS_DONE), "authenticated");
}

static void test_service_client_ids(void **state)
{
	char secret[SECRET_TOKEN_HEX];
	struct fault f = {0};

	(void)state;
	assert_int_equal(clients_add(NULL, &cfg, &who, "Bad Id", secret, &f), -EINVAL);
	assert_string_equal(fault_get(&f, "field"), "id");
	fault_clear(&f);
	assert_int_equal(clients_add(NULL, &cfg, &who, NULL, secret, &f), -EINVAL);
	fault_clear(&f);
	assert_int_equal(clients_remove(NULL, &cfg, &who, "../x", &f), -EINVAL);
	assert_string_equal(fault_get(&f, "rule"), "format");
	fault_clear(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_not_configured),
		cmocka_unit_test(test_an_org_is_unknown),
		cmocka_unit_test(test_inactive_account_says_its_state),
		cmocka_unit_test(test_no_national_id),
		cmocka_unit_test(test_provider_unreachable_leaves_nothing),
		cmocka_unit_test(test_poll_refuses_a_malformed_request_id),
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_service_client_ids),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
