/* medimailctl directory commands: the national extraction, streamed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "wire.h"

/* The export arrives as a stream of reply frames: write each as it comes. */
int cmd_export(const struct ctl_command *c, int argc, char **argv)
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
	r = mm_client_connect(ctl_socket, ctl_timeout_ms, (uid_t)-1, &fd);
	if (r < 0) {
		fprintf(stderr, "medimailctl: cannot talk to medimail-authd at %s: %s\n", ctl_socket,
			strerror(-r));
		return EXIT_UNREACHABLE;
	}
	if (output && !(out = fopen(output, "we"))) {
		fprintf(stderr, "medimailctl: %s: %s\n", output, strerror(errno));
		close(fd);
		return EXIT_USAGE;
	}
	req = mm_msg_new(MM_REQ_DIR_EXPORT, false);
	if (!req || (r = mm_msg_send(fd, req, ctl_timeout_ms)) < 0) {
		fprintf(stderr, "medimailctl: export: cannot send the request\n");
		rc = EXIT_UNREACHABLE;
		goto out;
	}
	for (;;) {
		const char *data;

		r = mm_msg_recv(fd, true, ctl_timeout_ms, &rep);
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
	ctl_print_reply(rep);
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
