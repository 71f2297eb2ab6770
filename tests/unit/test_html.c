/* Unit tests for the rich-text allow-list (authd/core/html.c) and the flat JSON codec (authd/core/json.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "html.h"
#include "json.h"

static const char *rule_of(const char *s)
{
	static struct html_error err;

	if (html_check(s, strlen(s), &err) == 0)
		return "ok";
	return err.rule;
}

static void test_accepts_editor_output(void **state)
{
	static const char *const good[] = {
		"",
		"Dr Isabelle Martin",
		"<b>Dr</b> <strong>Martin</strong> <i>a</i> <em>b</em> <u>c</u>",
		"<p style=\"text-align: center\">Pharmacie du Centre<br>Albi<br/></p>",
		"<div style='font-size: 12pt; font-family: Arial, \"Helvetica Neue\", sans-serif'>x</div>",
		"<span style=\"color: #336699; background-color: rgb(255, 255, 0)\">jaune</span>",
		"<span style=\"font-size: x-large;\">grand</span>",
		"<font face=\"Verdana\" size=\"3\" color=\"navy\">police</font>",
		"<ul><li>un</li><li>deux</li></ul><ol><li>trois</li></ol>",
		"a &amp; b &lt;c&gt; &quot;d&quot; &#233;t&#xE9; &nbsp;",
		"<img src=\"data:image/png;base64,iVBORw0KGgo=\" alt=\"logo\" width=\"120\" height=\"40\">",
		"<img src=\"data:image/jpeg;base64,/9j/4AAQ\"/>",
		"<img src=\"data:image/gif;base64,R0lGODlh\">",
		"<P>upper case tags</P>",
		"line\nbreaks\tand tabs",
		"a > b",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const char *r = rule_of(good[i]);
		if (strcmp(r, "ok"))
			fail_msg("refused (%s): %s", r, good[i]);
	}
}

static void test_refuses_attacks(void **state)
{
	static const struct {
		const char *html, *rule;
	} bad[] = {
		{"<script>alert(1)</script>", "script"},
		{"<SCRIPT src=x></SCRIPT>", "script"},
		{"<b onclick=\"alert(1)\">x</b>", "event_handler"},
		{"<img src=\"data:image/png;base64,iVBORw0KGgo=\" onerror=\"alert(1)\">", "event_handler"},
		{"<b ONMOUSEOVER='x'>x</b>", "event_handler"},
		{"<a href=\"javascript:alert(1)\">x</a>", "tag"},
		{"<iframe src=x></iframe>", "tag"},
		{"<svg onload=alert(1)>", "tag"},
		{"<img src=\"javascript:alert(1)\">", "image_src"},
		{"<img src=\"http://tracker.example/p.gif\">", "image_src"},
		{"<img src=\"data:image/svg+xml;base64,PHN2Zz4=\">", "image_type"},
		{"<img src=\"data:image/png;base64,R0lGODlh\">", "image_data"},
		{"<img src=\"data:image/png;base64,iVBO*w0KGgo=\">", "image_data"},
		{"<span style=\"background-color: url(http://x/)\">x</span>", "style_url"},
		{"<span style=\"color: expression(alert(1))\">x</span>", "style_url"},
		{"<span style=\"font-family: x; @import 'y'\">x</span>", "style_url"},
		{"<span style=\"color: re\\64\">x</span>", "style_escape"},
		{"<span style=\"color: red /* */\">x</span>", "style_escape"},
		{"<span style=\"position: fixed\">x</span>", "style_property"},
		{"<span style=\"color: red; behavior: x\">x</span>", "style_property"},
		{"<span style=\"color: red!important\">x</span>", "style_value"},
		{"<span style=\"font-size: 12parsecs\">x</span>", "style_value"},
		{"<span style=\"text-align: middle\">x</span>", "style_value"},
		{"<span style=\"color: &#x72;ed\">x</span>", "attribute_value"},
		{"<span class=\"x\">x</span>", "attribute"},
		{"<b style=x>x</b>", "attribute_syntax"},
		{"<b style=\"color:red\"style=\"color:red\">x</b>", "attribute_syntax"},
		{"<b style=\"color:red\" style=\"color:blue\">x</b>", "duplicate_attribute"},
		{"<!-- hidden -->", "comment"},
		{"<![CDATA[x]]>", "comment"},
		{"<?xml version=\"1.0\"?>", "comment"},
		{"<b>unclosed", "unbalanced"},
		{"<b><i>crossed</b></i>", "unbalanced"},
		{"</b>", "unbalanced"},
		{"<br></br>", "unbalanced"},
		{"<b/>", "self_closing"},
		{"<li>no list</li>", "nesting"},
		{"a < b", "syntax"},
		{"<b", "unterminated"},
		{"<b style=\"color:red", "unterminated"},
		{"&bogus;", "entity"},
		{"&amp", "entity"},
		{"&#0;", "entity"},
		{"&#xD800;", "entity"},
		{"\x01", "control"},
		{"\xc3\x28", "utf8"},
		{"<font size=\"9\">x</font>", "attribute_value"},
		{"<font color=\"red;x\">x</font>", "attribute_value"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *r = rule_of(bad[i].html);
		if (strcmp(r, bad[i].rule))
			fail_msg("%s: rule %s, expected %s", bad[i].html, r, bad[i].rule);
	}
}

