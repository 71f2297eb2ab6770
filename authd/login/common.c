/* What the login services share: the clock, the audit line, the account look-up, the rate limits, the work spent on unknown accounts. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accounts.h"
#include "log.h"
#include "login_int.h"
#include "ratelimit.h"

#define META_MAX 128

const char *const login_auth_attrs[] = {"uid", "mmAccountType", "mmStatus", "mmLoginMail", "uidNumber",
	"userPassword", "mmFailCount", "mmLockedUntil", "mmOtpHash", "mmOtpExpires", "mmOtpTries",
	"mmOtpSentAt", "mmCguAcceptedAt", "mmStatusReason", "mmMssAddress", "pwdAccountLockedTime",
	"pwdFailureTime", "mmLastLogin", NULL};

long long login_now(void)
{
	return (long long)time(NULL);
}

const char *login_printable(const char *s)
{
	if (!s || strlen(s) > META_MAX)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return NULL;
	return s;
}

void login_event(const struct caller *who, const char *event, const char *method, const char *account,
	bool ok, const char *reason)
{
	struct audit_ctx a = {
		.event = event,
		.caller = who->name,
		.method = method,
		.service = login_printable(who->service),
		.remote = login_printable(who->rhost),
		.account = account,
	};

	audit(&a, ok, reason);
}

const char *login_inactive_reason(const struct entry *e)
{
	return accounts_inactive_reason(e);
}

int login_find(struct store *s, const struct mm_config *c, const struct caller *who, const char *event,
	const char *user, const char *const *attrs, struct entry **ret, struct fault *f)
{
	return access_resolve(c, s, who, ACCESS_SELF, ACCESS_QUIET, "user", user, attrs, event, ret, f);
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

int login_rate_take(const struct mm_config *c, const struct caller *who, const char *event,
	const char *account, struct fault *f)
{
	char src[200];
	const char *rhost, *id, *why;
	unsigned per_minute = account ? c->rate_per_account : c->rate_per_source, retry = 0;
	struct rate_rule rule = {.burst = per_minute, .per_second = per_minute / 60.0};
	int rc;

	if (per_minute == 0)
		return 0;
	/* Called once per request without the account (the source bucket),
	 * then once the account is known (its bucket). The source is the caller;
	 * the remote host counts only when root says it (sshd, login; the HTTP
	 * door, which runs as root, gives the peer it saw): any other caller
	 * would name a new rhost for each fresh bucket. */
	rhost = who->uid == 0 ? login_printable(who->rhost) : NULL;
	if (rhost)
		snprintf(src, sizeof(src), "%s/%s", who->name, rhost);
	else
		snprintf(src, sizeof(src), "%s", who->name);
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
		login_event(who, event, NULL, account, false, "rate limit unavailable");
		return fault_set(f, rc, "limite de tentatives indisponible");
	}
	if (rc == -ENOBUFS)
		why = "rate limit table full";
	else
		why = account ? "rate limit per account" : "rate limit per source";
	login_event(who, event, NULL, account, false, why);
	fault_putf(f, "retry_after", "%u", retry);
	return fault_set(f, -EAGAIN, "trop de tentatives : réessayez dans %u s", retry);
}

void login_fail_delay(const struct mm_config *c)
{
	if (c->fail_delay_ms)
		usleep(c->fail_delay_ms * 1000u);
}

/* Spends the same argon2id work on an unknown account as on a known one. */
static char dummy_hash[SECRET_PWHASH_MAX];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void dummy_init(void)
{
	if (secret_password_hash("medimail-authd dummy password", dummy_hash) < 0)
		dummy_hash[0] = '\0';
}

void login_dummy_verify(const char *password)
{
	pthread_once(&dummy_once, dummy_init);
	if (dummy_hash[0] && secret_password_verify(dummy_hash, password) == 0)
		log_msg(LOG_DEBUG, "dummy password matched");
}

int login_unknown_refuse(const struct mm_config *c, const char *password, struct fault *f)
{
	login_dummy_verify(password);
	login_fail_delay(c);
	return fault_set(f, -EACCES, "identifiant ou mot de passe incorrect");
}

static void format_time(long long t, char *out, size_t outsz)
{
	time_t tt = (time_t)t;
	struct tm tm;

	localtime_r(&tt, &tm);
	strftime(out, outsz, "%d/%m/%Y %H:%M:%S", &tm);
}

/* until 0: locked, end unknown (the failure budget is spent by requests in flight). */
int login_locked_fault(long long until, struct fault *f)
{
	char when[32];

	if (!until)
		return fault_set(f, -ENOLCK, "compte verrouillé après trop d'échecs");
	format_time(until, when, sizeof(when));
	fault_putf(f, "locked_until", "%lld", until);
	return fault_set(f, -ENOLCK, "compte verrouillé après trop d'échecs, jusqu'au %s", when);
}
