/* transitional: removed once every folder uses the typed look-ups.
 * The old account.c look-ups, moved here unchanged (account_compat.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account_compat.h"
#include "log.h"

const char *const account_attrs[] = {"uid", "mmAccountType", "mmStatus", "mmLoginMail", "mmMssAddress", "sn",
	"givenName", "cn", "mmRpps", "mmAdeli", "mmNationalId", "mmStructIdType", "mmStructId",
	"mmProfessionCode", "mmSpeciality", "mmLiberal", "telephoneNumber", "street", "postalCode", "l",
	"mmRegion", "mmDepartment", "o", "ou", "description", "mmRespSn", "mmRespGivenName",
	"mmRespProfession", "mmRespRpps", "mmMember", "mmDefaultAccount", "mmCguAcceptedAt", "mmValidatedAt",
	"mmRegisteredAt", "mmStatusReason", "mmVisibleMedimail", "mmVisibleMssante", "mmDematerialisation",
	"uidNumber", "gidNumber", "homeDirectory", "loginShell", "mmConfirmExpires", NULL};

/* Finds an account by login or login e-mail (any status), reading attrs. */
int account_find_attrs(struct req *r, const char *ident, const char *const *attrs, struct entry **ret)
{
	char *esc = store_escape(ident), *filter = NULL;
	int rc;

	*ret = NULL;
	if (!esc)
		return -ENOMEM;
	if (asprintf(&filter, "(&(objectClass=mmAccount)(|(uid=%s)(mmLoginMail=%s)))", esc, esc) < 0) {
		free(esc);
		return -ENOMEM;
	}
	rc = store_search_one(r->store, r->cfg->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, ret);
	free(esc);
	free(filter);
	return rc;
}

int account_find(struct req *r, const char *ident, struct entry **ret)
{
	return account_find_attrs(r, ident, account_attrs, ret);
}

int account_by_uid(struct req *r, uid_t uid, struct entry **ret)
{
	char filter[96];

	snprintf(filter, sizeof(filter), "(&(objectClass=mmAccount)(uidNumber=%u)(!(mmAccountType=ORG)))",
		(unsigned)uid);
	return store_search_one(r->store, r->cfg->ldap_base, LDAP_SCOPE_SUBTREE, filter, account_attrs, ret);
}

/* Maps a directory error to a reply. */
int store_fail(struct req *r, int rc, const char *what)
{
	switch (rc) {
	case -EHOSTDOWN: return req_fail(r, rc, "annuaire indisponible, réessayez plus tard");
	case -ENOENT: return req_fail(r, rc, "%s : compte introuvable", what);
	case -ENOTUNIQ: return req_fail(r, -EIO, "%s : identifiant ambigu", what);
	case -EACCES: return req_fail(r, rc, "%s : accès refusé par l'annuaire", what);
	default:
		log_msg(LOG_ERR, "%s: directory error %s", what, strerror(-rc));
		return req_fail(r, rc, "%s : erreur de l'annuaire", what);
	}
}

void audit_req(const struct req *r, const char *event, const char *account, bool ok, const char *reason)
{
	struct audit_ctx a = {.event = event, .caller = r->who.name, .account = account};

	audit(&a, ok, reason);
}

/* Is the caller this account (or an active connection account of this ORG)?
 * e NULL: no account, after the same lookup of the caller. */
bool caller_owns(struct req *r, const struct entry *e)
{
	struct entry *me = NULL;
	bool own = false;

	if (account_by_uid(r, r->who.uid, &me) < 0)
		return false;
	if (!e)
		own = false;
	else if (!strcmp(me->dn, e->dn))
		own = true;
	else if (!strcmp(entry_get(e, "mmAccountType"), MM_TYPE_ORG))
		/* A suspended or closed connection account manages nothing. */
		own = entry_has_value(me, "mmStatus", MM_STATUS_ACTIVE) &&
			entry_has_value(e, "mmMember", me->dn);
	entry_free(me);
	return own;
}

bool account_hidden(struct req *r, int rc, const struct entry *e)
{
	if (r->who.admin || (rc != 0 && rc != -ENOENT && rc != -ENOTUNIQ))
		return false;
	/* The caller is looked up in every case: an unknown account answered
	 * sooner than someone else's would tell them apart. */
	return !caller_owns(r, rc == 0 ? e : NULL);
}

int caller_active(struct req *r, const char *event)
{
	struct entry *me = NULL;
	const char *status;
	int rc;

	if (r->who.admin)
		return 0;
	rc = account_by_uid(r, r->who.uid, &me);
	if (rc == -ENOENT)
		return 0; /* no account of its own: each request refuses that its own way */
	if (rc < 0)
		return store_fail(r, rc, "compte");
	status = entry_get(me, "mmStatus");
	if (!status || strcmp(status, MM_STATUS_ACTIVE)) {
		audit_req(r, event, entry_get(me, "uid"), false, "caller account not active");
		req_put(r, "reason", "account_state");
		req_put(r, "status", status);
		rc = req_fail(r, -EPERM, "votre compte %s n'est pas actif (statut : %s) : action impossible",
			entry_get(me, "uid"), status ? status : "?");
	}
	entry_free(me);
	return rc;
}
