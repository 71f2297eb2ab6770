/* Unit tests for the directory filters, records and the national export line (authd/directory/). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "directory.h"

#define VIEW_MM "(objectClass=mmAccount)(mmStatus=active)(!(mmVisibleMedimail=FALSE))"

static char *filter_ok(const struct dir_query *q, enum dir_view v)
{
	const char *field = NULL, *rule = NULL;
	char *f = NULL;

	assert_int_equal(dir_filter(q, v, &f, &field, &rule), 0);
	assert_non_null(f);
	return f;
}

static void filter_refused(const struct dir_query *q, const char *field, const char *rule)
{
	const char *f_field = NULL, *f_rule = NULL;
	char *f = (char *)"untouched";

	assert_int_equal(dir_filter(q, DIR_VIEW_MEDIMAIL, &f, &f_field, &f_rule), -EINVAL);
	assert_null(f);
	assert_string_equal(f_field, field);
	assert_string_equal(f_rule, rule);
}

static void test_filter_words_are_folded_prefixes(void **state)
{
	struct dir_query q = {.q = "H\xc3\xa9l\xc3\xa8ne  QU\xc3\x89R"};
	char *f = filter_ok(&q, DIR_VIEW_MEDIMAIL);

	(void)state;
	assert_string_equal(f, "(&" VIEW_MM "(mmSearchKey=helene*)(mmSearchKey=quer*))");
	free(f);
}

static void test_filter_fields_are_tagged(void **state)
{
	struct dir_query q = {.name = "Dupont",
		.first_name = "Jean",
		.city = "B\xc3\xa9ziers",
		.address = "rue Pasteur",
		.postal_code = "345",
		.profession = "21",
		.raison_sociale = "Lac"};
	char *f = filter_ok(&q, DIR_VIEW_MEDIMAIL);

	(void)state;
	assert_string_equal(f,
		"(&" VIEW_MM "(mmSearchKey=n:dupont*)(mmSearchKey=g:jean*)(mmSearchKey=c:beziers*)"
		"(mmSearchKey=s:rue*)(mmSearchKey=s:pasteur*)(mmSearchKey=o:lac*)(mmProfessionCode=21)"
		"(postalCode=345*))");
	free(f);
}

static void test_filter_profession_labels(void **state)
{
	struct dir_query q = {.profession = "infirm"};
	char *f = filter_ok(&q, DIR_VIEW_MEDIMAIL);

	(void)state;
	/* Infirmier (60) and Infirmier psychiatrique (69). */
	assert_non_null(strstr(f, "(|(mmProfessionCode=60)(mmProfessionCode=69))"));
	free(f);
	q.profession = "kin\xc3\xa9";
	f = filter_ok(&q, DIR_VIEW_MEDIMAIL);
	assert_non_null(strstr(f, "(mmProfessionCode=70)"));
	free(f);
}

static void test_filter_mssante_view_terms(void **state)
{
	struct dir_query q = {.q = "mar"};
	char *f = filter_ok(&q, DIR_VIEW_MSSANTE);

	(void)state;
	assert_non_null(strstr(f, "(mmVisibleMssante=TRUE)(mmMssAddress=*)"));
	assert_non_null(strstr(f, "(|(mmAccountType=PER)(mmAccountType=INT)(mmAccountType=ORG))"));
	assert_null(strstr(f, "MED"));
	/* Guides 001/002: "visible dans l'annuaire santé dans les 72h, après que le
	 * Centre de Services ... ait finalisé le paramétrage": not before publication. */
	assert_non_null(strstr(f, "(!(mmMssPending=TRUE))"));
	free(f);
}

static void test_filter_refusals(void **state)
{
	char big[DIR_FIELD_MAX + 2];
	struct dir_query q = {0};

	(void)state;
	filter_refused(&q, "q", "required");
	q.q = "*";
	filter_refused(&q, "q", "empty");
	q.q = ")(|(uid=*";
	{
		/* metacharacters vanish; only the word "uid" is left, as a prefix */
		char *f = filter_ok(&q, DIR_VIEW_MEDIMAIL);
		assert_string_equal(f, "(&" VIEW_MM "(mmSearchKey=uid*))");
		free(f);
	}
	q.q = NULL;
	q.city = "\xc3\x28";
	filter_refused(&q, "city", "utf8");
	q.city = "a\tb";
	filter_refused(&q, "city", "characters");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	q.city = big;
	filter_refused(&q, "city", "max_length");
	q.city = NULL;
	q.name = "a b c d e f g h i";
	filter_refused(&q, "name", "too_many_words");
	q.name = NULL;
	q.postal_code = "34a";
	filter_refused(&q, "postal_code", "syntax");
	q.postal_code = "123456";
	filter_refused(&q, "postal_code", "syntax");
	q.postal_code = NULL;
	q.profession = "boulanger";
	filter_refused(&q, "profession", "unknown");
	q.profession = "99";
	filter_refused(&q, "profession", "unknown");
}

