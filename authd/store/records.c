/* The records of ou=sessions (one encoding: records.h) and the API service clients of ou=services. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
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

static long long mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static unsigned slot_of(const char *id)
{
	unsigned v = 0;

	for (int i = 0; i < 6; i++) {
		char ch = id[i];
		v = v * 16 + (unsigned)(ch <= '9' ? ch - '0' : ch - 'a' + 10);
	}
	return v % CACHE_SLOTS;
}

static void svc_cache_clear(void)
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
	svc_cache_clear();
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

static char *dn_for(const struct mm_config *c, const char *id)
{
	char *dn = NULL;

	if (asprintf(&dn, "mmSessionId=%s,ou=sessions,%s", id, c->ldap_base) < 0)
		return NULL;
	return dn;
}

static void copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

int session_open(struct store *s, const struct mm_config *c, const struct session_open_args *a,
	char ret_token[SECRET_TOKEN_HEX], long long *ret_exp)
{
	long long exp = (long long)time(NULL) + c->session_ttl;
	struct record rec = {.user_dn = a->account_dn,
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
	char *dn = dn_for(c, id);
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
	long long t = mono();
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
	dn = dn_for(c, id);
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
	svc_cache_clear();
	return r;
}

int service_verify(struct store *s, const struct mm_config *c, const char *id, const char *secret)
{
	static const char *const attrs[] = {"mmClientSecretHash", NULL};
	char h[SECRET_HASH_HEX];
	struct entry *e = NULL;
	const char *stored;
	long long t = mono();
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

/* --- the records (records.h: their one encoding) --------------------------- */

#define DATA_PREFIX "data:"
#define META_MAX 128

static const char *const record_attrs[] = {"mmSessionId", "mmSessionUser", "mmSessionAccount",
	"mmSessionExpires", "mmSessionMethod", "mmSessionService", "mmSessionRemote", "description", NULL};

/* mmSessionMethod, Service and Remote are IA5: anything else is not kept. */
static const char *ia5(const char *v)
{
	if (!v || strlen(v) > META_MAX)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return NULL;
	return v;
}

static int record_dn(const struct mm_config *c, const char *kind, const char *handle, char **ret,
	char ret_id[SECRET_HASH_HEX])
{
	char id[SECRET_HASH_HEX];
	int r;

	*ret = NULL;
	if (!handle || !*handle)
		return -ENOENT;
	if ((r = secret_keyed_hash(kind, handle, id)) < 0)
		return r;
	*ret = dn_for(c, id);
	if (ret_id)
		memcpy(ret_id, id, sizeof(id));
	return *ret ? 0 : -ENOMEM;
}

int record_put(struct store *s, const struct mm_config *c, const char *kind, const char *handle,
	const struct record *rec)
{
	char exp_s[16], id[SECRET_HASH_HEX];
	char *dn = NULL, *data = NULL;
	struct mods m;
	int r = record_dn(c, kind, handle, &dn, id);

	if (r < 0)
		return r;
	if (rec->data && asprintf(&data, DATA_PREFIX "%s", rec->data) < 0) {
		free(dn);
		return -ENOMEM;
	}
	store_time(rec->expires, exp_s);
	mods_init(&m);
	mods_add(&m, LDAP_MOD_ADD, "objectClass", "mmSession");
	mods_add(&m, LDAP_MOD_ADD, "mmSessionId", id);
	mods_add(&m, LDAP_MOD_ADD, "description", kind);
	mods_add(&m, LDAP_MOD_ADD, "description", data);
	mods_add(&m, LDAP_MOD_ADD, "mmSessionUser", rec->user_dn);
	mods_add(&m, LDAP_MOD_ADD, "mmSessionAccount", rec->account_dn);
	mods_add(&m, LDAP_MOD_ADD, "mmSessionExpires", exp_s);
	mods_add(&m, LDAP_MOD_ADD, "mmSessionMethod", ia5(rec->method));
	mods_add(&m, LDAP_MOD_ADD, "mmSessionService", ia5(rec->service));
	mods_add(&m, LDAP_MOD_ADD, "mmSessionRemote", ia5(rec->remote));
	r = store_add(s, dn, &m);
	mods_free(&m);
	secret_free(data);
	free(dn);
	return r;
}

