/* Authorization requests, and each authorization's code and tokens in one ou=sessions record changed by compare-and-swap. */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "grant_pack.h"
#include "metrics.h"
#include "jwt.h"
#include "log.h"
#include "oidc.h"
#include "secret.h"

#define AUTHZ_TTL 900 /* the login may take a while (mailed code) */
#define GRANT_METHOD "oidc-grant." /* mmSessionMethod: the record's serial, compared by record_swap */
#define HASH_CODE "oidc-code" /* keyed-hash contexts: a token of one kind is never another */
#define HASH_AT "oidc-at"
#define HASH_RT "oidc-rt"
#define PART (OIDC_FAMILY_HEX - 1) /* hex of the family, and of a token's own secret */
#define SWAP_TRIES 4

static long long now_s(void)
{
	return (long long)time(NULL);
}

int oidc_authz_put(
	struct store *s, const struct mm_config *c, const json_t *params, char ret_handle[SECRET_TOKEN_HEX])
{
	char *text = json_dumps(params, JSON_COMPACT);
	struct record rec = {.method = RECORD_OIDC_AUTHZ, .data = text, .expires = now_s() + AUTHZ_TTL};
	int r;

	if (!text)
		return -ENOMEM;
	r = record_create(s, c, RECORD_OIDC_AUTHZ, &rec, ret_handle);
	free(text);
	return r;
}

int oidc_authz_get(struct store *s, const struct mm_config *c, const char *handle, json_t **ret)
{
	struct entry *e = NULL;
	json_t *o;
	int r;

	*ret = NULL;
	if (!handle || strlen(handle) != SECRET_TOKEN_HEX - 1)
		return -ENOENT;
	r = record_load(s, c, RECORD_OIDC_AUTHZ, handle, &e);
	if (r == -ETIMEDOUT)
		r = -ENOENT;
	if (r < 0)
		return r;
	o = record_data(e) ? json_loads(record_data(e), 0, NULL) : NULL;
	entry_free(e);
	if (!json_is_object(o)) {
		json_decref(o);
		return -ENOENT;
	}
	*ret = o;
	return 0;
}

void oidc_authz_drop(struct store *s, const struct mm_config *c, const char *handle)
{
	int r = flow_take(s, c, RECORD_OIDC_AUTHZ, handle);

	(void)r;
}

/* --- codes and tokens: the family's handle, then a secret of their own ------- */

static bool lower_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

static bool family_valid(const char *family)
{
	return family && strlen(family) == PART && lower_hex(family, PART);
}

/* The family of a well-formed code or token; false for anything else. */
static bool token_family(const char *tok, char fam[OIDC_FAMILY_HEX])
{
	if (!tok || strlen(tok) != 2 * PART || !lower_hex(tok, 2 * PART))
		return false;
	memcpy(fam, tok, PART);
	fam[PART] = '\0';
	return true;
}

/* A new code or token of family: the text into tok, its keyed hash (all that is stored) into hash. */
static int token_mint(
	const char *family, const char *ctx, char tok[SECRET_TOKEN_HEX], char hash[SECRET_HASH_HEX])
{
	char rnd[SECRET_TOKEN_HEX];
	int r;

	secret_token(rnd);
	memcpy(tok, family, PART);
	memcpy(tok + PART, rnd, PART);
	tok[2 * PART] = '\0';
	secret_wipe(rnd, sizeof(rnd));
	r = secret_keyed_hash(ctx, tok, hash);
	if (r < 0)
		secret_wipe(tok, SECRET_TOKEN_HEX);
	return r;
}

/* tok is the one whose hash the record keeps (constant time; an empty hash matches nothing). */
static bool token_is(const char *ctx, const char *tok, const char *hash)
{
	char h[SECRET_HASH_HEX];
	bool ok;

	if (strlen(hash) != SECRET_HASH_HEX - 1 || secret_keyed_hash(ctx, tok, h) < 0)
		return false;
	ok = sodium_memcmp(h, hash, SECRET_HASH_HEX - 1) == 0;
	sodium_memzero(h, sizeof(h));
	return ok;
}

static bool rt_was_used(const struct oidc_grant *g, const char *rt)
{
	bool hit = false;

	for (size_t i = 0; i < g->rec.n_rt_used; i++)
		hit |= token_is(HASH_RT, rt, g->rec.rt_used[i]);
	return hit;
}

