/* The name-service requests on the unix socket (MM_REQ_GETPWNAM ..
 * MM_REQ_GRENT): adapters from struct req to nss/nss.h. Public data. */
#pragma once

#include "request.h"

int nss_req_getpwnam(struct req *r);
int nss_req_getpwuid(struct req *r);
int nss_req_getgrnam(struct req *r);
int nss_req_getgrgid(struct req *r);
int nss_req_initgroups(struct req *r);
int nss_req_pwent(struct req *r);
int nss_req_grent(struct req *r);
