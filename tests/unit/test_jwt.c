/* Unit tests of the ID token verifier: JWKS, RS256/ES256 signatures, refused algorithms, claim checks. */
#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "jwt.h"

#define ISS "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet"
#define AUD "medimail"
#define NOW 1900000000LL

/* Keys made once per run with GnuTLS; the tokens are signed with them here,
 * exactly as a provider would. */
static gnutls_privkey_t rsa, ec, rsa_small;
static char jwks_json[8192];

static void b64(const gnutls_datum_t *d, char *out, size_t n)
{
	/* GnuTLS raw integers may carry a leading zero byte: JWK wants none. */
	size_t off = 0;
	while (off + 1 < d->size && d->data[off] == 0)
		off++;
	b64url_encode(d->data + off, d->size - off, out, n);
}

static void b64_fixed(const gnutls_datum_t *d, size_t want, char *out, size_t n)
{
	unsigned char buf[66] = {0};
	size_t off = 0;
	while (d->size - off > want)
		off++;
	memcpy(buf + want - (d->size - off), d->data + off, d->size - off);
	b64url_encode(buf, want, out, n);
}

static void rsa_jwk(gnutls_privkey_t k, const char *kid, char *out, size_t n)
{
	gnutls_datum_t m, e;
	char sm[1024], se[16];

	assert_int_equal(gnutls_privkey_export_rsa_raw2(k, &m, &e, NULL, NULL, NULL, NULL, NULL, NULL, 0), 0);
	b64(&m, sm, sizeof(sm));
	b64(&e, se, sizeof(se));
	snprintf(out, n, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"use\":\"sig\",\"n\":\"%s\",\"e\":\"%s\"}", kid,
		sm, se);
	gnutls_free(m.data);
	gnutls_free(e.data);
}

static int setup(void **state)
{
	gnutls_datum_t x, y;
	gnutls_ecc_curve_t curve;
	char rj[1200], sj[800], sx[64], sy[64];

	assert_int_equal(sodium_init() >= 0, 1);
	assert_int_equal(gnutls_privkey_init(&rsa), 0);
	assert_int_equal(gnutls_privkey_generate2(rsa, GNUTLS_PK_RSA, 2048, 0, NULL, 0), 0);
	assert_int_equal(gnutls_privkey_init(&rsa_small), 0);
	assert_int_equal(gnutls_privkey_generate2(rsa_small, GNUTLS_PK_RSA, 1024, 0, NULL, 0), 0);
	assert_int_equal(gnutls_privkey_init(&ec), 0);
	assert_int_equal(gnutls_privkey_generate2(ec, GNUTLS_PK_ECDSA,
				 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0, NULL, 0),
		0);
	assert_int_equal(gnutls_privkey_export_ecc_raw2(ec, &curve, &x, &y, NULL, 0), 0);
	b64_fixed(&x, 32, sx, sizeof(sx));
	b64_fixed(&y, 32, sy, sizeof(sy));
	gnutls_free(x.data);
	gnutls_free(y.data);
	rsa_jwk(rsa, "rsa-1", rj, sizeof(rj));
	rsa_jwk(rsa_small, "rsa-small", sj, sizeof(sj));
	snprintf(jwks_json, sizeof(jwks_json),
		"{\"keys\":[%s,{\"kty\":\"EC\",\"kid\":\"ec-1\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"},"
		"%s,"
		"{\"kty\":\"oct\",\"kid\":\"hmac\",\"k\":\"c2VjcmV0\"}]}",
		rj, sx, sy, sj);
	return 0;
}

static int teardown(void **state)
{
	gnutls_privkey_deinit(rsa);
	gnutls_privkey_deinit(rsa_small);
	gnutls_privkey_deinit(ec);
	return 0;
}

/* header.payload.signature with the given key (NULL: empty signature). */
static char *sign(const char *header, const char *payload, gnutls_privkey_t k, bool es)
{
	char h[1024], p[4096], *out;
	gnutls_datum_t data, sig = {0};
	size_t n;

	b64url_encode((const unsigned char *)header, strlen(header), h, sizeof(h));
	b64url_encode((const unsigned char *)payload, strlen(payload), p, sizeof(p));
	n = strlen(h) + strlen(p) + 600;
	out = malloc(n);
	snprintf(out, n, "%s.%s", h, p);
	if (k) {
		data.data = (unsigned char *)out;
		data.size = (unsigned)strlen(out);
		assert_int_equal(
			gnutls_privkey_sign_data2(
				k, es ? GNUTLS_SIGN_ECDSA_SHA256 : GNUTLS_SIGN_RSA_SHA256, 0, &data, &sig),
			0);
		if (es) {
			/* DER -> JWS r||s */
			gnutls_datum_t r, s;
			unsigned char rs[64] = {0};
			assert_int_equal(gnutls_decode_rs_value(&sig, &r, &s), 0);
			gnutls_datum_t rr = r, ss = s;
			while (rr.size > 32) {
				rr.data++;
				rr.size--;
			}
			while (ss.size > 32) {
				ss.data++;
				ss.size--;
			}
			memcpy(rs + 32 - rr.size, rr.data, rr.size);
			memcpy(rs + 64 - ss.size, ss.data, ss.size);
			gnutls_free(r.data);
			gnutls_free(s.data);
			strcat(out, ".");
			b64url_encode(rs, 64, out + strlen(out), n - strlen(out));
		} else {
			strcat(out, ".");
			b64url_encode(sig.data, sig.size, out + strlen(out), n - strlen(out));
		}
		gnutls_free(sig.data);
	} else {
		strcat(out, ".");
	}
	return out;
}

