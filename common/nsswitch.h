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
