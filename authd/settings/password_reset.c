/* "Mot de passe oublié ?": a single-use reset link mailed to the login address. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail.h"
#include "protocol.h"
#include "secret.h"
#include "settings_int.h"
#include "validate.h"

/* Why no link is sent, or NULL when one may be (audit only: the caller gets one answer). */
static const char *no_link(const struct entry *e)
{
	const char *exp = entry_get(e, "mmResetExpires");

	if (settings_is_org(e))
		return "ORG has no password";
	if (strcmp(entry_get(e, "mmStatus"), MM_STATUS_ACTIVE))
		return "account not active";
	if (exp && store_parse_time(exp) - SETTINGS_RESET_TTL + SETTINGS_RESET_INTERVAL > settings_now())
		return "a link was sent less than a minute ago";
	return NULL;
}

int settings_password_forgot(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *mail, struct fault *f)
{
	static const char *const attrs[] = {
		"uid", "objectClass", "mmAccountType", "mmStatus", "mmLoginMail", "mmResetExpires", NULL};
	char token[SECRET_TOKEN_HEX] = "", h[SECRET_HASH_HEX], expires[16], *esc = NULL, *filter = NULL,
	     *body = NULL;
	struct entry *e = NULL;
	const char *why;
	struct mods m;
	int rc;

	if (!mail || validate_email(mail) < 0)
		return fault_field(f, "login_mail", "syntax", "adresse e-mail invalide");
	esc = store_escape(mail);
	if (!esc || asprintf(&filter, "(&(objectClass=mmAccount)(mmLoginMail=%s))", esc) < 0) {
		free(esc);
		return fault_set(f, -ENOMEM, "mémoire insuffisante");
	}
	free(esc);
	rc = store_search_one(s, c->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, &e);
	free(filter);
	if (rc == -ENOENT) {
		caller_audit(who, "password-forgot", NULL, NULL, false, "no such account");
		return 0; /* the same answer whether the address is known or not */
	}
	if (rc < 0)
		return fault_store(f, rc, "réinitialisation");
	if ((why = no_link(e))) {
		caller_audit(who, "password-forgot", NULL, entry_get(e, "uid"), false, why);
		rc = 0;
		goto out;
	}
	secret_token(token);
	if ((rc = secret_keyed_hash("password-reset", token, h)) < 0) {
		fault_set(f, rc, "réinitialisation impossible");
		goto out;
	}
	store_time(settings_now() + SETTINGS_RESET_TTL, expires);
	mods_init(&m);
	settings_need_aux(&m, e);
	mods_add(&m, LDAP_MOD_REPLACE, "mmResetHash", h);
	mods_add(&m, LDAP_MOD_REPLACE, "mmResetExpires", expires);
	if ((rc = settings_modify(s, e, &m, "réinitialisation", f)) < 0)
		goto out;
	if (asprintf(&body,
		    "Bonjour,\n\nVous avez demandé la réinitialisation du mot de passe de votre compte "
		    "Medimail.\n"
		    "Pour définir un nouveau mot de passe, ouvrez ce lien (valable %u minutes, une seule "
		    "fois) :\n\n"
		    "%s%s\n\nSi vous n'êtes pas à l'origine de cette demande, ignorez ce message : votre mot "
		    "de "
		    "passe actuel reste valable.",
		    SETTINGS_RESET_TTL / 60, c->reset_url, token) < 0) {
		body = NULL;
		rc = fault_set(f, -ENOMEM, "mémoire insuffisante");
		goto out;
	}
	if (mail_send(c, MAIL_ACCOUNT, entry_get(e, "mmLoginMail"),
		    "Réinitialisation de votre mot de passe Medimail", body) < 0) {
		caller_audit(who, "password-forgot", NULL, entry_get(e, "uid"), false, "mail not sent");
		rc = fault_set(f, -ECOMM, "l'e-mail n'a pas pu être envoyé, réessayez plus tard");
		goto out;
	}
	caller_audit(who, "password-forgot", NULL, entry_get(e, "uid"), true, "link sent");
	rc = 0;
out:
	secret_wipe(token, sizeof(token));
	secret_free(body);
	entry_free(e);
	return rc;
}

int settings_password_reset(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *token, const char *pw, const char *confirm, char ret_login[65], struct fault *f)
{
	static const char *const attrs[] = {"uid", "mmStatus", "mmResetExpires", NULL};
	char h[SECRET_HASH_HEX], filter[128], pwhash[SECRET_PWHASH_MAX] = "";
	const char *rule = NULL;
	struct entry *e = NULL;
	struct mods m;
	int rc;

	ret_login[0] = '\0';
	if (!settings_valid_token(token))
		return fault_field(f, "token", "syntax", "lien de réinitialisation invalide");
	if (!pw)
		return fault_field(f, "password", "required", "mot de passe : champ obligatoire");
	if (validate_password(pw, &rule) < 0)
		return fault_field(f, "password", rule, "%s", password_rule_message(rule));
	if (confirm && strcmp(pw, confirm))
		return fault_field(f, "password_confirm", "mismatch",
			"la confirmation ne correspond pas au mot de passe");
	if ((rc = secret_keyed_hash("password-reset", token, h)) < 0)
		return fault_set(f, rc, "réinitialisation impossible");
	snprintf(filter, sizeof(filter), "(&(objectClass=mmAccount)(mmResetHash=%s))", h);
	rc = store_search_one(s, c->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, &e);
	if (rc == -ENOENT) {
		caller_audit(who, "password-reset", NULL, NULL, false, "unknown or used token");
		return fault_set(f, -ENOENT, "lien de réinitialisation inconnu ou déjà utilisé");
	}
	if (rc < 0)
		return fault_store(f, rc, "réinitialisation");
	if (store_parse_time(entry_get(e, "mmResetExpires")) < settings_now()) {
		caller_audit(who, "password-reset", NULL, entry_get(e, "uid"), false, "token expired");
		rc = fault_set(
			f, -ETIMEDOUT, "lien de réinitialisation expiré : faites une nouvelle demande");
		goto out;
	}
	if (strcmp(entry_get(e, "mmStatus"), MM_STATUS_ACTIVE)) {
		caller_audit(who, "password-reset", NULL, entry_get(e, "uid"), false, "account not active");
		rc = fault_set(f, -EPERM, "le compte n'est pas actif");
		goto out;
	}
	if ((rc = secret_password_hash(pw, pwhash)) < 0) {
		fault_set(f, rc, "mot de passe : hachage impossible");
		goto out;
	}
	mods_init(&m);
	/* Deleting the exact hash makes the link single-use across daemons. */
	mods_add(&m, LDAP_MOD_DELETE, "mmResetHash", h);
	mods_add(&m, LDAP_MOD_REPLACE, "mmResetExpires", NULL);
	mods_add(&m, LDAP_MOD_REPLACE, "userPassword", pwhash);
	rc = m.err ? m.err : store_modify(s, e->dn, &m);
	mods_free(&m);
	if (rc == -ESTALE) {
		caller_audit(
			who, "password-reset", NULL, entry_get(e, "uid"), false, "token used concurrently");
		rc = fault_set(f, -ENOENT, "lien de réinitialisation déjà utilisé");
		goto out;
	}
	if (rc < 0) {
		rc = fault_store(f, rc, "réinitialisation");
		goto out;
	}
	caller_audit(who, "password-reset", NULL, entry_get(e, "uid"), true, NULL);
	snprintf(ret_login, 65, "%s", entry_get(e, "uid"));
out:
	secret_wipe(pwhash, sizeof(pwhash));
	entry_free(e);
	return rc;
}
