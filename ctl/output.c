/* medimailctl output: a reply of the daemon as text or JSON, and one request sent. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "wire.h"

void ctl_json_string(const char *s)
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
		ctl_json_string(k);
		putchar(':');
		if (count == 1 && strcmp(k, "member") && strcmp(k, "phone")) {
			ctl_json_string(m->fields[i].value);
			continue;
		}
		putchar('[');
		for (size_t j = i, c = 0; j < to; j++)
			if (!strcmp(m->fields[j].key, k)) {
				printf("%s", c++ ? "," : "");
				ctl_json_string(m->fields[j].value);
			}
		putchar(']');
	}
	putchar('}');
}

/* A value from the daemon on a terminal: control characters (a newline that
 * would forge another "key value" line, an escape sequence) shown escaped. */
void ctl_put_text(FILE *f, const char *s)
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

void ctl_print_reply(const struct mm_msg *rep)
{
	size_t first_rec = rep->nfields;

	for (size_t i = 0; i < rep->nfields; i++)
		if (!strcmp(rep->fields[i].key, "#")) {
			first_rec = i;
			break;
		}
	if (ctl_json) {
		printf("{\"status\":%d,\"message\":", rep->status);
		ctl_json_string(rep->message ? rep->message : "");
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
		ctl_put_text(stderr, rep->message && *rep->message ? rep->message : strerror(-rep->status));
		fputc('\n', stderr);
		for (size_t i = 0; i < rep->nfields; i++) {
			fprintf(stderr, "  %s: ", rep->fields[i].key);
			ctl_put_text(stderr, rep->fields[i].value);
			fputc('\n', stderr);
		}
		return;
	}
	if (rep->message && *rep->message) {
		ctl_put_text(stdout, rep->message);
		putchar('\n');
	}
	for (size_t i = 0; i < rep->nfields; i++) {
		if (!strcmp(rep->fields[i].key, "#")) {
			printf("---\n");
			continue;
		}
		printf("%-16s ", rep->fields[i].key);
		ctl_put_text(stdout, rep->fields[i].value);
		putchar('\n');
	}
}

int ctl_call(struct mm_msg *req)
{
	struct mm_msg *rep = NULL;
	int r = mm_client_call(ctl_socket, ctl_timeout_ms, req, &rep);

	mm_msg_free(req);
	if (r < 0) {
		if (ctl_json)
			printf("{\"status\":%d,\"message\":\"daemon unreachable: %s\",\"fields\":{}}\n", r,
				strerror(-r));
		else
			fprintf(stderr, "medimailctl: cannot talk to medimail-authd at %s: %s\n", ctl_socket,
				strerror(-r));
		return EXIT_UNREACHABLE;
	}
	ctl_print_reply(rep);
	r = rep->status < 0 ? EXIT_REFUSED : 0;
	mm_msg_free(rep);
	return r;
}
