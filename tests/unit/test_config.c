/* Unit tests of the configuration parser: defaults, strictness, safe opening. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static struct mm_config *parse_ok(const char *text)
{
	struct mm_config *c = NULL;
	char err[256] = "";

	assert_int_equal(config_parse(text, strlen(text), &c, err, sizeof(err)), 0);
	assert_non_null(c);
	return c;
}

static void parse_fails(const char *text, const char *in_message)
{
	struct mm_config *c = (struct mm_config *)1;
	char err[256] = "";

	assert_true(config_parse(text, strlen(text), &c, err, sizeof(err)) < 0);
	assert_null(c);
	if (!strstr(err, in_message))
		fail_msg("message \"%s\" lacks \"%s\"", err, in_message);
}

static void test_defaults(void **state)
{
	struct mm_config *c = parse_ok("hash_key_file = /k\n");

	(void)state;
	assert_string_equal(c->ldap_uri, "ldapi:///");
	assert_int_equal(c->otp_ttl, 600);
	assert_int_equal(c->otp_max_tries, 5);
	assert_int_equal(c->log_level, LOG_INFO);
	assert_false(c->enumerate);
	assert_false(c->admin_gid_set);
	assert_string_equal(config_domain_for(c, "pharmacien"), "medimail.localhost");
	assert_true(config_region_open(c, "Bretagne"));
	config_free(c);
}

/* "Un mail vous sera envoyé – Expéditeur cerbere@mipih.fr": account mails
 * from cerbere, codes from medimail (fiche réflexe), each configurable;
 * smtp_from stands for both when set; a sender that is not an address is
 * refused at start-up. */
static void test_mail_senders(void **state)
{
	struct mm_config *c = parse_ok("hash_key_file = /k\n");

	(void)state;
	assert_string_equal(c->mail_from_account, "Medimail <cerbere@mipih.fr>");
	assert_string_equal(c->mail_from_code, "Medimail <medimail@mipih.fr>");
	assert_string_equal(c->otp_subject, "Votre code d'accès à Medimail");
	config_free(c);
	c = parse_ok("hash_key_file = /k\nsmtp_from = Medimail <ne-pas-repondre@example.org>\n"
		     "mail_from_code = codes@example.org\n");
	assert_string_equal(c->mail_from_account, "Medimail <ne-pas-repondre@example.org>");
	assert_string_equal(c->mail_from_code, "codes@example.org");
	config_free(c);
	parse_fails("hash_key_file = /k\nmail_from_code = Medimail <pas une adresse>\n", "mail_from_code");
	parse_fails("hash_key_file = /k\nmail_from_account = Medimail <a@b.fr> x\n", "mail_from_account");
	parse_fails("hash_key_file = /k\nsmtp_from = nobody\n", "smtp_from");
}

static void test_values(void **state)
{
	struct mm_config *c =
		parse_ok("# comment\n\n  ldap_uri =  ldap://127.0.0.1:3890/  \r\n"
			 "hash_key_file=/k\nsmtp_starttls = yes\nadmin_group = 27\nlog_level = debug\n"
			 "regions_open = Occitanie, Bretagne\ndomain.pharmacien = pharmacien.oc.mssante.fr\n"
			 "argon2_memlimit = 8388608\nuid_min = 1000\nuid_max = 2000\n");

	(void)state;
	assert_string_equal(c->ldap_uri, "ldap://127.0.0.1:3890/");
	assert_true(c->smtp_starttls);
	assert_true(c->admin_gid_set);
	assert_int_equal(c->admin_gid, 27);
	assert_int_equal(c->log_level, LOG_DEBUG);
	assert_int_equal(c->nregions, 2);
	assert_true(config_region_open(c, "occitanie"));
	assert_false(config_region_open(c, "Normandie"));
	assert_false(config_region_open(c, NULL));
	assert_string_equal(config_domain_for(c, "pharmacien"), "pharmacien.oc.mssante.fr");
	assert_string_equal(config_domain_for(c, "medecin"), "medimail.localhost");
	assert_int_equal(c->argon2_memlimit, 8388608);
	config_free(c);
}

