/* Client address behind trusted reverse proxies: address lists and X-Forwarded-For / Forwarded parsing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define NET_MAX_PREFIXES 64
#define FWD_MAX_HOPS 16 /* trusted hops walked before giving up */
#define FWD_MAX_NODE 64 /* bytes of one hop's address text */

/* Addresses are 16 bytes; IPv4 is kept IPv4-mapped (::ffff:a.b.c.d) so that
 * one comparison serves both families. */
struct net_prefix {
	unsigned char addr[16];
	unsigned bits; /* 0..128, over the 16 bytes */
};

/* One IPv4 or IPv6 address, exactly len bytes of text, no port. */
int net_addr_parse(const char *s, size_t len, unsigned char ret[16]) __attribute__((warn_unused_result));
/* "a.b.c.d" or the IPv6 text form. */
void net_addr_format(const unsigned char addr[16], char *out, size_t n);
bool net_addr_is_v4(const unsigned char addr[16]);
/* "127.0.0.1, 10.0.0.0/8 ::1 fd00::/8": separated by commas or blanks, host
 * bits of a prefix must be zero. On error why names the problem. */
int net_prefixes_parse(const char *text, struct net_prefix **ret, size_t *ret_n, const char **why)
	__attribute__((warn_unused_result));
bool net_prefixes_match(const struct net_prefix *v, size_t n, const unsigned char addr[16]);

enum fwd_kind { FWD_X_FORWARDED_FOR, FWD_FORWARDED };

/* The client a chain of proxies reports: values are the instances of the
 * header in the order received. Hops are walked from the right; the first one
 * not in trusted is the client; when every hop is trusted, the left-most.
 * Only the hops walked are parsed (the left part is the client's own text).
 * 0 with ret_addr set, -EINVAL when a walked hop is malformed or names no
 * address ("unknown"), -E2BIG past FWD_MAX_HOPS; ret_addr untouched then. */
int fwd_client(enum fwd_kind kind, const char *const *values, size_t nvalues,
	const struct net_prefix *trusted, size_t ntrusted, unsigned char ret_addr[16])
	__attribute__((warn_unused_result));
