/* Field validators for medimail-authd: pure functions, no allocation, no logging. */
#include "validate.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "address.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}
static bool is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
static bool is_alnum(char c)
{
	return is_digit(c) || is_alpha(c);
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

/* True if s is exactly n digits; never reads past s[n]. */
static bool is_n_digits(const char *s, size_t n)
{
	return s && strnlen(s, n + 1) == n && all_digits(s, n);
}

static bool is_cont(unsigned char c)
{
	return (c & 0xC0) == 0x80;
}

int mm_utf8_decode(const char *s, size_t len, uint32_t *ret_cp)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char lo = 0x80, hi = 0xBF;
	uint32_t cp;
	size_t n;

	if (!s || len == 0)
		return -EINVAL;
	if (p[0] < 0x80) {
		*ret_cp = p[0];
		return 1;
	}
	/* Ranges of the first continuation byte exclude overlongs, surrogates
         * and code points above U+10FFFF (RFC 3629 table). */
	if (p[0] >= 0xC2 && p[0] <= 0xDF) {
		n = 2;
		cp = p[0] & 0x1F;
	} else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
		n = 3;
		cp = p[0] & 0x0F;
		if (p[0] == 0xE0)
			lo = 0xA0;
		else if (p[0] == 0xED)
			hi = 0x9F;
	} else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
		n = 4;
		cp = p[0] & 0x07;
		if (p[0] == 0xF0)
			lo = 0x90;
		else if (p[0] == 0xF4)
			hi = 0x8F;
	} else
		return -EINVAL;

	if (len < n)
		return -EINVAL;
	if (p[1] < lo || p[1] > hi)
		return -EINVAL;
	for (size_t i = 1; i < n; i++) {
		if (!is_cont(p[i]))
			return -EINVAL;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	*ret_cp = cp;
	return (int)n;
}

static bool is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

/* Letters of ASCII, Latin-1 Supplement and Latin Extended-A: the scripts of
 * French and neighbouring names. */
static bool is_latin_letter(uint32_t cp)
{
	if (cp < 0x80)
		return is_alpha((char)cp);
	return cp >= 0xC0 && cp <= 0x17F && cp != 0xD7 && cp != 0xF7;
}

static bool is_latin_upper(uint32_t cp)
{
	if (cp < 0x80)
		return cp >= 'A' && cp <= 'Z';
	if (cp >= 0xC0 && cp <= 0xDE)
		return cp != 0xD7;
	/* Latin Extended-A pairs upper/lower, with the parity shifting after
         * the unpaired U+0138 and U+0149. */
	if (cp >= 0x100 && cp <= 0x137)
		return (cp & 1) == 0;
	if (cp >= 0x139 && cp <= 0x148)
		return (cp & 1) == 1;
	if (cp >= 0x14A && cp <= 0x177)
		return (cp & 1) == 0;
	if (cp == 0x178)
		return true;
	if (cp >= 0x179 && cp <= 0x17E)
		return (cp & 1) == 1;
	return false;
}

static bool is_latin_lower(uint32_t cp)
{
	return is_latin_letter(cp) && !is_latin_upper(cp);
}

/* Invisible format characters: not "printable", so they do not count as
 * special characters in a password. */
static bool is_invisible(uint32_t cp)
{
	return cp == 0xAD || (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) ||
		(cp >= 0x2060 && cp <= 0x206F) || cp == 0xFEFF || (cp >= 0xFFF0 && cp <= 0xFFFF);
}

int validate_utf8(const char *s, size_t len)
{
	size_t i = 0;

	if (!s)
		return -EINVAL;
	while (i < len) {
		uint32_t cp;
		int r = mm_utf8_decode(s + i, len - i, &cp);
		if (r < 0)
			return -EINVAL;
		/* Every caller ends with a C string: an embedded NUL would cut it. */
		if (cp == 0)
			return -EINVAL;
		i += (size_t)r;
	}
	return 0;
}

/* Valid UTF-8 without control characters. */
static bool text_clean(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint32_t cp;
		int r = mm_utf8_decode(s + i, len - i, &cp);
		if (r < 0 || is_control(cp))
			return false;
		i += (size_t)r;
	}
	return true;
}

int validate_text(const char *s, size_t max_bytes)
{
	size_t n;

	if (!s || !*s)
		return -EINVAL;
	n = max_bytes == SIZE_MAX ? strlen(s) : strnlen(s, max_bytes + 1);
	if (n > max_bytes)
		return -E2BIG;
	return text_clean(s, n) ? 0 : -EINVAL;
}

