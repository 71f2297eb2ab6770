/* Why a service refused (fault.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"
#include "log.h"
#include "wire.h"

__attribute__((format(printf, 1, 0))) static char *vformat(const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

int fault_set(struct fault *f, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	free(f->message);
	f->message = vformat(fmt, ap);
	va_end(ap);
	f->status = status;
	return status;
}

void fault_put(struct fault *f, const char *key, const char *value)
{
	size_t i, n = strlen(key);
	char *v;

	if (!value)
		return;
	/* Never silently: a client reading retry_after or reason would act on
	 * half an answer without anyone knowing why. */
	if (n == 0 || n > FAULT_KEY_MAX || !mm_key_valid(key, n)) {
		log_msg(LOG_ERR, "refusal fact with an invalid key dropped");
		return;
	}
	if (!(v = strdup(value))) {
		log_msg(LOG_WARNING, "refusal fact %s dropped: out of memory", key);
		return;
	}
	for (i = 0; i < f->nfacts; i++)
		if (!strcmp(f->facts[i].key, key))
			break;
	if (i == f->nfacts) {
		if (f->nfacts == FAULT_FACTS_MAX) {
			log_msg(LOG_WARNING, "refusal fact %s dropped", key);
			free(v);
			return;
		}
		memcpy(f->facts[i].key, key, n + 1);
		f->nfacts++;
	} else {
		free(f->facts[i].value);
	}
	f->facts[i].value = v;
}

void fault_putf(struct fault *f, const char *key, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = vformat(fmt, ap);
	va_end(ap);
	if (!s) {
		log_msg(LOG_WARNING, "refusal fact %s dropped: out of memory", key);
		return;
	}
	fault_put(f, key, s);
	free(s);
}

const char *fault_get(const struct fault *f, const char *key)
{
	for (size_t i = 0; i < f->nfacts; i++)
		if (!strcmp(f->facts[i].key, key))
			return f->facts[i].value;
	return NULL;
}

int fault_field(struct fault *f, const char *field, const char *rule, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	free(f->message);
	f->message = vformat(fmt, ap);
	va_end(ap);
	f->status = -EINVAL;
	/* The field name may come from the request (an HTTP body's key, say):
	 * only a valid wire key is echoed, as req_fail_field does. */
	if (field && mm_key_valid(field, strlen(field)))
		fault_put(f, "field", field);
	fault_put(f, "rule", rule);
	return -EINVAL;
}

int fault_store(struct fault *f, int rc, const char *what)
{
	switch (rc) {
	case -EHOSTDOWN: return fault_set(f, rc, "annuaire indisponible, réessayez plus tard");
	case -ENOENT: return fault_set(f, rc, "%s : compte introuvable", what);
	case -ENOTUNIQ: return fault_set(f, -EIO, "%s : identifiant ambigu", what);
	case -EACCES: return fault_set(f, rc, "%s : accès refusé par l'annuaire", what);
	case -ENOMEM: return fault_set(f, rc, "mémoire insuffisante");
	default:
		log_msg(LOG_ERR, "%s: directory error %s", what, strerror(-rc));
		return fault_set(f, rc, "%s : erreur de l'annuaire", what);
	}
}

void fault_clear(struct fault *f)
{
	free(f->message);
	for (size_t i = 0; i < f->nfacts; i++)
		free(f->facts[i].value);
	memset(f, 0, sizeof(*f));
}
