/* The attribute catalogue: for each account attribute, its wire name, its
 * directory attribute, its French label, its rule, who may write it and
 * where it is shown. Registration, the profile ("Informations
 * personnelles"), SHOW/LIST, the directory records and the national export
 * all read this one table: one rule change is one edit here.
 *
 * Request parameters that are not attributes (type, password, org_name,
 * member...) are arguments of their service, not entries here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "fault.h"

#ifndef MM_WUR
#define MM_WUR __attribute__((warn_unused_result))
#endif

enum cat_kind {
	CAT_NAME, /* letters, spaces, apostrophes, hyphens, dots */
	CAT_TEXT, /* one line of text without control characters */
	CAT_EMAIL,
	CAT_PHONE,
	CAT_POSTCODE, /* 5 digits */
	CAT_PROFESSION, /* TRE_G15 code */
	CAT_BOOL, /* yes | no on the wire, TRUE | FALSE stored */
	CAT_RPPS, /* 11 digits, Luhn */
	CAT_ADELI, /* 9 alphanumerics */
	CAT_STRUCT_TYPE, /* FINESS | SIRET | SIREN */
	CAT_STRUCT_ID, /* checked with its type (validate_struct_id) */
	CAT_DEPARTMENT, /* 01..95, 2A, 2B, 971..976 */
	CAT_READONLY, /* set by the daemon only (status, dates, numbers, addresses) */
};

/* Where an attribute appears. */
enum {
	CAT_REGISTER = 1 << 0, /* a registration field */
	CAT_SUMMARY = 1 << 1, /* SHOW without detail and LIST */
	CAT_SHOW = 1 << 2, /* SHOW (the service centre's and the owner's full view) */
	CAT_PROFILE = 1 << 3, /* "Informations personnelles" (PROFILE_GET/SET) */
	CAT_DIR_MEDIMAIL = 1 << 4, /* a field of a Medimail-view directory record */
	CAT_DIR_MSSANTE = 1 << 5, /* a field of an annuaire santé record */
	CAT_REQUIRED = 1 << 6, /* may not be cleared once set */
	CAT_SECOND_VALUE = 1 << 7, /* the second value of a multi-valued attribute (phone2) */
	CAT_ORG_ONLY = 1 << 8, /* only on a BAL ORG */
	CAT_INDIVIDUAL_ONLY = 1 << 9, /* only on an individual account */
};

/* Who may write an attribute through the profile. */
enum {
	CAT_W_OWNER = 1 << 0, /* the individual account itself */
	CAT_W_ORG_MEMBER = 1 << 1, /* a connection account of the ORG */
	CAT_W_ADMIN = 1 << 2, /* the service centre */
};

struct cat_attr {
	const char *key; /* wire name */
	const char *attr; /* directory attribute */
	enum cat_kind kind;
	size_t max; /* bytes */
	const char *label; /* French, as the guides name the field */
	unsigned where; /* CAT_REGISTER ... */
	unsigned writers; /* CAT_W_*: who may change it in the profile; 0: nobody */
};

/* Every attribute, in the order replies list them. */
const struct cat_attr *catalog_all(size_t *n);
/* By wire name; NULL when unknown. */
const struct cat_attr *catalog_find(const char *key);
/* The first attribute stored in attr (case-insensitive), NULL when none. */
const struct cat_attr *catalog_by_attr(const char *attr);
/* Does the attribute apply to this kind of account? */
bool catalog_applies(const struct cat_attr *a, bool org);
/* May this writer change it on this kind of account (admin: the service
 * centre; else the owner of an individual account, or a connection
 * account of an ORG)? */
bool catalog_may_write(const struct cat_attr *a, bool org, bool admin);
/* The canonical form of a value as a person types it, before
 * catalog_check and before it is stored: names and text trimmed with inner
 * runs of spaces collapsed, identifiers (RPPS, ADELI, FINESS / SIRET /
 * SIREN) without their spaces, a profession named by its label or slug as
 * its TRE_G15 code. Registration and the profile both call it. Writes out
 * (never longer than value) and returns its length, or -EINVAL (invalid
 * UTF-8) or -ENOSPC; out is then "" and the value is to be checked as
 * given. */
int catalog_normalize(const struct cat_attr *a, const char *value, char *out, size_t size) MM_WUR;
/* Checks a value against the attribute's rule: 0, or f set (field = key,
 * rule utf8 | max_length | characters | syntax | unknown | check_digit)
 * and -EINVAL. */
int catalog_check(const struct cat_attr *a, const char *value, struct fault *f);
/* The directory attributes of every entry whose `where` has all of flags
 * (NULL-terminated, no repeats; static storage of the catalogue's strings
 * in a malloc'ed vector; NULL on ENOMEM). */
const char **catalog_attrs(unsigned flags);
