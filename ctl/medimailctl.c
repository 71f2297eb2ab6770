/* medimailctl: the command-line client of medimail-authd for users and administrators. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "wire.h"

enum { EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

static const char *socket_path = MM_DEFAULT_SOCKET;
static bool json;
static int timeout_ms = 30000;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: medimailctl [--socket PATH] [--json] [--timeout SECONDS] COMMAND [ARGS]\n"
		"\n"
		"Accounts:\n"
		"  register PER|INT|MED|ORG [--FIELD VALUE]...  register an account (missing fields are\n"
		"                         asked for on a terminal; --password-stdin reads the password)\n"
		"      fields: --login-mail --sn --given-name --rpps --adeli --profession --speciality\n"
		"              --liberal yes|no --phone --phone2 --street --postal-code --city --region\n"
		"              --department --raison-sociale --service --struct-type FINESS|SIRET|SIREN\n"
		"              --struct-id --org-name --description --resp-sn --resp-given-name\n"
		"              --resp-profession --resp-rpps --member LOGIN (ORG)\n"
		"  confirm TOKEN          confirm an e-mail address with the token of the link\n"
		"  show [LOGIN]           show an account (your own without LOGIN)\n"
		"  cgu accept LOGIN       record the acceptance of the terms of use\n"
		"\n"
		"Directories (annuaire Medimail, annuaire santé):\n"
		"  search [TEXT] [--name N] [--first-name P] [--profession CODE|LABEL] [--city C]\n"
		"         [--postal-code DIGITS] [--address A] [--view medimail|mssante]\n"
		"                         prefixes, accents and case ignored; at most 50 results\n"
		"  favorite add|remove LOGIN | favorite list\n"
		"  visibility medimail|mssante on|off [--login LOGIN|ORG]\n"
		"                         show or hide your address in that directory\n"
		"  export [--output FILE]  (administrators) the national extraction of the\n"
		"                         MSSanté view, 31 '|'-separated columns\n"
		"  (administrators add --login LOGIN to act for an account)\n"
		"\n"
		"Administrators (root or the admin group):\n"
		"  list [--status S] [--type T]\n"
		"  validate LOGIN         validate a confirmed registration (assigns the MSSanté address)\n"
		"  resend-confirmation LOGIN\n"
		"  suspend LOGIN [--reason TEXT] | reactivate LOGIN | close LOGIN [--reason TEXT]\n"
		"  convert LOGIN --rpps RPPS      INT -> PER when the RPPS arrives\n"
		"  org member add|remove ORG MEMBER\n"
		"  ping\n"
		"\n"
		"Exit status: 0 done, 1 refused, 2 usage error, 3 daemon unreachable.\n");
}

static void json_string(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

/* Fields of one record as a JSON object; repeated keys become arrays. */
static void json_fields(const struct mm_msg *m, size_t from, size_t to)
{
	bool first = true;

	putchar('{');
	for (size_t i = from; i < to; i++) {
		const char *k = m->fields[i].key;
		size_t count = 0;
		bool seen = false;

		for (size_t j = from; j < i; j++)
			if (!strcmp(m->fields[j].key, k))
				seen = true;
		if (seen)
			continue;
		for (size_t j = i; j < to; j++)
			if (!strcmp(m->fields[j].key, k))
				count++;
		printf("%s", first ? "" : ",");
		first = false;
		json_string(k);
		putchar(':');
		if (count == 1 && strcmp(k, "member") && strcmp(k, "phone")) {
			json_string(m->fields[i].value);
			continue;
		}
		putchar('[');
		for (size_t j = i, c = 0; j < to; j++)
			if (!strcmp(m->fields[j].key, k)) {
				printf("%s", c++ ? "," : "");
				json_string(m->fields[j].value);
			}
		putchar(']');
	}
	putchar('}');
}

