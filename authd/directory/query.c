/* Directory queries: the view of a request, the search fields checked and
 * folded, and the LDAP filter they make. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "directory.h"
#include "validate.h"
#include "dir_view.h"

static const char *const medimail_attrs[] = {"uid", "mmAccountType", "cn", "sn", "givenName", "mmLoginMail",
	"mmMssAddress", "mmVisibleMssante", "mmMssPending", "mmProfessionCode", "mmSpeciality", "o", "ou",
	"street", "postalCode", "l", "telephoneNumber", NULL};
/* No login, no login e-mail: the national directory knows MSSanté addresses only. */
static const char *const mssante_attrs[] = {"mmAccountType", "cn", "sn", "givenName", "mmMssAddress",
	"mmProfessionCode", "mmSpeciality", "o", "ou", "street", "postalCode", "l", "telephoneNumber", NULL};
/* A typeahead list shows who, which address, which profession, where (the
 * guides' result list); the rest is the contact's card (detail=full). */
static const char *const medimail_summary_attrs[] = {"uid", "mmAccountType", "cn", "mmLoginMail",
	"mmMssAddress", "mmVisibleMssante", "mmMssPending", "mmProfessionCode", "postalCode", "l", NULL};
static const char *const mssante_summary_attrs[] = {
	"mmAccountType", "cn", "mmMssAddress", "mmProfessionCode", "postalCode", "l", NULL};

/* TRE_G15 codes, for profession searches by label. */
static const char *const profession_codes[] = {
	"10",
	"21",
	"26",
	"28",
	"31",
	"32",
	"40",
	"50",
	"60",
	"69",
	"70",
	"80",
	"81",
	"82",
	"83",
	"84",
	"85",
	"86",
	"91",
	"92",
	"94",
	"95",
	"96",
	"98",
};

int dir_view_parse(const char *s, enum dir_view *ret)
{
	if (!s || !strcmp(s, "medimail"))
		*ret = DIR_VIEW_MEDIMAIL;
	else if (!strcmp(s, "mssante"))
		*ret = DIR_VIEW_MSSANTE;
	else
		return -EINVAL;
	return 0;
}

const char *const *dir_view_attrs(enum dir_view v, bool full)
{
	if (v == DIR_VIEW_MSSANTE)
		return full ? mssante_attrs : mssante_summary_attrs;
	return full ? medimail_attrs : medimail_summary_attrs;
}

void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *ns;

		while (cap < b->len + n + 1)
			cap *= 2;
		ns = realloc(b->s, cap);
		if (!ns) {
			b->err = -ENOMEM;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* One field checked (UTF-8, length, no control character) and folded. */
static int fold_field(const char *v, char *out, size_t outsz, const char **ret_rule)
{
	int n;

	if (validate_utf8(v, strlen(v)) < 0) {
		*ret_rule = "utf8";
		return -EINVAL;
	}
	if (strlen(v) > DIR_FIELD_MAX) {
		*ret_rule = "max_length";
		return -EINVAL;
	}
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p == 0x7f) {
			*ret_rule = "characters";
			return -EINVAL;
		}
	n = text_fold(v, ' ', out, outsz);
	if (n < 0) {
		*ret_rule = n == -ENOSPC ? "max_length" : "characters";
		return -EINVAL;
	}
	if (n == 0) {
		/* "*", ")(", punctuation only: nothing to look for. */
		*ret_rule = "empty";
		return -EINVAL;
	}
	return n;
}

