/* medimailctl input: prompts, secrets from the terminal or stdin, and the fields of a request. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "ctl.h"
#include "wire.h"

/* Reads a line from the terminal, without echo for secrets. */
/* One line of stdin without its end of line, or NULL. Refused (NULL, said
 * on stderr): a NUL byte, which would cut the value short unseen, and a
 * line longer than a wire value. stdin is unbuffered (main) and the line
 * buffer is allocated once at its full size, so no copy of a secret is
 * left in a stdio buffer or in a block freed by realloc. */
char *ctl_prompt(const char *label, bool secret)
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

void ctl_free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* A single-use secret (the token of a mailed link, a device code): from the
 * terminal without echo, or one line of stdin with its --*-stdin flag. Never
 * from argv: any local user reads /proc/PID/cmdline and could spend it first
 * while we ctl_prompt for something else. */
char *ctl_single_use_read(
	const char *cmd, const char *what, const char *label, const char *flag, bool from_stdin)
{
	char *s, *p;
	size_t n;

	if (!from_stdin && !isatty(STDIN_FILENO)) {
		fprintf(stderr, "medimailctl: %s: no terminal to ask for the %s; use %s\n", cmd, what, flag);
		return NULL;
	}
	s = ctl_prompt(label, true);
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
		ctl_free_secret(s);
		return NULL;
	}
	return s;
}

/* The old "CMD TOKEN" form: refused, saying how to give it now. */
int ctl_single_use_on_argv(const char *cmd, const char *what, const char *flag)
{
	fprintf(stderr,
		"medimailctl: %s: the %s is not taken from the command line, where every local user can read "
		"it "
		"and use it first; run \"medimailctl %s\" and paste it at the prompt, or give it on "
		"standard "
		"input with %s (e.g. medimailctl %s %s < FILE)\n",
		cmd, what, cmd, flag, cmd, flag);
	return EXIT_USAGE;
}

int ctl_add(struct mm_msg *m, const char *key, const char *value)
{
	int r = mm_msg_add(m, key, value);

	if (r < 0)
		fprintf(stderr, "medimailctl: %s: %s\n", key,
			r == -EINVAL ? "invalid field or value" : strerror(-r));
	return r;
}

/* A text file of at most MM_VALUE_MAX bytes, NUL-terminated. */
char *ctl_read_small_file(const char *path)
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
int ctl_request(const struct ctl_command *c, int argc, char **argv)
{
	const char *const *keys = c->keys;
	const size_t nkeys = (size_t)c->max_args, nrequired = (size_t)c->min_args;
	struct mm_msg *m = mm_msg_new(c->code, false);
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
				char *text = ctl_read_small_file(argv[++i]);
				key[strlen(key) - 5] = '\0';
				if (!text || ctl_add(m, key, text) < 0) {
					free(text);
					mm_msg_free(m);
					return EXIT_USAGE;
				}
				free(text);
				continue;
			}
			if (ctl_add(m, key, argv[++i]) < 0) {
				mm_msg_free(m);
				return EXIT_USAGE;
			}
		} else if (k < nkeys) {
			if (ctl_add(m, keys[k++], argv[i]) < 0) {
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
	return ctl_call(m);
}

/* CMD [FLAG]: one request whose only field is a single-use secret (confirm, device complete). */
int ctl_single_use(const struct ctl_command *c, int argc, char **argv)
{
	const char *cmd = c->name, *what = c->secret.what, *flag = c->secret.flag;
	struct mm_msg *m;
	bool from_stdin = false;
	char *secret;
	int bad;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], flag)) {
			from_stdin = true;
		} else if (strncmp(argv[i], "--", 2)) {
			return ctl_single_use_on_argv(cmd, what, flag);
		} else {
			fprintf(stderr, "medimailctl: %s: unexpected argument %s\n", cmd, argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!(secret = ctl_single_use_read(cmd, what, c->secret.label, flag, from_stdin)))
		return EXIT_USAGE;
	m = mm_msg_new(c->code, false);
	bad = !m || ctl_add(m, c->secret.key, secret) < 0;
	ctl_free_secret(secret);
	if (bad) {
		mm_msg_free(m);
		return EXIT_USAGE;
	}
	return ctl_call(m);
}
