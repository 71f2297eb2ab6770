/* Token-bucket rate limits keyed by (kind, id): a secret-keyed hash, set-associative, no key resets another's bucket. */
#pragma once

#include <stddef.h>

#define RATELIMIT_KEY_BYTES 16 /* crypto_shorthash (SipHash-2-4) key */
#define RATELIMIT_WAYS 16 /* buckets per set */
#define RATELIMIT_ID_MAX 1024 /* bytes of an id */

/* The kind is part of the hashed key: the same id has one bucket per kind. */
enum rate_kind {
	RATE_LOGIN_SOURCE, /* a caller of the login requests ("uid=1000", "uid=0/host", "api:client/peer") */
	RATE_LOGIN_ACCOUNT, /* an account being logged in to (its uid) */
	RATE_HTTP_SOURCE, /* an HTTP peer address */
};

/* A bucket holds at most burst tokens and gains per_second tokens a second. */
struct rate_rule {
	double burst;
	double per_second;
};

struct ratelimit;

/* A table of nsets * RATELIMIT_WAYS buckets, nsets a power of two. key:
 * RATELIMIT_KEY_BYTES of secret, or NULL for a random key of this process
 * (ids are chosen by callers: where a bucket lives must not be computable). */
int ratelimit_new(size_t nsets, const unsigned char *key, struct ratelimit **ret_rl)
	__attribute__((warn_unused_result));
void ratelimit_free(struct ratelimit *rl);

/* Takes one token from the bucket of (kind, id) at now_ms (a monotonic
 * clock). 0: go on. -EAGAIN: the bucket is empty. -ENOBUFS: the bucket is
 * new and every bucket of its set is still refilling (another key's bucket is
 * never taken over before it is full again, so that forgetting it loses
 * nothing). On both refusals *ret_retry is the seconds to wait (>= 1).
 * -EINVAL: an id longer than RATELIMIT_ID_MAX or a rule without tokens. */
int ratelimit_take(struct ratelimit *rl, enum rate_kind kind, const void *id, size_t idlen,
	const struct rate_rule *rule, long long now_ms, unsigned *ret_retry)
	__attribute__((warn_unused_result));

/* The set where (kind, id) lives: lets tests build colliding ids. */
size_t ratelimit_set_of(const struct ratelimit *rl, enum rate_kind kind, const void *id, size_t idlen);

/* Milliseconds of CLOCK_MONOTONIC. */
long long ratelimit_now_ms(void);
