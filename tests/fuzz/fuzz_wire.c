/* libFuzzer harness: arbitrary bytes as a frame (header + payload), request and reply.
 * What decodes must encode again to exactly the bytes it was decoded from. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

/* Re-encodes m and compares with the frame it came from: header (NULL when
 * the payload came without one) and payload. */
static void round_trip(const struct mm_msg *m, const uint8_t *header, const uint8_t *payload, size_t len)
{
	struct wbuf w;

	for (size_t i = 0; i < m->nfields; i++)
		check(strlen(m->fields[i].value) == m->fields[i].value_len);
	wbuf_init(&w, MM_FRAME_MAX + MM_HEADER_SIZE);
	check(mm_msg_encode(m, &w) == 0);
	check(w.len == MM_HEADER_SIZE + len);
	if (header)
		check(memcmp(w.data, header, MM_HEADER_SIZE) == 0);
	check(memcmp(w.data + MM_HEADER_SIZE, payload, len) == 0);
	wbuf_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int reply = 0; reply < 2; reply++) {
		struct mm_msg *m = NULL;
		uint16_t code;
		uint32_t len;

		if (size >= MM_HEADER_SIZE && mm_header_parse(data, reply, &code, &len) == 0 &&
			len <= size - MM_HEADER_SIZE) {
			if (mm_msg_decode(code, reply, data + MM_HEADER_SIZE, len, &m) == 0) {
				check(m && m->code == code && m->reply == !!reply);
				round_trip(m, data, data + MM_HEADER_SIZE, len);
			} else
				check(!m);
		} else if (mm_msg_decode(1, reply, data, size, &m) == 0) {
			check(m != NULL);
			if (size <= MM_FRAME_MAX) /* larger than a frame: encoding refuses it by design */
				round_trip(m, NULL, data, size);
		} else
			check(!m);
		mm_msg_free(m);
	}
	return 0;
}
