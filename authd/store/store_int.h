/* Shared by the store's files only (store.c, modify.c). */
#pragma once

#include <ldap.h>

#include "store.h"

/* An LDAP result code as the store's negative errno. */
int store_map_ldap(int rc);
/* Runs op on a pooled connection, reconnecting once when slapd went away. */
typedef int (*store_op)(LDAP *ld, void *arg);
int store_with_conn(struct store *s, store_op op, void *arg);
/* The entry of a search-entry message msg (one allocation, entry_free); NULL: out of memory or
 * a malformed message. */
struct entry *store_entry_from(LDAP *ld, LDAPMessage *msg);
/* A connection of the caller's own (not from the pool), bound like the pool's; the caller
 * unbinds it. */
int store_open_conn(struct store *s, LDAP **ret);
