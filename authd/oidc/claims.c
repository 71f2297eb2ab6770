/* What the provider says of a user: the claims by scope, acr/amr of the login method, the ID token. */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "metrics.h"
#include "jwt.h"
#include "login.h"
#include "oidc.h"

bool oidc_scope_has(const char *scope, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = scope; p && *p;) {
		const char *end = strchr(p, ' ');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == n && !strncmp(p, word, n))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* The web login's methods (login/): password + mailed code, CPS card + PIN, e-CPS, Pro Santé Connect. */
const char *oidc_acr(const char *method)
{
	if (!strcmp(method, "card") || !strcmp(method, "cps"))
		return "sc+pin";
	if (!strcmp(method, "ecps"))
		return "e-cps";
	if (!strcmp(method, "psc"))
		return "psc";
	return "pwd+otp";
}

json_t *oidc_amr(const char *method)
{
	const char *acr = oidc_acr(method);

	if (!strcmp(acr, "sc+pin"))
		return json_pack("[s, s, s]", "sc", "pin", "mfa");
	if (!strcmp(acr, "e-cps"))
		return json_pack("[s, s]", "e-cps", "mfa");
	if (!strcmp(acr, "psc"))
		return json_pack("[s, s]", "psc", "mfa");
	return json_pack("[s, s, s]", "pwd", "otp", "mfa");
}

static void put(json_t *o, const char *claim, const struct entry *e, const char *attr)
{
	const char *v = entry_get(e, attr);

	if (v && *v)
		json_object_set_new(o, claim, json_string(v));
}

/* The person's accounts (login_accounts: the rule of Changer de compte), or NULL. */
static struct login_choice *accounts_of(
	struct store *s, const struct mm_config *c, const char *user_dn, const struct entry *e, size_t *n)
{
	struct caller who = {.uid = (uid_t)-1, .gid = (gid_t)-1, .dn = user_dn, .name = "oidc"};
	struct login_choice *v = NULL;
	struct fault f = {0};

	*n = 0;
	if (login_accounts(s, c, &who, e, &v, n, &f) < 0) {
		free(v);
		v = NULL;
		*n = 0;
	}
	fault_clear(&f);
	return v;
}

/* {login, name, mss_address} of the BAL ORG account_dn when the person may open it now (not
 * only when the code was issued: a member removed since loses it at the next refresh). */
static json_t *bal_org(struct store *s, const struct mm_config *c, const char *user_dn, const struct entry *e,
	const char *account_dn)
{
	static const char *const attrs[] = {"uid", "cn", "mmMssAddress", "mmAccountType", "mmStatus", NULL};
	struct entry *org = NULL;
	struct login_choice *v;
	json_t *b = NULL;
	size_t n;

	if (store_read(s, account_dn, attrs, &org) < 0)
		return NULL;
	if (!entry_has_value(org, "mmAccountType", "ORG") || !entry_has_value(org, "mmStatus", "active") ||
		!entry_get(org, "uid")) {
		entry_free(org);
		return NULL;
	}
	v = accounts_of(s, c, user_dn, e, &n);
	for (size_t i = 0; v && i < n && !b; i++)
		if (!v[i].self && !strcmp(v[i].login, entry_get(org, "uid"))) {
			b = json_object();
			if (b) {
				put(b, "login", org, "uid");
				put(b, "name", org, "cn");
				put(b, "mss_address", org, "mmMssAddress");
			}
		}
	free(v);
	entry_free(org);
	return b;
}

