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
