/* The identity providers' table (provider.h): client secrets, HTTP client
 * (mutual TLS towards Pro Santé Connect), discovery, JWKS, ID token and
 * userinfo verification, each provider with its own keys and issuer. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
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
/* What the daemon keeps of each provider of the table: its client secret,
 * the endpoints it discovered, its keys. */
static struct idp_state {
	char *client_secret;
	struct {
		long long at;
		char *ep[PSC_EP_N];
	} disc;
	struct jwks *keys;
	long long keys_at;
	char keys_miss_kid[64]; /* the unknown kid that forced the last refresh */
} idps[IDP_N];

void idp_conf_of(const struct mm_config *c, enum idp id, struct idp_conf *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->id = id;
	if (id == IDP_PSC) {
		ret->name = "psc";
		ret->label = "Pro Santé Connect";
		ret->issuer = c->psc_issuer;
		ret->discovery_url = c->psc_discovery_url;
		ret->discovery_path = "/.well-known/wallet-openid-configuration";
		ret->client_id = c->psc_client_id;
		ret->secret_file = c->psc_client_secret_file;
		ret->redirect_uri = c->psc_redirect_uri;
		ret->scope = c->psc_scope;
		ret->acr = c->psc_acr;
		ret->ep[PSC_EP_AUTHORIZATION] = c->psc_authorization_endpoint;
		ret->ep[PSC_EP_TOKEN] = c->psc_token_endpoint;
		ret->ep[PSC_EP_USERINFO] = c->psc_userinfo_endpoint;
		ret->ep[PSC_EP_JWKS] = c->psc_jwks_uri;
		ret->ep[PSC_EP_CIBA] = c->psc_ciba_endpoint;
		ret->userinfo = c->psc_userinfo;
		ret->mtls = c->psc_mtls;
		return;
	}
	ret->name = c->oidc_name;
	ret->label = c->oidc_label;
	ret->issuer = c->oidc_issuer;
	ret->discovery_url = c->oidc_discovery_url;
	ret->discovery_path = "/.well-known/openid-configuration";
	ret->client_id = c->oidc_client_id;
	ret->secret_file = c->oidc_client_secret_file;
	ret->redirect_uri = c->oidc_redirect_uri;
	ret->scope = c->oidc_scope;
	ret->acr = c->oidc_acr;
	ret->subject_claim = c->oidc_subject_claim;
	ret->ep[PSC_EP_AUTHORIZATION] = c->oidc_authorization_endpoint;
	ret->ep[PSC_EP_TOKEN] = c->oidc_token_endpoint;
	ret->ep[PSC_EP_USERINFO] = c->oidc_userinfo_endpoint;
	ret->ep[PSC_EP_JWKS] = c->oidc_jwks_uri;
	ret->userinfo = c->oidc_userinfo;
}

const char *idp_name(const struct mm_config *c, enum idp id)
{
	return id == IDP_PSC ? "psc" : c->oidc_name;
}

const char *idp_label(const struct mm_config *c, enum idp id)
{
	return id == IDP_PSC ? "Pro Santé Connect" : c->oidc_label;
}

const char *idp_label_by_name(const struct mm_config *c, const char *name)
{
	if (!name || !strcmp(name, "psc"))
		return "Pro Santé Connect";
	return !strcmp(name, c->oidc_name) ? c->oidc_label : name;
}

long long psc_now(void)
{
	return (long long)time(NULL);
}

bool idp_enabled(const struct mm_config *c, enum idp id)
{
	bool on;

	pthread_mutex_lock(&lock);
	on = idps[id].client_secret && (id == IDP_PSC ? c->psc_issuer : c->oidc_issuer);
	pthread_mutex_unlock(&lock);
	return on;
}

bool psc_enabled(const struct mm_config *c)
{
	return idp_enabled(c, IDP_PSC);
}

bool psc_handle_valid(const char *h)
{
	size_t n = 0;

	for (; h[n]; n++)
		if (n >= PSC_HANDLE_LEN || !((h[n] >= '0' && h[n] <= '9') || (h[n] >= 'a' && h[n] <= 'f')))
			return false;
	return n == PSC_HANDLE_LEN;
}

