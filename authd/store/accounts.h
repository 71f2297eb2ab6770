/* Finding accounts in the directory: the only place that spells the filters
 * "an account by login or login e-mail" and "the individual account of a
 * uid". Every door and service goes through these. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "store.h"

/* What every look-up reads when the caller names no attributes: enough to
 * decide who may act on the account (access.h) and to name it. */
extern const char *const accounts_identity_attrs[];

/* The account whose login (uid) or login e-mail (mmLoginMail) is ident, any
 * type and status; attrs NULL: accounts_identity_attrs. -ENOENT none,
 * -ENOTUNIQ several, -EHOSTDOWN, -ENOMEM. */
int accounts_find(struct store *s, const struct mm_config *c, const char *ident, const char *const *attrs,
	struct entry **ret) MM_WUR;
/* Is mail an address of an account other than self_dn (NULL: any), its
 * login e-mail or its MSSanté address? A login e-mail names one account
 * (accounts_find) and is written to its mail attribute beside the MSSanté
 * address: none may be another's, whichever door gives it (registration,
 * login e-mail change). */
int accounts_mail_taken(
	struct store *s, const struct mm_config *c, const char *mail, const char *self_dn, bool *ret) MM_WUR;
/* The individual (not ORG) account whose uidNumber is uid. */
int accounts_by_uid(struct store *s, const struct mm_config *c, uid_t uid, const char *const *attrs,
	struct entry **ret) MM_WUR;
/* The account at dn (an mmAccount entry), else -ENOENT. */
int accounts_by_dn(struct store *s, const struct mm_config *c, const char *dn, const char *const *attrs,
	struct entry **ret) MM_WUR;
/* Writes "(&(objectClass=mmAccount)(uidNumber=N)(!(mmAccountType=ORG)))" to buf. */
void accounts_uid_filter(uid_t uid, char *buf, size_t size);
/* The login of an account DN "uid=LOGIN,ou=..." into out (n bytes, cut to
 * fit); "" for NULL or a DN that names no uid. */
void accounts_dn_login(const char *dn, char *out, size_t n);
/* Does the account's uidNumber equal uid? */
bool accounts_owned_by(const struct entry *e, uid_t uid);
/* Is the account active (mmStatus active)? */
bool accounts_active(const struct entry *e);
/* Is it a BAL ORG? */
bool accounts_is_org(const struct entry *e);
/* "pending", "suspended", "closed" or NULL for an active account. */
const char *accounts_inactive_reason(const struct entry *e);
/* attrs joined with accounts_identity_attrs, without repeats (malloc'ed
 * vector of borrowed strings; NULL on ENOMEM). */
const char **accounts_attrs_with_identity(const char *const *attrs);
