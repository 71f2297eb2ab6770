/* Login: password step with a lockout shared through the directory, one-time codes by e-mail, account checks, password change. */
#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "account_compat.h"
#include "log.h"
#include "login.h"
#include "mail.h"
#include "offline.h"
#include "ratelimit.h"
#include "secret.h"
#include "validate.h"

#define OTP_DIGITS 6
#define CODE_MAX 16
#define USER_MAX 254
#define META_MAX 128
/* mmSessionMethod of a pam-txn: password step done; whole login done (kept for a card link). */
#define TXN_OPEN "password"
#define TXN_DONE "password+otp"
#define TXN_LINK_TTL 120

/* ------------------------------------------------------------ helpers */

long long login_now(void)
{
	return (long long)time(NULL);
}

const char *login_field(const struct req *r, const char *key)
{
	const char *v = mm_msg_get(r->in, key);

	return v && *v ? v : NULL;
}

/* Service and remote host go to the audit trail and to IA5 attributes. */
static const char *printable(const char *s)
{
	if (!s || strlen(s) > META_MAX)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return NULL;
	return s;
}

void login_audit(const struct req *r, const char *event, const char *method, const char *account, bool ok,
	const char *reason)
{
	struct audit_ctx a = {
		.event = event,
		.caller = r->who.name,
		.method = method,
		.service = printable(login_field(r, "service")),
		.remote = printable(login_field(r, "rhost")),
		.account = account,
	};

	audit(&a, ok, reason);
}

bool login_owned_by(const struct entry *e, uid_t uid)
{
	const char *n = entry_get(e, "uidNumber");
	char want[16];

	if (!n)
		return false;
	snprintf(want, sizeof(want), "%u", (unsigned)uid);
	return !strcmp(n, want);
}

const char *login_inactive_reason(const struct entry *e)
{
	const char *st = entry_get(e, "mmStatus");

	if (!st)
		return "pending";
	if (!strcmp(st, MM_STATUS_ACTIVE))
		return NULL;
	if (!strcmp(st, MM_STATUS_SUSPENDED))
		return "suspended";
	if (!strcmp(st, MM_STATUS_CLOSED))
		return "closed";
	return "pending";
}

/* A user name as the wire carries it: UTF-8 text without control characters. */
static bool user_valid(const char *u)
{
	return u && strlen(u) <= USER_MAX && validate_text(u, USER_MAX) == 0;
}

int login_user(struct req *r, const char *event, const char *const *attrs, struct entry **ret)
{
	const char *user = login_field(r, "user");
	struct entry *e = NULL;
	int rc;

	*ret = NULL;
	if (!user) {
		char filter[96];

		if (r->who.admin)
			return req_fail_field(r, "user", "required", "identifiant : champ obligatoire");
		snprintf(filter, sizeof(filter),
			"(&(objectClass=mmAccount)(uidNumber=%u)(!(mmAccountType=ORG)))", (unsigned)r->who.uid);
		rc = store_search_one(r->store, r->cfg->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, &e);
		if (rc == -ENOENT)
			return req_fail(
				r, -ENOENT, "aucun compte Medimail pour l'utilisateur %u", (unsigned)r->who.uid);
		if (rc < 0)
			return store_fail(r, rc, "compte");
		*ret = e;
		return 0;
	}
	if (!user_valid(user)) {
		login_audit(r, event, NULL, NULL, false, "malformed user name");
		return req_fail_field(r, "user", "characters", "identifiant invalide");
	}
	rc = account_find_attrs(r, user, attrs, &e);
	if (!r->who.admin && (rc == -ENOENT || rc == -ENOTUNIQ || (rc == 0 && !login_owned_by(e, r->who.uid)))) {
		/* An unprivileged caller acts only for itself: someone else's account
		 * and an unknown one get one answer (-ENOENT, so that PAM still sees
		 * "user unknown" for local users); only the audit log tells them apart. */
		login_audit(r, event, NULL, rc == 0 ? entry_get(e, "uid") : user, false,
			rc == 0 ? "caller may only act for its own account" : "unknown account");
		entry_free(e);
		return req_fail(r, -ENOENT, "aucun compte Medimail de ce nom pour l'utilisateur %u",
			(unsigned)r->who.uid);
	}
	if (rc == -ENOENT) {
		login_audit(r, event, NULL, user, false, "unknown account");
		return req_fail(r, -ENOENT, "%s : compte introuvable", user);
	}
	if (rc < 0) {
		login_audit(r, event, NULL, user, false,
			rc == -EHOSTDOWN ? "directory unavailable" : "directory error");
		return store_fail(r, rc, user);
	}
	*ret = e;
	return 0;
}

/* ------------------------------------------------------------ handles (transactions, sessions) */

static int handle_dn(
	struct req *r, const char *context, const char *handle, char hash[SECRET_HASH_HEX], char **ret)
{
	size_t n = handle ? strlen(handle) : 0;

	*ret = NULL;
	if (n != SECRET_TOKEN_HEX - 1 || strspn(handle, "0123456789abcdef") != n)
		return -ENOENT;
	if (secret_keyed_hash(context, handle, hash) < 0)
		return -EIO;
	if (asprintf(ret, "mmSessionId=%s,ou=sessions,%s", hash, r->cfg->ldap_base) < 0) {
		*ret = NULL;
		return -ENOMEM;
	}
	return 0;
}

int login_handle_load(struct req *r, const char *context, const char *handle, struct entry **ret)
{
	static const char *const attrs[] = {"mmSessionId", "mmSessionUser", "mmSessionAccount",
		"mmSessionExpires", "mmSessionMethod", "mmSessionService", "mmSessionRemote", "description",
		NULL};
	struct entry *e = NULL;
	char hash[SECRET_HASH_HEX], *dn = NULL;
	int rc;

	*ret = NULL;
	rc = handle_dn(r, context, handle, hash, &dn);
	if (rc < 0)
		return rc;
	rc = store_read(r->store, dn, attrs, &e);
	free(dn);
	if (rc < 0)
		return rc;
	/* A handle of another kind hashes to another DN; check the kind anyway. */
	if (!entry_get(e, "description") || strcmp(entry_get(e, "description"), context)) {
		entry_free(e);
		return -ENOENT;
	}
	if (store_parse_time(entry_get(e, "mmSessionExpires")) <= login_now()) {
		if (store_delete(r->store, e->dn) < 0)
			log_msg(LOG_DEBUG, "expired handle not deleted");
		entry_free(e);
		return -ETIMEDOUT;
	}
	*ret = e;
	return 0;
}

