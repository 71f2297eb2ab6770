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

/* api_login.c: linked Pro Santé Connect identities (MM_REQ_PSC_LIST, MM_REQ_PSC_UNLINK) */
int api_sock_psc_list(struct req *r);
int api_sock_psc_unlink(struct req *r);
