/* The two directories of the guides (annuaire Medimail, annuaire santé): views, typeahead search, favourites, visibility, national export. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "protocol.h"
#include "store.h"

/* "Pour des raisons de performance, le nombre de résultats est limité à 50." */
#define DIR_MAX_RESULTS MM_DIR_MAX_RESULTS
#define DIR_MAX_FAVORITES 100 /* 100 records of <= 18 fields fit in one reply */
#define DIR_FIELD_MAX MM_DIR_FIELD_MAX /* bytes of one search field */
#define DIR_WORDS_MAX 8 /* words of one search field */
#define DIR_EXPORT_COLUMNS 31

enum dir_view {
	DIR_VIEW_MEDIMAIL, /* every active Medimail entry its owner did not hide */
	DIR_VIEW_MSSANTE, /* active PER / INT / ORG with a visible MSSanté address */
};

/* Search criteria; NULL or "" = not given.  Each word of a field is an
 * accent- and case-insensitive prefix; all words of all fields must match. */
struct dir_query {
	const char *q; /* free text: names, ORG name, city */
	const char *name; /* sn, or the ORG's name */
	const char *first_name;
	const char *profession; /* TRE_G15 code, or the start of its label */
	const char *city;
	const char *postal_code; /* 1..5 digits, a prefix */
	const char *address; /* street */
};

/* "medimail" / "mssante" -> view; -EINVAL otherwise. */
int dir_view_parse(const char *s, enum dir_view *ret);

/* The LDAP filter of a query in a view (the view's terms always included).
 * On -EINVAL, *ret_field names the query field and *ret_rule the rule
 * ("utf8", "max_length", "characters", "empty", "too_many_words", "unknown",
 * "syntax", "required"). */
int dir_filter(const struct dir_query *q, enum dir_view v, char **ret_filter, const char **ret_field,
	const char **ret_rule) MM_WUR;

/* Attributes a view returns (NULL-terminated): the contact's card (full),
 * or what a result list shows (name, addresses, profession, city). */
const char *const *dir_view_attrs(enum dir_view v, bool full);

/* At most DIR_MAX_RESULTS entries, sorted by name; *ret_more when more
 * matched ("précisez votre recherche"). */
int dir_search(struct store *s, const struct mm_config *c, enum dir_view v, bool full, const char *filter,
	struct entry ***ret, size_t *ret_n, bool *ret_more) MM_WUR;

/* Favourites of the account owner_dn: add (target must be in the view),
 * remove (-ENOENT if absent), list (only those still in the view). */
int dir_favorite_add(struct store *s, const struct mm_config *c, const char *owner_dn,
	const char *target_login, enum dir_view v) MM_WUR;
int dir_favorite_del(
	struct store *s, const struct mm_config *c, const char *owner_dn, const char *target_login) MM_WUR;
int dir_favorite_list(struct store *s, const struct mm_config *c, const char *owner_dn, enum dir_view v,
	struct entry ***ret, size_t *ret_n) MM_WUR;

/* The national extraction ("Extraction Correspondance MSSanté"): a header
 * line then one line per mailbox of the MSSanté view, 31 '|'-separated
 * UTF-8 columns in DOMAIN.md order, '\n'-terminated; no value holds '|' or a
 * control character.  Lines are passed to emit() as they are made, in
 * chunks of at most DIR_EXPORT_CHUNK bytes; emit's negative return stops
 * the export and is returned.  *ret_count: mailboxes written. */
#define DIR_EXPORT_CHUNK 60000
typedef int (*dir_emit_fn)(const char *data, size_t len, void *ctx);
int dir_export(
	struct store *s, const struct mm_config *c, dir_emit_fn emit, void *ctx, size_t *ret_count) MM_WUR;
/* One export line of an entry (exposed for tests); the line is NUL-terminated,
 * without '\n'.  Returns its length or -ENOSPC. */
int dir_export_line(const struct entry *e, char *out, size_t outsz) MM_WUR;
