/* Unit tests for address and login derivation (authd/core/address.c). */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "address.h"
#include "validate.h"

static void fill(char *buf, char c, size_t n)
{
	memset(buf, c, n);
	buf[n] = '\0';
}

static void expect_fold(const char *in, char sep, const char *expected)
{
	char out[256];

	assert_int_equal(text_fold(in, sep, out, sizeof(out)), (int)strlen(expected));
	assert_string_equal(out, expected);
}

static void test_fold_accents(void **state)
{
	const char *name = "\xc3\x89lo\xc3\xafse \xc5\x92uvrard-M\xc3\xbcller";

	expect_fold(name, '.', "eloise.oeuvrard.muller");
	expect_fold(name, '-', "eloise-oeuvrard-muller");
	expect_fold(name, ' ', "eloise oeuvrard muller");
	expect_fold("Fran\xc3\xa7oise", '.', "francoise");
	expect_fold("\xc3\x80\xc3\x81\xc3\x82\xc3\x83\xc3\x84\xc3\x85", '.', "aaaaaa");
	expect_fold("\xc3\xa8\xc3\xa9\xc3\xaa\xc3\xab", '.', "eeee");
	expect_fold("\xc3\xac\xc3\xad\xc3\xae\xc3\xaf", '.', "iiii");
	expect_fold("\xc3\xb2\xc3\xb3\xc3\xb4\xc3\xb5\xc3\xb6\xc3\xb8", '.', "oooooo");
	expect_fold("\xc3\xb9\xc3\xba\xc3\xbb\xc3\xbc", '.', "uuuu");
	expect_fold("Stra\xc3\x9f"
		    "e",
		'.', "strasse");
	expect_fold("\xc3\x86gir \xc3\xa6on", '.', "aegir.aeon");
	expect_fold("C\xc5\x93ur \xc5\x92"
		    "dipe",
		'.', "coeur.oedipe");
	expect_fold("Ha\xc3\xbf \xc5\xb8", '.', "hay.y");
	expect_fold("\xc3\x9e\xc3\xb3r \xc3\xb0\xc3\x90", '.', "thor.dd");
	expect_fold("\xc3\x91\xc3\xb1"
		    "o",
		'.', "nno");
	expect_fold("\xc3\x9d\xc3\xbd", '.', "yy");
	expect_fold("\xc5\x81ukasz \xc5\xbb\xc3\xb3\xc5\x82w", '.', "lukasz.zolw");
	expect_fold("\xc4\xb2ssel", '.', "ijssel");
	expect_fold("\xc5\xa0koda \xc4\x8c\xc4\x9bsk\xc3\xa9", '.', "skoda.ceske");
	expect_fold("\xc4\x9e\xc4\xb0\xc4\xb1\xc5\x9e", '.', "giis");
	expect_fold("\xc5\xbf\xc4\xb8\xc5\x89", '.', "skn");
	expect_fold("\xc4\x80\xc5\xbe", '.', "az");
}

static void test_fold_separators(void **state)
{
	expect_fold("Jean", '.', "jean");
	expect_fold("DURAND d'Arc", '-', "durand-d-arc");
	expect_fold("d\xe2\x80\x99"
		    "Arc",
		'-', "d-arc");
	expect_fold("  --Jean--  ", '-', "jean");
	expect_fold("Jean - - Paul", '.', "jean.paul");
	expect_fold("Pharmacie 2000", '.', "pharmacie.2000");
	expect_fold("A\xc3\x97"
		    "B\xc3\xb7"
		    "C",
		'.', "a.b.c");
	expect_fold("a\xc2\xa0"
		    "b",
		'.', "a.b");
	/* Unknown non-ASCII code points are separators. */
	expect_fold("a\xe2\x82\xac"
		    "b",
		'.', "a.b");
	expect_fold("\xce\xb1\xce\xb2 Jean \xf0\x9f\x98\x80", '.', "jean");
	expect_fold("", '.', "");
	expect_fold("--- ''' ...", '.', "");
	expect_fold("a\tb\nc", '_', "a_b_c");
}

