/* medimail-authd configuration: strict "key = value" file, see conf/authd.conf. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "forwarded.h"

#define MM_CONFIG_MAX_BYTES (256 * 1024)
#define MM_MAX_DOMAINS 64
#define MM_MAX_REGIONS 32
#define MM_MAX_CRL_FILES 16
#define MM_MAX_RESERVED 64
#define MM_GROUP_PREFIX_MAX 16

struct mm_domain_map {
	char *key; /* profession slug (validate.h profession_domain_key) */
	char *domain;
};

struct mm_config {
	char *path;
	/* daemon */
	char *socket_path;
	char *pid_file;
	unsigned max_clients;
	unsigned max_clients_per_uid; /* 0: no cap; root is never capped */
	gid_t admin_gid; /* (gid_t)-1 when unset */
	bool admin_gid_set;
	int log_level; /* syslog priority threshold */
	bool log_stderr;
	/* directory */
	char *ldap_uri;
	char *ldap_lockout_uri; /* one provider for every daemon's attempt counters, or NULL */
	char *ldap_base;
	char *ldap_bind_dn; /* empty with ldapi: SASL EXTERNAL */
	char *ldap_bind_password_file;
	unsigned ldap_timeout; /* seconds */
	unsigned ldap_pool; /* connections */
	/* mail */
	char *smtp_url;
	char *smtp_from; /* both senders when theirs is not set */
	char *mail_from_account; /* confirmation, validation, password reset */
	char *mail_from_code; /* one-time codes */
	bool smtp_starttls;
	char *smtp_user;
	char *smtp_password_file;
	unsigned smtp_timeout;
	char *confirm_url; /* the token is appended */
	char *reset_url;
	char *email_change_url; /* the page that POSTs the token of a login e-mail change */
	char *otp_subject;
	char *confirm_subject;
	char *validated_subject;
	/* secrets */
	char *hash_key_file; /* same key on every daemon of a directory */
	unsigned long long argon2_opslimit;
	size_t argon2_memlimit;
	unsigned argon2_parallel; /* concurrent hashes */
	/* policy */
	char *regions[MM_MAX_REGIONS];
	size_t nregions; /* 0: every region open */
	struct mm_domain_map domains[MM_MAX_DOMAINS];
	size_t ndomains;
	char *domain_default;
	/* mss_local_part: the local part of an individual's MSSanté address
	 * taken from the e-mail entered (default, guide 000) or from prenom.nom. */
	bool mss_local_part_name;
	unsigned confirm_ttl; /* seconds */
	unsigned otp_ttl;
	unsigned otp_max_tries;
	unsigned otp_resend_interval;
	unsigned lockout_threshold;
	unsigned lockout_duration;
	unsigned fail_delay_ms;
	unsigned rate_per_source; /* requests per minute */
	unsigned rate_per_account;
	bool offline_login; /* keep a local verifier after an online login */
	bool ldap_ppolicy; /* slapd runs the ppolicy overlay: a lock also holds for binds */
	unsigned offline_ttl; /* seconds an offline login stays possible */
	char *offline_dir;
	/* name service */
	uid_t uid_min, uid_max;
	gid_t gid_min, gid_max;
	gid_t user_gid;
	char *home_template; /* %u = login */
	char *shell;
	char *cache_dir;
	unsigned cache_refresh; /* seconds */
	unsigned cache_fold_ms; /* a change starts a full build when the last one took less */
	bool enumerate;
	char *org_group_prefix; /* put before an ORG's login to make its group name; NULL: none */
	char *reserved_names[MM_MAX_RESERVED]; /* added to the built-in list (common/reserved.h) */
	size_t nreserved_names;
	char *login_defs; /* the host's SYS_UID_MIN.. ranges, checked against ours at start-up */
	char *subuid_file, *subgid_file; /* the host's subordinate ids, checked likewise */
	/* HTTP API (http/) */
	char *http_listen; /* "127.0.0.1:8443"; unset: no HTTP API */
	char *http_tls_cert; /* PEM; plain HTTP only on loopback */
	char *http_tls_key;
	unsigned http_threads;
	unsigned http_max_connections;
	unsigned http_body_max; /* bytes; 413 beyond */
	unsigned http_header_max; /* bytes of request line + headers per connection */
	unsigned http_timeout; /* idle seconds */
	unsigned http_rate; /* requests per second per source address */
	unsigned http_rate_burst;
	unsigned http_max_conn_per_source; /* open connections per address (IPv6: per /64) */
	unsigned http_header_timeout; /* seconds for the request line and headers, whatever trickles */
	unsigned http_body_rate; /* bytes per second a body must at least arrive at */
	struct net_prefix *http_proxies; /* http_trusted_proxies: who may say X-Forwarded-For */
	size_t nhttp_proxies;
	/* http_proxy_header: the one header those proxies set (a proxy passes the
	 * client's own copy of the other one through) */
	enum fwd_kind http_proxy_header;
	/* /metrics: the sources allowed (metrics_allow; default loopback) and, when set, the
	 * file of the bearer token it also needs (root-owned, 0600 or 0400) */
	struct net_prefix *metrics_allow;
	size_t nmetrics_allow;
	char *metrics_token_file;
	char *audit_file; /* every audit line appended here too, 0600; reopened at SIGHUP */
	/* API sessions (store/sessions.c) */
	unsigned session_ttl; /* seconds */
	unsigned session_cache_ttl; /* seconds a verified token is trusted from memory */
	bool ldap_follow; /* follow ou=sessions and the accounts by content synchronization */
	unsigned service_cache_ttl; /* seconds a verified service secret is trusted from memory */
	/* the web pages (http/static.c, http/web.c) */
	char *web_root; /* the pages' files, read at start */
	char *web_origin; /* "https://host[:port]" the pages are served from; NULL: the request's Host */
	unsigned web_idle_timeout; /* seconds of a browser session without use */
	unsigned web_absolute_timeout; /* seconds from the login, whatever the use */
	/* the OpenID Connect provider (oidc/) */
	char *op_issuer; /* NULL: the web origin of the request (web_origin, else scheme and Host) */
	char *op_key_file; /* the signing keys, root-owned 0600; created at first start */
	unsigned op_code_ttl; /* seconds an authorization code lives */
	unsigned op_id_token_ttl;
	unsigned op_access_token_ttl;
	unsigned op_refresh_token_ttl; /* a refresh family's whole life */
	/* Pro Santé Connect (psc/) */
	char *psc_issuer;
	char *psc_discovery_url; /* default {issuer}/.well-known/wallet-openid-configuration */
	char *psc_client_id;
	char *psc_client_secret_file;
	char *psc_redirect_uri;
	char *psc_scope;
	char *psc_acr;
	char *psc_authorization_endpoint; /* each overrides the discovery */
	char *psc_token_endpoint;
	char *psc_userinfo_endpoint;
	char *psc_jwks_uri;
	char *psc_ciba_endpoint;
	bool psc_userinfo; /* fetch userinfo after the code flow */
	unsigned psc_leeway; /* seconds of clock skew accepted */
	unsigned psc_timeout; /* seconds per HTTP exchange */
	unsigned psc_flow_ttl; /* seconds a login (state) or e-CPS request may last */
	/* mutual TLS towards the provider: every call (discovery, JWKS, token,
	 * userinfo, CIBA) shows this client certificate */
	bool psc_mtls;
	char *psc_tls_client_cert; /* PEM; the chain the provider is to see */
	char *psc_tls_client_key; /* PEM; root-only (checked at start) */
	char *psc_tls_ca_file; /* the CAs the provider's server certificate is checked against */
	/* A second, generic OpenID Connect identity provider (PASS Occitanie):
	 * code flow, link, login and unlink as PSC, without CIBA or RPPS */
	char *oidc_name; /* short name: links are stored under it, routes /v1/oidc/... */
	char *oidc_label; /* what a person reads ("PASS Occitanie") */
	char *oidc_issuer;
	char *oidc_discovery_url; /* default {issuer}/.well-known/openid-configuration */
	char *oidc_client_id;
	char *oidc_client_secret_file;
	char *oidc_redirect_uri;
	char *oidc_scope;
	char *oidc_acr; /* unset: none asked, none checked */
	char *oidc_subject_claim; /* the claim that identifies the person (default sub) */
	char *oidc_authorization_endpoint; /* each overrides the discovery */
	char *oidc_token_endpoint;
	char *oidc_userinfo_endpoint;
	char *oidc_jwks_uri;
	bool oidc_userinfo;
	/* CPS cards (card/; the PKCS#11 code runs in card_helper only) */
	char *card_helper;
	char *card_module; /* PKCS#11 module path */
	char *card_token; /* token label or "pkcs11:" URI; empty: the first token */
	char *card_reader; /* PC/SC reader name; empty: no PC/SC presence check */
	char *card_cert_label;
	unsigned card_timeout; /* seconds */
	char *card_ca_file; /* trust anchors (PEM) */
	char *card_crl_files[MM_MAX_CRL_FILES];
	size_t ncard_crl_files;
	char *card_removal_action; /* lock | logout | none */
	char *card_removal_command;
	unsigned card_poll_ms;
	unsigned card_pin_tries; /* wrong PINs per card the daemons allow (the card blocks at 3) */
	bool card_map_by_rpps; /* an unlinked card logs in to the PER of its CN's RPPS (default no) */
	unsigned card_pin_lockout; /* seconds that count lasts without a right PIN */
};

/* Parses path into a new configuration; on error writes a message naming the
 * line and the problem to errbuf and returns a negative errno. */
int config_load(const char *path, struct mm_config **ret, char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));
/* Parses text (for tests and fuzzing). */
int config_parse(const char *text, size_t len, struct mm_config **ret, char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));
void config_free(struct mm_config *c);
/* Domain for a profession slug, else the default. */
const char *config_domain_for(const struct mm_config *c, const char *slug);
/* Is registration open in region (case aside; every region when none is
 * configured)? */
bool config_region_open(const struct mm_config *c, const char *region);
/* The region as regions_open spells it, region itself when every region is
 * open, NULL when it is not open. */
const char *config_region_name(const struct mm_config *c, const char *region);
