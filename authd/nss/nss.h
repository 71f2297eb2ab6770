/* The name service (getpwnam .. grent): the daemon's answers for the NSS
 * module, straight from the directory, enumeration from the snapshot
 * (mcache.h). Public data: no caller is authorised or refused here, but
 * no name or number the host itself knows is ever answered (names.h).
 *
 * Typed services: (store, config, caller, typed arguments, typed result,
 * fault); 0 or a negative errno with f set. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "access.h"
#include "config.h"
#include "fault.h"
#include "store.h"

#define NSS_PWENT_PAGE 32 /* users in one pwent answer */

struct nss_passwd {
	char *name; /* the login */
	uint32_t uid, gid;
	char *gecos; /* "Prénom NOM" */
	char *dir;
	const char *shell; /* the configuration's */
};

struct nss_group {
	char *name; /* org_group_prefix + the ORG's login */
	uint32_t gid;
	char **members; /* logins of its active connection accounts */
	size_t nmembers;
};

/* A page of an enumeration: items [0, n); more: it goes on at next. */
struct nss_passwd_page {
	struct nss_passwd *items;
	size_t n, next;
	bool more;
};

/* Its items borrow the snapshot's strings (held until the page is cleared). */
struct nss_group_page {
	struct nss_group *items;
	size_t n, next;
	bool more;
	void *snapshot;
};

struct nss_groups_of {
	char *name; /* the user's login */
	uint32_t *gids;
	size_t n;
};

/* A uid, gid or offset as the requests give it: decimal, min..max, not 0. */
bool nss_id_parse(const char *s, unsigned long min, unsigned long max, unsigned long *ret);

/* A user by login (exact) or login e-mail (case-blind), or by uid. */
int nss_getpwnam(struct store *s, const struct mm_config *c, const struct caller *who, const char *name,
	struct nss_passwd *ret, struct fault *f) MM_WUR;
int nss_getpwuid(struct store *s, const struct mm_config *c, const struct caller *who, uint32_t uid,
	struct nss_passwd *ret, struct fault *f) MM_WUR;
void nss_passwd_clear(struct nss_passwd *p);

/* The group of an ORG by group name or gid; -E2BIG when too large for one
 * socket answer (the cache files serve it). */
int nss_getgrnam(struct store *s, const struct mm_config *c, const struct caller *who, const char *name,
	struct nss_group *ret, struct fault *f) MM_WUR;
int nss_getgrgid(struct store *s, const struct mm_config *c, const struct caller *who, uint32_t gid,
	struct nss_group *ret, struct fault *f) MM_WUR;
void nss_group_clear(struct nss_group *g);

/* The ORG groups a user is a member of. */
int nss_initgroups(struct store *s, const struct mm_config *c, const struct caller *who, const char *name,
	struct nss_groups_of *ret, struct fault *f) MM_WUR;
void nss_groups_of_clear(struct nss_groups_of *g);

/* Enumeration from the snapshot, from offset on: at most NSS_PWENT_PAGE
 * users; groups as many as fit in one answer. -EPERM (fact reason
 * enumeration-disabled) unless enumerate = yes; -EAGAIN before the first
 * snapshot. */
int nss_pwent(const struct mm_config *c, const struct caller *who, size_t offset, struct nss_passwd_page *ret,
	struct fault *f) MM_WUR;
void nss_passwd_page_clear(struct nss_passwd_page *p);
int nss_grent(const struct mm_config *c, const struct caller *who, size_t offset, struct nss_group_page *ret,
	struct fault *f) MM_WUR;
void nss_group_page_clear(struct nss_group_page *p);
