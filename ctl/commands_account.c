/* medimailctl account commands: registration, Changer de compte, CPS cards and e-CPS. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "wire.h"

/* The first step of an ORG registration by "Oui" (MM_REQ_REGISTER_ORG_PROOF):
 * the member's password, sent; then the code mailed to the member, read
 * the same way; both the transaction and the code go into m. Returns 0 or
 * the exit status. */
static int org_member_proof(struct mm_msg *m)
{
	struct mm_msg *req = mm_msg_new(MM_REQ_REGISTER_ORG_PROOF, false), *rep = NULL;
	char *pw = NULL, *code = NULL;
	int r = EXIT_USAGE;

	if (!req)
		return EXIT_REFUSED;
	pw = ctl_prompt("Mot de passe du compte individuel", true);
	if (!pw) {
		fprintf(stderr, "medimailctl: register: no password given\n");
		goto out;
	}
	if (ctl_add(req, "member", mm_msg_get(m, "member")) < 0 || ctl_add(req, "member_password", pw) < 0)
		goto out;
	if ((r = mm_client_call(ctl_socket, ctl_timeout_ms, req, &rep)) < 0) {
		fprintf(stderr, "medimailctl: cannot talk to medimail-authd at %s: %s\n", ctl_socket,
			strerror(-r));
		r = EXIT_UNREACHABLE;
		goto out;
	}
	if (rep->status < 0 || !mm_msg_get(rep, "txn")) {
		ctl_print_reply(rep);
		r = EXIT_REFUSED;
		goto out;
	}
	fprintf(stderr, "%s\n", rep->message ? rep->message : "code envoyé");
	code = ctl_prompt("Code à usage unique reçu sur votre adresse mail", true);
	if (!code) {
		fprintf(stderr, "medimailctl: register: no code given\n");
		r = EXIT_USAGE;
		goto out;
	}
	r = ctl_add(m, "member_txn", mm_msg_get(rep, "txn")) < 0 || ctl_add(m, "member_code", code) < 0
		? EXIT_USAGE
		: 0;
out:
	ctl_free_secret(pw);
	ctl_free_secret(code);
	mm_msg_free(req);
	mm_msg_free(rep);
	return r;
}

int cmd_register(const struct ctl_command *c, int argc, char **argv)
{
	static const struct {
		const char *key, *label;
	} individual[] = {
		{"sn", "Nom"},
		{"given_name", "Prénom"},
		{"login_mail", "Adresse e-mail (nominative)"},
	};
	static const struct {
		const char *key, *label;
	} org[] = {
		{"org_name", "Nom de la BAL ORG"},
		{"login_mail", "Adresse e-mail (générique)"},
		{"description", "Description (service, structure, ville, code postal)"},
		{"member", "Compte de connexion (identifiant ou e-mail)"},
	};
	struct mm_msg *m = mm_msg_new(MM_REQ_REGISTER, false);
	bool pw_stdin = false, is_org;
	const char *type;
	int r = EXIT_USAGE;

	if (!m)
		return EXIT_REFUSED;
	if (argc < 2) {
		ctl_usage(stderr);
		goto fail;
	}
	type = argv[1];
	is_org = !strcmp(type, "ORG");
	if (ctl_add(m, "type", type) < 0)
		goto fail;
	for (int i = 2; i < argc; i++) {
		char key[64];
		const char *a = argv[i];

		if (!strcmp(a, "--password-stdin")) {
			pw_stdin = true;
			continue;
		}
		if (strncmp(a, "--", 2) || i + 1 >= argc || strlen(a + 2) >= sizeof(key)) {
			fprintf(stderr, "medimailctl: register: expected --FIELD VALUE, got %s\n", a);
			goto fail;
		}
		snprintf(key, sizeof(key), "%s", a + 2);
		for (char *p = key; *p; p++)
			if (*p == '-')
				*p = '_';
		if (!strcmp(key, "password") || !strcmp(key, "member_password") ||
			!strcmp(key, "member_txn") || !strcmp(key, "member_code") ||
			!strcmp(key, "member.password") || !strcmp(key, "member.password_confirm")) {
			fprintf(stderr,
				"medimailctl: register: give passwords on the terminal or with "
				"--password-stdin\n");
			goto fail;
		}
		if (ctl_add(m, key, argv[++i]) < 0)
			goto fail;
	}
	if (isatty(STDIN_FILENO) && !pw_stdin) {
		size_t n = is_org ? sizeof(org) / sizeof(org[0]) : sizeof(individual) / sizeof(individual[0]);
		for (size_t i = 0; i < n; i++) {
			const char *key = is_org ? org[i].key : individual[i].key;
			char *v;
			if (mm_msg_get(m, key))
				continue;
			/* "Non": the connection account comes with the ORG (--member.FIELD). */
			if (!strcmp(key, "member") && mm_msg_get(m, "member.login_mail"))
				continue;
			v = ctl_prompt(is_org ? org[i].label : individual[i].label, false);
			if (!v || ctl_add(m, key, v) < 0) {
				free(v);
				goto fail;
			}
			free(v);
		}
	}
	if (is_org && getuid() != 0 && mm_msg_get(m, "member")) {
		/* "Oui": the member's password, then the code mailed to it. */
		r = org_member_proof(m);
		if (r != 0)
			goto fail;
	} else if (!is_org || mm_msg_get(m, "member.login_mail")) {
		/* An individual account, or "Non": the ORG's new connection account. */
		const char *key = is_org ? "member.password" : "password";
		char *pw = ctl_prompt("Mot de passe (8 caractères min, 1 majuscule, 1 minuscule, 1 chiffre, "
				      "1 caractère spécial)",
			true);
		if (!pw) {
			fprintf(stderr, "medimailctl: register: no password given\n");
			goto fail;
		}
		if (isatty(STDIN_FILENO) && !pw_stdin) {
			char *again = ctl_prompt("Confirmation du mot de passe", true);
			if (!again || strcmp(again, pw)) {
				fprintf(stderr, "medimailctl: the two passwords differ\n");
				ctl_free_secret(again);
				ctl_free_secret(pw);
				goto fail;
			}
			ctl_free_secret(again);
		}
		r = ctl_add(m, key, pw);
		ctl_free_secret(pw);
		if (r < 0) {
			r = EXIT_USAGE;
			goto fail;
		}
	}
	return ctl_call(m);
fail:
	mm_msg_free(m);
	return r;
}