/* An entry built by hand, freed field by field by entry_free. */
static struct entry *entry_make(const char *const *kv)
{
	struct entry *e = calloc(1, sizeof(*e));

	e->dn = strdup("uid=x,ou=people,dc=t");
	for (size_t i = 0; kv[i]; i += 2) {
		struct attr *a;
		e->attrs = realloc(e->attrs, (e->nattrs + 1) * sizeof(*e->attrs));
		a = &e->attrs[e->nattrs++];
		a->name = strdup(kv[i]);
		a->nvals = 1;
		a->vals = calloc(2, sizeof(char *));
		a->vals[0] = strdup(kv[i + 1]);
	}
	return e;
}

/* The values of mmSearchKey in m, joined by spaces, in order. */
static void keys_of(const struct mods *m, char *out, size_t size)
{
	out[0] = '\0';
	for (size_t i = 0; i < m->n; i++)
		for (size_t k = 0; !strcmp(m->v[i]->mod_type, "mmSearchKey") && m->v[i]->mod_values &&
			m->v[i]->mod_values[k];
			k++)
			snprintf(out + strlen(out), size - strlen(out), "%s%s", out[0] ? " " : "",
				m->v[i]->mod_values[k]);
}

/* "Toutes les informations saisies précédemment apparaitront dans votre fiche
 * contact dans l'annuaire": every searchable field of a person is keyed. */
static void test_search_keys_of_a_person(void **state)
{
	static const char *const kv[] = {"mmAccountType", "PER", "givenName", "Jean-Luc", "sn", "Dupont",
		"cn", "Jean-Luc Dupont", "l", "Béziers", "street", "12 rue Pasteur", "o", "Pharmacie du Lac",
		NULL};
	struct entry *e = entry_make(kv);
	struct mods m;
	char keys[1024];

	(void)state;
	mods_init(&m);
	dir_search_keys(e, &m, LDAP_MOD_ADD);
	keys_of(&m, keys, sizeof(keys));
	assert_string_equal(keys,
		"jean g:jean luc g:luc dupont n:dupont beziers c:beziers s:12 s:rue "
		"s:pasteur o:pharmacie o:du o:lac");
	mods_free(&m);
	entry_free(e);
}

/* "Renseigner ces champs permet d'être retrouvé plus facilement dans
 * l'annuaire": an ORG by its name, city, street and raison sociale; a word
 * twice ("Paris" in the name and the city) is one key. */
static void test_search_keys_of_an_org_replace(void **state)
{
	static const char *const kv[] = {"mmAccountType", "ORG", "cn", "Cardio Paris", "sn", "ignored", "l",
		"Paris", "street", "rue Haute", NULL};
	struct entry *e = entry_make(kv);
	struct mods m;
	char keys[1024];

	(void)state;
	mods_init(&m);
	dir_search_keys(e, &m, LDAP_MOD_REPLACE);
	assert_int_equal(m.v[0]->mod_op, LDAP_MOD_REPLACE);
	keys_of(&m, keys, sizeof(keys));
	assert_string_equal(keys, "cardio n:cardio paris n:paris c:paris s:rue s:haute");
	mods_free(&m);
	entry_free(e);
}

/* The keys of an edit come from the entry as the edit leaves it. */
static void test_entry_apply_then_keys(void **state)
{
	static const char *const kv[] = {"mmAccountType", "MED", "givenName", "Ana", "sn", "Old", "l", "Albi",
		"street", "rue Vieille", NULL};
	struct entry *e = entry_make(kv), *after = NULL;
	struct mods m;
	char keys[1024];

	(void)state;
	mods_init(&m);
	mods_add(&m, LDAP_MOD_REPLACE, "sn", "Neuf");
	mods_add(&m, LDAP_MOD_REPLACE, "street", NULL);
	mods_add(&m, LDAP_MOD_ADD, "o", "Clinique");
	assert_int_equal(entry_apply(e, &m, &after), 0);
	assert_string_equal(entry_get(after, "sn"), "Neuf");
	assert_null(entry_get(after, "street"));
	assert_string_equal(entry_get(after, "o"), "Clinique");
	assert_string_equal(entry_get(e, "sn"), "Old");
	mods_free(&m);
	mods_init(&m);
	dir_search_keys(after, &m, LDAP_MOD_REPLACE);
	keys_of(&m, keys, sizeof(keys));
	assert_string_equal(keys, "ana g:ana neuf n:neuf albi c:albi o:clinique");
	mods_free(&m);
	entry_free(after);
	entry_free(e);
}

