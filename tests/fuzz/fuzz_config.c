/* libFuzzer harness: arbitrary bytes as an authd.conf. */
#include <stddef.h>
#include <stdint.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mm_config *c = NULL;
	char err[256];

	if (config_parse((const char *)data, size, &c, err, sizeof(err)) == 0) {
		if (!c || !c->hash_key_file)
			__builtin_trap();
		(void)config_domain_for(c, "pharmacien");
		(void)config_region_open(c, "Occitanie");
	}
	config_free(c);
	return 0;
}