/* --- the one encoding of a grant in its record's data -------------------- */

static char *grant_text(const struct oidc_grant *g)
{
	const struct oidc_grant_state *w = &g->rec;
	json_t *used = json_array(), *o;
	char *t;

	for (size_t i = 0; used && i < w->n_rt_used; i++)
		if (json_array_append_new(used, json_string(w->rt_used[i])) < 0) {
			json_decref(used);
			return NULL;
		}
	if (!used)
		return NULL;
	/* compact: logout finds a session's grants by "sid":"<sid>", a client's by "client":"<id>" */
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:s, "
		      "s:I, s:s, s:s, s:I, s:o}",
		"client", g->client_id, "account", g->account_dn, "scope", w->granted, "nonce", g->nonce,
		"method", g->method, "auth_time", (json_int_t)g->auth_time, "family", g->family, "sid",
		g->sid, "redirect_uri", g->redirect_uri, "code_challenge", g->code_challenge, "state",
		w->live ? "live" : "code", "code", w->code, "code_exp", (json_int_t)w->code_exp, "at", w->at,
		"at_exp", (json_int_t)w->at_exp, "at_scope", w->at_scope, "at_prev", w->at_prev,
		"at_prev_exp", (json_int_t)w->at_prev_exp, "at_prev_scope", w->at_prev_scope, "rt", w->rt,
		"rt_exp", (json_int_t)w->rt_exp, "rt_used", used);
	t = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return t;
}

#define COPY(dst, o, k) snprintf((dst), sizeof(dst), "%s", json_string_value(json_object_get((o), (k))) ?: "")
#define INT(o, k) ((long long)json_integer_value(json_object_get((o), (k))))

/* The serial of a grant record's method ("oidc-grant.<n>"); false for another text. */
static bool method_serial(const char *m, unsigned long long *ret)
{
	char *end = NULL;

	if (!m || strncmp(m, GRANT_METHOD, strlen(GRANT_METHOD)) ||
		!(m[strlen(GRANT_METHOD)] >= '0' && m[strlen(GRANT_METHOD)] <= '9'))
		return false;
	errno = 0;
	*ret = strtoull(m + strlen(GRANT_METHOD), &end, 10);
	return !errno && end && !*end;
}

/* The grant of family from its record's data d, user u and method m (the serial). */
static int grant_parse(const char *d, const char *u, const char *m, const char *family, struct oidc_grant *g)
{
	json_t *o = d ? json_loads(d, 0, NULL) : NULL, *used;
	struct oidc_grant_state *w = &g->rec;
	int r = -EBADMSG;

	memset(g, 0, sizeof(*g));
	if (!json_is_object(o) || !u || !method_serial(m, &w->serial))
		goto out;
	COPY(g->client_id, o, "client");
	COPY(w->granted, o, "scope");
	COPY(g->scope, o, "scope");
	COPY(g->nonce, o, "nonce");
	COPY(g->method, o, "method");
	COPY(g->family, o, "family");
	COPY(g->sid, o, "sid");
	COPY(g->redirect_uri, o, "redirect_uri");
	COPY(g->code_challenge, o, "code_challenge");
	COPY(g->account_dn, o, "account");
	g->auth_time = INT(o, "auth_time");
	snprintf(g->user_dn, sizeof(g->user_dn), "%s", u);
	w->live = !strcmp(json_string_value(json_object_get(o, "state")) ?: "", "live");
	COPY(w->code, o, "code");
	COPY(w->at, o, "at");
	COPY(w->at_prev, o, "at_prev");
	COPY(w->rt, o, "rt");
	COPY(w->at_scope, o, "at_scope");
	COPY(w->at_prev_scope, o, "at_prev_scope");
	w->code_exp = INT(o, "code_exp");
	w->at_exp = INT(o, "at_exp");
	w->at_prev_exp = INT(o, "at_prev_exp");
	w->rt_exp = INT(o, "rt_exp");
	used = json_object_get(o, "rt_used");
	for (size_t i = 0; i < json_array_size(used) && w->n_rt_used < OIDC_RT_USED_MAX; i++)
		snprintf(w->rt_used[w->n_rt_used++], sizeof(w->rt_used[0]), "%s",
			json_string_value(json_array_get(used, i)) ?: "");
	/* the record named by family says it is family's */
	if (strcmp(g->family, family))
		goto out;
	r = 0;
out:
	json_decref(o);
	return r;
}
#undef COPY
#undef INT