static void test_fold_errors(void **state)
{
	char out[16];

	assert_int_equal(text_fold("Jean\xc3\x28", '.', out, sizeof(out)), -EINVAL);
	assert_int_equal(text_fold("\xc0\xaf", '.', out, sizeof(out)), -EINVAL);
	assert_int_equal(text_fold("\xed\xa0\x80", '.', out, sizeof(out)), -EINVAL);
	assert_int_equal(text_fold("\xff", '.', out, sizeof(out)), -EINVAL);
	assert_int_equal(text_fold(NULL, '.', out, sizeof(out)), -EINVAL);
	assert_int_equal(text_fold("a", '.', NULL, 0), -EINVAL);
	assert_int_equal(text_fold("a", 'x', out, sizeof(out)), -EINVAL);
	assert_int_equal(text_fold("a", '0', out, sizeof(out)), -EINVAL);
	assert_int_equal(text_fold("a", '\0', out, sizeof(out)), -EINVAL);
	assert_int_equal(text_fold("a", '\n', out, sizeof(out)), -EINVAL);

	/* Exactly fitting, then one byte short: out is untouched. */
	assert_int_equal(text_fold("\xc3\x89lo\xc3\xafse", '.', out, 7), 6);
	assert_string_equal(out, "eloise");
	strcpy(out, "keep");
	assert_int_equal(text_fold("\xc3\x89lo\xc3\xafse", '.', out, 6), -ENOSPC);
	assert_string_equal(out, "keep");
	assert_int_equal(text_fold("", '.', out, 0), -ENOSPC);
	assert_int_equal(text_fold("", '.', out, 1), 0);
	assert_string_equal(out, "");
}

static void expect_person(const char *given, const char *sn, const char *domain, const char *expected)
{
	char out[300];

	assert_int_equal(address_person(given, sn, domain, out, sizeof(out)), (int)strlen(expected));
	assert_string_equal(out, expected);
	assert_int_equal(validate_email(out), 0);
}

static void test_address_person(void **state)
{
	char g[100], s[100], expected[100];
	char out[300];

	expect_person("Jean-\xc3\x89ric", "DURAND d'Arc", "pharmacien.oc.mssante.fr",
		"jean-eric.durand-d-arc@pharmacien.oc.mssante.fr");
	expect_person("Jean", "Dupont", "Hopital-A.MSSante.fr", "jean.dupont@hopital-a.mssante.fr");
	expect_person("\xc3\x89lo\xc3\xafse", "\xc5\x92uvrard-M\xc3\xbcller", "medecin.mssante.fr",
		"eloise.oeuvrard-muller@medecin.mssante.fr");
	expect_person("", "Dupont", "a.fr", "dupont@a.fr");
	expect_person(NULL, "Dupont", "a.fr", "dupont@a.fr");
	expect_person("---", "Dupont", "a.fr", "dupont@a.fr");

	/* Both long: the given name keeps 31, the family name the rest. */
	fill(g, 'a', 40);
	fill(s, 'b', 40);
	strcpy(expected, g);
	expected[31] = '.';
	fill(expected + 32, 'b', 32);
	strcat(expected, "@a.fr");
	expect_person(g, s, "a.fr", expected);

	/* A cut never leaves a '-' at the end of a part. */
	fill(g, 'a', 30);
	strcat(g, " bbb");
	fill(s, 'c', 40);
	fill(expected, 'a', 30);
	strcat(expected, ".");
	fill(expected + 31, 'c', 33);
	strcat(expected, "@a.fr");
	expect_person(g, s, "a.fr", expected);

	/* A short family name leaves room to the given name. */
	fill(g, 'a', 70);
	fill(expected, 'a', 57);
	strcat(expected, ".durand@a.fr");
	expect_person(g, "Durand", "a.fr", expected);

	/* A long family name alone is capped at 64. */
	fill(s, 'b', 70);
	fill(expected, 'b', 64);
	strcat(expected, "@a.fr");
	expect_person("", s, "a.fr", expected);

	assert_int_equal(address_person("Jean", "", "a.fr", out, sizeof(out)), -EINVAL);
	assert_int_equal(address_person("Jean", "'", "a.fr", out, sizeof(out)), -EINVAL);
	assert_int_equal(address_person("Jean", NULL, "a.fr", out, sizeof(out)), -EINVAL);
	assert_int_equal(address_person("Jean\xc3\x28", "Dupont", "a.fr", out, sizeof(out)), -EINVAL);
	assert_int_equal(address_person("Jean", "Dupont", "localhost", out, sizeof(out)), -EINVAL);
	assert_int_equal(address_person("Jean", "Dupont", "a..fr", out, sizeof(out)), -EINVAL);
	assert_int_equal(address_person("Jean", "Dupont", "", out, sizeof(out)), -EINVAL);
	assert_int_equal(address_person("Jean", "Dupont", NULL, out, sizeof(out)), -EINVAL);
	assert_int_equal(address_person("Jean", "Dupont", "a.fr", NULL, 0), -EINVAL);

	strcpy(out, "keep");
	assert_int_equal(address_person("Jean", "Dupont", "a.fr", out, 16), -ENOSPC);
	assert_string_equal(out, "keep");
	assert_int_equal(address_person("Jean", "Dupont", "a.fr", out, 17), 16);
	assert_string_equal(out, "jean.dupont@a.fr");
}

