/* nss_threads: N threads x M lookups through glibc NSS in one process; every answer is checked.
 *
 * usage: nss_threads THREADS LOOKUPS user:uid:gid:ngroups:gecos... -- group:gid:nmembers... -- missing-name
 * (ngroups: how many groups getgrouplist returns, the primary one included)
 * Exits 0 when every lookup returned exactly the expected answer. */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct user {
	char *name, *gecos;
	uid_t uid;
	gid_t gid;
	int ngroups;
};

struct grp {
	char *name;
	gid_t gid;
	size_t nmem;
};

static struct user *users;
static size_t nusers;
static struct grp *groups;
static size_t ngroups;
static const char *missing;
static long lookups;
static atomic_long failures, done;

static void fail(const char *what, const char *name)
{
	if (atomic_fetch_add(&failures, 1) < 10)
		fprintf(stderr, "wrong answer: %s %s\n", what, name);
}

static void *worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u + 1;
	char buf[16384];

	for (long i = 0; i < lookups; i++) {
		unsigned k = (seed = seed * 1103515245u + 12345u) >> 8;
		struct passwd pw, *pr = NULL;
		struct group gr, *gres = NULL;
		int op = (int)(k % 5), rc;

		/* (errno is glibc's business here: getpwnam_r sets it; the module's own
		 * errno discipline is checked by the unit test that calls it directly) */
		if (op == 0 || op == 1) {
			const struct user *u = &users[k / 5 % nusers];

			rc = op == 0 ? getpwnam_r(u->name, &pw, buf, sizeof(buf), &pr)
				     : getpwuid_r(u->uid, &pw, buf, sizeof(buf), &pr);
			if (rc || !pr || strcmp(pw.pw_name, u->name) || pw.pw_uid != u->uid ||
				pw.pw_gid != u->gid || strcmp(pw.pw_gecos, u->gecos))
				fail(op == 0 ? "getpwnam" : "getpwuid", u->name);
		} else if (op == 2) {
			const struct grp *g = &groups[k / 5 % ngroups];
			size_t n = 0;

			rc = getgrnam_r(g->name, &gr, buf, sizeof(buf), &gres);
			while (gres && gr.gr_mem[n])
				n++;
			if (rc || !gres || gr.gr_gid != g->gid || n != g->nmem)
				fail("getgrnam", g->name);
		} else if (op == 3) {
			rc = getpwnam_r(missing, &pw, buf, sizeof(buf), &pr);
			if (pr)
				fail("getpwnam (missing)", missing);
		} else {
			const struct user *u = &users[k / 5 % nusers];
			gid_t list[64];
			int n = 64, found = 0;

			if (getgrouplist(u->name, u->gid, list, &n) < 0)
				fail("getgrouplist", u->name);
			for (int j = 0; j < n; j++)
				found += list[j] == u->gid;
			if (found != 1 || n != u->ngroups)
				fail("getgrouplist", u->name);
		}
		atomic_fetch_add(&done, 1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int nthreads, i = 3;
	pthread_t *t;

	if (argc < 7)
		return 2;
	nthreads = atoi(argv[1]);
	lookups = atol(argv[2]);
	users = calloc((size_t)argc, sizeof(*users));
	groups = calloc((size_t)argc, sizeof(*groups));
	for (; i < argc && strcmp(argv[i], "--"); i++) {
		struct user *u = &users[nusers++];

		u->name = strtok(argv[i], ":");
		u->uid = (uid_t)strtoul(strtok(NULL, ":"), NULL, 10);
		u->gid = (gid_t)strtoul(strtok(NULL, ":"), NULL, 10);
		u->ngroups = atoi(strtok(NULL, ":"));
		u->gecos = strtok(NULL, "");
	}
	for (i++; i < argc && strcmp(argv[i], "--"); i++) {
		struct grp *g = &groups[ngroups++];

		g->name = strtok(argv[i], ":");
		g->gid = (gid_t)strtoul(strtok(NULL, ":"), NULL, 10);
		g->nmem = strtoul(strtok(NULL, ":"), NULL, 10);
	}
	if (i + 1 >= argc || !nusers || !ngroups)
		return 2;
	missing = argv[i + 1];
	t = calloc((size_t)nthreads, sizeof(*t));
	for (int k = 0; k < nthreads; k++)
		pthread_create(&t[k], NULL, worker, (void *)(uintptr_t)k);
	for (int k = 0; k < nthreads; k++)
		pthread_join(t[k], NULL);
	printf("lookups=%ld failures=%ld\n", atomic_load(&done), atomic_load(&failures));
	return atomic_load(&failures) == 0 && atomic_load(&done) == (long)nthreads * lookups ? 0 : 1;
}
