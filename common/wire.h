/* Messages of the wire protocol (protocol.h): build, encode, decode, send, receive. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "buf.h"
#include "protocol.h"

struct mm_field {
	char *key;
	char *value;
	size_t key_len;
	size_t value_len;
};

/* Fields live in a few large blocks owned by the message, not one
 * allocation each: a directory reply has hundreds of fields. */
struct mm_block;

struct mm_msg {
	uint16_t code; /* without MM_REPLY_BIT */
	bool reply;
	int32_t status; /* replies only */
	char *message; /* replies only, never NULL after decode */
	size_t nfields;
	size_t cap;
	struct mm_field *fields;
	struct mm_block *blocks; /* newest first; the newest has the free room */
};

struct mm_msg *mm_msg_new(uint16_t code, bool reply) MM_WUR;
/* Wipes every value (values may be secrets) and frees; accepts NULL. */
void mm_msg_free(struct mm_msg *m);
/* Wipes and drops every field (the message stays). */
void mm_msg_clear_fields(struct mm_msg *m);
int mm_msg_add(struct mm_msg *m, const char *key, const char *value) MM_WUR;
int mm_msg_addf(struct mm_msg *m, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4))) MM_WUR;
int mm_msg_set_message(struct mm_msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Puts fields [from, from + n) in a new order, their bytes unmoved: the field at from + i becomes
 * the one that was at order[i]. order must be a permutation of from .. from + n - 1 (-EINVAL, the
 * message unchanged, otherwise). For a reply whose records were written as they came
 * and are shown sorted. */
int mm_msg_reorder(struct mm_msg *m, size_t from, const size_t *order, size_t n) MM_WUR;
/* Drops every field from index n on (their bytes are wiped with the message). */
void mm_msg_truncate(struct mm_msg *m, size_t n);
/* First value of key, or NULL. */
const char *mm_msg_get(const struct mm_msg *m, const char *key);
/* Validates a key: 1..MM_KEY_MAX of [a-z0-9_.#-]. */
bool mm_key_valid(const char *key, size_t len);

/* Encodes header + payload. */
int mm_msg_encode(const struct mm_msg *m, struct wbuf *out) MM_WUR;
/* Decodes a payload whose header was already read. */
int mm_msg_decode(uint16_t code, bool reply, const uint8_t *payload, size_t len, struct mm_msg **ret) MM_WUR;
/* Parses a 12-byte header: -EPROTO bad magic/version/direction, -EMSGSIZE too long. */
int mm_header_parse(
	const uint8_t hdr[MM_HEADER_SIZE], bool want_reply, uint16_t *ret_code, uint32_t *ret_len) MM_WUR;

/* Full reads and writes with a deadline; -ETIMEDOUT, -EPIPE on EOF. */
int mm_read_full(int fd, void *p, size_t n, int timeout_ms) MM_WUR;
int mm_write_full(int fd, const void *p, size_t n, int timeout_ms) MM_WUR;
int mm_msg_send(int fd, const struct mm_msg *m, int timeout_ms) MM_WUR;
/* Receives one frame. -EPIPE when the peer closed cleanly before a header. */
int mm_msg_recv(int fd, bool want_reply, int timeout_ms, struct mm_msg **ret) MM_WUR;

/* Highest uid that adduser/useradd --system hands out (SYS_UID_MAX). */
#define MM_SYSTEM_UID_MAX 999
/* Whether a client may trust the socket described by sock, in the directory
 * described by dir: owned by root or owner_uid; or owned by a system uid
 * (1..MM_SYSTEM_UID_MAX, e.g. _medimail under systemd) inside a directory that
 * only root or that same uid can write to, so no other user could have put it
 * there. Pure: takes lstat results, for tests. */
bool mm_socket_trusted(const struct stat *sock, const struct stat *dir, uid_t owner_uid);
/* Client side: connect to the daemon's socket, refusing a socket that
 * mm_socket_trusted() rejects (pass (uid_t)-1 as owner_uid for none). */
int mm_client_connect(const char *path, int timeout_ms, uid_t owner_uid, int *ret_fd) MM_WUR;
/* One request/reply round trip on a fresh connection. */
int mm_client_call(
	const char *path, int timeout_ms, const struct mm_msg *req, struct mm_msg **ret_reply) MM_WUR;
/* One round trip on an open connection. */
int mm_client_call_fd(int fd, int timeout_ms, const struct mm_msg *req, struct mm_msg **ret_reply) MM_WUR;
