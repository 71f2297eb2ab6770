/* Password + e-mailed code login over the HTTP API, and linking a Pro Santé Connect identity after it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "account.h"
#include "http.h"
#include "log.h"
#include "login.h"
#include "protocol.h"
#include "psc.h"
#include "secret.h"
#include "records.h"
#include "validate.h"

#define LINK_KIND RECORD_PSC_LINK

/* The login services (login/login.h) called for an API client. The client
 * is privileged: it names the user, like root on the unix socket (admin,
 * uid 0, so that the per-source rate limit counts the HTTP peer); the audit
 * trail sees the client id and the peer. Offline login is for the
 * workstation's PAM stack: over the API, with the directory away, it would
 * answer a password guess with no lockout seen by other daemons, and a
 * verifier has no business on an API server (offline_ok false). */
static void api_caller(const struct http_req *h, struct caller *who)
{
	caller_from_peer(who, 0, 0, 0, true);
	snprintf(who->name, sizeof(who->name), "api:%.40s", h->client);
	who->service = h->client;
	who->rhost = h->remote;
}

/* Copies a numeric fact of the refusal into the JSON error. */
static void reply_int(struct http_req *h, const struct fault *f, const char *key)
{
	const char *v = fault_get(f, key);

	if (v && h->reply)
		json_object_set_new(h->reply, key, json_integer(strtoll(v, NULL, 10)));
}

/* One mapping of the login services' refusals to HTTP; clears f. */
static unsigned call_fail(struct http_req *h, struct fault *f, int rc)
{
	const char *msg = f->message ? f->message : "refused";
	const char *reason = fault_get(f, "reason");
	unsigned st;

	switch (rc) {
	case -EINVAL:
		st = http_fail(h, 400, "invalid_field", "%s", msg);
		if (fault_get(f, "field"))
			json_object_set_new(h->reply, "field", json_string(fault_get(f, "field")));
		break;
	case -EACCES:
		st = http_fail(h, 401, "invalid_credentials", "%s", msg);
		reply_int(h, f, "tries_left");
		break;
	case -ESTALE: st = http_fail(h, 401, "new_code_required", "%s", msg); break;
	case -ETIMEDOUT:
		st = http_fail(h, 410,
			reason && !strcmp(reason, "transaction") ? "txn_expired" : "code_expired", "%s", msg);
		break;
	case -ENOLCK:
		st = http_fail(h, 423, "locked", "%s", msg);
		reply_int(h, f, "locked_until");
		break;
	case -EAGAIN:
		st = http_fail(h, 429, "rate_limited", "%s", msg);
		reply_int(h, f, "retry_after");
		break;
	case -EPERM:
		st = http_fail(h, 403, "not_permitted", "%s", msg);
		if (reason)
			json_object_set_new(h->reply, "reason", json_string(reason));
		break;
	case -ENOENT: st = http_fail(h, 401, "invalid_credentials", "%s", msg); break;
	case -EHOSTDOWN:
		st = http_fail(h, 503, "directory_unavailable", "directory unavailable, retry later");
		break;
	case -ECOMM: st = http_fail(h, 502, "mail_failed", "%s", msg); break;
	default:
		log_msg(LOG_ERR, "api login: %s", strerror(rc < 0 ? -rc : EIO));
		st = http_fail(h, 500, "internal", "login failed");
	}
	fault_clear(f);
	return st;
}

/* The parsed body keeps its own copy of a password or code: wiped once used
 * (the raw body is wiped by routes.c). */
static void body_wipe(struct http_req *h, const char *name)
{
	json_t *v = json_object_get(h->body, name);

	if (json_is_string(v))
		secret_wipe((char *)json_string_value(v), json_string_length(v));
}

/* --- POST /v1/login/password ------------------------------------------------ */

static const struct body_field password_fields[] = {
	{"user", true, 254},
	{"password", true, MM_PASSWORD_MAX_BYTES},
};

