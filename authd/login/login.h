/* The login services: the password step, the e-mailed code, the account
 * check, password change, PAM sessions and "Changer de compte", the login
 * mode, the linked Pro Santé Connect identities.
 *
 * Each takes (store, config, caller, typed arguments, typed result, fault)
 * and returns 0 or a negative errno with f filled (message, facts such as
 * retry_after, locked_until, tries_left, reason, status). The unix socket
 * (ipc/login_req.c) and the HTTP API (http/api_login.c) are adapters over
 * them. The account a request names ("user") is found and authorised by
 * access_resolve (store/access.h): by the services themselves for the
 * password and code steps (the rate limit comes before the look-up, an
 * unknown account costs the work of a wrong password), by the dispatch
 * table otherwise (the services get the entry; NULL with ACCESS_OFFLINE_OK
 * when the directory is down). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "access.h"
#include "config.h"
#include "fault.h"
#include "records.h"
#include "secret.h"
#include "store.h"

#define LOGIN_NAME_MAX 256

long long login_now(void);
/* One audit line of a login event, with the caller's service and remote host. */
void login_event(const struct caller *who, const char *event, const char *method, const char *account,
	bool ok, const char *reason);
/* "pending", "suspended", "closed" or NULL for an active account. */
const char *login_inactive_reason(const struct entry *e);

/* ------------------------------------------------------------ rate limits, lockout (common.c, lockout.c) */

/* The per-daemon rate limits of every password door: once per request
 * with account NULL (the caller's bucket), then once the account is known.
 * 0, or -EAGAIN with the fact retry_after. */
int login_rate_take(const struct mm_config *c, const struct caller *who, const char *event,
	const char *account, struct fault *f) MM_WUR;
/* Refuses a password for an account that does not exist with the work,
 * the delay and the answer of a wrong one (-EACCES). */
int login_unknown_refuse(const struct mm_config *c, const char *password, struct fault *f);

/* The attributes login_password_verify reads. */
extern const char *const login_password_attrs[];
/* Verifies a password of the account e (read with login_password_attrs)
 * under the lockout shared with every door and with slapd's ppolicy: the
 * attempt is reserved in the directory before it is evaluated, and given back
 * (the failures forgiven, an expired lock lifted) when the password is right.
 * 0 on success; otherwise f set (-EACCES, -ENOLCK with locked_until), the
 * refusal audited under event. */
int login_password_verify(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *event, const struct entry *e, const char *password, struct fault *f) MM_WUR;

/* The same lockout for any secret of the account: check says whether
 * secret is right for e (login_mail_auth: an app password or a device
 * credential); method names it in the audit. */
typedef bool (*login_secret_check)(const struct entry *e, const char *secret, void *arg);
int login_secret_verify(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *event, const char *method, const struct entry *e, const char *secret,
	login_secret_check check, void *arg, struct fault *f) MM_WUR;

/* The lockout arithmetic, without a directory (lockout.c; unit-tested).
 * The end of the lock an account is under, 0 when none: the daemon's own
 * (mm_until, mmLockedUntil) or ppolicy's (pp_locked_at, pwdAccountLockedTime,
 * for duration; pp_forever: ppolicy's permanent lock). */
long long lockout_until(
	long long now, long long mm_until, long long pp_locked_at, bool pp_forever, unsigned duration);
/* How many failed binds (times, pwdFailureTime) still count: within
 * duration of now and after the last login. */
long long lockout_bind_failures(
	const long long *times, size_t n, long long now, unsigned duration, long long last_login);
/* The ceiling mmFailCount must stay under for one more attempt (threshold
 * minus the binds that count); <= 0: no attempt left. */
long long lockout_attempt_limit(unsigned threshold, long long bind_failures);
/* Does failed attempt n (with the binds that count) reach the threshold? */
bool lockout_reached(unsigned threshold, long long n, long long bind_failures);
/* Code tries carried to a new code sent at now (the last one sent at last):
 * those of a code sent within duration, none otherwise. */
long long lockout_otp_carried(long long now, long long last, long long tries, unsigned duration);

/* Puts lockout_threshold and lockout_duration on slapd's ppolicy entry
 * cn=lockout,ou=policies,<base> (ldap_ppolicy), so that failed simple binds
 * lock the account as failed logins do. */
