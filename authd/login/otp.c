/* The one-time code of a login: sent by e-mail after the password step, verified once, with its tries counted on the account. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "login_int.h"
#include "mail.h"
#include "offline.h"

#define OTP_DIGITS 6
#define CODE_MAX 16
/* mmSessionMethod of a pam-txn: password step done; whole login done (kept for a card link). */
#define TXN_OPEN "password"
#define TXN_DONE "password+otp"
#define TXN_LINK_TTL 120
#define OTP_CLOCK_SLACK 60 /* seconds of clock drift between two daemons */

/* A login handle: 64 lowercase hex, anything else is unknown. */
static bool handle_valid(const char *h)
{
	size_t n = h ? strlen(h) : 0;

	return n == SECRET_TOKEN_HEX - 1 && strspn(h, "0123456789abcdef") == n;
}

static int txn_load(struct store *s, const struct mm_config *c, const char *txn, struct entry **ret)
{
	*ret = NULL;
	if (!handle_valid(txn))
		return -ENOENT;
	return record_load(s, c, RECORD_TXN, txn, ret);
}

int login_txn_check(struct store *s, const struct mm_config *c, const struct caller *who, const char *event,
	const char *txn, const struct entry *e, struct fault *f)
{
	struct entry *t = NULL;
	int rc = txn_load(s, c, txn, &t);

	/* A completed login (kept for a card link) is no password step any more. */
	if (rc == 0 &&
		(strcasecmp(entry_get(t, "mmSessionUser") ?: "", e->dn) ||
			strcmp(entry_get(t, "mmSessionMethod") ?: "", TXN_OPEN)))
		rc = -ENOENT;
	entry_free(t);
	if (rc == 0)
		return 0;
	if (rc == -ETIMEDOUT) {
		login_event(who, event, "otp", entry_get(e, "uid"), false, "password step expired");
		fault_put(f, "reason", "transaction");
		return fault_set(f, -ETIMEDOUT, "délai dépassé : recommencez la connexion");
	}
	if (rc == -ENOENT) {
		login_event(who, event, "otp", entry_get(e, "uid"), false, "no password step");
		return fault_set(
			f, -EACCES, "le mot de passe doit être vérifié avant le code à usage unique");
	}
	return fault_store(f, rc, "code à usage unique");
}

int login_txn_user(struct store *s, const struct mm_config *c, const char *txn, char **ret_user_dn)
{
	struct entry *t = NULL;
	int rc = txn_load(s, c, txn, &t);

	*ret_user_dn = NULL;
	if (rc < 0)
		return rc;
	if (!entry_get(t, "mmSessionUser"))
		rc = -ENOENT;
	else if (!(*ret_user_dn = strdup(entry_get(t, "mmSessionUser"))))
		rc = -ENOMEM;
	entry_free(t);
	return rc;
}

void login_txn_drop(struct store *s, const struct mm_config *c, const char *txn)
{
	struct entry *t = NULL;

	if (txn_load(s, c, txn, &t) == 0 && record_delete(s, t) < 0)
		log_msg(LOG_DEBUG, "transaction not withdrawn");
	entry_free(t);
}

int login_txn_take(struct store *s, const struct mm_config *c, const char *txn, const char *user_dn)
{
	struct entry *t = NULL;
	int rc = txn_load(s, c, txn, &t);

	if (rc < 0)
		return rc;
	if (strcasecmp(entry_get(t, "mmSessionUser") ?: "", user_dn) ||
		strcmp(entry_get(t, "mmSessionMethod") ?: "", TXN_DONE))
		rc = -ENOENT;
	else
		rc = record_delete(s, t); /* the delete is the single-use gate */
	entry_free(t);
	return rc;
}

/* "i***@example.org": enough for the user to recognise the address. */
static void mask_address(const char *mail, char *out, size_t outsz)
{
	const char *at = mail ? strchr(mail, '@') : NULL;

	if (!at || at == mail)
		snprintf(out, outsz, "***");
	else
		snprintf(out, outsz, "%c***%s", mail[0], at);
}

