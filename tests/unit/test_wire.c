/* Unit tests of the wire codec: bounded cursors, frames, malformed input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "wire.h"

static void test_buf_getters(void **state)
{
	const uint8_t data[] = {0x00, 0x01, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 2, 'h', 'i'};
	struct buf b;
	uint16_t u16 = 7;
	uint32_t u32 = 7;
	const uint8_t *s;
	size_t len;

	(void)state;
	buf_init(&b, data, sizeof(data));
	assert_int_equal(buf_get_u16(&b, &u16), 0);
	assert_int_equal(u16, 1);
	assert_int_equal(buf_get_u32(&b, &u32), 0);
	assert_int_equal(u32, 0xdeadbeef);
	assert_int_equal(buf_end(&b), -EBADMSG);
	assert_int_equal(buf_get_str(&b, 16, &s, &len), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(s, "hi", 2);
	assert_int_equal(buf_end(&b), 0);
	/* past the end: error and cleared outputs */
	assert_int_equal(buf_get_u32(&b, &u32), -EBADMSG);
	assert_int_equal(u32, 0);
	assert_int_equal(buf_get_u16(&b, &u16), -EBADMSG);
	assert_int_equal(u16, 0);
}

static void test_buf_str_bounds(void **state)
{
	const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 'x'};
	const uint8_t over_max[] = {0, 0, 0, 3, 'a', 'b', 'c'};
	struct buf b;
	const uint8_t *s = (const uint8_t *)"junk";
	size_t len = 99;

	(void)state;
	buf_init(&b, huge, sizeof(huge));
	assert_int_equal(buf_get_str(&b, SIZE_MAX, &s, &len), -EBADMSG);
	assert_null(s);
	assert_int_equal(len, 0);
	assert_int_equal(b.off, 0); /* nothing consumed on failure */
	buf_init(&b, over_max, sizeof(over_max));
	assert_int_equal(buf_get_str(&b, 2, &s, &len), -EBADMSG);
	assert_int_equal(buf_get_str(&b, 3, &s, &len), 0);
}

static void test_wbuf_cap(void **state)
{
	struct wbuf w;

	(void)state;
	wbuf_init(&w, 8);
	wbuf_put_u32(&w, 1);
	wbuf_put_u32(&w, 2);
	assert_int_equal(w.err, 0);
	wbuf_put_u16(&w, 3);
	assert_int_equal(w.err, -EMSGSIZE);
	assert_int_equal(w.len, 8);
	wbuf_free(&w);
	assert_null(w.data);
}

static struct mm_msg *roundtrip(const struct mm_msg *m)
{
	struct wbuf w;
	struct mm_msg *out = NULL;
	uint16_t code;
	uint32_t len;

	wbuf_init(&w, MM_FRAME_MAX + MM_HEADER_SIZE);
	assert_int_equal(mm_msg_encode(m, &w), 0);
	assert_int_equal(mm_header_parse(w.data, m->reply, &code, &len), 0);
	assert_int_equal(code, m->code);
	assert_int_equal(len, w.len - MM_HEADER_SIZE);
	assert_int_equal(mm_msg_decode(code, m->reply, w.data + MM_HEADER_SIZE, len, &out), 0);
	wbuf_free(&w);
	return out;
}

static void test_array_grow(void **state)
{
	struct item {
		uint32_t a, b;
	} *v = NULL;
	size_t cap = 0;

	(void)state;
	for (size_t n = 0; n < 1000; n++) {
		assert_int_equal(array_grow(&v, &cap, n, sizeof(*v), 4), 0);
		assert_true(cap > n);
		v[n] = (struct item){(uint32_t)n, (uint32_t)~n};
	}
	assert_int_equal(cap, 1024);
	for (size_t n = 0; n < 1000; n++)
		assert_true(v[n].a == n && v[n].b == (uint32_t)~n);
	/* room already there: nothing moves */
	{
		struct item *before = v;

		assert_int_equal(array_grow(&v, &cap, 1000, sizeof(*v), 4), 0);
		assert_ptr_equal(v, before);
	}
	/* a size that overflows is refused and leaves the array as it was */
	{
		size_t big = SIZE_MAX / 2 + 1, n = big;

		assert_int_equal(array_grow(&v, &big, n, sizeof(*v), 4), -ENOMEM);
		assert_int_equal(big, SIZE_MAX / 2 + 1);
		assert_true(v[999].a == 999);
	}
	free(v);
}