static int claims_read(struct store *s, const struct mm_config *c, const char *user_dn,
	const char *account_dn, const char *scope, json_t *o)
{
	static const char *const attrs[] = {"entryUUID", "uid", "cn", "givenName", "sn", "mmLoginMail",
		"mmMssAddress", "mmRpps", "mmProfessionCode", "mmAccountType", "mmStatus", "mmDefaultAccount",
		NULL};
	struct entry *e = NULL;
	const char *st, *sub;
	int r;

	r = store_read(s, user_dn, attrs, &e);
	if (r < 0)
		return r;
	st = entry_get(e, "mmStatus");
	sub = entry_get(e, "entryUUID");
	if (!st || strcmp(st, "active") || !sub) {
		entry_free(e);
		return -ENOENT;
	}
	json_object_set_new(o, "sub", json_string(sub));
	if (oidc_scope_has(scope, "profile")) {
		put(o, "name", e, "cn");
		put(o, "given_name", e, "givenName");
		put(o, "family_name", e, "sn");
		put(o, "preferred_username", e, "uid");
	}
	if (oidc_scope_has(scope, "email")) {
		put(o, "email", e, "mmLoginMail");
		if (entry_get(e, "mmLoginMail"))
			json_object_set_new(o, "email_verified", json_true());
	}
	if (oidc_scope_has(scope, "medimail")) {
		put(o, "mss_address", e, "mmMssAddress");
		put(o, "rpps", e, "mmRpps");
		put(o, "profession", e, "mmProfessionCode");
		put(o, "account_type", e, "mmAccountType");
	}
	if (oidc_scope_has(scope, "orgs")) {
		size_t n = 0;
		struct login_choice *v = accounts_of(s, c, user_dn, e, &n);
		json_t *a = json_array();

		for (size_t i = 0; a && v && i < n; i++)
			if (!v[i].self)
				json_array_append_new(a,
					json_pack("{s:s, s:s}", "login", v[i].login, "mss_address",
						v[i].mss_address));
		free(v);
		json_object_set_new(o, "orgs", a);
	}
	if (account_dn && *account_dn && oidc_scope_has(scope, "bal_org")) {
		json_t *b = bal_org(s, c, user_dn, e, account_dn);

		if (b)
			json_object_set_new(o, "bal_org", b);
	}
	entry_free(e);
	return 0;
}

/* --- the claims given lately -------------------------------------------------
 * A token exchange, a refresh, an introspection or userinfo each give the
 * claims of a user: those given for a (user, BAL ORG, scope) are kept
 * session_cache_ttl seconds, like a verified session, and dropped at once
 * when the directory (followed, main.c) reports a change of the user's entry
 * or of the BAL ORG's, and of any ORG for the claims that list them (orgs).
 * Only an active account's claims are kept. */
#define CLAIMS_SLOTS 1024u
#define CLAIMS_STRIPES 16u
struct claims_slot {
	char *key; /* user_dn LF account_dn LF scope */
	char user[128], account[128]; /* the uid values of their DNs, for the follower */
	bool lists_orgs;
	json_t *claims; /* never changed once kept: a reader takes a reference and copies it */
	char *intro; /* the introspection answer's start made of these claims, once asked; or NULL */
	size_t intro_len;
	unsigned long long stamp; /* names this keeping: an answer made of it goes to it only */
	long long until; /* monotonic seconds */
};
static struct claims_slot ccl[CLAIMS_SLOTS];
static pthread_mutex_t ccl_lock[CLAIMS_STRIPES] = {[0 ... CLAIMS_STRIPES - 1] = PTHREAD_MUTEX_INITIALIZER};
static unsigned long ccl_gen[CLAIMS_STRIPES];
static unsigned long long ccl_stamp; /* the last keeping's stamp (atomic: stripes do not share a lock) */

static unsigned char ccl_key[crypto_shorthash_KEYBYTES];
static pthread_once_t ccl_key_once = PTHREAD_ONCE_INIT;

static void ccl_key_make(void)
{
	crypto_shorthash_keygen(ccl_key);
}

static const unsigned char *claims_hash_key(void)
{
	pthread_once(&ccl_key_once, ccl_key_make);
	return ccl_key;
}

static unsigned claims_slot_of(const char *key)
{
	uint64_t h;

	/* keyed: a caller who picks DNs cannot pick collisions */
	crypto_shorthash((unsigned char *)&h, (const unsigned char *)key, strlen(key), claims_hash_key());
	return (unsigned)(h % CLAIMS_SLOTS);
}

/* The value of dn's first RDN when it is uid=..., else "". */
static void uid_of(const char *dn, char *out, size_t outsz)
{
	if (!dn || !dn_rdn_value(dn, "uid", out, outsz))
		out[0] = '\0';
}

static void claims_slot_clear(struct claims_slot *sl)
{
	free(sl->key);
	json_decref(sl->claims);
	free(sl->intro);
	memset(sl, 0, sizeof(*sl));
}

void oidc_claims_cache_changed(const char *dn)
{
	char uid[128];
	bool org;

	uid_of(dn, uid, sizeof(uid));
	if (dn && !uid[0])
		return; /* not an account */
	org = dn && strcasestr(dn, ",ou=orgs,") != NULL;
	for (unsigned i = 0; i < CLAIMS_SLOTS; i++) {
		pthread_mutex_t *m = &ccl_lock[i % CLAIMS_STRIPES];
		struct claims_slot *sl = &ccl[i];

		pthread_mutex_lock(m);
		if (sl->key &&
			(!dn || !strcmp(sl->user, uid) || !strcmp(sl->account, uid) ||
				(org && sl->lists_orgs)))
			claims_slot_clear(sl);
		ccl_gen[i % CLAIMS_STRIPES]++;
		pthread_mutex_unlock(m);
	}
}

