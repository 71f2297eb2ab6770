/* The unix socket's e-CPS and service-client requests (MM_REQ_ECPS_START,
 * MM_REQ_ECPS_POLL, MM_REQ_SERVICE_ADD, MM_REQ_SERVICE_REMOVE): adapters
 * over the typed services of psc/. */
#pragma once

#include "request.h"

int psc_req_ecps_start(struct req *r);
int psc_req_ecps_poll(struct req *r);
int psc_req_ecps_cancel(struct req *r);
int psc_req_service_add(struct req *r);
int psc_req_service_remove(struct req *r);
