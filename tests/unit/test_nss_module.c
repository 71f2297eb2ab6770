/* Unit tests of libnss_medimail.so.2 loaded with dlopen(): exported symbols, buffers, errno, bypass, no daemon. */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "mcfile.h"

static const char *module_path;
static void *mod;
static char cachedir[64];

typedef enum nss_status (*pwnam_fn)(const char *, struct passwd *, char *, size_t, int *);
typedef enum nss_status (*pwuid_fn)(uid_t, struct passwd *, char *, size_t, int *);
typedef enum nss_status (*grnam_fn)(const char *, struct group *, char *, size_t, int *);
typedef enum nss_status (*grgid_fn)(gid_t, struct group *, char *, size_t, int *);
typedef enum nss_status (*initgroups_fn)(
	const char *, gid_t, long int *, long int *, gid_t **, long int, int *);
typedef enum nss_status (*setent_fn)(int);
typedef enum nss_status (*getpwent_fn)(struct passwd *, char *, size_t, int *);

static const char *const entry_points[] = {
	"_nss_medimail_getpwnam_r",
	"_nss_medimail_getpwuid_r",
	"_nss_medimail_setpwent",
	"_nss_medimail_getpwent_r",
	"_nss_medimail_endpwent",
	"_nss_medimail_getgrnam_r",
	"_nss_medimail_getgrgid_r",
	"_nss_medimail_setgrent",
	"_nss_medimail_getgrent_r",
	"_nss_medimail_endgrent",
	"_nss_medimail_initgroups_dyn",
	NULL,
};

static void *sym(const char *name)
{
	void *p = dlsym(mod, name);

	assert_non_null(p);
	return p;
}

static void write_file(const char *name, const uint8_t *img, size_t len)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", cachedir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(img, 1, len, f), len);
	fclose(f);
	chmod(path, 0644);
}

static int setup(void **state)
{
	static const char *const members[] = {"ana.martin", "bob"};
	static const uint32_t ana_gids[] = {310001};
	struct mc_builder *b = NULL;
	uint8_t *img = NULL;
	size_t len = 0;
	char longname[200];

	snprintf(cachedir, sizeof(cachedir), "/tmp/nss-module-test-XXXXXX");
	if (!mkdtemp(cachedir))
		return -1;
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	if (mc_builder_new(MC_PASSWD, 99, &b) ||
		mc_builder_add_pw(b, "ana.martin", "ana@example.org", 210001, 100, "Ana MARTIN",
			"/home/ana.martin", "/bin/bash") ||
		mc_builder_add_pw(b, "bob", NULL, 210002, 100, longname, "/home/bob", "/bin/sh") ||
		/* a cache written by a daemon that did not filter it */
		mc_builder_add_pw(b, "docker", NULL, 210009, 100, "", "/home/docker", "/bin/sh") ||
		mc_builder_finish(b, 77, 0, &img, &len))
		return -1;
	mc_builder_free(b);
	write_file("passwd", img, len);
	free(img);
	if (mc_builder_new(MC_GROUP, 5, &b) || mc_builder_add_gr(b, "pharmacie", 310001, members, 2) ||
		mc_builder_add_gr(b, "sudo", 310009, members, 1) ||
		mc_builder_add_memberof(b, "ana.martin", ana_gids, 1) ||
		mc_builder_add_memberof(b, "bob", NULL, 0) || /* docker: none, as if damaged */
		mc_builder_finish(b, 77, 0, &img, &len))
		return -1;
	mc_builder_free(b);
	write_file("group", img, len);
	free(img);
	setenv("MEDIMAIL_NSS_CACHE_DIR", cachedir, 1);
	setenv("MEDIMAIL_SOCKET", "/nonexistent/medimail.sock", 1);
	unsetenv("MEDIMAIL_NSS_BYPASS");
	mod = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
	if (!mod)
		fprintf(stderr, "dlopen %s: %s\n", module_path, dlerror());
	return mod ? 0 : -1;
}

static int teardown(void **state)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/passwd", cachedir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/group", cachedir);
	unlink(path);
	rmdir(cachedir);
	return 0;
}