static void expect_org(
	const char *name, const char *pc, const char *city, const char *domain, const char *expected)
{
	char out[300];

	assert_int_equal(address_org(name, pc, city, domain, out, sizeof(out)), (int)strlen(expected));
	assert_string_equal(out, expected);
	assert_int_equal(validate_email(out), 0);
}

static void test_address_org(void **state)
{
	char name[200], city[100], expected[200];
	char out[300];

	expect_org("Pharmacie du Centre", "81000", "Albi", "pharmacien.oc.mssante.fr",
		"pharmacie.du.centre.81000.albi@pharmacien.oc.mssante.fr");
	expect_org("Centre Hospitalier d'Annecy-Genevois", "74370", "\xc3\x89pagny Metz-Tessy",
		"ch.mssante.fr",
		"centre.hospitalier.d.annecy.genevois.74370.epagny.metz.tessy@ch.mssante.fr");

	/* Long name: cut to fit 64 (53 bytes of name here)... */
	strcpy(name, "");
	for (int i = 0; i < 8; i++)
		strcat(name, "Pharmacie ");
	strcpy(expected, "pharmacie.pharmacie.pharmacie.pharmacie.pharmacie.pha");
	strcat(expected, ".81000.albi@a.fr");
	expect_org(name, "81000", "Albi", "a.fr", expected);
	/* ... and no '.' left at the cut. */
	expect_org("Pharmacie des Quatre Chemins et du Grand Boulevard A Sud", "81000", "Albi", "a.fr",
		"pharmacie.des.quatre.chemins.et.du.grand.boulevard.a.81000.albi@a.fr");

	/* Long city: capped at 32, the name keeps the rest. */
	fill(city, 'c', 50);
	fill(name, 'n', 50);
	fill(expected, 'n', 25);
	strcat(expected, ".81000.");
	fill(expected + 32, 'c', 32);
	strcat(expected, "@a.fr");
	expect_org(name, "81000", city, "a.fr", expected);

	assert_int_equal(address_org("Pharmacie", "8100", "Albi", "a.fr", out, sizeof(out)), -EINVAL);
	assert_int_equal(address_org("Pharmacie", "2A000", "Ajaccio", "a.fr", out, sizeof(out)), -EINVAL);
	assert_int_equal(address_org("", "81000", "Albi", "a.fr", out, sizeof(out)), -EINVAL);
	assert_int_equal(address_org("- -", "81000", "Albi", "a.fr", out, sizeof(out)), -EINVAL);
	assert_int_equal(address_org("Pharmacie", "81000", "Albi", "fr", out, sizeof(out)), -EINVAL);
	strcpy(out, "keep");
	assert_int_equal(address_org("Pharmacie", "81000", "Albi", "a.fr", out, 10), -ENOSPC);
	assert_string_equal(out, "keep");
}

