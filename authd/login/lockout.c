/* The password lockout shared by every door and by slapd's ppolicy: its arithmetic, the counters in the directory, the policy entry. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "log.h"
#include "login_int.h"

/* ppolicy's permanent lock (an administrator's, or pwdLockoutDuration 0). */
#define PPOLICY_LOCKED_FOREVER "000001010000Z"

const char *const login_password_attrs[] = {"uid", "mmAccountType", "userPassword", "mmFailCount",
	"mmLockedUntil", "pwdAccountLockedTime", "pwdFailureTime", "mmLastLogin", NULL};

/* ------------------------------------------------------------ arithmetic (no directory) */

long long lockout_until(
	long long now, long long mm_until, long long pp_locked_at, bool pp_forever, unsigned duration)
{
	long long t = mm_until;

	if (pp_forever)
		return now + 365LL * 86400;
	if (pp_locked_at > 0 && pp_locked_at + (long long)duration > t)
		t = pp_locked_at + (long long)duration;
	return t > now ? t : 0;
}

long long lockout_bind_failures(
	const long long *times, size_t n, long long now, unsigned duration, long long last_login)
{
	long long since = now - (long long)duration, count = 0;

	if (last_login > since)
		since = last_login;
	for (size_t i = 0; i < n; i++)
		if (times[i] > since)
			count++;
	return count;
}

long long lockout_attempt_limit(unsigned threshold, long long bind_failures)
{
	return (long long)threshold - bind_failures;
}

bool lockout_reached(unsigned threshold, long long n, long long bind_failures)
{
	return threshold && n + bind_failures >= (long long)threshold;
}

long long lockout_otp_carried(long long now, long long last, long long tries, unsigned duration)
{
	if (last > 0 && now >= last && now - last < (long long)duration)
		return tries < 0 ? 0 : tries;
	return 0;
}

/* ------------------------------------------------------------ the entry's counters */

/* The end of the lock the account e is under, 0 when none. */
static long long locked_until(const struct mm_config *c, const struct entry *e)
{
	const char *pp = entry_get(e, "pwdAccountLockedTime");

	return lockout_until(login_now(), store_parse_time(entry_get(e, "mmLockedUntil")),
		pp ? store_parse_time(pp) : 0, pp && !strcmp(pp, PPOLICY_LOCKED_FOREVER),
		c->lockout_duration);
}

/* Failed simple binds that ppolicy still counts: they spend the same failure budget. */
static long long bind_failures(const struct mm_config *c, const struct entry *e)
{
	const struct attr *a = entry_attr(e, "pwdFailureTime");
	long long *times = a && a->nvals ? calloc(a->nvals, sizeof(*times)) : NULL, n;
	size_t k = 0;

	for (size_t i = 0; times && i < a->nvals; i++)
		times[k++] = store_parse_time(a->vals[i]);
	n = lockout_bind_failures(
		times, k, login_now(), c->lockout_duration, store_parse_time(entry_get(e, "mmLastLogin")));
	free(times);
	return n;
}

/* Failure counters live on the provider of ldap_lockout_uri, the same for
 * every daemon; when it is unreachable (or has not received the account
 * yet) the daemon's own provider counts, one budget per provider. */
static int counters_reserve(struct store *s, const char *dn, const char *filter, long long *ret_n)
{
	struct store *c = store_counters(s);
	int rc = store_reserve(c, dn, "mmFailCount", filter, ret_n);

	if ((rc == -EHOSTDOWN || rc == -ENOENT) && c != s) {
		log_msg(LOG_WARNING, "lockout provider: %s; counting on the local provider", strerror(-rc));
		rc = store_reserve(s, dn, "mmFailCount", filter, ret_n);
	}
	return rc;
}

static int counters_modify(struct store *s, const char *dn, struct mods *m)
{
	struct store *c = store_counters(s);
	int rc = store_modify(c, dn, m);

	if ((rc == -EHOSTDOWN || rc == -ENOENT) && c != s)
		rc = store_modify(s, dn, m);
	return rc;
}

/* Reserves one password attempt before it is evaluated: mmFailCount goes
 * up by one in the directory only while it is under the threshold and the
 * account is not locked, in one operation (assertion control). So that N
 * parallel guesses, on one daemon or on several, cannot all read a count
 * under the threshold and then each be verified. -ECANCELED: no attempt
 * left. *ret_n: this attempt's number. */
static int attempt_reserve(
	struct store *s, const struct mm_config *c, const struct entry *e, long long *ret_n)
{
	char filter[160], stamp[16];
	long long limit = lockout_attempt_limit(c->lockout_threshold, bind_failures(c, e));

	*ret_n = 0;
	if (!c->lockout_threshold)
		return counters_reserve(s, e->dn, "(objectClass=*)", ret_n);
	if (limit <= 0)
		return -ECANCELED;
	store_time(login_now(), stamp);
	snprintf(filter, sizeof(filter), "(&(!(mmFailCount>=%lld))(!(mmLockedUntil>=%s)))", limit, stamp);
	return counters_reserve(s, e->dn, filter, ret_n);
}

/* The reserved attempt n failed: at the threshold, lock the account, for
 * the daemon's logins (mmLockedUntil) and for simple binds (ppolicy's
 * pwdAccountLockedTime). Sets *ret_until when it locked. */
