/* The password step of a login (online, or offline against the local verifier) and the password change. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "login_int.h"
#include "offline.h"
#include "validate.h"

/* mmSessionMethod of a pam-txn whose password step is done. */
#define TXN_OPEN "password"

/* The directory is unreachable: the password alone, against the verifier
 * kept at the last online login, within offline_ttl. */
static int password_offline(const struct mm_config *c, const struct caller *who, const char *user,
	const char *password, struct login_step *ret, struct fault *f)
{
	struct offline_rec rec;
	long long until;
	unsigned n;
	int rc;

	if (!user || offline_load(c, user, &rec) < 0) {
		login_event(
			who, "auth", "offline", user, false, "directory unavailable; no offline verifier");
		return fault_set(f, -EHOSTDOWN,
			"annuaire indisponible, et pas de connexion hors ligne possible pour ce compte");
	}
	if (who->uid != 0) {
		/* Without the directory the uid cannot be checked: only root (the
		 * login program) logs in offline, not an admin_group member. */
		offline_rec_wipe(&rec);
		login_event(who, "auth", "offline", user, false, "offline login needs a root caller");
		return fault_set(f, -EHOSTDOWN, "annuaire indisponible");
	}
	/* Reserved before the password is verified, in a file that outlives the daemon. */
	rc = offline_attempt_reserve(c, rec.login, &until, &n);
	if (rc == -ENOLCK) {
		login_fail_delay(c);
		login_event(who, "auth", "offline", rec.login, false, "account locked (offline)");
		rc = login_locked_fault(until, f);
		goto out;
	}
	if (rc < 0) {
		login_event(who, "auth", "offline", rec.login, false, "offline failure count unusable");
		rc = fault_set(f, -EHOSTDOWN, "annuaire indisponible");
		goto out;
	}
	if (secret_password_verify(rec.verifier, password) < 0) {
		rc = offline_attempt_failed(c, rec.login, &until);
		login_fail_delay(c);
		if (rc < 0)
			log_msg(LOG_WARNING, "%s: offline lock not recorded: %s", rec.login, strerror(-rc));
		login_event(who, "auth", "offline", rec.login, false,
			until ? "bad password (offline); account locked" : "bad password (offline)");
		rc = until ? login_locked_fault(until, f)
			   : fault_set(f, -EACCES, "identifiant ou mot de passe incorrect");
		goto out;
	}
	if ((rc = offline_attempt_reset(c, rec.login, n)) < 0)
		log_msg(LOG_WARNING, "%s: offline failures not reset: %s", rec.login, strerror(-rc));
	login_event(who, "auth", "offline", rec.login, true,
		"offline login: password checked locally, no one-time code");
	snprintf(ret->login, sizeof(ret->login), "%s", rec.login);
	ret->offline = true;
	ret->offline_until = rec.stamp + (long long)c->offline_ttl;
	rc = 0;
out:
	offline_rec_wipe(&rec);
	return rc;
}

int login_password_step(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *event, const struct entry *e, const char *password, struct login_step *ret,
	struct fault *f)
{
	struct record txn = {.method = TXN_OPEN, .service = who->service, .remote = who->rhost};
	const char *reason;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if ((rc = login_rate_take(c, who, event, entry_get(e, "uid"), f)) < 0)
		return rc;
	if ((rc = login_password_verify(s, c, who, event, e, password, f)) < 0)
		return rc;
	if ((reason = login_inactive_reason(e))) {
		offline_forget(c, e);
		return login_refuse_inactive(who, event, "password", e, reason, f);
	}
	/* The transaction outlives the code by a minute, so that an expired
	 * code is reported as such rather than as a stale login. */
	txn.user_dn = e->dn;
	txn.expires = login_now() + (long long)c->otp_ttl + 60;
	rc = record_create(s, c, RECORD_TXN, &txn, ret->txn);
	if (rc < 0)
		return fault_store(f, rc, "authentification");
	login_event(
		who, event, "password", entry_get(e, "uid"), true, "password step; one-time code required");
	snprintf(ret->login, sizeof(ret->login), "%s", entry_get(e, "uid"));
	ret->txn_expires_in = c->otp_ttl + 60;
	return 0;
}

