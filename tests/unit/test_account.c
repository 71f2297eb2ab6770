/* Unit tests of the account services' typed logic that needs no directory:
 * the registration's fields and rules (catalogue and parameters), and SHOW /
 * LIST through the catalogue. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "account.h"
#include "catalog.h"
#include "config.h"

static struct mm_config *parse(const char *extra)
{
	struct mm_config *c = NULL;
	char text[1024], err[256] = "";

	snprintf(text, sizeof(text), "hash_key_file = /k\n%s", extra);
	if (config_parse(text, strlen(text), &c, err, sizeof(err)) < 0)
		fail_msg("config: %s", err);
	return c;
}

/* Sets "key", "value", ... (NULL-terminated) on reg. */
static void set_all(struct account_registration *reg, ...)
{
	struct fault f = {0};
	va_list ap;
	const char *k;

	va_start(ap, reg);
	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);

		if (account_registration_set(reg, k, v, &f) < 0)
			fail_msg("set %s: %s", k, f.message);
	}
	va_end(ap);
}

static void per(struct account_registration *reg)
{
	memset(reg, 0, sizeof(*reg));
	set_all(reg, "type", "PER", "password", "Pharma#2024", "login_mail", "isabelle.martin@example.org",
		"sn", "MARTIN", "given_name", "Isabelle", "rpps", "10002813839", "profession", "21",
		"liberal", "yes", "postal_code", "81000", "city", "Albi", "region", "Occitanie", "department",
		"81", NULL);
}

/* The fault's field and rule, "ok" when the check passed. */
static const char *check(
	const struct mm_config *c, const struct account_registration *reg, char *out, size_t size)
{
	struct fault f = {0};
	int rc = account_registration_check(c, reg, &f);

	if (rc == 0) {
		snprintf(out, size, "ok");
	} else {
		assert_non_null(f.message);
		snprintf(out, size, "%s/%s", fault_get(&f, "field"), fault_get(&f, "rule"));
	}
	fault_clear(&f);
	return out;
}

static void test_registration_keys_are_the_catalogue_and_the_parameters(void **state)
{
	const char *keys[128];
	int n = account_registration_keys(keys, 128);
	size_t nc;
	const struct cat_attr *all = catalog_all(&nc);
	size_t want = 8;

	(void)state;
	for (size_t i = 0; i < nc; i++)
		want += (all[i].where & CAT_REGISTER) != 0;
	assert_int_equal(n, (int)want);
	assert_null(keys[n]);
	/* "Oui": the member's password goes to its own first step; the form
	 * carries that step's transaction and the code mailed to the member. */
	assert_true(account_registration_knows("member_txn"));
	assert_true(account_registration_knows("member_code"));
	assert_false(account_registration_knows("member_password"));
	assert_true(account_registration_knows("phone2"));
	assert_false(account_registration_knows("status")); /* an attribute, not a registration field */
	assert_false(account_registration_knows("bogus"));
	/* "service" is the socket's PAM service (audit), never a field. */
	assert_true(account_registration_knows("attached_service"));
	assert_false(account_registration_knows("service"));
	assert_int_equal(account_registration_keys(keys, 3), -ENOBUFS);
}

static void test_registration_set_and_get(void **state)
{
	struct account_registration reg = {0};
	struct fault f = {0};

	(void)state;
	assert_int_equal(account_registration_set(&reg, "status", "active", &f), -EINVAL);
	assert_string_equal(fault_get(&f, "field"), "status");
	assert_string_equal(fault_get(&f, "rule"), "unknown");
	fault_clear(&f);
	set_all(&reg, "org_name", "Pharmacie", "city", "Albi", "sn", "", NULL);
	assert_string_equal(reg.org_name, "Pharmacie");
	assert_string_equal(account_registration_get(&reg, "city"), "Albi");
	assert_null(account_registration_get(&reg, "sn")); /* empty: not given */
	assert_null(account_registration_get(&reg, "rpps"));
}