int login_handle_create(struct req *r, const char *context, const char *user_dn, const char *account_dn,
	const char *method, long long ttl, char ret_handle[65])
{
	char handle[SECRET_TOKEN_HEX], hash[SECRET_HASH_HEX], expires[16];
	char *dn = NULL;
	struct mods m;
	int rc;

	secret_token(handle);
	rc = handle_dn(r, context, handle, hash, &dn);
	if (rc < 0)
		goto out;
	store_time(login_now() + ttl, expires);
	mods_init(&m);
	mods_add(&m, LDAP_MOD_ADD, "objectClass", "mmSession");
	mods_add(&m, LDAP_MOD_ADD, "mmSessionId", hash);
	mods_add(&m, LDAP_MOD_ADD, "mmSessionUser", user_dn);
	mods_add(&m, LDAP_MOD_ADD, "mmSessionAccount", account_dn);
	mods_add(&m, LDAP_MOD_ADD, "mmSessionExpires", expires);
	mods_add(&m, LDAP_MOD_ADD, "mmSessionMethod", printable(method));
	mods_add(&m, LDAP_MOD_ADD, "mmSessionService", printable(login_field(r, "service")));
	mods_add(&m, LDAP_MOD_ADD, "mmSessionRemote", printable(login_field(r, "rhost")));
	mods_add(&m, LDAP_MOD_ADD, "description", context);
	rc = store_add(r->store, dn, &m);
	mods_free(&m);
	if (rc == 0)
		memcpy(ret_handle, handle, SECRET_TOKEN_HEX);
out:
	free(dn);
	secret_wipe(handle, sizeof(handle));
	return rc;
}

int login_handle_delete(struct req *r, const struct entry *e)
{
	return store_delete(r->store, e->dn);
}

/* Removes expired transactions and sessions (abandoned logins, sessions
 * never closed), at most once a minute per daemon and 200 at a time. */
static void handles_sweep(struct req *r)
{
	static atomic_llong last;
	static const char *const noattrs[] = {LDAP_NO_ATTRS, NULL};
	long long t = login_now(), prev = last;
	struct entry **v = NULL;
	size_t n = 0;
	char filter[64], stamp[16], *base = NULL;

	if (t - prev < 60 || !atomic_compare_exchange_strong(&last, &prev, t))
		return;
	store_time(t, stamp);
	snprintf(filter, sizeof(filter), "(&(objectClass=mmSession)(mmSessionExpires<=%s))", stamp);
	if (asprintf(&base, "ou=sessions,%s", r->cfg->ldap_base) < 0)
		return;
	if (store_search(r->store, base, LDAP_SCOPE_ONELEVEL, filter, noattrs, 200, &v, &n) == 0)
		for (size_t i = 0; i < n; i++)
			if (store_delete(r->store, v[i]->dn) < 0)
				break;
	if (n)
		log_msg(LOG_DEBUG, "swept %zu expired login handles", n);
	entries_free(v, n);
	free(base);
}

/* ------------------------------------------------------------ rate limits (per daemon) */

#define RATE_SETS 2048 /* of RATELIMIT_WAYS buckets each */

static struct ratelimit *login_limits;
static pthread_once_t login_limits_once = PTHREAD_ONCE_INIT;

static void login_limits_init(void)
{
	/* A key of this process: callers choose the ids, never where they land. */
	if (ratelimit_new(RATE_SETS, NULL, &login_limits) < 0)
		login_limits = NULL;
}

int login_rate(struct req *r, const char *event, const char *account)
{
	char src[200], num[16];
	const char *rhost, *id, *why;
	unsigned per_minute = account ? r->cfg->rate_per_account : r->cfg->rate_per_source, retry = 0;
	struct rate_rule rule = {.burst = per_minute, .per_second = per_minute / 60.0};
	int rc;

	if (per_minute == 0)
		return 0;
	/* Called once per request without the account (the source bucket),
	 * then once the account is known (its bucket). The source is the caller;
	 * the remote host counts only when root says it (sshd, login; the HTTP
	 * door, which runs as root, gives the peer it saw): any other caller
	 * would name a new rhost for each fresh bucket. */
	rhost = r->who.uid == 0 ? printable(login_field(r, "rhost")) : NULL;
	if (rhost)
		snprintf(src, sizeof(src), "%s/%s", r->who.name, rhost);
	else
		snprintf(src, sizeof(src), "%s", r->who.name);
	id = account ? account : src;
	pthread_once(&login_limits_once, login_limits_init);
	rc = -ENOMEM;
	if (login_limits)
		rc = ratelimit_take(login_limits, account ? RATE_LOGIN_ACCOUNT : RATE_LOGIN_SOURCE, id,
			strlen(id), &rule, ratelimit_now_ms(), &retry);
	if (rc == 0)
		return 0;
	if (rc != -EAGAIN && rc != -ENOBUFS) {
		/* Fail closed: no limit, no login. */
		login_audit(r, event, NULL, account, false, "rate limit unavailable");
		return req_fail(r, rc, "limite de tentatives indisponible");
	}
	if (rc == -ENOBUFS)
		why = "rate limit table full";
	else
		why = account ? "rate limit per account" : "rate limit per source";
	login_audit(r, event, NULL, account, false, why);
	snprintf(num, sizeof(num), "%u", retry);
	req_put(r, "retry_after", num);
	return req_fail(r, -EAGAIN, "trop de tentatives : réessayez dans %u s", retry);
}

static void fail_delay(const struct req *r)
{
	if (r->cfg->fail_delay_ms)
		usleep(r->cfg->fail_delay_ms * 1000u);
}

/* Spends the same argon2id work on an unknown account as on a known one. */
static char dummy_hash[SECRET_PWHASH_MAX];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void dummy_init(void)
{
	if (secret_password_hash("medimail-authd dummy password", dummy_hash) < 0)
		dummy_hash[0] = '\0';
}

static void dummy_verify(const char *password)
{
	pthread_once(&dummy_once, dummy_init);
	if (dummy_hash[0] && secret_password_verify(dummy_hash, password) == 0)
		log_msg(LOG_DEBUG, "dummy password matched");
}

/* Same work, delay and answer as a wrong password: no account probing. */
int login_password_unknown(struct req *r, const char *password)
{
	dummy_verify(password);
	fail_delay(r);
	return req_fail(r, -EACCES, "identifiant ou mot de passe incorrect");
}

/* ------------------------------------------------------------ lockout */

static const char *const auth_attrs[] = {"uid", "mmAccountType", "mmStatus", "mmLoginMail", "uidNumber",
	"userPassword", "mmFailCount", "mmLockedUntil", "mmOtpHash", "mmOtpExpires", "mmOtpTries",
	"mmOtpSentAt", "mmCguAcceptedAt", "mmStatusReason", "mmMssAddress", "pwdAccountLockedTime",
	"pwdFailureTime", "mmLastLogin", NULL};

