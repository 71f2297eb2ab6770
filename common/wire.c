/* Messages of the wire protocol (protocol.h): build, encode, decode, send, receive. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "wire.h"

struct mm_msg *mm_msg_new(uint16_t code, bool reply)
{
	struct mm_msg *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->code = code;
	m->reply = reply;
	return m;
}

struct mm_block {
	struct mm_block *next;
	size_t used, cap;
	char data[];
};

#define BLOCK_MIN 4096u

/* Every key and value lives in a block: wiping the blocks wipes them all
 * (values may be secrets). */
static void blocks_wipe(struct mm_msg *m)
{
	m->nfields = 0;
	while (m->blocks) {
		struct mm_block *b = m->blocks;

		m->blocks = b->next;
		explicit_bzero(b->data, b->used);
		free(b);
	}
}

/* A new, empty newest block of cap bytes. */
static struct mm_block *block_push(struct mm_msg *m, size_t cap)
{
	struct mm_block *b = malloc(sizeof(*b) + cap);

	if (!b)
		return NULL;
	b->next = m->blocks;
	b->used = 0;
	b->cap = cap;
	m->blocks = b;
	return b;
}

/* n bytes from the newest block, or from a new block of at least n (at
 * least twice the previous one, so a message makes few of them). */
static char *block_take(struct mm_msg *m, size_t n)
{
	struct mm_block *b = m->blocks;
	char *p;

	if (!b || b->cap - b->used < n) {
		size_t cap = b ? b->cap * 2 : BLOCK_MIN;

		if (cap > MM_FRAME_MAX)
			cap = MM_FRAME_MAX;
		if (!(b = block_push(m, cap < n ? n : cap)))
			return NULL;
	}
	p = b->data + b->used;
	b->used += n;
	return p;
}

/* Room for n more bytes in the newest block (decode knows its total). */
static int block_room(struct mm_msg *m, size_t n)
{
	struct mm_block *b = m->blocks;

	return (b && b->cap - b->used >= n) || block_push(m, n) ? 0 : -ENOMEM;
}

void mm_msg_free(struct mm_msg *m)
{
	if (!m)
		return;
	blocks_wipe(m);
	free(m->fields);
	free(m->message);
	free(m);
}

void mm_msg_clear_fields(struct mm_msg *m)
{
	blocks_wipe(m);
}

bool mm_key_valid(const char *key, size_t len)
{
	if (len == 0 || len > MM_KEY_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = key[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '#' ||
			    c == '-'))
			return false;
	}
	return true;
}

static int msg_add_n(struct mm_msg *m, const char *key, size_t klen, const char *value, size_t vlen)
{
	struct mm_field *f;

	if (!mm_key_valid(key, klen))
		return -EINVAL;
	if (vlen > MM_VALUE_MAX || memchr(value, '\0', vlen))
		return -EINVAL;
	if (m->nfields >= MM_FIELDS_MAX)
		return -E2BIG;
	if (array_grow(&m->fields, &m->cap, m->nfields, sizeof(*m->fields), 8) < 0)
		return -ENOMEM;
	f = &m->fields[m->nfields];
	if (!(f->key = block_take(m, klen + 1 + vlen + 1)))
		return -ENOMEM;
	memcpy(f->key, key, klen);
	f->key[klen] = '\0';
	f->key_len = klen;
	f->value = f->key + klen + 1;
	memcpy(f->value, value, vlen);
	f->value[vlen] = '\0';
	f->value_len = vlen;
	m->nfields++;
	return 0;
}

int mm_msg_add(struct mm_msg *m, const char *key, const char *value)
{
	if (!value)
		return 0;
	return msg_add_n(m, key, strlen(key), value, strlen(value));
}

int mm_msg_addf(struct mm_msg *m, const char *key, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	r = mm_msg_add(m, key, s);
	free(s);
	return r;
}

int mm_msg_set_message(struct mm_msg *m, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	free(m->message);
	m->message = s;
	return 0;
}

