/* Client address behind trusted reverse proxies: address lists and X-Forwarded-For / Forwarded parsing. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "forwarded.h"

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool net_addr_is_v4(const unsigned char addr[16])
{
	return !memcmp(addr, v4_mapped, sizeof(v4_mapped));
}

int net_addr_parse(const char *s, size_t len, unsigned char ret[16])
{
	char buf[FWD_MAX_NODE];
	unsigned char a[16];

	if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, a + 12) == 1) {
		memcpy(a, v4_mapped, sizeof(v4_mapped));
	} else if (!strchr(buf, '.') || strchr(buf, ':')) {
		if (inet_pton(AF_INET6, buf, a) != 1)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	memcpy(ret, a, 16);
	return 0;
}

void net_addr_format(const unsigned char addr[16], char *out, size_t n)
{
	if (n == 0)
		return;
	out[0] = '\0';
	if (net_addr_is_v4(addr))
		inet_ntop(AF_INET, addr + 12, out, (socklen_t)n);
	else
		inet_ntop(AF_INET6, addr, out, (socklen_t)n);
}

static bool prefix_match(const struct net_prefix *p, const unsigned char addr[16])
{
	unsigned full = p->bits / 8, rest = p->bits % 8;

	if (memcmp(p->addr, addr, full))
		return false;
	if (!rest)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (p->addr[full] & mask) == (addr[full] & mask);
}

bool net_prefixes_match(const struct net_prefix *v, size_t n, const unsigned char addr[16])
{
	for (size_t i = 0; i < n; i++)
		if (prefix_match(&v[i], addr))
			return true;
	return false;
}

static int prefix_parse(const char *s, size_t len, struct net_prefix *ret, const char **why)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	struct net_prefix p = {0};
	unsigned long bits;

	if (net_addr_parse(s, alen, p.addr) < 0) {
		*why = "http_trusted_proxies: expected IPv4 or IPv6 addresses or CIDR prefixes";
		return -EINVAL;
	}
	bool v4 = net_addr_is_v4(p.addr) && !memchr(s, ':', alen);
	unsigned max = v4 ? 32 : 128;
	if (slash) {
		const char *d = slash + 1;
		size_t dlen = len - alen - 1;
		bits = 0;
		if (dlen == 0 || dlen > 3 || (dlen > 1 && d[0] == '0'))
			goto bad_len;
		for (size_t i = 0; i < dlen; i++) {
			if (d[i] < '0' || d[i] > '9')
				goto bad_len;
			bits = bits * 10 + (unsigned long)(d[i] - '0');
		}
		if (bits > max)
			goto bad_len;
	} else {
		bits = max;
	}
	p.bits = (unsigned)bits + (v4 ? 96 : 0);
	/* host bits set ("10.0.0.1/8") is a typo more often than an intent */
	for (unsigned b = p.bits; b < 128; b++)
		if (p.addr[b / 8] & (0x80 >> (b % 8))) {
			*why = "http_trusted_proxies: a prefix has host bits set";
			return -EINVAL;
		}
	*ret = p;
	return 0;
bad_len:
	*why = "http_trusted_proxies: bad prefix length";
	return -EINVAL;
}

int net_prefixes_parse(const char *text, struct net_prefix **ret, size_t *ret_n, const char **why)
{
	struct net_prefix v[NET_MAX_PREFIXES], *out;
	size_t n = 0;
	const char *p = text;
	int r;

	while (*p) {
		size_t len;

		p += strspn(p, ", \t");
		if (!*p)
			break;
		len = strcspn(p, ", \t");
		if (n == NET_MAX_PREFIXES) {
			*why = "http_trusted_proxies: too many entries";
			return -E2BIG;
		}
		if ((r = prefix_parse(p, len, &v[n], why)) < 0)
			return r;
		n++;
		p += len;
	}
	out = NULL;
	if (n) {
		out = malloc(n * sizeof(*out));
		if (!out)
			return -ENOMEM;
		memcpy(out, v, n * sizeof(*out));
	}
	free(*ret);
	*ret = out;
	*ret_n = n;
	return 0;
}

/* --- hops ------------------------------------------------------------- */

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		(c && strchr("!#$%&'*+-.^_`|~", c));
}

/* ":1234" (or, in Forwarded, an obfuscated "_port"). */
static bool port_ok(const char *s, size_t len, bool obfuscated_ok)
{
	unsigned long v = 0;

	if (len == 0)
		return false;
	if (obfuscated_ok && s[0] == '_') {
		for (size_t i = 1; i < len; i++)
			if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
				    (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' ||
				    s[i] == '-'))
				return false;
		return len > 1;
	}
	if (len > 5)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v <= 65535;
}