/* The attributes login_password_check needs. */
const char *const login_password_attrs[] = {"uid", "mmAccountType", "userPassword", "mmFailCount",
	"mmLockedUntil", "pwdAccountLockedTime", "pwdFailureTime", "mmLastLogin", NULL};

static void format_time(long long t, char *out, size_t outsz)
{
	time_t tt = (time_t)t;
	struct tm tm;

	localtime_r(&tt, &tm);
	strftime(out, outsz, "%d/%m/%Y %H:%M:%S", &tm);
}

/* until 0: locked, end unknown (the failure budget is spent by requests in flight). */
static int locked_reply(struct req *r, long long until)
{
	char num[24], when[32];

	if (!until)
		return req_fail(r, -ENOLCK, "compte verrouillé après trop d'échecs");
	snprintf(num, sizeof(num), "%lld", until);
	format_time(until, when, sizeof(when));
	req_put(r, "locked_until", num);
	return req_fail(r, -ENOLCK, "compte verrouillé après trop d'échecs, jusqu'au %s", when);
}

static int refuse_locked(struct req *r, const char *event, const struct entry *e, long long until)
{
	login_audit(r, event, "password", entry_get(e, "uid"), false, "account locked");
	return locked_reply(r, until);
}

/* ppolicy's permanent lock (an administrator's, or pwdLockoutDuration 0). */
#define PPOLICY_LOCKED_FOREVER "000001010000Z"

/* The end of the lock the account is under, 0 when none: the daemon's own
 * (mmLockedUntil) or the one slapd's ppolicy overlay set after failed binds
 * (pwdAccountLockedTime, for lockout_duration, the policy's pwdLockoutDuration). */
static long long locked_until(const struct req *r, const struct entry *e)
{
	long long t = store_parse_time(entry_get(e, "mmLockedUntil")), now = login_now();
	const char *pp = entry_get(e, "pwdAccountLockedTime");

	if (pp && !strcmp(pp, PPOLICY_LOCKED_FOREVER))
		return now + 365LL * 86400;
	if (pp && store_parse_time(pp) + (long long)r->cfg->lockout_duration > t)
		t = store_parse_time(pp) + (long long)r->cfg->lockout_duration;
	return t > now ? t : 0;
}

/* Failed simple binds that ppolicy still counts (pwdFailureTime values
 * within the lockout window, since the last login): they spend the same
 * failure budget. */
static long long bind_failures(const struct req *r, const struct entry *e)
{
	const struct attr *a = entry_attr(e, "pwdFailureTime");
	long long n = 0, since = login_now() - (long long)r->cfg->lockout_duration;
	long long last = store_parse_time(entry_get(e, "mmLastLogin"));

	if (last > since)
		since = last;
	for (size_t i = 0; a && i < a->nvals; i++)
		if (store_parse_time(a->vals[i]) > since)
			n++;
	return n;
}

/* Failure counters live on the provider of ldap_lockout_uri, the same for
 * every daemon; when it is unreachable (or has not received the account
 * yet) the daemon's own provider counts, one budget per provider. */
static int counters_reserve(struct req *r, const char *dn, const char *filter, long long *ret_n)
{
	struct store *c = store_counters(r->store);
	int rc = store_reserve(c, dn, "mmFailCount", filter, ret_n);

	if ((rc == -EHOSTDOWN || rc == -ENOENT) && c != r->store) {
		log_msg(LOG_WARNING, "lockout provider: %s; counting on the local provider", strerror(-rc));
		rc = store_reserve(r->store, dn, "mmFailCount", filter, ret_n);
	}
	return rc;
}

static int counters_modify(struct req *r, const char *dn, struct mods *m)
{
	struct store *c = store_counters(r->store);
	int rc = store_modify(c, dn, m);

	if ((rc == -EHOSTDOWN || rc == -ENOENT) && c != r->store)
		rc = store_modify(r->store, dn, m);
	return rc;
}

/* Reserves one password attempt before it is evaluated: mmFailCount goes
 * up by one in the directory only while it is under the threshold and the
 * account is not locked, in one operation (assertion control). So that N
 * parallel guesses, on one daemon or on several, cannot all read a count
 * under the threshold and then each be verified. -ECANCELED: no attempt
 * left. *ret_n: this attempt's number. */
static int attempt_reserve(struct req *r, const struct entry *e, long long *ret_n)
{
	char filter[160], stamp[16];
	long long limit = (long long)r->cfg->lockout_threshold - bind_failures(r, e);

	*ret_n = 0;
	if (!r->cfg->lockout_threshold)
		return counters_reserve(r, e->dn, "(objectClass=*)", ret_n);
	if (limit <= 0)
		return -ECANCELED;
	store_time(login_now(), stamp);
	snprintf(filter, sizeof(filter), "(&(!(mmFailCount>=%lld))(!(mmLockedUntil>=%s)))", limit, stamp);
	return counters_reserve(r, e->dn, filter, ret_n);
}

/* The reserved attempt n failed: at the threshold, lock the account, for
 * the daemon's logins (mmLockedUntil) and for simple binds (ppolicy's
 * pwdAccountLockedTime). Sets *ret_until when it locked. */
static int attempt_failed(struct req *r, const struct entry *e, long long n, long long *ret_until)
{
	char until[16], now[16];
	struct mods m;
	int rc;

	*ret_until = 0;
	if (!r->cfg->lockout_threshold || n + bind_failures(r, e) < (long long)r->cfg->lockout_threshold)
		return 0;
	*ret_until = login_now() + r->cfg->lockout_duration;
	store_time(*ret_until, until);
	store_time(login_now(), now);
	for (bool pp = r->cfg->ldap_ppolicy;; pp = false) {
		mods_init(&m);
		mods_add(&m, LDAP_MOD_REPLACE, "mmLockedUntil", until);
		mods_add(&m, LDAP_MOD_REPLACE, "mmFailCount", "0");
		if (pp)
			mods_add(&m, LDAP_MOD_REPLACE, "pwdAccountLockedTime", now);
		rc = counters_modify(r, e->dn, &m);
		mods_free(&m);
		if (rc != -EINVAL || !pp)
			break;
		/* A slapd without ppolicy does not know the attribute: lock logins all the same. */
		log_msg(LOG_WARNING,
			"%s: pwdAccountLockedTime refused (slapd without ppolicy? ldap_ppolicy = no)",
			entry_get(e, "uid"));
	}
	if (rc < 0)
		return rc;
	login_audit(r, "lockout", "password", entry_get(e, "uid"), true, "failure threshold reached");
	return 0;
}