static int otp_discard(struct store *s, const struct entry *e, const char *hash)
{
	struct mods m;
	int rc;

	mods_init(&m);
	mods_add(&m, LDAP_MOD_DELETE, "mmOtpHash", hash);
	rc = store_modify(s, e->dn, &m);
	mods_free(&m);
	return rc;
}

/* May the code step go on for the account e: its rate limit, its
 * transaction, its state. */
static int code_entry_check(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *event, const char *txn, const struct entry *e, struct fault *f)
{
	const char *reason;
	int rc;

	if ((rc = login_rate_take(c, who, event, entry_get(e, "uid"), f)) < 0 ||
		(rc = login_txn_check(s, c, who, event, txn, e, f)) < 0)
		return rc;
	if ((reason = login_inactive_reason(e)))
		return login_refuse_inactive(who, event, "otp", e, reason, f);
	return 0;
}

/* The account of a code step, after the rate limits and its transaction. */
static int code_account(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *event, const char *user, const char *txn, struct entry **ret, struct fault *f)
{
	struct entry *e = NULL;
	int rc;

	*ret = NULL;
	if ((rc = login_rate_take(c, who, event, NULL, f)) < 0)
		return rc;
	if ((rc = login_find(s, c, who, event, user, login_auth_attrs, &e, f)) < 0)
		return rc;
	if ((rc = code_entry_check(s, c, who, event, txn, e, f)) < 0) {
		entry_free(e);
		return rc;
	}
	*ret = e;
	return 0;
}

/* ------------------------------------------------------------ MM_REQ_OTP_SEND */

/* Too soon after the last code: -EAGAIN with retry_after and pending. */
static int resend_throttled(const struct mm_config *c, const struct caller *who, const struct entry *e,
	long long t, long long last, struct fault *f)
{
	const char *tries = entry_get(e, "mmOtpTries");
	bool pending = entry_get(e, "mmOtpHash") && store_parse_time(entry_get(e, "mmOtpExpires")) > t &&
		(!tries || atoll(tries) < (long long)c->otp_max_tries);
	long long wait = (long long)c->otp_resend_interval - (t - last);

	fault_putf(f, "retry_after", "%lld", wait);
	fault_put(f, "pending", pending ? "yes" : "no");
	login_event(who, "otp-send", "otp", entry_get(e, "uid"), false, "resend throttled");
	if (pending)
		return fault_set(f, -EAGAIN, "un code vous a été envoyé il y a moins de %u s : utilisez-le",
			c->otp_resend_interval);
	return fault_set(f, -EAGAIN, "un nouveau code pourra être envoyé dans %lld s", wait);
}