int mm_luhn_valid(const char *digits)
{
	unsigned sum = 0;
	size_t n;

	if (!digits || !*digits)
		return 0;
	n = strlen(digits);
	if (!all_digits(digits, n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(digits[n - 1 - i] - '0');
		if (i % 2 == 1) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	return sum % 10 == 0;
}

int validate_rpps(const char *s)
{
	return is_n_digits(s, 11) && mm_luhn_valid(s) ? 0 : -EINVAL;
}

int validate_adeli(const char *s)
{
	if (!s || strnlen(s, 10) != 9)
		return -EINVAL;
	for (size_t i = 0; i < 9; i++)
		if (!is_alnum(s[i]))
			return -EINVAL;
	return 0;
}

int validate_finess(const char *s)
{
	char d[10];

	if (!s || strnlen(s, 10) != 9)
		return -EINVAL;
	memcpy(d, s, sizeof(d));
	/* Corsica (2A, 2B) is the only place a letter may appear. The official
         * key rule for these is not confirmed; the letter counts as digit 0,
         * i.e. the key is computed as for département "20". */
	if (d[0] == '2' && (d[1] == 'A' || d[1] == 'B'))
		d[1] = '0';
	if (!all_digits(d, 9))
		return -EINVAL;
	return mm_luhn_valid(d) ? 0 : -EINVAL;
}

int validate_siren(const char *s)
{
	return is_n_digits(s, 9) && mm_luhn_valid(s) ? 0 : -EINVAL;
}

int validate_siret(const char *s)
{
	unsigned sum = 0;

	if (!is_n_digits(s, 14))
		return -EINVAL;
	if (mm_luhn_valid(s))
		return 0;
	/* La Poste has more establishments than Luhn keys allow: theirs have a
         * digit sum divisible by 5 instead (the head office, 35600000000048,
         * passes Luhn only). */
	if (memcmp(s, "356000000", 9) != 0)
		return -EINVAL;
	for (size_t i = 0; i < 14; i++)
		sum += (unsigned)(s[i] - '0');
	return sum % 5 == 0 ? 0 : -EINVAL;
}

int validate_struct_id(const char *type, const char *id)
{
	if (!type)
		return -EINVAL;
	if (strcmp(type, "FINESS") == 0)
		return validate_finess(id);
	if (strcmp(type, "SIRET") == 0)
		return validate_siret(id);
	if (strcmp(type, "SIREN") == 0)
		return validate_siren(id);
	return -EINVAL;
}

static bool is_atext(char c)
{
	return is_alnum(c) || (c && strchr(".!#$%&'*+/=?^_`{|}~-", c));
}

static bool domain_valid(const char *d, size_t n)
{
	size_t labels = 0, start = 0;

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && d[i] != '.') {
			if (!is_alnum(d[i]) && d[i] != '-')
				return false;
			continue;
		}
		size_t l = i - start;
		if (l == 0 || l > 63 || d[start] == '-' || d[i - 1] == '-')
			return false;
		labels++;
		if (i == n) {
			/* Top-level domain: letters only, at least two. */
			if (l < 2)
				return false;
			for (size_t k = start; k < n; k++)
				if (!is_alpha(d[k]))
					return false;
		}
		start = i + 1;
	}
	return labels >= 2;
}

int validate_email(const char *s)
{
	const char *at;
	size_t n, ln;

	if (!s)
		return -EINVAL;
	n = strnlen(s, 255);
	if (n > 254)
		return -EINVAL;
	at = memchr(s, '@', n);
	if (!at)
		return -EINVAL;
	ln = (size_t)(at - s);
	if (ln == 0 || ln > 64 || s[0] == '.' || s[ln - 1] == '.')
		return -EINVAL;
	for (size_t i = 0; i < ln; i++) {
		if (!is_atext(s[i]))
			return -EINVAL;
		if (s[i] == '.' && s[i + 1] == '.')
			return -EINVAL;
	}
	return domain_valid(at + 1, n - ln - 1) ? 0 : -EINVAL;
}

/* Special = printable and neither letter nor digit. Without Unicode tables,
 * letters of other scripts (Greek, Cyrillic...) count as special too: they
 * add as much to guessing cost as punctuation does. */
static bool is_password_special(uint32_t cp)
{
	if (cp < 0x80)
		return !is_alnum((char)cp);
	return !is_latin_letter(cp) && !is_invisible(cp);
}