static void print_reply(const struct mm_msg *rep)
{
	size_t first_rec = rep->nfields;

	for (size_t i = 0; i < rep->nfields; i++)
		if (!strcmp(rep->fields[i].key, "#")) {
			first_rec = i;
			break;
		}
	if (json) {
		printf("{\"status\":%d,\"message\":", rep->status);
		json_string(rep->message ? rep->message : "");
		printf(",\"fields\":");
		json_fields(rep, 0, first_rec);
		if (first_rec < rep->nfields) {
			printf(",\"records\":[");
			for (size_t i = first_rec, nrec = 0; i < rep->nfields;) {
				size_t j = i + 1;
				while (j < rep->nfields && strcmp(rep->fields[j].key, "#"))
					j++;
				printf("%s", nrec++ ? "," : "");
				json_fields(rep, i + 1, j);
				i = j;
			}
			putchar(']');
		}
		printf("}\n");
		return;
	}
	if (rep->status < 0) {
		fprintf(stderr, "medimailctl: %s\n", rep->message && *rep->message ? rep->message : strerror(-rep->status));
		for (size_t i = 0; i < rep->nfields; i++)
			fprintf(stderr, "  %s: %s\n", rep->fields[i].key, rep->fields[i].value);
		return;
	}
	if (rep->message && *rep->message)
		printf("%s\n", rep->message);
	for (size_t i = 0; i < rep->nfields; i++) {
		if (!strcmp(rep->fields[i].key, "#"))
			printf("%s---\n", i ? "" : "");
		else
			printf("%-16s %s\n", rep->fields[i].key, rep->fields[i].value);
	}
}

static int call(struct mm_msg *req)
{
	struct mm_msg *rep = NULL;
	int r = mm_client_call(socket_path, timeout_ms, req, &rep);

	mm_msg_free(req);
	if (r < 0) {
		if (json)
			printf("{\"status\":%d,\"message\":\"daemon unreachable: %s\",\"fields\":{}}\n", r, strerror(-r));
		else
			fprintf(stderr, "medimailctl: cannot talk to medimail-authd at %s: %s\n", socket_path,
				strerror(-r));
		return EXIT_UNREACHABLE;
	}
	print_reply(rep);
	r = rep->status < 0 ? EXIT_REFUSED : 0;
	mm_msg_free(rep);
	return r;
}

/* Reads a line from the terminal, without echo for secrets. */
static char *prompt(const char *label, bool secret)
{
	struct termios old, t;
	bool tty = isatty(STDIN_FILENO);
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (tty)
		fprintf(stderr, "%s : ", label);
	if (secret && tty && tcgetattr(STDIN_FILENO, &old) == 0) {
		t = old;
		t.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
	}
	n = getline(&line, &cap, stdin);
	if (secret && tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (n < 0) {
		free(line);
		return NULL;
	}
	line[strcspn(line, "\r\n")] = '\0';
	return line;
}

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static int add_or_die(struct mm_msg *m, const char *key, const char *value)
{
	int r = mm_msg_add(m, key, value);

	if (r < 0)
		fprintf(stderr, "medimailctl: %s: %s\n", key, r == -EINVAL ? "invalid field or value" : strerror(-r));
	return r;
}

static int cmd_register(int argc, char **argv)
{
	static const struct { const char *key, *label; } individual[] = {
		{ "sn", "Nom" }, { "given_name", "Prénom" }, { "login_mail", "Adresse e-mail (nominative)" },
	};
	static const struct { const char *key, *label; } org[] = {
		{ "org_name", "Nom de la BAL ORG" }, { "login_mail", "Adresse e-mail (générique)" },
		{ "description", "Description (service, structure, ville, code postal)" },
		{ "member", "Compte de connexion (identifiant ou e-mail)" },
	};
	struct mm_msg *m = mm_msg_new(MM_REQ_REGISTER, false);
	bool pw_stdin = false, is_org;
	const char *type;
	int r = EXIT_USAGE;

	if (!m)
		return EXIT_REFUSED;
	if (argc < 2) {
		usage(stderr);
		goto fail;
	}
	type = argv[1];
	is_org = !strcmp(type, "ORG");
	if (add_or_die(m, "type", type) < 0)
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
		if (!strcmp(key, "password") || !strcmp(key, "member_password")) {
			fprintf(stderr, "medimailctl: register: give passwords on the terminal or with --password-stdin\n");
			goto fail;
		}
		if (add_or_die(m, key, argv[++i]) < 0)
			goto fail;
	}
	if (isatty(STDIN_FILENO) && !pw_stdin) {
		size_t n = is_org ? sizeof(org) / sizeof(org[0]) : sizeof(individual) / sizeof(individual[0]);
		for (size_t i = 0; i < n; i++) {
			const char *key = is_org ? org[i].key : individual[i].key;
			char *v;
			if (mm_msg_get(m, key))
				continue;
			v = prompt(is_org ? org[i].label : individual[i].label, false);
			if (!v || add_or_die(m, key, v) < 0) {
				free(v);
				goto fail;
			}
			free(v);
		}
	}
	if (!is_org || (getuid() != 0 && mm_msg_get(m, "member"))) {
		const char *key = is_org ? "member_password" : "password";
		char *pw = prompt(is_org ? "Mot de passe du compte de connexion"
					 : "Mot de passe (8 caractères min, 1 majuscule, 1 minuscule, 1 chiffre, 1 caractère spécial)",
				  true);
		if (!pw) {
			fprintf(stderr, "medimailctl: register: no password given\n");
			goto fail;
		}
		if (!is_org && isatty(STDIN_FILENO) && !pw_stdin) {
			char *again = prompt("Confirmation du mot de passe", true);
			if (!again || strcmp(again, pw)) {
				fprintf(stderr, "medimailctl: the two passwords differ\n");
				free_secret(again);
				free_secret(pw);
				goto fail;
			}
			free_secret(again);
		}
		r = add_or_die(m, key, pw);
		free_secret(pw);
		if (r < 0) {
			r = EXIT_USAGE;
			goto fail;
		}
	}
	return call(m);
fail:
	mm_msg_free(m);
	return r;
}

