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

/* api.c: e-CPS and service clients over the unix socket (MM_REQ_ECPS_*, MM_REQ_SERVICE_*) */
int api_sock_ecps_start(struct req *r);
int api_sock_ecps_poll(struct req *r);
int api_sock_service_add(struct req *r);
int api_sock_service_remove(struct req *r);
/* api_login.c: linked Pro Santé Connect identities (MM_REQ_PSC_LIST, MM_REQ_PSC_UNLINK) */
int api_sock_psc_list(struct req *r);
int api_sock_psc_unlink(struct req *r);