unsigned api_login_password(struct http_req *h)
{
	struct login_step step;
	struct otp_sent sent;
	struct caller who;
	struct fault f = {0};
	unsigned st;
	json_t *o;
	int rc;

	if ((st = http_body_check(h, password_fields, 2)))
		return st;
	api_caller(h, &who);
	memset(&step, 0, sizeof(step));
	rc = login_password(h->store, h->cfg, &who, http_body_str(h, "user"), http_body_str(h, "password"),
		false, &step, &f);
	body_wipe(h, "password");
	if (rc < 0) {
		st = call_fail(h, &f, rc);
		goto out;
	}
	/* Without a transaction there is nothing to send a code for. */
	if (step.offline || strlen(step.txn) != SECRET_TOKEN_HEX - 1) {
		st = http_fail(h, 503, "directory_unavailable", "directory unavailable, retry later");
		goto out;
	}
	rc = login_otp_send(h->store, h->cfg, &who, step.login, step.txn, &sent, &f);
	if (rc == -EAGAIN && fault_get(&f, "pending") && !strcmp(fault_get(&f, "pending"), "yes")) {
		/* A code sent moments ago is still good: the new transaction goes with it. */
		o = json_pack("{s:s, s:s, s:i, s:b, s:s}", "txn", step.txn, "login", step.login, "expires_in",
			(int)h->cfg->otp_ttl + 60, "code_sent", 0, "message", f.message ?: "");
		if (o && fault_get(&f, "retry_after"))
			json_object_set_new(
				o, "retry_after", json_integer(atoll(fault_get(&f, "retry_after"))));
		fault_clear(&f);
		st = http_ok(h, 200, o);
		goto out;
	}
	if (rc < 0) {
		login_txn_drop(h->store, h->cfg, step.txn);
		st = call_fail(h, &f, rc);
		goto out;
	}
	o = json_pack("{s:s, s:s, s:i, s:b, s:s}", "txn", step.txn, "login", step.login, "expires_in",
		(int)h->cfg->otp_ttl + 60, "code_sent", 1, "sent_to", sent.sent_to);
	if (o) {
		json_object_set_new(o, "code_expires_in", json_integer(sent.expires_in));
		/* when a new code may be asked for (the page's "Renvoyer le code") */
		json_object_set_new(o, "retry_after", json_integer(h->cfg->otp_resend_interval));
	}
	st = http_ok(h, 200, o);
out:
	secret_wipe(step.txn, sizeof(step.txn));
	return st;
}

/* --- POST /v1/login/code ---------------------------------------------------- */

/* The code step of a transaction: the account comes from the transaction.
 * On success *ret_account_dn (malloc'ed) is the authenticated account. */
static unsigned code_step(struct http_req *h, const char *txn, const char *code, char **ret_account_dn)
{
	static const char *const attrs[] = {"uid", NULL};
	char login[LOGIN_NAME_MAX], *user_dn = NULL;
	struct entry *a = NULL;
	struct caller who;
	struct fault f = {0};
	unsigned st;
	int rc;

	*ret_account_dn = NULL;
	api_caller(h, &who);
	rc = login_txn_user(h->store, h->cfg, txn, &user_dn);
	if (rc == -ETIMEDOUT) {
		login_event(&who, "otp-verify", "otp", NULL, false, "password step expired");
		st = http_fail(
			h, 410, "txn_expired", "login transaction expired: start again with the password");
		goto out;
	}
	if (rc == -ENOENT) {
		login_event(&who, "otp-verify", "otp", NULL, false, "unknown transaction");
		st = http_fail(h, 401, "invalid_txn", "unknown or finished login transaction");
		goto out;
	}
	if (rc < 0) {
		fault_store(&f, rc, "code à usage unique");
		st = call_fail(h, &f, rc);
		goto out;
	}
	rc = store_read(h->store, user_dn, attrs, &a);
	if (rc < 0 || !entry_get(a, "uid")) {
		if (rc == -EHOSTDOWN)
			st = call_fail(h, &f, rc);
		else
			st = http_fail(h, 401, "invalid_txn", "the account of this transaction is gone");
		goto out;
	}
	if ((rc = login_otp_verify(
		     h->store, h->cfg, &who, entry_get(a, "uid"), txn, code, false, login, &f)) < 0) {
		st = call_fail(h, &f, rc);
		goto out;
	}
	if (!(*ret_account_dn = strdup(a->dn))) {
		st = http_fail(h, 500, "internal", "out of memory");
		goto out;
	}
	st = 0;
out:
	entry_free(a);
	free(user_dn);
	return st;
}

