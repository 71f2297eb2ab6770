/* Password + e-mailed code login over the HTTP API, and linking a Pro Santé Connect identity after it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "account_compat.h"
#include "http.h"
#include "log.h"
#include "login.h"
#include "protocol.h"
#include "psc.h"
#include "secret.h"
#include "records.h"
#include "validate.h"

#define LINK_KIND "psc-link"

/* The login policy lives in auth.c behind the unix-socket request shape; an
 * API call runs the same handlers on a request built from the JSON body. The
 * service client is privileged (it names the user, like root on the socket);
 * the audit trail and the per-source rate limit see the client id and the
 * HTTP peer. */
struct login_call {
	struct req r;
	struct mm_config cfg;
	struct mm_msg *in, *out;
};

static int call_begin(struct http_req *h, struct login_call *c, uint16_t code)
{
	memset(c, 0, sizeof(*c));
	c->in = mm_msg_new(code, false);
	c->out = mm_msg_new(code, true);
	if (!c->in || !c->out || mm_msg_add(c->in, "service", h->client) < 0 ||
		mm_msg_add(c->in, "rhost", h->remote) < 0)
		return -ENOMEM;
	/* Offline login is for the workstation's PAM stack: over the API, with the
	 * directory away, it would answer a password guess with no lockout seen by
	 * other daemons, and a verifier has no business on an API server. */
	c->cfg = *h->cfg;
	c->cfg.offline_login = false;
	c->r.d = h->d;
	c->r.cfg = &c->cfg;
	c->r.store = h->store;
	c->r.who.admin = true;
	snprintf(c->r.who.name, sizeof(c->r.who.name), "api:%.40s", h->client);
	c->r.in = c->in;
	c->r.out = c->out;
	return 0;
}

static int call_arg(struct login_call *c, const char *key, const char *value)
{
	return value ? mm_msg_add(c->in, key, value) : 0;
}

static void call_end(struct login_call *c)
{
	/* mm_msg_free wipes the values: passwords, codes, transactions. */
	mm_msg_free(c->in);
	mm_msg_free(c->out);
	c->in = c->out = NULL;
}

static const char *out_get(const struct login_call *c, const char *key)
{
	return mm_msg_get(c->out, key);
}

/* Copies a numeric reply field into the JSON error. */
static void reply_int(struct http_req *h, const struct login_call *c, const char *key)
{
	const char *v = out_get(c, key);

	if (v && h->reply)
		json_object_set_new(h->reply, key, json_integer(strtoll(v, NULL, 10)));
}

/* One mapping of the login handlers' statuses to HTTP. */
static unsigned call_fail(struct http_req *h, const struct login_call *c, int rc)
{
	const char *msg = c->out && c->out->message ? c->out->message : "refused";
	const char *reason = out_get(c, "reason");
	unsigned st;

	switch (rc) {
	case -EINVAL:
		st = http_fail(h, 400, "invalid_field", "%s", msg);
		if (out_get(c, "field"))
			json_object_set_new(h->reply, "field", json_string(out_get(c, "field")));
		return st;
	case -EACCES:
		st = http_fail(h, 401, "invalid_credentials", "%s", msg);
		reply_int(h, c, "tries_left");
		return st;
	case -ESTALE: return http_fail(h, 401, "new_code_required", "%s", msg);
	case -ETIMEDOUT:
		return http_fail(h, 410,
			reason && !strcmp(reason, "transaction") ? "txn_expired" : "code_expired", "%s", msg);
	case -ENOLCK:
		st = http_fail(h, 423, "locked", "%s", msg);
		reply_int(h, c, "locked_until");
		return st;
	case -EAGAIN:
		st = http_fail(h, 429, "rate_limited", "%s", msg);
		reply_int(h, c, "retry_after");
		return st;
	case -EPERM:
		st = http_fail(h, 403, "not_permitted", "%s", msg);
		if (reason)
			json_object_set_new(h->reply, "reason", json_string(reason));
		return st;
	case -ENOENT: return http_fail(h, 401, "invalid_credentials", "%s", msg);
	case -EHOSTDOWN:
		return http_fail(h, 503, "directory_unavailable", "directory unavailable, retry later");
	case -ECOMM: return http_fail(h, 502, "mail_failed", "%s", msg);
	default:
		log_msg(LOG_ERR, "api login: %s", strerror(rc < 0 ? -rc : EIO));
		return http_fail(h, 500, "internal", "login failed");
	}
}

/* The parsed body keeps its own copy of a password or code: wiped once used
 * (the raw body is wiped by http.c). */
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

