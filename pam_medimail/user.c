/* pam_medimail users: the PAM user, and whether it belongs to the host rather than to Medimail. */
#include <dlfcn.h>
#include <errno.h>
#include <nss.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "nsswitch.h"
#include "pam_medimail.h"

#define USER_MAX 254
#define HOST_PASSWD "/etc/passwd"
#define HOST_NSSWITCH "/etc/nsswitch.conf"
#define NSS_SOURCE_COUNT 16 /* sources of one passwd line */
#define NSS_BUF_MAX (1u << 20)

typedef enum nss_status (*getpwnam_r_fn)(const char *, struct passwd *, char *, size_t, int *);

/* Asks one NSS source the way glibc does, through its module's entry point.
 * The handle is kept, as glibc keeps it: a module may own thread keys. */
static bool nss_source_knows(const char *source, const char *user)
{
	char lib[NSSWITCH_SOURCE_MAX + 16], sym[NSSWITCH_SOURCE_MAX + 24], *buf = NULL;
	struct passwd pw;
	getpwnam_r_fn fn;
	void *h;
	bool found = false;

	if (snprintf(lib, sizeof(lib), "libnss_%s.so.2", source) >= (int)sizeof(lib) ||
		snprintf(sym, sizeof(sym), "_nss_%s_getpwnam_r", source) >= (int)sizeof(sym))
		return false;
	if (!(h = dlopen(lib, RTLD_LAZY | RTLD_LOCAL)) || !(fn = (getpwnam_r_fn)dlsym(h, sym)))
		return false;
	/* An entry larger than the buffer is TRYAGAIN/ERANGE, not "unknown": grow
	 * it as glibc does (a long GECOS must not make a host user ours). */
	for (size_t sz = 16384; sz <= NSS_BUF_MAX; sz *= 2) {
		char *nb = realloc(buf, sz);
		int err = 0;
		enum nss_status st;

		if (!nb) {
			found = true; /* cannot tell: stand aside */
			break;
		}
		buf = nb;
		st = fn(user, &pw, buf, sz, &err);
		explicit_bzero(buf, sz);
		if (st == NSS_STATUS_TRYAGAIN && err == ERANGE) {
			found = sz * 2 > NSS_BUF_MAX; /* too large to read: cannot tell */
			continue;
		}
		found = st == NSS_STATUS_SUCCESS;
		break;
	}
	free(buf);
	return found;
}

/* The passwd sources of nsswitch.conf but files (read directly) and ours
 * (never asked: the daemon may be down, and a host name is never ours).
 * Every passwd line counts: a source named anywhere makes its users the host's. */
static bool other_source_knows(const char *user)
{
	FILE *f = fopen(HOST_NSSWITCH, "re");
	char *line = NULL, src[NSS_SOURCE_COUNT][NSSWITCH_SOURCE_MAX];
	size_t cap = 0;
	bool found = false;

	if (!f)
		return false;
	while (!found && getline(&line, &cap, f) > 0) {
		int n = nsswitch_line_sources(line, "passwd", src, NSS_SOURCE_COUNT);

		for (int i = 0; i < n && !found; i++)
			if (strcmp(src[i], "files") && strcmp(src[i], "medimail"))
				found = nss_source_knows(src[i], user);
	}
	free(line);
	fclose(f);
	return found;
}

/* A user the host itself knows (root, local or directory administrators) is
 * not ours: in /etc/passwd, read directly, or in another NSS source than
 * medimail. Our own NSS module is never asked, so a down daemon cannot lock
 * the console. */
/* Does /etc/passwd have a line for user? Its name field compared as glibc's
 * files source does, on lines of any length (a 16 KiB buffer stopped at the
 * first longer line and missed every user after it). A file that cannot be
 * read counts as knowing the user: standing aside is the safe answer. */
static bool passwd_file_has(const char *user)
{
	FILE *f = fopen(HOST_PASSWD, "re");
	size_t len = strlen(user), cap = 0;
	char *line = NULL;
	ssize_t n;
	bool found = false;

	if (!f)
		return errno != ENOENT;
	while (!found && (n = getline(&line, &cap, f)) > 0)
		found = (size_t)n > len && !strncmp(line, user, len) && line[len] == ':';
	if (!found && ferror(f))
		found = true;
	free(line);
	fclose(f);
	return found;
}

bool pmm_host_user(const char *user)
{
	return passwd_file_has(user) || other_source_knows(user);
}

/* PAM_IGNORE for a host user, so the rest of the stack decides alone. */
int pmm_stand_aside(pam_handle_t *pamh, const struct opts *o)
{
	if (o->debug)
		pam_syslog(pamh, LOG_DEBUG, "a user of this host, not of Medimail: ignored");
	return PAM_IGNORE;
}

bool pmm_user_name_ok(const char *user)
{
	if (strlen(user) > USER_MAX)
		return false;
	for (const unsigned char *p = (const unsigned char *)user; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* A PAM_USER already set that names a user of the host (setcred, close_session). */
bool pmm_host_user_item(pam_handle_t *pamh)
{
	const void *user = NULL;

	return pam_get_item(pamh, PAM_USER, &user) == PAM_SUCCESS && user && pmm_user_name_ok(user) &&
		pmm_host_user(user);
}

int pmm_get_user(pam_handle_t *pamh, const struct opts *o, const char **ret)
{
	const char *user = NULL;
	int r = pam_get_user(pamh, &user, pmm_text(o, M_USER_PROMPT));

	if (r != PAM_SUCCESS || !user || !*user)
		return r == PAM_SUCCESS ? PAM_USER_UNKNOWN : r;
	if (!pmm_user_name_ok(user)) {
		pmm_error(pamh, o, M_BAD_USER, NULL);
		return PAM_USER_UNKNOWN;
	}
	/* After that check: only a well-formed name reaches the NSS modules. */
	if (pmm_host_user(user))
		return pmm_stand_aside(pamh, o);
	*ret = user;
	return PAM_SUCCESS;
}
