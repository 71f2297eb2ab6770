/* transitional: removed once every folder uses the typed look-ups.
 *
 * The account look-ups and reply helpers of the old account.c, taking a
 * struct req, for the handlers of other folders that still call them. Their
 * typed replacements: accounts_find / accounts_by_uid (store/accounts.h),
 * access_resolve (store/access.h), fault_store (core/fault.h), req_errno
 * (ipc/request.h). */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "daemon.h"

/* The attributes account_find and account_by_uid read. */
extern const char *const account_attrs[];

/* An account by login or login e-mail (any status); -ENOENT when none. */
int account_find(struct req *r, const char *ident, struct entry **ret);
/* The same, reading attrs instead of account_attrs (auth.c needs the secret ones). */
int account_find_attrs(struct req *r, const char *ident, const char *const *attrs, struct entry **ret);
/* The individual account whose uidNumber is uid. */
int account_by_uid(struct req *r, uid_t uid, struct entry **ret);
/* Is the caller this account, or an active connection account of this ORG? */
bool caller_owns(struct req *r, const struct entry *e);
/* The refusal in the reply (-EPERM) when the caller is no administrator and its
 * own individual account is not active (a suspended or closed account acts for
 * nobody); else 0, also for a caller without an account. */
int caller_active(struct req *r, const char *event) MM_WUR;
/* For a user's request naming an account (rc and e as account_find left
 * them): true when the user gets the answer of an unknown account -- the
 * account is unknown, ambiguous or someone else's --, after the same
 * directory work in each case. False for administrators and directory errors. */
bool account_hidden(struct req *r, int rc, const struct entry *e);
/* Maps a directory error to a reply (message, status). */
int store_fail(struct req *r, int rc, const char *what);
/* One audit line for the request's caller. */
void audit_req(const struct req *r, const char *event, const char *account, bool ok, const char *reason);
