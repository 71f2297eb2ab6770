/* "Appareils mobiles": enrolment by a single-use QR code, then a device credential checked on each use. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "protocol.h"
#include "secret.h"
#include "settings_int.h"
#include "validate.h"

/* A device value: {"id","name","state","created", pending: "code","expires"; active: "cred","enrolled"}. */
static int device_find(const struct entry *e, const char *key, const char *value, const char **ret_raw,
	struct json_flat *ret)
{
	return settings_json_find(e, "mmDevice", key, value, ret_raw, ret);
}

static bool active(const struct entry *e)
{
	const char *st = entry_get(e, "mmStatus");

	return st && !strcmp(st, MM_STATUS_ACTIVE);
}

void settings_enrolment_wipe(struct settings_enrolment *e)
{
	secret_wipe(e, sizeof(*e));
}

int settings_device_enrol(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, const char *name, struct settings_enrolment *ret, struct fault *f)
{
	char h[SECRET_HASH_HEX], created[16], *val = NULL;
	const struct attr *a;
	struct mods m;
	int rc;

	(void)c;
	memset(ret, 0, sizeof(*ret));
	if (!name)
		return fault_field(f, "name", "required", "nom de l'appareil : champ obligatoire");
	if (validate_text(name, SETTINGS_DEVICE_NAME_MAX) < 0)
		return fault_field(f, "name", "characters",
			"nom de l'appareil : 64 octets au plus, sans caractère de contrôle");
	if ((rc = settings_writable(t, f)) < 0)
		return rc;
	/* The access row already refuses an ORG (ACCESS_INDIVIDUAL). */
	if (settings_is_org(t))
		return fault_set(f, -EPERM, "un appareil mobile s'associe à un compte individuel");
	if (!active(t))
		return fault_set(f, -EPERM, "le compte n'est pas actif");
	a = entry_attr(t, "mmDevice");
	if (a && a->nvals >= SETTINGS_MAX_DEVICES)
		return fault_field(
			f, "name", "too_many", "%d appareils au plus : révoquez-en un", SETTINGS_MAX_DEVICES);
	settings_new_id(ret->id);
	secret_token(ret->code);
	if ((rc = secret_keyed_hash("device-enrol", ret->code, h)) < 0) {
		fault_set(f, rc, "appareil mobile : code impossible");
		goto out;
	}
	store_time(settings_now(), created);
	store_time(settings_now() + SETTINGS_ENROL_TTL, ret->expires);
	{
		const char *kv[] = {"id", ret->id, "name", name, "state", "pending", "created", created,
			"code", h, "expires", ret->expires};

		val = json_flat_encode(kv, 6);
	}
	if (!val) {
		rc = fault_set(f, -ENOMEM, "mémoire insuffisante");
		goto out;
	}
	snprintf(ret->uri, sizeof(ret->uri), "medimail://enrol?code=%s", ret->code);
	mods_init(&m);
	settings_need_aux(&m, t);
	mods_add(&m, LDAP_MOD_ADD, "mmDevice", val);
	mods_add(&m, LDAP_MOD_ADD, "mmDeviceEnrolHash", h);
	if ((rc = settings_modify(s, t, &m, "appareil mobile", f)) < 0)
		goto out;
	caller_audit(who, "device-enrol", NULL, entry_get(t, "uid"), true, ret->id);
out:
	if (rc < 0)
		settings_enrolment_wipe(ret);
	free(val);
	return rc;
}

static void fill_id(struct settings_device_id *ret, const struct entry *e, const struct json_flat *d)
{
	snprintf(ret->login, sizeof(ret->login), "%s", entry_get(e, "uid"));
	snprintf(ret->id, sizeof(ret->id), "%s", json_flat_get(d, "id") ? json_flat_get(d, "id") : "");
	snprintf(
		ret->name, sizeof(ret->name), "%s", json_flat_get(d, "name") ? json_flat_get(d, "name") : "");
}

