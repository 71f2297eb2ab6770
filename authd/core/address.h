/* Derivation of MSSanté addresses and POSIX logins from names, with deterministic collision candidates. */
#pragma once

#include <stddef.h>

#ifndef MM_WUR
#define MM_WUR __attribute__((warn_unused_result))
#endif

#define MM_ADDRESS_LOCAL_MAX 64
#define MM_ADDRESS_MAX 254
#define MM_LOGIN_MAX 32

/* Fold UTF-8 text to lowercase ASCII: Latin-1 Supplement and Latin
 * Extended-A letters lose their accents (é→e, œ→oe, ß→ss), ASCII letters are
 * lowered, digits kept; every run of anything else becomes one sep, never
 * leading or trailing. sep must be ASCII punctuation or space.
 * Returns the length written (NUL excluded), -EINVAL (invalid UTF-8 or sep)
 * or -ENOSPC (out too small; out is then untouched). */
int text_fold(const char *in, char sep, char *out, size_t outsz) MM_WUR;

/* "<given>.<sn>@<domain>", separators inside a name part folded to '-';
 * local part capped at 64 bytes. An empty given name gives "<sn>@<domain>".
 * Returns the length, -EINVAL or -ENOSPC; out untouched on failure. */
int address_person(
	const char *given_name, const char *sn, const char *domain, char *out, size_t outsz) MM_WUR;

/* "<name>.<postcode>.<city>@<domain>", name and city folded with '.';
 * local part capped at 64 bytes by shortening the name. A NULL or empty
 * postcode or city is left out ("<name>.<city>", "<name>"); a postcode
 * given must be 5 digits. */
int address_org(const char *name, const char *postcode, const char *city, const char *domain, char *out,
	size_t outsz) MM_WUR;

/* The local part of the e-mail mail folded with '.' (as names are) on
 * domain: "CLagarde@iess.fr" -> "clagarde@<domain>". -EINVAL when mail is
 * invalid or its folded local part has no letter (the caller then uses
 * address_person). */
int address_mail(const char *mail, const char *domain, char *out, size_t outsz) MM_WUR;

/* n-th candidate for a taken address: n == 1 is base itself, n >= 2 appends n
 * to the local part ("jean.durand2@dom"), shortening it to stay <= 64. */
int address_candidate(const char *base, unsigned n, char *out, size_t outsz) MM_WUR;

/* POSIX login "<given>.<sn>" (parts folded with '-'), at most 32 bytes,
 * starting with a letter; -EINVAL if the folded name starts with a digit. */
int login_person(const char *given_name, const char *sn, char *out, size_t outsz) MM_WUR;
/* ORG login: the name folded with '-', at most 32 bytes, starting with a letter. */
int login_org(const char *name, char *out, size_t outsz) MM_WUR;
/* Like address_candidate for logins ("jean.durand" -> "jean.durand2"), <= 32. */
int login_candidate(const char *base, unsigned n, char *out, size_t outsz) MM_WUR;