static void test_limits(void **state)
{
	const char prefix[] = "<img src=\"data:image/png;base64,iVBORw0KGgoA";
	size_t n = 13700 * 4, len = strlen(prefix) + n + 2;
	char *s = malloc(HTML_MAX_BYTES + 2);
	struct html_error err;

	assert_non_null(s);
	/* A PNG whose decoded size passes HTML_IMG_MAX_BYTES. */
	memcpy(s, prefix, strlen(prefix));
	memset(s + strlen(prefix), 'A', n);
	memcpy(s + strlen(prefix) + n, "\">", 3);
	assert_true(len <= HTML_MAX_BYTES);
	assert_int_equal(html_check(s, len, &err), -EINVAL);
	assert_string_equal(err.rule, "image_size");
	/* Below the limit it passes. */
	n = 13000 * 4;
	memset(s + strlen(prefix), 'A', n);
	memcpy(s + strlen(prefix) + n, "\">", 3);
	assert_int_equal(html_check(s, strlen(s), &err), 0);
	/* The whole text is bounded. */
	memset(s, 'a', HTML_MAX_BYTES + 1);
	assert_int_equal(html_check(s, HTML_MAX_BYTES + 1, &err), -EINVAL);
	assert_string_equal(err.rule, "max_length");
	/* A NUL inside is refused (the UTF-8 check allows none). */
	assert_int_equal(html_check("a\0b", 3, &err), -EINVAL);
	assert_string_equal(err.rule, "utf8");
	/* Nesting depth. */
	s[0] = '\0';
	for (int i = 0; i <= HTML_MAX_DEPTH; i++)
		strcat(s, "<b>");
	assert_int_equal(html_check(s, strlen(s), &err), -EINVAL);
	assert_string_equal(err.rule, "depth");
	free(s);
}

static void test_error_names_the_place(void **state)
{
	struct html_error err;
	const char *s = "<p>ok</p><b onclick=\"x\">";

	assert_int_equal(html_check(s, strlen(s), &err), -EINVAL);
	assert_string_equal(err.rule, "event_handler");
	assert_string_equal(err.what, "onclick");
	assert_int_equal(err.offset, 12);
	assert_non_null(strstr(html_rule_message("event_handler"), "on"));
}

static void test_json_roundtrip(void **state)
{
	const char *kv[] = {
		"id", "abc", "title", "Signature \"pro\" \\ é\n\x01", "skip", NULL, "html", "<b>x</b>"};
	struct json_flat j;
	char *s = json_flat_encode(kv, 4);

	assert_non_null(s);
	assert_null(strstr(s, "skip"));
	assert_int_equal(json_flat_parse(s, &j), 0);
	assert_int_equal(j.n, 3);
	assert_string_equal(json_flat_get(&j, "title"), "Signature \"pro\" \\ é\n\x01");
	assert_string_equal(json_flat_get(&j, "html"), "<b>x</b>");
	assert_null(json_flat_get(&j, "skip"));
	json_flat_free(&j);
	free(s);
	assert_int_equal(json_flat_parse("{\"a\":\"\\u00e9\\ud83d\\ude00\"}", &j), 0);
	assert_string_equal(json_flat_get(&j, "a"), "é\xf0\x9f\x98\x80");
	json_flat_free(&j);
	assert_int_equal(json_flat_parse("{}", &j), 0);
	assert_int_equal(j.n, 0);
}

/* json_out: members appended after a kept start, escaped, bad UTF-8 left out, commas right. */
static void test_json_out(void **state)
{
	struct json_out o;
	char *t;

	json_out_take(&o, strdup("{\"sub\":\"x\""), 10);
	json_out_bool(&o, "active", true);
	json_out_str(&o, "q", "a\"b\\c\n\x01\x1f é");
	json_out_str(&o, "bad", "\xc3\x28");
	json_out_str(&o, "none", NULL);
	json_out_int(&o, "exp", -42);
	json_out_bool(&o, "off", false);
	t = json_out_end(&o);
	assert_non_null(t);
	assert_string_equal(t,
		"{\"sub\":\"x\",\"active\":true,\"q\":\"a\\\"b\\\\c\\u000a\\u0001\\u001f é\",\"exp\":-42,"
		"\"off\":false}");
	free(t);
	/* an empty start takes no comma before its first member */
	json_out_take(&o, strdup("{"), 1);
	json_out_int(&o, "n", 9223372036854775807LL);
	t = json_out_end(&o);
	assert_string_equal(t, "{\"n\":9223372036854775807}");
	free(t);
	/* no start (its allocation failed): every write is refused, the end says so */
	json_out_take(&o, NULL, 0);
	json_out_str(&o, "a", "b");
	assert_null(json_out_end(&o));
}

static void test_json_refuses(void **state)
{
	static const char *const bad[] = {
		"",
		"{",
		"{\"a\":1}",
		"{\"a\":\"b\",}",
		"{\"a\":\"b\"} x",
		"{\"a\":\"b\",\"a\":\"c\"}",
		"{\"a\":{\"b\":\"c\"}}",
		"{\"a\":\"\\ud800\"}",
		"{\"a\":\"\\u0000\"}",
		"{\"a\":\"\\x\"}",
		"{\"a\":\"\x01\"}",
		"[\"a\"]",
		"{\"a\" \"b\"}",
	};
	struct json_flat j;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (json_flat_parse(bad[i], &j) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts_editor_output),
		cmocka_unit_test(test_refuses_attacks),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_error_names_the_place),
		cmocka_unit_test(test_json_roundtrip),
		cmocka_unit_test(test_json_refuses),
		cmocka_unit_test(test_json_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
