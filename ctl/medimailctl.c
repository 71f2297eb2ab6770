/* medimailctl: the command-line client of medimail-authd for users and administrators.
 * Every command is one row of commands[]: the dispatcher and the usage text read it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "wire.h"

const char *ctl_socket = MM_DEFAULT_SOCKET;
bool ctl_json;
int ctl_timeout_ms = 30000;

#define HELP_COLUMN 25 /* where the help of a command starts in the usage text */
#define ARGS_INDENT 9 /* continuation lines of a long argument list */

static const char *const section_heading[SECTION_COUNT] = {
	[SECTION_ACCOUNTS] = "Accounts:",
	[SECTION_SWITCH] = "Changer de compte (your own account; root may add --user LOGIN):",
	[SECTION_SETTINGS] =
		"Account settings (your own account, or --login LOGIN: an ORG you connect to; admins: any):",
	[SECTION_DIRECTORY] = "Directories (annuaire Medimail, annuaire santé):",
	/* parenthesised: one string on two lines, not two array elements */
	[SECTION_ADMIN] = ("Administrators (root or the admin group; validate, suspend, reactivate and list\n"
			   "also a structure's gestionnaires, for its accounts):"),
	[SECTION_ECPS] = "e-CPS and Pro Santé Connect:",
	[SECTION_CARDS] = "CPS cards (the PIN is read from the terminal, or from stdin with --pin-stdin):",
};

static const char *const section_footer[SECTION_COUNT] = {
	[SECTION_SETTINGS] = "Any --FIELD-file PATH sends the file's content as FIELD.",
	[SECTION_DIRECTORY] = "(administrators add --login LOGIN to act for an account)",
};

/* A request whose positional arguments are keys[min..max] (ctl_request). */
#define REQ(c, k0, k1, lo, hi) .code = (c), .keys = {k0, k1}, .min_args = (lo), .max_args = (hi)
/* A command with its own handler, which parses its arguments. */
#define RUN(c, h) .code = (c), .handler = (h), .max_args = -1

