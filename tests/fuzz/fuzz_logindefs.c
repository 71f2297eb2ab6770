/* libFuzzer harness: arbitrary bytes as login.defs, and after a NUL as /etc/subuid, for the range check. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfile(const void *p, size_t n)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd >= 0 && n && write(fd, p, n) != (ssize_t)n) {
		close(fd);
		return -1;
	}
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t n1 = nul ? (size_t)(nul - data) : size;
	int defs = memfile(data, n1), sub = memfile(nul ? nul + 1 : data, nul ? size - n1 - 1 : 0);
	char conf[256], err[512];
	struct mm_config *c = NULL;

	if (defs < 0 || sub < 0)
		goto out;
	snprintf(conf, sizeof(conf),
		"hash_key_file = /k\nlogin_defs = /proc/self/fd/%d\nsubuid_file = /proc/self/fd/%d\n"
		"subgid_file = /proc/self/fd/%d\nuid_min = 200000\nuid_max = 299999\n",
		defs, sub, sub);
	if (config_parse(conf, strlen(conf), &c, err, sizeof(err)) < 0)
		__builtin_trap();
	err[0] = '\0';
	if (names_check_ranges_with(c, NULL, err, sizeof(err)) < 0 && !err[0])
		__builtin_trap(); /* a refusal always says why */
out:
	config_free(c);
	if (defs >= 0)
		close(defs);
	if (sub >= 0)
		close(sub);
	return 0;
}
