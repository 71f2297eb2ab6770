/* Derivation of MSSanté addresses and POSIX logins: accent folding, length caps, collision candidates. */
#include "address.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "validate.h"

/* ASCII spelling of the Latin-1 Supplement and Latin Extended-A letters;
 * code points of these blocks not listed (× ÷) are separators. */
static const struct {
	uint16_t lo, hi;
	const char *ascii;
} fold_table[] = {
	{0xC0, 0xC5, "a"},
	{0xC6, 0xC6, "ae"},
	{0xC7, 0xC7, "c"},
	{0xC8, 0xCB, "e"},
	{0xCC, 0xCF, "i"},
	{0xD0, 0xD0, "d"},
	{0xD1, 0xD1, "n"},
	{0xD2, 0xD6, "o"},
	{0xD8, 0xD8, "o"},
	{0xD9, 0xDC, "u"},
	{0xDD, 0xDD, "y"},
	{0xDE, 0xDE, "th"},
	{0xDF, 0xDF, "ss"},
	{0xE0, 0xE5, "a"},
	{0xE6, 0xE6, "ae"},
	{0xE7, 0xE7, "c"},
	{0xE8, 0xEB, "e"},
	{0xEC, 0xEF, "i"},
	{0xF0, 0xF0, "d"},
	{0xF1, 0xF1, "n"},
	{0xF2, 0xF6, "o"},
	{0xF8, 0xF8, "o"},
	{0xF9, 0xFC, "u"},
	{0xFD, 0xFD, "y"},
	{0xFE, 0xFE, "th"},
	{0xFF, 0xFF, "y"},
	{0x100, 0x105, "a"},
	{0x106, 0x10D, "c"},
	{0x10E, 0x111, "d"},
	{0x112, 0x11B, "e"},
	{0x11C, 0x123, "g"},
	{0x124, 0x127, "h"},
	{0x128, 0x131, "i"},
	{0x132, 0x133, "ij"},
	{0x134, 0x135, "j"},
	{0x136, 0x138, "k"},
	{0x139, 0x142, "l"},
	{0x143, 0x14B, "n"},
	{0x14C, 0x151, "o"},
	{0x152, 0x153, "oe"},
	{0x154, 0x159, "r"},
	{0x15A, 0x161, "s"},
	{0x162, 0x167, "t"},
	{0x168, 0x173, "u"},
	{0x174, 0x175, "w"},
	{0x176, 0x178, "y"},
	{0x179, 0x17E, "z"},
	{0x17F, 0x17F, "s"},
};

/* ASCII spelling of a letter or digit, NULL for a separator. */
static const char *fold_char(uint32_t cp, char ascii[static 2])
{
	if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9')) {
		ascii[0] = (char)cp;
		ascii[1] = '\0';
		return ascii;
	}
	if (cp >= 'A' && cp <= 'Z') {
		ascii[0] = (char)(cp - 'A' + 'a');
		ascii[1] = '\0';
		return ascii;
	}
	for (size_t i = 0; i < sizeof(fold_table) / sizeof(fold_table[0]); i++)
		if (cp >= fold_table[i].lo && cp <= fold_table[i].hi)
			return fold_table[i].ascii;
	return NULL;
}

/* Folds in, writing at most cap bytes to out (out may be NULL); returns the
 * full folded length, which never exceeds strlen(in), or -EINVAL. */
static int fold_core(const char *in, char sep, char *out, size_t cap)
{
	size_t n, i = 0, len = 0;
	bool pending = false;

	if (!in)
		return -EINVAL;
	n = strlen(in);
	if (n > INT_MAX)
		return -EINVAL;
	while (i < n) {
		char ascii[2];
		const char *rep;
		uint32_t cp;
		int r = mm_utf8_decode(in + i, n - i, &cp);

		if (r < 0)
			return -EINVAL;
		i += (size_t)r;
		rep = fold_char(cp, ascii);
		if (!rep) {
			pending = true;
			continue;
		}
		if (pending && len > 0) {
			if (out && len < cap)
				out[len] = sep;
			len++;
		}
		pending = false;
		for (; *rep; rep++, len++)
			if (out && len < cap)
				out[len] = *rep;
	}
	return (int)len;
}

static bool sep_valid(char sep)
{
	return sep >= 0x20 && sep < 0x7F && !(sep >= 'a' && sep <= 'z') && !(sep >= 'A' && sep <= 'Z') &&
		!(sep >= '0' && sep <= '9');
}

