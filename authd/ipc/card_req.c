/* Socket adapters of the card requests (card_req.h): strict fields in, the
 * card service's result or refusal out. Who may act on which account is the
 * dispatch table's (its rows resolve r->target); the rest is the service's. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "card.h"
#include "card_req.h"
#include "login.h"
#include "secret.h"

/* A refusal as the reply; a status the service left without words keeps its errno. */
static int refused(struct req *r, int rc, struct fault *f)
{
	if (!f->status)
		f->status = rc;
	return req_fault(r, f);
}

int card_req_auth(struct req *r)
{
	static const char *const allowed[] = {"pin", "user", "service", "rhost", NULL};
	struct card_auth_result res;
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, allowed)) < 0)
		return rc;
	rc = card_auth(r->store, r->cfg, &r->who, req_get(r, "pin"), req_get(r, "user"), &res, &f);
	if (rc < 0) {
		rc = refused(r, rc, &f);
		if (res.link_ticket[0])
			req_put(r, "link_ticket", res.link_ticket);
		secret_wipe(res.link_ticket, sizeof(res.link_ticket));
		return rc;
	}
	req_put(r, "login", res.login);
	req_put(r, "method", "cps");
	req_put(r, "fingerprint", res.fingerprint);
	req_put(r, "national_id", res.national_id);
	if (res.pin_failures > 0)
		req_putf(r, "pin_failures", "%lld", res.pin_failures);
	return 0;
}

/* The owner's link proves a login through the login service (login.h). */
static int txn_consume(void *ctx, const char *txn, const char *user_dn)
{
	struct req *r = ctx;

	return login_txn_take(r->store, r->cfg, txn, user_dn);
}

int card_req_link(struct req *r)
{
	static const char *const allowed[] = {"login", "pin", "txn", "link_ticket", "service", "rhost", NULL};
	struct card_link_args a = {
		.pin = req_get(r, "pin"),
		.txn = req_get(r, "txn"),
		.link_ticket = req_get(r, "link_ticket"),
		.txn_consume = txn_consume,
		.txn_ctx = r,
	};
	struct card_link_result res;
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, allowed)) < 0)
		return rc;
	rc = card_link(r->store, r->cfg, &r->who, r->target, &a, &res, &f);
	if (rc < 0)
		return refused(r, rc, &f);
	req_put(r, "login", res.login);
	req_put(r, "fingerprint", res.fingerprint);
	req_put(r, "subject", res.subject);
	req_put(r, "not_before", res.not_before);
	req_put(r, "not_after", res.not_after);
	mm_msg_set_message(r->out, "carte CPS liée au compte %s", res.login);
	return 0;
}

int card_req_list(struct req *r)
{
	static const char *const allowed[] = {"login", NULL};
	struct card_record *v = NULL;
	size_t n = 0;
	int rc;

	if ((rc = req_keys(r, allowed)) < 0)
		return rc;
	if ((rc = card_records(r->target, &v, &n)) < 0)
		return req_fail(r, rc, "mémoire insuffisante");
	req_put(r, "login", entry_get(r->target, "uid"));
	for (size_t i = 0; i < n; i++) {
		req_put_index(r, i);
		req_put(r, "fingerprint", v[i].fingerprint);
		if (!v[i].subject)
			continue;
		req_put(r, "subject", v[i].subject);
		req_put(r, "not_before", v[i].not_before);
		req_put(r, "not_after", v[i].not_after);
		req_put(r, "linked_at", v[i].linked_at);
	}
	free(v);
	return 0;
}

int card_req_unlink(struct req *r)
{
	static const char *const allowed[] = {"login", "fingerprint", NULL};
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, allowed)) < 0)
		return rc;
	rc = card_unlink(r->store, r->cfg, &r->who, r->target, req_get(r, "fingerprint"), &f);
	if (rc < 0)
		return refused(r, rc, &f);
	req_put(r, "login", entry_get(r->target, "uid"));
	mm_msg_set_message(r->out, "carte désassociée du compte %s", entry_get(r->target, "uid"));
	return 0;
}

int card_req_present(struct req *r)
{
	static const char *const allowed[] = {"service", "rhost", NULL};
	struct card_presence res;
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, allowed)) < 0)
		return rc;
	if ((rc = card_present(r->cfg, &res, &f)) < 0)
		return refused(r, rc, &f);
	req_put_bool(r, "present", res.present);
	if (!res.present)
		req_put(r, "reason", res.reason);
	return 0;
}
