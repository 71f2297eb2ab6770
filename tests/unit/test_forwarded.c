/* Unit tests: trusted proxy lists and the X-Forwarded-For / Forwarded client address. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "forwarded.h"

static struct net_prefix *trusted;
static size_t ntrusted;

static int setup(void **state)
{
	const char *why = NULL;

	(void)state;
	return net_prefixes_parse("127.0.0.1, 10.0.0.0/8 ::1\tfd00::/8", &trusted, &ntrusted, &why);
}

static int teardown(void **state)
{
	(void)state;
	free(trusted);
	trusted = NULL;
	return 0;
}

/* The client of one header value, as text, or the error. */
static const char *client1(enum fwd_kind kind, const char *v)
{
	static char out[64];
	unsigned char a[16];
	const char *vals[1] = {v};
	int r = fwd_client(kind, vals, 1, trusted, ntrusted, a);

	if (r < 0)
		return r == -E2BIG ? "E2BIG" : "EINVAL";
	net_addr_format(a, out, sizeof(out));
	return out;
}

#define XFF(v) client1(FWD_X_FORWARDED_FOR, v)
#define FWD(v) client1(FWD_FORWARDED, v)

static void test_prefixes(void **state)
{
	struct net_prefix *v = NULL;
	size_t n = 0;
	const char *why = NULL;
	unsigned char a[16];

	(void)state;
	assert_int_equal(ntrusted, 4);
	assert_int_equal(net_addr_parse("10.200.3.4", 10, a), 0);
	assert_true(net_prefixes_match(trusted, ntrusted, a));
	assert_int_equal(net_addr_parse("11.0.0.1", 8, a), 0);
	assert_false(net_prefixes_match(trusted, ntrusted, a));
	assert_int_equal(net_addr_parse("127.0.0.2", 9, a), 0);
	assert_false(net_prefixes_match(trusted, ntrusted, a));
	assert_int_equal(net_addr_parse("fd12::1", 7, a), 0);
	assert_true(net_prefixes_match(trusted, ntrusted, a));
	assert_int_equal(net_addr_parse("::2", 3, a), 0);
	assert_false(net_prefixes_match(trusted, ntrusted, a));
	/* an IPv4-mapped peer is the IPv4 address */
	assert_int_equal(net_addr_parse("::ffff:10.1.2.3", 15, a), 0);
	assert_true(net_prefixes_match(trusted, ntrusted, a));

	assert_int_equal(net_prefixes_parse("", &v, &n, &why), 0);
	assert_int_equal(n, 0);
	assert_int_equal(net_prefixes_parse("0.0.0.0/0", &v, &n, &why), 0);
	assert_int_equal(n, 1);
	assert_true(net_prefixes_match(v, n, a));
	free(v);
	v = NULL;
	assert_int_equal(net_prefixes_parse("10.0.0.1/8", &v, &n, &why), -EINVAL); /* host bits */
	assert_int_equal(net_prefixes_parse("10.0.0.0/33", &v, &n, &why), -EINVAL);
	assert_int_equal(net_prefixes_parse("10.0.0.0/", &v, &n, &why), -EINVAL);
	assert_int_equal(net_prefixes_parse("10.0.0.0/08", &v, &n, &why), -EINVAL);
	assert_int_equal(net_prefixes_parse("::/129", &v, &n, &why), -EINVAL);
	assert_int_equal(net_prefixes_parse("proxy.example", &v, &n, &why), -EINVAL);
	assert_int_equal(net_prefixes_parse("10.0.0", &v, &n, &why), -EINVAL);
	assert_int_equal(net_prefixes_parse("010.0.0.1", &v, &n, &why), -EINVAL);
	assert_non_null(why);
	assert_null(v);
}

static void test_x_forwarded_for(void **state)
{
	(void)state;
	assert_string_equal(XFF("192.0.2.1"), "192.0.2.1");
	assert_string_equal(XFF(" 192.0.2.1 "), "192.0.2.1");
	assert_string_equal(XFF("192.0.2.1:8080"), "192.0.2.1");
	assert_string_equal(XFF("2001:db8::1"), "2001:db8::1");
	assert_string_equal(XFF("[2001:db8::1]"), "2001:db8::1");
	assert_string_equal(XFF("[2001:db8::1]:443"), "2001:db8::1");
	/* right-most untrusted hop; trusted hops on the right are skipped */
	assert_string_equal(XFF("1.2.3.4, 127.0.0.1"), "1.2.3.4");
	assert_string_equal(XFF("6.6.6.6, 192.0.2.9"), "192.0.2.9");
	assert_string_equal(XFF("6.6.6.6,192.0.2.9, 10.1.1.1 ,\t127.0.0.1"), "192.0.2.9");
	/* every hop trusted: the left-most */
	assert_string_equal(XFF("10.9.9.9, 127.0.0.1"), "10.9.9.9");
	/* the client's own left part is not parsed */
	assert_string_equal(XFF("garbage, \"x, 192.0.2.9"), "192.0.2.9");
	/* malformed hops that are walked */
	assert_string_equal(XFF(""), "EINVAL");
	assert_string_equal(XFF(" "), "EINVAL");
	assert_string_equal(XFF("192.0.2.1,"), "EINVAL");
	assert_string_equal(XFF("192.0.2.1, , 127.0.0.1"), "EINVAL");
	assert_string_equal(XFF("192.0.2.1, unknown"), "EINVAL");
	assert_string_equal(XFF("192.0.2.1:"), "EINVAL");
	assert_string_equal(XFF("192.0.2.1:65536"), "EINVAL");
	assert_string_equal(XFF("192.0.2.1:80x"), "EINVAL");
	assert_string_equal(XFF("192.0.2"), "EINVAL");
	assert_string_equal(XFF("192.0.2.01"), "EINVAL");
	assert_string_equal(XFF("[192.0.2.1]"), "EINVAL");
	assert_string_equal(XFF("[2001:db8::1"), "EINVAL");
	assert_string_equal(XFF("[2001:db8::1]x"), "EINVAL");
	assert_string_equal(XFF("fe80::1%eth0"), "EINVAL");
	assert_string_equal(XFF("192.0.2.1\r\n"), "EINVAL");
	assert_string_equal(XFF("192.0.2.1 192.0.2.2"), "EINVAL");
	assert_string_equal(
		XFF("1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd:eeee:ffff:1"),
		"EINVAL");
}

