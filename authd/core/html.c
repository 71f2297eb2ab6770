/* A strict allow-list checker for rich text: refuses (never rewrites) anything outside a small HTML subset. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "html.h"
#include "validate.h"

struct cur {
	const char *s;
	size_t len, pos;
	struct html_error *err;
};

static int fail(struct cur *c, const char *rule, size_t at, const char *what, size_t wlen)
{
	if (c->err) {
		c->err->rule = rule;
		c->err->offset = at;
		if (wlen >= sizeof(c->err->what))
			wlen = sizeof(c->err->what) - 1;
		memcpy(c->err->what, what ? what : "", what ? wlen : 0);
		c->err->what[what ? wlen : 0] = '\0';
	}
	return -EINVAL;
}

static bool is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f';
}

static char lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

/* Case-insensitive comparison of a (n bytes) with the NUL-terminated b. */
static bool eq_ci(const char *a, size_t n, const char *b)
{
	size_t i;

	for (i = 0; i < n && b[i]; i++)
		if (lower(a[i]) != b[i])
			return false;
	return i == n && b[i] == '\0';
}

static bool starts_ci(const char *a, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);

	return n >= k && eq_ci(a, k, prefix);
}

/* --- elements and attributes ----------------------------------------- */

enum { A_STYLE = 1, A_FONT = 2, A_IMG = 4 };

static const struct tag {
	const char *name;
	unsigned attrs;
	bool is_void;
} tags[] = {
	{"b", A_STYLE, false},
	{"strong", A_STYLE, false},
	{"i", A_STYLE, false},
	{"em", A_STYLE, false},
	{"u", A_STYLE, false},
	{"span", A_STYLE, false},
	{"font", A_STYLE | A_FONT, false},
	{"p", A_STYLE, false},
	{"div", A_STYLE, false},
	{"br", 0, true},
	{"ul", A_STYLE, false},
	{"ol", A_STYLE, false},
	{"li", A_STYLE, false},
	{"img", A_IMG, true},
};

static const struct tag *tag_find(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
		if (eq_ci(name, n, tags[i].name))
			return &tags[i];
	return NULL;
}

/* --- CSS values ---------------------------------------------------------- */

static bool css_color(const char *v, size_t n)
{
	size_t i;

	if (n >= 4 && v[0] == '#') {
		for (i = 1; i < n; i++)
			if (!(is_digit(v[i]) || (lower(v[i]) >= 'a' && lower(v[i]) <= 'f')))
				return false;
		return n == 4 || n == 5 || n == 7 || n == 9;
	}
	if (starts_ci(v, n, "rgb(") || starts_ci(v, n, "rgba(")) {
		size_t open = v[3] == '(' ? 4 : 5;
		if (v[n - 1] != ')')
			return false;
		for (i = open; i < n - 1; i++)
			if (!(is_digit(v[i]) || v[i] == ',' || v[i] == '.' || v[i] == '%' || v[i] == ' '))
				return false;
		return n - 1 > open;
	}
	if (n == 0 || n > 24)
		return false;
	for (i = 0; i < n; i++)
		if (!is_alpha(v[i]))
			return false;
	return true;
}

static bool css_font_size(const char *v, size_t n)
{
	static const char *const kw[] = {"xx-small", "x-small", "small", "medium", "large", "x-large",
		"xx-large", "xxx-large", "smaller", "larger", NULL};
	static const char *const units[] = {"px", "pt", "em", "rem", "%", NULL};
	size_t i = 0, dots = 0;

	for (size_t k = 0; kw[k]; k++)
		if (eq_ci(v, n, kw[k]))
			return true;
	while (i < n && (is_digit(v[i]) || v[i] == '.')) {
		dots += v[i] == '.';
		i++;
	}
	if (i == 0 || i > 6 || dots > 1)
		return false;
	for (size_t k = 0; units[k]; k++)
		if (eq_ci(v + i, n - i, units[k]))
			return true;
	return false;
}

