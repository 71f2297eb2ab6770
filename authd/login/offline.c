/* Offline login: a local copy of an account's argon2id verifier, kept after an online login. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "offline.h"
#include "secret.h"

#define REC_MAX 4096

/* The temporary file is named after the process: one writer at a time. */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

/* <offline_dir>/<keyed hash of the lower-cased identifier>: names reveal no login. */
static int rec_path(const struct mm_config *c, const char *ident, char *out, size_t outsz)
{
	char lower[256], hash[SECRET_HASH_HEX];
	size_t n = strlen(ident);
	int r;

	if (n == 0 || n >= sizeof(lower))
		return -EINVAL;
	for (size_t i = 0; i <= n; i++)
		lower[i] = (char)tolower((unsigned char)ident[i]);
	r = secret_keyed_hash("offline", lower, hash);
	secret_wipe(lower, sizeof(lower));
	if (r < 0)
		return r;
	if ((size_t)snprintf(out, outsz, "%s/%s", c->offline_dir, hash) >= outsz)
		return -ENAMETOOLONG;
	return 0;
}

static bool field_ok(const char *s)
{
	return s && strlen(s) < 256 && !strpbrk(s, "\r\n");
}

static int write_rec(const struct mm_config *c, const char *ident, const char *text)
{
	char path[4096], tmp[4200];
	size_t len = strlen(text);
	int fd, r = 0;

	if ((r = rec_path(c, ident, path, sizeof(path))) < 0)
		return r;
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	pthread_mutex_lock(&write_lock);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		pthread_mutex_unlock(&write_lock);
		return r;
	}
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
		r = -EIO;
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	pthread_mutex_unlock(&write_lock);
	return r;
}

static int store_rec(const struct mm_config *c, const struct offline_rec *rec)
{
	char *text = NULL;
	int r;

	if (asprintf(&text, "login=%s\nmail=%s\naddress=%s\nverifier=%s\nstamp=%lld\ncgu=%s\n", rec->login,
		    rec->mail, rec->address, rec->verifier, rec->stamp, rec->cgu ? "yes" : "no") < 0)
		return -ENOMEM;
	r = write_rec(c, rec->login, text);
	if (r == 0 && rec->mail[0] && strcasecmp(rec->login, rec->mail))
		r = write_rec(c, rec->mail, text);
	secret_free(text);
	return r;
}

int offline_mark_cgu(const struct mm_config *c, const char *login)
{
	struct offline_rec rec;
	int r;

	if (offline_load(c, login, &rec) < 0)
		return 0;
	r = rec.cgu ? 0 : (rec.cgu = true, store_rec(c, &rec));
	offline_rec_wipe(&rec);
	return r;
}

