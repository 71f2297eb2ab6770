/* The two directories of the guides (annuaire Medimail, annuaire santé):
 * views, typeahead search, favourites, visibility, national export.
 *
 * Typed services: (store, config, caller, typed arguments, typed result,
 * fault). The account a request acts for (`acct`) was found and authorised
 * by the door (access.h: access_resolve); the services never decide who may
 * act, and never see a socket or a wire message. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "access.h"
#include "config.h"
#include "fault.h"
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
	const char *raison_sociale; /* o */
};

/* ------------------------------------------------------- query.c */

/* "medimail" (or NULL) / "mssante" -> view; -EINVAL otherwise. */
int dir_view_parse(const char *s, enum dir_view *ret);

/* The LDAP filter of a query in a view (the view's terms always included).
 * On -EINVAL, *ret_field names the query field and *ret_rule the rule
 * ("utf8", "max_length", "characters", "empty", "too_many_words", "unknown",
 * "syntax", "required"). */
int dir_filter(const struct dir_query *q, enum dir_view v, char **ret_filter, const char **ret_field,
	const char **ret_rule) MM_WUR;
/* The same, a refusal as a fault (field, rule, the person's message). */
int dir_query_filter(const struct dir_query *q, enum dir_view v, char **ret_filter, struct fault *f) MM_WUR;

/* Attributes a view returns (NULL-terminated): the contact's card (full),
 * or what a result list shows (name, addresses, profession, city). */
const char *const *dir_view_attrs(enum dir_view v, bool full);

/* ------------------------------------------------------- keys.c */

/* The typeahead keys (mmSearchKey) of the account entry e, as the searches
 * of dir_filter find them: folded words of the names, the ORG's name and the
 * city (free text and "n:", "g:", "c:"), of the street ("s:") and of the
 * raison sociale ("o:").  op LDAP_MOD_ADD: the keys of a new entry;
 * LDAP_MOD_REPLACE: every stored key replaced.  Every writer of those
 * fields computes them here, from the entry as it will be (entry_apply). */
void dir_search_keys(const struct entry *e, struct mods *m, int op);

/* ------------------------------------------------------ search.c */

/* The fields of one directory record, in the entry's attribute order (the
 * catalogue's CAT_DIR_MEDIMAIL / CAT_DIR_MSSANTE attributes, their wire
 * keys; "profession_label" after "profession"; in the Medimail view the
 * MSSanté address only where it is public). One pass over the entry. */
typedef void (*dir_field_fn)(void *ctx, const char *key, const char *value);
void dir_record_fields(const struct entry *e, enum dir_view v, dir_field_fn put, void *ctx);

struct dir_search_args {
	enum dir_view view;
	bool full; /* the contact's card, not the result list */
	struct dir_query query;
};

struct dir_results {
	struct entry **e; /* sorted by folded display name */
	size_t n;
	bool more; /* more than DIR_MAX_RESULTS matched: "précisez votre recherche" */
};

/* One record of a typeahead answer: its sort key (the folded display name) and what the
 * caller made of it (dir_show_fn) while slapd was still sending the next ones, so that the
 * answer's last entry is followed by the sort alone (bench/directory/RESULTS.md). */
struct dir_hit {
	char key[128];
	size_t first, count; /* the caller's: e.g. the reply fields it wrote */
};
/* Called once per record shown, in slapd's order, with the entry it will not see again; a
 * negative return ends the search with that status. */
typedef int (*dir_show_fn)(const struct entry *e, enum dir_view v, struct dir_hit *h, void *ctx);
struct dir_hits {
	struct dir_hit **v; /* sorted by key */
	struct dir_hit *all; /* in slapd's order: what v points into */
	size_t n;
	bool more; /* more than DIR_MAX_RESULTS matched: "précisez votre recherche" */
};

/* A typeahead search for acct (NULL: the service centre searching with no
 * account of its own); acct must be active. At most DIR_MAX_RESULTS, each
 * handed to show as it arrives. */
int dir_search(struct store *s, const struct mm_config *c, const struct caller *who, const struct entry *acct,
	const struct dir_search_args *a, dir_show_fn show, void *ctx, struct dir_hits *ret,
	struct fault *f) MM_WUR;
void dir_hits_free(struct dir_hits *h);
void dir_results_free(struct dir_results *r);

/* --------------------------------------------------- favorites.c */

/* Favourites of the (active, individual) account acct, in the Medimail view:
 * add (the contact must be in the view; *ret_already when it was there),
 * remove (-ENOENT if absent), list (only those still in the view). */
int dir_favorite_add(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *acct, const char *target_login, bool *ret_already, struct fault *f) MM_WUR;
int dir_favorite_del(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *acct, const char *target_login, struct fault *f) MM_WUR;
int dir_favorite_list(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *acct, struct dir_results *ret, struct fault *f) MM_WUR;

/* -------------------------------------------------- visibility.c */

struct dir_visibility {
	bool read; /* false: changed, but could not be read back */
	char login[80];
	bool medimail; /* visible in the annuaire Medimail */
	bool has_mssante; /* not a MED: the annuaire santé applies */
	bool mssante;
};

/* What dir_visibility_set reads on its target. */
extern const char *const dir_visibility_attrs[];
/* Shows or hides the (active) account acct in the directory `which`;
 * *ret: its visibility afterwards. */
int dir_visibility_set(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *acct, enum dir_view which, bool on, struct dir_visibility *ret,
	struct fault *f) MM_WUR;

/* ------------------------------------------------------ export.c */

/* The national extraction ("Extraction Correspondance MSSanté"): a header
 * line then one line per mailbox of the MSSanté view, 31 '|'-separated
 * UTF-8 columns in DOMAIN.md order, '\n'-terminated; no value holds '|' or a
 * control character.  Lines are passed to emit() as they are made, in
 * chunks of at most DIR_EXPORT_CHUNK bytes; emit's negative return stops
 * the export and is returned.  *ret_count: mailboxes written. The door
 * decides who may export (administrators). */
#define DIR_EXPORT_CHUNK 60000
typedef int (*dir_emit_fn)(void *ctx, const char *lines, size_t n);
int dir_export(struct store *s, const struct mm_config *c, const struct caller *who, dir_emit_fn emit,
	void *ctx, size_t *ret_count, struct fault *f) MM_WUR;
/* One export line of an entry (exposed for tests); the line is NUL-terminated,
 * without '\n'.  Returns its length or -ENOSPC. */
int dir_export_line(const struct entry *e, char *out, size_t outsz) MM_WUR;
