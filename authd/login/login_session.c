/* PAM sessions and "Changer de compte": open/close a login session, list the usable accounts, switch, choose the default. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "account_compat.h"
#include "log.h"
#include "login.h"
#include "offline.h"
#include "secret.h"
#include "validate.h"

#define SESSION_TTL (7 * 24 * 3600) /* a forgotten session entry goes away after a week */

static const char *const user_attrs[] = {"uid", "mmAccountType", "mmStatus", "mmLoginMail", "mmMssAddress",
	"mmDefaultAccount", "uidNumber", "mmStatusReason", NULL};

/* Is target (an entry) an account that user may act as? Its own account, or
 * an active ORG that lists it among its connection accounts; the user's own
 * account active in both cases. */
static bool may_act_as(const struct entry *user, const struct entry *target)
{
	if (login_inactive_reason(user))
		return false;
	if (!strcasecmp(user->dn, target->dn))
		return true;
	return !strcmp(entry_get(target, "mmAccountType") ?: "", MM_TYPE_ORG) &&
		!strcmp(entry_get(target, "mmStatus") ?: "", MM_STATUS_ACTIVE) &&
		entry_has_value(target, "mmMember", user->dn);
}

static const char *const target_attrs[] = {
	"uid", "mmAccountType", "mmStatus", "mmLoginMail", "mmMssAddress", "mmMember", NULL};

static void put_account(struct req *r, const struct entry *a)
{
	req_put(r, "account", entry_get(a, "uid"));
	req_put(r, "address", entry_get(a, "mmMssAddress") ?: entry_get(a, "mmLoginMail"));
	req_put(r, "account_type", entry_get(a, "mmAccountType"));
}

/* The account named by the field "target" if user may act as it; else the
 * reply is set, the refusal audited, and the status returned. */
static int resolve_target(struct req *r, const char *event, const struct entry *user, struct entry **ret)
{
	const char *target = login_field(r, "target");
	struct entry *t = NULL;
	int rc;

	*ret = NULL;
	if (!target)
		return req_fail_field(r, "target", "required", "compte cible : champ obligatoire");
	if (validate_text(target, 254) < 0)
		return req_fail_field(r, "target", "characters", "compte cible invalide");
	rc = account_find_attrs(r, target, target_attrs, &t);
	if (rc == -ENOENT || (rc == 0 && !may_act_as(user, t))) {
		login_audit(r, event, NULL, entry_get(user, "uid"), false,
			rc == 0 ? "target is not an account of the user" : "unknown target");
		entry_free(t);
		return req_fail(r, -EACCES,
			"%s ne fait pas partie de vos comptes (compte individuel ou BAL ORG dont vous êtes "
			"compte de connexion)",
			target);
	}
	if (rc < 0)
		return store_fail(r, rc, target);
	*ret = t;
	return 0;
}

