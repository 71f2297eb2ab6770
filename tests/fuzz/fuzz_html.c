/* libFuzzer harness: the rich-text allow-list (authd/core/html.c) and the flat JSON codec (authd/core/json.c). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "html.h"
#include "json.h"
#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static bool contains_ci(const char *s, const char *needle)
{
	size_t n = strlen(needle);

	for (; *s; s++)
		if (!strncasecmp(s, needle, n))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct html_error err;
	struct json_flat j;
	char *s = malloc(size + 1), *enc;
	int rc;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	rc = html_check((const char *)data, size, &err);
	if (rc == 0) {
		/* Whatever was accepted holds no NUL, no comment, and every '<' opens or
		 * closes an allowed element ('<' never appears inside a value). */
		static const char *const allowed[] = {"b", "strong", "i", "em", "u", "span", "font", "p",
			"div", "br", "ul", "ol", "li", "img", NULL};
		check(memchr(data, '\0', size) == NULL);
		check(!contains_ci(s, "<script") && !contains_ci(s, "<!--") && !contains_ci(s, "<iframe"));
		for (const char *p = strchr(s, '<'); p; p = strchr(p + 1, '<')) {
			const char *n = p + 1 + (p[1] == '/');
			size_t len =
				strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");
			bool known = false;
			for (size_t k = 0; allowed[k]; k++)
				known |= len == strlen(allowed[k]) && !strncasecmp(n, allowed[k], len);
			check(known);
		}
	} else {
		check(err.rule != NULL && err.offset <= size && html_rule_message(err.rule) != NULL);
	}

	/* The JSON parser never crashes; encoding then parsing gives back the text. */
	if (json_flat_parse(s, &j) == 0)
		json_flat_free(&j);
	if (memchr(data, '\0', size) == NULL && validate_utf8(s, size) == 0) {
		const char *kv[] = {"k", s};
		enc = json_flat_encode(kv, 1);
		if (enc) {
			check(json_flat_parse(enc, &j) == 0);
			check(j.n == 1 && !strcmp(json_flat_get(&j, "k"), s));
			json_flat_free(&j);
			free(enc);
		}
	}
	free(s);
	return 0;
}
