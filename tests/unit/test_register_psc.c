/* Unit tests of "Inscription simplifiée par Pro Santé Connect" without a directory: what an
 * offer's identity fills in the form, and what the form may not change. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "account.h"

#define RPPS "10002813839"

static const char *offer =
	"{\"sub\":\"psc-1\",\"national_id\":\"8" RPPS "\",\"given_name\":\"Marie\","
	"\"family_name\":\"CURIE\",\"ref_pro\":{\"exercices\":[{\"codeProfession\":\"21\","
	"\"activities\":[{\"raisonSocialeSite\":\"PHARMACIE DU PONT\",\"numeroVoie\":\"3\","
	"\"codeTypeDeVoie\":\"R\",\"libelleVoie\":\"DU PONT NEUF\",\"codePostal\":\"31000\","
	"\"bureauCedex\":\"31000 TOULOUSE\",\"numeroFinessSite\":\"310000120\"}]}]}}";

/* "Suivre la procédure indiquée sur le site (certaines informations personnelles seront déjà
 * préremplies)": names, RPPS, profession and the site come from the identity. */
static void test_certaines_informations_seront_deja_preremplies(void **state)
{
	struct account_psc_prefill p;

	(void)state;
	assert_int_equal(account_psc_prefill_parse(offer, &p), 0);
	assert_string_equal(p.rpps, RPPS);
	assert_string_equal(p.national_id, "8" RPPS);
	assert_string_equal(p.sn, "CURIE");
	assert_string_equal(p.given_name, "Marie");
	assert_string_equal(p.profession, "21");
	assert_string_equal(p.raison_sociale, "PHARMACIE DU PONT");
	assert_string_equal(p.street, "3 rue DU PONT NEUF");
	assert_string_equal(p.postal_code, "31000");
	assert_string_equal(p.city, "TOULOUSE");
	assert_string_equal(p.struct_type, "FINESS");
	assert_string_equal(p.struct_id, "310000120");
}

/* What the identity does not say well is left for the form to say. */
static void test_claims_out_of_rule_are_left_out(void **state)
{
	struct account_psc_prefill p;

	(void)state;
	/* no RPPS (another kind of national id), a name with a newline, an unknown profession,
	 * a bad postcode, a FINESS that fails its check digit */
	assert_int_equal(account_psc_prefill_parse(
				 "{\"sub\":\"s\",\"national_id\":\"ANS2026\",\"family_name\":\"A\\nB\","
				 "\"ref_pro\":{\"exercices\":[{\"codeProfession\":\"99x\",\"activities\":[{"
				 "\"codePostal\":\"3100\",\"numeroFinessSite\":\"310000121\"}]}]}}",
				 &p),
		0);
	assert_string_equal(p.rpps, "");
	assert_string_equal(p.sn, "");
	assert_string_equal(p.profession, "");
	assert_string_equal(p.postal_code, "");
	assert_string_equal(p.struct_id, "");
	assert_int_equal(account_psc_prefill_parse("{\"national_id\":\"8" RPPS "\"}", &p), -EIO);
	assert_int_equal(account_psc_prefill_parse("not json", &p), -EIO);
	assert_int_equal(account_psc_prefill_parse(NULL, &p), -EIO);
}

static void set(struct account_registration *reg, const char *k, const char *v)
{
	struct fault f = {0};

	assert_int_equal(account_registration_set(reg, k, v, &f), 0);
	fault_clear(&f);
}

static void expect_claim(const char *key, const char *value)
{
	struct account_registration *reg = calloc(1, sizeof(*reg));
	struct account_psc_prefill p;
	struct fault f = {0};

	assert_non_null(reg);
	assert_int_equal(account_psc_prefill_parse(offer, &p), 0);
	set(reg, key, value);
	assert_int_equal(account_psc_merge(reg, &p, &f), -EINVAL);
	assert_string_equal(fault_get(&f, "field"), key);
	assert_string_equal(fault_get(&f, "rule"), "psc_claim");
	fault_clear(&f);
	free(reg);
}

/* "the RPPS then trusted as proven": the form cannot put another RPPS, name or profession. */
static void test_the_form_cannot_override_the_identity(void **state)
{
	struct account_registration *reg = calloc(1, sizeof(*reg));
	struct account_psc_prefill p;
	struct fault f = {0};

	(void)state;
	expect_claim("rpps", "10000000008");
	expect_claim("sn", "AUTRE");
	expect_claim("given_name", "Eve");
	expect_claim("profession", "10");
	expect_claim("type", "MED");
	expect_claim("adeli", "123456789");
	/* the same values, as a person types them, are the identity's */
	assert_non_null(reg);
	assert_int_equal(account_psc_prefill_parse(offer, &p), 0);
	set(reg, "rpps", "100 028 138 39");
	set(reg, "sn", "Curie");
	set(reg, "profession", "pharmacien");
	set(reg, "city", "Blagnac");
	assert_int_equal(account_psc_merge(reg, &p, &f), 0);
	assert_string_equal(reg->type, "PER");
	assert_string_equal(account_registration_get(reg, "rpps"), RPPS);
	assert_string_equal(account_registration_get(reg, "sn"), "Curie");
	assert_string_equal(account_registration_get(reg, "given_name"), "Marie");
	assert_string_equal(account_registration_get(reg, "profession"), "21");
	/* the site fills what the form left out, the form's own choice stays */
	assert_string_equal(account_registration_get(reg, "city"), "Blagnac");
	assert_string_equal(account_registration_get(reg, "postal_code"), "31000");
	assert_string_equal(account_registration_get(reg, "struct_id"), "310000120");
	free(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_certaines_informations_seront_deja_preremplies),
		cmocka_unit_test(test_claims_out_of_rule_are_left_out),
		cmocka_unit_test(test_the_form_cannot_override_the_identity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
