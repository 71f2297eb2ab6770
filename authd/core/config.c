/* medimail-authd configuration: strict "key = value" file, see conf/authd.conf. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "mail.h"

static void config_defaults(struct mm_config *c)
{
	c->max_clients = 1024;
	c->max_clients_per_uid = 64;
	c->admin_gid = (gid_t)-1;
	c->log_level = LOG_INFO;
	c->ldap_timeout = 5;
	c->ldap_pool = 8; /* 4 queued 8 parallel typeahead clients: 1.65x slapd, 1.29x with 8 */
	c->smtp_timeout = 10;
	c->argon2_opslimit = 2; /* crypto_pwhash_OPSLIMIT_INTERACTIVE */
	c->argon2_memlimit = 64u << 20; /* crypto_pwhash_MEMLIMIT_INTERACTIVE */
	c->argon2_parallel = 2;
	c->confirm_ttl = 48 * 3600;
	c->otp_ttl = 600;
	c->otp_max_tries = 5;
	c->otp_resend_interval = 30;
	c->lockout_threshold = 5;
	c->lockout_duration = 900;
	c->ldap_ppolicy = true;
	c->fail_delay_ms = 1000;
	c->rate_per_source = 120;
	c->rate_per_account = 30;
	c->offline_ttl = 7 * 86400;
	/* Above the ranges the host hands out: its users, subordinate ids
	 * (100000..600100000) and systemd's containers (524288..1879048191). */
	c->uid_min = 1900000000;
	c->uid_max = 1909999999;
	c->gid_min = 1910000000;
	c->gid_max = 1910999999;
	c->user_gid = 100;
	c->cache_refresh = 60;
	c->cache_fold_ms = 1000;
	c->http_threads = 4;
	c->http_max_connections = 1024;
	c->http_body_max = 64 * 1024;
	c->http_header_max = 16 * 1024;
	c->http_timeout = 30;
	c->http_rate = 50;
	c->http_rate_burst = 100;
	c->http_max_conn_per_source = 32;
	c->http_header_timeout = 10;
	c->http_body_rate = 4096;
	c->session_ttl = 8 * 3600;
	c->session_cache_ttl = 5;
	c->ldap_follow = true;
	c->web_idle_timeout = 30 * 60;
	c->web_absolute_timeout = 12 * 3600;
	c->service_cache_ttl = 30;
	c->op_code_ttl = 60;
	c->op_id_token_ttl = 300;
	c->op_access_token_ttl = 900;
	c->op_refresh_token_ttl = 16 * 3600;
	c->psc_userinfo = true;
	c->psc_leeway = 60;
	c->psc_timeout = 10;
	c->psc_flow_ttl = 600;
	c->oidc_userinfo = true;
	c->card_timeout = 30;
	c->card_poll_ms = 1000;
	c->card_pin_tries = 2;
	c->card_pin_lockout = 86400;
}

static int set_str(char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

static int parse_uint(const char *v, unsigned long long max, unsigned long long *ret)
{
	char *end;
	unsigned long long n;

	if (*v < '0' || *v > '9')
		return -EINVAL;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end || n > max)
		return -EINVAL;
	*ret = n;
	return 0;
}

static int parse_bool(const char *v, bool *ret)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1"))
		*ret = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0"))
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

static int parse_level(const char *v, int *ret)
{
	static const struct {
		const char *n;
		int l;
	} levels[] = {
		{"error", LOG_ERR},
		{"warning", LOG_WARNING},
		{"notice", LOG_NOTICE},
		{"info", LOG_INFO},
		{"debug", LOG_DEBUG},
	};
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (!strcmp(v, levels[i].n)) {
			*ret = levels[i].l;
			return 0;
		}
	return -EINVAL;
}

