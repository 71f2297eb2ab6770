/* One unix-socket request and its reply (request.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "request.h"

const char *req_raw(const struct req *r, const char *key)
{
	return mm_msg_get(r->in, key);
}

const char *req_get(const struct req *r, const char *key)
{
	const char *v = mm_msg_get(r->in, key);

	return v && *v ? v : NULL;
}

int req_keys(struct req *r, const char *const *allowed)
{
	for (size_t i = 0; i < r->in->nfields; i++) {
		const char *k = r->in->fields[i].key;
		size_t a;

		for (a = 0; allowed[a]; a++)
			if (!strcmp(allowed[a], k))
				break;
		if (!allowed[a])
			return req_fail_field(r, k, "unknown", "champ inconnu : %s", k);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(r->in->fields[j].key, k))
				return req_fail_field(r, k, "repeated", "%s : donné deux fois", k);
	}
	return 0;
}

__attribute__((format(printf, 2, 0))) static void set_message(struct req *r, const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	free(r->out->message);
	r->out->message = s;
}

int req_fail(struct req *r, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_message(r, fmt, ap);
	va_end(ap);
	return status;
}

int req_fail_field(struct req *r, const char *field, const char *rule, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_message(r, fmt, ap);
	va_end(ap);
	/* The field name comes from the request: only echo a valid key. */
	if (mm_key_valid(field, strlen(field)))
		req_put(r, "field", field);
	req_put(r, "rule", rule);
	return -EINVAL;
}

void req_put(struct req *r, const char *key, const char *value)
{
	int rc;

	if (!value)
		return;
	if ((rc = mm_msg_add(r->out, key, value)) < 0) {
		log_msg(LOG_WARNING, "reply field %s dropped: %s", key, strerror(-rc));
		if (!r->err)
			r->err = rc;
	}
}

void req_putf(struct req *r, const char *key, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s) {
		if (!r->err)
			r->err = -ENOMEM;
		return;
	}
	req_put(r, key, s);
	free(s);
}

void req_put_bool(struct req *r, const char *key, bool v)
{
	req_put(r, key, v ? "yes" : "no");
}

void req_put_index(struct req *r, size_t i)
{
	char n[24]; /* a size_t in decimal; no allocation: a reply may hold hundreds */

	snprintf(n, sizeof(n), "%zu", i);
	req_put(r, "#", n);
}

int req_errno(struct req *r, int rc, const char *what)
{
	struct fault f = {0};

	fault_store(&f, rc, what);
	return req_fault(r, &f);
}

int req_fault(struct req *r, struct fault *f)
{
	int status = f->status ? f->status : -EIO;

	if (f->message) {
		free(r->out->message);
		r->out->message = f->message;
		f->message = NULL;
	}
	for (size_t i = 0; i < f->nfacts; i++)
		req_put(r, f->facts[i].key, f->facts[i].value);
	fault_clear(f);
	return status;
}

int req_finish(struct req *r, int status)
{
	if (status == 0 && r->err) {
		/* Never "ok" with a field missing: the client would act on half an answer. */
		log_msg(LOG_ERR, "reply 0x%04x incomplete: %s", r->in->code, strerror(-r->err));
		mm_msg_clear_fields(r->out);
		status = r->err;
		free(r->out->message);
		r->out->message = NULL;
		mm_msg_set_message(r->out, "réponse incomplète (%s), réessayez", strerror(-status));
	}
	if (status < 0 && !r->out->message)
		mm_msg_set_message(r->out, "%s", strerror(-status));
	return status;
}
