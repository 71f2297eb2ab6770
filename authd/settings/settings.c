/* What the settings services share: the attributes they read, writes, audit, ids. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "html.h"
#include "protocol.h"
#include "secret.h"
#include "settings_int.h"

const char *const settings_attrs[] = {"uid", "objectClass", "mmAccountType", "mmStatus", "mmLoginMail",
	"mmMssAddress", "sn", "givenName", "cn", "telephoneNumber", "street", "postalCode", "l", "o",
	"mmProfessionCode", "mmSpeciality", "mmStructIdType", "mmStructId", "description", "mmRespSn",
	"mmRespGivenName", "mmRespProfession", "mmRespRpps", "mmSignature", "mmDefaultSignature",
	"mmAutoReplyActive", "mmAutoReplyStart", "mmAutoReplyEnd", "mmAutoReplySubject", "mmAutoReplyBody",
	"mmNotifyReceipt", "mmNotifyOpening", "mmNotifyDigest", "mmNotifyOrgToIndividual", "mmNotifyOrgOff",
	"mmDelegate", "mmDevice", "mmAppPassword", "mmDematerialisation", "mmMember", "uidNumber", NULL};

long long settings_now(void)
{
	return (long long)time(NULL);
}

bool settings_is_org(const struct entry *e)
{
	const char *t = entry_get(e, "mmAccountType");

	return t && !strcmp(t, MM_TYPE_ORG);
}

bool settings_stored_bool(const struct entry *e, const char *attr, bool def)
{
	const char *v = entry_get(e, attr);

	return v ? !strcmp(v, "TRUE") : def;
}

int settings_writable(const struct entry *t, struct fault *f)
{
	const char *st = entry_get(t, "mmStatus");

	if (st && !strcmp(st, MM_STATUS_CLOSED))
		return fault_set(f, -EPERM, "le compte est clos");
	return 0;
}

void settings_need_aux(struct mods *m, const struct entry *e)
{
	if (!entry_has_value(e, "objectClass", SETTINGS_AUX_CLASS))
		mods_add(m, LDAP_MOD_ADD, "objectClass", SETTINGS_AUX_CLASS);
}

int settings_modify(struct store *s, const struct entry *e, struct mods *m, const char *what, struct fault *f)
{
	int rc = m->err ? m->err : store_modify(s, e->dn, m);

	mods_free(m);
	if (rc == -ESTALE)
		return fault_set(f, -EAGAIN, "%s : modifié entre-temps par ailleurs, réessayez", what);
	if (rc < 0)
		return fault_store(f, rc, what);
	return 0;
}

int settings_reread(
	struct store *s, const struct entry *e, const char *what, struct entry **ret, struct fault *f)
{
	int rc = store_read(s, e->dn, settings_attrs, ret);

	if (rc < 0)
		return fault_store(f, rc, what);
	return 0;
}

int settings_json_find(const struct entry *e, const char *attr, const char *key, const char *value,
	const char **ret_raw, struct json_flat *ret)
{
	const struct attr *a = entry_attr(e, attr);

	for (size_t i = 0; a && i < a->nvals; i++) {
		struct json_flat j;

		if (json_flat_parse(a->vals[i], &j) < 0)
			continue;
		if (json_flat_get(&j, key) && !strcmp(json_flat_get(&j, key), value)) {
			*ret_raw = a->vals[i];
			*ret = j;
			return 0;
		}
		json_flat_free(&j);
	}
	return -ENOENT;
}

char *settings_json_dup(const struct json_flat *j, const char *key, bool *oom)
{
	const char *v = json_flat_get(j, key);
	char *d;

	if (!v)
		return NULL;
	if (!(d = strdup(v)))
		*oom = true;
	return d;
}

void settings_new_id(char out[SETTINGS_ID_LEN + 1])
{
	char tok[SECRET_TOKEN_HEX];

	secret_token(tok);
	memcpy(out, tok, SETTINGS_ID_LEN);
	out[SETTINGS_ID_LEN] = '\0';
	secret_wipe(tok, sizeof(tok));
}

bool settings_valid_id(const char *s)
{
	return s && strlen(s) == SETTINGS_ID_LEN && strspn(s, "0123456789abcdef") == SETTINGS_ID_LEN;
}

bool settings_valid_token(const char *s)
{
	return s && strlen(s) == SECRET_TOKEN_HEX - 1 &&
		strspn(s, "0123456789abcdef") == SECRET_TOKEN_HEX - 1;
}

int settings_check_html(const char *key, const char *v, struct fault *f)
{
	struct html_error err;

	if (html_check(v, strlen(v), &err) == 0)
		return 0;
	return fault_field(f, key, err.rule, "%s : %s%s%s%s (octet %zu)", key, html_rule_message(err.rule),
		err.what[0] ? " : « " : "", err.what, err.what[0] ? " »" : "", err.offset);
}
