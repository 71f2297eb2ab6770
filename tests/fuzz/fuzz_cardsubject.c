/* libFuzzer harness: bytes from the card or the helper's pipe -- a certificate subject (DER Name),
 * a whole certificate through GnuTLS to its subject, and a helper frame through card_answer_parse. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <gnutls/x509.h>

#include "card.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct card_subject s;
	struct mm_msg *m = NULL;
	uint16_t code;
	uint32_t len;

	if (card_subject_parse(data, size, &s) == 0) {
		/* what parses is bounded, terminated text */
		if (strlen(s.cn) >= sizeof(s.cn) || strlen(s.sn) >= sizeof(s.sn) ||
			strlen(s.title) >= sizeof(s.title) ||
			(s.kind == CARD_ID_RPPS && strlen(s.id) != 11) ||
			(s.kind == CARD_ID_ADELI && strlen(s.id) != 9))
			__builtin_trap();
	}
	{
		gnutls_x509_crt_t crt;
		gnutls_datum_t der = {(unsigned char *)data, (unsigned)size}, dn = {NULL, 0};

		if (gnutls_x509_crt_init(&crt) == 0) {
			if (gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER) == 0 &&
				gnutls_x509_crt_get_raw_dn(crt, &dn) == 0) {
				(void)card_subject_parse(dn.data, dn.size, &s);
				gnutls_free(dn.data);
			}
			gnutls_x509_crt_deinit(crt);
		}
	}
	/* A frame from the helper: header + payload, then the answer. */
	if (size >= MM_HEADER_SIZE && mm_header_parse(data, true, &code, &len) == 0 &&
		len <= size - MM_HEADER_SIZE &&
		mm_msg_decode(code, true, data + MM_HEADER_SIZE, len, &m) == 0) {
		struct card_answer a;
		if (card_answer_parse(m, &a) == 0) {
			if (a.cert_len > 16 * 1024 || a.sig_len > sizeof(a.sig) ||
				strlen(a.result) >= sizeof(a.result))
				__builtin_trap();
			card_answer_clear(&a);
		}
		mm_msg_free(m);
	}
	return 0;
}
