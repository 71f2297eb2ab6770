/* The records of ou=sessions: their one encoding (records.h), the expired ones swept on a timer, single-use flows. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "records.h"

char *records_dn(const struct mm_config *c, const char *id)
{
	char *dn = NULL;

	if (asprintf(&dn, "mmSessionId=%s,ou=sessions,%s", id, c->ldap_base) < 0)
		return NULL;
	return dn;
}

/* Best effort: an entry that fails to go is refused again next time. */
static void drop_expired(struct store *s, const char *dn)
{
	int r = store_delete(s, dn);

	(void)r;
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
	*ret = records_dn(c, id);
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

int record_swap(struct store *s, const struct mm_config *c, const char *kind, const char *handle,
	const struct record_swap *w)
{
	char exp_s[16], *dn = NULL, *data = NULL;
	struct mods m;
	int r;

	if (!ia5(w->old_method) || !ia5(w->new_method) || !strcmp(w->old_method, w->new_method))
		return -EINVAL;
	if ((r = record_dn(c, kind, handle, &dn, NULL)) < 0)
		return r;
	if (w->data && asprintf(&data, DATA_PREFIX "%s", w->data) < 0) {
		free(dn);
		return -ENOMEM;
	}
	store_time(w->expires, exp_s);
	mods_init(&m);
	/* Deleting the value read fails (noSuchAttribute) when a concurrent swap replaced it. */
	mods_add(&m, LDAP_MOD_DELETE, "mmSessionMethod", w->old_method);
	mods_add(&m, LDAP_MOD_ADD, "mmSessionMethod", w->new_method);
	mods_add(&m, LDAP_MOD_REPLACE, "description", kind);
	if (data)
		mods_add(&m, LDAP_MOD_REPLACE, "description", data); /* merged: one replace, two values */
	mods_add(&m, LDAP_MOD_REPLACE, "mmSessionExpires", exp_s);
	r = store_modify(s, dn, &m);
	mods_free(&m);
	secret_free(data);
	free(dn);
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

/* --- claims of a unique value --------------------------------------------- */

int record_claim_take(struct store *s, const struct mm_config *c, const char *kind, const char *value,
	char *key, size_t keysz)
{
	struct entry *e = NULL;
	int rc;

	if (!value || !*value || keysz == 0 || strlen(value) >= keysz)
		return -EINVAL;
	snprintf(key, keysz, "%s", value);
	for (char *p = key; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	for (int i = 0; i < 2; i++) {
		rc = record_put(s, c, kind, key,
			&(struct record){.method = kind, .expires = (long long)time(NULL) + MAIL_CLAIM_TTL});
		if (rc != -EEXIST)
			break;
		/* One left by a daemon that stopped midway expires. */
		rc = record_load(s, c, kind, key, &e);
		entry_free(e);
		e = NULL;
		if (rc != -ETIMEDOUT && rc != -ENOENT) {
			rc = rc < 0 ? rc : -EBUSY;
			break;
		}
		rc = -EBUSY;
	}
	if (rc < 0)
		key[0] = '\0';
	return rc;
}

void record_claim_drop(struct store *s, const struct mm_config *c, const char *kind, const char *key)
{
	struct entry *e = NULL;
	int rc;

	if (!key || !*key)
		return;
	rc = record_load(s, c, kind, key, &e);
	if (rc == 0)
		rc = record_delete(s, e); /* on failure it expires on its own */
	entry_free(e);
	(void)rc;
}

int mail_claim_take(struct store *s, const struct mm_config *c, const char *mail, char *key, size_t keysz)
{
	return record_claim_take(s, c, RECORD_MAIL_CLAIM, mail, key, keysz);
}

void mail_claim_drop(struct store *s, const struct mm_config *c, const char *key)
{
	record_claim_drop(s, c, RECORD_MAIL_CLAIM, key);
}
