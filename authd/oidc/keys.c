/* The provider's signing keys: op_key_file read (or created) safely, the JWKS, signing, rotation. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sodium.h>
#include <unistd.h>

#include "jwt.h"
#include "oidc.h"
#include "secret.h"

#define KEYS_MAX 16
#define KEY_FILE_MAX (256u * 1024u)

struct key {
	char kid[64];
	char alg[8];
	long long created, retired;
	struct jws_key *k;
};

static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;
static struct key keys[KEYS_MAX];
static size_t nkeys;
static struct timespec keys_mtime;
static ino_t keys_ino;

static void keys_clear(struct key *v, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		jws_key_free(v[i].k);
	memset(v, 0, sizeof(*v) * *n);
	*n = 0;
}

void oidc_keys_cleanup(void)
{
	pthread_mutex_lock(&keys_lock);
	keys_clear(keys, &nkeys);
	pthread_mutex_unlock(&keys_lock);
}

/* The file's text when it is safe: a regular file (no symlink), owned by
 * root or us, no access for group or others, size-capped. */
static int file_read(const char *path, char **ret, struct stat *ret_st, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	ssize_t n;
	int r;

	*ret = NULL;
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "op_key_file %s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "op_key_file %s: not a regular file", path);
		r = -EINVAL;
		goto out;
	}
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 077)) {
		snprintf(err, errlen,
			"op_key_file %s: must be owned by root (or the daemon's user) and mode 0600", path);
		r = -EPERM;
		goto out;
	}
	if ((size_t)st.st_size > KEY_FILE_MAX) {
		snprintf(err, errlen, "op_key_file %s: too large", path);
		r = -EFBIG;
		goto out;
	}
	buf = calloc(1, (size_t)st.st_size + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	n = read(fd, buf, (size_t)st.st_size);
	if (n != st.st_size) {
		snprintf(err, errlen, "op_key_file %s: short read", path);
		r = -EIO;
		goto out;
	}
	*ret = buf;
	buf = NULL;
	*ret_st = st;
	r = 0;
out:
	if (buf) {
		secret_wipe(buf, (size_t)st.st_size);
		free(buf);
	}
	close(fd);
	return r;
}

static int keys_parse(const char *text, struct key *v, size_t *ret_n, char *err, size_t errlen)
{
	json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, NULL), *arr, *o;
	size_t i, n = 0;
	int r = -EBADMSG;

	arr = json_object_get(doc, "keys");
	if (!json_is_array(arr)) {
		snprintf(err, errlen, "op_key_file: not a key file ({\"keys\": [...]})");
		goto out;
	}
	json_array_foreach(arr, i, o)
	{
		const char *kid = json_string_value(json_object_get(o, "kid"));
		const char *alg = json_string_value(json_object_get(o, "alg"));
		const char *pem = json_string_value(json_object_get(o, "pem"));
		if (n == KEYS_MAX || !kid || !alg || !pem || (strcmp(alg, "ES256") && strcmp(alg, "RS256")) ||
			strlen(kid) >= sizeof(v[n].kid)) {
			snprintf(err, errlen, "op_key_file: key %zu is malformed", i);
			keys_clear(v, &n);
			goto out;
		}
		if (jws_key_load(pem, kid, &v[n].k) < 0 || strcmp(jws_key_alg(v[n].k), alg)) {
			snprintf(err, errlen, "op_key_file: key %s does not load as %s", kid, alg);
			jws_key_free(v[n].k);
			v[n].k = NULL;
			keys_clear(v, &n);
			goto out;
		}
		snprintf(v[n].kid, sizeof(v[n].kid), "%s", kid);
		snprintf(v[n].alg, sizeof(v[n].alg), "%s", alg);
		v[n].created = json_integer_value(json_object_get(o, "created"));
		v[n].retired = json_integer_value(json_object_get(o, "retired"));
		n++;
	}
	*ret_n = n;
	r = 0;
out:
	json_decref(doc);
	return r;
}