/* Guides 001/002: "Adresse", "Ville", "Code postal" carry no star on the ORG
 * form, while the address is "Nom de la pharmacie, code postal, commune + nom
 * de domaine pharmacien": the parts not given are left out, the rest stays
 * well-formed. */
static void test_address_org_without_postcode_or_city(void **state)
{
	char name[200], expected[200], out[300];

	(void)state;
	expect_org("Pharmacie du Centre", NULL, "Albi", "pharmacien.oc.mssante.fr",
		"pharmacie.du.centre.albi@pharmacien.oc.mssante.fr");
	expect_org("Pharmacie du Centre", "81000", NULL, "pharmacien.oc.mssante.fr",
		"pharmacie.du.centre.81000@pharmacien.oc.mssante.fr");
	expect_org("Pharmacie du Centre", "", "", "pharmacien.oc.mssante.fr",
		"pharmacie.du.centre@pharmacien.oc.mssante.fr");
	expect_org("Pharmacie du Centre", NULL, NULL, "a.fr", "pharmacie.du.centre@a.fr");
	/* A city that folds to nothing is left out too. */
	expect_org("Pharmacie", "81000", "- -", "a.fr", "pharmacie.81000@a.fr");
	/* A long name alone takes the whole 64 bytes, no '.' left at the cut. */
	fill(name, 'n', 100);
	fill(expected, 'n', 64);
	strcat(expected, "@a.fr");
	expect_org(name, NULL, NULL, "a.fr", expected);
	/* A postcode given is still checked; a name is still needed. */
	assert_int_equal(address_org("Pharmacie", "8100", NULL, "a.fr", out, sizeof(out)), -EINVAL);
	assert_int_equal(address_org("Pharmacie", "81000\n", NULL, "a.fr", out, sizeof(out)), -EINVAL);
	assert_int_equal(address_org(NULL, NULL, NULL, "a.fr", out, sizeof(out)), -EINVAL);
	assert_int_equal(address_org("- -", NULL, NULL, "a.fr", out, sizeof(out)), -EINVAL);
	assert_int_equal(address_org("Pharmacie", NULL, "Albi\xff", "a.fr", out, sizeof(out)), -EINVAL);
}

static void expect_mail(const char *mail, const char *domain, const char *expected)
{
	char out[300];

	assert_int_equal(address_mail(mail, domain, out, sizeof(out)), (int)strlen(expected));
	assert_string_equal(out, expected);
	assert_int_equal(validate_email(out), 0);
}

/* Guide 000: "C'est sur la base de l'adresse mail saisie que sera ensuite
 * définie l'adresse MSS"; fiche réflexe: clagarde@iess.fr beside
 * clagarde@iess.mssante.fr. */
