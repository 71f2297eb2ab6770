/* JSON Web Signatures of ID tokens and userinfo: JWKS parsing, RS256/ES256 verification (GnuTLS), claim checks. */
#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"

struct jwk {
	char kid[64];
	bool ec; /* EC P-256, else RSA */
	gnutls_pubkey_t pk;
};

struct jwks {
	size_t n;
	struct jwk keys[JWKS_MAX_KEYS];
};

bool json_depth_ok(const char *text, size_t len, unsigned max_depth)
{
	unsigned depth = 0;
	bool in_str = false, esc = false;

	for (size_t i = 0; i < len; i++) {
		char ch = text[i];
		if (in_str) {
			if (esc)
				esc = false;
			else if (ch == '\\')
				esc = true;
			else if (ch == '"')
				in_str = false;
			continue;
		}
		if (ch == '"')
			in_str = true;
		else if (ch == '{' || ch == '[') {
			if (++depth > max_depth)
				return false;
		} else if ((ch == '}' || ch == ']') && depth > 0)
			depth--;
	}
	return true;
}

int b64url_decode(const char *in, size_t inlen, unsigned char **ret, size_t *ret_len)
{
	size_t cap = inlen * 3 / 4 + 3, n = 0;
	const char *end = NULL;
	unsigned char *buf;

	*ret = NULL;
	*ret_len = 0;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	if (sodium_base642bin(buf, cap, in, inlen, NULL, &n, &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING) <
			0 ||
		end != in + inlen) {
		free(buf);
		return -EBADMSG;
	}
	*ret = buf;
	*ret_len = n;
	return 0;
}

void b64url_encode(const unsigned char *bin, size_t n, char *out, size_t outsz)
{
	if (outsz < sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING)) {
		if (outsz)
			out[0] = '\0';
		return;
	}
	sodium_bin2base64(out, outsz, bin, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static int member_b64(const json_t *o, const char *name, gnutls_datum_t *ret)
{
	const json_t *v = json_object_get(o, name);
	unsigned char *b;
	size_t n;
	int r;

	if (!json_is_string(v))
		return -EBADMSG;
	r = b64url_decode(json_string_value(v), json_string_length(v), &b, &n);
	if (r < 0)
		return r;
	ret->data = b;
	ret->size = (unsigned)n;
	return 0;
}

static int jwk_import(const json_t *o, struct jwk *k)
{
	const char *kty = json_string_value(json_object_get(o, "kty"));
	const char *kid = json_string_value(json_object_get(o, "kid"));
	const char *use = json_string_value(json_object_get(o, "use"));
	gnutls_datum_t a = {0}, b = {0};
	int r = -ENOTSUP;

	if (!kty || !kid || strlen(kid) >= sizeof(k->kid) || (use && strcmp(use, "sig")))
		return -ENOTSUP;
	if (gnutls_pubkey_init(&k->pk) < 0)
		return -ENOMEM;
	if (!strcmp(kty, "RSA")) {
		unsigned bits = 0;
		if (member_b64(o, "n", &a) < 0 || member_b64(o, "e", &b) < 0)
			goto out;
		if (gnutls_pubkey_import_rsa_raw(k->pk, &a, &b) < 0)
			goto out;
		gnutls_pubkey_get_pk_algorithm(k->pk, &bits);
		if (bits < 2048)
			goto out;
		k->ec = false;
		r = 0;
	} else if (!strcmp(kty, "EC")) {
		const char *crv = json_string_value(json_object_get(o, "crv"));
		if (!crv || strcmp(crv, "P-256") || member_b64(o, "x", &a) < 0 ||
			member_b64(o, "y", &b) < 0 || a.size != 32 || b.size != 32)
			goto out;
		if (gnutls_pubkey_import_ecc_raw(k->pk, GNUTLS_ECC_CURVE_SECP256R1, &a, &b) < 0)
			goto out;
		k->ec = true;
		r = 0;
	}
	if (r == 0)
		strcpy(k->kid, kid);
out:
	free(a.data);
	free(b.data);
	if (r < 0) {
		gnutls_pubkey_deinit(k->pk);
		k->pk = NULL;
	}
	return r;
}

int jwks_parse(const char *text, size_t len, struct jwks **ret)
{
	json_t *doc = NULL, *keys, *o;
	struct jwks *k = NULL;
	size_t i;
	int r = -EBADMSG;

	*ret = NULL;
	if (len > JWKS_MAX_LEN || !json_depth_ok(text, len, 8))
		return -EBADMSG;
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	keys = json_object_get(doc, "keys");
	if (!json_is_array(keys))
		goto out;
	k = calloc(1, sizeof(*k));
	if (!k) {
		r = -ENOMEM;
		goto out;
	}
	json_array_foreach(keys, i, o)
	{
		if (k->n == JWKS_MAX_KEYS)
			break;
		if (json_is_object(o) && jwk_import(o, &k->keys[k->n]) == 0)
			k->n++;
	}
	*ret = k;
	k = NULL;
	r = 0;
out:
	jwks_free(k);
	json_decref(doc);
	return r;
}

void jwks_free(struct jwks *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->n; i++)
		gnutls_pubkey_deinit(k->keys[i].pk);
	free(k);
}

