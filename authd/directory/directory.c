/* The two directories of the guides: views, typeahead search, favourites, visibility toggles, the national export. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "daemon.h"
#include "directory.h"
#include "log.h"
#include "validate.h"

/* The view terms; acl.conf grants the same (the ACLs are the enforcement for
 * every other LDAP client; the daemon binds as cn=authd and applies them
 * itself). */
#define VIEW_MEDIMAIL "(objectClass=mmAccount)(mmStatus=active)(!(mmVisibleMedimail=FALSE))"
#define VIEW_MSSANTE                                                                                         \
	"(objectClass=mmAccount)(mmStatus=active)(mmVisibleMssante=TRUE)(mmMssAddress=*)"                    \
	"(|(mmAccountType=PER)(mmAccountType=INT)(mmAccountType=ORG))"

static const char *const medimail_attrs[] = {"uid", "mmAccountType", "cn", "sn", "givenName", "mmLoginMail",
	"mmMssAddress", "mmVisibleMssante", "mmProfessionCode", "mmSpeciality", "o", "ou", "street",
	"postalCode", "l", "telephoneNumber", NULL};
/* No login, no login e-mail: the national directory knows MSSanté addresses only. */
static const char *const mssante_attrs[] = {"mmAccountType", "cn", "sn", "givenName", "mmMssAddress",
	"mmProfessionCode", "mmSpeciality", "o", "ou", "street", "postalCode", "l", "telephoneNumber", NULL};
/* A typeahead list shows who, which address, which profession, where (the
 * guides' result list); the rest is the contact's card (detail=full). */
static const char *const medimail_summary_attrs[] = {"uid", "mmAccountType", "cn", "mmLoginMail",
	"mmMssAddress", "mmVisibleMssante", "mmProfessionCode", "postalCode", "l", NULL};
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

/* A growing string; err remembers an allocation failure. */
struct sbuf {
	char *s;
	size_t len, cap;
	int err;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
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

static void sb_str(struct sbuf *b, const char *s)
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

/* Sort by folded display name; each key is folded once, not per comparison. */
struct sort_item {
	char key[128];
	struct entry *e;
};

static int sort_item_cmp(const void *pa, const void *pb)
{
	const struct sort_item *a = pa, *b = pb;

	return strcmp(a->key, b->key);
}

static void entries_sort(struct entry **e, size_t n)
{
	struct sort_item *v;

	if (n < 2 || !(v = calloc(n, sizeof(*v))))
		return; /* unsorted is still a correct answer */
	for (size_t i = 0; i < n; i++) {
		const char *name = entry_get(e[i], "cn");

		v[i].e = e[i];
		if (!name || text_fold(name, ' ', v[i].key, sizeof(v[i].key)) < 0)
			v[i].key[0] = '\0';
	}
	qsort(v, n, sizeof(*v), sort_item_cmp);
	for (size_t i = 0; i < n; i++)
		e[i] = v[i].e;
	free(v);
}

int dir_search(struct store *s, const struct mm_config *c, enum dir_view v, bool full, const char *filter,
	struct entry ***ret, size_t *ret_n, bool *ret_more)
{
	struct entry **e = NULL;
	size_t n = 0;
	/* One more than shown, to know whether to ask for a narrower search. */
	int rc = store_search(s, c->ldap_base, LDAP_SCOPE_SUBTREE, filter, dir_view_attrs(v, full),
		DIR_MAX_RESULTS + 1, &e, &n);

