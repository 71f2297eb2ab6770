/* Bounded big-endian cursors for decoding and growable buffers for encoding. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void buf_init(struct buf *b, const void *data, size_t len)
{
	b->data = data;
	b->len = len;
	b->off = 0;
}

size_t buf_left(const struct buf *b)
{
	return b->len - b->off;
}

int buf_get_u16(struct buf *b, uint16_t *ret)
{
	*ret = 0;
	if (buf_left(b) < 2)
		return -EBADMSG;
	*ret = (uint16_t)((b->data[b->off] << 8) | b->data[b->off + 1]);
	b->off += 2;
	return 0;
}

int buf_get_u32(struct buf *b, uint32_t *ret)
{
	const uint8_t *p;

	*ret = 0;
	if (buf_left(b) < 4)
		return -EBADMSG;
	p = b->data + b->off;
	*ret = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
	b->off += 4;
	return 0;
}

int buf_get_str(struct buf *b, size_t max, const uint8_t **ret, size_t *ret_len)
{
	uint32_t n;
	size_t save = b->off;

	*ret = NULL;
	*ret_len = 0;
	if (buf_get_u32(b, &n) < 0)
		return -EBADMSG;
	/* compare against what is left, never compute off + n */
	if (n > max || n > buf_left(b)) {
		b->off = save;
		return -EBADMSG;
	}
	*ret = b->data + b->off;
	*ret_len = n;
	b->off += n;
	return 0;
}

int buf_end(const struct buf *b)
{
	return buf_left(b) == 0 ? 0 : -EBADMSG;
}

void wbuf_init(struct wbuf *w, size_t max)
{
	memset(w, 0, sizeof(*w));
	w->max = max;
}

int wbuf_reserve(struct wbuf *w, size_t n)
{
	uint8_t *p;
	size_t cap;

	if (w->err)
		return w->err;
	if (n > w->max || w->len > w->max - n)
		return (w->err = -EMSGSIZE);
	if (w->len + n <= w->cap)
		return 0;
	cap = w->cap ? w->cap : 256;
	while (cap < w->len + n)
		cap *= 2;
	if (cap > w->max)
		cap = w->max;
	p = malloc(cap);
	if (!p)
		return (w->err = -ENOMEM);
	if (w->data) {
		memcpy(p, w->data, w->len);
		explicit_bzero(w->data, w->cap);
		free(w->data);
	}
	w->data = p;
	w->cap = cap;
	return 0;
}

void wbuf_put_raw(struct wbuf *w, const void *s, size_t len)
{
	if (wbuf_reserve(w, len) < 0)
		return;
	if (len)
		memcpy(w->data + w->len, s, len);
	w->len += len;
}

void wbuf_put_u16(struct wbuf *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	wbuf_put_raw(w, b, 2);
}

void wbuf_put_u32(struct wbuf *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	wbuf_put_raw(w, b, 4);
}

void wbuf_put_str(struct wbuf *w, const void *s, size_t len)
{
	if (len > UINT32_MAX) {
		w->err = -EMSGSIZE;
		return;
	}
	wbuf_put_u32(w, (uint32_t)len);
	wbuf_put_raw(w, s, len);
}

void wbuf_free(struct wbuf *w)
{
	if (w->data) {
		explicit_bzero(w->data, w->cap);
		free(w->data);
	}
	memset(w, 0, sizeof(*w));
}

int array_grow(void *pv, size_t *cap, size_t n, size_t size, size_t first)
{
	void *v, *nv;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : first;
	if (ncap <= n || ncap < *cap)
		return -ENOMEM;
	memcpy(&v, pv, sizeof(v)); /* pv is any T **: copied, not cast, to keep aliasing rules */
	nv = reallocarray(v, ncap, size);
	if (!nv)
		return -ENOMEM;
	memcpy(pv, &nv, sizeof(nv));
	*cap = ncap;
	return 0;
}
