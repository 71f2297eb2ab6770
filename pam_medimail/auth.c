/* pam_medimail authentication: password + e-mailed code, CPS card, e-CPS (pam_sm_authenticate, pam_sm_setcred). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "pam_medimail.h"
#include "wire.h"

#define CODE_ROUNDS_MAX 20 /* the daemon counts the tries; this only bounds the loop */
#define ECPS_INTERVAL_MAX 60

/* ------------------------------------------------------------ auth */

/* then_link: keep the finished transaction for one MM_REQ_CARD_LINK. */
static int code_step(
	pam_handle_t *pamh, const struct opts *o, const char *user, const char *txn, bool then_link)
{
	struct mm_msg *rep = NULL;
	int r, rc = PAM_AUTH_ERR;

	r = pmm_call(pamh, o, MM_REQ_OTP_SEND, &rep, "user", user, "txn", txn, NULL);
	if (r < 0)
		return pmm_unreachable(pamh, o, r, PAM_AUTHINFO_UNAVAIL);
	if (rep->status == 0) {
		pmm_say(pamh, PAM_TEXT_INFO, pmm_text(o, M_CODE_SENT), mm_msg_get(rep, "sent_to") ?: "?");
	} else if (rep->status == -EAGAIN && mm_msg_get(rep, "pending")) {
		bool pending = !strcmp(mm_msg_get(rep, "pending"), "yes");

		pmm_say(pamh, pending ? PAM_TEXT_INFO : PAM_ERROR_MSG,
			pmm_text(o, pending ? M_CODE_PENDING : M_CODE_WAIT),
			mm_msg_get(rep, "retry_after") ?: "?");
		if (!pending)
			goto out;
	} else if (rep->status == -ECOMM) {
		pmm_error(pamh, o, M_CODE_NOT_SENT, NULL);
		rc = PAM_AUTHINFO_UNAVAIL;
		goto out;
	} else {
		rc = pmm_explain(pamh, o, rep, PAM_AUTH_ERR);
		goto out;
	}
	for (int round = 0; round < CODE_ROUNDS_MAX; round++) {
		char *code = NULL;

		mm_msg_free(rep);
		rep = NULL;
		if (pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &code, "%s", pmm_text(o, M_CODE_PROMPT)) !=
				PAM_SUCCESS ||
			!code) {
			pmm_wipe_free(code);
			rc = PAM_CONV_ERR;
			goto out;
		}
		if (!*code) { /* an empty answer: the user gave up */
			pmm_wipe_free(code);
			rc = PAM_AUTH_ERR;
			goto out;
		}
		r = pmm_call(pamh, o, MM_REQ_OTP_VERIFY, &rep, "user", user, "txn", txn, "code", code, "then",
			then_link ? "card_link" : NULL, NULL);
		pmm_wipe_free(code);
		if (r < 0) {
			rc = pmm_unreachable(pamh, o, r, PAM_AUTHINFO_UNAVAIL);
			goto out;
		}
		if (rep->status == 0) {
			rc = PAM_SUCCESS;
			goto out;
		}
		if (rep->status == -EACCES && mm_msg_get(rep, "tries_left")) {
			pmm_error(pamh, o, M_BAD_CODE, mm_msg_get(rep, "tries_left"));
			continue;
		}
		if (rep->status == -ESTALE)
			pmm_error(pamh, o, mm_msg_get(rep, "tries_left") ? M_CODE_EXHAUSTED : M_CODE_STALE,
				NULL);
		else if (rep->status == -ETIMEDOUT)
			pmm_error(pamh, o, mm_msg_get(rep, "reason") ? M_STEP_EXPIRED : M_CODE_EXPIRED, NULL);
		else {
			rc = pmm_explain(pamh, o, rep, PAM_AUTH_ERR);
			goto out;
		}
		rc = PAM_AUTH_ERR;
		goto out;
	}
out:
	mm_msg_free(rep);
	return rc;
}

/* Password, then the e-mailed code. On success *ret_login is the account's
 * login and, with then_link, *ret_txn the finished transaction (NULL after
 * an offline login, which has none). */
