/* libFuzzer harness: arbitrary bytes as a JWK Set, as a compact JWS and as ID token claims. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fixed P-256 public key, so that token inputs reach the signature check. */
static const char fixed_jwks[] = "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"k\",\"crv\":\"P-256\","
				 "\"x\":\"Ju_OvQ7p40pmkYfhizqRIrL3M5RbZJzJ-fkh6fna2BI\","
				 "\"y\":\"kCOL3pzHuzMNFQxncE3SWucFUgV0S28xv0BwdFhy0OY\"}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct idtoken_expect x = {"https://iss", "aud", "n", "eidas1", 1900000000LL, 60};
	struct jwks *k = NULL;
	json_t *p = NULL;
	const char *why;
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (jwks_parse(s, size, &k) == 0) {
		if (jwks_count(k) > JWKS_MAX_KEYS)
			__builtin_trap();
		jwks_free(k);
		k = NULL;
	}
	(void)json_depth_ok(s, size, 4);
	if (jwks_parse(fixed_jwks, sizeof(fixed_jwks) - 1, &k) == 0) {
		if (jws_verify(k, s, &p, NULL) == 0)
			(void)idtoken_check(p, &x, &why);
		json_decref(p);
		jwks_free(k);
	}
	p = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(p))
		(void)idtoken_check(p, &x, &why);
	json_decref(p);
	free(s);
	return 0;
}
