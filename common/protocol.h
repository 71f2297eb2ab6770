/* The wire protocol between medimail-authd and its clients (PAM, NSS, medimailctl). */
#pragma once

#include <stdint.h>

/*
 * Transport: a SOCK_STREAM unix socket (default MM_DEFAULT_SOCKET). One
 * connection may carry several request/reply exchanges, strictly in turn.
 *
 * Frame (all integers big-endian):
 *   u32 magic      MM_PROTO_MAGIC
 *   u16 version    MM_PROTO_VERSION; a daemon refuses any other version
 *   u16 code       request code; a reply carries the same code | MM_REPLY_BIT
 *   u32 length     payload length, 0 .. MM_FRAME_MAX
 *   payload
 *
 * Request payload:
 *   u32 nfields    0 .. MM_FIELDS_MAX
 *   nfields x { str key, str value }
 * Reply payload:
 *   i32 status     0, or a negative errno (see "Status" below)
 *   str message    human readable, may be empty; never contains a secret
 *   u32 nfields
 *   nfields x { str key, str value }
 *
 * str = u32 length + bytes (no terminating NUL). Keys are 1..MM_KEY_MAX
 * bytes of [a-z0-9_.#-]; values are at most MM_VALUE_MAX bytes and, unless
 * a request says otherwise, valid UTF-8 without NUL. A decoder refuses a
 * frame with bytes left over. Every read has a timeout (MM_IO_TIMEOUT_MS on
 * the daemon side, configurable on clients).
 *
 * Lists in replies: each record starts with the field "#" whose value is the
 * record's index ("0", "1", ...); the fields of the record follow.
 *
 * Status: 0 success; -EINVAL a field is invalid (reply fields "field" and
 * "rule" name it); -EEXIST duplicate; -ENOENT no such account/object;
 * -EACCES refused (credentials or caller not permitted); -EPERM account
 * state forbids it (reply field "reason"); -EAGAIN rate limited, retry later
 * (field "retry_after" in seconds); -ENOLCK account locked (field
 * "locked_until"); -ETIMEDOUT expired; -EHOSTDOWN directory unavailable;
 * -ECOMM mail could not be sent; -ESTALE no pending single-use secret
 * (used or exhausted: a new one is needed); -EPROTO malformed frame; -EMSGSIZE frame
 * too large; -ENOSYS unknown request code.
 *
 * Caller identity comes from SO_PEERCRED, never from the payload. "admin"
 * below means uid 0 or a member of the configured admin group.
 */

#define MM_PROTO_MAGIC 0x4d4d4155u /* "MMAU" */
#define MM_PROTO_VERSION 1
#define MM_REPLY_BIT 0x8000u

#define MM_HEADER_SIZE 12
#define MM_FRAME_MAX (256u * 1024u)
/* 2048: a directory search reply carries 50 records of up to 18 fields (raised
 * from 256; only the 0x04xx replies need more than 256, so older decoders are
 * unaffected by everything they can ask for). */
#define MM_FIELDS_MAX 2048u
#define MM_KEY_MAX 32u
#define MM_VALUE_MAX (64u * 1024u)
#define MM_IO_TIMEOUT_MS 5000

enum mm_request {
	/* --- 0x00xx: housekeeping --------------------------------------- */
	MM_REQ_PING = 0x0001, /* -> version, daemon */