int mm_msg_reorder(struct mm_msg *m, size_t from, const size_t *order, size_t n)
{
	/* Two bitmaps on the stack (a message has at most MM_FIELDS_MAX fields): the permutation is
	 * checked whole before any field moves, then applied in place one cycle at a time. No
	 * copy of the field array: on this machine a 17 KB memcpy costs as much as the rest. */
	uint8_t seen[(MM_FIELDS_MAX + 7) / 8] = {0}, placed[(MM_FIELDS_MAX + 7) / 8] = {0};

	if (from > m->nfields || n > m->nfields - from)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		size_t o = order[i] - from;

		if (order[i] < from || o >= n || (seen[o / 8] & (1u << (o % 8))))
			return -EINVAL;
		seen[o / 8] |= (uint8_t)(1u << (o % 8));
	}
	for (size_t s = 0; s < n; s++) {
		struct mm_field *f = m->fields + from, first;
		size_t j = s;

		if (placed[s / 8] & (1u << (s % 8)))
			continue;
		first = f[s];
		for (;;) {
			size_t src = order[j] - from;

			placed[j / 8] |= (uint8_t)(1u << (j % 8));
			if (src == s) {
				f[j] = first;
				break;
			}
			f[j] = f[src];
			j = src;
		}
	}
	return 0;
}

void mm_msg_truncate(struct mm_msg *m, size_t n)
{
	if (n < m->nfields)
		m->nfields = n;
}