static json_t *key_new(const char *alg, long long now)
{
	unsigned char rnd[9];
	char kid[16], *pem = NULL;
	json_t *o;

	randombytes_buf(rnd, sizeof(rnd));
	b64url_encode(rnd, sizeof(rnd), kid, sizeof(kid));
	if (jws_key_generate(!strcmp(alg, "ES256"), &pem) < 0)
		return NULL;
	o = json_pack("{s:s, s:s, s:I, s:I, s:s}", "kid", kid, "alg", alg, "created", (json_int_t)now,
		"retired", (json_int_t)0, "pem", pem);
	secret_free(pem);
	return o;
}

/* Writes doc to path through a 0600 temporary file renamed over it. */
static int file_write(const char *path, const json_t *doc)
{
	char *tmp = NULL, *text = json_dumps(doc, JSON_INDENT(1));
	size_t len;
	int fd, r = 0;

	if (!text || asprintf(&tmp, "%s.new", path) < 0) {
		free(text);
		return -ENOMEM;
	}
	len = strlen(text);
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
	} else {
		if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
			r = -EIO;
		if (close(fd) < 0 && !r)
			r = -EIO;
		if (!r && rename(tmp, path) < 0)
			r = -errno;
		if (r)
			(void)unlink(tmp);
	}
	secret_wipe(text, len);
	free(text);
	free(tmp);
	return r;
}

/* Under keys_lock: (re)reads the file when it changed since the last read. */
static int keys_refresh(const struct mm_config *c, char *err, size_t errlen)
{
	struct key v[KEYS_MAX] = {0};
	struct stat st;
	char *text = NULL;
	size_t n = 0;
	int r;

	if (!c->op_key_file) {
		snprintf(err, errlen, "op_key_file is not set");
		return -ENOENT;
	}
	if (nkeys && stat(c->op_key_file, &st) == 0 && st.st_ino == keys_ino &&
		st.st_mtim.tv_sec == keys_mtime.tv_sec && st.st_mtim.tv_nsec == keys_mtime.tv_nsec)
		return 0;
	r = file_read(c->op_key_file, &text, &st, err, errlen);
	if (r < 0)
		return nkeys && r == -ENOENT ? 0 : r;
	r = keys_parse(text, v, &n, err, errlen);
	secret_free(text);
	if (r < 0)
		return r;
	keys_clear(keys, &nkeys);
	memcpy(keys, v, sizeof(v));
	nkeys = n;
	keys_mtime = st.st_mtim;
	keys_ino = st.st_ino;
	return 0;
}

int oidc_keys_init(const struct mm_config *c, char *errbuf, size_t errlen)
{
	struct stat st;
	int r;

	if (!c->op_key_file)
		return 0; /* no provider */
	if (lstat(c->op_key_file, &st) < 0 && errno == ENOENT) {
		long long now = (long long)time(NULL);
		json_t *doc = json_pack("{s:[o*, o*]}", "keys", key_new("ES256", now), key_new("RS256", now));
		if (!doc || json_array_size(json_object_get(doc, "keys")) != 2) {
			json_decref(doc);
			snprintf(errbuf, errlen, "op_key_file: cannot generate keys");
			return -EIO;
		}
		r = file_write(c->op_key_file, doc);
		json_decref(doc);
		if (r < 0) {
			snprintf(errbuf, errlen, "op_key_file %s: %s", c->op_key_file, strerror(-r));
			return r;
		}
	}
	pthread_mutex_lock(&keys_lock);
	keys_clear(keys, &nkeys);
	r = keys_refresh(c, errbuf, errlen);
	pthread_mutex_unlock(&keys_lock);
	return r;
}

/* Under keys_lock: the current key of alg, NULL when none. */
static const struct key *current(const char *alg)
{
	const struct key *best = NULL;

	for (size_t i = 0; i < nkeys; i++)
		if (!strcmp(keys[i].alg, alg) && !keys[i].retired &&
			(!best || keys[i].created >= best->created))
			best = &keys[i];
	return best;
}

