/* The unix socket's request table (dispatch.h). */
#include <errno.h>
#include <string.h>

#include "card.h"
#include "card_req.h"
#include "account.h"
#include "account_req.h"
#include "directory.h"
#include "directory_req.h"
#include "dispatch.h"
#include "login.h"
#include "login_req.h"
#include "nss_req.h"
#include "oidc_req.h"
#include "protocol.h"
#include "psc.h"
#include "psc_req.h"
#include "settings.h"
#include "settings_req.h"

static int ping(struct req *r)
{
	req_put(r, "version", MM_VERSION);
	req_put(r, "daemon", "medimail-authd");
	return 0;
}

#define PUBLIC ACCESS_PUBLIC
#define SELF ACCESS_SELF
#define SELF_OR_ORG ACCESS_SELF_OR_ORG
#define ADMIN ACCESS_ADMIN
#define ACTIVE ACCESS_CALLER_ACTIVE
#define INDIVIDUAL ACCESS_INDIVIDUAL
#define REQUIRED ACCESS_NAME_REQUIRED
#define ADMIN_MAY_OMIT ACCESS_ADMIN_MAY_OMIT
#define QUIET ACCESS_QUIET
#define OFFLINE_OK ACCESS_OFFLINE_OK
#define STRUCTURE ACCESS_STRUCTURE
#define WEB ACCESS_WEB

/* Sorted by code. A NULL target_key on a SELF row: the handler finds the
 * account from a credential the request carries, or (the login requests)
 * must still answer when the directory is down; it calls access_resolve
 * itself. AUTH_PASSWORD, OTP_SEND, OTP_VERIFY and PASSWORD_CHANGE resolve
 * "user" in their service (login/login.h) through the same access_resolve:
 * the per-source rate limit comes before the look-up, and an unknown
 * account costs the work of a wrong password. */
