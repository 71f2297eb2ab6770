/* libFuzzer harness: one line of the audit file as medimailctl audit parses it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct audit_record r;
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (audit_record_parse(s, &r) == 0) {
		/* every value points inside the line and holds no quote or control character */
		for (size_t k = 0; k < AUDIT_NKEYS; k++) {
			if (r.v[k] < s || r.v[k] > s + size)
				abort();
			for (const char *p = r.v[k]; *p; p++)
				if (*p == '"' || (unsigned char)*p < 0x20)
					abort();
		}
	}
	(void)audit_time_parse(s);
	free(s);
	return 0;
}