/* Sends a code to the account e, whose code step may go on. */
static int code_send(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, struct otp_sent *ret, struct fault *f)
{
	char code[OTP_DIGITS + 1], hash[SECRET_HASH_HEX], ctx[600], expires[16], sent[16], tries_s[24];
	char *body = NULL;
	long long t = login_now(), last, carried;
	struct mods m;
	int rc;

	code[0] = hash[0] = '\0';
	last = store_parse_time(entry_get(e, "mmOtpSentAt"));
	/* The tries are the account's, not the code's: a new code within
	 * lockout_duration of the last one keeps the wrong tries made so far
	 * (a successful login clears them), else whoever has the password
	 * would get otp_max_tries again at each resend, without end. */
	carried = lockout_otp_carried(t, last,
		entry_get(e, "mmOtpTries") ? atoll(entry_get(e, "mmOtpTries")) : 0, c->lockout_duration);
	if (carried >= (long long)c->otp_max_tries) {
		long long wait = last + (long long)c->lockout_duration - t;

		fault_putf(f, "locked_until", "%lld", last + (long long)c->lockout_duration);
		fault_putf(f, "retry_after", "%lld", wait);
		login_event(who, "otp-send", "otp", entry_get(e, "uid"), false, "code tries spent");
		rc = fault_set(f, -ENOLCK,
			"trop de codes faux : un nouveau code pourra être envoyé dans %lld s", wait);
		goto out;
	}
	/* after the lock: an account whose tries are spent is told so, not to wait for a resend */
	if (last > 0 && t >= last && t - last < (long long)c->otp_resend_interval) {
		rc = resend_throttled(c, who, e, t, last, f);
		goto out;
	}
	snprintf(tries_s, sizeof(tries_s), "%lld", carried);
	secret_code(code, sizeof(code), OTP_DIGITS);
	snprintf(ctx, sizeof(ctx), "otp:%s", e->dn);
	if ((rc = secret_keyed_hash(ctx, code, hash)) < 0)
		goto out;
	store_time(t + c->otp_ttl, expires);
	store_time(t, sent);
	mods_init(&m);
	mods_add(&m, LDAP_MOD_REPLACE, "mmOtpHash", hash);
	mods_add(&m, LDAP_MOD_REPLACE, "mmOtpExpires", expires);
	mods_add(&m, LDAP_MOD_REPLACE, "mmOtpTries", tries_s);
	mods_add(&m, LDAP_MOD_REPLACE, "mmOtpSentAt", sent);
	rc = store_modify(s, e->dn, &m);
	mods_free(&m);
	if (rc < 0) {
		login_event(who, "otp-send", "otp", entry_get(e, "uid"), false, "directory error");
		rc = fault_store(f, rc, "code à usage unique");
		goto out;
	}
	if (asprintf(&body,
		    "Bonjour,\n\nVous avez demandé un code à usage unique pour accéder à votre compte "
		    "Medimail %s.\n"
		    "Il est valable %u minutes et ne sert qu'une seule fois.\n\n"
		    "Ce code est le : %s\n\n"
		    "Si vous n'êtes pas à l'origine de cette connexion, changez votre mot de passe "
		    "et prévenez le centre de services.",
		    entry_get(e, "uid"), (c->otp_ttl + 59) / 60, code) < 0) {
		body = NULL;
		rc = -ENOMEM;
		goto out;
	}
	rc = mail_send(c, MAIL_CODE, entry_get(e, "mmLoginMail"), c->otp_subject, body);
	if (rc < 0) {
		/* Nothing was delivered: withdraw the code and do not throttle a retry. */
		mods_init(&m);
		mods_add(&m, LDAP_MOD_DELETE, "mmOtpHash", hash);
		mods_add(&m, LDAP_MOD_DELETE, "mmOtpSentAt", NULL);
		if (store_modify(s, e->dn, &m) < 0)
			log_msg(LOG_WARNING, "%s: unsent code not withdrawn", entry_get(e, "uid"));
		mods_free(&m);
		login_event(who, "otp-send", "otp", entry_get(e, "uid"), false, "mail not sent");
		rc = fault_set(f, -ECOMM, "le code n'a pas pu être envoyé par e-mail, réessayez plus tard");
		goto out;
	}
	mask_address(entry_get(e, "mmLoginMail"), ret->sent_to, sizeof(ret->sent_to));
	ret->expires_in = c->otp_ttl;
	login_event(who, "otp-send", "otp", entry_get(e, "uid"), true, "code sent");
	rc = 0;
out:
	secret_wipe(code, sizeof(code));
	secret_wipe(hash, sizeof(hash));
	secret_free(body);
	return rc;
}

int login_otp_send(struct store *s, const struct mm_config *c, const struct caller *who, const char *user,
	const char *txn, struct otp_sent *ret, struct fault *f)
{
	struct entry *e = NULL;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if ((rc = code_account(s, c, who, "otp-send", user, txn, &e, f)) < 0)
		return rc;
	rc = code_send(s, c, who, e, ret, f);
	entry_free(e);
	return rc;
}

