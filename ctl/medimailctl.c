/* medimailctl: the command-line client of medimail-authd for users and administrators. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "qr.h"
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
		"  confirm [--token-stdin]  confirm an e-mail address with the token of the link (asked\n"
		"                         for on the terminal, or one line of stdin; never in argv)\n"
		"  show [LOGIN]           show an account (your own without LOGIN)\n"
		"  cgu accept LOGIN       record the acceptance of the terms of use\n"
		"\n"
		"Changer de compte (your own account; root may add --user LOGIN):\n"
		"  accounts               the accounts you may use: yours and the BAL ORG you connect to\n"
		"  switch TARGET [--session-stdin]   switch the open session ($MEDIMAIL_SESSION or stdin)\n"
		"  default TARGET         the account selected at login\n"
		"\n"
		"Account settings (your own account, or --login LOGIN: an ORG you connect to; admins: any):\n"
		"  profile show | profile set [--sn --given-name --phone --phone2 --street --postal-code\n"
		"              --city --raison-sociale --profession --speciality; ORG admins: --struct-type\n"
		"              --struct-id --description --resp-sn --resp-given-name --resp-profession "
		"--resp-rpps]\n"
		"  password forgot LOGIN_MAIL     mail a single-use reset link\n"
		"  password reset [--token-stdin] [--password-stdin]   the token of the mailed link, then\n"
		"                         the new password (terminal, or lines of stdin in that order)\n"
		"  signature list | signature add --title T --html H|--html-file F [--default yes]\n"
		"  signature set ID [--title T] [--html H|--html-file F] [--default yes|no] | signature "
		"remove ID\n"
		"  autoreply show | autoreply set [--enabled yes|no] [--start YYYY-MM-DD] [--end "
		"YYYY-MM-DD]\n"
		"              [--subject S] [--body HTML|--body-file F]\n"
		"  notify show | notify set [--receipt yes|no] [--opening yes|no] [--digest yes|no]\n"
		"              [--org-to-individual yes|no]\n"
		"  delegate list | delegate add ADDRESS | delegate remove ADDRESS\n"
		"  demat show | demat set yes|no\n"
		"  device enrol NAME [--svg FILE] [--png FILE]   QR code for the Medimail Mobile app\n"
		"  device list | device revoke ID | device complete [--code-stdin]  (code from the\n"
		"                         terminal, or one line of stdin)\n"
		"  device verify              (admin) reads a device credential on standard input\n"
		"  Any --FIELD-file PATH sends the file's content as FIELD.\n"
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
		"  service add ID         register an HTTP API client; prints its secret once\n"
		"  service remove ID\n"
		"\n"
		"e-CPS (Pro Santé Connect push):\n"
		"  ecps LOGIN             send a push, print the code to pick in the app, wait for the "
		"answer\n"
		"  ping\n"
		"\n"
		"CPS cards (the PIN is read from the terminal, or from stdin with --pin-stdin):\n"
		"  card auth [--user LOGIN] [--pin-stdin]   log in with the card in the reader\n"
		"  card link LOGIN [--pin-stdin]            link the card in the reader (administrators)\n"
		"  card list [LOGIN]                        linked cards (your own without LOGIN)\n"
		"  card unlink LOGIN FINGERPRINT            unlink a card (\"désassocier\")\n"
		"\n"
		"Single-use tokens, codes, PINs and passwords are never taken from the command line,\n"
		"where every local user can read them.\n"
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

/* A value from the daemon on a terminal: control characters (a newline that
 * would forge another "key value" line, an escape sequence) shown escaped. */
static void put_text(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
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
		fputs("medimailctl: ", stderr);
		put_text(stderr, rep->message && *rep->message ? rep->message : strerror(-rep->status));
		fputc('\n', stderr);
		for (size_t i = 0; i < rep->nfields; i++) {
			fprintf(stderr, "  %s: ", rep->fields[i].key);
			put_text(stderr, rep->fields[i].value);
			fputc('\n', stderr);
		}
		return;
	}
	if (rep->message && *rep->message) {
		put_text(stdout, rep->message);
		putchar('\n');
	}
	for (size_t i = 0; i < rep->nfields; i++) {
		if (!strcmp(rep->fields[i].key, "#")) {
			printf("---\n");
			continue;
		}
		printf("%-16s ", rep->fields[i].key);
		put_text(stdout, rep->fields[i].value);
		putchar('\n');
	}
}

