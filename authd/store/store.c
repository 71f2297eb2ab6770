/* The directory: a small pool of LDAP connections to slapd and the operations the daemon needs. */
#include <errno.h>
#include <lber.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "secret.h"
#include "store.h"
#include "store_int.h"

struct conn {
	LDAP *ld;
	bool busy;
};

struct store {
	const struct mm_config *cfg;
	const char *uri;
	struct store *counters; /* ldap_lockout_uri's pool, or NULL */
	pthread_mutex_t lock;
	pthread_cond_t freed;
	size_t n;
	struct conn *conns;
	char *bind_pw;
	atomic_bool warned_down; /* set and read by concurrent conn_open */
};

int store_map_ldap(int rc)
{
	switch (rc) {
	case LDAP_SUCCESS: return 0;
	case LDAP_SERVER_DOWN:
	case LDAP_CONNECT_ERROR:
	case LDAP_UNAVAILABLE:
	case LDAP_BUSY:
	case LDAP_TIMEOUT:
	case LDAP_TIMELIMIT_EXCEEDED:
	case LDAP_LOCAL_ERROR: return -EHOSTDOWN;
	case LDAP_NO_SUCH_OBJECT: return -ENOENT;
	case LDAP_ALREADY_EXISTS:
	case LDAP_CONSTRAINT_VIOLATION:
	case LDAP_TYPE_OR_VALUE_EXISTS: return -EEXIST;
	case LDAP_NO_SUCH_ATTRIBUTE: return -ESTALE;
	case LDAP_ASSERTION_FAILED: return -ECANCELED;
	case LDAP_INSUFFICIENT_ACCESS:
	case LDAP_INVALID_CREDENTIALS:
	case LDAP_STRONG_AUTH_REQUIRED: return -EACCES;
	case LDAP_OBJECT_CLASS_VIOLATION:
	case LDAP_INVALID_SYNTAX:
	case LDAP_UNDEFINED_TYPE:
	case LDAP_INVALID_DN_SYNTAX:
	case LDAP_NOT_ALLOWED_ON_RDN: return -EINVAL;
	case LDAP_SIZELIMIT_EXCEEDED: return -E2BIG;
	default:
		/* no answer this daemon expects (docs/faults.md: seen when a provider is killed under
		 * load): which one, for the next engineer */
		log_msg(LOG_WARNING, "directory: unexpected result %d (%s)", rc, ldap_err2string(rc));
		return -EIO;
	}
}

static char *read_secret_file(const char *path)
{
	char buf[512];
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	{
		char *s = strdup(buf);
		secret_wipe(buf, sizeof(buf));
		return s;
	}
}

static int store_alloc(const struct mm_config *c, const char *uri, struct store **ret)
{
	struct store *s = calloc(1, sizeof(*s));

	*ret = NULL;
	if (!s)
		return -ENOMEM;
	s->cfg = c;
	s->uri = uri;
	s->n = c->ldap_pool;
	s->conns = calloc(s->n, sizeof(*s->conns));
	if (!s->conns) {
		free(s);
		return -ENOMEM;
	}
	if (c->ldap_bind_dn && *c->ldap_bind_dn) {
		s->bind_pw = read_secret_file(c->ldap_bind_password_file);
		if (!s->bind_pw) {
			free(s->conns);
			free(s);
			return -errno ? -errno : -EIO;
		}
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->freed, NULL);
	*ret = s;
	return 0;
}

int store_new(const struct mm_config *c, struct store **ret)
{
	struct store *s = NULL;
	int r = store_alloc(c, c->ldap_uri, &s);

	*ret = NULL;
	if (r < 0)
		return r;
	if (c->ldap_lockout_uri && *c->ldap_lockout_uri &&
		(r = store_alloc(c, c->ldap_lockout_uri, &s->counters)) < 0) {
		store_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

struct store *store_counters(struct store *s)
{
	return s->counters ? s->counters : s;
}

void store_reset(struct store *s)
{
	if (s->counters)
		store_reset(s->counters);
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n; i++)
		if (!s->conns[i].busy && s->conns[i].ld) {
			ldap_unbind_ext_s(s->conns[i].ld, NULL, NULL);
			s->conns[i].ld = NULL;
		}
	pthread_mutex_unlock(&s->lock);
}

void store_free(struct store *s)
{
	if (!s)
		return;
	store_free(s->counters);
	for (size_t i = 0; i < s->n; i++)
		if (s->conns[i].ld)
			ldap_unbind_ext_s(s->conns[i].ld, NULL, NULL);
	free(s->conns);
	secret_free(s->bind_pw);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->freed);
	free(s);
}

