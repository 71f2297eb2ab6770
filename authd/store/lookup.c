/* Finding accounts in the directory (accounts.h): the searches. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
