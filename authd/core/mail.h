/* Outgoing e-mail through an SMTP server (libcurl): codes, confirmation links, notices. */
#pragma once

#include <stddef.h>

#include "config.h"

/* Who a mail comes from, as the guides show it: account mails (confirmation,
 * validation, password reset) from mail_from_account, codes from mail_from_code. */
enum mail_kind {
	MAIL_ACCOUNT,
	MAIL_CODE,
};

/* The footer of every mail, as the code mail of the fiche réflexe ends. */
#define MAIL_FOOTER                                                                                          \
	"Cordialement, le service Medimail\n\n"                                                              \
	"Ceci est un email automatique, merci de ne pas y répondre."

#define MAIL_HEADER_MAX 998 /* RFC 5322: a header value longer than this is refused */

/* Everything one message is made of; text is UTF-8 with "\n" line ends. */
struct mail_parts {
	const char *from; /* "Display Name <addr>" or "addr" */
	const char *to; /* a bare address */
	const char *subject;
	const char *date; /* RFC 5322 date */
	const char *msgid; /* "<...>" */
	const char *boundary; /* of the multipart/alternative */
	const char *text; /* the plain-text part */
	const char *html; /* the HTML part */
};

/*
 * Builds a multipart/alternative message (text/plain and text/html, both
 * UTF-8 quoted-printable, CRLF, lines of at most 76 characters). A header
 * value holding a control character (CR, LF, ...) is refused, never split
 * into two headers; a non-ASCII or long subject or display name is written as
 * RFC 2047 encoded words. Returns 0 with *ret (to be freed with secret_free)
 * and *ret_len, or -EINVAL, -ENOMEM.
 */
int mail_build(const struct mail_parts *p, char **ret, size_t *ret_len) __attribute__((warn_unused_result));

/* The HTML part for a plain text: escaped, paragraphs at blank lines, links
 * made clickable. NULL when out of memory. */
char *mail_html_from_text(const char *subject, const char *text);

/* 0 when s is a usable sender ("Name <addr>" or "addr"), -EINVAL otherwise. */
int mail_sender_check(const char *s);

/* Sends text (the footer is appended) as a plain-text and an HTML part, from
 * the sender of its kind. -EINVAL for a header value with CR/LF, -ECOMM when
 * the server cannot be reached or refuses it; the message names no secret
 * in logs. */
int mail_send(const struct mm_config *c, enum mail_kind kind, const char *to, const char *subject,
	const char *text) __attribute__((warn_unused_result));
