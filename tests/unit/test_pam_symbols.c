/* dlopens pam_medimail.so and checks that it exports the PAM entry points and nothing else of its own:
 * its dynamic symbol table holds only pam_sm_*, and its functions shared between files stay hidden. */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static const char *module_path;
static const char *const entry_points[] = {"pam_sm_authenticate", "pam_sm_setcred", "pam_sm_acct_mgmt",
	"pam_sm_open_session", "pam_sm_close_session", "pam_sm_chauthtok"};

static void test_entry_points_exported(void **state)
{
	void *h = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);

	assert_non_null(h);
	for (size_t i = 0; i < sizeof(entry_points) / sizeof(entry_points[0]); i++)
		assert_non_null(dlsym(h, entry_points[i]));
	dlclose(h);
}

/* The module's own functions, as its static symbol table (.symtab, kept in
 * the build tree) lists them: calls to the daemon, messages, options... are
 * real non-static functions shared between its files; each must be a local
 * symbol of the file and unreachable through dlsym. */
struct symtab_file {
	void *map;
	size_t size;
	const ElfW(Sym) * syms;
	size_t nsyms;
	const char *names;
};

static int symtab_open(const char *path, struct symtab_file *f)
{
	const ElfW(Ehdr) * eh;
	const ElfW(Shdr) * sh;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	memset(f, 0, sizeof(*f));
	if (fd < 0 || fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(ElfW(Ehdr))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	f->size = (size_t)st.st_size;
	f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (f->map == MAP_FAILED)
		return -1;
	eh = f->map;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
		eh->e_shoff + (size_t)eh->e_shnum * sizeof(ElfW(Shdr)) > f->size)
		return -1;
	sh = (const ElfW(Shdr) *)((const char *)f->map + eh->e_shoff);
	for (size_t i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum ||
			sh[i].sh_offset + sh[i].sh_size > f->size ||
			sh[sh[i].sh_link].sh_offset + sh[sh[i].sh_link].sh_size > f->size)
			continue;
		f->syms = (const ElfW(Sym) *)((const char *)f->map + sh[i].sh_offset);
		f->nsyms = sh[i].sh_size / sizeof(ElfW(Sym));
		f->names = (const char *)f->map + sh[sh[i].sh_link].sh_offset;
		return 0;
	}
	return 1; /* stripped: no static symbol table */
}

static const ElfW(Sym) * symtab_find(const struct symtab_file *f, const char *name)
{
	for (size_t i = 1; i < f->nsyms; i++)
		if (f->syms[i].st_shndx != SHN_UNDEF && !strcmp(f->names + f->syms[i].st_name, name))
			return &f->syms[i];
	return NULL;
}

static void test_internals_hidden(void **state)
{
	/* Non-static functions of the module called from another of its files,
	 * and the wire library it links statically. */
	static const char *const cross_file[] = {"pmm_call", "pmm_explain", "pmm_parse_opts", "pmm_text",
		"pmm_get_user", "pmm_host_user", "pmm_card_refusal", "pmm_get_secret", "mm_msg_new",
		"mm_client_call"};
	struct symtab_file f;
	void *h = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
	size_t checked = 0;
	int r;

	assert_non_null(h);
	r = symtab_open(module_path, &f);
	assert_true(r >= 0);
	if (r == 1) {
		munmap(f.map, f.size);
		dlclose(h);
		skip(); /* a stripped module: the dynamic table check below still runs */
	}
	for (size_t i = 0; i < sizeof(cross_file) / sizeof(cross_file[0]); i++) {
		const ElfW(Sym) *sym = symtab_find(&f, cross_file[i]);

		if (!sym) {
			fprintf(stderr, "not a function of the module: %s\n", cross_file[i]);
			fail();
		}
		assert_int_equal(ELF64_ST_TYPE(sym->st_info), STT_FUNC);
		assert_int_equal(ELF64_ST_BIND(sym->st_info), STB_LOCAL);
	}
	/* Every defined function or object of the module but pam_sm_*: local, and
	 * dlsym finds nothing of that name in the module. */
	for (size_t i = 1; i < f.nsyms; i++) {
		const ElfW(Sym) *sym = &f.syms[i];
		const char *name = f.names + sym->st_name;
		int type = ELF64_ST_TYPE(sym->st_info);
		void *addr;
		Dl_info info;

		if (sym->st_shndx == SHN_UNDEF || !*name || (type != STT_FUNC && type != STT_OBJECT) ||
			!strncmp(name, "pam_sm_", 7))
			continue;
		checked++;
		if (ELF64_ST_BIND(sym->st_info) != STB_LOCAL) {
			fprintf(stderr, "not a local symbol: %s\n", name);
			fail();
		}
		/* The name may exist in another loaded object (libc, libpam), never in the module. */
		addr = dlsym(h, name);
		if (addr && dladdr(addr, &info) && info.dli_fname && strstr(info.dli_fname, "pam_medimail")) {
			fprintf(stderr, "reachable through dlsym: %s\n", name);
			fail();
		}
	}
	assert_true(checked >= sizeof(cross_file) / sizeof(cross_file[0]));
	munmap(f.map, f.size);
	dlclose(h);
}