size_t jwks_count(const struct jwks *k)
{
	return k ? k->n : 0;
}

static json_t *decode_object(const char *p, size_t n)
{
	unsigned char *b;
	size_t len;
	json_t *o;

	if (b64url_decode(p, n, &b, &len) < 0)
		return NULL;
	o = json_depth_ok((const char *)b, len, 8)
		? json_loadb((const char *)b, len, JSON_REJECT_DUPLICATES, NULL)
		: NULL;
	free(b);
	if (o && !json_is_object(o)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int jws_verify(const struct jwks *k, const char *compact, json_t **ret_payload, char ret_kid[64])
{
	const char *d1, *d2, *alg, *kid;
	json_t *hdr = NULL, *payload = NULL;
	gnutls_datum_t data, sig = {0}, der = {0};
	const struct jwk *key = NULL;
	unsigned char *sigb = NULL;
	size_t len = strnlen(compact, JWT_MAX_LEN + 1), siglen = 0;
	bool ec;
	int r = -EBADMSG;

	*ret_payload = NULL;
	if (len > JWT_MAX_LEN)
		return -EBADMSG;
	d1 = memchr(compact, '.', len);
	d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - compact)) : NULL;
	if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - compact)))
		return -EBADMSG;
	hdr = decode_object(compact, (size_t)(d1 - compact));
	if (!hdr)
		goto out;
	alg = json_string_value(json_object_get(hdr, "alg"));
	kid = json_string_value(json_object_get(hdr, "kid"));
	if (!alg)
		goto out;
	/* The algorithm comes from the attacker: accept exactly these two, each
	 * only with a key of its own type ("none" and HMAC-with-a-public-key never). */
	if (!strcmp(alg, "RS256"))
		ec = false;
	else if (!strcmp(alg, "ES256"))
		ec = true;
	else {
		r = -ENOTSUP;
		goto out;
	}
	if (json_object_get(hdr, "crit")) {
		r = -ENOTSUP;
		goto out;
	}
	if (!kid) {
		r = -ENOKEY;
		goto out;
	}
	if (ret_kid)
		snprintf(ret_kid, 64, "%s", kid);
	for (size_t i = 0; k && i < k->n; i++)
		if (!strcmp(k->keys[i].kid, kid) && k->keys[i].ec == ec) {
			key = &k->keys[i];
			break;
		}
	if (!key) {
		r = -ENOKEY;
		goto out;
	}
	if (b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - compact), &sigb, &siglen) < 0)
		goto out;
	data.data = (unsigned char *)compact;
	data.size = (unsigned)(d2 - compact);
	if (ec) {
		gnutls_datum_t rr = {sigb, 32}, ss = {sigb + 32, 32};
		/* JWS carries r||s; GnuTLS verifies DER */
		if (siglen != 64 || gnutls_encode_rs_value(&der, &rr, &ss) < 0)
			goto out_bad;
		r = gnutls_pubkey_verify_data2(key->pk, GNUTLS_SIGN_ECDSA_SHA256, 0, &data, &der);
	} else {
		sig.data = sigb;
		sig.size = (unsigned)siglen;
		r = gnutls_pubkey_verify_data2(key->pk, GNUTLS_SIGN_RSA_SHA256, 0, &data, &sig);
	}
	if (r < 0) {
	out_bad:
		r = -EKEYREJECTED;
		goto out;
	}
	payload = decode_object(d1 + 1, (size_t)(d2 - d1 - 1));
	if (!payload) {
		r = -EBADMSG;
		goto out;
	}
	*ret_payload = payload;
	payload = NULL;
	r = 0;
out:
	gnutls_free(der.data);
	free(sigb);
	json_decref(hdr);
	json_decref(payload);
	return r;
}

static bool str_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	return la == lb && sodium_memcmp(a, b, la) == 0;
}

