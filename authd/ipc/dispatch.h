/* The unix socket's requests: one table says, for each request code, its
 * name, who may ask (access.h), which field names the account it acts on,
 * and the handler. The table is the only place a request's access is
 * decided; handlers receive r->target already found and authorised. */
#pragma once

#include <stdint.h>

#include "access.h"
#include "request.h"

struct request_type {
	uint16_t code;
	const char *name; /* audit event of a refusal by the table */
	enum access access;
	unsigned flags; /* ACCESS_* flags */
	/* The field naming the account acted on ("login", "user"); NULL: the
	 * request is about no account, or its handler finds it from a
	 * credential it carries (a token, a session handle, a card). */
	const char *target_key;
	const char *const *attrs; /* what the handler reads on the target; NULL: identity only */
	int (*handler)(struct req *r);
};

/* The row of a request code, NULL when unknown. */
const struct request_type *dispatch_find(uint16_t code);
/* Every row, for tests and the protocol documentation (n rows). */
const struct request_type *dispatch_table(size_t *n);
/* Serves r: finds its row, applies its access, calls the handler, frees
 * r->target. Returns the reply status (the reply is not finished). */
int dispatch(struct req *r);
/* Serves r by row t (the caller's service and remote host already set):
 * the row's access, then its handler; frees r->target. */
int dispatch_row(struct req *r, const struct request_type *t);
