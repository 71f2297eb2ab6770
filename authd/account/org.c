/* The connection accounts of a BAL ORG: add and remove (account.h). */
#include <errno.h>
#include <string.h>

#include "account_int.h"
#include "log.h"
#include "mcache.h"
#include "protocol.h"

int account_org_member_change(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *name, const char *member, bool add, struct entry **ret_org, struct entry **ret_member,
	struct fault *f)
{
	const char *event = add ? "org-member-add" : "org-member-del";
	struct entry *org = NULL, *mem = NULL;
	struct mods m;
	int rc;

	*ret_org = *ret_member = NULL;
	if (!name || !*name || !member || !*member)
		return fault_field(f, name && *name ? "member" : "org", "required", "champ obligatoire");
	/* The one access rule: an administrator, or an active connection
	 * account of this ORG; a suspended caller acts for nobody. */
	rc = access_resolve(
		c, s, who, ACCESS_SELF_OR_ORG, ACCESS_CALLER_ACTIVE, "org", name, NULL, event, &org, f);
	if (rc == -ENOENT && !who->admin) {
		/* Unknown and someone else's: one answer, the request's own. */
		return fault_set(f, -EACCES,
			"seuls les administrateurs et les comptes de connexion de la BAL ORG la gèrent");
	}
	if (rc < 0)
		return rc;
	if (!accounts_is_org(org)) {
		rc = fault_field(f, "org", "not_org", "%s n'est pas une BAL ORG", name);
		goto out;
	}
	if ((rc = accounts_find(s, c, member, NULL, &mem)) < 0) {
		rc = fault_store(f, rc, member);
		goto out;
	}
	if (accounts_is_org(mem)) {
		rc = fault_field(
			f, "member", "not_individual", "un compte de connexion est un compte individuel");
		goto out;
	}
	if (add && !strcmp(entry_get(mem, "mmStatus"), MM_STATUS_CLOSED)) {
		rc = fault_field(f, "member", "closed", "le compte %s est clos", entry_get(mem, "uid"));
		goto out;
	}
	if (!add) {
		const struct attr *a = entry_attr(org, "mmMember");

		if (!entry_has_value(org, "mmMember", mem->dn)) {
			rc = fault_set(f, -ENOENT, "%s n'est pas un compte de connexion de %s",
				entry_get(mem, "uid"), entry_get(org, "uid"));
			goto out;
		}
		if (a && a->nvals <= 1) {
			rc = fault_set(f, -EPERM, "une BAL ORG garde au moins un compte de connexion");
			goto out;
		}
	}
	mods_init(&m);
	mods_add(&m, add ? LDAP_MOD_ADD : LDAP_MOD_DELETE, "mmMember", mem->dn);
	rc = store_modify(s, org->dn, &m);
	mods_free(&m);
	if (rc == -EEXIST) {
		rc = fault_set(f, -EEXIST, "%s est déjà un compte de connexion de %s", entry_get(mem, "uid"),
			entry_get(org, "uid"));
		goto out;
	}
	if (rc == -ESTALE) {
		rc = fault_set(f, -ENOENT, "%s n'est pas un compte de connexion de %s", entry_get(mem, "uid"),
			entry_get(org, "uid"));
		goto out;
	}
	if (rc < 0) {
		rc = fault_store(f, rc, "BAL ORG");
		goto out;
	}
	if (!add) {
		/* Its per-ORG notification choice goes with the membership, so
		 * that the account added again starts from its switch for all;
		 * absent, nothing to remove (the error is not the request's). */
		mods_init(&m);
		mods_add(&m, LDAP_MOD_DELETE, "mmNotifyOrgOff", org->dn);
		if (store_modify(s, mem->dn, &m) < 0)
			log_msg(LOG_DEBUG, "%s: no per-ORG notification choice to drop",
				entry_get(mem, "uid"));
		mods_free(&m);
	}
	mcache_changed(s, c, org->dn); /* group members and the member's groups changed */
	caller_audit(who, event, NULL, entry_get(org, "uid"), true, entry_get(mem, "uid"));
	*ret_org = org;
	*ret_member = mem;
	return 0;
out:
	entry_free(org);
	entry_free(mem);
	return rc;
}