	/* --- 0x01xx: account lifecycle ---------------------------------- */
	/* type (PER|INT|MED|ORG), login_mail, password, sn, given_name,
	 * rpps | adeli, profession, speciality, liberal (yes|no), phone,
	 * phone2, street, postal_code, city, region, department,
	 * struct_type (FINESS|SIRET|SIREN), struct_id, org_name, service,
	 * description; ORG also: resp_sn, resp_given_name, resp_profession,
	 * resp_rpps, member (login or e-mail of an existing individual
	 * account, "Oui") with member_txn and member_code (the transaction of
	 * REGISTER_ORG_PROOF and the code it mailed to the member; not needed
	 * from an admin), or instead of member ("Non") the fields of a new
	 * connection account prefixed "member." (member.login_mail,
	 * member.password, member.sn, ...: a PER with member.rpps or
	 * member.adeli, else a MED; -> also member_login, member_dn,
	 * member_type; the two are validated together); PER, INT, MED also:
	 * org ("Créer un compte de connexion": an administrator or an active
	 * connection account of that ORG, others get -EACCES; the account
	 * becomes its connection account once validated); the form's boxes
	 * visible_medimail, visible_mssante (not MED), dematerialisation
	 * (yes|no, default yes). region is required (refused where Medimail is
	 * not open: field "regions" lists the open ones); the fields are read
	 * as catalog_normalize() says (spaces in numbers, a profession's label).
	 * -> login, dn, status; a confirmation e-mail is sent. */
	MM_REQ_REGISTER = 0x0101,
	/* token -> login, status */
	MM_REQ_CONFIRM = 0x0102,
	/* admin, or a structure administrator of the account's structure
	 * (MM_REQ_STRUCT_ADMIN_ADD): login, [mss] (yes|no) -> login, status,
	 * [mss_address], [published] (no: an ORG, see MM_REQ_PUBLISH),
	 * uid_number (gid_number for an ORG). Guide 000: a PER and an ORG
	 * always get an MSSanté address ("donnant lieu"; mss=no is refused), a
	 * MED never (mss=yes is refused), an INT is a "compte pouvant donner
	 * lieu à une adresse MSSanté": it gets one only with mss=yes, the
	 * centre's decision; without it (the default) it has no address, is not
	 * in the MSSanté view, and its visible_mssante box does not apply. A
	 * later CONVERT to PER gives the address. Refusal: field "mss", rule
	 * yes_no or type. */
	MM_REQ_VALIDATE = 0x0103,
	/* login -> every stored public field of the account (admin, or the
	 * caller's own account) */
	MM_REQ_SHOW = 0x0104,
	/* admin: [status], [type], [published] (no: the ORGs whose address
	 * waits for MM_REQ_PUBLISH; yes: the others) -> records of login, type,
	 * status, login_mail, mss_address, [mss_pending]; a structure administrator gets the
	 * accounts of its structures only (its validation queue: status
	 * pending-validation) */
	MM_REQ_LIST = 0x0105,
	/* admin, or a structure administrator of the account's structure
	 * (SUSPEND, REACTIVATE; CLOSE: admin only): login, [reason] -> status.
	 * A structure administrator reactivates only what a structure
	 * administrator suspended (mmSuspendedByStructure): what the service
	 * centre suspended, it alone reactivates (-EACCES). */
	MM_REQ_SUSPEND = 0x0106,
	MM_REQ_REACTIVATE = 0x0107,
	MM_REQ_CLOSE = 0x0108,
	/* admin: login, rpps -> login, type (PER), mss_address */
	MM_REQ_CONVERT = 0x0109,
	/* admin, or an active connection account of the (active) ORG: org,
	 * member -> org, members. Others get -EACCES, whether or not the ORG
	 * exists. */
	MM_REQ_ORG_MEMBER_ADD = 0x010a,
	MM_REQ_ORG_MEMBER_DEL = 0x010b,
	/* login (admin, or the caller itself) -> cgu_accepted_at */
	MM_REQ_CGU_ACCEPT = 0x010c,
	/* admin: login -> status (pending-confirmation again, with a new link) */
	MM_REQ_CONFIRM_RESEND = 0x010d,
	/* The first step of an ORG registration, "Oui" (guides 001, 002):
	 * member, member_password (the existing individual account's) ->
	 * member (its login), txn, sent_to (masked), expires_in; the login's
	 * one-time code is mailed to the member's login e-mail, for REGISTER's
	 * member_txn and member_code. Anyone may ask; the login's rate limits,
	 * lockout and code tries apply; an unknown account, an ORG and a wrong
	 * password get the same -EACCES. */
	MM_REQ_REGISTER_ORG_PROOF = 0x0141,

