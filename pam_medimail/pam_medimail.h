/* Internal interface of pam_medimail between its files; nothing here leaves the module
 * (export.map keeps only pam_sm_*, and these are hidden as well). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define PAM_SM_AUTH
#define PAM_SM_ACCOUNT
#define PAM_SM_SESSION
#define PAM_SM_PASSWORD
#include <security/pam_ext.h>
#include <security/pam_modules.h>

struct mm_msg;

#define DATA_METHOD "pam_medimail_method" /* how pam_sm_authenticate succeeded, for the session */

enum lang { FR, EN };

struct opts {
	bool debug, use_first_pass, try_first_pass, use_authtok;
	bool cps, cps_auto, ecps;
	bool mail; /* a mail client: an app password or device credential, never a code */
	const char *socket;
	int timeout_ms;
	int ecps_timeout; /* seconds */
	enum lang lang;
};

/* Every message the module shows: its text in messages.c (messages[]). */
enum msg {
	M_USER_PROMPT,
	M_PASSWORD_PROMPT,
	M_CODE_PROMPT,
	M_CODE_SENT,
	M_CODE_PENDING,
	M_CODE_WAIT,
	M_CODE_NOT_SENT,
	M_BAD_CREDENTIALS,
	M_LOCKED,
	M_LOCKED_NOW,
	M_RATE,
	M_BAD_CODE,
	M_CODE_EXHAUSTED,
	M_CODE_EXPIRED,
	M_CODE_STALE,
	M_STEP_EXPIRED,
	M_DIR_DOWN,
	M_DAEMON_DOWN,
	M_TOO_LONG,
	M_BAD_USER,
	M_PENDING,
	M_SUSPENDED,
	M_CLOSED,
	M_ORG,
	M_CGU_PROMPT,
	M_CGU_REFUSED,
	M_CGU_RECORDED,
	M_OLD_PW,
	M_NEW_PW,
	M_NEW_PW2,
	M_PW_MISMATCH,
	M_PW_CHANGED,
	M_RULE_MIN,
	M_RULE_MAX,
	M_RULE_UPPER,
	M_RULE_LOWER,
	M_RULE_DIGIT,
	M_RULE_SPECIAL,
	M_RULE_UTF8,
	M_RULE_SAME,
	M_REFUSED,
	M_NOT_PERMITTED,
	M_PASSWORD_PROMPT_OFFLINE,
	M_OFFLINE_OK,
	M_CGU_OFFLINE,
	M_PIN_PROMPT,
	M_PIN_WRONG,
	M_PIN_LOW,
	M_PIN_FINAL,
	M_PIN_LOCKED,
	M_PIN_TRIES,
	M_PIN_FAILURES,
	M_PIN_INVALID,
	M_NO_CARD,
	M_NO_READER,
	M_CARD_READ,
	M_CARD_NO_CERT,
	M_CARD_EXPIRED,
	M_CARD_NOT_YET,
	M_CARD_UNKNOWN_CA,
	M_CARD_REVOKED,
	M_CARD_KEY_USAGE,
	M_CARD_BAD_SIG,
	M_CARD_INVALID,
	M_CARD_MISMATCH,
	M_LINK_NEEDED,
	M_LINKED,
	M_LINK_MISMATCH,
	M_LINK_ELSEWHERE,
	M_LINK_FAILED,
	M_ECPS_CODE,
	M_ECPS_WAIT,
	M_ECPS_DENIED,
	M_ECPS_EXPIRED,
	M_ECPS_TIMEOUT,
	M_ECPS_CANCELLED,
	M_ECPS_DOWN,
	M_COUNT
};

#pragma GCC visibility push(hidden)

/* messages.c: the message table and the daemon status -> PAM code mapping. */
const char *pmm_text(const struct opts *o, enum msg m);
/* Shows a message; fmt comes from the table (or "%s"), never from the daemon. */
int pmm_say(pam_handle_t *pamh, int style, const char *fmt, const char *arg);
void pmm_error(pam_handle_t *pamh, const struct opts *o, enum msg m, const char *arg);
/* Tells the user why the daemon refused; returns the PAM code for the step. */
int pmm_explain(pam_handle_t *pamh, const struct opts *o, const struct mm_msg *rep, int fallback);
/* The daemon was not reached (or the input could not be sent). */
int pmm_unreachable(pam_handle_t *pamh, const struct opts *o, int r, int code);
/* Tells the user why the card was refused; returns the PAM code. */
int pmm_card_refusal(pam_handle_t *pamh, const struct opts *o, const struct mm_msg *rep);
/* The message of a password rule the daemon named (M_REFUSED for another). */
enum msg pmm_rule_msg(const char *rule);

/* options.c */
void pmm_parse_opts(pam_handle_t *pamh, int argc, const char **argv, struct opts *o);

/* client.c: one request to the daemon, and the secrets typed for it. */
int pmm_call(pam_handle_t *pamh, const struct opts *o, uint16_t code, struct mm_msg **ret, ...)
	__attribute__((sentinel));
void pmm_wipe_free(char *s);
bool pmm_have_item(pam_handle_t *pamh, int item);
int pmm_get_secret(
	pam_handle_t *pamh, const struct opts *o, int item, enum msg prompt, bool first_pass, char **ret);

/* user.c: the PAM user, and whether the host rather than Medimail owns it. */
bool pmm_host_user(const char *user);
int pmm_stand_aside(pam_handle_t *pamh, const struct opts *o);
bool pmm_user_name_ok(const char *user);
bool pmm_host_user_item(pam_handle_t *pamh);
int pmm_get_user(pam_handle_t *pamh, const struct opts *o, const char **ret);

#pragma GCC visibility pop
