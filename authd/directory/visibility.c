/* Visibility toggles: an account shows or hides itself in the annuaire
 * Medimail (mmVisibleMedimail) and the annuaire santé (mmVisibleMssante). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "directory.h"
#include "dir_view.h"

const char *const dir_visibility_attrs[] = {"uid", "mmAccountType", "mmMssAddress", NULL};

int dir_visibility_set(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *acct, enum dir_view which, bool on, struct dir_visibility *ret, struct fault *f)
{
	static const char *const attrs[] = {
		"uid", "mmAccountType", "mmMssAddress", "mmVisibleMedimail", "mmVisibleMssante", NULL};
	const char *attr = which == DIR_VIEW_MEDIMAIL ? "mmVisibleMedimail" : "mmVisibleMssante";
	const char *login = entry_get(acct, "uid");
	struct entry *after = NULL;
	struct mods m;
	int rc;

	(void)c;
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->login, sizeof(ret->login), "%s", login ? login : "");
	if ((rc = dir_account_usable(acct, f)) < 0)
		return rc;
	if (which == DIR_VIEW_MSSANTE && entry_has_value(acct, "mmAccountType", MM_TYPE_MED))
		return fault_set(f, -EPERM,
			"un compte Medimail n'a pas d'adresse MSSanté : rien à afficher dans l'annuaire "
			"santé");
	/* An INT is a "compte pouvant donner lieu à une adresse MSSanté" (guide
	 * 000): until the service centre gives it one, the box does not apply. */
	if (which == DIR_VIEW_MSSANTE && entry_has_value(acct, "mmAccountType", MM_TYPE_INT) &&
		!entry_get(acct, "mmMssAddress"))
		return fault_set(f, -EPERM,
			"le centre de services n'a pas attribué d'adresse MSSanté à ce compte INT : "
			"rien à afficher dans l'annuaire santé");
	mods_init(&m);
	mods_add(&m, LDAP_MOD_REPLACE, attr, on ? "TRUE" : "FALSE");
	rc = store_modify(s, acct->dn, &m);
	mods_free(&m);
	if (rc < 0)
		return dir_store_fault(f, rc, "visibilité");
	caller_audit(who, "visibility", NULL, login, true,
		which == DIR_VIEW_MEDIMAIL ? (on ? "medimail on" : "medimail off")
					   : (on ? "mssante on" : "mssante off"));
	if (store_read(s, acct->dn, attrs, &after) == 0) {
		const char *l = entry_get(after, "uid");

		ret->read = true;
		snprintf(ret->login, sizeof(ret->login), "%s", l ? l : "");
		ret->medimail = !entry_has_value(after, "mmVisibleMedimail", "FALSE");
		ret->has_mssante = !entry_has_value(after, "mmAccountType", MM_TYPE_MED) &&
			(!entry_has_value(after, "mmAccountType", MM_TYPE_INT) ||
				entry_get(after, "mmMssAddress"));
		ret->mssante = entry_has_value(after, "mmVisibleMssante", "TRUE");
		entry_free(after);
	}
	return 0;
}
