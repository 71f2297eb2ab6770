/* pam_medimail account phase: the account may log in, and the terms of use (pam_sm_acct_mgmt). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "pam_medimail.h"
#include "wire.h"

static bool said_yes(const char *s)
{
	static const char *const yes[] = {"oui", "o", "yes", "y"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!strcasecmp(s, yes[i]))
			return true;
	return false;
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct mm_msg *rep = NULL, *rep2 = NULL;
	const char *user = NULL;
	char *answer = NULL;
	int r, rc;

	pmm_parse_opts(pamh, argc, argv, &o);
	if ((rc = pmm_get_user(pamh, &o, &user)) != PAM_SUCCESS)
		return rc;
	r = pmm_call(pamh, &o, MM_REQ_ACCT_CHECK, &rep, "user", user, NULL);
	if (r < 0)
		return pmm_unreachable(pamh, &o, r, PAM_AUTHINFO_UNAVAIL);
	if (rep->status < 0) {
		rc = pmm_explain(pamh, &o, rep, PAM_PERM_DENIED);
		if (rc == PAM_AUTH_ERR || rc == PAM_MAXTRIES)
			rc = PAM_PERM_DENIED;
		goto out;
	}
	rc = PAM_SUCCESS;
	if (strcmp(mm_msg_get(rep, "cgu_required") ?: "no", "yes"))
		goto out;
	/* A mail client cannot answer the question: the terms are accepted on the web or at a login. */
	if (o.mail) {
		pmm_error(pamh, &o, M_CGU_REFUSED, NULL);
		rc = PAM_PERM_DENIED;
		goto out;
	}
	/* First login: the terms of use, asked and recorded. */
	if (pam_prompt(pamh, PAM_PROMPT_ECHO_ON, &answer, "%s", pmm_text(&o, M_CGU_PROMPT)) != PAM_SUCCESS ||
		!answer) {
		rc = PAM_CONV_ERR;
		goto out;
	}
	answer[strcspn(answer, " \t\r\n")] = '\0';
	if (!said_yes(answer)) {
		pmm_error(pamh, &o, M_CGU_REFUSED, NULL);
		rc = PAM_PERM_DENIED;
		goto out;
	}
	r = pmm_call(pamh, &o, MM_REQ_CGU_ACCEPT, &rep2, "login", mm_msg_get(rep, "login") ?: user, NULL);
	if (r < 0) {
		rc = pmm_unreachable(pamh, &o, r, PAM_AUTHINFO_UNAVAIL);
		goto out;
	}
	if (rep2->status < 0) {
		rc = pmm_explain(pamh, &o, rep2, PAM_PERM_DENIED);
		goto out;
	}
	pmm_say(pamh, PAM_TEXT_INFO, pmm_text(&o, M_CGU_RECORDED), NULL);
out:
	free(answer);
	mm_msg_free(rep);
	mm_msg_free(rep2);
	return rc;
}
