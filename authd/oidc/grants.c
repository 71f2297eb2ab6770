/* Authorization requests, codes, access and refresh tokens as ou=sessions records, in families revoked as one. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwt.h"
#include "log.h"
#include "oidc.h"
#include "secret.h"

#define AUTHZ_TTL 900 /* the login may take a while (mailed code) */
#define FAMILY_PREFIX "oidc:"

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

/* --- the one encoding of a grant in a record's data ----------------------- */

static char *grant_text(const struct oidc_grant *g, long long exp)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:I}", "client",
		g->client_id, "account", g->account_dn, "scope", g->scope, "nonce", g->nonce, "method",
		g->method, "auth_time", (json_int_t)g->auth_time, "family", g->family, "sid", g->sid,
		"redirect_uri", g->redirect_uri, "code_challenge", g->code_challenge, "exp", (json_int_t)exp);
	char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return t;
}

#define COPY(dst, o, k) snprintf((dst), sizeof(dst), "%s", json_string_value(json_object_get((o), (k))) ?: "")

static int grant_read(const struct entry *e, struct oidc_grant *g)
{
	const char *d = record_data(e), *u = entry_get(e, "mmSessionUser");
	json_t *o = d ? json_loads(d, 0, NULL) : NULL;

	memset(g, 0, sizeof(*g));
	if (!json_is_object(o) || !u) {
		json_decref(o);
		return -EBADMSG;
	}
	COPY(g->client_id, o, "client");
	COPY(g->scope, o, "scope");
	COPY(g->nonce, o, "nonce");
	COPY(g->method, o, "method");
	COPY(g->family, o, "family");
	COPY(g->sid, o, "sid");
	COPY(g->redirect_uri, o, "redirect_uri");
	COPY(g->code_challenge, o, "code_challenge");
	COPY(g->account_dn, o, "account");
	g->auth_time = json_integer_value(json_object_get(o, "auth_time"));
	g->exp = json_integer_value(json_object_get(o, "exp"));
	snprintf(g->user_dn, sizeof(g->user_dn), "%s", u);
	json_decref(o);
	return 0;
}

static int grant_put(struct store *s, const struct mm_config *c, const char *kind, const char *handle,
	const struct oidc_grant *g, long long exp)
{
	char fam[80], *text = grant_text(g, exp);
	struct record rec = {
		.user_dn = g->user_dn, .method = kind, .service = fam, .data = text, .expires = exp};
	int r;

	snprintf(fam, sizeof(fam), FAMILY_PREFIX "%s", g->family);
	if (!text)
		return -ENOMEM;
	r = record_put(s, c, kind, handle, &rec);
	free(text);
	return r;
}

int oidc_family_revoke(struct store *s, const struct mm_config *c, const char *family)
{
	static const char *const attrs[] = {"1.1", NULL};
	struct entry **v = NULL;
	char *base = NULL, *filter = NULL, *esc;
	size_t n = 0;
	int r;

	if (!family || !*family)
		return 0;
	/* The mark first, then the search: a rotation racing with this writes its
	 * tokens, then looks for the mark (oidc_tokens_issue), so one of the two
	 * sees the other's work. */
	r = flow_put(s, c, RECORD_OIDC_FAMILY_DEAD, family, NULL, "revoked", c->op_refresh_token_ttl);
	if (r < 0 && r != -EEXIST)
		return r;
	esc = store_escape(family);
	if (!esc || asprintf(&base, "ou=sessions,%s", c->ldap_base) < 0 ||
		asprintf(&filter, "(&(objectClass=mmSession)(mmSessionService=" FAMILY_PREFIX "%s))", esc) <
			0) {
		free(esc);
		free(base);
		return -ENOMEM;
	}
	free(esc);
	r = store_search_all(s, base, LDAP_SCOPE_ONELEVEL, filter, attrs, &v, &n);
	for (size_t i = 0; r == 0 && i < n; i++) {
		int d = store_delete(s, v[i]->dn);
		if (d < 0 && d != -ENOENT)
			r = d;
	}
	entries_free(v, n);
	free(base);
	free(filter);
	return r;
}

int oidc_client_grants_revoke(struct store *s, const struct mm_config *c, const char *client_id)
{
	static const char *const attrs[] = {"mmSessionService", NULL};
	struct entry **v = NULL;
	char needle[OIDC_ID_MAX + 16], *base = NULL, *filter = NULL, *esc;
	size_t n = 0;
	int r;

	/* The grant's one encoding (grant_text) is compact JSON: the client as "client":"<id>", the
	 * closing quote keeping "rpa" from matching "rpab". */
	snprintf(needle, sizeof(needle), "\"client\":\"%s\"", client_id);
	esc = store_escape(needle);
	if (!esc || asprintf(&base, "ou=sessions,%s", c->ldap_base) < 0 ||
		asprintf(&filter, "(&(objectClass=mmSession)(description=*%s*))", esc) < 0) {
		free(esc);
		free(base);
		return -ENOMEM;
	}
	free(esc);
	r = store_search_all(s, base, LDAP_SCOPE_ONELEVEL, filter, attrs, &v, &n);
	if (r == -ENOENT)
		r = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		const char *fam = entry_get(v[i], "mmSessionService");

		if (fam && !strncmp(fam, FAMILY_PREFIX, strlen(FAMILY_PREFIX)))
			r = oidc_family_revoke(s, c, fam + strlen(FAMILY_PREFIX));
	}
	entries_free(v, n);
	free(base);
	free(filter);
	return r;
}

