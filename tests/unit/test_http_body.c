/* Unit tests for the JSON body rules of the HTTP API (authd/http/routes.c):
 * every key known, a string, within its bound, the required ones present. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"

static const struct body_field fields[] = {{"user", true, 8}, {"note", false, 4}};

/* The status of checking body (JSON text), and the error code in *code. */
static unsigned check(const char *body, char code[32])
{
	struct http_req r = {0};
	unsigned st;

	r.body = json_loads(body, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	assert_non_null(r.body);
	st = http_body_check(&r, fields, 2);
	code[0] = '\0';
	if (st) {
		assert_int_equal(r.status, st);
		strncpy(code, json_string_value(json_object_get(r.reply, "error")), 31);
		code[31] = '\0';
		assert_non_null(json_string_value(json_object_get(r.reply, "message")));
	}
	json_decref(r.reply);
	json_decref(r.body);
	return st;
}

static void test_good_bodies(void **state)
{
	char code[32];

	(void)state;
	assert_int_equal(check("{\"user\": \"jean\"}", code), 0);
	assert_int_equal(check("{\"user\": \"12345678\", \"note\": \"abcd\"}", code), 0);
}

static void test_refused_bodies(void **state)
{
	static const struct {
		const char *body, *code;
	} cases[] = {
		{"{}", "missing_field"},
		{"{\"note\": \"a\"}", "missing_field"},
		{"{\"user\": \"jean\", \"admin\": \"yes\"}", "unknown_field"},
		{"{\"user\": 12}", "invalid_field"},
		{"{\"user\": [\"x\"]}", "invalid_field"},
		{"{\"user\": {\"$ne\": 1}}", "invalid_field"},
		{"{\"user\": null}", "invalid_field"},
		{"{\"user\": \"123456789\"}", "invalid_field"},
		{"{\"user\": \"a\\u0000b\"}", "invalid_field"},
		{"{\"user\": \"jean\", \"note\": \"abcde\"}", "invalid_field"},
	};
	char code[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(check(cases[i].body, code), 400);
		assert_string_equal(code, cases[i].code);
	}
}

static void test_body_strings(void **state)
{
	struct http_req r = {0};

	(void)state;
	r.body = json_loads("{\"user\": \"jean\"}", 0, NULL);
	assert_string_equal(http_body_str(&r, "user"), "jean");
	assert_null(http_body_str(&r, "note"));
	json_decref(r.body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_bodies),
		cmocka_unit_test(test_refused_bodies),
		cmocka_unit_test(test_body_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