static int call(struct mm_msg *req);
static int add_or_die(struct mm_msg *m, const char *key, const char *value);

/* Starts an e-CPS push, shows the code, polls until an answer. */
static int cmd_ecps(int argc, char **argv)
{
	struct mm_msg *req = NULL, *rep = NULL;
	char rid[80] = "";
	int interval = 5, r;

	if (argc != 2) {
		fprintf(stderr, "medimailctl: ecps LOGIN\n");
		return EXIT_USAGE;
	}
	req = mm_msg_new(MM_REQ_ECPS_START, false);
	if (!req || add_or_die(req, "login", argv[1]) < 0) {
		mm_msg_free(req);
		return EXIT_USAGE;
	}
	r = mm_client_call(socket_path, timeout_ms, req, &rep);
	mm_msg_free(req);
	if (r < 0) {
		fprintf(stderr, "medimailctl: cannot talk to medimail-authd at %s: %s\n", socket_path,
			strerror(-r));
		return EXIT_UNREACHABLE;
	}
	if (rep->status < 0 || !mm_msg_get(rep, "request_id")) {
		print_reply(rep);
		mm_msg_free(rep);
		return EXIT_REFUSED;
	}
	snprintf(rid, sizeof(rid), "%s", mm_msg_get(rep, "request_id"));
	if (mm_msg_get(rep, "interval"))
		interval = atoi(mm_msg_get(rep, "interval"));
	if (interval < 1 || interval > 60)
		interval = 5;
	if (json)
		printf("{\"binding_message\":");
	if (json) {
		json_string(mm_msg_get(rep, "binding_message") ? mm_msg_get(rep, "binding_message") : "");
		printf("}\n");
	} else {
		fputs("Code e-CPS : ", stdout);
		put_text(stdout,
			mm_msg_get(rep, "binding_message") ? mm_msg_get(rep, "binding_message") : "?");
		puts("\nChoisissez ce code dans l'application e-CPS.");
	}
	fflush(stdout);
	mm_msg_free(rep);
	for (;;) {
		const char *st;

		sleep((unsigned)interval);
		req = mm_msg_new(MM_REQ_ECPS_POLL, false);
		if (!req || add_or_die(req, "request_id", rid) < 0) {
			mm_msg_free(req);
			return EXIT_REFUSED;
		}
		rep = NULL;
		r = mm_client_call(socket_path, timeout_ms, req, &rep);
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
		print_reply(rep);
		r = rep->status < 0 ? EXIT_REFUSED : 0;
		mm_msg_free(rep);
		return r;
	}
}

