/* Helpers of the login requests (auth.c, session.c): who is asking, for whom, the audit line. */
#pragma once

#include <stdbool.h>

#include "daemon.h"
#include "store.h"

/* Value of a request field, NULL when absent or empty. */
const char *login_field(const struct req *r, const char *key);
/* One audit line with the request's service and remote host. */
void login_audit(const struct req *r, const char *event, const char *method, const char *account, bool ok,
	const char *reason);
/* The individual account named by the request field "user" (login or login
 * e-mail), read with attrs (which must include uid, mmAccountType, mmStatus
 * and uidNumber), after the caller rules: an admin may name anyone, another
 * caller only the account whose uidNumber is its uid. Without "user", a
 * non-admin caller gets its own account. On refusal the reply is set, the
 * refusal audited under event, and the status returned. */
int login_user(struct req *r, const char *event, const char *const *attrs, struct entry **ret)
	__attribute__((warn_unused_result));
/* Does the account's uidNumber equal uid? */
bool login_owned_by(const struct entry *e, uid_t uid);
/* "pending", "suspended", "closed" or NULL for an active account. */
const char *login_inactive_reason(const struct entry *e);
/* Reads the mmSession entry whose mmSessionId is the keyed hash of handle
 * under context ("pam-txn" or "pam-session": distinct from the HTTP API's
 * "session" tokens, so that neither kind of handle works as the other); -ENOENT when unknown or malformed,
 * -ETIMEDOUT when expired (then deleted). */
int login_handle_load(struct req *r, const char *context, const char *handle, struct entry **ret)
	__attribute__((warn_unused_result));
/* Creates such an entry; writes the new handle (64 hex) to ret_handle. */
int login_handle_create(struct req *r, const char *context, const char *user_dn, const char *account_dn,
	const char *method, long long ttl, char ret_handle[65]) __attribute__((warn_unused_result));
int login_handle_delete(struct req *r, const struct entry *e) __attribute__((warn_unused_result));
long long login_now(void);
/* Checks and consumes the txn of a password + one-time code login of the
 * account user_dn completed with OTP_VERIFY then=card_link: 0, or -ENOENT
 * (unknown, another account's, not completed, already used), -ETIMEDOUT. */
int login_txn_consume(struct req *r, const char *txn, const char *user_dn)
	__attribute__((warn_unused_result));

/* The per-daemon rate limits of every password door: once per request
 * with account NULL (the caller's bucket), then once the account is known.
 * 0, or the reply set (retry_after) and -EAGAIN. */
int login_rate(struct req *r, const char *event, const char *account) __attribute__((warn_unused_result));
/* Refuses a password for an account that does not exist with the work,
 * the delay and the answer of a wrong one. */
int login_password_unknown(struct req *r, const char *password);

/* The attributes login_password_check reads (with those login_user needs). */
extern const char *const login_password_attrs[];
/* Verifies a password of the account e (read with login_password_attrs)
 * under the lockout shared with every door and with slapd's ppolicy: the
 * attempt is reserved in the directory before it is evaluated, and given back
 * (the failures forgiven, an expired lock lifted) when the password is right.
 * 0 on success; otherwise the reply is set, the refusal audited under event,
 * and the status returned. */
int login_password_check(struct req *r, const char *event, const struct entry *e, const char *password)
	__attribute__((warn_unused_result));

/* Puts lockout_threshold and lockout_duration on slapd's ppolicy entry
 * cn=lockout,ou=policies,<base> (ldap_ppolicy), so that failed simple binds
 * lock the account as failed logins do. */
int login_policy_sync(const struct mm_config *c, struct store *s) __attribute__((warn_unused_result));

/* login_session.c: MM_REQ_SESSION_OPEN .. MM_REQ_DEFAULT_SET */
int login_session_open(struct req *r);
int login_session_close(struct req *r);
int login_accounts(struct req *r);
int login_switch(struct req *r);
int login_default_set(struct req *r);
/* auth.c: MM_REQ_AUTH_PASSWORD .. MM_REQ_PASSWORD_CHANGE */
int auth_password(struct req *r);
int auth_otp_send(struct req *r);
int auth_otp_verify(struct req *r);
int auth_acct_check(struct req *r);
int auth_password_change(struct req *r);
int auth_login_mode(struct req *r);