const char *mm_msg_get(const struct mm_msg *m, const char *key)
{
	for (size_t i = 0; i < m->nfields; i++)
		if (strcmp(m->fields[i].key, key) == 0)
			return m->fields[i].value;
	return NULL;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

static uint8_t *put_str(uint8_t *p, const char *s, size_t len)
{
	p = put_u32(p, (uint32_t)len);
	memcpy(p, s, len);
	return p + len;
}

int mm_msg_encode(const struct mm_msg *m, struct wbuf *out)
{
	const char *msg = m->message ? m->message : "";
	size_t start, msg_len = strlen(msg), need = MM_HEADER_SIZE + (m->reply ? 4 + 4 + msg_len : 0) + 4;
	uint8_t *p;

	/* Sized once, then written straight through (no per-field bound checks: a directory reply
	 * has hundreds of fields); every length was bounded when its field was added. */
	for (size_t i = 0; i < m->nfields; i++)
		need += 8 + m->fields[i].key_len + m->fields[i].value_len;
	if (need - MM_HEADER_SIZE > MM_FRAME_MAX)
		return -EMSGSIZE;
	if (wbuf_reserve(out, need) < 0)
		return out->err;
	start = out->len;
	p = out->data + start;
	p = put_u32(p, MM_PROTO_MAGIC);
	p[0] = (uint8_t)(MM_PROTO_VERSION >> 8);
	p[1] = (uint8_t)MM_PROTO_VERSION;
	p[2] = (uint8_t)((m->code | (m->reply ? MM_REPLY_BIT : 0)) >> 8);
	p[3] = (uint8_t)(m->code | (m->reply ? MM_REPLY_BIT : 0));
	p += 4;
	p = put_u32(p, 0); /* length, patched below */
	if (m->reply) {
		p = put_u32(p, (uint32_t)m->status);
		p = put_str(p, msg, msg_len);
	}
	p = put_u32(p, (uint32_t)m->nfields);
	for (size_t i = 0; i < m->nfields; i++) {
		p = put_str(p, m->fields[i].key, m->fields[i].key_len);
		p = put_str(p, m->fields[i].value, m->fields[i].value_len);
	}
	out->len = (size_t)(p - out->data);
	(void)put_u32(out->data + start + MM_HEADER_SIZE - 4, (uint32_t)(out->len - start - MM_HEADER_SIZE));
	return 0;
}

int mm_header_parse(const uint8_t hdr[MM_HEADER_SIZE], bool want_reply, uint16_t *ret_code, uint32_t *ret_len)
{
	struct buf b;
	uint32_t magic, len;
	uint16_t version, code;

	buf_init(&b, hdr, MM_HEADER_SIZE);
	if (buf_get_u32(&b, &magic) < 0 || buf_get_u16(&b, &version) < 0 || buf_get_u16(&b, &code) < 0 ||
		buf_get_u32(&b, &len) < 0)
		return -EPROTO;
	if (magic != MM_PROTO_MAGIC || version != MM_PROTO_VERSION)
		return -EPROTO;
	if (!!(code & MM_REPLY_BIT) != want_reply)
		return -EPROTO;
	if (len > MM_FRAME_MAX)
		return -EMSGSIZE;
	*ret_code = (uint16_t)(code & ~MM_REPLY_BIT);
	*ret_len = len;
	return 0;
}

int mm_msg_decode(uint16_t code, bool reply, const uint8_t *payload, size_t len, struct mm_msg **ret)
{
	struct buf b;
	struct mm_msg *m;
	uint32_t n;
	int r = -EPROTO;

	*ret = NULL;
	m = mm_msg_new(code, reply);
	if (!m)
		return -ENOMEM;
	buf_init(&b, payload, len);
	if (reply) {
		uint32_t st;
		const uint8_t *s;
		size_t slen;

		if (buf_get_u32(&b, &st) < 0 || buf_get_str(&b, MM_VALUE_MAX, &s, &slen) < 0)
			goto out;
		if (memchr(s, '\0', slen))
			goto out;
		m->status = (int32_t)st;
		m->message = strndup((const char *)s, slen);
		if (!m->message) {
			r = -ENOMEM;
			goto out;
		}
	}
	if (buf_get_u32(&b, &n) < 0 || n > MM_FIELDS_MAX)
		goto out;
	/* Every field costs 8 length bytes on the wire and 2 NULs here: the
	 * payload's size holds them all, in one block and one array. */
	if (n && buf_left(&b) / 8 >= n) {
		if (!(m->fields = calloc(n, sizeof(*m->fields))) || block_room(m, buf_left(&b)) < 0) {
			r = -ENOMEM;
			goto out;
		}
		m->cap = n;
	}
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *k, *v;
		size_t klen, vlen;

		if (buf_get_str(&b, MM_KEY_MAX, &k, &klen) < 0 ||
			buf_get_str(&b, MM_VALUE_MAX, &v, &vlen) < 0)
			goto out;
		r = msg_add_n(m, (const char *)k, klen, (const char *)v, vlen);
		if (r == -ENOMEM)
			goto out;
		r = -EPROTO;
		if (m->nfields != i + 1)
			goto out;
	}
	if (buf_end(&b) < 0)
		goto out;
	*ret = m;
	m = NULL;
	r = 0;
out:
	mm_msg_free(m);
	return r;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		long long left = deadline - now_ms();
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r > 0)
			return 0;
	}
}

/* All n bytes in (POLLIN) or out (POLLOUT) by the deadline. The call first:
 * the bytes (or the room) are usually there already, and a poll before each
 * call would double the system calls of every frame. */
static int io_full(int fd, char *p, size_t n, int timeout_ms, short events)
{
	long long deadline = now_ms() + timeout_ms;
	size_t done = 0;

	while (done < n) {
		ssize_t k = events == POLLIN ? recv(fd, p + done, n - done, MSG_DONTWAIT)
					     : send(fd, p + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_fd(fd, events, deadline);

			if (r < 0)
				return r;
			continue;
		}
		if (k < 0)
			return -errno;
		if (k == 0 && events == POLLIN)
			return -EPIPE;
		done += (size_t)k;
	}
	return 0;
}

int mm_read_full(int fd, void *p, size_t n, int timeout_ms)
{
	return io_full(fd, p, n, timeout_ms, POLLIN);
}

int mm_write_full(int fd, const void *p, size_t n, int timeout_ms)
{
	return io_full(fd, (char *)p, n, timeout_ms, POLLOUT);
}

int mm_msg_send(int fd, const struct mm_msg *m, int timeout_ms)
{
	struct wbuf w;
	int r;

	wbuf_init(&w, MM_FRAME_MAX + MM_HEADER_SIZE);
	r = mm_msg_encode(m, &w);
	if (r == 0)
		r = mm_write_full(fd, w.data, w.len, timeout_ms);
	wbuf_free(&w);
	return r;
}

