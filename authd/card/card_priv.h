/* What the files of authd/card/ share: the helper process, the proof of a
 * card, the PIN counts, link tickets. Not for use outside this folder. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <gnutls/x509.h>

#include "card.h"
#include "secret.h"

/* ------------------------------------------------------------ parse.c */

int card_hex_decode(const char *s, unsigned char *out, size_t max, size_t *ret_len);
void card_hex_encode(const unsigned char *p, size_t n, char *out);
/* Copies a short word (results, labels), cut to fit. */
void card_copy_word(char *dst, size_t dstsz, const char *src);

/* ------------------------------------------------------------ helper.c */

struct card_helper {
	pid_t pid;
	int fd;
};

/* Starts path with default signals, fds 0 and 1 on io (or /dev/null), nothing else open. */
int card_spawn(const char *path, char *const argv[], char *const envp[], int io, pid_t *ret_pid);
int card_helper_start(const struct mm_config *c, struct card_helper *ret);
void card_helper_stop(struct card_helper *h);
/* Adds module, token and reader of c to a question to the helper. */
int card_helper_common(const struct mm_config *c, struct mm_msg *m);
/* Asks the card to sign chal with pin; only a card holding expect (DER) sees the PIN. */
int card_helper_sign(const struct mm_config *c, const char *pin, const unsigned char *expect,
	size_t expect_len, const unsigned char *chal, size_t chal_len, struct card_answer *ret);
/* A question without a PIN (MM_CARD_OP_PRESENT or MM_CARD_OP_READ). */
int card_helper_ask(const struct mm_config *c, uint16_t op, struct card_answer *ret);

/* ------------------------------------------------------------ monitor.c */

/* Watches the token that signed: its removal runs card_removal_action for login. */
void card_monitor_start(const struct mm_config *c, const char *login, const char *token);

/* ------------------------------------------------------------ verify.c */

/* One request of a card service: where it audits and how it refuses. */
struct card_op {
	struct store *s;
	const struct mm_config *c;
	const struct caller *who;
	const char *event; /* audit event: auth, card_link, card_unlink */
	struct fault *f;
};

void card_audit(const struct card_op *op, const char *account, bool ok, const char *reason);
/* Sets the fault with fact "reason" (put first, as the reply shows it); returns status. */
int card_refuse(struct fault *f, int status, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* A card that proved itself: its certificate verified and signed a fresh challenge. */
struct card_proof {
	gnutls_x509_crt_t crt;
	struct card_subject subject;
	char fingerprint[CARD_FP_LEN + 1];
	char subject_dn[1024];
	char token[40];
	long long not_before, not_after;
};
void card_proof_clear(struct card_proof *p);

/* The card in the reader, read before its PIN is tried. */
struct card_seen {
	char fingerprint[CARD_FP_LEN + 1];
	struct card_subject subject;
	char tries[8]; /* "", "low" or "final", as the token tells */
	unsigned char *cert; /* its certificate (DER): the PIN goes to no other card */
	size_t cert_len;
	char owner[128]; /* the account it maps to, "" if none: named in the audit */
	long long prior; /* wrong PINs the count held before this try */
};
void card_seen_clear(struct card_seen *s);

/* Which card is there (certificate and PIN flags, no PIN). 0, or the refusal in op->f. */
int card_see(const struct card_op *op, const char *account, struct card_seen *ret) MM_WUR;
/* Runs the card seen with pin: the card that signs must be the one seen.
 * *ret_tried: whether the card may have seen the PIN. */
int card_prove_seen(const struct card_op *op, const char *account, const char *pin,
	const struct card_seen *seen, struct card_proof *p, bool *ret_tried) MM_WUR;

/* ------------------------------------------------------------ pins.c */

/* Reserves a try of the card's PIN count, runs the card with the PIN, settles the count. */
int card_prove_counted(const struct card_op *op, const char *account, const char *pin, struct card_seen *seen,
	struct card_proof *p) MM_WUR;

/* ------------------------------------------------------------ auth.c */

/* The account an attribute of value names (card look-ups: mmCardCert,
 * mmRpps, mmAdeli), read with card_account_attrs; extra: a filter term. */
int card_find_by(const struct card_op *op, const char *attr, const char *value, const char *extra,
	struct entry **ret) MM_WUR;

/* ------------------------------------------------------------ link.c */

/* A single-use ticket for the card that proved itself but maps to no account. */
int card_ticket_issue(
	const struct mm_config *c, const struct card_proof *p, char ret[SECRET_TOKEN_HEX]) MM_WUR;

/* A PIN as a service takes it: given, not longer than MM_CARD_PIN_MAX (verify.c). */
int card_pin_check(struct fault *f, const char *pin) MM_WUR;
