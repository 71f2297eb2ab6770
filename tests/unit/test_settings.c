/* Unit tests of the settings rules that need no directory (authd/settings): the
 * profile's catalogue rules, the automatic reply's dates, signature limits,
 * the notification and delegation views. Accounts are entries built in memory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "secret.h"
#include "settings.h"

/* An entry of up to 8 single- or double-valued attributes, in static storage. */
struct fake {
	struct entry e;
	struct attr a[8];
	char *v[8][2];
};

static void fake_put(struct fake *f, const char *name, const char *v1, const char *v2)
{
	size_t i = f->e.nattrs++;

	assert_true(i < 8);
	f->v[i][0] = (char *)v1;
	f->v[i][1] = (char *)v2;
	f->a[i].name = (char *)name;
	f->a[i].nvals = v2 ? 2 : 1;
	f->a[i].vals = f->v[i];
	f->e.attrs = f->a;
}

static void fake_account(struct fake *f, const char *type)
{
	memset(f, 0, sizeof(*f));
	f->e.dn = (char *)"uid=x,ou=people,dc=example,dc=org";
	fake_put(f, "uid", "x", NULL);
	fake_put(f, "mmAccountType", type, NULL);
	fake_put(f, "mmStatus", "active", NULL);
}

static const struct caller owner = {.uid = 1000, .name = "uid=1000"};
static const struct caller admin = {.uid = 0, .admin = true, .name = "uid=0"};

static int check1(
	const struct entry *e, const struct caller *who, const char *key, const char *value, struct fault *f)
{
	struct settings_change c = {key, value};

	fault_clear(f);
	return settings_profile_check(e, who, &c, 1, f);
}

static void assert_fault(const struct fault *f, int status, const char *field, const char *rule)
{
	assert_int_equal(f->status, status);
	assert_non_null(f->message);
	if (field)
		assert_string_equal(fault_get(f, "field"), field);
	if (rule)
		assert_string_equal(fault_get(f, "rule"), rule);
}

static void test_profile_rules_of_an_individual_account(void **state)
{
	struct fake per, med;
	struct fault f = {0};

	(void)state;
	fake_account(&per, "PER");
	fake_account(&med, "MED");
	assert_int_equal(check1(&per.e, &owner, "sn", "DURAND", &f), 0);
	assert_int_equal(check1(&per.e, &owner, "phone", "05 61 00 00 01", &f), 0);
	assert_int_equal(check1(&per.e, &owner, "phone", "not a phone", &f), -EINVAL);
	assert_fault(&f, -EINVAL, "phone", "syntax");
	assert_int_equal(check1(&per.e, &owner, "postal_code", "310", &f), -EINVAL);
	assert_fault(&f, -EINVAL, "postal_code", "syntax");
	assert_int_equal(check1(&per.e, &owner, "sn", "", &f), -EINVAL);
	assert_fault(&f, -EINVAL, "sn", "required");
	/* An ORG's attribute does not apply; a registration-only one is no profile field. */
	assert_int_equal(check1(&per.e, &owner, "struct_id", "810000034", &f), -EINVAL);
	assert_fault(&f, -EINVAL, "struct_id", "not_allowed");
	assert_int_equal(check1(&per.e, &owner, "rpps", "10002813839", &f), -EINVAL);
	assert_fault(&f, -EINVAL, "rpps", "unknown");
	assert_int_equal(check1(&per.e, &owner, "profession", "999", &f), -EINVAL);
	assert_fault(&f, -EINVAL, "profession", "unknown");
	/* A health professional keeps a profession; a Medimail account may clear it. */
	assert_int_equal(check1(&per.e, &owner, "profession", "", &f), -EINVAL);
	assert_fault(&f, -EINVAL, "profession", "required");
	assert_int_equal(check1(&med.e, &owner, "profession", "", &f), 0);
	/* The optional second phone may be cleared. */
	assert_int_equal(check1(&per.e, &owner, "phone2", "", &f), 0);
	/* Nothing to change, and a field given twice. */
	fault_clear(&f);
	assert_int_equal(settings_profile_check(&per.e, &owner, NULL, 0, &f), -EINVAL);
	{
		struct settings_change twice[] = {{"city", "Albi"}, {"city", "Albi"}};

		fault_clear(&f);
		assert_int_equal(settings_profile_check(&per.e, &owner, twice, 2, &f), -EINVAL);
		assert_fault(&f, -EINVAL, "city", "repeated");
	}
	fault_clear(&f);
}