static bool css_font_family(const char *v, size_t n)
{
	size_t i = 0;

	if (n == 0 || n > 200)
		return false;
	while (i < n) {
		char q = 0;
		size_t start;

		while (i < n && v[i] == ' ')
			i++;
		if (i < n && (v[i] == '\'' || v[i] == '"'))
			q = v[i++];
		start = i;
		while (i < n &&
			(is_alpha(v[i]) || is_digit(v[i]) || v[i] == ' ' || v[i] == '-' || v[i] == '_'))
			i++;
		if (i == start)
			return false;
		if (q) {
			if (i >= n || v[i] != q)
				return false;
			i++;
		}
		while (i < n && v[i] == ' ')
			i++;
		if (i < n) {
			if (v[i] != ',')
				return false;
			i++;
			if (i == n)
				return false;
		}
	}
	return true;
}

static bool css_text_align(const char *v, size_t n)
{
	static const char *const kw[] = {"left", "right", "center", "justify", "start", "end", NULL};

	for (size_t k = 0; kw[k]; k++)
		if (eq_ci(v, n, kw[k]))
			return true;
	return false;
}

static void trim(const char **v, size_t *n)
{
	while (*n && is_space(**v)) {
		(*v)++;
		(*n)--;
	}
	while (*n && is_space((*v)[*n - 1]))
		(*n)--;
}

/* A style attribute's value: "prop: value; prop: value" with allowed pairs only. */
static int check_style(struct cur *c, const char *v, size_t n, size_t at)
{
	size_t i = 0;

	/* Whatever a property could be, these never belong in an allowed value. */
	for (size_t k = 0; k < n; k++) {
		if (v[k] == '\\' || (v[k] == '/' && k + 1 < n && v[k + 1] == '*'))
			return fail(c, "style_escape", at, "style", 5);
		if (starts_ci(v + k, n - k, "url(") || starts_ci(v + k, n - k, "expression") ||
			starts_ci(v + k, n - k, "@import") || starts_ci(v + k, n - k, "javascript:"))
			return fail(c, "style_url", at, "style", 5);
	}
	while (i < n) {
		size_t end = i, colon;
		const char *prop, *val;
		size_t plen, vlen;
		bool ok;

		while (end < n && v[end] != ';')
			end++;
		for (colon = i; colon < end && v[colon] != ':'; colon++)
			;
		prop = v + i;
		plen = colon - i;
		trim(&prop, &plen);
		if (colon == end) {
			if (plen) /* a declaration without a value */
				return fail(c, "style_value", at, prop, plen);
			i = end + 1;
			continue;
		}
		val = v + colon + 1;
		vlen = end - colon - 1;
		trim(&val, &vlen);
		if (eq_ci(prop, plen, "color") || eq_ci(prop, plen, "background-color"))
			ok = css_color(val, vlen);
		else if (eq_ci(prop, plen, "font-size"))
			ok = css_font_size(val, vlen);
		else if (eq_ci(prop, plen, "font-family"))
			ok = css_font_family(val, vlen);
		else if (eq_ci(prop, plen, "text-align"))
			ok = css_text_align(val, vlen);
		else
			return fail(c, "style_property", at, prop, plen);
		if (!ok)
			return fail(c, "style_value", at, prop, plen);
		i = end + 1;
	}
	return 0;
}

/* --- inline images ------------------------------------------------------- */

static int b64val(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (is_digit(ch))
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

static int check_img_src(struct cur *c, const char *v, size_t n, size_t at)
{
	static const struct {
		const char *prefix;
		const uint8_t magic[4];
		size_t mlen;
	} types[] = {
		{"data:image/png;base64,", {0x89, 'P', 'N', 'G'}, 4},
		{"data:image/jpeg;base64,", {0xff, 0xd8, 0xff, 0}, 3},
		{"data:image/gif;base64,", {'G', 'I', 'F', '8'}, 4},
	};
	uint8_t head[4];
	size_t k, pad = 0, decoded, got = 0;
	const char *d = NULL;
	size_t dn = 0, t;

	for (t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		size_t pl = strlen(types[t].prefix);
		if (n >= pl && !memcmp(v, types[t].prefix, pl)) {
			d = v + pl;
			dn = n - pl;
			break;
		}
	}
	if (!d)
		return fail(c, starts_ci(v, n, "data:") ? "image_type" : "image_src", at, "src", 3);
	if (dn == 0 || dn % 4)
		return fail(c, "image_data", at, "src", 3);
	for (k = 0; k < dn; k++) {
		if (d[k] == '=' && k >= dn - 2) {
			pad++;
			continue;
		}
		if (pad || b64val(d[k]) < 0)
			return fail(c, "image_data", at, "src", 3);
	}
	decoded = dn / 4 * 3 - pad;
	if (decoded > HTML_IMG_MAX_BYTES)
		return fail(c, "image_size", at, "src", 3);
	/* The first bytes must be the declared format's signature. */
	for (k = 0; k + 4 <= dn && got < types[t].mlen; k += 4) {
		uint32_t q = 0;
		for (size_t j = 0; j < 4; j++)
			q = q << 6 | (uint32_t)(d[k + j] == '=' ? 0 : b64val(d[k + j]));
		for (int j = 2; j >= 0 && got < sizeof(head); j--)
			head[got++] = (uint8_t)(q >> (8 * j));
	}
	if (decoded < types[t].mlen || memcmp(head, types[t].magic, types[t].mlen))
		return fail(c, "image_data", at, "src", 3);
	return 0;
}

/* --- attribute values that are not style or src ------------------------ */

static bool all_digits(const char *v, size_t n, size_t max)
{
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_digit(v[i]))
			return false;
	return true;
}