int idtoken_check(const json_t *claims, const struct idtoken_expect *x, const char **ret_why)
{
	const json_t *aud = json_object_get(claims, "aud"), *v;
	const char *s;
	bool aud_ok = false;
	size_t i;

#define FAIL(w)                                                                                              \
	do {                                                                                                 \
		*ret_why = (w);                                                                              \
		return -EACCES;                                                                              \
	} while (0)
	s = json_string_value(json_object_get(claims, "iss"));
	if (!s || strcmp(s, x->issuer))
		FAIL("iss");
	if (json_is_string(aud))
		aud_ok = !strcmp(json_string_value(aud), x->audience);
	else if (json_is_array(aud) && json_array_size(aud) <= 16) {
		json_array_foreach(aud, i,
			v) if (json_is_string(v) && !strcmp(json_string_value(v), x->audience)) aud_ok = true;
		/* Several audiences: the token must say it was issued to us. */
		if (aud_ok && json_array_size(aud) > 1) {
			s = json_string_value(json_object_get(claims, "azp"));
			aud_ok = s && !strcmp(s, x->audience);
		}
	}
	if (!aud_ok)
		FAIL("aud");
	s = json_string_value(json_object_get(claims, "azp"));
	if (json_object_get(claims, "azp") && (!s || strcmp(s, x->audience)))
		FAIL("azp");
	/* now +- leeway, never exp + leeway: an exp near INT64_MAX must not overflow */
	v = json_object_get(claims, "exp");
	if (!json_is_integer(v) || json_integer_value(v) <= x->now - (json_int_t)x->leeway)
		FAIL("exp");
	v = json_object_get(claims, "iat");
	if (!json_is_integer(v) || json_integer_value(v) > x->now + (json_int_t)x->leeway)
		FAIL("iat");
	v = json_object_get(claims, "nbf");
	if (v && (!json_is_integer(v) || json_integer_value(v) > x->now + (json_int_t)x->leeway))
		FAIL("nbf");
	if (x->nonce) {
		s = json_string_value(json_object_get(claims, "nonce"));
		if (!s || !str_eq(s, x->nonce))
			FAIL("nonce");
	}
	if (x->acr) {
		s = json_string_value(json_object_get(claims, "acr"));
		if (!s || strcmp(s, x->acr))
			FAIL("acr");
	}
	s = json_string_value(json_object_get(claims, "sub"));
	if (!s || !*s || strlen(s) > 255)
		FAIL("sub");
#undef FAIL
	*ret_why = NULL;
	return 0;
}

/* --- signing ---------------------------------------------------------------- */

struct jws_key {
	char kid[64];
	bool ec;
	gnutls_privkey_t sk;
	gnutls_pubkey_t pk;
};

int jws_key_generate(bool ec, char **ret_pem)
{
	gnutls_x509_privkey_t x = NULL;
	gnutls_datum_t out = {0};
	char *pem = NULL;
	int r = -ENOMEM;

	*ret_pem = NULL;
	if (gnutls_x509_privkey_init(&x) < 0)
		return -ENOMEM;
	if (gnutls_x509_privkey_generate(x, ec ? GNUTLS_PK_ECDSA : GNUTLS_PK_RSA,
		    ec ? GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1) : 3072, 0) < 0 ||
		gnutls_x509_privkey_export2_pkcs8(x, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &out) <
			0) {
		r = -EIO;
		goto out;
	}
	pem = malloc(out.size + 1);
	if (!pem)
		goto out;
	memcpy(pem, out.data, out.size);
	pem[out.size] = '\0';
	*ret_pem = pem;
	r = 0;
out:
	if (out.data) {
		sodium_memzero(out.data, out.size);
		gnutls_free(out.data);
	}
	gnutls_x509_privkey_deinit(x);
	return r;
}

void jws_key_free(struct jws_key *k)
{
	if (!k)
		return;
	gnutls_privkey_deinit(k->sk);
	gnutls_pubkey_deinit(k->pk);
	free(k);
}

int jws_key_load(const char *pem, const char *kid, struct jws_key **ret)
{
	gnutls_datum_t d = {(unsigned char *)pem, (unsigned)strlen(pem)};
	struct jws_key *k;
	unsigned bits = 0;
	int alg;

	*ret = NULL;
	if (!kid || !*kid || strlen(kid) >= sizeof(k->kid))
		return -EINVAL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	if (gnutls_privkey_init(&k->sk) < 0 || gnutls_pubkey_init(&k->pk) < 0)
		goto bad;
	if (gnutls_privkey_import_x509_raw(k->sk, &d, GNUTLS_X509_FMT_PEM, NULL, 0) < 0 ||
		gnutls_pubkey_import_privkey(k->pk, k->sk, 0, 0) < 0)
		goto bad;
	alg = gnutls_privkey_get_pk_algorithm(k->sk, &bits);
	if (alg == GNUTLS_PK_ECDSA) {
		gnutls_ecc_curve_t curve;
		gnutls_datum_t x = {0}, y = {0};
		if (gnutls_pubkey_export_ecc_raw(k->pk, &curve, &x, &y) < 0)
			goto bad;
		gnutls_free(x.data);
		gnutls_free(y.data);
		if (curve != GNUTLS_ECC_CURVE_SECP256R1)
			goto bad;
		k->ec = true;
	} else if (alg != GNUTLS_PK_RSA || bits < 2048) {
		goto bad;
	}
	snprintf(k->kid, sizeof(k->kid), "%s", kid);
	*ret = k;
	return 0;
bad:
	jws_key_free(k);
	return -EBADMSG;
}

