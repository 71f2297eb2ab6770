/* Finding accounts in the directory (accounts.h): the searches. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "accounts.h"

int accounts_find(struct store *s, const struct mm_config *c, const char *ident, const char *const *attrs,
	struct entry **ret)
{
	char *esc, *filter = NULL;
	int rc;

	*ret = NULL;
	if (!(esc = store_escape(ident)))
		return -ENOMEM;
	rc = asprintf(&filter, "(&(objectClass=mmAccount)(|(uid=%s)(mmLoginMail=%s)))", esc, esc);
	free(esc);
	if (rc < 0)
		return -ENOMEM;
	rc = store_search_one(
		s, c->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs ? attrs : accounts_identity_attrs, ret);
	free(filter);
	return rc;
}

void accounts_uid_filter(uid_t uid, char *buf, size_t size)
{
	snprintf(buf, size, "(&(objectClass=mmAccount)(uidNumber=%u)(!(mmAccountType=ORG)))", (unsigned)uid);
}

int accounts_by_uid(
	struct store *s, const struct mm_config *c, uid_t uid, const char *const *attrs, struct entry **ret)
{
	char filter[96];

	*ret = NULL;
	accounts_uid_filter(uid, filter, sizeof(filter));
	return store_search_one(
		s, c->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs ? attrs : accounts_identity_attrs, ret);
}

int accounts_by_dn(struct store *s, const struct mm_config *c, const char *dn, const char *const *attrs,
	struct entry **ret)
{
	struct entry *e = NULL;
	int rc;

	(void)c;
	*ret = NULL;
	rc = store_read(s, dn, attrs ? attrs : accounts_identity_attrs, &e);
	if (rc < 0)
		return rc;
	if (!entry_get(e, "uid") || !entry_get(e, "mmAccountType")) {
		entry_free(e);
		return -ENOENT;
	}
	*ret = e;
	return 0;
}

int accounts_mail_taken(
	struct store *s, const struct mm_config *c, const char *mail, const char *self_dn, bool *ret)
{
	static const char *const attrs[] = {"1.1", NULL};
	struct entry **v = NULL;
	char *esc, *filter = NULL;
	size_t n = 0;
	int rc;

	*ret = false;
	if (!(esc = store_escape(mail)))
		return -ENOMEM;
	rc = asprintf(&filter, "(&(objectClass=mmAccount)(|(mmLoginMail=%s)(mmMssAddress=%s)))", esc, esc);
	free(esc);
	if (rc < 0)
		return -ENOMEM;
	rc = store_search(s, c->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, 2, &v, &n);
	free(filter);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (!self_dn || strcasecmp(v[i]->dn, self_dn))
			*ret = true;
	entries_free(v, n);
	return 0;
}
