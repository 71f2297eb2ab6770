/* Secrets: argon2id password hashes, keyed hashes of tokens and codes, random tokens. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secret.h"

#define PREFIX "{ARGON2}"

static unsigned char hash_key[crypto_generichash_KEYBYTES];
static bool have_key;
static unsigned long long ops;
static size_t mem;
static sem_t hashing;

int secret_init(const char *key_file, unsigned long long opslimit, size_t memlimit, unsigned parallel,
	char *errbuf, size_t errlen)
{
	char hex[2 * crypto_generichash_KEYBYTES + 2];
	struct stat st;
	size_t binlen = 0;
	ssize_t n;
	int fd, r = -EINVAL;

	if (sodium_init() < 0) {
		snprintf(errbuf, errlen, "libsodium failed to initialise");
		return -EIO;
	}
	fd = open(key_file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(errbuf, errlen, "%s: %s", key_file, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) ||
		(st.st_uid != 0 && st.st_uid != geteuid())) {
		snprintf(errbuf, errlen, "%s: must be a regular file, mode 0600, owned by root or the daemon",
			key_file);
		r = -EPERM;
		goto out;
	}
	n = read(fd, hex, sizeof(hex));
	if (n < 64 || (n > 64 && hex[64] != '\n') ||
		sodium_hex2bin(hash_key, sizeof(hash_key), hex, 64, NULL, &binlen, NULL) < 0 ||
		binlen != sizeof(hash_key)) {
		snprintf(errbuf, errlen, "%s: expected 64 hexadecimal characters", key_file);
		r = -EINVAL;
		goto out;
	}
	if (sem_init(&hashing, 0, parallel) < 0) {
		r = -errno;
		snprintf(errbuf, errlen, "hashing semaphore: %s", strerror(errno));
		sodium_memzero(hash_key, sizeof(hash_key));
		goto out;
	}
	have_key = true;
	ops = opslimit;
	mem = memlimit;
	r = 0;
out:
	sodium_memzero(hex, sizeof(hex));
	close(fd);
	return r;
}

void secret_cleanup(void)
{
	sodium_memzero(hash_key, sizeof(hash_key));
	have_key = false;
}

int secret_password_hash(const char *password, char out[SECRET_PWHASH_MAX])
{
	char h[crypto_pwhash_STRBYTES];
	int r;

	if (!have_key)
		return -EINVAL;
	while (sem_wait(&hashing) < 0 && errno == EINTR)
		;
	r = crypto_pwhash_str_alg(h, password, strlen(password), ops, mem, crypto_pwhash_ALG_ARGON2ID13);
	sem_post(&hashing);
	if (r < 0)
		r = -ENOMEM;
	else if (strlen(PREFIX) + strlen(h) + 1 > SECRET_PWHASH_MAX)
		r = -ENAMETOOLONG;
	else
		snprintf(out, SECRET_PWHASH_MAX, "%s%s", PREFIX, h);
	sodium_memzero(h, sizeof(h));
	return r;
}

int secret_password_verify(const char *stored, const char *password)
{
	int r;

	if (!stored || strncmp(stored, PREFIX, strlen(PREFIX)) != 0)
		return -EACCES;
	stored += strlen(PREFIX);
	if (strlen(stored) >= crypto_pwhash_STRBYTES)
		return -EACCES;
	while (sem_wait(&hashing) < 0 && errno == EINTR)
		;
	r = crypto_pwhash_str_verify(stored, password, strlen(password));
	sem_post(&hashing);
	return r == 0 ? 0 : -EACCES;
}

int secret_keyed_hash(const char *context, const char *value, char out[SECRET_HASH_HEX])
{
	crypto_generichash_state st;
	unsigned char h[32];
	unsigned char sep = 0;

	if (!have_key)
		return -EINVAL;
	crypto_generichash_init(&st, hash_key, sizeof(hash_key), sizeof(h));
	/* context and value separated by a NUL so that no pair collides with another */
	crypto_generichash_update(&st, (const unsigned char *)context, strlen(context));
	crypto_generichash_update(&st, &sep, 1);
	crypto_generichash_update(&st, (const unsigned char *)value, strlen(value));
	crypto_generichash_final(&st, h, sizeof(h));
	sodium_bin2hex(out, SECRET_HASH_HEX, h, sizeof(h));
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(h, sizeof(h));
	return 0;
}

bool secret_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la != lb)
		return false;
	return sodium_memcmp(a, b, la) == 0;
}

void secret_token(char out[SECRET_TOKEN_HEX])
{
	unsigned char b[32];

	randombytes_buf(b, sizeof(b));
	sodium_bin2hex(out, SECRET_TOKEN_HEX, b, sizeof(b));
	sodium_memzero(b, sizeof(b));
}

void secret_code(char *out, size_t outsz, unsigned ndigits)
{
	uint32_t mod = 1;

	if (ndigits > 9)
		ndigits = 9;
	for (unsigned i = 0; i < ndigits; i++)
		mod *= 10;
	snprintf(out, outsz, "%0*u", (int)ndigits, randombytes_uniform(mod));
}

void secret_wipe(void *p, size_t n)
{
	sodium_memzero(p, n);
}

void secret_free(char *s)
{
	if (!s)
		return;
	sodium_memzero(s, strlen(s));
	free(s);
}