static void test_address_mail_local_part_of_the_mail_entered(void **state)
{
	char mail[300], expected[300], out[300];

	(void)state;
	expect_mail("clagarde@iess.fr", "iess.mssante.fr", "clagarde@iess.mssante.fr");
	expect_mail(
		"jean.durand@gmail.com", "pharmacien.oc.mssante.fr", "jean.durand@pharmacien.oc.mssante.fr");
	/* Folded as names are: case, accents, separators. */
	expect_mail("CLagarde@IESS.fr", "Iess.Mssante.fr", "clagarde@iess.mssante.fr");
	expect_mail("pharmacie-du-centre-albi@gmail.com", "a.fr", "pharmacie.du.centre.albi@a.fr");
	expect_mail("jean_durand+medimail@gmail.com", "a.fr", "jean.durand.medimail@a.fr");
	expect_mail("dr.dupont2@x.fr", "a.fr", "dr.dupont2@a.fr");
	/* A 64-byte local part stays whole. */
	fill(mail, 'm', 64);
	strcat(mail, "@x.fr");
	fill(expected, 'm', 64);
	strcat(expected, "@a.fr");
	expect_mail(mail, "a.fr", expected);

	/* Not usable: no letter, nothing left after folding: the caller uses prenom.nom. */
	assert_int_equal(address_mail("0612345678@x.fr", "a.fr", out, sizeof(out)), -EINVAL);
	assert_int_equal(address_mail("1.2-3@x.fr", "a.fr", out, sizeof(out)), -EINVAL);
	assert_int_equal(address_mail("--@x.fr", "a.fr", out, sizeof(out)), -EINVAL);
	/* The attacker's values: invalid mail, newline, oversized, no domain. */
	assert_int_equal(address_mail(NULL, "a.fr", out, sizeof(out)), -EINVAL);
	assert_int_equal(address_mail("clagarde", "a.fr", out, sizeof(out)), -EINVAL);
	assert_int_equal(address_mail("cla\ngarde@x.fr", "a.fr", out, sizeof(out)), -EINVAL);
	assert_int_equal(address_mail("clagarde@x.fr\n", "a.fr", out, sizeof(out)), -EINVAL);
	fill(mail, 'm', 65);
	strcat(mail, "@x.fr");
	assert_int_equal(address_mail(mail, "a.fr", out, sizeof(out)), -EINVAL);
	assert_int_equal(address_mail("clagarde@iess.fr", "fr", out, sizeof(out)), -EINVAL);
	assert_int_equal(address_mail("clagarde@iess.fr", NULL, out, sizeof(out)), -EINVAL);
	assert_int_equal(address_mail("clagarde@iess.fr", "a\nb.fr", out, sizeof(out)), -EINVAL);
	strcpy(out, "keep");
	assert_int_equal(address_mail("clagarde@iess.fr", "a.fr", out, 8), -ENOSPC);
	assert_string_equal(out, "keep");
}

static void expect_candidate(const char *base, unsigned n, const char *expected)
{
	char out[300];

	assert_int_equal(address_candidate(base, n, out, sizeof(out)), (int)strlen(expected));
	assert_string_equal(out, expected);
	assert_int_equal(validate_email(out), 0);
}

static void test_address_candidate(void **state)
{
	char base[300], expected[300], out[300];

	expect_candidate("jean.durand@dom.fr", 1, "jean.durand@dom.fr");
	expect_candidate("jean.durand@dom.fr", 2, "jean.durand2@dom.fr");
	expect_candidate("jean.durand@dom.fr", 10, "jean.durand10@dom.fr");
	expect_candidate("jean.durand@dom.fr", UINT_MAX, "jean.durand4294967295@dom.fr");

	fill(base, 'a', 64);
	strcat(base, "@a.fr");
	fill(expected, 'a', 63);
	strcat(expected, "2@a.fr");
	expect_candidate(base, 2, expected);
	fill(expected, 'a', 61);
	strcat(expected, "123@a.fr");
	expect_candidate(base, 123, expected);

	/* The cut drops a separator before the number. */
	fill(base, 'a', 60);
	strcat(base, ".bbb@a.fr");
	fill(expected, 'a', 60);
	strcat(expected, "123@a.fr");
	expect_candidate(base, 123, expected);

	/* Deterministic: the same n gives the same candidate. */
	assert_int_equal(address_candidate("x@a.fr", 7, out, sizeof(out)), 7);
	assert_string_equal(out, "x7@a.fr");
	assert_int_equal(address_candidate("x@a.fr", 7, out, sizeof(out)), 7);
	assert_string_equal(out, "x7@a.fr");

	assert_int_equal(address_candidate("jean.durand@dom.fr", 0, out, sizeof(out)), -EINVAL);
	assert_int_equal(address_candidate("jean.durand", 2, out, sizeof(out)), -EINVAL);
	assert_int_equal(address_candidate("", 2, out, sizeof(out)), -EINVAL);
	assert_int_equal(address_candidate(NULL, 2, out, sizeof(out)), -EINVAL);
	assert_int_equal(address_candidate("a@a.fr", 2, NULL, 0), -EINVAL);
	strcpy(out, "keep");
	assert_int_equal(address_candidate("a@a.fr", 2, out, 7), -ENOSPC);
	assert_string_equal(out, "keep");
	assert_int_equal(address_candidate("a@a.fr", 1, out, 6), -ENOSPC);
	assert_string_equal(out, "keep");
	assert_int_equal(address_candidate("a@a.fr", 2, out, 8), 7);
	assert_string_equal(out, "a2@a.fr");

	/* A 254-byte address cannot grow. */
	strcpy(base, "a@");
	for (int i = 0; i < 3; i++) {
		size_t l = strlen(base);
		fill(base + l, 'c', 63);
		strcat(base, ".");
	}
	fill(base + strlen(base), 'd', 57);
	strcat(base, ".fr");
	assert_int_equal(strlen(base), 254);
	assert_int_equal(validate_email(base), 0);
	assert_int_equal(address_candidate(base, 2, out, sizeof(out)), -EINVAL);
}

