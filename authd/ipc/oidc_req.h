/* Adapters of the OpenID Connect provider's requests (clients, keys). */
#pragma once

struct req;

int oidc_req_client_add(struct req *r);
int oidc_req_client_list(struct req *r);
int oidc_req_client_remove(struct req *r);
int oidc_req_key_rotate(struct req *r);
