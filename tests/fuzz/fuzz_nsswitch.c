/* libFuzzer harness: arbitrary bytes as nsswitch.conf, read line by line as pam_medimail reads it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nsswitch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *line, *next;
	char src[16][NSSWITCH_SOURCE_MAX];

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (line = text; line; line = next) {
		int n;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		n = nsswitch_line_sources(line, "passwd", src, 16);
		if (n > 16)
			__builtin_trap();
		for (int i = 0; i < n; i++) {
			size_t len = strnlen(src[i], NSSWITCH_SOURCE_MAX);

			/* every name is a plain word that fits */
			if (len == 0 || len >= NSSWITCH_SOURCE_MAX ||
				strspn(src[i], "abcdefghijklmnopqrstuvwxyz0123456789_-") != len)
				__builtin_trap();
		}
	}
	free(text);
	return 0;
}