/* Every defined global symbol of the module's .dynsym is an NSS entry point. */
static void test_only_nss_symbols_exported(void **state)
{
	int fd = open(module_path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	const uint8_t *p;
	const Elf64_Ehdr *eh;
	const Elf64_Shdr *sh;
	size_t found = 0, defined = 0;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	assert_true(p != MAP_FAILED);
	eh = (const Elf64_Ehdr *)p;
	assert_memory_equal(eh->e_ident, ELFMAG, SELFMAG);
	assert_true(eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) <= (size_t)st.st_size);
	sh = (const Elf64_Shdr *)(p + eh->e_shoff);
	for (int i = 0; i < eh->e_shnum; i++) {
		const Elf64_Sym *syms;
		const char *strs;

		if (sh[i].sh_type != SHT_DYNSYM)
			continue;
		assert_true(sh[i].sh_link < eh->e_shnum);
		syms = (const Elf64_Sym *)(p + sh[i].sh_offset);
		strs = (const char *)(p + sh[sh[i].sh_link].sh_offset);
		for (size_t k = 0; k < sh[i].sh_size / sizeof(Elf64_Sym); k++) {
			const char *name = strs + syms[k].st_name;
			int bind = ELF64_ST_BIND(syms[k].st_info);

			if (syms[k].st_shndx == SHN_UNDEF || (bind != STB_GLOBAL && bind != STB_WEAK))
				continue;
			defined++;
			if (strncmp(name, "_nss_medimail_", 14)) {
				/* the version node the script defines is not a symbol users can call */
				assert_int_equal(ELF64_ST_TYPE(syms[k].st_info), STT_NOTYPE);
				assert_int_equal(syms[k].st_value, 0);
				continue;
			}
			found++;
		}
	}
	munmap((void *)p, (size_t)st.st_size);
	assert_int_equal(found, 11);
	assert_true(defined >= found);
	for (size_t i = 0; entry_points[i]; i++)
		assert_non_null(dlsym(mod, entry_points[i]));
	/* Nothing of common/ leaks out. */
	assert_null(dlsym(mod, "mm_client_call"));
	assert_null(dlsym(mod, "mc_getpwnam"));
	assert_null(dlsym(mod, "buf_get_u32"));
}