static void test_registration_rules_name_field_and_rule(void **state)
{
	struct mm_config *c = parse("regions_open = Occitanie, Bretagne\n");
	struct account_registration reg;
	char buf[128];
	static const struct {
		const char *key, *value, *want;
	} cases[] = {
		{"rpps", "10002813838", "rpps/check_digit"},
		{"login_mail", "a@b", "login_mail/syntax"},
		{"profession", "99", "profession/unknown"},
		{"region", "Normandie", "region/closed"},
		{"postal_code", "8100", "postal_code/syntax"},
		{"liberal", "oui", "liberal/syntax"},
		{"department", "00", "department/syntax"},
		{"department", "96", "department/syntax"},
		{"sn", "D*)(uid=*", "sn/characters"},
		{"sn", "\xc3\x28", "sn/utf8"},
		{"password", "Abcdefgh1", "password/special"},
		{"password_confirm", "Pharma#2025", "password_confirm/mismatch"},
		{"type", "XYZ", "type/unknown"},
		{"type", "ABCD", "type/max_length"},
		{"adeli", "123456789", "rpps/required"}, /* RPPS and ADELI both */
		{"resp_sn", "X", "resp_sn/not_allowed"}, /* an ORG field on a PER */
		{"region", "", "region/required"},
	};

	(void)state;
	per(&reg);
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "ok");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		per(&reg);
		set_all(&reg, cases[i].key, cases[i].value, NULL);
		assert_string_equal(check(c, &reg, buf, sizeof(buf)), cases[i].want);
	}
	config_free(c);
}

static void test_registration_type_rules(void **state)
{
	struct mm_config *c = parse("");
	struct account_registration reg = {0};
	char buf[128];

	(void)state;
	set_all(&reg, "type", "ORG", "login_mail", "contact@example.org", NULL);
	/* The ORG form has no name field: "Description du compte *" is its first star. */
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "description/required");
	memset(&reg, 0, sizeof(reg));
	set_all(&reg, "type", "INT", "login_mail", "k@example.org", "password", "Pharma#2024", "sn", "BENALI",
		"given_name", "Karim", "profession", "10", "struct_type", "FINESS", "struct_id", "310000121",
		NULL);
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "struct_id/check_digit");
	set_all(&reg, "struct_id", "310000120", NULL);
	/* "Région *": required even with every region open (no regions_open). */
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "region/required");
	set_all(&reg, "region", "Normandie", NULL);
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "ok");
	set_all(&reg, "rpps", "99700427869", NULL);
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "rpps/not_allowed");
	memset(&reg, 0, sizeof(reg));
	set_all(&reg, "type", "MED", "password", "Pharma#2024", "sn", "ROUX", "given_name", "Léa", NULL);
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "login_mail/required");
	config_free(c);
}

/* Issue 14, items 1 and 3, the parameters' rules that need no directory:
 * "Oui" carries the member's transaction and code, never on an individual
 * account; "Créer un compte de connexion" (org) is for a PER, INT or MED,
 * never an ORG; each is bounded and free of control characters. */
static void test_registration_org_connection_account_fields(void **state)
{
	struct mm_config *c = parse("");
	struct account_registration reg;
	char buf[128];

	(void)state;
	per(&reg);
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "ok");
	set_all(&reg, "org", "pharmacie-du-lac", NULL);
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "ok");
	set_all(&reg, "org", "pharmacie\nroot", NULL);
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "org/characters");
	per(&reg);
	set_all(&reg, "member_code", "123456", NULL);
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "member_code/not_allowed");
	memset(&reg, 0, sizeof(reg));
	set_all(&reg, "type", "ORG", "login_mail", "contact@example.org", "description", "Officine",
		"struct_type", "FINESS", "struct_id", "810000034", "resp_sn", "MARTIN", "resp_given_name",
		"Isabelle", "resp_profession", "21", "member", "isabelle.martin", "region", "Occitanie",
		"member_txn", "ab", "member_code", "123456", NULL);
	/* The proof is checked with the directory (account_register), not here. */
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "ok");
	set_all(&reg, "org", "autre-org", NULL);
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "org/not_allowed");
	set_all(&reg, "org", "", "member_code", "12345678901234567", NULL);
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "member_code/max_length");
	config_free(c);
}

