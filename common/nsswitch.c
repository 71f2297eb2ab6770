/* The sources one nsswitch.conf line names for a database, read as glibc reads them. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "nsswitch.h"

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int source_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int nsswitch_line_sources(const char *line, const char *db, char (*ret)[NSSWITCH_SOURCE_MAX], size_t max)
{
	const char *p = line, *end, *name;
	size_t dblen = strlen(db), n = 0;

	if (!line)
		return -ENOENT;
	/* '#' starts a comment anywhere on the line, as in glibc */
	end = line + strcspn(line, "#\n");
	while (p < end && is_space(*p))
		p++;
	name = p;
	while (p < end && !is_space(*p) && *p != ':')
		p++;
	if (p == name || p == end || (size_t)(p - name) != dblen || strncasecmp(name, db, dblen))
		return -ENOENT;
	while (p < end && is_space(*p))
		p++;
	if (p == end || *p != ':')
		return -ENOENT;
	p++;
	for (;;) {
		size_t len;

		while (p < end && is_space(*p))
			p++;
		if (p == end)
			break;
		if (*p == '[') {
			/* an action list: up to its ']', or the end of the services (glibc stops there) */
			const char *close = memchr(p, ']', (size_t)(end - p));

			if (!close)
				break;
			p = close + 1;
			continue;
		}
		name = p;
		while (p < end && !is_space(*p) && *p != '[')
			p++;
		len = (size_t)(p - name);
		if (len >= NSSWITCH_SOURCE_MAX || n == max)
			continue;
		for (size_t i = 0; i < len; i++)
			if (!source_char(name[i]))
				len = 0;
		if (!len)
			continue;
		memcpy(ret[n], name, len);
		ret[n][len] = '\0';
		n++;
	}
	return (int)n;
}
