/* The unix socket's "Gérer mon compte" requests: fields in, a settings service call, the reply out (settings_req.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "catalog.h"
#include "settings.h"
#include "settings_req.h"
#include "wire.h"

/* A yes/no field: 1, 0, or -1 when absent. */
static int get_bool(struct req *r, const char *key, int *ret)
{
	const char *v = req_raw(r, key);

	*ret = -1;
	if (!v)
		return 0;
	if (!strcmp(v, "yes"))
		*ret = 1;
	else if (!strcmp(v, "no"))
		*ret = 0;
	else
		return req_fail_field(r, key, "syntax", "%s : yes ou no", key);
	return 0;
}

/* The requests that read one account name it by "login" alone. */
static int login_only(struct req *r)
{
	static const char *const keys[] = {"login", NULL};

	return req_keys(r, keys);
}

/* --- Informations personnelles ------------------------------------------ */

static int put_profile(struct req *r, const struct entry *e)
{
	struct settings_profile p;

	if (settings_profile_view(e, &r->who, &p) < 0)
		return req_fail(r, -ENOMEM, "mémoire insuffisante");
	req_put(r, "login", p.login);
	req_put(r, "type", p.type);
	req_put(r, "type_title", p.screen.title);
	for (size_t i = 0; p.screen.title && i < 3; i++)
		req_put(r, "type_info", p.screen.info[i]);
	req_put(r, "type_help", p.screen.help);
	req_put(r, "login_mail", p.login_mail);
	req_put(r, "mss_address", p.mss_address);
	req_put(r, "name", p.name);
	for (size_t i = 0; i < p.nfields; i++)
		req_put(r, p.fields[i].a->key, p.fields[i].value);
	req_put(r, "profession_label", p.profession_label);
	for (size_t i = 0; i < p.nmembers; i++)
		req_put(r, "member", p.members[i]);
	for (size_t i = 0; i < p.neditable; i++)
		req_put(r, "editable", p.editable[i]->key);
	settings_profile_free(&p);
	return 0;
}

int settings_req_profile_get(struct req *r)
{
	int rc;

	if ((rc = login_only(r)) < 0)
		return rc;
	return put_profile(r, r->target);
}

int settings_req_profile_set(struct req *r)
{
	const char *allowed[64];
	struct settings_change in[64];
	struct entry *e = NULL;
	struct fault f = {0};
	const struct cat_attr *cat;
	size_t ncat, k = 0, n = 0;
	int rc;

	/* The fields of the profile are the catalogue's. */
	allowed[k++] = "login";
	cat = catalog_all(&ncat);
	for (size_t i = 0; i < ncat && k < sizeof(allowed) / sizeof(allowed[0]) - 1; i++)
		if (cat[i].where & CAT_PROFILE)
			allowed[k++] = cat[i].key;
	allowed[k] = NULL;
	if ((rc = req_keys(r, allowed)) < 0)
		return rc;
	for (size_t i = 0; i < r->in->nfields && n < sizeof(in) / sizeof(in[0]); i++)
		if (strcmp(r->in->fields[i].key, "login"))
			in[n++] = (struct settings_change){r->in->fields[i].key, r->in->fields[i].value};
	if (settings_profile_set(r->store, r->cfg, &r->who, r->target, in, n, &e, &f) < 0)
		return req_fault(r, &f);
	rc = put_profile(r, e);
	entry_free(e);
	if (rc == 0)
		mm_msg_set_message(r->out, "informations enregistrées");
	return rc;
}

/* --- Mot de passe oublié ------------------------------------------------- */

int settings_req_password_forgot(struct req *r)
{
	static const char *const keys[] = {"login_mail", NULL};
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (settings_password_forgot(r->store, r->cfg, &r->who, req_get(r, "login_mail"), &f) < 0)
		return req_fault(r, &f);
	/* The same answer whether the address is known or not. */
	mm_msg_set_message(r->out,
		"si un compte actif utilise cette adresse, un lien de réinitialisation vient d'y être "
		"envoyé");
	return 0;
}

