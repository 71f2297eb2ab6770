/* icount: N warm lookups straight through an NSS module's entry points, for callgrind's instruction counts
 * (bench/nss/icount.sh). Only measured_loop() is collected (--toggle-collect=measured_loop). */
#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum nss_status (*pwnam_fn)(const char *, struct passwd *, char *, size_t, int *);
typedef enum nss_status (*pwuid_fn)(uid_t, struct passwd *, char *, size_t, int *);
typedef enum nss_status (*grnam_fn)(const char *, struct group *, char *, size_t, int *);
typedef enum nss_status (*initgr_fn)(const char *, gid_t, long int *, long int *, gid_t **, long int, int *);

static pwnam_fn f_pwnam;
static pwuid_fn f_pwuid;
static grnam_fn f_grnam;
static initgr_fn f_initgr;
static char **users, **groups;
static size_t nusers, ngroups;
static unsigned uid_base;

static char **read_lines(const char *path, size_t *ret_n)
{
	FILE *f = fopen(path, "r");
	char line[512], **v = NULL;
	size_t n = 0, cap = 0;

	if (!f) {
		perror(path);
		exit(2);
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!*line)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			v = realloc(v, cap * sizeof(*v));
			if (!v)
				exit(2);
		}
		v[n++] = strdup(line);
	}
	fclose(f);
	*ret_n = n;
	return v;
}

/* One lookup of key i; 0 when answered. */
static int one(const char *op, size_t i)
{
	static char buf[1 << 20];
	struct passwd pw;
	struct group gr;
	int err;

	if (!strcmp(op, "getpwnam"))
		return f_pwnam(users[(i * 7919) % nusers], &pw, buf, sizeof(buf), &err) != NSS_STATUS_SUCCESS;
	if (!strcmp(op, "getpwuid"))
		return f_pwuid((uid_t)(uid_base + (i * 7919) % nusers), &pw, buf, sizeof(buf), &err) !=
			NSS_STATUS_SUCCESS;
	if (!strcmp(op, "getgrnam"))
		return f_grnam(groups[(i * 7919) % ngroups], &gr, buf, sizeof(buf), &err) !=
			NSS_STATUS_SUCCESS;
	if (!strcmp(op, "getgrouplist")) {
		static gid_t *g;
		static long int size;
		long int start = 1;
		enum nss_status st;

		if (!g) {
			size = 64;
			g = malloc((size_t)size * sizeof(*g));
			if (!g)
				exit(2);
		}
		g[0] = 100;
		st = f_initgr(users[(i * 7919) % nusers], 100, &start, &size, &g, 0, &err);
		return st != NSS_STATUS_SUCCESS && st != NSS_STATUS_NOTFOUND;
	}
	fprintf(stderr, "unknown op %s\n", op);
	exit(2);
}

static __attribute__((noinline)) size_t warm_loop(const char *op, size_t n)
{
	size_t bad = 0;

	for (size_t i = 0; i < n; i++)
		bad += (size_t)one(op, i);
	return bad;
}

static __attribute__((noinline)) size_t measured_loop(const char *op, size_t n)
{
	size_t bad = 0;

	for (size_t i = 0; i < n; i++)
		bad += (size_t)one(op, i);
	return bad;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

/* Wall-clock per call (the socket path: MEDIMAIL_NSS_CACHE_DIR empty), p50/p99. */
static size_t timed_loop(const char *op, size_t n)
{
	long long *t = calloc(n ? n : 1, sizeof(*t));
	size_t bad = 0;

	if (!t)
		exit(2);
	for (size_t i = 0; i < n; i++) {
		struct timespec a, b;

		clock_gettime(CLOCK_MONOTONIC, &a);
		bad += (size_t)one(op, i);
		clock_gettime(CLOCK_MONOTONIC, &b);
		t[i] = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
	}
	qsort(t, n, sizeof(*t), cmp_ll);
	if (n)
		printf("TIMED op=%s n=%zu failed=%zu p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f\n", op,
			n, bad, t[n / 2] / 1e3, t[(n * 9) / 10] / 1e3, t[(n * 99) / 100] / 1e3,
			t[n - 1] / 1e3);
	free(t);
	return bad;
}

int main(int argc, char **argv)
{
	void *h;
	size_t n, bad;

	if (argc != 7) {
		fprintf(stderr,
			"usage: icount <module.so> <sym-prefix> <users.txt> <groups.txt> <uid-base> "
			"<op>:<n>\n");
		return 2;
	}
	h = dlopen(argv[1], RTLD_NOW);
	if (!h) {
		fprintf(stderr, "%s\n", dlerror());
		return 2;
	}
	{
		char s[128];
		const char *p = argv[2];

		snprintf(s, sizeof(s), "_nss_%s_getpwnam_r", p);
		f_pwnam = (pwnam_fn)dlsym(h, s);
		snprintf(s, sizeof(s), "_nss_%s_getpwuid_r", p);
		f_pwuid = (pwuid_fn)dlsym(h, s);
		snprintf(s, sizeof(s), "_nss_%s_getgrnam_r", p);
		f_grnam = (grnam_fn)dlsym(h, s);
		snprintf(s, sizeof(s), "_nss_%s_initgroups_dyn", p);
		f_initgr = (initgr_fn)dlsym(h, s);
	}
	if (!f_pwnam || !f_pwuid || !f_grnam || !f_initgr) {
		fprintf(stderr, "missing entry points in %s\n", argv[1]);
		return 2;
	}
	users = read_lines(argv[3], &nusers);
	groups = read_lines(argv[4], &ngroups);
	uid_base = (unsigned)strtoul(argv[5], NULL, 10);
	{
		char *op = argv[6], *colon = strchr(op, ':');

		if (!colon)
			return 2;
		*colon = '\0';
		n = strtoul(colon + 1, NULL, 10);
		if (getenv("ICOUNT_TIMED"))
			return timed_loop(op, n) ? 1 : 0;
		/* Warm: the same keys once before the measured pass. */
		bad = warm_loop(op, n);
		bad += measured_loop(op, n);
		printf("op=%s n=%zu failed=%zu\n", op, n, bad);
		return bad ? 1 : 0;
	}
}
