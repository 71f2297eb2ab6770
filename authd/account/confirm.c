/* Confirmation of the login e-mail and its resend (account.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account_int.h"
#include "protocol.h"
#include "secret.h"

int account_confirm(struct store *s, const struct mm_config *c, const struct caller *who, const char *token,
	char **ret_login, struct fault *f)
{
	static const char *const attrs[] = {"uid", "mmStatus", "mmConfirmExpires", NULL};
	char h[SECRET_HASH_HEX], filter[128];
	struct entry *e = NULL;
	struct mods m;
	int rc;

	*ret_login = NULL;
	if (!token || strlen(token) != SECRET_TOKEN_HEX - 1 ||
		strspn(token, "0123456789abcdef") != strlen(token))
		return fault_field(f, "token", "syntax", "lien de confirmation invalide");
	if ((rc = secret_keyed_hash("confirm", token, h)) < 0)
		return fault_set(f, rc, "confirmation impossible");
	snprintf(filter, sizeof(filter), "(&(objectClass=mmAccount)(mmConfirmHash=%s))", h);
	rc = store_search_one(s, c->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, &e);
	if (rc == -ENOENT) {
		caller_audit(who, "confirm", NULL, NULL, false, "unknown or used token");
		return fault_set(f, -ENOENT, "lien de confirmation inconnu ou déjà utilisé");
	}
	if (rc < 0)
		return fault_store(f, rc, "confirmation");
	if (store_parse_time(entry_get(e, "mmConfirmExpires")) < account_now()) {
		caller_audit(who, "confirm", NULL, entry_get(e, "uid"), false, "token expired");
		entry_free(e);
		return fault_set(f, -ETIMEDOUT, "lien de confirmation expiré : demandez un nouveau lien");
	}
	if (strcmp(entry_get(e, "mmStatus"), MM_STATUS_PENDING_CONFIRMATION)) {
		entry_free(e);
		return fault_set(f, -EPERM, "ce compte n'attend pas de confirmation");
	}
	mods_init(&m);
	/* Deleting the exact value makes the link single-use across daemons. */
	mods_add(&m, LDAP_MOD_DELETE, "mmConfirmHash", h);
	mods_add(&m, LDAP_MOD_DELETE, "mmConfirmExpires", NULL);
	mods_add(&m, LDAP_MOD_REPLACE, "mmStatus", MM_STATUS_PENDING_VALIDATION);
	rc = store_modify(s, e->dn, &m);
	mods_free(&m);
	if (rc == -ESTALE) {
		entry_free(e);
		return fault_set(f, -ENOENT, "lien de confirmation déjà utilisé");
	}
	if (rc < 0) {
		entry_free(e);
		return fault_store(f, rc, "confirmation");
	}
	caller_audit(who, "confirm", NULL, entry_get(e, "uid"), true, NULL);
	*ret_login = strdup(entry_get(e, "uid"));
	entry_free(e);
	if (!*ret_login)
		return fault_set(f, -ENOMEM, "mémoire insuffisante");
	return 0;
}

int account_confirm_resend(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *target, struct fault *f)
{
	char token[SECRET_TOKEN_HEX], h[SECRET_HASH_HEX], expires[16];
	struct mods m;
	int rc;

	if (strcmp(entry_get(target, "mmStatus"), MM_STATUS_PENDING_CONFIRMATION))
		return fault_set(f, -EPERM, "ce compte n'attend pas de confirmation");
	secret_token(token);
	rc = secret_keyed_hash("confirm", token, h);
	store_time(account_now() + c->confirm_ttl, expires);
	mods_init(&m);
	mods_add(&m, LDAP_MOD_REPLACE, "mmConfirmHash", h);
	mods_add(&m, LDAP_MOD_REPLACE, "mmConfirmExpires", expires);
	if (rc == 0)
		rc = store_modify(s, target->dn, &m);
	mods_free(&m);
	if (rc == 0)
		rc = account_send_confirmation(c, entry_get(target, "mmLoginMail"), token);
	secret_wipe(token, sizeof(token));
	caller_audit(
		who, "confirm-resend", NULL, entry_get(target, "uid"), rc == 0, rc ? strerror(-rc) : NULL);
	if (rc == -ECOMM)
		return fault_set(f, rc, "l'e-mail de confirmation n'a pas pu être envoyé");
	if (rc < 0)
		return fault_store(f, rc, "confirmation");
	return 0;
}