/* Guide 000: "Région *" on every form, and "la création de compte est
 * disponible seulement dans les régions où Medimail a été choisi". */
static void test_registration_region_is_required_and_names_the_open_ones(void **state)
{
	struct mm_config *c = parse("regions_open = Occitanie, Bretagne\n");
	struct account_registration reg = {0};
	struct fault f = {0};

	(void)state;
	set_all(&reg, "type", "ORG", "login_mail", "contact@example.org", "org_name", "Pharmacie",
		"description", "Officine", "struct_type", "FINESS", "struct_id", "810000034", "postal_code",
		"81000", "city", "Albi", "resp_sn", "MARTIN", "resp_given_name", "Isabelle",
		"resp_profession", "21", "resp_rpps", "10002813839", "member", "isabelle.martin", NULL);
	assert_int_equal(account_registration_check(c, &reg, &f), -EINVAL);
	assert_string_equal(fault_get(&f, "field"), "region");
	assert_string_equal(fault_get(&f, "rule"), "required");
	assert_string_equal(fault_get(&f, "regions"), "Occitanie, Bretagne");
	fault_clear(&f);
	set_all(&reg, "region", "Normandie", NULL);
	assert_int_equal(account_registration_check(c, &reg, &f), -EINVAL);
	assert_string_equal(fault_get(&f, "rule"), "closed");
	assert_non_null(strstr(f.message, "Normandie"));
	assert_non_null(strstr(f.message, "régions ouvertes : Occitanie, Bretagne"));
	fault_clear(&f);
	set_all(&reg, "region", "  bretagne ", NULL);
	assert_int_equal(account_registration_check(c, &reg, &f), 0);
	config_free(c);
}

/* Guide 000: "Par défaut, votre adresse mail est visible dans l'annuaire
 * Medimail", "Par défaut, l'option dématérialisation est cochée": boxes of
 * the form, yes or no. */
static void test_registration_boxes_are_choices(void **state)
{
	struct mm_config *c = parse("");
	struct account_registration reg;
	char buf[128];

	(void)state;
	per(&reg);
	set_all(&reg, "visible_medimail", "no", "visible_mssante", "no", "dematerialisation", "no", NULL);
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "ok");
	assert_string_equal(account_registration_get(&reg, "visible_medimail"), "no");
	set_all(&reg, "dematerialisation", "oui", NULL);
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "dematerialisation/syntax");
	set_all(&reg, "dematerialisation", " yes ", NULL);
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "ok");
	memset(&reg, 0, sizeof(reg));
	set_all(&reg, "type", "MED", "password", "Pharma#2024", "login_mail", "lea@example.org", "sn", "ROUX",
		"given_name", "Léa", "region", "Occitanie", "visible_medimail", "no", NULL);
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "ok");
	set_all(&reg, "visible_mssante", "yes", NULL);
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "visible_mssante/not_allowed");
	config_free(c);
}

/* Issue 14: "an RPPS printed with spaces (100 028 138 39) is normalised, not
 * refused"; "a profession given by its label or slug (pharmacien, Médecin) is
 * accepted, and an unknown one is refused with the list of valid ones";
 * "names are trimmed and inner runs of spaces collapsed before they are
 * stored". */
