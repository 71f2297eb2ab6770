/* Pro Santé Connect, the provider side (provider.h): client secret, HTTP client, discovery, JWKS,
 * ID token and userinfo verification. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jwt.h"
#include "provider.h"

#define HTTP_MAX_BODY (1024u * 1024u)
#define DISCOVERY_TTL 3600
#define JWKS_MIN_REFRESH 5 /* seconds between two refreshes forced by the same unknown kid */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *client_secret;
/* Discovered endpoints, when the configuration does not name them. */
static struct {
	long long at;
	char *authorization, *token, *userinfo, *jwks, *ciba;
} disc;
static struct jwks *keys;
static long long keys_at;
static char keys_miss_kid[64]; /* the unknown kid that forced the last refresh */

long long psc_now(void)
{
	return (long long)time(NULL);
}

bool psc_enabled(const struct mm_config *c)
{
	return c->psc_issuer && client_secret;
}

bool psc_handle_valid(const char *h)
{
	size_t n = 0;

	for (; h[n]; n++)
		if (n >= PSC_HANDLE_LEN || !((h[n] >= '0' && h[n] <= '9') || (h[n] >= 'a' && h[n] <= 'f')))
			return false;
	return n == PSC_HANDLE_LEN;
}

int psc_init(const struct mm_config *c, char *errbuf, size_t errlen)
{
	char buf[512];
	struct stat st;
	ssize_t n;
	int fd;

	if (!c->psc_issuer)
		return 0;
	fd = open(c->psc_client_secret_file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(errbuf, errlen, "%s: %s", c->psc_client_secret_file, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		close(fd);
		snprintf(
			errbuf, errlen, "%s: must be a regular file of mode 0600", c->psc_client_secret_file);
		return -EPERM;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || n == (ssize_t)sizeof(buf) - 1) {
		snprintf(errbuf, errlen, "%s: empty or too long", c->psc_client_secret_file);
		return -EINVAL;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	client_secret = strdup(buf);
	sodium_memzero(buf, sizeof(buf));
	return client_secret ? 0 : -ENOMEM;
}

void psc_cleanup(void)
{
	pthread_mutex_lock(&lock);
	secret_free(client_secret);
	client_secret = NULL;
	free(disc.authorization);
	free(disc.token);
	free(disc.userinfo);
	free(disc.jwks);
	free(disc.ciba);
	memset(&disc, 0, sizeof(disc));
	jwks_free(keys);
	keys = NULL;
	pthread_mutex_unlock(&lock);
}

void psc_identity_clear(struct psc_identity *id)
{
	free(id->account_dn);
	free(id->ref_pro);
	memset(id, 0, sizeof(*id));
}

/* --- HTTP client ------------------------------------------------------- */

static size_t on_data(char *p, size_t sz, size_t nm, void *arg)
{
	struct psc_resp *r = arg;
	size_t n = sz * nm;
	char *nb;

	if (r->len + n > HTTP_MAX_BODY) {
		r->too_big = true;
		return 0;
	}
	nb = realloc(r->body, r->len + n + 1);
	if (!nb)
		return 0;
	memcpy(nb + r->len, p, n);
	r->body = nb;
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

void psc_resp_free(struct psc_resp *r)
{
	if (r->body) {
		sodium_memzero(r->body, r->len);
		free(r->body);
	}
	memset(r, 0, sizeof(*r));
}

/* https, or plain http to a loopback host (tests, a local proxy). */
static bool url_allowed(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	bool ok = false;

	if (!u)
		return false;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		if (!strcmp(scheme, "https"))
			ok = true;
		else if (!strcmp(scheme, "http"))
			ok = !strcmp(host, "127.0.0.1") || !strcmp(host, "localhost") ||
				!strcmp(host, "[::1]");
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

/* client_secret_basic: id and secret form-encoded, then base64 (RFC 6749 2.3.1). */
static char *basic_header(const char *id, const char *secret)
{
	char *eid = curl_easy_escape(NULL, id, 0), *esec = curl_easy_escape(NULL, secret, 0);
	char *pair = NULL, *hdr = NULL, *b64 = NULL;
	size_t b64len;

	if (!eid || !esec || asprintf(&pair, "%s:%s", eid, esec) < 0) {
		pair = NULL;
		goto out;
	}
	b64len = sodium_base64_ENCODED_LEN(strlen(pair), sodium_base64_VARIANT_ORIGINAL);
	b64 = malloc(b64len);
	if (!b64)
		goto out;
	sodium_bin2base64(
		b64, b64len, (const unsigned char *)pair, strlen(pair), sodium_base64_VARIANT_ORIGINAL);
	if (asprintf(&hdr, "Authorization: Basic %s", b64) < 0)
		hdr = NULL;
out:
	if (esec) {
		sodium_memzero(esec, strlen(esec));
		curl_free(esec);
	}
	curl_free(eid);
	secret_free(pair);
	secret_free(b64);
	return hdr;
}

int psc_call(const struct mm_config *c, const char *url, const char *form, bool client_auth,
	const char *bearer, struct psc_resp *ret)
{
	struct curl_slist *hdrs = NULL;
	char *auth = NULL, *ct = NULL;
	CURL *h;
	int r = -EHOSTUNREACH;

	memset(ret, 0, sizeof(*ret));
	if (!url || !url_allowed(url))
		return -EHOSTUNREACH;
	h = curl_easy_init();
	if (!h)
		return -ENOMEM;
	if (client_auth) {
		pthread_mutex_lock(&lock);
		auth = client_secret ? basic_header(c->psc_client_id, client_secret) : NULL;
		pthread_mutex_unlock(&lock);
		if (!auth) {
			r = -ENOMEM;
			goto out;
		}
		hdrs = curl_slist_append(hdrs, auth);
	} else if (bearer) {
		if (asprintf(&auth, "Authorization: Bearer %s", bearer) < 0) {
			auth = NULL;
			r = -ENOMEM;
			goto out;
		}
		hdrs = curl_slist_append(hdrs, auth);
	}
	hdrs = curl_slist_append(hdrs, "Accept: application/json, application/jwt");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)c->psc_timeout);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, ret);
	if (form)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
	if (curl_easy_perform(h) != CURLE_OK)
		goto out;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ret->status);
	if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
		snprintf(ret->ctype, sizeof(ret->ctype), "%s", ct);
	r = 0;
out:
	if (r < 0)
		psc_resp_free(ret);
	curl_slist_free_all(hdrs);
	secret_free(auth);
	curl_easy_cleanup(h);
	return r;
}

