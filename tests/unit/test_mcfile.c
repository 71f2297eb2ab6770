/* Unit tests for the mmap cache format (common/mcfile.c): the writer's files read back, and damaged files never trusted. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mcfile.h"

#define GEN 0x1122334455667788ULL

/* A copy of a file image in 8-byte aligned memory. */
static uint8_t *aligned_copy(const uint8_t *img, size_t len)
{
	uint8_t *p = aligned_alloc(8, len ? (len + 7) & ~(size_t)7 : 8);

	assert_non_null(p);
	memcpy(p, img, len);
	return p;
}

static void build_passwd(size_t n, uint8_t **img, size_t *len)
{
	struct mc_builder *b = NULL;

	assert_int_equal(mc_builder_new(MC_PASSWD, 0xabcdef, &b), 0);
	assert_int_equal(mc_builder_add_pw(b, "ana.martin", "Ana.Martin@Example.org", 210001, 100,
				 "Ana MARTIN", "/home/ana.martin", "/bin/bash"),
		0);
	assert_int_equal(
		mc_builder_add_pw(b, "bob", NULL, 210002, 100, "Bob DUPONT", "/home/bob", "/bin/sh"), 0);
	for (size_t i = 0; i < n; i++) {
		char login[32], mail[48], gecos[48], home[48];

		snprintf(login, sizeof(login), "user%zu", i);
		snprintf(mail, sizeof(mail), "user%zu@example.org", i);
		snprintf(gecos, sizeof(gecos), "Prénom%zu NOM", i);
		snprintf(home, sizeof(home), "/home/user%zu", i);
		assert_int_equal(mc_builder_add_pw(
					 b, login, mail, 300000 + (uint32_t)i, 100, gecos, home, "/bin/bash"),
			0);
	}
	assert_int_equal(mc_builder_finish(b, GEN, MC_FLAG_ENUMERATE, img, len), 0);
	mc_builder_free(b);
}

static void build_group(uint8_t **img, size_t *len)
{
	static const char *const m1[] = {"ana.martin", "bob"};
	static const uint32_t ana[] = {310001, 310002}, bob[] = {310001};
	struct mc_builder *b = NULL;

	assert_int_equal(mc_builder_new(MC_GROUP, 7, &b), 0);
	assert_int_equal(mc_builder_add_gr(b, "pharmacie-du-centre", 310001, m1, 2), 0);
	assert_int_equal(mc_builder_add_gr(b, "labo", 310002, m1, 1), 0);
	assert_int_equal(mc_builder_add_gr(b, "empty-org", 310003, NULL, 0), 0);
	assert_int_equal(mc_builder_add_memberof(b, "ana.martin", ana, 2), 0);
	assert_int_equal(mc_builder_add_memberof(b, "bob", bob, 1), 0);
	/* the daemon writes an empty one for a user in no ORG */
	assert_int_equal(mc_builder_add_memberof(b, "dan", NULL, 0), 0);
	assert_int_equal(mc_builder_finish(b, GEN, 0, img, len), 0);
	mc_builder_free(b);
}