int login_otp_send_to(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, const char *txn, struct otp_sent *ret, struct fault *f)
{
	int rc;

	memset(ret, 0, sizeof(*ret));
	if ((rc = login_rate_take(c, who, "otp-send", NULL, f)) < 0 ||
		(rc = code_entry_check(s, c, who, "otp-send", txn, e, f)) < 0)
		return rc;
	return code_send(s, c, who, e, ret, f);
}

/* ------------------------------------------------------------ MM_REQ_OTP_VERIFY */

/* Reserve the try before the comparison, in one operation that also
 * asserts the code is still the one read: of N parallel guesses at most
 * otp_max_tries are compared, whichever daemon of this provider they
 * reach (the code may not have replicated to ldap_lockout_uri yet). */
static int try_reserve(struct store *s, const struct mm_config *c, const struct entry *e, const char *stored,
	long long *ret_tries)
{
	char *esc = store_escape(stored), *filter = NULL;
	int rc;

	if (!esc || asprintf(&filter, "(&(mmOtpHash=%s)(!(mmOtpTries>=%u)))", esc, c->otp_max_tries) < 0)
		filter = NULL;
	free(esc);
	rc = filter ? store_reserve(s, e->dn, "mmOtpTries", filter, ret_tries) : -ENOMEM;
	free(filter);
	return rc;
}

/* The right code: single use, the login recorded. */
static int code_right(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, const char *stored, const char *txn, bool then_link, struct fault *f)
{
	struct entry *t = NULL;
	char stamp[16];
	struct mods m;
	int rc;

	/* Deleting the exact value is the single-use gate: of two daemons
	 * verifying the same code, one gets -ESTALE. */
	rc = otp_discard(s, e, stored);
	if (rc == -ESTALE) {
		login_event(who, "otp-verify", "otp", entry_get(e, "uid"), false, "code already used");
		return fault_set(f, -ESTALE, "code déjà utilisé : un nouveau code est nécessaire");
	}
	if (rc < 0)
		return fault_store(f, rc, "code à usage unique");
	/* Kept a little while for one card link, else gone. */
	if (txn_load(s, c, txn, &t) == 0 &&
		(!then_link || record_update(s, t, TXN_DONE, login_now() + TXN_LINK_TTL) < 0) &&
		record_delete(s, t) < 0)
		log_msg(LOG_DEBUG, "%s: transaction not deleted", entry_get(e, "uid"));
	entry_free(t);
	store_time(login_now(), stamp);
	mods_init(&m);
	mods_add(&m, LDAP_MOD_REPLACE, "mmLastLogin", stamp);
	mods_add(&m, LDAP_MOD_REPLACE, "mmOtpTries", "0"); /* the next code starts afresh */
	if (store_modify(s, e->dn, &m) < 0)
		log_msg(LOG_WARNING, "%s: last login time not recorded", entry_get(e, "uid"));
	mods_free(&m);
	if (offline_store(c, e) < 0)
		log_msg(LOG_WARNING, "%s: offline verifier not kept", entry_get(e, "uid"));
	login_event(who, "otp-verify", "password+otp", entry_get(e, "uid"), true, "login");
	return 0;
}

