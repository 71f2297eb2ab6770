/* The socket adapters of the account lifecycle (MM_REQ_REGISTER .. MM_REQ_CONFIRM_RESEND):
 * each reads its fields, calls the typed service of authd/account, writes the reply. */
#pragma once

#include "request.h"

int account_req_register(struct req *r);
int account_req_register_org_proof(struct req *r);
int account_req_confirm(struct req *r);
int account_req_confirm_resend(struct req *r);
int account_req_validate(struct req *r);
int account_req_show(struct req *r);
int account_req_list(struct req *r);
int account_req_suspend(struct req *r);
int account_req_reactivate(struct req *r);
int account_req_close(struct req *r);
int account_req_convert(struct req *r);
int account_req_org_member_add(struct req *r);
int account_req_org_member_del(struct req *r);
int account_req_cgu_accept(struct req *r);
int account_req_publish(struct req *r);
int account_req_mss_grant(struct req *r);
int account_req_struct_admin_add(struct req *r);
int account_req_operator_grant(struct req *r);
int account_req_audit_trail(struct req *r);
int account_req_operator_revoke(struct req *r);
int account_req_struct_admin_del(struct req *r);