static long long grant_expires(const struct oidc_grant *g)
{
	const struct oidc_grant_state *w = &g->rec;
	long long t = w->live ? 0 : w->code_exp;

	if (w->at_exp > t)
		t = w->at_exp;
	if (w->at_prev_exp > t)
		t = w->at_prev_exp;
	return w->rt_exp > t ? w->rt_exp : t;
}

/* --- the versions read or written lately ------------------------------------
 * Every code exchange, refresh, introspection and userinfo reads its grant.
 * The version last read or written here is kept (direct-mapped by record id,
 * the keyed hash of the family: callers choose no slot), as its record's
 * user, method (the serial) and data:
 *  - a change that ends in a compare-and-swap (GRANT_SWAP: a code exchanged,
 *    a refresh) may start from it however old, as the swap fails if the
 *    record changed since, and the request then reads it again;
 *  - an answer that changes nothing (GRANT_ANSWER: introspection, userinfo)
 *    trusts it session_cache_ttl seconds from when it was known current,
 *    like a verified session, and reads the record again before a refusal;
 *  - the follower (main.c) drops it when the directory reports another
 *    version of the record, or its deletion; a local revocation drops it.
 * A version read or written while the directory reported a change of its
 * stripe may be older than the report: it serves swaps only (until = 0). */
#define GCACHE_SLOTS 8192u
#define GCACHE_STRIPES 64u
enum grant_use { GRANT_FRESH, GRANT_SWAP, GRANT_ANSWER };

struct gcache_slot {
	char id[SECRET_HASH_HEX];
	long long until; /* monotonic seconds; 0: for swaps only */
	struct kept_grant *k; /* an answer unpacks it: no JSON read */
};
static struct gcache_slot gcache[GCACHE_SLOTS];
static pthread_mutex_t gstripes[GCACHE_STRIPES] = {[0 ... GCACHE_STRIPES - 1] = PTHREAD_MUTEX_INITIALIZER};
static unsigned long gstripe_gen[GCACHE_STRIPES];

static unsigned gslot_of(const char *id)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++)
		v = v * 16 + (unsigned)(id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10);
	return v % GCACHE_SLOTS;
}

/* The slot holds a version of id at least as new as method's. */
static bool gslot_newer(const struct gcache_slot *sl, const char *id, const char *method)
{
	unsigned long long other;

	return sl->k && !strcmp(sl->id, id) && method_serial(method, &other) && sl->k->serial >= other;
}

static void gslot_clear(struct gcache_slot *sl)
{
	kept_grant_free(sl->k);
	memset(sl, 0, sizeof(*sl));
}

static unsigned long gcache_gen(const char *id)
{
	pthread_mutex_t *m = &gstripes[gslot_of(id) % GCACHE_STRIPES];
	unsigned long g;

	pthread_mutex_lock(m);
	g = gstripe_gen[gslot_of(id) % GCACHE_STRIPES];
	pthread_mutex_unlock(m);
	return g;
}

static void gcache_drop(const char *id)
{
	unsigned i = gslot_of(id);
	pthread_mutex_t *m = &gstripes[i % GCACHE_STRIPES];

	pthread_mutex_lock(m);
	if (!strcmp(gcache[i].id, id))
		gslot_clear(&gcache[i]);
	gstripe_gen[i % GCACHE_STRIPES]++;
	pthread_mutex_unlock(m);
}

/* Keeps the version (user, method, data) of family's record id, read or written when the stripe
 * was at gen: parsed here, once, for the answers that follow. */
static void gcache_put(const struct mm_config *c, const char *id, unsigned long gen, const char *family,
	const char *user, const char *method, const char *data)
{
	unsigned i = gslot_of(id);
	pthread_mutex_t *m = &gstripes[i % GCACHE_STRIPES];
	struct oidc_grant g;
	struct kept_grant *k = NULL;
	int r = grant_parse(data, user, method, family, &g);

	if (r == 0)
		k = grant_pack(&g);
	secret_wipe(&g, sizeof(g));
	/* not kept: an older version kept here must not answer for this one (a swap just made) */
	if (!k) {
		gcache_drop(id);
		return;
	}
	pthread_mutex_lock(m);
	/* a read that began before a swap here must not put the older version back */
	if (gslot_newer(&gcache[i], id, method) && gcache[i].k->serial != k->serial) {
		pthread_mutex_unlock(m);
		kept_grant_free(k);
		return;
	}
	gslot_clear(&gcache[i]);
	memcpy(gcache[i].id, id, SECRET_HASH_HEX);
	gcache[i].k = k;
	gcache[i].until = gen == gstripe_gen[i % GCACHE_STRIPES] && c->session_cache_ttl
		? mm_mono_s() + c->session_cache_ttl
		: 0;
	pthread_mutex_unlock(m);
}

