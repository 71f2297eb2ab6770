/* What the provider's two door files share (oidc_web.c, oidc_token.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

/* The issuer (op_issuer, else web_origin, else the listener), no trailing slash. */
void oidc_door_issuer(const struct http_req *r, char *out, size_t n);
/* true when a provider is configured; else the 404 reply is set. */
bool oidc_door_on(struct http_req *r);
/* One audit line of the provider's door. */
void oidc_door_audit(const struct http_req *r, const char *event, const char *client, const char *account,
	bool ok, const char *why);
