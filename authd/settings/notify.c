/* "Notifications" (with the ORG-to-individual switch of "Identifiants de connexion") and "Dématérialisation". */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "settings_int.h"

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
	ret->receipt_address = entry_get(t, "mmLoginMail");
	ret->opening_caveat = opening_caveat;
}

int settings_notify_set(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, const int v[SETTINGS_NOTIFY_N], struct entry **ret, struct fault *f)
{
	char changed[128] = "";
	struct mods m;
	int rc;

	(void)c;
	*ret = NULL;
	if ((rc = settings_writable(t, f)) < 0)
		return rc;
	mods_init(&m);
	settings_need_aux(&m, t);
	for (size_t i = 0; i < SETTINGS_NOTIFY_N; i++) {
		if (v[i] < 0)
			continue;
		if (notify_map[i].individual_only && settings_is_org(t)) {
			mods_free(&m);
			return fault_field(f, settings_notify_keys[i], "not_allowed",
				"%s : se règle depuis chaque compte individuel", settings_notify_keys[i]);
		}
		mods_add(&m, LDAP_MOD_REPLACE, notify_map[i].attr, v[i] ? "TRUE" : "FALSE");
		snprintf(changed + strlen(changed), sizeof(changed) - strlen(changed), "%s%s=%s",
			changed[0] ? "," : "", settings_notify_keys[i], v[i] ? "yes" : "no");
	}
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