static const struct body_field code_fields[] = {
	{"txn", true, SECRET_TOKEN_HEX - 1},
	{"code", true, 16},
};

unsigned api_login_code(struct http_req *h)
{
	char *account = NULL;
	unsigned st;

	if ((st = http_body_check(h, code_fields, 2)))
		return st;
	st = code_step(h, http_body_str(h, "txn"), http_body_str(h, "code"), &account);
	body_wipe(h, "code");
	body_wipe(h, "txn");
	if (st)
		return st;
	st = api_session_reply(h, account, "password+otp", 200);
	free(account);
	return st;
}

/* --- POST /v1/web/login/resend: a new code for the same transaction ------------- */

static const struct body_field resend_fields[] = {{"txn", true, SECRET_TOKEN_HEX - 1}};

unsigned api_login_resend(struct http_req *h)
{
	static const char *const attrs[] = {"uid", NULL};
	struct otp_sent sent;
	struct entry *a = NULL;
	struct caller who;
	struct fault f = {0};
	char *user_dn = NULL;
	unsigned st;
	int rc;

	if ((st = http_body_check(h, resend_fields, 1)))
		return st;
	api_caller(h, &who);
	rc = login_txn_user(h->store, h->cfg, http_body_str(h, "txn"), &user_dn);
	if (rc == -ETIMEDOUT || rc == -ENOENT) {
		st = rc == -ETIMEDOUT
			? http_fail(h, 410, "txn_expired",
				  "login transaction expired: start again with the password")
			: http_fail(h, 401, "invalid_txn", "unknown or finished login transaction");
		goto out;
	}
	if (rc < 0 || (rc = store_read(h->store, user_dn, attrs, &a)) < 0 || !entry_get(a, "uid")) {
		fault_store(&f, rc < 0 ? rc : -ENOENT, "code à usage unique");
		st = call_fail(h, &f, rc < 0 ? rc : -ENOENT);
		goto out;
	}
	/* The throttle of otp_resend_interval applies: 429 with retry_after. */
	rc = login_otp_send(h->store, h->cfg, &who, entry_get(a, "uid"), http_body_str(h, "txn"), &sent, &f);
	if (rc < 0) {
		st = call_fail(h, &f, rc);
		goto out;
	}
	st = http_ok(h, 200,
		json_pack("{s:b, s:s, s:i, s:i}", "code_sent", 1, "sent_to", sent.sent_to, "code_expires_in",
			(int)sent.expires_in, "retry_after", (int)h->cfg->otp_resend_interval));
out:
	body_wipe(h, "txn");
	entry_free(a);
	free(user_dn);
	return st;
}

/* --- identity providers: linking an unmapped identity ----------------------- */

/* A link handle is bound to its provider: of another kind, it is unknown to
 * the other provider's link endpoint. */
static const char *const link_kind[IDP_N] = {[IDP_PSC] = LINK_KIND, [IDP_OIDC] = "oidc-link"};

void api_psc_link_offer(struct http_req *h, const struct psc_identity *id, const char *resume)
{
	char handle[SECRET_TOKEN_HEX];
	char *data = NULL;
	json_t *d = json_pack("{s:s, s:s, s:s, s:s}", "sub", id->subject, "national_id", id->national_id,
		"given_name", id->given_name, "family_name", id->family_name);
	json_t *ref = id->ref_pro ? json_loads(id->ref_pro, 0, NULL) : NULL;

	/* A PSC handle also serves a registration (account_register_psc), which
	 * fills the form from the identity's claims. */
	if (d && ref)
		json_object_set_new(d, "ref_pro", ref);
	else
		json_decref(ref);
	/* bound to the handle: the page's own suite does not choose where the link goes */
	if (d && web_resume_handle_ok(resume))
		json_object_set_new(d, "resume", json_string(resume));
	if (!d || !(data = json_dumps(d, JSON_COMPACT)) || !id->subject[0]) {
		json_decref(d);
		free(data);
		return;
	}
	json_decref(d);
	secret_token(handle);
	/* Stored hashed, single use, bound to this provider, subject and national id. */
	if (flow_put(h->store, h->cfg, link_kind[id->idp], handle, NULL, data, h->cfg->psc_flow_ttl) == 0 &&
		h->reply) {
		json_object_set_new(h->reply, "link", json_string(handle));
		json_object_set_new(h->reply, "link_expires_in", json_integer(h->cfg->psc_flow_ttl));
		if (id->idp == IDP_PSC)
			json_object_set_new(h->reply, "register", json_string("/v1/psc/register"));
	} else {
		log_msg(LOG_WARNING, "%s: link handle not stored", idp_name(h->cfg, id->idp));
	}
	secret_wipe(handle, sizeof(handle));
	free(data);
}

