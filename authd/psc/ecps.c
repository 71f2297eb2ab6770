/* e-CPS: a push to the phone of a health professional and the wait for its
 * approval (CIBA poll mode), as typed services (psc.h). */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "log.h"
#include "provider.h"
#include "records.h"

const char *const ecps_account_attrs[] = {"mmNationalId", NULL};

const char *ecps_state_name(enum ecps_state st)
{
	switch (st) {
	case ECPS_PENDING: return "pending";
	case ECPS_SLOW_DOWN: return "slow_down";
	case ECPS_DENIED: return "denied";
	case ECPS_EXPIRED: return "expired";
	case ECPS_DONE: return "authenticated";
	}
	return "unknown";
}

void ecps_result_clear(struct ecps_result *r)
{
	free(r->account_dn);
	memset(r, 0, sizeof(*r));
}

static void audit_ecps(
	const struct caller *who, const char *event, const char *account, bool ok, const char *why)
{
	caller_audit(who, event, "ecps", account, ok, why);
}

static int not_configured(struct fault *f)
{
	return fault_set(f, -ENOSYS, "Pro Santé Connect n'est pas configuré");
}

static int unreachable(struct fault *f)
{
	return fault_set(f, -EHOSTUNREACH, "Pro Santé Connect injoignable");
}

/* The account's refusal before anything is sent; why for the audit. */
static int account_refusal(const struct entry *e, const char **why, struct fault *f)
{
	const char *login = entry_get(e, "uid") ? entry_get(e, "uid") : "?";
	const char *state = accounts_inactive_reason(e);

	if (accounts_is_org(e)) {
		*why = "unknown account"; /* e-CPS is a person's: an ORG has none */
		return fault_set(f, -ENOENT, "%s : compte introuvable", login);
	}
	if (state) {
		*why = "account not active";
		fault_set(f, -EPERM, "le compte %s n'est pas actif (statut : %s)", login, state);
		fault_put(f, "reason", state);
		return -EPERM;
	}
	if (!entry_get(e, "mmNationalId")) {
		*why = "no national id: link a CPS/e-CPS first";
		fault_set(f, -EPERM,
			"le compte %s n'a pas d'identifiant national : liez d'abord une carte CPS ou e-CPS",
			login);
		fault_put(f, "reason", "no_national_id");
		return -EPERM;
	}
	return 0;
}

/* The backchannel authentication request; *ret_arid (malloc'ed) is the
 * provider's handle. */
static int ciba_request(const struct mm_config *c, const char *national_id, struct ecps_start *ret,
	char **ret_arid, const char **why, struct fault *f)
{
	char *hint = NULL, *sc = NULL, *acr = NULL, *ep = NULL, *form = NULL;
	struct psc_resp rs = {0};
	json_t *doc = NULL;
	const char *arid, *err;
	json_int_t interval, expires;
	int r;

	*ret_arid = NULL;
	secret_code(ret->binding_message, sizeof(ret->binding_message), 4);
	ep = psc_endpoint(c, PSC_EP_CIBA);
	hint = psc_esc(national_id);
	sc = psc_esc(c->psc_scope);
	acr = psc_esc(c->psc_acr);
	if (!ep || !hint || !sc || !acr) {
		*why = "provider unreachable";
		r = unreachable(f);
		goto out;
	}
	if (asprintf(&form, "scope=%s&acr_values=%s&login_hint=%s&binding_message=%s", sc, acr, hint,
		    ret->binding_message) < 0) {
		form = NULL;
		r = fault_set(f, -ENOMEM, "mémoire insuffisante");
		goto out;
	}
	if ((r = psc_call(c, ep, form, true, NULL, &rs)) < 0) {
		*why = "provider unreachable";
		r = r == -ENOMEM ? fault_set(f, r, "mémoire insuffisante") : unreachable(f);
		goto out;
	}
	doc = psc_resp_json(&rs);
	arid = json_string_value(json_object_get(doc, "auth_req_id"));
	interval = json_integer_value(json_object_get(doc, "interval"));
	expires = json_integer_value(json_object_get(doc, "expires_in"));
	if (rs.status != 200 || !arid || strlen(arid) > 1024 || strchr(arid, '\n') || expires <= 0) {
		err = json_string_value(json_object_get(doc, "error"));
		if (err && !strcmp(err, "unknown_user_id")) {
			*why = "unknown to Pro Santé Connect";
			r = fault_set(f, -ENOENT, "inconnu de Pro Santé Connect");
			fault_put(f, "reason", "unknown_user");
		} else {
			*why = "request refused";
			r = fault_set(f, -EHOSTUNREACH, "Pro Santé Connect a refusé la demande");
		}
		goto out;
	}
	ret->interval = interval > 0 && interval < 60 ? (unsigned)interval : 5;
	ret->expires_in = expires < (json_int_t)c->psc_flow_ttl ? (unsigned)expires : c->psc_flow_ttl;
	if (!(*ret_arid = strdup(arid))) {
		r = fault_set(f, -ENOMEM, "mémoire insuffisante");
		goto out;
	}
	r = 0;
out:
	secret_free(form);
	json_decref(doc);
	psc_resp_free(&rs);
	free(ep);
	curl_free(hint);
	curl_free(sc);
	curl_free(acr);
	return r;
}

