/* One unix-socket request being served, and the reply it builds.
 *
 * This module reads fields and writes replies; it holds no policy and calls
 * no service. The socket server (server.c) makes a struct req per frame, the
 * dispatch table (dispatch.c) decides who may ask and resolves the account
 * acted on, and an adapter turns the request into a typed service call and
 * the service's result or fault into the reply. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "access.h"
#include "config.h"
#include "fault.h"
#include "store.h"
#include "wire.h"

struct daemon;

struct req {
	struct daemon *d;
	const struct mm_config *cfg;
	struct store *store;
	struct caller who; /* from SO_PEERCRED, never from the payload */
	const struct mm_msg *in;
	struct mm_msg *out;
	int fd; /* the client's socket, for streamed replies */
	/* The account the request acts on, found and authorised by the dispatch
	 * table before the handler runs (NULL when its row names none); freed
	 * after the handler. */
	struct entry *target;
	/* Sticky: the first reply field that could not be added. A reply with a
	 * field missing is never sent as a success. */
	int err;
};

/* A field's value, NULL when absent. */
const char *req_raw(const struct req *r, const char *key);
/* A field's value, NULL when absent or empty. */
const char *req_get(const struct req *r, const char *key);
/* Refuses a field outside allowed (NULL-terminated) and a repeated field:
 * reply fields "field" and "rule" (unknown | repeated), -EINVAL. */
int req_keys(struct req *r, const char *const *allowed) __attribute__((warn_unused_result));

/* Sets the reply message and returns status, for one-line refusals. */
int req_fail(struct req *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* An invalid field: reply fields "field" and "rule", message, -EINVAL. */
int req_fail_field(struct req *r, const char *field, const char *rule, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Adds a reply field (nothing when value is NULL); a failure is remembered in r->err. */
void req_put(struct req *r, const char *key, const char *value);
void req_putf(struct req *r, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void req_put_bool(struct req *r, const char *key, bool v);
/* The "#" field that starts record i of a list. */
void req_put_index(struct req *r, size_t i);
/* A directory error as the reply says it (fault_store); returns the status. */
int req_errno(struct req *r, int rc, const char *what);
/* A service's refusal as the reply: message, facts as fields; returns its
 * status (-EIO when the fault carries none) and clears f. */
int req_fault(struct req *r, struct fault *f);
/* Makes the reply final: a success with a field missing becomes -ENOMEM,
 * an error without message gets strerror's. Returns the status to send. */
int req_finish(struct req *r, int status);