static void audit_link(
	const struct http_req *h, enum idp idp, const char *account, bool ok, const char *reason)
{
	struct audit_ctx a = {.event = idp == IDP_PSC ? "psc-link" : "oidc-link",
		.caller = h->client,
		.method = idp_name(h->cfg, idp),
		.service = h->client,
		.remote = h->remote,
		.account = account};

	audit(&a, ok, reason);
}

static const struct body_field link_fields[] = {
	{"link", true, SECRET_TOKEN_HEX - 1},
	{"txn", true, SECRET_TOKEN_HEX - 1},
	{"code", true, 16},
};

static unsigned idp_link(struct http_req *h, enum idp idp)
{
	const char *link = NULL, *sub, *nid, *resume, *label = idp_label(h->cfg, idp);
	char *unused = NULL, *data = NULL, *account = NULL, login[128] = "";
	char suite[sizeof("/oidc/authorize?requete=") + SECRET_TOKEN_HEX];
	json_t *d = NULL;
	struct entry *e = NULL;
	unsigned st;
	int rc;

	if ((st = http_body_check(h, link_fields, 3)))
		return st;
	link = http_body_str(h, "link");
	rc = psc_handle_valid(link) ? flow_get(h->store, h->cfg, link_kind[idp], link, &unused, &data)
				    : -ENOENT;
	if (rc == -ENOENT) {
		audit_link(h, idp, NULL, false, "unknown, expired or used link handle");
		st = http_fail(h, 410, "link_expired",
			"link handle unknown, expired or already used: log in with %s again", label);
		goto out;
	}
	if (rc < 0) {
		st = http_fail(h, rc == -EHOSTDOWN ? 503 : 500,
			rc == -EHOSTDOWN ? "directory_unavailable" : "internal",
			"link handle could not be read");
		goto out;
	}
	d = data ? json_loads(data, 0, NULL) : NULL;
	sub = json_string_value(json_object_get(d, "sub"));
	nid = json_string_value(json_object_get(d, "national_id"));
	if (!sub || !nid) {
		st = http_fail(h, 500, "internal", "link handle unreadable");
		goto out;
	}
	/* The password + code login proves who holds the account. */
	st = code_step(h, http_body_str(h, "txn"), http_body_str(h, "code"), &account);
	body_wipe(h, "code");
	body_wipe(h, "txn");
	if (st)
		goto out;
	rc = store_read(h->store, account, login_psc_attrs, &e);
	if (rc < 0) {
		st = http_fail(h, 503, "directory_unavailable", "directory unavailable, retry later");
		goto out;
	}
	snprintf(login, sizeof(login), "%s", entry_get(e, "uid") ?: "");
	/* An account that already carries another national id is another person. */
	if (entry_get(e, "mmNationalId") && nid[0] && strcmp(entry_get(e, "mmNationalId"), nid)) {
		audit_link(h, idp, login, false, "national id differs from the account's");
		st = http_fail(h, 409, "identity_mismatch",
			"this %s identity belongs to another professional than this account", label);
		goto out;
	}
	if ((rc = login_link_taken(h->store, h->cfg, idp_name(h->cfg, idp), sub, account)) < 0) {
		audit_link(h, idp, login, false,
			rc == -EEXIST ? "subject linked to another account" : "directory error");
		st = rc == -EEXIST
			? http_fail(h, 409, "already_linked", "this identity is linked to another account")
			: http_fail(h, 503, "directory_unavailable", "directory unavailable, retry later");
		goto out;
	}
	/* Single use: of two requests with the same handle, one deletes it. */
	rc = flow_take(h->store, h->cfg, link_kind[idp], link);
	if (rc < 0) {
		audit_link(h, idp, login, false, "link handle used meanwhile");
		st = http_fail(h, 410, "link_expired", "link handle already used");
		goto out;
	}
	rc = login_link_add(h->store, h->cfg, e, idp_name(h->cfg, idp), sub);
	if (rc < 0) {
		audit_link(h, idp, login, false,
			rc == -EEXIST ? "subject linked to another account" : "directory error");
		st = rc == -EEXIST
			? http_fail(h, 409, "already_linked", "this identity is linked to another account")
			: http_fail(h, 503, "directory_unavailable", "the link could not be stored");
		goto out;
	}
	audit_link(h, idp, login, true,
		idp == IDP_PSC ? "Pro Santé Connect identity linked" : "identity linked");
	st = api_session_reply(h, account, idp_name(h->cfg, idp), 200);
	/* the authorization request the login came from, resumed once the link is made */
	resume = json_string_value(json_object_get(d, "resume"));
	if (st == 200 && web_resume_handle_ok(resume)) {
		snprintf(suite, sizeof(suite), "/oidc/authorize?requete=%s", resume);
		json_object_set_new(h->reply, "suite", json_string(suite));
	}
out:
	json_decref(d);
	secret_free(data);
	free(unused);
	free(account);
	entry_free(e);
	return st;
}