json_t *psc_resp_json(const struct psc_resp *r)
{
	json_t *o;

	if (!r->body || !json_depth_ok(r->body, r->len, 16))
		return NULL;
	o = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, NULL);
	if (o && !json_is_object(o)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* --- discovery and keys -------------------------------------------------- */

static void set_disc(char **dst, const json_t *doc, const char *name)
{
	const char *v = json_string_value(json_object_get(doc, name));

	free(*dst);
	*dst = v ? strdup(v) : NULL;
}

static int discover(const struct mm_config *c)
{
	char *url = NULL;
	struct psc_resp rs;
	json_t *doc = NULL;
	const char *iss;
	int r;

	if (c->psc_authorization_endpoint && c->psc_token_endpoint && c->psc_jwks_uri)
		return 0;
	pthread_mutex_lock(&lock);
	r = disc.at && disc.at + DISCOVERY_TTL > psc_now();
	pthread_mutex_unlock(&lock);
	if (r)
		return 0;
	if (c->psc_discovery_url)
		url = strdup(c->psc_discovery_url);
	else if (asprintf(&url, "%s/.well-known/wallet-openid-configuration", c->psc_issuer) < 0)
		url = NULL;
	if (!url)
		return -ENOMEM;
	r = psc_call(c, url, NULL, false, NULL, &rs);
	free(url);
	if (r < 0)
		return r;
	doc = psc_resp_json(&rs);
	iss = json_string_value(json_object_get(doc, "issuer"));
	/* A discovery document that names another issuer is not ours to trust. */
	if (rs.status != 200 || !iss || strcmp(iss, c->psc_issuer)) {
		r = -EHOSTUNREACH;
		goto out;
	}
	pthread_mutex_lock(&lock);
	set_disc(&disc.authorization, doc, "authorization_endpoint");
	set_disc(&disc.token, doc, "token_endpoint");
	set_disc(&disc.userinfo, doc, "userinfo_endpoint");
	set_disc(&disc.jwks, doc, "jwks_uri");
	set_disc(&disc.ciba, doc, "backchannel_authentication_endpoint");
	disc.at = psc_now();
	pthread_mutex_unlock(&lock);
	r = 0;
out:
	json_decref(doc);
	psc_resp_free(&rs);
	return r;
}

/* The endpoint from the configuration, else from discovery (a copy). */
static char *endpoint(const struct mm_config *c, const char *configured, char **discovered)
{
	char *v;

	if (configured)
		return strdup(configured);
	if (discover(c) < 0)
		return NULL;
	pthread_mutex_lock(&lock);
	v = *discovered ? strdup(*discovered) : NULL;
	pthread_mutex_unlock(&lock);
	return v;
}

char *psc_endpoint(const struct mm_config *c, enum psc_endpoint ep)
{
	switch (ep) {
	case PSC_EP_AUTHORIZATION: return endpoint(c, c->psc_authorization_endpoint, &disc.authorization);
	case PSC_EP_TOKEN: return endpoint(c, c->psc_token_endpoint, &disc.token);
	case PSC_EP_USERINFO: return endpoint(c, c->psc_userinfo_endpoint, &disc.userinfo);
	case PSC_EP_JWKS: return endpoint(c, c->psc_jwks_uri, &disc.jwks);
	case PSC_EP_CIBA: return endpoint(c, c->psc_ciba_endpoint, &disc.ciba);
	}
	return NULL;
}

char *psc_esc(const char *v)
{
	return curl_easy_escape(NULL, v ? v : "", 0);
}

/* Fetches the JWKS. forced_by: the unknown kid that asks for it (NULL: first
 * fetch); a kid already refreshed for is not fetched again for a few seconds. */
static int keys_refresh(const struct mm_config *c, const char *forced_by)
{
	char *url = endpoint(c, c->psc_jwks_uri, &disc.jwks);
	struct jwks *nk = NULL;
	struct psc_resp rs;
	int r;

	if (!url)
		return -EHOSTUNREACH;
	pthread_mutex_lock(&lock);
	r = forced_by && !strcmp(forced_by, keys_miss_kid) && keys_at + JWKS_MIN_REFRESH > psc_now();
	if (!r && forced_by)
		snprintf(keys_miss_kid, sizeof(keys_miss_kid), "%s", forced_by);
	pthread_mutex_unlock(&lock);
	if (r) {
		free(url);
		return -EAGAIN;
	}
	r = psc_call(c, url, NULL, false, NULL, &rs);
	free(url);
	if (r < 0)
		return r;
	if (rs.status != 200 || jwks_parse(rs.body ? rs.body : "", rs.len, &nk) < 0) {
		psc_resp_free(&rs);
		return -EHOSTUNREACH;
	}
	psc_resp_free(&rs);
	pthread_mutex_lock(&lock);
	jwks_free(keys);
	keys = nk;
	keys_at = psc_now();
	pthread_mutex_unlock(&lock);
	return 0;
}

/* Verifies a JWS with the cached JWKS, refreshing it once on an unknown kid. */
static int verify_jws(const struct mm_config *c, const char *jws, json_t **ret)
{
	char kid[64] = "";
	bool had;
	int r;

	pthread_mutex_lock(&lock);
	had = keys != NULL;
	r = jws_verify(keys, jws, ret, kid);
	pthread_mutex_unlock(&lock);
	if (r != -ENOKEY)
		return r;
	if (keys_refresh(c, had ? kid : NULL) < 0)
		return -ENOKEY;
	pthread_mutex_lock(&lock);
	r = jws_verify(keys, jws, ret, NULL);
	pthread_mutex_unlock(&lock);
	return r;
}

/* --- identity ------------------------------------------------------------ */

static void claim(const json_t *o, const char *name, char *out, size_t n)
{
	const char *v = json_string_value(json_object_get(o, name));

	if (v && strlen(v) < n)
		snprintf(out, n, "%s", v);
}

/* The professional record (SubjectRefPro), kept as JSON for the registration it may fill. */
static void claim_ref_pro(const json_t *o, struct psc_identity *id)
{
	const json_t *v = json_object_get(o, "SubjectRefPro");
	char *text;

	if (!json_is_object(v) || !(text = json_dumps(v, JSON_COMPACT)))
		return;
	free(id->ref_pro);
	id->ref_pro = text;
}

/* The aud of a signed userinfo: our client id, or an array holding it. */
static bool aud_names(const json_t *aud, const char *client_id)
{
	const json_t *v;
	size_t i;

	if (json_is_string(aud))
		return !strcmp(json_string_value(aud), client_id);
	json_array_foreach(aud, i, v)
	{
		if (json_is_string(v) && !strcmp(json_string_value(v), client_id))
			return true;
	}
	return false;
}

/* Verifies the ID token of a token response, reads userinfo, fills id. */
int psc_identity_from(const struct mm_config *c, const json_t *tok, const char *nonce,
	struct psc_identity *id, const char **why)
{
	const char *idt = json_string_value(json_object_get(tok, "id_token"));
	const char *at = json_string_value(json_object_get(tok, "access_token"));
	struct idtoken_expect x = {.issuer = c->psc_issuer,
		.audience = c->psc_client_id,
		.nonce = nonce,
		.acr = c->psc_acr,
		.now = psc_now(),
		.leeway = c->psc_leeway};
	json_t *claims = NULL, *ui = NULL;
	char *url = NULL;
	struct psc_resp rs = {0};
	int r;

	*why = "id_token";
	if (!idt)
		return -EACCES;
	r = verify_jws(c, idt, &claims);
	if (r < 0) {
		*why = r == -ENOKEY     ? "id_token: unknown key"
			: r == -ENOTSUP ? "id_token: algorithm refused"
					: "id_token: bad signature";
		return -EACCES;
	}
	r = idtoken_check(claims, &x, why);
	if (r < 0)
		goto out;
	claim(claims, "sub", id->sub, sizeof(id->sub));
	claim(claims, "preferred_username", id->national_id, sizeof(id->national_id));
	claim(claims, "SubjectNameID", id->national_id, sizeof(id->national_id));
	claim(claims, "given_name", id->given_name, sizeof(id->given_name));
	claim(claims, "family_name", id->family_name, sizeof(id->family_name));
	claim_ref_pro(claims, id);
	if (c->psc_userinfo && at) {
		url = endpoint(c, c->psc_userinfo_endpoint, &disc.userinfo);
		r = url ? psc_call(c, url, NULL, false, at, &rs) : -EHOSTUNREACH;
		if (r < 0 || rs.status != 200) {
			*why = "userinfo";
			r = -EHOSTUNREACH;
			goto out;
		}
		if (!strncasecmp(rs.ctype, "application/jwt", 15)) {
			/* A signed userinfo: same keys, same issuer and audience. */
			char *jws = strndup(rs.body ? rs.body : "", rs.len);
			r = jws ? verify_jws(c, jws, &ui) : -ENOMEM;
			free(jws);
			if (r < 0) {
				*why = "userinfo: signature";
				r = -EACCES;
				goto out;
			}
			const char *iss = json_string_value(json_object_get(ui, "iss"));
			if (iss && strcmp(iss, c->psc_issuer)) {
				*why = "userinfo: iss";
				r = -EACCES;
				goto out;
			}
			/* OIDC Core 5.3.2: a signed userinfo's aud, if present, names this client. */
			if (json_object_get(ui, "aud") &&
				!aud_names(json_object_get(ui, "aud"), c->psc_client_id)) {
				*why = "userinfo: aud";
				r = -EACCES;
				goto out;
			}
		} else {
			ui = psc_resp_json(&rs);
		}
		if (!ui || !json_string_value(json_object_get(ui, "sub")) ||
			strcmp(json_string_value(json_object_get(ui, "sub")), id->sub)) {
			*why = "userinfo: sub";
			r = -EACCES;
			goto out;
		}
		claim(ui, "preferred_username", id->national_id, sizeof(id->national_id));
		claim(ui, "SubjectNameID", id->national_id, sizeof(id->national_id));
		claim(ui, "given_name", id->given_name, sizeof(id->given_name));
		claim(ui, "family_name", id->family_name, sizeof(id->family_name));
		claim_ref_pro(ui, id);
	}
	*why = NULL;
	r = 0;
out:
	psc_resp_free(&rs);
	free(url);
	json_decref(claims);
	json_decref(ui);
	return r;
}
