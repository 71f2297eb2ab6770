/* "Signatures": up to SETTINGS_MAX_SIGNATURES HTML signatures, one of them the default. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "settings_int.h"
#include "validate.h"

void settings_signatures_free(struct settings_signature *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].id);
		free(v[i].title);
		free(v[i].html);
	}
	free(v);
}

int settings_signature_list(const struct entry *t, struct settings_signature **ret, size_t *ret_n)
{
	const struct attr *a = entry_attr(t, "mmSignature");
	const char *def = entry_get(t, "mmDefaultSignature");
	struct settings_signature *v = NULL;
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

		if (json_flat_parse(a->vals[i], &j) < 0) {
			log_msg(LOG_WARNING, "%s: unreadable signature value skipped", entry_get(t, "uid"));
			continue;
		}
		if (!json_flat_get(&j, "id")) {
			log_msg(LOG_WARNING, "%s: signature value without id skipped", entry_get(t, "uid"));
			json_flat_free(&j);
			continue;
		}
		v[n].id = settings_json_dup(&j, "id", &oom);
		v[n].title = settings_json_dup(&j, "title", &oom);
		v[n].html = settings_json_dup(&j, "html", &oom);
		v[n].is_default = def && !strcmp(def, json_flat_get(&j, "id"));
		n++;
		json_flat_free(&j);
	}
	if (oom) {
		settings_signatures_free(v, n);
		return -ENOMEM;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* The stored value of signature id, parsed; -ENOENT when none. */
static int signature_find(const struct entry *e, const char *id, const char **ret_raw, struct json_flat *ret)
{
	return settings_json_find(e, "mmSignature", "id", id, ret_raw, ret);
}

int settings_signature_check(const struct settings_signature_change *in, struct fault *f)
{
	if (in->id && !settings_valid_id(in->id))
		return fault_field(f, "id", "syntax", "identifiant de signature invalide");
	if (!in->id && !in->title)
		return fault_field(f, "title", "required", "intitulé : champ obligatoire");
	if (!in->id && !in->html)
		return fault_field(f, "html", "required", "contenu : champ obligatoire");
	if (in->title && validate_text(in->title, 128) < 0)
		return fault_field(f, "title", "characters",
			"intitulé : 128 octets au plus, sans caractère de contrôle");
	if (in->title_given && !in->title)
		return fault_field(f, "title", "required", "intitulé : champ obligatoire");
	if (in->html)
		return settings_check_html("html", in->html, f);
	return 0;
}

/* The total size of t's signatures once val replaces raw (or is added). */
static size_t total_size(const struct entry *t, const char *raw, const char *val)
{
	const struct attr *a = entry_attr(t, "mmSignature");
	size_t total = strlen(val);

	for (size_t i = 0; a && i < a->nvals; i++)
		if (a->vals[i] != raw)
			total += strlen(a->vals[i]);
	return total;
}

int settings_signature_set(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, const struct settings_signature_change *in, char ret_id[SETTINGS_ID_LEN + 1],
	struct fault *f)
{
	const char *raw = NULL, *def = entry_get(t, "mmDefaultSignature");
	struct json_flat old = {0};
	char id[SETTINGS_ID_LEN + 1], *val = NULL;
	struct mods m;
	int rc;

	(void)c;
	ret_id[0] = '\0';
	mods_init(&m);
	if ((rc = settings_signature_check(in, f)) < 0 || (rc = settings_writable(t, f)) < 0)
		return rc;
	if (in->id) {
		if (signature_find(t, in->id, &raw, &old) < 0)
			return fault_field(f, "id", "unknown", "signature %s introuvable", in->id);
		snprintf(id, sizeof(id), "%s", in->id);
	} else {
		const struct attr *a = entry_attr(t, "mmSignature");

		if (a && a->nvals >= SETTINGS_MAX_SIGNATURES)
			return fault_field(
				f, "id", "too_many", "%d signatures au plus", SETTINGS_MAX_SIGNATURES);
		settings_new_id(id);
	}
	{
		const char *kv[] = {"id", id, "title", in->title ? in->title : json_flat_get(&old, "title"),
			"html", in->html ? in->html : json_flat_get(&old, "html")};

		val = json_flat_encode(kv, 3);
	}
	if (!val) {
		rc = fault_set(f, -ENOMEM, "mémoire insuffisante");
		goto out;
	}
	if (total_size(t, raw, val) > SETTINGS_SIGNATURES_MAX_BYTES) {
		rc = fault_field(f, "html", "total_size", "l'ensemble des signatures dépasse %u Kio",
			SETTINGS_SIGNATURES_MAX_BYTES / 1024);
		goto out;
	}
	settings_need_aux(&m, t);
	if (raw && strcmp(raw, val))
		mods_add(&m, LDAP_MOD_DELETE, "mmSignature", raw);
	if (!raw || strcmp(raw, val))
		mods_add(&m, LDAP_MOD_ADD, "mmSignature", val);
	if (in->is_default == 1)
		mods_add(&m, LDAP_MOD_REPLACE, "mmDefaultSignature", id);
	else if (in->is_default == 0 && def && !strcmp(def, id))
		mods_add(&m, LDAP_MOD_REPLACE, "mmDefaultSignature", NULL);
	if ((rc = settings_modify(s, t, &m, "signature", f)) < 0)
		goto out;
	caller_audit(who, "signature-set", NULL, entry_get(t, "uid"), true, id);
	memcpy(ret_id, id, sizeof(id));
out:
	mods_free(&m);
	json_flat_free(&old);
	free(val);
	return rc;
}

int settings_signature_del(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, const char *id, struct fault *f)
{
	const char *raw = NULL, *def = entry_get(t, "mmDefaultSignature");
	struct json_flat old = {0};
	struct mods m;
	int rc;

	(void)c;
	if (!settings_valid_id(id))
		return fault_field(f, "id", "syntax", "identifiant de signature invalide");
	if ((rc = settings_writable(t, f)) < 0)
		return rc;
	if (signature_find(t, id, &raw, &old) < 0)
		return fault_field(f, "id", "unknown", "signature %s introuvable", id);
	mods_init(&m);
	mods_add(&m, LDAP_MOD_DELETE, "mmSignature", raw);
	if (def && !strcmp(def, id))
		mods_add(&m, LDAP_MOD_REPLACE, "mmDefaultSignature", NULL);
	rc = settings_modify(s, t, &m, "signature", f);
	json_flat_free(&old);
	if (rc < 0)
		return rc;
	caller_audit(who, "signature-del", NULL, entry_get(t, "uid"), true, id);
	return 0;
}