static void expect_login_person(const char *given, const char *sn, const char *expected)
{
	char out[64];

	assert_int_equal(login_person(given, sn, out, sizeof(out)), (int)strlen(expected));
	assert_string_equal(out, expected);
	assert_true(strlen(out) <= MM_LOGIN_MAX);
}

static void test_login_person(void **state)
{
	char g[100], s[100], expected[100], out[64];

	expect_login_person("Jean-\xc3\x89ric", "DURAND d'Arc", "jean-eric.durand-d-arc");
	expect_login_person("Jean", "Dupont", "jean.dupont");
	expect_login_person("", "Dupont", "dupont");
	expect_login_person("\xc3\x89lo\xc3\xafse", "\xc5\x92uvrard-M\xc3\xbcller", "eloise.oeuvrard-muller");
	expect_login_person("Marie-Christine-Alexandra", "de La Rochefoucauld-Montmorency",
		"marie-christine.de-la-rochefouca");
	fill(g, 'a', 10);
	fill(s, 'b', 40);
	fill(expected, 'a', 10);
	strcat(expected, ".");
	fill(expected + 11, 'b', 21);
	expect_login_person(g, s, expected);
	fill(g, 'a', 40);
	fill(expected, 'a', 27);
	strcat(expected, ".dupe");
	expect_login_person(g, "Dupe", expected);

	assert_int_equal(login_person("2Pac", "Shakur", out, sizeof(out)), -EINVAL);
	assert_int_equal(login_person("", "1er", out, sizeof(out)), -EINVAL);
	assert_int_equal(login_person("Jean", "", out, sizeof(out)), -EINVAL);
	assert_int_equal(login_person("Jean", NULL, out, sizeof(out)), -EINVAL);
	assert_int_equal(login_person("Jean", "\xc3\x28", out, sizeof(out)), -EINVAL);
	assert_int_equal(login_person("Jean", "Dupont", NULL, 0), -EINVAL);
	strcpy(out, "keep");
	assert_int_equal(login_person("Jean", "Dupont", out, 11), -ENOSPC);
	assert_string_equal(out, "keep");
	assert_int_equal(login_person("Jean", "Dupont", out, 12), 11);
}