static void test_profile_rules_of_an_org(void **state)
{
	struct fake org;
	struct fault f = {0};

	(void)state;
	fake_account(&org, "ORG");
	fake_put(&org, "mmStructIdType", "FINESS", NULL);
	fake_put(&org, "mmStructId", "810000034", NULL);
	/* A connection account changes the phone and address only. */
	assert_int_equal(check1(&org.e, &owner, "phone", "05 63 11 22 33", &f), 0);
	assert_int_equal(check1(&org.e, &owner, "raison_sociale", "SELARL Officine", &f), 0);
	assert_int_equal(check1(&org.e, &owner, "struct_id", "810000034", &f), -EACCES);
	assert_fault(&f, -EACCES, "struct_id", "admin_only");
	assert_non_null(strstr(f.message, "administrateur"));
	assert_int_equal(check1(&org.e, &owner, "resp_sn", "AUTRE", &f), -EACCES);
	assert_int_equal(check1(&org.e, &owner, "sn", "X", &f), -EINVAL);
	assert_fault(&f, -EINVAL, "sn", "not_allowed");
	/* Its city and postcode are optional, as on the ORG's registration form. */
	assert_int_equal(check1(&org.e, &owner, "city", "", &f), 0);
	assert_int_equal(check1(&org.e, &owner, "postal_code", "", &f), 0);
	/* The service centre changes the FINESS, checked by its key against the stored type. */
	assert_int_equal(check1(&org.e, &admin, "struct_id", "810000035", &f), -EINVAL);
	assert_fault(&f, -EINVAL, "struct_id", "check_digit");
	assert_int_equal(check1(&org.e, &admin, "struct_id", "810000034", &f), 0);
	assert_int_equal(check1(&org.e, &admin, "description", "", &f), -EINVAL);
	assert_fault(&f, -EINVAL, "description", "required");
	fault_clear(&f);
}

static bool editable(const struct settings_profile *p, const char *key)
{
	for (size_t i = 0; i < p->neditable; i++)
		if (!strcmp(p->editable[i]->key, key))
			return true;
	return false;
}

static bool shown(const struct settings_profile *p, const char *key)
{
	for (size_t i = 0; i < p->nfields; i++)
		if (!strcmp(p->fields[i].a->key, key))
			return true;
	return false;
}

static void test_profile_view_lists_what_the_caller_may_edit(void **state)
{
	struct fake per, org;
	struct settings_profile p;

	(void)state;
	fake_account(&per, "PER");
	fake_put(&per, "telephoneNumber", "05 61 00 00 01", "06 12 34 56 78");
	assert_int_equal(settings_profile_view(&per.e, &owner, &p), 0);
	assert_string_equal(p.screen.title, "Compte Personnel");
	assert_non_null(p.screen.help);
	assert_true(editable(&p, "sn") && editable(&p, "phone2") && !editable(&p, "struct_id"));
	assert_true(shown(&p, "profession") && !shown(&p, "resp_sn"));
	for (size_t i = 0; i < p.nfields; i++) {
		if (!strcmp(p.fields[i].a->key, "phone"))
			assert_string_equal(p.fields[i].value, "05 61 00 00 01");
		if (!strcmp(p.fields[i].a->key, "phone2"))
			assert_string_equal(p.fields[i].value, "06 12 34 56 78");
	}
	assert_null(p.name);
	settings_profile_free(&p);

	fake_account(&org, "ORG");
	fake_put(&org, "cn", "Officine", NULL);
	fake_put(&org, "mmMember", "uid=claire,ou=people,dc=example,dc=org",
		"uid=sonia,ou=people,dc=example,dc=org");
	assert_int_equal(settings_profile_view(&org.e, &owner, &p), 0);
	assert_true(editable(&p, "phone") && !editable(&p, "struct_id") && !shown(&p, "sn"));
	assert_null(p.screen.help);
	assert_string_equal(p.name, "Officine");
	assert_int_equal(p.nmembers, 2);
	assert_string_equal(p.members[0], "claire");
	assert_string_equal(p.members[1], "sonia");
	settings_profile_free(&p);
	assert_int_equal(settings_profile_view(&org.e, &admin, &p), 0);
	assert_true(editable(&p, "struct_id") && editable(&p, "resp_rpps") && !editable(&p, "sn"));
	settings_profile_free(&p);
}