/* Withdraws a transaction whose code could not be sent. */
static void txn_drop(struct login_call *c, const char *txn)
{
	struct entry *t = NULL;

	if (login_handle_load(&c->r, "pam-txn", txn, &t) == 0 && login_handle_delete(&c->r, t) < 0)
		log_msg(LOG_DEBUG, "transaction not withdrawn");
	entry_free(t);
}

unsigned api_login_password(struct http_req *h)
{
	struct login_call pw, send;
	char txn[SECRET_TOKEN_HEX] = "", login[128] = "";
	unsigned st;
	json_t *o;
	int rc;

	if ((st = http_body_check(h, password_fields, 2)))
		return st;
	memset(&send, 0, sizeof(send));
	if (call_begin(h, &pw, MM_REQ_AUTH_PASSWORD) < 0 ||
		call_arg(&pw, "user", http_body_str(h, "user")) < 0 ||
		call_arg(&pw, "password", http_body_str(h, "password")) < 0) {
		st = http_fail(h, 500, "internal", "out of memory");
		goto out;
	}
	if ((rc = auth_password(&pw.r)) < 0) {
		st = call_fail(h, &pw, rc);
		goto out;
	}
	/* Without a transaction there is nothing to send a code for. */
	if (!out_get(&pw, "txn") || strlen(out_get(&pw, "txn")) != SECRET_TOKEN_HEX - 1 ||
		!out_get(&pw, "login")) {
		st = http_fail(h, 503, "directory_unavailable", "directory unavailable, retry later");
		goto out;
	}
	memcpy(txn, out_get(&pw, "txn"), SECRET_TOKEN_HEX);
	snprintf(login, sizeof(login), "%s", out_get(&pw, "login"));
	if (call_begin(h, &send, MM_REQ_OTP_SEND) < 0 || call_arg(&send, "user", login) < 0 ||
		call_arg(&send, "txn", txn) < 0) {
		st = http_fail(h, 500, "internal", "out of memory");
		goto out;
	}
	rc = auth_otp_send(&send.r);
	if (rc == -EAGAIN && out_get(&send, "pending") && !strcmp(out_get(&send, "pending"), "yes")) {
		/* A code sent moments ago is still good: the new transaction goes with it. */
		o = json_pack("{s:s, s:s, s:i, s:b, s:s}", "txn", txn, "login", login, "expires_in",
			(int)h->cfg->otp_ttl + 60, "code_sent", 0, "message", send.out->message ?: "");
		if (o && out_get(&send, "retry_after"))
			json_object_set_new(
				o, "retry_after", json_integer(atoll(out_get(&send, "retry_after"))));
		st = http_ok(h, 200, o);
		goto out;
	}
	if (rc < 0) {
		txn_drop(&send, txn);
		st = call_fail(h, &send, rc);
		goto out;
	}
	o = json_pack("{s:s, s:s, s:i, s:b, s:s}", "txn", txn, "login", login, "expires_in",
		(int)h->cfg->otp_ttl + 60, "code_sent", 1, "sent_to", out_get(&send, "sent_to") ?: "");
	if (o && out_get(&send, "expires_in"))
		json_object_set_new(o, "code_expires_in", json_integer(atoll(out_get(&send, "expires_in"))));
	st = http_ok(h, 200, o);
out:
	secret_wipe(txn, sizeof(txn));
	body_wipe(h, "password");
	call_end(&pw);
	call_end(&send);
	return st;
}

/* --- POST /v1/login/code ---------------------------------------------------- */

/* The code step of a transaction: the account comes from the transaction.
 * On success *ret_account_dn (malloc'ed) is the authenticated account. */