	if (rc < 0)
		return rc;
	*ret_more = n > DIR_MAX_RESULTS;
	while (n > DIR_MAX_RESULTS)
		entry_free(e[--n]);
	entries_sort(e, n);
	*ret = e;
	*ret_n = n;
	return 0;
}

/* The account named by login (uid) in a view, or -ENOENT. */
static int find_in_view(struct store *s, const struct mm_config *c, const char *login, enum dir_view v,
	const char *const *attrs, struct entry **ret)
{
	char *esc = NULL, *filter = NULL;
	int rc;

	*ret = NULL;
	if (validate_text(login, 64) < 0)
		return -ENOENT;
	esc = store_escape(login);
	if (!esc ||
		asprintf(&filter, "(&%s(uid=%s))", v == DIR_VIEW_MSSANTE ? VIEW_MSSANTE : VIEW_MEDIMAIL,
			esc) < 0) {
		free(esc);
		return -ENOMEM;
	}
	rc = store_search_one(s, c->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, ret);
	free(esc);
	free(filter);
	return rc;
}

int dir_favorite_add(struct store *s, const struct mm_config *c, const char *owner_dn,
	const char *target_login, enum dir_view v)
{
	static const char *const fav_attrs[] = {"mmFavorite", NULL};
	static const char *const dn_only[] = {LDAP_NO_ATTRS, NULL};
	struct entry *owner = NULL, *target = NULL;
	const struct attr *a;
	struct mods m;
	int rc;

	if ((rc = find_in_view(s, c, target_login, v, dn_only, &target)) < 0)
		return rc;
	if ((rc = store_read(s, owner_dn, fav_attrs, &owner)) < 0)
		goto out;
	a = entry_attr(owner, "mmFavorite");
	if (a && entry_has_value(owner, "mmFavorite", target->dn)) {
		rc = -EEXIST;
		goto out;
	}
	if (a && a->nvals >= DIR_MAX_FAVORITES) {
		rc = -ENOSPC;
		goto out;
	}
	mods_init(&m);
	mods_add(&m, LDAP_MOD_ADD, "mmFavorite", target->dn);
	rc = store_modify(s, owner_dn, &m);
	mods_free(&m);
out:
	entry_free(owner);
	entry_free(target);
	return rc;
}

int dir_favorite_del(
	struct store *s, const struct mm_config *c, const char *owner_dn, const char *target_login)
{
	static const char *const fav_attrs[] = {"mmFavorite", NULL};
	const struct attr *a;
	struct entry *owner = NULL;
	struct mods m;
	int rc;

	(void)c;
	if ((rc = store_read(s, owner_dn, fav_attrs, &owner)) < 0)
		return rc;
	a = entry_attr(owner, "mmFavorite");
	rc = -ENOENT;
	/* By login, even if the contact has since left the view. */
	for (size_t i = 0; a && i < a->nvals; i++) {
		const char *dn = a->vals[i];
		size_t n = strlen(target_login);

		if (!strncasecmp(dn, "uid=", 4) && !strncmp(dn + 4, target_login, n) && dn[4 + n] == ',') {
			mods_init(&m);
			mods_add(&m, LDAP_MOD_DELETE, "mmFavorite", dn);
			rc = store_modify(s, owner_dn, &m);
			mods_free(&m);
			if (rc == -ESTALE)
				rc = -ENOENT;
			break;
		}
	}
	entry_free(owner);
	return rc;
}

int dir_favorite_list(struct store *s, const struct mm_config *c, const char *owner_dn, enum dir_view v,
	struct entry ***ret, size_t *ret_n)
{
	static const char *const fav_attrs[] = {"mmFavorite", NULL};
	struct entry *owner = NULL, **e = NULL;
	const struct attr *a;
	struct sbuf b = {0};
	size_t n = 0, terms = 0;
	int rc;