static int check_attr(struct cur *c, const struct tag *t, const char *name, size_t nlen, const char *v,
	size_t vlen, size_t at)
{
	if (nlen >= 2 && lower(name[0]) == 'o' && lower(name[1]) == 'n')
		return fail(c, "event_handler", at, name, nlen);
	if ((t->attrs & A_STYLE) && eq_ci(name, nlen, "style"))
		return check_style(c, v, vlen, at);
	if (t->attrs & A_FONT) {
		if (eq_ci(name, nlen, "face"))
			return css_font_family(v, vlen) ? 0 : fail(c, "attribute_value", at, name, nlen);
		if (eq_ci(name, nlen, "color"))
			return css_color(v, vlen) ? 0 : fail(c, "attribute_value", at, name, nlen);
		if (eq_ci(name, nlen, "size"))
			return vlen == 1 && v[0] >= '1' && v[0] <= '7'
				? 0
				: fail(c, "attribute_value", at, name, nlen);
	}
	if (t->attrs & A_IMG) {
		if (eq_ci(name, nlen, "src"))
			return check_img_src(c, v, vlen, at);
		if (eq_ci(name, nlen, "width") || eq_ci(name, nlen, "height"))
			return all_digits(v, vlen, 4) ? 0 : fail(c, "attribute_value", at, name, nlen);
		/* Controls, '&' and '<' were refused by the caller; UTF-8 by html_check. */
		if (eq_ci(name, nlen, "alt"))
			return vlen <= 256 ? 0 : fail(c, "attribute_value", at, name, nlen);
	}
	return fail(c, "attribute", at, name, nlen);
}

/* --- character references ----------------------------------------------- */

