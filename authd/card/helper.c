/* The medimail-card helper: one process per question to the card (PKCS#11
 * runs there, never in the daemon), killed at card_timeout. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../card/cardproto.h"
#include "card_priv.h"
#include "log.h"

extern char **environ;

/* Starts path with argv and envp: default signal dispositions and an empty mask (the daemon's
 * threads block its signals), fds 0 and 1 on io (or /dev/null), stderr on /dev/null, nothing else. */
int card_spawn(const char *path, char *const argv[], char *const envp[], int io, pid_t *ret_pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, def;
	int r;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGHUP);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGCHLD);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (io >= 0) {
		posix_spawn_file_actions_adddup2(&fa, io, 0);
		posix_spawn_file_actions_adddup2(&fa, io, 1);
	} else {
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	}
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	r = posix_spawn(ret_pid, path, &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return -r;
}

int card_helper_start(const struct mm_config *c, struct card_helper *ret)
{
	char *argv[] = {(char *)"medimail-card", NULL};
	int sv[2], r;

	ret->pid = -1;
	ret->fd = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	/* The environment passes through: PKCS#11 modules read theirs (OPENSC_CONF, SOFTHSM2_CONF). */
	r = card_spawn(c->card_helper, argv, environ, sv[1], &ret->pid);
	close(sv[1]);
	if (r < 0) {
		close(sv[0]);
		ret->pid = -1;
		return r;
	}
	ret->fd = sv[0];
	return 0;
}

void card_helper_stop(struct card_helper *h)
{
	if (h->fd >= 0)
		close(h->fd);
	if (h->pid > 0) {
		/* Give it a moment to exit on its own, then kill it. */
		for (int i = 0; i < 20; i++) {
			if (waitpid(h->pid, NULL, WNOHANG) == h->pid) {
				h->pid = -1;
				break;
			}
			usleep(10000);
		}
		if (h->pid > 0) {
			kill(h->pid, SIGKILL);
			waitpid(h->pid, NULL, 0);
		}
	}
	h->pid = -1;
	h->fd = -1;
}

int card_helper_common(const struct mm_config *c, struct mm_msg *m)
{
	int r = mm_msg_add(m, "module", c->card_module);

	if (r == 0 && c->card_token && *c->card_token)
		r = mm_msg_add(m, "token", c->card_token);
	if (r == 0 && c->card_reader && *c->card_reader)
		r = mm_msg_add(m, "reader", c->card_reader);
	return r;
}

/* Asks the card to sign challenge; the helper is killed on timeout. The
 * helper sends the PIN only to a card that holds expect (expect_len bytes of
 * DER, the certificate read before), else answers "card_changed". */
int card_helper_sign(const struct mm_config *c, const char *pin, const unsigned char *expect,
	size_t expect_len, const unsigned char *chal, size_t chal_len, struct card_answer *ret)
{
	struct card_helper h;
	struct mm_msg *req = mm_msg_new(MM_CARD_OP_SIGN, false), *rep = NULL;
	char hex[2 * MM_CARD_CHALLENGE_MAX + 1], *expect_hex = NULL;
	int r;

	if (!req)
		return -ENOMEM;
	if (!(expect_hex = malloc(2 * expect_len + 1))) {
		mm_msg_free(req);
		return -ENOMEM;
	}
	card_hex_encode(expect, expect_len, expect_hex);
	card_hex_encode(chal, chal_len, hex);
	r = card_helper_common(c, req);
	if (r == 0)
		r = mm_msg_add(req, "cert_label", c->card_cert_label);
	if (r == 0)
		r = mm_msg_add(req, "expect_cert", expect_hex);
	free(expect_hex);
	if (r == 0)
		r = mm_msg_add(req, "challenge", hex);
	if (r == 0)
		r = mm_msg_add(req, "pin", pin);
	if (r < 0) {
		mm_msg_free(req);
		return r;
	}
	r = card_helper_start(c, &h);
	if (r == 0)
		r = mm_msg_send(h.fd, req, (int)c->card_timeout * 1000);
	mm_msg_free(req); /* wipes the PIN */
	if (r == 0)
		r = mm_msg_recv(h.fd, true, (int)c->card_timeout * 1000, &rep);
	card_helper_stop(&h);
	if (r == 0 && rep->code != MM_CARD_OP_SIGN)
		r = -EPROTO;
	if (r == 0)
		r = card_answer_parse(rep, ret);
	mm_msg_free(rep);
	return r;
}

/* One question to the helper without a PIN (op PRESENT or READ; READ also
 * names the certificate to read): 0 with ret->result "present" (and, for
 * READ, the certificate) or why not. */
int card_helper_ask(const struct mm_config *c, uint16_t op, struct card_answer *ret)
{
	struct card_helper h;
	struct mm_msg *req = mm_msg_new(op, false), *rep = NULL;
	int r;

	if (!req)
		return -ENOMEM;
	r = card_helper_common(c, req);
	if (r == 0 && op == MM_CARD_OP_READ)
		r = mm_msg_add(req, "cert_label", c->card_cert_label);
	if (r == 0)
		r = card_helper_start(c, &h);
	if (r == 0) {
		r = mm_msg_send(h.fd, req, (int)c->card_timeout * 1000);
		if (r == 0)
			r = mm_msg_recv(h.fd, true, (int)c->card_timeout * 1000, &rep);
		card_helper_stop(&h);
	}
	mm_msg_free(req);
	if (r == 0 && rep->code != op)
		r = -EPROTO;
	if (r == 0)
		r = card_answer_parse(rep, ret);
	if (r == 0 && op == MM_CARD_OP_READ && !strcmp(ret->result, "present") && !ret->cert) {
		card_answer_clear(ret);
		r = -EBADMSG;
	}
	mm_msg_free(rep);
	return r;
}

int card_present(const struct mm_config *c, struct card_presence *ret, struct fault *f)
{
	struct card_answer a;
	int rc;

	memset(ret, 0, sizeof(*ret));
	rc = card_helper_ask(c, MM_CARD_OP_PRESENT, &a);
	if (rc < 0) {
		log_msg(LOG_ERR, "card helper %s: %s", c->card_helper, strerror(-rc));
		return card_refuse(f, rc == -ETIMEDOUT ? -ETIMEDOUT : -EIO,
			rc == -ETIMEDOUT ? "card_timeout" : "card_error", "lecteur de carte illisible");
	}
	ret->present = !strcmp(a.result, "present");
	if (!ret->present)
		card_copy_word(ret->reason, sizeof(ret->reason), a.result);
	card_answer_clear(&a);
	return 0;
}
