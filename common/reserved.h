/* Names the name service never serves: the built-in reserved list shared by the daemon and the NSS module. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Is name (compared case-blind, as sudo, polkit and sshd may) one of the
 * host's well-known system users or groups, or does it match a reserved
 * pattern ("systemd-*", "_*")? A BAL ORG or an account with such a name
 * would inherit what the host grants that name. */
bool mm_name_reserved_builtin(const char *name);

/* Does name match pattern, case-blind? A pattern ending in '*' matches every
 * name that starts with what precedes it; otherwise the whole name must match. */
bool mm_name_match(const char *pattern, const char *name);