/* A copy of the kept version of id fit for use into *ret: true, or false. */
static bool gcache_get(const char *id, enum grant_use use, struct oidc_grant *ret)
{
	unsigned i = gslot_of(id);
	pthread_mutex_t *m = &gstripes[i % GCACHE_STRIPES];
	bool ok = false;

	pthread_mutex_lock(m);
	if (gcache[i].k && !strcmp(gcache[i].id, id) &&
		(use == GRANT_SWAP || (use == GRANT_ANSWER && gcache[i].until > mm_mono_s()))) {
		grant_unpack(gcache[i].k, ret);
		ok = true;
	}
	pthread_mutex_unlock(m);
	return ok;
}

void oidc_grant_cache_changed(const char *dn, const char *method)
{
	char id[SECRET_HASH_HEX];
	unsigned i;

	if (!dn) {
		for (i = 0; i < GCACHE_SLOTS; i++) {
			pthread_mutex_lock(&gstripes[i % GCACHE_STRIPES]);
			gslot_clear(&gcache[i]);
			gstripe_gen[i % GCACHE_STRIPES]++;
			pthread_mutex_unlock(&gstripes[i % GCACHE_STRIPES]);
		}
		return;
	}
	if (!dn_rdn_value(dn, "mmSessionId", id, sizeof(id)) || strlen(id) != SECRET_HASH_HEX - 1 ||
		!lower_hex(id, SECRET_HASH_HEX - 1))
		return;
	i = gslot_of(id);
	pthread_mutex_lock(&gstripes[i % GCACHE_STRIPES]);
	/* the version reported is the one kept (our own write) or older (reported late): kept */
	if (!strcmp(gcache[i].id, id) && !(method && gslot_newer(&gcache[i], id, method)))
		gslot_clear(&gcache[i]);
	gstripe_gen[i % GCACHE_STRIPES]++;
	pthread_mutex_unlock(&gstripes[i % GCACHE_STRIPES]);
}

static int grant_id(const char *family, char id[SECRET_HASH_HEX])
{
	return secret_keyed_hash(RECORD_OIDC_GRANT, family, id);
}

/* The grant of family: -ENOENT unknown (or revoked), -ETIMEDOUT expired, -EBADMSG unreadable.
 * *ret_cached (may be NULL): true when the version came from memory (then a refusal is made
 * only after reading the record again). */
static int grant_load(struct store *s, const struct mm_config *c, const char *family, struct oidc_grant *g,
	enum grant_use use, bool *ret_cached)
{
	char id[SECRET_HASH_HEX];
	struct entry *e = NULL;
	unsigned long gen;
	int r;

	if (ret_cached)
		*ret_cached = false;
	if ((r = grant_id(family, id)) < 0)
		return r;
	if (use != GRANT_FRESH && gcache_get(id, use, g)) {
		if (!strcmp(g->family, family) && grant_expires(g) > now_s()) {
			if (ret_cached)
				*ret_cached = true;
			metrics_cache(METRICS_CACHE_OIDC_GRANT, true);
			return 0;
		}
	}
	metrics_cache(METRICS_CACHE_OIDC_GRANT, false);
	gen = gcache_gen(id);
	r = record_load(s, c, RECORD_OIDC_GRANT, family, &e);
	if (r == 0)
		r = grant_parse(record_data(e), entry_get(e, "mmSessionUser"),
			entry_get(e, "mmSessionMethod"), family, g);
	if (r == 0)
		gcache_put(c, id, gen, family, entry_get(e, "mmSessionUser"), entry_get(e, "mmSessionMethod"),
			record_data(e));
	else if (r != -EHOSTDOWN)
		gcache_drop(id);
	entry_free(e);
	return r;
}