/* "CMD ARG [--opt VALUE]..." requests: positional keys then options. */
static int simple(uint16_t code, int argc, char **argv, const char *const *keys, size_t nkeys, size_t nrequired)
{
	struct mm_msg *m = mm_msg_new(code, false);
	size_t k = 0;

	if (!m)
		return EXIT_REFUSED;
	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--", 2)) {
			char key[64];
			if (i + 1 >= argc || strlen(argv[i] + 2) >= sizeof(key)) {
				fprintf(stderr, "medimailctl: %s needs a value\n", argv[i]);
				mm_msg_free(m);
				return EXIT_USAGE;
			}
			snprintf(key, sizeof(key), "%s", argv[i] + 2);
			for (char *p = key; *p; p++)
				if (*p == '-')
					*p = '_';
			if (add_or_die(m, key, argv[++i]) < 0) {
				mm_msg_free(m);
				return EXIT_USAGE;
			}
		} else if (k < nkeys) {
			if (add_or_die(m, keys[k++], argv[i]) < 0) {
				mm_msg_free(m);
				return EXIT_USAGE;
			}
		} else {
			fprintf(stderr, "medimailctl: unexpected argument %s\n", argv[i]);
			mm_msg_free(m);
			return EXIT_USAGE;
		}
	}
	if (k < nrequired) {
		fprintf(stderr, "medimailctl: %s: missing %s\n", argv[0], keys[k]);
		mm_msg_free(m);
		return EXIT_USAGE;
	}
	return call(m);
}