static void test_msg_roundtrip(void **state)
{
	struct mm_msg *m = mm_msg_new(MM_REQ_REGISTER, false), *r;

	(void)state;
	assert_int_equal(mm_msg_add(m, "type", "PER"), 0);
	assert_int_equal(mm_msg_add(m, "sn", "DURAND-Éloïse"), 0);
	assert_int_equal(mm_msg_add(m, "empty", ""), 0);
	assert_int_equal(mm_msg_addf(m, "n", "%d", 42), 0);
	r = roundtrip(m);
	assert_int_equal(r->nfields, 4);
	assert_string_equal(mm_msg_get(r, "sn"), "DURAND-Éloïse");
	assert_string_equal(mm_msg_get(r, "empty"), "");
	assert_string_equal(mm_msg_get(r, "n"), "42");
	assert_null(mm_msg_get(r, "absent"));
	mm_msg_free(r);
	mm_msg_free(m);

	m = mm_msg_new(MM_REQ_SHOW, true);
	m->status = -EINVAL;
	mm_msg_set_message(m, "champ %s invalide", "rpps");
	assert_int_equal(mm_msg_add(m, "field", "rpps"), 0);
	r = roundtrip(m);
	assert_int_equal(r->status, -EINVAL);
	assert_string_equal(r->message, "champ rpps invalide");
	assert_true(r->reply);
	mm_msg_free(r);
	mm_msg_free(m);
}

/* Fields past one storage block (a directory reply), cleared and added again:
 * every key and value intact after the blocks grew, the frame still bounded. */
static void test_msg_many_fields(void **state)
{
	struct mm_msg *m = mm_msg_new(MM_REQ_DIR_SEARCH, true), *r;
	char key[16], value[101];

	(void)state;
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 1500; i++) {
			snprintf(key, sizeof(key), "k%d", i);
			memset(value, 'a' + (i + round) % 26, 100);
			value[100] = '\0';
			assert_int_equal(mm_msg_add(m, key, value), 0);
		}
		assert_int_equal(m->nfields, 1500);
		r = roundtrip(m);
		assert_int_equal(r->nfields, 1500);
		for (int i = 0; i < 1500; i += 7) {
			assert_string_equal(r->fields[i].value, m->fields[i].value);
			assert_int_equal(r->fields[i].key_len, strlen(r->fields[i].key));
			assert_int_equal(r->fields[i].value_len, 100);
		}
		assert_int_equal(r->fields[1499].value[0], 'a' + (1499 + round) % 26);
		mm_msg_free(r);
		mm_msg_clear_fields(m);
		assert_int_equal(m->nfields, 0);
		assert_null(mm_msg_get(m, "k0"));
	}
	/* 2048 fields of 200 bytes: the field cap reached, and more than a frame
	 * holds: encoding refuses, it does not truncate */
	memset(value, 'z', 100);
	for (int i = 0; i < (int)MM_FIELDS_MAX; i++) {
		snprintf(key, sizeof(key), "big%d", i);
		assert_int_equal(mm_msg_addf(m, key, "%s%s", value, value), 0);
	}
	assert_int_not_equal(mm_msg_add(m, "one.more", "x"), 0);
	{
		struct wbuf w;

		wbuf_init(&w, MM_FRAME_MAX);
		assert_int_equal(mm_msg_encode(m, &w), -EMSGSIZE);
		wbuf_free(&w);
	}
	mm_msg_free(m);
}

static void test_msg_add_refusals(void **state)
{
	struct mm_msg *m = mm_msg_new(MM_REQ_PING, false);
	char big[MM_VALUE_MAX + 2];

	(void)state;
	assert_int_equal(mm_msg_add(m, "", "x"), -EINVAL);
	assert_int_equal(mm_msg_add(m, "UPPER", "x"), -EINVAL);
	assert_int_equal(mm_msg_add(m, "a key", "x"), -EINVAL);
	assert_int_equal(mm_msg_add(m, "abcdefghijabcdefghijabcdefghijabc", "x"), -EINVAL);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(mm_msg_add(m, "big", big), -EINVAL);
	big[MM_VALUE_MAX] = '\0';
	assert_int_equal(mm_msg_add(m, "big", big), 0);
	for (unsigned i = 1; i < MM_FIELDS_MAX; i++)
		assert_int_equal(mm_msg_add(m, "k", "v"), 0);
	assert_int_equal(mm_msg_add(m, "k", "v"), -E2BIG);
	mm_msg_free(m);
}