int offline_store(const struct mm_config *c, const struct entry *e)
{
	const char *login = entry_get(e, "uid"), *mail = entry_get(e, "mmLoginMail");
	const char *verifier = entry_get(e, "userPassword");
	const char *address = entry_get(e, "mmMssAddress") ?: mail;
	struct offline_rec rec = {0};
	int r;

	if (!c->offline_login)
		return 0;
	if (!field_ok(login) || !field_ok(mail) || !field_ok(verifier) || !field_ok(address) ||
		strncmp(verifier, "{ARGON2}", 8))
		return -EINVAL;
	if (mkdir(c->offline_dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	snprintf(rec.login, sizeof(rec.login), "%s", login);
	snprintf(rec.mail, sizeof(rec.mail), "%s", mail);
	snprintf(rec.address, sizeof(rec.address), "%s", address);
	snprintf(rec.verifier, sizeof(rec.verifier), "%s", verifier);
	rec.stamp = (long long)time(NULL);
	rec.cgu = entry_get(e, "mmCguAcceptedAt") != NULL;
	r = store_rec(c, &rec);
	/* A login with the password and the code forgives offline failures. */
	if (r == 0)
		r = offline_attempt_reset(c, rec.login, 0);
	offline_rec_wipe(&rec);
	return r;
}

int offline_load(const struct mm_config *c, const char *ident, struct offline_rec *ret)
{
	char path[4096], buf[REC_MAX + 1], *line, *save = NULL;
	struct stat st;
	ssize_t n;
	int fd, r;

	memset(ret, 0, sizeof(*ret));
	if (!c->offline_login)
		return -ENOENT;
	if ((r = rec_path(c, ident, path, sizeof(path))) < 0)
		return r == -EINVAL ? -ENOENT : r;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	/* Only a regular file the daemon wrote, not readable by others. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) ||
		st.st_size > REC_MAX) {
		close(fd);
		return -ENOENT;
	}
	n = read(fd, buf, REC_MAX);
	close(fd);
	if (n <= 0)
		return -ENOENT;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		if (!eq)
			continue;
		*eq++ = '\0';
		if (!strcmp(line, "login"))
			snprintf(ret->login, sizeof(ret->login), "%s", eq);
		else if (!strcmp(line, "mail"))
			snprintf(ret->mail, sizeof(ret->mail), "%s", eq);
		else if (!strcmp(line, "address"))
			snprintf(ret->address, sizeof(ret->address), "%s", eq);
		else if (!strcmp(line, "verifier"))
			snprintf(ret->verifier, sizeof(ret->verifier), "%s", eq);
		else if (!strcmp(line, "stamp"))
			ret->stamp = strtoll(eq, NULL, 10);
		else if (!strcmp(line, "cgu"))
			ret->cgu = !strcmp(eq, "yes");
	}
	secret_wipe(buf, sizeof(buf));
	if (!ret->login[0] || !ret->verifier[0] || ret->stamp <= 0 ||
		(long long)time(NULL) - ret->stamp > (long long)c->offline_ttl ||
		(strcasecmp(ident, ret->login) && strcasecmp(ident, ret->mail))) {
		offline_rec_wipe(ret);
		return -ENOENT;
	}
	return 0;
}

/* ------------------------------------------------------------ failures */

/* <record>.fails: "fails=N locked_until=T", one short record rewritten in
 * place under an exclusive flock (a daemon restarting, or two daemons on
 * one offline_dir, see the same count; a record shorter than a disk
 * sector is written whole or not at all). */
#define FAILS_MAX 64

static int fails_open(const struct mm_config *c, const char *login, bool create, int *ret_fd)
{
	char path[4096];
	struct stat st;
	int fd, r;

	*ret_fd = -1;
	if ((r = rec_path(c, login, path, sizeof(path))) < 0)
		return r;
	if (strlen(path) + sizeof(".fails") > sizeof(path))
		return -ENAMETOOLONG;
	strcat(path, ".fails");
	if (create && mkdir(c->offline_dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
		close(fd);
		return -EPERM;
	}
	*ret_fd = fd;
	return 0;
}

static void fails_read(int fd, unsigned *ret_fails, long long *ret_until)
{
	char buf[FAILS_MAX + 1];
	ssize_t n = pread(fd, buf, FAILS_MAX, 0);

	*ret_fails = 0;
	*ret_until = 0;
	if (n <= 0)
		return;
	buf[n] = '\0';
	if (sscanf(buf, "fails=%u locked_until=%lld", ret_fails, ret_until) != 2) {
		/* Unreadable: count it as spent rather than as forgiven. */
		*ret_fails = UINT32_MAX / 2;
		*ret_until = 0;
	}
}

static int fails_write(int fd, unsigned fails, long long until)
{
	char buf[FAILS_MAX];
	int n = snprintf(buf, sizeof(buf), "fails=%u locked_until=%lld\n", fails, until);

	if (n < 0 || (size_t)n >= sizeof(buf))
		return -EINVAL;
	if (pwrite(fd, buf, (size_t)n, 0) != n || ftruncate(fd, n) < 0 || fsync(fd) < 0)
		return -EIO;
	return 0;
}

int offline_attempt_reserve(
	const struct mm_config *c, const char *login, long long *ret_until, unsigned *ret_n)
{
	unsigned fails;
	long long until, now = (long long)time(NULL);
	int fd, r;

	*ret_until = 0;
	*ret_n = 0;
	if ((r = fails_open(c, login, true, &fd)) < 0)
		return r;
	fails_read(fd, &fails, &until);
	if (until > now) {
		*ret_until = until;
		r = -ENOLCK;
	} else if (c->lockout_threshold && fails >= c->lockout_threshold) {
		r = -ENOLCK; /* every attempt left is in flight */
	} else if ((r = fails_write(fd, fails + 1, 0)) == 0) {
		*ret_n = fails + 1;
	}
	close(fd);
	return r;
}

int offline_attempt_failed(const struct mm_config *c, const char *login, long long *ret_until)
{
	unsigned fails;
	long long until;
	int fd, r;

	*ret_until = 0;
	if ((r = fails_open(c, login, true, &fd)) < 0)
		return r;
	fails_read(fd, &fails, &until);
	r = 0;
	if (c->lockout_threshold && fails >= c->lockout_threshold) {
		*ret_until = (long long)time(NULL) + c->lockout_duration;
		r = fails_write(fd, 0, *ret_until);
	}
	close(fd);
	return r;
}

int offline_attempt_reset(const struct mm_config *c, const char *login, unsigned n)
{
	unsigned fails;
	long long until;
	int fd, r = fails_open(c, login, false, &fd);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	fails_read(fd, &fails, &until);
	if (!n)
		r = fails_write(fd, 0, 0);
	else if (fails >= n) /* else a lock zeroed the count meanwhile: it stays */
		r = fails_write(fd, fails - n, until);
	close(fd);
	return r;
}

void offline_forget(const struct mm_config *c, const struct entry *e)
{
	const char *ids[2] = {entry_get(e, "uid"), entry_get(e, "mmLoginMail")};
	char path[4096];

	if (!c->offline_login)
		return;
	for (int i = 0; i < 2; i++)
		if (ids[i] && rec_path(c, ids[i], path, sizeof(path)) == 0)
			unlink(path);
	/* The failures stay: a verifier stored later starts from them. */
}

void offline_rec_wipe(struct offline_rec *rec)
{
	secret_wipe(rec, sizeof(*rec));
}