static size_t split(char *line, char **cols, size_t max)
{
	size_t n = 0;

	for (char *p = line;;) {
		char *bar = strchr(p, '|');

		if (n < max)
			cols[n] = p;
		n++;
		if (!bar)
			return n;
		*bar = '\0';
		p = bar + 1;
	}
}

static void test_export_line_person(void **state)
{
	static const char *const kv[] = {
		"mmAccountType",
		"PER",
		"mmMssAddress",
		"jean.dupont@medecin.oc.mssante.fr",
		"mmRpps",
		"10002813839",
		"sn",
		"DUPONT",
		"givenName",
		"Jean",
		"mmProfessionCode",
		"10",
		"mmSpeciality",
		"Cardio|logie",
		"street",
		"12 bis rue de la Paix",
		"postalCode",
		"20200",
		"l",
		"Bastia",
		"o",
		"Cabinet\nDupont",
		NULL,
	};
	struct entry *e = entry_make(kv);
	char line[4096], *cols[40];
	int n = dir_export_line(e, line, sizeof(line));

	(void)state;
	assert_true(n > 0);
	assert_null(strchr(line, '\n'));
	assert_int_equal(split(line, cols, 40), DIR_EXPORT_COLUMNS);
	assert_string_equal(cols[0], "PER");
	assert_string_equal(cols[2], "8");
	assert_string_equal(cols[3], "10002813839");
	assert_string_equal(cols[4], "810002813839");
	assert_string_equal(cols[9], "DUPONT");
	assert_string_equal(cols[13], "10");
	assert_string_equal(cols[14],
		"M\xc3\xa9"
		"decin");
	assert_string_equal(cols[16], "Cardio logie"); /* '|' cannot appear inside a column */
	assert_string_equal(cols[17], "O");
	assert_string_equal(cols[18], "Cabinet Dupont");
	assert_string_equal(cols[22], "12");
	assert_string_equal(cols[23], "B");
	assert_string_equal(cols[25], "rue de la Paix");
	assert_string_equal(cols[27], "20200 BASTIA");
	assert_string_equal(cols[29], "2B");
	entry_free(e);
}

static void test_export_line_org_and_intern(void **state)
{
	static const char *const org_kv[] = {
		"mmAccountType",
		"ORG",
		"mmMssAddress",
		"pharmacie.81000.albi@pharmacien.oc.mssante.fr",
		"mmStructIdType",
		"FINESS",
		"mmStructId",
		"810000034",
		"mmDematerialisation",
		"FALSE",
		"postalCode",
		"97400",
		NULL,
	};
	static const char *const int_kv[] = {
		"mmAccountType",
		"INT",
		"mmMssAddress",
		"k.b@medecin.oc.mssante.fr",
		"mmStructIdType",
		"SIRET",
		"mmStructId",
		"35600000000048",
		NULL,
	};
	static const char *const bad_kv[] = {"mmAccountType", "PER", NULL};
	struct entry *org = entry_make(org_kv), *intern = entry_make(int_kv), *bad = entry_make(bad_kv);
	char line[4096], *cols[40];

	(void)state;
	assert_true(dir_export_line(org, line, sizeof(line)) > 0);
	assert_int_equal(split(line, cols, 40), DIR_EXPORT_COLUMNS);
	assert_string_equal(cols[0], "ORG");
	assert_string_equal(cols[2], "");
	assert_string_equal(cols[5], "1");
	assert_string_equal(cols[6], "1810000034");
	assert_string_equal(cols[17], "N");
	assert_string_equal(cols[29], "974");
	assert_true(dir_export_line(intern, line, sizeof(line)) > 0);
	assert_int_equal(split(line, cols, 40), DIR_EXPORT_COLUMNS);
	assert_string_equal(cols[0], "PER");
	assert_string_equal(cols[2], "10");
	assert_string_equal(cols[4], "10k.b@medecin.oc.mssante.fr");
	assert_string_equal(cols[5], "3");
	/* no MSSanté address: no line; too small a buffer: refused */
	assert_int_equal(dir_export_line(bad, line, sizeof(line)), -EINVAL);
	assert_int_equal(dir_export_line(org, line, 20), -ENOSPC);
	entry_free(org);
	entry_free(intern);
	entry_free(bad);
}

/* The record a reply shows, as "key=value;" pairs in order. */
struct rec {
	char s[2048];
	size_t len;
};

static void rec_put(void *ctx, const char *key, const char *value)
{
	struct rec *r = ctx;

	if (!value)
		return;
	r->len += (size_t)snprintf(r->s + r->len, sizeof(r->s) - r->len, "%s=%s;", key, value);
}