	*ret = NULL;
	*ret_n = 0;
	if ((rc = store_read(s, owner_dn, fav_attrs, &owner)) < 0)
		return rc;
	a = entry_attr(owner, "mmFavorite");
	sb_str(&b, "(&");
	sb_str(&b, v == DIR_VIEW_MSSANTE ? VIEW_MSSANTE : VIEW_MEDIMAIL);
	sb_str(&b, "(|");
	for (size_t i = 0; a && i < a->nvals && i < DIR_MAX_FAVORITES; i++) {
		const char *dn = a->vals[i];
		size_t len;
		char login[80], *esc;

		if (strncasecmp(dn, "uid=", 4))
			continue;
		len = strcspn(dn + 4, ",");
		if (len == 0 || len >= sizeof(login))
			continue;
		memcpy(login, dn + 4, len);
		login[len] = '\0';
		if (!(esc = store_escape(login))) {
			rc = -ENOMEM;
			goto out;
		}
		sb_str(&b, "(uid=");
		sb_str(&b, esc);
		sb_str(&b, ")");
		free(esc);
		terms++;
	}
	sb_str(&b, "))");
	if ((rc = b.err) < 0 || terms == 0)
		goto out;
	rc = store_search(
		s, c->ldap_base, LDAP_SCOPE_SUBTREE, b.s, dir_view_attrs(v, true), DIR_MAX_FAVORITES, &e, &n);
	if (rc < 0)
		goto out;
	entries_sort(e, n);
	*ret = e;
	*ret_n = n;
out:
	free(b.s);
	entry_free(owner);
	return rc;
}

/* ------------------------------------------------------------- export */

static const char *const export_header[DIR_EXPORT_COLUMNS] = {
	"Type de BAL",
	"Adresse BAL",
	"Type Identifiant PP",
	"Identifiant PP",
	"Identification nationale PP",
	"Type identifiant structure",
	"Identification Structure",
	"Service de rattachement",
	"Civilité d'exercice",
	"Nom d'exercice",
	"Prénom d'exercice",
	"Catégorie profession",
	"Libellé de catégorie profession",
	"Code Profession",
	"Libellé Profession",
	"Code savoir-faire",
	"Libellé savoir-faire",
	"Dématérialisation",
	"Raison Sociale structure BAL",
	"Enseigne commerciale structure BAL",
	"L2COMPLEMENTLOCALISATION",
	"L3COMPLEMENTDISTRIBUTION",
	"L4NUMEROVOIE",
	"L4COMPLEMENTNUMEROVOIE",
	"NL4TYPEVOIE",
	"L4LIBELLEVOIE",
	"L5LIEUDITMENTION",
	"L6LIGNEACHEMINEMENT",
	"Code postal",
	"Département",
	"Pays",
};

static const char *const export_attrs[] = {"mmAccountType", "mmMssAddress", "mmRpps", "mmAdeli",
	"mmNationalId", "mmStructIdType", "mmStructId", "ou", "sn", "givenName", "mmProfessionCode",
	"mmSpeciality", "mmDematerialisation", "o", "street", "postalCode", "l", "mmDepartment", NULL};

#define EXPORT_VALUE_MAX 512

/* A bounded cursor over the output line. */
struct line {
	char *p;
	size_t len, cap;
	bool full;
};

/* Appends a value: '|' and control characters become spaces (the format has
 * no quoting), cut at EXPORT_VALUE_MAX bytes on a UTF-8 boundary. */
static void line_value(struct line *l, const char *v)
{
	size_t n = v ? strlen(v) : 0;

	if (n > EXPORT_VALUE_MAX) {
		n = EXPORT_VALUE_MAX;
		while (n && ((unsigned char)v[n] & 0xc0) == 0x80)
			n--;
	}
	if (l->len + n + 1 >= l->cap) {
		l->full = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];
		l->p[l->len++] = (ch == '|' || ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
	}
	l->p[l->len] = '\0';
}

static void line_sep(struct line *l)
{
	if (l->len + 2 >= l->cap) {
		l->full = true;
		return;
	}
	l->p[l->len++] = '|';
	l->p[l->len] = '\0';
}

/* Département of a postcode: 2A/2B for Corsica, three digits overseas. */
static void department_of(const char *pc, char out[4])
{
	out[0] = '\0';
	if (!pc || strlen(pc) != 5 || strspn(pc, "0123456789") != 5)
		return;
	if (!strncmp(pc, "20", 2))
		snprintf(out, 4, "%s", pc[2] <= '1' ? "2A" : "2B");
	else if (!strncmp(pc, "97", 2) || !strncmp(pc, "98", 2))
		snprintf(out, 4, "%.3s", pc);
	else
		snprintf(out, 4, "%.2s", pc);
}

int dir_export_line(const struct entry *e, char *out, size_t outsz)
{
	const char *type = entry_get(e, "mmAccountType"), *addr = entry_get(e, "mmMssAddress");
	const char *rpps = entry_get(e, "mmRpps"), *adeli = entry_get(e, "mmAdeli");
	const char *stype = entry_get(e, "mmStructIdType"), *sid = entry_get(e, "mmStructId");
	const char *prof = entry_get(e, "mmProfessionCode"), *street = entry_get(e, "street");
	const char *pc = entry_get(e, "postalCode"), *city = entry_get(e, "l");
	const char *dep = entry_get(e, "mmDepartment"), *demat = entry_get(e, "mmDematerialisation");
	const char *cols[DIR_EXPORT_COLUMNS] = {0};
	char idnat[300] = "", idstruct[32] = "", num[16] = "", compl [8] = "", acheminement[160] = "",
	     dept[4] = "";
	const char *voie = street;
	bool org = type && !strcmp(type, MM_TYPE_ORG);
	struct line l = {out, 0, outsz, false};

	if (!type || !addr || outsz < 2)
		return -EINVAL;
	cols[0] = org ? "ORG" : "PER";
	cols[1] = addr;
	if (!org) {
		if (rpps) {
			cols[2] = "8";
			cols[3] = rpps;
			snprintf(idnat, sizeof(idnat), "8%s", rpps);
		} else if (adeli) {
			cols[2] = "0";
			cols[3] = adeli;
			snprintf(idnat, sizeof(idnat), "0%s", adeli);
		} else {
			/* No national id yet (INT): "10" + the MSSanté address. */
			cols[2] = "10";
			cols[3] = addr;
			snprintf(idnat, sizeof(idnat), "10%s", addr);
		}
		cols[4] = idnat;
	}
	if (stype && sid) {
		cols[5] = !strcmp(stype, "FINESS") ? "1" : !strcmp(stype, "SIREN") ? "2" : "3";
		snprintf(idstruct, sizeof(idstruct), "%s%s", cols[5], sid);
		cols[6] = idstruct;
	}
	cols[7] = entry_get(e, "ou");
	if (!org) {
		cols[9] = entry_get(e, "sn");
		cols[10] = entry_get(e, "givenName");
		/* TRE_R09 category: civilian (the guides know no other). */
		cols[11] = "C";
		cols[12] = "Civil";
		cols[13] = prof;
		cols[14] = prof ? profession_label(prof) : NULL;
		cols[16] = entry_get(e, "mmSpeciality");
	}
	cols[17] = demat && !strcasecmp(demat, "FALSE") ? "N" : "O";
	cols[18] = entry_get(e, "o");
	/* "12 bis rue X" -> number 12, complement B, way "rue X". */
	if (street) {
		size_t d = strspn(street, "0123456789");
		if (d > 0 && d < sizeof(num) && (street[d] == ' ' || street[d] == '\0')) {
			memcpy(num, street, d);
			num[d] = '\0';
			voie = street + d + strspn(street + d, " ");
			if (!strncasecmp(voie, "bis ", 4) || !strncasecmp(voie, "ter ", 4)) {
				snprintf(compl, sizeof(compl ), "%c",
					voie[0] == 'b' || voie[0] == 'B' ? 'B' : 'T');
				voie += 4;
			}
		}
	}
	cols[22] = num;
	cols[23] = compl ;
	cols[25] = voie;
	if (pc && city) {
		char folded[128];
		if (text_fold(city, ' ', folded, sizeof(folded)) > 0) {
			for (char *p = folded; *p; p++)
				if (*p >= 'a' && *p <= 'z')
					*p = (char)(*p - 'a' + 'A');
			snprintf(acheminement, sizeof(acheminement), "%s %s", pc, folded);
		}
	}
	cols[27] = acheminement;
	cols[28] = pc;
	if (dep)
		snprintf(dept, sizeof(dept), "%.3s", dep);
	else
		department_of(pc, dept);
	cols[29] = dept;
	cols[30] = "France";
	for (size_t i = 0; i < DIR_EXPORT_COLUMNS; i++) {
		if (i)
			line_sep(&l);
		line_value(&l, cols[i]);
	}
	return l.full ? -ENOSPC : (int)l.len;
}

struct export_ctx {
	dir_emit_fn emit;
	void *ctx;
	char *chunk;
	size_t len;
	size_t count;
};

static int export_flush(struct export_ctx *x)
{
	int rc = 0;

	if (x->len)
		rc = x->emit(x->chunk, x->len, x->ctx);
	x->len = 0;
	return rc;
}

static int export_add(struct export_ctx *x, const char *line, size_t n)
{
	int rc;

	if (x->len + n + 1 > DIR_EXPORT_CHUNK && (rc = export_flush(x)) < 0)
		return rc;
	memcpy(x->chunk + x->len, line, n);
	x->chunk[x->len + n] = '\n';
	x->len += n + 1;
	return 0;
}

static int export_entry(const struct entry *e, void *p)
{
	struct export_ctx *x = p;
	char line[DIR_EXPORT_COLUMNS * (EXPORT_VALUE_MAX + 1) + 1];
	int n = dir_export_line(e, line, sizeof(line));

	if (n < 0) {
		/* An entry the view admitted but that cannot make a line: skip it, say so. */
		log_msg(LOG_WARNING, "export: %s skipped (%s)", e->dn, strerror(-n));
		return 0;
	}
	x->count++;
	return export_add(x, line, (size_t)n);
}

int dir_export(struct store *s, const struct mm_config *c, dir_emit_fn emit, void *ctx, size_t *ret_count)
{
	struct export_ctx x = {emit, ctx, NULL, 0, 0};
	char header[1024] = "";
	size_t seen = 0, o = 0;
	int rc;

	x.chunk = malloc(DIR_EXPORT_CHUNK);
	if (!x.chunk)
		return -ENOMEM;
	for (size_t i = 0; i < DIR_EXPORT_COLUMNS; i++)
		o += (size_t)snprintf(header + o, sizeof(header) - o, "%s%s", i ? "|" : "", export_header[i]);
	rc = export_add(&x, header, o);
	if (rc == 0)
		rc = store_search_each(s, c->ldap_base, LDAP_SCOPE_SUBTREE, "(&" VIEW_MSSANTE ")",
			export_attrs, export_entry, &x, &seen);
	if (rc == 0)
		rc = export_flush(&x);
	free(x.chunk);
	*ret_count = x.count;
	return rc;
}

/* --------------------------------------------------- the socket requests */

static const char *get(const struct req *r, const char *key)
{
	const char *v = mm_msg_get(r->in, key);

	return v && *v ? v : NULL;
}

static int dir_fail(struct req *r, int rc, const char *what)
{
	switch (rc) {
	case -EHOSTDOWN: return req_fail(r, rc, "annuaire indisponible, réessayez plus tard");
	case -ENOENT: return req_fail(r, rc, "%s : introuvable dans l'annuaire", what);
	case -EACCES: return req_fail(r, rc, "%s : accès refusé par l'annuaire", what);
	default:
		log_msg(LOG_ERR, "directory %s: %s", what, strerror(-rc));
		return req_fail(r, rc, "%s : erreur de l'annuaire", what);
	}
}

/* Refuses any field not in allowed, and repeated fields. */
static int check_keys(struct req *r, const char *const *allowed)
{
	for (size_t i = 0; i < r->in->nfields; i++) {
		const char *k = r->in->fields[i].key;
		bool ok = false;

		for (size_t j = 0; allowed[j]; j++)
			if (!strcmp(allowed[j], k))
				ok = true;
		if (!ok)
			return req_fail_field(r, k, "unknown", "champ inconnu : %s", k);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(r->in->fields[j].key, k))
				return req_fail_field(r, k, "repeated", "%s : donné deux fois", k);
	}
	return 0;
}

