/* "Vos informations Gestionnaire" (settings.h): the structure administrators
 * of the account's structure, with their contact. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settings_int.h"

int settings_managers(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, struct settings_managers *ret, struct fault *f)
{
	static const char *const attrs[] = {
		"uid", "cn", "givenName", "sn", "mmMssAddress", "mmLoginMail", "telephoneNumber", NULL};
	char key[32], *filter = NULL, *esc = NULL;
	int rc;

	(void)who;
	memset(ret, 0, sizeof(*ret));
	ret->struct_type = entry_get(e, "mmStructIdType");
	ret->struct_id = entry_get(e, "mmStructId");
	/* No structure, or none the role could name: the service centre is the contact. */
	if (access_structure_key(ret->struct_type, ret->struct_id, key, sizeof(key)) < 0) {
		ret->struct_type = ret->struct_id = NULL;
		return 0;
	}
	if (!(esc = store_escape(key)) ||
		asprintf(&filter,
			"(&(objectClass=mmAccount)(mmStatus=active)(!(mmAccountType=ORG))(mmStructAdmin=%s))",
			esc) < 0) {
		free(esc);
		return fault_set(f, -ENOMEM, "mémoire insuffisante");
	}
	rc = store_search(
		s, c->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, SETTINGS_MAX_MANAGERS, &ret->e, &ret->n);
	free(filter);
	free(esc);
	if (rc < 0)
		return fault_store(f, rc, "gestionnaires");
	return 0;
}

void settings_manager_contact(
	const struct entry *m, const char **ret_name, const char **ret_mail, const char **ret_phone)
{
	*ret_name = entry_get(m, "cn") ? entry_get(m, "cn") : entry_get(m, "uid");
	*ret_mail = entry_get(m, "mmMssAddress") ? entry_get(m, "mmMssAddress") : entry_get(m, "mmLoginMail");
	*ret_phone = entry_get(m, "telephoneNumber");
}

void settings_managers_free(struct settings_managers *m)
{
	entries_free(m->e, m->n);
	memset(m, 0, sizeof(*m));
}
