/* The login requests over the unix socket (MM_REQ_AUTH_PASSWORD .. MM_REQ_LOGIN_MODE,
 * MM_REQ_PSC_LIST, MM_REQ_PSC_UNLINK): adapters over the login services (login/login.h). */
#pragma once

#include <stdbool.h>

#include "request.h"
#include "store.h"

int login_req_password(struct req *r);
int login_req_otp_send(struct req *r);
int login_req_otp_verify(struct req *r);
int login_req_acct_check(struct req *r);
int login_req_password_change(struct req *r);
int login_req_session_open(struct req *r);
int login_req_session_close(struct req *r);
int login_req_accounts(struct req *r);
int login_req_switch(struct req *r);
int login_req_default_set(struct req *r);
int login_req_mode(struct req *r);
int login_req_psc_list(struct req *r);
int login_req_psc_unlink(struct req *r);

/* Transitional: the request-shaped helpers account.c and card.c still call,
 * now thin wrappers over the typed ones (login_event, login_rate_take,
 * login_unknown_refuse, login_password_verify, login_txn_take). Delete once
 * those files call the typed services. */
void login_audit(const struct req *r, const char *event, const char *method, const char *account, bool ok,
	const char *reason);
int login_rate(struct req *r, const char *event, const char *account) __attribute__((warn_unused_result));
int login_password_unknown(struct req *r, const char *password);
int login_password_check(struct req *r, const char *event, const struct entry *e, const char *password)
	__attribute__((warn_unused_result));
int login_txn_consume(struct req *r, const char *txn, const char *user_dn)
	__attribute__((warn_unused_result));
