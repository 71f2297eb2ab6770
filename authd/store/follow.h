/* The directory followed by LDAP Content Synchronization (RFC 4533 refreshAndPersist, which
 * slapd's syncprov overlay serves): a change made through another daemon reaches this one's
 * memory at once instead of when a cache slot expires. The polling timers stay the fallback
 * while the sync search is down or the server does not offer it. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "store.h"

/* dn: an entry under the base was added, changed or deleted (NULL: the follow has just
 * (re)started or finished its refresh, and what was missed meanwhile is unknown: forget
 * everything learnt from this base). e: the entry as the notification carries it, with the
 * base's attrs, when it tells the entry's state after an add or a change (RFC 4533
 * syncStateValue add or modify) and carries at least one of them; NULL otherwise (a delete, a
 * names-only base, none of the attrs readable): whoever needs the entry then reads it. Called on
 * the follower's thread; e is freed when it returns. */
typedef void (*follow_fn)(const char *dn, const struct entry *e);

struct follow_base {
	const char *rdn; /* "ou=sessions": under ldap_base */
	/* true: every entry of the base is followed (deletes included); false: only entries modified
	 * from the moment the search starts, so that a million accounts are not sent at connect
	 * (a delete of an entry not modified since is then not seen: the timers catch it). */
	bool whole;
	/* NULL: names only; else asked with every notification, so that what a change made is
	 * known without reading the entry again */
	const char *const *attrs;
	follow_fn changed;
};

/* Starts the follower on a connection of its own. s, c and reload as for the other threads
 * (the configuration and directory may be replaced under reload held exclusively). Off when
 * the configuration says ldap_follow = no. */
int follow_start(struct store *const *s, struct mm_config *const *c, pthread_rwlock_t *reload,
	const struct follow_base *bases, size_t n) MM_WUR;
void follow_stop(void);
/* How many bases are in their persist phase now (tests, metrics). */
size_t follow_live(void);
/* Every base is in its persist phase: each change reaches this daemon within moments. */
bool follow_all_live(void);