static int attempt_failed(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, long long n, long long *ret_until)
{
	char until[16], now[16];
	struct mods m;
	int rc;

	*ret_until = 0;
	if (!lockout_reached(c->lockout_threshold, n, bind_failures(c, e)))
		return 0;
	*ret_until = login_now() + c->lockout_duration;
	store_time(*ret_until, until);
	store_time(login_now(), now);
	for (bool pp = c->ldap_ppolicy;; pp = false) {
		mods_init(&m);
		mods_add(&m, LDAP_MOD_REPLACE, "mmLockedUntil", until);
		mods_add(&m, LDAP_MOD_REPLACE, "mmFailCount", "0");
		if (pp)
			mods_add(&m, LDAP_MOD_REPLACE, "pwdAccountLockedTime", now);
		rc = counters_modify(s, e->dn, &m);
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
	login_event(who, "lockout", "password", entry_get(e, "uid"), true, "failure threshold reached");
	return 0;
}

/* A right password, attempt n: the failures are forgiven, the attempt
 * given back. Only the attempts reserved up to this one: a guess reserved
 * while this password was verified (in flight, or failed) stays counted;
 * setting the count to 0 would give it back too. A count that fell under n
 * meanwhile (a lock zeroed it) is left as it is. */
static int failures_reset(struct store *s, const struct entry *e, long long n)
{
	struct store *c = store_counters(s);
	char filter[48];
	long long left;
	struct mods m;
	int rc = 0;

	if (n > 0) {
		snprintf(filter, sizeof(filter), "(mmFailCount>=%lld)", n);
		rc = store_increment_if(c, e->dn, "mmFailCount", -n, filter, &left);
		if ((rc == -EHOSTDOWN || rc == -ENOENT) && c != s)
			rc = store_increment_if(s, e->dn, "mmFailCount", -n, filter, &left);
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
		rc = counters_modify(s, e->dn, &m);
	mods_free(&m);
	return rc;
}

static int refuse_locked(const struct caller *who, const char *event, const char *method,
	const struct entry *e, long long until, struct fault *f)
{
	login_event(who, event, method, entry_get(e, "uid"), false, "account locked");
	return login_locked_fault(until, f);
}

static bool password_right(const struct entry *e, const char *password, void *arg)
{
	(void)arg;
	return secret_password_verify(entry_get(e, "userPassword"), password) == 0;
}

int login_secret_verify(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *event, const char *method, const struct entry *e, const char *secret,
	login_secret_check check, void *arg, struct fault *f)
{
	long long until, n = 0;
	const char *bad;
	char why[64];
	int rc;

	if ((until = locked_until(c, e)))
		return refuse_locked(who, event, method, e, until, f);
	if (!strcmp(entry_get(e, "mmAccountType") ?: "", MM_TYPE_ORG)) {
		login_dummy_verify(secret);
		login_fail_delay(c);
		login_event(who, event, method, entry_get(e, "uid"), false,
			"an ORG logs in through an individual account");
		return fault_set(f, -EACCES, "identifiant ou mot de passe incorrect");
	}
	rc = attempt_reserve(s, c, e, &n);
	if (rc == -ECANCELED) {
		/* Every attempt left is taken by requests in flight, or a lock was
		 * set since the entry was read: not evaluated.  Tell its end if it
		 * is known by now. */
		static const char *const lock_attrs[] = {"mmLockedUntil", "pwdAccountLockedTime", NULL};
		struct entry *now = NULL;

		until = store_read(store_counters(s), e->dn, lock_attrs, &now) == 0 ? locked_until(c, now)
										    : 0;
		entry_free(now);
		login_fail_delay(c);
		return refuse_locked(who, event, method, e, until, f);
	}
	if (rc < 0) {
		login_event(who, event, method, entry_get(e, "uid"), false,
			"attempt not reserved: directory error");
		return fault_store(f, rc, "authentification");
	}
	if (check(e, secret, arg)) {
		/* Given back at once: what follows (an inactive account, a new
		 * password refused by the rules) is no guess. */
		if ((rc = failures_reset(s, e, n)) < 0) {
			login_event(who, event, method, entry_get(e, "uid"), false,
				"right secret; failures not reset");
			return fault_store(f, rc, "authentification");
		}
		return 0;
	}
	rc = attempt_failed(s, c, who, e, n, &until);
	login_fail_delay(c);
	bad = strcmp(method, "password") ? "bad secret" : "bad password";
	if (rc < 0) {
		snprintf(why, sizeof(why), "%s; lock not recorded", bad);
		login_event(who, event, method, entry_get(e, "uid"), false, why);
		return fault_store(f, rc, "authentification");
	}
	if (until) {
		snprintf(why, sizeof(why), "%s; account locked", bad);
		login_event(who, event, method, entry_get(e, "uid"), false, why);
		return login_locked_fault(until, f);
	}
	login_event(who, event, method, entry_get(e, "uid"), false, bad);
	return fault_set(f, -EACCES, "identifiant ou mot de passe incorrect");
}

int login_password_verify(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *event, const struct entry *e, const char *password, struct fault *f)
{
	return login_secret_verify(s, c, who, event, "password", e, password, password_right, NULL, f);
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