static int password_login(pam_handle_t *pamh, const struct opts *o, const char *user, bool then_link,
	char **ret_login, char **ret_txn)
{
	struct mm_msg *rep = NULL;
	char *password = NULL, *txn = NULL, *login = NULL;
	bool prompted, offline;
	int r, rc;

	*ret_login = NULL;
	*ret_txn = NULL;
	/* Online or offline: said in the prompt, before the password is typed. */
	r = pmm_call(pamh, o, MM_REQ_LOGIN_MODE, &rep, NULL);
	if (r < 0)
		return pmm_unreachable(pamh, o, r, PAM_AUTHINFO_UNAVAIL);
	if (rep->status < 0) {
		rc = pmm_explain(pamh, o, rep, PAM_AUTHINFO_UNAVAIL);
		mm_msg_free(rep);
		return rc;
	}
	offline = !strcmp(mm_msg_get(rep, "mode") ?: "", "offline");
	mm_msg_free(rep);
	rep = NULL;
	prompted = !((o->use_first_pass || o->try_first_pass) && pmm_have_item(pamh, PAM_AUTHTOK));
	if ((rc = pmm_get_secret(pamh, o, PAM_AUTHTOK,
		     offline ? M_PASSWORD_PROMPT_OFFLINE : M_PASSWORD_PROMPT, true, &password)) !=
		PAM_SUCCESS)
		return rc;
	if (strlen(password) > MM_VALUE_MAX) {
		/* Refused here: the wire carries at most MM_VALUE_MAX bytes a value. */
		pmm_error(pamh, o, M_TOO_LONG, NULL);
		rc = PAM_AUTH_ERR;
		goto out;
	}
	r = pmm_call(pamh, o, MM_REQ_AUTH_PASSWORD, &rep, "user", user, "password", password, NULL);
	if (r < 0) {
		rc = pmm_unreachable(pamh, o, r, PAM_AUTHINFO_UNAVAIL);
		goto out;
	}
	if (rep->status < 0) {
		rc = pmm_explain(pamh, o, rep, PAM_AUTH_ERR);
		if (rc == PAM_USER_UNKNOWN && rep->status == -ENOENT)
			rc = PAM_AUTH_ERR;
		goto out;
	}
	if (!strcmp(mm_msg_get(rep, "offline") ?: "no", "yes") && mm_msg_get(rep, "login")) {
		const char *until = mm_msg_get(rep, "offline_until");
		time_t t = until ? (time_t)strtoll(until, NULL, 10) : 0;
		char when[40] = "?";
		struct tm tm;

		if (t > 0 && localtime_r(&t, &tm))
			strftime(when, sizeof(when), "%d/%m/%Y %H:%M", &tm);
		pmm_say(pamh, PAM_TEXT_INFO, pmm_text(o, M_OFFLINE_OK), when);
		if (prompted)
			(void)pam_set_item(pamh, PAM_AUTHTOK, password);
		*ret_login = strdup(mm_msg_get(rep, "login"));
		rc = *ret_login ? PAM_SUCCESS : PAM_BUF_ERR;
		goto out;
	}
	if (!mm_msg_get(rep, "txn") || !mm_msg_get(rep, "login")) {
		pam_syslog(pamh, LOG_ERR, "medimail-authd: reply without transaction");
		rc = PAM_AUTH_ERR;
		goto out;
	}
	txn = strdup(mm_msg_get(rep, "txn"));
	login = strdup(mm_msg_get(rep, "login"));
	if (!txn || !login) {
		rc = PAM_BUF_ERR;
		goto out;
	}
	rc = code_step(pamh, o, login, txn, then_link);
	if (rc == PAM_SUCCESS) {
		/* Only a complete login hands the password on to the modules below. */
		if (prompted)
			(void)pam_set_item(pamh, PAM_AUTHTOK, password);
		*ret_login = login;
		login = NULL;
		if (then_link) {
			*ret_txn = txn;
			txn = NULL;
		}
	}
out:
	mm_msg_free(rep);
	pmm_wipe_free(password);
	pmm_wipe_free(txn);
	free(login);
	return rc;
}

static void cleanup_method(pam_handle_t *pamh, void *data, int error_status)
{
	free(data);
}