static void test_record_fields_follow_the_catalogue(void **state)
{
	/* A result-list entry as slapd returns it (the attributes asked for, in that order). */
	static const char *const kv[] = {"uid", "jdupont", "mmAccountType", "PER", "cn", "Jean DUPONT",
		"mmLoginMail", "jean@example.org", "mmMssAddress", "jean.dupont@medecin.oc.mssante.fr",
		"mmVisibleMssante", "TRUE", "mmProfessionCode", "10", "postalcode", "34500", "l", "Béziers",
		"mmFoo", "bar", NULL};
	struct entry *e = entry_make(kv);
	struct rec r = {0};

	(void)state;
	dir_record_fields(e, DIR_VIEW_MEDIMAIL, rec_put, &r);
	assert_string_equal(r.s,
		"login=jdupont;type=PER;name=Jean DUPONT;login_mail=jean@example.org;"
		"mss_address=jean.dupont@medecin.oc.mssante.fr;profession=10;profession_label=Médecin;"
		"postal_code=34500;city=Béziers;");
	/* the national directory: no login, no login e-mail */
	r = (struct rec){0};
	dir_record_fields(e, DIR_VIEW_MSSANTE, rec_put, &r);
	assert_string_equal(r.s,
		"type=PER;name=Jean DUPONT;mss_address=jean.dupont@medecin.oc.mssante.fr;profession=10;"
		"profession_label=Médecin;postal_code=34500;city=Béziers;");
	/* in the Medimail view a hidden MSSanté address does not show */
	free(e->attrs[5].vals[0]);
	e->attrs[5].vals[0] = strdup("FALSE");
	r = (struct rec){0};
	dir_record_fields(e, DIR_VIEW_MEDIMAIL, rec_put, &r);
	assert_null(strstr(r.s, "mss_address"));
	assert_non_null(strstr(r.s, "login_mail=jean@example.org;profession=10;"));
	entry_free(e);
}

/* An ORG validated, its address not yet published by the service centre:
 * in the Medimail view, without its MSSanté address. */
static void test_record_fields_hide_an_address_not_yet_published(void **state)
{
	static const char *const kv[] = {"uid", "pharmacie", "mmAccountType", "ORG", "cn", "Pharmacie",
		"mmMssAddress", "pharmacie.81000.albi@pharmacien.oc.mssante.fr", "mmVisibleMssante", "TRUE",
		"mmMssPending", "TRUE", NULL};
	struct entry *e = entry_make(kv);
	struct rec r = {0};

	(void)state;
	dir_record_fields(e, DIR_VIEW_MEDIMAIL, rec_put, &r);
	assert_string_equal(r.s, "login=pharmacie;type=ORG;name=Pharmacie;");
	entry_free(e);
}

static void test_query_refusals_as_faults(void **state)
{
	struct dir_query q = {0};
	struct fault f = {0};
	char *filter = NULL;

	(void)state;
	assert_int_equal(dir_query_filter(&q, DIR_VIEW_MEDIMAIL, &filter, &f), -EINVAL);
	assert_null(filter);
	assert_int_equal(f.status, -EINVAL);
	assert_string_equal(fault_get(&f, "field"), "q");
	assert_string_equal(fault_get(&f, "rule"), "required");
	assert_string_equal(f.message, "q : au moins un critère de recherche");
	fault_clear(&f);
	q.profession = "boulanger";
	assert_int_equal(dir_query_filter(&q, DIR_VIEW_MEDIMAIL, &filter, &f), -EINVAL);
	assert_string_equal(fault_get(&f, "field"), "profession");
	assert_string_equal(f.message, "profession : profession inconnue (nomenclature TRE_G15)");
	fault_clear(&f);
	q.profession = "pharm";
	assert_int_equal(dir_query_filter(&q, DIR_VIEW_MEDIMAIL, &filter, &f), 0);
	assert_string_equal(filter, "(&" VIEW_MM "(mmProfessionCode=21))");
	assert_int_equal(f.status, 0);
	free(filter);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_words_are_folded_prefixes),
		cmocka_unit_test(test_filter_fields_are_tagged),
		cmocka_unit_test(test_filter_profession_labels),
		cmocka_unit_test(test_filter_mssante_view_terms),
		cmocka_unit_test(test_filter_refusals),
		cmocka_unit_test(test_export_line_person),
		cmocka_unit_test(test_export_line_org_and_intern),
		cmocka_unit_test(test_record_fields_follow_the_catalogue),
		cmocka_unit_test(test_record_fields_hide_an_address_not_yet_published),
		cmocka_unit_test(test_query_refusals_as_faults),
		cmocka_unit_test(test_search_keys_of_a_person),
		cmocka_unit_test(test_search_keys_of_an_org_replace),
		cmocka_unit_test(test_entry_apply_then_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