static int secret_read(const char *path, char **ret, char *errbuf, size_t errlen)
{
	char buf[512];
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		close(fd);
		snprintf(errbuf, errlen, "%s: must be a regular file of mode 0600", path);
		return -EPERM;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || n == (ssize_t)sizeof(buf) - 1) {
		snprintf(errbuf, errlen, "%s: empty or too long", path);
		return -EINVAL;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	*ret = strdup(buf);
	sodium_memzero(buf, sizeof(buf));
	return *ret ? 0 : -ENOMEM;
}

/* The client key of mutual TLS: a regular file (no symlink) of root (or the
 * daemon's user) that no one else may read, a key GnuTLS reads and that
 * matches the certificate. curl reads both again at each call. */
static int mtls_check(const struct mm_config *c, char *errbuf, size_t errlen)
{
	gnutls_certificate_credentials_t cred = NULL;
	const char *key = c->psc_tls_client_key, *cert = c->psc_tls_client_cert;
	struct stat st;
	int fd, r;

	fd = open(key, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(errbuf, errlen, "psc_tls_client_key %s: %s", key, strerror(errno));
		return -errno;
	}
	r = fstat(fd, &st) < 0 ? -errno : 0;
	close(fd);
	if (r < 0 || !S_ISREG(st.st_mode)) {
		snprintf(errbuf, errlen, "psc_tls_client_key %s: not a regular file", key);
		return -EINVAL;
	}
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 077)) {
		snprintf(errbuf, errlen,
			"psc_tls_client_key %s: must be owned by root (or the daemon's user) and of mode "
			"0600 or 0400: group or others may read it",
			key);
		return -EPERM;
	}
	fd = open(cert, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(errbuf, errlen, "psc_tls_client_cert %s: %s", cert, strerror(errno));
		return -errno;
	}
	close(fd);
	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return -ENOMEM;
	r = gnutls_certificate_set_x509_key_file(cred, cert, key, GNUTLS_X509_FMT_PEM);
	gnutls_certificate_free_credentials(cred);
	if (r < 0) {
		snprintf(errbuf, errlen, "psc_tls_client_cert/psc_tls_client_key: %s", gnutls_strerror(r));
		return -EINVAL;
	}
	return 0;
}

int psc_init(const struct mm_config *c, char *errbuf, size_t errlen)
{
	char *sec[IDP_N] = {NULL};
	struct idp_conf p;
	int r = 0;

	/* Everything checked and read first: a reload that fails changes nothing. */
	if (c->psc_issuer && c->psc_mtls && (r = mtls_check(c, errbuf, errlen)) < 0)
		return r;
	for (int i = 0; i < IDP_N; i++) {
		idp_conf_of(c, (enum idp)i, &p);
		if (p.issuer && (r = secret_read(p.secret_file, &sec[i], errbuf, errlen)) < 0)
			goto out;
	}
	pthread_mutex_lock(&lock);
	for (int i = 0; i < IDP_N; i++) {
		secret_free(idps[i].client_secret);
		idps[i].client_secret = sec[i];
		sec[i] = NULL;
		/* the issuer or its endpoints may have changed: discover again */
		idps[i].disc.at = 0;
	}
	pthread_mutex_unlock(&lock);
out:
	for (int i = 0; i < IDP_N; i++)
		secret_free(sec[i]);
	return r;
}

void psc_cleanup(void)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; i < IDP_N; i++) {
		secret_free(idps[i].client_secret);
		for (int e = 0; e < PSC_EP_N; e++)
			free(idps[i].disc.ep[e]);
		jwks_free(idps[i].keys);
		memset(&idps[i], 0, sizeof(idps[i]));
	}
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

/* Why the last call of this thread did not reach the provider, for the
 * daemon's log (idp_transport_error). */
static __thread char last_error[320];

const char *idp_transport_error(void)
{
	return last_error;
}