/* switch TARGET [--session-stdin]: the handle is the one PAM exported
 * (MEDIMAIL_SESSION, readable by its owner only) or a line of stdin; never
 * argv, which every local user reads in /proc. */
int cmd_switch(const struct ctl_command *c, int argc, char **argv)
{
	const char *target = NULL;
	char *session = NULL;
	bool from_stdin = false;
	struct mm_msg *m;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--session-stdin"))
			from_stdin = true;
		else if (!strcmp(argv[i], "--session"))
			return ctl_single_use_on_argv("switch", "session handle", "--session-stdin");
		else if (argv[i][0] != '-' && !target)
			target = argv[i];
		else {
			fprintf(stderr, "medimailctl: switch: unexpected argument %s\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!target) {
		fprintf(stderr, "medimailctl: usage: switch TARGET [--session-stdin]\n");
		return EXIT_USAGE;
	}
	if (!from_stdin && getenv("MEDIMAIL_SESSION") && *getenv("MEDIMAIL_SESSION")) {
		if (!(session = strdup(getenv("MEDIMAIL_SESSION")))) {
			fprintf(stderr, "medimailctl: switch: out of memory\n");
			return EXIT_REFUSED;
		}
	} else if (!(session = ctl_single_use_read("switch", "session handle", "Identifiant de session",
			     "--session-stdin", from_stdin))) {
		return EXIT_USAGE; /* it said why */
	}
	m = mm_msg_new(MM_REQ_SWITCH, false);
	if (!m) {
		ctl_free_secret(session);
		return EXIT_REFUSED;
	}
	r = ctl_add(m, "session", session);
	ctl_free_secret(session);
	if (r < 0 || ctl_add(m, "target", target) < 0) {
		mm_msg_free(m);
		return EXIT_USAGE;
	}
	return ctl_call(m);
}

/* card auth|link: the PIN comes from the terminal (no echo) or one line of stdin, never from argv. */
int cmd_card_pin(const struct ctl_command *c, int argc, char **argv)
{
	const uint16_t code = c->code;
	struct mm_msg *m = mm_msg_new(code, false);
	bool pin_stdin = false;
	char *pin;
	int r;

	if (!m)
		return EXIT_REFUSED;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--pin-stdin")) {
			pin_stdin = true;
		} else if (code == MM_REQ_CARD_AUTH && !strcmp(argv[i], "--user") && i + 1 < argc) {
			if (ctl_add(m, "user", argv[++i]) < 0)
				goto ctl_usage;
		} else if (code == MM_REQ_CARD_LINK && !mm_msg_get(m, "login") && strncmp(argv[i], "--", 2)) {
			if (ctl_add(m, "login", argv[i]) < 0)
				goto ctl_usage;
		} else {
			fprintf(stderr, "medimailctl: card: unexpected argument %s\n", argv[i]);
			goto ctl_usage;
		}
	}
	if (code == MM_REQ_CARD_LINK && !mm_msg_get(m, "login")) {
		fprintf(stderr, "medimailctl: card link: missing LOGIN\n");
		goto ctl_usage;
	}
	if (!pin_stdin && !isatty(STDIN_FILENO)) {
		fprintf(stderr, "medimailctl: card: no terminal for the PIN; use --pin-stdin\n");
		goto ctl_usage;
	}
	pin = ctl_prompt("Code PIN de la carte CPS", true);
	if (!pin) {
		fprintf(stderr, "medimailctl: card: no PIN given\n");
		goto ctl_usage;
	}
	r = ctl_add(m, "pin", pin);
	ctl_free_secret(pin);
	if (r < 0)
		goto ctl_usage;
	return ctl_call(m);