static int call(struct mm_msg *req)
{
	struct mm_msg *rep = NULL;
	int r = mm_client_call(socket_path, timeout_ms, req, &rep);

	mm_msg_free(req);
	if (r < 0) {
		if (json)
			printf("{\"status\":%d,\"message\":\"daemon unreachable: %s\",\"fields\":{}}\n", r,
				strerror(-r));
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
/* One line of stdin without its end of line, or NULL. Refused (NULL, said
 * on stderr): a NUL byte, which would cut the value short unseen, and a
 * line longer than a wire value. stdin is unbuffered (main) and the line
 * buffer is allocated once at its full size, so no copy of a secret is
 * left in a stdio buffer or in a block freed by realloc. */
static char *prompt(const char *label, bool secret)
{
	struct termios old, t;
	bool tty = isatty(STDIN_FILENO), noecho = false, bad = false, got = false;
	char *line = malloc(MM_VALUE_MAX + 1);
	size_t n = 0;
	int ch;

	if (!line)
		return NULL;
	if (tty)
		fprintf(stderr, "%s : ", label);
	if (secret && tty && tcgetattr(STDIN_FILENO, &old) == 0) {
		t = old;
		t.c_lflag &= ~(tcflag_t)ECHO;
		noecho = tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == 0;
	}
	while ((ch = getc(stdin)) != EOF) {
		got = true;
		if (ch == '\n')
			break;
		if (ch == '\0' || n == MM_VALUE_MAX)
			bad = true; /* read on to the end of the line all the same */
		else
			line[n++] = (char)ch;
	}
	if (noecho) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (n && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	if (!got || bad) {
		if (bad)
			fprintf(stderr,
				"medimailctl: %s: input refused (a NUL byte, or more than %u bytes)\n", label,
				MM_VALUE_MAX);
		explicit_bzero(line, MM_VALUE_MAX + 1);
		free(line);
		return NULL;
	}
	return line;
}

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* A single-use secret (the token of a mailed link, a device code): from the
 * terminal without echo, or one line of stdin with its --*-stdin flag. Never
 * from argv: any local user reads /proc/PID/cmdline and could spend it first
 * while we prompt for something else. */
static char *single_use_read(
	const char *cmd, const char *what, const char *label, const char *flag, bool from_stdin)
{
	char *s, *p;
	size_t n;

	if (!from_stdin && !isatty(STDIN_FILENO)) {
		fprintf(stderr, "medimailctl: %s: no terminal to ask for the %s; use %s\n", cmd, what, flag);
		return NULL;
	}
	s = prompt(label, true);
	if (!s) {
		fprintf(stderr, "medimailctl: %s: no %s given\n", cmd, what);
		return NULL;
	}
	/* A pasted token may come with blanks around it. */
	for (p = s; *p == ' ' || *p == '\t'; p++)
		;
	n = strlen(p);
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	memmove(s, p, n);
	explicit_bzero(s + n, strlen(s + n));
	if (!n) {
		fprintf(stderr, "medimailctl: %s: no %s given\n", cmd, what);
		free_secret(s);
		return NULL;
	}
	return s;
}

/* The old "CMD TOKEN" form: refused, saying how to give it now. */
static int single_use_on_argv(const char *cmd, const char *what, const char *flag)
{
	fprintf(stderr,
		"medimailctl: %s: the %s is not taken from the command line, where every local user can read "
		"it "
		"and use it first; run \"medimailctl %s\" and paste it at the prompt, or give it on standard "
		"input with %s (e.g. medimailctl %s %s < FILE)\n",
		cmd, what, cmd, flag, cmd, flag);
	return EXIT_USAGE;
}

static int add_or_die(struct mm_msg *m, const char *key, const char *value)
{
	int r = mm_msg_add(m, key, value);

	if (r < 0)
		fprintf(stderr, "medimailctl: %s: %s\n", key,
			r == -EINVAL ? "invalid field or value" : strerror(-r));
	return r;
}

static int cmd_register(int argc, char **argv)
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
			fprintf(stderr,
				"medimailctl: register: give passwords on the terminal or with "
				"--password-stdin\n");
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
					 : "Mot de passe (8 caractères min, 1 majuscule, 1 minuscule, 1 "
					   "chiffre, 1 caractère spécial)",
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

/* A text file of at most MM_VALUE_MAX bytes, NUL-terminated. */
static char *read_small_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (!f) {
		fprintf(stderr, "medimailctl: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	buf = malloc(MM_VALUE_MAX + 2);
	n = buf ? fread(buf, 1, MM_VALUE_MAX + 1, f) : 0;
	fclose(f);
	if (!buf || n > MM_VALUE_MAX) {
		fprintf(stderr, "medimailctl: %s: larger than %u bytes\n", path, MM_VALUE_MAX);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* "CMD ARG [--opt VALUE]..." requests: positional keys then options. */
static int simple(
	uint16_t code, int argc, char **argv, const char *const *keys, size_t nkeys, size_t nrequired)
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
			if (strlen(key) > 5 && !strcmp(key + strlen(key) - 5, "_file")) {
				/* --body-file F: the content of F as "body". */
				char *text = read_small_file(argv[++i]);
				key[strlen(key) - 5] = '\0';
				if (!text || add_or_die(m, key, text) < 0) {
					free(text);
					mm_msg_free(m);
					return EXIT_USAGE;
				}
				free(text);
				continue;
			}
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

/* CMD [FLAG]: one request whose only field is a single-use secret (confirm, device complete). */
static int cmd_single_use(uint16_t code, const char *cmd, const char *key, const char *what,
	const char *label, const char *flag, int argc, char **argv)
{
	struct mm_msg *m;
	bool from_stdin = false;
	char *secret;
	int bad;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], flag)) {
			from_stdin = true;
		} else if (strncmp(argv[i], "--", 2)) {
			return single_use_on_argv(cmd, what, flag);
		} else {
			fprintf(stderr, "medimailctl: %s: unexpected argument %s\n", cmd, argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!(secret = single_use_read(cmd, what, label, flag, from_stdin)))
		return EXIT_USAGE;
	m = mm_msg_new(code, false);
	bad = !m || add_or_die(m, key, secret) < 0;
	free_secret(secret);
	if (bad) {
		mm_msg_free(m);
		return EXIT_USAGE;
	}
	return call(m);
}

/* password reset: the token of the mailed link, then the new password (twice
 * on a terminal); --token-stdin and --password-stdin read lines of stdin, in
 * that order. */
static int cmd_password_reset(int argc, char **argv)
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
			return single_use_on_argv("password reset", "token", "--token-stdin");
		} else {
			fprintf(stderr,
				"medimailctl: usage: password reset [--token-stdin] [--password-stdin]\n");
			return EXIT_USAGE;
		}
	}
	token = single_use_read(
		"password reset", "token", "Jeton du lien de réinitialisation", "--token-stdin", tok_stdin);
	if (!token)
		return EXIT_USAGE;
	pw = prompt("Nouveau mot de passe (8 caractères min, 1 majuscule, 1 minuscule, 1 chiffre, 1 "
		    "caractère spécial)",
		true);
	if (!pw) {
		fprintf(stderr, "medimailctl: no password given\n");
		free_secret(token);
		return EXIT_USAGE;
	}
	if (isatty(STDIN_FILENO) && !pw_stdin) {
		again = prompt("Confirmation du mot de passe", true);
		if (!again || strcmp(again, pw)) {
			fprintf(stderr, "medimailctl: the two passwords differ\n");
			free_secret(again);
			free_secret(pw);
			free_secret(token);
			return EXIT_USAGE;
		}
		free_secret(again);
	}
	m = mm_msg_new(MM_REQ_PASSWORD_RESET, false);
	r = !m || add_or_die(m, "token", token) < 0 || add_or_die(m, "password", pw) < 0;
	free_secret(pw);
	free_secret(token);
	if (r) {
		mm_msg_free(m);
		return EXIT_USAGE;
	}
	return call(m);
}

/* device enrol NAME: asks for a code and shows it as a QR code (terminal, SVG, PNG). */
static int cmd_device_enrol(int argc, char **argv)
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
				"medimailctl: usage: device enrol NAME [--svg FILE] [--png FILE] [--login "
				"LOGIN]\n");
			return EXIT_USAGE;
		}
	}
	if (!name) {
		fprintf(stderr, "medimailctl: device enrol: missing NAME\n");
		return EXIT_USAGE;
	}
	m = mm_msg_new(MM_REQ_DEVICE_ENROL, false);
	if (!m || add_or_die(m, "name", name) < 0 || (login && add_or_die(m, "login", login) < 0)) {
		mm_msg_free(m);
		return EXIT_USAGE;
	}
	r = mm_client_call(socket_path, timeout_ms, m, &rep);
	mm_msg_free(m);
	if (r < 0) {
		fprintf(stderr, "medimailctl: cannot talk to medimail-authd at %s: %s\n", socket_path,
			strerror(-r));
		return EXIT_UNREACHABLE;
	}
	print_reply(rep);
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
	if (!json)
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
static int cmd_device_verify(void)
{
	struct mm_msg *m;
	char *cred = prompt("Identifiant de l'appareil", true);
	int bad;

	if (!cred) {
		fprintf(stderr, "medimailctl: no credential given\n");
		return EXIT_USAGE;
	}
	m = mm_msg_new(MM_REQ_DEVICE_VERIFY, false);
	bad = !m || add_or_die(m, "credential", cred) < 0;
	free_secret(cred);
	if (bad) {
		mm_msg_free(m);
		return EXIT_USAGE;
	}
	return call(m);
}

