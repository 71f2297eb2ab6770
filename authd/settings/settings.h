/* "Gérer mon compte": the account settings of the guide (requests 0x07xx of protocol.h).
 *
 * Typed services: each takes the directory, the configuration, the caller
 * and, when it is about an account, that account already found and
 * authorised by the access rule (access.h), read with settings_attrs. They
 * check the arguments, write the directory, audit the change and return 0,
 * or a negative errno with f set (the field and rule at fault, if any).
 * They know nothing of the unix socket or of HTTP; the doors print their
 * results. A result that borrows from an entry lives as long as it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "access.h"
#include "catalog.h"
#include "config.h"
#include "fault.h"
#include "store.h"

#define SETTINGS_RESET_TTL 3600 /* seconds a password reset link lives */
#define SETTINGS_RESET_INTERVAL 60 /* at most one reset mail per account per interval */
#define SETTINGS_EMAIL_TTL 86400 /* seconds a login e-mail change link lives */
#define SETTINGS_EMAIL_INTERVAL 60 /* at most one change request per account per interval */
#define SETTINGS_ENROL_TTL 600 /* seconds an enrolment code lives */
#define SETTINGS_MAX_SIGNATURES 10
/* All of an account's signatures together, so that a list fits in one reply frame. */
#define SETTINGS_SIGNATURES_MAX_BYTES (160u * 1024u)
#define SETTINGS_MAX_DELEGATES 10
#define SETTINGS_MAX_DEVICES 10
#define SETTINGS_ID_LEN 12 /* hex characters of a signature or device id */
#define SETTINGS_TOKEN_LEN 64 /* hex characters of a reset link, enrolment code or device credential */
#define SETTINGS_DEVICE_NAME_MAX 64

/* What every service reads on the account it acts on (the dispatch rows' attrs). */
extern const char *const settings_attrs[];

/* --- Informations personnelles, activité (profile.c) --- */

/* The account type screen of the guide ("Compte Personnel"...). */
struct settings_type_screen {
	const char *title;
	const char *info[3];
	const char *help; /* NULL for an ORG */
};

struct settings_profile_field {
	const struct cat_attr *a;
	const char *value; /* NULL: not set */
};

struct settings_profile {
	const char *login, *type, *login_mail, *mss_address;
	const char *name; /* an ORG's name, NULL for an individual account */
	struct settings_type_screen screen; /* title NULL when the type is unknown */
	size_t nfields;
	struct settings_profile_field fields[48]; /* the catalogue's profile attributes that apply */
	const char *profession_label;
	size_t nmembers; /* an ORG's connection accounts (logins) */
	char (*members)[80];
	size_t neditable;
	const struct cat_attr *editable[48]; /* what this caller may change */
};

/* The profile of e as who sees it; borrows from e. settings_profile_free
 * frees what it allocated. -ENOMEM. */
int settings_profile_view(
	const struct entry *e, const struct caller *who, struct settings_profile *ret) MM_WUR;
void settings_profile_free(struct settings_profile *p);

/* One field of a profile change: a catalogue wire key and its new value ("" clears). */
struct settings_change {
	const char *key;
	const char *value;
};
/* May who change attribute a on this kind of account (catalogue writers)? */
bool settings_profile_may_write(const struct cat_attr *a, bool org, const struct caller *who);
/* Checks a change of t's profile against the catalogue without writing:
 * unknown | not_allowed | admin_only (-EACCES) | required | the rule's. */
int settings_profile_check(const struct entry *t, const struct caller *who, const struct settings_change *in,
	size_t n, struct fault *f) MM_WUR;
/* Changes t's profile, each value first put in its canonical form as at
 * registration (catalog_normalize); *ret: the account read again
 * (settings_attrs). */
int settings_profile_set(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, const struct settings_change *in, size_t n, struct entry **ret,
	struct fault *f) MM_WUR;

/* --- Identifiants de connexion: "Mot de passe oublié ?" (password_reset.c) --- */

/* Mails a reset link if an active individual account uses mail; the same
 * 0 whether or not (only a mail that could not be sent is -ECOMM). */
int settings_password_forgot(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *mail, struct fault *f) MM_WUR;
/* Sets the password of the account the link token was sent to (confirm may
 * be NULL); ret_login: that account's login. */
int settings_password_reset(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *token, const char *password, const char *confirm, char ret_login[65],
	struct fault *f) MM_WUR;

/* --- Identifiants de connexion: the login e-mail (email.c) --- */

/* "L'adresse Medimail est l'adresse de connexion à votre compte Medimail.
 * C'est votre identifiant." A change takes effect only when the link
 * mailed to the new address is confirmed. */
struct settings_email_pending {
	char login[65];
	char mail[256]; /* the new address, as it will be stored */
	unsigned expires_in;
};
/* Mails a single-use link to mail for t (active, not closed): refused when
 * another account uses mail (-EEXIST, rule duplicate), when it is t's
 * (rule same), more often than SETTINGS_EMAIL_INTERVAL (-EAGAIN,
 * retry_after). The link of an earlier request no longer serves. */