static void test_forwarded(void **state)
{
	(void)state;
	assert_string_equal(FWD("for=192.0.2.60;proto=http;by=203.0.113.43"), "192.0.2.60");
	assert_string_equal(FWD("For=\"[2001:db8:cafe::17]:4711\""), "2001:db8:cafe::17");
	assert_string_equal(FWD("for=\"192.0.2.1:80\""), "192.0.2.1");
	assert_string_equal(FWD("for=\"[2001:db8::1]:_hidden\""), "2001:db8::1");
	assert_string_equal(FWD("proto=https;for=192.0.2.1;;"), "192.0.2.1");
	assert_string_equal(FWD("for=6.6.6.6, for=192.0.2.43, for=127.0.0.1"), "192.0.2.43");
	/* a quoted comma belongs to its element */
	assert_string_equal(FWD("for=6.6.6.6;x=\"a,b\", for=192.0.2.43"), "192.0.2.43");
	assert_string_equal(FWD("for=192.0.2.43;x=\"a,b\""), "192.0.2.43");
	/* malformed or no address */
	assert_string_equal(FWD("for=unknown"), "EINVAL");
	assert_string_equal(FWD("for=_hidden"), "EINVAL");
	assert_string_equal(FWD("proto=http"), "EINVAL");
	assert_string_equal(FWD("for=192.0.2.1;for=192.0.2.2"), "EINVAL");
	assert_string_equal(FWD("for=192.0.2.1:80"), "EINVAL"); /* ':' must be quoted */
	assert_string_equal(FWD("for=\"2001:db8::1\""), "EINVAL"); /* IPv6 is bracketed */
	assert_string_equal(FWD("for=\"192.0.2.1"), "EINVAL");
	assert_string_equal(FWD("for=\"192.0.2\\.1\""), "EINVAL");
	assert_string_equal(FWD("for=192.0.2.1 ;proto=http"), "EINVAL");
	assert_string_equal(FWD("for="), "EINVAL");
	assert_string_equal(FWD("=192.0.2.1"), "EINVAL");
	assert_string_equal(FWD("for=192.0.2.1,"), "EINVAL");
}

static void test_instances_and_bounds(void **state)
{
	const char *vals[3] = {"6.6.6.6", "192.0.2.5, 127.0.0.1", "10.0.0.1"};
	char many[FWD_MAX_HOPS * 12 + 32];
	unsigned char a[16] = {0}, zero[16] = {0};
	char out[64];
	size_t off = 0;

	(void)state;
	/* several header lines read as one list, in order */
	assert_int_equal(fwd_client(FWD_X_FORWARDED_FOR, vals, 3, trusted, ntrusted, a), 0);
	net_addr_format(a, out, sizeof(out));
	assert_string_equal(out, "192.0.2.5");
	memset(a, 0, sizeof(a));
	assert_int_equal(fwd_client(FWD_X_FORWARDED_FOR, vals, 0, trusted, ntrusted, a), -EINVAL);
	assert_memory_equal(a, zero, 16);
	/* no more than FWD_MAX_HOPS trusted hops are walked */
	off += (size_t)snprintf(many + off, sizeof(many) - off, "192.0.2.1");
	for (int i = 0; i < FWD_MAX_HOPS; i++)
		off += (size_t)snprintf(many + off, sizeof(many) - off, ",10.0.0.%d", i);
	assert_string_equal(XFF(many), "E2BIG");
	assert_string_equal(XFF(strchr(many, ',') + 1), "10.0.0.0");
	/* no trusted list: the right-most hop */
	assert_int_equal(fwd_client(FWD_X_FORWARDED_FOR, vals + 1, 1, NULL, 0, a), 0);
	net_addr_format(a, out, sizeof(out));
	assert_string_equal(out, "127.0.0.1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_x_forwarded_for),
		cmocka_unit_test(test_forwarded),
		cmocka_unit_test(test_instances_and_bounds),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