int ecps_start(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *account, struct ecps_start *ret, struct fault *f)
{
	const char *login = entry_get(account, "uid"), *why = NULL;
	char *arid = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!psc_enabled(c))
		return not_configured(f);
	if ((r = account_refusal(account, &why, f)) < 0 ||
		(r = ciba_request(c, entry_get(account, "mmNationalId"), ret, &arid, &why, f)) < 0)
		goto out;
	secret_token(ret->request_id);
	/* auth_req_id is only usable with our client secret; ou=sessions is the daemon's alone. */
	r = flow_put(s, c, "ecps", ret->request_id, account->dn, arid, ret->expires_in);
	if (r < 0) {
		why = "request not stored";
		fault_store(f, r, "demande e-CPS");
	}
out:
	secret_free(arid);
	if (r < 0)
		sodium_memzero(ret, sizeof(*ret));
	audit_ecps(who, "ecps-start", login, r == 0, r == 0 ? "push sent" : why);
	return r;
}

/* The token endpoint's answer on the request; 0 with ret->state set for an
 * answer that is not an approval (*doc NULL), else *doc the tokens. */
static int ciba_poll(const struct mm_config *c, struct store *s, const char *request_id, const char *arid,
	struct ecps_result *ret, json_t **doc, struct fault *f)
{
	char *earid = psc_esc(arid), *ep = psc_endpoint(c, PSC_EP_TOKEN), *form = NULL;
	struct psc_resp rs = {0};
	const char *err;
	int r;

	*doc = NULL;
	if (!ep || !earid) {
		ret->why = "provider unreachable";
		r = unreachable(f);
		goto out;
	}
	if (asprintf(&form, "grant_type=urn%%3Aopenid%%3Aparams%%3Agrant-type%%3Aciba&auth_req_id=%s",
		    earid) < 0) {
		form = NULL;
		r = fault_set(f, -ENOMEM, "mémoire insuffisante");
		goto out;
	}
	if ((r = psc_call(c, ep, form, true, NULL, &rs)) < 0) {
		ret->why = "provider unreachable";
		r = r == -ENOMEM ? fault_set(f, r, "mémoire insuffisante") : unreachable(f);
		goto out;
	}
	*doc = psc_resp_json(&rs);
	if (rs.status == 200) {
		if (!*doc) {
			ret->why = "id_token";
			r = fault_set(f, -EACCES, "réponse de Pro Santé Connect refusée");
		}
		goto out;
	}
	err = json_string_value(json_object_get(*doc, "error"));
	if (err && !strcmp(err, "authorization_pending"))
		ret->state = ECPS_PENDING;
	else if (err && !strcmp(err, "slow_down"))
		ret->state = ECPS_SLOW_DOWN;
	else if (err && !strcmp(err, "access_denied"))
		ret->state = ECPS_DENIED;
	else if (err && (!strcmp(err, "expired_token") || !strcmp(err, "invalid_grant")))
		ret->state = ECPS_EXPIRED;
	else {
		ret->why = "provider error";
		r = unreachable(f);
		goto out;
	}
	if (ret->state == ECPS_DENIED || ret->state == ECPS_EXPIRED) {
		int rt = flow_take(s, c, "ecps", request_id); /* finished: forget it (expires anyway) */
		(void)rt;
	}
	r = 0;
out:
	if (r < 0 || rs.status != 200) {
		json_decref(*doc);
		*doc = NULL;
	}
	secret_free(form);
	psc_resp_free(&rs);
	curl_free(earid);
	free(ep);
	return r;
}