static void test_autoreply_dates(void **state)
{
	long long t = 0, e = 0;

	(void)state;
	assert_int_equal(settings_parse_date("2026-07-01", false, &t), 0);
	assert_int_equal(t, 1782864000LL);
	assert_int_equal(settings_parse_date("2026-07-01", true, &e), 0);
	assert_int_equal(e, t + 86399);
	assert_int_equal(settings_parse_date("20260701000000Z", false, &e), 0);
	assert_int_equal(e, t);
	/* Dates that do not exist, out of range, or not in the format. */
	assert_int_equal(settings_parse_date("2026-02-31", false, &t), -EINVAL);
	assert_int_equal(settings_parse_date("2026-02-29", false, &t), -EINVAL);
	assert_int_equal(settings_parse_date("2028-02-29", false, &t), 0);
	assert_int_equal(settings_parse_date("1999-12-31", false, &t), -EINVAL);
	assert_int_equal(settings_parse_date("2026-13-01", false, &t), -EINVAL);
	assert_int_equal(settings_parse_date("2026-7-1", false, &t), -EINVAL);
	assert_int_equal(settings_parse_date("2026/07/01", false, &t), -EINVAL);
	assert_int_equal(settings_parse_date("2026-07-01x", false, &t), -EINVAL);
	assert_int_equal(settings_parse_date("", false, &t), -EINVAL);
}

static void test_autoreply_rules(void **state)
{
	struct settings_autoreply_change in = {.enabled = -1};
	struct settings_autoreply v;
	struct fake a;
	struct fault f = {0};

	(void)state;
	/* Switched on, it needs a window, a subject and a body. */
	in.enabled = 1;
	assert_int_equal(settings_autoreply_check(NULL, &in, &f), -EINVAL);
	assert_fault(&f, -EINVAL, "start", "required");
	fault_clear(&f);
	in.start = "2026-07-01";
	in.end = "2026-06-30";
	assert_int_equal(settings_autoreply_check(NULL, &in, &f), -EINVAL);
	assert_fault(&f, -EINVAL, "end", "before_start");
	fault_clear(&f);
	in.end = "2026-07-01"; /* one day: end of the same day */
	assert_int_equal(settings_autoreply_check(NULL, &in, &f), -EINVAL);
	assert_fault(&f, -EINVAL, "subject", "required");
	fault_clear(&f);
	in.subject = "Absent";
	in.body = "<p>De retour le 2 juillet</p>";
	assert_int_equal(settings_autoreply_check(NULL, &in, &f), 0);
	in.subject = "Absent\n";
	assert_int_equal(settings_autoreply_check(NULL, &in, &f), -EINVAL);
	assert_fault(&f, -EINVAL, "subject", "characters");
	fault_clear(&f);
	in.subject = "Absent";
	in.end = "2026-07-32";
	assert_int_equal(settings_autoreply_check(NULL, &in, &f), -EINVAL);
	assert_fault(&f, -EINVAL, "end", "syntax");
	fault_clear(&f);

	/* Over what is stored: the stored window and texts count. */
	fake_account(&a, "PER");
	fake_put(&a, "mmAutoReplyStart", "20260701000000Z", NULL);
	fake_put(&a, "mmAutoReplyEnd", "20260710235959Z", NULL);
	fake_put(&a, "mmAutoReplySubject", "Absent", NULL);
	fake_put(&a, "mmAutoReplyBody", "<p>Absent</p>", NULL);
	fake_put(&a, "mmAutoReplyActive", "TRUE", NULL);
	in = (struct settings_autoreply_change){.enabled = 1};
	assert_int_equal(settings_autoreply_check(&a.e, &in, &f), 0);
	in.end = "2026-06-01";
	assert_int_equal(settings_autoreply_check(&a.e, &in, &f), -EINVAL);
	assert_fault(&f, -EINVAL, "end", "before_start");
	fault_clear(&f);
	/* Clearing the subject of an active reply is refused; switching it off is not. */
	in = (struct settings_autoreply_change){.enabled = -1, .subject = ""};
	assert_int_equal(settings_autoreply_check(&a.e, &in, &f), -EINVAL);
	assert_fault(&f, -EINVAL, "subject", "required");
	fault_clear(&f);
	in.enabled = 0;
	assert_int_equal(settings_autoreply_check(&a.e, &in, &f), 0);

	settings_autoreply_view(&a.e, 1783000000LL, &v);
	assert_true(v.enabled && v.active_now);
	settings_autoreply_view(&a.e, 1790000000LL, &v);
	assert_true(v.enabled && !v.active_now);
}