static unsigned code_step(struct http_req *h, const char *txn, const char *code, char **ret_account_dn)
{
	static const char *const attrs[] = {"uid", NULL};
	struct login_call c;
	struct entry *t = NULL, *a = NULL;
	const char *user_dn;
	unsigned st;
	int rc;

	*ret_account_dn = NULL;
	if (call_begin(h, &c, MM_REQ_OTP_VERIFY) < 0) {
		st = http_fail(h, 500, "internal", "out of memory");
		goto out;
	}
	rc = login_handle_load(&c.r, "pam-txn", txn, &t);
	if (rc == -ETIMEDOUT) {
		login_audit(&c.r, "otp-verify", "otp", NULL, false, "password step expired");
		st = http_fail(
			h, 410, "txn_expired", "login transaction expired: start again with the password");
		goto out;
	}
	if (rc == -ENOENT) {
		login_audit(&c.r, "otp-verify", "otp", NULL, false, "unknown transaction");
		st = http_fail(h, 401, "invalid_txn", "unknown or finished login transaction");
		goto out;
	}
	if (rc < 0) {
		st = call_fail(h, &c, rc);
		goto out;
	}
	user_dn = entry_get(t, "mmSessionUser");
	rc = user_dn ? store_read(h->store, user_dn, attrs, &a) : -ENOENT;
	if (rc < 0 || !entry_get(a, "uid")) {
		st = rc == -EHOSTDOWN
			? call_fail(h, &c, rc)
			: http_fail(h, 401, "invalid_txn", "the account of this transaction is gone");
		goto out;
	}
	if (call_arg(&c, "user", entry_get(a, "uid")) < 0 || call_arg(&c, "txn", txn) < 0 ||
		call_arg(&c, "code", code) < 0) {
		st = http_fail(h, 500, "internal", "out of memory");
		goto out;
	}
	if ((rc = auth_otp_verify(&c.r)) < 0) {
		st = call_fail(h, &c, rc);
		goto out;
	}
	if (!(*ret_account_dn = strdup(a->dn))) {
		st = http_fail(h, 500, "internal", "out of memory");
		goto out;
	}
	st = 0;
out:
	entry_free(a);
	entry_free(t);
	call_end(&c);
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

/* --- Pro Santé Connect: linking an unmapped identity ------------------------- */

void api_psc_link_offer(struct http_req *h, const struct psc_identity *id)
{
	char handle[SECRET_TOKEN_HEX];
	char *data = NULL;
	json_t *d = json_pack("{s:s, s:s}", "sub", id->sub, "national_id", id->national_id);

	if (!d || !(data = json_dumps(d, JSON_COMPACT)) || !id->sub[0]) {
		json_decref(d);
		free(data);
		return;
	}
	json_decref(d);
	secret_token(handle);
	/* Stored hashed, single use, bound to this subject and national id. */
	if (flow_put(h->store, h->cfg, LINK_KIND, handle, NULL, data, h->cfg->psc_flow_ttl) == 0 &&
		h->reply) {
		json_object_set_new(h->reply, "link", json_string(handle));
		json_object_set_new(h->reply, "link_expires_in", json_integer(h->cfg->psc_flow_ttl));
	} else {
		log_msg(LOG_WARNING, "psc: link handle not stored");
	}
	secret_wipe(handle, sizeof(handle));
	free(data);
}

static void audit_link(const struct http_req *h, const char *account, bool ok, const char *reason)
{
	struct audit_ctx a = {.event = "psc-link",
		.caller = h->client,
		.method = "psc",
		.service = h->client,
		.remote = h->remote,
		.account = account};

	audit(&a, ok, reason);
}

/* Another account already holds this subject? */
static int sub_taken(struct http_req *h, const char *sub, const char *account_dn)
{
	static const char *const attrs[] = {"1.1", NULL};
	struct entry *e = NULL;
	char *esc = store_escape(sub), *filter = NULL;
	int rc;

	if (!esc || asprintf(&filter, "(&(objectClass=mmAccount)(mmPscSub=%s))", esc) < 0) {
		free(esc);
		return -ENOMEM;
	}
	free(esc);
	rc = store_search_one(h->store, h->cfg->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, &e);
	free(filter);
	if (rc == 0)
		rc = strcasecmp(e->dn, account_dn) ? -EEXIST : 0;
	else if (rc == -ENOENT || rc == -ENOTUNIQ)
		rc = rc == -ENOENT ? 0 : -EEXIST;
	entry_free(e);
	return rc;
}

static const struct body_field link_fields[] = {
	{"link", true, SECRET_TOKEN_HEX - 1},
	{"txn", true, SECRET_TOKEN_HEX - 1},
	{"code", true, 16},
};

unsigned api_psc_link(struct http_req *h)
{
	static const char *const attrs[] = {"uid", "mmNationalId", "mmPscSub", NULL};
	const char *link = NULL, *sub, *nid;
	char *unused = NULL, *data = NULL, *account = NULL, login[128] = "";
	json_t *d = NULL;
	struct entry *e = NULL;
	struct mods m;
	unsigned st;
	int rc;

	if ((st = http_body_check(h, link_fields, 3)))
		return st;
	link = http_body_str(h, "link");
	rc = psc_handle_valid(link) ? flow_get(h->store, h->cfg, LINK_KIND, link, &unused, &data) : -ENOENT;
	if (rc == -ENOENT) {
		audit_link(h, NULL, false, "unknown, expired or used link handle");
		st = http_fail(h, 410, "link_expired",
			"link handle unknown, expired or already used: log in "
			"with Pro Santé Connect again");
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
	rc = store_read(h->store, account, attrs, &e);
	if (rc < 0) {
		st = http_fail(h, 503, "directory_unavailable", "directory unavailable, retry later");
		goto out;
	}
	snprintf(login, sizeof(login), "%s", entry_get(e, "uid") ?: "");
	/* An account that already carries another national id is another person. */
	if (entry_get(e, "mmNationalId") && nid[0] && strcmp(entry_get(e, "mmNationalId"), nid)) {
		audit_link(h, login, false, "national id differs from the account's");
		st = http_fail(h, 409, "identity_mismatch",
			"this Pro Santé Connect identity belongs to another professional than this account");
		goto out;
	}
	if ((rc = sub_taken(h, sub, account)) < 0) {
		audit_link(h, login, false,
			rc == -EEXIST ? "subject linked to another account" : "directory error");
		st = rc == -EEXIST
			? http_fail(h, 409, "already_linked", "this identity is linked to another account")
			: http_fail(h, 503, "directory_unavailable", "directory unavailable, retry later");
		goto out;
	}
	/* Single use: of two requests with the same handle, one deletes it. */
	rc = flow_take(h->store, h->cfg, LINK_KIND, link);
	if (rc < 0) {
		audit_link(h, login, false, "link handle used meanwhile");
		st = http_fail(h, 410, "link_expired", "link handle already used");
		goto out;
	}
	if (!entry_has_value(e, "mmPscSub", sub)) {
		mods_init(&m);
		mods_add(&m, LDAP_MOD_ADD, "mmPscSub", sub);
		rc = store_modify(h->store, account, &m);
		mods_free(&m);
		if (rc < 0 && rc != -EEXIST) {
			audit_link(h, login, false, "directory error");
			st = http_fail(h, 503, "directory_unavailable", "the link could not be stored");
			goto out;
		}
	}
	audit_link(h, login, true, "Pro Santé Connect identity linked");
	st = api_session_reply(h, account, "psc", 200);
out:
	json_decref(d);
	secret_free(data);
	free(unused);
	free(account);
	entry_free(e);
	return st;
}

/* --- the linked identities over the unix socket ("Suppression d'un mode de connexion") --- */

static const char *const psc_attrs[] = {"uid", "mmAccountType", "mmStatus", "uidNumber", "mmPscSub", NULL};

int api_sock_psc_list(struct req *r)
{
	const struct attr *subs;
	struct entry *e = NULL;
	int rc;

	if ((rc = login_user(r, "psc-list", psc_attrs, &e)) < 0)
		return rc;
	req_put(r, "login", entry_get(e, "uid"));
	subs = entry_attr(e, "mmPscSub");
	for (size_t i = 0; subs && i < subs->nvals; i++) {
		char idx[24];

		snprintf(idx, sizeof(idx), "%zu", i);
		req_put(r, "#", idx);
		req_put(r, "sub", subs->vals[i]);
	}
	entry_free(e);
	return 0;
}

int api_sock_psc_unlink(struct req *r)
{
	const char *sub = login_field(r, "sub");
	const struct attr *subs;
	struct entry *e = NULL;
	struct mods m;
	char num[24];
	size_t n;
	int rc;

	if (!login_field(r, "user"))
		return req_fail_field(r, "user", "required", "identifiant : champ obligatoire");
	if ((rc = login_user(r, "psc-unlink", psc_attrs, &e)) < 0)
		return rc;
	subs = entry_attr(e, "mmPscSub");
	n = sub ? (entry_has_value(e, "mmPscSub", sub) ? 1 : 0) : subs ? subs->nvals : 0;
	if (n == 0) {
		login_audit(r, "psc-unlink", "psc", entry_get(e, "uid"), false, "not linked");
		rc = req_fail(r, -ENOENT, "%s : aucune identité Pro Santé Connect liée%s",
			entry_get(e, "uid"), sub ? " sous ce sujet" : "");
		goto out;
	}
	mods_init(&m);
	/* Deleting the exact value (or every value) the entry had: a concurrent change fails. */
	for (size_t i = 0; subs && i < subs->nvals; i++)
		if (!sub || !strcmp(subs->vals[i], sub))
			mods_add(&m, LDAP_MOD_DELETE, "mmPscSub", subs->vals[i]);
	rc = store_modify(r->store, e->dn, &m);
	mods_free(&m);
	if (rc < 0) {
		login_audit(r, "psc-unlink", "psc", entry_get(e, "uid"), false, "directory error");
		rc = store_fail(r, rc, "Pro Santé Connect");
		goto out;
	}
	login_audit(r, "psc-unlink", "psc", entry_get(e, "uid"), true, "Pro Santé Connect identity unlinked");
	req_put(r, "login", entry_get(e, "uid"));
	snprintf(num, sizeof(num), "%zu", n);
	req_put(r, "removed", num);
	mm_msg_set_message(r->out, "mode de connexion Pro Santé Connect supprimé");
out:
	entry_free(e);
	return rc;
}
