/* libFuzzer harness: arbitrary bytes as a frame (header + payload), request and reply. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int reply = 0; reply < 2; reply++) {
		struct mm_msg *m = NULL;
		uint16_t code;
		uint32_t len;

		if (size >= MM_HEADER_SIZE && mm_header_parse(data, reply, &code, &len) == 0 &&
			len <= size - MM_HEADER_SIZE)
			(void)mm_msg_decode(code, reply, data + MM_HEADER_SIZE, len, &m);
		else
			(void)mm_msg_decode(1, reply, data, size, &m);
		if (m) {
			/* what decodes must encode again, to the same bytes count */
			struct wbuf w;
			wbuf_init(&w, MM_FRAME_MAX + MM_HEADER_SIZE);
			if (mm_msg_encode(m, &w) != 0)
				__builtin_trap();
			for (size_t i = 0; i < m->nfields; i++)
				if (strlen(m->fields[i].value) != m->fields[i].value_len)
					__builtin_trap();
			wbuf_free(&w);
			mm_msg_free(m);
		}
	}
	return 0;
}