	/* 0x012x: the service centre's steps after a validation. */
	/* admin: login (a BAL ORG) -> login, mss_address. Guides 001/002: "Le
	 * compte sera visible dans l'annuaire santé dans les 72h, après que le
	 * Centre de Services du GRADeS ait finalisé le paramétrage du compte":
	 * VALIDATE gives an ORG its address pending (SHOW/LIST: mss_pending
	 * TRUE; VALIDATE's reply: published no), in neither directory view nor
	 * the national export until this request publishes it. PER and INT
	 * addresses are published at validation. -EPERM, reason type (not an
	 * ORG), account_state (not validated, or not active: field status),
	 * published (nothing pending). */
	MM_REQ_PUBLISH = 0x0120,
	/* admin: login (a validated, active INT without an address) -> login,
	 * mss_address; the owner is mailed. The centre's later decision for a
	 * "compte pouvant donner lieu à une adresse MSSanté" (guide 000).
	 * -EPERM, reason type, account_state or has_address. */
	MM_REQ_MSS_GRANT = 0x0121,
	/* admin: login (an individual account), [struct_type, struct_id]
	 * (FINESS|SIRET|SIREN and its number; absent: the account's own
	 * structure) -> login, struct_admin ("TYPE:ID"). Gives the structure
	 * administrator role ("Vos informations Gestionnaire"): its holder, when
	 * active, may VALIDATE (an INT without mss=yes: field mss, rule
	 * service_centre), SUSPEND, REACTIVATE and LIST the accounts registered
	 * with that structure, and no other (the answer of an unknown account:
	 * -ENOENT). -EEXIST already held. */
	MM_REQ_STRUCT_ADMIN_ADD = 0x0122,
	/* admin: login, [struct_type, struct_id] (absent: every role) ->
	 * login, struct_admin ("" for every role). -ENOENT not held. */
	MM_REQ_STRUCT_ADMIN_DEL = 0x0123,
	/* root only (uid 0 on the socket, not admin_group): login (an active
	 * individual account) -> login, role. Makes it a service-centre
	 * operator (mmRole centre-operator): its browser sessions call the
	 * back office's ADMIN rows as an administrator while the role and the
	 * account stay active. Never answers the web bridge. -EEXIST held. */
	MM_REQ_OPERATOR_GRANT = 0x0124,
	/* root only: login -> login. -ENOENT not held. */
	MM_REQ_OPERATOR_REVOKE = 0x0125,
	/* admin (or a structure administrator for its structures): login ->
	 * login, then records (at: Unix time, line: the audit line), newest
	 * first, at most 200, from this daemon's memory (core/log.h). */
	MM_REQ_AUDIT_TRAIL = 0x0126,
#define MM_ROLE_OPERATOR "centre-operator" /* mmRole of a service-centre operator */

