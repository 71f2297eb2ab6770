/* libFuzzer harness: arbitrary bytes as nsswitch.conf, read line by line as pam_medimail reads it,
 * and whole as the name-service rule reads it (nsswitch_plain_sources): whatever the strict reader
 * takes, the glibc-like line reader must find the same sources on the same single passwd line. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nsswitch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int bits_of(char (*src)[NSSWITCH_SOURCE_MAX], int n)
{
	int bits = 0;

	for (int i = 0; i < n; i++)
		bits |= !strcmp(src[i], "files")      ? NSS_SRC_FILES
			: !strcmp(src[i], "systemd")  ? NSS_SRC_SYSTEMD
			: !strcmp(src[i], "medimail") ? NSS_SRC_MEDIMAIL
						      : NSS_SRC_OTHER;
	return bits;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *line, *next;
	char src[16][NSSWITCH_SOURCE_MAX];
	int plain_pw, plain_gr, lines_pw = 0, seen_pw = -1;
	bool plain;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	plain = nsswitch_plain_sources(text, size, &plain_pw, &plain_gr) == 0;
	if (plain != (plain_pw >= 0) || plain != (plain_gr >= 0))
		__builtin_trap();
	for (line = text; line; line = next) {
		int n;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		n = nsswitch_line_sources(line, "passwd", src, 16);
		if (n > 16)
			__builtin_trap();
		if (n >= 0) {
			lines_pw++;
			seen_pw = n < 16 ? bits_of(src, n) : -1; /* -1: too many to compare */
		}
		for (int i = 0; i < n; i++) {
			size_t len = strnlen(src[i], NSSWITCH_SOURCE_MAX);

			/* every name is a plain word that fits */
			if (len == 0 || len >= NSSWITCH_SOURCE_MAX ||
				strspn(src[i], "abcdefghijklmnopqrstuvwxyz0123456789_-") != len)
				__builtin_trap();
		}
	}
	/* taken as plain: one passwd line, the same sources (a name the line reader leaves out,
	 * not a plain lower-case word, is one the strict reader counts as another source) */
	if (plain &&
		(lines_pw != 1 ||
			(seen_pw >= 0 &&
				((seen_pw & ~NSS_SRC_OTHER) != (plain_pw & ~NSS_SRC_OTHER) ||
					((seen_pw & NSS_SRC_OTHER) && !(plain_pw & NSS_SRC_OTHER))))))
		__builtin_trap();
	free(text);
	return 0;
}