static int split_list(const char *v, char **out, size_t max, size_t *ret_n)
{
	char *copy = strdup(v), *save = NULL, *tok;
	size_t n = 0;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (size_t i = 0; i < *ret_n; i++) {
		free(out[i]);
		out[i] = NULL;
	}
	for (tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		if (n == max) {
			r = -E2BIG;
			break;
		}
		out[n] = strdup(tok);
		if (!out[n]) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	*ret_n = n;
	free(copy);
	return r;
}

enum kind { K_STR, K_UINT, K_BOOL, K_LEVEL, K_SIZE, K_ULL, K_UID, K_GID };

struct option {
	const char *name;
	enum kind kind;
	size_t off;
	unsigned long long max;
};

#define O(n, k, f, m)                                                                                        \
	{                                                                                                    \
		n, k, offsetof(struct mm_config, f), m                                                       \
	}
static const struct option options[] = {
	O("socket", K_STR, socket_path, 0),
	O("pid_file", K_STR, pid_file, 0),
	O("max_clients", K_UINT, max_clients, 65536),
	O("max_clients_per_uid", K_UINT, max_clients_per_uid, 65536),
	O("log_level", K_LEVEL, log_level, 0),
	O("log_stderr", K_BOOL, log_stderr, 0),
	O("audit_file", K_STR, audit_file, 0),
	O("metrics_token_file", K_STR, metrics_token_file, 0),
	O("ldap_uri", K_STR, ldap_uri, 0),
	O("ldap_lockout_uri", K_STR, ldap_lockout_uri, 0),
	O("ldap_base", K_STR, ldap_base, 0),
	O("ldap_bind_dn", K_STR, ldap_bind_dn, 0),
	O("ldap_bind_password_file", K_STR, ldap_bind_password_file, 0),
	O("ldap_timeout", K_UINT, ldap_timeout, 600),
	O("ldap_pool", K_UINT, ldap_pool, 64),
	O("smtp_url", K_STR, smtp_url, 0),
	O("smtp_from", K_STR, smtp_from, 0),
	O("mail_from_account", K_STR, mail_from_account, 0),
	O("mail_from_code", K_STR, mail_from_code, 0),
	O("smtp_starttls", K_BOOL, smtp_starttls, 0),
	O("smtp_user", K_STR, smtp_user, 0),
	O("smtp_password_file", K_STR, smtp_password_file, 0),
	O("smtp_timeout", K_UINT, smtp_timeout, 600),
	O("confirm_url", K_STR, confirm_url, 0),
	O("reset_url", K_STR, reset_url, 0),
	O("email_change_url", K_STR, email_change_url, 0),
	O("otp_subject", K_STR, otp_subject, 0),
	O("confirm_subject", K_STR, confirm_subject, 0),
	O("validated_subject", K_STR, validated_subject, 0),
	O("hash_key_file", K_STR, hash_key_file, 0),
	O("argon2_opslimit", K_ULL, argon2_opslimit, 1000),
	O("argon2_memlimit", K_SIZE, argon2_memlimit, 4ull << 30),
	O("argon2_parallel", K_UINT, argon2_parallel, 64),
	O("domain_default", K_STR, domain_default, 0),
	O("confirm_ttl", K_UINT, confirm_ttl, 30u * 86400),
	O("otp_ttl", K_UINT, otp_ttl, 86400),
	O("otp_max_tries", K_UINT, otp_max_tries, 100),
	O("otp_resend_interval", K_UINT, otp_resend_interval, 3600),
	O("lockout_threshold", K_UINT, lockout_threshold, 1000),
	O("lockout_duration", K_UINT, lockout_duration, 30u * 86400),
	O("fail_delay_ms", K_UINT, fail_delay_ms, 10000),
	O("rate_per_source", K_UINT, rate_per_source, 1000000),
	O("rate_per_account", K_UINT, rate_per_account, 1000000),
	O("offline_login", K_BOOL, offline_login, 0),
	O("ldap_ppolicy", K_BOOL, ldap_ppolicy, 0),
	O("offline_ttl", K_UINT, offline_ttl, 90u * 86400),
	O("offline_dir", K_STR, offline_dir, 0),
	O("uid_min", K_UID, uid_min, 0),
	O("uid_max", K_UID, uid_max, 0),
	O("gid_min", K_GID, gid_min, 0),
	O("gid_max", K_GID, gid_max, 0),
	O("user_gid", K_GID, user_gid, 0),
	O("home_template", K_STR, home_template, 0),
	O("shell", K_STR, shell, 0),
	O("cache_dir", K_STR, cache_dir, 0),
	O("cache_refresh", K_UINT, cache_refresh, 86400),
	O("cache_fold_ms", K_UINT, cache_fold_ms, 600000),
	O("enumerate", K_BOOL, enumerate, 0),
	O("org_group_prefix", K_STR, org_group_prefix, 0),
	O("login_defs", K_STR, login_defs, 0),
	O("subuid_file", K_STR, subuid_file, 0),
	O("subgid_file", K_STR, subgid_file, 0),
	O("http_listen", K_STR, http_listen, 0),
	O("http_tls_cert", K_STR, http_tls_cert, 0),
	O("http_tls_key", K_STR, http_tls_key, 0),
	O("http_threads", K_UINT, http_threads, 64),
	O("http_max_connections", K_UINT, http_max_connections, 65536),
	O("http_body_max", K_UINT, http_body_max, 1024 * 1024),
	O("http_header_max", K_UINT, http_header_max, 256 * 1024),
	O("http_timeout", K_UINT, http_timeout, 3600),
	O("http_rate", K_UINT, http_rate, 10000000),
	O("http_rate_burst", K_UINT, http_rate_burst, 10000000),
	O("http_max_conn_per_source", K_UINT, http_max_conn_per_source, 65536),
	O("http_header_timeout", K_UINT, http_header_timeout, 3600),
	O("http_body_rate", K_UINT, http_body_rate, 1024 * 1024 * 1024),
	O("session_ttl", K_UINT, session_ttl, 30u * 86400),
	O("session_cache_ttl", K_UINT, session_cache_ttl, 60),
	O("ldap_follow", K_BOOL, ldap_follow, 0),
	O("service_cache_ttl", K_UINT, service_cache_ttl, 3600),
	O("web_root", K_STR, web_root, 0),
	O("web_origin", K_STR, web_origin, 0),
	O("web_idle_timeout", K_UINT, web_idle_timeout, 86400),
	O("web_absolute_timeout", K_UINT, web_absolute_timeout, 30u * 86400),
	O("op_issuer", K_STR, op_issuer, 0),
	O("op_key_file", K_STR, op_key_file, 0),
	O("op_code_ttl", K_UINT, op_code_ttl, 600),
	O("op_id_token_ttl", K_UINT, op_id_token_ttl, 86400),
	O("op_access_token_ttl", K_UINT, op_access_token_ttl, 86400),
	O("op_refresh_token_ttl", K_UINT, op_refresh_token_ttl, 90u * 86400),
	O("psc_issuer", K_STR, psc_issuer, 0),
	O("psc_discovery_url", K_STR, psc_discovery_url, 0),
	O("psc_client_id", K_STR, psc_client_id, 0),
	O("psc_client_secret_file", K_STR, psc_client_secret_file, 0),
	O("psc_redirect_uri", K_STR, psc_redirect_uri, 0),
	O("psc_scope", K_STR, psc_scope, 0),
	O("psc_acr", K_STR, psc_acr, 0),
	O("psc_authorization_endpoint", K_STR, psc_authorization_endpoint, 0),
	O("psc_token_endpoint", K_STR, psc_token_endpoint, 0),
	O("psc_userinfo_endpoint", K_STR, psc_userinfo_endpoint, 0),
	O("psc_jwks_uri", K_STR, psc_jwks_uri, 0),
	O("psc_ciba_endpoint", K_STR, psc_ciba_endpoint, 0),
	O("psc_userinfo", K_BOOL, psc_userinfo, 0),
	O("psc_leeway", K_UINT, psc_leeway, 600),
	O("psc_timeout", K_UINT, psc_timeout, 120),
	O("psc_flow_ttl", K_UINT, psc_flow_ttl, 3600),
	O("psc_mtls", K_BOOL, psc_mtls, 0),
	O("psc_tls_client_cert", K_STR, psc_tls_client_cert, 0),
	O("psc_tls_client_key", K_STR, psc_tls_client_key, 0),
	O("psc_tls_ca_file", K_STR, psc_tls_ca_file, 0),
	O("oidc_name", K_STR, oidc_name, 0),
	O("oidc_label", K_STR, oidc_label, 0),
	O("oidc_issuer", K_STR, oidc_issuer, 0),
	O("oidc_discovery_url", K_STR, oidc_discovery_url, 0),
	O("oidc_client_id", K_STR, oidc_client_id, 0),
	O("oidc_client_secret_file", K_STR, oidc_client_secret_file, 0),
	O("oidc_redirect_uri", K_STR, oidc_redirect_uri, 0),
	O("oidc_scope", K_STR, oidc_scope, 0),
	O("oidc_acr", K_STR, oidc_acr, 0),
	O("oidc_subject_claim", K_STR, oidc_subject_claim, 0),
	O("oidc_authorization_endpoint", K_STR, oidc_authorization_endpoint, 0),
	O("oidc_token_endpoint", K_STR, oidc_token_endpoint, 0),
	O("oidc_userinfo_endpoint", K_STR, oidc_userinfo_endpoint, 0),
	O("oidc_jwks_uri", K_STR, oidc_jwks_uri, 0),
	O("oidc_userinfo", K_BOOL, oidc_userinfo, 0),
	O("card_helper", K_STR, card_helper, 0),
	O("card_module", K_STR, card_module, 0),
	O("card_token", K_STR, card_token, 0),
	O("card_reader", K_STR, card_reader, 0),
	O("card_cert_label", K_STR, card_cert_label, 0),
	O("card_timeout", K_UINT, card_timeout, 600),
	O("card_ca_file", K_STR, card_ca_file, 0),
	O("card_removal_action", K_STR, card_removal_action, 0),
	O("card_removal_command", K_STR, card_removal_command, 0),
	O("card_poll_ms", K_UINT, card_poll_ms, 60000),
	O("card_pin_tries", K_UINT, card_pin_tries, 10),
	O("card_map_by_rpps", K_BOOL, card_map_by_rpps, 0),
	O("card_pin_lockout", K_UINT, card_pin_lockout, 30u * 86400),
};
#undef O

static int set_option(struct mm_config *c, const char *key, const char *v, const char **why)
{
	char *base = (char *)c;
	unsigned long long n;

	if (!strcmp(key, "admin_group")) {
		if (parse_uint(v, 0xfffffffeu, &n) < 0) {
			*why = "admin_group must be a numeric gid";
			return -EINVAL;
		}
		c->admin_gid = (gid_t)n;
		c->admin_gid_set = true;
		return 0;
	}
	if (!strcmp(key, "http_trusted_proxies"))
		return net_prefixes_parse(v, &c->http_proxies, &c->nhttp_proxies, why);
	if (!strcmp(key, "metrics_allow")) {
		free(c->metrics_allow);
		c->metrics_allow = NULL;
		if (net_prefixes_parse(v, &c->metrics_allow, &c->nmetrics_allow, why) < 0) {
			*why = "metrics_allow: expected IPv4 or IPv6 addresses or CIDR prefixes";
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(key, "metrics_token")) {
		/* A secret in the configuration file is one more copy to leak. */
		*why = "metrics_token: put the token in a file, metrics_token_file";
		return -EINVAL;
	}
	if (!strcmp(key, "http_proxy_header")) {
		if (!strcasecmp(v, "x-forwarded-for"))
			c->http_proxy_header = FWD_X_FORWARDED_FOR;
		else if (!strcasecmp(v, "forwarded"))
			c->http_proxy_header = FWD_FORWARDED;
		else {
			*why = "expected x-forwarded-for or forwarded";
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(key, "mss_local_part")) {
		if (!strcasecmp(v, "mail"))
			c->mss_local_part_name = false;
		else if (!strcasecmp(v, "name"))
			c->mss_local_part_name = true;
		else {
			*why = "expected mail or name";
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(key, "regions_open"))
		return split_list(v, c->regions, MM_MAX_REGIONS, &c->nregions);
	if (!strcmp(key, "reserved_names")) {
		int r = split_list(v, c->reserved_names, MM_MAX_RESERVED, &c->nreserved_names);

		if (r == -E2BIG)
			*why = "too many reserved names";
		return r;
	}
	if (!strcmp(key, "card_crl_file")) {
		/* May be given several times: every file is loaded. */
		if (c->ncard_crl_files == MM_MAX_CRL_FILES) {
			*why = "too many card_crl_file entries";
			return -E2BIG;
		}
		if (!*v) {
			*why = "expected a file name";
			return -EINVAL;
		}
		return set_str(&c->card_crl_files[c->ncard_crl_files++], v);
	}
	if (!strncmp(key, "domain.", 7) && key[7]) {
		if (c->ndomains == MM_MAX_DOMAINS) {
			*why = "too many domain.* entries";
			return -E2BIG;
		}
		c->domains[c->ndomains].key = strdup(key + 7);
		c->domains[c->ndomains].domain = strdup(v);
		if (!c->domains[c->ndomains].key || !c->domains[c->ndomains].domain)
			return -ENOMEM;
		c->ndomains++;
		return 0;
	}
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
		const struct option *o = &options[i];
		void *p = base + o->off;

		if (strcmp(o->name, key))
			continue;
		switch (o->kind) {
		case K_STR: return set_str(p, v);
		case K_BOOL:
			if (parse_bool(v, p) < 0) {
				*why = "expected yes or no";
				return -EINVAL;
			}
			return 0;
		case K_LEVEL:
			if (parse_level(v, p) < 0) {
				*why = "expected error, warning, notice, info or debug";
				return -EINVAL;
			}
			return 0;
		case K_UINT:
		case K_ULL:
		case K_SIZE:
		case K_UID:
		case K_GID: {
			unsigned long long max = o->max ? o->max : 0xfffffffeu;
			if (parse_uint(v, max, &n) < 0) {
				*why = "expected a number in range";
				return -EINVAL;
			}
			if (o->kind == K_UINT)
				*(unsigned *)p = (unsigned)n;
			else if (o->kind == K_ULL)
				*(unsigned long long *)p = n;
			else if (o->kind == K_SIZE)
				*(size_t *)p = (size_t)n;
			else if (o->kind == K_UID)
				*(uid_t *)p = (uid_t)n;
			else
				*(gid_t *)p = (gid_t)n;
			return 0;
		}
		}
	}
	*why = "unknown option";
	return -ENOENT;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* A group-name prefix: lower-case, portable, short enough to leave room for the login. */
static bool group_prefix_ok(const char *p)
{
	size_t n = strlen(p);

	if (n > MM_GROUP_PREFIX_MAX || p[0] < 'a' || p[0] > 'z')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '-' ||
			    p[i] == '_' || p[i] == '.'))
			return false;
	return true;
}

/* The second provider's name: part of every link stored under it ("name:subject"). */
static bool oidc_name_ok(const char *p)
{
	size_t n = strlen(p);

	if (n == 0 || n > 32 || p[0] < 'a' || p[0] > 'z')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '-'))
			return false;
	return true;
}