/* A right password, attempt n: the failures are forgiven, the attempt
 * given back. Only the attempts reserved up to this one: a guess reserved
 * while this password was verified (in flight, or failed) stays counted;
 * setting the count to 0 would give it back too. A count that fell under n
 * meanwhile (a lock zeroed it) is left as it is. */
static int failures_reset(struct req *r, const struct entry *e, long long n)
{
	struct store *c = store_counters(r->store);
	char filter[48];
	long long left;
	struct mods m;
	int rc = 0;

	if (n > 0) {
		snprintf(filter, sizeof(filter), "(mmFailCount>=%lld)", n);
		rc = store_increment_if(c, e->dn, "mmFailCount", -n, filter, &left);
		if ((rc == -EHOSTDOWN || rc == -ENOENT) && c != r->store)
			rc = store_increment_if(r->store, e->dn, "mmFailCount", -n, filter, &left);
		if (rc == -ECANCELED || rc == -ESTALE)
			rc = 0;
		if (rc < 0)
			return rc;
	}
	mods_init(&m);
	if (entry_get(e, "mmLockedUntil"))
		mods_add(&m, LDAP_MOD_REPLACE, "mmLockedUntil", NULL);
	if (entry_get(e, "pwdAccountLockedTime") &&
		strcmp(entry_get(e, "pwdAccountLockedTime"), PPOLICY_LOCKED_FOREVER))
		mods_add(&m, LDAP_MOD_REPLACE, "pwdAccountLockedTime", NULL);
	if (m.n)
		rc = counters_modify(r, e->dn, &m);
	mods_free(&m);
	return rc;
}

int login_password_check(struct req *r, const char *event, const struct entry *e, const char *password)
{
	long long until, n = 0;
	int rc;

	if ((until = locked_until(r, e)))
		return refuse_locked(r, event, e, until);
	if (!strcmp(entry_get(e, "mmAccountType"), MM_TYPE_ORG)) {
		dummy_verify(password);
		fail_delay(r);
		login_audit(r, event, "password", entry_get(e, "uid"), false,
			"an ORG logs in through an individual account");
		return req_fail(r, -EACCES, "identifiant ou mot de passe incorrect");
	}
	rc = attempt_reserve(r, e, &n);
	if (rc == -ECANCELED) {
		/* Every attempt left is taken by requests in flight, or a lock was
		 * set since the entry was read: not evaluated.  Tell its end if it
		 * is known by now. */
		static const char *const lock_attrs[] = {"mmLockedUntil", "pwdAccountLockedTime", NULL};
		struct entry *now = NULL;

		until = store_read(store_counters(r->store), e->dn, lock_attrs, &now) == 0
			? locked_until(r, now)
			: 0;
		entry_free(now);
		fail_delay(r);
		return refuse_locked(r, event, e, until);
	}
	if (rc < 0) {
		login_audit(r, event, "password", entry_get(e, "uid"), false,
			"attempt not reserved: directory error");
		return store_fail(r, rc, "authentification");
	}
	if (secret_password_verify(entry_get(e, "userPassword"), password) == 0) {
		/* Given back at once: what follows (an inactive account, a new
		 * password refused by the rules) is no guess. */
		if ((rc = failures_reset(r, e, n)) < 0) {
			login_audit(r, event, "password", entry_get(e, "uid"), false,
				"right password; failures not reset");
			return store_fail(r, rc, "authentification");
		}
		return 0;
	}
	rc = attempt_failed(r, e, n, &until);
	fail_delay(r);
	if (rc < 0) {
		login_audit(
			r, event, "password", entry_get(e, "uid"), false, "bad password; lock not recorded");
		return store_fail(r, rc, "authentification");
	}
	if (until) {
		login_audit(r, event, "password", entry_get(e, "uid"), false, "bad password; account locked");
		return locked_reply(r, until);
	}
	login_audit(r, event, "password", entry_get(e, "uid"), false, "bad password");
	return req_fail(r, -EACCES, "identifiant ou mot de passe incorrect");
}

static int refuse_inactive(
	struct req *r, const char *event, const char *method, const struct entry *e, const char *reason)
{
	static const struct {
		const char *reason, *text;
	} texts[] = {
		{"pending",
			"le compte n'est pas encore validé (confirmation de l'adresse e-mail ou validation "
			"par le centre de services en attente)"},
		{"suspended", "le compte est suspendu"},
		{"closed", "le compte est clos"},
		{"org", "une BAL ORG s'ouvre depuis un compte individuel (« Changer de compte »)"},
	};
	const char *text = "compte inactif";

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (!strcmp(texts[i].reason, reason))
			text = texts[i].text;
	login_audit(r, event, method, entry_get(e, "uid"), false, reason);
	req_put(r, "reason", reason);
	req_put(r, "status", entry_get(e, "mmStatus"));
	if (entry_get(e, "mmStatusReason"))
		return req_fail(
			r, -EPERM, "%s : %s (%s)", entry_get(e, "uid"), text, entry_get(e, "mmStatusReason"));
	return req_fail(r, -EPERM, "%s : %s", entry_get(e, "uid"), text);
}

/* ------------------------------------------------------------ offline login */

/* The directory is unreachable: the password alone, against the verifier
 * kept at the last online login, within offline_ttl. */
static int auth_password_offline(struct req *r, const char *password)
{
	struct offline_rec rec;
	const char *user = login_field(r, "user");
	char num[24];
	long long until;
	unsigned n;
	int rc;

	if (!user || offline_load(r->cfg, user, &rec) < 0) {
		login_audit(r, "auth", "offline", user, false, "directory unavailable; no offline verifier");
		return req_fail(r, -EHOSTDOWN,
			"annuaire indisponible, et pas de connexion hors ligne possible pour ce compte");
	}
	if (r->who.uid != 0) {
		/* Without the directory the uid cannot be checked: only root (the
		 * login program) logs in offline, not an admin_group member. */
		offline_rec_wipe(&rec);
		login_audit(r, "auth", "offline", user, false, "offline login needs a root caller");
		return req_fail(r, -EHOSTDOWN, "annuaire indisponible");
	}
	/* Reserved before the password is verified, in a file that outlives the daemon. */
	rc = offline_attempt_reserve(r->cfg, rec.login, &until, &n);
	if (rc == -ENOLCK) {
		fail_delay(r);
		login_audit(r, "auth", "offline", rec.login, false, "account locked (offline)");
		rc = locked_reply(r, until);
		goto out;
	}
	if (rc < 0) {
		login_audit(r, "auth", "offline", rec.login, false, "offline failure count unusable");
		rc = req_fail(r, -EHOSTDOWN, "annuaire indisponible");
		goto out;
	}
	if (secret_password_verify(rec.verifier, password) < 0) {
		rc = offline_attempt_failed(r->cfg, rec.login, &until);
		fail_delay(r);
		if (rc < 0)
			log_msg(LOG_WARNING, "%s: offline lock not recorded: %s", rec.login, strerror(-rc));
		login_audit(r, "auth", "offline", rec.login, false,
			until ? "bad password (offline); account locked" : "bad password (offline)");
		rc = until ? locked_reply(r, until)
			   : req_fail(r, -EACCES, "identifiant ou mot de passe incorrect");
		goto out;
	}
	if ((rc = offline_attempt_reset(r->cfg, rec.login, n)) < 0)
		log_msg(LOG_WARNING, "%s: offline failures not reset: %s", rec.login, strerror(-rc));
	login_audit(r, "auth", "offline", rec.login, true,
		"offline login: password checked locally, no one-time code");
	req_put(r, "login", rec.login);
	req_put(r, "offline", "yes");
	snprintf(num, sizeof(num), "%lld", rec.stamp + (long long)r->cfg->offline_ttl);
	req_put(r, "offline_until", num);
	mm_msg_set_message(
		r->out, "connexion hors ligne : annuaire injoignable, mot de passe vérifié localement");
	rc = 0;
out:
	offline_rec_wipe(&rec);
	return rc;
}

