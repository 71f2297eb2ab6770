/* PAM sessions and "Changer de compte": open/close a login session, list the usable accounts, switch, choose the default. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "accounts.h"
#include "login_int.h"
#include "offline.h"
#include "validate.h"

#define SESSION_TTL (7 * 24 * 3600) /* a forgotten session entry goes away after a week */

const char *const login_user_attrs[] = {"uid", "mmAccountType", "mmStatus", "mmLoginMail", "mmMssAddress",
	"mmDefaultAccount", "uidNumber", "mmStatusReason", NULL};

static const char *const target_attrs[] = {
	"uid", "mmAccountType", "mmStatus", "mmLoginMail", "mmMssAddress", "mmMember", NULL};

/* Is target (an entry) an account that user may act as? Its own account, or
 * an active ORG that lists it among its connection accounts; the user's own
 * account active in both cases. */
static bool may_act_as(const struct entry *user, const struct entry *target)
{
	if (login_inactive_reason(user))
		return false;
	if (!strcasecmp(user->dn, target->dn))
		return true;
	return accounts_is_org(target) && accounts_active(target) && access_may_act_for(user, target, true);
}

static void copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

static void account_of(const struct entry *a, struct login_account *ret)
{
	copy(ret->login, sizeof(ret->login), entry_get(a, "uid"));
	copy(ret->address, sizeof(ret->address), entry_get(a, "mmMssAddress") ?: entry_get(a, "mmLoginMail"));
	copy(ret->account_type, sizeof(ret->account_type), entry_get(a, "mmAccountType"));
}

/* The account named target if user may act as it; else f set, the refusal audited. */
static int resolve_target(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *event, const struct entry *user, const char *target, struct entry **ret, struct fault *f)
{
	struct entry *t = NULL;
	int rc;

	*ret = NULL;
	if (!target || !*target)
		return fault_field(f, "target", "required", "compte cible : champ obligatoire");
	if (validate_text(target, LOGIN_USER_MAX) < 0)
		return fault_field(f, "target", "characters", "compte cible invalide");
	rc = accounts_find(s, c, target, target_attrs, &t);
	if (rc == -ENOENT || (rc == 0 && !may_act_as(user, t))) {
		login_event(who, event, NULL, entry_get(user, "uid"), false,
			rc == 0 ? "target is not an account of the user" : "unknown target");
		entry_free(t);
		return fault_set(f, -EACCES,
			"%s ne fait pas partie de vos comptes (compte individuel ou BAL ORG dont vous êtes "
			"compte de connexion)",
			target);
	}
	if (rc < 0)
		return fault_store(f, rc, target);
	*ret = t;
	return 0;
}

/* The account a new session of u acts as: its default account if it is
 * still one the user may use, else u itself (*ret_def: to free). */
static int default_of(struct store *s, const struct entry *u, struct entry **ret_def,
	const struct entry **ret_acct, struct fault *f)
{
	const char *def = entry_get(u, "mmDefaultAccount");
	int rc;

	*ret_def = NULL;
	*ret_acct = u;
	if (!def || !strcasecmp(def, u->dn))
		return 0;
	rc = store_read(s, def, target_attrs, ret_def);
	if (rc == 0 && may_act_as(u, *ret_def))
		*ret_acct = *ret_def;
	else if (rc < 0 && rc != -ENOENT)
		return fault_store(f, rc, "session");
	return 0;
}

/* The directory is down: a session it does not know, for the individual
 * account, with a handle of no use elsewhere. */
static int session_offline(const struct mm_config *c, const struct caller *who, const char *user,
	struct login_session *ret, struct fault *f)
{
	struct offline_rec rec;

	if (offline_load(c, user, &rec) < 0)
		return -EHOSTDOWN; /* f still says why */
	fault_clear(f);
	secret_token(ret->handle);
	copy(ret->user, sizeof(ret->user), rec.login);
	copy(ret->account.login, sizeof(ret->account.login), rec.login);
	copy(ret->account.address, sizeof(ret->account.address), rec.address);
	ret->offline = true;
	login_event(who, "session-open", "offline", rec.login, true, "offline session");
	offline_rec_wipe(&rec);
	return 0;
}