static void test_signature_rules(void **state)
{
	struct settings_signature_change in = {.is_default = -1};
	struct settings_signature *v = NULL;
	struct fault f = {0};
	struct fake a;
	size_t n = 0;
	char big[200];

	(void)state;
	assert_int_equal(settings_signature_check(&in, &f), -EINVAL);
	assert_fault(&f, -EINVAL, "title", "required");
	fault_clear(&f);
	in.title = "Cabinet";
	assert_int_equal(settings_signature_check(&in, &f), -EINVAL);
	assert_fault(&f, -EINVAL, "html", "required");
	fault_clear(&f);
	in.html = "<p>Dr Claire</p>";
	assert_int_equal(settings_signature_check(&in, &f), 0);
	in.html = "<script>alert(1)</script>";
	assert_int_equal(settings_signature_check(&in, &f), -EINVAL);
	assert_string_equal(fault_get(&f, "field"), "html");
	fault_clear(&f);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	in.html = "<p>x</p>";
	in.title = big;
	assert_int_equal(settings_signature_check(&in, &f), -EINVAL);
	assert_fault(&f, -EINVAL, "title", "characters");
	fault_clear(&f);
	/* A change names an existing id; an empty title is refused. */
	in = (struct settings_signature_change){.id = "ABCDEF012345", .is_default = -1};
	assert_int_equal(settings_signature_check(&in, &f), -EINVAL);
	assert_fault(&f, -EINVAL, "id", "syntax");
	fault_clear(&f);
	in.id = "abcdef012345";
	assert_int_equal(settings_signature_check(&in, &f), 0);
	in.title_given = true;
	assert_int_equal(settings_signature_check(&in, &f), -EINVAL);
	assert_fault(&f, -EINVAL, "title", "required");
	fault_clear(&f);

	/* The list skips unreadable values and marks the default. */
	fake_account(&a, "PER");
	fake_put(&a, "mmSignature", "{\"id\":\"abcdef012345\",\"title\":\"Cabinet\",\"html\":\"<p>x</p>\"}",
		"not json");
	fake_put(&a, "mmDefaultSignature", "abcdef012345", NULL);
	assert_int_equal(settings_signature_list(&a.e, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, "abcdef012345");
	assert_string_equal(v[0].title, "Cabinet");
	assert_true(v[0].is_default);
	settings_signatures_free(v, n);
}

static void test_notify_and_delegate_views(void **state)
{
	struct settings_notify nv;
	struct settings_delegates d;
	struct fake per, org, med;

	(void)state;
	fake_account(&per, "PER");
	fake_put(&per, "mmNotifyOpening", "TRUE", NULL);
	fake_put(&per, "mmDelegate", "sonia@example.org", NULL);
	settings_notify_view(&per.e, &nv);
	assert_int_equal(nv.n, SETTINGS_NOTIFY_N);
	assert_string_equal(nv.item[0].key, "receipt");
	assert_true(nv.item[0].on); /* default */
	assert_true(nv.item[1].on); /* stored */
	assert_false(nv.item[2].on);
	assert_non_null(nv.opening_caveat);
	fake_account(&org, "ORG");
	settings_notify_view(&org.e, &nv);
	assert_int_equal(nv.n, SETTINGS_NOTIFY_N - 1); /* org_to_individual: individual accounts only */
	for (size_t i = 0; i < nv.n; i++)
		assert_string_not_equal(nv.item[i].key, "org_to_individual");

	settings_delegate_list(&per.e, &d);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.address[0], "sonia@example.org");
	assert_null(d.advice);
	fake_account(&med, "MED");
	settings_delegate_list(&med.e, &d);
	assert_int_equal(d.n, 0);
	assert_non_null(d.advice);
	assert_true(settings_demat_get(&med.e)); /* default yes */
}

