/* JSON Web Signatures of ID tokens and userinfo: JWKS parsing, RS256/ES256 verification (GnuTLS), claim checks. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define MM_WUR __attribute__((warn_unused_result))
#define JWT_MAX_LEN (16u * 1024u)
#define JWKS_MAX_LEN (64u * 1024u)
#define JWKS_MAX_KEYS 32u

struct jwks;

/* Parses a JWK Set; keys that are not RSA (>= 2048 bits) or EC P-256 signature
 * keys are ignored. -EBADMSG when the document is not a JWK Set. */
int jwks_parse(const char *json, size_t len, struct jwks **ret) MM_WUR;
void jwks_free(struct jwks *k);
size_t jwks_count(const struct jwks *k);

/* Verifies a compact JWS with the key named by its "kid" and returns the
 * payload object. Only RS256 and ES256 are accepted ("none", HS*, others:
 * -ENOTSUP). -EBADMSG malformed, -ENOKEY no key with that kid (and type),
 * -EKEYREJECTED bad signature. *ret_kid (optional, 64 bytes) gets the kid. */
int jws_verify(const struct jwks *k, const char *compact, json_t **ret_payload, char ret_kid[64]) MM_WUR;

struct idtoken_expect {
	const char *issuer;
	const char *audience; /* our client_id */
	const char *nonce; /* NULL: the flow has no nonce (CIBA) */
	const char *acr; /* NULL: not checked */
	long long now;
	unsigned leeway;
};
/* Checks iss, aud (and azp), exp, iat, nonce, acr, sub. -EACCES with *ret_why
 * naming the failed check. */
int idtoken_check(const json_t *claims, const struct idtoken_expect *x, const char **ret_why) MM_WUR;

/* Refuses JSON nested deeper than max_depth (before handing it to a parser). */
bool json_depth_ok(const char *text, size_t len, unsigned max_depth);
/* base64url without padding, decoded into a malloc'ed buffer. */
int b64url_decode(const char *in, size_t inlen, unsigned char **ret, size_t *ret_len) MM_WUR;
/* base64url without padding of bin; out must hold 4*n/3+4 bytes. */
void b64url_encode(const unsigned char *bin, size_t n, char *out, size_t outsz);

/* --- signing (the OpenID Connect provider's ID tokens) --------------------- */

struct jws_key;
/* A new private key as PKCS#8 PEM (malloc'ed): EC P-256 (ES256) when ec, else RSA 3072 (RS256). */
int jws_key_generate(bool ec, char **ret_pem) MM_WUR;
/* Imports a PEM private key under kid; -EBADMSG when it is no P-256 / RSA >= 2048 key. */
int jws_key_load(const char *pem, const char *kid, struct jws_key **ret) MM_WUR;
void jws_key_free(struct jws_key *k);
/* "ES256" or "RS256". */
const char *jws_key_alg(const struct jws_key *k);
/* The public half as a JWK {kty, kid, use, alg, crv/x/y | n/e} (new reference). */
json_t *jws_key_jwk(const struct jws_key *k);
/* A compact JWS of payload (header {alg, kid, typ}); *ret malloc'ed. typ NULL: "JWT". */
int jws_sign(const struct jws_key *k, const char *typ, const json_t *payload, char **ret) MM_WUR;