unsigned api_psc_link(struct http_req *h)
{
	return idp_link(h, IDP_PSC);
}

unsigned api_oidc_link(struct http_req *h)
{
	return idp_link(h, IDP_OIDC);
}

/* --- POST /v1/cgu/accept, POST /v1/session/switch ---------------------------- */

/* A refusal of the session services: an unknown token is invalid_token. */
static unsigned session_fail(struct http_req *h, struct fault *f, int rc)
{
	unsigned st;

	switch (rc) {
	case -ENOENT:
		st = http_fail(h, 401, "invalid_token", "%s", f->message ?: "unknown session");
		fault_clear(f);
		return st;
	case -EACCES:
		st = http_fail(h, 403, "not_permitted", "%s", f->message ?: "refused");
		fault_clear(f);
		return st;
	default: return call_fail(h, f, rc);
	}
}

static const struct body_field cgu_fields[] = {{"token", true, 256}};

unsigned api_cgu_accept(struct http_req *h)
{
	struct login_api_session ls;
	struct entry *u = NULL;
	struct fault f = {0};
	struct caller who;
	char stamp[16];
	unsigned st;
	int rc;

	if ((st = http_body_check(h, cgu_fields, 1)))
		return st;
	http_client_caller(h, &who);
	/* The user of the session accepts (account/), then the session is put on its default account (login/). */
	if ((rc = login_api_user(h->store, h->cfg, &who, "cgu-accept", http_body_str(h, "token"), &u, &f)) <
			0 ||
		(rc = account_cgu_accept(h->store, h->cfg, &who, u, stamp, &f)) < 0 ||
		(rc = login_api_resume(h->store, h->cfg, &who, http_body_str(h, "token"), &ls, &f)) < 0) {
		entry_free(u);
		return session_fail(h, &f, rc);
	}
	entry_free(u);
	st = api_session_json(h, &ls, NULL, 200);
	if (st == 200)
		json_object_set_new(h->reply, "cgu_accepted_at", json_string(stamp));
	return st;
}

static const struct body_field switch_fields[] = {{"token", true, 256}, {"target", true, 254}};

unsigned api_session_switch(struct http_req *h)
{
	struct login_api_session ls;
	struct fault f = {0};
	struct caller who;
	unsigned st;
	int rc;

	if ((st = http_body_check(h, switch_fields, 2)))
		return st;
	http_client_caller(h, &who);
	rc = login_api_switch(
		h->store, h->cfg, &who, http_body_str(h, "token"), http_body_str(h, "target"), &ls, &f);
	if (rc < 0)
		return session_fail(h, &f, rc);
	st = api_session_json(h, &ls, NULL, 200);
	if (st == 200 && ls.account.address[0])
		json_object_set_new(h->reply, "address", json_string(ls.account.address));
	return st;
}