int text_fold(const char *in, char sep, char *out, size_t outsz)
{
	int n;

	if (!sep_valid(sep) || !out)
		return -EINVAL;
	n = fold_core(in, sep, NULL, 0);
	if (n < 0)
		return n;
	if ((size_t)n >= outsz)
		return -ENOSPC;
	(void)fold_core(in, sep, out, (size_t)n);
	out[n] = '\0';
	return n;
}

/* Folds in to at most cap bytes into buf (cap + 1 bytes), dropping a
 * separator left at the end by the cut. Returns the length or -EINVAL. */
static int fold_capped(const char *in, char sep, char *buf, size_t cap)
{
	int r = fold_core(in, sep, buf, cap);
	size_t len;

	if (r < 0)
		return r;
	len = (size_t)r < cap ? (size_t)r : cap;
	while (len > 0 && buf[len - 1] == sep)
		len--;
	buf[len] = '\0';
	return (int)len;
}

/* "<given>.<sn>" with parts folded with '-', at most max bytes into buf
 * (max + 1 bytes). When too long, the given name keeps at least half. */
static int join_names(const char *given, const char *sn, size_t max, char *buf)
{
	size_t room = max - 1, lg, ls, cg;
	int g, s;

	g = fold_core(given ? given : "", '-', NULL, 0);
	s = fold_core(sn, '-', NULL, 0);
	if (g < 0 || s < 0 || s == 0)
		return -EINVAL;
	if (g == 0)
		return fold_capped(sn, '-', buf, max);

	lg = (size_t)g;
	ls = (size_t)s;
	cg = lg;
	if (lg + ls > room) {
		size_t keep = ls < room ? room - ls : 0;
		if (keep < room / 2)
			keep = room / 2;
		if (cg > keep)
			cg = keep;
	}
	g = fold_capped(given, '-', buf, cg);
	buf[g] = '.';
	s = fold_capped(sn, '-', buf + g + 1, room - (size_t)g);
	return g + 1 + s;
}

/* Appends "@domain" lowercased to the local part in buf (sized for both),
 * checks the result is a valid address and copies it out. */
