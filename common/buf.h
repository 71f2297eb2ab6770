/* Bounded big-endian cursors for decoding and growable buffers for encoding. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define MM_WUR __attribute__((warn_unused_result))

/* Read cursor over memory the caller owns. */
struct buf {
	const uint8_t *data;
	size_t len;
	size_t off;
};

void buf_init(struct buf *b, const void *data, size_t len);
size_t buf_left(const struct buf *b);
/* Each getter returns 0 or -EBADMSG; outputs are cleared first. */
int buf_get_u16(struct buf *b, uint16_t *ret) MM_WUR;
int buf_get_u32(struct buf *b, uint32_t *ret) MM_WUR;
/* A u32 length then that many bytes, at most max; *ret points into the buffer. */
int buf_get_str(struct buf *b, size_t max, const uint8_t **ret, size_t *ret_len) MM_WUR;
/* 0 when everything was consumed, -EBADMSG otherwise. */
int buf_end(const struct buf *b) MM_WUR;

/* Growable output buffer; capped at max bytes. */
struct wbuf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max;
	int err; /* sticky: first error of any put */
};

void wbuf_init(struct wbuf *w, size_t max);
/* Room for n more bytes, allocated now: 0, or the sticky error (-EMSGSIZE past max). */
int wbuf_reserve(struct wbuf *w, size_t n);
void wbuf_put_u16(struct wbuf *w, uint16_t v);
void wbuf_put_u32(struct wbuf *w, uint32_t v);
void wbuf_put_str(struct wbuf *w, const void *s, size_t len);
void wbuf_put_raw(struct wbuf *w, const void *s, size_t len);
/* Wipes and frees. */
void wbuf_free(struct wbuf *w);

/* Room for item n of the array at *pv (a pointer to the array pointer) whose *cap items are
 * allocated: doubled from first when full. 0 or -ENOMEM (the array is then untouched). */
int array_grow(void *pv, size_t *cap, size_t n, size_t size, size_t first) MM_WUR;
