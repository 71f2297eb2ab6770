/* The sources one nsswitch.conf line names for a database, read as glibc reads them. */
#pragma once

#include <stddef.h>

#define NSSWITCH_SOURCE_MAX 32 /* bytes of a source name, with its NUL */

/* Reads one line of nsswitch.conf (without or with its newline). -ENOENT
 * when the line is not the one of db ("passwd"): a comment, another
 * database, a syntax error. Else the count of sources stored in ret (at
 * most max), in order: "files", "sss", ... with the [STATUS=action] items
 * skipped, whether spaced ("sss [NOTFOUND=return]") or not
 * ("sss[NOTFOUND=return]"), and "passwd :" taken like "passwd:" and the database
 * name compared case-blind. A name
 * glibc would try to dlopen but that is not a plain [a-z0-9_-] word of
 * less than NSSWITCH_SOURCE_MAX bytes is left out. */
int nsswitch_line_sources(const char *line, const char *db, char (*ret)[NSSWITCH_SOURCE_MAX], size_t max)
	__attribute__((warn_unused_result));

/* The sources of a whole nsswitch.conf's passwd and group lines, as
 * NSS_SRC_* bits: 0, or -EINVAL (both -1) when the text is not in the plain
 * form that cannot be read otherwise than glibc reads it -- printable ASCII,
 * blanks and newlines only, every line ended by its newline (glibc drops an
 * unended last one), "db:" with no blank before the colon, one line per
 * database (glibc takes the last), "#" only to start a line, every
 * [STATUS=action] block well-formed (glibc fails the whole file on a bad
 * one) -- or lacks either line (glibc's built-in default). For the
 * name-service rule (names.c): refused means asking the host each time. */
#define NSS_SRC_FILES 1
#define NSS_SRC_SYSTEMD 2
#define NSS_SRC_MEDIMAIL 4
#define NSS_SRC_OTHER 8
int nsswitch_plain_sources(const char *text, size_t len, int *ret_passwd, int *ret_group)
	__attribute__((warn_unused_result));