/* The export arrives as a stream of reply frames: write each as it comes. */
static int cmd_export(int argc, char **argv)
{
	const char *output = NULL;
	struct mm_msg *req = NULL, *rep = NULL;
	FILE *out = stdout;
	int fd = -1, r, rc = EXIT_REFUSED;
	unsigned long long bytes = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--output") && i + 1 < argc) {
			output = argv[++i];
		} else {
			fprintf(stderr, "medimailctl: export: unexpected argument %s\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	r = mm_client_connect(socket_path, timeout_ms, (uid_t)-1, &fd);
	if (r < 0) {
		fprintf(stderr, "medimailctl: cannot talk to medimail-authd at %s: %s\n", socket_path, strerror(-r));
		return EXIT_UNREACHABLE;
	}
	if (output && !(out = fopen(output, "we"))) {
		fprintf(stderr, "medimailctl: %s: %s\n", output, strerror(errno));
		close(fd);
		return EXIT_USAGE;
	}
	req = mm_msg_new(MM_REQ_DIR_EXPORT, false);
	if (!req || (r = mm_msg_send(fd, req, timeout_ms)) < 0) {
		fprintf(stderr, "medimailctl: export: cannot send the request\n");
		rc = EXIT_UNREACHABLE;
		goto out;
	}
	for (;;) {
		const char *data;

		r = mm_msg_recv(fd, true, timeout_ms, &rep);
		if (r < 0) {
			fprintf(stderr, "medimailctl: export interrupted: %s\n", strerror(-r));
			rc = EXIT_UNREACHABLE;
			goto out;
		}
		if (rep->code != MM_REQ_DIR_EXPORT || rep->status < 0 || !mm_msg_get(rep, "more"))
			break;
		data = mm_msg_get(rep, "data");
		if (data) {
			size_t n = strlen(data);
			if (fwrite(data, 1, n, out) != n) {
				fprintf(stderr, "medimailctl: export: write failed: %s\n", strerror(errno));
				goto out;
			}
			bytes += n;
		}
		mm_msg_free(rep);
		rep = NULL;
	}
	if (fflush(out) != 0) {
		fprintf(stderr, "medimailctl: export: write failed: %s\n", strerror(errno));
		goto out;
	}
	if (rep->status < 0 || !output) {
		/* Errors always, the summary only when stdout is not the data. */
		if (rep->status < 0)
			fprintf(stderr, "medimailctl: export failed: %s\n",
				rep->message && *rep->message ? rep->message : strerror(-rep->status));
		rc = rep->status < 0 ? EXIT_REFUSED : 0;
		goto out;
	}
	print_reply(rep);
	rc = 0;
out:
	if (out != stdout && fclose(out) != 0 && rc == 0)
		rc = EXIT_REFUSED;
	(void)bytes;
	mm_msg_free(req);
	mm_msg_free(rep);
	close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' }, { "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const k_login[] = { "login" };
	static const char *const k_token[] = { "token" };
	static const char *const k_org[] = { "org", "member" };
	static const char *const k_q[] = { "q" };
	static const char *const k_target[] = { "target" };
	static const char *const k_visibility[] = { "directory", "visible" };
	const char *cmd;
	int c;

	if (getenv("MEDIMAIL_SOCKET"))
		socket_path = getenv("MEDIMAIL_SOCKET");
	while ((c = getopt_long(argc, argv, "+s:jt:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': socket_path = optarg; break;
		case 'j': json = true; break;
		case 't': timeout_ms = atoi(optarg) * 1000; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (timeout_ms <= 0 || optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;
	cmd = argv[0];
	if (!strcmp(cmd, "ping"))
		return simple(MM_REQ_PING, argc, argv, NULL, 0, 0);
	if (!strcmp(cmd, "register"))
		return cmd_register(argc, argv);
	if (!strcmp(cmd, "confirm"))
		return simple(MM_REQ_CONFIRM, argc, argv, k_token, 1, 1);
	if (!strcmp(cmd, "resend-confirmation"))
		return simple(MM_REQ_CONFIRM_RESEND, argc, argv, k_login, 1, 1);
	if (!strcmp(cmd, "validate"))
		return simple(MM_REQ_VALIDATE, argc, argv, k_login, 1, 1);
	if (!strcmp(cmd, "show"))
		return simple(MM_REQ_SHOW, argc, argv, k_login, 1, 0);
	if (!strcmp(cmd, "list"))
		return simple(MM_REQ_LIST, argc, argv, NULL, 0, 0);
	if (!strcmp(cmd, "suspend"))
		return simple(MM_REQ_SUSPEND, argc, argv, k_login, 1, 1);
	if (!strcmp(cmd, "reactivate"))
		return simple(MM_REQ_REACTIVATE, argc, argv, k_login, 1, 1);
	if (!strcmp(cmd, "close"))
		return simple(MM_REQ_CLOSE, argc, argv, k_login, 1, 1);
	if (!strcmp(cmd, "convert"))
		return simple(MM_REQ_CONVERT, argc, argv, k_login, 1, 1);
	if (!strcmp(cmd, "cgu") && argc >= 2 && !strcmp(argv[1], "accept"))
		return simple(MM_REQ_CGU_ACCEPT, argc - 1, argv + 1, k_login, 1, 1);
	if (!strcmp(cmd, "search"))
		return simple(MM_REQ_DIR_SEARCH, argc, argv, k_q, 1, 0);
	if (!strcmp(cmd, "favorite") && argc >= 2) {
		if (!strcmp(argv[1], "add"))
			return simple(MM_REQ_DIR_FAVORITE_ADD, argc - 1, argv + 1, k_target, 1, 1);
		if (!strcmp(argv[1], "remove"))
			return simple(MM_REQ_DIR_FAVORITE_DEL, argc - 1, argv + 1, k_target, 1, 1);
		if (!strcmp(argv[1], "list"))
			return simple(MM_REQ_DIR_FAVORITE_LIST, argc - 1, argv + 1, NULL, 0, 0);
	}
	if (!strcmp(cmd, "visibility"))
		return simple(MM_REQ_DIR_VISIBILITY, argc, argv, k_visibility, 2, 2);
	if (!strcmp(cmd, "export"))
		return cmd_export(argc, argv);
	if (!strcmp(cmd, "org") && argc >= 3 && !strcmp(argv[1], "member")) {
		if (!strcmp(argv[2], "add"))
			return simple(MM_REQ_ORG_MEMBER_ADD, argc - 2, argv + 2, k_org, 2, 2);
		if (!strcmp(argv[2], "remove"))
			return simple(MM_REQ_ORG_MEMBER_DEL, argc - 2, argv + 2, k_org, 2, 2);
	}
	fprintf(stderr, "medimailctl: unknown command %s\n", cmd);
	usage(stderr);
	return EXIT_USAGE;
}