static void test_registration_takes_what_a_person_types(void **state)
{
	struct mm_config *c = parse("regions_open = Occitanie\n");
	struct account_registration reg;
	struct fault f = {0};
	char buf[128];

	(void)state;
	per(&reg);
	set_all(&reg, "rpps", "100 028 138 39", "profession", "pharmacien", "sn", "  DURAND   DE  LA  TOUR ",
		"given_name", " Jean  Pierre", "city", " Albi ", "login_mail", " jean.durand@example.org ",
		"struct_type", "FINESS", "struct_id", "810 000 034", NULL);
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "ok");
	assert_string_equal(account_registration_get(&reg, "rpps"), "10002813839");
	assert_string_equal(account_registration_get(&reg, "profession"), "21");
	assert_string_equal(account_registration_get(&reg, "sn"), "DURAND DE LA TOUR");
	assert_string_equal(account_registration_get(&reg, "given_name"), "Jean Pierre");
	assert_string_equal(account_registration_get(&reg, "city"), "Albi");
	assert_string_equal(account_registration_get(&reg, "login_mail"), "jean.durand@example.org");
	assert_string_equal(account_registration_get(&reg, "struct_id"), "810000034");
	set_all(&reg, "profession", "Médecin", NULL);
	assert_string_equal(account_registration_get(&reg, "profession"), "10");
	/* A name of spaces only is no name. */
	set_all(&reg, "sn", "    ", NULL);
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "sn/required");
	/* An unknown profession: the list, not "4 caractères au plus". */
	per(&reg);
	set_all(&reg, "profession", "Boulanger", NULL);
	assert_int_equal(account_registration_check(c, &reg, &f), -EINVAL);
	assert_string_equal(fault_get(&f, "field"), "profession");
	assert_string_equal(fault_get(&f, "rule"), "unknown");
	assert_non_null(strstr(f.message, "Médecin (10)"));
	assert_non_null(strstr(f.message, "Pharmacien (21)"));
	assert_null(strstr(f.message, "caractères au plus"));
	fault_clear(&f);
	/* What normalising must not let through: a newline, a wrong key, a long value. */
	per(&reg);
	set_all(&reg, "sn", " DUR\nAND ", NULL);
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "sn/characters");
	per(&reg);
	set_all(&reg, "rpps", "100 028 138 38", NULL);
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "rpps/check_digit");
	per(&reg);
	set_all(&reg, "rpps", "100 028 138 39 1", NULL);
	assert_string_equal(check(c, &reg, buf, sizeof(buf)), "rpps/max_length");
	per(&reg);
	{
		char big[300];

		memset(big, 'A', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		set_all(&reg, "given_name", big, NULL);
		assert_string_equal(check(c, &reg, buf, sizeof(buf)), "given_name/max_length");
	}
	config_free(c);
}

/* The same canonical forms for the profile ("Gérer mon compte"): the catalogue's. */
static void test_catalog_normalize(void **state)
{
	static const struct {
		const char *key, *in, *out;
	} cases[] = {
		{"sn", "  DURAND   Jean ", "DURAND Jean"},
		{"city", "Saint  Affrique", "Saint Affrique"},
		{"rpps", "100 028 138 39", "10002813839"},
		{"resp_rpps", " 10002813839 ", "10002813839"},
		{"adeli", "81 123 456 7", "811234567"},
		{"struct_id", "356 000 000 00048", "35600000000048"},
		{"profession", "Pharmacien", "21"},
		{"profession", " sage  femme ", "50"},
		{"profession", "Boulanger", "Boulanger"},
		{"resp_profession", "médecin", "10"},
		{"street", " 1  place du Vigan ", "1 place du Vigan"},
		{"phone", " 05 63 00 00 01 ", "05 63 00 00 01"},
		{"status", " active ", " active "},
	};
	char out[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct cat_attr *a = catalog_find(cases[i].key);

		assert_non_null(a);
		assert_true(catalog_normalize(a, cases[i].in, out, sizeof(out)) >= 0);
		assert_string_equal(out, cases[i].out);
	}
	assert_int_equal(catalog_normalize(catalog_find("sn"), "\xc3\x28", out, sizeof(out)), -EINVAL);
	assert_int_equal(catalog_normalize(catalog_find("sn"), "DURAND", out, 4), -ENOSPC);
}

/* ----------------------------------------------------------- show, list */

struct collect {
	char text[2048];
};

static void collect(void *ctx, const char *key, const char *value)
{
	struct collect *c = ctx;
	size_t n = strlen(c->text);

	if (value)
		snprintf(c->text + n, sizeof(c->text) - n, "%s=%s;", key, value);
}