/* ------------------------------------------------------------ MM_REQ_LOGIN_MODE */

int auth_login_mode(struct req *r)
{
	static const char *const attrs[] = {"objectClass", NULL};
	struct entry *e = NULL;
	int rc = store_read(r->store, r->cfg->ldap_base, attrs, &e);

	entry_free(e);
	if (rc == -EHOSTDOWN && r->cfg->offline_login) {
		req_put(r, "mode", "offline");
		return 0;
	}
	if (rc < 0)
		return store_fail(r, rc, "annuaire");
	req_put(r, "mode", "online");
	return 0;
}

/* ------------------------------------------------------------ MM_REQ_AUTH_PASSWORD */

int auth_password(struct req *r)
{
	const char *password = login_field(r, "password"), *reason;
	struct entry *e = NULL;
	char txn[SECRET_TOKEN_HEX], num[16];
	int rc;

	if (!password)
		return req_fail_field(r, "password", "required", "mot de passe : champ obligatoire");
	if (strlen(password) > MM_PASSWORD_MAX_BYTES)
		return req_fail_field(r, "password", "max_length", "mot de passe : %d octets au plus",
			MM_PASSWORD_MAX_BYTES);
	if ((rc = login_rate(r, "auth", NULL)) < 0)
		return rc;
	rc = login_user(r, "auth", auth_attrs, &e);
	if (rc == -EHOSTDOWN && r->cfg->offline_login)
		return auth_password_offline(r, password);
	if (rc == -ENOENT && login_field(r, "user"))
		return login_password_unknown(r, password);
	if (rc < 0)
		return rc;
	if ((rc = login_rate(r, "auth", entry_get(e, "uid"))) < 0)
		goto out;
	if ((rc = login_password_check(r, "auth", e, password)) < 0)
		goto out;
	if ((reason = login_inactive_reason(e))) {
		offline_forget(r->cfg, e);
		rc = refuse_inactive(r, "auth", "password", e, reason);
		goto out;
	}
	/* The transaction outlives the code by a minute, so that an expired
	 * code is reported as such rather than as a stale login. */
	rc = login_handle_create(r, "pam-txn", e->dn, NULL, TXN_OPEN, (long long)r->cfg->otp_ttl + 60, txn);
	if (rc < 0) {
		rc = store_fail(r, rc, "authentification");
		goto out;
	}
	handles_sweep(r);
	login_audit(
		r, "auth", "password", entry_get(e, "uid"), true, "password step; one-time code required");
	req_put(r, "login", entry_get(e, "uid"));
	req_put(r, "txn", txn);
	snprintf(num, sizeof(num), "%u", r->cfg->otp_ttl + 60);
	req_put(r, "txn_expires_in", num);
	secret_wipe(txn, sizeof(txn));
out:
	entry_free(e);
	return rc;
}

/* The transaction of the password step, for this account. */
static int txn_check(struct req *r, const char *event, const struct entry *e)
{
	struct entry *t = NULL;
	int rc = login_handle_load(r, "pam-txn", login_field(r, "txn"), &t);

	/* A completed login (kept for a card link) is no password step any more. */
	if (rc == 0 &&
		(strcasecmp(entry_get(t, "mmSessionUser") ?: "", e->dn) ||
			strcmp(entry_get(t, "mmSessionMethod") ?: "", TXN_OPEN)))
		rc = -ENOENT;
	entry_free(t);
	if (rc == 0)
		return 0;
	if (rc == -ETIMEDOUT) {
		login_audit(r, event, "otp", entry_get(e, "uid"), false, "password step expired");
		req_put(r, "reason", "transaction");
		return req_fail(r, -ETIMEDOUT, "délai dépassé : recommencez la connexion");
	}
	if (rc == -ENOENT) {
		login_audit(r, event, "otp", entry_get(e, "uid"), false, "no password step");
		return req_fail(r, -EACCES, "le mot de passe doit être vérifié avant le code à usage unique");
	}
	return store_fail(r, rc, "code à usage unique");
}

/* "i***@example.org": enough for the user to recognise the address. */
static void mask_address(const char *mail, char *out, size_t outsz)
{
	const char *at = strchr(mail, '@');

	if (!at || at == mail)
		snprintf(out, outsz, "***");
	else
		snprintf(out, outsz, "%c***%s", mail[0], at);
}

static int otp_discard(struct req *r, const struct entry *e, const char *hash)
{
	struct mods m;
	int rc;

	mods_init(&m);
	mods_add(&m, LDAP_MOD_DELETE, "mmOtpHash", hash);
	rc = store_modify(r->store, e->dn, &m);
	mods_free(&m);
	return rc;
}

/* ------------------------------------------------------------ MM_REQ_OTP_SEND */

