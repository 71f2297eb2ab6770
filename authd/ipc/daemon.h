/* State shared by the daemon's request handlers. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "store.h"
#include "request.h"
#include "wire.h"
#include "login_req.h" /* transitional: login_audit, login_rate... for account.c, card.c */

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
/* card.c: CPS cards (MM_REQ_CARD_AUTH .. MM_REQ_CARD_UNLINK) */
int card_auth(struct req *r);
int card_link(struct req *r);
int card_list(struct req *r);
int card_unlink(struct req *r);
/* directory.c: the directories (MM_REQ_DIR_SEARCH .. MM_REQ_DIR_EXPORT) */
int directory_search(struct req *r);
int directory_favorite_add(struct req *r);
int directory_favorite_del(struct req *r);
int directory_favorite_list(struct req *r);
int directory_visibility(struct req *r);
int directory_export(struct req *r);
int card_present(struct req *r);
/* nss.c: the name-service requests (MM_REQ_GETPWNAM .. MM_REQ_GRENT); public data */
int nss_getpwnam(struct req *r);
int nss_getpwuid(struct req *r);
int nss_getgrnam(struct req *r);
int nss_getgrgid(struct req *r);
int nss_initgroups(struct req *r);
int nss_pwent(struct req *r);
int nss_grent(struct req *r);
