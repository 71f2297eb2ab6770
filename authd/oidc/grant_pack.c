/* A kept grant packed: each string of struct oidc_grant as its length and its bytes, the
 * numbers as they are, in the order of the two tables below. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grant_pack.h"
#include "secret.h"

struct grant_field {
	size_t off, size;
};
#define GF(f) offsetof(struct oidc_grant, f), sizeof(((struct oidc_grant *)0)->f)
static const struct grant_field grant_strings[] = {{GF(client_id)}, {GF(scope)}, {GF(nonce)}, {GF(user_dn)},
	{GF(account_dn)}, {GF(method)}, {GF(family)}, {GF(sid)}, {GF(redirect_uri)}, {GF(code_challenge)},
	{GF(rec.granted)}, {GF(rec.code)}, {GF(rec.at)}, {GF(rec.at_prev)}, {GF(rec.rt)}, {GF(rec.at_scope)},
	{GF(rec.at_prev_scope)}};
static const struct grant_field grant_numbers[] = {{GF(auth_time)}, {GF(exp)}, {GF(rec.serial)},
	{GF(rec.live)}, {GF(rec.code_exp)}, {GF(rec.at_exp)}, {GF(rec.at_prev_exp)}, {GF(rec.rt_exp)},
	{GF(rec.n_rt_used)}};
#undef GF

/* One string of at most size - 1 bytes (every array of the struct is under 64 KiB). */
static size_t pack_string(unsigned char *out, const char *str, size_t size)
{
	uint16_t n = (uint16_t)strnlen(str, size - 1);

	if (out) {
		memcpy(out, &n, sizeof(n));
		memcpy(out + sizeof(n), str, n);
	}
	return sizeof(n) + n;
}

static size_t unpack_string(const unsigned char *in, char *str)
{
	uint16_t n;

	memcpy(&n, in, sizeof(n));
	memcpy(str, in + sizeof(n), n);
	str[n] = '\0';
	return sizeof(n) + n;
}

/* Writes g packed into out (NULL: only measures); the bytes it takes. */
static size_t grant_pack_into(const struct oidc_grant *g, unsigned char *out)
{
	const char *base = (const char *)g;
	size_t o = 0;

	for (size_t i = 0; i < sizeof(grant_strings) / sizeof(*grant_strings); i++)
		o += pack_string(out ? out + o : NULL, base + grant_strings[i].off, grant_strings[i].size);
	for (size_t i = 0; i < sizeof(grant_numbers) / sizeof(*grant_numbers); i++) {
		if (out)
			memcpy(out + o, base + grant_numbers[i].off, grant_numbers[i].size);
		o += grant_numbers[i].size;
	}
	for (size_t i = 0; i < g->rec.n_rt_used && i < OIDC_RT_USED_MAX; i++)
		o += pack_string(out ? out + o : NULL, g->rec.rt_used[i], sizeof(g->rec.rt_used[i]));
	return o;
}

struct kept_grant *grant_pack(const struct oidc_grant *g)
{
	size_t len = grant_pack_into(g, NULL);
	struct kept_grant *k = malloc(sizeof(*k) + len);

	if (!k)
		return NULL;
	k->serial = g->rec.serial;
	k->len = len;
	grant_pack_into(g, k->b);
	return k;
}

void grant_unpack(const struct kept_grant *k, struct oidc_grant *g)
{
	char *base = (char *)g;
	size_t o = 0;

	memset(g, 0, sizeof(*g));
	for (size_t i = 0; i < sizeof(grant_strings) / sizeof(*grant_strings); i++)
		o += unpack_string(k->b + o, base + grant_strings[i].off);
	for (size_t i = 0; i < sizeof(grant_numbers) / sizeof(*grant_numbers); i++) {
		memcpy(base + grant_numbers[i].off, k->b + o, grant_numbers[i].size);
		o += grant_numbers[i].size;
	}
	for (size_t i = 0; i < g->rec.n_rt_used && i < OIDC_RT_USED_MAX; i++)
		o += unpack_string(k->b + o, g->rec.rt_used[i]);
}

void kept_grant_free(struct kept_grant *k)
{
	if (!k)
		return;
	secret_wipe(k, sizeof(*k) + k->len);
	free(k);
}