int settings_email_change(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, const char *mail, struct settings_email_pending *ret, struct fault *f) MM_WUR;
/* Sets the login e-mail the link's token was sent for, once: -ENOENT
 * unknown, expired or used; -ESTALE replaced by a newer request, or the
 * account's address changed meanwhile; -EEXIST taken meanwhile by another
 * account. The old address is told. ret: the account and its new address. */
int settings_email_confirm(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *token, struct settings_email_pending *ret, struct fault *f) MM_WUR;

/* --- Signatures (signatures.c) --- */

struct settings_signature {
	char *id, *title, *html;
	bool is_default;
};
/* t's signatures in stored order (unreadable values skipped). */
int settings_signature_list(const struct entry *t, struct settings_signature **ret, size_t *ret_n) MM_WUR;
void settings_signatures_free(struct settings_signature *v, size_t n);

struct settings_signature_change {
	const char *id; /* NULL: a new signature */
	const char *title, *html; /* NULL: unchanged ("" is refused for the title) */
	bool title_given; /* the request named a title, even empty */
	int is_default; /* 1, 0, -1 unchanged */
};
/* Checks a change without the account: id syntax, required, title, HTML allow-list. */
int settings_signature_check(const struct settings_signature_change *in, struct fault *f) MM_WUR;
int settings_signature_set(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, const struct settings_signature_change *in, char ret_id[SETTINGS_ID_LEN + 1],
	struct fault *f) MM_WUR;
int settings_signature_del(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, const char *id, struct fault *f) MM_WUR;

/* --- Réponse automatique (autoreply.c) --- */

struct settings_autoreply {
	const char *login;
	bool enabled;
	const char *start, *end, *subject, *body;
	bool active_now;
};
void settings_autoreply_view(const struct entry *t, long long now, struct settings_autoreply *ret);

struct settings_autoreply_change {
	int enabled; /* 1, 0, -1 unchanged */
	const char *start, *end, *subject, *body; /* NULL unchanged, "" cleared */
};
/* "YYYY-MM-DD" (start, or end of that day when end, UTC) or "YYYYmmddHHMMSSZ". */
int settings_parse_date(const char *v, bool end, long long *ret) MM_WUR;
/* The rules on what would be stored over what t holds (t NULL: nothing stored yet). */
int settings_autoreply_check(
	const struct entry *t, const struct settings_autoreply_change *in, struct fault *f) MM_WUR;
int settings_autoreply_set(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, const struct settings_autoreply_change *in, struct entry **ret,
	struct fault *f) MM_WUR;

/* --- Notifications, dématérialisation (notify.c) --- */

#define SETTINGS_NOTIFY_N 4
/* receipt, opening, digest, org_to_individual (individual accounts only). */
extern const char *const settings_notify_keys[SETTINGS_NOTIFY_N];

#define SETTINGS_NOTIFY_ORGS_MAX 100 /* ORGs listed with their ORG -> individual switch */

/* One ORG the individual account connects to, and whether its mail is
 * notified to the individual's own address ("Gérer les notifications de
 * réception du compte organisationnel vers le compte individuel"). */
struct settings_notify_org {
	char login[80], name[256];
	bool on;
};

struct settings_notify {
	const char *login;
	size_t n;
	struct {
		const char *key;
		bool on;
	} item[SETTINGS_NOTIFY_N];
	/* Individual accounts: "yes" when every ORG notifies (or the switch is
	 * on and there is no ORG), "no" when none does, "some" otherwise. */
	const char *org_to_individual;
	size_t norgs;
	struct settings_notify_org *orgs; /* malloc'ed, sorted as the directory returns them */
	const char *receipt_address, *opening_caveat;
};
/* What t's entry alone says (no ORG listed). */
void settings_notify_view(const struct entry *t, struct settings_notify *ret);
/* The same and, for an individual account, each ORG it is a connection
 * account of (not closed) with its switch. */
int settings_notify_get(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, struct settings_notify *ret, struct fault *f) MM_WUR;
void settings_notify_free(struct settings_notify *n);
/* v[i]: the new value of settings_notify_keys[i] (1, 0, -1 unchanged).
 * org NULL: org_to_individual is the switch for every ORG (the per-ORG
 * choices are dropped); else the login or address of one of t's ORGs, whose
 * switch alone org_to_individual sets (required then). Stored as
 * mmNotifyOrgToIndividual (FALSE: no ORG notifies) and mmNotifyOrgOff (the
 * DNs of the ORGs that do not, when the switch is on). */
int settings_notify_set(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, const int v[SETTINGS_NOTIFY_N], const char *org, struct entry **ret,
	struct fault *f) MM_WUR;

bool settings_demat_get(const struct entry *t);
int settings_demat_set(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, bool on, struct fault *f) MM_WUR;

/* --- Délégations (delegates.c) --- */