const char *jws_key_alg(const struct jws_key *k)
{
	return k->ec ? "ES256" : "RS256";
}

/* base64url of an unsigned big-endian integer, left-padded or stripped to width bytes (0: as is, no leading zeros). */
static json_t *b64_int(const gnutls_datum_t *d, size_t width)
{
	unsigned char buf[1024];
	const unsigned char *p = d->data;
	size_t n = d->size;
	char out[1400];

	while (n > 1 && *p == 0) {
		p++;
		n--;
	}
	if (width) {
		if (n > width || width > sizeof(buf))
			return NULL;
		memset(buf, 0, width - n);
		memcpy(buf + width - n, p, n);
		p = buf;
		n = width;
	}
	if (n > sizeof(buf))
		return NULL;
	b64url_encode(p, n, out, sizeof(out));
	return json_string(out);
}

json_t *jws_key_jwk(const struct jws_key *k)
{
	gnutls_datum_t a = {0}, b = {0};
	gnutls_ecc_curve_t curve;
	json_t *o = NULL;

	if (k->ec) {
		if (gnutls_pubkey_export_ecc_raw(k->pk, &curve, &a, &b) < 0)
			return NULL;
		o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o*, s:o*}", "kty", "EC", "kid", k->kid, "use",
			"sig", "alg", "ES256", "crv", "P-256", "x", b64_int(&a, 32), "y", b64_int(&b, 32));
	} else {
		if (gnutls_pubkey_export_rsa_raw(k->pk, &a, &b) < 0)
			return NULL;
		o = json_pack("{s:s, s:s, s:s, s:s, s:o*, s:o*}", "kty", "RSA", "kid", k->kid, "use", "sig",
			"alg", "RS256", "n", b64_int(&a, 0), "e", b64_int(&b, 0));
	}
	gnutls_free(a.data);
	gnutls_free(b.data);
	return o;
}

static char *b64_json(const json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS), *out;
	size_t n, cap;

	if (!text)
		return NULL;
	n = strlen(text);
	cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	out = malloc(cap);
	if (out)
		b64url_encode((const unsigned char *)text, n, out, cap);
	free(text);
	return out;
}

int jws_sign(const struct jws_key *k, const char *typ, const json_t *payload, char **ret)
{
	json_t *hdr =
		json_pack("{s:s, s:s, s:s}", "alg", jws_key_alg(k), "kid", k->kid, "typ", typ ? typ : "JWT");
	char *h = NULL, *p = NULL, *input = NULL, *out = NULL;
	gnutls_datum_t data, sig = {0}, rr = {0}, ss = {0};
	unsigned char raw[64];
	const unsigned char *sp;
	size_t sn, cap;
	char sigb[1400];
	int r = -ENOMEM;

	*ret = NULL;
	if (!hdr || !(h = b64_json(hdr)) || !(p = b64_json(payload)) || asprintf(&input, "%s.%s", h, p) < 0) {
		input = NULL;
		goto out;
	}
	data.data = (unsigned char *)input;
	data.size = (unsigned)strlen(input);
	if (gnutls_privkey_sign_data(k->sk, GNUTLS_DIG_SHA256, 0, &data, &sig) < 0) {
		r = -EIO;
		goto out;
	}
	if (k->ec) {
		/* GnuTLS gives DER; JWS wants r||s, 32 bytes each */
		gnutls_datum_t w[2];
		if (gnutls_decode_rs_value(&sig, &rr, &ss) < 0) {
			r = -EIO;
			goto out;
		}
		w[0] = rr;
		w[1] = ss;
		for (int i = 0; i < 2; i++) {
			const unsigned char *q = w[i].data;
			size_t n = w[i].size;
			while (n > 32 && *q == 0) {
				q++;
				n--;
			}
			if (n > 32) {
				r = -EIO;
				goto out;
			}
			memset(raw + 32 * i, 0, 32 - n);
			memcpy(raw + 32 * i + 32 - n, q, n);
		}
		sp = raw;
		sn = 64;
	} else {
		sp = sig.data;
		sn = sig.size;
	}
	cap = sodium_base64_ENCODED_LEN(sn, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	if (cap > sizeof(sigb)) {
		r = -EIO;
		goto out;
	}
	b64url_encode(sp, sn, sigb, sizeof(sigb));
	if (asprintf(&out, "%s.%s", input, sigb) < 0)
		goto out;
	*ret = out;
	r = 0;
out:
	gnutls_free(sig.data);
	gnutls_free(rr.data);
	gnutls_free(ss.data);
	free(h);
	free(p);
	free(input);
	json_decref(hdr);
	return r;
}