int oidc_code_issue(
	struct store *s, const struct mm_config *c, struct oidc_grant *g, char ret_code[SECRET_TOKEN_HEX])
{
	char code[SECRET_TOKEN_HEX];
	int r;

	secret_token(g->family);
	secret_token(code);
	r = grant_put(s, c, RECORD_OIDC_CODE, code, g, now_s() + c->op_code_ttl);
	if (r == 0)
		memcpy(ret_code, code, sizeof(code));
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

int oidc_code_redeem(struct store *s, const struct mm_config *c, const char *code, const char *client_id,
	const char *redirect_uri, const char *verifier, struct oidc_grant *ret, struct fault *f)
{
	struct entry *e = NULL;
	struct oidc_grant g;
	int r;

	if (!code || strlen(code) != SECRET_TOKEN_HEX - 1)
		return fault_set(f, -EACCES, "code inconnu");
	r = record_load(s, c, RECORD_OIDC_CODE, code, &e);
	if (r == -ENOENT || r == -ETIMEDOUT) {
		/* used before? then what its first use gave is revoked (RFC 6749 4.1.2) */
		struct entry *u = NULL;
		if (record_load(s, c, RECORD_OIDC_CODE_USED, code, &u) == 0 && grant_read(u, &g) == 0) {
			int d = oidc_family_revoke(s, c, g.family);
			(void)d;
			entry_free(u);
			return fault_set(
				f, -EACCES, "code déjà utilisé : les jetons qu'il a donnés sont révoqués");
		}
		entry_free(u);
		return fault_set(f, -EACCES, r == -ETIMEDOUT ? "code expiré" : "code inconnu");
	}
	if (r < 0)
		return fault_store(f, r, "lecture du code");
	r = grant_read(e, &g);
	if (r < 0)
		goto out;
	if (strcmp(g.client_id, client_id)) {
		r = fault_set(f, -EACCES, "code donné à un autre client");
		goto out;
	}
	/* single use: the first delete wins, on any daemon */
	r = record_delete(s, e);
	if (r == -ENOENT) {
		r = fault_set(f, -EACCES, "code déjà utilisé");
		goto out;
	}
	if (r < 0) {
		r = fault_store(f, r, "code");
		goto out;
	}
	r = grant_put(s, c, RECORD_OIDC_CODE_USED, code, &g, now_s() + c->op_refresh_token_ttl);
	(void)r;
	if (!redirect_uri || strcmp(g.redirect_uri, redirect_uri)) {
		r = fault_set(f, -EACCES, "redirect_uri différente de celle de la demande");
		goto out;
	}
	if (g.code_challenge[0] ? !pkce_ok(verifier, g.code_challenge) : verifier != NULL) {
		r = fault_set(f, -EACCES, "code_verifier ne correspond pas au code_challenge (PKCE S256)");
		goto out;
	}
	*ret = g;
	r = 0;
out:
	if (r < 0 && r != -ENOMEM && g.family[0] && f->status == -EACCES && strstr(f->message, "PKCE")) {
		int d = oidc_family_revoke(s, c, g.family);
		(void)d;
	}
	entry_free(e);
	return r;
}

int oidc_tokens_issue(struct store *s, const struct mm_config *c, const struct oidc_grant *g,
	char ret_at[SECRET_TOKEN_HEX], char ret_rt[SECRET_TOKEN_HEX])
{
	char at[SECRET_TOKEN_HEX], rt[SECRET_TOKEN_HEX];
	long long now = now_s();
	int r;

	secret_token(at);
	secret_token(rt);
	r = grant_put(s, c, RECORD_OIDC_AT, at, g, now + c->op_access_token_ttl);
	if (r == 0)
		r = grant_put(s, c, RECORD_OIDC_RT, rt, g, now + c->op_refresh_token_ttl);
	if (r == 0) {
		/* revoked meanwhile (a parallel reuse)? then these go too */
		char *acct = NULL, *data = NULL;
		if (flow_get(s, c, RECORD_OIDC_FAMILY_DEAD, g->family, &acct, &data) == 0) {
			int d = oidc_family_revoke(s, c, g->family);
			(void)d;
			r = -EACCES;
		}
		free(acct);
		free(data);
	}
	if (r == 0) {
		memcpy(ret_at, at, sizeof(at));
		memcpy(ret_rt, rt, sizeof(rt));
	}
	secret_wipe(at, sizeof(at));
	secret_wipe(rt, sizeof(rt));
	return r;
}

int oidc_refresh_redeem(struct store *s, const struct mm_config *c, const char *rt, const char *client_id,
	struct oidc_grant *ret, struct fault *f)
{
	struct entry *e = NULL;
	struct oidc_grant g;
	int r;