static void audit_dir(
	const struct req *r, const char *event, const char *account, bool ok, const char *reason)
{
	struct audit_ctx a = {.event = event, .caller = r->who.name, .account = account};

	audit(&a, ok, reason);
}

/* The account a request acts for: the caller's own (by uid), or, for an
 * admin, the one named by "login".  Must be active. */
static int acting_account(struct req *r, bool allow_org, struct entry **ret)
{
	static const char *const attrs[] = {"uid", "mmStatus", "mmAccountType", "mmMember", NULL};
	const char *login = get(r, "login");
	char *filter = NULL, *esc = NULL;
	struct entry *e = NULL;
	int rc;

	*ret = NULL;
	if (login) {
		if (validate_text(login, 254) < 0)
			return req_fail_field(r, "login", "characters", "identifiant invalide");
		if (!(esc = store_escape(login)))
			return -ENOMEM;
		rc = asprintf(&filter, "(&(objectClass=mmAccount)(|(uid=%s)(mmLoginMail=%s)))", esc, esc);
	} else {
		if (r->who.admin && r->who.uid == 0)
			return req_fail_field(r, "login", "required",
				"identifiant : champ obligatoire pour un administrateur");
		rc = asprintf(&filter, "(&(objectClass=mmAccount)(uidNumber=%u)(!(mmAccountType=ORG)))",
			(unsigned)r->who.uid);
	}
	free(esc);
	if (rc < 0)
		return -ENOMEM;
	rc = store_search_one(r->store, r->cfg->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, &e);
	free(filter);
	if (rc == -ENOENT && !login)
		return req_fail(r, -EACCES,
			"réservé aux utilisateurs de Medimail (aucun compte pour l'utilisateur %u)",
			(unsigned)r->who.uid);
	if (rc == -ENOENT || rc == -ENOTUNIQ)
		return req_fail(r, -ENOENT, "%s : compte introuvable", login);
	if (rc < 0)
		return dir_fail(r, rc, "compte");
	if (login && !r->who.admin) {
		/* A user acts for itself, or for an ORG it is a connection account of. */
		struct entry *me = NULL;
		bool mine = false;
		char f[96];

		snprintf(f, sizeof(f), "(&(objectClass=mmAccount)(uidNumber=%u)(!(mmAccountType=ORG)))",
			(unsigned)r->who.uid);
		if (store_search_one(r->store, r->cfg->ldap_base, LDAP_SCOPE_SUBTREE, f, attrs, &me) == 0) {
			mine = !strcmp(me->dn, e->dn) ||
				(allow_org && entry_has_value(e, "mmAccountType", MM_TYPE_ORG) &&
					entry_has_value(e, "mmMember", me->dn) &&
					entry_has_value(me, "mmStatus", MM_STATUS_ACTIVE));
			entry_free(me);
		}
		if (!mine) {
			entry_free(e);
			/* Same answer as a missing account: no probing. */
			return req_fail(r, -ENOENT, "%s : compte introuvable", login);
		}
	}
	if (!allow_org && entry_has_value(e, "mmAccountType", MM_TYPE_ORG)) {
		entry_free(e);
		return req_fail(r, -EPERM, "une BAL ORG s'utilise depuis un compte individuel");
	}
	if (!entry_has_value(e, "mmStatus", MM_STATUS_ACTIVE)) {
		rc = req_fail(r, -EPERM, "le compte %s n'est pas actif", entry_get(e, "uid"));
		req_put(r, "reason", entry_get(e, "mmStatus"));
		entry_free(e);
		return rc;
	}
	*ret = e;
	return 0;
}

