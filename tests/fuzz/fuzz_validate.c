/* libFuzzer harness: every validator and the address/login derivations on arbitrary input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Derived names must always be what the directory expects. */
static void check(int ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[400], out2[400];
	const char *rule = NULL;
	const char *half;
	char *s;
	int r;

	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	/* A NUL in the input splits it into two strings for two-argument calls. */
	half = s + strlen(s) + (strlen(s) < size ? 1 : 0);

	(void)!mm_luhn_valid(s);
	(void)!validate_rpps(s);
	(void)!validate_adeli(s);
	(void)!validate_finess(s);
	(void)!validate_siren(s);
	(void)!validate_siret(s);
	(void)!validate_struct_id(s, half);
	(void)!validate_struct_id("FINESS", s);
	(void)!validate_email(s);
	if (validate_password(s, &rule) < 0)
		check(rule != NULL && password_rule_message(rule) != NULL);
	(void)!validate_utf8((const char *)data, size);
	(void)!validate_text(s, 64);
	(void)!validate_name(s);
	(void)!validate_phone(s);
	(void)!validate_postal_code(s);
	(void)!validate_profession_code(s);
	(void)profession_label(s);
	(void)profession_domain_key(s);
	(void)profession_code_of(s);

	/* The canonical forms never grow, never keep an edge space, and stay UTF-8. */
	r = text_squeeze(s, out, sizeof(out));
	if (r >= 0)
		check((size_t)r == strlen(out) && (size_t)r <= strlen(s) &&
			validate_utf8(out, (size_t)r) == 0 &&
			(r == 0 || (out[0] != ' ' && out[r - 1] != ' ' && !strstr(out, "  "))));
	r = text_unspace(s, out, sizeof(out));
	if (r >= 0)
		check((size_t)r == strlen(out) && (size_t)r <= strlen(s) && !strchr(out, ' '));
	(void)!text_squeeze(s, out, 4);

	r = text_fold(s, '.', out, sizeof(out));
	if (r >= 0) {
		check((size_t)r == strlen(out) && (size_t)r <= strlen(s));
		check(r == 0 || (out[0] != '.' && out[r - 1] != '.' && !strstr(out, "..")));
	}
	(void)!text_fold(s, '-', out, 8);

	r = address_person(s, half, "pharmacien.oc.mssante.fr", out, sizeof(out));
	if (r >= 0) {
		check(validate_email(out) == 0 && strchr(out, '@') - out <= MM_ADDRESS_LOCAL_MAX);
		for (unsigned n = 1; n < 1000000000u; n *= 97) {
			r = address_candidate(out, n, out2, sizeof(out2));
			check(r >= 0 && validate_email(out2) == 0);
		}
	}
	r = address_org(s, "81000", half, "a.fr", out, sizeof(out));
	if (r >= 0)
		check(validate_email(out) == 0);
	(void)!address_candidate(s, 2, out, sizeof(out));

	r = login_person(s, half, out, sizeof(out));
	if (r >= 0) {
		check(r <= MM_LOGIN_MAX && out[0] >= 'a' && out[0] <= 'z');
		for (unsigned n = 1; n < 1000000000u; n *= 97) {
			r = login_candidate(out, n, out2, sizeof(out2));
			check(r >= 0 && r <= MM_LOGIN_MAX);
		}
	}
	r = login_org(s, out, sizeof(out));
	if (r >= 0)
		check(r <= MM_LOGIN_MAX);
	(void)!login_candidate(s, 3, out, sizeof(out));

	free(s);
	return 0;
}
