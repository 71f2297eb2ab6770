/* Flat JSON objects of string values: how settings keep several fields in one directory value. */
#pragma once

#include <stddef.h>

#define JSON_FLAT_MAX 16

struct json_flat {
	size_t n;
	char *key[JSON_FLAT_MAX];
	char *val[JSON_FLAT_MAX];
};

/* {"k1":"v1",...} from n key/value pairs (kv[2i], kv[2i+1]); pairs whose
 * value is NULL are left out. Returns a malloc'd string or NULL. */
char *json_flat_encode(const char *const *kv, size_t n);
/* Parses exactly one flat object of string values (no other types, no
 * nesting, no duplicate keys, nothing after it). 0, -EINVAL or -ENOMEM. */
int json_flat_parse(const char *s, struct json_flat *ret) __attribute__((warn_unused_result));
/* The value of key, or NULL. */
const char *json_flat_get(const struct json_flat *j, const char *key);
/* Wipes and frees the strings (values may be hashes). */
void json_flat_free(struct json_flat *j);
