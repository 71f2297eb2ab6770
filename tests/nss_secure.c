/* nss_secure: one getpwnam through the NSS module in a process the kernel marked AT_SECURE.
 *
 * usage: nss_secure MODULE NAME (MODULE: an absolute path to libnss_medimail.so.2)
 * The tests install a copy setgid, so that glibc treats it like any setuid
 * program (secure_getenv returns NULL); it prints "secure=<AT_SECURE>" and then
 * "found <name>:<uid>" or "missing <status>". Exits 0 when the lookup ran. */
#include <dlfcn.h>
#include <errno.h>
#include <nss.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/auxv.h>

typedef enum nss_status (*pwnam_fn)(const char *, struct passwd *, char *, size_t, int *);

int main(int argc, char **argv)
{
	char buf[4096];
	struct passwd pw;
	int err = 0;
	void *h;
	pwnam_fn pwnam;
	enum nss_status st;

	if (argc != 3) {
		fprintf(stderr, "usage: nss_secure MODULE NAME\n");
		return 2;
	}
	printf("secure=%lu\n", getauxval(AT_SECURE));
	h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h || !(pwnam = (pwnam_fn)dlsym(h, "_nss_medimail_getpwnam_r"))) {
		fprintf(stderr, "nss_secure: %s\n", dlerror());
		return 2;
	}
	st = pwnam(argv[2], &pw, buf, sizeof(buf), &err);
	if (st == NSS_STATUS_SUCCESS)
		printf("found %s:%u\n", pw.pw_name, (unsigned)pw.pw_uid);
	else
		printf("missing %d\n", (int)st);
	return 0;
}
