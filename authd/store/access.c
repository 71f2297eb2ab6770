/* Who may act on which account (access.h). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "accounts.h"
#include "log.h"
#include "validate.h"

#define NAME_MAX_BYTES 254 /* a login e-mail, the longest name an account has */

void caller_from_peer(struct caller *who, uid_t uid, gid_t gid, pid_t pid, bool admin)
{
	memset(who, 0, sizeof(*who));
	who->uid = uid;
	who->gid = gid;
	who->pid = pid;
	who->admin = admin;
	snprintf(who->name, sizeof(who->name), "uid=%u", (unsigned)uid);
}

void caller_audit(const struct caller *who, const char *event, const char *method, const char *account,
	bool ok, const char *reason)
{
	struct audit_ctx a = {.event = event,
		.caller = who->name,
		.method = method,
		.service = who->service,
		.remote = who->rhost,
		.account = account};

	audit(&a, ok, reason);
}

static void refused(const struct caller *who, const char *event, const char *account, const char *why)
{
	caller_audit(who, event, NULL, account, false, why);
}

int access_own_account(const struct mm_config *c, struct store *s, const struct caller *who,
	const char *const *attrs, struct entry **ret)
{
	const char **all = accounts_attrs_with_identity(attrs);
	int rc;

	*ret = NULL;
	if (!all)
		return -ENOMEM;
	if (who->dn) {
		rc = accounts_by_dn(s, c, who->dn, all, ret);
		if (rc == 0 && accounts_is_org(*ret)) {
			/* A session acts as an ORG only after "Changer de compte"; its
			 * own account is still the individual one. */
			entry_free(*ret);
			*ret = NULL;
			rc = -ENOENT;
		}
	} else {
		rc = accounts_by_uid(s, c, who->uid, all, ret);
	}
	free(all);
	return rc;
}

bool access_may_act_for(const struct entry *me, const struct entry *target, bool org_too)
{
	if (!me || !target)
		return false;
	if (!strcasecmp(me->dn, target->dn))
		return true;
	/* A suspended or closed connection account manages nothing. */
	return org_too && accounts_is_org(target) && accounts_active(me) &&
		entry_has_value(target, "mmMember", me->dn);
}

/* The refusal of a caller whose own account is not active. */
static int inactive_caller(
	const struct caller *who, const char *event, const struct entry *me, struct fault *f)
{
	const char *status = entry_get(me, "mmStatus");

	refused(who, event, entry_get(me, "uid"), "caller account not active");
	fault_set(f, -EPERM, "votre compte %s n'est pas actif (statut : %s) : action impossible",
		entry_get(me, "uid"), status ? status : "?");
	fault_put(f, "reason", "account_state");
	fault_put(f, "status", status);
	return -EPERM;
}

/* The refusal of an ORG, not active, that the caller is a connection account of. */
static int inactive_org(const struct caller *who, const char *event, const struct entry *org, struct fault *f)
{
	const char *status = entry_get(org, "mmStatus");

	refused(who, event, entry_get(org, "uid"), "ORG not active");
	fault_set(f, -EPERM, "la BAL ORG %s n'est pas active (statut : %s) : action impossible",
		entry_get(org, "uid"), status ? status : "?");
	fault_put(f, "reason", "account_state");
	fault_put(f, "status", status);
	return -EPERM;
}

/* The answer names the account as the caller did: echoing the login of
 * someone else's account found by its e-mail would tell that it exists.
 * The audit trail names the account found (audited; NULL: name). With
 * ACCESS_QUIET the answer names no account at all. */
static int unknown(const struct caller *who, unsigned flags, const char *event, const char *name,
	const char *audited, const char *why, struct fault *f)
{
	refused(who, event, audited ? audited : name, why);
	if (flags & ACCESS_QUIET)
		return fault_set(f, -ENOENT, "aucun compte Medimail de ce nom pour l'utilisateur %u",
			(unsigned)who->uid);
	return fault_set(f, -ENOENT, "%s : compte introuvable", name);
}

static int no_account_of_caller(const struct caller *who, const char *event, struct fault *f)
{
	refused(who, event, NULL, "caller has no account");
	if (who->dn)
		return fault_set(f, -ENOENT, "aucun compte Medimail pour cette session");
	return fault_set(f, -ENOENT, "aucun compte Medimail pour l'utilisateur %u", (unsigned)who->uid);
}

static int check_target(
	const struct caller *who, unsigned flags, const char *event, struct entry **t, struct fault *f)
{
	if ((flags & ACCESS_INDIVIDUAL) && accounts_is_org(*t)) {
		refused(who, event, entry_get(*t, "uid"), "an ORG is used from an individual account");
		entry_free(*t);
		*t = NULL;
		return fault_set(f, -EPERM, "une BAL ORG s'utilise depuis un compte individuel");
	}
	return 0;
}

