/* pam_medimail session phase: the Medimail session opened and closed (pam_sm_open_session, pam_sm_close_session). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "pam_medimail.h"
#include "wire.h"

#define DATA_SESSION "pam_medimail_session"

static void cleanup_handle(pam_handle_t *pamh, void *data, int error_status)
{
	pmm_wipe_free(data);
}

static int putenv_kv(pam_handle_t *pamh, const char *key, const char *value)
{
	char *s = NULL;
	int rc;

	if (!value || asprintf(&s, "%s=%s", key, value) < 0)
		return PAM_BUF_ERR;
	rc = pam_putenv(pamh, s);
	pmm_wipe_free(s);
	return rc;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct mm_msg *rep = NULL;
	const char *user = NULL;
	char *handle = NULL;
	int r, rc;

	pmm_parse_opts(pamh, argc, argv, &o);
	if ((rc = pmm_get_user(pamh, &o, &user)) != PAM_SUCCESS)
		return rc;
	const void *method = NULL;

	if (pam_get_data(pamh, DATA_METHOD, &method) != PAM_SUCCESS || !method)
		method = "password+otp";
	r = pmm_call(pamh, &o, MM_REQ_SESSION_OPEN, &rep, "user", user, "method", (const char *)method, NULL);
	if (r < 0)
		return pmm_unreachable(pamh, &o, r, PAM_SESSION_ERR);
	if (rep->status < 0) {
		rc = pmm_explain(pamh, &o, rep, PAM_SESSION_ERR);
		/* Not a Medimail user: leave the session to the other modules. */
		rc = rc == PAM_USER_UNKNOWN ? PAM_IGNORE : PAM_SESSION_ERR;
		goto out;
	}
	if (!mm_msg_get(rep, "session") || !(handle = strdup(mm_msg_get(rep, "session")))) {
		rc = PAM_SESSION_ERR;
		goto out;
	}
	if ((rc = putenv_kv(pamh, "MEDIMAIL_ACCOUNT", mm_msg_get(rep, "account"))) != PAM_SUCCESS ||
		(rc = putenv_kv(pamh, "MEDIMAIL_ADDRESS", mm_msg_get(rep, "address"))) != PAM_SUCCESS ||
		(rc = putenv_kv(pamh, "MEDIMAIL_SESSION", handle)) != PAM_SUCCESS)
		goto out;
	if ((rc = pam_set_data(pamh, DATA_SESSION, handle, cleanup_handle)) != PAM_SUCCESS)
		goto out;
	handle = NULL;
	if (o.debug)
		pam_syslog(pamh, LOG_DEBUG, "session of %s opened as %s", user, mm_msg_get(rep, "account"));
out:
	pmm_wipe_free(handle);
	mm_msg_free(rep);
	return rc;
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct mm_msg *rep = NULL;
	const void *data = NULL;
	const char *handle;
	int r, rc = PAM_SUCCESS;

	pmm_parse_opts(pamh, argc, argv, &o);
	if (pmm_host_user_item(pamh))
		return pmm_stand_aside(pamh, &o);
	if (pam_get_data(pamh, DATA_SESSION, &data) == PAM_SUCCESS && data)
		handle = data;
	else
		handle = pam_getenv(pamh, "MEDIMAIL_SESSION");
	if (!handle)
		return PAM_IGNORE;
	r = pmm_call(pamh, &o, MM_REQ_SESSION_CLOSE, &rep, "session", handle, NULL);
	if (r < 0)
		rc = pmm_unreachable(pamh, &o, r, PAM_SESSION_ERR);
	else if (rep->status < 0 && rep->status != -ENOENT && rep->status != -EHOSTDOWN)
		rc = PAM_SESSION_ERR; /* an offline session, or one gone meanwhile, is simply over */
	mm_msg_free(rep);
	/* Forget the handle in every case: the daemon expires it anyway. */
	(void)pam_putenv(pamh, "MEDIMAIL_SESSION");
	(void)pam_putenv(pamh, "MEDIMAIL_ACCOUNT");
	(void)pam_putenv(pamh, "MEDIMAIL_ADDRESS");
	(void)pam_set_data(pamh, DATA_SESSION, NULL, NULL);
	return rc;
}
