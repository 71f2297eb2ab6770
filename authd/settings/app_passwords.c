/* "Mots de passe d'application": one secret per mail client, made by the daemon, shown once, kept as a keyed hash. */
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

/* The keyed hashes' contexts: an app password is never a device credential's hash. */
#define CTX_APP "app-password"
#define CTX_DEVICE "device-cred"
/* "last used" is written at most this often: a mail client logs in at every poll. */
#define USED_GRANULARITY 3600

const char *const settings_mail_attrs[] = {
	"mmAppPassword", "mmAppPasswordHash", "mmDevice", "mmDeviceCredHash", NULL};

/* A value: {"id","name","created","hash"[,"used"]}. */
static int app_find(const struct entry *e, const char *key, const char *value, const char **ret_raw,
	struct json_flat *ret)
{
	return settings_json_find(e, "mmAppPassword", key, value, ret_raw, ret);
}

void settings_app_password_wipe(struct settings_app_password_new *p)
{
	secret_wipe(p, sizeof(*p));
}

/* 1 when t holds more app passwords than allowed (ours, val and h, then
 * removed), 0 when not, a negative errno when it could not tell. */
static int over_limit_withdraw(struct store *s, const struct entry *t, const char *val, const char *h)
{
	static const char *const attrs[] = {"mmAppPassword", NULL};
	const struct attr *a;
	struct entry *now = NULL;
	struct mods m;
	int rc;

	if ((rc = store_read(s, t->dn, attrs, &now)) < 0)
		return rc;
	a = entry_attr(now, "mmAppPassword");
	rc = a && a->nvals > SETTINGS_MAX_APP_PASSWORDS;
	entry_free(now);
	if (!rc)
		return 0;
	mods_init(&m);
	mods_add(&m, LDAP_MOD_DELETE, "mmAppPassword", val);
	mods_add(&m, LDAP_MOD_DELETE, "mmAppPasswordHash", h);
	rc = m.err ? m.err : store_modify(s, t->dn, &m);
	mods_free(&m);
	return rc < 0 ? rc : 1;
}

int settings_app_password_create(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, const char *name, struct settings_app_password_new *ret, struct fault *f)
{
	char h[SECRET_HASH_HEX], *val = NULL;
	const struct attr *a;
	const char *st;
	struct mods m;
	int rc;

	(void)c;
	memset(ret, 0, sizeof(*ret));
	if (!name || !*name)
		return fault_field(f, "name", "required", "nom du client de messagerie : champ obligatoire");
	if (validate_text(name, SETTINGS_APP_NAME_MAX) < 0)
		return fault_field(f, "name", "characters",
			"nom du client de messagerie : %d octets au plus, sans caractère de contrôle",
			SETTINGS_APP_NAME_MAX);
	if ((rc = settings_writable(t, f)) < 0)
		return rc;
	/* The access row already refuses an ORG (ACCESS_INDIVIDUAL): its mail is read through a person. */
	if (settings_is_org(t))
		return fault_set(
			f, -EPERM, "un mot de passe d'application appartient à un compte individuel");
	st = entry_get(t, "mmStatus");
	if (!st || strcmp(st, MM_STATUS_ACTIVE))
		return fault_set(f, -EPERM, "le compte n'est pas actif");
	a = entry_attr(t, "mmAppPassword");
	if (a && a->nvals >= SETTINGS_MAX_APP_PASSWORDS)
		return fault_field(f, "name", "too_many",
			"%d mots de passe d'application au plus : révoquez-en un",
			SETTINGS_MAX_APP_PASSWORDS);
	for (size_t i = 0; a && i < a->nvals; i++) {
		struct json_flat j;
		bool same;

		if (json_flat_parse(a->vals[i], &j) < 0)
			continue;
		same = json_flat_get(&j, "name") && !strcmp(json_flat_get(&j, "name"), name);
		json_flat_free(&j);
		if (same)
			return fault_field(f, "name", "duplicate",
				"un mot de passe d'application porte déjà ce nom : choisissez-en un autre");
	}
	settings_new_id(ret->id);
	secret_token(ret->secret);
	if ((rc = secret_keyed_hash(CTX_APP, ret->secret, h)) < 0) {
		fault_set(f, rc, "mot de passe d'application : création impossible");
		goto out;
	}
	store_time(settings_now(), ret->created);
	{
		const char *kv[] = {"id", ret->id, "name", name, "created", ret->created, "hash", h};

		val = json_flat_encode(kv, 4);
	}
	if (!val) {
		rc = fault_set(f, -ENOMEM, "mémoire insuffisante");
		goto out;
	}
	mods_init(&m);
	settings_need_aux(&m, t);
	mods_add(&m, LDAP_MOD_ADD, "mmAppPassword", val);
	mods_add(&m, LDAP_MOD_ADD, "mmAppPasswordHash", h);
	if ((rc = settings_modify(s, t, &m, "mot de passe d'application", f)) < 0)
		goto out;
	/* Parallel creations all read a count under the limit: counted again
	 * after the write, and ours withdrawn when over it (never more than the limit). */
	if ((rc = over_limit_withdraw(s, t, val, h)) != 0) {
		if (rc > 0)
			rc = fault_field(f, "name", "too_many",
				"%d mots de passe d'application au plus : révoquez-en un",
				SETTINGS_MAX_APP_PASSWORDS);
		else
			rc = fault_store(f, rc, "mot de passe d'application");
		goto out;
	}
	caller_audit(who, "app-password-create", NULL, entry_get(t, "uid"), true, ret->id);
out:
	if (rc < 0)
		settings_app_password_wipe(ret);
	secret_wipe(h, sizeof(h));
	free(val);
	return rc;
}