int login_policy_sync(const struct mm_config *c, struct store *s) MM_WUR;

/* ------------------------------------------------------------ the password step, change (password.c) */

struct login_step {
	char login[LOGIN_NAME_MAX];
	char txn[SECRET_TOKEN_HEX]; /* empty for an offline login */
	unsigned txn_expires_in;
	bool offline; /* the directory is down: checked against the local verifier */
	long long offline_until;
};

/* MM_REQ_AUTH_PASSWORD: the password of user (NULL: the caller's own
 * account). offline_ok: with the directory down and offline_login on, a
 * root caller's login is checked against the local verifier (the socket;
 * never the HTTP API). */
int login_password(struct store *s, const struct mm_config *c, const struct caller *who, const char *user,
	const char *password, bool offline_ok, struct login_step *ret, struct fault *f) MM_WUR;
/* The password step for the account e another service found (read with
 * login_auth_attrs), audited under event: the rate limit of the account,
 * login_password_verify, the account's state, the transaction the code
 * step needs. The ORG registration's proof of its connection account
 * (account/org_register.c) is this login's password step. */
int login_password_step(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *event, const struct entry *e, const char *password, struct login_step *ret,
	struct fault *f) MM_WUR;
/* MM_REQ_PASSWORD_CHANGE; ret_login: the account's login. */
int login_password_change(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *user, const char *old_password, const char *new_password, char ret_login[LOGIN_NAME_MAX],
	struct fault *f) MM_WUR;

/* ------------------------------------------------------------ mail clients (mail.c) */

/* MM_REQ_MAIL_AUTH: user's app password or active device credential,
 * never the account password nor a code; the rate limits, lockout and
 * audit of the password step; read from the directory at each call.
 * ret_login: the account's login; ret_method "app-password" | "device". */
int login_mail_auth(struct store *s, const struct mm_config *c, const struct caller *who, const char *user,
	const char *secret, char ret_login[LOGIN_NAME_MAX], const char **ret_method, struct fault *f) MM_WUR;

/* ------------------------------------------------------------ the code (otp.c) */

struct otp_sent {
	char sent_to[300]; /* the login e-mail, masked */
	unsigned expires_in;
};

/* MM_REQ_OTP_SEND after the password step txn. Refusals carry retry_after
 * and pending (yes: the code sent moments ago is still good). */
int login_otp_send(struct store *s, const struct mm_config *c, const struct caller *who, const char *user,
	const char *txn, struct otp_sent *ret, struct fault *f) MM_WUR;
/* MM_REQ_OTP_VERIFY; then_link: keep the transaction for one card link. */
int login_otp_verify(struct store *s, const struct mm_config *c, const struct caller *who, const char *user,
	const char *txn, const char *code, bool then_link, char ret_login[LOGIN_NAME_MAX],
	struct fault *f) MM_WUR;
/* The same two steps for the account e another service found (read with
 * login_auth_attrs) rather than one the caller names: the code mailed to
 * e's login e-mail, its tries, its lockout and its transaction are the
 * login's. */
int login_otp_send_to(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, const char *txn, struct otp_sent *ret, struct fault *f) MM_WUR;
int login_otp_verify_of(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, const char *txn, const char *code, bool then_link,
	char ret_login[LOGIN_NAME_MAX], struct fault *f) MM_WUR;
/* The transaction of the password step of this account (dn): 0, or f set
 * (-ETIMEDOUT reason transaction, -EACCES). */
int login_txn_check(struct store *s, const struct mm_config *c, const struct caller *who, const char *event,
	const char *txn, const struct entry *e, struct fault *f) MM_WUR;
/* The user (dn, malloc'ed) of a live password-step transaction: -ENOENT,
 * -ETIMEDOUT, or a directory error. */
int login_txn_user(struct store *s, const struct mm_config *c, const char *txn, char **ret_user_dn) MM_WUR;
/* Withdraws a transaction (its code could not be sent). */
void login_txn_drop(struct store *s, const struct mm_config *c, const char *txn);
/* Checks and consumes the txn of a password + one-time code login of the
 * account user_dn completed with then_link: 0, or -ENOENT (unknown,
 * another account's, not completed, already used), -ETIMEDOUT. */
