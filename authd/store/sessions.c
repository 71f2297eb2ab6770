/* HTTP API session tokens (records of kind "session", verified ones cached) and the API service clients. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "records.h"

#define CACHE_SLOTS 8192u
#define CACHE_STRIPES 64u

/* Verified tokens, direct-mapped by their (uniformly random) keyed hash. A
 * slot is trusted until its deadline; revocation on another daemon becomes
 * visible there when the slot expires (session_cache_ttl). */
struct cache_slot {
	char id[SECRET_HASH_HEX];
	long long until; /* monotonic seconds */
	struct session_info info;
};
static struct cache_slot cache[CACHE_SLOTS];
static pthread_mutex_t stripes[CACHE_STRIPES] = {[0 ... CACHE_STRIPES - 1] = PTHREAD_MUTEX_INITIALIZER};
/* Bumped (under the stripe's lock) by every revocation: a directory read begun
 * before a revocation must not put the revoked token back in the cache. */
static unsigned long stripe_gen[CACHE_STRIPES];

struct svc_slot {
	char key[SECRET_HASH_HEX]; /* keyed hash of id NUL secret */
	long long until;
};
#define SVC_SLOTS 256u
static struct svc_slot svc_cache[SVC_SLOTS];
static pthread_mutex_t svc_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long svc_gen; /* the same, for service_remove */

static unsigned slot_of(const char *id)
{
	unsigned v = 0;

	for (int i = 0; i < 6; i++) {
		char ch = id[i];
		v = v * 16 + (unsigned)(ch <= '9' ? ch - '0' : ch - 'a' + 10);
	}
	return v % CACHE_SLOTS;
}

void service_cache_clear(void)
{
	pthread_mutex_lock(&svc_lock);
	secret_wipe(svc_cache, sizeof(svc_cache));
	svc_gen++;
	pthread_mutex_unlock(&svc_lock);
}

void session_cache_clear(void)
{
	for (unsigned i = 0; i < CACHE_SLOTS; i++) {
		pthread_mutex_t *m = &stripes[i % CACHE_STRIPES];
		pthread_mutex_lock(m);
		memset(&cache[i], 0, sizeof(cache[i]));
		stripe_gen[i % CACHE_STRIPES]++;
		pthread_mutex_unlock(m);
	}
	service_cache_clear();
}

/* revoking: also stops the reads under way from caching the token. */
static void cache_drop(const char *id, bool revoking)
{
	unsigned i = slot_of(id);
	pthread_mutex_t *m = &stripes[i % CACHE_STRIPES];

	pthread_mutex_lock(m);
	if (!strcmp(cache[i].id, id))
		memset(&cache[i], 0, sizeof(cache[i]));
	if (revoking)
		stripe_gen[i % CACHE_STRIPES]++;
	pthread_mutex_unlock(m);
}

