/* QR codes for device enrolment: terminal (UTF-8 half blocks), SVG and PNG output. */
#pragma once

#include <stdio.h>

struct qr;

/* Encodes text (8-bit mode, error correction level M). NULL on failure. */
struct qr *qr_encode(const char *text);
void qr_free(struct qr *q);
/* Two module rows per line with U+2580/U+2584/U+2588, a 2-module quiet zone. */
void qr_print_terminal(const struct qr *q, FILE *f);
/* 0 or a negative errno. */
int qr_write_svg(const struct qr *q, const char *path);
/* 8-bit greyscale PNG, scale pixels per module, zlib stored blocks. */
int qr_write_png(const struct qr *q, const char *path, unsigned scale);