static int conn_open(struct store *s, LDAP **ret)
{
	const struct mm_config *c = s->cfg;
	struct timeval tv = {.tv_sec = c->ldap_timeout};
	int version = LDAP_VERSION3, rc;
	LDAP *ld = NULL;

	rc = ldap_initialize(&ld, s->uri);
	if (rc != LDAP_SUCCESS)
		return -EINVAL;
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	if (s->bind_pw) {
		struct berval cred = {.bv_val = s->bind_pw, .bv_len = strlen(s->bind_pw)};
		rc = ldap_sasl_bind_s(ld, c->ldap_bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	} else {
		/* ldapi:// with the daemon's own uid as identity */
		struct berval empty = {0};
		rc = ldap_sasl_bind_s(ld, NULL, "EXTERNAL", &empty, NULL, NULL, NULL);
	}
	if (rc != LDAP_SUCCESS) {
		int r = store_map_ldap(rc);
		if (!atomic_exchange(&s->warned_down, true))
			log_msg(LOG_ERR, "directory %s: bind failed: %s", s->uri, ldap_err2string(rc));
		ldap_unbind_ext_s(ld, NULL, NULL);
		return r == -EACCES ? -EACCES : -EHOSTDOWN;
	}
	{
		/* Read slapd's answers in large chunks: libldap otherwise issues two
		 * read()s and a poll() per entry, which dominates a 50-entry search. */
		Sockbuf *sb = NULL;
		if (ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sb) == LDAP_OPT_SUCCESS && sb)
			(void)ber_sockbuf_add_io(
				sb, &ber_sockbuf_io_readahead, LBER_SBIOD_LEVEL_TRANSPORT, NULL);
	}
	if (atomic_exchange(&s->warned_down, false))
		log_msg(LOG_NOTICE, "directory %s: connected again", s->uri);
	*ret = ld;
	return 0;
}

int store_open_conn(struct store *s, LDAP **ret)
{
	return conn_open(s, ret);
}

static struct conn *conn_take(struct store *s)
{
	struct conn *cn = NULL;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		for (size_t i = 0; i < s->n; i++)
			if (!s->conns[i].busy) {
				cn = &s->conns[i];
				break;
			}
		if (cn)
			break;
		pthread_cond_wait(&s->freed, &s->lock);
	}
	cn->busy = true;
	pthread_mutex_unlock(&s->lock);
	return cn;
}

static void conn_give(struct store *s, struct conn *cn, bool broken)
{
	if (broken && cn->ld) {
		ldap_unbind_ext_s(cn->ld, NULL, NULL);
		cn->ld = NULL;
	}
	pthread_mutex_lock(&s->lock);
	cn->busy = false;
	pthread_cond_signal(&s->freed);
	pthread_mutex_unlock(&s->lock);
}

/* An idle pooled connection whose server went away says so before anything is sent on it: the
 * end of its stream (POLLRDHUP), a hang-up or an error. Then an operation that must not be
 * repeated (op_increment) goes to a fresh connection (the next URI of ldap_uri when this one is
 * down) instead of into the dead socket, and failing with "may have been applied": without
 * this check the first operation on each idle connection to a killed provider failed
 * (docs/faults.md). Bytes waiting to be read are not enough: under TLS they may be the
 * server's session tickets, which libldap reads with the next reply. One poll() of no wait. */
