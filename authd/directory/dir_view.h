/* What the directory's service files share (not for other folders). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "access.h"
#include "fault.h"
#include "store.h"

/* The view terms; acl.conf grants the same (the ACLs are the enforcement for
 * every other LDAP client; the daemon binds as cn=authd and applies them
 * itself). */
#define VIEW_MEDIMAIL "(objectClass=mmAccount)(mmStatus=active)(!(mmVisibleMedimail=FALSE))"
/* An address the service centre has not published yet (mmMssPending: a
 * validated ORG until MM_REQ_PUBLISH, guides 001/002 "dans les 72h") is in
 * neither view's MSSanté terms. */
#define VIEW_MSSANTE                                                                                         \
	"(objectClass=mmAccount)(mmStatus=active)(mmVisibleMssante=TRUE)(mmMssAddress=*)"                    \
	"(!(mmMssPending=TRUE))(|(mmAccountType=PER)(mmAccountType=INT)(mmAccountType=ORG))"

/* A growing string; err remembers an allocation failure. */
struct sbuf {
	char *s;
	size_t len, cap;
	int err;
};

void sb_add(struct sbuf *b, const char *s, size_t n);
void sb_str(struct sbuf *b, const char *s);

/* A directory error as the directory requests say it ("<what> : introuvable
 * dans l'annuaire"...); returns the status. */
int dir_store_fault(struct fault *f, int rc, const char *what);
/* The account a request acts for must be active (-EPERM, fact reason =
 * its status). */
int dir_account_usable(const struct entry *acct, struct fault *f);
/* Sorts by folded display name (cn). */
void dir_entries_sort(struct entry **e, size_t n);
