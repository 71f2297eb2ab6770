/* Unit tests for the field validators (authd/core/validate.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "validate.h"

static void test_luhn(void **state)
{
	assert_int_equal(mm_luhn_valid("0"), 1);
	assert_int_equal(mm_luhn_valid("18"), 1);
	assert_int_equal(mm_luhn_valid("79927398713"), 1);
	assert_int_equal(mm_luhn_valid("79927398710"), 0);
	assert_int_equal(mm_luhn_valid(""), 0);
	assert_int_equal(mm_luhn_valid(NULL), 0);
	assert_int_equal(mm_luhn_valid("1a8"), 0);
	assert_int_equal(mm_luhn_valid(" 18"), 0);
}

static void test_rpps(void **state)
{
	assert_int_equal(validate_rpps("10002813839"), 0);
	assert_int_equal(validate_rpps("10001045367"), 0);
	assert_int_equal(validate_rpps("99700427869"), 0);
	/* One digit changed or two swapped. */
	assert_int_equal(validate_rpps("10002813838"), -EINVAL);
	assert_int_equal(validate_rpps("10002813849"), -EINVAL);
	assert_int_equal(validate_rpps("01002813839"), -EINVAL);
	/* Length and shape. */
	assert_int_equal(validate_rpps("1000281383"), -EINVAL);
	assert_int_equal(validate_rpps("100028138390"), -EINVAL);
	assert_int_equal(validate_rpps("810002813839"), -EINVAL);
	assert_int_equal(validate_rpps("1000281383a"), -EINVAL);
	assert_int_equal(validate_rpps(" 10002813839"), -EINVAL);
	assert_int_equal(validate_rpps(""), -EINVAL);
	assert_int_equal(validate_rpps(NULL), -EINVAL);
	/* A NUL inside ends the string. */
	assert_int_equal(validate_rpps("10002\00013839"), -EINVAL);
}

static void test_adeli(void **state)
{
	assert_int_equal(validate_adeli("751012345"), 0);
	assert_int_equal(validate_adeli("2A1234567"), 0);
	assert_int_equal(validate_adeli("abcdefghi"), 0);
	assert_int_equal(validate_adeli("75101234"), -EINVAL);
	assert_int_equal(validate_adeli("7510123456"), -EINVAL);
	assert_int_equal(validate_adeli("75101234-"), -EINVAL);
	assert_int_equal(validate_adeli("7510 2345"), -EINVAL);
	assert_int_equal(validate_adeli("75101234\xc3\xa9"), -EINVAL);
	assert_int_equal(validate_adeli(""), -EINVAL);
	assert_int_equal(validate_adeli(NULL), -EINVAL);
}

static void test_finess(void **state)
{
	assert_int_equal(validate_finess("750712184"), 0);
	assert_int_equal(validate_finess("130783236"), 0);
	assert_int_equal(validate_finess("330781014"), 0);
	assert_int_equal(validate_finess("010001402"), 0);
	assert_int_equal(validate_finess("971000013"), 0);
	/* Corsica: the letter counts as 0 (key as for "20..."). */
	assert_int_equal(validate_finess("2A0000016"), 0);
	assert_int_equal(validate_finess("2B0000016"), 0);
	assert_int_equal(validate_finess("2A0000024"), 0);
	assert_int_equal(validate_finess("200000016"), 0);
	assert_int_equal(validate_finess("2A0000017"), -EINVAL);
	/* Letters only as 2A/2B, uppercase. */
	assert_int_equal(validate_finess("2a0000016"), -EINVAL);
	assert_int_equal(validate_finess("1A0000016"), -EINVAL);
	assert_int_equal(validate_finess("2C0000016"), -EINVAL);
	assert_int_equal(validate_finess("A20000016"), -EINVAL);
	/* Bad key, length. */
	assert_int_equal(validate_finess("750712185"), -EINVAL);
	assert_int_equal(validate_finess("75071218"), -EINVAL);
	assert_int_equal(validate_finess("7507121840"), -EINVAL);
	assert_int_equal(validate_finess(""), -EINVAL);
	assert_int_equal(validate_finess(NULL), -EINVAL);
}