static void test_show_and_list_through_the_catalogue(void **state)
{
	char *phones[] = {"05 63 00 00 01", "06 00 00 00 02"}, *uid[] = {"isabelle.martin"},
	     *type[] = {"PER"}, *status[] = {"active"}, *mail[] = {"i@example.org"}, *pw[] = {"{ARGON2}x"},
	     *member[] = {"uid=lea.roux,ou=people,dc=x"}, *city[] = {"Albi"};
	struct attr attrs[] = {
		{"uid", 1, uid},
		{"mmAccountType", 1, type},
		{"mmStatus", 1, status},
		{"mmLoginMail", 1, mail},
		{"telephoneNumber", 2, phones},
		{"userPassword", 1, pw},
		{"mmMember", 1, member},
		{"l", 1, city},
	};
	struct entry e = {.dn = "uid=isabelle.martin,ou=people,dc=x", .nattrs = 8, .attrs = attrs};
	struct collect full = {""}, summary = {""};

	(void)state;
	account_fields(&e, true, collect, &full);
	assert_string_equal(full.text,
		"login=isabelle.martin;type=PER;status=active;login_mail=i@example.org;"
		"phone=05 63 00 00 01;phone=06 00 00 00 02;city=Albi;"
		"type_label=Compte Personnel : professionnel de santé avec RPPS, adresse MSSanté dans "
		"l'annuaire "
		"santé;member=lea.roux;");
	account_fields(&e, false, collect, &summary);
	assert_string_equal(
		summary.text, "login=isabelle.martin;type=PER;status=active;login_mail=i@example.org;");
}

static void test_show_reads_the_catalogue_attributes(void **state)
{
	const char **want = catalog_attrs(CAT_SHOW);
	size_t i;

	(void)state;
	assert_non_null(want);
	for (i = 0; want[i]; i++) {
		assert_non_null(account_show_attrs[i]);
		assert_string_equal(account_show_attrs[i], want[i]);
	}
	assert_null(account_show_attrs[i]);
	for (i = 0; account_show_attrs[i]; i++)
		assert_true(strcasecmp(account_show_attrs[i], "userPassword") &&
			strcasecmp(account_show_attrs[i], "mmConfirmHash"));
	free(want);
}

/* Guide 000: a BAL INT is a "compte pouvant donner lieu à une adresse
 * MSSanté": VALIDATE's mss is yes, no or not said, nothing else. */
static void test_validate_mss_pouvant_donner_lieu_is_yes_no_or_unsaid(void **state)
{
	static const char *const bad[] = {"oui", "YES", " yes", "yes\nno", "1", "true", NULL};
	enum account_mss m = ACCOUNT_MSS_YES;
	struct fault f = {0};

	(void)state;
	assert_int_equal(account_mss_parse(NULL, &m, &f), 0);
	assert_int_equal(m, ACCOUNT_MSS_DEFAULT);
	assert_int_equal(account_mss_parse("yes", &m, &f), 0);
	assert_int_equal(m, ACCOUNT_MSS_YES);
	assert_int_equal(account_mss_parse("no", &m, &f), 0);
	assert_int_equal(m, ACCOUNT_MSS_NO);
	assert_int_equal(f.status, 0);
	for (size_t i = 0; bad[i]; i++) {
		assert_int_equal(account_mss_parse(bad[i], &m, &f), -EINVAL);
		assert_string_equal(fault_get(&f, "field"), "mss");
		assert_string_equal(fault_get(&f, "rule"), "yes_no");
		fault_clear(&f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registration_keys_are_the_catalogue_and_the_parameters),
		cmocka_unit_test(test_registration_set_and_get),
		cmocka_unit_test(test_registration_rules_name_field_and_rule),
		cmocka_unit_test(test_registration_type_rules),
		cmocka_unit_test(test_registration_org_connection_account_fields),
		cmocka_unit_test(test_registration_region_is_required_and_names_the_open_ones),
		cmocka_unit_test(test_registration_boxes_are_choices),
		cmocka_unit_test(test_registration_takes_what_a_person_types),
		cmocka_unit_test(test_catalog_normalize),
		cmocka_unit_test(test_show_and_list_through_the_catalogue),
		cmocka_unit_test(test_show_reads_the_catalogue_attributes),
		cmocka_unit_test(test_validate_mss_pouvant_donner_lieu_is_yes_no_or_unsaid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
