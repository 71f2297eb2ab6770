/* kdf-bench: one argon2id verify alone, timed the way medimail-authd's secret_password_verify calls libsodium. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

/*
 * usage: kdf-bench -o OPSLIMIT -m MEMLIMIT -P PASSWORD [-n N] [-l LABEL] [-H]
 * Hashes PASSWORD once with crypto_pwhash_str_alg(ARGON2ID13) at OPSLIMIT/MEMLIMIT, as the daemon's
 * secret_password_hash does, then times N crypto_pwhash_str_verify calls on that hash.
 * -H: print the "{ARGON2}" userPassword value instead (what the daemon stores) and exit.
 * Output: "RESULT label kdf argon2id_verify j=1 n=... p50_ms=... p99_ms=... ops_s=... mean_ms=...".
 */

#define PREFIX "{ARGON2}"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	char h[crypto_pwhash_STRBYTES];
	const char *password = NULL, *label = "kdf";
	unsigned long long ops = 0;
	size_t mem = 0, n = 100;
	bool print_hash = false;
	double *v, sum = 0, t0;
	int opt, rc = 1;

	while ((opt = getopt(argc, argv, "o:m:P:n:l:H")) != -1) {
		switch (opt) {
		case 'o': ops = strtoull(optarg, NULL, 10); break;
		case 'm': mem = strtoull(optarg, NULL, 10); break;
		case 'P': password = optarg; break;
		case 'n': n = strtoul(optarg, NULL, 10); break;
		case 'l': label = optarg; break;
		case 'H': print_hash = true; break;
		default: return 2;
		}
	}
	if (!password || !ops || !mem || !n) {
		fprintf(stderr,
			"usage: kdf-bench -o OPSLIMIT -m MEMLIMIT -P PASSWORD [-n N] [-l LABEL] [-H]\n");
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "kdf-bench: libsodium failed to initialise\n");
		return 1;
	}
	if (crypto_pwhash_str_alg(h, password, strlen(password), ops, mem, crypto_pwhash_ALG_ARGON2ID13) <
		0) {
		fprintf(stderr, "kdf-bench: crypto_pwhash_str_alg: %s\n", strerror(ENOMEM));
		return 1;
	}
	if (print_hash) {
		printf("%s%s\n", PREFIX, h);
		return 0;
	}
	if (!(v = calloc(n, sizeof(*v))))
		return 1;
	/* one discarded call: the first allocation of the memory area */
	if (crypto_pwhash_str_verify(h, password, strlen(password)) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		t0 = now_ms();
		if (crypto_pwhash_str_verify(h, password, strlen(password)) != 0) {
			fprintf(stderr, "kdf-bench: verify failed\n");
			goto out;
		}
		v[i] = now_ms() - t0;
		sum += v[i];
	}
	qsort(v, n, sizeof(*v), cmp);
	printf("RESULT %s kdf argon2id_verify j=1 n=%zu p50_ms=%.3f p99_ms=%.3f ops_s=%.1f mean_ms=%.4f "
	       "opslimit=%llu memlimit=%zu\n",
		label, n, v[n / 2], v[(size_t)((double)(n - 1) * 0.99)], 1000.0 * (double)n / sum,
		sum / (double)n, ops, mem);
	rc = 0;
out:
	sodium_memzero(h, sizeof(h));
	free(v);
	return rc;
}
