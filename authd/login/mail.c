/* Mail clients (IMAP, SMTP): an app password or a device credential instead of the password and code. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "login_int.h"
#include "settings.h"
#include "validate.h"

/* What the lockout, the account state and the match read, in one search. */
static const char *const mail_attrs[] = {"uid", "mmAccountType", "mmStatus", "mmLoginMail", "uidNumber",
	"mmFailCount", "mmLockedUntil", "mmStatusReason", "pwdAccountLockedTime", "pwdFailureTime",
	"mmLastLogin", "mmAppPassword", "mmAppPasswordHash", "mmDevice", "mmDeviceCredHash", NULL};

static bool mail_secret_right(const struct entry *e, const char *secret, void *arg)
{
	return settings_mail_secret_match(e, secret, arg) == 0;
}

/* An unknown account costs the work of a wrong secret: both keyed hashes and the delay. */
static int unknown_refuse(const struct mm_config *c, const char *secret, struct fault *f)
{
	struct settings_mail_match m;
	struct entry empty = {.dn = (char *)""};

	if (settings_mail_secret_match(&empty, secret, &m) == 0)
		log_msg(LOG_ERR, "mail-auth: an empty entry matched");
	login_fail_delay(c);
	return fault_set(f, -EACCES, "identifiant ou mot de passe incorrect");
}

int login_mail_auth(struct store *s, const struct mm_config *c, const struct caller *who, const char *user,
	const char *secret, char ret_login[LOGIN_NAME_MAX], const char **ret_method, struct fault *f)
{
	struct settings_mail_match m = {0};
	struct entry *e = NULL;
	const char *reason, *method;
	int rc;

	ret_login[0] = '\0';
	*ret_method = NULL;
	if (!user || !*user)
		return fault_field(f, "user", "required", "identifiant : champ obligatoire");
	/* A newline would forge an audit line or a second name; the wire refuses a NUL. */
	if (validate_text(user, LOGIN_USER_MAX) < 0)
		return fault_field(f, "user", "characters", "identifiant invalide");
	if (!secret || !*secret)
		return fault_field(f, "secret", "required", "mot de passe d'application : champ obligatoire");
	if (strlen(secret) > MM_PASSWORD_MAX_BYTES)
		return fault_field(f, "secret", "max_length",
			"mot de passe d'application : %d octets au plus", MM_PASSWORD_MAX_BYTES);
	if ((rc = login_rate_take(c, who, "mail-auth", NULL, f)) < 0)
		return rc;
	rc = login_find(s, c, who, "mail-auth", user, mail_attrs, &e, f);
	if (rc == -ENOENT) {
		fault_clear(f);
		login_event(who, "mail-auth", "app-password", NULL, false, "unknown account");
		return unknown_refuse(c, secret, f);
	}
	if (rc < 0)
		return rc;
	if ((rc = login_rate_take(c, who, "mail-auth", entry_get(e, "uid"), f)) < 0)
		goto out;
	/* Read now from the directory: a revocation on any daemon counts at this login. */
	if ((rc = login_secret_verify(
		     s, c, who, "mail-auth", "app-password", e, secret, mail_secret_right, &m, f)) < 0)
		goto out;
	method = m.kind == SETTINGS_MAIL_DEVICE ? "device" : "app-password";
	if ((reason = login_inactive_reason(e))) {
		rc = login_refuse_inactive(who, "mail-auth", method, e, reason, f);
		goto out;
	}
	if (settings_app_password_touch(s, e, &m) < 0)
		log_msg(LOG_INFO, "%s: app password %s: last use not recorded", entry_get(e, "uid"), m.id);
	login_event(who, "mail-auth", method, entry_get(e, "uid"), true, m.id);
	snprintf(ret_login, LOGIN_NAME_MAX, "%s", entry_get(e, "uid"));
	*ret_method = method;
	rc = 0;
out:
	secret_wipe(&m, sizeof(m));
	entry_free(e);
	return rc;
}
