/* Flat JSON objects of string values: how settings keep several fields in one directory value;
 * and an object's members appended to a text (replies built without a tree). */
#pragma once

#include <stdbool.h>
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

/* An object written member by member after a start kept as text: "{" and
 * members, no closing brace (e.g. json_dumps of an object, its '}' cut). */
struct json_out {
	char *p;
	size_t n, cap;
	bool members; /* a member is written: the next one takes a comma */
	bool err; /* sticky: out of memory */
};

/* Takes start (malloc'd, n bytes, NUL-terminated) as the text so far. */
void json_out_take(struct json_out *o, char *start, size_t n);
/* key and the string value, escaped; left out when val is NULL or not
 * UTF-8, as jansson's json_string leaves it. */
void json_out_str(struct json_out *o, const char *key, const char *val);
void json_out_int(struct json_out *o, const char *key, long long val);
void json_out_bool(struct json_out *o, const char *key, bool val);
/* Closes the object: the malloc'd text, or NULL (out of memory). */
char *json_out_end(struct json_out *o);