/* The person who approved must be the one the request named, still active. */
static int approval_check(const struct mm_config *c, struct store *s, const json_t *tok,
	const char *account_dn, struct ecps_result *ret, struct fault *f)
{
	static const char *const attrs[] = {"mmNationalId", "mmPscSub", "mmStatus", NULL};
	struct psc_identity id = {0};
	struct entry *e = NULL;
	int r = psc_identity_from(c, tok, NULL, &id, &ret->why);

	if (r == -EACCES)
		r = fault_set(f, -EACCES, "réponse de Pro Santé Connect refusée");
	else if (r < 0)
		r = r == -ENOMEM ? fault_set(f, r, "mémoire insuffisante") : unreachable(f);
	else if ((r = store_read(s, account_dn, attrs, &e)) < 0)
		fault_store(f, r, "compte");
	else if (!entry_has_value(e, "mmStatus", "active")) {
		ret->why = "account not active";
		r = fault_set(f, -EPERM, "le compte %s n'est plus actif", ret->login);
	} else if (!(entry_get(e, "mmNationalId") && !strcmp(entry_get(e, "mmNationalId"), id.national_id)) &&
		!entry_has_value(e, "mmPscSub", id.sub)) {
		ret->why = "identity does not match the account";
		r = fault_set(f, -EACCES, "l'identité qui a validé n'est pas celle du compte %s", ret->login);
	}
	psc_identity_clear(&id);
	entry_free(e);
	return r;
}

int ecps_cancel(struct store *s, const struct mm_config *c, const struct caller *who, enum access collect,
	const char *request_id, bool *ret_cancelled, char ret_login[128], struct fault *f)
{
	char *account = NULL, *arid = NULL;
	struct entry *mine = NULL;
	int r;

	*ret_cancelled = false;
	ret_login[0] = '\0';
	if (!psc_enabled(c))
		return not_configured(f);
	if (!request_id || !psc_handle_valid(request_id))
		return fault_field(f, "request_id", "format", "identifiant de demande invalide");
	r = flow_get(s, c, "ecps", request_id, &account, &arid);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return fault_store(f, r, "demande e-CPS");
	if (!account) {
		r = fault_set(f, -EIO, "demande e-CPS illisible");
		goto out;
	}
	accounts_dn_login(account, ret_login, 128);
	r = access_resolve(c, s, who, collect, 0, "request_id", ret_login, NULL, "ecps", &mine, f);
	entry_free(mine);
	if (r == -ENOENT) {
		fault_clear(f);
		ret_login[0] = '\0';
		r = 0;
		goto out;
	}
	if (r < 0)
		goto out;
	r = flow_take(s, c, "ecps", request_id);
	if (r == -ENOENT) {
		r = 0; /* a poll finished it first */
		goto out;
	}
	if (r < 0) {
		fault_store(f, r, "demande e-CPS");
		goto out;
	}
	*ret_cancelled = true;
out:
	secret_free(arid);
	free(account);
	return r;
}

int ecps_poll(struct store *s, const struct mm_config *c, const struct caller *who, enum access collect,
	const char *request_id, struct ecps_result *ret, struct fault *f)
{
	char *account = NULL, *arid = NULL;
	struct entry *mine = NULL;
	json_t *tok = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!psc_enabled(c))
		return not_configured(f);
	if (!request_id || !psc_handle_valid(request_id)) {
		ret->why = "request_id";
		return fault_field(f, "request_id", "format", "identifiant de demande invalide");
	}
	r = flow_get(s, c, "ecps", request_id, &account, &arid);
	if (r == -ENOENT) {
		/* expired, finished, or never existed */
		ret->state = ECPS_EXPIRED;
		return 0;
	}
	if (r < 0)
		return fault_store(f, r, "demande e-CPS");
	if (!account || !arid) {
		ret->why = "request unreadable";
		r = fault_set(f, -EIO, "demande e-CPS illisible");
		goto out;
	}
	accounts_dn_login(account, ret->login, sizeof(ret->login));
	/* Who may collect the approval: the one access rule, before anything
	 * is asked of the provider. Someone else's request answers as an
	 * unknown one, and stays the owner's. */
	r = access_resolve(c, s, who, collect, 0, "request_id", ret->login, NULL, "ecps", &mine, f);
	entry_free(mine);
	if (r == -ENOENT) {
		fault_clear(f);
		memset(ret, 0, sizeof(*ret));
		ret->state = ECPS_EXPIRED;
		r = 0;
		goto out;
	}
	if (r < 0)
		goto out; /* the directory could not tell */
	if ((r = ciba_poll(c, s, request_id, arid, ret, &tok, f)) < 0 || !tok)
		goto out;
	if ((r = approval_check(c, s, tok, account, ret, f)) < 0)
		goto out;
	r = flow_take(s, c, "ecps", request_id);
	if (r == -ENOENT) {
		ret->state = ECPS_EXPIRED; /* another poll finished it first */
		r = 0;
		goto out;
	}
	if (r < 0) {
		fault_store(f, r, "demande e-CPS");
		goto out;
	}
	ret->state = ECPS_DONE;
	ret->account_dn = account;
	account = NULL;
out:
	json_decref(tok);
	secret_free(arid);
	free(account);
	if (r < 0) {
		free(ret->account_dn);
		ret->account_dn = NULL;
	}
	return r;
}
