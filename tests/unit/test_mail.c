/* Unit tests for the MIME builder of the daemon's mails (authd/core/mail.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mail.h"
#include "secret.h"

#define BOUNDARY "=_mm_0123456789abcdef"

static struct mail_parts parts(void)
{
	return (struct mail_parts){.from = "Medimail <medimail@mipih.fr>",
		.to = "isabelle.martin@example.org",
		.subject = "Votre code d'accès à Medimail",
		.date = "Wed, 02 Dec 2026 03:00:00 +0000",
		.msgid = "<1.abc@medimail-authd>",
		.boundary = BOUNDARY,
		.text = "Bonjour,\n\nCe code est le : 510762\n\n" MAIL_FOOTER "\n",
		.html = "<p>Ce code est le : 510762</p>\n"};
}

static char *build_ok(const struct mail_parts *p)
{
	char *msg = NULL;
	size_t len = 0;

	assert_int_equal(mail_build(p, &msg, &len), 0);
	assert_non_null(msg);
	assert_int_equal(strlen(msg), len);
	return msg;
}

/* The head of a message: up to the blank line. */
static char *head_of(const char *msg)
{
	const char *end = strstr(msg, "\r\n\r\n");

	assert_non_null(end);
	return strndup(msg, (size_t)(end - msg + 2));
}

/* Every line ends with CRLF, no bare CR or LF, none longer than max. */
static void assert_lines(const char *s, size_t max)
{
	while (*s) {
		const char *eol = strstr(s, "\r\n");

		assert_non_null(eol);
		assert_null(memchr(s, '\n', (size_t)(eol - s)));
		assert_null(memchr(s, '\r', (size_t)(eol - s)));
		assert_true((size_t)(eol - s) <= max);
		s = eol + 2;
	}
}

/* Quoted-printable back to text ("\r\n" to "\n", soft breaks joined). */
static char *qp_decode(const char *s, size_t n)
{
	char *out = calloc(1, n + 1);
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=' && i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n') {
			i += 2;
		} else if (s[i] == '=' && i + 2 < n) {
			char hex[3] = {s[i + 1], s[i + 2], 0};
			out[o++] = (char)strtol(hex, NULL, 16);
			i += 2;
		} else if (s[i] == '\r') {
			continue;
		} else {
			out[o++] = s[i];
		}
	}
	return out;
}

/* The body of the part whose Content-Type starts with type, decoded. */
static char *part(const char *msg, const char *type)
{
	char ct[128];
	const char *p, *body, *end;

	snprintf(ct, sizeof(ct),
		"--" BOUNDARY "\r\nContent-Type: %s; charset=UTF-8\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n",
		type);
	p = strstr(msg, ct);
	assert_non_null(p);
	body = p + strlen(ct);
	end = strstr(body, "--" BOUNDARY);
	assert_non_null(end);
	return qp_decode(body, (size_t)(end - body));
}

static void test_multipart_alternative(void **state)
{
	struct mail_parts p = parts();
	char *msg = build_ok(&p), *head = head_of(msg), *text, *html;

	(void)state;
	assert_non_null(strstr(head, "MIME-Version: 1.0\r\n"));
	assert_non_null(strstr(head, "Content-Type: multipart/alternative; boundary=\"" BOUNDARY "\"\r\n"));
	assert_non_null(strstr(head, "From: \"Medimail\" <medimail@mipih.fr>\r\n"));
	assert_non_null(strstr(head, "To: <isabelle.martin@example.org>\r\n"));
	/* a non-ASCII subject is an encoded word, never raw 8-bit */
	assert_non_null(strstr(head, "Subject: =?UTF-8?B?"));
	for (const char *c = head; *c; c++)
		assert_true((unsigned char)*c < 0x80);
	assert_non_null(strstr(msg, "--" BOUNDARY "--\r\n"));
	assert_lines(msg, 76);
	text = part(msg, "text/plain");
	assert_string_equal(text, p.text);
	html = part(msg, "text/html");
	assert_string_equal(html, p.html);
	free(text);
	free(html);
	free(head);
	secret_free(msg);
}

/* "Ceci est un email automatique, merci de ne pas y répondre": every mail
 * ends with the footer of the fiche réflexe. */
static void test_footer_sentences(void **state)
{
	(void)state;
	assert_non_null(strstr(MAIL_FOOTER, "Cordialement, le service Medimail"));
	assert_non_null(strstr(MAIL_FOOTER, "Ceci est un email automatique, merci de ne pas y répondre"));
}