static void test_siren_siret(void **state)
{
	assert_int_equal(validate_siren("732829320"), 0);
	assert_int_equal(validate_siren("552100554"), 0);
	assert_int_equal(validate_siren("356000000"), 0);
	assert_int_equal(validate_siren("732829321"), -EINVAL);
	assert_int_equal(validate_siren("73282932"), -EINVAL);
	assert_int_equal(validate_siren("7328293200"), -EINVAL);
	assert_int_equal(validate_siren("73282932a"), -EINVAL);
	assert_int_equal(validate_siren(NULL), -EINVAL);

	assert_int_equal(validate_siret("73282932000074"), 0);
	assert_int_equal(validate_siret("55210055400013"), 0);
	assert_int_equal(validate_siret("73282932000075"), -EINVAL);
	assert_int_equal(validate_siret("7328293200007"), -EINVAL);
	assert_int_equal(validate_siret("732829320000740"), -EINVAL);
	assert_int_equal(validate_siret("7328293200007x"), -EINVAL);
	assert_int_equal(validate_siret(""), -EINVAL);
	/* La Poste: head office passes Luhn, establishments the digit sum. */
	assert_int_equal(validate_siret("35600000000048"), 0);
	assert_int_equal(validate_siret("35600000000001"), 0);
	assert_int_equal(validate_siret("35600000049837"), 0);
	assert_int_equal(validate_siret("35600000000002"), -EINVAL);
	assert_int_equal(validate_siret("35600000012345"), -EINVAL);
	assert_int_equal(validate_siret("35600000100001"), -EINVAL);
	/* The sum rule is for La Poste only. */
	assert_int_equal(validate_siret("35700000000001"), -EINVAL);
}

static void test_struct_id(void **state)
{
	assert_int_equal(validate_struct_id("FINESS", "750712184"), 0);
	assert_int_equal(validate_struct_id("SIRET", "73282932000074"), 0);
	assert_int_equal(validate_struct_id("SIREN", "732829320"), 0);
	assert_int_equal(validate_struct_id("FINESS", "2A0000016"), 0);
	assert_int_equal(validate_struct_id("SIREN", "2A0000016"), -EINVAL);
	assert_int_equal(validate_struct_id("FINESS", "750712185"), -EINVAL);
	assert_int_equal(validate_struct_id("SIREN", "750712184"), 0);
	assert_int_equal(validate_struct_id("SIRET", "732829320"), -EINVAL);
	assert_int_equal(validate_struct_id("finess", "750712184"), -EINVAL);
	assert_int_equal(validate_struct_id("RPPS", "10002813839"), -EINVAL);
	assert_int_equal(validate_struct_id("", "750712184"), -EINVAL);
	assert_int_equal(validate_struct_id(NULL, "750712184"), -EINVAL);
	assert_int_equal(validate_struct_id("FINESS", NULL), -EINVAL);
}

static void fill(char *buf, char c, size_t n)
{
	memset(buf, c, n);
	buf[n] = '\0';
}