/* Wire name of each attribute a view returns; mssante: shown in that view. */
static const struct {
	const char *attr, *key;
	bool mssante;
} record_map[] = {
	{"uid", "login", false},
	{"mmAccountType", "type", true},
	{"cn", "name", true},
	{"sn", "sn", true},
	{"givenName", "given_name", true},
	{"mmLoginMail", "login_mail", false},
	{"mmMssAddress", "mss_address", true},
	{"mmProfessionCode", "profession", true},
	{"mmSpeciality", "speciality", true},
	{"o", "raison_sociale", true},
	{"ou", "service", true},
	{"street", "street", true},
	{"postalCode", "postal_code", true},
	{"l", "city", true},
	{"telephoneNumber", "phone", true},
};

static void put_record(struct req *r, size_t i, const struct entry *e, enum dir_view v)
{
	bool mss_public = v == DIR_VIEW_MSSANTE || entry_has_value(e, "mmVisibleMssante", "TRUE");
	char idx[24];

	snprintf(idx, sizeof(idx), "%zu", i);
	req_put(r, "#", idx);
	/* One pass over the entry's attributes (slapd returns only those asked for). */
	for (size_t k = 0; k < e->nattrs; k++) {
		const struct attr *a = &e->attrs[k];
		size_t m = 0;

		/* slapd names attributes as they were asked for: exact match first. */
		while (m < sizeof(record_map) / sizeof(record_map[0]) && strcmp(record_map[m].attr, a->name))
			m++;
		if (m == sizeof(record_map) / sizeof(record_map[0]))
			for (m = 0; m < sizeof(record_map) / sizeof(record_map[0]) &&
				strcasecmp(record_map[m].attr, a->name);
				m++)
				;
		if (m == sizeof(record_map) / sizeof(record_map[0]) ||
			(v == DIR_VIEW_MSSANTE && !record_map[m].mssante))
			continue;
		/* In the Medimail view the MSSanté address shows only where it is public. */
		if (!strcmp(record_map[m].key, "mss_address") && !mss_public)
			continue;
		for (size_t j = 0; j < a->nvals; j++)
			req_put(r, record_map[m].key, a->vals[j]);
		if (!strcmp(record_map[m].key, "profession") && a->nvals)
			req_put(r, "profession_label", profession_label(a->vals[0]));
	}
}