int record_create(struct store *s, const struct mm_config *c, const char *kind, const struct record *rec,
	char ret_handle[SECRET_TOKEN_HEX])
{
	char handle[SECRET_TOKEN_HEX];
	int r;

	secret_token(handle);
	r = record_put(s, c, kind, handle, rec);
	if (r == 0)
		memcpy(ret_handle, handle, SECRET_TOKEN_HEX);
	secret_wipe(handle, sizeof(handle));
	return r;
}

int record_load(
	struct store *s, const struct mm_config *c, const char *kind, const char *handle, struct entry **ret)
{
	struct entry *e = NULL;
	char *dn = NULL;
	long long exp;
	int r;

	*ret = NULL;
	if ((r = record_dn(c, kind, handle, &dn, NULL)) < 0)
		return r;
	r = store_read(s, dn, record_attrs, &e);
	free(dn);
	if (r < 0)
		return r;
	/* A handle of another kind hashes to another DN; the kind is checked anyway.
	 * (Sessions of an older daemon carry no kind.) */
	if (!entry_has_value(e, "description", kind) &&
		(strcmp(kind, RECORD_SESSION) || entry_get(e, "description"))) {
		entry_free(e);
		return -ENOENT;
	}
	exp = store_parse_time(entry_get(e, "mmSessionExpires"));
	if (exp < 0 || exp <= (long long)time(NULL)) {
		/* Expired: gone for good; whoever sees it first removes it. */
		drop_expired(s, e->dn);
		entry_free(e);
		return -ETIMEDOUT;
	}
	*ret = e;
	return 0;
}

const char *record_data(const struct entry *e)
{
	const struct attr *a = entry_attr(e, "description");

	for (size_t i = 0; a && i < a->nvals; i++)
		if (!strncmp(a->vals[i], DATA_PREFIX, strlen(DATA_PREFIX)))
			return a->vals[i] + strlen(DATA_PREFIX);
	return NULL;
}

int record_update(struct store *s, const struct entry *e, const char *method, long long expires)
{
	char exp_s[16];
	struct mods m;
	int r;

	store_time(expires, exp_s);
	mods_init(&m);
	if (method)
		mods_add(&m, LDAP_MOD_REPLACE, "mmSessionMethod", ia5(method));
	mods_add(&m, LDAP_MOD_REPLACE, "mmSessionExpires", exp_s);
	r = store_modify(s, e->dn, &m);
	mods_free(&m);
	return r;
}

int record_set_account(struct store *s, const struct entry *e, const char *account_dn)
{
	struct mods m;
	int r;

	mods_init(&m);
	mods_add(&m, LDAP_MOD_REPLACE, "mmSessionAccount", account_dn);
	r = store_modify(s, e->dn, &m);
	mods_free(&m);
	return r;
}

int record_delete(struct store *s, const struct entry *e)
{
	return store_delete(s, e->dn);
}

int records_sweep(struct store *s, const struct mm_config *c, size_t max)
{
	static const char *const noattrs[] = {LDAP_NO_ATTRS, NULL};
	struct entry **v = NULL;
	size_t n = 0, gone = 0;
	char filter[64], stamp[16], *base = NULL;
	int r;

	store_time((long long)time(NULL), stamp);
	snprintf(filter, sizeof(filter), "(&(objectClass=mmSession)(mmSessionExpires<=%s))", stamp);
	if (asprintf(&base, "ou=sessions,%s", c->ldap_base) < 0)
		return -ENOMEM;
	r = store_search(s, base, LDAP_SCOPE_ONELEVEL, filter, noattrs, max, &v, &n);
	free(base);
	if (r == -ENOENT)
		return 0;
	if (r < 0 && !n)
		return r;
	for (size_t i = 0; i < n && i < max; i++) {
		r = store_delete(s, v[i]->dn);
		if (r < 0 && r != -ENOENT)
			break;
		gone++;
	}
	entries_free(v, n);
	return (int)gone;
}