static void test_login_org(void **state)
{
	char name[100], expected[64], out[64];

	assert_int_equal(login_org("Pharmacie du Centre", out, sizeof(out)), 19);
	assert_string_equal(out, "pharmacie-du-centre");
	assert_int_equal(login_org("Centre Hospitalier d'Annecy-Genevois", out, sizeof(out)), 32);
	assert_string_equal(out, "centre-hospitalier-d-annecy-gene");
	/* The cut falls on a separator: it is dropped. */
	assert_int_equal(login_org("Centre Hospitalier de Haute Vie Sud", out, sizeof(out)), 31);
	assert_string_equal(out, "centre-hospitalier-de-haute-vie");
	strcpy(name,
		"Laboratoire d'Analyses M\xc3\xa9"
		"dicales Sainte-\xc3\x89lo\xc3\xafse");
	assert_int_equal(login_org(name, out, sizeof(out)), 32);
	assert_string_equal(out, "laboratoire-d-analyses-medicales");
	fill(name, 'x', 33);
	fill(expected, 'x', 32);
	assert_int_equal(login_org(name, out, sizeof(out)), 32);
	assert_string_equal(out, expected);

	assert_int_equal(login_org("123 Sant\xc3\xa9", out, sizeof(out)), -EINVAL);
	assert_int_equal(login_org("", out, sizeof(out)), -EINVAL);
	assert_int_equal(login_org("...", out, sizeof(out)), -EINVAL);
	assert_int_equal(login_org(NULL, out, sizeof(out)), -EINVAL);
	assert_int_equal(login_org("Ab\xc0\xaf", out, sizeof(out)), -EINVAL);
	strcpy(out, "keep");
	assert_int_equal(login_org("Pharmacie", out, 9), -ENOSPC);
	assert_string_equal(out, "keep");
}

static void test_login_candidate(void **state)
{
	char base[64], expected[64], out[64];

	assert_int_equal(login_candidate("jean.durand", 1, out, sizeof(out)), 11);
	assert_string_equal(out, "jean.durand");
	assert_int_equal(login_candidate("jean.durand", 2, out, sizeof(out)), 12);
	assert_string_equal(out, "jean.durand2");
	assert_int_equal(login_candidate("jean.durand", 42, out, sizeof(out)), 13);
	assert_string_equal(out, "jean.durand42");

	fill(base, 'a', 32);
	fill(expected, 'a', 31);
	strcat(expected, "2");
	assert_int_equal(login_candidate(base, 2, out, sizeof(out)), 32);
	assert_string_equal(out, expected);
	fill(expected, 'a', 22);
	strcat(expected, "4294967295");
	assert_int_equal(login_candidate(base, UINT_MAX, out, sizeof(out)), 32);
	assert_string_equal(out, expected);

	fill(base, 'a', 29);
	strcat(base, "-bb");
	fill(expected, 'a', 29);
	strcat(expected, "10");
	assert_int_equal(login_candidate(base, 10, out, sizeof(out)), 31);
	assert_string_equal(out, expected);

	assert_int_equal(login_candidate("jean.durand", 0, out, sizeof(out)), -EINVAL);
	assert_int_equal(login_candidate("Jean", 2, out, sizeof(out)), -EINVAL);
	assert_int_equal(login_candidate("1jean", 2, out, sizeof(out)), -EINVAL);
	assert_int_equal(login_candidate("jean durand", 2, out, sizeof(out)), -EINVAL);
	assert_int_equal(login_candidate("", 2, out, sizeof(out)), -EINVAL);
	assert_int_equal(login_candidate(NULL, 2, out, sizeof(out)), -EINVAL);
	fill(base, 'a', 33);
	assert_int_equal(login_candidate(base, 2, out, sizeof(out)), -EINVAL);
	strcpy(out, "keep");
	assert_int_equal(login_candidate("jean", 2, out, 5), -ENOSPC);
	assert_string_equal(out, "keep");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fold_accents),
		cmocka_unit_test(test_fold_separators),
		cmocka_unit_test(test_fold_errors),
		cmocka_unit_test(test_address_person),
		cmocka_unit_test(test_address_org),
		cmocka_unit_test(test_address_org_without_postcode_or_city),
		cmocka_unit_test(test_address_mail_local_part_of_the_mail_entered),
		cmocka_unit_test(test_address_candidate),
		cmocka_unit_test(test_login_person),
		cmocka_unit_test(test_login_org),
		cmocka_unit_test(test_login_candidate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