static int config_check(struct mm_config *c, const char **why)
{
#define DEF(f, v)                                                                                            \
	do {                                                                                                 \
		if (!c->f && set_str(&c->f, v) < 0)                                                          \
			return -ENOMEM;                                                                      \
	} while (0)
	DEF(socket_path, MM_DEFAULT_SOCKET);
	DEF(ldap_uri, "ldapi:///");
	DEF(ldap_base, "dc=medimail,dc=test");
	DEF(smtp_url, "smtp://127.0.0.1:25");
	/* The senders the guides show; smtp_from, when set, stands for both. */
	DEF(mail_from_account, c->smtp_from ? c->smtp_from : "Medimail <cerbere@mipih.fr>");
	DEF(mail_from_code, c->smtp_from ? c->smtp_from : "Medimail <medimail@mipih.fr>");
	DEF(web_root, MM_DEFAULT_WEB_ROOT);
	DEF(confirm_url, "https://medimail.localhost/inscription/confirmer?jeton=");
	DEF(reset_url, "https://medimail.localhost/mot-de-passe/reinitialiser?jeton=");
	DEF(email_change_url, "https://medimail.localhost/compte/confirmer-email?jeton=");
	DEF(otp_subject, "Votre code d'accès à Medimail");
	DEF(confirm_subject, "Confirmez votre adresse e-mail Medimail");
	DEF(validated_subject, "Votre compte Medimail est validé");
	DEF(domain_default, "medimail.localhost");
	DEF(home_template, "/home/%u");
	DEF(shell, "/bin/bash");
	DEF(cache_dir, MM_DEFAULT_CACHEDIR);
	DEF(psc_scope, "openid scope_all");
	DEF(psc_acr, "eidas1");
	DEF(oidc_name, "pass");
	DEF(oidc_label, "PASS Occitanie");
	DEF(oidc_scope, "openid");
	DEF(oidc_subject_claim, "sub");
	DEF(card_helper, MM_DEFAULT_CARD_HELPER);
	DEF(card_module, "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so");
	DEF(card_cert_label, "Certificat d'Authentification CPS");
	DEF(card_removal_action, "none");
	DEF(offline_dir, "/var/lib/medimail/offline");
	DEF(login_defs, "/etc/login.defs");
	DEF(subuid_file, "/etc/subuid");
	DEF(subgid_file, "/etc/subgid");
#undef DEF
	if (!c->nmetrics_allow) {
		const char *why2 = NULL;

		free(c->metrics_allow);
		c->metrics_allow = NULL;
		if (net_prefixes_parse("127.0.0.0/8 ::1/128", &c->metrics_allow, &c->nmetrics_allow, &why2) <
			0)
			return -ENOMEM;
	}
	if (mail_sender_check(c->mail_from_account) < 0 || mail_sender_check(c->mail_from_code) < 0 ||
		(c->smtp_from && mail_sender_check(c->smtp_from) < 0)) {
		*why = "smtp_from, mail_from_account, mail_from_code: \"Name <address>\" or an address";
		return -EINVAL;
	}
	if (c->org_group_prefix && *c->org_group_prefix && !group_prefix_ok(c->org_group_prefix)) {
		*why = "org_group_prefix: at most 16 characters among a-z, 0-9, '-', '_' and '.', starting "
		       "with a letter";
		return -EINVAL;
	}
	for (size_t i = 0; i < c->nreserved_names; i++) {
		const char *n = c->reserved_names[i], *star = strchr(n, '*');

		if (star && star[1]) {
			*why = "reserved_names: '*' may only end a name (a prefix pattern)";
			return -EINVAL;
		}
	}
	if (strcmp(c->card_removal_action, "lock") && strcmp(c->card_removal_action, "logout") &&
		strcmp(c->card_removal_action, "none")) {
		*why = "card_removal_action must be lock, logout or none";
		return -EINVAL;
	}
	/* 0 would be a lock that ends at once (and zeroes the count): unlimited
	 * guessing; ppolicy reads the same 0 as "until an administrator acts".
	 * lockout_threshold = 0 is how the lockout is turned off. */
	if (c->lockout_duration == 0) {
		*why = "lockout_duration must be > 0 (lockout_threshold = 0 turns the lockout off)";
		return -EINVAL;
	}
	if (c->card_pin_tries == 0 || c->card_pin_lockout == 0) {
		*why = "card_pin_tries and card_pin_lockout must be > 0";
		return -EINVAL;
	}
	if (c->card_timeout == 0 || c->card_poll_ms < 50) {
		*why = "card_timeout must be > 0 and card_poll_ms >= 50";
		return -EINVAL;
	}
	if (!c->http_tls_cert != !c->http_tls_key) {
		*why = "http_tls_cert and http_tls_key go together";
		return -EINVAL;
	}
	if (c->http_threads == 0 || c->http_max_connections == 0 || c->http_body_max == 0 ||
		c->http_header_max < 1024 || c->http_rate == 0 || c->http_rate_burst == 0 ||
		c->http_max_conn_per_source == 0 || c->http_header_timeout == 0 || c->http_body_rate == 0 ||
		c->session_ttl == 0 || c->web_idle_timeout < 60 ||
		c->web_absolute_timeout < c->web_idle_timeout) {
		*why = "http_threads, http_max_connections, http_body_max, http_rate, http_rate_burst, "
		       "http_max_conn_per_source, http_header_timeout, http_body_rate and session_ttl "
		       "must be > 0, http_header_max >= 1024, web_idle_timeout >= 60 and "
		       "web_absolute_timeout >= web_idle_timeout";
		return -EINVAL;
	}
	if (c->psc_issuer && (!c->psc_client_id || !c->psc_client_secret_file)) {
		*why = "psc_issuer needs psc_client_id and psc_client_secret_file";
		return -EINVAL;
	}
	if (c->psc_mtls && (!c->psc_tls_client_cert || !c->psc_tls_client_key)) {
		*why = "psc_mtls needs psc_tls_client_cert and psc_tls_client_key";
		return -EINVAL;
	}
	if (c->oidc_issuer && (!c->oidc_client_id || !c->oidc_client_secret_file)) {
		*why = "oidc_issuer needs oidc_client_id and oidc_client_secret_file";
		return -EINVAL;
	}
	if (!oidc_name_ok(c->oidc_name) || !strcmp(c->oidc_name, "psc")) {
		*why = "oidc_name: 1 to 32 characters among a-z, 0-9 and '-', starting with a letter, not "
		       "\"psc\"";
		return -EINVAL;
	}
	if (strlen(c->oidc_subject_claim) > 64 || !*c->oidc_subject_claim) {
		*why = "oidc_subject_claim: the name of a claim, 1 to 64 characters";
		return -EINVAL;
	}
	if (!c->hash_key_file) {
		*why = "hash_key_file is required (the same key on every daemon of a directory)";
		return -EINVAL;
	}
	if (c->uid_min == 0 || c->uid_min > c->uid_max || c->gid_min == 0 || c->gid_min > c->gid_max) {
		*why = "uid_min..uid_max and gid_min..gid_max must be non-empty ranges above 0";
		return -EINVAL;
	}
	/* Every account's primary group: root's, or an ORG's, would give it to all of them. */
	if (c->user_gid == 0 || (c->user_gid >= c->gid_min && c->user_gid <= c->gid_max)) {
		*why = "user_gid must be neither 0 (group root) nor in gid_min..gid_max (a BAL ORG's gid)";
		return -EINVAL;
	}
	if (c->argon2_memlimit < 8192 || c->argon2_opslimit < 1) {
		*why = "argon2_memlimit must be >= 8192 and argon2_opslimit >= 1";
		return -EINVAL;
	}
	if (c->max_clients == 0 || c->ldap_pool == 0 || c->argon2_parallel == 0 || c->ldap_timeout == 0) {
		/* ldap_timeout = 0 would time every LDAP operation out at once */
		*why = "max_clients, ldap_pool, ldap_timeout and argon2_parallel must be > 0";
		return -EINVAL;
	}
	if (c->ldap_bind_dn && *c->ldap_bind_dn && !c->ldap_bind_password_file) {
		*why = "ldap_bind_dn needs ldap_bind_password_file";
		return -EINVAL;
	}
	return 0;
}

