/* Card removal: a watcher per token that opened a session runs
 * card_removal_action (lock, logout) when the card leaves the reader. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "../card/cardproto.h"
#include "card_priv.h"
#include "log.h"

/* One watcher per token: the session(s) opened with that card. */
struct monitor {
	struct monitor *next;
	char token[40];
	char login[256];
	char action[8];
	char *command;
	char *module, *token_spec, *reader, *helper;
	unsigned poll_ms, timeout_s;
};

static pthread_mutex_t monitors_lock = PTHREAD_MUTEX_INITIALIZER;
static struct monitor *monitors;

static void monitor_free(struct monitor *m)
{
	if (!m)
		return;
	free(m->command);
	free(m->module);
	free(m->token_spec);
	free(m->reader);
	free(m->helper);
	free(m);
}

/* Runs the configured command (no shell): argv split on blanks, MEDIMAIL_* in the environment.
 * login: the caller's copy of m->login, which card_monitor_start() may rewrite meanwhile. */
static int removal_run(const struct monitor *m, const char *login)
{
	char *copy = NULL, *argv[32], *save = NULL, *tok;
	char env_login[300], env_action[40], env_token[80];
	char *envp[] = {(char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", env_login, env_action, env_token, NULL};
	char def[300];
	size_t n = 0;
	pid_t pid;
	int st = 0, r;

	snprintf(env_login, sizeof(env_login), "MEDIMAIL_LOGIN=%s", login);
	snprintf(env_action, sizeof(env_action), "MEDIMAIL_CARD_ACTION=%s", m->action);
	snprintf(env_token, sizeof(env_token), "MEDIMAIL_CARD_TOKEN=%s", m->token);
	if (m->command && *m->command) {
		copy = strdup(m->command);
	} else {
		/* Without a command: logind does it. */
		if (!strcmp(m->action, "lock"))
			snprintf(def, sizeof(def), "/usr/bin/loginctl lock-sessions");
		else
			snprintf(def, sizeof(def), "/usr/bin/loginctl terminate-user %s", login);
		copy = strdup(def);
	}
	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, " \t", &save); tok && n < 31; tok = strtok_r(NULL, " \t", &save))
		argv[n++] = tok;
	argv[n] = NULL;
	if (n == 0) {
		free(copy);
		return -EINVAL;
	}
	r = card_spawn(argv[0], argv, envp, -1, &pid);
	free(copy);
	if (r < 0)
		return r;
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -ECHILD;
}