json_t *oidc_jwks(const struct mm_config *c)
{
	json_t *arr = json_array();
	char err[256];

	pthread_mutex_lock(&keys_lock);
	(void)keys_refresh(c, err, sizeof(err));
	for (size_t i = 0; arr && i < nkeys; i++)
		json_array_append_new(arr, jws_key_jwk(keys[i].k));
	pthread_mutex_unlock(&keys_lock);
	return json_pack("{s:o*}", "keys", arr);
}

int oidc_sign(const struct mm_config *c, const char *alg, const char *typ, const json_t *payload, char **ret)
{
	const struct key *k;
	char err[256];
	int r;

	*ret = NULL;
	pthread_mutex_lock(&keys_lock);
	(void)keys_refresh(c, err, sizeof(err));
	k = current(alg);
	r = k ? jws_sign(k->k, typ, payload, ret) : -ENOKEY;
	pthread_mutex_unlock(&keys_lock);
	return r;
}

int oidc_verify_own(const struct mm_config *c, const char *jwt, json_t **ret_payload)
{
	json_t *set = oidc_jwks(c);
	char *text = set ? json_dumps(set, JSON_COMPACT) : NULL;
	struct jwks *k = NULL;
	int r;

	*ret_payload = NULL;
	json_decref(set);
	if (!text)
		return -ENOMEM;
	r = jwks_parse(text, strlen(text), &k);
	free(text);
	if (r < 0)
		return r;
	r = jws_verify(k, jwt, ret_payload, NULL);
	jwks_free(k);
	return r;
}

int oidc_keys_rotate(const struct mm_config *c, char ret_kid[64], struct fault *f)
{
	long long now = (long long)time(NULL);
	long long keep = (long long)(c->op_refresh_token_ttl > c->op_id_token_ttl ? c->op_refresh_token_ttl
										  : c->op_id_token_ttl);
	struct stat st;
	char err[256], *text = NULL;
	json_t *doc = NULL, *arr, *o, *kept = NULL, *es = NULL, *rs = NULL;
	size_t i;
	int r;

	if (!c->op_key_file)
		return fault_set(
			f, -ENOENT, "le fournisseur OpenID Connect n'est pas configuré (op_key_file)");
	pthread_mutex_lock(&keys_lock);
	r = file_read(c->op_key_file, &text, &st, err, sizeof(err));
	if (r < 0) {
		fault_set(f, r, "%s", err);
		goto out;
	}
	doc = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	arr = json_object_get(doc, "keys");
	kept = json_array();
	es = key_new("ES256", now);
	rs = key_new("RS256", now);
	if (!json_is_array(arr) || !kept || !es || !rs) {
		r = fault_set(f, -EIO, "op_key_file illisible ou clés impossibles à créer");
		goto out;
	}
	json_array_foreach(arr, i, o)
	{
		json_int_t retired = json_integer_value(json_object_get(o, "retired"));
		if (retired && retired + keep < now)
			continue; /* every token it signed has expired */
		if (!retired)
			json_object_set_new(o, "retired", json_integer(now));
		json_array_append(kept, o);
	}
	snprintf(ret_kid, 64, "%s", json_string_value(json_object_get(es, "kid")));
	json_array_append_new(kept, es);
	json_array_append_new(kept, rs);
	es = rs = NULL;
	json_object_set_new(doc, "keys", kept);
	kept = NULL;
	r = file_write(c->op_key_file, doc);
	if (r < 0) {
		fault_set(f, r, "op_key_file %s : écriture impossible (%s)", c->op_key_file, strerror(-r));
		goto out;
	}
	r = keys_refresh(c, err, sizeof(err));
	if (r < 0)
		fault_set(f, r, "%s", err);
out:
	pthread_mutex_unlock(&keys_lock);
	secret_free(text);
	json_decref(doc);
	json_decref(kept);
	json_decref(es);
	json_decref(rs);
	return r;
}
