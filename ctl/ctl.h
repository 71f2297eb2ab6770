/* medimailctl internals: the command table, the output of replies, the input of secrets. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct mm_msg;

enum { EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

/* The global options (medimailctl.c). */
extern const char *ctl_socket;
extern bool ctl_json;
extern int ctl_timeout_ms;

/* Headings of the usage text, in its order. */
enum ctl_section {
	SECTION_ACCOUNTS,
	SECTION_SWITCH,
	SECTION_SETTINGS,
	SECTION_DIRECTORY,
	SECTION_ADMIN,
	SECTION_ECPS,
	SECTION_CARDS,
	SECTION_COUNT
};

enum {
	/* Reads a secret (password, PIN, single-use token or code) from the
	 * terminal or from stdin with its --*-stdin flag, never from argv:
	 * stdin is then unbuffered, so no stdio buffer keeps a copy. */
	CMD_SECRET = 1 << 0,
};

#define CTL_KEYS_MAX 2

struct ctl_command;
typedef int ctl_handler(const struct ctl_command *c, int argc, char **argv);

/* One row per command. A handler gets argv[0] = the last word of the name
 * and the arguments after it. */
struct ctl_command {
	const char *name; /* its words: "org member add" */
	const char *args; /* the arguments, for the usage text */
	const char *help; /* what it does; '\n' continues on an aligned line */
	const char *more; /* lines printed as they are after the help, or NULL */
	enum ctl_section section;
	uint16_t code; /* the request it sends */
	/* Positional arguments: at least min_args and at most max_args of them.
	 * For ctl_request rows they are the request's keys[] (options --KEY VALUE
	 * may come between them); a handler row with max_args >= 0 takes
	 * positional arguments only, checked before it runs. -1: its handler
	 * parses its arguments. */
	const char *keys[CTL_KEYS_MAX];
	int min_args, max_args;
	unsigned flags;
	struct {
		const char *key, *what, *label, *flag;
	} secret; /* ctl_single_use: the one field, read by ctl_single_use_read */
	ctl_handler *handler;
};

void ctl_usage(FILE *f);

/* output.c: a reply on stdout (JSON with --json) or stderr (refusals). */
void ctl_json_string(const char *s);
void ctl_put_text(FILE *f, const char *s);
void ctl_print_reply(const struct mm_msg *rep);
/* Sends req (freed), prints the reply; returns the exit status. */
int ctl_call(struct mm_msg *req);

/* input.c: what the user types, and the fields of a request. */
char *ctl_prompt(const char *label, bool secret);
void ctl_free_secret(char *s);
char *ctl_single_use_read(
	const char *cmd, const char *what, const char *label, const char *flag, bool from_stdin);
int ctl_single_use_on_argv(const char *cmd, const char *what, const char *flag);
int ctl_add(struct mm_msg *m, const char *key, const char *value);
char *ctl_read_small_file(const char *path);

/* commands_audit.c */
int cmd_audit(const struct ctl_command *c, int argc, char **argv);

/* The handlers of the table. */
ctl_handler ctl_request, ctl_single_use; /* input.c */
ctl_handler cmd_register, cmd_switch, cmd_card_pin, cmd_ecps; /* commands_account.c */
ctl_handler cmd_password_reset, cmd_device_enrol, cmd_device_verify; /* commands_settings.c */
ctl_handler cmd_export; /* commands_directory.c */