static void test_refusals(void **state)
{
	(void)state;
	parse_fails("hash_key_file = /k\nbogus = 1\n", "line 2: bogus: unknown option");
	/* user_gid = 0 made every Medimail user a member of group root (its primary group) */
	parse_fails("hash_key_file = /k\nuser_gid = 0\n", "user_gid must be neither 0");
	parse_fails("hash_key_file = /k\nuser_gid = 1910000005\n", "in gid_min..gid_max");
	parse_fails("hash_key_file = /k\nno equals sign\n", "line 2");
	parse_fails("hash_key_file = /k\nsmtp_starttls = maybe\n", "yes or no");
	parse_fails("hash_key_file = /k\notp_ttl = -1\n", "number");
	parse_fails("hash_key_file = /k\notp_ttl = 99999999999\n", "number");
	parse_fails("hash_key_file = /k\notp_ttl = 10s\n", "number");
	parse_fails("hash_key_file = /k\nlog_level = loud\n", "debug");
	parse_fails("hash_key_file = /k\nadmin_group = wheel\n", "numeric");
	parse_fails("ldap_uri = ldap://x/\n", "hash_key_file");
	parse_fails("hash_key_file = /k\nuid_min = 10\nuid_max = 5\n", "range");
	parse_fails("hash_key_file = /k\nldap_bind_dn = cn=x\n", "ldap_bind_password_file");
	parse_fails("hash_key_file = /k\nmax_clients = 0\n", "> 0");
	/* a lock of 0 s: every guess at the threshold "locked" the account for
	 * no time and zeroed its count, unlimited guessing; ppolicy's
	 * pwdLockoutDuration 0 meanwhile locked binds for good */
	parse_fails("hash_key_file = /k\nlockout_duration = 0\n", "lockout_duration must be > 0");
	parse_fails("hash_key_file = /k\nlockout_threshold = 0\nlockout_duration = 0\n",
		"lockout_duration must be > 0");
	{
		const char nul[] = "hash_key_file = /k\n\0x = y\n";
		struct mm_config *c = NULL;
		char err[128];
		assert_int_equal(config_parse(nul, sizeof(nul) - 1, &c, err, sizeof(err)), -EINVAL);
	}
}

static void test_api_options(void **state)
{
	struct mm_config *c = parse_ok("hash_key_file = /k\n");

	/* defaults: no listener, bounded bodies, a short token cache, PSC as the ANS documents it */
	assert_null(c->http_listen);
	assert_int_equal(c->http_body_max, 65536);
	assert_int_equal(c->session_cache_ttl, 5);
	assert_string_equal(c->psc_scope, "openid scope_all");
	assert_string_equal(c->psc_acr, "eidas1");
	assert_true(c->psc_userinfo);
	config_free(c);
	c = parse_ok(
		"hash_key_file = /k\nhttp_listen = 127.0.0.1:8443\nhttp_tls_cert = /c\nhttp_tls_key = /k2\n"
		"http_rate = 10\nsession_ttl = 60\npsc_issuer = https://psc\npsc_client_id = id\n"
		"psc_client_secret_file = /s\npsc_jwks_uri = https://psc/certs\npsc_userinfo = no\n");
	assert_string_equal(c->http_listen, "127.0.0.1:8443");
	assert_string_equal(c->psc_jwks_uri, "https://psc/certs");
	assert_int_equal(c->http_rate, 10);
	assert_false(c->psc_userinfo);
	config_free(c);
	parse_fails("hash_key_file = /k\nhttp_tls_cert = /c\n", "go together");
	parse_fails("hash_key_file = /k\npsc_issuer = https://psc\n", "psc_client_id");
	parse_fails("hash_key_file = /k\nhttp_body_max = 0\n", "must be > 0");
	parse_fails("hash_key_file = /k\nldap_timeout = 0\n", "ldap_timeout and argon2_parallel must be > 0");
	parse_fails("hash_key_file = /k\nhttp_body_max = 2000000\n", "expected a number in range");
	parse_fails("hash_key_file = /k\nsession_cache_ttl = 61\n", "expected a number in range");
}

/* Issue 14, items 17 and 18: PSC over mutual TLS, a second OpenID Connect provider. */
static void test_mtls_and_second_provider_options(void **state)
{
	struct mm_config *c = parse_ok("hash_key_file = /k\n");

	(void)state;
	assert_false(c->psc_mtls);
	assert_null(c->psc_tls_client_cert);
	assert_null(c->oidc_issuer);
	assert_string_equal(c->oidc_name, "pass");
	assert_string_equal(c->oidc_label, "PASS Occitanie");
	assert_string_equal(c->oidc_scope, "openid");
	assert_string_equal(c->oidc_subject_claim, "sub");
	assert_null(c->oidc_acr);
	assert_true(c->oidc_userinfo);
	config_free(c);
	c = parse_ok("hash_key_file = /k\npsc_mtls = yes\npsc_tls_client_cert = /c.pem\n"
		     "psc_tls_client_key = /c.key\npsc_tls_ca_file = /ca.pem\noidc_issuer = https://pass\n"
		     "oidc_client_id = medimail\noidc_client_secret_file = /s\noidc_name = pass-oc\n"
		     "oidc_subject_claim = pass_id\n");
	assert_true(c->psc_mtls);
	assert_string_equal(c->psc_tls_client_key, "/c.key");
	assert_string_equal(c->oidc_name, "pass-oc");
	assert_string_equal(c->oidc_subject_claim, "pass_id");
	config_free(c);
	parse_fails("hash_key_file = /k\npsc_mtls = yes\npsc_tls_client_cert = /c\n", "psc_mtls needs");
	parse_fails("hash_key_file = /k\noidc_issuer = https://pass\n", "oidc_client_id");
	/* the name is part of every stored link: no separator, no upper case, not PSC's */
	parse_fails("hash_key_file = /k\noidc_name = psc\n", "oidc_name");
	parse_fails("hash_key_file = /k\noidc_name = pass:x\n", "oidc_name");
	parse_fails("hash_key_file = /k\noidc_name = Pass\n", "oidc_name");
	parse_fails("hash_key_file = /k\noidc_name = abcdefghijklmnopqrstuvwxyz0123456\n", "oidc_name");
	parse_fails("hash_key_file = /k\noidc_subject_claim = "
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
		"oidc_subject_claim");
}