/* The login the daemon answered becomes the user; the method goes to the session. */
static int auth_done(
	pam_handle_t *pamh, const struct opts *o, const char *user, const char *login, const char *method)
{
	char *m;
	int rc;

	/* The daemon answered another name than the one typed (the login
	 * e-mail, another case): were that name the host's, the Medimail
	 * password would open the host account's session. */
	if (login && strcmp(user, login) && (!pmm_user_name_ok(login) || pmm_host_user(login))) {
		pam_syslog(pamh, LOG_WARNING, "Medimail account %s is also a user of this host: refused",
			pmm_user_name_ok(login) ? login : "(invalid)");
		pmm_error(pamh, o, M_BAD_USER, NULL);
		return PAM_AUTH_ERR;
	}
	m = strdup(method);
	if (!m)
		return PAM_BUF_ERR;
	if ((rc = pam_set_data(pamh, DATA_METHOD, m, cleanup_method)) != PAM_SUCCESS) {
		free(m);
		return rc;
	}
	/* The login e-mail was accepted as the user: the rest of the stack gets the login. */
	if (login && strcmp(user, login))
		rc = pam_set_item(pamh, PAM_USER, login);
	if (o->debug)
		pam_syslog(pamh, LOG_DEBUG, "authentication of %s by %s: %s", login ? login : user, method,
			pam_strerror(pamh, rc));
	return rc;
}

/* A card that maps to no account: one password + code login of the PAM
 * user, then the daemon links the card proved a moment ago (the ticket). */
static int card_link_flow(pam_handle_t *pamh, const struct opts *o, const char *user, const char *ticket)
{
	struct mm_msg *rep = NULL;
	char *login = NULL, *txn = NULL;
	int r, rc;

	pmm_say(pamh, PAM_TEXT_INFO, pmm_text(o, M_LINK_NEEDED), user);
	rc = password_login(pamh, o, user, true, &login, &txn);
	if (rc != PAM_SUCCESS)
		goto out;
	if (!txn) { /* offline: no transaction to link with, the login stands */
		pmm_error(pamh, o, M_LINK_FAILED, "offline");
		rc = auth_done(pamh, o, user, login, "password");
		goto out;
	}
	r = pmm_call(
		pamh, o, MM_REQ_CARD_LINK, &rep, "login", login, "txn", txn, "link_ticket", ticket, NULL);
	if (r < 0)
		(void)pmm_unreachable(pamh, o, r, PAM_AUTHINFO_UNAVAIL);
	else if (rep->status == 0)
		pmm_say(pamh, PAM_TEXT_INFO, pmm_text(o, M_LINKED), login);
	else {
		const char *reason = mm_msg_get(rep, "reason") ?: "";

		if (!strcmp(reason, "card_mismatch"))
			pmm_error(pamh, o, M_LINK_MISMATCH, NULL);
		else if (!strcmp(reason, "linked_elsewhere"))
			pmm_error(pamh, o, M_LINK_ELSEWHERE, NULL);
		else
			pmm_error(pamh, o, M_LINK_FAILED, *reason ? reason : rep->message);
	}
	/* Linked or not, the password and the e-mailed code made a full login. */
	rc = auth_done(pamh, o, user, login, "password+otp");
out:
	mm_msg_free(rep);
	pmm_wipe_free(txn);
	free(login);
	return rc;
}

static int card_login(pam_handle_t *pamh, const struct opts *o, const char *user)
{
	struct mm_msg *rep = NULL;
	char *pin = NULL, *ticket = NULL;
	int r, rc;

	if (pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &pin, "%s", pmm_text(o, M_PIN_PROMPT)) != PAM_SUCCESS ||
		!pin) {
		pmm_wipe_free(pin);
		return PAM_CONV_ERR;
	}
	if (!*pin) { /* an empty answer: the user gave up */
		pmm_wipe_free(pin);
		return PAM_AUTH_ERR;
	}
	r = pmm_call(pamh, o, MM_REQ_CARD_AUTH, &rep, "pin", pin, "user", user, NULL);
	pmm_wipe_free(pin); /* the PIN served once: nothing keeps it */
	if (r < 0)
		return pmm_unreachable(pamh, o, r, PAM_AUTHINFO_UNAVAIL);
	if (rep->status == 0) {
		rc = mm_msg_get(rep, "login") ? auth_done(pamh, o, user, mm_msg_get(rep, "login"), "cps")
					      : PAM_AUTH_ERR;
		/* Someone else may have tried: the owner is told at once. */
		if (rc == PAM_SUCCESS && mm_msg_get(rep, "pin_failures") &&
			strspn(mm_msg_get(rep, "pin_failures"), "0123456789") ==
				strlen(mm_msg_get(rep, "pin_failures")))
			pmm_say(pamh, PAM_TEXT_INFO, pmm_text(o, M_PIN_FAILURES),
				mm_msg_get(rep, "pin_failures"));
		goto out;
	}
	if (rep->status == -ENOENT && !strcmp(mm_msg_get(rep, "reason") ?: "", "link_required") &&
		mm_msg_get(rep, "link_ticket")) {
		if (!(ticket = strdup(mm_msg_get(rep, "link_ticket")))) {
			rc = PAM_BUF_ERR;
			goto out;
		}
		mm_msg_free(rep);
		rep = NULL;
		rc = card_link_flow(pamh, o, user, ticket);
		goto out;
	}
	rc = pmm_card_refusal(pamh, o, rep);