void session_cache_record_changed(const char *dn)
{
	char id[SECRET_HASH_HEX];

	if (!dn) {
		session_cache_clear();
		return;
	}
	if (!dn_rdn_value(dn, "mmSessionId", id, sizeof(id)) || strlen(id) != SECRET_HASH_HEX - 1)
		return;
	for (size_t i = 0; id[i]; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return;
	cache_drop(id, true);
}

void session_cache_account_changed(const char *dn)
{
	char login[sizeof(cache[0].info.login)];

	if (!dn) {
		session_cache_clear();
		return;
	}
	if (!dn_rdn_value(dn, "uid", login, sizeof(login)))
		return;
	for (unsigned i = 0; i < CACHE_SLOTS; i++) {
		pthread_mutex_t *m = &stripes[i % CACHE_STRIPES];

		pthread_mutex_lock(m);
		if (cache[i].id[0] && !strcmp(cache[i].info.login, login))
			memset(&cache[i], 0, sizeof(cache[i]));
		/* A read of this account's state under way must not cache what it read before. */
		stripe_gen[i % CACHE_STRIPES]++;
		pthread_mutex_unlock(m);
	}
}

static bool token_valid(const char *t)
{
	size_t n = 0;

	for (; t[n]; n++)
		if (n >= SESSION_TOKEN_LEN || !((t[n] >= '0' && t[n] <= '9') || (t[n] >= 'a' && t[n] <= 'f')))
			return false;
	return n == SESSION_TOKEN_LEN;
}

/* Best effort: an entry that fails to go is refused again next time. */
static void drop_expired(struct store *s, const char *dn)
{
	int r = store_delete(s, dn);

	(void)r;
}

static void copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

int session_open(struct store *s, const struct mm_config *c, const struct session_open_args *a,
	char ret_token[SECRET_TOKEN_HEX], long long *ret_exp)
{
	long long exp = (long long)time(NULL) + c->session_ttl;
	struct record rec = {.user_dn = a->user_dn ? a->user_dn : a->account_dn,
		.account_dn = a->account_dn,
		.method = a->method,
		.service = a->service,
		.remote = a->remote,
		.expires = exp};
	int r = record_create(s, c, RECORD_SESSION, &rec, ret_token);

	if (r == 0)
		*ret_exp = exp;
	return r;
}

static int load(struct store *s, const struct mm_config *c, const char *id, struct session_info *ret)
{
	static const char *const sattrs[] = {"mmSessionAccount", "mmSessionExpires", "mmSessionMethod",
		"mmSessionService", "createTimestamp", "description", NULL};
	static const char *const aattrs[] = {"uid", "mmStatus", "mmMssAddress", NULL};
	struct entry *se = NULL, *ae = NULL;
	struct session_info info = {0};
	const char *acct;
	char *dn = records_dn(c, id);
	int r;

	if (!dn)
		return -ENOMEM;
	r = store_read(s, dn, sattrs, &se);
	if (r < 0)
		goto out;
	/* Another kind's record never is a session (those of an older daemon carry no kind). */
	if (entry_get(se, "description") && !entry_has_value(se, "description", RECORD_SESSION)) {
		r = -ENOENT;
		goto out;
	}
	info.exp = store_parse_time(entry_get(se, "mmSessionExpires"));
	info.iat = store_parse_time(entry_get(se, "createTimestamp"));
	if (info.exp < 0 || info.exp <= (long long)time(NULL)) {
		/* Expired: gone for good; whoever sees it first removes it. */
		drop_expired(s, dn);
		r = -ENOENT;
		goto out;
	}
	acct = entry_get(se, "mmSessionAccount");
	if (!acct) {
		r = -ENOENT;
		goto out;
	}
	r = store_read(s, acct, aattrs, &ae);
	if (r < 0)
		goto out;
	/* A suspended or closed account has no live session. */
	if (!entry_has_value(ae, "mmStatus", "active") || !entry_get(ae, "uid")) {
		r = -ENOENT;
		goto out;
	}
	copy(info.login, sizeof(info.login), entry_get(ae, "uid"));
	copy(info.mss_address, sizeof(info.mss_address), entry_get(ae, "mmMssAddress"));
	copy(info.method, sizeof(info.method), entry_get(se, "mmSessionMethod"));
	copy(info.service, sizeof(info.service), entry_get(se, "mmSessionService"));
	*ret = info;
out:
	entry_free(se);
	entry_free(ae);
	free(dn);
	return r;
}

int session_introspect(
	struct store *s, const struct mm_config *c, const char *token, struct session_info *ret)
{
	char id[SECRET_HASH_HEX];
	struct session_info info;
	long long t = mm_mono_s();
	unsigned long gen;
	unsigned i;
	pthread_mutex_t *m;
	int r;

	if (!token_valid(token))
		return -EINVAL;
	r = secret_keyed_hash("session", token, id);
	if (r < 0)
		return r;
	i = slot_of(id);
	m = &stripes[i % CACHE_STRIPES];
	pthread_mutex_lock(m);
	if (cache[i].until > t && !strcmp(cache[i].id, id) && cache[i].info.exp > (long long)time(NULL)) {
		*ret = cache[i].info;
		pthread_mutex_unlock(m);
		return 0;
	}
	gen = stripe_gen[i % CACHE_STRIPES];
	pthread_mutex_unlock(m);
	r = load(s, c, id, &info);
	if (r == -ENOENT || r == -EINVAL) {
		cache_drop(id, false);
		return -ENOENT;
	}
	if (r < 0)
		return r;
	if (c->session_cache_ttl) {
		pthread_mutex_lock(m);
		if (stripe_gen[i % CACHE_STRIPES] == gen) {
			memcpy(cache[i].id, id, sizeof(id));
			cache[i].until = t + c->session_cache_ttl;
			cache[i].info = info;
		}
		pthread_mutex_unlock(m);
	}
	*ret = info;
	return 0;
}

void session_cache_forget(const char *token)
{
	char id[SECRET_HASH_HEX];

	if (token_valid(token) && secret_keyed_hash("session", token, id) == 0)
		cache_drop(id, true);
}

int session_revoke(struct store *s, const struct mm_config *c, const char *token)
{
	char id[SECRET_HASH_HEX];
	char *dn;
	int r;

	if (!token_valid(token))
		return -EINVAL;
	r = secret_keyed_hash("session", token, id);
	if (r < 0)
		return r;
	cache_drop(id, true);
	dn = records_dn(c, id);
	if (!dn)
		return -ENOMEM;
	r = store_delete(s, dn);
	free(dn);
	/* Again after the delete: a read that began before it must not cache the token. */
	cache_drop(id, true);
	return r;
}

/* --- service clients ------------------------------------------------ */

bool service_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > 63 || !((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= '0' && id[0] <= '9')))
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = id[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
			    ch == '-'))
			return false;
	}
	return true;
}

