/* The typeahead search of the two directories, and the records it shows. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "accounts.h"
#include "catalog.h"
#include "directory.h"
#include "validate.h"
#include "dir_view.h"

int dir_store_fault(struct fault *f, int rc, const char *what)
{
	/* What is missing here is a record or a favourite, not always an account;
	 * every other status reads as the store's one mapping says. */
	if (rc == -ENOENT)
		return fault_set(f, rc, "%s : introuvable dans l'annuaire", what);
	return fault_store(f, rc, what);
}

int dir_account_usable(const struct entry *acct, struct fault *f)
{
	if (!acct)
		return fault_set(f, -ENOENT, "compte introuvable");
	if (accounts_active(acct))
		return 0;
	fault_set(f, -EPERM, "le compte %s n'est pas actif", entry_get(acct, "uid"));
	fault_put(f, "reason", entry_get(acct, "mmStatus"));
	return -EPERM;
}

/* The sort key of a record: its folded display name ("" when it has none or it does not fold). */
static void sort_key(const struct entry *e, char *key, size_t size)
{
	const char *name = entry_get(e, "cn");

	if (!name || text_fold(name, ' ', key, size) < 0)
		key[0] = '\0';
}

/* Sort by folded display name; each key is folded once, not per comparison. */
struct sort_item {
	char key[128];
	struct entry *e;
};

static int sort_item_cmp(const void *pa, const void *pb)
{
	const struct sort_item *a = pa, *b = pb;

	return strcmp(a->key, b->key);
}

void dir_entries_sort(struct entry **e, size_t n)
{
	struct sort_item *v;

	if (n < 2 || !(v = calloc(n, sizeof(*v))))
		return; /* unsorted is still a correct answer */
	for (size_t i = 0; i < n; i++) {
		v[i].e = e[i];
		sort_key(e[i], v[i].key, sizeof(v[i].key));
	}
	qsort(v, n, sizeof(*v), sort_item_cmp);
	for (size_t i = 0; i < n; i++)
		e[i] = v[i].e;
	free(v);
}

/* The catalogue's directory-record attributes by LDAP name (case-blind),
 * built once: a record is made for each of up to 51 entries per search, so
 * an attribute costs one hash and one comparison, not a walk of the
 * catalogue. */
#define REC_SLOTS 64 /* a power of two, well above the catalogue's record attributes */
static const struct cat_attr *rec_slot[REC_SLOTS];
static pthread_once_t rec_once = PTHREAD_ONCE_INIT;

static unsigned rec_hash(const char *name)
{
	unsigned h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ (unsigned)(*p | 0x20)) * 16777619u; /* ASCII case folded */
	return h;
}

static void rec_build(void)
{
	size_t n;
	const struct cat_attr *all = catalog_all(&n);

	for (size_t i = 0; i < n; i++) {
		const struct cat_attr *a = catalog_by_attr(all[i].attr);
		unsigned h;

		/* catalog_by_attr: the attribute's first entry (phone2 is a second value) */
		if (a != &all[i] || !(a->where & (CAT_DIR_MEDIMAIL | CAT_DIR_MSSANTE)))
			continue;
		for (h = rec_hash(a->attr); rec_slot[h & (REC_SLOTS - 1)]; h++)
			;
		rec_slot[h & (REC_SLOTS - 1)] = a;
	}
}

static const struct cat_attr *rec_attr(const char *name)
{
	for (unsigned h = rec_hash(name);; h++) {
		const struct cat_attr *a = rec_slot[h & (REC_SLOTS - 1)];

		if (!a || !strcasecmp(a->attr, name))
			return a;
	}
}

void dir_record_fields(const struct entry *e, enum dir_view v, dir_field_fn put, void *ctx)
{
	unsigned where = v == DIR_VIEW_MSSANTE ? CAT_DIR_MSSANTE : CAT_DIR_MEDIMAIL;
	/* In the Medimail view the MSSanté address shows only where it is public:
	 * visible, and published by the service centre. */
	bool mss_public = v == DIR_VIEW_MSSANTE ||
		(entry_has_value(e, "mmVisibleMssante", "TRUE") &&
			!entry_has_value(e, "mmMssPending", "TRUE"));

	pthread_once(&rec_once, rec_build);
	/* One pass over the entry's attributes (slapd returns only those asked for). */
	for (size_t k = 0; k < e->nattrs; k++) {
		const struct attr *a = &e->attrs[k];
		const struct cat_attr *ca = rec_attr(a->name);

		if (!ca || !(ca->where & where))
			continue;
		if (!mss_public && !strcmp(ca->key, "mss_address"))
			continue;
		for (size_t j = 0; j < a->nvals; j++)
			put(ctx, ca->key, a->vals[j]);
		if (a->nvals && !strcmp(ca->key, "profession"))
			put(ctx, "profession_label", profession_label(a->vals[0]));
	}
}

