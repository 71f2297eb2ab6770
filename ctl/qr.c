/* QR codes for device enrolment: libqrencode for the symbol, our own terminal, SVG and PNG writers. */
#include <errno.h>
#include <fcntl.h>
#include <qrencode.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qr.h"

#define QUIET 4

struct qr {
	QRcode *code;
};

struct qr *qr_encode(const char *text)
{
	struct qr *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->code = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
	if (!q->code) {
		free(q);
		return NULL;
	}
	return q;
}

void qr_free(struct qr *q)
{
	if (!q)
		return;
	QRcode_free(q->code);
	free(q);
}

/* Dark module at (x, y), quiet zone of `border` modules included. */
static int dark(const struct qr *q, int x, int y, int border)
{
	int w = q->code->width;

	x -= border;
	y -= border;
	if (x < 0 || y < 0 || x >= w || y >= w)
		return 0;
	return q->code->data[y * w + x] & 1;
}

void qr_print_terminal(const struct qr *q, FILE *f)
{
	int border = 2, size = q->code->width + 2 * border;

	/* Light modules are drawn, dark ones left blank: reads on a dark terminal. */
	for (int y = 0; y < size; y += 2) {
		for (int x = 0; x < size; x++) {
			int top = !dark(q, x, y, border),
			    bottom = y + 1 < size ? !dark(q, x, y + 1, border) : 0;
			fputs(top && bottom ? "\u2588" : top ? "\u2580" : bottom ? "\u2584" : " ", f);
		}
		fputc('\n', f);
	}
}

static int open_out(const char *path, FILE **ret)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	*ret = fdopen(fd, "wb");
	if (!*ret) {
		int e = -errno;
		close(fd);
		return e;
	}
	return 0;
}

static int close_out(FILE *f)
{
	int bad = ferror(f);

	if (fclose(f) != 0 || bad)
		return -EIO;
	return 0;
}

int qr_write_svg(const struct qr *q, const char *path)
{
	int size = q->code->width + 2 * QUIET, rc;
	FILE *f;

	if ((rc = open_out(path, &f)) < 0)
		return rc;
	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
		"shape-rendering=\"crispEdges\">\n<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n",
		size, size, size * 8, size * 8, size, size);
	for (int y = 0; y < size; y++)
		for (int x = 0; x < size; x++)
			if (dark(q, x, y, QUIET))
				fprintf(f,
					"<rect x=\"%d\" y=\"%d\" width=\"1\" height=\"1\" fill=\"#000\"/>\n",
					x, y);
	fputs("</svg>\n", f);
	return close_out(f);
}

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[n] = c;
	}
}

static uint32_t crc_update(uint32_t c, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return c;
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void chunk(FILE *f, const char *type, const uint8_t *data, size_t n)
{
	uint8_t hdr[8], crc[4];
	uint32_t c;

	be32(hdr, (uint32_t)n);
	memcpy(hdr + 4, type, 4);
	fwrite(hdr, 1, 8, f);
	if (n)
		fwrite(data, 1, n, f);
	c = crc_update(0xffffffffu, hdr + 4, 4);
	c = crc_update(c, data, n) ^ 0xffffffffu;
	be32(crc, c);
	fwrite(crc, 1, 4, f);
}

int qr_write_png(const struct qr *q, const char *path, unsigned scale)
{
	static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	size_t modules = (size_t)q->code->width + 2 * QUIET, px = modules * scale, row = px + 1;
	size_t raw_len = row * px, nblocks = (raw_len + 65534) / 65535;
	size_t z_len = 2 + raw_len + 5 * nblocks + 4;
	uint8_t *raw = NULL, *z = NULL, ihdr[13];
	uint32_t a = 1, b = 0;
	FILE *f = NULL;
	size_t o = 0;
	int rc;

	if (scale == 0 || scale > 32)
		return -EINVAL;
	raw = malloc(raw_len);
	z = malloc(z_len);
	if (!raw || !z) {
		rc = -ENOMEM;
		goto out;
	}
	/* Filter byte 0 then one grey byte per pixel. */
	for (size_t y = 0; y < px; y++) {
		raw[y * row] = 0;
		for (size_t x = 0; x < px; x++)
			raw[y * row + 1 + x] = dark(q, (int)(x / scale), (int)(y / scale), QUIET) ? 0 : 255;
	}
	/* zlib stream of stored (uncompressed) deflate blocks. */
	z[o++] = 0x78;
	z[o++] = 0x01;
	for (size_t off = 0; off < raw_len; off += 65535) {
		size_t n = raw_len - off < 65535 ? raw_len - off : 65535;
		z[o++] = off + n == raw_len;
		z[o++] = (uint8_t)n;
		z[o++] = (uint8_t)(n >> 8);
		z[o++] = (uint8_t)~n;
		z[o++] = (uint8_t)(~n >> 8);
		memcpy(z + o, raw + off, n);
		o += n;
	}
	for (size_t i = 0; i < raw_len; i++) {
		a = (a + raw[i]) % 65521;
		b = (b + a) % 65521;
	}
	be32(z + o, b << 16 | a);
	o += 4;
	be32(ihdr, (uint32_t)px);
	be32(ihdr + 4, (uint32_t)px);
	ihdr[8] = 8; /* bit depth */
	ihdr[9] = 0; /* greyscale */
	ihdr[10] = ihdr[11] = ihdr[12] = 0;
	crc_init();
	if ((rc = open_out(path, &f)) < 0)
		goto out;
	fwrite(sig, 1, sizeof(sig), f);
	chunk(f, "IHDR", ihdr, sizeof(ihdr));
	chunk(f, "IDAT", z, o);
	chunk(f, "IEND", NULL, 0);
	rc = close_out(f);
out:
	free(raw);
	free(z);
	return rc;
}
