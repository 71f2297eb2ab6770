/* Who may act on which account: the one place this rule is written.
 *
 * Every door (the unix socket's dispatch table, the HTTP endpoints) names a
 * caller, an access level and, when the request is about an account, the
 * name it was given; access_resolve() finds that account, decides, audits a
 * refusal, and hands the service an account it may act on.
 *
 * The rule, for callers that are not administrators: a caller acts for its
 * own individual account (found by its uid, or by the account of its HTTP
 * session) and, where the level says so, for a BAL ORG that this account is
 * an active connection account of. An account that does not exist, one that
 * is ambiguous and one that is someone else's get the same answer (-ENOENT,
 * "compte introuvable") after the same directory work. Administrators (uid 0
 * or a member of admin_group) may name any account; root must name one.
 *
 * Structure administrators ("Vos informations Gestionnaire", guide 003 and
 * the fiche réflexe: "Contactez le ou les administrateurs Medimail de votre
 * structure"): an active individual account the service centre gave the
 * role for a FINESS / SIRET / SIREN (mmStructAdmin "TYPE:ID") may, on the
 * rows flagged ACCESS_STRUCTURE, act on the accounts registered with that
 * structure (mmStructIdType, mmStructId) and on no other: every other
 * account gets the answer of an unknown one, after the same work. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "fault.h"
#include "store.h"

enum access {
	ACCESS_PUBLIC, /* anyone; the request is about no account of the caller's */
	ACCESS_SELF, /* the caller's own individual account; an administrator names any */
	ACCESS_SELF_OR_ORG, /* the same, or a BAL ORG the caller is an active connection account of */
	ACCESS_ADMIN, /* administrators only */
};

/* Flags of a request's access row. */
enum {
	/* A caller who is no administrator must have an active account of its
	 * own (a suspended or closed account acts for nobody): -EPERM, facts
	 * reason "account_state" and status. The same for a BAL ORG the caller
	 * acts for as its connection account: a suspended ORG is managed by
	 * administrators only. */
	ACCESS_CALLER_ACTIVE = 1 << 0,
	/* The account acted on may not be a BAL ORG (-EPERM): an ORG is used
	 * from an individual account. */
	ACCESS_INDIVIDUAL = 1 << 1,
	/* The name is required from every caller, not only from root. */
	ACCESS_NAME_REQUIRED = 1 << 2,
	/* An administrator who names no account acts for no account (the
	 * service centre searching the directory): *ret NULL, 0. */
	ACCESS_ADMIN_MAY_OMIT = 1 << 3,
	/* The refusal of an unknown or someone else's account names no account
	 * ("aucun compte Medimail de ce nom pour l'utilisateur N"): the same
	 * bytes whatever name was given, as PAM's requests compare them. */
	ACCESS_QUIET = 1 << 4,
	/* The request must still be served with the directory down (offline
	 * login: login/account_check.c, login/login_session.c): when the look-up
	 * fails with -EHOSTDOWN, the dispatch table calls the handler with
	 * r->target NULL, and the service decides from its offline verifier. */
	ACCESS_OFFLINE_OK = 1 << 5,
	/* On an ACCESS_ADMIN row: a structure administrator acts too, on the
	 * accounts of its structures only (the rule above). A caller without
	 * the role gets the administrators' refusal (-EACCES); a suspended
	 * holder -EPERM (reason account_state). Rows without a target key
	 * (LIST) are let through: the service narrows what it reads with
	 * access_structure_scope(). Letting one in is audited (event
	 * "structure-admin", the request's event as the reason). */
	ACCESS_STRUCTURE = 1 << 8,
	/* The web pages may call the request over the bridge (ipc/json_door.c,
	 * POST /v1/call/<name>): a row without it is refused there. Never on
	 * the login rows (HTTP has its own login routes) nor, for now, on the
	 * administrators' rows. */
	ACCESS_WEB = 1 << 6,
};

struct caller {
	uid_t uid; /* SO_PEERCRED; over HTTP the uid of no one ((uid_t)-1) */
	gid_t gid;
	pid_t pid;
	bool admin; /* uid 0 or a member of admin_group; never over HTTP */
	const char *dn; /* over HTTP: the account the session acts as; NULL: found by uid */
	char name[64]; /* for the audit trail: "uid=1000", "session" */
	const char *service; /* PAM service or API client, audit only; may be NULL */
	const char *rhost; /* remote host, audit only; may be NULL */
};

/* Fills a caller for a unix-socket peer. */
void caller_from_peer(struct caller *who, uid_t uid, gid_t gid, pid_t pid, bool admin);
/* One audit line of a decision taken for who: the caller, its service and
 * remote host, the method (NULL: none), the account concerned. */
void caller_audit(const struct caller *who, const char *event, const char *method, const char *account,
	bool ok, const char *reason);

/* Decides whether who may act on the account called name (login or login
 * e-mail; NULL when the request gave none) under level a and flags, for the
 * request event (audit). On success *ret is the account read with attrs
 * (plus accounts_identity_attrs; attrs may be NULL), or NULL for
 * ACCESS_PUBLIC and for an ACCESS_ADMIN request that names no account
 * (key NULL). key is the request's field that names the account ("login",
 * "user"), used in refusals. On refusal f is set, the refusal audited and
 * the status returned. */
int access_resolve(const struct mm_config *c, struct store *s, const struct caller *who, enum access a,
	unsigned flags, const char *key, const char *name, const char *const *attrs, const char *event,
	struct entry **ret, struct fault *f) MM_WUR;

/* The caller's own individual account (by dn over HTTP, else by uid), read
 * with attrs (plus the identity attributes). -ENOENT when it has none. */
int access_own_account(const struct mm_config *c, struct store *s, const struct caller *who,
	const char *const *attrs, struct entry **ret) MM_WUR;

/* Is who this account, or an active connection account of this ORG (me:
 * the caller's own account, may be NULL)? */
bool access_may_act_for(const struct entry *me, const struct entry *target, bool org_too);

/* The value of mmStructAdmin for a structure: "TYPE:ID" (FINESS, SIRET or
 * SIREN and its number, as validate_struct_id checks them) into buf; 0, or
 * -EINVAL when type or id is not a structure identifier, -ENOSPC. */
int access_structure_key(const char *type, const char *id, char *buf, size_t size) MM_WUR;

/* Is me a structure administrator of target's structure (me active and
 * holding mmStructAdmin for target's mmStructIdType:mmStructId)? */
bool access_structure_admin_of(const struct entry *me, const struct entry *target);

/* What an ACCESS_STRUCTURE request without a target (LIST) may read: for an
 * administrator *ret_filter is NULL (every account); for an active
 * structure administrator an LDAP filter that holds the accounts of its
 * structures ("(|(&(mmStructIdType=T)(mmStructId=I))...)", malloc'ed);
 * anyone else -EACCES (audited as event). */
int access_structure_scope(const struct mm_config *c, struct store *s, const struct caller *who,
	const char *event, char **ret_filter, struct fault *f) MM_WUR;
