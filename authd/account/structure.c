/* Structure administrators ("gestionnaires"), given and taken by the
 * service centre (account.h); who may act with the role is the access rule
 * (store/access.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "account_int.h"
#include "log.h"
#include "protocol.h"

#define STRUCT_ADMIN_MAX 16 /* structures one account administers */

const char *const account_struct_admin_attrs[] = {
	"uid", "mmAccountType", "mmStatus", "mmStructIdType", "mmStructId", "mmStructAdmin", NULL};

int account_struct_admin_change(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, const char *type, const char *id, bool add, char ret_key[32], struct fault *f)
{
	const char *event = add ? "struct-admin-add" : "struct-admin-del", *login = entry_get(e, "uid");
	const struct attr *held = entry_attr(e, "mmStructAdmin");
	struct mods m;
	int rc;

	(void)c;
	ret_key[0] = '\0';
	if (type && !*type)
		type = NULL;
	if (id && !*id)
		id = NULL;
	if (accounts_is_org(e)) {
		caller_audit(who, event, NULL, login, false, "an ORG");
		return fault_set(f, -EPERM,
			"une BAL ORG n'est pas gestionnaire : donnez le rôle à un compte "
			"individuel");
	}
	if (!type != !id)
		return fault_field(f, "struct_id", "required",
			"type et numéro d'identifiant de structure vont ensemble");
	if (!type && !add && !held) {
		caller_audit(who, event, NULL, login, false, "no role");
		return fault_set(f, -ENOENT, "%s n'est gestionnaire d'aucune structure", login);
	}
	if (type || add) {
		/* Without a structure named: the account's own. */
		const char *t = type ? type : entry_get(e, "mmStructIdType");
		const char *i = type ? id : entry_get(e, "mmStructId");

		if (!t || !i)
			return fault_field(f, "struct_id", "required",
				"le compte %s n'a pas d'identifiant de structure : précisez struct_type et "
				"struct_id",
				login);
		if (access_structure_key(t, i, ret_key, 32) < 0)
			return fault_field(f, "struct_id", "check_digit",
				"identifiant de structure : format ou clé de contrôle invalide pour %s", t);
	}
	if (add && !accounts_active(e)) {
		caller_audit(who, event, NULL, login, false, "account not active");
		fault_set(f, -EPERM, "le compte %s n'est pas actif (statut : %s)", login,
			entry_get(e, "mmStatus"));
		fault_put(f, "reason", "account_state");
		fault_put(f, "status", entry_get(e, "mmStatus"));
		return f->status;
	}
	if (add && entry_has_value(e, "mmStructAdmin", ret_key)) {
		caller_audit(who, event, NULL, login, false, "already");
		return fault_set(f, -EEXIST, "%s est déjà gestionnaire de %s", login, ret_key);
	}
	if (add && held && held->nvals >= STRUCT_ADMIN_MAX)
		return fault_set(
			f, -ENOSPC, "%s est gestionnaire de %d structures au plus", login, STRUCT_ADMIN_MAX);
	if (!add && ret_key[0] && !entry_has_value(e, "mmStructAdmin", ret_key)) {
		caller_audit(who, event, NULL, login, false, "no such role");
		return fault_set(f, -ENOENT, "%s n'est pas gestionnaire de %s", login, ret_key);
	}
	mods_init(&m);
	mods_add(&m, add ? LDAP_MOD_ADD : LDAP_MOD_DELETE, "mmStructAdmin", ret_key[0] ? ret_key : NULL);
	rc = store_modify(s, e->dn, &m);
	mods_free(&m);
	if (rc < 0)
		return fault_store(f, rc, "gestionnaire");
	caller_audit(who, event, NULL, login, true, ret_key[0] ? ret_key : "every structure");
	return 0;
}

const char *const account_operator_attrs[] = {"uid", "mmAccountType", "mmStatus", "mmRole", NULL};

int account_operator_change(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, bool add, struct fault *f)
{
	const char *event = add ? "operator-grant" : "operator-revoke", *login = entry_get(e, "uid");
	bool held = entry_has_value(e, "mmRole", MM_ROLE_OPERATOR);
	struct mods m;
	int rc;

	(void)c;
	/* The role makes browser sessions administrators: root's alone to give. */
	if (who->uid != 0 || who->dn) {
		caller_audit(who, event, NULL, login, false, "root only");
		return fault_set(f, -EACCES, "réservé à root");
	}
	if (accounts_is_org(e)) {
		caller_audit(who, event, NULL, login, false, "an ORG");
		return fault_set(
			f, -EPERM, "une BAL ORG n'est pas opérateur : donnez le rôle à un compte individuel");
	}
	if (add && !accounts_active(e)) {
		caller_audit(who, event, NULL, login, false, "account not active");
		fault_set(f, -EPERM, "le compte %s n'est pas actif (statut : %s)", login,
			entry_get(e, "mmStatus"));
		fault_put(f, "reason", "account_state");
		return f->status;
	}
	if (add == held) {
		caller_audit(who, event, NULL, login, false, add ? "already" : "no role");
		return add ? fault_set(f, -EEXIST, "%s est déjà opérateur du centre de service", login)
			   : fault_set(f, -ENOENT, "%s n'est pas opérateur du centre de service", login);
	}
	mods_init(&m);
	mods_add(&m, add ? LDAP_MOD_ADD : LDAP_MOD_DELETE, "mmRole", MM_ROLE_OPERATOR);
	rc = store_modify(s, e->dn, &m);
	mods_free(&m);
	if (rc < 0)
		return fault_store(f, rc, "opérateur");
	caller_audit(who, event, NULL, login, true, MM_ROLE_OPERATOR);
	return 0;
}
