/* medimail-authd configuration: strict "key = value" file, see conf/authd.conf. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MM_CONFIG_MAX_BYTES (256 * 1024)
#define MM_MAX_DOMAINS 64
#define MM_MAX_REGIONS 32

struct mm_domain_map {
	char *key;    /* profession slug (validate.h profession_domain_key) */
	char *domain;
};

struct mm_config {
	char *path;
	/* daemon */
	char *socket_path;
	char *pid_file;
	unsigned max_clients;
	gid_t admin_gid;        /* (gid_t)-1 when unset */
	bool admin_gid_set;
	int log_level;          /* syslog priority threshold */
	bool log_stderr;
	/* directory */
	char *ldap_uri;
	char *ldap_base;
	char *ldap_bind_dn;     /* empty with ldapi: SASL EXTERNAL */
	char *ldap_bind_password_file;
	unsigned ldap_timeout;  /* seconds */
	unsigned ldap_pool;     /* connections */
	/* mail */
	char *smtp_url;
	char *smtp_from;
	bool smtp_starttls;
	char *smtp_user;
	char *smtp_password_file;
	unsigned smtp_timeout;
	char *confirm_url;      /* the token is appended */
	char *reset_url;
	char *otp_subject;
	char *confirm_subject;
	char *validated_subject;
	/* secrets */
	char *hash_key_file;    /* same key on every daemon of a directory */
	unsigned long long argon2_opslimit;
	size_t argon2_memlimit;
	unsigned argon2_parallel; /* concurrent hashes */
	/* policy */
	char *regions[MM_MAX_REGIONS];
	size_t nregions;        /* 0: every region open */
	struct mm_domain_map domains[MM_MAX_DOMAINS];
	size_t ndomains;
	char *domain_default;
	unsigned confirm_ttl;   /* seconds */
	unsigned otp_ttl;
	unsigned otp_max_tries;
	unsigned otp_resend_interval;
	unsigned lockout_threshold;
	unsigned lockout_duration;
	unsigned fail_delay_ms;
	unsigned rate_per_source; /* requests per minute */
	unsigned rate_per_account;
	bool offline_login;     /* keep a local verifier after an online login */
	unsigned offline_ttl;   /* seconds an offline login stays possible */
	char *offline_dir;
	/* name service */
	uid_t uid_min, uid_max;
	gid_t gid_min, gid_max;
	gid_t user_gid;
	char *home_template;    /* %u = login */
	char *shell;
	char *cache_dir;
	unsigned cache_refresh; /* seconds */
	bool enumerate;
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
bool config_region_open(const struct mm_config *c, const char *region);