int mm_msg_recv(int fd, bool want_reply, int timeout_ms, struct mm_msg **ret)
{
	uint8_t hdr[MM_HEADER_SIZE];
	uint8_t *payload = NULL;
	uint16_t code;
	uint32_t len;
	int r;

	*ret = NULL;
	r = mm_read_full(fd, hdr, sizeof(hdr), timeout_ms);
	if (r < 0)
		return r;
	r = mm_header_parse(hdr, want_reply, &code, &len);
	if (r < 0)
		return r;
	payload = malloc(len ? len : 1);
	if (!payload)
		return -ENOMEM;
	r = mm_read_full(fd, payload, len, timeout_ms);
	if (r == 0)
		r = mm_msg_decode(code, want_reply, payload, len, ret);
	explicit_bzero(payload, len);
	free(payload);
	return r;
}

bool mm_socket_trusted(const struct stat *sock, const struct stat *dir, uid_t owner_uid)
{
	if (!S_ISSOCK(sock->st_mode))
		return false;
	if (sock->st_uid == 0 || (owner_uid != (uid_t)-1 && sock->st_uid == owner_uid))
		return true;
	/* A system account only root can create; its socket counts only where
	 * nobody else could have planted or swapped it. */
	if (sock->st_uid > MM_SYSTEM_UID_MAX)
		return false;
	if (!dir || !S_ISDIR(dir->st_mode))
		return false;
	if (dir->st_uid != 0 && dir->st_uid != sock->st_uid)
		return false;
	return (dir->st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

/* lstat of the directory holding path ("." for a bare name). */
static int lstat_parent(const char *path, struct stat *ret)
{
	const char *slash = strrchr(path, '/');
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	size_t n;

	if (!slash)
		return lstat(".", ret) < 0 ? -errno : 0;
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, n);
	dir[n] = '\0';
	return lstat(dir, ret) < 0 ? -errno : 0;
}

int mm_client_connect(const char *path, int timeout_ms, uid_t owner_uid, int *ret_fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st, dst;
	bool have_dir;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	/* Only trust a socket that root, the daemon's user or a system account
	 * in a directory nobody else can write owns (mm_socket_trusted). */
	if (lstat(path, &st) < 0)
		return -errno;
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	have_dir = lstat_parent(path, &dst) == 0;
	if (!mm_socket_trusted(&st, have_dir ? &dst : NULL, owner_uid))
		return -EPERM;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINPROGRESS || errno == EAGAIN) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			int err = 0;
			socklen_t elen = sizeof(err);

			r = poll(&p, 1, timeout_ms);
			if (r <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err) {
				r = r == 0 ? -ETIMEDOUT : -(err ? err : ECONNREFUSED);
				close(fd);
				return r;
			}
		} else {
			r = -errno;
			close(fd);
			return r;
		}
	}
	*ret_fd = fd;
	return 0;
}

int mm_client_call_fd(int fd, int timeout_ms, const struct mm_msg *req, struct mm_msg **ret_reply)
{
	struct mm_msg *rep = NULL;
	int r;

	*ret_reply = NULL;
	r = mm_msg_send(fd, req, timeout_ms);
	if (r < 0)
		return r;
	r = mm_msg_recv(fd, true, timeout_ms, &rep);
	if (r < 0)
		return r;
	if (rep->code != req->code) {
		mm_msg_free(rep);
		return -EPROTO;
	}
	*ret_reply = rep;
	return 0;
}

int mm_client_call(const char *path, int timeout_ms, const struct mm_msg *req, struct mm_msg **ret_reply)
{
	int fd, r;

	*ret_reply = NULL;
	r = mm_client_connect(path, timeout_ms, (uid_t)-1, &fd);
	if (r < 0)
		return r;
	r = mm_client_call_fd(fd, timeout_ms, req, ret_reply);
	close(fd);
	return r;
}
