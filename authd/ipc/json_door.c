/* The web pages' bridge to the request table (json_door.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "accounts.h"
#include "access.h"

#include "dispatch.h"
#include "json_door.h"
#include "protocol.h"

/* One name per request: the rows' own names, but for the "Gérer mon
 * compte" rows, which share "settings-get" and "settings-set" as audit
 * events. Only rows carrying ACCESS_WEB are served (json_door_call). */
static const struct json_door_name names[] = {
	{"register", MM_REQ_REGISTER},
	{"register-org-proof", MM_REQ_REGISTER_ORG_PROOF},
	{"confirm", MM_REQ_CONFIRM},
	{"show", MM_REQ_SHOW},
	{"accounts", MM_REQ_ACCOUNTS},
	{"default-set", MM_REQ_DEFAULT_SET},
	{"dir-search", MM_REQ_DIR_SEARCH},
	{"dir-favorite-add", MM_REQ_DIR_FAVORITE_ADD},
	{"dir-favorite-del", MM_REQ_DIR_FAVORITE_DEL},
	{"dir-favorite-list", MM_REQ_DIR_FAVORITE_LIST},
	{"dir-visibility", MM_REQ_DIR_VISIBILITY},
	{"psc-list", MM_REQ_PSC_LIST},
	{"psc-unlink", MM_REQ_PSC_UNLINK},
	{"card-list", MM_REQ_CARD_LIST},
	{"card-unlink", MM_REQ_CARD_UNLINK},
	{"settings-get", MM_REQ_PROFILE_GET},
	{"settings-set", MM_REQ_PROFILE_SET},
	{"password-forgot", MM_REQ_PASSWORD_FORGOT},
	{"password-reset", MM_REQ_PASSWORD_RESET},
	{"signature-list", MM_REQ_SIGNATURE_LIST},
	{"signature-set", MM_REQ_SIGNATURE_SET},
	{"signature-del", MM_REQ_SIGNATURE_DEL},
	{"autoreply-get", MM_REQ_AUTOREPLY_GET},
	{"autoreply-set", MM_REQ_AUTOREPLY_SET},
	{"notify-get", MM_REQ_NOTIFY_GET},
	{"notify-set", MM_REQ_NOTIFY_SET},
	{"delegate-list", MM_REQ_DELEGATE_LIST},
	{"delegate-add", MM_REQ_DELEGATE_ADD},
	{"delegate-del", MM_REQ_DELEGATE_DEL},
	{"demat-get", MM_REQ_DEMAT_GET},
	{"demat-set", MM_REQ_DEMAT_SET},
	{"device-enrol", MM_REQ_DEVICE_ENROL},
	{"device-list", MM_REQ_DEVICE_LIST},
	{"device-revoke", MM_REQ_DEVICE_REVOKE},
	{"app-password-create", MM_REQ_APP_PASSWORD_CREATE},
	{"app-password-list", MM_REQ_APP_PASSWORD_LIST},
	{"app-password-revoke", MM_REQ_APP_PASSWORD_REVOKE},
	{"managers-get", MM_REQ_MANAGERS_GET},
	{"email-change", MM_REQ_EMAIL_CHANGE},
	{"email-confirm", MM_REQ_EMAIL_CONFIRM},
	{"org-member-add", MM_REQ_ORG_MEMBER_ADD},
	{"org-member-del", MM_REQ_ORG_MEMBER_DEL},
	/* the back office (/gestion): a service-centre operator, or a
	 * structure administrator on the ACCESS_STRUCTURE rows */
	{"validate", MM_REQ_VALIDATE},
	{"list", MM_REQ_LIST},
	{"suspend", MM_REQ_SUSPEND},
	{"reactivate", MM_REQ_REACTIVATE},
	{"close", MM_REQ_CLOSE},
	{"convert", MM_REQ_CONVERT},
	{"publish", MM_REQ_PUBLISH},
	{"mss-grant", MM_REQ_MSS_GRANT},
	{"struct-admin-add", MM_REQ_STRUCT_ADMIN_ADD},
	{"struct-admin-del", MM_REQ_STRUCT_ADMIN_DEL},
	{"audit-trail", MM_REQ_AUDIT_TRAIL},
	{"oidc-client-list", MM_REQ_OIDC_CLIENT_LIST},
	{"oidc-client-add", MM_REQ_OIDC_CLIENT_ADD},
	{"oidc-client-remove", MM_REQ_OIDC_CLIENT_REMOVE},
	/* rows without ACCESS_WEB, named so that the refusal is tested */
	{"operator-grant", MM_REQ_OPERATOR_GRANT},
	{"operator-revoke", MM_REQ_OPERATOR_REVOKE},
	{"auth", MM_REQ_AUTH_PASSWORD},
	{"mail-auth", MM_REQ_MAIL_AUTH},
};

const struct json_door_name *json_door_names(size_t *n)
{
	*n = sizeof(names) / sizeof(names[0]);
	return names;
}