int login_session_open(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *u, const char *user, const char *method, bool offline_ok,
	struct login_session *ret, struct fault *f)
{
	struct record rec = {
		.service = who->service, .remote = who->rhost, .expires = login_now() + SESSION_TTL};
	struct entry *def = NULL;
	const struct entry *acct;
	const char *reason;
	int rc;

	memset(ret, 0, sizeof(*ret));
	method = method && *method ? method : "password+otp";
	if (!u) {
		/* The directory is down (the table's ACCESS_OFFLINE_OK). */
		fault_store(f, -EHOSTDOWN, "compte");
		if (offline_ok && c->offline_login && who->admin && user)
			return session_offline(c, who, user, ret, f);
		return -EHOSTDOWN;
	}
	reason = accounts_is_org(u) ? "org" : login_inactive_reason(u);
	if (reason) {
		login_event(who, "session-open", method, entry_get(u, "uid"), false, reason);
		fault_put(f, "reason", reason);
		rc = fault_set(f, -EPERM, "%s : compte inactif (%s)", entry_get(u, "uid"), reason);
		goto out;
	}
	if ((rc = default_of(s, u, &def, &acct, f)) < 0)
		goto out;
	rec.user_dn = u->dn;
	rec.account_dn = acct->dn;
	rec.method = method;
	rc = record_create(s, c, RECORD_PAM_SESSION, &rec, ret->handle);
	if (rc < 0) {
		rc = fault_store(f, rc, "session");
		goto out;
	}
	login_event(who, "session-open", method, entry_get(u, "uid"), true, entry_get(acct, "uid"));
	copy(ret->user, sizeof(ret->user), entry_get(u, "uid"));
	account_of(acct, &ret->account);
out:
	entry_free(def);
	return rc;
}

/* The user of a session that is used (not closed) must still be active: a
 * session lasts a week, a suspension applies at once. */
static int session_user_live(
	const struct caller *who, const char *event, const struct entry *u, struct fault *f)
{
	const char *reason = login_inactive_reason(u);

	if (!reason)
		return 0;
	login_event(who, event, NULL, entry_get(u, "uid"), false, reason);
	fault_put(f, "reason", reason);
	return fault_set(f, -EPERM, "%s : compte inactif (%s)", entry_get(u, "uid"), reason);
}

/* The session handle and its user, who must be one the caller may act for
 * (the one access rule: access_resolve); "unknown session" otherwise. */
static int session_load(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *event, const char *handle, struct entry **ret_s, struct entry **ret_u, struct fault *f)
{
	struct entry *se = NULL, *u = NULL, *owner = NULL;
	size_t n = handle ? strlen(handle) : 0;
	int rc;

	*ret_s = *ret_u = NULL;
	rc = n == SECRET_TOKEN_HEX - 1 && strspn(handle, "0123456789abcdef") == n
		? record_load(s, c, RECORD_PAM_SESSION, handle, &se)
		: -ENOENT;
	if (rc == -ENOENT || rc == -ETIMEDOUT) {
		login_event(who, event, NULL, NULL, false, "unknown session");
		return fault_set(f, -ENOENT, "session inconnue ou expirée");
	}
	if (rc < 0)
		return fault_store(f, rc, "session");
	rc = entry_get(se, "mmSessionUser")
		? accounts_by_dn(s, c, entry_get(se, "mmSessionUser"), login_user_attrs, &u)
		: -ENOENT;
	if (rc == -ENOENT) {
		login_event(who, event, NULL, NULL, false, "session of no account");
		entry_free(se);
		return fault_set(f, -ENOENT, "session inconnue ou expirée");
	}
	if (rc < 0) {
		entry_free(se);
		return fault_store(f, rc, "session");
	}
	if (!who->admin) {
		/* The caller's own account (access.h), which must be the session's user. */
		rc = access_own_account(c, s, who, NULL, &owner);
		if (rc == 0 && strcasecmp(owner->dn, u->dn))
			rc = -ENOENT;
		entry_free(owner);
		if (rc == -EHOSTDOWN) {
			entry_free(se);
			entry_free(u);
			return fault_store(f, rc, "session");
		}
		if (rc < 0) {
			login_event(who, event, NULL, entry_get(u, "uid"), false, "session of another user");
			entry_free(se);
			entry_free(u);
			return fault_set(f, -ENOENT, "session inconnue ou expirée");
		}
	}
	*ret_s = se;
	*ret_u = u;
	return 0;
}

