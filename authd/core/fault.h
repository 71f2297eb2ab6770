/* Why a service refused: a status, a message for the person, the field and
 * rule at fault, and a few named facts (reason, retry_after, locked_until...).
 *
 * Typed services fill one of these instead of a wire reply; each door (the
 * unix socket, HTTP) turns it into its own answer. Never put a secret here:
 * every part of a fault may be shown to the caller. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define FAULT_FACTS_MAX 8
#define FAULT_KEY_MAX 32

struct fault {
	int status; /* negative errno, 0 while nothing is wrong */
	char *message; /* French, for the person; malloc'ed */
	size_t nfacts;
	struct {
		char key[FAULT_KEY_MAX + 1];
		char *value;
	} facts[FAULT_FACTS_MAX];
};

/* Sets status and message (replacing an earlier one); returns status. */
int fault_set(struct fault *f, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* An invalid field: facts "field" and "rule", the message, returns -EINVAL.
 * The field name is only kept when it is a valid wire key. */
int fault_field(struct fault *f, const char *field, const char *rule, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Adds (or replaces) a named fact; NULL value: nothing. */
void fault_put(struct fault *f, const char *key, const char *value);
void fault_putf(struct fault *f, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A fact, or NULL. */
const char *fault_get(const struct fault *f, const char *key);
/* A directory error (store.h statuses) as the person reads it; returns the
 * status to give the caller (-ENOTUNIQ becomes -EIO). */
int fault_store(struct fault *f, int rc, const char *what);
/* Frees what the fault holds and makes it empty again. */
void fault_clear(struct fault *f);
