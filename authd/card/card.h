/* CPS cards in the daemon: the helper's answers, certificate checks, subject parsing, account mapping. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "wire.h"

#define MM_WUR __attribute__((warn_unused_result))
#define CARD_FIELD_MAX 128

enum card_id_kind { CARD_ID_NONE, CARD_ID_RPPS, CARD_ID_ADELI };

/* What the subject of an IGC-Santé authentication certificate says, e.g.
 * "CN=810002813839+SN=DONNAT-GADY+GN=ISABELLE, title=Médecin, C=FR". */
struct card_subject {
	char cn[CARD_FIELD_MAX]; /* the national id: "8"+RPPS, "0"+ADELI */
	char sn[CARD_FIELD_MAX];
	char gn[CARD_FIELD_MAX];
	char title[CARD_FIELD_MAX]; /* profession */
	char ou[CARD_FIELD_MAX]; /* first OU (older cards: profession) */
	char c[CARD_FIELD_MAX];
	enum card_id_kind kind;
	char id[16]; /* RPPS (11 digits) or ADELI (9 characters) */
};

/* Parses a DER-encoded Name (the certificate subject). -EBADMSG when it is
 * not DER, -EINVAL when an attribute we read is repeated or not text. */
int card_subject_parse(const unsigned char *der, size_t len, struct card_subject *ret) MM_WUR;

/* One answer of the helper (card/cardproto.h), decoded and bounded. */
struct card_answer {
	char result[24];
	char tries[8];
	char token[40];
	unsigned char *cert; /* DER, malloc'ed */
	size_t cert_len;
	unsigned char sig[1024];
	size_t sig_len;
	bool pin_tried; /* the helper gave the PIN to the card (C_Login) */
};
int card_answer_parse(const struct mm_msg *m, struct card_answer *ret) MM_WUR;
void card_answer_clear(struct card_answer *a);