/* What a lookup of the kept claims found. */
struct ccl_look {
	char *key; /* NULL: nothing is kept (session_cache_ttl 0, or out of memory) */
	unsigned slot;
	unsigned long gen; /* the stripe's generation when looked: a change since forbids keeping */
	json_t *claims; /* a reference, or NULL: not kept */
	unsigned long long stamp;
	char *intro; /* with want_intro: a copy of the kept introspection start, or NULL */
	size_t intro_len;
};

static void ccl_get(const struct mm_config *c, const char *user_dn, const char *account_dn, const char *scope,
	bool want_intro, struct ccl_look *l)
{
	struct claims_slot *sl;

	*l = (struct ccl_look){0};
	if (!c->session_cache_ttl ||
		asprintf(&l->key, "%s\n%s\n%s", user_dn, account_dn ? account_dn : "", scope) < 0) {
		l->key = NULL;
		return;
	}
	l->slot = claims_slot_of(l->key);
	sl = &ccl[l->slot];
	pthread_mutex_lock(&ccl_lock[l->slot % CLAIMS_STRIPES]);
	if (sl->key && !strcmp(sl->key, l->key) && sl->until > mm_mono_s()) {
		l->stamp = sl->stamp;
		if (want_intro && sl->intro && (l->intro = malloc(sl->intro_len + 1))) {
			memcpy(l->intro, sl->intro, sl->intro_len + 1);
			l->intro_len = sl->intro_len;
		} else
			l->claims = json_incref(sl->claims);
	}
	l->gen = ccl_gen[l->slot % CLAIMS_STRIPES];
	pthread_mutex_unlock(&ccl_lock[l->slot % CLAIMS_STRIPES]);
}

static void ccl_look_free(struct ccl_look *l)
{
	free(l->key);
	json_decref(l->claims);
	free(l->intro);
	*l = (struct ccl_look){0};
}

/* Keeps claims (taken) as l's key's, unless the stripe changed since the look; the keeping's stamp
 * (l->stamp), or 0: not kept. */
static void ccl_put(const struct mm_config *c, struct ccl_look *l, const char *user_dn,
	const char *account_dn, const char *scope, json_t *claims)
{
	struct claims_slot n = {.key = l->key, .claims = claims, .lists_orgs = oidc_scope_has(scope, "orgs")};

	l->stamp = 0;
	if (!l->key || !claims) {
		json_decref(claims);
		return;
	}
	uid_of(user_dn, n.user, sizeof(n.user));
	uid_of(account_dn, n.account, sizeof(n.account));
	pthread_mutex_lock(&ccl_lock[l->slot % CLAIMS_STRIPES]);
	if (l->gen == ccl_gen[l->slot % CLAIMS_STRIPES]) {
		claims_slot_clear(&ccl[l->slot]);
		n.until = mm_mono_s() + c->session_cache_ttl;
		n.stamp = __atomic_add_fetch(&ccl_stamp, 1, __ATOMIC_RELAXED);
		ccl[l->slot] = n;
		l->stamp = n.stamp;
		l->key = NULL;
		claims = NULL;
	}
	pthread_mutex_unlock(&ccl_lock[l->slot % CLAIMS_STRIPES]);
	json_decref(claims);
}

/* Keeps intro (n bytes, copied) with the claims it was made of, when they are still the slot's. */
static void ccl_put_intro(const struct ccl_look *l, const char *intro, size_t n)
{
	struct claims_slot *sl = &ccl[l->slot];
	char *copy;

	if (!l->stamp || !(copy = malloc(n + 1)))
		return;
	memcpy(copy, intro, n + 1);
	pthread_mutex_lock(&ccl_lock[l->slot % CLAIMS_STRIPES]);
	if (sl->key && sl->stamp == l->stamp && !sl->intro) {
		sl->intro = copy;
		sl->intro_len = n;
		copy = NULL;
	}
	pthread_mutex_unlock(&ccl_lock[l->slot % CLAIMS_STRIPES]);
	free(copy);
}