int access_structure_key(const char *type, const char *id, char *buf, size_t size)
{
	if (!type || !id || validate_struct_id(type, id) < 0)
		return -EINVAL;
	if ((size_t)snprintf(buf, size, "%s:%s", type, id) >= size)
		return -ENOSPC;
	return 0;
}

bool access_structure_admin_of(const struct entry *me, const struct entry *target)
{
	char want[32];

	if (!me || !target || !accounts_active(me) || accounts_is_org(me))
		return false;
	if (access_structure_key(entry_get(target, "mmStructIdType"), entry_get(target, "mmStructId"), want,
		    sizeof(want)) < 0)
		return false;
	return entry_has_value(me, "mmStructAdmin", want);
}

/* The caller's own account if it holds the role; else the refusal (name:
 * the account the request names, for the audit trail; NULL: none). */
static int structure_holder(const struct mm_config *c, struct store *s, const struct caller *who,
	const char *event, const char *name, struct entry **ret_me, struct fault *f)
{
	struct entry *me = NULL;
	int rc = access_own_account(c, s, who, NULL, &me);

	*ret_me = NULL;
	if (rc < 0 && rc != -ENOENT)
		return fault_store(f, rc, "compte");
	if (rc == -ENOENT || accounts_is_org(me) || !entry_attr(me, "mmStructAdmin")) {
		entry_free(me);
		refused(who, event, name, "administrators only");
		return fault_set(f, -EACCES, "réservé aux administrateurs");
	}
	if (!accounts_active(me)) {
		rc = inactive_caller(who, event, me, f);
		entry_free(me);
		return rc;
	}
	*ret_me = me;
	return 0;
}

int access_structure_scope(const struct mm_config *c, struct store *s, const struct caller *who,
	const char *event, char **ret_filter, struct fault *f)
{
	struct entry *me = NULL;
	const struct attr *roles;
	size_t len = 4, o;
	char *out;
	int rc;

	*ret_filter = NULL;
	if (who->admin)
		return 0;
	if ((rc = structure_holder(c, s, who, event, NULL, &me, f)) < 0)
		return rc;
	roles = entry_attr(me, "mmStructAdmin");
	for (size_t i = 0; i < roles->nvals; i++)
		len += strlen(roles->vals[i]) + 48;
	if (!(out = malloc(len))) {
		entry_free(me);
		return fault_set(f, -ENOMEM, "mémoire insuffisante");
	}
	o = (size_t)snprintf(out, len, "(|");
	for (size_t i = 0; i < roles->nvals; i++) {
		const char *v = roles->vals[i], *colon = strchr(v, ':');
		char type[8];

		/* Only what access_structure_key writes: letters, ':' and digits
		 * (validate_struct_id), nothing a filter would read as syntax. */
		if (!colon || colon - v >= (ptrdiff_t)sizeof(type))
			continue;
		snprintf(type, sizeof(type), "%.*s", (int)(colon - v), v);
		if (validate_struct_id(type, colon + 1) < 0)
			continue;
		o += (size_t)snprintf(
			out + o, len - o, "(&(mmStructIdType=%s)(mmStructId=%s))", type, colon + 1);
	}
	/* No usable role: a filter that holds nothing. */
	snprintf(out + o, len - o, "%s)", o == 2 ? "(!(objectClass=*))" : "");
	entry_free(me);
	*ret_filter = out;
	return 0;
}

/* access_resolve for a structure administrator on an ACCESS_STRUCTURE row:
 * its own account first, then the named one, which must be of one of its
 * structures; anything else reads as unknown. */
static int structure_resolve(const struct mm_config *c, struct store *s, const struct caller *who,
	unsigned flags, const char *key, const char *name, const char *const *attrs, const char *event,
	struct entry **ret, struct fault *f)
{
	struct entry *me = NULL, *t = NULL;
	const char **all;
	int rc;

	if (name && !*name)
		name = NULL;
	if (name && validate_text(name, NAME_MAX_BYTES) < 0) {
		refused(who, event, NULL, "malformed account name");
		return fault_field(f, key ? key : "login", "characters", "identifiant invalide");
	}
	if ((rc = structure_holder(c, s, who, event, name, &me, f)) < 0)
		return rc;
	if (!key) {
		entry_free(me);
		return 0;
	}
	if (!name) {
		entry_free(me);
		return fault_field(f, key, "required", "identifiant : champ obligatoire");
	}
	if (!(all = accounts_attrs_with_identity(attrs))) {
		entry_free(me);
		return fault_set(f, -ENOMEM, "mémoire insuffisante");
	}
	rc = accounts_find(s, c, name, all, &t);
	free(all);
	if (rc < 0 && rc != -ENOENT && rc != -ENOTUNIQ) {
		entry_free(me);
		return fault_store(f, rc, name);
	}
	if (rc < 0 || !access_structure_admin_of(me, t)) {
		const char *why = rc < 0 ? "unknown account" : "not an account of the caller's structures";

		rc = unknown(who, flags, event, name, t ? entry_get(t, "uid") : NULL, why, f);
		entry_free(t);
		entry_free(me);
		return rc;
	}
	entry_free(me);
	if ((rc = check_target(who, flags, event, &t, f)) < 0)
		return rc;
	/* Its own event: the request's event is audited by the service, with
	 * its outcome; this line says on which role the caller was let in. */
	caller_audit(who, "structure-admin", NULL, entry_get(t, "uid"), true, event);
	*ret = t;
	return 0;
}