static void put_records(struct req *r, struct entry **e, size_t n, enum dir_view v)
{
	char count[24];

	snprintf(count, sizeof(count), "%zu", n);
	req_put(r, "count", count);
	for (size_t i = 0; i < n; i++)
		put_record(r, i, e[i], v);
}

int directory_search(struct req *r)
{
	static const char *const allowed[] = {"view", "detail", "login", "q", "name", "first_name",
		"profession", "city", "postal_code", "address", NULL};
	struct dir_query q = {get(r, "q"), get(r, "name"), get(r, "first_name"), get(r, "profession"),
		get(r, "city"), get(r, "postal_code"), get(r, "address")};
	const char *field = NULL, *rule = NULL;
	struct entry *me = NULL, **e = NULL;
	char *filter = NULL;
	enum dir_view v;
	size_t n = 0;
	bool more = false, full;
	int rc;

	if ((rc = check_keys(r, allowed)) < 0)
		return rc;
	if (dir_view_parse(get(r, "view"), &v) < 0)
		return req_fail_field(r, "view", "unknown", "annuaire : medimail ou mssante");
	if (get(r, "detail") && strcmp(get(r, "detail"), "summary") && strcmp(get(r, "detail"), "full"))
		return req_fail_field(r, "detail", "unknown", "détail : summary ou full");
	full = get(r, "detail") && !strcmp(get(r, "detail"), "full");
	rc = dir_filter(&q, v, &filter, &field, &rule);
	if (rc == -EINVAL)
		return req_fail_field(r, field, rule, "%s : %s", field,
			!strcmp(rule, "required")             ? "au moins un critère de recherche"
				: !strcmp(rule, "empty")      ? "aucune lettre ni chiffre à chercher"
				: !strcmp(rule, "unknown")    ? "profession inconnue (nomenclature TRE_G15)"
				: !strcmp(rule, "max_length") ? "128 octets au plus"
				: !strcmp(rule, "too_many_words") ? "8 mots au plus"
								  : "valeur invalide");
	if (rc < 0)
		return rc;
	/* Medimail users (and administrators) search; the caller's view applies. */
	if (!r->who.admin || get(r, "login")) {
		if ((rc = acting_account(r, false, &me)) < 0)
			goto out;
	}
	rc = dir_search(r->store, r->cfg, v, full, filter, &e, &n, &more);
	if (rc < 0) {
		rc = dir_fail(r, rc, "recherche");
		goto out;
	}
	req_put(r, "refine", more ? "yes" : "no");
	put_records(r, e, n, v);
	if (more)
		mm_msg_set_message(r->out,
			"Pour des raisons de performance, le nombre de résultats est limité à %d. "
			"Précisez votre recherche pour réduire cette liste.",
			DIR_MAX_RESULTS);
	rc = 0;
out:
	entries_free(e, n);
	entry_free(me);
	free(filter);
	return rc;
}