static void *monitor_main(void *arg)
{
	struct monitor *m = arg;
	struct mm_config c = {0};
	struct card_helper h = {-1, -1};
	struct mm_msg *req = mm_msg_new(MM_CARD_OP_WATCH, false), *rep = NULL;
	struct card_answer a = {0};
	char poll_ms[16];
	int rc;

	c.card_helper = m->helper;
	c.card_module = m->module;
	c.card_token = m->token_spec;
	c.card_reader = m->reader;
	snprintf(poll_ms, sizeof(poll_ms), "%u", m->poll_ms);
	rc = req ? card_helper_common(&c, req) : -ENOMEM;
	if (rc == 0)
		rc = mm_msg_add(req, "poll_ms", poll_ms);
	if (rc == 0)
		rc = card_helper_start(&c, &h);
	if (rc == 0)
		rc = mm_msg_send(h.fd, req, 10000);
	if (rc == 0)
		rc = mm_msg_recv(h.fd, true, 10000, &rep);
	if (rc == 0 && (card_answer_parse(rep, &a) < 0 || strcmp(a.result, "present")))
		rc = -ENODEV;
	mm_msg_free(rep);
	rep = NULL;
	if (rc == 0) {
		/* The helper says "present" each poll round, "removed" when the card left. Silent
		 * longer than a round and card_timeout: its module hangs; the card cannot be
		 * vouched for any more, so the removal action runs (the safe side). */
		int wait_ms = (int)m->poll_ms + (int)m->timeout_s * 1000, n;

		for (;;) {
			struct pollfd p = {.fd = h.fd, .events = POLLIN};

			if ((n = poll(&p, 1, wait_ms)) < 0 && errno == EINTR)
				continue;
			if (n == 0) {
				rc = -ETIMEDOUT;
				break;
			}
			mm_msg_free(rep);
			rep = NULL;
			card_answer_clear(&a);
			rc = mm_msg_recv(h.fd, true, 5000, &rep);
			if (rc < 0 || card_answer_parse(rep, &a) < 0 || strcmp(a.result, "present"))
				break;
		}
		if (rc == -ETIMEDOUT) {
			struct audit_ctx ac = {.event = "card_removed", .caller = "monitor", .method = "cps"};
			char login[256];

			log_msg(LOG_WARNING,
				"card monitor for token %s: helper silent for %d ms (hung PKCS#11 module?): "
				"killed, the removal action runs",
				m->token, wait_ms);
			card_helper_stop(&h); /* before the action: the token can be watched again */
			pthread_mutex_lock(&monitors_lock);
			snprintf(login, sizeof(login), "%s", m->login);
			pthread_mutex_unlock(&monitors_lock);
			ac.account = login;
			rc = removal_run(m, login);
			audit(&ac, rc == 0, rc == 0 ? "helper hung" : "removal command failed");
		} else if (rc == 0 && !strcmp(a.result, "removed")) {
			struct audit_ctx ac = {.event = "card_removed", .caller = "monitor", .method = "cps"};
			char login[256];

			pthread_mutex_lock(&monitors_lock);
			snprintf(login, sizeof(login), "%s", m->login);
			pthread_mutex_unlock(&monitors_lock);
			ac.account = login;
			rc = removal_run(m, login);
			audit(&ac, rc == 0, rc == 0 ? m->action : "removal command failed");
		} else {
			log_msg(LOG_WARNING, "card monitor for token %s ended: %s", m->token,
				rc < 0 ? strerror(-rc) : a.result);
		}
	} else {
		log_msg(LOG_NOTICE, "card monitor for token %s not started: %s", m->token, strerror(-rc));
	}
	card_answer_clear(&a);
	mm_msg_free(rep);
	mm_msg_free(req);
	card_helper_stop(&h);
	pthread_mutex_lock(&monitors_lock);
	for (struct monitor **pp = &monitors; *pp; pp = &(*pp)->next)
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	pthread_mutex_unlock(&monitors_lock);
	monitor_free(m);
	return NULL;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

void card_monitor_start(const struct mm_config *c, const char *login, const char *token)
{
	struct monitor *m;
	pthread_attr_t attr;
	pthread_t t;

	pthread_mutex_lock(&monitors_lock);
	for (m = monitors; m; m = m->next)
		if (!strcmp(m->token, token)) {
			/* Already watched: the latest session opened with it is the one to act on. */
			snprintf(m->login, sizeof(m->login), "%s", login);
			pthread_mutex_unlock(&monitors_lock);
			return;
		}
	m = calloc(1, sizeof(*m));
	if (!m) {
		pthread_mutex_unlock(&monitors_lock);
		return;
	}
	snprintf(m->token, sizeof(m->token), "%s", token);
	snprintf(m->login, sizeof(m->login), "%s", login);
	snprintf(m->action, sizeof(m->action), "%s", c->card_removal_action);
	m->poll_ms = c->card_poll_ms;
	m->timeout_s = c->card_timeout;
	m->command = dup_or_null(c->card_removal_command);
	m->module = dup_or_null(c->card_module);
	m->helper = dup_or_null(c->card_helper);
	m->reader = dup_or_null(c->card_reader);
	/* Watch the very token that signed, whatever card_token selects. */
	m->token_spec = malloc(13 + 3 * strlen(token) + 1);
	if (m->token_spec) {
		char *o = m->token_spec + sprintf(m->token_spec, "pkcs11:token=");
		for (const unsigned char *q = (const unsigned char *)token; *q; q++)
			o += (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
					(*q >= '0' && *q <= '9') || *q == '-' || *q == '_' || *q == '.'
				? sprintf(o, "%c", *q)
				: sprintf(o, "%%%02X", *q);
	}
	if (!m->module || !m->helper || !m->token_spec) {
		pthread_mutex_unlock(&monitors_lock);
		monitor_free(m);
		return;
	}
	m->next = monitors;
	monitors = m;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, monitor_main, m) != 0) {
		monitors = m->next;
		monitor_free(m);
	}
	pthread_attr_destroy(&attr);
	pthread_mutex_unlock(&monitors_lock);
}