/* A field's value joins the object: a second value makes an array. */
static int put_field(json_t *o, const char *key, const char *value)
{
	json_t *old = json_object_get(o, key), *v = json_string(value);

	if (!v)
		return -ENOMEM; /* not UTF-8: never from the services, refused */
	if (!old)
		return json_object_set_new(o, key, v) ? -ENOMEM : 0;
	if (json_is_array(old))
		return json_array_append_new(old, v) ? -ENOMEM : 0;
	json_t *a = json_pack("[O, o]", old, v);
	return !a || json_object_set_new(o, key, a) ? -ENOMEM : 0;
}

static json_t *reply_json(const struct mm_msg *out)
{
	json_t *o = json_object(), *records = NULL, *cur = NULL;

	if (!o)
		return NULL;
	if (out->message && json_object_set_new(o, "message", json_string(out->message)))
		goto fail;
	for (size_t i = 0; i < out->nfields; i++) {
		const struct mm_field *fl = &out->fields[i];

		if (!strcmp(fl->key, "#")) {
			if (!records &&
				(!(records = json_array()) || json_object_set_new(o, "records", records)))
				goto fail;
			if (!(cur = json_object()) || json_array_append_new(records, cur))
				goto fail;
			continue;
		}
		if (put_field(cur ? cur : o, fl->key, fl->value) < 0)
			goto fail;
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

/* An ADMIN row over the bridge: the session's person is an administrator
 * when it is an active service-centre operator, read now (a revoked role
 * counts at once). Anyone else stays a plain caller, whom the row's access
 * rule refuses or, on ACCESS_STRUCTURE rows, scopes to its structures. */
static void operator_elevate(const struct mm_config *c, struct store *s, struct caller *who)
{
	static const char *const attrs[] = {"mmRole", NULL};
	struct entry *me = NULL;

	if (!who->dn || access_own_account(c, s, who, attrs, &me) < 0)
		return;
	if (accounts_active(me) && !accounts_is_org(me) && entry_has_value(me, "mmRole", MM_ROLE_OPERATOR)) {
		who->admin = true;
		snprintf(who->name, sizeof(who->name), "web-operator");
	}
	entry_free(me);
}

static int refuse(json_t **ret, int status, const char *msg, const char *field, const char *rule)
{
	*ret = json_pack("{s:s}", "message", msg);
	if (*ret && field)
		json_object_set_new(*ret, "field", json_string(field));
	if (*ret && rule)
		json_object_set_new(*ret, "rule", json_string(rule));
	return status;
}

/* Over the bridge a PUBLIC row answers without a session, but for the
 * connection accounts of an ORG: PUBLIC on the socket only because their
 * service applies the access rule itself (the same -EACCES whether or not
 * the ORG exists); here its caller must be a session's person. */
static bool session_required(const struct request_type *t)
{
	return t->access != ACCESS_PUBLIC || t->code == MM_REQ_ORG_MEMBER_ADD ||
		t->code == MM_REQ_ORG_MEMBER_DEL;
}

int json_door_call(struct daemon *d, const struct mm_config *c, struct store *s, const struct caller *who,
	const char *name, const json_t *in, json_t **ret_reply)
{
	const struct request_type *t = NULL;
	struct mm_msg *msg = NULL;
	struct req r = {0};
	const char *key;
	json_t *v;
	int rc;

	*ret_reply = NULL;
	for (size_t i = 0; name && i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(names[i].name, name))
			t = dispatch_find(names[i].code);
	if (!t || !(t->flags & ACCESS_WEB))
		return refuse(ret_reply, -ENOSYS, "requête inconnue", NULL, NULL);
	if (!who->dn && session_required(t))
		return refuse(ret_reply, -ENOTCONN, "connexion requise", NULL, NULL);
	if (!(msg = mm_msg_new(t->code, false)) || !(r.out = mm_msg_new(t->code, true))) {
		rc = refuse(ret_reply, -ENOMEM, "mémoire insuffisante", NULL, NULL);
		goto out;
	}
	json_object_foreach((json_t *)in, key, v)
	{
		/* service and rhost say who asks, on the socket; here the session does. */
		if (!mm_key_valid(key, strlen(key)) || !strcmp(key, "#") || !strcmp(key, "service") ||
			!strcmp(key, "rhost")) {
			rc = refuse(ret_reply, -EINVAL, "champ inconnu", NULL, "unknown");
			goto out;
		}
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
			rc = refuse(ret_reply, -EINVAL, "une chaîne de caractères est attendue", key, "type");
			goto out;
		}
		if (mm_msg_add(msg, key, json_string_value(v)) < 0) {
			rc = refuse(ret_reply, -EINVAL, "champ trop long", key, "too_long");
			goto out;
		}
	}
	r.d = d;
	r.cfg = c;
	r.store = s;
	r.who = *who;
	r.in = msg;
	r.fd = -1;
	if (t->access == ACCESS_ADMIN)
		operator_elevate(c, s, &r.who);
	rc = req_finish(&r, dispatch_row(&r, t));
	r.out->status = rc;
	if (!(*ret_reply = reply_json(r.out)))
		rc = refuse(ret_reply, rc < 0 ? rc : -ENOMEM, "réponse illisible", NULL, NULL);
out:
	mm_msg_free(msg);
	mm_msg_free(r.out);
	return rc;
}
