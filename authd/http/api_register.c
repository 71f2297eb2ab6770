/* "Inscription simplifiée par Pro Santé Connect" over the HTTP API: the pre-filled form and the registration (account.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "catalog.h"
#include "http.h"
#include "log.h"
#include "secret.h"

#define REG_FIELDS_MAX 80
#define REG_VALUE_MAX 1024

/* One mapping of the registration's refusals to HTTP; clears f. */
static unsigned reg_fail(struct http_req *h, struct fault *f, int rc)
{
	const char *msg = f->message ? f->message : "refused";
	unsigned st;

	switch (rc) {
	case -EINVAL: st = http_fail(h, 400, "invalid_field", "%s", msg); break;
	case -EEXIST:
		st = http_fail(
			h, 409, fault_get(f, "reason") ? fault_get(f, "reason") : "duplicate", "%s", msg);
		break;
	case -ENOENT: st = http_fail(h, 410, "link_expired", "%s", msg); break;
	case -EPERM: st = http_fail(h, 403, "not_permitted", "%s", msg); break;
	case -EAGAIN: st = http_fail(h, 429, "rate_limited", "%s", msg); break;
	case -ECOMM: st = http_fail(h, 502, "mail_failed", "%s", msg); break;
	case -EHOSTDOWN:
		st = http_fail(h, 503, "directory_unavailable", "directory unavailable, retry later");
		break;
	default:
		log_msg(LOG_ERR, "api psc register: %s", strerror(rc < 0 ? -rc : EIO));
		st = http_fail(h, 500, "internal", "registration failed");
	}
	if (h->reply) {
		static const char *const facts[] = {"field", "rule", "reason", "regions"};

		for (size_t i = 0; i < sizeof(facts) / sizeof(facts[0]); i++)
			if (fault_get(f, facts[i]))
				json_object_set_new(h->reply, facts[i], json_string(fault_get(f, facts[i])));
	}
	fault_clear(f);
	return st;
}

static void put(json_t *o, const char *key, const char *v)
{
	if (o && v && *v)
		json_object_set_new(o, key, json_string(v));
}

static const struct body_field prefill_fields[] = {{"link", true, SECRET_TOKEN_HEX - 1}};

/* POST, not GET: the handle is a secret, kept out of URLs and their logs. */
unsigned api_psc_register_prefill(struct http_req *h)
{
	struct account_psc_prefill p;
	struct fault f = {0};
	struct caller who;
	unsigned st;
	json_t *o, *fixed;
	int rc;

	if ((st = http_body_check(h, prefill_fields, 1)))
		return st;
	http_client_caller(h, &who);
	if ((rc = account_psc_prefill(h->store, h->cfg, &who, http_body_str(h, "link"), &p, &f)) < 0)
		return reg_fail(h, &f, rc);
	o = json_pack("{s:s, s:s}", "type", "PER", "national_id", p.national_id);
	put(o, "rpps", p.rpps);
	put(o, "sn", p.sn);
	put(o, "given_name", p.given_name);
	put(o, "profession", p.profession);
	put(o, "raison_sociale", p.raison_sociale);
	put(o, "street", p.street);
	put(o, "postal_code", p.postal_code);
	put(o, "city", p.city);
	put(o, "struct_type", p.struct_type);
	put(o, "struct_id", p.struct_id);
	/* What the identity proves: shown, not editable. */
	fixed = json_array();
	if (o && fixed) {
		static const char *const keys[] = {"rpps", "sn", "given_name", "profession"};

		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (json_object_get(o, keys[i]))
				json_array_append_new(fixed, json_string(keys[i]));
		json_object_set_new(o, "fixed", fixed);
	} else {
		json_decref(fixed);
	}
	return http_ok(h, 200, o);
}

unsigned api_psc_register(struct http_req *h)
{
	struct body_field spec[REG_FIELDS_MAX];
	const char *keys[REG_FIELDS_MAX];
	struct account_registration *reg = NULL;
	struct account_registered done = {0};
	struct fault f = {0};
	struct caller who;
	const char *key;
	json_t *v;
	unsigned st;
	size_t n = 0;
	int rc, nk;

	/* The registration's fields (every door the same) and the handle. */
	if ((nk = account_registration_keys(keys, REG_FIELDS_MAX - 1)) < 0)
		return http_fail(h, 500, "internal", "registration fields");
	spec[n++] = (struct body_field){"link", true, SECRET_TOKEN_HEX - 1};
	for (int i = 0; i < nk; i++)
		spec[n++] = (struct body_field){keys[i], false, REG_VALUE_MAX};
	if ((st = http_body_check(h, spec, n)))
		return st;
	if (!(reg = calloc(1, sizeof(*reg))))
		return http_fail(h, 500, "internal", "out of memory");
	json_object_foreach(h->body, key, v)
	{
		if (!strcmp(key, "link"))
			continue;
		if ((rc = account_registration_set(reg, key, json_string_value(v), &f)) < 0) {
			st = reg_fail(h, &f, rc);
			goto out;
		}
	}
	http_client_caller(h, &who);
	rc = account_register_psc(h->store, h->cfg, &who, http_body_str(h, "link"), reg, &done, &f);
	if (rc < 0) {
		st = reg_fail(h, &f, rc);
		goto out;
	}
	st = http_ok(h, 201,
		json_pack("{s:s, s:s, s:s, s:b}", "login", done.login, "type", "PER", "status",
			"pending-confirmation", "psc_linked", 1));
	if (h->reply)
		json_object_set_new(h->reply, "message",
			json_string("inscription enregistrée : confirmez votre adresse e-mail avec le lien "
				    "qui vient d'y être envoyé"));
out:
	account_registered_clear(&done);
	secret_wipe(reg, sizeof(*reg));
	free(reg);
	/* The parsed body's copies of the passwords. */
	for (size_t i = 0; i < 2; i++) {
		json_t *pw = json_object_get(h->body, i ? "password_confirm" : "password");

		if (json_is_string(pw))
			secret_wipe((char *)json_string_value(pw), json_string_length(pw));
	}
	return st;
}