int access_resolve(const struct mm_config *c, struct store *s, const struct caller *who, enum access a,
	unsigned flags, const char *key, const char *name, const char *const *attrs, const char *event,
	struct entry **ret, struct fault *f)
{
	struct entry *me = NULL, *t = NULL;
	const char **all = NULL;
	int rc, own;

	*ret = NULL;
	if (a == ACCESS_PUBLIC)
		return 0;
	if (a == ACCESS_ADMIN && !who->admin && (flags & ACCESS_STRUCTURE))
		return structure_resolve(c, s, who, flags, key, name, attrs, event, ret, f);
	if (a == ACCESS_ADMIN && !who->admin) {
		refused(who, event, name && validate_text(name, NAME_MAX_BYTES) == 0 ? name : NULL,
			"administrators only");
		return fault_set(f, -EACCES, "réservé aux administrateurs");
	}
	if (name && !*name)
		name = NULL;
	if (!key || (a == ACCESS_ADMIN && !name && !(flags & ACCESS_NAME_REQUIRED)))
		return 0;
	if (name && validate_text(name, NAME_MAX_BYTES) < 0) {
		refused(who, event, NULL, "malformed account name");
		return fault_field(f, key, "characters", "identifiant invalide");
	}
	if (!name && !(who->admin && (flags & ACCESS_ADMIN_MAY_OMIT)) &&
		(a == ACCESS_ADMIN || (flags & ACCESS_NAME_REQUIRED) ||
			(who->admin && who->uid == 0 && !who->dn)))
		return fault_field(f, key, "required", "identifiant : champ obligatoire");
	if (!name && who->admin && (flags & ACCESS_ADMIN_MAY_OMIT))
		return 0;
	if (!(all = accounts_attrs_with_identity(attrs)))
		return fault_set(f, -ENOMEM, "mémoire insuffisante");

	if (who->admin) {
		/* An administrator acts on any account, or on its own when it names none. */
		rc = name ? accounts_find(s, c, name, all, &t) : access_own_account(c, s, who, all, &t);
		free(all);
		if (rc == -ENOENT || rc == -ENOTUNIQ)
			return name ? unknown(who, 0, event, name, NULL,
					      rc == -ENOENT ? "unknown account" : "ambiguous name", f)
				    : no_account_of_caller(who, event, f);
		if (rc < 0)
			return fault_store(f, rc, name ? name : "compte");
		if ((rc = check_target(who, flags, event, &t, f)) < 0)
			return rc;
		*ret = t;
		return 0;
	}

	/* Everyone else: the caller's own account first, in every case, so
	 * that an unknown name costs the same work as someone else's. */
	own = access_own_account(c, s, who, name ? NULL : all, &me);
	if (own < 0 && own != -ENOENT) {
		free(all);
		return fault_store(f, own, "compte");
	}
	if (own == 0 && (flags & ACCESS_CALLER_ACTIVE) && !accounts_active(me)) {
		free(all);
		rc = inactive_caller(who, event, me, f);
		entry_free(me);
		return rc;
	}
	if (name) {
		rc = accounts_find(s, c, name, all, &t);
		free(all);
		if (rc < 0 && rc != -ENOENT && rc != -ENOTUNIQ) {
			entry_free(me);
			return fault_store(f, rc, name);
		}
		if (rc < 0 || !access_may_act_for(me, t, a == ACCESS_SELF_OR_ORG)) {
			/* One answer for an unknown account and someone else's; only
			 * the audit trail tells them apart. */
			const char *why = rc < 0 ? "unknown account" : "caller may not act for this account";

			rc = unknown(who, flags, event, name, t ? entry_get(t, "uid") : NULL, why, f);
			entry_free(t);
			entry_free(me);
			return rc;
		}
		if ((flags & ACCESS_CALLER_ACTIVE) && strcasecmp(me->dn, t->dn) && !accounts_active(t)) {
			/* An ORG the service centre suspended is managed by its
			 * administrators only; its users may know its state. */
			rc = inactive_org(who, event, t, f);
			entry_free(t);
			entry_free(me);
			return rc;
		}
	} else {
		free(all);
		if (own == -ENOENT)
			return no_account_of_caller(who, event, f);
		t = me;
		me = NULL;
	}
	entry_free(me);
	if ((rc = check_target(who, flags, event, &t, f)) < 0)
		return rc;
	*ret = t;
	return 0;
}