/* The settings commands: "GROUP VERB [ARGS]". */
static int cmd_settings(int argc, char **argv, bool *handled)
{
	static const struct {
		const char *group, *verb;
		uint16_t code;
		const char *keys[2];
		size_t nkeys, nreq;
	} t[] = {
		{"profile", "show", MM_REQ_PROFILE_GET, {NULL}, 0, 0},
		{"profile", "set", MM_REQ_PROFILE_SET, {NULL}, 0, 0},
		{"password", "forgot", MM_REQ_PASSWORD_FORGOT, {"login_mail"}, 1, 1},
		{"signature", "list", MM_REQ_SIGNATURE_LIST, {NULL}, 0, 0},
		{"signature", "add", MM_REQ_SIGNATURE_SET, {NULL}, 0, 0},
		{"signature", "set", MM_REQ_SIGNATURE_SET, {"id"}, 1, 1},
		{"signature", "remove", MM_REQ_SIGNATURE_DEL, {"id"}, 1, 1},
		{"autoreply", "show", MM_REQ_AUTOREPLY_GET, {NULL}, 0, 0},
		{"autoreply", "set", MM_REQ_AUTOREPLY_SET, {NULL}, 0, 0},
		{"notify", "show", MM_REQ_NOTIFY_GET, {NULL}, 0, 0},
		{"notify", "set", MM_REQ_NOTIFY_SET, {NULL}, 0, 0},
		{"delegate", "list", MM_REQ_DELEGATE_LIST, {NULL}, 0, 0},
		{"delegate", "add", MM_REQ_DELEGATE_ADD, {"address"}, 1, 1},
		{"delegate", "remove", MM_REQ_DELEGATE_DEL, {"address"}, 1, 1},
		{"demat", "show", MM_REQ_DEMAT_GET, {NULL}, 0, 0},
		{"demat", "set", MM_REQ_DEMAT_SET, {"dematerialisation"}, 1, 1},
		{"device", "list", MM_REQ_DEVICE_LIST, {NULL}, 0, 0},
		{"device", "revoke", MM_REQ_DEVICE_REVOKE, {"id"}, 1, 1},
	};

	*handled = true;
	if (argc >= 2 && !strcmp(argv[0], "password") && !strcmp(argv[1], "reset"))
		return cmd_password_reset(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[0], "device") && !strcmp(argv[1], "enrol"))
		return cmd_device_enrol(argc - 1, argv + 1);
	if (argc == 2 && !strcmp(argv[0], "device") && !strcmp(argv[1], "verify"))
		return cmd_device_verify();
	if (argc >= 2 && !strcmp(argv[0], "device") && !strcmp(argv[1], "complete"))
		return cmd_single_use(MM_REQ_DEVICE_COMPLETE, "device complete", "code", "code",
			"Code d'association de l'appareil", "--code-stdin", argc - 1, argv + 1);
	for (size_t i = 0; argc >= 2 && i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(argv[0], t[i].group) && !strcmp(argv[1], t[i].verb))
			return simple(t[i].code, argc - 1, argv + 1, t[i].keys, t[i].nkeys, t[i].nreq);
	*handled = false;
	return 0;
}

