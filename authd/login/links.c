/* The Pro Santé Connect identities linked to an account ("Suppression d'un mode de connexion"). */
#include <errno.h>
#include <string.h>

#include "login_int.h"

const char *const login_psc_attrs[] = {"uid", "mmAccountType", "mmStatus", "uidNumber", "mmPscSub", NULL};

const struct attr *login_psc_links(const struct entry *e)
{
	return entry_attr(e, "mmPscSub");
}

int login_psc_unlink(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, const char *sub, size_t *ret_removed, struct fault *f)
{
	const struct attr *subs = entry_attr(e, "mmPscSub");
	struct mods m;
	size_t n;
	int rc;

	(void)c;
	*ret_removed = 0;
	n = sub ? (entry_has_value(e, "mmPscSub", sub) ? 1 : 0) : subs ? subs->nvals : 0;
	if (n == 0) {
		login_event(who, "psc-unlink", "psc", entry_get(e, "uid"), false, "not linked");
		return fault_set(f, -ENOENT, "%s : aucune identité Pro Santé Connect liée%s",
			entry_get(e, "uid"), sub ? " sous ce sujet" : "");
	}
	mods_init(&m);
	/* Deleting the exact value (or every value) the entry had: a concurrent change fails. */
	for (size_t i = 0; subs && i < subs->nvals; i++)
		if (!sub || !strcmp(subs->vals[i], sub))
			mods_add(&m, LDAP_MOD_DELETE, "mmPscSub", subs->vals[i]);
	rc = store_modify(s, e->dn, &m);
	mods_free(&m);
	if (rc < 0) {
		login_event(who, "psc-unlink", "psc", entry_get(e, "uid"), false, "directory error");
		return fault_store(f, rc, "Pro Santé Connect");
	}
	login_event(
		who, "psc-unlink", "psc", entry_get(e, "uid"), true, "Pro Santé Connect identity unlinked");
	*ret_removed = n;
	return 0;
}
