/* The directory requests on the unix socket: fields in, typed service
 * call, reply out (directory_req.h). The dispatch table has already found
 * and authorised the account acted for (r->target). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "directory.h"
#include "directory_req.h"
#include "wire.h"

static void put_field(void *ctx, const char *key, const char *value)
{
	req_put(ctx, key, value);
}

static void put_records(struct req *r, const struct dir_results *res, enum dir_view v)
{
	req_putf(r, "count", "%zu", res->n);
	for (size_t i = 0; i < res->n; i++) {
		req_put_index(r, i);
		dir_record_fields(res->e[i], v, put_field, r);
	}
}

/* A record's fields go into the reply as its entry arrives; the reply is put in order once the
 * search has ended (put_hits). */
static int show_hit(const struct entry *e, enum dir_view v, struct dir_hit *h, void *ctx)
{
	struct req *r = ctx;

	h->first = r->out->nfields;
	dir_record_fields(e, v, put_field, r);
	h->count = r->out->nfields - h->first;
	return r->err;
}

/* The reply as put_records writes it ("refine", "count", then "#" and the fields of each
 * record, sorted), from the records' fields written from base on in slapd's order. */
static void put_hits(struct req *r, size_t base, const struct dir_hits *h)
{
	size_t head = r->out->nfields, n, k = 0, *order;
	int rc;

	req_put(r, "refine", h->more ? "yes" : "no");
	req_putf(r, "count", "%zu", h->n);
	for (size_t i = 0; i < h->n; i++)
		req_put_index(r, i);
	if (r->err)
		return;
	n = r->out->nfields - base;
	if (!(order = calloc(n, sizeof(*order)))) {
		r->err = -ENOMEM;
		return;
	}
	order[k++] = head;
	order[k++] = head + 1;
	for (size_t i = 0; i < h->n && k < n; i++) {
		order[k++] = head + 2 + i;
		for (size_t j = 0; j < h->v[i]->count && k < n; j++)
			order[k++] = h->v[i]->first + j;
	}
	/* A count that does not add up is refused by mm_msg_reorder as not a permutation. */
	rc = k == n ? mm_msg_reorder(r->out, base, order, n) : -EINVAL;
	if (rc < 0)
		r->err = rc;
	free(order);
}

int directory_req_search(struct req *r)
{
	static const char *const allowed[] = {"view", "detail", "login", "q", "name", "first_name",
		"profession", "city", "postal_code", "address", "raison_sociale", NULL};
	const char *detail = req_get(r, "detail");
	struct dir_search_args a = {
		.query = {req_get(r, "q"), req_get(r, "name"), req_get(r, "first_name"),
			req_get(r, "profession"), req_get(r, "city"), req_get(r, "postal_code"),
			req_get(r, "address"), req_get(r, "raison_sociale")}};
	struct dir_hits hits = {0};
	struct fault f = {0};
	size_t base = r->out->nfields;
	int rc;

	if ((rc = req_keys(r, allowed)) < 0)
		return rc;
	if (dir_view_parse(req_get(r, "view"), &a.view) < 0)
		return req_fail_field(r, "view", "unknown", "annuaire : medimail ou mssante");
	if (detail && strcmp(detail, "summary") && strcmp(detail, "full"))
		return req_fail_field(r, "detail", "unknown", "détail : summary ou full");
	a.full = detail && !strcmp(detail, "full");
	if ((rc = dir_search(r->store, r->cfg, &r->who, r->target, &a, show_hit, r, &hits, &f)) < 0) {
		/* no record of a failed search goes out */
		mm_msg_truncate(r->out, base);
		return req_fault(r, &f);
	}
	put_hits(r, base, &hits);
	if (hits.more && hits.n < DIR_MAX_RESULTS)
		mm_msg_set_message(r->out,
			"L'annuaire a limité la réponse à %zu résultat%s. "
			"Précisez votre recherche pour réduire cette liste.",
			hits.n, hits.n > 1 ? "s" : "");
	else if (hits.more)
		mm_msg_set_message(r->out,
			"Pour des raisons de performance, le nombre de résultats est limité à %d. "
			"Précisez votre recherche pour réduire cette liste.",
			DIR_MAX_RESULTS);
	dir_hits_free(&hits);
	return 0;
}