/* The attacker's values: a CR or LF in any header value is refused, never
 * turned into a second header. */
static void test_header_injection_refused(void **state)
{
	static const char *const subjects[] = {
		"Code\r\nBcc: victim@example.org", "Code\nBcc: x@y.fr", "Code\rX: y", "Code\tx", "a\x7f"};
	static const char *const tos[] = {"a@b.fr\r\nBcc: victim@example.org", "a@b.fr>, <c@d.fr", "a b@c.fr",
		"pas-une-adresse", "", "a@b.fr\n"};
	static const char *const froms[] = {"Medimail <m@mipih.fr>\r\nBcc: v@example.org",
		"Medi\nmail <m@mipih.fr>", "Medimail <m@mipih.fr", "Medimail <m@mipih.fr> x", "<>", "no-at"};
	char *msg = NULL;
	size_t len = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(subjects) / sizeof(*subjects); i++) {
		struct mail_parts p = parts();
		p.subject = subjects[i];
		assert_int_equal(mail_build(&p, &msg, &len), -EINVAL);
	}
	for (size_t i = 0; i < sizeof(tos) / sizeof(*tos); i++) {
		struct mail_parts p = parts();
		p.to = tos[i];
		assert_int_equal(mail_build(&p, &msg, &len), -EINVAL);
	}
	for (size_t i = 0; i < sizeof(froms) / sizeof(*froms); i++) {
		struct mail_parts p = parts();
		p.from = froms[i];
		assert_int_equal(mail_build(&p, &msg, &len), -EINVAL);
		assert_int_equal(mail_sender_check(froms[i]), -EINVAL);
	}
	assert_null(msg);
	assert_int_equal(mail_sender_check("Medimail <cerbere@mipih.fr>"), 0);
	assert_int_equal(mail_sender_check("cerbere@mipih.fr"), 0);
	assert_int_equal(mail_sender_check("Cerbère \"MIPIH\" <cerbere@mipih.fr>"), 0);
	assert_int_equal(mail_sender_check(NULL), -EINVAL);
}

/* An oversized subject is refused; a long one is folded into encoded words. */
static void test_long_header_values(void **state)
{
	struct mail_parts p = parts();
	char big[MAIL_HEADER_MAX + 2], *msg, *head;

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	p.subject = big;
	msg = NULL;
	{
		size_t len;
		assert_int_equal(mail_build(&p, &msg, &len), -EINVAL);
	}
	big[300] = '\0';
	memcpy(big, "é", 2); /* two bytes of UTF-8 at the start, then ASCII */
	p.subject = big;
	p.from = "Service Médimail très long nom d'expéditeur pour voir <medimail@mipih.fr>";
	msg = build_ok(&p);
	head = head_of(msg);
	assert_lines(head, 78);
	assert_non_null(strstr(head, "\r\n =?UTF-8?B?")); /* folded */
	free(head);
	secret_free(msg);
}

/* Long lines of text are broken with soft breaks; trailing spaces survive. */
static void test_long_lines_and_spaces(void **state)
{
	struct mail_parts p = parts();
	char text[2048], *msg, *back;

	(void)state;
	memset(text, 'x', 1000);
	memcpy(text + 1000, "é=é \n fin \n", 14);
	text[1014] = '\0';
	p.text = text;
	msg = build_ok(&p);
	assert_lines(msg, 76);
	back = part(msg, "text/plain");
	assert_string_equal(back, text);
	free(back);
	secret_free(msg);
}

static void test_html_from_text(void **state)
{
	char *h = mail_html_from_text("Sujet <b>",
		"Bonjour <script>alert(1)</script> & \"x\"\n\n"
		"Lien : https://medimail.localhost/c?jeton=ab12&x=1\nfin\n");

	(void)state;
	assert_non_null(h);
	assert_null(strstr(h, "<script>"));
	assert_non_null(strstr(h, "&lt;script&gt;"));
	assert_non_null(strstr(h, "<title>Sujet &lt;b&gt;</title>"));
	assert_non_null(strstr(h, "<a href=\"https://medimail.localhost/c?jeton=ab12&amp;x=1\">"));
	assert_non_null(strstr(h, "<br>\nfin</p>"));
	assert_non_null(strstr(h, "<html lang=\"fr\">"));
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_multipart_alternative),
		cmocka_unit_test(test_footer_sentences),
		cmocka_unit_test(test_header_injection_refused),
		cmocka_unit_test(test_long_header_values),
		cmocka_unit_test(test_long_lines_and_spaces),
		cmocka_unit_test(test_html_from_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
