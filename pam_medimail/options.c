/* pam_medimail options: the arguments of the module line in the PAM configuration. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "pam_medimail.h"
#include "protocol.h"

#define DEFAULT_TIMEOUT_MS 30000
#define ECPS_TIMEOUT_DEFAULT 120

void pmm_parse_opts(pam_handle_t *pamh, int argc, const char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->socket = MM_DEFAULT_SOCKET;
	o->timeout_ms = DEFAULT_TIMEOUT_MS;
	o->ecps_timeout = ECPS_TIMEOUT_DEFAULT;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "debug"))
			o->debug = true;
		else if (!strcmp(a, "use_first_pass"))
			o->use_first_pass = true;
		else if (!strcmp(a, "try_first_pass"))
			o->try_first_pass = true;
		else if (!strcmp(a, "use_authtok"))
			o->use_authtok = true;
		else if (!strcmp(a, "cps"))
			o->cps = true;
		else if (!strcmp(a, "cps_auto"))
			o->cps_auto = true;
		else if (!strcmp(a, "ecps"))
			o->ecps = true;
		else if (!strcmp(a, "mail"))
			o->mail = true;
		else if (!strncmp(a, "ecps_timeout=", 13)) {
			char *end;
			long s = strtol(a + 13, &end, 10);

			if (end == a + 13 || *end || s < 1 || s > 3600)
				pam_syslog(
					pamh, LOG_WARNING, "invalid option value: %s (1..3600 seconds)", a);
			else
				o->ecps_timeout = (int)s;
		} else if (!strncmp(a, "socket=", 7) && a[7] == '/')
			o->socket = a + 7;
		else if (!strncmp(a, "timeout=", 8)) {
			char *end;
			long s = strtol(a + 8, &end, 10);

			if (end == a + 8 || *end || s < 1 || s > 600)
				pam_syslog(pamh, LOG_WARNING, "invalid option value: %s (1..600 seconds)", a);
			else
				o->timeout_ms = (int)s * 1000;
		} else if (!strcmp(a, "lang=fr"))
			o->lang = FR;
		else if (!strcmp(a, "lang=en"))
			o->lang = EN;
		else
			pam_syslog(pamh, LOG_WARNING, "unknown option: %s", a);
	}
}
