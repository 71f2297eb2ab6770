/* The service centre's steps after a validation (account.h): publishing a
 * BAL ORG's MSSanté address in the annuaire santé, and giving a validated
 * INT the MSSanté address it may have ("pouvant donner lieu"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account_int.h"
#include "log.h"
#include "mail.h"
#include "protocol.h"

const char *const account_publish_attrs[] = {
	"uid", "mmAccountType", "mmStatus", "mmMssAddress", "mmMssPending", "mmValidatedAt", "cn", NULL};

/* What account_assign_address reads, and the validation's date. */
const char *const account_mss_grant_attrs[] = {"uid", "mmAccountType", "mmStatus", "mmLoginMail",
	"mmMssAddress", "sn", "givenName", "cn", "mmProfessionCode", "mmValidatedAt", NULL};

/* A refusal of the step `event` on e, audited; reason goes to the facts. */
static int refuse(const struct caller *who, const char *event, const struct entry *e, const char *reason,
	struct fault *f)
{
	caller_audit(who, event, NULL, entry_get(e, "uid"), false, reason);
	fault_put(f, "reason", reason);
	if (!strcmp(reason, "account_state"))
		fault_put(f, "status", entry_get(e, "mmStatus"));
	return f->status;
}

int account_publish(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, char ret_address[256], struct fault *f)
{
	const char *login = entry_get(e, "uid"), *status = entry_get(e, "mmStatus");
	struct mods m;
	int rc;

	(void)c;
	ret_address[0] = '\0';
	if (!accounts_is_org(e)) {
		fault_set(f, -EPERM,
			"%s n'est pas une BAL ORG : l'adresse MSSanté d'un compte %s est publiée à sa "
			"validation",
			login, entry_get(e, "mmAccountType"));
		return refuse(who, "publish", e, "type", f);
	}
	if (!entry_get(e, "mmValidatedAt") || strcmp(status, MM_STATUS_ACTIVE)) {
		fault_set(f, -EPERM,
			"la BAL ORG %s n'est pas validée et active (statut : %s) : seule une BAL ORG "
			"validée se publie",
			login, status);
		return refuse(who, "publish", e, "account_state", f);
	}
	if (!entry_has_value(e, "mmMssPending", "TRUE") || !entry_get(e, "mmMssAddress")) {
		fault_set(f, -EPERM, "la BAL ORG %s n'a pas d'adresse MSSanté en attente de publication",
			login);
		return refuse(who, "publish", e, "published", f);
	}
	mods_init(&m);
	mods_add(&m, LDAP_MOD_DELETE, "mmMssPending", NULL);
	rc = store_modify(s, e->dn, &m);
	mods_free(&m);
	if (rc == -ENOENT || rc == -ESTALE) {
		/* published meanwhile on another daemon */
		fault_set(f, -EPERM, "la BAL ORG %s n'a pas d'adresse MSSanté en attente de publication",
			login);
		return refuse(who, "publish", e, "published", f);
	}
	if (rc < 0)
		return fault_store(f, rc, "publication");
	snprintf(ret_address, 256, "%s", entry_get(e, "mmMssAddress"));
	caller_audit(who, "publish", NULL, login, true, ret_address);
	return 0;
}

int account_mss_grant(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, char ret_address[256], bool *ret_notice_failed, struct fault *f)
{
	const char *login = entry_get(e, "uid");
	char *body = NULL;
	int rc;

	ret_address[0] = '\0';
	*ret_notice_failed = false;
	if (strcmp(entry_get(e, "mmAccountType"), MM_TYPE_INT)) {
		fault_set(f, -EPERM,
			"seul un compte INT reçoit son adresse MSSanté après sa validation (type : %s)",
			entry_get(e, "mmAccountType"));
		return refuse(who, "mss-grant", e, "type", f);
	}
	if (!entry_get(e, "mmValidatedAt") || strcmp(entry_get(e, "mmStatus"), MM_STATUS_ACTIVE)) {
		fault_set(f, -EPERM,
			"le compte %s n'est pas validé et actif (statut : %s) : à la validation, "
			"c'est validate --mss yes",
			login, entry_get(e, "mmStatus"));
		return refuse(who, "mss-grant", e, "account_state", f);
	}
	if (entry_get(e, "mmMssAddress")) {
		fault_set(f, -EPERM, "le compte %s a déjà une adresse MSSanté", login);
		return refuse(who, "mss-grant", e, "has_address", f);
	}
	if ((rc = account_assign_address(s, c, e, ret_address, 256)) < 0) {
		ret_address[0] = '\0';
		return rc == -ENOSPC ? fault_set(f, rc, "aucune adresse MSSanté libre pour ce nom")
				     : fault_store(f, rc, "adresse MSSanté");
	}
	caller_audit(who, "mss-grant", NULL, login, true, ret_address);
	if (asprintf(&body,
		    "Bonjour,\n\nLe centre de services a attribué une adresse MSSanté à votre compte "
		    "Medimail %s.\n\nAdresse MSSanté : %s\n\nElle est visible dans l'annuaire santé "
		    "(vous pouvez la masquer dans « Gérer mon compte »).",
		    login, ret_address) < 0)
		body = NULL;
	*ret_notice_failed = !body ||
		mail_send(c, MAIL_ACCOUNT, entry_get(e, "mmLoginMail"), c->validated_subject, body) < 0;
	free(body);
	return 0;
}
