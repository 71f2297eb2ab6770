/* The directory followed by LDAP Content Synchronization (RFC 4533): one thread, one connection
 * of its own, one refreshAndPersist search per followed base. Each base asks for the attributes
 * its callback needs (or only the names, "1.1"), so that a change is told with the entry as it
 * made it and nobody reads the entry again; a delete, or a notification without them, is told
 * by its name alone. */
#include <errno.h>
#include <lber.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "follow.h"
#include "log.h"
#include "store_int.h"

#define FOLLOW_MAX 4
#define BACKOFF_MAX 30 /* seconds between attempts while slapd is down */
#define UNSUPPORTED_RETRY 300 /* seconds, when slapd refuses the sync control */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool running, stop;
	struct store *const *s;
	struct mm_config *const *c;
	pthread_rwlock_t *reload;
	struct follow_base bases[FOLLOW_MAX];
	size_t n;
	atomic_size_t live;
	atomic_bool told_unsupported;
} fw = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* Sleeps up to secs; true when asked to stop. */
static bool pause_for(unsigned secs)
{
	struct timespec until;
	bool stop;

	pthread_mutex_lock(&fw.lock);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += secs;
	while (!fw.stop && pthread_cond_timedwait(&fw.cond, &fw.lock, &until) != ETIMEDOUT)
		;
	stop = fw.stop;
	pthread_mutex_unlock(&fw.lock);
	return stop;
}

static bool stopping(void)
{
	bool stop;

	pthread_mutex_lock(&fw.lock);
	stop = fw.stop;
	pthread_mutex_unlock(&fw.lock);
	return stop;
}

static int sync_control(LDAPControl **ret)
{
	BerElement *ber = ber_alloc_t(LBER_USE_DER);
	struct berval bv;
	int rc = -ENOMEM;

	*ret = NULL;
	if (!ber)
		return -ENOMEM;
	/* syncRequestValue ::= SEQUENCE { mode ENUMERATED, cookie OPTIONAL, reloadHint DEFAULT FALSE } */
	if (ber_printf(ber, "{e}", (ber_int_t)LDAP_SYNC_REFRESH_AND_PERSIST) >= 0 &&
		ber_flatten2(ber, &bv, 0) == 0 &&
		ldap_control_create(LDAP_CONTROL_SYNC, 1, &bv, 1, ret) == LDAP_SUCCESS)
		rc = 0;
	ber_free(ber, 1);
	return rc;
}

enum outcome { DOWN, UNSUPPORTED, RELOADED, STOPPED };

/* The state an entry message reports (RFC 4533 2.2 syncStateValue ::= SEQUENCE { state
 * ENUMERATED, entryUUID, cookie OPTIONAL }): LDAP_SYNC_ADD, ..._DELETE; -1 without one. */
static int sync_state(LDAP *ld, LDAPMessage *msg)
{
	LDAPControl **ctrls = NULL, *ctrl;
	ber_int_t state = -1;

	if (ldap_get_entry_controls(ld, msg, &ctrls) != LDAP_SUCCESS)
		return -1;
	if ((ctrl = ldap_control_find(LDAP_CONTROL_SYNC_STATE, ctrls, NULL))) {
		BerElement *ber = ber_init(&ctrl->ldctl_value);

		if (!ber || ber_scanf(ber, "{e", &state) == LBER_ERROR)
			state = -1;
		if (ber)
			ber_free(ber, 1);
	}
	ldap_controls_free(ctrls);
	return state;
}

/* What an entry message of base b tells: its entry when it is the state after an add or a
 * change and carries at least one of the attributes asked (entry_free), else NULL. */
static struct entry *told_entry(LDAP *ld, LDAPMessage *msg, const struct follow_base *b)
{
	int state = b->attrs ? sync_state(ld, msg) : -1;
	struct entry *e;

	if (state != LDAP_SYNC_ADD && state != LDAP_SYNC_MODIFY)
		return NULL;
	e = store_entry_from(ld, msg);
	if (e && !e->nattrs) {
		entry_free(e);
		e = NULL;
	}
	return e;
}

/* The searches of one connection, until it breaks, the configuration changes or we stop. */
static enum outcome follow_once(LDAP *ld, struct store *s, char *const *dns, const char *since)
{
	static const char *const names_only[] = {LDAP_NO_ATTRS, NULL};
	char filter_since[64];
	int msgid[FOLLOW_MAX];
	bool live[FOLLOW_MAX] = {false};
	LDAPControl *ctrl = NULL, *ctrls[2] = {NULL, NULL};
	enum outcome out = DOWN;

	if (sync_control(&ctrl) < 0)
		return DOWN;
	ctrls[0] = ctrl;
	snprintf(filter_since, sizeof(filter_since), "(modifyTimestamp>=%s)", since);
	for (size_t i = 0; i < fw.n; i++) {
		int rc = ldap_search_ext(ld, dns[i], LDAP_SCOPE_SUBTREE,
			fw.bases[i].whole ? "(objectClass=*)" : filter_since,
			(char **)(fw.bases[i].attrs ? fw.bases[i].attrs : names_only), 0, ctrls, NULL, NULL,
			LDAP_NO_LIMIT, &msgid[i]);
		if (rc != LDAP_SUCCESS) {
			log_msg(LOG_WARNING, "following %s: %s", dns[i], ldap_err2string(rc));
			ldap_control_free(ctrl);
			return DOWN;
		}
		/* Whatever happened while nobody listened is unknown. */
		fw.bases[i].changed(NULL, NULL);
	}
	ldap_control_free(ctrl);

