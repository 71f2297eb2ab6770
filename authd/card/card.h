/* CPS cards in the daemon: the typed services (log in with a card, link,
 * list, unlink, is a card there) and the parsers of what the card and its
 * helper send. No request type here: the socket adapters are ipc/card_req.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "access.h"
#include "config.h"
#include "fault.h"
#include "secret.h"
#include "store.h"
#include "wire.h"

#define MM_WUR __attribute__((warn_unused_result))
#define CARD_FIELD_MAX 128
#define CARD_FP_LEN (7 + 64) /* "sha256:" + hex */
#define CARD_LOGIN_MAX 256

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

/* What the card services read on an account: the rows of the dispatch
 * table that resolve an account for them read it with these. */
extern const char *const card_account_attrs[];

/* ------------------------------------------------------------ services */

/* A card login. */
struct card_auth_result {
	char login[CARD_LOGIN_MAX];
	char fingerprint[CARD_FP_LEN + 1];
	char national_id[CARD_FIELD_MAX];
	long long pin_failures; /* wrong PINs counted on the card since its last right PIN */
	/* Refused with link_required: the single-use ticket to link the card (a
	 * secret, so not a fact of the fault; wipe it once sent). */
	char link_ticket[SECRET_TOKEN_HEX];
};

/* Logs in with the card in the reader and its PIN: checks the certificate
 * and a signature, maps the card to its account (linked certificate, else
 * the national id). user (may be NULL): the login the card must map to. The
 * card decides the account; a caller that is not root authenticates only
 * as itself, and spends none of the card's PIN tries otherwise. A card of
 * no account: -ENOENT, facts reason "link_required", fingerprint,
 * national_id, and ret->link_ticket. */
int card_auth(struct store *s, const struct mm_config *c, const struct caller *who, const char *pin,
	const char *user, struct card_auth_result *ret, struct fault *f) MM_WUR;

/* Consumes the txn of a password + one-time code login of the account at
 * user_dn (the login service's login_txn_take): 0, -ENOENT, -ETIMEDOUT
 * or a directory error. */
typedef int (*card_txn_consume_fn)(void *ctx, const char *txn, const char *user_dn);

/* Two ways to link: an administrator with the card's PIN, or the account's
 * owner with the txn of a login just completed and the link ticket of the
 * card login that found the card of no account. */
struct card_link_args {
	const char *pin;
	const char *txn;
	const char *link_ticket;
	card_txn_consume_fn txn_consume;
	void *txn_ctx;
};

struct card_link_result {
	char login[CARD_LOGIN_MAX];
	char fingerprint[CARD_FP_LEN + 1];
	char subject[1024];
	char not_before[16], not_after[16];
};

/* Links the card to account (resolved and authorised by the caller's door,
 * read with card_account_attrs). */
int card_link(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *account, const struct card_link_args *a, struct card_link_result *ret,
	struct fault *f) MM_WUR;

/* One card linked to an account; the strings point into the entry. */
struct card_record {
	const char *fingerprint;
	const char *subject; /* NULL when the account holds no details of it */
	char not_before[16], not_after[16], linked_at[16];
};

/* The cards linked to account (read with card_account_attrs): *ret
 * malloc'ed (NULL when none), *ret_n records. 0 or -ENOMEM. */
int card_records(const struct entry *account, struct card_record **ret, size_t *ret_n) MM_WUR;

/* Unlinks the card of this fingerprint ("sha256:" + 64 hex) from account. */
int card_unlink(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *account, const char *fingerprint, struct fault *f) MM_WUR;

/* Is a card in the configured reader/token (no PIN)? */
struct card_presence {
	bool present;
	char reason[24]; /* why not: no_card, no_reader, ... */
};
int card_present(const struct mm_config *c, struct card_presence *ret, struct fault *f) MM_WUR;
