/* What the provider says of a user: the claims by scope, acr/amr of the login method, the ID token. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

int oidc_claims(struct store *s, const struct mm_config *c, const char *user_dn, const char *account_dn,
	const char *scope, json_t *o)
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