/* g->rec as it is now written in the place of the version g->rec.serial was read at. */
static int grant_swap(struct store *s, const struct mm_config *c, struct oidc_grant *g)
{
	char was[48], now[48], *text;
	char id[SECRET_HASH_HEX];
	unsigned long gen;
	int r;

	snprintf(was, sizeof(was), GRANT_METHOD "%llu", g->rec.serial);
	snprintf(now, sizeof(now), GRANT_METHOD "%llu", g->rec.serial + 1);
	if ((r = grant_id(g->family, id)) < 0)
		return r;
	if (!(text = grant_text(g)))
		return -ENOMEM;
	gen = gcache_gen(id);
	r = record_swap(s, c, RECORD_OIDC_GRANT, g->family,
		&(struct record_swap){
			.old_method = was, .new_method = now, .data = text, .expires = grant_expires(g)});
	if (r == 0) {
		g->rec.serial++;
		gcache_put(c, id, gen, g->family, g->user_dn, now, text);
	} else if (r != -EHOSTDOWN)
		gcache_drop(id);
	free(text);
	return r;
}

int oidc_family_revoke(struct store *s, const struct mm_config *c, const char *family)
{
	int r;

	char id[SECRET_HASH_HEX];

	if (!family_valid(family))
		return 0;
	r = flow_take(s, c, RECORD_OIDC_GRANT, family);
	if (grant_id(family, id) == 0)
		gcache_drop(id);
	return r == -ENOENT ? 0 : r;
}

int oidc_client_grants_revoke(struct store *s, const struct mm_config *c, const char *client_id)
{
	static const char *const attrs[] = {"1.1", NULL};
	struct entry **v = NULL;
	char needle[OIDC_ID_MAX + 16], *base = NULL, *filter = NULL, *esc;
	size_t n = 0;
	int r;

	/* The grant's one encoding (grant_text) is compact JSON: the client as "client":"<id>", the
	 * closing quote keeping "rpa" from matching "rpab". */
	snprintf(needle, sizeof(needle), "\"client\":\"%s\"", client_id);
	esc = store_escape(needle);
	if (!esc || asprintf(&base, "ou=sessions,%s", c->ldap_base) < 0 ||
		asprintf(&filter,
			"(&(objectClass=mmSession)(description=" RECORD_OIDC_GRANT ")(description=*%s*))",
			esc) < 0) {
		free(esc);
		free(base);
		return -ENOMEM;
	}
	free(esc);
	r = store_search_all(s, base, LDAP_SCOPE_ONELEVEL, filter, attrs, &v, &n);
	if (r == -ENOENT)
		r = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		int d = store_delete(s, v[i]->dn);
		if (d < 0 && d != -ENOENT)
			r = d;
		oidc_grant_cache_changed(v[i]->dn, NULL);
	}
	entries_free(v, n);
	free(base);
	free(filter);
	return r;
}

int oidc_code_issue(
	struct store *s, const struct mm_config *c, struct oidc_grant *g, char ret_code[SECRET_TOKEN_HEX])
{
	char code[SECRET_TOKEN_HEX], rnd[SECRET_TOKEN_HEX], method[48], id[SECRET_HASH_HEX], *text;
	struct oidc_grant_state *w = &g->rec;
	unsigned long gen = 0;
	int r;

	memset(w, 0, sizeof(*w));
	secret_token(rnd);
	memcpy(g->family, rnd, PART);
	g->family[PART] = '\0';
	secret_wipe(rnd, sizeof(rnd));
	snprintf(w->granted, sizeof(w->granted), "%s", g->scope);
	if ((r = token_mint(g->family, HASH_CODE, code, w->code)) < 0)
		return r;
	w->code_exp = now_s() + c->op_code_ttl;
	snprintf(method, sizeof(method), GRANT_METHOD "%llu", w->serial);
	if (!(text = grant_text(g))) {
		secret_wipe(code, sizeof(code));
		return -ENOMEM;
	}
	if ((r = grant_id(g->family, id)) == 0) {
		gen = gcache_gen(id);
		r = record_put(s, c, RECORD_OIDC_GRANT, g->family,
			&(struct record){.user_dn = g->user_dn,
				.method = method,
				.data = text,
				.expires = w->code_exp});
	}
	if (r == 0) {
		gcache_put(c, id, gen, g->family, g->user_dn, method, text);
		memcpy(ret_code, code, sizeof(code));
	}
	free(text);
	secret_wipe(code, sizeof(code));
	return r;
}

