/* PAM's account step (may this account log in now?), the login mode, and the refusal of an inactive account. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "login_int.h"
#include "offline.h"

int login_refuse_inactive(const struct caller *who, const char *event, const char *method,
	const struct entry *e, const char *reason, struct fault *f)
{
	static const struct {
		const char *reason, *text;
	} texts[] = {
		{"pending",
			"le compte n'est pas encore validé (confirmation de l'adresse e-mail ou validation "
			"par le centre de services en attente)"},
		{"suspended", "le compte est suspendu"},
		{"closed", "le compte est clos"},
		{"org", "une BAL ORG s'ouvre depuis un compte individuel (« Changer de compte »)"},
	};
	const char *text = "compte inactif";

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (!strcmp(texts[i].reason, reason))
			text = texts[i].text;
	login_event(who, event, method, entry_get(e, "uid"), false, reason);
	fault_put(f, "reason", reason);
	fault_put(f, "status", entry_get(e, "mmStatus"));
	if (entry_get(e, "mmStatusReason"))
		return fault_set(
			f, -EPERM, "%s : %s (%s)", entry_get(e, "uid"), text, entry_get(e, "mmStatusReason"));
	return fault_set(f, -EPERM, "%s : %s", entry_get(e, "uid"), text);
}

/* The directory is down: active, with the terms accepted at the last online login. */
static int acct_offline(const struct mm_config *c, const struct caller *who, const char *user,
	struct acct_state *ret, struct fault *f)
{
	struct offline_rec rec;
	int rc = 0;

	if (offline_load(c, user, &rec) < 0)
		return -EHOSTDOWN; /* f still says why */
	fault_clear(f);
	snprintf(ret->login, sizeof(ret->login), "%s", rec.login);
	snprintf(ret->status, sizeof(ret->status), "%s", MM_STATUS_ACTIVE);
	ret->cgu_required = false;
	ret->offline = true;
	if (!rec.cgu) {
		fault_put(f, "login", rec.login);
		fault_put(f, "status", MM_STATUS_ACTIVE);
		fault_put(f, "cgu_required", "no");
		fault_put(f, "offline", "yes");
		fault_put(f, "reason", "cgu");
		rc = fault_set(f, -EPERM, "les CGU doivent être acceptées en ligne");
	}
	login_event(who, "account", "offline", rec.login, rec.cgu,
		rec.cgu ? "offline" : "terms of use not accepted");
	offline_rec_wipe(&rec);
	return rc;
}

int login_acct_check(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, const char *user, bool offline_ok, struct acct_state *ret, struct fault *f)
{
	const char *reason;

	(void)s;
	memset(ret, 0, sizeof(*ret));
	if (!e) {
		/* The directory is down (the table's ACCESS_OFFLINE_OK). */
		fault_store(f, -EHOSTDOWN, "compte");
		if (offline_ok && c->offline_login && who->uid == 0 && user)
			return acct_offline(c, who, user, ret, f);
		return -EHOSTDOWN;
	}
	if (!strcmp(entry_get(e, "mmAccountType") ?: "", MM_TYPE_ORG))
		reason = "org";
	else
		reason = login_inactive_reason(e);
	if (reason)
		return login_refuse_inactive(who, "account", NULL, e, reason, f);
	ret->cgu_required = !entry_get(e, "mmCguAcceptedAt");
	if (!ret->cgu_required && offline_mark_cgu(c, entry_get(e, "uid")) < 0)
		log_msg(LOG_WARNING, "%s: offline record not updated", entry_get(e, "uid"));
	snprintf(ret->login, sizeof(ret->login), "%s", entry_get(e, "uid"));
	snprintf(ret->status, sizeof(ret->status), "%s", entry_get(e, "mmStatus") ?: "");
	login_event(who, "account", NULL, entry_get(e, "uid"), true,
		ret->cgu_required ? "active; terms of use to accept" : "active");
	return 0;
}

int login_mode(struct store *s, const struct mm_config *c, const struct caller *who, bool *ret_offline,
	struct fault *f)
{
	static const char *const attrs[] = {"objectClass", NULL};
	struct entry *e = NULL;
	int rc = store_read(s, c->ldap_base, attrs, &e);

	entry_free(e);
	*ret_offline = false;
	if (rc == -EHOSTDOWN && c->offline_login) {
		*ret_offline = true;
		return 0;
	}
	if (rc < 0)
		return fault_store(f, rc, "annuaire");
	return 0;
}