int login_txn_take(struct store *s, const struct mm_config *c, const char *txn, const char *user_dn) MM_WUR;

/* ------------------------------------------------------------ account check, mode (account_check.c) */

struct acct_state {
	char login[LOGIN_NAME_MAX];
	char status[32];
	bool cgu_required;
	bool offline;
};

/* The attributes the password, code and account steps read (the ACCT_CHECK row's). */
extern const char *const login_auth_attrs[];

/* MM_REQ_ACCT_CHECK (PAM's acct_mgmt): may the account e (authorised,
 * read with login_auth_attrs) log in now? e NULL: the directory is down,
 * and the account named user is checked against the offline record
 * (offline_ok, offline_login, root callers). */
int login_acct_check(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, const char *user, bool offline_ok, struct acct_state *ret,
	struct fault *f) MM_WUR;
/* MM_REQ_LOGIN_MODE: *ret_offline when the directory is down and offline login on. */
int login_mode(struct store *s, const struct mm_config *c, const struct caller *who, bool *ret_offline,
	struct fault *f) MM_WUR;
/* The refusal of an inactive account (reason: pending, suspended, closed,
 * org): -EPERM with the facts reason and status. */
int login_refuse_inactive(const struct caller *who, const char *event, const char *method,
	const struct entry *e, const char *reason, struct fault *f);

/* ------------------------------------------------------------ sessions, Changer de compte (login_session.c) */

/* The attributes the session services read on the user (the dispatch rows'). */
extern const char *const login_user_attrs[];

struct login_account {
	char login[LOGIN_NAME_MAX];
	char address[256]; /* MSSanté address, else login e-mail */
	char account_type[16];
};

struct login_session {
	char handle[SECRET_TOKEN_HEX];
	char user[LOGIN_NAME_MAX];
	struct login_account account; /* the account the session acts as */
	bool offline;
};

/* MM_REQ_SESSION_OPEN for the account u (authorised, read with
 * login_user_attrs). u NULL: the directory is down, and an offline session
 * is opened for the account named user (offline_ok, offline_login,
 * administrators). */
int login_session_open(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *u, const char *user, const char *method, bool offline_ok,
	struct login_session *ret, struct fault *f) MM_WUR;
int login_session_close(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *handle, struct fault *f) MM_WUR;
/* MM_REQ_SWITCH: the session acts as target (ret: user and account; no handle). */
int login_switch(struct store *s, const struct mm_config *c, const struct caller *who, const char *handle,
	const char *target, struct login_session *ret, struct fault *f) MM_WUR;

/* The HTTP API's sessions (token records of kind "session"): the same rules
 * as a PAM session. A login opens the session on the default account; an
 * account that has not accepted the CGU gets a session acting as no account
 * (cgu_required: introspected inactive) until login_api_resume after the
 * acceptance; Changer de compte moves it to an ORG of the user's. */
struct login_api_session {
	char token[SECRET_TOKEN_HEX]; /* login_api_session_open only */
	char user[LOGIN_NAME_MAX];
	struct login_account account; /* empty while cgu_required */
	char method[32];
	long long expires_at;
	bool cgu_required;
};

/* The attributes login_api_user reads on a session's user (with mmCguAcceptedAt). */
extern const char *const login_api_user_attrs[];
/* A session for the individual account user_dn that has just logged in by method. */
int login_api_session_open(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *user_dn, const char *method, struct login_api_session *ret, struct fault *f) MM_WUR;
/* The user of the live session token (*ret_user read with
 * login_api_user_attrs): -ENOENT unknown, revoked, expired or malformed. */
int login_api_user(struct store *s, const struct mm_config *c, const struct caller *who, const char *event,
	const char *token, struct entry **ret_user, struct fault *f) MM_WUR;
/* The session token again, once its user has accepted the CGU: a session
 * acting as no account is put on the default account. */
int login_api_resume(struct store *s, const struct mm_config *c, const struct caller *who, const char *token,
	struct login_api_session *ret, struct fault *f) MM_WUR;
/* Changer de compte for a session token, the rule of MM_REQ_SWITCH. */
int login_api_switch(struct store *s, const struct mm_config *c, const struct caller *who, const char *token,
	const char *target, struct login_api_session *ret, struct fault *f) MM_WUR;