/* base64url(SHA-256(verifier)) == challenge (RFC 7636 S256). */
static bool pkce_ok(const char *verifier, const char *challenge)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	char want[64];
	size_t n = verifier ? strlen(verifier) : 0;

	if (n < 43 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = verifier[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
			    ch == '-' || ch == '.' || ch == '_' || ch == '~'))
			return false;
	}
	crypto_hash_sha256(h, (const unsigned char *)verifier, n);
	b64url_encode(h, sizeof(h), want, sizeof(want));
	return strlen(want) == strlen(challenge) && sodium_memcmp(want, challenge, strlen(want)) == 0;
}

/* The code, now useless, and whatever its first exchange gave. */
static void family_drop(struct store *s, const struct mm_config *c, const char *family)
{
	int r = oidc_family_revoke(s, c, family);

	(void)r;
}

int oidc_code_redeem(struct store *s, const struct mm_config *c, const char *code, const char *client_id,
	const char *redirect_uri, const char *verifier, struct oidc_grant *ret, struct fault *f)
{
	char fam[OIDC_FAMILY_HEX];
	struct oidc_grant g;
	int r;

	if (!token_family(code, fam))
		return fault_set(f, -EACCES, "code inconnu");
	/* what decides below never changes in a record, or only one way (exchanged): a kept
	 * version serves, and the swap that spends the code proves it is still current */
	r = grant_load(s, c, fam, &g, GRANT_SWAP, NULL);
	if (r == -ENOENT || r == -EBADMSG)
		return fault_set(f, -EACCES, "code inconnu");
	if (r == -ETIMEDOUT)
		return fault_set(f, -EACCES, "code expiré");
	if (r < 0)
		return fault_store(f, r, "lecture du code");
	/* another secret under a real family: a guess, which revokes nothing */
	if (!token_is(HASH_CODE, code, g.rec.code))
		return fault_set(f, -EACCES, "code inconnu");
	if (g.rec.live) {
		/* exchanged before: what its first use gave is revoked (RFC 6749 4.1.2) */
		family_drop(s, c, fam);
		return fault_set(f, -EACCES, "code déjà utilisé : les jetons qu'il a donnés sont révoqués");
	}
	if (g.rec.code_exp <= now_s())
		return fault_set(f, -EACCES, "code expiré");
	if (strcmp(g.client_id, client_id))
		return fault_set(f, -EACCES, "code donné à un autre client");
	/* a wrong redirect_uri or verifier spends the code: no second try */
	if (!redirect_uri || strcmp(g.redirect_uri, redirect_uri)) {
		family_drop(s, c, fam);
		return fault_set(f, -EACCES, "redirect_uri différente de celle de la demande");
	}
	if (g.code_challenge[0] ? !pkce_ok(verifier, g.code_challenge) : verifier != NULL) {
		family_drop(s, c, fam);
		return fault_set(f, -EACCES, "code_verifier ne correspond pas au code_challenge (PKCE S256)");
	}
	*ret = g;
	return 0;
}

/* What was read is still what we may act on: the code not exchanged, or the
 * refresh token not rotated, by anyone else (a revoked access token changes neither). */
static bool grant_still_ours(const struct oidc_grant *was, const struct oidc_grant *cur)
{
	if (!was->rec.live)
		return !cur->rec.live;
	return cur->rec.live && !strcmp(was->rec.rt, cur->rec.rt);
}

