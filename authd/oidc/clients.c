/* The provider's registered clients: one mmServiceClient entry each (mmClientId "oidc:<id>"), metadata in description. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "metrics.h"
#include "jwt.h"
#include "log.h"
#include "oidc.h"
#include "secret.h"

#define CLIENT_PREFIX "oidc:"
#define SECRET_CONTEXT "oidc-client-secret"

static bool id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n >= OIDC_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = id[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
			    (i > 0 && (ch == '.' || ch == '-' || ch == '_'))))
			return false;
	}
	return true;
}

static char *client_dn(const struct mm_config *c, const char *id)
{
	char *dn = NULL;

	/* id is validated: no DN escaping needed */
	if (asprintf(&dn, "mmClientId=" CLIENT_PREFIX "%s,ou=services,%s", id, c->ldap_base) < 0)
		return NULL;
	return dn;
}

static int secret_hash(const char *id, const char *secret, char out[SECRET_HASH_HEX])
{
	char *v = NULL;
	int r;

	if (asprintf(&v, "%s:%s", id, secret) < 0)
		return -ENOMEM;
	r = secret_keyed_hash(SECRET_CONTEXT, v, out);
	secret_free(v);
	return r;
}

/* An absolute https URI (http only for loopback, as for native apps and tests),
 * no fragment, no whitespace or control character. */
static bool uri_valid(const char *u)
{
	size_t n = strlen(u);

	if (n == 0 || n >= OIDC_URI_MAX || strchr(u, '#'))
		return false;
	for (const unsigned char *p = (const unsigned char *)u; *p; p++)
		if (*p <= 0x20 || *p == 0x7f || *p == '"' || *p == '<' || *p == '>' || *p == '\\')
			return false;
	if (!strncmp(u, "https://", 8))
		return n > 8;
	return !strncmp(u, "http://127.0.0.1", 16) || !strncmp(u, "http://localhost", 16) ||
		!strncmp(u, "http://[::1]", 12);
}

/* Splits a space-separated list of URIs into v (each checked). */
static int uris_split(
	const char *list, char v[][OIDC_URI_MAX], size_t *ret_n, const char *field, struct fault *f)
{
	char *copy = list ? strdup(list) : NULL, *save = NULL;
	size_t n = 0;

	*ret_n = 0;
	if (!list)
		return 0;
	if (!copy)
		return -ENOMEM;
	for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (n == OIDC_URIS_MAX || !uri_valid(t)) {
			free(copy);
			return fault_field(f, field, "uri",
				"%s : au plus %d adresses absolues https:// (http:// en boucle locale), sans "
				"fragment",
				field, OIDC_URIS_MAX);
		}
		snprintf(v[n++], OIDC_URI_MAX, "%s", t);
	}
	free(copy);
	*ret_n = n;
	return 0;
}

