/* Token-bucket rate limits keyed by (kind, id): a secret-keyed hash, set-associative, no key resets another's bucket. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "ratelimit.h"

_Static_assert(RATELIMIT_KEY_BYTES == crypto_shorthash_KEYBYTES, "SipHash key size");

struct slot {
	uint64_t tag; /* the keyed hash of (kind, id) */
	double tokens;
	long long stamp_ms; /* tokens counted up to here */
	long long used_ms; /* last take, for least-recently-used eviction */
	struct rate_rule rule;
	bool used;
};

struct ratelimit {
	pthread_mutex_t lock;
	size_t mask;
	unsigned char key[RATELIMIT_KEY_BYTES];
	struct slot *slots; /* (mask + 1) sets of RATELIMIT_WAYS */
};

int ratelimit_new(size_t nsets, const unsigned char *key, struct ratelimit **ret_rl)
{
	struct ratelimit *rl;

	if (nsets == 0 || (nsets & (nsets - 1)) || nsets > SIZE_MAX / RATELIMIT_WAYS / sizeof(struct slot))
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		return -ENOMEM;
	rl->slots = calloc(nsets * RATELIMIT_WAYS, sizeof(*rl->slots));
	if (!rl->slots) {
		free(rl);
		return -ENOMEM;
	}
	pthread_mutex_init(&rl->lock, NULL);
	rl->mask = nsets - 1;
	if (key)
		memcpy(rl->key, key, sizeof(rl->key));
	else
		crypto_shorthash_keygen(rl->key);
	*ret_rl = rl;
	return 0;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->lock);
	sodium_memzero(rl->key, sizeof(rl->key));
	free(rl->slots);
	free(rl);
}

static int key_hash(
	const struct ratelimit *rl, enum rate_kind kind, const void *id, size_t idlen, uint64_t *ret)
{
	unsigned char in[1 + RATELIMIT_ID_MAX], out[crypto_shorthash_BYTES];
	uint64_t h;

	if (idlen > RATELIMIT_ID_MAX || (idlen && !id))
		return -EINVAL;
	in[0] = (unsigned char)kind;
	if (idlen)
		memcpy(in + 1, id, idlen);
	crypto_shorthash(out, in, 1 + idlen, rl->key);
	memcpy(&h, out, sizeof(h));
	*ret = h;
	return 0;
}

size_t ratelimit_set_of(const struct ratelimit *rl, enum rate_kind kind, const void *id, size_t idlen)
{
	uint64_t h = 0;

	(void)!key_hash(rl, kind, id, idlen, &h);
	return (size_t)(h & rl->mask);
}

/* The tokens of s at now, without changing it. */
static double tokens_at(const struct slot *s, long long now_ms)
{
	double t = s->tokens;

	if (now_ms > s->stamp_ms)
		t += (double)(now_ms - s->stamp_ms) / 1000.0 * s->rule.per_second;
	return t > s->rule.burst ? s->rule.burst : t;
}

/* Whole seconds (>= 1) until s holds `want` tokens. */
static unsigned seconds_until(const struct slot *s, long long now_ms, double want)
{
	double missing = want - tokens_at(s, now_ms), secs;
	unsigned n;

	if (missing <= 0 || s->rule.per_second <= 0)
		return 1;
	secs = missing / s->rule.per_second;
	if (secs >= 86400.0)
		return 86400u;
	n = (unsigned)secs;
	n += (double)n < secs;
	return n ? n : 1;
}

/* A slot for a new key in set: an empty one, else the least recently used of
 * those full again (their state is that of a new bucket). NULL when every
 * bucket is still refilling; *ret_retry then says when the first one is full. */
static struct slot *slot_claim(struct slot *set, long long now_ms, unsigned *ret_retry)
{
	struct slot *pick = NULL;
	unsigned soonest = 0;

	for (size_t w = 0; w < RATELIMIT_WAYS; w++) {
		struct slot *s = &set[w];
		unsigned wait;

		if (!s->used)
			return s;
		if (tokens_at(s, now_ms) >= s->rule.burst) {
			if (!pick || s->used_ms < pick->used_ms)
				pick = s;
			continue;
		}
		wait = seconds_until(s, now_ms, s->rule.burst);
		if (!soonest || wait < soonest)
			soonest = wait;
	}
	if (!pick)
		*ret_retry = soonest ? soonest : 1;
	return pick;
}

int ratelimit_take(struct ratelimit *rl, enum rate_kind kind, const void *id, size_t idlen,
	const struct rate_rule *rule, long long now_ms, unsigned *ret_retry)
{
	struct slot *set, *s = NULL;
	unsigned retry = 0;
	uint64_t h;
	int r;

	if (!rule || !(rule->burst >= 1.0) || !(rule->per_second >= 0.0))
		return -EINVAL;
	if ((r = key_hash(rl, kind, id, idlen, &h)) < 0)
		return r;
	pthread_mutex_lock(&rl->lock);
	set = &rl->slots[(size_t)(h & rl->mask) * RATELIMIT_WAYS];
	for (size_t w = 0; w < RATELIMIT_WAYS && !s; w++)
		if (set[w].used && set[w].tag == h)
			s = &set[w];
	if (s) {
		s->tokens = tokens_at(s, now_ms);
	} else if ((s = slot_claim(set, now_ms, &retry))) {
		*s = (struct slot){.tag = h, .tokens = rule->burst, .used = true};
	} else {
		r = -ENOBUFS;
		goto out;
	}
	/* The rule of the latest take holds (a configuration reload may change it). */
	s->rule = *rule;
	if (s->tokens > rule->burst)
		s->tokens = rule->burst;
	s->stamp_ms = now_ms;
	s->used_ms = now_ms;
	if (s->tokens < 1.0) {
		retry = seconds_until(s, now_ms, 1.0);
		r = -EAGAIN;
	} else {
		s->tokens -= 1.0;
	}
out:
	pthread_mutex_unlock(&rl->lock);
	if (r < 0)
		*ret_retry = retry;
	return r;
}

long long ratelimit_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
