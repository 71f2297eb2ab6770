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

#include "ctl.h"

#define AUDIT_DEFAULT_FILE "/var/log/medimail/audit.log"
#define LINE_MAX_BYTES 4096

/* The keys of an audit line, in the order the daemon writes them (core/log.c audit()). */
static const char *const keys[] = {
	"audit", "caller", "method", "service", "remote", "account", "result", "reason"};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

struct record {
	char stamp[32];
	time_t at;
	char *v[NKEYS];
};

/* "YYYY-MM-DDTHH:MM:SS[.mmm]Z", "YYYY-MM-DD" (midnight UTC) or "@SECONDS"; -1 if not. */
static time_t time_parse(const char *s)
{
	struct tm tm = {0};
	const char *end;

	if (s[0] == '@') {
		char *e;
		long long v = strtoll(s + 1, &e, 10);

		return e != s + 1 && !*e && v >= 0 ? (time_t)v : -1;
	}
	end = strptime(s, "%Y-%m-%d", &tm);
	if (!end)
		return -1;
	if (*end == 'T') {
		end = strptime(end + 1, "%H:%M:%S", &tm);
		if (!end)
			return -1;
		if (*end == '.') {
			int n = 0;

			for (end++; *end >= '0' && *end <= '9' && n < 9; end++)
				n++;
			if (!n)
				return -1;
		}
		if (*end == 'Z')
			end++;
	}
	return *end ? -1 : timegm(&tm);
}

/* One line, in place: the instant, then exactly the keys above, each
 * key="value" with no quote, backslash or control character in the value
 * (the daemon replaces them), separated by one space, nothing after. */
static int record_parse(char *line, struct record *ret)
{
	char *p = strchr(line, ' ');
	size_t len;

	memset(ret, 0, sizeof(*ret));
	if (!p || (len = (size_t)(p - line)) >= sizeof(ret->stamp))
		return -EINVAL;
	memcpy(ret->stamp, line, len);
	ret->stamp[len] = '\0';
	if (len != 24 || (ret->at = time_parse(ret->stamp)) < 0)
		return -EINVAL;
	for (size_t k = 0; k < NKEYS; k++) {
		size_t kl = strlen(keys[k]);
		char *q;

		if (*p != ' ' || strncmp(p + 1, keys[k], kl) || p[1 + kl] != '=' || p[2 + kl] != '"')
			return -EINVAL;
		p += 3 + kl;
		ret->v[k] = p;
		for (q = p; *q && *q != '"'; q++)
			if ((unsigned char)*q < 0x20 || *q == 0x7f || *q == '\\')
				return -EINVAL;
		if (*q != '"')
			return -EINVAL;
		*q = '\0';
		p = q + 1;
	}
	return *p ? -EINVAL : 0;
}

static void record_print(const struct record *r, bool first)
{
	if (!ctl_json) {
		printf("%s", r->stamp);
		for (size_t k = 0; k < NKEYS; k++)
			printf(" %s=\"%s\"", k == 0 ? "event" : keys[k], r->v[k]);
		putchar('\n');
		return;
	}
	printf("%s{\"time\":", first ? "" : ",\n");
	ctl_json_string(r->stamp);
	for (size_t k = 0; k < NKEYS; k++) {
		printf(",\"%s\":", k == 0 ? "event" : keys[k]);
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
			time_t t = time_parse(optarg);

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
		struct record r;

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
		if (record_parse(line, &r) < 0) {
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