struct hits_arg {
	struct dir_hits *h;
	enum dir_view view;
	dir_show_fn show;
	void *ctx;
	int shown; /* show's refusal: the reply could not hold a record, not the directory's */
};

static int hit_take(const struct entry *e, void *p)
{
	struct hits_arg *a = p;
	struct dir_hit *h;

	/* One more than shown, to know whether to ask for a narrower search. */
	if (a->h->n == DIR_MAX_RESULTS) {
		a->h->more = true;
		return 0;
	}
	h = a->h->v[a->h->n] = &a->h->all[a->h->n];
	sort_key(e, h->key, sizeof(h->key));
	h->first = h->count = 0;
	if (a->show) {
		int rc = a->show(e, a->view, h, a->ctx);

		if (rc < 0)
			return a->shown = rc;
	}
	a->h->n++;
	return 0;
}

static int hit_cmp(const void *pa, const void *pb)
{
	const struct dir_hit *const *a = pa, *const *b = pb;

	return strcmp((*a)->key, (*b)->key);
}

int dir_search(struct store *s, const struct mm_config *c, const struct caller *who, const struct entry *acct,
	const struct dir_search_args *a, dir_show_fn show, void *ctx, struct dir_hits *ret, struct fault *f)
{
	struct hits_arg h = {ret, a->view, show, ctx, 0};
	char *filter = NULL;
	size_t seen = 0;
	int rc;

	(void)who;
	memset(ret, 0, sizeof(*ret));
	if ((rc = dir_query_filter(&a->query, a->view, &filter, f)) < 0)
		return rc;
	/* Medimail users (and administrators) search; the caller's view applies. */
	if (acct && (rc = dir_account_usable(acct, f)) < 0)
		goto out;
	ret->all = malloc(DIR_MAX_RESULTS * sizeof(*ret->all)); /* each hit written whole as it comes */
	ret->v = malloc(DIR_MAX_RESULTS * sizeof(*ret->v));
	if (!ret->all || !ret->v) {
		dir_hits_free(ret);
		rc = fault_set(f, -ENOMEM, "recherche : mémoire insuffisante");
		goto out;
	}
	rc = store_search_each_max(s, c->ldap_base, LDAP_SCOPE_SUBTREE, filter,
		dir_view_attrs(a->view, a->full), DIR_MAX_RESULTS + 1, hit_take, &h, &seen);
	if (rc < 0) {
		dir_hits_free(ret);
		if (h.shown == -E2BIG) /* the same search would fill the reply again */
			rc = fault_set(f, h.shown, "réponse trop longue : précisez votre recherche");
		else if (h.shown < 0)
			rc = fault_set(f, h.shown, "réponse incomplète (%s), réessayez", strerror(-h.shown));
		else if (rc == -EIO && seen > 0) /* cut mid-answer: no record of it goes out */
			rc = fault_set(f, rc, "recherche : réponse de l'annuaire interrompue, réessayez");
		else
			rc = dir_store_fault(f, rc, "recherche");
		goto out;
	}
	/* slapd's own size limit for the daemon may end the answer before DIR_MAX_RESULTS + 1:
	 * the list is not whole either way */
	if (rc > 0)
		ret->more = true;
	rc = 0;
	qsort(ret->v, ret->n, sizeof(*ret->v), hit_cmp); /* pointers: not the 144-byte hits */
out:
	free(filter);
	return rc;
}

void dir_hits_free(struct dir_hits *h)
{
	free(h->v);
	free(h->all);
	memset(h, 0, sizeof(*h));
}

void dir_results_free(struct dir_results *r)
{
	entries_free(r->e, r->n);
	r->e = NULL;
	r->n = 0;
}