/* card auth|link: the PIN comes from the terminal (no echo) or one line of stdin, never from argv. */
static int cmd_card_pin(uint16_t code, int argc, char **argv)
{
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
			if (add_or_die(m, "user", argv[++i]) < 0)
				goto usage;
		} else if (code == MM_REQ_CARD_LINK && !mm_msg_get(m, "login") && strncmp(argv[i], "--", 2)) {
			if (add_or_die(m, "login", argv[i]) < 0)
				goto usage;
		} else {
			fprintf(stderr, "medimailctl: card: unexpected argument %s\n", argv[i]);
			goto usage;
		}
	}
	if (code == MM_REQ_CARD_LINK && !mm_msg_get(m, "login")) {
		fprintf(stderr, "medimailctl: card link: missing LOGIN\n");
		goto usage;
	}
	if (!pin_stdin && !isatty(STDIN_FILENO)) {
		fprintf(stderr, "medimailctl: card: no terminal for the PIN; use --pin-stdin\n");
		goto usage;
	}
	pin = prompt("Code PIN de la carte CPS", true);
	if (!pin) {
		fprintf(stderr, "medimailctl: card: no PIN given\n");
		goto usage;
	}
	r = add_or_die(m, "pin", pin);
	free_secret(pin);
	if (r < 0)
		goto usage;
	return call(m);
usage:
	mm_msg_free(m);
	return EXIT_USAGE;
}

/* switch TARGET [--session-stdin]: the handle is the one PAM exported
 * (MEDIMAIL_SESSION, readable by its owner only) or a line of stdin; never
 * argv, which every local user reads in /proc. */