/* A refused TLS session says nothing of why: name the likely cause. */
static void transport_error(
	const struct mm_config *c, enum idp id, const char *url, CURLcode cc, const char *detail)
{
	const char *hint = "";

	if (cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR ||
		cc == CURLE_SSL_CERTPROBLEM || cc == CURLE_GOT_NOTHING) {
		if (id == IDP_PSC && c->psc_mtls)
			hint = "the provider refused the TLS session: is psc_tls_client_cert a certificate "
			       "it "
			       "accepts? ";
		else if (!strncmp(url, "https:", 6))
			hint = "the provider refused the TLS session: it may require a client certificate "
			       "(psc_mtls, psc_tls_client_cert, psc_tls_client_key); ";
	} else if (cc == CURLE_PEER_FAILED_VERIFICATION) {
		hint = "the provider's server certificate is not trusted (psc_tls_ca_file); ";
	}
	snprintf(last_error, sizeof(last_error), "%s: %s%s (%s)", url, hint, curl_easy_strerror(cc),
		detail && *detail ? detail : "no detail");
}

int idp_call(const struct mm_config *c, enum idp id, const char *url, const char *form, bool client_auth,
	const char *bearer, struct psc_resp *ret)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	char *auth = NULL, *ct = NULL;
	struct idp_conf p;
	CURLcode cc;
	CURL *h;
	int r = -EHOSTUNREACH;

	memset(ret, 0, sizeof(*ret));
	last_error[0] = '\0';
	if (!url || !url_allowed(url)) {
		snprintf(last_error, sizeof(last_error), "%s: neither https nor loopback http",
			url ? url : "(no endpoint)");
		return -EHOSTUNREACH;
	}
	idp_conf_of(c, id, &p);
	h = curl_easy_init();
	if (!h)
		return -ENOMEM;
	if (client_auth) {
		pthread_mutex_lock(&lock);
		auth = idps[id].client_secret ? basic_header(p.client_id, idps[id].client_secret) : NULL;
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
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	if (id == IDP_PSC && c->psc_tls_ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->psc_tls_ca_file);
	if (p.mtls) {
		/* Checked at start and reload (psc_init): a root-only key matching the
		 * certificate. curl reads it at each call: one that has since become
		 * readable by others is not shown. */
		struct stat st;

		if (lstat(c->psc_tls_client_key, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) ||
			(st.st_uid != 0 && st.st_uid != geteuid())) {
			snprintf(last_error, sizeof(last_error),
				"psc_tls_client_key %s: no longer a root-only regular file: not used",
				c->psc_tls_client_key);
			goto out;
		}
		curl_easy_setopt(h, CURLOPT_SSLCERT, c->psc_tls_client_cert);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(h, CURLOPT_SSLKEY, c->psc_tls_client_key);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (form)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
	if ((cc = curl_easy_perform(h)) != CURLE_OK) {
		transport_error(c, id, url, cc, errbuf);
		goto out;
	}
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

static int discover(const struct mm_config *c, enum idp id)
{
	static const char *const names[PSC_EP_N] = {
		[PSC_EP_AUTHORIZATION] = "authorization_endpoint",
		[PSC_EP_TOKEN] = "token_endpoint",
		[PSC_EP_USERINFO] = "userinfo_endpoint",
		[PSC_EP_JWKS] = "jwks_uri",
		[PSC_EP_CIBA] = "backchannel_authentication_endpoint",
	};
	struct idp_state *st = &idps[id];
	struct idp_conf p;
	char *url = NULL;
	struct psc_resp rs;
	json_t *doc = NULL;
	const char *iss;
	int r;

	idp_conf_of(c, id, &p);
	if (!p.issuer)
		return -ENOSYS;
	if (p.ep[PSC_EP_AUTHORIZATION] && p.ep[PSC_EP_TOKEN] && p.ep[PSC_EP_JWKS])
		return 0;
	pthread_mutex_lock(&lock);
	r = st->disc.at && st->disc.at + DISCOVERY_TTL > psc_now();
	pthread_mutex_unlock(&lock);
	if (r)
		return 0;
	if (p.discovery_url)
		url = strdup(p.discovery_url);
	else if (asprintf(&url, "%s%s", p.issuer, p.discovery_path) < 0)
		url = NULL;
	if (!url)
		return -ENOMEM;
	r = idp_call(c, id, url, NULL, false, NULL, &rs);
	if (r < 0) {
		free(url);
		return r;
	}
	doc = psc_resp_json(&rs);
	iss = json_string_value(json_object_get(doc, "issuer"));
	/* A discovery document that names another issuer is not ours to trust. */
	if (rs.status != 200 || !iss || strcmp(iss, p.issuer)) {
		/* Garbage, an error page or another issuer: said in the log like a transport error. */
		snprintf(last_error, sizeof(last_error), "%s: HTTP %ld, %s", url, rs.status,
			!doc           ? "not a JSON object"
				: !iss ? "no issuer"
				       : "names another issuer");
		r = -EHOSTUNREACH;
		goto out;
	}
	pthread_mutex_lock(&lock);
	for (int e = 0; e < PSC_EP_N; e++)
		set_disc(&st->disc.ep[e], doc, names[e]);
	st->disc.at = psc_now();
	pthread_mutex_unlock(&lock);
	r = 0;
out:
	free(url);
	json_decref(doc);
	psc_resp_free(&rs);
	return r;
}

char *idp_endpoint(const struct mm_config *c, enum idp id, enum psc_endpoint ep)
{
	struct idp_conf p;
	char *v;

	idp_conf_of(c, id, &p);
	if (ep < 0 || ep >= PSC_EP_N || (ep == PSC_EP_CIBA && id != IDP_PSC))
		return NULL;
	if (p.ep[ep])
		return strdup(p.ep[ep]);
	if (discover(c, id) < 0)
		return NULL;
	pthread_mutex_lock(&lock);
	v = idps[id].disc.ep[ep] ? strdup(idps[id].disc.ep[ep]) : NULL;
	pthread_mutex_unlock(&lock);
	return v;
}

char *psc_esc(const char *v)
{
	return curl_easy_escape(NULL, v ? v : "", 0);
}

/* Fetches the JWKS. forced_by: the unknown kid that asks for it (NULL: first
 * fetch); a kid already refreshed for is not fetched again for a few seconds. */
static int keys_refresh(const struct mm_config *c, enum idp id, const char *forced_by)
{
	struct idp_state *st = &idps[id];
	char *url = idp_endpoint(c, id, PSC_EP_JWKS);
	struct jwks *nk = NULL;
	struct psc_resp rs;
	int r;

	if (!url)
		return -EHOSTUNREACH;
	pthread_mutex_lock(&lock);
	r = forced_by && !strcmp(forced_by, st->keys_miss_kid) && st->keys_at + JWKS_MIN_REFRESH > psc_now();
	if (!r && forced_by)
		snprintf(st->keys_miss_kid, sizeof(st->keys_miss_kid), "%s", forced_by);
	pthread_mutex_unlock(&lock);
	if (r) {
		free(url);
		return -EAGAIN;
	}
	r = idp_call(c, id, url, NULL, false, NULL, &rs);
	free(url);
	if (r < 0)
		return r;
	if (rs.status != 200 || jwks_parse(rs.body ? rs.body : "", rs.len, &nk) < 0) {
		psc_resp_free(&rs);
		return -EHOSTUNREACH;
	}
	psc_resp_free(&rs);
	pthread_mutex_lock(&lock);
	jwks_free(st->keys);
	st->keys = nk;
	st->keys_at = psc_now();
	pthread_mutex_unlock(&lock);
	return 0;
}

/* Verifies a JWS with this provider's cached JWKS (never another's),
 * refreshing it once on an unknown kid. */
static int verify_jws(const struct mm_config *c, enum idp id, const char *jws, json_t **ret)
{
	struct idp_state *st = &idps[id];
	char kid[64] = "";
	bool had;
	int r;

	pthread_mutex_lock(&lock);
	had = st->keys != NULL;
	r = jws_verify(st->keys, jws, ret, kid);
	pthread_mutex_unlock(&lock);
	if (r != -ENOKEY)
		return r;
	if (keys_refresh(c, id, had ? kid : NULL) < 0)
		return -ENOKEY;
	pthread_mutex_lock(&lock);
	r = jws_verify(st->keys, jws, ret, NULL);
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

/* The claims that say who the person is: PSC's (sub, national id), or the
 * one a generic provider is configured with. */
static void identity_claims(const struct idp_conf *p, const json_t *o, struct psc_identity *id)
{
	if (p->subject_claim) {
		const json_t *v = json_object_get(o, p->subject_claim);
		char num[32];

		if (json_is_integer(v)) {
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
			snprintf(id->subject, sizeof(id->subject), "%s", num);
		} else {
			claim(o, p->subject_claim, id->subject, sizeof(id->subject));
		}
	} else {
		claim(o, "preferred_username", id->national_id, sizeof(id->national_id));
		claim(o, "SubjectNameID", id->national_id, sizeof(id->national_id));
		claim_ref_pro(o, id);
	}
	claim(o, "given_name", id->given_name, sizeof(id->given_name));
	claim(o, "family_name", id->family_name, sizeof(id->family_name));
}

/* Verifies the ID token of a token response, reads userinfo, fills id. */
int idp_identity_from(const struct mm_config *c, enum idp idp, const json_t *tok, const char *nonce,
	struct psc_identity *id, const char **why)
{
	const char *idt = json_string_value(json_object_get(tok, "id_token"));
	const char *at = json_string_value(json_object_get(tok, "access_token"));
	struct idp_conf p;
	struct idtoken_expect x;
	json_t *claims = NULL, *ui = NULL;
	char *url = NULL;
	struct psc_resp rs = {0};
	int r;

	idp_conf_of(c, idp, &p);
	/* This provider's issuer and our client id at it: a token another provider
	 * of the table issued is refused here (iss, aud), and by its keys. */
	x = (struct idtoken_expect){.issuer = p.issuer,
		.audience = p.client_id,
		.nonce = nonce,
		.acr = p.acr,
		.now = psc_now(),
		.leeway = c->psc_leeway};
	id->idp = idp;
	*why = "id_token";
	if (!idt || !p.issuer || !p.client_id)
		return -EACCES;
	r = verify_jws(c, idp, idt, &claims);
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
	identity_claims(&p, claims, id);
	if (p.userinfo && at) {
		url = idp_endpoint(c, idp, PSC_EP_USERINFO);
		r = url ? idp_call(c, idp, url, NULL, false, at, &rs) : -EHOSTUNREACH;
		if (r < 0 || rs.status != 200) {
			*why = "userinfo";
			r = -EHOSTUNREACH;
			goto out;
		}
		if (!strncasecmp(rs.ctype, "application/jwt", 15)) {
			/* A signed userinfo: same keys, same issuer and audience. */
			char *jws = strndup(rs.body ? rs.body : "", rs.len);
			r = jws ? verify_jws(c, idp, jws, &ui) : -ENOMEM;
			free(jws);
			if (r < 0) {
				*why = "userinfo: signature";
				r = -EACCES;
				goto out;
			}
			const char *iss = json_string_value(json_object_get(ui, "iss"));
			if (iss && strcmp(iss, p.issuer)) {
				*why = "userinfo: iss";
				r = -EACCES;
				goto out;
			}
			/* OIDC Core 5.3.2: a signed userinfo's aud, if present, names this client. */
			if (json_object_get(ui, "aud") &&
				!aud_names(json_object_get(ui, "aud"), p.client_id)) {
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
		identity_claims(&p, ui, id);
	}
	if (p.subject_claim && !id->subject[0]) {
		*why = "identifying claim missing";
		r = -EACCES;
		goto out;
	}
	if (!p.subject_claim)
		snprintf(id->subject, sizeof(id->subject), "%s", id->sub);
	*why = NULL;
	r = 0;
out:
	psc_resp_free(&rs);
	free(url);
	json_decref(claims);
	json_decref(ui);
	return r;
}