	/* --- 0x02xx: login (PAM, screen lockers) and sessions ------------- */
	/* Common to every 0x02xx request: "user" is the login or the login
	 * e-mail of an individual account; a non-admin caller may only name
	 * the account whose uidNumber is its uid. service (PAM service) and
	 * rhost (remote host) are optional and only go to the audit trail.
	 * Secrets (password, code, txn, session) are never echoed. */
	/* user, password, service, rhost -> login, txn, txn_expires_in.
	 * txn (64 hex) binds this password step to the one-time code step
	 * and is valid otp_ttl seconds, on any daemon of the directory.
	 * -EACCES bad credentials, -ENOLCK locked (locked_until, epoch
	 * seconds), -EPERM account not active (reason), -EAGAIN rate limited. */
	MM_REQ_AUTH_PASSWORD = 0x0201,
	/* user, txn, service, rhost -> sent_to (masked address), expires_in.
	 * -EAGAIN resend too early (retry_after; pending yes|no: whether the
	 * code sent before may still be used), -ECOMM mail not sent,
	 * -ENOLCK otp_max_tries wrong codes since the last login, the last
	 * code sent less than lockout_duration ago (locked_until, retry_after). */
	MM_REQ_OTP_SEND = 0x0202,
	/* user, txn, code, [then], service, rhost -> login. Ends the
	 * transaction; with then = "card_link" the transaction is kept, marked
	 * completed, for one MM_REQ_CARD_LINK within two minutes.
	 * -EACCES wrong code (tries_left) or no such transaction, -ETIMEDOUT
	 * code expired (reason "transaction": the password step expired),
	 * -ESTALE no code pending (used, too many tries — then tries_left 0 —,
	 * or never sent): a new code is needed. */
	MM_REQ_OTP_VERIFY = 0x0203,
	/* user, service, rhost -> login, status, cgu_required (yes|no).
	 * -EPERM not active: reason pending|suspended|closed|org. */
	MM_REQ_ACCT_CHECK = 0x0204,
	/* user, old_password, new_password, service, rhost -> login.
	 * -EINVAL new password refused by the policy (field new_password,
	 * rule utf8|max_length|min_length|upper|lower|digit|special|same). */
	MM_REQ_PASSWORD_CHANGE = 0x0205,
	/* user, method, service, rhost -> session (64 hex, the handle), user,
	 * account (login of the default account), address (MSSanté address,
	 * else login e-mail), account_type */
	MM_REQ_SESSION_OPEN = 0x0206,
	/* session -> (nothing) */
	MM_REQ_SESSION_CLOSE = 0x0207,
	/* [user] -> records of login, type, status, mss_address, login_mail,
	 * default (yes|no), self (yes|no): the user's own account first,
	 * then the active ORGs whose connection accounts include it. */
	MM_REQ_ACCOUNTS = 0x0208,
	/* session, target -> account, address, account_type, user.
	 * -EACCES (audited) when target is not one of MM_REQ_ACCOUNTS. */
	MM_REQ_SWITCH = 0x0209,
	/* [user], target -> default (login). target may be the user itself. */
	MM_REQ_DEFAULT_SET = 0x020a,
	/* -> mode (online|offline): offline when the directory is unreachable
	 * and offline_login is on. Then AUTH_PASSWORD (root callers only)
	 * checks the password against the verifier kept at the last online
	 * login and replies login, offline (yes), offline_until (epoch) and no
	 * txn: there is no one-time code offline. ACCT_CHECK and SESSION_OPEN
	 * answer from that record too, with offline (yes). */
	MM_REQ_LOGIN_MODE = 0x020b,
	/* user, secret, service, rhost -> login, method (app-password|device).
	 * A mail client's login (pam_medimail "mail"): secret is one of the
	 * account's app passwords (MM_REQ_APP_PASSWORD_CREATE) or active
	 * device credentials (MM_REQ_DEVICE_COMPLETE), never its password;
	 * no one-time code. Checked in the directory at every call (a
	 * revocation counts on every daemon at once), under the password's
	 * rate limits and lockout (a wrong secret is a failed attempt).
	 * -EACCES bad credentials, -ENOLCK locked (locked_until), -EPERM not
	 * active (reason), -EAGAIN rate limited. */
	MM_REQ_MAIL_AUTH = 0x020c,

	/* --- 0x04xx: the directories (annuaire Medimail, annuaire santé) - */
	/* Who: a caller with an active individual account acts for itself; an
	 * admin gives "login" (or, for a search, nothing: the service centre).
	 * Views: "medimail" = active entries whose owner did not hide them;
	 * "mssante" = active PER / INT / ORG with a visible MSSanté address,
	 * never the login e-mail nor the login.
	 *
	 * [view] (medimail|mssante, default medimail), [detail] (summary|full,
	 * default summary: the result list; full: the contact's card),
	 * [login] (admin), and at
	 * least one of: q (free text: names, ORG name, city), name (sn or ORG
	 * name), first_name, profession (TRE_G15 code or the start of its
	 * label), city, postal_code (1..5 digits), address (street),
	 * raison_sociale.  Each
	 * field: at most MM_DIR_FIELD_MAX bytes and 8 words; every word is an
	 * accent- and case-insensitive prefix and all must match.  Unknown or
	 * repeated fields are refused (-EINVAL, "field", "rule").  The words
	 * are those the account holds now: registration and every profile edit
	 * write them again from the entry (directory/keys.c).
	 * -> refine (yes|no: more than MM_DIR_MAX_RESULTS matched, "précisez
	 * votre recherche"), count, then at most MM_DIR_MAX_RESULTS records
	 * sorted by name: login (medimail view), type, name, login_mail
	 * (medimail view), mss_address (where visible), profession,
	 * profession_label, postal_code, city; with detail=full also sn,
	 * given_name, speciality, raison_sociale, service, street, phone
	 * (repeated) */
	MM_REQ_DIR_SEARCH = 0x0401,
	/* [login] (admin), target (login of an entry of the Medimail view)
	 * -> target; adding a favourite twice is not an error */
	MM_REQ_DIR_FAVORITE_ADD = 0x0402,
	/* [login] (admin), target -> target; -ENOENT if not a favourite */
	MM_REQ_DIR_FAVORITE_DEL = 0x0403,
	/* [login] (admin) -> count, records as MM_REQ_DIR_SEARCH (favourites
	 * still in the Medimail view) */
	MM_REQ_DIR_FAVORITE_LIST = 0x0404,
	/* [login] (admin, the caller itself, or an ORG the caller is an active
	 * connection account of), directory (medimail|mssante), visible
	 * (on|off) -> login, visible_medimail, visible_mssante (not for MED:
	 * -EPERM when asked).  Takes effect in the next search. */
	MM_REQ_DIR_VISIBILITY = 0x0405,
	/* admin: no field.  The national extraction of the MSSanté view,
	 * streamed: any number of replies with status 0 and the fields
	 * more=yes and data (UTF-8 lines, '\n'-terminated, whole lines only,
	 * at most 60000 bytes: first the header line, then one line per
	 * mailbox, 31 '|'-separated columns in the order of the national
	 * format), then one final reply without "more": count, columns (31),
	 * or an error status. */
	MM_REQ_DIR_EXPORT = 0x0406,

