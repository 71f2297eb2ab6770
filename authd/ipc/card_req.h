/* The unix socket's CPS card requests (MM_REQ_CARD_AUTH .. MM_REQ_CARD_PRESENT):
 * adapters over the card services (card/card.h). */
#pragma once

#include "request.h"

int card_req_auth(struct req *r);
int card_req_link(struct req *r);
int card_req_list(struct req *r);
int card_req_unlink(struct req *r);
int card_req_present(struct req *r);