int settings_device_complete(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *code, struct settings_device_id *ret, struct fault *f)
{
	static const char *const attrs[] = {"uid", "mmStatus", "mmDevice", NULL};
	char h[SECRET_HASH_HEX], filter[128], cred[SECRET_TOKEN_HEX] = "", ch[SECRET_HASH_HEX], stamp[16],
					      *val = NULL;
	const char *raw = NULL;
	struct json_flat d = {0};
	struct entry *e = NULL;
	struct mods m;
	int rc;

	memset(ret, 0, sizeof(*ret));
	mods_init(&m);
	if (!settings_valid_token(code))
		return fault_field(f, "code", "syntax", "code d'association invalide");
	if ((rc = secret_keyed_hash("device-enrol", code, h)) < 0)
		return fault_set(f, rc, "appareil mobile : vérification impossible");
	snprintf(filter, sizeof(filter), "(&(objectClass=mmAccount)(mmDeviceEnrolHash=%s))", h);
	rc = store_search_one(s, c->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, &e);
	if (rc == -ENOENT) {
		caller_audit(who, "device-complete", NULL, NULL, false, "unknown or used code");
		return fault_set(f, -ENOENT, "code d'association inconnu ou déjà utilisé");
	}
	if (rc < 0)
		return fault_store(f, rc, "appareil mobile");
	if (device_find(e, "code", h, &raw, &d) < 0) {
		rc = fault_set(f, -ENOENT, "code d'association inconnu ou déjà utilisé");
		goto out;
	}
	if (store_parse_time(json_flat_get(&d, "expires")) < settings_now()) {
		/* An expired code is removed: it can never serve again. */
		mods_add(&m, LDAP_MOD_DELETE, "mmDevice", raw);
		mods_add(&m, LDAP_MOD_DELETE, "mmDeviceEnrolHash", h);
		rc = m.err ? m.err : store_modify(s, e->dn, &m);
		if (rc < 0 && rc != -ESTALE)
			log_msg(LOG_WARNING, "%s: expired enrolment not removed: %s", entry_get(e, "uid"),
				strerror(-rc));
		caller_audit(who, "device-complete", NULL, entry_get(e, "uid"), false, "code expired");
		rc = fault_set(f, -ETIMEDOUT, "code d'association expiré : générez un nouveau QR code");
		goto out;
	}
	if (!active(e)) {
		caller_audit(who, "device-complete", NULL, entry_get(e, "uid"), false, "account not active");
		rc = fault_set(f, -EPERM, "le compte n'est pas actif");
		goto out;
	}
	secret_token(cred);
	if ((rc = secret_keyed_hash("device-cred", cred, ch)) < 0) {
		fault_set(f, rc, "appareil mobile : identifiant impossible");
		goto out;
	}
	store_time(settings_now(), stamp);
	{
		const char *kv[] = {"id", json_flat_get(&d, "id"), "name", json_flat_get(&d, "name"), "state",
			"active", "created", json_flat_get(&d, "created"), "cred", ch, "enrolled", stamp};

		val = json_flat_encode(kv, 6);
	}
	if (!val) {
		rc = fault_set(f, -ENOMEM, "mémoire insuffisante");
		goto out;
	}
	/* One atomic modify: deleting the exact code hash fails if another daemon used it first. */
	mods_add(&m, LDAP_MOD_DELETE, "mmDeviceEnrolHash", h);
	mods_add(&m, LDAP_MOD_DELETE, "mmDevice", raw);
	mods_add(&m, LDAP_MOD_ADD, "mmDevice", val);
	mods_add(&m, LDAP_MOD_ADD, "mmDeviceCredHash", ch);
	rc = m.err ? m.err : store_modify(s, e->dn, &m);
	if (rc == -ESTALE) {
		caller_audit(
			who, "device-complete", NULL, entry_get(e, "uid"), false, "code used concurrently");
		rc = fault_set(f, -ENOENT, "code d'association déjà utilisé");
		goto out;
	}
	if (rc < 0) {
		rc = fault_store(f, rc, "appareil mobile");
		goto out;
	}
	caller_audit(who, "device-complete", NULL, entry_get(e, "uid"), true, json_flat_get(&d, "id"));
	fill_id(ret, e, &d);
	memcpy(ret->credential, cred, sizeof(ret->credential));
out:
	secret_wipe(cred, sizeof(cred));
	mods_free(&m);
	json_flat_free(&d);
	free(val);
	entry_free(e);
	return rc;
}

