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
const char *profession_label(const char *code);
const char *profession_domain_key(const char *code);
