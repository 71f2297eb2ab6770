/* The web pages' door into the socket's request table: a flat JSON object
 * becomes the request of a row, the row's access decides as on the socket,
 * and the reply comes back as JSON. HTTP (http/web.c) calls only this. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "access.h"
#include "config.h"
#include "store.h"

struct daemon;

/* A request the pages may name: its name in POST /v1/call/<name> and its code. */
struct json_door_name {
	const char *name;
	uint16_t code;
};
/* Every name of the bridge (n), for tests and the documentation. */
const struct json_door_name *json_door_names(size_t *n);

/* Serves the request called name for who (uid (uid_t)-1, not an
 * administrator, dn: the person of the browser session, or NULL without
 * one) with the fields of in (an object of strings). Returns the request's
 * status, 0 or a negative errno: -ENOSYS for an unknown name and for a row
 * without ACCESS_WEB (the same answer), -ENOTCONN for a row that is not
 * PUBLIC when who has no session, -EINVAL for a field that is not a
 * string or has a malformed key. *ret_reply (always set, even on refusal)
 * is {"message": ..., the reply's fields: a string, or an array of the
 * strings of a repeated field; "records": [the records, each the fields
 * after a "#"]}. */
int json_door_call(struct daemon *d, const struct mm_config *c, struct store *s, const struct caller *who,
	const char *name, const json_t *in, json_t **ret_reply) __attribute__((warn_unused_result));