/* One sweep per interval per daemon, bounded, on a thread of its own: never from a request. */
#define SWEEP_INTERVAL 60
#define SWEEP_MAX 200

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool running, stop;
	struct store *const *s;
	struct mm_config *const *c;
	pthread_rwlock_t *reload;
} sweeper = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void *sweep_loop(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&sweeper.lock);
	while (!sweeper.stop) {
		struct timespec until;
		int n;

		/* At start, then once an interval. */
		pthread_mutex_unlock(&sweeper.lock);
		pthread_rwlock_rdlock(sweeper.reload);
		n = records_sweep(*sweeper.s, *sweeper.c, SWEEP_MAX);
		pthread_rwlock_unlock(sweeper.reload);
		if (n > 0)
			log_msg(LOG_DEBUG, "swept %d expired ou=sessions records", n);
		else if (n < 0 && n != -EHOSTDOWN)
			log_msg(LOG_WARNING, "sweep of ou=sessions: %s", strerror(-n));
		pthread_mutex_lock(&sweeper.lock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += SWEEP_INTERVAL;
		while (!sweeper.stop &&
			pthread_cond_timedwait(&sweeper.cond, &sweeper.lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&sweeper.lock);
	return NULL;
}

int records_sweeper_start(struct store *const *s, struct mm_config *const *c, pthread_rwlock_t *lock)
{
	int r;

	sweeper.s = s;
	sweeper.c = c;
	sweeper.reload = lock;
	sweeper.stop = false;
	r = pthread_create(&sweeper.thread, NULL, sweep_loop, NULL);
	if (r)
		return -r;
	sweeper.running = true;
	return 0;
}

void records_sweeper_stop(void)
{
	if (!sweeper.running)
		return;
	pthread_mutex_lock(&sweeper.lock);
	sweeper.stop = true;
	pthread_cond_signal(&sweeper.cond);
	pthread_mutex_unlock(&sweeper.lock);
	pthread_join(sweeper.thread, NULL);
	sweeper.running = false;
}

/* --- single-use flow records ----------------------------------------- */

int flow_put(struct store *s, const struct mm_config *c, const char *kind, const char *handle,
	const char *account_dn, const char *data, unsigned ttl)
{
	/* A flow has no login method: its kind again, as flows always said. */
	struct record rec = {.account_dn = account_dn,
		.method = kind,
		.data = data,
		.expires = (long long)time(NULL) + ttl};

	return record_put(s, c, kind, handle, &rec);
}

int flow_get(struct store *s, const struct mm_config *c, const char *kind, const char *handle,
	char **ret_account_dn, char **ret_data)
{
	struct entry *e = NULL;
	char *a = NULL, *d = NULL;
	int r = record_load(s, c, kind, handle, &e);

	if (r == -ETIMEDOUT)
		r = -ENOENT;
	if (r < 0)
		return r;
	if (entry_get(e, "mmSessionAccount") && !(a = strdup(entry_get(e, "mmSessionAccount")))) {
		r = -ENOMEM;
		goto out;
	}
	if (record_data(e) && !(d = strdup(record_data(e)))) {
		r = -ENOMEM;
		goto out;
	}
	*ret_account_dn = a;
	*ret_data = d;
	a = d = NULL;
out:
	free(a);
	secret_free(d);
	entry_free(e);
	return r;
}

int flow_take(struct store *s, const struct mm_config *c, const char *kind, const char *handle)
{
	char *dn = NULL;
	int r = record_dn(c, kind, handle, &dn, NULL);

	if (r < 0)
		return r;
	r = store_delete(s, dn);
	free(dn);
	return r;
}