static char *service_dn(const struct mm_config *c, const char *id)
{
	char *dn = NULL;

	/* id is validated: [a-z0-9._-] needs no DN escaping */
	if (asprintf(&dn, "mmClientId=%s,ou=services,%s", id, c->ldap_base) < 0)
		return NULL;
	return dn;
}

static int service_hash(const char *id, const char *secret, char out[SECRET_HASH_HEX])
{
	char *v = NULL;
	int r;

	if (asprintf(&v, "%s:%s", id, secret) < 0)
		return -ENOMEM;
	r = secret_keyed_hash("service-secret", v, out);
	secret_free(v);
	return r;
}

int service_add(struct store *s, const struct mm_config *c, const char *id, char ret_secret[SECRET_TOKEN_HEX])
{
	char secret[SECRET_TOKEN_HEX], h[SECRET_HASH_HEX];
	struct mods m;
	char *dn = NULL;
	int r;

	if (!service_id_valid(id))
		return -EINVAL;
	secret_token(secret);
	r = service_hash(id, secret, h);
	if (r < 0)
		goto out;
	dn = service_dn(c, id);
	if (!dn) {
		r = -ENOMEM;
		goto out;
	}
	mods_init(&m);
	mods_add(&m, LDAP_MOD_ADD, "objectClass", "mmServiceClient");
	mods_add(&m, LDAP_MOD_ADD, "mmClientId", id);
	mods_add(&m, LDAP_MOD_ADD, "mmClientSecretHash", h);
	r = store_add(s, dn, &m);
	mods_free(&m);
	if (r == 0)
		memcpy(ret_secret, secret, SECRET_TOKEN_HEX);
out:
	secret_wipe(secret, sizeof(secret));
	secret_wipe(h, sizeof(h));
	free(dn);
	return r;
}

int service_remove(struct store *s, const struct mm_config *c, const char *id)
{
	char *dn;
	int r;

	if (!service_id_valid(id))
		return -EINVAL;
	dn = service_dn(c, id);
	if (!dn)
		return -ENOMEM;
	r = store_delete(s, dn);
	free(dn);
	service_cache_clear();
	return r;
}

int service_verify(struct store *s, const struct mm_config *c, const char *id, const char *secret)
{
	static const char *const attrs[] = {"mmClientSecretHash", NULL};
	char h[SECRET_HASH_HEX];
	struct entry *e = NULL;
	const char *stored;
	long long t = mm_mono_s();
	unsigned long gen;
	unsigned i;
	char *dn = NULL;
	int r;

	if (!service_id_valid(id) || strlen(secret) != SESSION_TOKEN_LEN)
		return -EACCES;
	r = service_hash(id, secret, h);
	if (r < 0)
		return r;
	i = slot_of(h) % SVC_SLOTS;
	pthread_mutex_lock(&svc_lock);
	if (svc_cache[i].until > t && secret_equal(svc_cache[i].key, h)) {
		pthread_mutex_unlock(&svc_lock);
		r = 0;
		goto out;
	}
	gen = svc_gen;
	pthread_mutex_unlock(&svc_lock);
	dn = service_dn(c, id);
	if (!dn) {
		r = -ENOMEM;
		goto out;
	}
	r = store_read(s, dn, attrs, &e);
	if (r == -ENOENT) {
		r = -EACCES;
		goto out;
	}
	if (r < 0)
		goto out;
	stored = entry_get(e, "mmClientSecretHash");
	if (!stored || !secret_equal(stored, h)) {
		r = -EACCES;
		goto out;
	}
	if (c->service_cache_ttl) {
		pthread_mutex_lock(&svc_lock);
		if (svc_gen == gen) {
			memcpy(svc_cache[i].key, h, sizeof(h));
			svc_cache[i].until = t + c->service_cache_ttl;
		}
		pthread_mutex_unlock(&svc_lock);
	}
	r = 0;
out:
	secret_wipe(h, sizeof(h));
	entry_free(e);
	free(dn);
	return r;
}
