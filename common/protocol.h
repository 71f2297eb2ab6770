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
 * -ECOMM mail could not be sent; -EPROTO malformed frame; -EMSGSIZE frame
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
#define MM_FIELDS_MAX 256u
#define MM_KEY_MAX 32u
#define MM_VALUE_MAX (64u * 1024u)
#define MM_IO_TIMEOUT_MS 5000

enum mm_request {
	/* --- 0x00xx: housekeeping --------------------------------------- */
	MM_REQ_PING = 0x0001,            /* -> version, daemon */

	/* --- 0x01xx: account lifecycle ---------------------------------- */
	/* type (PER|INT|MED|ORG), login_mail, password, sn, given_name,
	 * rpps | adeli, profession, speciality, liberal (yes|no), phone,
	 * phone2, street, postal_code, city, region, department,
	 * struct_type (FINESS|SIRET|SIREN), struct_id, org_name, service,
	 * description; ORG also: resp_sn, resp_given_name, resp_profession,
	 * resp_rpps, member (login of an existing account), member_password
	 * (its password; not needed from an admin)
	 * -> login, dn, status; a confirmation e-mail is sent. */
	MM_REQ_REGISTER = 0x0101,
	/* token -> login, status */
	MM_REQ_CONFIRM = 0x0102,
	/* admin: login -> login, status, mss_address, uid_number */
	MM_REQ_VALIDATE = 0x0103,
	/* login -> every stored public field of the account (admin, or the
	 * caller's own account) */
	MM_REQ_SHOW = 0x0104,
	/* admin: [status], [type] -> records of login, type, status, login_mail,
	 * mss_address */
	MM_REQ_LIST = 0x0105,
	/* admin: login, [reason] -> status */
	MM_REQ_SUSPEND = 0x0106,
	MM_REQ_REACTIVATE = 0x0107,
	MM_REQ_CLOSE = 0x0108,
	/* admin: login, rpps -> login, type (PER), mss_address */
	MM_REQ_CONVERT = 0x0109,
	/* admin (or member of the org proven by member_password): org, member
	 * -> org, members */
	MM_REQ_ORG_MEMBER_ADD = 0x010a,
	MM_REQ_ORG_MEMBER_DEL = 0x010b,
	/* login (admin, or the caller itself) -> cgu_accepted_at */
	MM_REQ_CGU_ACCEPT = 0x010c,
	/* admin: login -> status (pending-confirmation again, with a new link) */
	MM_REQ_CONFIRM_RESEND = 0x010d,

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
