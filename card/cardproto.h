/* The pipe protocol between medimail-authd and its PKCS#11 helper, medimail-card. */
#pragma once

/*
 * The daemon starts the helper with a fixed argv ("medimail-card") and a
 * connected SOCK_STREAM socketpair on fds 0 and 1; nothing else is inherited.
 * Frames are those of protocol.h (same magic, version and codec); the helper
 * answers each request with a reply of the same code. Binary values (the
 * challenge, the certificate, the signature) travel as lowercase hex.
 *
 * MM_CARD_OP_SIGN: one request, one reply, then the helper exits.
 *   request: module, [token] (label or "pkcs11:token=...;serial=..." URI),
 *            [reader] (PC/SC reader name: presence checked first),
 *            cert_label, [expect_cert] (hex DER: the PIN goes only to a card
 *            holding this certificate, compared in the login session before
 *            C_Login, else result "card_changed"), pin,
 *            challenge (hex, 16..128 bytes)
 *   reply:   result, [tries] ("low" | "final"), [token] (label found),
 *            [pin_tried] ("yes" once the PIN went to the card, whatever the
 *            result: only a PIN the card never saw is a try given back),
 *            cert (hex DER), sig (hex) when result is "ok"
 * MM_CARD_OP_WATCH: reply "present" at once (or a failure result), then
 *   "present" again after each poll round (a heartbeat: the daemon treats a
 *   silence of poll_ms + card_timeout as a hung module) and "removed" when
 *   the token goes away; the helper exits when the daemon closes its end.
 *   request: module, [token], [reader], poll_ms
 *
 * MM_CARD_OP_PRESENT: one request, one reply ("present" or why not: no PIN,
 *   no login), then the helper exits.
 *   request: module, [token], [reader]
 *
 * MM_CARD_OP_READ: which card is there, before any PIN: one request, one
 *   reply, then the helper exits. No login: the certificate is a public object.
 *   request: module, [token], [reader], cert_label
 *   reply:   result ("present", "pin_locked" or why not), [tries] ("low" |
 *            "final", from the token's flags), [token], cert (hex DER) when
 *            result is "present"
 *
 * result: ok | present | removed | pin_incorrect | pin_locked | pin_invalid |
 *         card_changed | no_card | no_reader | no_cert | no_key | module_error | bad_request
 */

#define MM_CARD_OP_SIGN 0x0f01
#define MM_CARD_OP_WATCH 0x0f02
#define MM_CARD_OP_PRESENT 0x0f03
#define MM_CARD_OP_READ 0x0f04

#define MM_CARD_CHALLENGE_MIN 16u
#define MM_CARD_CHALLENGE_MAX 128u
#define MM_CARD_CERT_MAX (16u * 1024u) /* DER bytes */
#define MM_CARD_SIG_MAX 1024u /* RSA 8192 */
#define MM_CARD_PIN_MAX 64u
