/* Favourites: the contacts an account keeps (mmFavorite on its own entry,
 * written by the daemon only), in the Medimail view. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "directory.h"
#include "validate.h"
#include "dir_view.h"

static const char *const fav_attrs[] = {"mmFavorite", NULL};

/* The account named by login (uid) in a view, or -ENOENT. */
static int find_in_view(struct store *s, const struct mm_config *c, const char *login, enum dir_view v,
	const char *const *attrs, struct entry **ret)
{
	char *esc = NULL, *filter = NULL;
	int rc;

	*ret = NULL;
	if (validate_text(login, 64) < 0)
		return -ENOENT;
	esc = store_escape(login);
	if (!esc ||
		asprintf(&filter, "(&%s(uid=%s))", v == DIR_VIEW_MSSANTE ? VIEW_MSSANTE : VIEW_MEDIMAIL,
			esc) < 0) {
		free(esc);
		return -ENOMEM;
	}
	rc = store_search_one(s, c->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, ret);
	free(esc);
	free(filter);
	return rc;
}

/* The contact named: a login, at most 64 bytes of text. */
static int target_check(const char *target, struct fault *f)
{
	if (!target || !*target)
		return fault_field(f, "target", "required", "contact : champ obligatoire");
	if (validate_text(target, 64) < 0)
		return fault_field(f, "target", "characters", "contact : identifiant invalide");
	return 0;
}

static int favorite_add(struct store *s, const struct mm_config *c, const char *owner_dn,
	const char *target_login, enum dir_view v)
{
	static const char *const dn_only[] = {LDAP_NO_ATTRS, NULL};
	struct entry *owner = NULL, *target = NULL;
	const struct attr *a;
	struct mods m;
	int rc;

	if ((rc = find_in_view(s, c, target_login, v, dn_only, &target)) < 0)
		return rc;
	if ((rc = store_read(s, owner_dn, fav_attrs, &owner)) < 0)
		goto out;
	a = entry_attr(owner, "mmFavorite");
	if (a && entry_has_value(owner, "mmFavorite", target->dn)) {
		rc = -EEXIST;
		goto out;
	}
	if (a && a->nvals >= DIR_MAX_FAVORITES) {
		rc = -ENOSPC;
		goto out;
	}
	mods_init(&m);
	mods_add(&m, LDAP_MOD_ADD, "mmFavorite", target->dn);
	rc = store_modify(s, owner_dn, &m);
	mods_free(&m);
out:
	entry_free(owner);
	entry_free(target);
	return rc;
}

static int favorite_del(struct store *s, const char *owner_dn, const char *target_login)
{
	const struct attr *a;
	struct entry *owner = NULL;
	struct mods m;
	int rc;

	if ((rc = store_read(s, owner_dn, fav_attrs, &owner)) < 0)
		return rc;
	a = entry_attr(owner, "mmFavorite");
	rc = -ENOENT;
	/* By login, even if the contact has since left the view. */
	for (size_t i = 0; a && i < a->nvals; i++) {
		const char *dn = a->vals[i];
		size_t n = strlen(target_login);

		if (!strncasecmp(dn, "uid=", 4) && !strncmp(dn + 4, target_login, n) && dn[4 + n] == ',') {
			mods_init(&m);
			mods_add(&m, LDAP_MOD_DELETE, "mmFavorite", dn);
			rc = store_modify(s, owner_dn, &m);
			mods_free(&m);
			if (rc == -ESTALE)
				rc = -ENOENT;
			break;
		}
	}
	entry_free(owner);
	return rc;
}

int dir_favorite_add(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *acct, const char *target_login, bool *ret_already, struct fault *f)
{
	int rc;

	*ret_already = false;
	if ((rc = target_check(target_login, f)) < 0 || (rc = dir_account_usable(acct, f)) < 0)
		return rc;
	rc = favorite_add(s, c, acct->dn, target_login, DIR_VIEW_MEDIMAIL);
	if (rc == -EEXIST) {
		*ret_already = true;
		rc = 0;
	} else if (rc == -ENOSPC) {
		fault_set(f, rc, "%d favoris au plus", DIR_MAX_FAVORITES);
	} else if (rc == -ENOENT) {
		fault_set(f, rc, "%s : introuvable dans l'annuaire", target_login);
	} else if (rc < 0) {
		rc = dir_store_fault(f, rc, "favoris");
	}
	caller_audit(who, "favorite-add", NULL, entry_get(acct, "uid"), rc == 0, target_login);
	return rc;
}

int dir_favorite_del(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *acct, const char *target_login, struct fault *f)
{
	int rc;

	(void)c;
	if ((rc = target_check(target_login, f)) < 0 || (rc = dir_account_usable(acct, f)) < 0)
		return rc;
	rc = favorite_del(s, acct->dn, target_login);
	if (rc == -ENOENT)
		fault_set(f, rc, "%s : pas dans vos favoris", target_login);
	else if (rc < 0)
		rc = dir_store_fault(f, rc, "favoris");
	caller_audit(who, "favorite-del", NULL, entry_get(acct, "uid"), rc == 0, target_login);
	return rc;
}

int dir_favorite_list(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *acct, struct dir_results *ret, struct fault *f)
{
	struct entry *owner = NULL, **e = NULL;
	const struct attr *a;
	struct sbuf b = {0};
	size_t n = 0, terms = 0;
	int rc;

	(void)who;
	memset(ret, 0, sizeof(*ret));
	if ((rc = dir_account_usable(acct, f)) < 0)
		return rc;
	if ((rc = store_read(s, acct->dn, fav_attrs, &owner)) < 0)
		return dir_store_fault(f, rc, "favoris");
	a = entry_attr(owner, "mmFavorite");
	sb_str(&b, "(&" VIEW_MEDIMAIL "(|");
	for (size_t i = 0; a && i < a->nvals && i < DIR_MAX_FAVORITES; i++) {
		const char *dn = a->vals[i];
		size_t len;
		char login[80], *esc;

		if (strncasecmp(dn, "uid=", 4))
			continue;
		len = strcspn(dn + 4, ",");
		if (len == 0 || len >= sizeof(login))
			continue;
		memcpy(login, dn + 4, len);
		login[len] = '\0';
		if (!(esc = store_escape(login))) {
			b.err = -ENOMEM;
			break;
		}
		sb_str(&b, "(uid=");
		sb_str(&b, esc);
		sb_str(&b, ")");
		free(esc);
		terms++;
	}
	sb_str(&b, "))");
	if ((rc = b.err) < 0) {
		rc = dir_store_fault(f, rc, "favoris");
		goto out;
	}
	if (terms == 0)
		goto out;
	rc = store_search(s, c->ldap_base, LDAP_SCOPE_SUBTREE, b.s, dir_view_attrs(DIR_VIEW_MEDIMAIL, true),
		DIR_MAX_FAVORITES, &e, &n);
	if (rc < 0) {
		rc = dir_store_fault(f, rc, "favoris");
		goto out;
	}
	dir_entries_sort(e, n);
	ret->e = e;
	ret->n = n;
out:
	free(b.s);
	entry_free(owner);
	return rc;
}