static const struct ctl_command commands[] = {
	/* ---------------------------------------------------------- accounts */
	{.name = "register",
		.args = "PER|INT|MED|ORG [--FIELD VALUE]...",
		.help = "register an account (missing fields are asked for on a terminal;\n"
			"--password-stdin reads the password)",
		.more = "      fields: --login-mail --sn --given-name --rpps --adeli --profession "
			"--speciality\n"
			"              --liberal yes|no --phone --phone2 --street --postal-code --city "
			"--region\n"
			"              --department --raison-sociale --attached-service --struct-type "
			"FINESS|SIRET|SIREN\n"
			"              --struct-id --org-name --description --resp-sn --resp-given-name\n"
			"              --resp-profession --resp-rpps --member LOGIN (ORG)\n"
			"              --org ORG (PER, INT, MED: a connection account of ORG once\n"
			"              validated; its connection accounts and administrators)\n"
			"              --visible-medimail --visible-mssante --dematerialisation yes|no\n"
			"              (checked by default); --region is required\n"
			"      ORG --member, not as root: the member's password, then the one-time\n"
			"              code mailed to it (both on the terminal or stdin)\n"
			"      ORG without --member: --member.FIELD VALUE... registers its connection\n"
			"              account with it (PER with --member.rpps, else MED; its password\n"
			"              asked); both are validated together\n",
		.section = SECTION_ACCOUNTS,
		RUN(MM_REQ_REGISTER, cmd_register),
		.flags = CMD_SECRET},
	{.name = "confirm",
		.args = "[--token-stdin]",
		.help = "confirm an e-mail address with the token of the link (asked\n"
			"for on the terminal, or one line of stdin; never in argv)",
		.section = SECTION_ACCOUNTS,
		RUN(MM_REQ_CONFIRM, ctl_single_use),
		.flags = CMD_SECRET,
		.secret = {"token", "token", "Jeton du lien de confirmation", "--token-stdin"}},
	{.name = "show",
		.args = "[LOGIN]",
		.help = "show an account (your own without LOGIN)",
		.section = SECTION_ACCOUNTS,
		REQ(MM_REQ_SHOW, "login", NULL, 0, 1)},
	{.name = "cgu accept",
		.args = "LOGIN",
		.help = "record the acceptance of the terms of use",
		.section = SECTION_ACCOUNTS,
		REQ(MM_REQ_CGU_ACCEPT, "login", NULL, 1, 1)},

	/* ---------------------------------------------------------- Changer de compte */
	{.name = "accounts",
		.help = "the accounts you may use: yours and the BAL ORG you connect to",
		.section = SECTION_SWITCH,
		REQ(MM_REQ_ACCOUNTS, NULL, NULL, 0, 0)},
	{.name = "switch",
		.args = "TARGET [--session-stdin]",
		.help = "switch the open session ($MEDIMAIL_SESSION or stdin)",
		.section = SECTION_SWITCH,
		RUN(MM_REQ_SWITCH, cmd_switch),
		.flags = CMD_SECRET},
	{.name = "default",
		.args = "TARGET",
		.help = "the account selected at login",
		.section = SECTION_SWITCH,
		REQ(MM_REQ_DEFAULT_SET, "target", NULL, 1, 1)},

	/* ---------------------------------------------------------- settings */
	{.name = "profile show",
		.help = "your profile",
		.section = SECTION_SETTINGS,
		REQ(MM_REQ_PROFILE_GET, NULL, NULL, 0, 0)},
	{.name = "profile set",
		.args = "[--FIELD VALUE]...",
		.help = "change it: --sn --given-name --phone --phone2 --street\n"
			"--postal-code --city --raison-sociale --profession --speciality;\n"
			"ORG admins: --struct-type --struct-id --description --resp-sn\n"
			"--resp-given-name --resp-profession --resp-rpps",
		.section = SECTION_SETTINGS,
		REQ(MM_REQ_PROFILE_SET, NULL, NULL, 0, 0)},
	{.name = "password forgot",
		.args = "LOGIN_MAIL",
		.help = "mail a single-use reset link",
		.section = SECTION_SETTINGS,
		REQ(MM_REQ_PASSWORD_FORGOT, "login_mail", NULL, 1, 1)},
	{.name = "password reset",
		.args = "[--token-stdin] [--password-stdin]",
		.help = "the token of the mailed link, then the new password\n"
			"(terminal, or lines of stdin in that order)",
		.section = SECTION_SETTINGS,
		RUN(MM_REQ_PASSWORD_RESET, cmd_password_reset),
		.flags = CMD_SECRET},
	{.name = "email change",
		.args = "NEW_MAIL",
		.help = "change your login e-mail: a link is mailed to NEW_MAIL,\n"
			"the change is made when it is confirmed",
		.section = SECTION_SETTINGS,
		REQ(MM_REQ_EMAIL_CHANGE, "login_mail", NULL, 1, 1)},
	{.name = "email confirm",
		.args = "[--token-stdin]",
		.help = "confirm it with the token of the link (terminal, or one\n"
			"line of stdin)",
		.section = SECTION_SETTINGS,
		RUN(MM_REQ_EMAIL_CONFIRM, ctl_single_use),
		.flags = CMD_SECRET,
		.secret = {"token", "token", "Jeton du lien de changement d'adresse", "--token-stdin"}},
	{.name = "signature list",
		.help = "your signatures",
		.section = SECTION_SETTINGS,
		REQ(MM_REQ_SIGNATURE_LIST, NULL, NULL, 0, 0)},
	{.name = "signature add",
		.args = "--title T --html H|--html-file F [--default yes]",
		.help = "add a signature",
		.section = SECTION_SETTINGS,
		REQ(MM_REQ_SIGNATURE_SET, NULL, NULL, 0, 0)},
	{.name = "signature set",
		.args = "ID [--title T] [--html H|--html-file F] [--default yes|no]",
		.help = "change a signature",
		.section = SECTION_SETTINGS,
		REQ(MM_REQ_SIGNATURE_SET, "id", NULL, 1, 1)},
	{.name = "signature remove",
		.args = "ID",
		.help = "remove a signature",
		.section = SECTION_SETTINGS,
		REQ(MM_REQ_SIGNATURE_DEL, "id", NULL, 1, 1)},
	{.name = "autoreply show",
		.help = "your automatic reply",
		.section = SECTION_SETTINGS,
		REQ(MM_REQ_AUTOREPLY_GET, NULL, NULL, 0, 0)},
	{.name = "autoreply set",
		.args = "[--enabled yes|no] [--start YYYY-MM-DD] [--end YYYY-MM-DD]\n"
			"[--subject S] [--body HTML|--body-file F]",
		.help = "change it",
		.section = SECTION_SETTINGS,
		REQ(MM_REQ_AUTOREPLY_SET, NULL, NULL, 0, 0)},
	{.name = "notify show",
		.help = "the notices you receive, and each of your ORGs",
		.section = SECTION_SETTINGS,
		REQ(MM_REQ_NOTIFY_GET, NULL, NULL, 0, 0)},
	{.name = "notify set",
		.args = "[--receipt yes|no] [--opening yes|no] [--digest yes|no]\n"
			"[--org-to-individual yes|no [--org ORG]]",
		.help = "change them; with --org, the notices of that ORG only",
		.section = SECTION_SETTINGS,
		REQ(MM_REQ_NOTIFY_SET, NULL, NULL, 0, 0)},
	{.name = "delegate list",
		.help = "the delegations of your mailbox",
		.section = SECTION_SETTINGS,
		REQ(MM_REQ_DELEGATE_LIST, NULL, NULL, 0, 0)},
	{.name = "delegate add",
		.args = "ADDRESS",
		.help = "delegate to ADDRESS",
		.section = SECTION_SETTINGS,
		REQ(MM_REQ_DELEGATE_ADD, "address", NULL, 1, 1)},
	{.name = "delegate remove",
		.args = "ADDRESS",
		.help = "end the delegation to ADDRESS",
		.section = SECTION_SETTINGS,
		REQ(MM_REQ_DELEGATE_DEL, "address", NULL, 1, 1)},
	{.name = "demat show",
		.help = "whether you take dematerialised documents",
		.section = SECTION_SETTINGS,
		REQ(MM_REQ_DEMAT_GET, NULL, NULL, 0, 0)},
	{.name = "demat set",
		.args = "yes|no",
		.help = "change it",
		.section = SECTION_SETTINGS,
		REQ(MM_REQ_DEMAT_SET, "dematerialisation", NULL, 1, 1)},
	{.name = "device enrol",
		.args = "NAME [--svg FILE] [--png FILE]",
		.help = "QR code for the Medimail Mobile app",
		.section = SECTION_SETTINGS,
		RUN(MM_REQ_DEVICE_ENROL, cmd_device_enrol)},
	{.name = "gestionnaires",
		.help = "the Medimail administrators of your structure, to contact",
		.section = SECTION_SETTINGS,
		REQ(MM_REQ_MANAGERS_GET, NULL, NULL, 0, 0)},
	{.name = "device list",
		.help = "your enrolled devices",
		.section = SECTION_SETTINGS,
		REQ(MM_REQ_DEVICE_LIST, NULL, NULL, 0, 0)},
	{.name = "device revoke",
		.args = "ID",
		.help = "revoke a device",
		.section = SECTION_SETTINGS,
		REQ(MM_REQ_DEVICE_REVOKE, "id", NULL, 1, 1)},
	{.name = "device complete",
		.args = "[--code-stdin]",
		.help = "finish an enrolment (code from the terminal, or one line of stdin)",
		.section = SECTION_SETTINGS,
		RUN(MM_REQ_DEVICE_COMPLETE, ctl_single_use),
		.flags = CMD_SECRET,
		.secret = {"code", "code", "Code d'association de l'appareil", "--code-stdin"}},
	{.name = "app-password create",
		.args = "NAME",
		.help = "a password for one mail client (shown once)",
		.section = SECTION_SETTINGS,
		REQ(MM_REQ_APP_PASSWORD_CREATE, "name", NULL, 1, 1)},
	{.name = "app-password list",
		.help = "your mail clients' app passwords",
		.section = SECTION_SETTINGS,
		REQ(MM_REQ_APP_PASSWORD_LIST, NULL, NULL, 0, 0)},
	{.name = "app-password revoke",
		.args = "ID",
		.help = "revoke an app password",
		.section = SECTION_SETTINGS,
		REQ(MM_REQ_APP_PASSWORD_REVOKE, "id", NULL, 1, 1)},
	{.name = "device verify",
		.help = "(admin) reads a device credential on standard input",
		.section = SECTION_SETTINGS,
		.code = MM_REQ_DEVICE_VERIFY,
		.handler = cmd_device_verify,
		.min_args = 0,
		.max_args = 0,
		.flags = CMD_SECRET},

	/* ---------------------------------------------------------- directories */
	{.name = "search",
		.args = "[TEXT] [--name N] [--first-name P] [--profession CODE|LABEL] [--city C]\n"
			"[--postal-code DIGITS] [--address A] [--raison-sociale R]\n"
			"[--view medimail|mssante]",
		.help = "prefixes, accents and case ignored; at most 50 results",
		.section = SECTION_DIRECTORY,
		REQ(MM_REQ_DIR_SEARCH, "q", NULL, 0, 1)},
	{.name = "favorite add",
		.args = "LOGIN",
		.help = "add to your favorites",
		.section = SECTION_DIRECTORY,
		REQ(MM_REQ_DIR_FAVORITE_ADD, "target", NULL, 1, 1)},
	{.name = "favorite remove",
		.args = "LOGIN",
		.help = "remove from your favorites",
		.section = SECTION_DIRECTORY,
		REQ(MM_REQ_DIR_FAVORITE_DEL, "target", NULL, 1, 1)},
	{.name = "favorite list",
		.help = "your favorites",
		.section = SECTION_DIRECTORY,
		REQ(MM_REQ_DIR_FAVORITE_LIST, NULL, NULL, 0, 0)},
	{.name = "visibility",
		.args = "medimail|mssante on|off [--login LOGIN|ORG]",
		.help = "show or hide your address in that directory",
		.section = SECTION_DIRECTORY,
		REQ(MM_REQ_DIR_VISIBILITY, "directory", "visible", 2, 2)},
	{.name = "export",
		.args = "[--output FILE]",
		.help = "(administrators) the national extraction of the\n"
			"MSSanté view, 31 '|'-separated columns",
		.section = SECTION_DIRECTORY,
		RUN(MM_REQ_DIR_EXPORT, cmd_export)},

	/* ---------------------------------------------------------- administrators */
	{.name = "list",
		.args = "[--status S] [--type T] [--published yes|no]",
		.help = "the accounts (--published no: the ORGs to publish)",
		.section = SECTION_ADMIN,
		REQ(MM_REQ_LIST, NULL, NULL, 0, 0)},
	{.name = "validate",
		.args = "LOGIN [--mss yes|no]",
		.help = "validate a confirmed registration (assigns the MSSanté address;\n"
			"an INT gets one only with --mss yes)",
		.section = SECTION_ADMIN,
		REQ(MM_REQ_VALIDATE, "login", NULL, 1, 1)},
	{.name = "publish",
		.args = "ORG",
		.help = "publish a validated BAL ORG's MSSanté address in the annuaire\n"
			"santé (until then it is in no directory view)",
		.section = SECTION_ADMIN,
		REQ(MM_REQ_PUBLISH, "login", NULL, 1, 1)},
	{.name = "mss grant",
		.args = "LOGIN",
		.help = "give a validated INT its MSSanté address",
		.section = SECTION_ADMIN,
		REQ(MM_REQ_MSS_GRANT, "login", NULL, 1, 1)},
	{.name = "gestionnaire add",
		.args = "LOGIN [--struct-type FINESS|SIRET|SIREN --struct-id ID]",
		.help = "make LOGIN a structure administrator (of its own\n"
			"structure without --struct-id): it may validate, suspend,\n"
			"reactivate and list that structure's accounts",
		.section = SECTION_ADMIN,
		REQ(MM_REQ_STRUCT_ADMIN_ADD, "login", NULL, 1, 1)},
	{.name = "gestionnaire remove",
		.args = "LOGIN [--struct-type T --struct-id ID]",
		.help = "take the role back (every structure without --struct-id)",
		.section = SECTION_ADMIN,
		REQ(MM_REQ_STRUCT_ADMIN_DEL, "login", NULL, 1, 1)},
	{.name = "operator grant",
		.args = "LOGIN",
		.help = "root only: make LOGIN a service-centre operator (its\n"
			"browser sessions use the back office /gestion)",
		.section = SECTION_ADMIN,
		REQ(MM_REQ_OPERATOR_GRANT, "login", NULL, 1, 1)},
	{.name = "operator revoke",
		.args = "LOGIN",
		.help = "root only: take the operator role back (at once)",
		.section = SECTION_ADMIN,
		REQ(MM_REQ_OPERATOR_REVOKE, "login", NULL, 1, 1)},
	{.name = "resend-confirmation",
		.args = "LOGIN",
		.help = "mail the confirmation link again",
		.section = SECTION_ADMIN,
		REQ(MM_REQ_CONFIRM_RESEND, "login", NULL, 1, 1)},
	{.name = "suspend",
		.args = "LOGIN [--reason TEXT]",
		.help = "suspend an account",
		.section = SECTION_ADMIN,
		REQ(MM_REQ_SUSPEND, "login", NULL, 1, 1)},
	{.name = "reactivate",
		.args = "LOGIN",
		.help = "reactivate a suspended account",
		.section = SECTION_ADMIN,
		REQ(MM_REQ_REACTIVATE, "login", NULL, 1, 1)},
	{.name = "close",
		.args = "LOGIN [--reason TEXT]",
		.help = "close an account",
		.section = SECTION_ADMIN,
		REQ(MM_REQ_CLOSE, "login", NULL, 1, 1)},
	{.name = "convert",
		.args = "LOGIN --rpps RPPS",
		.help = "INT -> PER when the RPPS arrives",
		.section = SECTION_ADMIN,
		REQ(MM_REQ_CONVERT, "login", NULL, 1, 1)},
	{.name = "org member add",
		.args = "ORG MEMBER",
		.help = "add a connection account to a BAL ORG",
		.section = SECTION_ADMIN,
		REQ(MM_REQ_ORG_MEMBER_ADD, "org", "member", 2, 2)},
	{.name = "org member remove",
		.args = "ORG MEMBER",
		.help = "remove one (the last one stays)",
		.section = SECTION_ADMIN,
		REQ(MM_REQ_ORG_MEMBER_DEL, "org", "member", 2, 2)},
	{.name = "service add",
		.args = "ID",
		.help = "register an HTTP API client; prints its secret once",
		.section = SECTION_ADMIN,
		REQ(MM_REQ_SERVICE_ADD, "id", NULL, 1, 1)},
	{.name = "service remove",
		.args = "ID",
		.help = "remove an HTTP API client",
		.section = SECTION_ADMIN,
		REQ(MM_REQ_SERVICE_REMOVE, "id", NULL, 1, 1)},
	{.name = "oidc client add",
		.args = "ID --redirect-uris \"URI...\" [--name N] [--type public|confidential]\n"
			"[--first-party yes|no] [--token-endpoint-auth-method M]\n"
			"[--id-token-signed-response-alg ES256|RS256] [--post-logout-redirect-uris "
			"\"URI...\"]\n"
			"[--backchannel-logout-uri URI] [--jwks-file F]",
		.help = "register an OpenID Connect client; prints its secret once",
		.section = SECTION_ADMIN,
		REQ(MM_REQ_OIDC_CLIENT_ADD, "id", NULL, 1, 1)},
	{.name = "oidc client list",
		.help = "the OpenID Connect clients",
		.section = SECTION_ADMIN,
		REQ(MM_REQ_OIDC_CLIENT_LIST, NULL, NULL, 0, 0)},
	{.name = "oidc client remove",
		.args = "ID",
		.help = "remove an OpenID Connect client",
		.section = SECTION_ADMIN,
		REQ(MM_REQ_OIDC_CLIENT_REMOVE, "id", NULL, 1, 1)},
	{.name = "oidc key rotate",
		.help = "new signing keys; the previous ones stay published until their tokens expire",
		.section = SECTION_ADMIN,
		REQ(MM_REQ_OIDC_KEY_ROTATE, NULL, NULL, 0, 0)},

	/* ---------------------------------------------------------- e-CPS, PSC, daemon */
	{.name = "ecps",
		.args = "LOGIN",
		.help = "send a push, print the code to pick in the app, wait for the answer",
		.section = SECTION_ECPS,
		.code = MM_REQ_ECPS_START,
		.handler = cmd_ecps,
		.min_args = 1,
		.max_args = 1},
	{.name = "audit",
		.args = "[--account LOGIN] [--since T] [--until T] [--result ok|refused]\n"
			"[--event EVENT] [--file PATH]",
		.help = "the audit lines of the daemon's audit_file that match (T: YYYY-MM-DD,\n"
			"YYYY-MM-DDTHH:MM:SSZ or @SECONDS, UTC); root or the daemon's user",
		.section = SECTION_ADMIN,
		.handler = cmd_audit,
		.max_args = -1},
	{.name = "psc list",
		.args = "[USER]",
		.help = "the identities linked, each naming its provider: Pro Santé Connect, the\n"
			"OpenID Connect provider (PASS Occitanie) (your own without USER)",
		.section = SECTION_ECPS,
		REQ(MM_REQ_PSC_LIST, "user", NULL, 0, 1)},
	{.name = "psc unlink",
		.args = "USER [SUB] [--provider NAME]",
		.help = "unlink one (every one without SUB) of Pro Santé Connect, or of the\n"
			"provider NAME that psc list shows (oidc_name, e.g. pass)",
		.section = SECTION_ECPS,
		REQ(MM_REQ_PSC_UNLINK, "user", "sub", 1, 2)},
	{.name = "ping",
		.help = "is the daemon there",
		.section = SECTION_ECPS,
		REQ(MM_REQ_PING, NULL, NULL, 0, 0)},

	/* ---------------------------------------------------------- CPS cards */
	{.name = "card auth",
		.args = "[--user LOGIN] [--pin-stdin]",
		.help = "log in with the card in the reader",
		.section = SECTION_CARDS,
		RUN(MM_REQ_CARD_AUTH, cmd_card_pin),
		.flags = CMD_SECRET},
	{.name = "card link",
		.args = "LOGIN [--pin-stdin]",
		.help = "link the card in the reader (administrators)",
		.section = SECTION_CARDS,
		RUN(MM_REQ_CARD_LINK, cmd_card_pin),
		.flags = CMD_SECRET},
	{.name = "card list",
		.args = "[LOGIN]",
		.help = "linked cards (your own without LOGIN)",
		.section = SECTION_CARDS,
		REQ(MM_REQ_CARD_LIST, "login", NULL, 0, 1)},
	{.name = "card unlink",
		.args = "LOGIN FINGERPRINT",
		.help = "unlink a card (\"désassocier\")",
		.section = SECTION_CARDS,
		REQ(MM_REQ_CARD_UNLINK, "login", "fingerprint", 2, 2)},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Prints s, each '\n' continuing at column indent; returns the width of its last line. */
static size_t put_indented(FILE *f, const char *s, int indent)
{
	size_t width = 0;

	for (; *s; s++) {
		if (*s == '\n') {
			fprintf(f, "\n%*s", indent, "");
			width = (size_t)indent;
			continue;
		}
		fputc(*s, f);
		if (((unsigned char)*s & 0xc0) != 0x80) /* one column a UTF-8 character */
			width++;
	}
	return width;
}

/* The usage text, made from the table. */
void ctl_usage(FILE *f)
{
	fputs("Usage: medimailctl [--socket PATH] [--json] [--timeout SECONDS] COMMAND [ARGS]\n", f);
	for (int s = 0; s < SECTION_COUNT; s++) {
		fprintf(f, "\n%s\n", section_heading[s]);
		for (size_t i = 0; i < NCOMMANDS; i++) {
			const struct ctl_command *c = &commands[i];
			size_t width;

			if ((int)c->section != s)
				continue;
			fprintf(f, "  %s", c->name);
			width = 2 + strlen(c->name);
			if (c->args && *c->args) {
				fputc(' ', f);
				width = put_indented(f, c->args, ARGS_INDENT) +
					(strchr(c->args, '\n') ? 0 : width + 1);
			}
			if (c->help && *c->help) {
				if (width + 1 < HELP_COLUMN)
					fprintf(f, "%*s", (int)(HELP_COLUMN - width), "");
				else
					fprintf(f, "\n%*s", HELP_COLUMN, "");
				put_indented(f, c->help, HELP_COLUMN);
			}
			fputc('\n', f);
			if (c->more)
				fputs(c->more, f);
		}
		if (section_footer[s])
			fprintf(f, "  %s\n", section_footer[s]);
	}
	fputs("\n"
	      "Single-use tokens, codes, PINs and passwords are never taken from the command line,\n"
	      "where every local user can read them.\n"
	      "\n"
	      "Exit status: 0 done, 1 refused, 2 usage error, 3 daemon unreachable.\n",
		f);
}

/* How many words of the name the arguments start with (0: not this command). */
static int name_matches(const char *name, int argc, char **argv)
{
	int n = 0;

	for (const char *w = name; *w; n++) {
		size_t len = strcspn(w, " ");

		if (n >= argc || strlen(argv[n]) != len || strncmp(argv[n], w, len))
			return 0;
		w += len;
		w += *w == ' ';
	}
	return n;
}

/* The one dispatcher: the row whose name the arguments start with. */
static int dispatch(int argc, char **argv)
{
	const struct ctl_command *c = NULL;
	int words = 0;

	for (size_t i = 0; i < NCOMMANDS; i++) {
		int n = name_matches(commands[i].name, argc, argv);

		if (n > words) {
			words = n;
			c = &commands[i];
		}
	}
	if (!c) {
		fprintf(stderr, "medimailctl: unknown command %s\n", argv[0]);
		ctl_usage(stderr);
		return EXIT_USAGE;
	}
	/* The handler sees the last word of the name as argv[0]. */
	argc -= words - 1;
	argv += words - 1;
	if (c->handler && c->max_args >= 0 && (argc - 1 < c->min_args || argc - 1 > c->max_args)) {
		fprintf(stderr, "medimailctl: %s%s%s\n", c->name, c->args ? " " : "", c->args ? c->args : "");
		return EXIT_USAGE;
	}
	/* Secrets come on stdin: no stdio buffer keeps them (see ctl_prompt()). */
	if (c->flags & CMD_SECRET)
		setvbuf(stdin, NULL, _IONBF, 0);
	return (c->handler ? c->handler : ctl_request)(c, argc, argv);
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
	int c;

	if (getenv("MEDIMAIL_SOCKET"))
		ctl_socket = getenv("MEDIMAIL_SOCKET");
	while ((c = getopt_long(argc, argv, "+s:jt:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': ctl_socket = optarg; break;
		case 'j': ctl_json = true; break;
		case 't': {
			char *end;
			long sec = strtol(optarg, &end, 10);

			/* 0 (refused below) for what is not 1..86400 seconds: no int overflow */
			ctl_timeout_ms =
				end != optarg && !*end && sec >= 1 && sec <= 86400 ? (int)sec * 1000 : 0;
			break;
		}
		case 'h': ctl_usage(stdout); return 0;
		default: ctl_usage(stderr); return EXIT_USAGE;
		}
	}
	if (ctl_timeout_ms <= 0 || optind >= argc) {
		ctl_usage(stderr);
		return EXIT_USAGE;
	}
	return dispatch(argc - optind, argv + optind);
}