int login_session_close(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *handle, struct fault *f)
{
	struct entry *se = NULL, *u = NULL;
	int rc;

	if ((rc = session_load(s, c, who, "session-close", handle, &se, &u, f)) < 0)
		return rc;
	rc = record_delete(s, se);
	if (rc == -ENOENT)
		rc = 0; /* closed meanwhile elsewhere */
	if (rc < 0)
		rc = fault_store(f, rc, "session");
	else
		login_event(who, "session-close", NULL, entry_get(u, "uid"), true, NULL);
	entry_free(se);
	entry_free(u);
	return rc;
}

int login_switch(struct store *s, const struct mm_config *c, const struct caller *who, const char *handle,
	const char *target, struct login_session *ret, struct fault *f)
{
	struct entry *se = NULL, *u = NULL, *t = NULL;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if ((rc = session_load(s, c, who, "switch", handle, &se, &u, f)) < 0)
		return rc;
	/* Checked again at each switch: the user, then the ORG and the membership. */
	if ((rc = session_user_live(who, "switch", u, f)) < 0 ||
		(rc = resolve_target(s, c, who, "switch", u, target, &t, f)) < 0)
		goto out;
	if ((rc = record_set_account(s, se, t->dn)) < 0) {
		rc = fault_store(f, rc, "changement de compte");
		goto out;
	}
	login_event(who, "switch", NULL, entry_get(u, "uid"), true, entry_get(t, "uid"));
	copy(ret->user, sizeof(ret->user), entry_get(u, "uid"));
	account_of(t, &ret->account);
out:
	entry_free(t);
	entry_free(se);
	entry_free(u);
	return rc;
}

static void choice_of(const struct entry *a, bool is_default, bool self, struct login_choice *ret)
{
	copy(ret->login, sizeof(ret->login), entry_get(a, "uid"));
	copy(ret->type, sizeof(ret->type), entry_get(a, "mmAccountType"));
	copy(ret->status, sizeof(ret->status), entry_get(a, "mmStatus"));
	copy(ret->mss_address, sizeof(ret->mss_address), entry_get(a, "mmMssAddress"));
	copy(ret->login_mail, sizeof(ret->login_mail), entry_get(a, "mmLoginMail"));
	ret->is_default = is_default;
	ret->self = self;
}

