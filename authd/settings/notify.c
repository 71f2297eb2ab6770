/* "Notifications" (with the ORG-to-individual switch of "Identifiants de connexion") and "Dématérialisation". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "protocol.h"
#include "settings_int.h"

#define NOTIFY_ORG_INDEX 3 /* org_to_individual */
#define NOTIFY_ORG_SWITCH "mmNotifyOrgToIndividual"
#define NOTIFY_ORG_OFF "mmNotifyOrgOff"

static const struct {
	const char *attr;
	bool def, individual_only;
} notify_map[SETTINGS_NOTIFY_N] = {
	{"mmNotifyReceipt", true, false},
	{"mmNotifyOpening", false, false},
	{"mmNotifyDigest", false, false},
	{"mmNotifyOrgToIndividual", true, true},
};

const char *const settings_notify_keys[SETTINGS_NOTIFY_N] = {
	"receipt", "opening", "digest", "org_to_individual"};

static const char opening_caveat[] =
	"A noter : si vous envoyez un message Medimail à une personne utilisant une autre messagerie "
	"sécurisée de santé (Lifen, Mailiz, Wraptor…), vous ne pourrez pas recevoir de notification "
	"d'ouverture du message : Medimail est en incapacité de savoir si le message a été ouvert "
	"lorsqu'il a été envoyé à une autre messagerie sécurisée de santé.";

void settings_notify_view(const struct entry *t, struct settings_notify *ret)
{
	bool org = settings_is_org(t);

	memset(ret, 0, sizeof(*ret));
	ret->login = entry_get(t, "uid");
	for (size_t i = 0; i < SETTINGS_NOTIFY_N; i++) {
		if (notify_map[i].individual_only && org)
			continue;
		ret->item[ret->n].key = settings_notify_keys[i];
		ret->item[ret->n].on = settings_stored_bool(t, notify_map[i].attr, notify_map[i].def);
		ret->n++;
	}
	if (!org)
		ret->org_to_individual = settings_stored_bool(t, NOTIFY_ORG_SWITCH, true) ? "yes" : "no";
	ret->receipt_address = entry_get(t, "mmLoginMail");
	ret->opening_caveat = opening_caveat;
}

void settings_notify_free(struct settings_notify *n)
{
	free(n->orgs);
	n->orgs = NULL;
	n->norgs = 0;
}

/* The ORGs (not closed) the individual account t is a connection account of. */
static int member_orgs(struct store *s, const struct mm_config *c, const struct entry *t, struct entry ***ret,
	size_t *ret_n, struct fault *f)
{
	static const char *const attrs[] = {"uid", "cn", "mmLoginMail", "mmMssAddress", NULL};
	char *esc = store_escape(t->dn), *filter = NULL;
	int rc;

	*ret = NULL;
	*ret_n = 0;
	if (!esc ||
		asprintf(&filter,
			"(&(objectClass=mmAccount)(mmAccountType=" MM_TYPE_ORG
			")(!(mmStatus=" MM_STATUS_CLOSED "))(mmMember=%s))",
			esc) < 0) {
		free(esc);
		return fault_set(f, -ENOMEM, "mémoire insuffisante");
	}
	rc = store_search(
		s, c->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, SETTINGS_NOTIFY_ORGS_MAX, ret, ret_n);
	free(esc);
	free(filter);
	return rc < 0 ? fault_store(f, rc, "comptes organisationnels") : 0;
}

/* Does the ORG o notify t, as stored on t? */
static bool org_notifies(const struct entry *t, const struct entry *o)
{
	return settings_stored_bool(t, NOTIFY_ORG_SWITCH, true) && !entry_has_value(t, NOTIFY_ORG_OFF, o->dn);
}

int settings_notify_get(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, struct settings_notify *ret, struct fault *f)
{
	struct entry **orgs = NULL;
	size_t n = 0, on = 0;
	int rc;

	(void)who;
	settings_notify_view(t, ret);
	if (settings_is_org(t))
		return 0;
	if ((rc = member_orgs(s, c, t, &orgs, &n, f)) < 0)
		return rc;
	if (n && !(ret->orgs = calloc(n, sizeof(*ret->orgs)))) {
		entries_free(orgs, n);
		return fault_set(f, -ENOMEM, "mémoire insuffisante");
	}
	for (size_t i = 0; i < n; i++) {
		struct settings_notify_org *o = &ret->orgs[i];

		snprintf(o->login, sizeof(o->login), "%s",
			entry_get(orgs[i], "uid") ? entry_get(orgs[i], "uid") : "");
		snprintf(o->name, sizeof(o->name), "%s",
			entry_get(orgs[i], "cn") ? entry_get(orgs[i], "cn") : "");
		o->on = org_notifies(t, orgs[i]);
		on += o->on;
	}
	ret->norgs = n;
	if (n)
		ret->org_to_individual = on == n ? "yes" : on == 0 ? "no" : "some";
	entries_free(orgs, n);
	return 0;
}

/* The ORG of t that name designates (its login, login e-mail or MSSanté
 * address), among orgs; NULL when none: an unknown ORG and one t is not a
 * connection account of are the same answer. */
static const struct entry *named_org(struct entry **orgs, size_t n, const char *name)
{
	static const char *const keys[] = {"uid", "mmLoginMail", "mmMssAddress"};

	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (entry_get(orgs[i], keys[k]) && !strcasecmp(entry_get(orgs[i], keys[k]), name))
				return orgs[i];
	return NULL;
}