int login_password(struct store *s, const struct mm_config *c, const struct caller *who, const char *user,
	const char *password, bool offline_ok, struct login_step *ret, struct fault *f)
{
	struct entry *e = NULL;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if (!password)
		return fault_field(f, "password", "required", "mot de passe : champ obligatoire");
	if (strlen(password) > MM_PASSWORD_MAX_BYTES)
		return fault_field(f, "password", "max_length", "mot de passe : %d octets au plus",
			MM_PASSWORD_MAX_BYTES);
	if ((rc = login_rate_take(c, who, "auth", NULL, f)) < 0)
		return rc;
	rc = login_find(s, c, who, "auth", user, login_auth_attrs, &e, f);
	if (rc == -EHOSTDOWN && offline_ok && c->offline_login) {
		fault_clear(f);
		return password_offline(c, who, user, password, ret, f);
	}
	if (rc == -ENOENT && user) {
		/* Unknown, or someone else's: the answer and the work of a wrong password. */
		fault_clear(f);
		return login_unknown_refuse(c, password, f);
	}
	if (rc < 0)
		return rc;
	rc = login_password_step(s, c, who, "auth", e, password, ret, f);
	entry_free(e);
	return rc;
}

int login_password_change(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *user, const char *old, const char *new, char ret_login[LOGIN_NAME_MAX], struct fault *f)
{
	char hashed[SECRET_PWHASH_MAX];
	const char *rule = NULL, *reason;
	struct entry *e = NULL;
	struct mods m;
	int rc;

	hashed[0] = '\0';
	if (!old)
		return fault_field(f, "old_password", "required", "ancien mot de passe : champ obligatoire");
	if (!new)
		return fault_field(f, "new_password", "required", "nouveau mot de passe : champ obligatoire");
	if (strlen(old) > MM_PASSWORD_MAX_BYTES)
		return fault_field(f, "old_password", "max_length", "ancien mot de passe : %d octets au plus",
			MM_PASSWORD_MAX_BYTES);
	if ((rc = login_rate_take(c, who, "password-change", NULL, f)) < 0)
		return rc;
	if ((rc = login_find(s, c, who, "password-change", user, login_auth_attrs, &e, f)) < 0)
		return rc;
	if ((rc = login_rate_take(c, who, "password-change", entry_get(e, "uid"), f)) < 0)
		goto out;
	if ((rc = login_password_verify(s, c, who, "password-change", e, old, f)) < 0)
		goto out;
	/* A suspended, closed or pending account changes nothing, as it logs
	 * in nowhere; told only to who proved its password. */
	if ((reason = login_inactive_reason(e))) {
		rc = login_refuse_inactive(who, "password-change", "password", e, reason, f);
		goto out;
	}
	if (validate_password(new, &rule) < 0) {
		login_event(who, "password-change", "password", entry_get(e, "uid"), false, rule);
		rc = fault_field(f, "new_password", rule, "%s", password_rule_message(rule));
		goto out;
	}
	if (!strcmp(old, new)) {
		login_event(who, "password-change", "password", entry_get(e, "uid"), false, "same");
		rc = fault_field(
			f, "new_password", "same", "le nouveau mot de passe doit différer de l'ancien");
		goto out;
	}
	if ((rc = secret_password_hash(new, hashed)) < 0)
		goto out;
	mods_init(&m);
	mods_add(&m, LDAP_MOD_REPLACE, "userPassword", hashed);
	rc = store_modify(s, e->dn, &m);
	mods_free(&m);
	if (rc < 0) {
		rc = fault_store(f, rc, "changement de mot de passe");
		goto out;
	}
	/* The local verifier holds the old password: gone until the next online login. */
	offline_forget(c, e);
	login_event(who, "password-change", "password", entry_get(e, "uid"), true, NULL);
	snprintf(ret_login, LOGIN_NAME_MAX, "%s", entry_get(e, "uid"));
out:
	secret_wipe(hashed, sizeof(hashed));
	entry_free(e);
	return rc;
}
