/* Field validators for medimail-authd: national identifiers, e-mail, password, text, names, phone, professions. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifndef MM_WUR
#define MM_WUR __attribute__((warn_unused_result))
#endif

#define MM_PASSWORD_MIN_CHARS 8 /* counted in code points */
#define MM_PASSWORD_MAX_BYTES 1024
#define MM_NAME_MAX_BYTES 64

/* Decode one UTF-8 sequence from s (len bytes available). Returns the
 * sequence length (1..4) and sets *ret_cp, or -EINVAL (truncated, overlong,
 * surrogate, > U+10FFFF). */
int mm_utf8_decode(const char *s, size_t len, uint32_t *ret_cp) MM_WUR;

/* 1 if the non-empty all-digit string passes Luhn, else 0. */
int mm_luhn_valid(const char *digits) MM_WUR;

/* All of these return 0 if valid, -EINVAL if not. */
int validate_rpps(const char *s) MM_WUR;
int validate_adeli(const char *s) MM_WUR;
int validate_finess(const char *s) MM_WUR;
int validate_siren(const char *s) MM_WUR;
int validate_siret(const char *s) MM_WUR;
/* type is "FINESS", "SIRET" or "SIREN" (exact case). */
int validate_struct_id(const char *type, const char *id) MM_WUR;
int validate_email(const char *s) MM_WUR;

/* On failure *ret_rule (if ret_rule is not NULL) names the first failed rule:
 * "utf8", "max_length", "min_length", "upper", "lower", "digit", "special". */
int validate_password(const char *s, const char **ret_rule) MM_WUR;
/* French sentence for a rule name; a generic sentence for an unknown rule. */
const char *password_rule_message(const char *rule);

int validate_utf8(const char *s, size_t len) MM_WUR;
/* -EINVAL if empty, invalid UTF-8 or holding a control character;
 * -E2BIG if longer than max_bytes. */
int validate_text(const char *s, size_t max_bytes) MM_WUR;
int validate_name(const char *s) MM_WUR;
int validate_phone(const char *s) MM_WUR;
int validate_postal_code(const char *s) MM_WUR;

/* TRE_G15 profession codes ("10", "21", ...). */
int validate_profession_code(const char *code) MM_WUR;
/* The code of a profession as a person names it: its code, its label or
 * its slug, case, accents and separators aside ("21", "Pharmacien",
 * "pharmacien", "sage femme" for "Sage-Femme"); NULL when none. */
const char *profession_code_of(const char *text);
/* Every profession as "Médecin (10), Pharmacien (21), ..." for a message;
 * returns the length, or -ENOSPC (out then holds a cut list). */
int profession_list(char *out, size_t size);

/* Canonical forms of what a person types, never longer than the input.
 * The spaces are U+0020 and the no-break ones (U+00A0, U+202F); a control
 * character is kept, for the validator to refuse. Each writes a NUL-ended
 * string to out and returns its length, or -EINVAL (invalid UTF-8) or
 * -ENOSPC (out too small); out is "" on failure. */
/* Trimmed, every inner run of spaces one U+0020: " Jean   Pierre " -> "Jean Pierre". */
int text_squeeze(const char *s, char *out, size_t size) MM_WUR;
/* Without any space: an RPPS printed "100 028 138 39" -> "10002813839". */
int text_unspace(const char *s, char *out, size_t size) MM_WUR;
const char *profession_label(const char *code);
const char *profession_domain_key(const char *code);