int config_parse(const char *text, size_t len, struct mm_config **ret, char *errbuf, size_t errlen)
{
	struct mm_config *c;
	char *copy, *line;
	unsigned lineno = 0;
	const char *why = NULL;
	int r = 0;

	*ret = NULL;
	if (memchr(text, '\0', len)) {
		snprintf(errbuf, errlen, "configuration contains a NUL byte");
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	copy = strndup(text, len);
	if (!c || !copy) {
		free(c);
		free(copy);
		return -ENOMEM;
	}
	config_defaults(c);
	/* strtok_r would merge empty lines and break numbering: walk by hand */
	line = copy;
	while (line) {
		char *nl = strchr(line, '\n'), *eq, *key, *val;

		if (nl)
			*nl = '\0';
		lineno++;
		key = trim(line);
		if (*key && *key != '#') {
			eq = strchr(key, '=');
			if (!eq) {
				snprintf(errbuf, errlen, "line %u: expected \"key = value\"", lineno);
				r = -EINVAL;
				goto out;
			}
			*eq = '\0';
			val = trim(eq + 1);
			key = trim(key);
			r = set_option(c, key, val, &why);
			if (r < 0) {
				snprintf(errbuf, errlen, "line %u: %s: %s", lineno, key,
					why ? why : strerror(-r));
				goto out;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	r = config_check(c, &why);
	if (r < 0) {
		snprintf(errbuf, errlen, "%s", why ? why : strerror(-r));
		goto out;
	}
	*ret = c;
	c = NULL;
out:
	free(copy);
	config_free(c);
	return r;
}

int config_load(const char *path, struct mm_config **ret, char *errbuf, size_t errlen)
{
	struct stat st;
	char *text = NULL;
	ssize_t n;
	int fd, r;

	*ret = NULL;
	/* No symlinks, a regular file, not writable by group or others, bounded. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(errbuf, errlen, "%s: not a regular file", path);
		r = -EINVAL;
		goto out;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(errbuf, errlen, "%s: must be owned by root or by the daemon's user", path);
		r = -EPERM;
		goto out;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(errbuf, errlen, "%s: must not be writable by group or others", path);
		r = -EPERM;
		goto out;
	}
	if (st.st_size > MM_CONFIG_MAX_BYTES) {
		snprintf(errbuf, errlen, "%s: larger than %d bytes", path, MM_CONFIG_MAX_BYTES);
		r = -EFBIG;
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	n = read(fd, text, (size_t)st.st_size);
	if (n != st.st_size) {
		snprintf(errbuf, errlen, "%s: short read", path);
		r = -EIO;
		goto out;
	}
	r = config_parse(text, (size_t)n, ret, errbuf, errlen);
	if (r == 0 && set_str(&(*ret)->path, path) < 0) {
		config_free(*ret);
		*ret = NULL;
		r = -ENOMEM;
	}
out:
	free(text);
	close(fd);
	return r;
}

void config_free(struct mm_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
		if (options[i].kind == K_STR)
			free(*(char **)((char *)c + options[i].off));
	for (size_t i = 0; i < c->nregions; i++)
		free(c->regions[i]);
	for (size_t i = 0; i < c->nreserved_names; i++)
		free(c->reserved_names[i]);
	for (size_t i = 0; i < c->ncard_crl_files; i++)
		free(c->card_crl_files[i]);
	for (size_t i = 0; i < c->ndomains; i++) {
		free(c->domains[i].key);
		free(c->domains[i].domain);
	}
	free(c->http_proxies);
	free(c->metrics_allow);
	free(c->path);
	free(c);
}

const char *config_domain_for(const struct mm_config *c, const char *slug)
{
	if (slug)
		for (size_t i = 0; i < c->ndomains; i++)
			if (!strcmp(c->domains[i].key, slug))
				return c->domains[i].domain;
	return c->domain_default;
}

const char *config_region_name(const struct mm_config *c, const char *region)
{
	if (!region)
		return NULL;
	if (c->nregions == 0)
		return region;
	for (size_t i = 0; i < c->nregions; i++)
		if (!strcasecmp(c->regions[i], region))
			return c->regions[i];
	return NULL;
}

bool config_region_open(const struct mm_config *c, const char *region)
{
	return c->nregions == 0 || config_region_name(c, region);
}