/* Verifies code for the account e, whose code step may go on. */
static int code_verify(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, const char *txn, const char *code, bool then_link,
	char ret_login[LOGIN_NAME_MAX], struct fault *f)
{
	const char *stored, *tries_s;
	char hash[SECRET_HASH_HEX], ctx[600];
	long long tries, exp;
	int rc;

	hash[0] = '\0';
	stored = entry_get(e, "mmOtpHash");
	tries_s = entry_get(e, "mmOtpTries");
	tries = tries_s ? atoll(tries_s) : 0;
	if (!stored || tries >= (long long)c->otp_max_tries) {
		if (stored)
			(void)otp_discard(s, e, stored);
		login_event(who, "otp-verify", "otp", entry_get(e, "uid"), false, "no pending code");
		rc = fault_set(f, -ESTALE, "aucun code en attente : un nouveau code est nécessaire");
		goto out;
	}
	exp = store_parse_time(entry_get(e, "mmOtpExpires"));
	/* A code lives otp_ttl on the clock of its check too: one that expires further ahead
	 * was issued before the clock stepped back, and is not given the extra hour. */
	if (exp <= login_now() || exp - login_now() > (long long)c->otp_ttl + OTP_CLOCK_SLACK) {
		(void)otp_discard(s, e, stored);
		login_event(who, "otp-verify", "otp", entry_get(e, "uid"), false,
			exp <= login_now() ? "code expired" : "code expired (the clock stepped back)");
		rc = fault_set(f, -ETIMEDOUT, "code expiré : un nouveau code est nécessaire");
		goto out;
	}
	rc = try_reserve(s, c, e, stored, &tries);
	if (rc == -ECANCELED) {
		login_fail_delay(c);
		login_event(
			who, "otp-verify", "otp", entry_get(e, "uid"), false, "no pending code; tries spent");
		fault_put(f, "tries_left", "0");
		rc = fault_set(f, -ESTALE, "code incorrect, trop d'essais : un nouveau code est nécessaire");
		goto out;
	}
	if (rc < 0) {
		rc = fault_store(f, rc, "code à usage unique");
		goto out;
	}
	snprintf(ctx, sizeof(ctx), "otp:%s", e->dn);
	/* Anything but 6 digits is a wrong code, counted like one. */
	if (strlen(code) <= CODE_MAX && strspn(code, "0123456789") == strlen(code) &&
		(rc = secret_keyed_hash(ctx, code, hash)) < 0)
		goto out;
	if (hash[0] && secret_equal(hash, stored)) {
		if ((rc = code_right(s, c, who, e, stored, txn, then_link, f)) == 0)
			snprintf(ret_login, LOGIN_NAME_MAX, "%s", entry_get(e, "uid"));
		goto out;
	}
	login_fail_delay(c);
	if (tries >= (long long)c->otp_max_tries) {
		(void)otp_discard(s, e, stored);
		login_event(
			who, "otp-verify", "otp", entry_get(e, "uid"), false, "wrong code; too many tries");
		fault_put(f, "tries_left", "0");
		rc = fault_set(f, -ESTALE, "code incorrect, trop d'essais : un nouveau code est nécessaire");
		goto out;
	}
	fault_putf(f, "tries_left", "%lld", (long long)c->otp_max_tries - tries);
	login_event(who, "otp-verify", "otp", entry_get(e, "uid"), false, "wrong code");
	rc = fault_set(
		f, -EACCES, "code incorrect (%lld essai(s) restant(s))", (long long)c->otp_max_tries - tries);
out:
	secret_wipe(hash, sizeof(hash));
	return rc;
}

int login_otp_verify(struct store *s, const struct mm_config *c, const struct caller *who, const char *user,
	const char *txn, const char *code, bool then_link, char ret_login[LOGIN_NAME_MAX], struct fault *f)
{
	struct entry *e = NULL;
	int rc;

	if (!code)
		return fault_field(f, "code", "required", "code : champ obligatoire");
	if ((rc = code_account(s, c, who, "otp-verify", user, txn, &e, f)) < 0)
		return rc;
	rc = code_verify(s, c, who, e, txn, code, then_link, ret_login, f);
	entry_free(e);
	return rc;
}

int login_otp_verify_of(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, const char *txn, const char *code, bool then_link,
	char ret_login[LOGIN_NAME_MAX], struct fault *f)
{
	int rc;

	if (!code)
		return fault_field(f, "code", "required", "code : champ obligatoire");
	if ((rc = login_rate_take(c, who, "otp-verify", NULL, f)) < 0 ||
		(rc = code_entry_check(s, c, who, "otp-verify", txn, e, f)) < 0)
		return rc;
	return code_verify(s, c, who, e, txn, code, then_link, ret_login, f);
}
