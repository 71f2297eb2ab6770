/* Helpers shared by the account services (account_int.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "account_int.h"
#include "address.h"
#include "mail.h"
#include "names.h"
#include "protocol.h"
#include "secret.h"
#include "validate.h"

long long account_now(void)
{
	return (long long)time(NULL);
}

int account_exists_with(
	struct store *s, const struct mm_config *c, const char *attr, const char *value, bool *ret)
{
	char *esc = store_escape(value), *filter = NULL;
	size_t n = 0;
	int rc;

	if (!esc)
		return -ENOMEM;
	if (asprintf(&filter, "(&(objectClass=mmAccount)(%s=%s))", attr, esc) < 0) {
		free(esc);
		return -ENOMEM;
	}
	rc = store_count(s, c->ldap_base, filter, 1, &n);
	free(esc);
	free(filter);
	if (rc == 0)
		*ret = n > 0;
	return rc;
}

const char *account_login_refusal(
	const struct mm_config *c, bool org, const char *login, char *name, size_t namesz)
{
	struct host_view *h;
	const char *rule = NULL;

	if (org ? names_group_name(c, login, name, namesz) < 0
		: snprintf(name, namesz, "%s", login) >= (int)namesz)
		return "name_syntax";
	h = host_view_get(ACCOUNT_HOST_VIEW_AGE);
	if (names_check(c, h, name, NAMES_ASK_HOST, &rule) == 0)
		rule = NULL;
	host_view_put(h);
	return rule;
}

int account_login_servable(const struct mm_config *c, bool org, const char *login, const char *field,
	const char *label, struct fault *f)
{
	char name[300];
	const char *rule = account_login_refusal(c, org, login, name, sizeof(name));

	if (!rule)
		return 0;
	return fault_field(f, field, rule, "%s : le nom %s « %s » est refusé : %s (règle %s)", label,
		org ? "de groupe" : "d'utilisateur", name, names_rule_message(rule), rule);
}

int account_send_confirmation(const struct mm_config *c, const char *to, const char *token)
{
	char *body = NULL;
	int rc;

	if (asprintf(&body,
		    "Bonjour,\n\nVous venez de demander la création d'un compte Medimail.\n"
		    "Pour confirmer votre adresse e-mail, ouvrez ce lien (valable %u heures, une seule fois) "
		    ":\n\n"
		    "%s%s\n\nSi vous n'êtes pas à l'origine de cette demande, ignorez ce message.",
		    c->confirm_ttl / 3600, c->confirm_url, token) < 0)
		return -ENOMEM;
	rc = mail_send(c, MAIL_ACCOUNT, to, c->confirm_subject, body);
	secret_free(body);
	return rc;
}

int account_assign_address(
	struct store *s, const struct mm_config *c, const struct entry *e, char *out, size_t outsz)
{
	const char *type = entry_get(e, "mmAccountType");
	bool org = !strcmp(type, MM_TYPE_ORG);
	const char *prof = entry_get(e, org ? "mmRespProfession" : "mmProfessionCode");
	const char *domain = config_domain_for(c, prof ? profession_domain_key(prof) : NULL);
	char base[256];
	int rc;

	rc = org ? address_org(entry_get(e, "cn"), entry_get(e, "postalCode"), entry_get(e, "l"), domain,
			   base, sizeof(base))
		 : -EINVAL;
	/* Guide 000: "C'est sur la base de l'adresse mail saisie que sera
	 * ensuite définie l'adresse MSS" (clagarde@iess.fr -> clagarde@...);
	 * prenom.nom when mss_local_part = name or that local part is unusable. */
	if (!org && !c->mss_local_part_name)
		rc = address_mail(entry_get(e, "mmLoginMail"), domain, base, sizeof(base));
	if (!org && rc < 0)
		rc = address_person(
			entry_get(e, "givenName"), entry_get(e, "sn"), domain, base, sizeof(base));
	if (rc < 0)
		return rc;
	for (unsigned n = 1; n <= ACCOUNT_MAX_CANDIDATES; n++) {
		struct mods m;
		bool taken = false;

		if ((rc = address_candidate(base, n, out, outsz)) < 0)
			return rc;
		if ((rc = account_exists_with(s, c, "mmMssAddress", out, &taken)) < 0)
			return rc;
		if (taken)
			continue;
		mods_init(&m);
		mods_add(&m, LDAP_MOD_REPLACE, "mmMssAddress", out);
		rc = store_modify(s, e->dn, &m);
		mods_free(&m);
		if (rc != -EEXIST)
			return rc;
	}
	return -ENOSPC;
}
