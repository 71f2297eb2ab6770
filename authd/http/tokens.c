/* Who an HTTP request comes from (listener.h, http.h): a registered
 * service client (HTTP Basic), as the typed services see it (struct caller). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "listener.h"
#include "log.h"
#include "records.h"
#include "secret.h"

unsigned http_authenticate(struct http_req *r)
{
	char *pass = NULL, *user = MHD_basic_auth_get_username_password(r->conn, &pass);
	int rc;

	if (!user || !pass) {
		r->www_auth = true;
		rc = http_fail(r, 401, "unauthorized", "service credentials required (HTTP Basic)");
		goto out;
	}
	rc = service_verify(r->store, r->cfg, user, pass);
	if (rc == -EHOSTDOWN) {
		rc = http_fail(r, 503, "directory_unavailable", "directory unavailable, retry later");
		goto out;
	}
	if (rc < 0) {
		struct audit_ctx a = {.event = "api-auth", .caller = "http", .remote = r->remote};
		r->www_auth = true;
		audit(&a, false, "bad service credentials");
		rc = http_fail(r, 401, "unauthorized", "bad service credentials");
		goto out;
	}
	snprintf(r->client, sizeof(r->client), "%s", user);
	rc = 0;
out:
	if (pass) {
		secret_wipe(pass, strlen(pass));
		MHD_free(pass);
	}
	if (user)
		MHD_free(user);
	return (unsigned)rc;
}

void http_client_caller(const struct http_req *r, struct caller *who)
{
	memset(who, 0, sizeof(*who));
	who->uid = (uid_t)-1;
	who->gid = (gid_t)-1;
	snprintf(who->name, sizeof(who->name), "%s", r->client[0] ? r->client : "http");
	who->service = r->client[0] ? r->client : NULL;
	who->rhost = r->remote;
}
