/* Account lookups and the directory-error reply shared by account.c, auth.c and session.c. */
#pragma once

#include <sys/types.h>

#include "daemon.h"
#include "store.h"

/* The account whose uid or mmLoginMail is ident (any status), with attrs. */
int account_find_attrs(struct req *r, const char *ident, const char *const *attrs, struct entry **ret)
	__attribute__((warn_unused_result));
/* The individual account whose uidNumber is uid (public attributes). */
int account_by_uid(struct req *r, uid_t uid, struct entry **ret) __attribute__((warn_unused_result));
/* Maps a directory error (-EHOSTDOWN, -ENOENT, ...) to a reply; returns the status. */
int store_fail(struct req *r, int rc, const char *what);