out:
	mm_msg_free(rep);
	pmm_wipe_free(ticket);
	return rc;
}

/* cps: always the card; cps_auto: the card when the daemon sees one. */
static bool card_wanted(pam_handle_t *pamh, const struct opts *o)
{
	struct mm_msg *rep = NULL;
	bool present;

	if (o->cps)
		return true;
	if (!o->cps_auto)
		return false;
	if (pmm_call(pamh, o, MM_REQ_CARD_PRESENT, &rep, NULL) < 0)
		return false;
	present = rep->status == 0 && !strcmp(mm_msg_get(rep, "present") ?: "", "yes");
	if (o->debug)
		pam_syslog(pamh, LOG_DEBUG, "card present: %s (%s)", present ? "yes" : "no",
			mm_msg_get(rep, "reason") ?: "-");
	mm_msg_free(rep);
	return present;
}

/* ------------------------------------------------------------ e-CPS */

/* Sleeps ms; false when a signal (Ctrl-C) cut the wait short. */
static bool wait_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	return clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL) == 0;
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The wait ended here (Ctrl-C, timeout): the daemon forgets the request, so that
 * the phone approving it afterwards opens nothing. Best effort: it expires anyway. */
static void ecps_cancel(pam_handle_t *pamh, const struct opts *o, const char *rid)
{
	struct mm_msg *rep = NULL;

	if (pmm_call(pamh, o, MM_REQ_ECPS_CANCEL, &rep, "request_id", rid, NULL) == 0)
		mm_msg_free(rep);
}

static int ecps_login(pam_handle_t *pamh, const struct opts *o, const char *user)
{
	struct mm_msg *rep = NULL;
	char *rid = NULL, limit[16];
	const char *code, *iv;
	long interval;
	long long deadline;
	int r, rc;

	r = pmm_call(pamh, o, MM_REQ_ECPS_START, &rep, "login", user, NULL);
	if (r < 0)
		return pmm_unreachable(pamh, o, r, PAM_AUTHINFO_UNAVAIL);
	if (rep->status < 0) {
		if (rep->status == -ECOMM || rep->status == -ENOSYS) {
			pmm_error(pamh, o, M_ECPS_DOWN, NULL);
			rc = PAM_AUTHINFO_UNAVAIL;
		} else {
			rc = pmm_explain(pamh, o, rep, PAM_AUTH_ERR);
			if (rc == PAM_USER_UNKNOWN)
				rc = PAM_AUTH_ERR;
		}
		goto out;
	}
	code = mm_msg_get(rep, "binding_message");
	iv = mm_msg_get(rep, "interval");
	interval = iv ? strtol(iv, NULL, 10) : 5;
	if (interval < 1 || interval > ECPS_INTERVAL_MAX)
		interval = 5;
	if (!code || !mm_msg_get(rep, "request_id") || !(rid = strdup(mm_msg_get(rep, "request_id")))) {
		pam_syslog(pamh, LOG_ERR, "medimail-authd: e-CPS reply without request_id or code");
		rc = PAM_AUTH_ERR;
		goto out;
	}
	/* The code must reach the user; a conversation that refuses it cancels. */
	if (pmm_say(pamh, PAM_TEXT_INFO, pmm_text(o, M_ECPS_CODE), code) != PAM_SUCCESS) {
		ecps_cancel(pamh, o, rid);
		rc = PAM_ABORT;
		goto out;
	}
	snprintf(limit, sizeof(limit), "%d", o->ecps_timeout);
	if (pmm_say(pamh, PAM_TEXT_INFO, pmm_text(o, M_ECPS_WAIT), limit) != PAM_SUCCESS) {
		ecps_cancel(pamh, o, rid);
		rc = PAM_ABORT;
		goto out;
	}
	deadline = mono_ms() + (long long)o->ecps_timeout * 1000;
	for (;;) {
		long long left = deadline - mono_ms();
		const char *st;

		mm_msg_free(rep);
		rep = NULL;
		if (left <= 0) {
			pmm_error(pamh, o, M_ECPS_TIMEOUT, NULL);
			ecps_cancel(pamh, o, rid);
			rc = PAM_AUTH_ERR;
			break;
		}
		if (!wait_ms(left < interval * 1000 ? (long)left : interval * 1000)) {
			pmm_error(pamh, o, M_ECPS_CANCELLED, NULL);
			ecps_cancel(pamh, o, rid);
			rc = PAM_ABORT;
			break;
		}
		r = pmm_call(pamh, o, MM_REQ_ECPS_POLL, &rep, "request_id", rid, "session", "none", NULL);
		if (r < 0) {
			rc = pmm_unreachable(pamh, o, r, PAM_AUTHINFO_UNAVAIL);
			break;
		}
		st = mm_msg_get(rep, "status") ?: "";
		if (rep->status == 0 && !strcmp(st, "authenticated") && mm_msg_get(rep, "account")) {
			rc = auth_done(pamh, o, user, mm_msg_get(rep, "account"), "ecps");
			break;
		}
		if (rep->status == 0 && (!strcmp(st, "pending") || !strcmp(st, "slow_down"))) {
			if (!strcmp(st, "slow_down") && interval + 5 <= ECPS_INTERVAL_MAX)
				interval += 5;
			continue;
		}
		if (rep->status == -EACCES && !strcmp(st, "denied"))
			pmm_error(pamh, o, M_ECPS_DENIED, NULL);
		else if (rep->status == -ETIMEDOUT)
			pmm_error(pamh, o, M_ECPS_EXPIRED, NULL);
		else {
			rc = pmm_explain(pamh, o, rep, PAM_AUTH_ERR);
			break;
		}
		rc = PAM_AUTH_ERR;
		break;
	}
out:
	mm_msg_free(rep);
	pmm_wipe_free(rid);
	return rc;
}