static char *claims(
	const char *iss, const char *aud, long long exp, long long iat, const char *nonce, const char *acr)
{
	char *s = NULL;
	char nbuf[128] = "", abuf[64] = "";

	if (nonce)
		snprintf(nbuf, sizeof(nbuf), ",\"nonce\":\"%s\"", nonce);
	if (acr)
		snprintf(abuf, sizeof(abuf), ",\"acr\":\"%s\"", acr);
	assert_true(
		asprintf(&s,
			"{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"f:550e8400\",\"exp\":%lld,\"iat\":%lld%s%s,"
			"\"preferred_username\":\"899700427869\"}",
			iss, aud, exp, iat, nbuf, abuf) > 0);
	return s;
}

static const struct idtoken_expect expect = {ISS, AUD, "n-123", "eidas1", NOW, 60};

/* Verifies then checks claims; returns the first error. */
static int verify(const char *tok, const struct idtoken_expect *x, const char **why)
{
	struct jwks *k = NULL;
	json_t *p = NULL;
	int r;

	*why = NULL;
	assert_int_equal(jwks_parse(jwks_json, strlen(jwks_json), &k), 0);
	r = jws_verify(k, tok, &p, NULL);
	if (r == 0)
		r = idtoken_check(p, x, why);
	json_decref(p);
	jwks_free(k);
	return r;
}

static void test_jwks_keeps_only_usable_keys(void **state)
{
	struct jwks *k = NULL;

	assert_int_equal(jwks_parse(jwks_json, strlen(jwks_json), &k), 0);
	/* RSA 2048 and EC P-256; the 1024-bit RSA and the symmetric key are dropped */
	assert_int_equal(jwks_count(k), 2);
	jwks_free(k);
	assert_int_equal(jwks_parse("{\"keys\":{}}", 11, &k), -EBADMSG);
	assert_int_equal(jwks_parse("[]", 2, &k), -EBADMSG);
}

static void test_valid_rs256_and_es256(void **state)
{
	char *c = claims(ISS, AUD, NOW + 300, NOW - 10, "n-123", "eidas1");
	char *t1 = sign("{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"typ\":\"JWT\"}", c, rsa, false);
	char *t2 = sign("{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", c, ec, true);
	const char *why;

	assert_int_equal(verify(t1, &expect, &why), 0);
	assert_int_equal(verify(t2, &expect, &why), 0);
	free(t1);
	free(t2);
	free(c);
}

static void test_bad_signature(void **state)
{
	char *c = claims(ISS, AUD, NOW + 300, NOW, "n-123", "eidas1");
	char *t = sign("{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", c, rsa, false);
	char *e = sign("{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", c, ec, true);
	const char *why;
	size_t n = strlen(t);

	t[n - 5] = t[n - 5] == 'A' ? 'B' : 'A';
	assert_int_equal(verify(t, &expect, &why), -EKEYREJECTED);
	n = strlen(e);
	e[n - 3] = e[n - 3] == 'A' ? 'B' : 'A';
	assert_int_equal(verify(e, &expect, &why), -EKEYREJECTED);
	free(t);
	free(e);
	/* payload changed after signing */
	char *c2 = claims(ISS, AUD, NOW + 300, NOW, "n-123", "eidas1");
	char *good = sign("{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", c2, rsa, false);
	char *other = sign("{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", "{\"sub\":\"admin\"}", NULL, false);
	char *sig = strrchr(good, '.');
	char *forged = NULL;
	assert_true(asprintf(&forged, "%.*s%s", (int)(strrchr(other, '.') - other), other, sig) > 0);
	assert_int_equal(verify(forged, &expect, &why), -EKEYREJECTED);
	free(forged);
	free(good);
	free(other);
	free(c2);
	free(c);
}