/* A reorder moves fields, never bytes: the roundtrip sees the new order; anything but a
 * permutation of the range (an index repeated, out of it, a range past the end) is refused
 * and leaves the message as it was; a truncation drops the tail only. */
static void test_msg_reorder(void **state)
{
	struct mm_msg *m = mm_msg_new(MM_REQ_DIR_SEARCH, true), *r;
	const size_t good[] = {3, 1, 4, 2}, repeated[] = {1, 1, 2, 3}, outside[] = {1, 2, 3, 5},
		     below[] = {0, 2, 3, 4};
	char key[8];

	(void)state;
	for (int i = 0; i < 6; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(mm_msg_add(m, key, key), 0);
	}
	assert_int_equal(mm_msg_reorder(m, 1, repeated, 4), -EINVAL);
	assert_int_equal(mm_msg_reorder(m, 1, outside, 4), -EINVAL);
	assert_int_equal(mm_msg_reorder(m, 1, below, 4), -EINVAL);
	assert_int_equal(mm_msg_reorder(m, 3, good, 4), -EINVAL);
	assert_int_equal(mm_msg_reorder(m, 7, good, 0), -EINVAL);
	for (int i = 0; i < 6; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_string_equal(m->fields[i].key, key);
	}
	assert_int_equal(mm_msg_reorder(m, 6, good, 0), 0);
	assert_int_equal(mm_msg_reorder(m, 1, good, 4), 0);
	r = roundtrip(m);
	assert_int_equal(r->nfields, 6);
	{
		const char *want[] = {"k0", "k3", "k1", "k4", "k2", "k5"};

		for (int i = 0; i < 6; i++) {
			assert_string_equal(r->fields[i].key, want[i]);
			assert_string_equal(r->fields[i].value, want[i]);
		}
	}
	mm_msg_free(r);
	mm_msg_truncate(m, 9);
	assert_int_equal(m->nfields, 6);
	mm_msg_truncate(m, 2);
	assert_int_equal(m->nfields, 2);
	assert_null(mm_msg_get(m, "k4"));
	assert_int_equal(mm_msg_add(m, "k9", "v"), 0);
	assert_string_equal(mm_msg_get(m, "k9"), "v");
	mm_msg_free(m);
}

/* Permutations of every shape, up to a message of MM_FIELDS_MAX fields: several cycles,
 * fixed points, the identity and one long cycle, each from a field past the first. */
static void test_msg_reorder_shapes(void **state)
{
	static size_t perm[MM_FIELDS_MAX];
	static char want[MM_FIELDS_MAX][8];
	struct mm_msg *m = mm_msg_new(MM_REQ_DIR_SEARCH, true);
	unsigned seed = 7;
	char key[8];

	(void)state;
	assert_non_null(m);
	for (size_t i = 0; i < MM_FIELDS_MAX; i++) {
		snprintf(key, sizeof(key), "f%zu", i);
		assert_int_equal(mm_msg_add(m, key, key), 0);
	}
	assert_int_equal(mm_msg_add(m, "over", "x"), -E2BIG);
	for (int round = 0; round < 40; round++) {
		size_t from = round % 2 ? 1 : 0, n = MM_FIELDS_MAX - from;

		if (round >= 4)
			n = 1 + (size_t)rand_r(&seed) % n;
		for (size_t i = 0; i < n; i++)
			perm[i] = from + i;
		if (round == 2 || round == 3) { /* one cycle through every field */
			for (size_t i = 0; i < n; i++)
				perm[i] = from + (i + 1) % n;
		} else if (round >= 4) { /* Fisher-Yates, then some fields put back in place */
			for (size_t i = n - 1; i > 0; i--) {
				size_t j = (size_t)rand_r(&seed) % (i + 1), t = perm[i];

				perm[i] = perm[j];
				perm[j] = t;
			}
			for (size_t i = 0; i < n; i += 1 + (size_t)rand_r(&seed) % 5) {
				for (size_t j = 0; j < n; j++) {
					if (perm[j] == from + i) {
						perm[j] = perm[i];
						perm[i] = from + i;
						break;
					}
				}
			}
		}
		for (size_t i = 0; i < from; i++)
			snprintf(want[i], sizeof(want[i]), "%s", m->fields[i].key);
		for (size_t i = 0; i < n; i++)
			snprintf(want[from + i], sizeof(want[0]), "%s", m->fields[perm[i]].key);
		for (size_t i = from + n; i < MM_FIELDS_MAX; i++)
			snprintf(want[i], sizeof(want[i]), "%s", m->fields[i].key);
		assert_int_equal(mm_msg_reorder(m, from, perm, n), 0);
		for (size_t i = 0; i < MM_FIELDS_MAX; i++) {
			assert_string_equal(m->fields[i].key, want[i]);
			assert_string_equal(m->fields[i].value, want[i]);
		}
	}
	/* refused whole, the message unchanged: one index past the end of the full message, a
	 * repeated index, a range one field too long */
	for (int bad = 0; bad < 3; bad++) {
		for (size_t i = 0; i < MM_FIELDS_MAX; i++)
			perm[i] = i;
		if (bad == 0)
			perm[MM_FIELDS_MAX - 1] = MM_FIELDS_MAX;
		else if (bad == 1)
			perm[MM_FIELDS_MAX - 1] = 0;
		for (size_t i = 0; i < MM_FIELDS_MAX; i++)
			snprintf(want[i], sizeof(want[i]), "%s", m->fields[i].key);
		assert_int_equal(bad == 2 ? mm_msg_reorder(m, 1, perm, MM_FIELDS_MAX)
					  : mm_msg_reorder(m, 0, perm, MM_FIELDS_MAX),
			-EINVAL);
		for (size_t i = 0; i < MM_FIELDS_MAX; i++)
			assert_string_equal(m->fields[i].key, want[i]);
	}
	mm_msg_free(m);
}

