/* libFuzzer harness: trusted proxy lists and X-Forwarded-For / Forwarded header values. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "forwarded.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_VALUES 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct net_prefix *trusted;
	static size_t ntrusted;
	struct net_prefix *v = NULL;
	size_t n = 0, nvals = 0;
	const char *vals[MAX_VALUES], *why = NULL;
	unsigned char a[16], b[16];
	char text[64], *s, *p;

	if (!trusted &&
		net_prefixes_parse("127.0.0.0/8, 10.0.0.0/8, ::1, fd00::/8", &trusted, &ntrusted, &why))
		abort();
	if (size < 1)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	/* the first byte picks the header; the rest is one value per line */
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if (net_prefixes_parse(s, &v, &n, &why) == 0 && n > NET_MAX_PREFIXES)
		abort();
	free(v);
	for (p = s; nvals < MAX_VALUES;) {
		vals[nvals++] = p;
		p = strchr(p, '\n');
		if (!p)
			break;
		*p++ = '\0';
	}
	memset(a, 0xaa, sizeof(a));
	if (fwd_client(data[0] & 1 ? FWD_FORWARDED : FWD_X_FORWARDED_FOR, vals, nvals, trusted, ntrusted,
		    a) == 0) {
		/* an address that was parsed: its text form reads back the same */
		net_addr_format(a, text, sizeof(text));
		if (net_addr_parse(text, strlen(text), b) < 0 || memcmp(a, b, 16))
			abort();
	}
	free(s);
	return 0;
}