int oidc_tokens_issue(struct store *s, const struct mm_config *c, const struct oidc_grant *g,
	char ret_at[SECRET_TOKEN_HEX], char ret_rt[SECRET_TOKEN_HEX])
{
	char at[SECRET_TOKEN_HEX], rt[SECRET_TOKEN_HEX];
	struct oidc_grant n = *g, cur;
	int r = -ESTALE;

	for (int tries = 0; r == -ESTALE && tries < SWAP_TRIES; tries++) {
		struct oidc_grant_state *w = &n.rec;
		long long now = now_s();

		if (tries) {
			/* changed meanwhile: by the same code or refresh token used twice (then the
			 * family goes), or by a revoked access token (then again on what is there now) */
			r = grant_load(s, c, g->family, &cur, GRANT_FRESH, NULL);
			if (r < 0)
				break;
			/* our own swap, applied before the connection failed and repeated by the store */
			if (!strcmp(cur.rec.rt, n.rec.rt) && !strcmp(cur.rec.at, n.rec.at)) {
				r = 0;
				break;
			}
			if (!grant_still_ours(g, &cur)) {
				family_drop(s, c, g->family);
				r = -EACCES;
				break;
			}
			n.rec = cur.rec;
		}
		if (w->live) {
			/* rotation: the access token given with the spent refresh token lives on, the
			 * spent one is remembered (its reuse revokes the family) */
			snprintf(w->at_prev, sizeof(w->at_prev), "%s", w->at);
			snprintf(w->at_prev_scope, sizeof(w->at_prev_scope), "%s", w->at_scope);
			w->at_prev_exp = w->at_exp;
			if (w->n_rt_used == OIDC_RT_USED_MAX) {
				memmove(w->rt_used[0], w->rt_used[1],
					sizeof(w->rt_used[0]) * (OIDC_RT_USED_MAX - 1));
				w->n_rt_used--;
			}
			snprintf(w->rt_used[w->n_rt_used++], sizeof(w->rt_used[0]), "%s", w->rt);
		}
		w->live = true;
		if ((r = token_mint(n.family, HASH_AT, at, w->at)) < 0 ||
			(r = token_mint(n.family, HASH_RT, rt, w->rt)) < 0)
			break;
		snprintf(w->at_scope, sizeof(w->at_scope), "%s", g->scope);
		w->at_exp = now + c->op_access_token_ttl;
		w->rt_exp = now + c->op_refresh_token_ttl;
		r = grant_swap(s, c, &n);
	}
	if (r == -ESTALE)
		r = -EAGAIN; /* still ours, but changed at every try: nothing spent, the client may retry */
	if (r == -ENOENT || r == -ETIMEDOUT || r == -EBADMSG)
		r = -EACCES;
	if (r == 0) {
		memcpy(ret_at, at, sizeof(at));
		memcpy(ret_rt, rt, sizeof(rt));
	}
	secret_wipe(at, sizeof(at));
	secret_wipe(rt, sizeof(rt));
	sodium_memzero(&n, sizeof(n));
	return r;
}

static void refresh_reused(struct store *s, const struct mm_config *c, const struct oidc_grant *g,
	const char *client_id, const char *where)
{
	struct audit_ctx au = {.event = "oidc-refresh-reuse", .caller = client_id, .account = g->user_dn};

	family_drop(s, c, g->family);
	audit(&au, false, where);
}

int oidc_refresh_redeem(struct store *s, const struct mm_config *c, const char *rt, const char *client_id,
	struct oidc_grant *ret, struct fault *f)
{
	char fam[OIDC_FAMILY_HEX];
	struct oidc_grant g;
	bool cached = false;
	int r;

	if (!token_family(rt, fam))
		return fault_set(f, -EACCES, "refresh_token inconnu");
	/* a kept version serves a rotation (its swap proves it current); a token it does not
	 * know may have been issued since, by another daemon: the record is read again */
	r = grant_load(s, c, fam, &g, GRANT_SWAP, &cached);
	if (r == 0 && cached && !(g.rec.live && token_is(HASH_RT, rt, g.rec.rt)) && !rt_was_used(&g, rt))
		r = grant_load(s, c, fam, &g, GRANT_FRESH, NULL);
	if (r == -ENOENT || r == -ETIMEDOUT || r == -EBADMSG)
		return fault_set(f, -EACCES, "refresh_token inconnu ou expiré");
	if (r < 0)
		return fault_store(f, r, "lecture du refresh_token");
	if (g.rec.live && token_is(HASH_RT, rt, g.rec.rt) && g.rec.rt_exp > now_s()) {
		if (strcmp(g.client_id, client_id))
			return fault_set(f, -EACCES, "refresh_token d'un autre client");
		*ret = g;
		return 0;
	}
	if (rt_was_used(&g, rt)) {
		refresh_reused(
			s, c, &g, client_id, "an old refresh token was presented: its family is revoked");
		return fault_set(f, -EACCES, "refresh_token déjà utilisé : toute la famille est révoquée");
	}
	return fault_set(f, -EACCES, "refresh_token inconnu ou expiré");
}