void settings_app_passwords_free(struct settings_app_password *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].id);
		free(v[i].name);
		free(v[i].created);
		free(v[i].used);
	}
	free(v);
}

int settings_app_password_list(const struct entry *t, struct settings_app_password **ret, size_t *ret_n)
{
	const struct attr *a = entry_attr(t, "mmAppPassword");
	struct settings_app_password *v;
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
		/* Never the hash: the list shows what the person may see. */
		v[n].id = settings_json_dup(&j, "id", &oom);
		v[n].name = settings_json_dup(&j, "name", &oom);
		v[n].created = settings_json_dup(&j, "created", &oom);
		v[n].used = settings_json_dup(&j, "used", &oom);
		n++;
		json_flat_free(&j);
	}
	if (oom) {
		settings_app_passwords_free(v, n);
		return -ENOMEM;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int settings_app_password_revoke(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, const char *id, char ret_name[SETTINGS_APP_NAME_MAX + 1], struct fault *f)
{
	const char *raw = NULL;
	struct json_flat d = {0};
	struct mods m;
	int rc;

	(void)c;
	ret_name[0] = '\0';
	if (!settings_valid_id(id))
		return fault_field(f, "id", "syntax", "identifiant de mot de passe d'application invalide");
	if ((rc = settings_writable(t, f)) < 0)
		return rc;
	if (app_find(t, "id", id, &raw, &d) < 0)
		return fault_field(f, "id", "unknown", "mot de passe d'application %s introuvable", id);
	/* Both values in one modify: the hash leaves with its record, on every daemon at once. */
	mods_init(&m);
	mods_add(&m, LDAP_MOD_DELETE, "mmAppPassword", raw);
	if (json_flat_get(&d, "hash"))
		mods_add(&m, LDAP_MOD_DELETE, "mmAppPasswordHash", json_flat_get(&d, "hash"));
	if ((rc = settings_modify(s, t, &m, "mot de passe d'application", f)) == 0) {
		caller_audit(who, "app-password-revoke", NULL, entry_get(t, "uid"), true, id);
		snprintf(ret_name, SETTINGS_APP_NAME_MAX + 1, "%s",
			json_flat_get(&d, "name") ? json_flat_get(&d, "name") : "");
	}
	json_flat_free(&d);
	return rc;
}

/* How many of attr's values equal h, every value compared in constant time (no early exit). */
static unsigned count_equal(const struct entry *e, const char *attr, const char *h, const char **ret_match)
{
	const struct attr *a = entry_attr(e, attr);
	unsigned n = 0;

	for (size_t i = 0; a && i < a->nvals; i++)
		if (secret_equal(a->vals[i], h)) {
			*ret_match = a->vals[i];
			n++;
		}
	return n;
}

int settings_mail_secret_match(const struct entry *e, const char *secret, struct settings_mail_match *ret)
{
	char ha[SECRET_HASH_HEX] = "", hd[SECRET_HASH_HEX] = "";
	const char *ma = NULL, *md = NULL, *raw;
	struct json_flat j = {0};
	unsigned na, nd;
	int rc = -EACCES;

	memset(ret, 0, sizeof(*ret));
	/* Both hashes always: the time says nothing of which kind a wrong secret was. */
	if (secret_keyed_hash(CTX_APP, secret, ha) < 0 || secret_keyed_hash(CTX_DEVICE, secret, hd) < 0) {
		rc = -EIO;
		goto out;
	}
	na = count_equal(e, "mmAppPasswordHash", ha, &ma);
	nd = count_equal(e, "mmDeviceCredHash", hd, &md);
	if (na == 1 && !nd && app_find(e, "hash", ma, &raw, &j) == 0) {
		ret->kind = SETTINGS_MAIL_APP_PASSWORD;
	} else if (nd == 1 && !na && settings_json_find(e, "mmDevice", "cred", md, &raw, &j) == 0 &&
		json_flat_get(&j, "state") && !strcmp(json_flat_get(&j, "state"), "active")) {
		ret->kind = SETTINGS_MAIL_DEVICE;
	} else
		goto out;
	snprintf(ret->id, sizeof(ret->id), "%s", json_flat_get(&j, "id") ?: "");
	snprintf(ret->name, sizeof(ret->name), "%s", json_flat_get(&j, "name") ?: "");
	ret->used = store_parse_time(json_flat_get(&j, "used"));
	rc = 0;
out:
	json_flat_free(&j);
	secret_wipe(ha, sizeof(ha));
	secret_wipe(hd, sizeof(hd));
	return rc;
}

int settings_app_password_touch(struct store *s, const struct entry *e, const struct settings_mail_match *m)
{
	const char *raw = NULL;
	struct json_flat j = {0};
	char used[16], *val = NULL;
	struct mods mods;
	int rc;

	if (m->kind != SETTINGS_MAIL_APP_PASSWORD || m->used + USED_GRANULARITY > settings_now())
		return 0;
	if ((rc = app_find(e, "id", m->id, &raw, &j)) < 0)
		return rc;
	if (!json_flat_get(&j, "name") || !json_flat_get(&j, "hash")) {
		json_flat_free(&j);
		return -EINVAL;
	}
	store_time(settings_now(), used);
	{
		const char *kv[] = {"id", json_flat_get(&j, "id"), "name", json_flat_get(&j, "name"),
			"created", json_flat_get(&j, "created") ?: "", "hash", json_flat_get(&j, "hash"),
			"used", used};

		val = json_flat_encode(kv, 5);
	}
	json_flat_free(&j);
	if (!val)
		return -ENOMEM;
	/* Deleting the exact old value: a revocation meanwhile makes this fail, never resurrects it. */
	mods_init(&mods);
	mods_add(&mods, LDAP_MOD_DELETE, "mmAppPassword", raw);
	mods_add(&mods, LDAP_MOD_ADD, "mmAppPassword", val);
	rc = mods.err ? mods.err : store_modify(s, e->dn, &mods);
	mods_free(&mods);
	free(val);
	return rc;
}