int validate_password(const char *s, const char **ret_rule)
{
	bool upper = false, lower = false, digit = false, special = false;
	size_t n, i = 0, chars = 0;
	const char *rule = NULL;

	if (!s) {
		rule = "utf8";
		goto fail;
	}
	n = strlen(s);
	while (i < n) {
		uint32_t cp;
		int r = mm_utf8_decode(s + i, n - i, &cp);
		if (r < 0 || is_control(cp)) {
			rule = "utf8";
			goto fail;
		}
		i += (size_t)r;
		chars++;
		if (is_latin_upper(cp))
			upper = true;
		else if (is_latin_lower(cp))
			lower = true;
		else if (cp >= '0' && cp <= '9')
			digit = true;
		else if (is_password_special(cp))
			special = true;
	}
	if (n > MM_PASSWORD_MAX_BYTES)
		rule = "max_length";
	else if (chars < MM_PASSWORD_MIN_CHARS)
		rule = "min_length";
	else if (!upper)
		rule = "upper";
	else if (!lower)
		rule = "lower";
	else if (!digit)
		rule = "digit";
	else if (!special)
		rule = "special";
	else
		return 0;
fail:
	if (ret_rule)
		*ret_rule = rule;
	return -EINVAL;
}

const char *password_rule_message(const char *rule)
{
	static const struct {
		const char *rule, *msg;
	} msgs[] = {
		{"utf8", "le mot de passe contient des caractères invalides"},
		{"max_length", "le mot de passe ne doit pas dépasser 1024 octets"},
		{"min_length", "le mot de passe doit contenir au moins 8 caractères"},
		{"upper", "le mot de passe doit contenir au moins une majuscule"},
		{"lower", "le mot de passe doit contenir au moins une minuscule"},
		{"digit", "le mot de passe doit contenir au moins un chiffre"},
		{"special", "le mot de passe doit contenir au moins un caractère spécial"},
	};

	if (rule)
		for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
			if (strcmp(rule, msgs[i].rule) == 0)
				return msgs[i].msg;
	return "le mot de passe ne respecte pas la politique de sécurité";
}

int validate_name(const char *s)
{
	bool letter = false;
	size_t n, i = 0;
	int r = validate_text(s, MM_NAME_MAX_BYTES);

	if (r < 0)
		return r;
	n = strlen(s);
	while (i < n) {
		uint32_t cp;
		r = mm_utf8_decode(s + i, n - i, &cp);
		if (r < 0)
			return -EINVAL;
		i += (size_t)r;
		if (is_latin_letter(cp))
			letter = true;
		else if (cp != ' ' && cp != '\'' && cp != 0x2019 && cp != '-' && cp != '.')
			return -EINVAL;
	}
	/* "-" or "." alone is not a name. */
	return letter ? 0 : -EINVAL;
}

int validate_phone(const char *s)
{
	char d[16];
	size_t n = 0;
	bool plus = false;

	if (!s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s == ' ' || *s == '.' || *s == '-')
			continue;
		if (*s == '+' && !plus && n == 0)
			plus = true;
		else if (is_digit(*s) && n < sizeof(d))
			d[n++] = *s;
		else
			return -EINVAL;
	}
	if (!plus)
		return n == 10 && d[0] == '0' && d[1] != '0' ? 0 : -EINVAL;
	/* +33 is held to the French numbering plan, not the generic rule. */
	if (n >= 2 && d[0] == '3' && d[1] == '3')
		return n == 11 && d[2] != '0' ? 0 : -EINVAL;
	return n >= 8 && n <= 15 && d[0] != '0' ? 0 : -EINVAL;
}

int validate_postal_code(const char *s)
{
	return is_n_digits(s, 5) ? 0 : -EINVAL;
}