/* at is the grant's current or previous live access token: its scope and expiry into g. */
static bool access_of(struct oidc_grant *g, const char *at, long long now)
{
	if (!g->rec.live)
		return false;
	if (g->rec.at_exp > now && token_is(HASH_AT, at, g->rec.at)) {
		snprintf(g->scope, sizeof(g->scope), "%s", g->rec.at_scope);
		g->exp = g->rec.at_exp;
		return true;
	}
	if (g->rec.at_prev_exp > now && token_is(HASH_AT, at, g->rec.at_prev)) {
		snprintf(g->scope, sizeof(g->scope), "%s", g->rec.at_prev_scope);
		g->exp = g->rec.at_prev_exp;
		return true;
	}
	return false;
}

int oidc_access_check(struct store *s, const struct mm_config *c, const char *at, struct oidc_grant *ret)
{
	char fam[OIDC_FAMILY_HEX];
	struct oidc_grant g;
	long long now = now_s();
	bool cached = false;
	int r;

	if (!token_family(at, fam))
		return -ENOENT;
	r = grant_load(s, c, fam, &g, GRANT_ANSWER, &cached);
	/* unknown to the version kept: maybe issued since (a rotation on another daemon) */
	if (r == 0 && cached && !access_of(&g, at, now))
		r = grant_load(s, c, fam, &g, GRANT_FRESH, NULL);
	if (r == -ETIMEDOUT || r == -EBADMSG)
		r = -ENOENT;
	if (r < 0)
		return r;
	if (!access_of(&g, at, now))
		return -ENOENT;
	*ret = g;
	return 0;
}

int oidc_refresh_check(struct store *s, const struct mm_config *c, const char *rt, const char *client_id,
	struct oidc_grant *ret)
{
	char fam[OIDC_FAMILY_HEX];
	struct oidc_grant g;
	bool cached = false;
	int r;

	if (!client_id || !token_family(rt, fam))
		return -ENOENT;
	r = grant_load(s, c, fam, &g, GRANT_ANSWER, &cached);
	if (r == 0 && cached && !(g.rec.live && token_is(HASH_RT, rt, g.rec.rt) && g.rec.rt_exp > now_s()) &&
		!rt_was_used(&g, rt))
		r = grant_load(s, c, fam, &g, GRANT_FRESH, NULL);
	if (r == -ETIMEDOUT || r == -EBADMSG)
		r = -ENOENT;
	if (r < 0)
		return r;
	if (g.rec.live && token_is(HASH_RT, rt, g.rec.rt) && g.rec.rt_exp > now_s()) {
		if (strcmp(g.client_id, client_id))
			return -ENOENT; /* another client's: as unknown */
		g.exp = g.rec.rt_exp;
		*ret = g;
		return 0;
	}
	/* rotated already: whoever holds it now is not its client, so the family goes */
	if (rt_was_used(&g, rt))
		refresh_reused(
			s, c, &g, client_id, "an old refresh token was introspected: its family is revoked");
	return -ENOENT;
}

int oidc_token_revoke(struct store *s, const struct mm_config *c, const char *token, const char *client_id)
{
	char fam[OIDC_FAMILY_HEX];
	struct oidc_grant g;
	int r = -ESTALE;

	if (!token_family(token, fam))
		return 0; /* RFC 7009: an invalid token is no error */
	for (int tries = 0; r == -ESTALE && tries < SWAP_TRIES; tries++) {
		r = grant_load(s, c, fam, &g, GRANT_FRESH, NULL);
		if (r == -ENOENT || r == -ETIMEDOUT || r == -EBADMSG)
			return 0;
		if (r < 0)
			return r;
		bool rt = token_is(HASH_RT, token, g.rec.rt) || rt_was_used(&g, token);
		bool at = token_is(HASH_AT, token, g.rec.at), prev = token_is(HASH_AT, token, g.rec.at_prev);
		if (!rt && !at && !prev)
			return 0; /* not one of this family's (a guess tells nothing of whose family it is) */
		if (strcmp(g.client_id, client_id))
			return -EACCES; /* another client's token: left alone */
		if (rt)
			return oidc_family_revoke(s, c, fam);
		if (at) {
			g.rec.at[0] = g.rec.at_scope[0] = '\0';
			g.rec.at_exp = 0;
		} else {
			g.rec.at_prev[0] = g.rec.at_prev_scope[0] = '\0';
			g.rec.at_prev_exp = 0;
		}
		r = grant_swap(s, c, &g);
	}
	return r == -ENOENT ? 0 : r;
}
