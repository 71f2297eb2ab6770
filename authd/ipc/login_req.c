/* The login requests over the unix socket: fields in, a typed login service, fields out (login_req.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "login.h"
#include "login_req.h"
#include "psc.h"
#include "wire.h"

/* The socket may log in offline (offline_login, root callers: login.h). */
#define OFFLINE_OK true

#define META "service", "rhost"

int login_req_password(struct req *r)
{
	static const char *const keys[] = {"user", "password", META, NULL};
	struct login_step st;
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	rc = login_password(
		r->store, r->cfg, &r->who, req_get(r, "user"), req_get(r, "password"), OFFLINE_OK, &st, &f);
	if (rc < 0)
		return req_fault(r, &f);
	req_put(r, "login", st.login);
	if (st.offline) {
		req_put(r, "offline", "yes");
		req_putf(r, "offline_until", "%lld", st.offline_until);
		mm_msg_set_message(r->out,
			"connexion hors ligne : annuaire injoignable, mot de passe vérifié localement");
		return 0;
	}
	req_put(r, "txn", st.txn);
	req_putf(r, "txn_expires_in", "%u", st.txn_expires_in);
	secret_wipe(st.txn, sizeof(st.txn));
	return 0;
}

int login_req_mail_auth(struct req *r)
{
	static const char *const keys[] = {"user", "secret", META, NULL};
	char login[LOGIN_NAME_MAX];
	const char *method = NULL;
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (login_mail_auth(r->store, r->cfg, &r->who, req_get(r, "user"), req_get(r, "secret"), login,
		    &method, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "login", login);
	req_put(r, "method", method);
	return 0;
}

int login_req_otp_send(struct req *r)
{
	static const char *const keys[] = {"user", "txn", META, NULL};
	struct otp_sent sent;
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (login_otp_send(r->store, r->cfg, &r->who, req_get(r, "user"), req_get(r, "txn"), &sent, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "sent_to", sent.sent_to);
	req_putf(r, "expires_in", "%u", sent.expires_in);
	mm_msg_set_message(r->out, "un code à usage unique a été envoyé à %s", sent.sent_to);
	return 0;
}

int login_req_otp_verify(struct req *r)
{
	static const char *const keys[] = {"user", "txn", "code", "then", META, NULL};
	const char *then = req_get(r, "then");
	char login[LOGIN_NAME_MAX];
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (req_get(r, "code") && then && strcmp(then, "card_link"))
		return req_fail_field(r, "then", "value", "then : card_link ou rien");
	if (login_otp_verify(r->store, r->cfg, &r->who, req_get(r, "user"), req_get(r, "txn"),
		    req_get(r, "code"), then != NULL, login, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "login", login);
	return 0;
}

int login_req_acct_check(struct req *r)
{
	static const char *const keys[] = {"user", META, NULL};
	struct acct_state st;
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (login_acct_check(r->store, r->cfg, &r->who, r->target, req_get(r, "user"), OFFLINE_OK, &st, &f) <
		0)
		return req_fault(r, &f);
	req_put(r, "login", st.login);
	req_put(r, "status", st.status);
	req_put_bool(r, "cgu_required", st.cgu_required);
	if (st.offline) {
		req_put(r, "offline", "yes");
		mm_msg_set_message(r->out, "connexion hors ligne");
	}
	return 0;
}

int login_req_password_change(struct req *r)
{
	static const char *const keys[] = {"user", "old_password", "new_password", META, NULL};
	char login[LOGIN_NAME_MAX];
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (login_password_change(r->store, r->cfg, &r->who, req_get(r, "user"), req_get(r, "old_password"),
		    req_get(r, "new_password"), login, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "login", login);
	mm_msg_set_message(r->out, "mot de passe changé");
	return 0;
}

static void put_account(struct req *r, const struct login_account *a)
{
	req_put(r, "account", a->login);
	req_put(r, "address", a->address);
	if (a->account_type[0])
		req_put(r, "account_type", a->account_type);
}

int login_req_session_open(struct req *r)
{
	static const char *const keys[] = {"user", "method", META, NULL};
	struct login_session ss;
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	rc = login_session_open(r->store, r->cfg, &r->who, r->target, req_get(r, "user"),
		req_get(r, "method"), OFFLINE_OK, &ss, &f);
	if (rc < 0)
		return req_fault(r, &f);
	req_put(r, "session", ss.handle);
	req_put(r, "user", ss.user);
	put_account(r, &ss.account);
	if (ss.offline) {
		req_put(r, "offline", "yes");
		mm_msg_set_message(r->out, "session hors ligne");
	}
	secret_wipe(ss.handle, sizeof(ss.handle));
	return 0;
}

int login_req_session_close(struct req *r)
{
	static const char *const keys[] = {"session", META, NULL};
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (login_session_close(r->store, r->cfg, &r->who, req_get(r, "session"), &f) < 0)
		return req_fault(r, &f);
	return 0;
}

int login_req_accounts(struct req *r)
{
	static const char *const keys[] = {"user", META, NULL};
	struct login_choice *v = NULL;
	struct fault f = {0};
	size_t n = 0;
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (login_accounts(r->store, r->cfg, &r->who, r->target, &v, &n, &f) < 0)
		return req_fault(r, &f);
	for (size_t i = 0; i < n; i++) {
		req_put_index(r, i);
		req_put(r, "login", v[i].login);
		req_put(r, "type", v[i].type);
		req_put(r, "status", v[i].status);
		if (v[i].mss_address[0])
			req_put(r, "mss_address", v[i].mss_address);
		if (v[i].login_mail[0])
			req_put(r, "login_mail", v[i].login_mail);
		req_put_bool(r, "default", v[i].is_default);
		req_put_bool(r, "self", v[i].self);
	}
	free(v);
	return 0;
}

int login_req_switch(struct req *r)
{
	static const char *const keys[] = {"session", "target", META, NULL};
	struct login_session ss;
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (login_switch(r->store, r->cfg, &r->who, req_get(r, "session"), req_get(r, "target"), &ss, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "user", ss.user);
	put_account(r, &ss.account);
	mm_msg_set_message(r->out, "session basculée sur %s", ss.account.login);
	return 0;
}

int login_req_default_set(struct req *r)
{
	static const char *const keys[] = {"user", "target", META, NULL};
	char def[LOGIN_NAME_MAX];
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (login_default_set(r->store, r->cfg, &r->who, r->target, req_get(r, "target"), def, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "default", def);
	mm_msg_set_message(r->out, "compte par défaut : %s", def);
	return 0;
}

int login_req_mode(struct req *r)
{
	static const char *const keys[] = {META, NULL};
	struct fault f = {0};
	bool offline;
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (login_mode(r->store, r->cfg, &r->who, &offline, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "mode", offline ? "offline" : "online");
	return 0;
}

int login_req_psc_list(struct req *r)
{
	static const char *const keys[] = {"user", META, NULL};
	struct login_link links[LOGIN_LINKS_MAX];
	size_t n;
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	req_put(r, "login", entry_get(r->target, "uid"));
	n = login_links(r->target, links, LOGIN_LINKS_MAX);
	for (size_t i = 0; i < n; i++) {
		req_put_index(r, i);
		req_put(r, "provider", links[i].provider);
		req_put(r, "label", idp_label_by_name(r->cfg, links[i].provider));
		req_put(r, "sub", links[i].subject);
	}
	return 0;
}

int login_req_psc_unlink(struct req *r)
{
	static const char *const keys[] = {"user", "sub", "provider", META, NULL};
	const char *provider = req_get(r, "provider"), *label;
	struct fault f = {0};
	size_t n = 0;
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	label = idp_label_by_name(r->cfg, provider ? provider : "psc");
	if (login_psc_unlink(
		    r->store, r->cfg, &r->who, r->target, provider, label, req_get(r, "sub"), &n, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "login", entry_get(r->target, "uid"));
	req_put(r, "provider", provider ? provider : "psc");
	req_putf(r, "removed", "%zu", n);
	mm_msg_set_message(r->out, "mode de connexion %s supprimé", label);
	return 0;
}
