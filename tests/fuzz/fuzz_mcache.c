/* libFuzzer harness: arbitrary bytes mapped as a cache file (passwd and group), looked up by names and ids. */
#include <grp.h>
#include <pwd.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static void lookups(const struct mc_map *m, const char *name, uint32_t id)
{
	static const char *const names[] = {"ana.martin", "bob", "ana@example.org", "user1", "pharmacie"};
	char buf[1024];
	uint64_t scratch[128];
	struct passwd pw;
	struct group gr;
	const uint32_t *gids;
	size_t n, need;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) + 1; i++) {
		const char *k = i < sizeof(names) / sizeof(names[0]) ? names[i] : name;

		if (mc_getpwnam(m, k, &pw, buf, sizeof(buf), &need) == 0) {
			const char *f[] = {pw.pw_name, pw.pw_passwd, pw.pw_gecos, pw.pw_dir, pw.pw_shell};

			check(need <= sizeof(buf));
			/* every string inside the answer, ended inside it */
			for (size_t j = 0; j < 5; j++)
				check(f[j] >= buf && f[j] < buf + need &&
					memchr(f[j], '\0', (size_t)(buf + need - f[j])));
		}
		if (mc_getgrnam(m, k, &gr, buf, sizeof(buf), &need) == 0) {
			check(!strcmp(gr.gr_name, k));
			for (size_t j = 0; gr.gr_mem[j]; j++)
				check(gr.gr_mem[j] >= buf && gr.gr_mem[j] < buf + sizeof(buf));
		}
		if (mc_initgroups(m, k, scratch, sizeof(scratch), &gids, &n, &need) == 0)
			check(n * 4 <= sizeof(scratch));
	}
	if (mc_getpwuid(m, id, &pw, buf, sizeof(buf), NULL) == 0)
		check(pw.pw_uid == id);
	if (mc_getgrgid(m, id, &gr, buf, sizeof(buf), NULL) == 0)
		check(gr.gr_gid == id);
	(void)mc_map_current(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The reader wants 8-byte aligned memory, as mmap() gives. */
	uint8_t *mem = aligned_alloc(8, (size + 8) & ~(size_t)7);
	char name[64];
	uint32_t id = 0;
	struct mc_map m;

	if (!mem)
		return 0;
	memcpy(mem, data, size);
	/* A key from the tail of the input, so lookups reach what the input builds. */
	{
		size_t k = size < sizeof(name) - 1 ? size : 16;
		if (k > size)
			k = size;
		memcpy(name, data + size - k, k);
		name[k] = '\0';
	}
	if (size >= 4)
		memcpy(&id, data + size - 4, 4);
	if (mc_map_memory(mem, size, MC_PASSWD, &m) == 0)
		lookups(&m, name, id);
	if (mc_map_memory(mem, size, MC_GROUP, &m) == 0)
		lookups(&m, name, id);
	free(mem);
	return 0;
}