static bool conn_gone(LDAP *ld)
{
	struct pollfd p = {.events = POLLRDHUP};
	int fd = -1;

	if (ldap_get_option(ld, LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS || fd < 0)
		return true;
	p.fd = fd;
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* Runs op on a pooled connection; reconnects once when the server went away. */
int store_with_conn(struct store *s, store_op op, void *arg)
{
	struct conn *cn = conn_take(s);
	double t0 = metrics_mono();
	int r = 0;

	if (cn->ld && conn_gone(cn->ld)) {
		ldap_unbind_ext_s(cn->ld, NULL, NULL);
		cn->ld = NULL;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!cn->ld) {
			r = conn_open(s, &cn->ld);
			if (r < 0)
				break;
		}
		r = op(cn->ld, arg);
		if (r != -EHOSTDOWN)
			break;
		ldap_unbind_ext_s(cn->ld, NULL, NULL);
		cn->ld = NULL;
	}
	/* -EIO is no answer of the directory's (store_map_ldap's default: a decoding error, a reply
	 * cut when the server died mid-operation): the handle may hold half a message in its read
	 * buffer, and the next operation on it aborted in liblber (sb_rdahead_read's assertion)
	 * when a provider was killed under load. Dropped, not retried: an entry may have gone out. */
	conn_give(s, cn, r == -EHOSTDOWN || r == -EIO);
	/* "not found" is an answer, not a failure of the directory */
	metrics_ldap(metrics_mono() - t0, r >= 0 || r == -ENOENT);
	return r;
}

/* An entry read from slapd, copied into one allocation: one pass over the
 * message's BER (ldap_get_values_len would rescan it for every attribute)
 * collects borrowed values, then one malloc holds the entry, its attribute
 * and value arrays and every string.  A search of 50 entries is thousands
 * of allocations less. */
struct borrowed {
	struct berval name;
	struct berval *vals;
	size_t nvals;
};

struct entry *store_entry_from(LDAP *ld, LDAPMessage *msg)
{
	BerElement *ber = NULL;
	struct berval dn, bv, *bvals = NULL;
	struct borrowed *b = NULL;
	size_t nb = 0, cap = 0, nvals = 0, bytes, off;
	struct entry *e = NULL;
	char **vp, *sp;
	int rc;

	if (ldap_get_dn_ber(ld, msg, &ber, &dn) != LDAP_SUCCESS || !dn.bv_val)
		goto out;
	bytes = dn.bv_len + 1;
	for (rc = ldap_get_attribute_ber(ld, msg, ber, &bv, &bvals); rc == LDAP_SUCCESS && bv.bv_val;
		rc = ldap_get_attribute_ber(ld, msg, ber, &bv, &bvals)) {
		if (nb == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			struct borrowed *nbv = reallocarray(b, ncap, sizeof(*nbv));
			if (!nbv) {
				ber_memfree(bvals);
				goto out;
			}
			b = nbv;
			cap = ncap;
		}
		b[nb].name = bv;
		b[nb].vals = bvals;
		b[nb].nvals = 0;
		bvals = NULL;
		while (b[nb].vals && b[nb].vals[b[nb].nvals].bv_val) {
			bytes += b[nb].vals[b[nb].nvals].bv_len + 1;
			b[nb].nvals++;
		}
		bytes += bv.bv_len + 1;
		nvals += b[nb].nvals + 1;
		nb++;
	}
	if (rc != LDAP_SUCCESS)
		goto out;
	off = sizeof(*e) + nb * sizeof(struct attr) + nvals * sizeof(char *);
	e = calloc(1, off + bytes);
	if (!e)
		goto out;
	e->packed_size = off + bytes;
	e->attrs = (struct attr *)(e + 1);
	vp = (char **)(e->attrs + nb);
	sp = (char *)e + off;
	e->dn = sp;
	memcpy(sp, dn.bv_val, dn.bv_len);
	sp += dn.bv_len + 1;
	for (size_t i = 0; i < nb; i++) {
		struct attr *a = &e->attrs[e->nattrs++];

		a->name = sp;
		memcpy(sp, b[i].name.bv_val, b[i].name.bv_len);
		sp += b[i].name.bv_len + 1;
		a->vals = vp;
		a->nvals = b[i].nvals;
		for (size_t j = 0; j < b[i].nvals; j++) {
			*vp++ = sp;
			memcpy(sp, b[i].vals[j].bv_val, b[i].vals[j].bv_len);
			sp += b[i].vals[j].bv_len + 1;
		}
		*vp++ = NULL;
	}
out:
	for (size_t i = 0; i < nb; i++)
		ber_memfree(b[i].vals);
	free(b);
	if (ber)
		ber_free(ber, 0);
	return e;
}

struct search_arg {
	const char *base;
	int scope;
	const char *filter;
	const char *const *attrs;
	size_t max;
	bool complete; /* a size limit of the server is an error, not a short answer */
	struct entry **v;
	size_t n;
};

static int op_search(LDAP *ld, void *p)
{
	struct search_arg *a = p;
	LDAPMessage *res = NULL, *m;
	int rc, r = 0;

	entries_free(a->v, a->n);
	a->v = NULL;
	a->n = 0;
	rc = ldap_search_ext_s(ld, a->base, a->scope, a->filter, (char **)a->attrs, 0, NULL, NULL, NULL,
		a->max ? (int)a->max : 0, &res);
	if ((rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED && rc != LDAP_NO_SUCH_OBJECT) ||
		(rc == LDAP_SIZELIMIT_EXCEEDED && a->complete)) {
		ldap_msgfree(res);
		return store_map_ldap(rc);
	}
	for (m = ldap_first_entry(ld, res); m; m = ldap_next_entry(ld, m)) {
		struct entry *e = store_entry_from(ld, m);
		struct entry **nv;

		if (!e) {
			r = -ENOMEM;
			break;
		}
		nv = reallocarray(a->v, a->n + 1, sizeof(*nv));
		if (!nv) {
			entry_free(e);
			r = -ENOMEM;
			break;
		}
		a->v = nv;
		a->v[a->n++] = e;
	}
	ldap_msgfree(res);
	return r;
}

int store_search(struct store *s, const char *base, int scope, const char *filter, const char *const *attrs,
	size_t max, struct entry ***ret, size_t *ret_n)
{
	struct search_arg a = {base, scope, filter, attrs, max, false, NULL, 0};
	int r = store_with_conn(s, op_search, &a);

	if (r < 0) {
		entries_free(a.v, a.n);
		return r;
	}
	*ret = a.v;
	*ret_n = a.n;
	return 0;
}

int store_search_all(struct store *s, const char *base, int scope, const char *filter,
	const char *const *attrs, struct entry ***ret, size_t *ret_n)
{
	struct search_arg a = {base, scope, filter, attrs, 0, true, NULL, 0};
	int r = store_with_conn(s, op_search, &a);

	if (r < 0) {
		entries_free(a.v, a.n);
		return r;
	}
	*ret = a.v;
	*ret_n = a.n;
	return 0;
}

struct each_arg {
	const char *base;
	int scope;
	const char *filter;
	const char *const *attrs;
	store_each_fn each;
	void *ctx;
	unsigned timeout;
	size_t max; /* 0: no limit */
	bool whole; /* timeout bounds the whole answer, not each message */
	size_t n;
	bool started; /* an entry went out: a retry would repeat it */
	bool limited; /* slapd ended the answer with "size limit exceeded" */
};

static int op_search_each(LDAP *ld, void *p)
{
	struct each_arg *a = p;
	struct timespec end;
	int msgid, rc, r = 0;

	rc = ldap_search_ext(ld, a->base, a->scope, a->filter, (char **)a->attrs, 0, NULL, NULL, NULL,
		(int)a->max, &msgid);
	if (rc != LDAP_SUCCESS)
		return store_map_ldap(rc);
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += a->timeout ? a->timeout : 5;
	for (;;) {
		struct timeval tv = {.tv_sec = a->timeout ? a->timeout : 5};
		LDAPMessage *res = NULL;
		int type = 0;

		if (a->whole) {
			/* what is left of one deadline for the whole answer */
			struct timespec now;
			long long left;

			clock_gettime(CLOCK_MONOTONIC, &now);
			left = (end.tv_sec - now.tv_sec) * 1000000LL + (end.tv_nsec - now.tv_nsec) / 1000;
			tv.tv_sec = left > 0 ? (time_t)(left / 1000000) : 0;
			tv.tv_usec = left > 0 ? (suseconds_t)(left % 1000000) : 0;
		}
		if (!a->whole || tv.tv_sec || tv.tv_usec)
			type = ldap_result(ld, msgid, LDAP_MSG_ONE, &tv, &res);

		if (type <= 0) {
			/* Connection lost or slapd stalled: after a partial stream the
			 * caller must not get a silent retry. */
			ldap_msgfree(res);
			ldap_abandon_ext(ld, msgid, NULL, NULL);
			r = -EHOSTDOWN; /* -EIO below once an entry went out */
			break;
		}
		if (type == LDAP_RES_SEARCH_ENTRY) {
			struct entry *e = store_entry_from(ld, res);

			ldap_msgfree(res);
			if (!e) {
				r = -ENOMEM;
			} else {
				a->started = true;
				r = a->each(e, a->ctx);
				entry_free(e);
				a->n++;
			}
			if (r < 0) {
				ldap_abandon_ext(ld, msgid, NULL, NULL);
				break;
			}
			continue;
		}
		if (type == LDAP_RES_SEARCH_RESULT) {
			int err = LDAP_OTHER;

			rc = ldap_parse_result(ld, res, &err, NULL, NULL, NULL, NULL, 1);
			if (rc != LDAP_SUCCESS)
				r = store_map_ldap(rc);
			else if (err == LDAP_SIZELIMIT_EXCEEDED && a->max)
				a->limited = true;
			else if (err != LDAP_SUCCESS && err != LDAP_NO_SUCH_OBJECT)
				r = store_map_ldap(err);
			break;
		}
		ldap_msgfree(res); /* references: not followed */
	}
	/* A result that says "try again" (busy, time limit) after entries went out must not be
	 * retried by store_with_conn: the caller has them already. */
	if (r == -EHOSTDOWN && a->started) {
		static _Atomic long long said; /* a loaded slapd may cut every keystroke's answer */

		if (log_once_a_second(&said))
			log_msg(LOG_WARNING,
				"directory: answer to a search cut after %zu entries, not retried", a->n);
		r = -EIO;
	}
	return r;
}

int store_search_each(struct store *s, const char *base, int scope, const char *filter,
	const char *const *attrs, store_each_fn each, void *ctx, size_t *ret_n)
{
	/* slapd may scan many hidden entries between two it sends: wait longer
	 * for the next one than for a whole ordinary request. */
	unsigned wait = s->cfg->ldap_timeout > 60 ? s->cfg->ldap_timeout : 60;
	struct each_arg a = {base, scope, filter, attrs, each, ctx, wait, 0, false, 0, false, false};
	int r = store_with_conn(s, op_search_each, &a);

	*ret_n = a.n;
	return r;
}

int store_search_each_max(struct store *s, const char *base, int scope, const char *filter,
	const char *const *attrs, size_t max, store_each_fn each, void *ctx, size_t *ret_n)
{
	struct each_arg a = {
		base, scope, filter, attrs, each, ctx, s->cfg->ldap_timeout, max, true, 0, false, false};
	int r;

	if (max == 0 || max > INT_MAX)
		return -EINVAL;
	r = store_with_conn(s, op_search_each, &a);
	*ret_n = a.n;
	return r < 0 ? r : a.limited;
}

int store_search_one(struct store *s, const char *base, int scope, const char *filter,
	const char *const *attrs, struct entry **ret)
{
	struct entry **v = NULL;
	size_t n = 0;
	int r = store_search(s, base, scope, filter, attrs, 2, &v, &n);

	*ret = NULL;
	if (r < 0)
		return r;
	if (n == 0)
		r = -ENOENT;
	else if (n > 1)
		r = -ENOTUNIQ;
	else {
		*ret = v[0];
		v[0] = NULL;
	}
	entries_free(v, n);
	return r;
}

int store_read(struct store *s, const char *dn, const char *const *attrs, struct entry **ret)
{
	return store_search_one(s, dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, ret);
}

int store_count(struct store *s, const char *base, const char *filter, size_t max, size_t *ret)
{
	static const char *const noattrs[] = {LDAP_NO_ATTRS, NULL};
	struct entry **v = NULL;
	size_t n = 0;
	int r = store_search(s, base, LDAP_SCOPE_SUBTREE, filter, noattrs, max + 1, &v, &n);

	if (r == 0)
		*ret = n;
	entries_free(v, n);
	return r;
}

char *store_escape(const char *value)
{
	struct berval in = {.bv_val = (char *)value, .bv_len = strlen(value)}, out = {0};
	char *s;

	if (ldap_bv2escaped_filter_value(&in, &out) != 0)
		return NULL;
	s = strndup(out.bv_val, out.bv_len);
	ber_memfree(out.bv_val);
	return s;
}

char *store_escape_dn(const char *value)
{
	size_t n = strlen(value);
	char *out = malloc(3 * n + 1), *p = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)value[i];
		bool lead = i == 0 && (c == ' ' || c == '#');
		bool trail = i == n - 1 && c == ' ';
		if (strchr(",+\"\\<>;=", c) || lead || trail) {
			*p++ = '\\';
			*p++ = (char)c;
		} else if (c < 0x20) {
			p += sprintf(p, "\\%02x", c);
		} else {
			*p++ = (char)c;
		}
	}
	*p = '\0';
	return out;
}

void store_time(long long t, char out[16])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 16, "%Y%m%d%H%M%SZ", &tm);
}

long long store_parse_time(const char *s)
{
	struct tm tm = {0};
	const char *end;

	if (!s)
		return -1;
	end = strptime(s, "%Y%m%d%H%M%S", &tm);
	if (!end || (*end != 'Z' && *end != '.'))
		return -1;
	return (long long)timegm(&tm);
}