	/* --- 0x05xx: e-CPS push and API service clients ------------------- */
	/* login (admin, or the caller's own account) -> request_id,
	 * binding_message (the code the user picks in the e-CPS app), interval
	 * (seconds between polls), expires_in. -ENOENT unknown account; -EPERM
	 * not active or no national id; -ECOMM provider unreachable. */
	MM_REQ_ECPS_START = 0x0501,
	/* request_id -> status (pending|slow_down|authenticated); when
	 * authenticated also account, session_token, expires_at. -EACCES with
	 * status=denied; -ETIMEDOUT with status=expired. [session] = "none"
	 * (PAM, which opens its own session): no API session, no token. */
	MM_REQ_ECPS_POLL = 0x0502,
	/* request_id -> status (cancelled|unknown): the user ended the wait
	 * (Ctrl-C); the pending request is forgotten, so that an approval on the
	 * phone afterwards opens nothing. Another account's request: unknown,
	 * left as it was. */
	MM_REQ_ECPS_CANCEL = 0x0503,
	/* admin: id -> id, secret (shown once; only its keyed hash is stored) */
	MM_REQ_SERVICE_ADD = 0x0510,
	/* admin: id -> id */
	MM_REQ_SERVICE_REMOVE = 0x0511,
	/* --- the OpenID Connect provider (admin) --- */
	/* id, [name], [type] (public|confidential), [first_party] (yes|no),
	 * [token_endpoint_auth_method], [id_token_signed_response_alg] (ES256|RS256),
	 * redirect_uris (space separated, matched exactly), [post_logout_redirect_uris],
	 * [backchannel_logout_uri], [jwks] (private_key_jwt) -> id, [secret] (shown
	 * once; only its keyed hash is stored) */
	MM_REQ_OIDC_CLIENT_ADD = 0x0530,
	/* -> count, records of id, name, type, first_party,
	 * token_endpoint_auth_method, id_token_signed_response_alg, redirect_uris */
	MM_REQ_OIDC_CLIENT_LIST = 0x0531,
	/* id -> id */
	MM_REQ_OIDC_CLIENT_REMOVE = 0x0532,
	/* -> kid (the new current ES256 key; the previous keys stay published) */
	MM_REQ_OIDC_KEY_ROTATE = 0x0533,
	/* [user] (admin, else the caller's own account) -> login, records of
	 * provider ("psc", or the generic provider's oidc_name), label (its
	 * name for people), sub (the linked subject) */
	MM_REQ_PSC_LIST = 0x0520,
	/* user, [sub], [provider] (admin, or the caller's own account) ->
	 * login, provider, removed (count); only that provider's links (default
	 * "psc"); without sub every one of them goes. -ENOENT none linked. */
	MM_REQ_PSC_UNLINK = 0x0521,

