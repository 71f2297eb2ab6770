/* The login requests over the unix socket (MM_REQ_AUTH_PASSWORD .. MM_REQ_LOGIN_MODE,
 * MM_REQ_PSC_LIST, MM_REQ_PSC_UNLINK): adapters over the login services (login/login.h). */
#pragma once

#include <stdbool.h>

#include "request.h"
#include "store.h"

int login_req_password(struct req *r);
int login_req_mail_auth(struct req *r);
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
