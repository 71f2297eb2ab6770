/* search-bench: typeahead searches through medimail-authd and through raw slapd, interleaved in one run. */
#include <errno.h>
#include <getopt.h>
#include <ldap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "directory.h"
#include "wire.h"

/*
 * Each query is a prefix typed in the search box.  For every query the same
 * filter (dir_filter(), the daemon's own code) goes once through the daemon
 * (MM_REQ_DIR_SEARCH on its unix socket, one connection per thread kept
 * open, as a web front end would) and once straight to slapd (libldap,
 * bound as the daemon binds, size limit 51, the view's attributes); the
 * order alternates so that neither side always gets the warmer cache.
 */

struct opts {
	const char *socket, *ldap_uri, *bind_dn, *bind_pw_file, *base, *login, *prefixes;
	unsigned queries, threads, seed, len;
};

struct sample {
	double *daemon_us, *raw_us;
	size_t n;
	size_t hits_capped, hits_zero;
};

struct worker {
	const struct opts *o;
	char (*words)[16];
	size_t nwords;
	unsigned id;
	struct sample s;
	int err;
};

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return n ? v[i < n ? i : n - 1] : 0;
}

static char *read_file_line(const char *path)
{
	char buf[512];
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return strdup(buf);
}

static int ldap_open(const struct opts *o, LDAP **ret)
{
	int version = LDAP_VERSION3, rc;
	char *pw = read_file_line(o->bind_pw_file);
	struct berval cred;
	LDAP *ld = NULL;

	if (!pw)
		return -errno;
	if ((rc = ldap_initialize(&ld, o->ldap_uri)) != LDAP_SUCCESS) {
		free(pw);
		return -EINVAL;
	}
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	cred.bv_val = pw;
	cred.bv_len = strlen(pw);
	rc = ldap_sasl_bind_s(ld, o->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	free(pw);
	if (rc != LDAP_SUCCESS) {
		fprintf(stderr, "search-bench: bind: %s\n", ldap_err2string(rc));
		ldap_unbind_ext_s(ld, NULL, NULL);
		return -EACCES;
	}
	*ret = ld;
	return 0;
}

/* Raw slapd: the entries are read, as the daemon reads them. */
static int raw_query(LDAP *ld, const struct opts *o, const char *filter, size_t *ret_n)
{
	LDAPMessage *res = NULL;
	size_t n = 0;
	int rc = ldap_search_ext_s(ld, o->base, LDAP_SCOPE_SUBTREE, filter,
		(char **)dir_view_attrs(DIR_VIEW_MEDIMAIL, false), 0, NULL, NULL, NULL, DIR_MAX_RESULTS + 1,
		&res);

	if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
		ldap_msgfree(res);
		return -EIO;
	}
	/* Every value of every entry is walked, as a client using them would. */
	for (LDAPMessage *m = ldap_first_entry(ld, res); m; m = ldap_next_entry(ld, m)) {
		BerElement *ber = NULL;
		struct berval bv, *vals = NULL;
		size_t bytes = 0;

		if (ldap_get_dn_ber(ld, m, &ber, &bv) == LDAP_SUCCESS) {
			while (ldap_get_attribute_ber(ld, m, ber, &bv, &vals) == LDAP_SUCCESS && bv.bv_val) {
				for (size_t i = 0; vals && vals[i].bv_val; i++)
					bytes += vals[i].bv_len;
				ber_memfree(vals);
				vals = NULL;
			}
		}
		if (ber)
			ber_free(ber, 0);
		n += bytes > 0;
	}
	ldap_msgfree(res);
	*ret_n = n;
	return 0;
}