static void test_header_refusals(void **state)
{
	uint8_t h[MM_HEADER_SIZE] = {0x4d, 0x4d, 0x41, 0x55, 0, 1, 0x01, 0x01, 0, 0, 0, 4};
	uint16_t code;
	uint32_t len;

	(void)state;
	assert_int_equal(mm_header_parse(h, false, &code, &len), 0);
	assert_int_equal(code, MM_REQ_REGISTER);
	assert_int_equal(mm_header_parse(h, true, &code, &len), -EPROTO); /* not a reply */
	h[5] = 2;
	assert_int_equal(mm_header_parse(h, false, &code, &len), -EPROTO); /* version */
	h[5] = 1;
	h[0] = 0;
	assert_int_equal(mm_header_parse(h, false, &code, &len), -EPROTO); /* magic */
	h[0] = 0x4d;
	h[8] = 0x7f;
	assert_int_equal(mm_header_parse(h, false, &code, &len), -EMSGSIZE);
}

static void test_decode_refusals(void **state)
{
	/* nfields says 1 but no field follows */
	const uint8_t short_fields[] = {0, 0, 0, 1};
	/* one field, then a trailing byte */
	const uint8_t trailing[] = {0, 0, 0, 1, 0, 0, 0, 1, 'k', 0, 0, 0, 1, 'v', 0xaa};
	/* a NUL inside a value */
	const uint8_t nul[] = {0, 0, 0, 1, 0, 0, 0, 1, 'k', 0, 0, 0, 2, 'v', 0};
	/* an invalid key */
	const uint8_t badkey[] = {0, 0, 0, 1, 0, 0, 0, 1, 'K', 0, 0, 0, 1, 'v'};
	/* too many fields */
	const uint8_t many[] = {0, 0, 0x10, 0};
	struct mm_msg *m = (struct mm_msg *)1;

	(void)state;
	assert_int_equal(mm_msg_decode(1, false, short_fields, sizeof(short_fields), &m), -EPROTO);
	assert_null(m);
	assert_int_equal(mm_msg_decode(1, false, trailing, sizeof(trailing), &m), -EPROTO);
	assert_int_equal(mm_msg_decode(1, false, nul, sizeof(nul), &m), -EPROTO);
	assert_int_equal(mm_msg_decode(1, false, badkey, sizeof(badkey), &m), -EPROTO);
	assert_int_equal(mm_msg_decode(1, false, many, sizeof(many), &m), -EPROTO);
	assert_int_equal(mm_msg_decode(1, false, trailing, sizeof(trailing) - 1, &m), 0);
	assert_string_equal(mm_msg_get(m, "k"), "v");
	mm_msg_free(m);
}

