/* pam-otp-bench: password + e-mailed code logins through pam_medimail (whole PAM transactions) or straight on the wire (each step alone), with p50/p99 per step. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>

#include "wire.h"

/*
 * usage: pam-otp-bench -m pam|wire|password -u USERS -M MAILDIR -P PASSWORD [-n N] [-j THREADS]
 *                      [-S SERVICE -c CONFDIR] [-s SOCKET] [-l LABEL]
 * USERS: one "login mail" pair a line; each op uses its own user (N <= users).
 * MAILDIR: the SMTP sink's Maildir; each code is read from it and the message removed.
 * -m password: AUTH_PASSWORD alone on the wire (no code), to account the daemon's and slapd's CPU
 * for that step alone.
 * Output: one "RESULT label mode step n=... p50_ms=... p99_ms=... ops_s=... mean_ms=..." line a step.
 */

enum step { S_TOTAL, S_PASSWORD, S_OTP_SEND, S_MAIL, S_OTP_VERIFY, S_PW_AND_SEND, S_COUNT };
static const char *const step_names[S_COUNT] = {
	"transaction", "auth_password", "otp_send", "mail_pickup", "otp_verify", "password+send"};

struct user {
	char *login, *mail;
};

static struct user *users;
static size_t nusers, nops;
static const char *maildir, *password, *service, *confdir, *sock_path, *label = "medimail";
static bool pam_mode, password_only;
static double *lat[S_COUNT];
static atomic_size_t next_op, failures;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The code mailed to `mail`, removing the message; polls up to 20 s. */
static int read_code(const char *mail, char out[7])
{
	char want[320], path[4600], buf[8192];
	double end = now_ms() + 20000;

	snprintf(want, sizeof(want), "To: <%s>", mail);
	while (now_ms() < end) {
		char dir[4096];
		DIR *d;
		struct dirent *de;

		snprintf(dir, sizeof(dir), "%s/new", maildir);
		d = opendir(dir);
		while (d && (de = readdir(d))) {
			FILE *f;
			size_t n;
			char *hit;

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if (!(f = fopen(path, "re")))
				continue;
			n = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
			buf[n] = '\0';
			if (!strstr(buf, want) || !(hit = strstr(buf, "Ce code est le : ")))
				continue;
			memcpy(out, hit + strlen("Ce code est le : "), 6);
			out[6] = '\0';
			unlink(path);
			closedir(d);
			return 0;
		}
		if (d)
			closedir(d);
		usleep(500);
	}
	return -ETIMEDOUT;
}

/* ------------------------------------------------------------ PAM mode */