/* IPv4 [":" port] | "[" IPv6 "]" [":" port]; in X-Forwarded-For also a bare IPv6. */
static int node_parse(const char *s, size_t len, bool forwarded, unsigned char ret[16])
{
	unsigned char a[16];

	if (len == 0 || len >= FWD_MAX_NODE)
		return -EINVAL;
	if (s[0] == '[') {
		const char *rb = memchr(s, ']', len);
		size_t alen;
		if (!rb)
			return -EINVAL;
		alen = (size_t)(rb - s - 1);
		if (net_addr_parse(s + 1, alen, a) < 0 || !memchr(s + 1, ':', alen))
			return -EINVAL;
		if ((size_t)(rb - s) + 1 < len &&
			(rb[1] != ':' || !port_ok(rb + 2, len - (size_t)(rb - s) - 2, forwarded)))
			return -EINVAL;
	} else {
		const char *c1 = memchr(s, ':', len);
		const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - s)) : NULL;
		if (c1 && !c2) {
			/* IPv4:port */
			size_t alen = (size_t)(c1 - s);
			if (net_addr_parse(s, alen, a) < 0 || memchr(s, ':', alen) ||
				!port_ok(c1 + 1, len - alen - 1, forwarded))
				return -EINVAL;
		} else if (c2 && forwarded) {
			return -EINVAL; /* Forwarded brackets IPv6 */
		} else if (net_addr_parse(s, len, a) < 0) {
			return -EINVAL;
		}
	}
	memcpy(ret, a, 16);
	return 0;
}

/* for=<node> out of one Forwarded element: pairs "token=value" joined by ';'. */
static int forwarded_element(const char *s, size_t len, unsigned char ret[16])
{
	const char *node = NULL;
	size_t nodelen = 0, i = 0;

	while (i <= len) {
		size_t start = i, eq, vstart, vend;
		bool quoted;

		if (i == len || s[i] == ';') {
			/* empty pair: allowed by the grammar */
			if (i == len)
				break;
			i++;
			continue;
		}
		while (i < len && is_tchar(s[i]))
			i++;
		if (i == start || i == len || s[i] != '=')
			return -EINVAL;
		eq = i++;
		quoted = i < len && s[i] == '"';
		if (quoted) {
			vstart = ++i;
			while (i < len && s[i] != '"') {
				/* strict: no escapes, no control characters */
				if (s[i] == '\\' || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
					return -EINVAL;
				i++;
			}
			if (i == len)
				return -EINVAL;
			vend = i++;
		} else {
			vstart = i;
			while (i < len && is_tchar(s[i]))
				i++;
			vend = i;
			if (vend == vstart)
				return -EINVAL;
		}
		if (i < len && s[i] != ';')
			return -EINVAL;
		if (eq - start == 3 && !strncasecmp(s + start, "for", 3)) {
			if (node)
				return -EINVAL; /* twice in one element */
			node = s + vstart;
			nodelen = vend - vstart;
		}
		if (i < len)
			i++;
	}
	if (!node)
		return -EINVAL;
	/* "unknown" and obfuscated "_x" identifiers name no address */
	return node_parse(node, nodelen, true, ret);
}

static int hop_parse(enum fwd_kind kind, const char *s, size_t len, unsigned char ret[16])
{
	while (len && is_ows(*s))
		s++, len--;
	while (len && is_ows(s[len - 1]))
		len--;
	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
			return -EINVAL;
	return kind == FWD_FORWARDED ? forwarded_element(s, len, ret) : node_parse(s, len, false, ret);
}

int fwd_client(enum fwd_kind kind, const char *const *values, size_t nvalues,
	const struct net_prefix *trusted, size_t ntrusted, unsigned char ret_addr[16])
{
	unsigned char last[16];
	size_t hops = 0;

	if (nvalues == 0)
		return -EINVAL;
	for (size_t k = nvalues; k-- > 0;) {
		const char *v = values[k];
		size_t end = v ? strlen(v) : 0;

		if (!v)
			return -EINVAL;
		for (;;) {
			/* the element before end: back to a comma outside quotes */
			size_t start = end;
			bool quote = false;
			unsigned char a[16];
			int r;

			while (start > 0) {
				char c = v[start - 1];
				if (c == '"' && kind == FWD_FORWARDED)
					quote = !quote;
				else if (c == ',' && !quote)
					break;
				start--;
			}
			if (++hops > FWD_MAX_HOPS)
				return -E2BIG;
			if ((r = hop_parse(kind, v + start, end - start, a)) < 0)
				return r;
			if (!net_prefixes_match(trusted, ntrusted, a)) {
				memcpy(ret_addr, a, 16);
				return 0;
			}
			memcpy(last, a, 16);
			if (start == 0)
				break;
			end = start - 1;
		}
	}
	/* every hop is a trusted proxy: the left-most is the client */
	memcpy(ret_addr, last, 16);
	return 0;
}