/* Browser sessions (http/web.c): API session records whose expiry is the
 * idle deadline (web_idle_timeout, moved forward with use) and whose data
 * keeps the login time for the absolute end (web_absolute_timeout). Read
 * from the directory at every request, never from the cache: a deleted
 * record is refused at once on every daemon. */
struct login_web_session {
	struct login_api_session s; /* s.token: set by open and rotate only */
	char user_dn[512]; /* the person who logged in */
	char account_dn[512]; /* the account the session acts as; empty: CGU to accept */
	long long ends_at; /* the absolute end */
};
/* A browser session for the individual account user_dn that has just logged in. */
int login_web_open(struct store *s, const struct mm_config *c, const struct caller *who, const char *user_dn,
	const char *method, struct login_web_session *ret, struct fault *f) MM_WUR;
/* The live browser session of token (-ENOENT: unknown, deleted, idle or past
 * its end, or an API token); its idle deadline moved forward. */
int login_web_check(struct store *s, const struct mm_config *c, const struct caller *who, const char *token,
	struct login_web_session *ret, struct fault *f) MM_WUR;
/* A new token for the session of token, which is deleted: acting as target
 * (Changer de compte, the rule of MM_REQ_SWITCH), or target NULL: the same
 * account, or the default one when cgu_now (the CGU just accepted). */
int login_web_rotate(struct store *s, const struct mm_config *c, const struct caller *who, const char *token,
	const char *target, bool cgu_now, struct login_web_session *ret, struct fault *f) MM_WUR;
/* Déconnexion: the record deleted (unknown already: 0). */
int login_web_close(struct store *s, const struct mm_config *c, const struct caller *who, const char *token,
	struct fault *f) MM_WUR;

struct login_choice {
	char login[LOGIN_NAME_MAX];
	char type[16];
	char status[16];
	char mss_address[256];
	char login_mail[256];
	bool is_default, self;
};

/* MM_REQ_ACCOUNTS: user (authorised, read with login_user_attrs) and the
 * active ORGs it is a connection account of; *ret malloc'ed (n). */
int login_accounts(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *user, struct login_choice **ret, size_t *ret_n, struct fault *f) MM_WUR;
/* MM_REQ_DEFAULT_SET: ret_default: the login of the new default. */
int login_default_set(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *user, const char *target, char ret_default[LOGIN_NAME_MAX],
	struct fault *f) MM_WUR;

/* ------------------------------------------------------------ identity provider links (links.c) */

/* A provider is named by its short name: "psc" for Pro Santé Connect, the
 * configured oidc_name for the generic one. */
#define LOGIN_LINK_PROVIDER_MAX 32
#define LOGIN_LINKS_MAX 64
struct login_link {
	char provider[LOGIN_LINK_PROVIDER_MAX + 1];
	const char *subject; /* borrowed from the entry */
};
extern const char *const login_psc_attrs[];
/* The PSC subjects linked to account e (read with login_psc_attrs): borrowed from e. */
const struct attr *login_psc_links(const struct entry *e);
/* Every provider's links of e, PSC's first; how many (at most max). */
size_t login_links(const struct entry *e, struct login_link *out, size_t max);
bool login_link_provider_valid(const char *provider);
bool login_link_subject_valid(const char *subject);
/* *ret_filter (malloc'ed): the account holding provider's link to subject.
 * -EINVAL a name or subject that cannot be a link. */
int login_link_filter(const char *provider, const char *subject, char **ret_filter) MM_WUR;
/* 0 when no account but account_dn holds provider's link to subject, -EEXIST
 * when another does. */
int login_link_taken(struct store *s, const struct mm_config *c, const char *provider, const char *subject,
	const char *account_dn) MM_WUR;
/* Links provider's subject to account e (read with login_psc_attrs), whose
 * holder the caller has proven. -EEXIST another account holds it, -EINVAL. */
int login_link_add(struct store *s, const struct mm_config *c, const struct entry *e, const char *provider,
	const char *subject) MM_WUR;
/* Unlinks provider's (NULL: PSC's) subject sub (NULL: every one of that
 * provider) from e; label names the provider in the messages; never
 * another provider's link. *ret_removed: how many. */
int login_psc_unlink(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, const char *provider, const char *label, const char *sub, size_t *ret_removed,
	struct fault *f) MM_WUR;