	/* --- 0x06xx: CPS cards ------------------------------------------- */
	/* The card in the configured reader/token signs a fresh challenge;
	 * the daemon checks the certificate (trust anchors, dates, key usage,
	 * CRLs) and the signature, then maps it to an account: a linked
	 * certificate (mmCardCert) first, else the national id of the subject
	 * CN ("8"+RPPS, "0"+ADELI) to a PER account. A non-root caller may
	 * only authenticate as itself.
	 *   pin (secret), [user] (login or login e-mail: the card must map to it),
	 *   [service], [rhost] (audit only, as for 0x02xx)
	 *   -> login, method ("cps"), fingerprint, national_id, [pin_failures]
	 *      (wrong PINs the daemons counted on this card since its last
	 *      right PIN: for the owner to know someone tried)
	 * Refusals carry "reason": pin_incorrect (field "tries": low|final when
	 * the card says so), pin_locked, no_card, no_reader, no_cert, no_key,
	 * expired, not_yet_valid, unknown_ca, revoked, invalid_cert,
	 * key_usage, bad_signature, link_required (fields "fingerprint" and
	 * "link_ticket": 64 hex, single use, for MM_REQ_CARD_LINK),
	 * account_state (field "status"), card_mismatch, card_error. */
	MM_REQ_CARD_AUTH = 0x0601,
	/* admin: login, pin -> login, fingerprint, subject, not_before,
	 * not_after. Links the certificate of the card in the reader, after
	 * the same checks as MM_REQ_CARD_AUTH (the signature proves the card).
	 * Linking by the user (PAM): login, txn, link_ticket, no pin. txn is
	 * that of a password + one-time code login of this account just
	 * completed with OTP_VERIFY "then" = "card_link"; link_ticket is what
	 * CARD_AUTH returned with link_required (the card already proved with
	 * its PIN). Both are single use. The caller is admin or the account's
	 * own uid. -EACCES reason "txn" or "ticket" when either is not valid. */
	MM_REQ_CARD_LINK = 0x0602,
	/* [login] (admin, else the caller's own account) -> records of
	 * fingerprint, subject, not_before, not_after, linked_at */
	MM_REQ_CARD_LIST = 0x0603,
	/* login, fingerprint (admin, or the caller's own account) -> login */
	MM_REQ_CARD_UNLINK = 0x0604,
	/* [service], [rhost] -> present (yes|no), [reason] (no_card|no_reader|...).
	 * Whether a card is in the configured reader/token, without a PIN:
	 * lets PAM choose between the PIN prompt and the password. */
	MM_REQ_CARD_PRESENT = 0x0605,

	/* --- 0x07xx: account settings ("Gérer mon compte") ---------------- */
	/* Every request below except PASSWORD_FORGOT, PASSWORD_RESET,
	 * EMAIL_CONFIRM, DEVICE_COMPLETE and DEVICE_VERIFY acts on [login]: the caller's own
	 * account when absent (SO_PEERCRED uid -> uidNumber), else an account
	 * the caller owns or an ORG it is a connection account of; admin: any
	 * account (login required). Booleans are "yes" | "no"; times are
	 * GeneralizedTime "YYYYmmddHHMMSSZ" (UTC). Unknown or repeated fields
	 * are refused (field, rule). Every change is audited. */

	/* [login] -> login, type, type_title, type_info (repeated lines: the
	 * "Activité" screen), login_mail, mss_address, sn, given_name, phone,
	 * phone2, street, postal_code, city, raison_sociale, profession,
	 * profession_label, speciality; ORG also struct_type, struct_id,
	 * description, resp_sn, resp_given_name, resp_profession, resp_rpps;
	 * editable (repeated: the fields this caller may change) */
	MM_REQ_PROFILE_GET = 0x0701,
	/* [login], any of: sn, given_name, phone, phone2, street, postal_code,
	 * city, raison_sociale, profession, speciality (individual accounts);
	 * phone, phone2, street, postal_code, city, raison_sociale (ORG, its
	 * users); struct_type, struct_id, description, resp_sn,
	 * resp_given_name, resp_profession, resp_rpps (ORG, admin only: others
	 * get -EACCES with rule "admin_only"). An empty value clears an
	 * optional field. -> as PROFILE_GET */
	MM_REQ_PROFILE_SET = 0x0702,
	/* login_mail -> (message only, the same whether or not an account
	 * exists). An active individual account gets a mail with a single-use
	 * link (token, SETTINGS_RESET_TTL) stored as a keyed hash. */
	MM_REQ_PASSWORD_FORGOT = 0x0703,
	/* token, password, [password_confirm] -> login. The password policy
	 * names the failed rule (field "password"). */
	MM_REQ_PASSWORD_RESET = 0x0704,
	/* [login], login_mail (the new address) -> login, login_mail (still
	 * the old one), pending (the new one), expires_in. Mails a single-use
	 * link (token, SETTINGS_EMAIL_TTL, email_change_url) to the new
	 * address; nothing changes until it is confirmed. -EEXIST another
	 * account uses it (field login_mail, rule duplicate); -EINVAL syntax
	 * or rule "same"; -EAGAIN one request per SETTINGS_EMAIL_INTERVAL
	 * (retry_after); a new request voids the link of the previous one. */
	MM_REQ_EMAIL_CHANGE = 0x0705,
	/* anyone (the link's page POSTs it): token -> login, login_mail (the
	 * new address). The old address is told of the change. -ENOENT
	 * unknown, expired or used token; -ESTALE replaced by a newer request
	 * or the account changed meanwhile; -EEXIST the address was taken
	 * meanwhile (checked again, and by slapd's unique overlay). */
	MM_REQ_EMAIL_CONFIRM = 0x0706,