static int favorite_change(struct req *r, bool add)
{
	static const char *const allowed[] = {"login", "target", NULL};
	const char *target = get(r, "target");
	struct entry *me = NULL;
	int rc;

	if ((rc = check_keys(r, allowed)) < 0)
		return rc;
	if (!target)
		return req_fail_field(r, "target", "required", "contact : champ obligatoire");
	if (validate_text(target, 64) < 0)
		return req_fail_field(r, "target", "characters", "contact : identifiant invalide");
	if ((rc = acting_account(r, false, &me)) < 0)
		return rc;
	rc = add ? dir_favorite_add(r->store, r->cfg, me->dn, target, DIR_VIEW_MEDIMAIL)
		 : dir_favorite_del(r->store, r->cfg, me->dn, target);
	if (rc == -EEXIST) {
		mm_msg_set_message(r->out, "%s est déjà dans vos favoris", target);
		rc = 0;
	} else if (rc == -ENOSPC) {
		rc = req_fail(r, rc, "%d favoris au plus", DIR_MAX_FAVORITES);
	} else if (rc == -ENOENT) {
		rc = req_fail(r, rc, add ? "%s : introuvable dans l'annuaire" : "%s : pas dans vos favoris",
			target);
	} else if (rc < 0) {
		rc = dir_fail(r, rc, "favoris");
	} else {
		mm_msg_set_message(r->out, add ? "%s ajouté aux favoris" : "%s retiré des favoris", target);
	}
	if (rc == 0)
		req_put(r, "target", target);
	audit_dir(r, add ? "favorite-add" : "favorite-del", entry_get(me, "uid"), rc == 0, target);
	entry_free(me);
	return rc;
}

int directory_favorite_add(struct req *r)
{
	return favorite_change(r, true);
}

int directory_favorite_del(struct req *r)
{
	return favorite_change(r, false);
}

int directory_favorite_list(struct req *r)
{
	static const char *const allowed[] = {"login", NULL};
	struct entry *me = NULL, **e = NULL;
	size_t n = 0;
	int rc;

	if ((rc = check_keys(r, allowed)) < 0)
		return rc;
	if ((rc = acting_account(r, false, &me)) < 0)
		return rc;
	rc = dir_favorite_list(r->store, r->cfg, me->dn, DIR_VIEW_MEDIMAIL, &e, &n);
	if (rc < 0) {
		rc = dir_fail(r, rc, "favoris");
	} else {
		put_records(r, e, n, DIR_VIEW_MEDIMAIL);
		rc = 0;
	}
	entries_free(e, n);
	entry_free(me);
	return rc;
}

