/* pam_medimail password phase: the password change (pam_sm_chauthtok). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "pam_medimail.h"
#include "wire.h"

PAM_EXTERN int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct mm_msg *rep = NULL;
	const char *user = NULL;
	char *old = NULL, *new1 = NULL, *new2 = NULL;
	int r, rc;

	pmm_parse_opts(pamh, argc, argv, &o);
	if ((rc = pmm_get_user(pamh, &o, &user)) != PAM_SUCCESS)
		return rc;
	if (flags & PAM_PRELIM_CHECK) {
		r = pmm_call(pamh, &o, MM_REQ_PING, &rep, NULL);
		mm_msg_free(rep);
		if (r < 0) {
			pmm_error(pamh, &o, M_DAEMON_DOWN, NULL);
			return PAM_TRY_AGAIN;
		}
		return PAM_SUCCESS;
	}
	if (!(flags & PAM_UPDATE_AUTHTOK))
		return PAM_SERVICE_ERR;
	if ((rc = pmm_get_secret(pamh, &o, PAM_OLDAUTHTOK, M_OLD_PW, true, &old)) != PAM_SUCCESS)
		goto out;
	if (o.use_authtok) {
		/* The new password comes from a module above (e.g. pam_pwquality). */
		const void *tok = NULL;

		if (pam_get_item(pamh, PAM_AUTHTOK, &tok) != PAM_SUCCESS || !tok) {
			rc = PAM_AUTHTOK_ERR;
			goto out;
		}
		new1 = strdup(tok);
		new2 = strdup(tok);
		if (!new1 || !new2) {
			rc = PAM_BUF_ERR;
			goto out;
		}
	} else if ((rc = pmm_get_secret(pamh, &o, PAM_AUTHTOK, M_NEW_PW, false, &new1)) != PAM_SUCCESS ||
		(rc = pmm_get_secret(pamh, &o, PAM_AUTHTOK, M_NEW_PW2, false, &new2)) != PAM_SUCCESS)
		goto out;
	if (strcmp(new1, new2)) {
		pmm_error(pamh, &o, M_PW_MISMATCH, NULL);
		rc = PAM_AUTHTOK_ERR;
		goto out;
	}
	if (strlen(old) > MM_VALUE_MAX || strlen(new1) > MM_VALUE_MAX) {
		pmm_error(pamh, &o, M_TOO_LONG, NULL);
		rc = PAM_AUTHTOK_ERR;
		goto out;
	}
	r = pmm_call(pamh, &o, MM_REQ_PASSWORD_CHANGE, &rep, "user", user, "old_password", old,
		"new_password", new1, NULL);
	if (r < 0) {
		rc = pmm_unreachable(pamh, &o, r, PAM_AUTHTOK_ERR);
		goto out;
	}
	if (rep->status == 0) {
		pmm_say(pamh, PAM_TEXT_INFO, pmm_text(&o, M_PW_CHANGED), NULL);
		(void)pam_set_item(pamh, PAM_AUTHTOK, new1);
		rc = PAM_SUCCESS;
	} else if (rep->status == -EINVAL && mm_msg_get(rep, "rule") &&
		!strcmp(mm_msg_get(rep, "field") ?: "", "new_password")) {
		enum msg m = pmm_rule_msg(mm_msg_get(rep, "rule"));

		pmm_say(pamh, PAM_ERROR_MSG, pmm_text(&o, m),
			m == M_REFUSED ? mm_msg_get(rep, "rule") : NULL);
		rc = PAM_AUTHTOK_ERR;
	} else {
		rc = pmm_explain(pamh, &o, rep, PAM_AUTHTOK_ERR);
		if (rc != PAM_USER_UNKNOWN && rc != PAM_PERM_DENIED)
			rc = PAM_AUTHTOK_ERR;
	}
out:
	mm_msg_free(rep);
	pmm_wipe_free(old);
	pmm_wipe_free(new1);
	pmm_wipe_free(new2);
	return rc;
}