static void test_email(void **state)
{
	char buf[400];

	assert_int_equal(validate_email("jean.dupont@hopital-a.mssante.fr"), 0);
	assert_int_equal(validate_email("pharmacie.du.centre.81000.albi@pharmacien.oc.mssante.fr"), 0);
	assert_int_equal(validate_email("A.B+tag@Example.COM"), 0);
	assert_int_equal(validate_email("x!#$%&'*+/=?^_`{|}~-y@a.fr"), 0);
	assert_int_equal(validate_email("a@b-c.d-e.fr"), 0);
	assert_int_equal(validate_email("a@1a.fr"), 0);

	assert_int_equal(validate_email(""), -EINVAL);
	assert_int_equal(validate_email(NULL), -EINVAL);
	assert_int_equal(validate_email("jean"), -EINVAL);
	assert_int_equal(validate_email("@a.fr"), -EINVAL);
	assert_int_equal(validate_email("jean@"), -EINVAL);
	assert_int_equal(validate_email("jean@fr"), -EINVAL);
	assert_int_equal(validate_email("a@b@c.fr"), -EINVAL);
	assert_int_equal(validate_email(".jean@a.fr"), -EINVAL);
	assert_int_equal(validate_email("jean.@a.fr"), -EINVAL);
	assert_int_equal(validate_email("je..an@a.fr"), -EINVAL);
	assert_int_equal(validate_email("je an@a.fr"), -EINVAL);
	assert_int_equal(validate_email("je\"an@a.fr"), -EINVAL);
	assert_int_equal(validate_email("j\xc3\xa9@a.fr"), -EINVAL);
	assert_int_equal(validate_email("a@b.f"), -EINVAL);
	assert_int_equal(validate_email("a@b.f2"), -EINVAL);
	assert_int_equal(validate_email("a@b.fr."), -EINVAL);
	assert_int_equal(validate_email("a@.b.fr"), -EINVAL);
	assert_int_equal(validate_email("a@b..fr"), -EINVAL);
	assert_int_equal(validate_email("a@-b.fr"), -EINVAL);
	assert_int_equal(validate_email("a@b-.fr"), -EINVAL);
	assert_int_equal(validate_email("a@b_c.fr"), -EINVAL);
	assert_int_equal(validate_email("a@\xc3\xa9.fr"), -EINVAL);
	assert_int_equal(validate_email("a@b.fr\n"), -EINVAL);

	/* Local part: 64 ok, 65 not. */
	fill(buf, 'a', 64);
	strcat(buf, "@a.fr");
	assert_int_equal(validate_email(buf), 0);
	fill(buf, 'a', 65);
	strcat(buf, "@a.fr");
	assert_int_equal(validate_email(buf), -EINVAL);
	/* Label: 63 ok, 64 not. */
	strcpy(buf, "a@");
	fill(buf + 2, 'b', 63);
	strcat(buf, ".fr");
	assert_int_equal(validate_email(buf), 0);
	strcpy(buf, "a@");
	fill(buf + 2, 'b', 64);
	strcat(buf, ".fr");
	assert_int_equal(validate_email(buf), -EINVAL);
	/* Total: 254 ok, 255 not (domain of 63-byte labels). */
	strcpy(buf, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@");
	for (int i = 0; i < 3; i++) {
		size_t l = strlen(buf);
		fill(buf + l, 'c', 63);
		strcat(buf, ".");
	}
	strcat(buf, "fr");
	assert_int_equal(strlen(buf), 55 + 192 + 2);
	assert_int_equal(validate_email(buf), 0);
	memmove(buf + 5, buf, strlen(buf) + 1);
	memset(buf, 'a', 5);
	assert_int_equal(strlen(buf), 254);
	assert_int_equal(validate_email(buf), 0);
	memmove(buf + 1, buf, strlen(buf) + 1);
	assert_int_equal(validate_email(buf), -EINVAL);
}

static void test_password_ok(void **state)
{
	const char *rule = "untouched";

	assert_int_equal(validate_password("Abcdef1!", &rule), 0);
	assert_string_equal(rule, "untouched");
	assert_int_equal(validate_password("Correct Horse 9", &rule), 0);
	/* Accented letters count for case; 8 code points, more bytes. */
	assert_int_equal(validate_password("\xc3\x89t\xc3\xa9"
					   "2024\xe2\x82\xac",
				 &rule),
		0);
	/* Non-ASCII punctuation counts as special. */
	assert_int_equal(validate_password("Abcdefg1\xc2\xab", NULL), 0);
	assert_int_equal(validate_password("Abcdefg1\xe2\x80\x99", NULL), 0);
	assert_int_equal(validate_password("Abcdefg1 ", NULL), 0);
}

static void expect_rule(const char *pw, const char *expected)
{
	const char *rule = NULL;

	assert_int_equal(validate_password(pw, &rule), -EINVAL);
	assert_non_null(rule);
	assert_string_equal(rule, expected);
	assert_non_null(password_rule_message(rule));
}

static void test_password_rules(void **state)
{
	char big[1100];

	expect_rule(NULL, "utf8");
	expect_rule("Abcdef1!\xc3\x28", "utf8");
	expect_rule("Abcdef1!\xc0\xaf", "utf8");
	expect_rule("Abcdef1!\xed\xa0\x80", "utf8");
	expect_rule("Abcdef1!\xf4\x90\x80\x80", "utf8");
	expect_rule("Abcdef1!\xe2\x82", "utf8");
	expect_rule("Abcdef1!\t", "utf8");
	expect_rule("Abcdef1!\x7f", "utf8");
	expect_rule("Abcdef1!\xc2\x85", "utf8");
	/* utf8 comes before the length rules. */
	expect_rule("\xff", "utf8");

	memset(big, 'a', 1025);
	memcpy(big, "A1!", 3);
	big[1025] = '\0';
	expect_rule(big, "max_length");
	big[1024] = '\0';
	assert_int_equal(validate_password(big, NULL), 0);

	expect_rule("", "min_length");
	expect_rule("Abcde1!", "min_length");
	/* 7 code points in 14 bytes is still too short. */
	expect_rule("\xc3\x89\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		    "1!",
		"min_length");
	expect_rule("abcdef1!", "upper");
	expect_rule("ABCDEF1!", "lower");
	expect_rule("\xc3\x89\xc3\x89\xc3\x89\xc3\x89\xc3\x89\xc3\x89"
		    "1!",
		"lower");
	expect_rule("Abcdefg!", "digit");
	expect_rule("Abcdefg1", "special");
	/* Invisible format characters are not special. */
	expect_rule("Abcdefg1\xe2\x80\x8b", "special");
	/* Latin Extended-A case pairs: Ł upper, ł lower. */
	assert_int_equal(validate_password("\xc5\x81\xc3\xb3"
					   "dz12345!",
				 NULL),
		0);
	expect_rule("\xc5\x82\xc3\xb3"
		    "dz12345!",
		"upper");
	expect_rule("\xc5\x81\xc3\x93"
		    "DZ12345!",
		"lower");
}

static void test_password_messages(void **state)
{
	assert_string_equal(
		password_rule_message("upper"), "le mot de passe doit contenir au moins une majuscule");
	assert_string_equal(
		password_rule_message("lower"), "le mot de passe doit contenir au moins une minuscule");
	assert_string_equal(
		password_rule_message("digit"), "le mot de passe doit contenir au moins un chiffre");
	assert_string_equal(
		password_rule_message("min_length"), "le mot de passe doit contenir au moins 8 caractères");
	assert_non_null(strstr(password_rule_message("special"), "spécial"));
	assert_non_null(strstr(password_rule_message("max_length"), "1024"));
	assert_non_null(password_rule_message("utf8"));
	assert_non_null(password_rule_message("nonsense"));
	assert_non_null(password_rule_message(NULL));
	assert_int_equal(
		validate_utf8(password_rule_message("special"), strlen(password_rule_message("special"))), 0);
}

#define U8(s) validate_utf8(s, sizeof(s) - 1)

static void test_utf8(void **state)
{
	assert_int_equal(U8(""), 0);
	assert_int_equal(U8("abc"), 0);
	assert_int_equal(U8("\xc3\xa9"), 0);
	assert_int_equal(U8("\xe2\x82\xac"), 0);
	assert_int_equal(U8("\xf0\x9f\x98\x80"), 0);
	assert_int_equal(U8("\xef\xbf\xbf"), 0);
	assert_int_equal(U8("\xf4\x8f\xbf\xbf"), 0);
	assert_int_equal(U8("\xed\x9f\xbf"), 0);
	assert_int_equal(U8("\xee\x80\x80"), 0);

	assert_int_equal(U8("\xc3\x28"), -EINVAL);
	assert_int_equal(U8("\xc0\xaf"), -EINVAL);
	assert_int_equal(U8("\xc1\xbf"), -EINVAL);
	assert_int_equal(U8("\xe0\x80\xaf"), -EINVAL);
	assert_int_equal(U8("\xe0\x9f\xbf"), -EINVAL);
	assert_int_equal(U8("\xf0\x80\x80\xaf"), -EINVAL);
	assert_int_equal(U8("\xf0\x8f\xbf\xbf"), -EINVAL);
	assert_int_equal(U8("\xed\xa0\x80"), -EINVAL);
	assert_int_equal(U8("\xed\xbf\xbf"), -EINVAL);
	assert_int_equal(U8("\xf4\x90\x80\x80"), -EINVAL);
	assert_int_equal(U8("\xf5\x80\x80\x80"), -EINVAL);
	assert_int_equal(U8("\xff"), -EINVAL);
	assert_int_equal(U8("\x80"), -EINVAL);
	assert_int_equal(U8("\xc3"), -EINVAL);
	assert_int_equal(U8("\xe2\x82"), -EINVAL);
	assert_int_equal(U8("a\0b"), -EINVAL);
	/* The length bounds the check: a truncated sequence past it is ignored. */
	assert_int_equal(validate_utf8("ab\xc3", 2), 0);
	assert_int_equal(validate_utf8("\xc3\xa9", 1), -EINVAL);
	assert_int_equal(validate_utf8(NULL, 0), -EINVAL);
}

static void test_utf8_decode(void **state)
{
	uint32_t cp = 0;

	assert_int_equal(mm_utf8_decode("\xc5\x93", 2, &cp), 2);
	assert_int_equal(cp, 0x153);
	assert_int_equal(mm_utf8_decode("\xe2\x80\x99", 3, &cp), 3);
	assert_int_equal(cp, 0x2019);
	assert_int_equal(mm_utf8_decode("\xf4\x8f\xbf\xbf", 4, &cp), 4);
	assert_int_equal(cp, 0x10FFFF);
	cp = 7;
	assert_int_equal(mm_utf8_decode("\xe2\x80\x99", 2, &cp), -EINVAL);
	assert_int_equal(cp, 7);
	assert_int_equal(mm_utf8_decode("", 0, &cp), -EINVAL);
}

static void test_text(void **state)
{
	assert_int_equal(validate_text("Pharmacie du Centre", 64), 0);
	assert_int_equal(validate_text("\xc3\x89loïse", 64), 0);
	assert_int_equal(validate_text("abc", 3), 0);
	assert_int_equal(validate_text("abcd", 3), -E2BIG);
	assert_int_equal(validate_text("x", SIZE_MAX), 0);
	assert_int_equal(validate_text("", 64), -EINVAL);
	assert_int_equal(validate_text(NULL, 64), -EINVAL);
	assert_int_equal(validate_text("a\nb", 64), -EINVAL);
	assert_int_equal(validate_text("a\tb", 64), -EINVAL);
	assert_int_equal(validate_text("a\x7f", 64), -EINVAL);
	assert_int_equal(validate_text("a\xc2\x80", 64), -EINVAL);
	assert_int_equal(validate_text("a\xc2\x9f", 64), -EINVAL);
	assert_int_equal(validate_text("a\xc2\xa0", 64), 0);
	assert_int_equal(validate_text("\xc3\x28", 64), -EINVAL);
	assert_int_equal(validate_text("\xc0\xaf", 64), -EINVAL);
	assert_int_equal(validate_text("\xed\xa0\x80", 64), -EINVAL);
	/* A NUL ends the text: what follows is not looked at. */
	assert_int_equal(validate_text("ab\0\xff", 64), 0);
	/* Cut inside a sequence by max_bytes: too long wins. */
	assert_int_equal(validate_text("a\xc3\xa9", 2), -E2BIG);
}

static void test_name(void **state)
{
	char buf[80];

	assert_int_equal(validate_name("Jean-\xc3\x89ric"), 0);
	assert_int_equal(validate_name("DURAND d'Arc"), 0);
	assert_int_equal(validate_name("d\xe2\x80\x99"
				       "Arc"),
		0);
	assert_int_equal(validate_name("\xc3\x89lo\xc3\xafse \xc5\x92uvrard-M\xc3\xbcller"), 0);
	assert_int_equal(validate_name("J. R. R."), 0);
	assert_int_equal(validate_name("\xc5\x81ukasz \xc5\xbb\xc3\xb3\xc5\x82w"), 0);
	assert_int_equal(validate_name("Stra\xc3\x9f"
				       "e"),
		0);

	assert_int_equal(validate_name(""), -EINVAL);
	assert_int_equal(validate_name(NULL), -EINVAL);
	assert_int_equal(validate_name("-"), -EINVAL);
	assert_int_equal(validate_name(" . '"), -EINVAL);
	assert_int_equal(validate_name("Jean2"), -EINVAL);
	assert_int_equal(validate_name("Jean_Paul"), -EINVAL);
	assert_int_equal(validate_name("Jean\tPaul"), -EINVAL);
	assert_int_equal(validate_name("A\xc3\x97"
				       "B"),
		-EINVAL);
	assert_int_equal(validate_name("\xce\xb1\xce\xb2"), -EINVAL);
	assert_int_equal(validate_name("Jean\xc3\x28"), -EINVAL);
	assert_int_equal(validate_name("Jean\xf0\x9f\x98\x80"), -EINVAL);
	fill(buf, 'a', 64);
	assert_int_equal(validate_name(buf), 0);
	fill(buf, 'a', 65);
	assert_int_equal(validate_name(buf), -E2BIG);
}

static void test_phone(void **state)
{
	assert_int_equal(validate_phone("0123456789"), 0);
	assert_int_equal(validate_phone("01 23 45 67 89"), 0);
	assert_int_equal(validate_phone("01.23.45.67.89"), 0);
	assert_int_equal(validate_phone("06-12-34-56-78"), 0);
	assert_int_equal(validate_phone("+33 1 23 45 67 89"), 0);
	assert_int_equal(validate_phone("+33612345678"), 0);
	assert_int_equal(validate_phone("+4930123456"), 0);
	assert_int_equal(validate_phone("+12025550123"), 0);
	assert_int_equal(validate_phone("+12345678"), 0);
	assert_int_equal(validate_phone("+123456789012345"), 0);

	assert_int_equal(validate_phone(""), -EINVAL);
	assert_int_equal(validate_phone(NULL), -EINVAL);
	assert_int_equal(validate_phone("0023456789"), -EINVAL);
	assert_int_equal(validate_phone("012345678"), -EINVAL);
	assert_int_equal(validate_phone("01234567890"), -EINVAL);
	assert_int_equal(validate_phone("1123456789"), -EINVAL);
	assert_int_equal(validate_phone("+33023456789"), -EINVAL);
	assert_int_equal(validate_phone("+3312345678"), -EINVAL);
	assert_int_equal(validate_phone("+331234567890"), -EINVAL);
	assert_int_equal(validate_phone("+1234567"), -EINVAL);
	assert_int_equal(validate_phone("+1234567890123456"), -EINVAL);
	assert_int_equal(validate_phone("+0123456789"), -EINVAL);
	assert_int_equal(validate_phone("++33123456789"), -EINVAL);
	assert_int_equal(validate_phone("0+33123456789"), -EINVAL);
	assert_int_equal(validate_phone("(01) 23 45 67 89"), -EINVAL);
	assert_int_equal(validate_phone("01 23 45 67 8a"), -EINVAL);
	assert_int_equal(validate_phone("01234567899999999999"), -EINVAL);
	assert_int_equal(validate_phone(" - . "), -EINVAL);
}

static void test_postal_code(void **state)
{
	assert_int_equal(validate_postal_code("81000"), 0);
	assert_int_equal(validate_postal_code("20000"), 0);
	assert_int_equal(validate_postal_code("97100"), 0);
	assert_int_equal(validate_postal_code("8100"), -EINVAL);
	assert_int_equal(validate_postal_code("810000"), -EINVAL);
	assert_int_equal(validate_postal_code("2A000"), -EINVAL);
	assert_int_equal(validate_postal_code(" 8100"), -EINVAL);
	assert_int_equal(validate_postal_code(""), -EINVAL);
	assert_int_equal(validate_postal_code(NULL), -EINVAL);
}

static void test_profession(void **state)
{
	static const char *const codes[] = {"10", "21", "26", "28", "31", "32", "40", "50", "60", "69", "70",
		"80", "81", "82", "83", "84", "85", "86", "91", "92", "94", "95", "96", "98"};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *key = profession_domain_key(codes[i]);
		assert_int_equal(validate_profession_code(codes[i]), 0);
		assert_non_null(profession_label(codes[i]));
		assert_int_equal(validate_text(profession_label(codes[i]), 64), 0);
		assert_non_null(key);
		for (const char *p = key; *p; p++)
			assert_true((*p >= 'a' && *p <= 'z') || *p == '-');
	}
	assert_string_equal(profession_label("21"), "Pharmacien");
	assert_string_equal(profession_label("10"),
		"M\xc3\xa9"
		"decin");
	assert_string_equal(profession_label("70"), "Masseur-Kin\xc3\xa9sith\xc3\xa9rapeute");
	assert_string_equal(profession_domain_key("10"), "medecin");
	assert_string_equal(profession_domain_key("21"), "pharmacien");
	assert_string_equal(profession_domain_key("60"), "infirmier");
	assert_string_equal(profession_domain_key("69"), "infirmier");
	assert_string_equal(profession_domain_key("50"), "sage-femme");
	assert_string_equal(profession_domain_key("40"), "chirurgien-dentiste");
	assert_string_equal(profession_domain_key("70"), "masseur-kinesitherapeute");

	static const char *const bad[] = {"", "1", "100", "11", "99", "010", " 10", "10 ", "J10"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(validate_profession_code(bad[i]), -EINVAL);
		assert_null(profession_label(bad[i]));
		assert_null(profession_domain_key(bad[i]));
	}
	assert_int_equal(validate_profession_code(NULL), -EINVAL);
	assert_null(profession_label(NULL));
	assert_null(profession_domain_key(NULL));
}

