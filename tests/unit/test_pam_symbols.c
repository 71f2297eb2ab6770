/* dlopens pam_medimail.so and checks that it exports the PAM entry points and nothing else of its own. */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void test_internals_hidden(void **state)
{
	static const char *const internal[] = {"mm_msg_new", "mm_client_call", "mm_msg_encode", "buf_get_u32",
		"parse_opts", "call", "explain"};
	void *h = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);

	assert_non_null(h);
	for (size_t i = 0; i < sizeof(internal) / sizeof(internal[0]); i++) {
		void *sym = dlsym(h, internal[i]);
		Dl_info info;

		/* The name may exist in another loaded object (libc, this test), never in the module. */
		if (sym && dladdr(sym, &info) && info.dli_fname)
			assert_null(strstr(info.dli_fname, "pam_medimail"));
	}
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