int auth_otp_send(struct req *r)
{
	struct entry *e = NULL;
	char code[OTP_DIGITS + 1], hash[SECRET_HASH_HEX], ctx[600], expires[16], sent[16], masked[300],
		num[16];
	char *body = NULL;
	const char *reason;
	long long t = login_now(), last, carried = 0;
	char tries_s[24];
	struct mods m;
	int rc;

	code[0] = '\0';
	if ((rc = login_rate(r, "otp-send", NULL)) < 0)
		return rc;
	if ((rc = login_user(r, "otp-send", auth_attrs, &e)) < 0)
		return rc;
	if ((rc = login_rate(r, "otp-send", entry_get(e, "uid"))) < 0 ||
		(rc = txn_check(r, "otp-send", e)) < 0)
		goto out;
	if ((reason = login_inactive_reason(e))) {
		rc = refuse_inactive(r, "otp-send", "otp", e, reason);
		goto out;
	}
	last = store_parse_time(entry_get(e, "mmOtpSentAt"));
	if (last > 0 && t >= last && t - last < (long long)r->cfg->otp_resend_interval) {
		const char *tries = entry_get(e, "mmOtpTries");
		bool pending = entry_get(e, "mmOtpHash") &&
			store_parse_time(entry_get(e, "mmOtpExpires")) > t &&
			(!tries || atoll(tries) < (long long)r->cfg->otp_max_tries);

		snprintf(num, sizeof(num), "%lld", (long long)r->cfg->otp_resend_interval - (t - last));
		req_put(r, "retry_after", num);
		req_put(r, "pending", pending ? "yes" : "no");
		login_audit(r, "otp-send", "otp", entry_get(e, "uid"), false, "resend throttled");
		if (pending)
			rc = req_fail(r, -EAGAIN,
				"un code vous a été envoyé il y a moins de %u s : utilisez-le",
				r->cfg->otp_resend_interval);
		else
			rc = req_fail(r, -EAGAIN, "un nouveau code pourra être envoyé dans %s s", num);
		goto out;
	}
	/* The tries are the account's, not the code's: a new code within
	 * lockout_duration of the last one keeps the wrong tries made so far
	 * (a successful login clears them), else whoever has the password
	 * would get otp_max_tries again at each resend, without end. */
	if (last > 0 && t >= last && t - last < (long long)r->cfg->lockout_duration) {
		const char *tries = entry_get(e, "mmOtpTries");

		carried = tries ? atoll(tries) : 0;
		if (carried < 0)
			carried = 0;
	}
	if (carried >= (long long)r->cfg->otp_max_tries) {
		snprintf(num, sizeof(num), "%lld", last + (long long)r->cfg->lockout_duration);
		req_put(r, "locked_until", num);
		snprintf(num, sizeof(num), "%lld", last + (long long)r->cfg->lockout_duration - t);
		req_put(r, "retry_after", num);
		login_audit(r, "otp-send", "otp", entry_get(e, "uid"), false, "code tries spent");
		rc = req_fail(
			r, -ENOLCK, "trop de codes faux : un nouveau code pourra être envoyé dans %s s", num);
		goto out;
	}
	snprintf(tries_s, sizeof(tries_s), "%lld", carried);
	secret_code(code, sizeof(code), OTP_DIGITS);
	snprintf(ctx, sizeof(ctx), "otp:%s", e->dn);
	if ((rc = secret_keyed_hash(ctx, code, hash)) < 0)
		goto out;
	store_time(t + r->cfg->otp_ttl, expires);
	store_time(t, sent);
	mods_init(&m);
	mods_add(&m, LDAP_MOD_REPLACE, "mmOtpHash", hash);
	mods_add(&m, LDAP_MOD_REPLACE, "mmOtpExpires", expires);
	mods_add(&m, LDAP_MOD_REPLACE, "mmOtpTries", tries_s);
	mods_add(&m, LDAP_MOD_REPLACE, "mmOtpSentAt", sent);
	rc = store_modify(r->store, e->dn, &m);
	mods_free(&m);
	if (rc < 0) {
		login_audit(r, "otp-send", "otp", entry_get(e, "uid"), false, "directory error");
		rc = store_fail(r, rc, "code à usage unique");
		goto out;
	}
	if (asprintf(&body,
		    "Bonjour,\n\nVotre code d'accès à Medimail vient d'être demandé pour le compte %s.\n"
		    "Il est valable %u minutes et ne sert qu'une seule fois.\n\n"
		    "Ce code est le : %s\n\n"
		    "Si vous n'êtes pas à l'origine de cette connexion, changez votre mot de passe "
		    "et prévenez le centre de services.\n",
		    entry_get(e, "uid"), (r->cfg->otp_ttl + 59) / 60, code) < 0) {
		body = NULL;
		rc = -ENOMEM;
		goto out;
	}
	rc = mail_send(r->cfg, entry_get(e, "mmLoginMail"), r->cfg->otp_subject, body);
	if (rc < 0) {
		/* Nothing was delivered: withdraw the code and do not throttle a retry. */
		mods_init(&m);
		mods_add(&m, LDAP_MOD_DELETE, "mmOtpHash", hash);
		mods_add(&m, LDAP_MOD_DELETE, "mmOtpSentAt", NULL);
		if (store_modify(r->store, e->dn, &m) < 0)
			log_msg(LOG_WARNING, "%s: unsent code not withdrawn", entry_get(e, "uid"));
		mods_free(&m);
		login_audit(r, "otp-send", "otp", entry_get(e, "uid"), false, "mail not sent");
		rc = req_fail(r, -ECOMM, "le code n'a pas pu être envoyé par e-mail, réessayez plus tard");
		goto out;
	}
	mask_address(entry_get(e, "mmLoginMail"), masked, sizeof(masked));
	login_audit(r, "otp-send", "otp", entry_get(e, "uid"), true, "code sent");
	req_put(r, "sent_to", masked);
	snprintf(num, sizeof(num), "%u", r->cfg->otp_ttl);
	req_put(r, "expires_in", num);
	mm_msg_set_message(r->out, "un code à usage unique a été envoyé à %s", masked);
	rc = 0;
out:
	secret_wipe(code, sizeof(code));
	secret_wipe(hash, sizeof(hash));
	secret_free(body);
	entry_free(e);
	return rc;
}

/* ------------------------------------------------------------ MM_REQ_OTP_VERIFY */

/* Keeps the transaction of a login just completed, for one card link soon. */
static int txn_complete(struct req *r, const struct entry *t)
{
	char expires[16];
	struct mods m;
	int rc;

	store_time(login_now() + TXN_LINK_TTL, expires);
	mods_init(&m);
	mods_add(&m, LDAP_MOD_REPLACE, "mmSessionMethod", TXN_DONE);
	mods_add(&m, LDAP_MOD_REPLACE, "mmSessionExpires", expires);
	rc = store_modify(r->store, t->dn, &m);
	mods_free(&m);
	return rc;
}

int login_txn_consume(struct req *r, const char *txn, const char *user_dn)
{
	struct entry *t = NULL;
	int rc = login_handle_load(r, "pam-txn", txn, &t);

	if (rc < 0)
		return rc;
	if (strcasecmp(entry_get(t, "mmSessionUser") ?: "", user_dn) ||
		strcmp(entry_get(t, "mmSessionMethod") ?: "", TXN_DONE))
		rc = -ENOENT;
	else
		rc = login_handle_delete(r, t); /* the delete is the single-use gate */
	entry_free(t);
	return rc;
}