static const struct profession {
	const char *code, *label, *key;
} professions[] = {
	{"10", "Médecin", "medecin"},
	{"21", "Pharmacien", "pharmacien"},
	{"26", "Audioprothésiste", "audioprothesiste"},
	{"28", "Opticien-Lunetier", "opticien-lunetier"},
	{"31", "Assistant dentaire", "assistant-dentaire"},
	{"32", "Physicien médical", "physicien-medical"},
	{"40", "Chirurgien-Dentiste", "chirurgien-dentiste"},
	{"50", "Sage-Femme", "sage-femme"},
	{"60", "Infirmier", "infirmier"},
	/* Psychiatric nurses share the nurses' mail domain. */
	{"69", "Infirmier psychiatrique", "infirmier"},
	{"70", "Masseur-Kinésithérapeute", "masseur-kinesitherapeute"},
	{"80", "Pédicure-Podologue", "pedicure-podologue"},
	{"81", "Orthoprothésiste", "orthoprothesiste"},
	{"82", "Podo-Orthésiste", "podo-orthesiste"},
	{"83", "Orthopédiste-Orthésiste", "orthopediste-orthesiste"},
	{"84", "Oculariste", "oculariste"},
	{"85", "Epithésiste", "epithesiste"},
	{"86", "Technicien de laboratoire médical", "technicien-de-laboratoire-medical"},
	{"91", "Orthophoniste", "orthophoniste"},
	{"92", "Orthoptiste", "orthoptiste"},
	{"94", "Ergothérapeute", "ergotherapeute"},
	{"95", "Diététicien", "dieteticien"},
	{"96", "Psychomotricien", "psychomotricien"},
	{"98", "Manipulateur ERM", "manipulateur-erm"},
};

static const struct profession *profession_find(const char *code)
{
	if (!code)
		return NULL;
	for (size_t i = 0; i < sizeof(professions) / sizeof(professions[0]); i++)
		if (strcmp(code, professions[i].code) == 0)
			return &professions[i];
	return NULL;
}

int validate_profession_code(const char *code)
{
	return profession_find(code) ? 0 : -EINVAL;
}

const char *profession_code_of(const char *text)
{
	char want[128], label[128];
	const struct profession *p = profession_find(text);

	if (p)
		return p->code;
	/* Folded with one separator: "Sage-Femme", "sage femme", "SAGE_FEMME" alike. */
	if (!text || text_fold(text, '-', want, sizeof(want)) <= 0)
		return NULL;
	for (size_t i = 0; i < sizeof(professions) / sizeof(professions[0]); i++)
		if (text_fold(professions[i].label, '-', label, sizeof(label)) > 0 && !strcmp(label, want))
			return professions[i].code;
	if ((p = profession_find(want)))
		return p->code; /* " 21 " */
	return NULL;
}

int profession_list(char *out, size_t size)
{
	size_t len = 0;

	if (!out || !size)
		return -ENOSPC;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(professions) / sizeof(professions[0]); i++) {
		int r = snprintf(out + len, size - len, "%s%s (%s)", i ? ", " : "", professions[i].label,
			professions[i].code);

		if (r < 0 || (size_t)r >= size - len)
			return -ENOSPC;
		len += (size_t)r;
	}
	return (int)len;
}

const char *profession_label(const char *code)
{
	const struct profession *p = profession_find(code);
	return p ? p->label : NULL;
}

const char *profession_domain_key(const char *code)
{
	const struct profession *p = profession_find(code);
	return p ? p->key : NULL;
}

/* Length of the space (U+0020, U+00A0, U+202F) at s, 0 when none. */
static size_t space_at(const char *s, size_t len)
{
	uint32_t cp;
	int r = mm_utf8_decode(s, len, &cp);

	return r > 0 && (cp == ' ' || cp == 0xA0 || cp == 0x202F) ? (size_t)r : 0;
}

/* Copies s to out, each run of spaces replaced by sep (none when sep is 0),
 * never leading or trailing. */
static int spaces_rewrite(const char *s, char sep, char *out, size_t size)
{
	size_t n, i = 0, len = 0;
	bool pending = false;

	if (!out || !size)
		return -ENOSPC;
	out[0] = '\0';
	if (!s || validate_utf8(s, n = strlen(s)) < 0)
		return -EINVAL;
	while (i < n) {
		size_t sp = space_at(s + i, n - i);
		uint32_t cp;
		int r;

		if (sp) {
			pending = len > 0;
			i += sp;
			continue;
		}
		r = mm_utf8_decode(s + i, n - i, &cp);
		if (r < 0)
			return -EINVAL;
		if (len + (pending && sep) + (size_t)r >= size) {
			out[0] = '\0';
			return -ENOSPC;
		}
		if (pending && sep)
			out[len++] = sep;
		pending = false;
		memcpy(out + len, s + i, (size_t)r);
		len += (size_t)r;
		i += (size_t)r;
	}
	out[len] = '\0';
	return (int)len;
}

int text_squeeze(const char *s, char *out, size_t size)
{
	return spaces_rewrite(s, ' ', out, size);
}

int text_unspace(const char *s, char *out, size_t size)
{
	return spaces_rewrite(s, 0, out, size);
}