static int favorite_change(struct req *r, bool add)
{
	static const char *const allowed[] = {"login", "target", NULL};
	const char *target = req_get(r, "target");
	struct fault f = {0};
	bool already = false;
	int rc;

	if ((rc = req_keys(r, allowed)) < 0)
		return rc;
	rc = add ? dir_favorite_add(r->store, r->cfg, &r->who, r->target, target, &already, &f)
		 : dir_favorite_del(r->store, r->cfg, &r->who, r->target, target, &f);
	if (rc < 0)
		return req_fault(r, &f);
	if (already)
		mm_msg_set_message(r->out, "%s est déjà dans vos favoris", target);
	else
		mm_msg_set_message(r->out, add ? "%s ajouté aux favoris" : "%s retiré des favoris", target);
	req_put(r, "target", target);
	return 0;
}

int directory_req_favorite_add(struct req *r)
{
	return favorite_change(r, true);
}

int directory_req_favorite_del(struct req *r)
{
	return favorite_change(r, false);
}

int directory_req_favorite_list(struct req *r)
{
	static const char *const allowed[] = {"login", NULL};
	struct dir_results res = {0};
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, allowed)) < 0)
		return rc;
	if ((rc = dir_favorite_list(r->store, r->cfg, &r->who, r->target, &res, &f)) < 0)
		return req_fault(r, &f);
	put_records(r, &res, DIR_VIEW_MEDIMAIL);
	dir_results_free(&res);
	return 0;
}

int directory_req_visibility(struct req *r)
{
	static const char *const allowed[] = {"login", "directory", "visible", NULL};
	const char *dir = req_get(r, "directory"), *vis = req_get(r, "visible");
	struct dir_visibility after;
	struct fault f = {0};
	enum dir_view which;
	bool on;
	int rc;

	if ((rc = req_keys(r, allowed)) < 0)
		return rc;
	if (!dir || dir_view_parse(dir, &which) < 0)
		return req_fail_field(r, "directory", "unknown", "annuaire : medimail ou mssante");
	if (!vis || (strcmp(vis, "on") && strcmp(vis, "off")))
		return req_fail_field(r, "visible", "syntax", "visibilité : on ou off");
	on = !strcmp(vis, "on");
	if ((rc = dir_visibility_set(r->store, r->cfg, &r->who, r->target, which, on, &after, &f)) < 0)
		return req_fault(r, &f);
	if (after.read) {
		req_put(r, "login", after.login);
		req_put(r, "visible_medimail", after.medimail ? "on" : "off");
		if (after.has_mssante)
			req_put(r, "visible_mssante", after.mssante ? "on" : "off");
	}
	mm_msg_set_message(r->out, "%s : adresse %s dans l'annuaire %s", after.login,
		on ? "visible" : "masquée", which == DIR_VIEW_MEDIMAIL ? "Medimail" : "santé");
	return 0;
}

/* Each chunk goes out as its own reply frame marked "more". */
static int export_emit_frame(void *ctx, const char *data, size_t len)
{
	struct req *r = ctx;
	struct mm_msg *m = mm_msg_new(MM_REQ_DIR_EXPORT, true);
	char *copy;
	int rc;

	if (!m)
		return -ENOMEM;
	copy = strndup(data, len);
	if (!copy) {
		mm_msg_free(m);
		return -ENOMEM;
	}
	rc = mm_msg_add(m, "more", "yes");
	if (rc == 0)
		rc = mm_msg_add(m, "data", copy);
	if (rc == 0)
		rc = mm_msg_send(r->fd, m, MM_IO_TIMEOUT_MS);
	free(copy);
	mm_msg_free(m);
	return rc;
}

int directory_req_export(struct req *r)
{
	static const char *const allowed[] = {NULL};
	struct fault f = {0};
	size_t count = 0;
	int rc;

	if ((rc = req_keys(r, allowed)) < 0)
		return rc;
	if (r->fd < 0)
		return req_fail(r, -ENOSYS, "export : pas de flux");
	if ((rc = dir_export(r->store, r->cfg, &r->who, export_emit_frame, r, &count, &f)) < 0)
		return req_fault(r, &f);
	req_putf(r, "count", "%zu", count);
	req_put(r, "columns", "31");
	mm_msg_set_message(r->out, "%zu boîtes aux lettres exportées", count);
	return 0;
}