static int check_entity(struct cur *c)
{
	static const char *const named[] = {"amp", "lt", "gt", "quot", "apos", "nbsp", NULL};
	size_t start = c->pos, i = c->pos + 1, n;

	while (i < c->len && i - start <= 10 && c->s[i] != ';')
		i++;
	if (i >= c->len || c->s[i] != ';')
		return fail(c, "entity", start, NULL, 0);
	n = i - start - 1;
	if (n >= 2 && c->s[start + 1] == '#') {
		const char *p = c->s + start + 2;
		size_t m = n - 1;
		unsigned long cp = 0;
		bool hex = m > 0 && (p[0] == 'x' || p[0] == 'X');

		if (hex) {
			p++;
			m--;
		}
		if (m == 0 || m > 6)
			return fail(c, "entity", start, NULL, 0);
		for (size_t k = 0; k < m; k++) {
			char d = lower(p[k]);
			if (is_digit(d))
				cp = cp * (hex ? 16 : 10) + (unsigned long)(d - '0');
			else if (hex && d >= 'a' && d <= 'f')
				cp = cp * 16 + (unsigned long)(d - 'a' + 10);
			else
				return fail(c, "entity", start, NULL, 0);
		}
		/* No NUL, no controls, no surrogates: what the text itself may not hold. */
		if (cp < 0x20 ? !(cp == '\t' || cp == '\n' || cp == '\r')
			      : (cp >= 0x7f && cp < 0xa0) || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return fail(c, "entity", start, NULL, 0);
	} else {
		size_t k;
		for (k = 0; named[k]; k++)
			if (n == strlen(named[k]) && !memcmp(c->s + start + 1, named[k], n))
				break;
		if (!named[k])
			return fail(c, "entity", start, c->s + start + 1, n);
	}
	c->pos = i + 1;
	return 0;
}

/* --- tags ----------------------------------------------------------------- */

static size_t name_len(const struct cur *c, size_t from)
{
	size_t i = from;

	while (i < c->len && (is_alpha(c->s[i]) || (i > from && (is_digit(c->s[i]) || c->s[i] == '-'))))
		i++;
	return i - from;
}

static void skip_space(struct cur *c)
{
	while (c->pos < c->len && is_space(c->s[c->pos]))
		c->pos++;
}

/* A start tag at c->pos ('<' then a letter); on success c->pos is past '>'. */
static int start_tag(struct cur *c, const struct tag **ret)
{
	size_t at = c->pos, nlen = name_len(c, at + 1);
	const char *name = c->s + at + 1;
	const struct tag *t = tag_find(name, nlen);
	struct {
		size_t off, len;
	} seen[8];
	size_t nseen = 0;

	if (!t) {
		if (eq_ci(name, nlen, "script"))
			return fail(c, "script", at, name, nlen);
		return fail(c, "tag", at, name, nlen);
	}
	c->pos = at + 1 + nlen;
	for (;;) {
		size_t an_at, an, vstart;
		char q;
		int rc;

		bool sp = c->pos < c->len && is_space(c->s[c->pos]);
		skip_space(c);
		if (c->pos >= c->len)
			return fail(c, "unterminated", at, name, nlen);
		if (c->s[c->pos] == '>') {
			c->pos++;
			break;
		}
		if (c->s[c->pos] == '/' && c->pos + 1 < c->len && c->s[c->pos + 1] == '>') {
			if (!t->is_void)
				return fail(c, "self_closing", at, name, nlen);
			c->pos += 2;
			break;
		}
		an_at = c->pos;
		an = name_len(c, an_at);
		if (an == 0 || !sp)
			return fail(c, "attribute_syntax", an_at, c->s + an_at, 1);
		for (size_t k = 0; k < nseen; k++)
			if (seen[k].len == an && !strncasecmp(c->s + seen[k].off, c->s + an_at, an))
				return fail(c, "duplicate_attribute", an_at, c->s + an_at, an);
		if (nseen == sizeof(seen) / sizeof(seen[0]))
			return fail(c, "attribute", an_at, c->s + an_at, an);
		seen[nseen].off = an_at;
		seen[nseen++].len = an;
		c->pos += an;
		skip_space(c);
		/* Values are always quoted: no guessing where an unquoted one ends. */
		if (c->pos + 1 >= c->len || c->s[c->pos] != '=')
			return fail(c, "attribute_syntax", an_at, c->s + an_at, an);
		c->pos++;
		skip_space(c);
		if (c->pos >= c->len || (c->s[c->pos] != '"' && c->s[c->pos] != '\''))
			return fail(c, "attribute_syntax", an_at, c->s + an_at, an);
		q = c->s[c->pos++];
		vstart = c->pos;
		while (c->pos < c->len && c->s[c->pos] != q) {
			/* References in values could hide anything from the checks below. */
			if (c->s[c->pos] == '&' || c->s[c->pos] == '<' || (unsigned char)c->s[c->pos] < 0x20)
				return fail(c, "attribute_value", an_at, c->s + an_at, an);
			c->pos++;
		}
		if (c->pos >= c->len)
			return fail(c, "unterminated", an_at, c->s + an_at, an);
		rc = check_attr(c, t, c->s + an_at, an, c->s + vstart, c->pos - vstart, an_at);
		if (rc < 0)
			return rc;
		c->pos++;
	}
	*ret = t;
	return 0;
}

int html_check(const char *s, size_t len, struct html_error *err)
{
	struct cur c = {.s = s, .len = len, .err = err};
	const struct tag *stack[HTML_MAX_DEPTH];
	size_t depth = 0;

	if (err)
		memset(err, 0, sizeof(*err));
	if (len > HTML_MAX_BYTES)
		return fail(&c, "max_length", 0, NULL, 0);
	if (validate_utf8(s, len) < 0)
		return fail(&c, "utf8", 0, NULL, 0);
	while (c.pos < len) {
		char ch = s[c.pos];

		if ((unsigned char)ch < 0x20 && ch != '\n' && ch != '\r' && ch != '\t')
			return fail(&c, "control", c.pos, NULL, 0);
		if (ch == '&') {
			if (check_entity(&c) < 0)
				return -EINVAL;
			continue;
		}
		if (ch != '<') {
			c.pos++;
			continue;
		}
		if (c.pos + 1 >= len)
			return fail(&c, "unterminated", c.pos, NULL, 0);
		if (s[c.pos + 1] == '!' || s[c.pos + 1] == '?')
			return fail(&c, "comment", c.pos, NULL, 0);
		if (s[c.pos + 1] == '/') {
			size_t at = c.pos, nlen = name_len(&c, at + 2);
			const char *name = s + at + 2;
			const struct tag *t = tag_find(name, nlen);

			if (!t)
				return fail(
					&c, eq_ci(name, nlen, "script") ? "script" : "tag", at, name, nlen);
			if (depth == 0 || stack[depth - 1] != t)
				return fail(&c, "unbalanced", at, name, nlen);
			c.pos = at + 2 + nlen;
			skip_space(&c);
			if (c.pos >= len || s[c.pos] != '>')
				return fail(&c, "unterminated", at, name, nlen);
			c.pos++;
			depth--;
			continue;
		}
		if (is_alpha(s[c.pos + 1])) {
			const struct tag *t = NULL;
			size_t at = c.pos;

			if (start_tag(&c, &t) < 0)
				return -EINVAL;
			if (!strcmp(t->name, "li") &&
				(depth == 0 ||
					(strcmp(stack[depth - 1]->name, "ul") &&
						strcmp(stack[depth - 1]->name, "ol"))))
				return fail(&c, "nesting", at, "li", 2);
			if (t->is_void)
				continue;
			if (depth == HTML_MAX_DEPTH)
				return fail(&c, "depth", at, t->name, strlen(t->name));
			stack[depth++] = t;
			continue;
		}
		/* A lone '<' in text: the sender meant "&lt;". */
		return fail(&c, "syntax", c.pos, NULL, 0);
	}
	if (depth)
		return fail(&c, "unbalanced", len, stack[depth - 1]->name, strlen(stack[depth - 1]->name));
	return 0;
}

const char *html_rule_message(const char *rule)
{
	static const struct {
		const char *rule, *msg;
	} m[] = {
		{"max_length", "texte trop long"},
		{"utf8", "texte UTF-8 invalide"},
		{"control", "caractère de contrôle interdit"},
		{"entity", "référence de caractère inconnue"},
		{"comment", "commentaires et déclarations HTML interdits"},
		{"script", "script interdit"},
		{"tag", "balise non autorisée"},
		{"unbalanced", "balises mal imbriquées ou non fermées"},
		{"unterminated", "balise non terminée"},
		{"self_closing", "seuls br et img se ferment d'eux-mêmes"},
		{"nesting", "un élément de liste (li) doit être dans ul ou ol"},
		{"depth", "imbrication trop profonde"},
		{"syntax", "« < » isolé : écrire &lt;"},
		{"attribute", "attribut non autorisé"},
		{"event_handler", "attribut de gestion d'événement (on...) interdit"},
		{"attribute_syntax", "attribut mal formé (valeur entre guillemets attendue)"},
		{"attribute_value", "valeur d'attribut non autorisée"},
		{"duplicate_attribute", "attribut répété"},
		{"style_property",
			"propriété de style non autorisée (font-size, font-family, color, background-color, "
			"text-align)"},
		{"style_value", "valeur de style non autorisée"},
		{"style_url", "url(), expression() et @import interdits dans un style"},
		{"style_escape", "échappements et commentaires CSS interdits"},
		{"image_src", "une image doit être intégrée (data:image/png, jpeg ou gif en base64)"},
		{"image_type", "type d'image non autorisé (png, jpeg ou gif)"},
		{"image_size", "image trop grande"},
		{"image_data", "données d'image invalides"},
	};

	for (size_t i = 0; rule && i < sizeof(m) / sizeof(m[0]); i++)
		if (!strcmp(m[i].rule, rule))
			return m[i].msg;
	return "contenu HTML non autorisé";
}
