/* The audit file's lines (core/log.c audit_file_put()), parsed strictly; no I/O. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit_parse.h"

/* The keys of an audit line, in the order the daemon writes them (core/log.c audit()). */
const char *const audit_keys[AUDIT_NKEYS] = {
	"audit", "caller", "method", "service", "remote", "account", "result", "reason"};

/* "YYYY-MM-DDTHH:MM:SS[.mmm]Z", "YYYY-MM-DD" (midnight UTC) or "@SECONDS"; -1 if not. */
time_t audit_time_parse(const char *s)
{
	struct tm tm = {0};
	const char *end;

	if (s[0] == '@') {
		char *e;
		long long v = strtoll(s + 1, &e, 10);

		return e != s + 1 && !*e && v >= 0 ? (time_t)v : -1;
	}
	end = strptime(s, "%Y-%m-%d", &tm);
	if (!end)
		return -1;
	if (*end == 'T') {
		end = strptime(end + 1, "%H:%M:%S", &tm);
		if (!end)
			return -1;
		if (*end == '.') {
			int n = 0;

			for (end++; *end >= '0' && *end <= '9' && n < 9; end++)
				n++;
			if (!n)
				return -1;
		}
		if (*end == 'Z')
			end++;
	}
	return *end ? -1 : timegm(&tm);
}

/* One line, in place: the instant, then exactly the keys above, each
 * key="value" with no quote, backslash or control character in the value
 * (the daemon replaces them), separated by one space, nothing after. */
int audit_record_parse(char *line, struct audit_record *ret)
{
	char *p = strchr(line, ' ');
	size_t len;

	memset(ret, 0, sizeof(*ret));
	if (!p || (len = (size_t)(p - line)) >= sizeof(ret->stamp))
		return -EINVAL;
	memcpy(ret->stamp, line, len);
	ret->stamp[len] = '\0';
	if (len != 24 || (ret->at = audit_time_parse(ret->stamp)) < 0)
		return -EINVAL;
	for (size_t k = 0; k < AUDIT_NKEYS; k++) {
		size_t kl = strlen(audit_keys[k]);
		char *q;

		if (*p != ' ' || strncmp(p + 1, audit_keys[k], kl) || p[1 + kl] != '=' || p[2 + kl] != '"')
			return -EINVAL;
		p += 3 + kl;
		ret->v[k] = p;
		for (q = p; *q && *q != '"'; q++)
			if ((unsigned char)*q < 0x20 || *q == 0x7f || *q == '\\')
				return -EINVAL;
		if (*q != '"')
			return -EINVAL;
		*q = '\0';
		p = q + 1;
	}
	return *p ? -EINVAL : 0;
}