int oidc_claims(struct store *s, const struct mm_config *c, const char *user_dn, const char *account_dn,
	const char *scope, json_t *o)
{
	struct ccl_look l;
	json_t *copy;
	int r;

	ccl_get(c, user_dn, account_dn, scope, false, &l);
	/* the caller's object gets its own copy: what it adds or changes stays its own */
	copy = l.claims ? json_deep_copy(l.claims) : NULL;
	if (copy && json_object_update(o, copy) == 0) {
		json_decref(copy);
		ccl_look_free(&l);
		metrics_cache(METRICS_CACHE_OIDC_CLAIMS, true);
		return 0;
	}
	json_decref(copy);
	metrics_cache(METRICS_CACHE_OIDC_CLAIMS, false);
	r = claims_read(s, c, user_dn, account_dn, scope, o);
	if (r == 0)
		ccl_put(c, &l, user_dn, account_dn, scope, json_deep_copy(o));
	ccl_look_free(&l);
	return r;
}

/* The introspection start made of claims o (changed): flat, no email_verified, username as
 * Dovecot's passdb oauth2 reads it, and none of the members the endpoint writes itself. */
static char *intro_of(json_t *o, size_t *n)
{
	static const char *const own[] = {"email_verified", "active", "scope", "client_id", "aud", "iss",
		"token_type", "exp", "auth_time", "username"};
	json_t *pu;
	char *t;

	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		json_object_del(o, own[i]);
	if ((pu = json_object_get(o, "preferred_username")) && json_object_set(o, "username", pu) < 0)
		return NULL;
	if (!(t = json_dumps(o, JSON_COMPACT)))
		return NULL;
	*n = strlen(t);
	if (*n < 2 || t[*n - 1] != '}') {
		free(t);
		return NULL;
	}
	t[--*n] = '\0';
	return t;
}

int oidc_claims_introspection(struct store *s, const struct mm_config *c, const char *user_dn,
	const char *scope, char **ret, size_t *ret_len)
{
	struct ccl_look l;
	json_t *o;
	int r = 0;

	*ret = NULL;
	*ret_len = 0;
	ccl_get(c, user_dn, NULL, scope, true, &l);
	if (l.intro) {
		metrics_cache(METRICS_CACHE_OIDC_CLAIMS, true);
		*ret = l.intro;
		*ret_len = l.intro_len;
		l.intro = NULL;
		ccl_look_free(&l);
		return 0;
	}
	o = l.claims ? json_deep_copy(l.claims) : NULL;
	metrics_cache(METRICS_CACHE_OIDC_CLAIMS, o != NULL);
	if (!o) {
		if (!(o = json_object()) || (r = claims_read(s, c, user_dn, NULL, scope, o)) < 0) {
			json_decref(o);
			ccl_look_free(&l);
			return r < 0 ? r : -ENOMEM;
		}
		ccl_put(c, &l, user_dn, NULL, scope, json_deep_copy(o));
	}
	*ret = intro_of(o, ret_len);
	json_decref(o);
	if (*ret)
		ccl_put_intro(&l, *ret, *ret_len);
	ccl_look_free(&l);
	return *ret ? 0 : -ENOMEM;
}

int oidc_id_token(struct store *s, const struct mm_config *c, const struct oidc_client *cl,
	const struct oidc_grant *g, const char *issuer, char **ret)
{
	long long now = (long long)time(NULL);
	unsigned char jti[16];
	char jtis[32];
	json_t *o = json_object();
	int r;

	*ret = NULL;
	if (!o)
		return -ENOMEM;
	r = oidc_claims(s, c, g->user_dn, g->account_dn, g->scope, o);
	if (r < 0)
		goto out;
	randombytes_buf(jti, sizeof(jti));
	b64url_encode(jti, sizeof(jti), jtis, sizeof(jtis));
	json_object_set_new(o, "iss", json_string(issuer));
	json_object_set_new(o, "aud", json_string(cl->id));
	json_object_set_new(o, "azp", json_string(cl->id));
	json_object_set_new(o, "iat", json_integer(now));
	json_object_set_new(o, "exp", json_integer(now + c->op_id_token_ttl));
	json_object_set_new(o, "auth_time", json_integer(g->auth_time));
	json_object_set_new(o, "acr", json_string(oidc_acr(g->method)));
	json_object_set_new(o, "amr", oidc_amr(g->method));
	json_object_set_new(o, "jti", json_string(jtis));
	if (g->sid[0])
		json_object_set_new(o, "sid", json_string(g->sid));
	if (g->nonce[0])
		json_object_set_new(o, "nonce", json_string(g->nonce));
	r = oidc_sign(c, cl->alg, "JWT", o, ret);
out:
	json_decref(o);
	return r;
}
