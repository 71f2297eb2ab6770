/* e-CPS and service clients over the unix socket (psc_req.h): each adapter
 * reads its fields, calls the typed service of psc/ and writes the reply.
 * Who may ask is the dispatch table's: ECPS_START resolves its "login"
 * (the caller's own account, an administrator's any) into r->target, the
 * service-client requests are for administrators. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "psc.h"
#include "psc_req.h"
#include "records.h"

/* A provider that cannot be reached is -ECOMM on the wire (the PAM module
 * tells it from a refusal). */
static int psc_fault(struct req *r, struct fault *f)
{
	if (f->status == -EHOSTUNREACH) {
		/* TLS refused, no client certificate, unreachable: said once, in the log */
		if (*idp_transport_error())
			log_msg(LOG_WARNING, "e-CPS: %s", idp_transport_error());
		f->status = -ECOMM;
	}
	return req_fault(r, f);
}

int psc_req_ecps_start(struct req *r)
{
	static const char *const keys[] = {"login", "service", "rhost", NULL};
	struct fault f = {0};
	struct ecps_start st;
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (ecps_start(r->store, r->cfg, &r->who, r->target, &st, &f) < 0)
		return psc_fault(r, &f);
	req_put(r, "request_id", st.request_id);
	req_put(r, "binding_message", st.binding_message);
	req_putf(r, "interval", "%u", st.interval);
	req_putf(r, "expires_in", "%u", st.expires_in);
	secret_wipe(&st, sizeof(st));
	return 0;
}

static void audit_poll(const struct req *r, const char *account, bool ok, const char *why)
{
	struct audit_ctx a = {.event = "ecps",
		.caller = r->who.name,
		.method = "ecps",
		.service = r->who.service,
		.remote = r->who.rhost,
		.account = account};

	audit(&a, ok, why);
}

/* A unix peer collects only an approval of its own account (an
 * administrator any): the access rule applied by the service to the
 * account the request turns out to be about. */
#define ECPS_COLLECT ACCESS_SELF

int psc_req_ecps_cancel(struct req *r)
{
	static const char *const keys[] = {"request_id", "service", "rhost", NULL};
	char login[128];
	struct fault f = {0};
	bool cancelled;
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (ecps_cancel(r->store, r->cfg, &r->who, ECPS_COLLECT, req_get(r, "request_id"), &cancelled, login,
		    &f) < 0)
		return req_fault(r, &f);
	if (cancelled)
		audit_poll(r, login, false, "cancelled by the user");
	req_put(r, "status", cancelled ? "cancelled" : "unknown");
	return 0;
}

int psc_req_ecps_poll(struct req *r)
{
	static const char *const keys[] = {"request_id", "session", "service", "rhost", NULL};
	char token[SECRET_TOKEN_HEX];
	struct ecps_result res;
	struct fault f = {0};
	long long exp;
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (ecps_poll(r->store, r->cfg, &r->who, ECPS_COLLECT, req_get(r, "request_id"), &res, &f) < 0) {
		audit_poll(r, NULL, false, res.why);
		return psc_fault(r, &f);
	}
	req_put(r, "status", ecps_state_name(res.state));
	switch (res.state) {
	case ECPS_PENDING:
	case ECPS_SLOW_DOWN: return 0;
	case ECPS_DENIED: return req_fail(r, -EACCES, "demande refusée sur le téléphone");
	case ECPS_EXPIRED: return req_fail(r, -ETIMEDOUT, "demande expirée");
	case ECPS_DONE: break;
	}
	if (!strcmp(req_get(r, "session") ?: "", "none")) {
		/* PAM: the login is proven; the PAM session is opened by SESSION_OPEN. */
		audit_poll(r, res.login, true, "authenticated (no API session)");
		req_put(r, "account", res.login);
		ecps_result_clear(&res);
		return 0;
	}
	struct session_open_args a = {.account_dn = res.account_dn, .method = "ecps", .service = r->who.name};
	rc = session_open(r->store, r->cfg, &a, token, &exp);
	audit_poll(r, res.login, rc == 0, rc == 0 ? "session opened" : "session not stored");
	if (rc < 0) {
		ecps_result_clear(&res);
		return req_errno(r, rc, "session");
	}
	req_put(r, "account", res.login);
	req_put(r, "session_token", token);
	req_putf(r, "expires_at", "%lld", exp);
	secret_wipe(token, sizeof(token));
	ecps_result_clear(&res);
	return 0;
}

int psc_req_service_add(struct req *r)
{
	static const char *const keys[] = {"id", "service", "rhost", NULL};
	char secret[SECRET_TOKEN_HEX];
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (clients_add(r->store, r->cfg, &r->who, req_get(r, "id"), secret, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "id", req_get(r, "id"));
	req_put(r, "secret", secret);
	secret_wipe(secret, sizeof(secret));
	return 0;
}

int psc_req_service_remove(struct req *r)
{
	static const char *const keys[] = {"id", "service", "rhost", NULL};
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (clients_remove(r->store, r->cfg, &r->who, req_get(r, "id"), &f) < 0)
		return req_fault(r, &f);
	req_put(r, "id", req_get(r, "id"));
	return 0;
}
