/* "Délégations": other Medimail accounts that receive a copy of the mail. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "settings_int.h"
#include "validate.h"

static const char med_delegate_advice[] =
	"Un compte Medimail (pour les professionnels sans numéro RPPS) ne peut pas répondre à un message "
	"provenant d'une autre messagerie sécurisée que Medimail. Il est donc conseillé de réaliser une "
	"délégation vers un compte PERsonnel ou ORGanisationnel (compte avec numéro RPPS).";

const char *settings_delegate_advice(const struct entry *t)
{
	const char *type = entry_get(t, "mmAccountType");

	return type && !strcmp(type, MM_TYPE_MED) ? med_delegate_advice : NULL;
}

void settings_delegate_list(const struct entry *t, struct settings_delegates *ret)
{
	const struct attr *a = entry_attr(t, "mmDelegate");

	ret->login = entry_get(t, "uid");
	ret->advice = settings_delegate_advice(t);
	ret->n = a ? a->nvals : 0;
	ret->address = a ? a->vals : NULL;
}

static void lower_ascii(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* Only towards another active Medimail account: its login e-mail or its MSSanté address. */
static int delegate_target(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, const char *addr, struct fault *f)
{
	static const char *const attrs[] = {"uid", "mmStatus", "mmAccountType", NULL};
	char *esc = store_escape(addr), *filter = NULL;
	struct entry *d = NULL;
	int rc;

	if (!esc ||
		asprintf(&filter, "(&(objectClass=mmAccount)(|(mmLoginMail=%s)(mmMssAddress=%s)))", esc,
			esc) < 0) {
		free(esc);
		return fault_set(f, -ENOMEM, "mémoire insuffisante");
	}
	free(esc);
	rc = store_search_one(s, c->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, &d);
	free(filter);
	if (rc == -ENOENT || (rc == 0 && strcmp(entry_get(d, "mmStatus"), MM_STATUS_ACTIVE))) {
		caller_audit(who, "delegate-add", NULL, entry_get(t, "uid"), false, "not a Medimail account");
		rc = fault_field(f, "address", "not_medimail",
			"%s n'est pas l'adresse d'un compte Medimail actif : une délégation ne se fait que "
			"vers "
			"un autre utilisateur Medimail",
			addr);
	} else if (rc < 0) {
		rc = fault_store(f, rc, "délégation");
	} else if (!strcmp(d->dn, t->dn)) {
		rc = fault_field(
			f, "address", "self", "une délégation vers son propre compte est sans objet");
	}
	entry_free(d);
	return rc;
}

int settings_delegate_change(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, bool add, const char *in, char ret_address[256], struct fault *f)
{
	const struct attr *a = entry_attr(t, "mmDelegate");
	char addr[256];
	struct mods m;
	int rc;

	ret_address[0] = '\0';
	if (!in)
		return fault_field(f, "address", "required", "adresse : champ obligatoire");
	if (strlen(in) >= sizeof(addr) || validate_email(in) < 0)
		return fault_field(f, "address", "syntax", "adresse e-mail invalide");
	snprintf(addr, sizeof(addr), "%s", in);
	lower_ascii(addr);
	if ((rc = settings_writable(t, f)) < 0)
		return rc;
	mods_init(&m);
	if (!add) {
		if (!entry_has_value(t, "mmDelegate", addr))
			return fault_field(f, "address", "unknown", "aucune délégation vers %s", addr);
		mods_add(&m, LDAP_MOD_DELETE, "mmDelegate", addr);
	} else {
		if (entry_has_value(t, "mmDelegate", addr)) {
			fault_field(f, "address", "duplicate", "une délégation vers %s existe déjà", addr);
			f->status = -EEXIST;
			return -EEXIST;
		}
		if (a && a->nvals >= SETTINGS_MAX_DELEGATES)
			return fault_field(
				f, "address", "too_many", "%d délégations au plus", SETTINGS_MAX_DELEGATES);
		if ((rc = delegate_target(s, c, who, t, addr, f)) < 0)
			return rc;
		settings_need_aux(&m, t);
		mods_add(&m, LDAP_MOD_ADD, "mmDelegate", addr);
	}
	if ((rc = settings_modify(s, t, &m, "délégation", f)) < 0)
		return rc;
	caller_audit(who, add ? "delegate-add" : "delegate-del", NULL, entry_get(t, "uid"), true, addr);
	memcpy(ret_address, addr, sizeof(addr));
	return 0;
}