int login_accounts(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *u, struct login_choice **ret, size_t *ret_n, struct fault *f)
{
	struct entry **orgs = NULL;
	struct login_choice *v = NULL;
	size_t n = 0;
	char *esc = NULL, *filter = NULL;
	const char *def = entry_get(u, "mmDefaultAccount");
	bool def_found = false;
	int rc;

	(void)who;
	*ret = NULL;
	*ret_n = 0;
	esc = store_escape(u->dn);
	if (!esc ||
		asprintf(&filter,
			"(&(objectClass=mmAccount)(mmAccountType=ORG)(mmStatus=active)(mmMember=%s))",
			esc) < 0) {
		filter = NULL;
		rc = fault_set(f, -ENOMEM, "mémoire insuffisante");
		goto out;
	}
	rc = store_search(s, c->ldap_base, LDAP_SCOPE_SUBTREE, filter, target_attrs, 500, &orgs, &n);
	if (rc < 0) {
		rc = fault_store(f, rc, "comptes");
		goto out;
	}
	if (!(v = calloc(n + 1, sizeof(*v)))) {
		rc = fault_set(f, -ENOMEM, "mémoire insuffisante");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (def && !strcasecmp(def, orgs[i]->dn))
			def_found = true;
	choice_of(u, !def_found, true, &v[0]);
	for (size_t i = 0; i < n; i++)
		choice_of(orgs[i], def && !strcasecmp(def, orgs[i]->dn), false, &v[i + 1]);
	*ret = v;
	*ret_n = n + 1;
	rc = 0;
out:
	entries_free(orgs, n);
	free(esc);
	free(filter);
	return rc;
}

int login_default_set(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *u, const char *target, char ret_default[LOGIN_NAME_MAX], struct fault *f)
{
	struct entry *t = NULL;
	struct mods m;
	int rc;

	if ((rc = session_user_live(who, "default-set", u, f)) < 0 ||
		(rc = resolve_target(s, c, who, "default-set", u, target, &t, f)) < 0)
		goto out;
	mods_init(&m);
	/* The individual account is the default when none is set. */
	mods_add(&m, LDAP_MOD_REPLACE, "mmDefaultAccount", strcasecmp(t->dn, u->dn) ? t->dn : NULL);
	rc = store_modify(s, u->dn, &m);
	mods_free(&m);
	if (rc < 0) {
		rc = fault_store(f, rc, "compte par défaut");
		goto out;
	}
	login_event(who, "default-set", NULL, entry_get(u, "uid"), true, entry_get(t, "uid"));
	copy(ret_default, LOGIN_NAME_MAX, entry_get(t, "uid"));
out:
	entry_free(t);
	return rc;
}

/* ------------------------------------------------------------ the HTTP API's sessions */

const char *const login_api_user_attrs[] = {"uid", "mmAccountType", "mmStatus", "mmLoginMail", "mmMssAddress",
	"mmDefaultAccount", "uidNumber", "mmStatusReason", "mmCguAcceptedAt", NULL};

static bool cgu_accepted(const struct entry *u)
{
	return entry_get(u, "mmCguAcceptedAt") != NULL;
}

/* The session record of token and its user; "unknown session" otherwise
 * (a token of another shape, with a newline, revoked or expired alike). */
static int api_load(struct store *s, const struct mm_config *c, const struct caller *who, const char *event,
	const char *token, struct entry **ret_s, struct entry **ret_u, struct fault *f)
{
	struct entry *se = NULL, *u = NULL;
	size_t n = token ? strlen(token) : 0;
	int rc;

	*ret_s = *ret_u = NULL;
	rc = n == SECRET_TOKEN_HEX - 1 && strspn(token, "0123456789abcdef") == n
		? record_load(s, c, RECORD_SESSION, token, &se)
		: -ENOENT;
	if (rc == 0 && !entry_get(se, "mmSessionUser"))
		rc = -ENOENT;
	if (rc == 0) {
		rc = accounts_by_dn(s, c, entry_get(se, "mmSessionUser"), login_api_user_attrs, &u);
		if (rc == -ENOENT)
			rc = -ESRCH;
	}
	if (rc == -ENOENT || rc == -ETIMEDOUT || rc == -ESRCH) {
		login_event(who, event, NULL, NULL, false,
			rc == -ESRCH ? "session of no account" : "unknown session");
		entry_free(se);
		return fault_set(f, -ENOENT, "session inconnue, révoquée ou expirée");
	}
	if (rc < 0) {
		entry_free(se);
		return fault_store(f, rc, "session");
	}
	*ret_s = se;
	*ret_u = u;
	return 0;
}

/* ret from the session record se of user u acting as acct (NULL: none yet). */
static void api_fill(const struct entry *se, const struct entry *u, const struct entry *acct,
	struct login_api_session *ret)
{
	copy(ret->user, sizeof(ret->user), entry_get(u, "uid"));
	copy(ret->method, sizeof(ret->method), entry_get(se, "mmSessionMethod"));
	ret->expires_at = store_parse_time(entry_get(se, "mmSessionExpires"));
	ret->cgu_required = !cgu_accepted(u);
	if (acct && !ret->cgu_required)
		account_of(acct, &ret->account);
}

int login_api_session_open(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *user_dn, const char *method, struct login_api_session *ret, struct fault *f)
{
	struct entry *u = NULL, *def = NULL;
	const struct entry *acct = NULL;
	const char *reason;
	struct session_open_args a = {
		.user_dn = user_dn, .method = method, .service = who->service, .remote = who->rhost};
	int rc;

	memset(ret, 0, sizeof(*ret));
	rc = accounts_by_dn(s, c, user_dn, login_api_user_attrs, &u);
	if (rc < 0)
		return fault_store(f, rc, "compte");
	reason = accounts_is_org(u) ? "org" : login_inactive_reason(u);
	if (reason) {
		rc = login_refuse_inactive(who, "session-open", method, u, reason, f);
		goto out;
	}
	/* CGU first: until they are accepted the session acts as no account. */
	if (cgu_accepted(u) && (rc = default_of(s, u, &def, &acct, f)) < 0)
		goto out;
	a.account_dn = acct ? acct->dn : NULL;
	rc = session_open(s, c, &a, ret->token, &ret->expires_at);
	if (rc < 0) {
		rc = fault_store(f, rc, "session");
		goto out;
	}
	copy(ret->user, sizeof(ret->user), entry_get(u, "uid"));
	copy(ret->method, sizeof(ret->method), method);
	ret->cgu_required = !acct;
	if (acct)
		account_of(acct, &ret->account);
	login_event(who, "session-open", method, entry_get(u, "uid"), true,
		acct ? entry_get(acct, "uid") : "terms of use to accept");
out:
	entry_free(def);
	entry_free(u);
	return rc;
}

int login_api_user(struct store *s, const struct mm_config *c, const struct caller *who, const char *event,
	const char *token, struct entry **ret_user, struct fault *f)
{
	struct entry *se = NULL;
	int rc = api_load(s, c, who, event, token, &se, ret_user, f);

	entry_free(se);
	return rc;
}

int login_api_resume(struct store *s, const struct mm_config *c, const struct caller *who, const char *token,
	struct login_api_session *ret, struct fault *f)
{
	struct entry *se = NULL, *u = NULL, *def = NULL, *cur = NULL;
	const struct entry *acct = NULL;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if ((rc = api_load(s, c, who, "session-resume", token, &se, &u, f)) < 0 ||
		(rc = session_user_live(who, "session-resume", u, f)) < 0)
		goto out;
	if (!cgu_accepted(u)) {
		api_fill(se, u, NULL, ret);
		goto out;
	}
	if (entry_get(se, "mmSessionAccount")) {
		rc = store_read(s, entry_get(se, "mmSessionAccount"), target_attrs, &cur);
		if (rc < 0 && rc != -ENOENT) {
			rc = fault_store(f, rc, "session");
			goto out;
		}
		acct = cur;
	} else {
		/* Opened before the acceptance: now on the default account. */
		if ((rc = default_of(s, u, &def, &acct, f)) < 0)
			goto out;
		if ((rc = record_set_account(s, se, acct->dn)) < 0) {
			rc = fault_store(f, rc, "session");
			goto out;
		}
		session_cache_forget(token);
		login_event(who, "session-open", entry_get(se, "mmSessionMethod"), entry_get(u, "uid"), true,
			entry_get(acct, "uid"));
	}
	api_fill(se, u, acct, ret);
	rc = 0;
out:
	entry_free(cur);
	entry_free(def);
	entry_free(se);
	entry_free(u);
	return rc;
}

int login_api_switch(struct store *s, const struct mm_config *c, const struct caller *who, const char *token,
	const char *target, struct login_api_session *ret, struct fault *f)
{
	struct entry *se = NULL, *u = NULL, *t = NULL;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if ((rc = api_load(s, c, who, "switch", token, &se, &u, f)) < 0 ||
		(rc = session_user_live(who, "switch", u, f)) < 0)
		goto out;
	if (!cgu_accepted(u)) {
		login_event(who, "switch", NULL, entry_get(u, "uid"), false, "terms of use not accepted");
		fault_put(f, "reason", "cgu_required");
		rc = fault_set(f, -EPERM, "les CGU doivent être acceptées avant de changer de compte");
		goto out;
	}
	/* Checked again at each switch: the user, then the ORG and the membership. */
	if ((rc = resolve_target(s, c, who, "switch", u, target, &t, f)) < 0)
		goto out;
	if ((rc = record_set_account(s, se, t->dn)) < 0) {
		rc = fault_store(f, rc, "changement de compte");
		goto out;
	}
	session_cache_forget(token);
	login_event(who, "switch", NULL, entry_get(u, "uid"), true, entry_get(t, "uid"));
	api_fill(se, u, t, ret);
out:
	entry_free(t);
	entry_free(se);
	entry_free(u);
	return rc;
}

/* ------------------------------------------------------------ browser sessions */

#define WEB_SINCE "since:"

/* The absolute end of a browser session record (its data "since:<login time>"). */
static long long web_end(const struct mm_config *c, const struct entry *se)
{
	const char *d = record_data(se);
	long long since =
		d && !strncmp(d, WEB_SINCE, strlen(WEB_SINCE)) ? strtoll(d + strlen(WEB_SINCE), NULL, 10) : 0;

	return since > 0 ? since + (long long)c->web_absolute_timeout : 0;
}

static long long web_deadline(const struct mm_config *c, long long now, long long end)
{
	long long idle = now + (long long)c->web_idle_timeout;

	return end && end < idle ? end : idle;
}

/* A new record for user u acting as acct (NULL: CGU to accept) logged in
 * at since; ret filled, ret->token the new handle. */
static int web_create(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *u, const struct entry *acct, const char *method, long long since,
	struct login_web_session *ret, struct fault *f)
{
	char data[48];
	long long now = (long long)time(NULL);
	struct record rec = {.user_dn = u->dn,
		.account_dn = acct ? acct->dn : NULL,
		.method = method,
		.service = who->service,
		.remote = who->rhost,
		.data = data};
	int rc;

	snprintf(data, sizeof(data), WEB_SINCE "%lld", since);
	rec.expires = web_deadline(c, now, since + (long long)c->web_absolute_timeout);
	if ((rc = record_create(s, c, RECORD_SESSION, &rec, ret->s.token)) < 0)
		return fault_store(f, rc, "session");
	copy(ret->s.user, sizeof(ret->s.user), entry_get(u, "uid"));
	copy(ret->s.method, sizeof(ret->s.method), method);
	copy(ret->user_dn, sizeof(ret->user_dn), u->dn);
	copy(ret->account_dn, sizeof(ret->account_dn), acct ? acct->dn : NULL);
	ret->s.expires_at = rec.expires;
	ret->s.cgu_required = !acct;
	ret->ends_at = since + (long long)c->web_absolute_timeout;
	if (acct)
		account_of(acct, &ret->s.account);
	return 0;
}

int login_web_open(struct store *s, const struct mm_config *c, const struct caller *who, const char *user_dn,
	const char *method, struct login_web_session *ret, struct fault *f)
{
	struct entry *u = NULL, *def = NULL;
	const struct entry *acct = NULL;
	const char *reason;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if ((rc = accounts_by_dn(s, c, user_dn, login_api_user_attrs, &u)) < 0)
		return fault_store(f, rc, "compte");
	reason = accounts_is_org(u) ? "org" : login_inactive_reason(u);
	if (reason) {
		rc = login_refuse_inactive(who, "session-open", method, u, reason, f);
		goto out;
	}
	if (cgu_accepted(u) && (rc = default_of(s, u, &def, &acct, f)) < 0)
		goto out;
	if ((rc = web_create(s, c, who, u, acct, method, (long long)time(NULL), ret, f)) < 0)
		goto out;
	login_event(who, "session-open", method, entry_get(u, "uid"), true,
		acct ? entry_get(acct, "uid") : "terms of use to accept");
out:
	entry_free(def);
	entry_free(u);
	return rc;
}

int login_web_check(struct store *s, const struct mm_config *c, const struct caller *who, const char *token,
	struct login_web_session *ret, struct fault *f)
{
	struct entry *se = NULL, *u = NULL, *cur = NULL;
	long long now = (long long)time(NULL), end, exp;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if ((rc = api_load(s, c, who, "web-session", token, &se, &u, f)) < 0)
		return rc;
	end = web_end(c, se);
	if (!end || end <= now) {
		/* Not a browser session, or past its absolute end: gone. */
		if (end && record_delete(s, se) < 0)
			login_event(who, "web-session", NULL, entry_get(u, "uid"), false, "not deleted");
		login_event(who, "web-session", NULL, entry_get(u, "uid"), false,
			end ? "absolute timeout" : "not a browser session");
		rc = fault_set(f, -ENOENT, "session inconnue, révoquée ou expirée");
		goto out;
	}
	if ((rc = session_user_live(who, "web-session", u, f)) < 0)
		goto out;
	if (entry_get(se, "mmSessionAccount") && cgu_accepted(u)) {
		rc = store_read(s, entry_get(se, "mmSessionAccount"), target_attrs, &cur);
		if (rc < 0 && rc != -ENOENT) {
			rc = fault_store(f, rc, "session");
			goto out;
		}
	}
	api_fill(se, u, cur, &ret->s);
	copy(ret->user_dn, sizeof(ret->user_dn), u->dn);
	copy(ret->account_dn, sizeof(ret->account_dn), cur ? cur->dn : NULL);
	ret->ends_at = end;
	/* Idle timeout: the expiry moves with use, at most once a minute. */
	exp = web_deadline(c, now, end);
	if (exp - ret->s.expires_at >= 60) {
		if ((rc = record_update(s, se, NULL, exp)) < 0) {
			rc = fault_store(f, rc, "session");
			goto out;
		}
		ret->s.expires_at = exp;
	}
	rc = 0;
out:
	entry_free(cur);
	entry_free(se);
	entry_free(u);
	return rc;
}

int login_web_rotate(struct store *s, const struct mm_config *c, const struct caller *who, const char *token,
	const char *target, bool cgu_now, struct login_web_session *ret, struct fault *f)
{
	struct entry *se = NULL, *u = NULL, *t = NULL, *def = NULL;
	const struct entry *acct = NULL;
	long long now = (long long)time(NULL), end;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if ((rc = api_load(s, c, who, target ? "switch" : "session-resume", token, &se, &u, f)) < 0)
		return rc;
	end = web_end(c, se);
	if (!end || end <= now) {
		rc = fault_set(f, -ENOENT, "session inconnue, révoquée ou expirée");
		goto out;
	}
	if ((rc = session_user_live(who, target ? "switch" : "session-resume", u, f)) < 0)
		goto out;
	if (!cgu_accepted(u)) {
		login_event(who, "switch", NULL, entry_get(u, "uid"), false, "terms of use not accepted");
		fault_put(f, "reason", "cgu_required");
		rc = fault_set(f, -EPERM, "les CGU doivent être acceptées avant de changer de compte");
		goto out;
	}
	if (target) {
		if ((rc = resolve_target(s, c, who, "switch", u, target, &t, f)) < 0)
			goto out;
		acct = t;
	} else if (cgu_now || !entry_get(se, "mmSessionAccount")) {
		if ((rc = default_of(s, u, &def, &acct, f)) < 0)
			goto out;
	} else {
		rc = store_read(s, entry_get(se, "mmSessionAccount"), target_attrs, &def);
		if (rc < 0) {
			rc = fault_store(f, rc, "session");
			goto out;
		}
		acct = def;
	}
	/* The new token first, then the old one dies: a copy of it is of no use. */
	if ((rc = web_create(s, c, who, u, acct, entry_get(se, "mmSessionMethod") ?: "password",
		     end - (long long)c->web_absolute_timeout, ret, f)) < 0)
		goto out;
	rc = record_delete(s, se);
	if (rc < 0 && rc != -ENOENT) {
		login_event(who, target ? "switch" : "session-resume", NULL, entry_get(u, "uid"), false,
			"old session not deleted");
		rc = fault_store(f, rc, "session");
		goto out;
	}
	session_cache_forget(token);
	login_event(who, target ? "switch" : "session-open", entry_get(se, "mmSessionMethod"),
		entry_get(u, "uid"), true, entry_get(acct, "uid"));
	rc = 0;
out:
	entry_free(def);
	entry_free(t);
	entry_free(se);
	entry_free(u);
	return rc;
}

int login_web_close(struct store *s, const struct mm_config *c, const struct caller *who, const char *token,
	struct fault *f)
{
	struct entry *se = NULL, *u = NULL;
	int rc;

	if ((rc = api_load(s, c, who, "logout", token, &se, &u, f)) < 0)
		return rc;
	rc = record_delete(s, se);
	session_cache_forget(token);
	login_event(who, "logout", entry_get(se, "mmSessionMethod"), entry_get(u, "uid"),
		rc == 0 || rc == -ENOENT, "browser session deleted");
	entry_free(se);
	entry_free(u);
	return rc == -ENOENT ? 0 : rc < 0 ? fault_store(f, rc, "session") : 0;
}