static void test_socket_roundtrip_and_timeout(void **state)
{
	int sv[2];
	struct mm_msg *m = mm_msg_new(MM_REQ_PING, false), *got = NULL;
	uint8_t partial[4] = {0x4d, 0x4d, 0x41, 0x55};

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(mm_msg_add(m, "a", "b"), 0);
	assert_int_equal(mm_msg_send(sv[0], m, 1000), 0);
	assert_int_equal(mm_msg_recv(sv[1], false, 1000, &got), 0);
	assert_string_equal(mm_msg_get(got, "a"), "b");
	mm_msg_free(got);
	/* a half-sent header times out instead of blocking */
	assert_int_equal(write(sv[0], partial, sizeof(partial)), 4);
	assert_int_equal(mm_msg_recv(sv[1], false, 100, &got), -ETIMEDOUT);
	/* peer gone */
	close(sv[0]);
	assert_int_equal(mm_msg_recv(sv[1], false, 100, &got), -EPIPE);
	close(sv[1]);
	mm_msg_free(m);
}

static void test_client_refuses_non_socket(void **state)
{
	int fd;

	(void)state;
	assert_int_equal(mm_client_connect("/etc/passwd", 100, (uid_t)-1, &fd), -ENOTSOCK);
	assert_int_equal(mm_client_connect("/nonexistent/sock", 100, (uid_t)-1, &fd), -ENOENT);
}

static struct stat mkstat(mode_t type_mode, uid_t uid)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_mode = type_mode;
	st.st_uid = uid;
	return st;
}

static void test_socket_trust_rules(void **state)
{
	struct stat sock_root = mkstat(S_IFSOCK | 0666, 0);
	struct stat sock_sys = mkstat(S_IFSOCK | 0666, 998); /* _medimail-like */
	struct stat sock_user = mkstat(S_IFSOCK | 0666, 1000); /* first regular user */
	struct stat sock_nobody = mkstat(S_IFSOCK | 0666, 65534);
	struct stat file_root = mkstat(S_IFREG | 0666, 0);
	struct stat dir_root = mkstat(S_IFDIR | 0755, 0);
	struct stat dir_same = mkstat(S_IFDIR | 0755, 998); /* RuntimeDirectory= */
	struct stat dir_other_sys = mkstat(S_IFDIR | 0755, 997);
	struct stat dir_group_w = mkstat(S_IFDIR | 0775, 0);
	struct stat dir_tmp = mkstat(S_IFDIR | 01777, 0);
	struct stat not_dir = mkstat(S_IFLNK | 0777, 0);

	(void)state;
	/* root's socket anywhere, as before */
	assert_true(mm_socket_trusted(&sock_root, &dir_tmp, (uid_t)-1));
	assert_true(mm_socket_trusted(&sock_root, NULL, (uid_t)-1));
	/* only sockets */
	assert_false(mm_socket_trusted(&file_root, &dir_root, (uid_t)-1));
	/* the explicitly named owner */
	assert_true(mm_socket_trusted(&sock_user, &dir_tmp, 1000));
	assert_false(mm_socket_trusted(&sock_user, &dir_root, 1001));
	/* a regular user's socket is never trusted by default, even in a safe directory */
	assert_false(mm_socket_trusted(&sock_user, &dir_root, (uid_t)-1));
	assert_false(mm_socket_trusted(&sock_nobody, &dir_root, (uid_t)-1));
	/* a system account's socket in a directory only root or it can write */
	assert_true(mm_socket_trusted(&sock_sys, &dir_root, (uid_t)-1));
	assert_true(mm_socket_trusted(&sock_sys, &dir_same, (uid_t)-1));
	/* ... but not where someone else could have planted it */
	assert_false(mm_socket_trusted(&sock_sys, &dir_other_sys, (uid_t)-1));
	assert_false(mm_socket_trusted(&sock_sys, &dir_group_w, (uid_t)-1));
	assert_false(mm_socket_trusted(&sock_sys, &dir_tmp, (uid_t)-1));
	assert_false(mm_socket_trusted(&sock_sys, &not_dir, (uid_t)-1));
	assert_false(mm_socket_trusted(&sock_sys, NULL, (uid_t)-1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_getters),
		cmocka_unit_test(test_buf_str_bounds),
		cmocka_unit_test(test_wbuf_cap),
		cmocka_unit_test(test_array_grow),
		cmocka_unit_test(test_msg_roundtrip),
		cmocka_unit_test(test_msg_many_fields),
		cmocka_unit_test(test_msg_add_refusals),
		cmocka_unit_test(test_msg_reorder),
		cmocka_unit_test(test_msg_reorder_shapes),
		cmocka_unit_test(test_header_refusals),
		cmocka_unit_test(test_decode_refusals),
		cmocka_unit_test(test_socket_roundtrip_and_timeout),
		cmocka_unit_test(test_client_refuses_non_socket),
		cmocka_unit_test(test_socket_trust_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