int login_session_open(struct req *r)
{
	struct entry *u = NULL, *def = NULL;
	const struct entry *acct;
	const char *reason, *method = login_field(r, "method") ?: "password+otp";
	char handle[SECRET_TOKEN_HEX];
	int rc;

	rc = login_user(r, "session-open", user_attrs, &u);
	if (rc == -EHOSTDOWN && r->cfg->offline_login && r->who.admin && login_field(r, "user")) {
		struct offline_rec rec;

		if (offline_load(r->cfg, login_field(r, "user"), &rec) < 0)
			return rc;
		/* A session the directory does not know: the individual account, a handle of no use elsewhere. */
		secret_token(handle);
		mm_msg_set_message(r->out, "session hors ligne");
		req_put(r, "session", handle);
		req_put(r, "user", rec.login);
		req_put(r, "account", rec.login);
		req_put(r, "address", rec.address);
		req_put(r, "offline", "yes");
		login_audit(r, "session-open", "offline", rec.login, true, "offline session");
		secret_wipe(handle, sizeof(handle));
		offline_rec_wipe(&rec);
		return 0;
	}
	if (rc < 0)
		return rc;
	if (!strcmp(entry_get(u, "mmAccountType"), MM_TYPE_ORG))
		reason = "org";
	else
		reason = login_inactive_reason(u);
	if (reason) {
		login_audit(r, "session-open", method, entry_get(u, "uid"), false, reason);
		req_put(r, "reason", reason);
		rc = req_fail(r, -EPERM, "%s : compte inactif (%s)", entry_get(u, "uid"), reason);
		goto out;
	}
	acct = u;
	/* The default account, if it is still one the user may use. */
	if (entry_get(u, "mmDefaultAccount") && strcasecmp(entry_get(u, "mmDefaultAccount"), u->dn)) {
		rc = store_read(r->store, entry_get(u, "mmDefaultAccount"), target_attrs, &def);
		if (rc == 0 && may_act_as(u, def))
			acct = def;
		else if (rc < 0 && rc != -ENOENT) {
			rc = store_fail(r, rc, "session");
			goto out;
		}
	}
	rc = login_handle_create(r, "pam-session", u->dn, acct->dn, method, SESSION_TTL, handle);
	if (rc < 0) {
		rc = store_fail(r, rc, "session");
		goto out;
	}
	login_audit(r, "session-open", method, entry_get(u, "uid"), true, entry_get(acct, "uid"));
	req_put(r, "session", handle);
	req_put(r, "user", entry_get(u, "uid"));
	put_account(r, acct);
	secret_wipe(handle, sizeof(handle));
out:
	entry_free(def);
	entry_free(u);
	return rc;
}

/* The user of a session that is used (not closed) must still be active: a
 * session lasts a week, a suspension applies at once. */
static int session_user_live(struct req *r, const char *event, const struct entry *u)
{
	const char *reason = login_inactive_reason(u);

	if (!reason)
		return 0;
	login_audit(r, event, NULL, entry_get(u, "uid"), false, reason);
	req_put(r, "reason", reason);
	return req_fail(r, -EPERM, "%s : compte inactif (%s)", entry_get(u, "uid"), reason);
}

/* The session of the field "session" and its user, after the caller rules. */
static int login_session_load(struct req *r, const char *event, struct entry **ret_s, struct entry **ret_u)
{
	struct entry *s = NULL, *u = NULL;
	int rc;

	*ret_s = *ret_u = NULL;
	rc = login_handle_load(r, "pam-session", login_field(r, "session"), &s);
	if (rc == -ENOENT || rc == -ETIMEDOUT) {
		login_audit(r, event, NULL, NULL, false, "unknown session");
		return req_fail(r, -ENOENT, "session inconnue ou expirée");
	}
	if (rc < 0)
		return store_fail(r, rc, "session");
	rc = store_read(r->store, entry_get(s, "mmSessionUser"), user_attrs, &u);
	if (rc < 0) {
		entry_free(s);
		return store_fail(r, rc, "session");
	}
	if (!r->who.admin && !login_owned_by(u, r->who.uid)) {
		login_audit(r, event, NULL, entry_get(u, "uid"), false, "session of another user");
		entry_free(s);
		entry_free(u);
		return req_fail(r, -ENOENT, "session inconnue ou expirée");
	}
	*ret_s = s;
	*ret_u = u;
	return 0;
}

int login_session_close(struct req *r)
{
	struct entry *s = NULL, *u = NULL;
	int rc;

	if ((rc = login_session_load(r, "session-close", &s, &u)) < 0)
		return rc;
	rc = login_handle_delete(r, s);
	if (rc == -ENOENT)
		rc = 0; /* closed meanwhile elsewhere */
	if (rc < 0)
		rc = store_fail(r, rc, "session");
	else
		login_audit(r, "session-close", NULL, entry_get(u, "uid"), true, NULL);
	entry_free(s);
	entry_free(u);
	return rc;
}