int directory_visibility(struct req *r)
{
	static const char *const allowed[] = {"login", "directory", "visible", NULL};
	static const char *const attrs[] = {
		"uid", "mmAccountType", "mmVisibleMedimail", "mmVisibleMssante", NULL};
	const char *dir = get(r, "directory"), *vis = get(r, "visible"), *attr;
	struct entry *acct = NULL, *after = NULL;
	struct mods m;
	bool on;
	int rc;

	if ((rc = check_keys(r, allowed)) < 0)
		return rc;
	if (!dir || (strcmp(dir, "medimail") && strcmp(dir, "mssante")))
		return req_fail_field(r, "directory", "unknown", "annuaire : medimail ou mssante");
	if (!vis || (strcmp(vis, "on") && strcmp(vis, "off")))
		return req_fail_field(r, "visible", "syntax", "visibilité : on ou off");
	on = !strcmp(vis, "on");
	attr = !strcmp(dir, "medimail") ? "mmVisibleMedimail" : "mmVisibleMssante";
	if ((rc = acting_account(r, true, &acct)) < 0)
		return rc;
	if (!strcmp(dir, "mssante") && entry_has_value(acct, "mmAccountType", MM_TYPE_MED)) {
		rc = req_fail(r, -EPERM,
			"un compte Medimail n'a pas d'adresse MSSanté : rien à afficher dans l'annuaire "
			"santé");
		goto out;
	}
	mods_init(&m);
	mods_add(&m, LDAP_MOD_REPLACE, attr, on ? "TRUE" : "FALSE");
	rc = store_modify(r->store, acct->dn, &m);
	mods_free(&m);
	if (rc < 0) {
		rc = dir_fail(r, rc, "visibilité");
		goto out;
	}
	audit_dir(r, "visibility", entry_get(acct, "uid"), true,
		!strcmp(dir, "medimail") ? (on ? "medimail on" : "medimail off")
					 : (on ? "mssante on" : "mssante off"));
	if (store_read(r->store, acct->dn, attrs, &after) == 0) {
		req_put(r, "login", entry_get(after, "uid"));
		req_put(r, "visible_medimail",
			entry_has_value(after, "mmVisibleMedimail", "FALSE") ? "off" : "on");
		if (!entry_has_value(after, "mmAccountType", MM_TYPE_MED))
			req_put(r, "visible_mssante",
				entry_has_value(after, "mmVisibleMssante", "TRUE") ? "on" : "off");
	}
	mm_msg_set_message(r->out, "%s : adresse %s dans l'annuaire %s", entry_get(acct, "uid"),
		on ? "visible" : "masquée", !strcmp(dir, "medimail") ? "Medimail" : "santé");
	rc = 0;
out:
	entry_free(acct);
	entry_free(after);
	return rc;
}

/* Each chunk goes out as its own reply frame marked "more". */
static int export_emit_frame(const char *data, size_t len, void *ctx)
{
	struct req *r = ctx;
	struct mm_msg *m = mm_msg_new(MM_REQ_DIR_EXPORT, true);
	char *copy;
	int rc;

	if (!m)
		return -ENOMEM;
	copy = strndup(data, len);
	if (!copy) {
		mm_msg_free(m);
		return -ENOMEM;
	}
	rc = mm_msg_add(m, "more", "yes");
	if (rc == 0)
		rc = mm_msg_add(m, "data", copy);
	if (rc == 0)
		rc = mm_msg_send(r->fd, m, MM_IO_TIMEOUT_MS);
	free(copy);
	mm_msg_free(m);
	return rc;
}

int directory_export(struct req *r)
{
	static const char *const allowed[] = {NULL};
	size_t count = 0;
	char num[24];
	int rc;

	if ((rc = check_keys(r, allowed)) < 0)
		return rc;
	if (!r->who.admin)
		return req_fail(r, -EACCES, "réservé aux administrateurs (export vers l'annuaire national)");
	if (r->fd < 0)
		return req_fail(r, -ENOSYS, "export : pas de flux");
	rc = dir_export(r->store, r->cfg, export_emit_frame, r, &count);
	audit_dir(r, "export", NULL, rc == 0, rc == 0 ? "mssante extraction" : strerror(-rc));
	if (rc < 0)
		return dir_fail(r, rc, "export");
	snprintf(num, sizeof(num), "%zu", count);
	req_put(r, "count", num);
	req_put(r, "columns", "31");
	mm_msg_set_message(r->out, "%zu boîtes aux lettres exportées", count);
	return 0;
}
