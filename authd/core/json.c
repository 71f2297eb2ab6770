/* Flat JSON objects of string values: encoder and strict parser. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "secret.h"
#include "validate.h"

struct sb {
	char *p;
	size_t n, cap;
	bool err;
};

static void sb_putc(struct sb *b, char c)
{
	if (b->err)
		return;
	if (b->n + 2 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 128;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->err = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	b->p[b->n++] = c;
	b->p[b->n] = '\0';
}

static void sb_str(struct sb *b, const char *s)
{
	sb_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			sb_putc(b, '\\');
			sb_putc(b, (char)*p);
		} else if (*p < 0x20) {
			char e[8];
			snprintf(e, sizeof(e), "\\u%04x", *p);
			for (char *q = e; *q; q++)
				sb_putc(b, *q);
		} else {
			sb_putc(b, (char)*p);
		}
	}
	sb_putc(b, '"');
}

char *json_flat_encode(const char *const *kv, size_t n)
{
	struct sb b = {0};
	bool first = true;

	sb_putc(&b, '{');
	for (size_t i = 0; i < n; i++) {
		if (!kv[2 * i + 1])
			continue;
		if (!first)
			sb_putc(&b, ',');
		first = false;
		sb_str(&b, kv[2 * i]);
		sb_putc(&b, ':');
		sb_str(&b, kv[2 * i + 1]);
	}
	sb_putc(&b, '}');
	if (b.err) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

static void skip_ws(const char **s)
{
	while (**s == ' ' || **s == '\t' || **s == '\n' || **s == '\r')
		(*s)++;
}

static int hex4(const char *s, uint32_t *ret)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -EINVAL;
	}
	*ret = v;
	return 0;
}

static void put_utf8(struct sb *b, uint32_t cp)
{
	if (cp < 0x80) {
		sb_putc(b, (char)cp);
	} else if (cp < 0x800) {
		sb_putc(b, (char)(0xc0 | (cp >> 6)));
		sb_putc(b, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		sb_putc(b, (char)(0xe0 | (cp >> 12)));
		sb_putc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
		sb_putc(b, (char)(0x80 | (cp & 0x3f)));
	} else {
		sb_putc(b, (char)(0xf0 | (cp >> 18)));
		sb_putc(b, (char)(0x80 | ((cp >> 12) & 0x3f)));
		sb_putc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
		sb_putc(b, (char)(0x80 | (cp & 0x3f)));
	}
}

/* A JSON string at *s; on success *s is past its closing quote. */
static int parse_str(const char **s, char **ret)
{
	struct sb b = {0};
	const char *p = *s;

	if (*p++ != '"')
		return -EINVAL;
	sb_putc(&b, '\0');
	b.n = 0;
	while (*p != '"') {
		uint32_t cp;

		if (*p == '\0' || (unsigned char)*p < 0x20)
			goto bad;
		if (*p != '\\') {
			sb_putc(&b, *p++);
			continue;
		}
		p++;
		switch (*p) {
		case '"':
		case '\\':
		case '/': sb_putc(&b, *p); break;
		case 'b': sb_putc(&b, '\b'); break;
		case 'f': sb_putc(&b, '\f'); break;
		case 'n': sb_putc(&b, '\n'); break;
		case 'r': sb_putc(&b, '\r'); break;
		case 't': sb_putc(&b, '\t'); break;
		case 'u':
			if (hex4(p + 1, &cp) < 0)
				goto bad;
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00) {
				uint32_t lo;
				if (p[1] != '\\' || p[2] != 'u' || hex4(p + 3, &lo) < 0 || lo < 0xdc00 ||
					lo > 0xdfff)
					goto bad;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			} else if ((cp >= 0xdc00 && cp <= 0xdfff) || cp == 0) {
				goto bad;
			}
			put_utf8(&b, cp);
			break;
		default: goto bad;
		}
		p++;
	}
	if (b.err)
		goto bad;
	*s = p + 1;
	*ret = b.p;
	return 0;
bad:
	secret_free(b.p);
	return b.err ? -ENOMEM : -EINVAL;
}