/* ------------------------------------------------------------ auth entry point */

/* The mail mode: the secret a mail client was given (an app password or
 * a device credential), one MM_REQ_MAIL_AUTH, never a code, never a card. */
static int mail_login(pam_handle_t *pamh, const struct opts *o, const char *user)
{
	struct mm_msg *rep = NULL;
	char *secret = NULL, *login = NULL;
	int r, rc;

	if ((rc = pmm_get_secret(pamh, o, PAM_AUTHTOK, M_PASSWORD_PROMPT, true, &secret)) != PAM_SUCCESS)
		return rc;
	if (strlen(secret) > MM_VALUE_MAX) {
		pmm_error(pamh, o, M_TOO_LONG, NULL);
		rc = PAM_AUTH_ERR;
		goto out;
	}
	r = pmm_call(pamh, o, MM_REQ_MAIL_AUTH, &rep, "user", user, "secret", secret, NULL);
	if (r < 0) {
		rc = pmm_unreachable(pamh, o, r, PAM_AUTHINFO_UNAVAIL);
		goto out;
	}
	if (rep->status < 0) {
		rc = pmm_explain(pamh, o, rep, PAM_AUTH_ERR);
		if (rc == PAM_USER_UNKNOWN && rep->status == -ENOENT)
			rc = PAM_AUTH_ERR;
		goto out;
	}
	if (!mm_msg_get(rep, "login") || !(login = strdup(mm_msg_get(rep, "login")))) {
		rc = mm_msg_get(rep, "login") ? PAM_BUF_ERR : PAM_AUTH_ERR;
		goto out;
	}
	rc = auth_done(pamh, o, user, login,
		!strcmp(mm_msg_get(rep, "method") ?: "", "device") ? "device" : "app-password");
out:
	free(login);
	mm_msg_free(rep);
	pmm_wipe_free(secret);
	return rc;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	const char *user = NULL;
	char *login = NULL, *txn = NULL;
	int rc;

	pmm_parse_opts(pamh, argc, argv, &o);
	if ((rc = pmm_get_user(pamh, &o, &user)) != PAM_SUCCESS)
		return rc;
	if (o.mail)
		return mail_login(pamh, &o, user);
	if (card_wanted(pamh, &o))
		return card_login(pamh, &o, user);
	if (o.ecps)
		return ecps_login(pamh, &o, user);
	rc = password_login(pamh, &o, user, false, &login, &txn);
	if (rc == PAM_SUCCESS)
		rc = auth_done(pamh, &o, user, login, "password+otp");
	pmm_wipe_free(txn);
	free(login);
	return rc;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;

	pmm_parse_opts(pamh, argc, argv, &o);
	if (pmm_host_user_item(pamh))
		return pmm_stand_aside(pamh, &o);
	return PAM_SUCCESS;
}