/* "(mmSearchKey=<tag><word>*)" for each word of a field. */
static int add_words(struct sbuf *b, const char *v, const char *tag, const char **ret_rule)
{
	char folded[4 * DIR_FIELD_MAX + 1], *save = NULL;
	unsigned words = 0;
	int rc = fold_field(v, folded, sizeof(folded), ret_rule);

	if (rc < 0)
		return rc;
	for (char *w = strtok_r(folded, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		char *esc;

		if (++words > DIR_WORDS_MAX) {
			*ret_rule = "too_many_words";
			return -EINVAL;
		}
		/* Folded words are [a-z0-9]; escaped all the same. */
		esc = store_escape(w);
		if (!esc)
			return -ENOMEM;
		sb_str(b, "(mmSearchKey=");
		sb_str(b, tag);
		sb_str(b, esc);
		sb_str(b, "*)");
		free(esc);
	}
	return 0;
}

static int add_profession(struct sbuf *b, const char *v, const char **ret_rule)
{
	char folded[4 * DIR_FIELD_MAX + 1];
	int rc = fold_field(v, folded, sizeof(folded), ret_rule), hits = 0;
	struct sbuf any = {0};

	if (rc < 0)
		return rc;
	if (validate_profession_code(v) == 0) {
		sb_str(b, "(mmProfessionCode=");
		sb_str(b, v);
		sb_str(b, ")");
		return 0;
	}
	/* A label prefix: "pharm" -> 21, "infir" -> 60 and 69, "masseur kine" -> 70. */
	for (size_t i = 0; i < sizeof(profession_codes) / sizeof(profession_codes[0]); i++) {
		char label[256];
		const char *l = profession_label(profession_codes[i]);
		size_t n = strlen(folded);

		if (!l || text_fold(l, ' ', label, sizeof(label)) <= 0)
			continue;
		for (const char *p = label; p; p = strchr(p, ' ') ? strchr(p, ' ') + 1 : NULL)
			if (!strncmp(p, folded, n)) {
				sb_str(&any, "(mmProfessionCode=");
				sb_str(&any, profession_codes[i]);
				sb_str(&any, ")");
				hits++;
				break;
			}
	}
	if (any.err) {
		free(any.s);
		return any.err;
	}
	if (!hits) {
		*ret_rule = "unknown";
		return -EINVAL;
	}
	if (hits > 1)
		sb_str(b, "(|");
	sb_str(b, any.s);
	if (hits > 1)
		sb_str(b, ")");
	free(any.s);
	return 0;
}

static int add_postal_code(struct sbuf *b, const char *v, const char **ret_rule)
{
	size_t n = strlen(v);

	if (n > DIR_FIELD_MAX) {
		*ret_rule = "max_length";
		return -EINVAL;
	}
	if (n == 0 || n > 5 || strspn(v, "0123456789") != n) {
		*ret_rule = "syntax";
		return -EINVAL;
	}
	sb_str(b, "(postalCode=");
	sb_str(b, v);
	sb_str(b, "*)");
	return 0;
}

int dir_filter(const struct dir_query *q, enum dir_view v, char **ret_filter, const char **ret_field,
	const char **ret_rule)
{
	const struct {
		const char *key, *value, *tag;
	} words[] = {
		{"q", q->q, ""},
		{"name", q->name, "n:"},
		{"first_name", q->first_name, "g:"},
		{"city", q->city, "c:"},
		{"address", q->address, "s:"},
		{"raison_sociale", q->raison_sociale, "o:"},
	};
	struct sbuf b = {0};
	size_t before;
	int rc = 0;

	*ret_filter = NULL;
	*ret_field = NULL;
	*ret_rule = NULL;
	sb_str(&b, "(&");
	sb_str(&b, v == DIR_VIEW_MSSANTE ? VIEW_MSSANTE : VIEW_MEDIMAIL);
	before = b.len;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]) && rc == 0; i++)
		if (words[i].value && *words[i].value) {
			rc = add_words(&b, words[i].value, words[i].tag, ret_rule);
			if (rc < 0)
				*ret_field = words[i].key;
		}
	if (rc == 0 && q->profession && *q->profession &&
		(rc = add_profession(&b, q->profession, ret_rule)) < 0)
		*ret_field = "profession";
	if (rc == 0 && q->postal_code && *q->postal_code &&
		(rc = add_postal_code(&b, q->postal_code, ret_rule)) < 0)
		*ret_field = "postal_code";
	if (rc == 0 && b.len == before) {
		*ret_field = "q";
		*ret_rule = "required";
		rc = -EINVAL;
	}
	sb_str(&b, ")");
	if (rc == 0)
		rc = b.err;
	if (rc < 0) {
		free(b.s);
		return rc;
	}
	*ret_filter = b.s;
	return 0;
}

int dir_query_filter(const struct dir_query *q, enum dir_view v, char **ret_filter, struct fault *f)
{
	const char *field = NULL, *rule = NULL;
	int rc = dir_filter(q, v, ret_filter, &field, &rule);

	if (rc == -EINVAL)
		return fault_field(f, field, rule, "%s : %s", field,
			!strcmp(rule, "required")             ? "au moins un critère de recherche"
				: !strcmp(rule, "empty")      ? "aucune lettre ni chiffre à chercher"
				: !strcmp(rule, "unknown")    ? "profession inconnue (nomenclature TRE_G15)"
				: !strcmp(rule, "max_length") ? "128 octets au plus"
				: !strcmp(rule, "too_many_words") ? "8 mots au plus"
								  : "valeur invalide");
	if (rc < 0)
		return fault_set(f, rc, "mémoire insuffisante");
	return 0;
}
