/* What passwd.c and group.c share (not for other folders). */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "fault.h"
#include "store.h"

/* An active individual account / an active BAL ORG. */
bool nss_is_user(const struct entry *e);
bool nss_is_org(const struct entry *e);
/* A name as a key: 1..MC_KEY_MAX printable bytes, no ',' nor ':'. */
bool nss_name_ok(const char *s);
/* May the name service serve this user / group (names.h)? */
bool nss_user_servable(const struct mm_config *c, const char *login, unsigned long uid, unsigned flags);
bool nss_group_servable(const struct mm_config *c, const char *name, unsigned long gid, unsigned flags);
/* "ou=<ou>,<base>", malloc'ed. */
char *nss_base(const struct mm_config *c, const char *ou);
/* A directory error as the name service says it; returns the status. */
int nss_store_fault(struct fault *f, int rc);
/* The user entry for a login or login e-mail; -ENOENT unless active, in
 * range and servable. */
int nss_user_find(struct store *s, const struct mm_config *c, const char *name, struct entry **ret,
	unsigned long *ret_uid) MM_WUR;