/* A mail client's secret (settings_mail_secret_match): an app password or an
 * active device credential of this account, nothing else, by keyed hash. */
static void test_mail_secret_match(void **state)
{
	char dir[] = "/tmp/mm-unit-mail-XXXXXX", key[128], err[256];
	char app[SECRET_TOKEN_HEX], dev[SECRET_TOKEN_HEX], pend[SECRET_TOKEN_HEX];
	char ha[SECRET_HASH_HEX], hd[SECRET_HASH_HEX], hp[SECRET_HASH_HEX], hx[SECRET_HASH_HEX];
	char japp[256], jdev[256], jpend[256];
	struct settings_mail_match m;
	struct fake f;
	FILE *kf;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(key, sizeof(key), "%s/key", dir);
	assert_non_null(kf = fopen(key, "w"));
	fputs("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", kf);
	fclose(kf);
	chmod(key, 0600);
	assert_int_equal(secret_init(key, 1, 8192 * 1024, 1, err, sizeof(err)), 0);
	secret_token(app);
	secret_token(dev);
	secret_token(pend);
	assert_int_equal(secret_keyed_hash("app-password", app, ha), 0);
	assert_int_equal(secret_keyed_hash("device-cred", dev, hd), 0);
	assert_int_equal(secret_keyed_hash("device-cred", pend, hp), 0);
	/* the app password's hash under the device's context is no device credential */
	assert_int_equal(secret_keyed_hash("device-cred", app, hx), 0);
	snprintf(
		japp, sizeof(japp), "{\"id\":\"a1a1a1a1a1a1\",\"name\":\"Thunderbird\",\"hash\":\"%s\"}", ha);
	snprintf(jdev, sizeof(jdev),
		"{\"id\":\"d1d1d1d1d1d1\",\"name\":\"iPhone\",\"state\":\"active\",\"cred\":\"%s\"}", hd);
	snprintf(jpend, sizeof(jpend),
		"{\"id\":\"d2d2d2d2d2d2\",\"name\":\"Vieux\",\"state\":\"pending\",\"cred\":\"%s\"}", hp);
	fake_account(&f, "PER");
	fake_put(&f, "mmAppPassword", japp, NULL);
	fake_put(&f, "mmAppPasswordHash", ha, NULL);
	fake_put(&f, "mmDevice", jdev, jpend);
	fake_put(&f, "mmDeviceCredHash", hd, hp);

	assert_int_equal(settings_mail_secret_match(&f.e, app, &m), 0);
	assert_int_equal(m.kind, SETTINGS_MAIL_APP_PASSWORD);
	assert_string_equal(m.id, "a1a1a1a1a1a1");
	assert_true(m.used < 0);
	assert_int_equal(settings_mail_secret_match(&f.e, dev, &m), 0);
	assert_int_equal(m.kind, SETTINGS_MAIL_DEVICE);
	assert_string_equal(m.name, "iPhone");
	/* a device whose record is not active, a hash given as the secret, a wrong one */
	assert_int_equal(settings_mail_secret_match(&f.e, pend, &m), -EACCES);
	assert_int_equal(settings_mail_secret_match(&f.e, ha, &m), -EACCES);
	assert_int_equal(settings_mail_secret_match(&f.e, "Pharma#2024", &m), -EACCES);
	assert_int_equal(m.kind, SETTINGS_MAIL_NONE);
	/* a hash with no record of its own (a revocation half done) is refused */
	fake_account(&f, "PER");
	fake_put(&f, "mmAppPasswordHash", ha, NULL);
	assert_int_equal(settings_mail_secret_match(&f.e, app, &m), -EACCES);
	unlink(key);
	rmdir(dir);
	secret_cleanup();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_profile_rules_of_an_individual_account),
		cmocka_unit_test(test_profile_rules_of_an_org),
		cmocka_unit_test(test_profile_view_lists_what_the_caller_may_edit),
		cmocka_unit_test(test_autoreply_dates),
		cmocka_unit_test(test_autoreply_rules),
		cmocka_unit_test(test_signature_rules),
		cmocka_unit_test(test_notify_and_delegate_views),
		cmocka_unit_test(test_mail_secret_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
