/* The end of a browser session for the provider: its grants revoked, each client told by back-channel logout. */
#include <curl/curl.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwt.h"
#include "log.h"
#include "oidc.h"

#define BCL_EVENT "http://schemas.openid.net/event/backchannel-logout"
#define BCL_TIMEOUT 5L
#define SID_CLIENTS_MAX 32

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
	(void)p;
	(void)ctx;
	return size * n;
}

/* POSTs a logout token for sub/sid to the client's backchannel_logout_uri. */
static int backchannel_send(const struct mm_config *c, const struct oidc_client *cl, const char *issuer,
	const char *sub, const char *sid)
{
	long long now = (long long)time(NULL);
	unsigned char rnd[16];
	char jti[32], *jwt = NULL, *body = NULL, *esc;
	json_t *o;
	CURL *h;
	long code = 0;
	int r;

	randombytes_buf(rnd, sizeof(rnd));
	b64url_encode(rnd, sizeof(rnd), jti, sizeof(jti));
	o = json_pack("{s:s, s:s, s:I, s:I, s:s, s:{s:{}}, s:s, s:s?}", "iss", issuer, "aud", cl->id, "iat",
		(json_int_t)now, "exp", (json_int_t)(now + 120), "jti", jti, "events", BCL_EVENT, "sid", sid,
		"sub", sub);
	if (!o)
		return -ENOMEM;
	r = oidc_sign(c, cl->alg, "logout+jwt", o, &jwt);
	json_decref(o);
	if (r < 0)
		return r;
	h = curl_easy_init();
	if (!h) {
		free(jwt);
		return -ENOMEM;
	}
	esc = curl_easy_escape(h, jwt, 0);
	if (!esc || asprintf(&body, "logout_token=%s", esc) < 0) {
		body = NULL;
		r = -ENOMEM;
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, cl->backchannel_logout_uri);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, BCL_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	r = curl_easy_perform(h) == CURLE_OK ? 0 : -EIO;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (r == 0 && (code < 200 || code >= 300))
		r = -EIO;
out:
	curl_free(esc);
	curl_easy_cleanup(h);
	free(body);
	free(jwt);
	return r;
}

int oidc_session_end(struct store *s, const struct mm_config *c, const char *issuer, const char *sid)
{
	static const char *const attrs[] = {"mmSessionUser", "description", NULL};
	static const char *const uattrs[] = {"entryUUID", NULL};
	char clients[SID_CLIENTS_MAX][OIDC_ID_MAX], sub[80] = "";
	struct entry **v = NULL;
	char *base = NULL, *filter = NULL, *dn;
	size_t n = 0, nc = 0;
	int r;

	if (!sid || strlen(sid) != SECRET_HASH_HEX - 1 ||
		strspn(sid, "0123456789abcdef") != SECRET_HASH_HEX - 1)
		return -EINVAL;
	if (asprintf(&base, "ou=sessions,%s", c->ldap_base) < 0 ||
		asprintf(&filter, "(&(objectClass=mmSession)(description=*\"sid\":\"%s\"*))", sid) < 0) {
		free(base);
		return -ENOMEM;
	}
	r = store_search_all(s, base, LDAP_SCOPE_ONELEVEL, filter, attrs, &v, &n);
	free(base);
	free(filter);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		const struct attr *d = entry_attr(v[i], "description");
		for (size_t k = 0; d && k < d->nvals; k++) {
			json_t *o =
				strncmp(d->vals[k], "data:", 5) ? NULL : json_loads(d->vals[k] + 5, 0, NULL);
			const char *cid = json_string_value(json_object_get(o, "client"));
			const char *fam = json_string_value(json_object_get(o, "family"));
			bool seen = false;
			if (fam) {
				int x = oidc_family_revoke(s, c, fam);
				(void)x;
			}
			for (size_t j = 0; cid && j < nc; j++)
				if (!strcmp(clients[j], cid))
					seen = true;
			if (cid && !seen && nc < SID_CLIENTS_MAX && strlen(cid) < OIDC_ID_MAX)
				snprintf(clients[nc++], OIDC_ID_MAX, "%s", cid);
			json_decref(o);
		}
		if (!sub[0] && entry_get(v[i], "mmSessionUser")) {
			struct entry *u = NULL;
			if (store_read(s, entry_get(v[i], "mmSessionUser"), uattrs, &u) == 0 &&
				entry_get(u, "entryUUID"))
				snprintf(sub, sizeof(sub), "%s", entry_get(u, "entryUUID"));
			entry_free(u);
		}
	}
	entries_free(v, n);
	/* the browser session itself: its record id is the sid */
	dn = records_dn(c, sid);
	if (dn) {
		int x = store_delete(s, dn);
		(void)x;
		free(dn);
	}
	for (size_t j = 0; j < nc; j++) {
		struct oidc_client *cl = NULL;
		if (oidc_client_get(s, c, clients[j], &cl) == 0 && cl->backchannel_logout_uri[0]) {
			int x = backchannel_send(c, cl, issuer, sub[0] ? sub : NULL, sid);
			struct audit_ctx a = {
				.event = "oidc-backchannel-logout", .caller = "oidc", .service = cl->id};
			audit(&a, x == 0, x == 0 ? NULL : "the client did not take the logout token");
		}
		oidc_client_free(cl);
	}
	return (int)nc;
}