static void test_passwd_roundtrip(void **state)
{
	uint8_t *img = NULL, *mem;
	size_t len = 0, need = 0;
	struct mc_map m;
	struct passwd pw;
	char buf[256];

	build_passwd(1000, &img, &len);
	mem = aligned_copy(img, len);
	assert_int_equal(mc_map_memory(mem, len, MC_PASSWD, &m), 0);
	assert_true(mc_map_current(&m));
	assert_int_equal(m.flags, MC_FLAG_ENUMERATE);

	assert_int_equal(mc_getpwnam(&m, "ana.martin", &pw, buf, sizeof(buf), &need), 0);
	assert_string_equal(pw.pw_name, "ana.martin");
	assert_string_equal(pw.pw_passwd, "*");
	assert_string_equal(pw.pw_gecos, "Ana MARTIN");
	assert_string_equal(pw.pw_dir, "/home/ana.martin");
	assert_string_equal(pw.pw_shell, "/bin/bash");
	assert_int_equal(pw.pw_uid, 210001);
	assert_int_equal(pw.pw_gid, 100);
	/* Every string lies in the caller's buffer. */
	assert_true(pw.pw_name >= buf && pw.pw_shell + strlen(pw.pw_shell) < buf + need);
	assert_true(pw.pw_passwd >= buf && pw.pw_passwd + 2 <= buf + need);

	/* Login e-mail, any case; the answer is the short login. */
	memset(&pw, 0, sizeof(pw));
	assert_int_equal(mc_getpwnam(&m, "ANA.MARTIN@example.ORG", &pw, buf, sizeof(buf), NULL), 0);
	assert_string_equal(pw.pw_name, "ana.martin");
	/* Logins are case-sensitive. */
	assert_int_equal(mc_getpwnam(&m, "Ana.Martin", &pw, buf, sizeof(buf), NULL), -ENOENT);
	assert_int_equal(mc_getpwnam(&m, "bob@example.org", &pw, buf, sizeof(buf), NULL), -ENOENT);

	assert_int_equal(mc_getpwuid(&m, 210002, &pw, buf, sizeof(buf), NULL), 0);
	assert_string_equal(pw.pw_name, "bob");
	assert_string_equal(pw.pw_shell, "/bin/sh");
	for (uint32_t i = 0; i < 1000; i += 7) {
		char login[32];

		snprintf(login, sizeof(login), "user%u", i);
		assert_int_equal(mc_getpwuid(&m, 300000 + i, &pw, buf, sizeof(buf), NULL), 0);
		assert_string_equal(pw.pw_name, login);
		assert_int_equal(mc_getpwnam(&m, login, &pw, buf, sizeof(buf), NULL), 0);
		assert_int_equal(pw.pw_uid, 300000 + i);
	}
	assert_int_equal(mc_getpwuid(&m, 4242, &pw, buf, sizeof(buf), NULL), -ENOENT);
	assert_int_equal(mc_getpwnam(&m, "nobody.here", &pw, buf, sizeof(buf), NULL), -ENOENT);
	assert_int_equal(mc_getpwnam(&m, "", &pw, buf, sizeof(buf), NULL), -ENOENT);

	/* A short buffer: ERANGE and the size that is enough. */
	assert_int_equal(mc_getpwnam(&m, "ana.martin", &pw, buf, 10, &need), -ERANGE);
	assert_true(need > 10 && need <= sizeof(buf));
	assert_int_equal(mc_getpwnam(&m, "ana.martin", &pw, buf, need - 1, NULL), -ERANGE);
	assert_int_equal(mc_getpwnam(&m, "ana.martin", &pw, buf, need, NULL), 0);

	/* A group lookup in a passwd file is a miss. */
	{
		struct group gr;
		assert_int_equal(mc_getgrnam(&m, "ana.martin", &gr, buf, sizeof(buf), NULL), -ENOENT);
	}
	free(mem);
	free(img);
}

