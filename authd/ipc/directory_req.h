/* The directory requests on the unix socket (MM_REQ_DIR_SEARCH ..
 * MM_REQ_DIR_EXPORT): adapters from struct req to directory/directory.h. */
#pragma once

#include "request.h"

int directory_req_search(struct req *r);
int directory_req_favorite_add(struct req *r);
int directory_req_favorite_del(struct req *r);
int directory_req_favorite_list(struct req *r);
int directory_req_visibility(struct req *r);
int directory_req_export(struct req *r);