	/* [login] -> records of id, title, html, default (yes|no) */
	MM_REQ_SIGNATURE_LIST = 0x0710,
	/* [login], [id] (absent: a new signature), title, html (allow-listed
	 * HTML, authd/core/html.h; refused otherwise with rule = the HTML rule),
	 * [default yes|no]; with id, title and html may be left out -> id */
	MM_REQ_SIGNATURE_SET = 0x0711,
	/* [login], id -> id */
	MM_REQ_SIGNATURE_DEL = 0x0712,

	/* [login] -> enabled, start, end, subject, body, active_now (computed:
	 * enabled and start <= now <= end) */
	MM_REQ_AUTOREPLY_GET = 0x0720,
	/* [login], [enabled], [start], [end] (YYYY-MM-DD: start of the day /
	 * end of the day, UTC; or YYYYmmddHHMMSSZ), [subject], [body] (HTML as
	 * signatures). Enabled needs all four; end before start is refused
	 * (field "end", rule "before_start"). -> as AUTOREPLY_GET */
	MM_REQ_AUTOREPLY_SET = 0x0721,

	/* [login] -> receipt, opening, digest, [org_to_individual] (individual
	 * accounts: notify my own address of mail to my ORGs; yes: every ORG
	 * does, no: none does, some: as each record says), receipt_address,
	 * opening_caveat (the guide's warning: no opening notice from other
	 * MSS operators); individual accounts then one record per ORG they are
	 * a connection account of (not closed, at most 100): org (its login),
	 * name, org_to_individual (yes|no, that ORG's switch) */
	MM_REQ_NOTIFY_GET = 0x0730,
	/* [login], any of receipt, opening, digest, org_to_individual, and
	 * [org]: without org, org_to_individual is the switch for every ORG
	 * (as before: each ORG's own choice is dropped); with org (the login,
	 * login e-mail or MSSanté address of one of the account's ORGs, else
	 * rule "not_member", the same for an unknown ORG), org_to_individual
	 * (then required) sets that ORG's switch alone. -> as GET.
	 * Stored on the individual account: mmNotifyOrgToIndividual FALSE, no
	 * ORG notifies; else every ORG but those in mmNotifyOrgOff (DNs). */
	MM_REQ_NOTIFY_SET = 0x0731,

	/* [login] -> records of address; [advice] for a MED account */
	MM_REQ_DELEGATE_LIST = 0x0740,
	/* [login], address: the login e-mail or MSSanté address of another
	 * active Medimail account (else rule "not_medimail") -> address */
	MM_REQ_DELEGATE_ADD = 0x0741,
	/* [login], address -> address */
	MM_REQ_DELEGATE_DEL = 0x0742,

	/* [login] -> dematerialisation */
	MM_REQ_DEMAT_GET = 0x0750,
	/* [login], dematerialisation -> dematerialisation */
	MM_REQ_DEMAT_SET = 0x0751,

	/* [login] -> [struct_type, struct_id] (the account's structure), then
	 * records of name, mail (MSSanté address, else login e-mail), [phone]:
	 * "Vos informations Gestionnaire : Contactez le ou les administrateurs
	 * Medimail de votre structure" (fiche réflexe), the active structure
	 * administrators of that structure (MM_REQ_STRUCT_ADMIN_ADD); none
	 * without a structure or an administrator: the service centre. */
	MM_REQ_MANAGERS_GET = 0x0770,