static json_t *uris_json(char v[][OIDC_URI_MAX], size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

int oidc_client_add(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct oidc_client_args *a, char ret_secret[SECRET_TOKEN_HEX], struct fault *f)
{
	struct oidc_client *cl = calloc(1, sizeof(*cl));
	struct audit_ctx au = {
		.event = "oidc-client-add", .caller = who->name, .remote = who->rhost, .account = a->id};
	char secret[SECRET_TOKEN_HEX] = "", h[SECRET_HASH_HEX] = "";
	json_t *meta = NULL;
	char *dn = NULL, *text = NULL;
	struct mods m;
	int r;

	if (!cl)
		return -ENOMEM;
	ret_secret[0] = '\0';
	if (!id_valid(a->id)) {
		r = fault_field(f, "id", "client_id",
			"identifiant de client : [a-z0-9][a-z0-9._-], 63 caractères au plus");
		goto out;
	}
	cl->public_client = a->type && !strcmp(a->type, "public");
	if (a->type && strcmp(a->type, "public") && strcmp(a->type, "confidential")) {
		r = fault_field(f, "type", "client_type", "type : public ou confidential");
		goto out;
	}
	cl->first_party = a->first_party && !strcmp(a->first_party, "yes");
	if (a->first_party && strcmp(a->first_party, "yes") && strcmp(a->first_party, "no")) {
		r = fault_field(f, "first_party", "yes_no", "first_party : yes ou no");
		goto out;
	}
	snprintf(cl->auth_method, sizeof(cl->auth_method), "%s",
		a->auth_method              ? a->auth_method
			: cl->public_client ? "none"
					    : "client_secret_basic");
	if (cl->public_client ? strcmp(cl->auth_method, "none")
			      : strcmp(cl->auth_method, "client_secret_basic") &&
				strcmp(cl->auth_method, "client_secret_post") &&
				strcmp(cl->auth_method, "private_key_jwt")) {
		r = fault_field(f, "token_endpoint_auth_method", "auth_method",
			"token_endpoint_auth_method : none (client public), client_secret_basic, "
			"client_secret_post ou private_key_jwt");
		goto out;
	}
	snprintf(cl->alg, sizeof(cl->alg), "%s", a->alg ? a->alg : "ES256");
	if (strcmp(cl->alg, "ES256") && strcmp(cl->alg, "RS256")) {
		r = fault_field(f, "id_token_signed_response_alg", "alg",
			"id_token_signed_response_alg : ES256 ou RS256");
		goto out;
	}
	if ((r = uris_split(a->redirect_uris, cl->redirect_uris, &cl->nredirect, "redirect_uris", f)) < 0)
		goto out;
	if (cl->nredirect == 0) {
		r = fault_field(
			f, "redirect_uris", "required", "redirect_uris : au moins une adresse de retour");
		goto out;
	}
	if ((r = uris_split(a->post_logout_redirect_uris, cl->post_logout_uris, &cl->npost_logout,
		     "post_logout_redirect_uris", f)) < 0)
		goto out;
	if (a->backchannel_logout_uri && !uri_valid(a->backchannel_logout_uri)) {
		r = fault_field(
			f, "backchannel_logout_uri", "uri", "backchannel_logout_uri : une adresse absolue");
		goto out;
	}
	if (!strcmp(cl->auth_method, "private_key_jwt")) {
		struct jwks *k = NULL;
		if (!a->jwks || jwks_parse(a->jwks, strlen(a->jwks), &k) < 0 || jwks_count(k) == 0) {
			jwks_free(k);
			r = fault_field(f, "jwks", "jwks",
				"private_key_jwt : le JWKS du client (clés RSA ou EC P-256)");
			goto out;
		}
		jwks_free(k);
	}
	meta = json_pack("{s:s, s:b, s:b, s:s, s:s, s:o, s:o, s:s?, s:s?}", "name", a->name ? a->name : a->id,
		"public", cl->public_client, "first_party", cl->first_party, "token_endpoint_auth_method",
		cl->auth_method, "id_token_signed_response_alg", cl->alg, "redirect_uris",
		uris_json(cl->redirect_uris, cl->nredirect), "post_logout_redirect_uris",
		uris_json(cl->post_logout_uris, cl->npost_logout), "backchannel_logout_uri",
		a->backchannel_logout_uri, "jwks",
		!strcmp(cl->auth_method, "private_key_jwt") ? a->jwks : NULL);
	text = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
	dn = client_dn(c, a->id);
	if (!text || !dn) {
		r = -ENOMEM;
		goto out;
	}
	if (!strncmp(cl->auth_method, "client_secret_", 14)) {
		secret_token(secret);
		if ((r = secret_hash(a->id, secret, h)) < 0)
			goto out;
	}
	mods_init(&m);
	mods_add(&m, LDAP_MOD_ADD, "objectClass", "mmServiceClient");
	mods_addf(&m, LDAP_MOD_ADD, "mmClientId", CLIENT_PREFIX "%s", a->id);
	mods_add(&m, LDAP_MOD_ADD, "cn", a->name ? a->name : a->id);
	mods_add(&m, LDAP_MOD_ADD, "mmClientSecretHash", h);
	mods_add(&m, LDAP_MOD_ADD, "description", text);
	r = store_add(s, dn, &m);
	oidc_client_cache_clear();
	mods_free(&m);
	if (r == -EEXIST) {
		r = fault_field(f, "id", "taken", "un client %s existe déjà", a->id);
		goto out;
	}
	if (r < 0) {
		r = fault_store(f, r, "enregistrement du client");
		goto out;
	}
	memcpy(ret_secret, secret, SECRET_TOKEN_HEX);
out:
	audit(&au, r == 0, r == 0 ? NULL : f->message);
	secret_wipe(secret, sizeof(secret));
	secret_wipe(h, sizeof(h));
	json_decref(meta);
	free(text);
	free(dn);
	free(cl);
	return r;
}

int oidc_client_remove(
	struct store *s, const struct mm_config *c, const struct caller *who, const char *id, struct fault *f)
{
	struct audit_ctx au = {
		.event = "oidc-client-remove", .caller = who->name, .remote = who->rhost, .account = id};
	char *dn;
	int r;

	if (!id_valid(id))
		return fault_field(f, "id", "client_id", "identifiant de client invalide");
	dn = client_dn(c, id);
	if (!dn)
		return -ENOMEM;
	r = store_delete(s, dn);
	free(dn);
	oidc_client_cache_clear();
	/* Its tokens go with it: a removed client's access tokens must not keep opening userinfo
	 * or the mail server until they expire. */
	if (r == 0 && (r = oidc_client_grants_revoke(s, c, id)) < 0)
		r = fault_store(f, r, "révocation des jetons du client");
	else if (r == -ENOENT)
		r = fault_set(f, -ENOENT, "aucun client %s", id);
	else if (r < 0)
		r = fault_store(f, r, "suppression du client");
	audit(&au, r == 0, r == 0 ? NULL : f->message);
	return r;
}

static void uris_read(const json_t *a, char v[][OIDC_URI_MAX], size_t *n)
{
	size_t i;
	json_t *u;

	*n = 0;
	json_array_foreach(a, i, u)
	{
		if (*n == OIDC_URIS_MAX || !json_is_string(u))
			break;
		snprintf(v[(*n)++], OIDC_URI_MAX, "%s", json_string_value(u));
	}
}

static int client_from_entry(const struct entry *e, struct oidc_client **ret)
{
	const char *cid = entry_get(e, "mmClientId"), *desc = entry_get(e, "description");
	const char *h = entry_get(e, "mmClientSecretHash");
	struct oidc_client *cl;
	json_t *m;
	const char *jw;

	*ret = NULL;
	if (!cid || strncmp(cid, CLIENT_PREFIX, strlen(CLIENT_PREFIX)) || !desc)
		return -ENOENT;
	m = json_loads(desc, 0, NULL);
	if (!json_is_object(m)) {
		json_decref(m);
		return -EBADMSG;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		json_decref(m);
		return -ENOMEM;
	}
	snprintf(cl->id, sizeof(cl->id), "%s", cid + strlen(CLIENT_PREFIX));
	snprintf(cl->name, sizeof(cl->name), "%s", json_string_value(json_object_get(m, "name")) ?: cl->id);
	cl->public_client = json_is_true(json_object_get(m, "public"));
	cl->first_party = json_is_true(json_object_get(m, "first_party"));
	snprintf(cl->auth_method, sizeof(cl->auth_method), "%s",
		json_string_value(json_object_get(m, "token_endpoint_auth_method")) ?: "client_secret_basic");
	snprintf(cl->alg, sizeof(cl->alg), "%s",
		json_string_value(json_object_get(m, "id_token_signed_response_alg")) ?: "ES256");
	uris_read(json_object_get(m, "redirect_uris"), cl->redirect_uris, &cl->nredirect);
	uris_read(json_object_get(m, "post_logout_redirect_uris"), cl->post_logout_uris, &cl->npost_logout);
	snprintf(cl->backchannel_logout_uri, sizeof(cl->backchannel_logout_uri), "%s",
		json_string_value(json_object_get(m, "backchannel_logout_uri")) ?: "");
	jw = json_string_value(json_object_get(m, "jwks"));
	if (jw)
		cl->jwks = strdup(jw);
	if (h && strlen(h) == SECRET_HASH_HEX - 1)
		memcpy(cl->secret_hash, h, SECRET_HASH_HEX);
	json_decref(m);
	*ret = cl;
	return 0;
}

static const char *const client_attrs[] = {"mmClientId", "description", "mmClientSecretHash", "cn", NULL};

/* --- the clients read lately -------------------------------------------------
 * Every token, introspection and userinfo request reads its client: an entry
 * read is kept session_cache_ttl seconds, and dropped at once when a client
 * is added or removed here or, the directory followed (main.c), on another
 * daemon. A read begun before a drop does not put what it read back (gen). */
#define CLIENT_SLOTS 64u
static struct {
	pthread_mutex_t lock;
	unsigned long gen;
	struct {
		char id[OIDC_ID_MAX];
		long long until; /* monotonic seconds */
		struct oidc_client *cl;
	} slot[CLIENT_SLOTS];
} ccache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static unsigned client_slot(const char *id)
{
	unsigned h = 2166136261u; /* FNV-1a: ids are chosen by the administrators, not by callers */

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % CLIENT_SLOTS;
}

static int client_dup(const struct oidc_client *src, struct oidc_client **ret)
{
	struct oidc_client *cl = malloc(sizeof(*cl));

	if (!cl)
		return -ENOMEM;
	*cl = *src;
	cl->jwks = NULL;
	if (src->jwks && !(cl->jwks = strdup(src->jwks))) {
		oidc_client_free(cl);
		return -ENOMEM;
	}
	*ret = cl;
	return 0;
}

void oidc_client_cache_clear(void)
{
	pthread_mutex_lock(&ccache.lock);
	for (unsigned i = 0; i < CLIENT_SLOTS; i++) {
		oidc_client_free(ccache.slot[i].cl);
		memset(&ccache.slot[i], 0, sizeof(ccache.slot[i]));
	}
	ccache.gen++;
	pthread_mutex_unlock(&ccache.lock);
}

/* 0 and a copy, or 1: not cached; *gen for client_keep. */
static int client_cached(const char *id, struct oidc_client **ret, unsigned long *gen)
{
	unsigned i = client_slot(id);
	int r = 1;

	pthread_mutex_lock(&ccache.lock);
	if (ccache.slot[i].cl && !strcmp(ccache.slot[i].id, id) && ccache.slot[i].until > mm_mono_s())
		r = client_dup(ccache.slot[i].cl, ret);
	*gen = ccache.gen;
	pthread_mutex_unlock(&ccache.lock);
	return r;
}

static void client_keep(const struct mm_config *c, const struct oidc_client *cl, unsigned long gen)
{
	struct oidc_client *copy = NULL;
	unsigned i = client_slot(cl->id);

	if (client_dup(cl, &copy) < 0)
		return;
	pthread_mutex_lock(&ccache.lock);
	if (gen == ccache.gen) {
		oidc_client_free(ccache.slot[i].cl);
		snprintf(ccache.slot[i].id, sizeof(ccache.slot[i].id), "%s", cl->id);
		ccache.slot[i].cl = copy;
		ccache.slot[i].until = mm_mono_s() + c->session_cache_ttl;
		copy = NULL;
	}
	pthread_mutex_unlock(&ccache.lock);
	oidc_client_free(copy);
}

int oidc_client_get(struct store *s, const struct mm_config *c, const char *id, struct oidc_client **ret)
{
	struct entry *e = NULL;
	unsigned long gen = 0;
	char *dn;
	int r;

	*ret = NULL;
	if (!id_valid(id))
		return -ENOENT;
	if (c->session_cache_ttl && (r = client_cached(id, ret, &gen)) <= 0) {
		metrics_cache(METRICS_CACHE_OIDC_CLIENT, true);
		return r;
	}
	metrics_cache(METRICS_CACHE_OIDC_CLIENT, false);
	dn = client_dn(c, id);
	if (!dn)
		return -ENOMEM;
	r = store_read(s, dn, client_attrs, &e);
	free(dn);
	if (r < 0)
		return r;
	r = client_from_entry(e, ret);
	entry_free(e);
	if (r == 0 && c->session_cache_ttl)
		client_keep(c, *ret, gen);
	return r;
}

int oidc_client_list(struct store *s, const struct mm_config *c, struct oidc_client ***ret, size_t *ret_n)
{
	struct entry **v = NULL;
	struct oidc_client **out = NULL;
	size_t n = 0, k = 0;
	char *base = NULL;
	int r;

	*ret = NULL;
	*ret_n = 0;
	if (asprintf(&base, "ou=services,%s", c->ldap_base) < 0)
		return -ENOMEM;
	r = store_search_all(
		s, base, LDAP_SCOPE_ONELEVEL, "(objectClass=mmServiceClient)", client_attrs, &v, &n);
	free(base);
	if (r < 0)
		return r;
	out = calloc(n ? n : 1, sizeof(*out));
	if (!out) {
		entries_free(v, n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if (client_from_entry(v[i], &out[k]) == 0)
			k++;
	entries_free(v, n);
	*ret = out;
	*ret_n = k;
	return 0;
}

void oidc_client_free(struct oidc_client *cl)
{
	if (!cl)
		return;
	free(cl->jwks);
	secret_wipe(cl->secret_hash, sizeof(cl->secret_hash));
	free(cl);
}

void oidc_clients_free(struct oidc_client **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		oidc_client_free(v[i]);
	free(v);
}

int oidc_client_secret_check(const struct oidc_client *cl, const char *secret)
{
	char h[SECRET_HASH_HEX];
	int r = -EACCES;

	if (!secret || strlen(secret) != SECRET_TOKEN_HEX - 1 || !cl->secret_hash[0])
		return -EACCES;
	if (secret_hash(cl->id, secret, h) == 0 && secret_equal(h, cl->secret_hash))
		r = 0;
	secret_wipe(h, sizeof(h));
	return r;
}

static bool uri_in(char v[][OIDC_URI_MAX], size_t n, const char *uri)
{
	for (size_t i = 0; uri && i < n; i++)
		if (!strcmp(v[i], uri))
			return true;
	return false;
}

bool oidc_client_redirect_ok(const struct oidc_client *cl, const char *uri)
{
	return uri_in((char(*)[OIDC_URI_MAX])cl->redirect_uris, cl->nredirect, uri);
}

bool oidc_client_post_logout_ok(const struct oidc_client *cl, const char *uri)
{
	return uri_in((char(*)[OIDC_URI_MAX])cl->post_logout_uris, cl->npost_logout, uri);
}

int oidc_client_assertion_check(struct store *s, const struct mm_config *c, const struct oidc_client *cl,
	const char *assertion, const char *issuer, const char *token_endpoint)
{
	struct idtoken_expect x = {
		.issuer = cl->id, .audience = token_endpoint, .now = (long long)time(NULL), .leeway = 30};
	struct jwks *k = NULL;
	json_t *claims = NULL;
	const char *why = NULL, *sub, *jti, *aud;
	json_int_t exp;
	int r = -EACCES;

	if (!cl->jwks || strcmp(cl->auth_method, "private_key_jwt"))
		return -EACCES;
	if (jwks_parse(cl->jwks, strlen(cl->jwks), &k) < 0)
		return -EACCES;
	if (jws_verify(k, assertion, &claims, NULL) < 0)
		goto out;
	/* aud may be the token endpoint or the issuer (OpenID Connect Core 9) */
	aud = json_string_value(json_object_get(claims, "aud"));
	if (aud && !strcmp(aud, issuer))
		x.audience = issuer;
	if (idtoken_check(claims, &x, &why) < 0)
		goto out;
	sub = json_string_value(json_object_get(claims, "sub"));
	jti = json_string_value(json_object_get(claims, "jti"));
	exp = json_integer_value(json_object_get(claims, "exp"));
	if (!sub || strcmp(sub, cl->id) || !jti || !*jti || strlen(jti) > 256 || exp > x.now + 600)
		goto out;
	/* single use: the jti is kept until the assertion expires; a second add fails */
	{
		char *handle = NULL;
		struct record rec = {.method = RECORD_OIDC_JTI, .expires = (long long)exp + 30};
		if (asprintf(&handle, "%s:%s", cl->id, jti) < 0)
			goto out;
		r = record_put(s, c, RECORD_OIDC_JTI, handle, &rec);
		free(handle);
		if (r < 0)
			r = -EACCES;
	}
out:
	json_decref(claims);
	jwks_free(k);
	return r;
}