static int daemon_query(int fd, const struct opts *o, const char *word, size_t *ret_n)
{
	struct mm_msg *req = mm_msg_new(MM_REQ_DIR_SEARCH, false), *rep = NULL;
	const char *count;
	int rc;

	if (!req)
		return -ENOMEM;
	rc = mm_msg_add(req, "q", word);
	if (rc == 0 && o->login)
		rc = mm_msg_add(req, "login", o->login);
	if (rc == 0)
		rc = mm_client_call_fd(fd, 10000, req, &rep);
	mm_msg_free(req);
	if (rc < 0)
		return rc;
	rc = rep->status;
	count = mm_msg_get(rep, "count");
	*ret_n = count ? strtoul(count, NULL, 10) : 0;
	mm_msg_free(rep);
	return rc;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const struct opts *o = w->o;
	unsigned seed = o->seed * 7919u + w->id;
	LDAP *ld = NULL;
	int fd = -1;
	size_t per = o->queries / o->threads;

	w->s.daemon_us = calloc(per, sizeof(double));
	w->s.raw_us = calloc(per, sizeof(double));
	if (!w->s.daemon_us || !w->s.raw_us || (w->err = ldap_open(o, &ld)) < 0 ||
		(w->err = mm_client_connect(o->socket, 10000, (uid_t)-1, &fd)) < 0)
		goto out;
	for (size_t i = 0; i < per; i++) {
		char word[16];
		char *filter = NULL;
		const char *field, *rule;
		struct dir_query q = {0};
		size_t nd = 0, nr = 0;
		double t0, t1, t2;
		int rd, rr;

		/* The daemon serves 10000 requests per connection: reconnect
		 * before that, outside the timed part. */
		if (i && i % 5000 == 0) {
			close(fd);
			if ((w->err = mm_client_connect(o->socket, 10000, (uid_t)-1, &fd)) < 0) {
				fd = -1;
				goto out;
			}
		}
		if (w->nwords) {
			snprintf(
				word, sizeof(word), "%.*s", (int)o->len, w->words[rand_r(&seed) % w->nwords]);
		} else {
			for (unsigned k = 0; k < o->len; k++)
				word[k] = (char)('a' + rand_r(&seed) % 26);
			word[o->len] = '\0';
		}
		q.q = word;
		if (dir_filter(&q, DIR_VIEW_MEDIMAIL, &filter, &field, &rule) < 0) {
			w->err = -EINVAL;
			goto out;
		}
		if (i % 2) {
			t0 = now_us();
			rd = daemon_query(fd, o, word, &nd);
			t1 = now_us();
			rr = raw_query(ld, o, filter, &nr);
			t2 = now_us();
			w->s.daemon_us[i] = t1 - t0;
			w->s.raw_us[i] = t2 - t1;
		} else {
			t0 = now_us();
			rr = raw_query(ld, o, filter, &nr);
			t1 = now_us();
			rd = daemon_query(fd, o, word, &nd);
			t2 = now_us();
			w->s.raw_us[i] = t1 - t0;
			w->s.daemon_us[i] = t2 - t1;
		}
		free(filter);
		if (rd < 0 || rr < 0) {
			fprintf(stderr, "search-bench: query %s: daemon %d, slapd %d\n", word, rd, rr);
			w->err = rd < 0 ? rd : rr;
			goto out;
		}
		/* Both sides must agree, or the comparison means nothing. */
		if ((nr > DIR_MAX_RESULTS ? DIR_MAX_RESULTS : nr) != nd) {
			fprintf(stderr, "search-bench: query %s: daemon %zu results, slapd %zu\n", word, nd,
				nr);
			w->err = -EPROTO;
			goto out;
		}
		w->s.hits_capped += nr > DIR_MAX_RESULTS;
		w->s.hits_zero += nr == 0;
		w->s.n++;
	}
out:
	if (fd >= 0)
		close(fd);
	if (ld)
		ldap_unbind_ext_s(ld, NULL, NULL);
	return NULL;
}