/* Guide 000 prints the RPPS "Identifiant RPPS (11 caractères)"; a person
 * copies it from a card as "100 028 138 39". */
static void test_text_unspace(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(text_unspace("100 028 138 39", out, sizeof(out)), 11);
	assert_string_equal(out, "10002813839");
	/* No-break spaces (U+00A0, U+202F) as a word processor prints them. */
	assert_int_equal(text_unspace(" 100\xc2\xa0"
				      "028\xe2\x80\xaf"
				      "138 39 ",
				 out, sizeof(out)),
		11);
	assert_string_equal(out, "10002813839");
	assert_int_equal(text_unspace("10002813839", out, sizeof(out)), 11);
	/* A newline is not a space: kept, for the validator to refuse. */
	assert_int_equal(text_unspace("1000281\n3839", out, sizeof(out)), 12);
	assert_int_equal(validate_rpps(out), -EINVAL);
	assert_int_equal(text_unspace("   ", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(text_unspace("1234567890123", out, 8), -ENOSPC);
	assert_string_equal(out, "");
	assert_int_equal(text_unspace("\xc3\x28", out, sizeof(out)), -EINVAL);
	assert_int_equal(text_unspace(NULL, out, sizeof(out)), -EINVAL);
	assert_int_equal(text_unspace("1", out, 0), -ENOSPC);
}

/* "names are trimmed and inner runs of spaces collapsed before they are stored" */
static void test_text_squeeze(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(text_squeeze("  Jean   Pierre  ", out, sizeof(out)), 11);
	assert_string_equal(out, "Jean Pierre");
	assert_int_equal(text_squeeze("DURAND", out, sizeof(out)), 6);
	assert_string_equal(out, "DURAND");
	assert_int_equal(text_squeeze("L\xc3\xa9"
				      "a\xc2\xa0\xc2\xa0"
				      "Marie",
				 out, sizeof(out)),
		10);
	assert_string_equal(out,
		"L\xc3\xa9"
		"a Marie");
	assert_int_equal(text_squeeze(" \xc2\xa0 ", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	/* Control characters stay where they are. */
	assert_int_equal(text_squeeze(" a\nb ", out, sizeof(out)), 3);
	assert_string_equal(out, "a\nb");
	assert_int_equal(validate_name(out), -EINVAL);
	/* Exactly fits, one byte short. */
	assert_int_equal(text_squeeze(" ab  cd ", out, 6), 5);
	assert_int_equal(text_squeeze(" ab  cd ", out, 5), -ENOSPC);
	assert_string_equal(out, "");
	assert_int_equal(text_squeeze("\xe2\x80", out, sizeof(out)), -EINVAL);
}

/* "Sélectionner la Profession dans la liste": the label or its slug is the code. */
static void test_profession_code_of(void **state)
{
	static const struct {
		const char *text, *code;
	} cases[] = {
		{"21", "21"},
		{"pharmacien", "21"},
		{"Pharmacien", "21"},
		{"PHARMACIEN", "21"},
		{"M\xc3\xa9"
		 "decin",
			"10"},
		{"medecin", "10"},
		{"sage femme", "50"},
		{"Sage-Femme", "50"},
		{"masseur-kinesitherapeute", "70"},
		{"Infirmier", "60"},
		{"infirmier psychiatrique", "69"},
		{"Manipulateur ERM", "98"},
		{" 21 ", "21"},
		{"technicien-de-laboratoire-medical", "86"},
	};
	static const char *const unknown[] = {"", "boulanger", "pharma", "99", "21x", "\xc3\x28", "medecin2"};
	char list[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *code = profession_code_of(cases[i].text);

		assert_non_null(code);
		assert_string_equal(code, cases[i].code);
	}
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		assert_null(profession_code_of(unknown[i]));
	assert_null(profession_code_of(NULL));
	/* Every label is found again from its own spelling. */
	for (unsigned n = 0; n < 100; n++) {
		char code[3];

		snprintf(code, sizeof(code), "%02u", n);
		if (profession_label(code))
			assert_string_equal(profession_code_of(profession_label(code)), code);
	}
	assert_true(profession_list(list, sizeof(list)) > 0);
	assert_non_null(strstr(list,
		"M\xc3\xa9"
		"decin (10), Pharmacien (21)"));
	assert_non_null(strstr(list, "Manipulateur ERM (98)"));
	assert_int_equal(profession_list(list, 20), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_luhn),
		cmocka_unit_test(test_rpps),
		cmocka_unit_test(test_adeli),
		cmocka_unit_test(test_finess),
		cmocka_unit_test(test_siren_siret),
		cmocka_unit_test(test_struct_id),
		cmocka_unit_test(test_email),
		cmocka_unit_test(test_password_ok),
		cmocka_unit_test(test_password_rules),
		cmocka_unit_test(test_password_messages),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_utf8_decode),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_name),
		cmocka_unit_test(test_phone),
		cmocka_unit_test(test_postal_code),
		cmocka_unit_test(test_profession),
		cmocka_unit_test(test_text_unspace),
		cmocka_unit_test(test_text_squeeze),
		cmocka_unit_test(test_profession_code_of),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