	if (!rt || strlen(rt) != SECRET_TOKEN_HEX - 1)
		return fault_set(f, -EACCES, "refresh_token inconnu");
	r = record_load(s, c, RECORD_OIDC_RT, rt, &e);
	if (r == -ENOENT || r == -ETIMEDOUT) {
		struct entry *u = NULL;
		if (record_load(s, c, RECORD_OIDC_RT_USED, rt, &u) == 0 && grant_read(u, &g) == 0) {
			int d = oidc_family_revoke(s, c, g.family);
			(void)d;
			entry_free(u);
			struct audit_ctx au = {
				.event = "oidc-refresh-reuse", .caller = client_id, .account = g.user_dn};
			audit(&au, false, "an old refresh token was presented: its family is revoked");
			return fault_set(
				f, -EACCES, "refresh_token déjà utilisé : toute la famille est révoquée");
		}
		entry_free(u);
		return fault_set(f, -EACCES, "refresh_token inconnu ou expiré");
	}
	if (r < 0)
		return fault_store(f, r, "lecture du refresh_token");
	if ((r = grant_read(e, &g)) < 0)
		goto out;
	if (strcmp(g.client_id, client_id)) {
		r = fault_set(f, -EACCES, "refresh_token d'un autre client");
		goto out;
	}
	r = record_delete(s, e);
	if (r == -ENOENT) {
		int d = oidc_family_revoke(s, c, g.family);
		(void)d;
		r = fault_set(f, -EACCES, "refresh_token déjà utilisé : toute la famille est révoquée");
		goto out;
	}
	if (r < 0) {
		r = fault_store(f, r, "refresh_token");
		goto out;
	}
	r = grant_put(s, c, RECORD_OIDC_RT_USED, rt, &g, now_s() + c->op_refresh_token_ttl);
	(void)r;
	*ret = g;
	r = 0;
out:
	entry_free(e);
	return r;
}

int oidc_access_check(struct store *s, const struct mm_config *c, const char *at, struct oidc_grant *ret)
{
	struct entry *e = NULL;
	int r;

	if (!at || strlen(at) != SECRET_TOKEN_HEX - 1)
		return -ENOENT;
	r = record_load(s, c, RECORD_OIDC_AT, at, &e);
	if (r == -ETIMEDOUT)
		r = -ENOENT;
	if (r == 0)
		r = grant_read(e, ret);
	entry_free(e);
	return r;
}

int oidc_refresh_check(struct store *s, const struct mm_config *c, const char *rt, const char *client_id,
	struct oidc_grant *ret)
{
	struct entry *e = NULL;
	struct oidc_grant g;
	int r;

	if (!rt || strlen(rt) != SECRET_TOKEN_HEX - 1 || !client_id)
		return -ENOENT;
	r = record_load(s, c, RECORD_OIDC_RT, rt, &e);
	if (r == -ENOENT || r == -ETIMEDOUT) {
		/* rotated already: whoever holds it now is not its client, so the family goes */
		entry_free(e);
		e = NULL;
		if (record_load(s, c, RECORD_OIDC_RT_USED, rt, &e) == 0 && grant_read(e, &g) == 0) {
			int d = oidc_family_revoke(s, c, g.family);
			(void)d;
			struct audit_ctx au = {
				.event = "oidc-refresh-reuse", .caller = client_id, .account = g.user_dn};
			audit(&au, false, "an old refresh token was introspected: its family is revoked");
		}
		entry_free(e);
		return -ENOENT;
	}
	if (r == 0)
		r = grant_read(e, &g);
	entry_free(e);
	if (r < 0)
		return r;
	if (strcmp(g.client_id, client_id))
		return -ENOENT; /* another client's: as unknown */
	*ret = g;
	return 0;
}

int oidc_token_revoke(struct store *s, const struct mm_config *c, const char *token, const char *client_id)
{
	static const char *const kinds[] = {RECORD_OIDC_AT, RECORD_OIDC_RT};
	struct oidc_grant g;

	if (!token || strlen(token) != SECRET_TOKEN_HEX - 1)
		return 0; /* RFC 7009: an invalid token is no error */
	for (size_t i = 0; i < 2; i++) {
		struct entry *e = NULL;
		int r = record_load(s, c, kinds[i], token, &e);
		if (r == -ENOENT || r == -ETIMEDOUT)
			continue;
		if (r < 0)
			return r;
		r = grant_read(e, &g);
		if (r == 0 && strcmp(g.client_id, client_id))
			r = -EACCES; /* another client's token: left alone */
		else if (r == 0)
			r = i == 0 ? record_delete(s, e) : oidc_family_revoke(s, c, g.family);
		entry_free(e);
		return r == -ENOENT ? 0 : r;
	}
	return 0;
}
