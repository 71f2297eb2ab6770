/* SHOW and LIST through the attribute catalogue, and the terms of use (account.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "account_int.h"
#include "log.h"
#include "offline.h"
#include "protocol.h"

#define SHOW_ATTRS_MAX 63

/* Filled once from the catalogue before main(): the dispatch table points at it. */
const char *account_show_attrs[SHOW_ATTRS_MAX + 1];

__attribute__((constructor)) static void show_attrs_init(void)
{
	size_t n, k = 0;
	const struct cat_attr *all = catalog_all(&n);

	for (size_t i = 0; i < n && k < SHOW_ATTRS_MAX; i++) {
		bool dup = false;

		if (!(all[i].where & CAT_SHOW))
			continue;
		for (size_t j = 0; j < k && !dup; j++)
			dup = !strcasecmp(account_show_attrs[j], all[i].attr);
		if (!dup)
			account_show_attrs[k++] = all[i].attr;
	}
	account_show_attrs[k] = NULL;
}

const char *const account_cgu_attrs[] = {"mmCguAcceptedAt", NULL};

static const char *type_label(const char *type)
{
	if (!type)
		return NULL;
	if (!strcmp(type, MM_TYPE_PER))
		return "Compte Personnel : professionnel de santé avec RPPS, adresse MSSanté dans l'annuaire "
		       "santé";
	if (!strcmp(type, MM_TYPE_INT))
		return "Compte Interne : professionnel de santé en attente de RPPS, adresse MSSanté dans "
		       "l'annuaire santé";
	if (!strcmp(type, MM_TYPE_MED))
		return "Compte Medimail : professionnel sans RPPS, adresse visible des seuls utilisateurs de "
		       "Medimail, sans adresse MSSanté";
	return "BAL ORG : boîte aux lettres organisationnelle partagée, accessible depuis un compte "
	       "individuel";
}

void account_fields(const struct entry *e, bool full,
	void (*put)(void *ctx, const char *key, const char *value), void *ctx)
{
	size_t n;
	const struct cat_attr *all = catalog_all(&n);
	unsigned want = full ? CAT_SHOW : CAT_SUMMARY;

	for (size_t i = 0; i < n; i++) {
		const struct attr *a;

		/* phone2 is the second value of telephoneNumber: shown as phone. */
		if (!(all[i].where & want) || (all[i].where & CAT_SECOND_VALUE))
			continue;
		if (!(a = entry_attr(e, all[i].attr)))
			continue;
		for (size_t j = 0; j < a->nvals; j++)
			put(ctx, all[i].key, a->vals[j]);
	}
	if (full) {
		const struct attr *mem = entry_attr(e, "mmMember");

		put(ctx, "type_label", type_label(entry_get(e, "mmAccountType")));
		for (size_t j = 0; mem && j < mem->nvals; j++) {
			char login[80];

			accounts_dn_login(mem->vals[j], login, sizeof(login));
			put(ctx, "member", login);
		}
	}
}

int account_list(struct store *s, const struct mm_config *c, const struct caller *who, const char *status,
	const char *type, const char *published, struct entry ***ret_v, size_t *ret_n, struct fault *f)
{
	const char *pub = "";
	const char **attrs = catalog_attrs(CAT_SUMMARY);
	char *filter = NULL, *es = NULL, *et = NULL, *scope = NULL;
	int rc;

	*ret_v = NULL;
	*ret_n = 0;
	/* The ORGs waiting for their publication (account_publish), or the others. */
	if (published && !strcmp(published, "no"))
		pub = "(mmMssPending=TRUE)";
	else if (published && !strcmp(published, "yes"))
		pub = "(!(mmMssPending=TRUE))";
	else if (published && *published)
		return fault_field(f, "published", "yes_no", "publiée : yes ou no");
	if ((rc = access_structure_scope(c, s, who, "list", &scope, f)) < 0) {
		free(attrs);
		return rc;
	}
	if (status && !*status)
		status = NULL;
	if (type && !*type)
		type = NULL;
	es = store_escape(status ? status : "*");
	et = store_escape(type ? type : "*");
	if (!attrs || !es || !et ||
		asprintf(&filter, "(&(objectClass=mmAccount)%s%s%s%s%s%s%s%s)", status ? "(mmStatus=" : "",
			status ? es : "", status ? ")" : "", type ? "(mmAccountType=" : "", type ? et : "",
			type ? ")" : "", pub, scope ? scope : "") < 0) {
		filter = NULL;
		rc = fault_set(f, -ENOMEM, "mémoire insuffisante");
		goto out;
	}
	rc = store_search(s, c->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, ACCOUNT_LIST_MAX, ret_v, ret_n);
	if (rc < 0)
		rc = fault_store(f, rc, "liste");
out:
	free(attrs);
	free(scope);
	free(filter);
	free(es);
	free(et);
	return rc;
}

int account_cgu_accept(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, char ret_stamp[16], struct fault *f)
{
	char stamp[16];
	struct mods m;
	int rc;

	ret_stamp[0] = '\0';
	if (accounts_is_org(e))
		return fault_set(f, -EPERM, "les CGU s'acceptent depuis un compte individuel");
	if (!accounts_active(e))
		return fault_set(f, -EPERM, "le compte %s n'est pas actif", entry_get(e, "uid"));
	if (entry_get(e, "mmCguAcceptedAt")) {
		snprintf(ret_stamp, 16, "%s", entry_get(e, "mmCguAcceptedAt"));
		return 0;
	}
	store_time(account_now(), stamp);
	mods_init(&m);
	mods_add(&m, LDAP_MOD_ADD, "mmCguAcceptedAt", stamp);
	rc = store_modify(s, e->dn, &m);
	mods_free(&m);
	if (rc == -EEXIST)
		rc = 0; /* accepted meanwhile on another daemon */
	if (rc < 0)
		return fault_store(f, rc, "CGU");
	caller_audit(who, "cgu-accept", NULL, entry_get(e, "uid"), true, NULL);
	if (offline_mark_cgu(c, entry_get(e, "uid")) < 0)
		log_msg(LOG_WARNING, "%s: offline record not updated", entry_get(e, "uid"));
	snprintf(ret_stamp, 16, "%s", stamp);
	return 0;
}
