/* The OpenID grant versions kept in memory (authd/oidc/grants.c) against reads that straddle a
 * change: on a one-record directory of this file's own (record_* below stand in for
 * store/records.c), a read begun before a revocation here, or before the follower's report of
 * a change made elsewhere, must not leave the revoked version trusted by introspection. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "config.h"
#include "fault.h"
#include "oidc.h"
#include "records.h"
#include "secret.h"
#include "store.h"

/* --- the directory: one grant record ---------------------------------------- */

static struct {
	bool exists;
	char user[512], method[48];
	char *data;
} rec;

/* Run once inside the next record_load, after the version it returns was read. */
static void (*during_read)(void);

static char *dup_or_die(const char *s)
{
	char *d = strdup(s);

	assert_non_null(d);
	return d;
}

static void attr_set(struct attr *a, const char *name, const char *value)
{
	a->name = dup_or_die(name);
	a->nvals = 1;
	a->vals = calloc(1, sizeof(char *));
	assert_non_null(a->vals);
	a->vals[0] = dup_or_die(value);
}

int record_load(
	struct store *s, const struct mm_config *c, const char *kind, const char *handle, struct entry **ret)
{
	struct entry *e;
	char *data;
	void (*hook)(void) = during_read;

	(void)s, (void)c, (void)kind, (void)handle;
	*ret = NULL;
	if (!rec.exists)
		return -ENOENT;
	e = calloc(1, sizeof(*e));
	assert_non_null(e);
	e->dn = dup_or_die("mmSessionId=x,ou=sessions,dc=test");
	e->nattrs = 3;
	e->attrs = calloc(3, sizeof(struct attr));
	assert_non_null(e->attrs);
	attr_set(&e->attrs[0], "mmSessionUser", rec.user);
	attr_set(&e->attrs[1], "mmSessionMethod", rec.method);
	assert_int_not_equal(asprintf(&data, "data:%s", rec.data), -1);
	attr_set(&e->attrs[2], "description", data);
	free(data);
	/* the version is read; what happens now happens while its answer travels back */
	during_read = NULL;
	if (hook)
		hook();
	*ret = e;
	return 0;
}

const char *record_data(const struct entry *e)
{
	const char *d = entry_get(e, "description");

	return d && !strncmp(d, "data:", 5) ? d + 5 : NULL;
}

int record_put(struct store *s, const struct mm_config *c, const char *kind, const char *handle,
	const struct record *r)
{
	(void)s, (void)c, (void)kind, (void)handle;
	rec.exists = true;
	snprintf(rec.user, sizeof(rec.user), "%s", r->user_dn);
	snprintf(rec.method, sizeof(rec.method), "%s", r->method);
	free(rec.data);
	rec.data = dup_or_die(r->data);
	return 0;
}

int record_swap(struct store *s, const struct mm_config *c, const char *kind, const char *handle,
	const struct record_swap *w)
{
	(void)s, (void)c, (void)kind, (void)handle;
	if (!rec.exists)
		return -ENOENT;
	if (strcmp(rec.method, w->old_method))
		return -ESTALE;
	snprintf(rec.method, sizeof(rec.method), "%s", w->new_method);
	free(rec.data);
	rec.data = dup_or_die(w->data);
	return 0;
}

int flow_take(struct store *s, const struct mm_config *c, const char *kind, const char *handle)
{
	(void)s, (void)c, (void)kind, (void)handle;
	if (!rec.exists)
		return -ENOENT;
	rec.exists = false;
	return 0;
}

int record_create(struct store *s, const struct mm_config *c, const char *kind, const struct record *r,
	char ret_handle[SECRET_TOKEN_HEX])
{
	(void)s, (void)c, (void)kind, (void)r, (void)ret_handle;
	return -ENOSYS;
}

/* --- a grant exchanged: its first access token ------------------------------ */

static struct mm_config cfg;
static struct oidc_grant grant;
static char at[SECRET_TOKEN_HEX];

