/* The login e-mail ("Identifiants de connexion"): a change confirmed by a single-use link sent to the new address. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "accounts.h"
#include "mail.h"
#include "protocol.h"
#include "records.h"
#include "secret.h"
#include "settings_int.h"
#include "validate.h"

/* Two ou=sessions records: the link (handle: the mailed token; account: the
 * account; data: "<new> <old>"), and the account's last request (handle: the
 * account's DN; data: "<epoch> <keyed hash of the token>"), which spaces the
 * requests and makes every earlier link void. Addresses hold no space. */
#define KIND_LINK "email-change"
#define KIND_LAST "email-change-last"
/* The new address is claimed (records.h, mail_claim_take) before it is checked and written. */

static int taken_fault(struct fault *f)
{
	fault_field(
		f, "login_mail", "duplicate", "adresse e-mail : un compte existe déjà avec cette adresse");
	return f->status = -EEXIST;
}

/* The account's last request: 0 with *ret_at and ret_hash, -ENOENT when none (or expired). */
static int last_load(struct store *s, const struct mm_config *c, const char *dn, struct entry **ret_e,
	long long *ret_at, char ret_hash[SECRET_HASH_HEX])
{
	const char *d;
	char hash[SECRET_HASH_HEX];
	long long at;
	int rc = record_load(s, c, KIND_LAST, dn, ret_e);

	if (rc == -ETIMEDOUT)
		return -ENOENT;
	if (rc < 0)
		return rc;
	d = record_data(*ret_e);
	if (!d || sscanf(d, "%lld %64s", &at, hash) != 2) {
		at = 0;
		hash[0] = '\0';
	}
	*ret_at = at;
	memcpy(ret_hash, hash, SECRET_HASH_HEX);
	return 0;
}

static int link_mail(const struct mm_config *c, const struct entry *t, const char *mail, const char *token)
{
	char *body = NULL;
	int rc;

	if (asprintf(&body,
		    "Bonjour,\n\n"
		    "Vous avez demandé que l'adresse de connexion de votre compte Medimail %s devienne "
		    "%s.\n"
		    "L'adresse Medimail est l'adresse de connexion à votre compte Medimail : c'est votre "
		    "identifiant.\n\n"
		    "Pour confirmer ce changement, ouvrez ce lien (valable %u heures, une seule fois) puis "
		    "validez :\n\n%s%s\n\n"
		    "Tant que ce changement n'est pas confirmé, votre adresse actuelle (%s) reste votre "
		    "identifiant. Si vous n'êtes pas à l'origine de cette demande, ignorez ce message.",
		    entry_get(t, "uid"), mail, SETTINGS_EMAIL_TTL / 3600, c->email_change_url, token,
		    entry_get(t, "mmLoginMail")) < 0)
		return -ENOMEM;
	rc = mail_send(c, MAIL_ACCOUNT, mail, "Confirmez votre nouvelle adresse de connexion Medimail", body);
	secret_free(body);
	return rc;
}