	/* individual accounts: [login], name -> id, name, code (single use,
	 * SETTINGS_ENROL_TTL), expires, enrol_uri (what the QR code holds) */
	MM_REQ_DEVICE_ENROL = 0x0760,
	/* anyone (the device): code -> login, id, name, credential (shown
	 * once; stored as a keyed hash) */
	MM_REQ_DEVICE_COMPLETE = 0x0761,
	/* [login] -> records of id, name, state (pending|active), created,
	 * [expires], [enrolled] */
	MM_REQ_DEVICE_LIST = 0x0762,
	/* [login], id -> id */
	MM_REQ_DEVICE_REVOKE = 0x0763,
	/* admin (the service the device talks to): credential -> login, id,
	 * name; -EACCES when unknown or revoked (checked in the directory) */
	MM_REQ_DEVICE_VERIFY = 0x0764,
	/* "Mots de passe d'application", one per mail client (individual
	 * accounts): [login], name (64 bytes, unique on the account) -> login,
	 * id, name, created, secret (64 hex, made by the daemon, shown once;
	 * stored as a keyed hash). At most SETTINGS_MAX_APP_PASSWORDS (10). */
	MM_REQ_APP_PASSWORD_CREATE = 0x0780,
	/* [login] -> records of id, name, created, [used] (last login, to the hour) */
	MM_REQ_APP_PASSWORD_LIST = 0x0781,
	/* [login], id -> id; the next MM_REQ_MAIL_AUTH with it is refused */
	MM_REQ_APP_PASSWORD_REVOKE = 0x0782,
	/* --- 0x03xx: name service (NSS) --------------------------------- */
	/* Public data: any caller may ask. Users are the active individual
	 * accounts that have a uidNumber; groups are the active BAL ORGs that
	 * have a gidNumber, named by their login, whose members are the logins
	 * of their active connection accounts. -ENOENT when there is no such
	 * user or group.
	 *
	 * A passwd answer carries: name (the short login), uid, gid, gecos
	 * ("Prénom NOM"), dir, shell. A group answer carries: name, gid and
	 * zero or more "members" fields, each a comma-separated chunk of
	 * logins (a chunk stays below MM_VALUE_MAX; concatenate them). */
	/* name (login, or login e-mail, case-insensitive) -> passwd answer */
	MM_REQ_GETPWNAM = 0x0301,
	/* uid (decimal) -> passwd answer */
	MM_REQ_GETPWUID = 0x0302,
	/* name -> group answer */
	MM_REQ_GETGRNAM = 0x0303,
	/* gid (decimal) -> group answer */
	MM_REQ_GETGRGID = 0x0304,
	/* name (login or login e-mail) -> name, and zero or more "gids"
	 * fields, each a comma-separated chunk of decimal gids: the active
	 * ORGs whose connection accounts include this active user. */
	MM_REQ_INITGROUPS = 0x0305,
	/* Enumeration, only when the daemon runs with "enumerate = yes" (else
	 * -EPERM, field "reason" = "enumeration-disabled").
	 * offset (decimal, 0 first) -> records ("#" then the passwd answer
	 * fields), and "next" (the offset of the following page) unless the
	 * list is complete. Pages come from one snapshot of the directory. */
	MM_REQ_PWENT = 0x0306,
	/* offset -> records ("#" then the group answer fields), "next" */
	MM_REQ_GRENT = 0x0307,
};

#define MM_DIR_MAX_RESULTS 50
#define MM_DIR_FIELD_MAX 128

/* Account types and statuses as stored in the directory (mmAccountType,
 * mmStatus) and carried on the wire. */
#define MM_TYPE_PER "PER"
#define MM_TYPE_INT "INT"
#define MM_TYPE_MED "MED"
#define MM_TYPE_ORG "ORG"

#define MM_STATUS_PENDING_CONFIRMATION "pending-confirmation"
#define MM_STATUS_PENDING_VALIDATION "pending-validation"
#define MM_STATUS_ACTIVE "active"
#define MM_STATUS_SUSPENDED "suspended"
#define MM_STATUS_CLOSED "closed"
