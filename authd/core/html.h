/* A strict allow-list checker for the rich text of signatures and automatic replies. */
#pragma once

#include <stddef.h>

#define HTML_MAX_BYTES (60u * 1024u) /* below the wire's MM_VALUE_MAX */
#define HTML_IMG_MAX_BYTES (40u * 1024u) /* decoded size of one inline image */
#define HTML_MAX_DEPTH 32

/* Why a text was refused: a rule name ("script", "event_handler", ...), the
 * byte offset where it was found and the tag or attribute concerned. */
struct html_error {
	const char *rule;
	size_t offset;
	char what[24];
};

/*
 * Accepts s (len bytes) only if it is valid UTF-8 made of text, character
 * references and the allowed elements:
 *   b strong i em u span font p div br ul ol li img
 * with style (font-size, font-family, color, background-color, text-align),
 * font's face/size/color, and img's src (data:image/png|jpeg|gif;base64 of
 * at most HTML_IMG_MAX_BYTES, matching its magic bytes), alt, width, height.
 * Nothing is rewritten: anything else is refused. Returns 0 or -EINVAL with
 * *err filled in (err may be NULL).
 */
int html_check(const char *s, size_t len, struct html_error *err) __attribute__((warn_unused_result));

/* A French sentence for a rule name. */
const char *html_rule_message(const char *rule);
