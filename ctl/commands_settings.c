/* medimailctl settings commands that need more than one request of the table: password reset, devices. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "qr.h"
#include "wire.h"

/* password reset: the token of the mailed link, then the new password (twice
 * on a terminal); --token-stdin and --password-stdin read lines of stdin, in
 * that order. */
int cmd_password_reset(const struct ctl_command *c, int argc, char **argv)
{
	struct mm_msg *m;
	bool tok_stdin = false, pw_stdin = false;
	char *token, *pw, *again;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--token-stdin")) {
			tok_stdin = true;
		} else if (!strcmp(argv[i], "--password-stdin")) {
			pw_stdin = true;
		} else if (strncmp(argv[i], "--", 2)) {
			return ctl_single_use_on_argv("password reset", "token", "--token-stdin");
		} else {
			fprintf(stderr,
				"medimailctl: usage: password reset [--token-stdin] "
				"[--password-stdin]\n");
			return EXIT_USAGE;
		}
	}
	token = ctl_single_use_read(
		"password reset", "token", "Jeton du lien de réinitialisation", "--token-stdin", tok_stdin);
	if (!token)
		return EXIT_USAGE;
	pw = ctl_prompt("Nouveau mot de passe (8 caractères min, 1 majuscule, 1 minuscule, 1 chiffre, 1 "
			"caractère spécial)",
		true);
	if (!pw) {
		fprintf(stderr, "medimailctl: no password given\n");
		ctl_free_secret(token);
		return EXIT_USAGE;
	}
	if (isatty(STDIN_FILENO) && !pw_stdin) {
		again = ctl_prompt("Confirmation du mot de passe", true);
		if (!again || strcmp(again, pw)) {
			fprintf(stderr, "medimailctl: the two passwords differ\n");
			ctl_free_secret(again);
			ctl_free_secret(pw);
			ctl_free_secret(token);
			return EXIT_USAGE;
		}
		ctl_free_secret(again);
	}
	m = mm_msg_new(MM_REQ_PASSWORD_RESET, false);
	r = !m || ctl_add(m, "token", token) < 0 || ctl_add(m, "password", pw) < 0;
	ctl_free_secret(pw);
	ctl_free_secret(token);
	if (r) {
		mm_msg_free(m);
		return EXIT_USAGE;
	}
	return ctl_call(m);
}

/* device enrol NAME: asks for a code and shows it as a QR code (terminal, SVG, PNG). */
int cmd_device_enrol(const struct ctl_command *c, int argc, char **argv)
{
	const char *name = NULL, *svg = NULL, *png = NULL, *login = NULL, *uri;
	struct mm_msg *m, *rep = NULL;
	struct qr *q = NULL;
	int r;

	for (int i = 1; i < argc; i++) {
		if (i + 1 < argc && !strcmp(argv[i], "--svg"))
			svg = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--png"))
			png = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--login"))
			login = argv[++i];
		else if (!name && strncmp(argv[i], "--", 2))
			name = argv[i];
		else {
			fprintf(stderr,
				"medimailctl: usage: device enrol NAME [--svg FILE] [--png FILE] "
				"[--login "
				"LOGIN]\n");
			return EXIT_USAGE;
		}
	}
	if (!name) {
		fprintf(stderr, "medimailctl: device enrol: missing NAME\n");
		return EXIT_USAGE;
	}
	m = mm_msg_new(MM_REQ_DEVICE_ENROL, false);
	if (!m || ctl_add(m, "name", name) < 0 || (login && ctl_add(m, "login", login) < 0)) {
		mm_msg_free(m);
		return EXIT_USAGE;
	}
	r = mm_client_call(ctl_socket, ctl_timeout_ms, m, &rep);
	mm_msg_free(m);
	if (r < 0) {
		fprintf(stderr, "medimailctl: cannot talk to medimail-authd at %s: %s\n", ctl_socket,
			strerror(-r));
		return EXIT_UNREACHABLE;
	}
	ctl_print_reply(rep);
	if (rep->status < 0) {
		mm_msg_free(rep);
		return EXIT_REFUSED;
	}
	uri = mm_msg_get(rep, "enrol_uri");
	q = uri ? qr_encode(uri) : NULL;
	if (!q) {
		fprintf(stderr, "medimailctl: the QR code could not be made\n");
		mm_msg_free(rep);
		return EXIT_REFUSED;
	}
	if (!ctl_json)
		qr_print_terminal(q, stdout);
	r = 0;
	if (svg && (r = qr_write_svg(q, svg)) < 0)
		fprintf(stderr, "medimailctl: %s: %s\n", svg, strerror(-r));
	if (r == 0 && png && (r = qr_write_png(q, png, 8)) < 0)
		fprintf(stderr, "medimailctl: %s: %s\n", png, strerror(-r));
	qr_free(q);
	mm_msg_free(rep);
	return r < 0 ? EXIT_REFUSED : 0;
}

/* device verify: the credential from standard input, never from the command line. */
int cmd_device_verify(const struct ctl_command *c, int argc, char **argv)
{
	struct mm_msg *m;
	char *cred;
	int bad;

	cred = ctl_prompt("Identifiant de l'appareil", true);
	if (!cred) {
		fprintf(stderr, "medimailctl: no credential given\n");
		return EXIT_USAGE;
	}
	m = mm_msg_new(MM_REQ_DEVICE_VERIFY, false);
	bad = !m || ctl_add(m, "credential", cred) < 0;
	ctl_free_secret(cred);
	if (bad) {
		mm_msg_free(m);
		return EXIT_USAGE;
	}
	return ctl_call(m);
}
