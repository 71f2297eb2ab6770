/* Which user and group names and numbers the name service may serve: never one the host already knows. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Also ask the host's NSS sources for the exact name or number (getpwnam_r,
 * getgrnam_r, ...), which sees sources that do not enumerate (sss, ldap);
 * without it only the enumerated view and the reserved lists are consulted.
 * Answers are remembered for 30 seconds. Nothing is asked of a database
 * (passwd, group) whose every source the view holds whole: nsswitch.conf is
 * in plain form (nsswitch_plain_sources) and its line names only files (read
 * here whole, as nss_files parses them, and glibc finds the first entry),
 * medimail (which answers nothing to the daemon) and systemd with no userdb
 * service or record on the host (then only its built-in root and nobody,
 * always in the view). Anything else (sss, ldap, compat, a file or a reload
 * that failed) keeps the exact lookups. */
#define NAMES_ASK_HOST 1u
/* With NAMES_ASK_HOST: ask only the host's users (a user name) or only its
 * groups (a group name); neither: both. The enumerated view always has both. */
#define NAMES_USER 2u
#define NAMES_GROUP 4u

/* What the host's other NSS sources (files, systemd, ...) enumerate: names
 * (folded to lower case) of its users and groups, uids and gids. Read with
 * MEDIMAIL_NSS_BYPASS set, so that our own module is not consulted. */
struct host_view;

int host_view_load(struct host_view **ret) __attribute__((warn_unused_result));
void host_view_free(struct host_view *h);
/* The shared view, reloaded when older than max_age seconds (0: always);
 * NULL if the host could not be read. Release with host_view_put(). */
struct host_view *host_view_get(unsigned max_age);
void host_view_put(struct host_view *h);

/* Does the host know this name as a user or a group (case-blind in the view)? */
bool host_knows_name(const struct host_view *h, const char *name, unsigned flags);
bool host_knows_uid(const struct host_view *h, uint32_t uid, unsigned flags);
bool host_knows_gid(const struct host_view *h, uint32_t gid, unsigned flags);

/* The one rule for every name the name service serves, user or group, from
 * every path (registration, validation, socket answers, cache files):
 * 0 when it may be served, else -EPERM with *ret_rule "reserved_name" (built-in
 * list or reserved_names) or "host_name" (a name the host already knows). h may
 * be NULL (reserved lists and, with NAMES_ASK_HOST, the exact lookups only). */
int names_check(const struct mm_config *c, const struct host_view *h, const char *name, unsigned flags,
	const char **ret_rule) __attribute__((warn_unused_result));
/* The same for numbers: "uid_range" / "gid_range" (outside uid_min..uid_max /
 * gid_min..gid_max, or 0) or "host_uid" / "host_gid" (the host has a user with
 * this uid / a group with this gid). */
int names_check_uid(const struct mm_config *c, const struct host_view *h, uint32_t uid, unsigned flags,
	const char **ret_rule) __attribute__((warn_unused_result));
int names_check_gid(const struct mm_config *c, const struct host_view *h, uint32_t gid, unsigned flags,
	const char **ret_rule) __attribute__((warn_unused_result));
/* French text of a rule, for the messages that name the field. */
const char *names_rule_message(const char *rule);

/* The group name of an ORG: org_group_prefix + login; -ENAMETOOLONG beyond outsz. */
int names_group_name(const struct mm_config *c, const char *login, char *out, size_t outsz)
	__attribute__((warn_unused_result));
/* The ORG login a group name stands for (the name without the prefix), NULL
 * when the name does not carry the prefix (or is only the prefix). */
const char *names_group_login(const struct mm_config *c, const char *name);

/* Start-up check: uid_min..uid_max and gid_min..gid_max must not overlap the
 * host's ranges of c->login_defs (SYS_UID_MIN..SYS_UID_MAX, UID_MIN..UID_MAX,
 * the same for gids) nor contain a uid or gid the host already uses, nor meet
 * a local user's subordinate ids (c->subuid_file, c->subgid_file) or, where
 * such a file exists, the SUB_UID_MIN..SUB_UID_MAX range useradd takes them from.
 * -EINVAL with a message in err on overlap. */
int names_check_ranges(const struct mm_config *c, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Same, with the host view given (tests). */
int names_check_ranges_with(const struct mm_config *c, const struct host_view *h, char *err, size_t errlen)
	__attribute__((warn_unused_result));