int settings_email_change(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, const char *mail, struct settings_email_pending *ret, struct fault *f)
{
	char token[SECRET_TOKEN_HEX] = "", h[SECRET_HASH_HEX], old_h[SECRET_HASH_HEX], *data = NULL,
	     canon[256];
	const char *login = entry_get(t, "uid"), *old = entry_get(t, "mmLoginMail");
	struct entry *last = NULL;
	long long now = settings_now(), at = 0;
	bool taken;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if ((rc = settings_writable(t, f)) < 0)
		return rc;
	/* Guide 003: an ORG's users "visualiser l'adresse mail associée à la
	 * boite organisationnelle"; the service centre changes it. */
	if (settings_is_org(t) && !who->admin) {
		caller_audit(who, "email-change", NULL, login, false, "ORG address: administrators only");
		fault_field(f, "login_mail", "admin_only",
			"l'adresse de la boîte organisationnelle se consulte ici ; pour la changer, "
			"contactez "
			"le Centre De Services");
		return f->status = -EACCES;
	}
	if (strcmp(entry_get(t, "mmStatus") ?: "", MM_STATUS_ACTIVE))
		return fault_set(f, -EPERM, "le compte n'est pas actif");
	if (!mail || !*mail)
		return fault_field(f, "login_mail", "required", "adresse e-mail : champ obligatoire");
	/* As typed at registration: spaces around it dropped (catalog_normalize). */
	if (catalog_normalize(catalog_find("login_mail"), mail, canon, sizeof(canon)) > 0)
		mail = canon;
	/* validate_email refuses a space, a newline or any control character. */
	if (validate_email(mail) < 0)
		return fault_field(f, "login_mail", "syntax", "adresse e-mail : adresse e-mail invalide");
	if (old && !strcasecmp(old, mail))
		return fault_field(f, "login_mail", "same",
			"adresse e-mail : c'est déjà l'adresse de connexion du compte");
	if ((rc = accounts_mail_taken(s, c, mail, t->dn, &taken)) < 0)
		return fault_store(f, rc, "adresse e-mail");
	if (taken) {
		caller_audit(who, "email-change", NULL, login, false, "address used by another account");
		return taken_fault(f);
	}
	rc = last_load(s, c, t->dn, &last, &at, old_h);
	if (rc < 0 && rc != -ENOENT) {
		rc = fault_store(f, rc, "adresse e-mail");
		goto out;
	}
	if (rc == 0 && at + SETTINGS_EMAIL_INTERVAL > now) {
		char retry[24];

		snprintf(retry, sizeof(retry), "%lld", at + SETTINGS_EMAIL_INTERVAL - now);
		caller_audit(who, "email-change", NULL, login, false, "rate limited");
		rc = fault_set(f, -EAGAIN,
			"une demande a été faite il y a moins d'une minute : réessayez plus tard");
		fault_put(f, "retry_after", retry);
		goto out;
	}
	/* The earlier request goes: of two requests at once, one adds the new record. */
	if (last && (rc = record_delete(s, last)) < 0 && rc != -ENOENT) {
		rc = fault_store(f, rc, "adresse e-mail");
		goto out;
	}
	secret_token(token);
	if ((rc = secret_keyed_hash(KIND_LINK, token, h)) < 0) {
		rc = fault_set(f, rc, "changement d'adresse impossible");
		goto out;
	}
	if (asprintf(&data, "%lld %s", now, h) < 0) {
		data = NULL;
		rc = fault_set(f, -ENOMEM, "mémoire insuffisante");
		goto out;
	}
	rc = record_put(s, c, KIND_LAST, t->dn,
		&(struct record){.account_dn = t->dn,
			.method = KIND_LAST,
			.data = data,
			.expires = now + SETTINGS_EMAIL_TTL});
	free(data);
	data = NULL;
	if (rc == -EEXIST) {
		caller_audit(who, "email-change", NULL, login, false, "concurrent request");
		rc = fault_set(f, -EAGAIN, "une autre demande est en cours : réessayez plus tard");
		fault_put(f, "retry_after", "60");
		goto out;
	}
	if (rc < 0) {
		rc = fault_store(f, rc, "adresse e-mail");
		goto out;
	}
	if (asprintf(&data, "%s %s", mail, old ?: "") < 0) {
		data = NULL;
		rc = fault_set(f, -ENOMEM, "mémoire insuffisante");
		goto out;
	}
	rc = flow_put(s, c, KIND_LINK, token, t->dn, data, SETTINGS_EMAIL_TTL);
	if (rc < 0) {
		rc = fault_store(f, rc, "adresse e-mail");
		goto out;
	}
	if (link_mail(c, t, mail, token) < 0) {
		/* Without the mail the link serves nobody: the next request may come at once. */
		entry_free(last);
		last = NULL;
		if (flow_take(s, c, KIND_LINK, token) < 0 || record_load(s, c, KIND_LAST, t->dn, &last) < 0 ||
			record_delete(s, last) < 0)
			caller_audit(
				who, "email-change", NULL, login, false, "records of an unsent link left");
		caller_audit(who, "email-change", NULL, login, false, "mail not sent");
		rc = fault_set(f, -ECOMM, "l'e-mail n'a pas pu être envoyé, réessayez plus tard");
		goto out;
	}
	caller_audit(who, "email-change", NULL, login, true, "link sent to the new address");
	snprintf(ret->login, sizeof(ret->login), "%s", login);
	snprintf(ret->mail, sizeof(ret->mail), "%s", mail);
	ret->expires_in = SETTINGS_EMAIL_TTL;
	rc = 0;
out:
	secret_wipe(token, sizeof(token));
	free(data);
	entry_free(last);
	return rc;
}