struct settings_delegates {
	const char *login;
	const char *advice; /* to a Medimail (MED) account, else NULL */
	size_t n;
	char **address; /* borrowed from the entry */
};
void settings_delegate_list(const struct entry *t, struct settings_delegates *ret);
/* Adds or removes a delegation; ret_address: the address as stored (lower case). */
int settings_delegate_change(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, bool add, const char *address, char ret_address[256], struct fault *f) MM_WUR;
const char *settings_delegate_advice(const struct entry *t);

/* --- Appareils mobiles (devices.c) --- */

struct settings_enrolment {
	char id[SETTINGS_ID_LEN + 1];
	char code[SETTINGS_TOKEN_LEN + 1]; /* secret: wiped by settings_enrolment_wipe */
	char expires[16];
	char uri[48 + SETTINGS_TOKEN_LEN];
};
void settings_enrolment_wipe(struct settings_enrolment *e);
int settings_device_enrol(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, const char *name, struct settings_enrolment *ret, struct fault *f) MM_WUR;

struct settings_device_id {
	char login[65];
	char id[SETTINGS_ID_LEN + 1];
	char name[SETTINGS_DEVICE_NAME_MAX + 1];
	char credential[SETTINGS_TOKEN_LEN + 1]; /* complete only; secret, wiped by the door */
};
int settings_device_complete(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *code, struct settings_device_id *ret, struct fault *f) MM_WUR;
int settings_device_verify(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *credential, struct settings_device_id *ret, struct fault *f) MM_WUR;

struct settings_device {
	char *id, *name, *state, *created, *expires, *enrolled;
};
int settings_device_list(const struct entry *t, struct settings_device **ret, size_t *ret_n) MM_WUR;
void settings_devices_free(struct settings_device *v, size_t n);
/* ret_name: the revoked device's name. */
int settings_device_revoke(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, const char *id, char ret_name[SETTINGS_DEVICE_NAME_MAX + 1],
	struct fault *f) MM_WUR;

/* --- Mots de passe d'application (app_passwords.c) --- */

#define SETTINGS_MAX_APP_PASSWORDS 10
#define SETTINGS_APP_NAME_MAX 64

struct settings_app_password_new {
	char id[SETTINGS_ID_LEN + 1];
	char secret[SETTINGS_TOKEN_LEN + 1]; /* shown once; wiped by settings_app_password_wipe */
	char created[16];
};
void settings_app_password_wipe(struct settings_app_password_new *p);
/* A new app password named name (validate_text, unique on the account): the
 * daemon makes the secret, keeps its keyed hash only. */
int settings_app_password_create(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, const char *name, struct settings_app_password_new *ret,
	struct fault *f) MM_WUR;

struct settings_app_password {
	char *id, *name, *created, *used; /* used: NULL when never */
};
int settings_app_password_list(
	const struct entry *t, struct settings_app_password **ret, size_t *ret_n) MM_WUR;
void settings_app_passwords_free(struct settings_app_password *v, size_t n);
int settings_app_password_revoke(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, const char *id, char ret_name[SETTINGS_APP_NAME_MAX + 1],
	struct fault *f) MM_WUR;

/* What a mail client may present (login/mail.c): the account's app
 * passwords and active device credentials, read with settings_mail_attrs. */
extern const char *const settings_mail_attrs[];
enum settings_mail_kind { SETTINGS_MAIL_NONE, SETTINGS_MAIL_APP_PASSWORD, SETTINGS_MAIL_DEVICE };
struct settings_mail_match {
	enum settings_mail_kind kind;
	char id[SETTINGS_ID_LEN + 1];
	char name[SETTINGS_APP_NAME_MAX + 1];
	long long used; /* an app password's last use, -1 when never */
};
/* 0 when secret is one of e's app passwords or active device credentials
 * (keyed hashes compared in constant time), else -EACCES. */
int settings_mail_secret_match(
	const struct entry *e, const char *secret, struct settings_mail_match *ret) MM_WUR;
/* Records an app password's use (at most one write an hour). */
int settings_app_password_touch(
	struct store *s, const struct entry *e, const struct settings_mail_match *m) MM_WUR;

/* --- Vos informations Gestionnaire (managers.c) --- */

#define SETTINGS_MAX_MANAGERS 20

/* Fiche réflexe: "Vos informations Gestionnaire : Contactez le ou les
 * administrateurs Medimail de votre structure." */
struct settings_managers {
	const char *struct_type, *struct_id; /* e's structure (borrowed); NULL: none */
	struct entry **e; /* its active structure administrators */
	size_t n;
};
/* The structure administrators of e's structure (none without one). */
int settings_managers(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, struct settings_managers *ret, struct fault *f) MM_WUR;
/* What is shown of one: the display name, the MSSanté address (else the
 * login e-mail), the phone (may be NULL). */
void settings_manager_contact(
	const struct entry *m, const char **ret_name, const char **ret_mail, const char **ret_phone);
void settings_managers_free(struct settings_managers *m);