static void test_group_roundtrip(void **state)
{
	uint8_t *img = NULL, *mem;
	size_t len = 0, need = 0, n = 0;
	struct mc_map m;
	struct group gr;
	char buf[512];
	uint64_t scratch[64];
	const uint32_t *gids = NULL;

	build_group(&img, &len);
	mem = aligned_copy(img, len);
	assert_int_equal(mc_map_memory(mem, len, MC_GROUP, &m), 0);
	assert_int_equal(mc_getgrnam(&m, "pharmacie-du-centre", &gr, buf, sizeof(buf), &need), 0);
	assert_int_equal(gr.gr_gid, 310001);
	assert_string_equal(gr.gr_passwd, "*");
	assert_string_equal(gr.gr_mem[0], "ana.martin");
	assert_string_equal(gr.gr_mem[1], "bob");
	assert_null(gr.gr_mem[2]);
	assert_true((char *)gr.gr_mem >= buf && (char *)(gr.gr_mem + 3) <= buf + need);
	assert_int_equal((uintptr_t)gr.gr_mem % sizeof(char *), 0);

	/* Misaligned buffer: still aligned pointers inside. */
	assert_int_equal(mc_getgrgid(&m, 310002, &gr, buf + 3, sizeof(buf) - 3, NULL), 0);
	assert_string_equal(gr.gr_name, "labo");
	assert_int_equal((uintptr_t)gr.gr_mem % sizeof(char *), 0);
	assert_string_equal(gr.gr_mem[0], "ana.martin");
	assert_null(gr.gr_mem[1]);

	assert_int_equal(mc_getgrnam(&m, "empty-org", &gr, buf, sizeof(buf), NULL), 0);
	assert_null(gr.gr_mem[0]);
	assert_int_equal(mc_getgrnam(&m, "pharmacie-du-centre", &gr, buf, 20, &need), -ERANGE);
	assert_int_equal(mc_getgrgid(&m, 1, &gr, buf, sizeof(buf), NULL), -ENOENT);

	assert_int_equal(mc_initgroups(&m, "ana.martin", scratch, sizeof(scratch), &gids, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_int_equal(gids[0], 310001);
	assert_int_equal(gids[1], 310002);
	assert_int_equal(mc_initgroups(&m, "bob", scratch, sizeof(scratch), &gids, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_int_equal(mc_initgroups(&m, "carol", scratch, sizeof(scratch), &gids, &n, NULL), -ENOENT);
	n = 99;
	assert_int_equal(mc_initgroups(&m, "dan", scratch, sizeof(scratch), &gids, &n, NULL), 0);
	assert_int_equal(n, 0);
	/* a key is the whole name: neither a prefix nor a longer name of a record */
	assert_int_equal(mc_initgroups(&m, "da", scratch, sizeof(scratch), &gids, &n, NULL), -ENOENT);
	assert_int_equal(mc_getgrnam(&m, "pharmacie", &gr, buf, sizeof(buf), NULL), -ENOENT);
	assert_int_equal(mc_getgrnam(&m, "labo-x", &gr, buf, sizeof(buf), NULL), -ENOENT);
	assert_int_equal(mc_initgroups(&m, "ana.martin", scratch, 4, &gids, &n, &need), -ERANGE);
	assert_true(need > 4);
	/* A group name is not a memberof key and the other way round. */
	assert_int_equal(mc_getgrnam(&m, "bob", &gr, buf, sizeof(buf), NULL), -ENOENT);
	free(mem);
	free(img);
}

static void test_wrong_kind_and_stale(void **state)
{
	uint8_t *img = NULL, *mem;
	size_t len = 0;
	struct mc_map m;
	struct passwd pw;
	char buf[256];
	uint32_t one = 1;

	build_passwd(10, &img, &len);
	mem = aligned_copy(img, len);
	assert_int_equal(mc_map_memory(mem, len, MC_GROUP, &m), -EBADMSG);
	assert_int_equal(mc_map_memory(mem + 8, len - 8, MC_PASSWD, &m), -EBADMSG);
	assert_int_equal(mc_map_memory(mem, len, MC_PASSWD, &m), 0);
	/* The daemon flags a replaced file: lookups say so, new maps refuse it. */
	memcpy(mem + offsetof(struct mc_header, stale), &one, 4);
	assert_false(mc_map_current(&m));
	assert_int_equal(mc_getpwnam(&m, "bob", &pw, buf, sizeof(buf), NULL), -ESTALE);
	assert_int_equal(mc_map_memory(mem, len, MC_PASSWD, &m), -EBADMSG);
	/* A new generation in place: the old view is not current either. */
	one = 0;
	memcpy(mem + offsetof(struct mc_header, stale), &one, 4);
	assert_int_equal(mc_map_memory(mem, len, MC_PASSWD, &m), 0);
	mem[offsetof(struct mc_header, generation)] ^= 1;
	assert_int_equal(mc_getpwnam(&m, "bob", &pw, buf, sizeof(buf), NULL), -ESTALE);
	free(mem);
	free(img);
}

/* Every lookup of a damaged file is either exactly right or an error. */
static void check_lookups(const uint8_t *mem, size_t len, unsigned *ret_ok)
{
	struct mc_map m;
	struct passwd pw;
	char buf[512];
	int r;

	if (mc_map_memory(mem, len, MC_PASSWD, &m) < 0)
		return;
	r = mc_getpwnam(&m, "ana.martin", &pw, buf, sizeof(buf), NULL);
	if (r == 0) {
		assert_string_equal(pw.pw_name, "ana.martin");
		assert_int_equal(pw.pw_uid, 210001);
		assert_string_equal(pw.pw_gecos, "Ana MARTIN");
		assert_string_equal(pw.pw_dir, "/home/ana.martin");
		(*ret_ok)++;
	}
	r = mc_getpwnam(&m, "ana.martin@example.org", &pw, buf, sizeof(buf), NULL);
	if (r == 0)
		assert_int_equal(pw.pw_uid, 210001);
	r = mc_getpwuid(&m, 210002, &pw, buf, sizeof(buf), NULL);
	if (r == 0) {
		assert_string_equal(pw.pw_name, "bob");
		assert_string_equal(pw.pw_shell, "/bin/sh");
	}
	r = mc_getpwuid(&m, 300003, &pw, buf, sizeof(buf), NULL);
	if (r == 0)
		assert_string_equal(pw.pw_name, "user3");
	assert_int_not_equal(mc_getpwnam(&m, "ghost", &pw, buf, sizeof(buf), NULL), 0);
}

/* check() on copies of img with one bit flipped, every bit_step-th bit of every byte; the
 * lookups that still hit ana must be most of them (damage elsewhere leaves her record usable). */
static void flip_each_bit(
	const uint8_t *img, size_t len, int bit_step, void (*check)(const uint8_t *, size_t, unsigned *))
{
	uint8_t *mem = aligned_copy(img, len);
	unsigned ok = 0, tried = 0;

	for (size_t off = 0; off < len; off++)
		for (int bit = 0; bit < 8; bit += bit_step) {
			mem[off] ^= (uint8_t)(1u << bit);
			check(mem, len, &ok);
			mem[off] ^= (uint8_t)(1u << bit);
			tried++;
		}
	assert_true(ok > tried / 2);
	free(mem);
}

static void test_every_bit_flip(void **state)
{
	uint8_t *img = NULL;
	size_t len = 0;

	build_passwd(8, &img, &len);
	flip_each_bit(img, len, 3, check_lookups);
	free(img);
}

/* The same for a group file: a lookup is exactly right or an error, and a
 * found memberof record carries exactly its user's gids. */
static void check_group_lookups(const uint8_t *mem, size_t len, unsigned *ret_ok)
{
	struct mc_map m;
	struct group gr;
	char buf[512];
	uint64_t scratch[64];
	const uint32_t *gids = NULL;
	size_t n = 0;

	if (mc_map_memory(mem, len, MC_GROUP, &m) < 0)
		return;
	if (mc_getgrnam(&m, "pharmacie-du-centre", &gr, buf, sizeof(buf), NULL) == 0) {
		assert_int_equal(gr.gr_gid, 310001);
		assert_string_equal(gr.gr_mem[0], "ana.martin");
		assert_string_equal(gr.gr_mem[1], "bob");
		assert_null(gr.gr_mem[2]);
	}
	if (mc_getgrgid(&m, 310002, &gr, buf, sizeof(buf), NULL) == 0) {
		assert_string_equal(gr.gr_name, "labo");
		assert_string_equal(gr.gr_mem[0], "ana.martin");
		assert_null(gr.gr_mem[1]);
	}
	if (mc_initgroups(&m, "ana.martin", scratch, sizeof(scratch), &gids, &n, NULL) == 0) {
		assert_int_equal(n, 2);
		assert_int_equal(gids[0], 310001);
		assert_int_equal(gids[1], 310002);
		(*ret_ok)++;
	}
	if (mc_initgroups(&m, "dan", scratch, sizeof(scratch), &gids, &n, NULL) == 0)
		assert_int_equal(n, 0);
	assert_int_not_equal(mc_initgroups(&m, "carol", scratch, sizeof(scratch), &gids, &n, NULL), 0);
}

static void test_every_bit_flip_of_a_group_file(void **state)
{
	uint8_t *img = NULL;
	size_t len = 0;

	build_group(&img, &len);
	flip_each_bit(img, len, 1, check_group_lookups);
	free(img);
}

static void test_truncation_and_garbage(void **state)
{
	uint8_t *img = NULL, *mem;
	size_t len = 0;
	unsigned ok = 0;
	struct mc_map m;

	build_passwd(8, &img, &len);
	mem = aligned_copy(img, len);
	/* A truncated file never maps. */
	for (size_t l = 0; l < len; l++)
		assert_int_equal(mc_map_memory(mem, l, MC_PASSWD, &m), -EBADMSG);
	/* Truncated, with a header that admits it (a forger's file): records cut off are refused. */
	for (size_t l = sizeof(struct mc_header); l < len; l += 8) {
		uint8_t *t = aligned_copy(img, l);
		struct mc_header h;

		memcpy(&h, t, sizeof(h));
		h.file_size = l;
		if (h.data_off + h.data_size > l)
			h.data_size = h.data_off <= l ? (uint32_t)(l - h.data_off) : 0;
		memcpy(t, &h, sizeof(h));
		check_lookups(t, l, &ok); /* header sum now wrong: must not map, must not crash */
		free(t);
	}
	/* Random bytes. */
	srand(42);
	for (int i = 0; i < 2000; i++) {
		size_t n = (size_t)rand() % (len + 64);
		uint8_t *t = aligned_alloc(8, (n + 8) & ~(size_t)7);

		for (size_t k = 0; k < n; k++)
			t[k] = (uint8_t)rand();
		if (n >= sizeof(struct mc_header) && i % 2) {
			/* keep a valid-looking start so the deeper checks run */
			memcpy(t, mem, sizeof(struct mc_header));
		}
		check_lookups(t, n, &ok);
		free(t);
	}
	free(mem);
	free(img);
}

/* Chain pointers that loop, point outside, or into the middle of a record. */
static void test_hostile_chains(void **state)
{
	uint8_t *img = NULL, *mem;
	size_t len = 0;
	struct mc_header h;
	struct mc_map m;
	struct passwd pw;
	char buf[512];
	uint32_t targets[6];

	build_passwd(200, &img, &len);
	mem = aligned_copy(img, len);
	memcpy(&h, mem, sizeof(h));
	targets[0] = h.data_off; /* first record: a loop for every chain through it */
	targets[1] = (uint32_t)len; /* past the end */
	targets[2] = (uint32_t)len - 8; /* a header that does not fit */
	targets[3] = h.data_off + 4; /* misaligned */
	targets[4] = h.data_off + 64; /* inside a record */
	targets[5] = 8; /* inside the file header */
	for (int t = 0; t < 6; t++) {
		/* every bucket of every table points at the target */
		for (int tb = 0; tb < MC_TABLES; tb++)
			for (uint32_t b = 0; b < h.nbuckets; b++)
				memcpy(mem + h.table_off[tb] + b * 4, &targets[t], 4);
		assert_int_equal(mc_map_memory(mem, len, MC_PASSWD, &m), 0);
		for (int k = 0; k < 50; k++) {
			char name[16];
			int r;

			snprintf(name, sizeof(name), "user%d", k);
			r = mc_getpwnam(&m, name, &pw, buf, sizeof(buf), NULL);
			if (r == 0)
				assert_string_equal(pw.pw_name, name);
			r = mc_getpwuid(&m, 300000 + (uint32_t)k, &pw, buf, sizeof(buf), NULL);
			if (r == 0)
				assert_int_equal(pw.pw_uid, 300000 + (uint32_t)k);
		}
		memcpy(mem, img, len);
	}
	/* A record whose own next pointer is itself: the walk ends. */
	{
		struct mc_rec r;
		uint32_t self = h.data_off;

		memcpy(&r, mem + h.data_off, sizeof(r));
		for (int tb = 0; tb < MC_TABLES; tb++) {
			r.next[tb] = self;
			for (uint32_t b = 0; b < h.nbuckets; b++)
				memcpy(mem + h.table_off[tb] + b * 4, &self, 4);
		}
		memcpy(mem + h.data_off, &r, sizeof(r));
		assert_int_equal(mc_map_memory(mem, len, MC_PASSWD, &m), 0);
		assert_int_not_equal(mc_getpwnam(&m, "no-such-user", &pw, buf, sizeof(buf), NULL), 0);
		assert_int_not_equal(mc_getpwuid(&m, 999, &pw, buf, sizeof(buf), NULL), 0);
	}
	free(mem);
	free(img);
}

static void test_files_on_disk(void **state)
{
	char dir[] = "/tmp/mcfile-test-XXXXXX", path[64];
	uint8_t *img = NULL;
	size_t len = 0;
	struct mc_map m;
	struct passwd pw;
	char buf[256];
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/passwd", dir);
	build_passwd(3, &img, &len);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(img, 1, len, f), len);
	fclose(f);
	chmod(path, 0644);
	assert_int_equal(mc_map_open(path, MC_PASSWD, &m), 0);
	assert_int_equal(mc_getpwnam(&m, "bob", &pw, buf, sizeof(buf), NULL), 0);
	assert_int_equal(pw.pw_uid, 210002);
	mc_map_close(&m);
	assert_null(m.base);
	/* Group- or world-writable files are refused. */
	chmod(path, 0666);
	assert_int_equal(mc_map_open(path, MC_PASSWD, &m), -EPERM);
	chmod(path, 0644);
	/* Symlinks are not followed. */
	{
		char link[80];
		snprintf(link, sizeof(link), "%s/link", dir);
		assert_int_equal(symlink(path, link), 0);
		assert_int_equal(mc_map_open(link, MC_PASSWD, &m), -ELOOP);
		unlink(link);
	}
	/* Truncated on disk. */
	assert_int_equal(truncate(path, (off_t)len / 2), 0);
	assert_int_equal(mc_map_open(path, MC_PASSWD, &m), -EBADMSG);
	assert_int_equal(mc_map_open("/nonexistent/passwd", MC_PASSWD, &m), -ENOENT);
	unlink(path);
	rmdir(dir);
	free(img);
}

static void test_builder_refuses_bad_input(void **state)
{
	struct mc_builder *b = NULL;
	char big[MC_KEY_MAX + 2];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(mc_builder_new(MC_PASSWD, 1, &b), 0);
	assert_int_equal(mc_builder_add_pw(b, "", NULL, 1, 1, "", "/", "/bin/sh"), -EINVAL);
	assert_int_equal(mc_builder_add_pw(b, big, NULL, 1, 1, "", "/", "/bin/sh"), -EINVAL);
	assert_int_equal(mc_builder_add_pw(b, "a@b", NULL, 1, 1, "", "/", "/bin/sh"), -EINVAL);
	assert_int_equal(mc_builder_add_gr(b, "g", 1, NULL, 0), -EINVAL); /* wrong kind */
	mc_builder_free(b);
	assert_int_equal(mc_builder_new(42, 1, &b), -EINVAL);
}

/* 100k users: every one found by login, e-mail and uid. */
static void test_scale(void **state)
{
	uint8_t *img = NULL, *mem;
	size_t len = 0;
	struct mc_map m;
	struct passwd pw;
	char buf[256];

	build_passwd(100000, &img, &len);
	mem = aligned_copy(img, len);
	assert_int_equal(mc_map_memory(mem, len, MC_PASSWD, &m), 0);
	assert_int_equal(m.nrecords, 100002);
	for (uint32_t i = 0; i < 100000; i++) {
		char login[32], mail[48];

		snprintf(login, sizeof(login), "user%u", i);
		snprintf(mail, sizeof(mail), "USER%u@example.org", i);
		assert_int_equal(mc_getpwnam(&m, login, &pw, buf, sizeof(buf), NULL), 0);
		assert_int_equal(pw.pw_uid, 300000 + i);
		assert_int_equal(mc_getpwnam(&m, mail, &pw, buf, sizeof(buf), NULL), 0);
		assert_string_equal(pw.pw_name, login);
		assert_int_equal(mc_getpwuid(&m, 300000 + i, &pw, buf, sizeof(buf), NULL), 0);
		assert_string_equal(pw.pw_name, login);
	}
	free(mem);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_passwd_roundtrip),
		cmocka_unit_test(test_group_roundtrip),
		cmocka_unit_test(test_wrong_kind_and_stale),
		cmocka_unit_test(test_every_bit_flip),
		cmocka_unit_test(test_every_bit_flip_of_a_group_file),
		cmocka_unit_test(test_truncation_and_garbage),
		cmocka_unit_test(test_hostile_chains),
		cmocka_unit_test(test_files_on_disk),
		cmocka_unit_test(test_builder_refuses_bad_input),
		cmocka_unit_test(test_scale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
