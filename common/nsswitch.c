/* The sources nsswitch.conf names for a database: one line read as glibc reads it, or a whole
 * file in the plain form read exactly as glibc does. */
#include <errno.h>
#include <stdbool.h>
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

static bool blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static bool word_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		ch == '_' || ch == '-' || ch == '.';
}

static bool word_is(const char *w, size_t n, const char *what)
{
	return n == strlen(what) && !strncasecmp(w, what, n);
}

/* "[STATUS=action ...]" as glibc's action parser takes it; p at '['. The end, or NULL. */
static const char *action_block(const char *p, const char *end)
{
	bool any = false;

	for (p++; p < end;) {
		const char *w = p;

		if (blank(*p)) {
			p++;
			continue;
		}
		if (*p == ']')
			return any ? p + 1 : NULL;
		if (*p == '!') /* every status but this one, to glibc */
			w = ++p;
		while (p < end && word_char(*p))
			p++;
		if (!(word_is(w, (size_t)(p - w), "SUCCESS") || word_is(w, (size_t)(p - w), "NOTFOUND") ||
			    word_is(w, (size_t)(p - w), "UNAVAIL") ||
			    word_is(w, (size_t)(p - w), "TRYAGAIN")) ||
			p >= end || *p != '=')
			return NULL;
		for (w = ++p; p < end && word_char(*p);)
			p++;
		if (!(word_is(w, (size_t)(p - w), "return") || word_is(w, (size_t)(p - w), "continue") ||
			    word_is(w, (size_t)(p - w), "merge")))
			return NULL;
		if (p < end && !blank(*p) && *p != ']')
			return NULL;
		any = true;
	}
	return NULL;
}

/* The sources of one line's service list, [p, end): NSS_SRC_* bits, -1 if not
 * in the plain form. */
static int service_list(const char *p, const char *end)
{
	int src = 0;

	while (p < end) {
		const char *w = p;
		size_t n;

		if (blank(*p)) {
			p++;
			continue;
		}
		if (*p == '[') {
			if (!src) /* an action before any source */
				return -1;
			if (!(p = action_block(p, end)))
				return -1;
			continue;
		}
		while (p < end && word_char(*p))
			p++;
		if ((n = (size_t)(p - w)) == 0 || (p < end && !blank(*p) && *p != '['))
			return -1;
		if (n == 5 && !strncmp(w, "files", 5))
			src |= NSS_SRC_FILES;
		else if (n == 7 && !strncmp(w, "systemd", 7))
			src |= NSS_SRC_SYSTEMD;
		else if (n == 8 && !strncmp(w, "medimail", 8))
			src |= NSS_SRC_MEDIMAIL;
		else
			src |= NSS_SRC_OTHER;
	}
	return src;
}

int nsswitch_plain_sources(const char *text, size_t len, int *ret_passwd, int *ret_group)
{
	const char *p = text, *end = text + len;
	int pw = -1, gr = -1;

	*ret_passwd = *ret_group = -1;
	/* Printable ASCII, blanks and newlines only, every line ended: what glibc
	 * and this reader cannot take differently (a NUL, \v, \r, a last line with
	 * no newline, which glibc drops, are all refused here). */
	if (len == 0 || text[len - 1] != '\n')
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!(text[i] == '\n' || text[i] == '\t' || (text[i] >= 0x20 && text[i] < 0x7f)))
			return -EINVAL;
	for (; p < end; p++) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *db;
		int src;
		size_t n;

		while (blank(*p))
			p++;
		if (p == eol || *p == '#') { /* blank, or a comment */
			p = eol;
			continue;
		}
		/* a '#' after text: glibc versions differ on it */
		if (memchr(p, '#', (size_t)(eol - p)))
			return -EINVAL;
		for (db = p; p < eol && ((*p >= 'a' && *p <= 'z') || *p == '_');)
			p++;
		n = (size_t)(p - db);
		/* "name:" exactly ("name :", "name files" are read by glibc too, not here) */
		if (n == 0 || p == eol || *p != ':')
			return -EINVAL;
		if ((src = service_list(p + 1, eol)) < 0)
			return -EINVAL;
		if (n == 6 && !strncmp(db, "passwd", 6)) {
			if (pw >= 0) /* glibc takes the last line: not guessed */
				return -EINVAL;
			pw = src;
		} else if (n == 5 && !strncmp(db, "group", 5)) {
			if (gr >= 0)
				return -EINVAL;
			gr = src;
		}
		p = eol;
	}
	/* no line: glibc's built-in default, not assumed */
	if (pw < 0 || gr < 0)
		return -EINVAL;
	*ret_passwd = pw;
	*ret_group = gr;
	return 0;
}