static int setup(void **state)
{
	char key[] = "/tmp/mm-grant-cache-key-XXXXXX", err[256], code[SECRET_TOKEN_HEX], rt[SECRET_TOKEN_HEX];
	struct fault f = {0};
	FILE *fp;
	int fd;

	(void)state;
	fd = mkstemp(key);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	assert_non_null(fp);
	fprintf(fp, "%s\n", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	fclose(fp);
	assert_int_equal(secret_init(key, 1, 8192 * 1024, 1, err, sizeof(err)), 0);
	unlink(key);
	cfg.session_cache_ttl = 5;
	cfg.op_code_ttl = 60;
	cfg.op_access_token_ttl = 300;
	cfg.op_refresh_token_ttl = 3600;
	oidc_grant_cache_changed(NULL, NULL);
	memset(&grant, 0, sizeof(grant));
	snprintf(grant.client_id, sizeof(grant.client_id), "rp");
	snprintf(grant.scope, sizeof(grant.scope), "openid");
	snprintf(grant.user_dn, sizeof(grant.user_dn), "uid=u,ou=people,dc=test");
	snprintf(grant.method, sizeof(grant.method), "password");
	snprintf(grant.redirect_uri, sizeof(grant.redirect_uri), "https://rp.example/cb");
	assert_int_equal(oidc_code_issue(NULL, &cfg, &grant, code), 0);
	assert_int_equal(
		oidc_code_redeem(NULL, &cfg, code, "rp", "https://rp.example/cb", NULL, &grant, &f), 0);
	fault_clear(&f);
	assert_int_equal(oidc_tokens_issue(NULL, &cfg, &grant, at, rt), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	oidc_grant_cache_changed(NULL, NULL);
	free(rec.data);
	memset(&rec, 0, sizeof(rec));
	secret_cleanup();
	return 0;
}

static bool active(void)
{
	struct oidc_grant g;

	return oidc_access_check(NULL, &cfg, at, &g) == 0;
}

/* The access token revoked here while a read of the version that still has it was under way. */
static void revoke_here(void)
{
	assert_int_equal(oidc_token_revoke(NULL, &cfg, at, "rp"), 0);
}

static void test_revoked_here_during_a_read(void **state)
{
	(void)state;
	oidc_grant_cache_changed(NULL, NULL); /* nothing kept: the next check reads */
	during_read = revoke_here;
	(void)active(); /* begun before the revocation: its answer may be either */
	assert_false(active());
	assert_false(active());
}

/* The version kept is replaced elsewhere (another daemon revokes the access token), and the
 * follower reports it while a read of the older version was under way. */
static void revoke_elsewhere(void)
{
	char id[SECRET_HASH_HEX], dn[256];

	/* the other daemon's swap: as this one's, but what this one keeps is not told */
	assert_int_equal(oidc_token_revoke(NULL, &cfg, at, "rp"), 0);
	oidc_grant_cache_changed(NULL, NULL);
	assert_int_equal(secret_keyed_hash(RECORD_OIDC_GRANT, grant.family, id), 0);
	snprintf(dn, sizeof(dn), "mmSessionId=%s,ou=sessions,dc=test", id);
	oidc_grant_cache_changed(dn, rec.method);
}

static void test_reported_during_a_read(void **state)
{
	(void)state;
	assert_true(active()); /* kept */
	oidc_grant_cache_changed(NULL, NULL);
	during_read = revoke_elsewhere;
	(void)active();
	assert_false(active());
	assert_false(active());
}

/* A report of the version kept, or of an older one arriving late, keeps it; a newer one or a
 * deletion drops it (what drops it is seen as a directory read). */
static unsigned loads;
static void count(void)
{
	loads++;
}

static void test_reports(void **state)
{
	char id[SECRET_HASH_HEX], dn[256], older[48];

	(void)state;
	assert_int_equal(secret_keyed_hash(RECORD_OIDC_GRANT, grant.family, id), 0);
	snprintf(dn, sizeof(dn), "mmSessionId=%s,ou=sessions,dc=test", id);
	assert_true(active()); /* the version written by the exchange, kept */
	loads = 0;
	during_read = count;
	oidc_grant_cache_changed(dn, rec.method);
	snprintf(older, sizeof(older), "oidc-grant.0");
	oidc_grant_cache_changed(dn, older);
	assert_true(active());
	assert_int_equal(loads, 0);
	oidc_grant_cache_changed(dn, "oidc-grant.99");
	assert_true(active());
	assert_int_equal(loads, 1);
	during_read = count;
	oidc_grant_cache_changed(dn, NULL);
	assert_true(active());
	assert_int_equal(loads, 2);
	during_read = NULL;
}

static void fill(char *field, size_t size, char c)
{
	memset(field, c, size - 1);
	field[size - 1] = '\0';
}

/* A kept version is packed (authd/oidc/grants.c, grant_pack): with every string of the grant at
 * its longest and every rotated refresh token remembered, it reads back byte for byte as the
 * same version parsed from the directory. */
static void test_kept_version_reads_as_parsed(void **state)
{
	static const char verifier[] = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
	unsigned char sum[crypto_hash_sha256_BYTES];
	struct oidc_grant big, kept, parsed;
	char code[SECRET_TOKEN_HEX], rt[SECRET_TOKEN_HEX];
	struct fault f = {0};

	(void)state;
	memset(&big, 0, sizeof(big));
	fill(big.client_id, sizeof(big.client_id), 'c');
	fill(big.scope, sizeof(big.scope), 's');
	fill(big.nonce, sizeof(big.nonce), 'n');
	fill(big.user_dn, sizeof(big.user_dn), 'u');
	fill(big.account_dn, sizeof(big.account_dn), 'a');
	fill(big.method, sizeof(big.method), 'm');
	fill(big.sid, sizeof(big.sid), 'f');
	fill(big.redirect_uri, sizeof(big.redirect_uri), 'r');
	big.auth_time = 1765000000;
	crypto_hash_sha256(sum, (const unsigned char *)verifier, strlen(verifier));
	sodium_bin2base64(big.code_challenge, sizeof(big.code_challenge), sum, sizeof(sum),
		sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	assert_int_equal(oidc_code_issue(NULL, &cfg, &big, code), 0);

	loads = 0;
	during_read = count;
	assert_int_equal(
		oidc_code_redeem(NULL, &cfg, code, big.client_id, big.redirect_uri, verifier, &kept, &f), 0);
	assert_int_equal(loads, 0); /* from memory */
	oidc_grant_cache_changed(NULL, NULL);
	assert_int_equal(
		oidc_code_redeem(NULL, &cfg, code, big.client_id, big.redirect_uri, verifier, &parsed, &f),
		0);
	assert_int_equal(loads, 1); /* from the directory */
	assert_memory_equal(&kept, &parsed, sizeof(kept));
	assert_string_equal(kept.nonce, big.nonce);
	assert_string_equal(kept.account_dn, big.account_dn);

	/* the refresh tokens rotated until the remembered ones are as many as they can be */
	assert_int_equal(oidc_tokens_issue(NULL, &cfg, &kept, at, rt), 0);
	for (int i = 0; i <= OIDC_RT_USED_MAX; i++) {
		assert_int_equal(oidc_refresh_redeem(NULL, &cfg, rt, big.client_id, &kept, &f), 0);
		assert_int_equal(oidc_tokens_issue(NULL, &cfg, &kept, at, rt), 0);
	}
	loads = 0;
	during_read = count;
	assert_int_equal(oidc_access_check(NULL, &cfg, at, &kept), 0);
	assert_int_equal(loads, 0);
	oidc_grant_cache_changed(NULL, NULL);
	assert_int_equal(oidc_access_check(NULL, &cfg, at, &parsed), 0);
	assert_int_equal(loads, 1);
	assert_int_equal(kept.rec.n_rt_used, OIDC_RT_USED_MAX);
	assert_int_equal(strlen(kept.rec.rt_used[OIDC_RT_USED_MAX - 1]), SECRET_HASH_HEX - 1);
	assert_memory_equal(&kept, &parsed, sizeof(kept));
	during_read = NULL;
	fault_clear(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_revoked_here_during_a_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reported_during_a_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kept_version_reads_as_parsed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