ctl_usage:
	mm_msg_free(m);
	return EXIT_USAGE;
}

/* Starts an e-CPS push, shows the code, polls until an answer. */
int cmd_ecps(const struct ctl_command *c, int argc, char **argv)
{
	struct mm_msg *req = NULL, *rep = NULL;
	char rid[80] = "";
	int interval = 5, r;

	req = mm_msg_new(MM_REQ_ECPS_START, false);
	if (!req || ctl_add(req, "login", argv[1]) < 0) {
		mm_msg_free(req);
		return EXIT_USAGE;
	}
	r = mm_client_call(ctl_socket, ctl_timeout_ms, req, &rep);
	mm_msg_free(req);
	if (r < 0) {
		fprintf(stderr, "medimailctl: cannot talk to medimail-authd at %s: %s\n", ctl_socket,
			strerror(-r));
		return EXIT_UNREACHABLE;
	}
	if (rep->status < 0 || !mm_msg_get(rep, "request_id")) {
		ctl_print_reply(rep);
		mm_msg_free(rep);
		return EXIT_REFUSED;
	}
	snprintf(rid, sizeof(rid), "%s", mm_msg_get(rep, "request_id"));
	if (mm_msg_get(rep, "interval"))
		interval = atoi(mm_msg_get(rep, "interval"));
	if (interval < 1 || interval > 60)
		interval = 5;
	if (ctl_json)
		printf("{\"binding_message\":");
	if (ctl_json) {
		ctl_json_string(mm_msg_get(rep, "binding_message") ? mm_msg_get(rep, "binding_message") : "");
		printf("}\n");
	} else {
		fputs("Code e-CPS : ", stdout);
		ctl_put_text(stdout,
			mm_msg_get(rep, "binding_message") ? mm_msg_get(rep, "binding_message") : "?");
		puts("\nChoisissez ce code dans l'application e-CPS.");
	}
	fflush(stdout);
	mm_msg_free(rep);
	for (;;) {
		const char *st;

		sleep((unsigned)interval);
		req = mm_msg_new(MM_REQ_ECPS_POLL, false);
		if (!req || ctl_add(req, "request_id", rid) < 0) {
			mm_msg_free(req);
			return EXIT_REFUSED;
		}
		rep = NULL;
		r = mm_client_call(ctl_socket, ctl_timeout_ms, req, &rep);
		mm_msg_free(req);
		if (r < 0) {
			fprintf(stderr, "medimailctl: cannot talk to medimail-authd: %s\n", strerror(-r));
			return EXIT_UNREACHABLE;
		}
		st = mm_msg_get(rep, "status");
		if (rep->status == 0 && st && !strcmp(st, "slow_down"))
			interval += 5;
		if (rep->status == 0 && st && (!strcmp(st, "pending") || !strcmp(st, "slow_down"))) {
			mm_msg_free(rep);
			continue;
		}
		ctl_print_reply(rep);
		r = rep->status < 0 ? EXIT_REFUSED : 0;
		mm_msg_free(rep);
		return r;
	}
}