static void notice_mail(const struct mm_config *c, const struct caller *who, const char *login,
	const char *old, const char *mail)
{
	char *body = NULL;

	if (asprintf(&body,
		    "Bonjour,\n\n"
		    "L'adresse de connexion de votre compte Medimail %s a été changée : ce n'est plus %s, "
		    "c'est désormais %s. Connectez-vous dorénavant avec cette nouvelle adresse.\n\n"
		    "Si vous n'êtes pas à l'origine de ce changement, contactez sans attendre "
		    "l'administrateur Medimail de votre structure ou le Centre De Services.",
		    login, old, mail) < 0)
		return;
	if (mail_send(c, MAIL_ACCOUNT, old, "L'adresse de connexion de votre compte Medimail a changé",
		    body) < 0)
		caller_audit(
			who, "email-change-notice", NULL, login, false, "mail to the old address not sent");
	free(body);
}

int settings_email_confirm(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *token, struct settings_email_pending *ret, struct fault *f)
{
	static const char *const attrs[] = {"uid", "mmStatus", "mmLoginMail", "mail", NULL};
	char *dn = NULL, *data = NULL, mail[256] = "", old[256] = "", h[SECRET_HASH_HEX],
	     last_h[SECRET_HASH_HEX], claim[256] = "";
	struct entry *e = NULL, *last = NULL;
	const char *login = NULL;
	long long at;
	bool taken;
	struct mods m;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if (!settings_valid_token(token))
		return fault_field(f, "token", "syntax", "lien de changement d'adresse invalide");
	rc = flow_get(s, c, KIND_LINK, token, &dn, &data);
	if (rc == -ENOENT) {
		caller_audit(who, "email-confirm", NULL, NULL, false, "unknown, expired or used token");
		return fault_set(f, -ENOENT, "lien de changement d'adresse inconnu, expiré ou déjà utilisé");
	}
	if (rc < 0)
		return fault_store(f, rc, "changement d'adresse");
	if (!dn || !data || sscanf(data, "%255s %255s", mail, old) < 1) {
		rc = fault_set(f, -EIO, "lien de changement d'adresse illisible");
		goto out;
	}
	if ((rc = secret_keyed_hash(KIND_LINK, token, h)) < 0) {
		rc = fault_set(f, rc, "changement d'adresse impossible");
		goto out;
	}
	rc = store_read(s, dn, attrs, &e);
	if (rc == -ENOENT) {
		rc = fault_set(f, -ENOENT, "lien de changement d'adresse inconnu, expiré ou déjà utilisé");
		goto drop;
	}
	if (rc < 0) {
		rc = fault_store(f, rc, "changement d'adresse");
		goto out;
	}
	login = entry_get(e, "uid");
	/* Only the link of the account's last request serves. */
	rc = last_load(s, c, dn, &last, &at, last_h);
	if (rc < 0 && rc != -ENOENT) {
		rc = fault_store(f, rc, "changement d'adresse");
		goto out;
	}
	if (rc == -ENOENT || !secret_equal(h, last_h)) {
		caller_audit(who, "email-confirm", NULL, login, false, "link replaced by a newer request");
		rc = fault_set(f, -ESTALE, "ce lien a été remplacé par une demande plus récente");
		goto drop;
	}
	if (strcmp(entry_get(e, "mmStatus") ?: "", MM_STATUS_ACTIVE)) {
		caller_audit(who, "email-confirm", NULL, login, false, "account not active");
		rc = fault_set(f, -EPERM, "le compte n'est pas actif");
		goto out;
	}
	if (!entry_get(e, "mmLoginMail") || strcasecmp(entry_get(e, "mmLoginMail"), old)) {
		caller_audit(who, "email-confirm", NULL, login, false, "login e-mail changed meanwhile");
		rc = fault_set(f, -ESTALE,
			"l'adresse du compte a changé depuis la demande : faites-en une nouvelle");
		goto drop;
	}
	if ((rc = mail_claim_take(s, c, mail, claim, sizeof(claim))) < 0) {
		if (rc == -EBUSY) {
			caller_audit(
				who, "email-confirm", NULL, login, false, "address being taken meanwhile");
			rc = fault_set(f, -EAGAIN,
				"cette adresse est en cours d'attribution : réessayez dans un instant");
			fault_put(f, "retry_after", "1");
		} else {
			rc = fault_store(f, rc, "changement d'adresse");
		}
		goto out;
	}
	if ((rc = accounts_mail_taken(s, c, mail, dn, &taken)) < 0) {
		rc = fault_store(f, rc, "changement d'adresse");
		goto out;
	}
	if (taken) {
		caller_audit(who, "email-confirm", NULL, login, false, "address taken meanwhile");
		rc = taken_fault(f);
		goto drop;
	}
	/* Single use: of two confirmations of one link, one deletes it. */
	if ((rc = flow_take(s, c, KIND_LINK, token)) < 0) {
		caller_audit(who, "email-confirm", NULL, login, false, "token used concurrently");
		rc = rc == -ENOENT ? fault_set(f, -ENOENT, "lien de changement d'adresse déjà utilisé")
				   : fault_store(f, rc, "changement d'adresse");
		goto out;
	}
	/* Deleting the exact old value asserts it is still the address (-ESTALE
	 * otherwise); slapd's unique overlay refuses an address another
	 * account took in between (-EEXIST). */
	mods_init(&m);
	mods_add(&m, LDAP_MOD_DELETE, "mmLoginMail", entry_get(e, "mmLoginMail"));
	mods_add(&m, LDAP_MOD_ADD, "mmLoginMail", mail);
	if (entry_has_value(e, "mail", entry_get(e, "mmLoginMail")))
		mods_add(&m, LDAP_MOD_DELETE, "mail", entry_get(e, "mmLoginMail"));
	if (!entry_has_value(e, "mail", mail))
		mods_add(&m, LDAP_MOD_ADD, "mail", mail);
	rc = m.err ? m.err : store_modify(s, dn, &m);
	mods_free(&m);
	if (rc == -EEXIST) {
		caller_audit(who, "email-confirm", NULL, login, false, "address taken meanwhile (directory)");
		rc = taken_fault(f);
		goto out;
	}
	if (rc == -ESTALE) {
		caller_audit(who, "email-confirm", NULL, login, false, "login e-mail changed meanwhile");
		rc = fault_set(
			f, -ESTALE, "l'adresse du compte a changé entre-temps : faites une nouvelle demande");
		goto out;
	}
	if (rc < 0) {
		rc = fault_store(f, rc, "changement d'adresse");
		goto out;
	}
	if (record_delete(s, last) < 0)
		caller_audit(who, "email-confirm", NULL, login, true, "request record left to expire");
	caller_audit(who, "email-confirm", NULL, login, true, "login e-mail changed");
	notice_mail(c, who, login, old, mail);
	snprintf(ret->login, sizeof(ret->login), "%s", login ?: "");
	snprintf(ret->mail, sizeof(ret->mail), "%s", mail);
	rc = 0;
	goto out;
drop:
	/* A link that can never serve is not kept. */
	if (flow_take(s, c, KIND_LINK, token) < 0)
		caller_audit(who, "email-confirm", NULL, login, false, "void link left to expire");
out:
	mail_claim_drop(s, c, claim);
	free(dn);
	secret_free(data);
	entry_free(e);
	entry_free(last);
	return rc;
}