static void test_signed_by_a_stranger(void **state)
{
	gnutls_privkey_t other;
	char *c = claims(ISS, AUD, NOW + 300, NOW, "n-123", "eidas1");
	const char *why;

	assert_int_equal(gnutls_privkey_init(&other), 0);
	assert_int_equal(gnutls_privkey_generate2(other, GNUTLS_PK_RSA, 2048, 0, NULL, 0), 0);
	char *t = sign("{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", c, other, false);
	assert_int_equal(verify(t, &expect, &why), -EKEYREJECTED);
	free(t);
	gnutls_privkey_deinit(other);
	free(c);
}

static void test_unknown_kid_and_key_type(void **state)
{
	char *c = claims(ISS, AUD, NOW + 300, NOW, "n-123", "eidas1");
	char *t1 = sign("{\"alg\":\"RS256\",\"kid\":\"rotated-away\"}", c, rsa, false);
	char *t2 = sign("{\"alg\":\"RS256\"}", c, rsa, false);
	/* an RSA kid with ES256: never verified with the wrong key type */
	char *t3 = sign("{\"alg\":\"ES256\",\"kid\":\"rsa-1\"}", c, ec, true);
	/* the 1024-bit key was not accepted into the set */
	char *t4 = sign("{\"alg\":\"RS256\",\"kid\":\"rsa-small\"}", c, rsa_small, false);
	const char *why;

	assert_int_equal(verify(t1, &expect, &why), -ENOKEY);
	assert_int_equal(verify(t2, &expect, &why), -ENOKEY);
	assert_int_equal(verify(t3, &expect, &why), -ENOKEY);
	assert_int_equal(verify(t4, &expect, &why), -ENOKEY);
	free(t1);
	free(t2);
	free(t3);
	free(t4);
	free(c);
}

static void test_refused_algorithms(void **state)
{
	char *c = claims(ISS, AUD, NOW + 300, NOW, "n-123", "eidas1");
	char *none = sign("{\"alg\":\"none\",\"kid\":\"rsa-1\"}", c, NULL, false);
	char *none2 = sign("{\"alg\":\"None\"}", c, NULL, false);
	char *ps = sign("{\"alg\":\"PS256\",\"kid\":\"rsa-1\"}", c, rsa, false);
	char *noalg = sign("{\"kid\":\"rsa-1\"}", c, rsa, false);
	char *crit = sign("{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"crit\":[\"exp\"]}", c, rsa, false);
	const char *why;
	char *hs = NULL;

	assert_int_equal(verify(none, &expect, &why), -ENOTSUP);
	assert_int_equal(verify(none2, &expect, &why), -ENOTSUP);
	assert_int_equal(verify(ps, &expect, &why), -ENOTSUP);
	assert_int_equal(verify(noalg, &expect, &why), -EBADMSG);
	assert_int_equal(verify(crit, &expect, &why), -ENOTSUP);
	{
		/* HS256 keyed with the public JWK text: the classic confusion attack */
		char h[256], p[2048], in[2400];
		unsigned char mac[32];
		b64url_encode(
			(const unsigned char *)"{\"alg\":\"HS256\",\"kid\":\"rsa-1\"}", 29, h, sizeof(h));
		b64url_encode((const unsigned char *)c, strlen(c), p, sizeof(p));
		snprintf(in, sizeof(in), "%s.%s", h, p);
		crypto_auth_hmacsha256(
			mac, (const unsigned char *)in, strlen(in), (const unsigned char *)jwks_json);
		char m[64];
		b64url_encode(mac, 32, m, sizeof(m));
		assert_true(asprintf(&hs, "%s.%s", in, m) > 0);
	}
	assert_int_equal(verify(hs, &expect, &why), -ENOTSUP);
	free(hs);
	free(none);
	free(none2);
	free(ps);
	free(noalg);
	free(crit);
	free(c);
}

static void test_malformed(void **state)
{
	const char *why;
	char big[JWT_MAX_LEN + 10];

	assert_int_equal(verify("", &expect, &why), -EBADMSG);
	assert_int_equal(verify("a.b", &expect, &why), -EBADMSG);
	assert_int_equal(verify("a.b.c.d", &expect, &why), -EBADMSG);
	assert_int_equal(verify("eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIn0.e30.!!!", &expect, &why), -EBADMSG);
	assert_int_equal(verify("W10.e30.AAAA", &expect, &why), -EBADMSG); /* header [] */
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[10] = '.';
	big[20] = '.';
	assert_int_equal(verify(big, &expect, &why), -EBADMSG);
}

static void check_claims_fail(const char *c, const struct idtoken_expect *x, const char *want_why)
{
	char *t = sign("{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", c, rsa, false);
	const char *why;

	assert_int_equal(verify(t, x, &why), -EACCES);
	assert_string_equal(why, want_why);
	free(t);
}