/* Every defined symbol of the module's dynamic symbol table is a pam_sm_* one. */
static void test_dynamic_table_only_pam_sm(void **state)
{
	void *h = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
	struct link_map *lm = NULL;
	const ElfW(Sym) *symtab = NULL;
	const char *strtab = NULL;
	size_t nsyms = 0, defined = 0;

	assert_non_null(h);
	assert_int_equal(dlinfo(h, RTLD_DI_LINKMAP, &lm), 0);
	for (const ElfW(Dyn) *d = lm->l_ld; d->d_tag != DT_NULL; d++) {
		if (d->d_tag == DT_SYMTAB)
			symtab = (const ElfW(Sym) *)d->d_un.d_ptr;
		else if (d->d_tag == DT_STRTAB)
			strtab = (const char *)d->d_un.d_ptr;
		else if (d->d_tag == DT_HASH)
			nsyms = ((const Elf32_Word *)d->d_un.d_ptr)[1];
		else if (d->d_tag == DT_GNU_HASH && !nsyms) {
			/* Count the symbols through the GNU hash chains. */
			const Elf32_Word *gh = (const Elf32_Word *)d->d_un.d_ptr;
			Elf32_Word nbuckets = gh[0], symoffset = gh[1], bloom = gh[2];
			const Elf32_Word *buckets = gh + 4 + bloom * (sizeof(ElfW(Addr)) / 4);
			const Elf32_Word *chain = buckets + nbuckets;
			Elf32_Word last = 0;

			for (Elf32_Word b = 0; b < nbuckets; b++)
				if (buckets[b] > last)
					last = buckets[b];
			if (last >= symoffset)
				while (!(chain[last - symoffset] & 1))
					last++;
			nsyms = last >= symoffset ? last + 1 : symoffset;
		}
	}
	assert_non_null(symtab);
	assert_non_null(strtab);
	assert_true(nsyms > 0);
	for (size_t i = 1; i < nsyms; i++) {
		const char *name = strtab + symtab[i].st_name;

		if (symtab[i].st_shndx == SHN_UNDEF || ELF64_ST_BIND(symtab[i].st_info) == STB_LOCAL)
			continue;
		defined++;
		if (strncmp(name, "pam_sm_", 7)) {
			fprintf(stderr, "unexpected exported symbol: %s\n", name);
			fail();
		}
	}
	assert_int_equal(defined, sizeof(entry_points) / sizeof(entry_points[0]));
	dlclose(h);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entry_points_exported),
		cmocka_unit_test(test_internals_hidden),
		cmocka_unit_test(test_dynamic_table_only_pam_sm),
	};

	module_path = argc > 1 ? argv[1] : getenv("PAM_MEDIMAIL_SO");
	if (!module_path) {
		fprintf(stderr, "usage: test_pam_symbols PATH/pam_medimail.so\n");
		return 2;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