static void report(const char *what, double *v, size_t n, double wall_s)
{
	double sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += v[i];
	qsort(v, n, sizeof(*v), cmp_double);
	printf("%-7s n=%zu  p50=%.0f us  p90=%.0f us  p99=%.0f us  max=%.0f us  mean=%.0f us  (%.0f "
	       "queries/s of its own time)\n",
		what, n, pct(v, n, 0.50), pct(v, n, 0.90), pct(v, n, 0.99), n ? v[n - 1] : 0, n ? sum / n : 0,
		sum > 0 ? n / (sum / 1e6) : 0);
	(void)wall_s;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"ldap-uri", required_argument, NULL, 'H'},
		{"bind-dn", required_argument, NULL, 'D'},
		{"bind-pw-file", required_argument, NULL, 'y'},
		{"base", required_argument, NULL, 'b'},
		{"queries", required_argument, NULL, 'n'},
		{"threads", required_argument, NULL, 't'},
		{"seed", required_argument, NULL, 'S'},
		{"login", required_argument, NULL, 'l'},
		{"prefixes", required_argument, NULL, 'p'},
		{"length", required_argument, NULL, 'L'},
		{NULL, 0, NULL, 0},
	};
	struct opts o = {.base = "dc=medimail,dc=test", .queries = 10000, .threads = 1, .seed = 1, .len = 3};
	struct worker *w;
	pthread_t *t;
	char(*words)[16] = NULL;
	size_t nwords = 0, total = 0, capped = 0, zero = 0;
	double *all_d, *all_r, t0, wall;
	int c, err = 0;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's': o.socket = optarg; break;
		case 'H': o.ldap_uri = optarg; break;
		case 'D': o.bind_dn = optarg; break;
		case 'y': o.bind_pw_file = optarg; break;
		case 'b': o.base = optarg; break;
		case 'n': o.queries = (unsigned)strtoul(optarg, NULL, 10); break;
		case 't': o.threads = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'S': o.seed = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'l': o.login = optarg; break;
		case 'p': o.prefixes = optarg; break;
		case 'L': o.len = (unsigned)strtoul(optarg, NULL, 10); break;
		default: return 2;
		}
	}
	if (!o.socket || !o.ldap_uri || !o.bind_dn || !o.bind_pw_file || !o.queries || !o.threads ||
		o.threads > 64 || o.len < 1 || o.len > 15) {
		fprintf(stderr,
			"usage: search-bench --socket PATH --ldap-uri URI --bind-dn DN --bind-pw-file FILE\n"
			"       [--base DN] [--queries N] [--threads N] [--seed N] [--length 3]\n"
			"       [--prefixes FILE (one word a line; default random letters)] [--login "
			"LOGIN]\n");
		return 2;
	}
	if (o.prefixes) {
		FILE *f = fopen(o.prefixes, "re");
		char line[64];

		if (!f) {
			perror(o.prefixes);
			return 2;
		}
		while (fgets(line, sizeof(line), f)) {
			char(*nw)[16];
			line[strcspn(line, "\r\n")] = '\0';
			if (strlen(line) < o.len)
				continue;
			nw = realloc(words, (nwords + 1) * sizeof(*words));
			if (!nw)
				return 1;
			words = nw;
			snprintf(words[nwords++], 16, "%.15s", line);
		}
		fclose(f);
		if (!nwords) {
			fprintf(stderr, "search-bench: no usable word in %s\n", o.prefixes);
			return 2;
		}
	}
	w = calloc(o.threads, sizeof(*w));
	t = calloc(o.threads, sizeof(*t));
	if (!w || !t)
		return 1;
	t0 = now_us();
	for (unsigned i = 0; i < o.threads; i++) {
		w[i] = (struct worker){.o = &o, .words = words, .nwords = nwords, .id = i};
		pthread_create(&t[i], NULL, worker_main, &w[i]);
	}
	for (unsigned i = 0; i < o.threads; i++)
		pthread_join(t[i], NULL);
	wall = (now_us() - t0) / 1e6;
	for (unsigned i = 0; i < o.threads; i++) {
		total += w[i].s.n;
		if (w[i].err)
			err = w[i].err;
	}
	all_d = calloc(total + 1, sizeof(double));
	all_r = calloc(total + 1, sizeof(double));
	if (!all_d || !all_r)
		return 1;
	for (unsigned i = 0, k = 0; i < o.threads; i++) {
		memcpy(all_d + k, w[i].s.daemon_us, w[i].s.n * sizeof(double));
		memcpy(all_r + k, w[i].s.raw_us, w[i].s.n * sizeof(double));
		k += (unsigned)w[i].s.n;
		capped += w[i].s.hits_capped;
		zero += w[i].s.hits_zero;
	}
	printf("queries=%zu threads=%u prefixes=%s length=%u: %zu capped at 50 (refine), %zu empty; wall "
	       "%.1f s, %.0f query pairs/s\n",
		total, o.threads, o.prefixes ? o.prefixes : "random", o.len, capped, zero, wall,
		total / wall);
	report("daemon", all_d, total, wall);
	report("slapd", all_r, total, wall);
	if (total)
		printf("ratio   p50 daemon/slapd = %.2f\n", pct(all_d, total, 0.5) / pct(all_r, total, 0.5));
	for (unsigned i = 0; i < o.threads; i++) {
		free(w[i].s.daemon_us);
		free(w[i].s.raw_us);
	}
	free(all_d);
	free(all_r);
	free(w);
	free(t);
	free(words);
	if (err)
		fprintf(stderr, "search-bench: error %d (%s)\n", err, strerror(-err));
	return err ? 1 : 0;
}
