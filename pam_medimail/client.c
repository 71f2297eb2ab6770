/* pam_medimail client: one request to medimail-authd, and the secrets gathered for it. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "pam_medimail.h"
#include "wire.h"

static void put_meta(pam_handle_t *pamh, struct mm_msg *m)
{
	const void *service = NULL, *rhost = NULL;

	if (pam_get_item(pamh, PAM_SERVICE, &service) == PAM_SUCCESS && service)
		(void)!mm_msg_add(m, "service", service);
	if (pam_get_item(pamh, PAM_RHOST, &rhost) == PAM_SUCCESS && rhost)
		(void)!mm_msg_add(m, "rhost", rhost);
}

/* Sends code with the fields given as key, value pairs ending with NULL.
 * Returns 0 and the reply, or a negative errno when the daemon was not
 * reached or a field could not be encoded (-EMSGSIZE for a value too long). */
int pmm_call(pam_handle_t *pamh, const struct opts *o, uint16_t code, struct mm_msg **ret, ...)
{
	struct mm_msg *m = mm_msg_new(code, false);
	va_list ap;
	int r = 0;

	*ret = NULL;
	if (!m)
		return -ENOMEM;
	va_start(ap, ret);
	for (const char *k; (k = va_arg(ap, const char *));) {
		const char *v = va_arg(ap, const char *);

		if (v && strlen(v) > MM_VALUE_MAX) {
			r = -EMSGSIZE;
			break;
		}
		if (v && (r = mm_msg_add(m, k, v)) < 0)
			break;
	}
	va_end(ap);
	if (r == 0) {
		put_meta(pamh, m);
		r = mm_client_call(o->socket, o->timeout_ms, m, ret);
		if (r < 0)
			pam_syslog(pamh, LOG_ERR, "medimail-authd at %s: %s", o->socket, strerror(-r));
		else if (o->debug)
			pam_syslog(pamh, LOG_DEBUG, "request 0x%04x: status %d", code, (int)(*ret)->status);
	}
	mm_msg_free(m); /* wipes the secrets it carried */
	return r;
}

void pmm_wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

bool pmm_have_item(pam_handle_t *pamh, int item)
{
	const void *v = NULL;

	return pam_get_item(pamh, item, &v) == PAM_SUCCESS && v;
}

/* A secret from PAM_AUTHTOK (first_pass options) or the conversation. */
int pmm_get_secret(
	pam_handle_t *pamh, const struct opts *o, int item, enum msg prompt, bool first_pass, char **ret)
{
	const void *tok = NULL;
	char *resp = NULL;

	*ret = NULL;
	if (first_pass && (o->use_first_pass || o->try_first_pass) &&
		pam_get_item(pamh, item, &tok) == PAM_SUCCESS && tok) {
		*ret = strdup(tok);
		return *ret ? PAM_SUCCESS : PAM_BUF_ERR;
	}
	if (first_pass && o->use_first_pass)
		return PAM_AUTH_ERR;
	if (pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &resp, "%s", pmm_text(o, prompt)) != PAM_SUCCESS || !resp) {
		pmm_wipe_free(resp);
		return PAM_CONV_ERR;
	}
	*ret = resp;
	return PAM_SUCCESS;
}