int auth_otp_verify(struct req *r)
{
	const char *code = login_field(r, "code"), *stored, *tries_s, *reason, *then = login_field(r, "then");
	bool then_link = then != NULL;
	struct entry *e = NULL, *t = NULL;
	char hash[SECRET_HASH_HEX], ctx[600], num[24], stamp[16];
	long long tries = 0;
	struct mods m;
	int rc;

	hash[0] = '\0';
	if (!code)
		return req_fail_field(r, "code", "required", "code : champ obligatoire");
	if (then && strcmp(then, "card_link"))
		return req_fail_field(r, "then", "value", "then : card_link ou rien");
	if ((rc = login_rate(r, "otp-verify", NULL)) < 0)
		return rc;
	if ((rc = login_user(r, "otp-verify", auth_attrs, &e)) < 0)
		return rc;
	if ((rc = login_rate(r, "otp-verify", entry_get(e, "uid"))) < 0 ||
		(rc = txn_check(r, "otp-verify", e)) < 0)
		goto out;
	if ((reason = login_inactive_reason(e))) {
		rc = refuse_inactive(r, "otp-verify", "otp", e, reason);
		goto out;
	}
	stored = entry_get(e, "mmOtpHash");
	tries_s = entry_get(e, "mmOtpTries");
	tries = tries_s ? atoll(tries_s) : 0;
	if (!stored || tries >= (long long)r->cfg->otp_max_tries) {
		if (stored)
			(void)otp_discard(r, e, stored);
		login_audit(r, "otp-verify", "otp", entry_get(e, "uid"), false, "no pending code");
		rc = req_fail(r, -ESTALE, "aucun code en attente : un nouveau code est nécessaire");
		goto out;
	}
	if (store_parse_time(entry_get(e, "mmOtpExpires")) <= login_now()) {
		(void)otp_discard(r, e, stored);
		login_audit(r, "otp-verify", "otp", entry_get(e, "uid"), false, "code expired");
		rc = req_fail(r, -ETIMEDOUT, "code expiré : un nouveau code est nécessaire");
		goto out;
	}
	/* Reserve the try before the comparison, in one operation that also
	 * asserts the code is still the one read: of N parallel guesses at most
	 * otp_max_tries are compared, whichever daemon of this provider they
	 * reach (the code may not have replicated to ldap_lockout_uri yet). */
	{
		char *esc = store_escape(stored), *filter = NULL;

		if (!esc ||
			asprintf(&filter, "(&(mmOtpHash=%s)(!(mmOtpTries>=%u)))", esc,
				r->cfg->otp_max_tries) < 0)
			filter = NULL;
		free(esc);
		rc = filter ? store_reserve(r->store, e->dn, "mmOtpTries", filter, &tries) : -ENOMEM;
		free(filter);
	}
	if (rc == -ECANCELED) {
		fail_delay(r);
		login_audit(
			r, "otp-verify", "otp", entry_get(e, "uid"), false, "no pending code; tries spent");
		req_put(r, "tries_left", "0");
		rc = req_fail(r, -ESTALE, "code incorrect, trop d'essais : un nouveau code est nécessaire");
		goto out;
	}
	if (rc < 0) {
		rc = store_fail(r, rc, "code à usage unique");
		goto out;
	}
	snprintf(ctx, sizeof(ctx), "otp:%s", e->dn);
	/* Anything but 6 digits is a wrong code, counted like one. */
	if (strlen(code) <= CODE_MAX && strspn(code, "0123456789") == strlen(code) &&
		(rc = secret_keyed_hash(ctx, code, hash)) < 0)
		goto out;
	if (hash[0] && secret_equal(hash, stored)) {
		/* Deleting the exact value is the single-use gate: of two daemons
		 * verifying the same code, one gets -ESTALE. */
		rc = otp_discard(r, e, stored);
		if (rc == -ESTALE) {
			login_audit(r, "otp-verify", "otp", entry_get(e, "uid"), false, "code already used");
			rc = req_fail(r, -ESTALE, "code déjà utilisé : un nouveau code est nécessaire");
			goto out;
		}
		if (rc < 0) {
			rc = store_fail(r, rc, "code à usage unique");
			goto out;
		}
		if (login_handle_load(r, "pam-txn", login_field(r, "txn"), &t) == 0 &&
			(!then_link || txn_complete(r, t) < 0) && login_handle_delete(r, t) < 0)
			log_msg(LOG_DEBUG, "%s: transaction not deleted", entry_get(e, "uid"));
		store_time(login_now(), stamp);
		mods_init(&m);
		mods_add(&m, LDAP_MOD_REPLACE, "mmLastLogin", stamp);
		mods_add(&m, LDAP_MOD_REPLACE, "mmOtpTries", "0"); /* the next code starts afresh */
		if (store_modify(r->store, e->dn, &m) < 0)
			log_msg(LOG_WARNING, "%s: last login time not recorded", entry_get(e, "uid"));
		mods_free(&m);
		if (offline_store(r->cfg, e) < 0)
			log_msg(LOG_WARNING, "%s: offline verifier not kept", entry_get(e, "uid"));
		login_audit(r, "otp-verify", "password+otp", entry_get(e, "uid"), true, "login");
		req_put(r, "login", entry_get(e, "uid"));
		rc = 0;
		goto out;
	}
	fail_delay(r);
	if (tries >= (long long)r->cfg->otp_max_tries) {
		(void)otp_discard(r, e, stored);
		login_audit(r, "otp-verify", "otp", entry_get(e, "uid"), false, "wrong code; too many tries");
		req_put(r, "tries_left", "0");
		rc = req_fail(r, -ESTALE, "code incorrect, trop d'essais : un nouveau code est nécessaire");
		goto out;
	}
	snprintf(num, sizeof(num), "%lld", (long long)r->cfg->otp_max_tries - tries);
	req_put(r, "tries_left", num);
	login_audit(r, "otp-verify", "otp", entry_get(e, "uid"), false, "wrong code");
	rc = req_fail(r, -EACCES, "code incorrect (%s essai(s) restant(s))", num);
out:
	secret_wipe(hash, sizeof(hash));
	entry_free(t);
	entry_free(e);
	return rc;
}

/* ------------------------------------------------------------ MM_REQ_ACCT_CHECK */