static void test_getpwnam_from_cache(void **state)
{
	pwnam_fn f = (pwnam_fn)sym("_nss_medimail_getpwnam_r");
	struct passwd pw;
	char buf[512];
	int err = 0;

	errno = 1234;
	assert_int_equal(f("ana.martin", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
	assert_int_equal(errno, 1234);
	assert_string_equal(pw.pw_name, "ana.martin");
	assert_string_equal(pw.pw_gecos, "Ana MARTIN");
	assert_int_equal(pw.pw_uid, 210001);
	assert_true(pw.pw_name >= buf && pw.pw_name < buf + sizeof(buf));
	assert_true(pw.pw_passwd >= buf && pw.pw_passwd < buf + sizeof(buf));
	assert_true(pw.pw_shell >= buf && pw.pw_shell < buf + sizeof(buf));
	assert_int_equal(f("ana@example.org", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
	assert_string_equal(pw.pw_name, "ana.martin");
}

/* A reserved name is never passed on, whatever the cache (or the daemon) says. */
static void test_reserved_names_never_answered(void **state)
{
	pwnam_fn pwnam = (pwnam_fn)sym("_nss_medimail_getpwnam_r");
	pwuid_fn pwuid = (pwuid_fn)sym("_nss_medimail_getpwuid_r");
	grnam_fn grnam = (grnam_fn)sym("_nss_medimail_getgrnam_r");
	grgid_fn grgid = (grgid_fn)sym("_nss_medimail_getgrgid_r");
	struct passwd pw;
	struct group gr;
	char buf[512];
	int err = 0;

	assert_int_equal(pwnam("docker", &pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
	assert_int_equal(pwuid(210009, &pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
	assert_int_equal(grnam("sudo", &gr, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
	assert_int_equal(grnam("SUDO", &gr, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
	assert_int_equal(grgid(310009, &gr, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
	assert_int_equal(grnam("systemd-journal", &gr, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
	/* the control: the same cache answers an ordinary group */
	assert_int_equal(grgid(310001, &gr, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
	assert_string_equal(gr.gr_name, "pharmacie");
}

static void test_small_buffer_erange(void **state)
{
	pwnam_fn pwnam = (pwnam_fn)sym("_nss_medimail_getpwnam_r");
	grnam_fn grnam = (grnam_fn)sym("_nss_medimail_getgrnam_r");
	struct passwd pw;
	struct group gr;
	char buf[512];
	int err = 0;

	/* bob's gecos is 199 bytes */
	for (size_t n = 0; n < 210; n += 10) {
		errno = 555;
		err = 0;
		assert_int_equal(pwnam("bob", &pw, buf, n, &err), NSS_STATUS_TRYAGAIN);
		assert_int_equal(err, ERANGE);
		assert_int_equal(errno, 555);
	}
	assert_int_equal(pwnam("bob", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
	assert_int_equal(strlen(pw.pw_gecos), 199);
	err = 0;
	assert_int_equal(grnam("pharmacie", &gr, buf, 16, &err), NSS_STATUS_TRYAGAIN);
	assert_int_equal(err, ERANGE);
	assert_int_equal(grnam("pharmacie", &gr, buf + 1, sizeof(buf) - 1, &err), NSS_STATUS_SUCCESS);
	assert_string_equal(gr.gr_mem[1], "bob");
	assert_null(gr.gr_mem[2]);
}

static void test_miss_without_daemon_is_quick_unavail(void **state)
{
	pwnam_fn pwnam = (pwnam_fn)sym("_nss_medimail_getpwnam_r");
	pwuid_fn pwuid = (pwuid_fn)sym("_nss_medimail_getpwuid_r");
	grgid_fn grgid = (grgid_fn)sym("_nss_medimail_getgrgid_r");
	struct passwd pw;
	struct group gr;
	char buf[512];
	int err = 0;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	errno = 77;
	assert_int_equal(pwnam("carol", &pw, buf, sizeof(buf), &err), NSS_STATUS_UNAVAIL);
	assert_int_equal(err, ENOENT);
	assert_int_equal(errno, 77);
	assert_int_equal(pwuid(4242, &pw, buf, sizeof(buf), &err), NSS_STATUS_UNAVAIL);
	assert_int_equal(grgid(1, &gr, buf, sizeof(buf), &err), NSS_STATUS_UNAVAIL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 2);
	/* uid 0 is never ours */
	assert_int_equal(pwuid(0, &pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
}

static void test_initgroups_dyn(void **state)
{
	initgroups_fn f = (initgroups_fn)sym("_nss_medimail_initgroups_dyn");
	long int start = 1, size = 1;
	gid_t *groups = malloc(sizeof(gid_t));
	int err = 0;

	groups[0] = 100;
	errno = 9;
	assert_int_equal(f("ana.martin", 100, &start, &size, &groups, 0, &err), NSS_STATUS_SUCCESS);
	assert_int_equal(errno, 9);
	assert_int_equal(start, 2);
	assert_true(size >= 2);
	assert_int_equal(groups[1], 310001);
	/* Already there: not added twice. By e-mail too. */
	assert_int_equal(f("ana@example.org", 100, &start, &size, &groups, 0, &err), NSS_STATUS_SUCCESS);
	assert_int_equal(start, 2);
	/* The caller's limit wins. */
	start = 1;
	assert_int_equal(f("ana.martin", 100, &start, &size, &groups, 1, &err), NSS_STATUS_SUCCESS);
	assert_int_equal(start, 1);
	/* A known user without ORG: success, nothing added. */
	start = 1;
	assert_int_equal(f("bob", 100, &start, &size, &groups, 0, &err), NSS_STATUS_SUCCESS);
	assert_int_equal(start, 1);
	/* A user the passwd file knows but whose memberof record cannot be found
	 * (a damaged chain looks the same) is asked of the daemon, here absent:
	 * never a success with no group. */
	assert_int_equal(f("docker", 100, &start, &size, &groups, 0, &err), NSS_STATUS_UNAVAIL);
	assert_int_equal(start, 1);
	free(groups);
}

static void test_bypass(void **state)
{
	pwnam_fn pwnam = (pwnam_fn)sym("_nss_medimail_getpwnam_r");
	initgroups_fn ig = (initgroups_fn)sym("_nss_medimail_initgroups_dyn");
	struct passwd pw;
	char buf[512];
	int err = 0;
	long int start = 0, size = 0;
	gid_t *groups = NULL;

	setenv("MEDIMAIL_NSS_BYPASS", "1", 1);
	errno = 3;
	assert_int_equal(pwnam("ana.martin", &pw, buf, sizeof(buf), &err), NSS_STATUS_UNAVAIL);
	assert_int_equal(errno, 3);
	assert_int_equal(ig("ana.martin", 100, &start, &size, &groups, 0, &err), NSS_STATUS_UNAVAIL);
	assert_int_equal(start, 0);
	unsetenv("MEDIMAIL_NSS_BYPASS");
	assert_int_equal(pwnam("ana.martin", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
}

static void test_enumeration_without_daemon(void **state)
{
	setent_fn set = (setent_fn)sym("_nss_medimail_setpwent");
	getpwent_fn get = (getpwent_fn)sym("_nss_medimail_getpwent_r");
	struct passwd pw;
	char buf[512];
	int err = 0;

	assert_int_equal(set(0), NSS_STATUS_SUCCESS);
	assert_int_equal(get(&pw, buf, sizeof(buf), &err), NSS_STATUS_UNAVAIL);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_only_nss_symbols_exported),
		cmocka_unit_test(test_getpwnam_from_cache),
		cmocka_unit_test(test_reserved_names_never_answered),
		cmocka_unit_test(test_small_buffer_erange),
		cmocka_unit_test(test_miss_without_daemon_is_quick_unavail),
		cmocka_unit_test(test_initgroups_dyn),
		cmocka_unit_test(test_bypass),
		cmocka_unit_test(test_enumeration_without_daemon),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH/libnss_medimail.so.2\n", argv[0]);
		return 2;
	}
	module_path = argv[1];
	return cmocka_run_group_tests(tests, setup, teardown);
}