int settings_req_password_reset(struct req *r)
{
	static const char *const keys[] = {"token", "password", "password_confirm", NULL};
	struct fault f = {0};
	char login[65];
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (settings_password_reset(r->store, r->cfg, &r->who, req_get(r, "token"), req_get(r, "password"),
		    req_get(r, "password_confirm"), login, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "login", login);
	mm_msg_set_message(r->out, "mot de passe modifié");
	return 0;
}

/* --- L'adresse de connexion ---------------------------------------------- */

int settings_req_email_change(struct req *r)
{
	static const char *const keys[] = {"login", "login_mail", NULL};
	struct settings_email_pending p;
	struct fault f = {0};
	char n[16];
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (settings_email_change(r->store, r->cfg, &r->who, r->target, req_get(r, "login_mail"), &p, &f) < 0)
		return req_fault(r, &f);
	snprintf(n, sizeof(n), "%u", p.expires_in);
	req_put(r, "login", p.login);
	req_put(r, "login_mail", entry_get(r->target, "mmLoginMail"));
	req_put(r, "pending", p.mail);
	req_put(r, "expires_in", n);
	mm_msg_set_message(r->out,
		"un lien de confirmation a été envoyé à la nouvelle adresse : elle deviendra votre "
		"identifiant une fois le lien confirmé");
	return 0;
}

int settings_req_email_confirm(struct req *r)
{
	static const char *const keys[] = {"token", NULL};
	struct settings_email_pending p;
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (settings_email_confirm(r->store, r->cfg, &r->who, req_get(r, "token"), &p, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "login", p.login);
	req_put(r, "login_mail", p.mail);
	mm_msg_set_message(r->out, "adresse de connexion modifiée");
	return 0;
}

/* --- Signatures ---------------------------------------------------------- */

int settings_req_signature_list(struct req *r)
{
	struct settings_signature *v = NULL;
	size_t n = 0;
	int rc;

	if ((rc = login_only(r)) < 0)
		return rc;
	if (settings_signature_list(r->target, &v, &n) < 0)
		return req_fail(r, -ENOMEM, "mémoire insuffisante");
	for (size_t i = 0; i < n; i++) {
		req_put_index(r, i);
		req_put(r, "id", v[i].id);
		req_put(r, "title", v[i].title);
		req_put(r, "html", v[i].html);
		req_put_bool(r, "default", v[i].is_default);
	}
	settings_signatures_free(v, n);
	return 0;
}

int settings_req_signature_set(struct req *r)
{
	static const char *const keys[] = {"login", "id", "title", "html", "default", NULL};
	struct settings_signature_change in = {0};
	char id[SETTINGS_ID_LEN + 1];
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0 || (rc = get_bool(r, "default", &in.is_default)) < 0)
		return rc;
	in.id = req_get(r, "id");
	in.title = req_get(r, "title");
	in.title_given = req_raw(r, "title") != NULL;
	in.html = req_raw(r, "html");
	if (settings_signature_set(r->store, r->cfg, &r->who, r->target, &in, id, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "id", id);
	mm_msg_set_message(r->out, "signature enregistrée");
	return 0;
}

int settings_req_signature_del(struct req *r)
{
	static const char *const keys[] = {"login", "id", NULL};
	const char *id = req_get(r, "id");
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (settings_signature_del(r->store, r->cfg, &r->who, r->target, id, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "id", id);
	mm_msg_set_message(r->out, "signature supprimée");
	return 0;
}

/* --- Réponse automatique ------------------------------------------------- */

static void put_autoreply(struct req *r, const struct entry *e)
{
	struct settings_autoreply a;

	settings_autoreply_view(e, (long long)time(NULL), &a);
	req_put(r, "login", a.login);
	req_put_bool(r, "enabled", a.enabled);
	req_put(r, "start", a.start);
	req_put(r, "end", a.end);
	req_put(r, "subject", a.subject);
	req_put(r, "body", a.body);
	req_put_bool(r, "active_now", a.active_now);
}

int settings_req_autoreply_get(struct req *r)
{
	int rc;

	if ((rc = login_only(r)) < 0)
		return rc;
	put_autoreply(r, r->target);
	return 0;
}

int settings_req_autoreply_set(struct req *r)
{
	static const char *const keys[] = {"login", "enabled", "start", "end", "subject", "body", NULL};
	struct settings_autoreply_change in = {0};
	struct entry *e = NULL;
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0 || (rc = get_bool(r, "enabled", &in.enabled)) < 0)
		return rc;
	in.start = req_raw(r, "start");
	in.end = req_raw(r, "end");
	in.subject = req_raw(r, "subject");
	in.body = req_raw(r, "body");
	if (settings_autoreply_set(r->store, r->cfg, &r->who, r->target, &in, &e, &f) < 0)
		return req_fault(r, &f);
	put_autoreply(r, e);
	entry_free(e);
	mm_msg_set_message(r->out, "réponse automatique enregistrée");
	return 0;
}

/* --- Notifications, dématérialisation ------------------------------------- */

static int put_notify(struct req *r, const struct entry *e)
{
	struct settings_notify n;
	struct fault f = {0};

	if (settings_notify_get(r->store, r->cfg, &r->who, e, &n, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "login", n.login);
	for (size_t i = 0; i < n.n; i++) {
		if (!strcmp(n.item[i].key, "org_to_individual"))
			req_put(r, "org_to_individual", n.org_to_individual);
		else
			req_put_bool(r, n.item[i].key, n.item[i].on);
	}
	req_put(r, "receipt_address", n.receipt_address);
	req_put(r, "opening_caveat", n.opening_caveat);
	for (size_t i = 0; i < n.norgs; i++) {
		req_put_index(r, i);
		req_put(r, "org", n.orgs[i].login);
		req_put(r, "name", n.orgs[i].name);
		req_put_bool(r, "org_to_individual", n.orgs[i].on);
	}
	settings_notify_free(&n);
	return 0;
}

int settings_req_notify_get(struct req *r)
{
	int rc;

	if ((rc = login_only(r)) < 0)
		return rc;
	return put_notify(r, r->target);
}

int settings_req_notify_set(struct req *r)
{
	static const char *const keys[] = {
		"login", "receipt", "opening", "digest", "org_to_individual", "org", NULL};
	int v[SETTINGS_NOTIFY_N], rc;
	struct entry *e = NULL;
	struct fault f = {0};

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	for (size_t i = 0; i < SETTINGS_NOTIFY_N; i++)
		if ((rc = get_bool(r, settings_notify_keys[i], &v[i])) < 0)
			return rc;
	if (settings_notify_set(r->store, r->cfg, &r->who, r->target, v, req_raw(r, "org"), &e, &f) < 0)
		return req_fault(r, &f);
	rc = put_notify(r, e);
	entry_free(e);
	if (rc == 0)
		mm_msg_set_message(r->out, "notifications enregistrées");
	return rc;
}

int settings_req_demat_get(struct req *r)
{
	int rc;

	if ((rc = login_only(r)) < 0)
		return rc;
	req_put(r, "login", entry_get(r->target, "uid"));
	req_put_bool(r, "dematerialisation", settings_demat_get(r->target));
	return 0;
}

int settings_req_demat_set(struct req *r)
{
	static const char *const keys[] = {"login", "dematerialisation", NULL};
	struct fault f = {0};
	int v, rc;

	if ((rc = req_keys(r, keys)) < 0 || (rc = get_bool(r, "dematerialisation", &v)) < 0)
		return rc;
	if (v < 0)
		return req_fail_field(r, "dematerialisation", "required", "dematerialisation : yes ou no");
	if (settings_demat_set(r->store, r->cfg, &r->who, r->target, v == 1, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "login", entry_get(r->target, "uid"));
	req_put_bool(r, "dematerialisation", v == 1);
	return 0;
}

/* --- Délégations --------------------------------------------------------- */

int settings_req_delegate_list(struct req *r)
{
	struct settings_delegates d;
	int rc;

	if ((rc = login_only(r)) < 0)
		return rc;
	settings_delegate_list(r->target, &d);
	req_put(r, "login", d.login);
	req_put(r, "advice", d.advice);
	for (size_t i = 0; i < d.n; i++) {
		req_put_index(r, i);
		req_put(r, "address", d.address[i]);
	}
	return 0;
}

static int delegate_change(struct req *r, bool add)
{
	static const char *const keys[] = {"login", "address", NULL};
	struct fault f = {0};
	char addr[256];
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (settings_delegate_change(
		    r->store, r->cfg, &r->who, r->target, add, req_get(r, "address"), addr, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "login", entry_get(r->target, "uid"));
	req_put(r, "address", addr);
	if (add)
		req_put(r, "advice", settings_delegate_advice(r->target));
	mm_msg_set_message(r->out, add ? "délégation vers %s ajoutée" : "délégation vers %s supprimée", addr);
	return 0;
}

int settings_req_delegate_add(struct req *r)
{
	return delegate_change(r, true);
}

int settings_req_delegate_del(struct req *r)
{
	return delegate_change(r, false);
}

/* --- Appareils mobiles ----------------------------------------------------- */

int settings_req_device_enrol(struct req *r)
{
	static const char *const keys[] = {"login", "name", NULL};
	const char *name = req_get(r, "name");
	struct settings_enrolment en;
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (settings_device_enrol(r->store, r->cfg, &r->who, r->target, name, &en, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "login", entry_get(r->target, "uid"));
	req_put(r, "id", en.id);
	req_put(r, "name", name);
	req_put(r, "code", en.code);
	req_put(r, "expires", en.expires);
	req_put(r, "enrol_uri", en.uri);
	settings_enrolment_wipe(&en);
	mm_msg_set_message(r->out,
		"scannez le QR code avec l'application Medimail Mobile (valable %d minutes, une seule fois)",
		SETTINGS_ENROL_TTL / 60);
	return 0;
}

int settings_req_device_complete(struct req *r)
{
	static const char *const keys[] = {"code", NULL};
	struct settings_device_id d;
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (settings_device_complete(r->store, r->cfg, &r->who, req_get(r, "code"), &d, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "login", d.login);
	req_put(r, "id", d.id);
	req_put(r, "name", d.name);
	req_put(r, "credential", d.credential);
	explicit_bzero(d.credential, sizeof(d.credential));
	mm_msg_set_message(r->out, "appareil associé");
	return 0;
}

int settings_req_device_list(struct req *r)
{
	struct settings_device *v = NULL;
	size_t n = 0;
	int rc;

	if ((rc = login_only(r)) < 0)
		return rc;
	if (settings_device_list(r->target, &v, &n) < 0)
		return req_fail(r, -ENOMEM, "mémoire insuffisante");
	for (size_t i = 0; i < n; i++) {
		req_put_index(r, i);
		req_put(r, "id", v[i].id);
		req_put(r, "name", v[i].name);
		req_put(r, "state", v[i].state);
		req_put(r, "created", v[i].created);
		req_put(r, "expires", v[i].expires);
		req_put(r, "enrolled", v[i].enrolled);
	}
	settings_devices_free(v, n);
	return 0;
}

int settings_req_device_revoke(struct req *r)
{
	static const char *const keys[] = {"login", "id", NULL};
	const char *id = req_get(r, "id");
	char name[SETTINGS_DEVICE_NAME_MAX + 1];
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (settings_device_revoke(r->store, r->cfg, &r->who, r->target, id, name, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "id", id);
	mm_msg_set_message(r->out, "accès de l'appareil « %s » révoqué", name);
	return 0;
}

int settings_req_device_verify(struct req *r)
{
	static const char *const keys[] = {"credential", NULL};
	struct settings_device_id d;
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (settings_device_verify(r->store, r->cfg, &r->who, req_get(r, "credential"), &d, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "login", d.login);
	req_put(r, "id", d.id);
	req_put(r, "name", d.name);
	return 0;
}

/* --- Mots de passe d'application ------------------------------------------ */

int settings_req_app_password_create(struct req *r)
{
	static const char *const keys[] = {"login", "name", NULL};
	const char *name = req_get(r, "name");
	struct settings_app_password_new p;
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (settings_app_password_create(r->store, r->cfg, &r->who, r->target, name, &p, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "login", entry_get(r->target, "uid"));
	req_put(r, "id", p.id);
	req_put(r, "name", name);
	req_put(r, "created", p.created);
	req_put(r, "secret", p.secret);
	settings_app_password_wipe(&p);
	mm_msg_set_message(r->out,
		"copiez ce mot de passe dans votre client de messagerie : il ne sera plus jamais affiché");
	return 0;
}

int settings_req_app_password_list(struct req *r)
{
	struct settings_app_password *v = NULL;
	size_t n = 0;
	int rc;

	if ((rc = login_only(r)) < 0)
		return rc;
	if (settings_app_password_list(r->target, &v, &n) < 0)
		return req_fail(r, -ENOMEM, "mémoire insuffisante");
	for (size_t i = 0; i < n; i++) {
		req_put_index(r, i);
		req_put(r, "id", v[i].id);
		req_put(r, "name", v[i].name);
		req_put(r, "created", v[i].created);
		req_put(r, "used", v[i].used);
	}
	settings_app_passwords_free(v, n);
	return 0;
}

int settings_req_app_password_revoke(struct req *r)
{
	static const char *const keys[] = {"login", "id", NULL};
	const char *id = req_get(r, "id");
	char name[SETTINGS_APP_NAME_MAX + 1];
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (settings_app_password_revoke(r->store, r->cfg, &r->who, r->target, id, name, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "id", id);
	mm_msg_set_message(r->out, "mot de passe d'application « %s » révoqué", name);
	return 0;
}

int settings_req_managers_get(struct req *r)
{
	static const char *const keys[] = {"login", NULL};
	struct settings_managers m;
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (settings_managers(r->store, r->cfg, &r->who, r->target, &m, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "struct_type", m.struct_type);
	req_put(r, "struct_id", m.struct_id);
	if (!m.n)
		mm_msg_set_message(
			r->out, "aucun gestionnaire pour votre structure : contactez le centre de services");
	for (size_t i = 0; i < m.n; i++) {
		const char *name, *mail, *phone;

		settings_manager_contact(m.e[i], &name, &mail, &phone);
		req_put_index(r, i);
		req_put(r, "name", name);
		req_put(r, "mail", mail);
		req_put(r, "phone", phone);
	}
	settings_managers_free(&m);
	return 0;
}
