/* medimailctl audit: a query over the daemon's audit file (audit_file), parsed strictly. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit_parse.h"
#include "ctl.h"

#define AUDIT_DEFAULT_FILE "/var/log/medimail/audit.log"
#define LINE_MAX_BYTES 4096

static void record_print(const struct audit_record *r, bool first)
{
	if (!ctl_json) {
		printf("%s", r->stamp);
		for (size_t k = 0; k < AUDIT_NKEYS; k++)
			printf(" %s=\"%s\"", k == 0 ? "event" : audit_keys[k], r->v[k]);
		putchar('\n');
		return;
	}
	printf("%s{\"time\":", first ? "" : ",\n");
	ctl_json_string(r->stamp);
	for (size_t k = 0; k < AUDIT_NKEYS; k++) {
		printf(",\"%s\":", k == 0 ? "event" : audit_keys[k]);
		/* "-" is how the daemon writes an empty value */
		if (!strcmp(r->v[k], "-"))
			printf("null");
		else
			ctl_json_string(r->v[k]);
	}
	putchar('}');
}

int cmd_audit(const struct ctl_command *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"file", required_argument, NULL, 'f'},
		{"account", required_argument, NULL, 'a'},
		{"since", required_argument, NULL, 's'},
		{"until", required_argument, NULL, 'u'},
		{"result", required_argument, NULL, 'r'},
		{"event", required_argument, NULL, 'e'},
		{"json", no_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	const char *path = AUDIT_DEFAULT_FILE, *account = NULL, *result = NULL, *event = NULL;
	time_t since = -1, until = -1;
	char line[LINE_MAX_BYTES + 2];
	unsigned long lineno = 0, bad = 0, shown = 0;
	struct stat st;
	FILE *f;
	int o, fd;

	(void)c;
	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'f': path = optarg; break;
		case 'a': account = optarg; break;
		case 'r': result = optarg; break;
		case 'e': event = optarg; break;
		case 'j': ctl_json = true; break;
		case 's':
		case 'u': {
			time_t t = audit_time_parse(optarg);

			if (t < 0) {
				fprintf(stderr,
					"medimailctl audit: --%s %s: expected YYYY-MM-DD, "
					"YYYY-MM-DDTHH:MM:SSZ or @SECONDS (UTC)\n",
					o == 's' ? "since" : "until", optarg);
				return EXIT_USAGE;
			}
			*(o == 's' ? &since : &until) = t;
			break;
		}
		default: return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "medimailctl audit: unexpected argument %s\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (result && strcmp(result, "ok") && strcmp(result, "refused")) {
		fprintf(stderr, "medimailctl audit: --result is ok or refused\n");
		return EXIT_USAGE;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		fprintf(stderr, "medimailctl audit: %s: %s\n", path, strerror(errno));
		return EXIT_REFUSED;
	}
	/* The daemon's file only: root's or the reader's own, that no one else may write
	 * (the daemon makes it 0640 of admin_group when that is set: its members read it). */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) ||
		(st.st_mode & 022)) {
		fprintf(stderr, "medimailctl audit: %s: not the daemon's audit file (owner or mode)\n", path);
		close(fd);
		return EXIT_REFUSED;
	}
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return EXIT_REFUSED;
	}
	if (ctl_json)
		putchar('[');
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		struct audit_record r;

		lineno++;
		if (len == 0 || line[len - 1] != '\n') {
			/* too long, or the last line cut: skip the rest of it */
			int ch;

			if (len == sizeof(line) - 1)
				while ((ch = fgetc(f)) != EOF && ch != '\n')
					;
			fprintf(stderr, "medimailctl audit: %s:%lu: malformed line skipped\n", path, lineno);
			bad++;
			continue;
		}
		line[len - 1] = '\0';
		if (audit_record_parse(line, &r) < 0) {
			fprintf(stderr, "medimailctl audit: %s:%lu: malformed line skipped\n", path, lineno);
			bad++;
			continue;
		}
		if ((account && strcmp(r.v[5], account)) || (result && strcmp(r.v[6], result)) ||
			(event && strcmp(r.v[0], event)) || (since >= 0 && r.at < since) ||
			(until >= 0 && r.at > until))
			continue;
		record_print(&r, shown == 0);
		shown++;
	}
	fclose(f);
	if (ctl_json)
		printf("]\n");
	return bad ? EXIT_REFUSED : 0;
}