static const struct request_type table[] = {
	{MM_REQ_PING, "ping", PUBLIC, 0, NULL, NULL, ping},

	{MM_REQ_REGISTER, "register", PUBLIC, WEB, NULL, NULL, account_req_register},
	{MM_REQ_CONFIRM, "confirm", PUBLIC, WEB, NULL, NULL, account_req_confirm},
	{MM_REQ_VALIDATE, "validate", ADMIN, REQUIRED | STRUCTURE | WEB, "login", account_validate_attrs,
		account_req_validate},
	{MM_REQ_SHOW, "show", SELF_OR_ORG, WEB, "login", account_show_attrs, account_req_show},
	{MM_REQ_LIST, "list", ADMIN, STRUCTURE | WEB, NULL, NULL, account_req_list},
	{MM_REQ_SUSPEND, "suspend", ADMIN, REQUIRED | STRUCTURE | WEB, "login", account_status_attrs,
		account_req_suspend},
	{MM_REQ_REACTIVATE, "reactivate", ADMIN, REQUIRED | STRUCTURE | WEB, "login", account_status_attrs,
		account_req_reactivate},
	{MM_REQ_CLOSE, "close", ADMIN, REQUIRED | WEB, "login", account_status_attrs, account_req_close},
	{MM_REQ_CONVERT, "convert", ADMIN, REQUIRED | WEB, "login", account_validate_attrs,
		account_req_convert},
	/* An administrator or an active connection account of the ORG: the
	 * service applies the access rule with its own refusal (-EACCES). */
	{MM_REQ_ORG_MEMBER_ADD, "org-member-add", PUBLIC, WEB, NULL, NULL, account_req_org_member_add},
	{MM_REQ_ORG_MEMBER_DEL, "org-member-del", PUBLIC, WEB, NULL, NULL, account_req_org_member_del},
	{MM_REQ_CGU_ACCEPT, "cgu-accept", SELF, REQUIRED, "login", account_cgu_attrs, account_req_cgu_accept},
	{MM_REQ_CONFIRM_RESEND, "confirm-resend", ADMIN, REQUIRED, "login", NULL, account_req_confirm_resend},
	{MM_REQ_PUBLISH, "publish", ADMIN, REQUIRED | WEB, "login", account_publish_attrs,
		account_req_publish},
	{MM_REQ_MSS_GRANT, "mss-grant", ADMIN, REQUIRED | WEB, "login", account_mss_grant_attrs,
		account_req_mss_grant},
	{MM_REQ_STRUCT_ADMIN_ADD, "struct-admin-add", ADMIN, REQUIRED | WEB, "login",
		account_struct_admin_attrs, account_req_struct_admin_add},
	{MM_REQ_STRUCT_ADMIN_DEL, "struct-admin-del", ADMIN, REQUIRED | WEB, "login",
		account_struct_admin_attrs, account_req_struct_admin_del},
	{MM_REQ_AUDIT_TRAIL, "audit-trail", ADMIN, REQUIRED | STRUCTURE | WEB, "login", account_status_attrs,
		account_req_audit_trail},
	/* Root only (the service); never WEB: the role makes browser sessions administrators. */
	{MM_REQ_OPERATOR_GRANT, "operator-grant", ADMIN, REQUIRED, "login", account_operator_attrs,
		account_req_operator_grant},
	{MM_REQ_OPERATOR_REVOKE, "operator-revoke", ADMIN, REQUIRED, "login", account_operator_attrs,
		account_req_operator_revoke},
	/* The password of the member is the proof: the service applies the login's rules. */
	{MM_REQ_REGISTER_ORG_PROOF, "register-org-proof", PUBLIC, WEB, NULL, NULL,
		account_req_register_org_proof},

	{MM_REQ_AUTH_PASSWORD, "auth", SELF, 0, NULL, NULL, login_req_password},
	{MM_REQ_OTP_SEND, "otp-send", SELF, 0, NULL, NULL, login_req_otp_send},
	{MM_REQ_OTP_VERIFY, "otp-verify", SELF, 0, NULL, NULL, login_req_otp_verify},
	{MM_REQ_ACCT_CHECK, "acct", SELF, QUIET | OFFLINE_OK, "user", login_auth_attrs, login_req_acct_check},
	{MM_REQ_PASSWORD_CHANGE, "password-change", SELF, 0, NULL, NULL, login_req_password_change},
	{MM_REQ_SESSION_OPEN, "session-open", SELF, QUIET | OFFLINE_OK, "user", login_user_attrs,
		login_req_session_open},
	{MM_REQ_SESSION_CLOSE, "session-close", PUBLIC, 0, NULL, NULL, login_req_session_close},
	{MM_REQ_ACCOUNTS, "accounts", SELF, QUIET | WEB, "user", login_user_attrs, login_req_accounts},
	{MM_REQ_SWITCH, "switch", PUBLIC, 0, NULL, NULL, login_req_switch},
	{MM_REQ_DEFAULT_SET, "default-set", SELF, QUIET | WEB, "user", login_user_attrs,
		login_req_default_set},
	{MM_REQ_LOGIN_MODE, "login-mode", PUBLIC, 0, NULL, NULL, login_req_mode},
	/* As AUTH_PASSWORD: the service resolves "user" after the rate limit. */
	{MM_REQ_MAIL_AUTH, "mail-auth", SELF, 0, NULL, NULL, login_req_mail_auth},

	{MM_REQ_GETPWNAM, "getpwnam", PUBLIC, 0, NULL, NULL, nss_req_getpwnam},
	{MM_REQ_GETPWUID, "getpwuid", PUBLIC, 0, NULL, NULL, nss_req_getpwuid},
	{MM_REQ_GETGRNAM, "getgrnam", PUBLIC, 0, NULL, NULL, nss_req_getgrnam},
	{MM_REQ_GETGRGID, "getgrgid", PUBLIC, 0, NULL, NULL, nss_req_getgrgid},
	{MM_REQ_INITGROUPS, "initgroups", PUBLIC, 0, NULL, NULL, nss_req_initgroups},
	{MM_REQ_PWENT, "pwent", PUBLIC, 0, NULL, NULL, nss_req_pwent},
	{MM_REQ_GRENT, "grent", PUBLIC, 0, NULL, NULL, nss_req_grent},

	{MM_REQ_DIR_SEARCH, "dir-search", SELF, ACTIVE | INDIVIDUAL | ADMIN_MAY_OMIT | WEB, "login", NULL,
		directory_req_search},
	{MM_REQ_DIR_FAVORITE_ADD, "dir-favorite-add", SELF, ACTIVE | INDIVIDUAL | WEB, "login", NULL,
		directory_req_favorite_add},
	{MM_REQ_DIR_FAVORITE_DEL, "dir-favorite-del", SELF, ACTIVE | INDIVIDUAL | WEB, "login", NULL,
		directory_req_favorite_del},
	{MM_REQ_DIR_FAVORITE_LIST, "dir-favorite-list", SELF, ACTIVE | INDIVIDUAL | WEB, "login", NULL,
		directory_req_favorite_list},
	{MM_REQ_DIR_VISIBILITY, "dir-visibility", SELF_OR_ORG, ACTIVE | WEB, "login", dir_visibility_attrs,
		directory_req_visibility},
	{MM_REQ_DIR_EXPORT, "dir-export", ADMIN, 0, NULL, NULL, directory_req_export},

	{MM_REQ_ECPS_START, "ecps-start", SELF, 0, "login", ecps_account_attrs, psc_req_ecps_start},
	{MM_REQ_ECPS_POLL, "ecps-poll", PUBLIC, 0, NULL, NULL, psc_req_ecps_poll},
	{MM_REQ_ECPS_CANCEL, "ecps-cancel", PUBLIC, 0, NULL, NULL, psc_req_ecps_cancel},
	{MM_REQ_SERVICE_ADD, "service-add", ADMIN, 0, NULL, NULL, psc_req_service_add},
	{MM_REQ_SERVICE_REMOVE, "service-remove", ADMIN, 0, NULL, NULL, psc_req_service_remove},
	{MM_REQ_OIDC_CLIENT_ADD, "oidc-client-add", ADMIN, WEB, NULL, NULL, oidc_req_client_add},
	{MM_REQ_OIDC_CLIENT_LIST, "oidc-client-list", ADMIN, WEB, NULL, NULL, oidc_req_client_list},
	{MM_REQ_OIDC_CLIENT_REMOVE, "oidc-client-remove", ADMIN, WEB, NULL, NULL, oidc_req_client_remove},
	{MM_REQ_OIDC_KEY_ROTATE, "oidc-key-rotate", ADMIN, 0, NULL, NULL, oidc_req_key_rotate},
	{MM_REQ_PSC_LIST, "psc-list", SELF, WEB, "user", login_psc_attrs, login_req_psc_list},
	{MM_REQ_PSC_UNLINK, "psc-unlink", SELF, ACTIVE | REQUIRED | WEB, "user", login_psc_attrs,
		login_req_psc_unlink},

	{MM_REQ_CARD_AUTH, "card-auth", SELF, 0, NULL, NULL, card_req_auth}, /* the card names the account */
	{MM_REQ_CARD_LINK, "card-link", SELF, REQUIRED, "login", card_account_attrs, card_req_link},
	{MM_REQ_CARD_LIST, "card-list", SELF, ACTIVE | WEB, "login", card_account_attrs, card_req_list},
	{MM_REQ_CARD_UNLINK, "card-unlink", SELF, ACTIVE | WEB, "login", card_account_attrs, card_req_unlink},
	{MM_REQ_CARD_PRESENT, "card-present", PUBLIC, 0, NULL, NULL, card_req_present},

	{MM_REQ_PROFILE_GET, "settings-get", SELF_OR_ORG, ACTIVE | WEB, "login", settings_attrs,
		settings_req_profile_get},
	{MM_REQ_PROFILE_SET, "settings-set", SELF_OR_ORG, ACTIVE | WEB, "login", settings_attrs,
		settings_req_profile_set},
	{MM_REQ_PASSWORD_FORGOT, "password-forgot", PUBLIC, WEB, NULL, NULL, settings_req_password_forgot},
	{MM_REQ_PASSWORD_RESET, "password-reset", PUBLIC, WEB, NULL, NULL, settings_req_password_reset},
	{MM_REQ_EMAIL_CHANGE, "email-change", SELF_OR_ORG, ACTIVE | WEB, "login", settings_attrs,
		settings_req_email_change},
	/* The token of the link mailed to the new address is the credential. */
	{MM_REQ_EMAIL_CONFIRM, "email-confirm", PUBLIC, WEB, NULL, NULL, settings_req_email_confirm},
	{MM_REQ_SIGNATURE_LIST, "settings-get", SELF_OR_ORG, ACTIVE | WEB, "login", settings_attrs,
		settings_req_signature_list},
	{MM_REQ_SIGNATURE_SET, "settings-set", SELF_OR_ORG, ACTIVE | WEB, "login", settings_attrs,
		settings_req_signature_set},
	{MM_REQ_SIGNATURE_DEL, "settings-set", SELF_OR_ORG, ACTIVE | WEB, "login", settings_attrs,
		settings_req_signature_del},
	{MM_REQ_AUTOREPLY_GET, "settings-get", SELF_OR_ORG, ACTIVE | WEB, "login", settings_attrs,
		settings_req_autoreply_get},
	{MM_REQ_AUTOREPLY_SET, "settings-set", SELF_OR_ORG, ACTIVE | WEB, "login", settings_attrs,
		settings_req_autoreply_set},
	{MM_REQ_NOTIFY_GET, "settings-get", SELF_OR_ORG, ACTIVE | WEB, "login", settings_attrs,
		settings_req_notify_get},
	{MM_REQ_NOTIFY_SET, "settings-set", SELF_OR_ORG, ACTIVE | WEB, "login", settings_attrs,
		settings_req_notify_set},
	{MM_REQ_DELEGATE_LIST, "settings-get", SELF_OR_ORG, ACTIVE | WEB, "login", settings_attrs,
		settings_req_delegate_list},
	{MM_REQ_DELEGATE_ADD, "settings-set", SELF_OR_ORG, ACTIVE | WEB, "login", settings_attrs,
		settings_req_delegate_add},
	{MM_REQ_DELEGATE_DEL, "settings-set", SELF_OR_ORG, ACTIVE | WEB, "login", settings_attrs,
		settings_req_delegate_del},
	{MM_REQ_DEMAT_GET, "settings-get", SELF_OR_ORG, ACTIVE | WEB, "login", settings_attrs,
		settings_req_demat_get},
	{MM_REQ_DEMAT_SET, "settings-set", SELF_OR_ORG, ACTIVE | WEB, "login", settings_attrs,
		settings_req_demat_set},
	{MM_REQ_DEVICE_ENROL, "device-enrol", SELF_OR_ORG, ACTIVE | INDIVIDUAL | WEB, "login", settings_attrs,
		settings_req_device_enrol},
	{MM_REQ_DEVICE_COMPLETE, "device-complete", PUBLIC, 0, NULL, NULL, settings_req_device_complete},
	{MM_REQ_DEVICE_LIST, "settings-get", SELF_OR_ORG, ACTIVE | WEB, "login", settings_attrs,
		settings_req_device_list},
	{MM_REQ_DEVICE_REVOKE, "settings-set", SELF_OR_ORG, ACTIVE | WEB, "login", settings_attrs,
		settings_req_device_revoke},
	{MM_REQ_DEVICE_VERIFY, "device-verify", ADMIN, 0, NULL, NULL, settings_req_device_verify},
	{MM_REQ_MANAGERS_GET, "settings-get", SELF_OR_ORG, ACTIVE | WEB, "login", settings_attrs,
		settings_req_managers_get},
	{MM_REQ_APP_PASSWORD_CREATE, "app-password-create", SELF_OR_ORG, ACTIVE | INDIVIDUAL | WEB, "login",
		settings_attrs, settings_req_app_password_create},
	{MM_REQ_APP_PASSWORD_LIST, "app-password-list", SELF_OR_ORG, ACTIVE | WEB, "login", settings_attrs,
		settings_req_app_password_list},
	{MM_REQ_APP_PASSWORD_REVOKE, "app-password-revoke", SELF_OR_ORG, ACTIVE | WEB, "login",
		settings_attrs, settings_req_app_password_revoke},
};