static void test_claims(void **state)
{
	char *c;

	c = claims("https://evil.example", AUD, NOW + 300, NOW, "n-123", "eidas1");
	check_claims_fail(c, &expect, "iss");
	free(c);
	c = claims(ISS, "another-client", NOW + 300, NOW, "n-123", "eidas1");
	check_claims_fail(c, &expect, "aud");
	free(c);
	/* expired beyond the leeway */
	c = claims(ISS, AUD, NOW - 61, NOW - 400, "n-123", "eidas1");
	check_claims_fail(c, &expect, "exp");
	free(c);
	/* issued in the future */
	c = claims(ISS, AUD, NOW + 600, NOW + 120, "n-123", "eidas1");
	check_claims_fail(c, &expect, "iat");
	free(c);
	/* a nonce of another flow (replayed token) and none at all */
	c = claims(ISS, AUD, NOW + 300, NOW, "n-OTHER", "eidas1");
	check_claims_fail(c, &expect, "nonce");
	free(c);
	c = claims(ISS, AUD, NOW + 300, NOW, NULL, "eidas1");
	check_claims_fail(c, &expect, "nonce");
	free(c);
	c = claims(ISS, AUD, NOW + 300, NOW, "n-123", NULL);
	check_claims_fail(c, &expect, "acr");
	free(c);
	c = claims(ISS, AUD, NOW + 300, NOW, "n-123", "eidas2");
	check_claims_fail(c, &expect, "acr");
	free(c);
	/* within the leeway: accepted */
	c = claims(ISS, AUD, NOW - 30, NOW - 300, "n-123", "eidas1");
	char *t = sign("{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", c, rsa, false);
	const char *why;
	assert_int_equal(verify(t, &expect, &why), 0);
	free(t);
	free(c);
	/* several audiences need azp naming us */
	c = strdup("{\"iss\":\"" ISS "\",\"aud\":[\"x\",\"" AUD "\"],\"sub\":\"s\",\"exp\":1900000300,"
		   "\"iat\":1900000000,\"nonce\":\"n-123\",\"acr\":\"eidas1\"}");
	check_claims_fail(c, &expect, "aud");
	free(c);
	c = strdup("{\"iss\":\"" ISS "\",\"aud\":[\"x\",\"" AUD "\"],\"azp\":\"" AUD "\",\"sub\":\"s\","
		   "\"exp\":1900000300,\"iat\":1900000000,\"nonce\":\"n-123\",\"acr\":\"eidas1\"}");
	t = sign("{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", c, rsa, false);
	assert_int_equal(verify(t, &expect, &why), 0);
	free(t);
	free(c);
	/* exp as a string is not a number */
	c = strdup("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"s\",\"exp\":\"1900000300\","
		   "\"iat\":1900000000,\"nonce\":\"n-123\",\"acr\":\"eidas1\"}");
	check_claims_fail(c, &expect, "exp");
	free(c);
	/* not yet valid beyond the leeway; an exp that would overflow exp + leeway */
	c = strdup("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"s\",\"exp\":1900000300,"
		   "\"iat\":1900000000,\"nbf\":1900000120,\"nonce\":\"n-123\",\"acr\":\"eidas1\"}");
	check_claims_fail(c, &expect, "nbf");
	free(c);
	c = strdup("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"s\",\"exp\":1900000300,"
		   "\"iat\":1900000000,\"nbf\":\"1900000000\",\"nonce\":\"n-123\",\"acr\":\"eidas1\"}");
	check_claims_fail(c, &expect, "nbf");
	free(c);
	c = strdup("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"s\",\"exp\":9223372036854775807,"
		   "\"iat\":1900000000,\"nbf\":1900000030,\"nonce\":\"n-123\",\"acr\":\"eidas1\"}");
	t = sign("{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", c, rsa, false);
	assert_int_equal(verify(t, &expect, &why), 0);
	free(t);
	free(c);
	/* CIBA: no nonce expected */
	struct idtoken_expect ciba = expect;
	ciba.nonce = NULL;
	c = claims(ISS, AUD, NOW + 300, NOW, NULL, "eidas1");
	t = sign("{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", c, ec, true);
	assert_int_equal(verify(t, &ciba, &why), 0);
	free(t);
	free(c);
}

static void test_json_depth(void **state)
{
	assert_true(json_depth_ok("{\"a\":[1,2]}", 11, 2));
	assert_false(json_depth_ok("{\"a\":[[1]]}", 11, 2));
	/* brackets inside strings do not count */
	assert_true(json_depth_ok("{\"a\":\"[[[[\\\"[[\"}", 16, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jwks_keeps_only_usable_keys),
		cmocka_unit_test(test_valid_rs256_and_es256),
		cmocka_unit_test(test_bad_signature),
		cmocka_unit_test(test_signed_by_a_stranger),
		cmocka_unit_test(test_unknown_kid_and_key_type),
		cmocka_unit_test(test_refused_algorithms),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_claims),
		cmocka_unit_test(test_json_depth),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