int json_flat_parse(const char *s, struct json_flat *ret)
{
	struct json_flat j = {0};
	int rc = -EINVAL;

	memset(ret, 0, sizeof(*ret));
	skip_ws(&s);
	if (*s++ != '{')
		return -EINVAL;
	skip_ws(&s);
	if (*s == '}') {
		s++;
		goto end;
	}
	for (;;) {
		char *k = NULL, *v = NULL;

		if (j.n == JSON_FLAT_MAX)
			goto fail;
		if ((rc = parse_str(&s, &k)) < 0)
			goto fail;
		skip_ws(&s);
		if (*s++ != ':' || (skip_ws(&s), (rc = parse_str(&s, &v)) < 0) || json_flat_get(&j, k)) {
			free(k);
			secret_free(v);
			rc = rc < 0 ? rc : -EINVAL;
			goto fail;
		}
		j.key[j.n] = k;
		j.val[j.n++] = v;
		skip_ws(&s);
		if (*s == ',') {
			s++;
			skip_ws(&s);
			continue;
		}
		if (*s++ != '}') {
			rc = -EINVAL;
			goto fail;
		}
		break;
	}
end:
	skip_ws(&s);
	if (*s) {
		rc = -EINVAL;
		goto fail;
	}
	*ret = j;
	return 0;
fail:
	json_flat_free(&j);
	return rc < 0 ? rc : -EINVAL;
}

const char *json_flat_get(const struct json_flat *j, const char *key)
{
	for (size_t i = 0; i < j->n; i++)
		if (!strcmp(j->key[i], key))
			return j->val[i];
	return NULL;
}

void json_flat_free(struct json_flat *j)
{
	for (size_t i = 0; i < j->n; i++) {
		free(j->key[i]);
		secret_free(j->val[i]);
	}
	j->n = 0;
}

/* --- an object's members appended to a text ------------------------------- */

static void out_room(struct json_out *o, size_t more)
{
	size_t cap = o->cap ? o->cap : 64;
	char *p;

	if (o->err || o->n + more + 1 <= o->cap)
		return;
	while (cap < o->n + more + 1)
		cap *= 2;
	if (!(p = realloc(o->p, cap))) {
		o->err = true;
		return;
	}
	o->p = p;
	o->cap = cap;
}

static void out_raw(struct json_out *o, const char *s, size_t n)
{
	out_room(o, n);
	if (o->err)
		return;
	memcpy(o->p + o->n, s, n);
	o->n += n;
	o->p[o->n] = '\0';
}

/* ,"key": (the key is the caller's own text, a name without quotes or escapes) */
static void out_key(struct json_out *o, const char *key)
{
	if (o->members)
		out_raw(o, ",", 1);
	out_raw(o, "\"", 1);
	out_raw(o, key, strlen(key));
	out_raw(o, "\":", 2);
	o->members = true;
}

void json_out_take(struct json_out *o, char *start, size_t n)
{
	*o = (struct json_out){.p = start, .n = n, .cap = start ? n + 1 : 0, .err = !start};
	o->members = start && n > 0 && start[n - 1] != '{';
}

void json_out_str(struct json_out *o, const char *key, const char *val)
{
	size_t len, from = 0;

	if (!val || validate_utf8(val, (len = strlen(val))) < 0)
		return;
	out_key(o, key);
	out_raw(o, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)val[i];
		char e[8];

		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		out_raw(o, val + from, i - from);
		if (ch == '"' || ch == '\\') {
			e[0] = '\\';
			e[1] = (char)ch;
			out_raw(o, e, 2);
		} else {
			snprintf(e, sizeof(e), "\\u%04x", ch);
			out_raw(o, e, 6);
		}
		from = i + 1;
	}
	out_raw(o, val + from, len - from);
	out_raw(o, "\"", 1);
}

void json_out_int(struct json_out *o, const char *key, long long val)
{
	char v[24];
	int n = snprintf(v, sizeof(v), "%lld", val);

	out_key(o, key);
	out_raw(o, v, (size_t)n);
}

void json_out_bool(struct json_out *o, const char *key, bool val)
{
	out_key(o, key);
	out_raw(o, val ? "true" : "false", val ? 4 : 5);
}

char *json_out_end(struct json_out *o)
{
	char *p;

	out_raw(o, "}", 1);
	if (o->err) {
		free(o->p);
		*o = (struct json_out){0};
		return NULL;
	}
	p = o->p;
	*o = (struct json_out){0};
	return p;
}