const struct request_type *dispatch_table(size_t *n)
{
	*n = sizeof(table) / sizeof(table[0]);
	return table;
}

const struct request_type *dispatch_find(uint16_t code)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].code == code)
			return &table[i];
	return NULL;
}

/* Service and remote host go to the audit trail only: printable, short. */
static const char *audit_text(const char *s)
{
	if (!s || strlen(s) > 255)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
			return NULL;
	return s;
}

int dispatch(struct req *r)
{
	const struct request_type *t = dispatch_find(r->in->code);

	if (!t)
		return req_fail(r, -ENOSYS, "requête inconnue 0x%04x", r->in->code);
	r->who.service = audit_text(req_get(r, "service"));
	r->who.rhost = audit_text(req_get(r, "rhost"));
	return dispatch_row(r, t);
}

int dispatch_row(struct req *r, const struct request_type *t)
{
	struct fault f = {0};
	int rc;

	rc = access_resolve(r->cfg, r->store, &r->who, t->access, t->flags, t->target_key,
		t->target_key ? req_get(r, t->target_key) : NULL, t->attrs, t->name, &r->target, &f);
	if (rc == -EHOSTDOWN && (t->flags & ACCESS_OFFLINE_OK))
		fault_clear(&f); /* the handler runs with r->target NULL (access.h) */
	else if (rc < 0)
		return req_fault(r, &f);
	rc = t->handler(r);
	entry_free(r->target);
	r->target = NULL;
	return rc;
}