static void put_record(struct req *r, size_t i, const struct entry *a, bool is_default, bool self)
{
	char idx[24];

	snprintf(idx, sizeof(idx), "%zu", i);
	req_put(r, "#", idx);
	req_put(r, "login", entry_get(a, "uid"));
	req_put(r, "type", entry_get(a, "mmAccountType"));
	req_put(r, "status", entry_get(a, "mmStatus"));
	req_put(r, "mss_address", entry_get(a, "mmMssAddress"));
	req_put(r, "login_mail", entry_get(a, "mmLoginMail"));
	req_put(r, "default", is_default ? "yes" : "no");
	req_put(r, "self", self ? "yes" : "no");
}

int login_accounts(struct req *r)
{
	struct entry *u = NULL, **orgs = NULL;
	size_t n = 0;
	char *esc = NULL, *filter = NULL;
	const char *def;
	bool def_found = false;
	int rc;

	if ((rc = login_user(r, "accounts", user_attrs, &u)) < 0)
		return rc;
	def = entry_get(u, "mmDefaultAccount");
	esc = store_escape(u->dn);
	if (!esc ||
		asprintf(&filter,
			"(&(objectClass=mmAccount)(mmAccountType=ORG)(mmStatus=active)(mmMember=%s))",
			esc) < 0) {
		filter = NULL;
		rc = -ENOMEM;
		goto out;
	}
	rc = store_search(
		r->store, r->cfg->ldap_base, LDAP_SCOPE_SUBTREE, filter, target_attrs, 500, &orgs, &n);
	if (rc < 0) {
		rc = store_fail(r, rc, "comptes");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (def && !strcasecmp(def, orgs[i]->dn))
			def_found = true;
	put_record(r, 0, u, !def_found, true);
	for (size_t i = 0; i < n; i++)
		put_record(r, i + 1, orgs[i], def && !strcasecmp(def, orgs[i]->dn), false);
	rc = 0;
out:
	entries_free(orgs, n);
	free(esc);
	free(filter);
	entry_free(u);
	return rc;
}

int login_switch(struct req *r)
{
	struct entry *s = NULL, *u = NULL, *t = NULL;
	struct mods m;
	int rc;

	if ((rc = login_session_load(r, "switch", &s, &u)) < 0)
		return rc;
	/* Checked again at each switch: the user, then the ORG and the membership. */
	if ((rc = session_user_live(r, "switch", u)) < 0 || (rc = resolve_target(r, "switch", u, &t)) < 0)
		goto out;
	mods_init(&m);
	mods_add(&m, LDAP_MOD_REPLACE, "mmSessionAccount", t->dn);
	rc = store_modify(r->store, s->dn, &m);
	mods_free(&m);
	if (rc < 0) {
		rc = store_fail(r, rc, "changement de compte");
		goto out;
	}
	login_audit(r, "switch", NULL, entry_get(u, "uid"), true, entry_get(t, "uid"));
	req_put(r, "user", entry_get(u, "uid"));
	put_account(r, t);
	mm_msg_set_message(r->out, "session basculée sur %s", entry_get(t, "uid"));
out:
	entry_free(t);
	entry_free(s);
	entry_free(u);
	return rc;
}

int login_default_set(struct req *r)
{
	struct entry *u = NULL, *t = NULL;
	struct mods m;
	int rc;

	if ((rc = login_user(r, "default-set", user_attrs, &u)) < 0)
		return rc;
	if ((rc = session_user_live(r, "default-set", u)) < 0 ||
		(rc = resolve_target(r, "default-set", u, &t)) < 0)
		goto out;
	mods_init(&m);
	/* The individual account is the default when none is set. */
	mods_add(&m, LDAP_MOD_REPLACE, "mmDefaultAccount", strcasecmp(t->dn, u->dn) ? t->dn : NULL);
	rc = store_modify(r->store, u->dn, &m);
	mods_free(&m);
	if (rc < 0) {
		rc = store_fail(r, rc, "compte par défaut");
		goto out;
	}
	login_audit(r, "default-set", NULL, entry_get(u, "uid"), true, entry_get(t, "uid"));
	req_put(r, "default", entry_get(t, "uid"));
	mm_msg_set_message(r->out, "compte par défaut : %s", entry_get(t, "uid"));
out:
	entry_free(t);
	entry_free(u);
	return rc;
}