int auth_acct_check(struct req *r)
{
	struct entry *e = NULL;
	const char *reason;
	bool cgu;
	int rc;

	if ((rc = login_user(r, "account", auth_attrs, &e)) == -EHOSTDOWN && r->cfg->offline_login &&
		r->who.uid == 0 && login_field(r, "user")) {
		struct offline_rec rec;

		if (offline_load(r->cfg, login_field(r, "user"), &rec) < 0)
			return rc;
		/* Active with the terms accepted at the last online login. */
		mm_msg_set_message(r->out, "connexion hors ligne");
		req_put(r, "login", rec.login);
		req_put(r, "status", MM_STATUS_ACTIVE);
		req_put(r, "cgu_required", "no");
		req_put(r, "offline", "yes");
		rc = rec.cgu ? 0 : req_fail(r, -EPERM, "les CGU doivent être acceptées en ligne");
		if (!rec.cgu)
			req_put(r, "reason", "cgu");
		login_audit(r, "account", "offline", rec.login, rec.cgu,
			rec.cgu ? "offline" : "terms of use not accepted");
		offline_rec_wipe(&rec);
		return rc;
	}
	if (rc < 0)
		return rc;
	if (!strcmp(entry_get(e, "mmAccountType"), MM_TYPE_ORG))
		reason = "org";
	else
		reason = login_inactive_reason(e);
	if (reason) {
		rc = refuse_inactive(r, "account", NULL, e, reason);
		goto out;
	}
	cgu = !entry_get(e, "mmCguAcceptedAt");
	if (!cgu && offline_mark_cgu(r->cfg, entry_get(e, "uid")) < 0)
		log_msg(LOG_WARNING, "%s: offline record not updated", entry_get(e, "uid"));
	req_put(r, "login", entry_get(e, "uid"));
	req_put(r, "status", entry_get(e, "mmStatus"));
	req_put(r, "cgu_required", cgu ? "yes" : "no");
	login_audit(r, "account", NULL, entry_get(e, "uid"), true,
		cgu ? "active; terms of use to accept" : "active");
out:
	entry_free(e);
	return rc;
}

/* ------------------------------------------------------------ MM_REQ_PASSWORD_CHANGE */

int auth_password_change(struct req *r)
{
	const char *old = login_field(r, "old_password"), *new = login_field(r, "new_password"), *rule = NULL;
	char hashed[SECRET_PWHASH_MAX];
	struct entry *e = NULL;
	struct mods m;
	int rc;

	hashed[0] = '\0';
	if (!old)
		return req_fail_field(
			r, "old_password", "required", "ancien mot de passe : champ obligatoire");
	if (!new)
		return req_fail_field(
			r, "new_password", "required", "nouveau mot de passe : champ obligatoire");
	if (strlen(old) > MM_PASSWORD_MAX_BYTES)
		return req_fail_field(r, "old_password", "max_length",
			"ancien mot de passe : %d octets au plus", MM_PASSWORD_MAX_BYTES);
	if ((rc = login_rate(r, "password-change", NULL)) < 0)
		return rc;
	if ((rc = login_user(r, "password-change", auth_attrs, &e)) < 0)
		return rc;
	if ((rc = login_rate(r, "password-change", entry_get(e, "uid"))) < 0)
		goto out;
	if ((rc = login_password_check(r, "password-change", e, old)) < 0)
		goto out;
	if (validate_password(new, &rule) < 0) {
		login_audit(r, "password-change", "password", entry_get(e, "uid"), false, rule);
		rc = req_fail_field(r, "new_password", rule, "%s", password_rule_message(rule));
		goto out;
	}
	if (!strcmp(old, new)) {
		login_audit(r, "password-change", "password", entry_get(e, "uid"), false, "same");
		rc = req_fail_field(
			r, "new_password", "same", "le nouveau mot de passe doit différer de l'ancien");
		goto out;
	}
	if ((rc = secret_password_hash(new, hashed)) < 0)
		goto out;
	mods_init(&m);
	mods_add(&m, LDAP_MOD_REPLACE, "userPassword", hashed);
	rc = store_modify(r->store, e->dn, &m);
	mods_free(&m);
	if (rc < 0) {
		rc = store_fail(r, rc, "changement de mot de passe");
		goto out;
	}
	/* The local verifier holds the old password: gone until the next online login. */
	offline_forget(r->cfg, e);
	login_audit(r, "password-change", "password", entry_get(e, "uid"), true, NULL);
	req_put(r, "login", entry_get(e, "uid"));
	mm_msg_set_message(r->out, "mot de passe changé");
out:
	secret_wipe(hashed, sizeof(hashed));
	entry_free(e);
	return rc;
}

/* ------------------------------------------------------------ slapd's lockout policy */

/* The daemon's lockout rules in ppolicy's words. */
static void policy_values(const struct mm_config *c, struct mods *m, int op)
{
	mods_add(m, op, "pwdLockout", c->lockout_threshold ? "TRUE" : "FALSE");
	mods_addf(m, op, "pwdMaxFailure", "%u", c->lockout_threshold);
	mods_addf(m, op, "pwdLockoutDuration", "%u", c->lockout_duration);
	mods_addf(m, op, "pwdFailureCountInterval", "%u", c->lockout_duration);
}

/* Adds ou=policies and the policy entry (on a directory loaded before its
 * suffix existed, the loader could not). */
static int policy_create(const struct mm_config *c, struct store *s, const char *dn)
{
	char *ou = NULL;
	struct mods m;
	int rc;

	if (asprintf(&ou, "ou=policies,%s", c->ldap_base) < 0)
		return -ENOMEM;
	mods_init(&m);
	mods_add(&m, LDAP_MOD_ADD, "objectClass", "organizationalUnit");
	mods_add(&m, LDAP_MOD_ADD, "ou", "policies");
	rc = store_add(s, ou, &m);
	mods_free(&m);
	free(ou);
	if (rc < 0 && rc != -EEXIST)
		return rc;
	mods_init(&m);
	mods_add(&m, LDAP_MOD_ADD, "objectClass", "organizationalRole");
	mods_add(&m, LDAP_MOD_ADD, "objectClass", "pwdPolicy");
	mods_add(&m, LDAP_MOD_ADD, "cn", "lockout");
	mods_add(&m, LDAP_MOD_ADD, "pwdAttribute", "userPassword");
	policy_values(c, &m, LDAP_MOD_ADD);
	rc = store_add(s, dn, &m);
	mods_free(&m);
	return rc == -EEXIST ? 0 : rc;
}

int login_policy_sync(const struct mm_config *c, struct store *s)
{
	char *dn = NULL;
	struct mods m;
	int rc;

	if (!c->ldap_ppolicy)
		return 0;
	/* ppolicy counts failed binds under the daemon's own rules. */
	if (asprintf(&dn, "cn=lockout,ou=policies,%s", c->ldap_base) < 0)
		return -ENOMEM;
	mods_init(&m);
	policy_values(c, &m, LDAP_MOD_REPLACE);
	rc = store_modify(s, dn, &m);
	mods_free(&m);
	if (rc == -ENOENT)
		rc = policy_create(c, s, dn);
	free(dn);
	return rc;
}
