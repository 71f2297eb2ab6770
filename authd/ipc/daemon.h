/* State shared by the daemon's request handlers. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "store.h"
#include "request.h"
#include "wire.h"

struct daemon {
	struct mm_config *cfg;
	struct store *store;
};

/* account.c: the lifecycle requests (MM_REQ_REGISTER .. MM_REQ_CONFIRM_RESEND) */
int account_register(struct req *r);
int account_confirm(struct req *r);
int account_confirm_resend(struct req *r);
int account_validate(struct req *r);
int account_show(struct req *r);
int account_list(struct req *r);
int account_set_status(struct req *r, const char *status);
int account_convert(struct req *r);
int org_member_add(struct req *r);
int org_member_del(struct req *r);
int account_cgu_accept(struct req *r);

/* api.c: e-CPS and service clients over the unix socket (MM_REQ_ECPS_*, MM_REQ_SERVICE_*) */
int api_sock_ecps_start(struct req *r);
int api_sock_ecps_poll(struct req *r);
int api_sock_service_add(struct req *r);
int api_sock_service_remove(struct req *r);
/* api_login.c: linked Pro Santé Connect identities (MM_REQ_PSC_LIST, MM_REQ_PSC_UNLINK) */
int api_sock_psc_list(struct req *r);
int api_sock_psc_unlink(struct req *r);
