/* The audit file's lines, parsed strictly (medimailctl audit, its fuzz harness). */
#pragma once

#include <time.h>

#define AUDIT_NKEYS 8
/* The keys in the order the daemon writes them (core/log.c audit()). */
extern const char *const audit_keys[AUDIT_NKEYS];

struct audit_record {
	char stamp[32];
	time_t at;
	char *v[AUDIT_NKEYS]; /* into the line */
};

/* "YYYY-MM-DDTHH:MM:SS[.mmm]Z", "YYYY-MM-DD" (midnight UTC) or "@SECONDS"; -1 if not. */
time_t audit_time_parse(const char *s);
/* One line without its newline, cut in place; 0 or -EINVAL. */
int audit_record_parse(char *line, struct audit_record *ret) __attribute__((warn_unused_result));