static int finish_address(char *buf, size_t ll, const char *domain, char *out, size_t outsz)
{
	size_t dl, n;

	if (!domain || !out)
		return -EINVAL;
	dl = strnlen(domain, 254);
	if (dl > 253)
		return -EINVAL;
	buf[ll] = '@';
	for (size_t i = 0; i < dl; i++) {
		char c = domain[i];
		buf[ll + 1 + i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	n = ll + 1 + dl;
	buf[n] = '\0';
	if (validate_email(buf) < 0)
		return -EINVAL;
	if (n >= outsz)
		return -ENOSPC;
	memcpy(out, buf, n + 1);
	return (int)n;
}

int address_person(const char *given_name, const char *sn, const char *domain, char *out, size_t outsz)
{
	char buf[MM_ADDRESS_LOCAL_MAX + 1 + 253 + 1];
	int r = join_names(given_name, sn, MM_ADDRESS_LOCAL_MAX, buf);

	if (r < 0)
		return r;
	return finish_address(buf, (size_t)r, domain, out, outsz);
}

int address_org(
	const char *name, const char *postcode, const char *city, const char *domain, char *out, size_t outsz)
{
	char buf[MM_ADDRESS_LOCAL_MAX + 1 + 253 + 1], cbuf[32 + 1];
	bool has_pc = postcode && *postcode;
	size_t tail = 0;
	int ln, lc = 0;

	/* Guide 001: "Nom de la pharmacie, code postal, commune + nom de
	 * domaine pharmacien". The form leaves postcode and city optional:
	 * the parts not given are left out, a postcode given must be valid. */
	if (has_pc && validate_postal_code(postcode) < 0)
		return -EINVAL;
	/* The city is capped at half the local part so the name stays readable. */
	if (city && *city && (lc = fold_capped(city, '.', cbuf, 32)) < 0)
		return -EINVAL;
	tail = (has_pc ? 6 : 0) + (lc > 0 ? 1 + (size_t)lc : 0);
	ln = fold_capped(name, '.', buf, MM_ADDRESS_LOCAL_MAX - tail);
	if (ln <= 0)
		return -EINVAL;
	if (has_pc) {
		buf[ln] = '.';
		memcpy(buf + ln + 1, postcode, 5);
		ln += 6;
	}
	if (lc > 0) {
		buf[ln] = '.';
		memcpy(buf + ln + 1, cbuf, (size_t)lc);
		ln += 1 + lc;
	}
	return finish_address(buf, (size_t)ln, domain, out, outsz);
}

int address_mail(const char *mail, const char *domain, char *out, size_t outsz)
{
	char buf[MM_ADDRESS_LOCAL_MAX + 1 + 253 + 1], local[MM_ADDRESS_LOCAL_MAX + 1];
	const char *at;
	bool letter = false;
	int r;

	if (!mail || validate_email(mail) < 0 || !(at = strrchr(mail, '@')))
		return -EINVAL;
	if ((size_t)(at - mail) > MM_ADDRESS_LOCAL_MAX)
		return -EINVAL;
	memcpy(local, mail, (size_t)(at - mail));
	local[at - mail] = '\0';
	/* Folded as names are, with '.' between the words the address had. */
	r = fold_capped(local, '.', buf, MM_ADDRESS_LOCAL_MAX);
	if (r <= 0)
		return -EINVAL;
	for (int i = 0; i < r; i++)
		if (buf[i] >= 'a' && buf[i] <= 'z')
			letter = true;
	/* "0612345678@x.fr" names nobody: the caller uses prenom.nom. */
	if (!letter)
		return -EINVAL;
	return finish_address(buf, (size_t)r, domain, out, outsz);
}

/* local (ll bytes) shortened to fit max with n appended, then suffix. */
static int candidate(
	const char *local, size_t ll, const char *suffix, size_t max, unsigned n, char *out, size_t outsz)
{
	char num[16];
	int nd = snprintf(num, sizeof(num), "%u", n);
	size_t sl = strlen(suffix), keep = ll, total;

	if (nd <= 0 || (size_t)nd >= max)
		return -EINVAL;
	if (keep > max - (size_t)nd)
		keep = max - (size_t)nd;
	/* A cut may leave a separator glued to the number: drop it. */
	while (keep > 1 && (local[keep - 1] == '.' || local[keep - 1] == '-' || local[keep - 1] == '_'))
		keep--;
	total = keep + (size_t)nd + sl;
	if (total >= outsz)
		return -ENOSPC;
	memcpy(out, local, keep);
	memcpy(out + keep, num, (size_t)nd);
	memcpy(out + keep + (size_t)nd, suffix, sl + 1);
	return (int)total;
}

int address_candidate(const char *base, unsigned n, char *out, size_t outsz)
{
	char buf[MM_ADDRESS_LOCAL_MAX + MM_ADDRESS_MAX + 1];
	const char *at;
	size_t len;
	int r;

	if (!out || n == 0 || validate_email(base) < 0)
		return -EINVAL;
	len = strlen(base);
	if (n == 1) {
		if (len >= outsz)
			return -ENOSPC;
		memcpy(out, base, len + 1);
		return (int)len;
	}
	at = strrchr(base, '@');
	r = candidate(base, (size_t)(at - base), at, MM_ADDRESS_LOCAL_MAX, n, buf, sizeof(buf));
	if (r < 0)
		return r;
	/* The number may push a long address past 254 bytes. */
	if (validate_email(buf) < 0)
		return -EINVAL;
	if ((size_t)r >= outsz)
		return -ENOSPC;
	memcpy(out, buf, (size_t)r + 1);
	return r;
}

static bool login_valid(const char *s)
{
	size_t n;

	if (!s || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	n = strnlen(s, MM_LOGIN_MAX + 1);
	if (n > MM_LOGIN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '.' && c != '-' && c != '_')
			return false;
	}
	return true;
}

static int login_out(const char *buf, int len, char *out, size_t outsz)
{
	if (len <= 0 || !out || !login_valid(buf))
		return -EINVAL;
	if ((size_t)len >= outsz)
		return -ENOSPC;
	memcpy(out, buf, (size_t)len + 1);
	return len;
}

int login_person(const char *given_name, const char *sn, char *out, size_t outsz)
{
	char buf[MM_LOGIN_MAX + 1];
	int r = join_names(given_name, sn, MM_LOGIN_MAX, buf);

	if (r < 0)
		return r;
	return login_out(buf, r, out, outsz);
}

int login_org(const char *name, char *out, size_t outsz)
{
	char buf[MM_LOGIN_MAX + 1];
	int r = fold_capped(name, '-', buf, MM_LOGIN_MAX);

	if (r < 0)
		return r;
	return login_out(buf, r, out, outsz);
}

int login_candidate(const char *base, unsigned n, char *out, size_t outsz)
{
	char buf[MM_LOGIN_MAX + 1];
	int r;

	if (!out || n == 0 || !login_valid(base))
		return -EINVAL;
	if (n == 1)
		return login_out(base, (int)strlen(base), out, outsz);
	r = candidate(base, strlen(base), "", MM_LOGIN_MAX, n, buf, sizeof(buf));
	if (r < 0)
		return r;
	return login_out(buf, r, out, outsz);
}