struct conv_ctx {
	const struct user *u;
	double t_code_prompt, t_code_read;
	bool failed;
};

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *appdata)
{
	struct conv_ctx *c = appdata;
	struct pam_response *r = calloc((size_t)n, sizeof(*r));

	if (!r)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		if (msg[i]->msg_style != PAM_PROMPT_ECHO_OFF && msg[i]->msg_style != PAM_PROMPT_ECHO_ON)
			continue;
		if (strstr(msg[i]->msg, "Code")) {
			char code[7];

			c->t_code_prompt = now_ms();
			if (read_code(c->u->mail, code) < 0) {
				c->failed = true;
				code[0] = '\0';
			}
			c->t_code_read = now_ms();
			r[i].resp = strdup(code);
		} else {
			r[i].resp = strdup(password);
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

static bool pam_op(size_t i)
{
	struct conv_ctx c = {.u = &users[i]};
	struct pam_conv pc = {conv, &c};
	pam_handle_t *h = NULL;
	double t0 = now_ms(), t1;
	int rc = pam_start_confdir(service, users[i].login, &pc, confdir, &h);

	if (rc == PAM_SUCCESS)
		rc = pam_authenticate(h, PAM_SILENT);
	if (h)
		pam_end(h, rc);
	t1 = now_ms();
	if (rc != PAM_SUCCESS || c.failed)
		return false;
	lat[S_TOTAL][i] = t1 - t0;
	lat[S_PW_AND_SEND][i] = c.t_code_prompt - t0;
	lat[S_MAIL][i] = c.t_code_read - c.t_code_prompt;
	lat[S_OTP_VERIFY][i] = t1 - c.t_code_read;
	return true;
}

/* ------------------------------------------------------------ wire mode */

static int wire_call(uint16_t code, struct mm_msg **ret, const char *k1, const char *v1, const char *k2,
	const char *v2, const char *k3, const char *v3)
{
	struct mm_msg *m = mm_msg_new(code, false);
	int r;

	*ret = NULL;
	if (!m)
		return -ENOMEM;
	if ((r = mm_msg_add(m, k1, v1)) < 0 || (r = mm_msg_add(m, k2, v2)) < 0 ||
		(k3 && (r = mm_msg_add(m, k3, v3)) < 0)) {
		mm_msg_free(m);
		return r;
	}
	r = mm_client_call(sock_path, 30000, m, ret);
	mm_msg_free(m);
	if (r == 0 && (*ret)->status < 0) {
		fprintf(stderr, "request 0x%04x: %s\n", code, (*ret)->message);
		r = (*ret)->status;
	}
	return r;
}

static bool wire_op(size_t i)
{
	struct mm_msg *a = NULL, *s = NULL, *v = NULL;
	char code[7], txn[80];
	double t0 = now_ms(), t1, t2, t3, t4;
	bool ok = false;

	if (wire_call(MM_REQ_AUTH_PASSWORD, &a, "user", users[i].login, "password", password, NULL, NULL) < 0)
		goto out;
	t1 = now_ms();
	lat[S_PASSWORD][i] = t1 - t0;
	if (password_only) {
		lat[S_TOTAL][i] = t1 - t0;
		ok = true;
		goto out;
	}
	snprintf(txn, sizeof(txn), "%s", mm_msg_get(a, "txn"));
	if (wire_call(MM_REQ_OTP_SEND, &s, "user", users[i].login, "txn", txn, NULL, NULL) < 0)
		goto out;
	t2 = now_ms();
	if (read_code(users[i].mail, code) < 0)
		goto out;
	t3 = now_ms();
	if (wire_call(MM_REQ_OTP_VERIFY, &v, "user", users[i].login, "txn", txn, "code", code) < 0)
		goto out;
	t4 = now_ms();
	lat[S_OTP_SEND][i] = t2 - t1;
	lat[S_MAIL][i] = t3 - t2;
	lat[S_OTP_VERIFY][i] = t4 - t3;
	lat[S_TOTAL][i] = t4 - t0;
	ok = true;
out:
	mm_msg_free(a);
	mm_msg_free(s);
	mm_msg_free(v);
	return ok;
}

static void *worker(void *arg)
{
	for (;;) {
		size_t i = atomic_fetch_add(&next_op, 1);

		if (i >= nops)
			break;
		if (!(pam_mode ? pam_op(i) : wire_op(i))) {
			atomic_fetch_add(&failures, 1);
			for (int s = 0; s < S_COUNT; s++)
				lat[s][i] = -1;
		}
	}
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void report(enum step s, int threads, double wall_ms)
{
	double *v = malloc(nops * sizeof(double));
	size_t n = 0;
	double sum = 0;

	for (size_t i = 0; i < nops; i++)
		if (lat[s][i] >= 0) {
			v[n++] = lat[s][i];
			sum += lat[s][i];
		}
	if (n) {
		qsort(v, n, sizeof(double), cmp);
		/* ops_s: completed transactions over wall time (whole transaction only);
		 * mean_ms: mean time of this step, so 1000/mean_ms is its serial rate at j=1 */
		printf("RESULT %s %s %s j=%d n=%zu p50_ms=%.2f p99_ms=%.2f ops_s=%.1f mean_ms=%.3f\n", label,
			pam_mode                ? "pam"
				: password_only ? "password"
						: "wire",
			step_names[s], threads, n, v[n / 2], v[(size_t)((double)(n - 1) * 0.99)],
			s == S_TOTAL ? (double)n * 1000.0 / wall_ms : 0.0, sum / (double)n);
	}
	free(v);
}

int main(int argc, char **argv)
{
	const char *users_file = NULL;
	int threads = 1, opt;
	pthread_t *t;
	double t0, wall;
	FILE *f;
	char line[1024];

	nops = 200;
	while ((opt = getopt(argc, argv, "m:u:M:P:n:j:S:c:s:l:")) != -1) {
		switch (opt) {
		case 'm':
			pam_mode = !strcmp(optarg, "pam");
			password_only = !strcmp(optarg, "password");
			break;
		case 'u': users_file = optarg; break;
		case 'M': maildir = optarg; break;
		case 'P': password = optarg; break;
		case 'n': nops = strtoul(optarg, NULL, 10); break;
		case 'j': threads = atoi(optarg); break;
		case 'S': service = optarg; break;
		case 'c': confdir = optarg; break;
		case 's': sock_path = optarg; break;
		case 'l': label = optarg; break;
		default: return 2;
		}
	}
	if (!users_file || !maildir || !password || threads < 1 || (pam_mode && (!service || !confdir)) ||
		(!pam_mode && !sock_path)) {
		fprintf(stderr,
			"usage: pam-otp-bench -m pam|wire|password -u USERS -M MAILDIR -P PASSWORD [-n N] "
			"[-j "
			"THREADS] "
			"[-S SERVICE -c CONFDIR] [-s SOCKET] [-l LABEL]\n");
		return 2;
	}
	if (!(f = fopen(users_file, "re"))) {
		perror(users_file);
		return 2;
	}
	while (fgets(line, sizeof(line), f)) {
		char *sp = strchr(line, ' ');

		if (!sp)
			continue;
		*sp = '\0';
		sp[1 + strcspn(sp + 1, "\r\n")] = '\0';
		users = reallocarray(users, nusers + 1, sizeof(*users));
		users[nusers].login = strdup(line);
		users[nusers].mail = strdup(sp + 1);
		nusers++;
	}
	fclose(f);
	if (nops > nusers)
		nops = nusers;
	for (int s = 0; s < S_COUNT; s++)
		lat[s] = calloc(nops, sizeof(double));
	t = calloc((size_t)threads, sizeof(*t));
	t0 = now_ms();
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	wall = now_ms() - t0;
	for (int s = 0; s < S_COUNT; s++)
		if (password_only          ? s == S_PASSWORD
				: pam_mode ? s != S_PASSWORD && s != S_OTP_SEND
					   : s != S_PW_AND_SEND)
			report((enum step)s, threads, wall);
	if (failures)
		fprintf(stderr, "%s: %zu of %zu operations failed\n", label, (size_t)failures, nops);
	return failures ? 1 : 0;
}