int settings_device_verify(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *cred, struct settings_device_id *ret, struct fault *f)
{
	static const char *const attrs[] = {"uid", "mmStatus", "mmDevice", NULL};
	char ch[SECRET_HASH_HEX], filter[128];
	const char *raw = NULL;
	struct json_flat d = {0};
	struct entry *e = NULL;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if (!settings_valid_token(cred))
		return fault_field(f, "credential", "syntax", "identifiant d'appareil invalide");
	if ((rc = secret_keyed_hash("device-cred", cred, ch)) < 0)
		return fault_set(f, rc, "appareil mobile : vérification impossible");
	/* Always the directory, never a cache: a revocation counts on every daemon at once. */
	snprintf(filter, sizeof(filter), "(&(objectClass=mmAccount)(mmDeviceCredHash=%s))", ch);
	rc = store_search_one(s, c->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, &e);
	if (rc == -ENOENT) {
		caller_audit(who, "device-verify", NULL, NULL, false, "unknown or revoked device");
		return fault_set(f, -EACCES, "appareil inconnu ou révoqué");
	}
	if (rc < 0)
		return fault_store(f, rc, "appareil mobile");
	if (device_find(e, "cred", ch, &raw, &d) < 0 || !active(e)) {
		caller_audit(who, "device-verify", NULL, entry_get(e, "uid"), false,
			"revoked device or inactive account");
		rc = fault_set(f, -EACCES, "appareil inconnu ou révoqué");
		goto out;
	}
	caller_audit(who, "device-verify", NULL, entry_get(e, "uid"), true, json_flat_get(&d, "id"));
	fill_id(ret, e, &d);
out:
	json_flat_free(&d);
	entry_free(e);
	return rc;
}

void settings_devices_free(struct settings_device *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].id);
		free(v[i].name);
		free(v[i].state);
		free(v[i].created);
		free(v[i].expires);
		free(v[i].enrolled);
	}
	free(v);
}

int settings_device_list(const struct entry *t, struct settings_device **ret, size_t *ret_n)
{
	const struct attr *a = entry_attr(t, "mmDevice");
	struct settings_device *v;
	bool oom = false;
	size_t n = 0;

	*ret = NULL;
	*ret_n = 0;
	if (!a || !a->nvals)
		return 0;
	if (!(v = calloc(a->nvals, sizeof(*v))))
		return -ENOMEM;
	for (size_t i = 0; i < a->nvals; i++) {
		struct json_flat j;

		if (json_flat_parse(a->vals[i], &j) < 0)
			continue;
		/* Never the code or credential hashes: the list shows what the person may see. */
		v[n].id = settings_json_dup(&j, "id", &oom);
		v[n].name = settings_json_dup(&j, "name", &oom);
		v[n].state = settings_json_dup(&j, "state", &oom);
		v[n].created = settings_json_dup(&j, "created", &oom);
		v[n].expires = settings_json_dup(&j, "expires", &oom);
		v[n].enrolled = settings_json_dup(&j, "enrolled", &oom);
		n++;
		json_flat_free(&j);
	}
	if (oom) {
		settings_devices_free(v, n);
		return -ENOMEM;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int settings_device_revoke(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, const char *id, char ret_name[SETTINGS_DEVICE_NAME_MAX + 1], struct fault *f)
{
	const char *raw = NULL;
	struct json_flat d = {0};
	struct mods m;
	int rc;

	(void)c;
	ret_name[0] = '\0';
	if (!settings_valid_id(id))
		return fault_field(f, "id", "syntax", "identifiant d'appareil invalide");
	if ((rc = settings_writable(t, f)) < 0)
		return rc;
	if (device_find(t, "id", id, &raw, &d) < 0)
		return fault_field(f, "id", "unknown", "appareil %s introuvable", id);
	mods_init(&m);
	mods_add(&m, LDAP_MOD_DELETE, "mmDevice", raw);
	if (json_flat_get(&d, "cred"))
		mods_add(&m, LDAP_MOD_DELETE, "mmDeviceCredHash", json_flat_get(&d, "cred"));
	if (json_flat_get(&d, "code"))
		mods_add(&m, LDAP_MOD_DELETE, "mmDeviceEnrolHash", json_flat_get(&d, "code"));
	if ((rc = settings_modify(s, t, &m, "appareil mobile", f)) == 0) {
		caller_audit(who, "device-revoke", NULL, entry_get(t, "uid"), true, id);
		snprintf(ret_name, SETTINGS_DEVICE_NAME_MAX + 1, "%s",
			json_flat_get(&d, "name") ? json_flat_get(&d, "name") : "");
	}
	json_flat_free(&d);
	return rc;
}