	for (;;) {
		struct timeval tick = {.tv_sec = 1};
		LDAPMessage *msg = NULL;
		size_t i;
		int rc, id;

		if (stopping()) {
			out = STOPPED;
			break;
		}
		pthread_rwlock_rdlock(fw.reload);
		rc = *fw.s != s;
		pthread_rwlock_unlock(fw.reload);
		if (rc) {
			out = RELOADED;
			break;
		}
		rc = ldap_result(ld, LDAP_RES_ANY, LDAP_MSG_ONE, &tick, &msg);
		if (rc == 0)
			continue;
		if (rc < 0) {
			log_msg(LOG_WARNING, "following the directory: connection lost");
			break;
		}
		id = ldap_msgid(msg);
		for (i = 0; i < fw.n && msgid[i] != id; i++)
			;
		if (i == fw.n) {
			ldap_msgfree(msg);
			continue;
		}
		if (rc == LDAP_RES_SEARCH_ENTRY) {
			char *dn = ldap_get_dn(ld, msg);
			struct entry *e = dn ? told_entry(ld, msg, &fw.bases[i]) : NULL;

			if (dn)
				fw.bases[i].changed(dn, e);
			entry_free(e);
			ldap_memfree(dn);
		} else if (rc == LDAP_RES_INTERMEDIATE) {
			/* A syncInfo message: the first one ends the refresh (refreshDone). Reads made while
			 * the refresh ran could have cached what it does not report: forget them too. */
			if (!live[i]) {
				live[i] = true;
				atomic_store(&fw.told_unsupported, false);
				atomic_fetch_add(&fw.live, 1);
				fw.bases[i].changed(NULL, NULL);
				log_msg(LOG_NOTICE, "following %s by content synchronization", dns[i]);
			}
		} else if (rc == LDAP_RES_SEARCH_RESULT) {
			int err = LDAP_OTHER;

			(void)ldap_parse_result(ld, msg, &err, NULL, NULL, NULL, NULL, 1);
			msg = NULL; /* freed by ldap_parse_result */
			if (err == LDAP_UNAVAILABLE_CRITICAL_EXTENSION || err == LDAP_PROTOCOL_ERROR ||
				err == LDAP_UNWILLING_TO_PERFORM || err == LDAP_INSUFFICIENT_ACCESS) {
				/* Said once: it is the site's choice until slapd's configuration changes. */
				log_msg(atomic_exchange(&fw.told_unsupported, true) ? LOG_DEBUG : LOG_WARNING,
					"following %s: the directory refuses content synchronization (%s; "
					"slapd needs "
					"the syncprov overlay): changes from other daemons are seen when "
					"caches expire",
					dns[i], ldap_err2string(err));
				out = UNSUPPORTED;
			} else
				log_msg(LOG_WARNING, "following %s: the search ended: %s", dns[i],
					ldap_err2string(err));
			break;
		}
		ldap_msgfree(msg);
	}
	for (size_t i = 0; i < fw.n; i++)
		if (live[i])
			atomic_fetch_sub(&fw.live, 1);
	return out;
}

static void *follow_main(void *arg)
{
	unsigned backoff = 1;

	(void)arg;
	while (!stopping()) {
		char *dns[FOLLOW_MAX] = {NULL}, since[16];
		struct store *s;
		LDAP *ld = NULL;
		enum outcome out = DOWN;
		size_t ok = 0;
		int r;

		pthread_rwlock_rdlock(fw.reload);
		s = *fw.s;
		for (; ok < fw.n; ok++)
			if (asprintf(&dns[ok], "%s,%s", fw.bases[ok].rdn, (*fw.c)->ldap_base) < 0) {
				dns[ok] = NULL;
				break;
			}
		r = ok == fw.n ? store_open_conn(s, &ld) : -ENOMEM;
		pthread_rwlock_unlock(fw.reload);
		/* Entries modified from now on, a second early for the clocks' rounding. */
		store_time((long long)time(NULL) - 1, since);
		if (r == 0) {
			out = follow_once(ld, s, dns, since);
			ldap_unbind_ext_s(ld, NULL, NULL);
		}
		for (size_t i = 0; i < ok; i++)
			free(dns[i]);
		if (out == STOPPED)
			break;
		if (out == RELOADED) {
			backoff = 1;
			continue;
		}
		if (pause_for(out == UNSUPPORTED ? UNSUPPORTED_RETRY : backoff))
			break;
		backoff = backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2;
	}
	return NULL;
}

int follow_start(struct store *const *s, struct mm_config *const *c, pthread_rwlock_t *reload,
	const struct follow_base *bases, size_t n)
{
	int r;

	if (n > FOLLOW_MAX)
		return -E2BIG;
	if (!(*c)->ldap_follow)
		return 0;
	fw.s = s;
	fw.c = c;
	fw.reload = reload;
	memcpy(fw.bases, bases, n * sizeof(*bases));
	fw.n = n;
	fw.stop = false;
	r = pthread_create(&fw.thread, NULL, follow_main, NULL);
	if (r)
		return -r;
	fw.running = true;
	return 0;
}

void follow_stop(void)
{
	if (!fw.running)
		return;
	pthread_mutex_lock(&fw.lock);
	fw.stop = true;
	pthread_cond_signal(&fw.cond);
	pthread_mutex_unlock(&fw.lock);
	pthread_join(fw.thread, NULL);
	fw.running = false;
}

size_t follow_live(void)
{
	return atomic_load(&fw.live);
}

bool follow_all_live(void)
{
	size_t n = __atomic_load_n(&fw.n, __ATOMIC_RELAXED);

	return n > 0 && atomic_load(&fw.live) == n;
}