static void test_listener_limits(void **state)
{
	struct mm_config *c = parse_ok("hash_key_file = /k\n");

	(void)state;
	/* defaults: one address cannot take the table, a slow sender is cut */
	assert_int_equal(c->http_max_conn_per_source, 32);
	assert_int_equal(c->http_header_timeout, 10);
	assert_int_equal(c->http_body_rate, 4096);
	assert_int_equal(c->nhttp_proxies, 0);
	assert_int_equal(c->http_proxy_header, FWD_X_FORWARDED_FOR);
	config_free(c);
	c = parse_ok("hash_key_file = /k\nhttp_proxy_header = Forwarded\n");
	assert_int_equal(c->http_proxy_header, FWD_FORWARDED);
	config_free(c);
	parse_fails("hash_key_file = /k\nhttp_proxy_header = both\n", "x-forwarded-for or forwarded");
	c = parse_ok("hash_key_file = /k\nhttp_max_conn_per_source = 4\nhttp_header_timeout = 3\n"
		     "http_trusted_proxies = 127.0.0.1, 10.0.0.0/8 fd00::/8\n");
	assert_int_equal(c->http_max_conn_per_source, 4);
	assert_int_equal(c->http_header_timeout, 3);
	assert_int_equal(c->nhttp_proxies, 3);
	assert_int_equal(c->http_proxies[1].bits, 96 + 8);
	config_free(c);
	parse_fails(
		"hash_key_file = /k\nhttp_trusted_proxies = proxy.example\n", "line 2: http_trusted_proxies");
	parse_fails("hash_key_file = /k\nhttp_trusted_proxies = 10.0.0.1/8\n", "host bits");
	parse_fails("hash_key_file = /k\nhttp_header_timeout = 0\n", "must be > 0");
	parse_fails("hash_key_file = /k\nhttp_max_conn_per_source = 0\n", "must be > 0");
}

static void test_load_safety(void **state)
{
	char dir[] = "/tmp/mmconfXXXXXX", path[128], link[128], err[256];
	struct mm_config *c = NULL;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/authd.conf", dir);
	snprintf(link, sizeof(link), "%s/link.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("hash_key_file = /k\n", f);
	fclose(f);
	chmod(path, 0600);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_string_equal(c->path, path);
	config_free(c);
	c = NULL;
	/* group-writable: refused */
	chmod(path, 0620);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "writable"));
	chmod(path, 0600);
	/* a symlink: refused */
	assert_int_equal(symlink(path, link), 0);
	assert_true(config_load(link, &c, err, sizeof(err)) < 0);
	assert_null(c);
	/* missing */
	assert_int_equal(config_load("/nonexistent/authd.conf", &c, err, sizeof(err)), -ENOENT);
	unlink(link);
	unlink(path);
	rmdir(dir);
}

static void test_card_keys(void **state)
{
	struct mm_config *c = parse_ok("hash_key_file = /k\n");

	(void)state;
	assert_string_equal(c->card_module, "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so");
	assert_string_equal(c->card_cert_label, "Certificat d'Authentification CPS");
	assert_string_equal(c->card_removal_action, "none");
	assert_int_equal(c->ncard_crl_files, 0);
	assert_null(c->card_ca_file);
	config_free(c);

	c = parse_ok("hash_key_file = /k\ncard_module = /usr/lib/libcps3_pkcs11_lux.so\n"
		     "card_token = pkcs11:token=CPS%20Carte\ncard_reader = Virtual PCD 00 00\n"
		     "card_crl_file = /a.crl\ncard_crl_file = /b.crl\ncard_removal_action = lock\n"
		     "card_removal_command = /usr/bin/logger card\ncard_timeout = 10\ncard_poll_ms = 250\n");
	assert_string_equal(c->card_module, "/usr/lib/libcps3_pkcs11_lux.so");
	assert_string_equal(c->card_reader, "Virtual PCD 00 00");
	assert_int_equal(c->ncard_crl_files, 2);
	assert_string_equal(c->card_crl_files[1], "/b.crl");
	assert_string_equal(c->card_removal_action, "lock");
	assert_int_equal(c->card_timeout, 10);
	assert_int_equal(c->card_poll_ms, 250);
	config_free(c);

	parse_fails("hash_key_file = /k\ncard_removal_action = reboot\n", "lock, logout or none");
	parse_fails("hash_key_file = /k\ncard_timeout = 0\n", "card_timeout");
	parse_fails("hash_key_file = /k\ncard_poll_ms = 10\n", "card_poll_ms");
	parse_fails("hash_key_file = /k\ncard_crl_file =\n", "file name");
	parse_fails("hash_key_file = /k\ncard_pin = 1234\n", "unknown option");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_mail_senders),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_api_options),
		cmocka_unit_test(test_mtls_and_second_provider_options),
		cmocka_unit_test(test_listener_limits),
		cmocka_unit_test(test_load_safety),
		cmocka_unit_test(test_card_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