static int cmd_switch(int argc, char **argv)
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
			return single_use_on_argv("switch", "session handle", "--session-stdin");
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
	} else if (!(session = single_use_read("switch", "session handle", "Identifiant de session",
			     "--session-stdin", from_stdin))) {
		return EXIT_USAGE; /* it said why */
	}
	m = mm_msg_new(MM_REQ_SWITCH, false);
	if (!m) {
		free_secret(session);
		return EXIT_REFUSED;
	}
	r = add_or_die(m, "session", session);
	free_secret(session);
	if (r < 0 || add_or_die(m, "target", target) < 0) {
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
		fprintf(stderr, "medimailctl: cannot talk to medimail-authd at %s: %s\n", socket_path,
			strerror(-r));
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
		{"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static const char *const k_login[] = {"login"};
	static const char *const k_org[] = {"org", "member"};
	static const char *const k_q[] = {"q"};
	static const char *const k_visibility[] = {"directory", "visible"};
	static const char *const k_id[] = {"id"};
	static const char *const k_card[] = {"login", "fingerprint"};
	static const char *const k_target[] = {"target"};
	static const char *const k_psc[] = {"user", "sub"};
	const char *cmd;
	int c;

	/* Secrets come on stdin: no stdio buffer keeps them (see prompt()). */
	setvbuf(stdin, NULL, _IONBF, 0);
	if (getenv("MEDIMAIL_SOCKET"))
		socket_path = getenv("MEDIMAIL_SOCKET");
	while ((c = getopt_long(argc, argv, "+s:jt:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': socket_path = optarg; break;
		case 'j': json = true; break;
		case 't': {
			char *end;
			long sec = strtol(optarg, &end, 10);

			/* 0 (refused below) for what is not 1..86400 seconds: no int overflow */
			timeout_ms = end != optarg && !*end && sec >= 1 && sec <= 86400 ? (int)sec * 1000 : 0;
			break;
		}
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
		return cmd_single_use(MM_REQ_CONFIRM, "confirm", "token", "token",
			"Jeton du lien de confirmation", "--token-stdin", argc, argv);
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
	if (!strcmp(cmd, "card") && argc >= 2) {
		if (!strcmp(argv[1], "auth"))
			return cmd_card_pin(MM_REQ_CARD_AUTH, argc - 1, argv + 1);
		if (!strcmp(argv[1], "link"))
			return cmd_card_pin(MM_REQ_CARD_LINK, argc - 1, argv + 1);
		if (!strcmp(argv[1], "list"))
			return simple(MM_REQ_CARD_LIST, argc - 1, argv + 1, k_login, 1, 0);
		if (!strcmp(argv[1], "unlink"))
			return simple(MM_REQ_CARD_UNLINK, argc - 1, argv + 1, k_card, 2, 2);
	}
	if (!strcmp(cmd, "psc") && argc >= 2) {
		if (!strcmp(argv[1], "list"))
			return simple(MM_REQ_PSC_LIST, argc - 1, argv + 1, k_psc, 1, 0);
		if (!strcmp(argv[1], "unlink"))
			return simple(MM_REQ_PSC_UNLINK, argc - 1, argv + 1, k_psc, 2, 1);
	}
	if (!strcmp(cmd, "ecps"))
		return cmd_ecps(argc, argv);
	if (!strcmp(cmd, "service") && argc >= 2) {
		if (!strcmp(argv[1], "add"))
			return simple(MM_REQ_SERVICE_ADD, argc - 1, argv + 1, k_id, 1, 1);
		if (!strcmp(argv[1], "remove"))
			return simple(MM_REQ_SERVICE_REMOVE, argc - 1, argv + 1, k_id, 1, 1);
	}
	if (!strcmp(cmd, "accounts"))
		return simple(MM_REQ_ACCOUNTS, argc, argv, NULL, 0, 0);
	if (!strcmp(cmd, "default"))
		return simple(MM_REQ_DEFAULT_SET, argc, argv, k_target, 1, 1);
	if (!strcmp(cmd, "switch"))
		return cmd_switch(argc, argv);
	{
		bool handled;
		int rc = cmd_settings(argc, argv, &handled);
		if (handled)
			return rc;
	}
	fprintf(stderr, "medimailctl: unknown command %s\n", cmd);
	usage(stderr);
	return EXIT_USAGE;
}