static int check_org_name(const char *org, struct fault *f)
{
	if (!*org)
		return fault_field(f, "org", "required", "org : le compte organisationnel à régler");
	if (strlen(org) > 254)
		return fault_field(f, "org", "max_length", "org : 254 caractères au plus");
	for (const unsigned char *p = (const unsigned char *)org; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return fault_field(f, "org", "characters", "org : caractères de contrôle");
	return 0;
}

/* The switch of one ORG o of t: on, the ORG leaves the list of those that do
 * not notify (all of t's other ORGs join it when the switch was off for all). */
static void one_org(
	struct mods *m, const struct entry *t, struct entry **orgs, size_t n, const struct entry *o, bool on)
{
	bool all_on = settings_stored_bool(t, NOTIFY_ORG_SWITCH, true);
	bool listed = entry_has_value(t, NOTIFY_ORG_OFF, o->dn);

	if (on && !all_on) {
		mods_add(m, LDAP_MOD_REPLACE, NOTIFY_ORG_SWITCH, "TRUE");
		mods_add(m, LDAP_MOD_REPLACE, NOTIFY_ORG_OFF, NULL);
		for (size_t i = 0; i < n; i++)
			if (orgs[i] != o)
				mods_add(m, LDAP_MOD_REPLACE, NOTIFY_ORG_OFF, orgs[i]->dn);
	} else if (on && listed) {
		mods_add(m, LDAP_MOD_DELETE, NOTIFY_ORG_OFF, o->dn);
	} else if (!on && all_on && !listed) {
		mods_add(m, LDAP_MOD_ADD, NOTIFY_ORG_OFF, o->dn);
	}
}

int settings_notify_set(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, const int v[SETTINGS_NOTIFY_N], const char *org, struct entry **ret,
	struct fault *f)
{
	char changed[512] = "";
	struct entry **orgs = NULL;
	const struct entry *o = NULL;
	size_t norgs = 0;
	struct mods m;
	int rc;

	*ret = NULL;
	if ((rc = settings_writable(t, f)) < 0)
		return rc;
	for (size_t i = 0; i < SETTINGS_NOTIFY_N; i++)
		if (v[i] >= 0 && notify_map[i].individual_only && settings_is_org(t))
			return fault_field(f, settings_notify_keys[i], "not_allowed",
				"%s : se règle depuis chaque compte individuel", settings_notify_keys[i]);
	if (org) {
		if ((rc = check_org_name(org, f)) < 0)
			return rc;
		if (settings_is_org(t))
			return fault_field(
				f, "org", "not_allowed", "org : se règle depuis chaque compte individuel");
		if (v[NOTIFY_ORG_INDEX] < 0)
			return fault_field(f, "org_to_individual", "required",
				"org_to_individual : yes ou no pour le compte organisationnel %s", org);
		if ((rc = member_orgs(s, c, t, &orgs, &norgs, f)) < 0)
			return rc;
		if (!(o = named_org(orgs, norgs, org))) {
			entries_free(orgs, norgs);
			return fault_field(f, "org", "not_member",
				"org : %s n'a pas de compte organisationnel à ce nom", entry_get(t, "uid"));
		}
	}
	mods_init(&m);
	settings_need_aux(&m, t);
	for (size_t i = 0; i < SETTINGS_NOTIFY_N; i++) {
		if (v[i] < 0)
			continue;
		if (i == NOTIFY_ORG_INDEX && o) {
			one_org(&m, t, orgs, norgs, o, v[i]);
			snprintf(changed + strlen(changed), sizeof(changed) - strlen(changed),
				"%sorg_to_individual[%s]=%s", changed[0] ? "," : "", entry_get(o, "uid"),
				v[i] ? "yes" : "no");
			continue;
		}
		mods_add(&m, LDAP_MOD_REPLACE, notify_map[i].attr, v[i] ? "TRUE" : "FALSE");
		/* The switch for all: no ORG keeps a choice of its own. */
		if (i == NOTIFY_ORG_INDEX)
			mods_add(&m, LDAP_MOD_REPLACE, NOTIFY_ORG_OFF, NULL);
		snprintf(changed + strlen(changed), sizeof(changed) - strlen(changed), "%s%s=%s",
			changed[0] ? "," : "", settings_notify_keys[i], v[i] ? "yes" : "no");
	}
	entries_free(orgs, norgs);
	if (!changed[0]) {
		mods_free(&m);
		return fault_set(f, -EINVAL, "aucun réglage à modifier");
	}
	if ((rc = settings_modify(s, t, &m, "notifications", f)) < 0)
		return rc;
	caller_audit(who, "notify-set", NULL, entry_get(t, "uid"), true, changed);
	return settings_reread(s, t, "notifications", ret, f);
}

bool settings_demat_get(const struct entry *t)
{
	return settings_stored_bool(t, "mmDematerialisation", true);
}

int settings_demat_set(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, bool on, struct fault *f)
{
	struct mods m;
	int rc;

	(void)c;
	if ((rc = settings_writable(t, f)) < 0)
		return rc;
	mods_init(&m);
	mods_add(&m, LDAP_MOD_REPLACE, "mmDematerialisation", on ? "TRUE" : "FALSE");
	if ((rc = settings_modify(s, t, &m, "dématérialisation", f)) < 0)
		return rc;
	caller_audit(who, "demat-set", NULL, entry_get(t, "uid"), true, on ? "yes" : "no");
	return 0;
}
