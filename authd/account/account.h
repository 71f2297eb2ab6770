/* The account lifecycle of the guides as typed services: registration,
 * confirmation, validation, status changes, conversion, ORG connection
 * accounts, SHOW / LIST and the terms of use.
 *
 * Every service takes (store, config, caller, typed arguments, typed
 * results, fault) and returns 0 or a negative errno with f filled. The
 * account a service acts on (`target`) has been found and authorised by the
 * caller's door (access_resolve) and read with the attributes the service
 * names below. No door's request type appears here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "access.h"
#include "catalog.h"
#include "config.h"
#include "fault.h"
#include "secret.h"
#include "store.h"

/* ---------------------------------------------------------- registration */

#define ACCOUNT_REG_ATTRS_MAX 64 /* catalogue entries a registration may carry */
#define ACCOUNT_REG_NORM_MAX 4096 /* room for the values set in their canonical form */

/* A registration as the form gives it; NULL or "" for a field not given.
 * account_registration_set puts each field in its canonical form
 * (catalog_normalize: names trimmed, an RPPS without its spaces, a
 * profession by its label as its code...), kept in norm[]: the pointers
 * stay valid as long as the registration and the given values do. The
 * catalogue's attributes (CAT_REGISTER) are in attr[]; the parameters that
 * are not attributes are plain members. */
struct account_registration {
	const char *type; /* PER | INT | MED | ORG */
	const char *password;
	const char *password_confirm;
	const char *org_name; /* ORG: the name of the BAL */
	const char *member; /* ORG: login or e-mail of its first connection account */
	const char
		*member_txn; /* ORG: the transaction of account_org_proof_start (not from an administrator) */
	const char *member_code; /* ORG: the code it mailed to the member */
	const char *org; /* PER, INT, MED: the ORG it becomes a connection account of once validated */
	/* Not a field: set by account_register_org_new_member only, the ORG's
	 * connection account registered with it ("Non"). */
	const char *new_member_dn;
	const char *attr[ACCOUNT_REG_ATTRS_MAX]; /* by index in catalog_all() */
	char norm[ACCOUNT_REG_NORM_MAX]; /* the normalised values the pointers above may point into */
	size_t nnorm; /* bytes of norm[] used */
};

/* Is key a field of the registration (parameter or CAT_REGISTER attribute)? */
bool account_registration_knows(const char *key);
/* Writes the wire name of every registration field to keys (NULL-terminated,
 * max entries with the NULL); returns how many, or -ENOBUFS. */
int account_registration_keys(const char **keys, size_t max);
/* Sets a field by its wire name, in its canonical form: 0, or -EINVAL (f:
 * rule unknown). */
int account_registration_set(
	struct account_registration *reg, const char *key, const char *value, struct fault *f) MM_WUR;
/* A field's value by wire name, NULL when not given (or empty). */
const char *account_registration_get(const struct account_registration *reg, const char *key);
/* Every rule that needs no directory: each value against its rule (the
 * catalogue's for attributes), the type's required and refused fields,
 * the structure identifier, the region, the password policy. 0 or -EINVAL
 * with f naming field and rule. */
int account_registration_check(
	const struct mm_config *c, const struct account_registration *reg, struct fault *f) MM_WUR;

/* "Oui" (guides 001, 002): the ORG's first connection account, an existing
 * individual account, is proven in two steps as a login is. First its
 * password (account_org_proof_start: the login's password step, rate
 * limits and lockout; an unknown account answered as a wrong password),
 * which mails the login's one-time code to the account's own address;
 * then account_register with member, member_txn and member_code beside
 * the ORG form (the code's tries and lockout are the login's, the
 * transaction single use). An administrator names the member without
 * proof. */
struct account_org_proof {
	char member[256]; /* the login of the account proven */
	char txn[SECRET_TOKEN_HEX];
	char sent_to[300]; /* its login e-mail, masked */
	unsigned expires_in; /* of the code */
};

int account_org_proof_start(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *member, const char *password, struct account_org_proof *ret, struct fault *f) MM_WUR;

struct account_registered {
	char login[40];
	char *dn; /* malloc'ed */
};

/* Registers an account pending confirmation and mails its link. An ORG's
 * member is proven by its password and code (account_org_proof_start),
 * except by an administrator. */
int account_register(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct account_registration *reg, struct account_registered *ret, struct fault *f) MM_WUR;
void account_registered_clear(struct account_registered *r);

/* ---------------------------------- "Inscription simplifiée par Pro Santé Connect" */

/* What a verified PSC identity says of the person (register_psc.c): its
 * SubjectNameID ("8" + RPPS), names, and from SubjectRefPro the profession
 * and the site of the first activity. Empty strings for what it does not say. */
struct account_psc_prefill {
	char sub[256];
	char national_id[64];
	char rpps[12];
	char sn[128], given_name[128];
	char profession[8]; /* TRE_G15 code */
	char raison_sociale[256], street[256], postal_code[8], city[128];
	char struct_type[8], struct_id[16]; /* FINESS, else SIRET, of the site */
};
/* The identity of an offer's data (JSON: sub, national_id, given_name,
 * family_name, ref_pro as the claim), text with a control character left
 * out; -EIO when unreadable or without sub and national id. */
int account_psc_prefill_parse(const char *data, struct account_psc_prefill *ret) MM_WUR;
/* Completes reg from the identity p: type PER, the RPPS, names and
 * profession p proves (a different value in reg: -EINVAL, rule psc_claim),
 * the site's fields where reg has none. */
int account_psc_merge(
	struct account_registration *reg, const struct account_psc_prefill *p, struct fault *f) MM_WUR;
/* The form's pre-filled values for the single-use handle the PSC login of
 * an unmapped identity offered (store/records.h RECORD_PSC_LINK); the
 * handle is not spent. -EINVAL malformed (field link), -ENOENT unknown,
 * expired or used, -EPERM an identity without an RPPS (reason no_rpps), -EEXIST one
 * linked meanwhile (reason already_linked). */
int account_psc_prefill(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *handle, struct account_psc_prefill *ret, struct fault *f) MM_WUR;
/* Registers a PER account from the form reg completed by the identity of
 * handle: the RPPS, names and profession are the identity's (a different
 * value in the form: rule psc_claim), the site's fields fill what the form
 * leaves out. The handle is spent once every rule that needs no directory
 * holds; the PSC subject is linked to the new account at once (-EEXIST,
 * reason already_linked, when another account holds it). Then as
 * account_register: pending confirmation of the login e-mail. */
int account_register_psc(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *handle, struct account_registration *reg, struct account_registered *ret,
	struct fault *f) MM_WUR;
/* "Non" (guide 001, "Créer un compte individuel directement rattaché au
 * compte partagé en création"): the ORG form with the fields of a new
 * individual account (on the wire: the registration's keys prefixed with
 * ACCOUNT_MEMBER_PREFIX) instead of member. That account is a PER with an
 * RPPS or ADELI, else a MED ("Adresse mail visible uniquement par les
 * utilisateurs de Medimail", guide 002: "cela va créer un compte non
 * visible dans l'annuaire"); its region is the ORG's unless given. Both are
 * registered pending confirmation, each address with its link; the member
 * is the ORG's connection account and carries mmJoinOrg: the two are
 * validated together (account_validate of either, once both are
 * confirmed). A refusal of a member field names it with the prefix. */
#define ACCOUNT_MEMBER_PREFIX "member."
int account_register_org_new_member(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct account_registration *org, struct account_registration *member,
	struct account_registered *ret_org, struct account_registered *ret_member, struct fault *f) MM_WUR;

/* ---------------------------------------------------------- confirmation */

/* Confirms the login e-mail with the link's token; *ret_login (malloc'ed)
 * the account now pending validation. */
int account_confirm(struct store *s, const struct mm_config *c, const struct caller *who, const char *token,
	char **ret_login, struct fault *f) MM_WUR;
/* A new link for target (pending confirmation), the old one void. */
int account_confirm_resend(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *target, struct fault *f) MM_WUR;

/* ------------------------------------------------- validation and status */

/* What account_validate and account_convert read on their target. */
extern const char *const account_validate_attrs[];

struct account_validated {
	char mss_address[256]; /* "" for a MED, and an INT given none */
	unsigned id; /* the uid (gid for an ORG) given now; 0 when it had one */
	bool org;
	bool notice_failed; /* validated, but the notice mail was not sent */
	bool pending_publication; /* an ORG: its address waits for account_publish */
};

/* Whether the service centre gives the account an MSSanté address (guide
 * 000): a PER and an ORG always do ("donnant lieu"), a MED never does, an
 * INT only when the centre decides so ("pouvant donner lieu"): by default
 * it has none. */
enum account_mss {
	ACCOUNT_MSS_DEFAULT, /* not said: what the account's type gives */
	ACCOUNT_MSS_YES,
	ACCOUNT_MSS_NO,
};

/* "yes", "no" or NULL (not said) -> *ret; else a fault on field "mss". */
int account_mss_parse(const char *value, enum account_mss *ret, struct fault *f) MM_WUR;

/* The service centre validates a confirmed registration: MSSanté address
 * (as mss says, for an INT), uid or gid number, home, status active,
 * notice mail. */
int account_validate(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *target, enum account_mss mss, struct account_validated *ret,
	struct fault *f) MM_WUR;

/* ------------------------------------ publication, INT address, gestionnaires */

/* What account_publish reads on its target. */
extern const char *const account_publish_attrs[];
/* Guides 001/002: "Le compte sera visible dans l'annuaire santé dans les
 * 72h, après que le Centre de Services du GRADeS ait finalisé le paramétrage
 * du compte, notamment la création de l'adresse MSSanté." A validated ORG
 * keeps its MSSanté address pending (mmMssPending: in neither directory
 * view, nor the national export) until the service centre publishes it
 * here. Only a validated, active ORG with an address pending: else -EPERM
 * with reason type | account_state | published. PER and INT addresses are
 * published at once (the guides say the 72 h of the ORG only).
 * ret_address: the address published. */
int account_publish(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *target, char ret_address[256], struct fault *f) MM_WUR;

/* Guide 000, BAL INT: "Compte pouvant donner lieu à une adresse MSSanté":
 * the service centre gives a validated, active INT without one its MSSanté
 * address (read with account_mss_grant_attrs), and mails it; -EPERM with
 * reason type | account_state | has_address. */
extern const char *const account_mss_grant_attrs[];
int account_mss_grant(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *target, char ret_address[256], bool *ret_notice_failed, struct fault *f) MM_WUR;

/* What account_struct_admin_change reads on its target. */
extern const char *const account_struct_admin_attrs[];
/* Gives (add) or takes the structure administrator role of an individual
 * account for the structure type:id (both NULL: its own structure; to take,
 * both NULL takes every role). ret_key: "TYPE:ID" changed ("" for all).
 * -EPERM an ORG, or (add) an account not active; -EEXIST already; -ENOENT
 * not held; -EINVAL field struct_id. */
int account_struct_admin_change(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *target, const char *type, const char *id, bool add, char ret_key[32],
	struct fault *f) MM_WUR;

/* What account_operator_change reads on its target. */
extern const char *const account_operator_attrs[];
/* The service-centre operator role (mmRole centre-operator), given (add) or
 * taken by root only (uid 0 on the socket, no session): -EACCES another
 * caller; -EPERM an ORG or (add) an account not active; -EEXIST already;
 * -ENOENT not held. No settings row, registration or import writes mmRole
 * (it is in no catalogue entry). */
int account_operator_change(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *target, bool add, struct fault *f) MM_WUR;

/* What account_set_status reads on its target. */
extern const char *const account_status_attrs[];
/* Suspends (MM_STATUS_SUSPENDED), reactivates (MM_STATUS_ACTIVE) or closes
 * (MM_STATUS_CLOSED) target, with an optional reason; *ret_status is the
 * status written (a reactivation before validation goes back to
 * pending-validation). */
int account_set_status(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *target, const char *status, const char *reason, const char **ret_status,
	struct fault *f) MM_WUR;

/* INT -> PER once the RPPS arrives; ret_address the MSSanté address (given
 * now or kept; "" when none). */
int account_convert(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *target, const char *rpps, char ret_address[256], struct fault *f) MM_WUR;

/* ---------------------------------------------------------- ORG members */

/* Adds (add) or removes a connection account of the ORG named org: an
 * administrator, or an active connection account of that ORG (the same
 * refusal for an unknown ORG and someone else's). *ret_org and *ret_member
 * are the two accounts. */
int account_org_member_change(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *org, const char *member, bool add, struct entry **ret_org, struct entry **ret_member,
	struct fault *f) MM_WUR;

/* ------------------------------------------------------- show, list, CGU */

/* The attributes SHOW reads (the catalogue's CAT_SHOW ones; mmMember comes
 * with the identity attributes). */
extern const char *account_show_attrs[];

/* Gives each field of the account as SHOW (full) or LIST (the summary)
 * says it, in the catalogue's order, to put. */
void account_fields(const struct entry *e, bool full,
	void (*put)(void *ctx, const char *key, const char *value), void *ctx);

#define ACCOUNT_LIST_MAX 1000
/* The accounts with this status and type (NULL: any) and, with published
 * "no", only those whose MSSanté address waits for account_publish ("yes":
 * the others; else field published, rule yes_no), ACCOUNT_LIST_MAX at most,
 * read with the summary attributes; for a structure administrator, those
 * of its structures only (access_structure_scope). */
int account_list(struct store *s, const struct mm_config *c, const struct caller *who, const char *status,
	const char *type, const char *published, struct entry ***ret_v, size_t *ret_n,
	struct fault *f) MM_WUR;

/* What account_cgu_accept reads on its target. */
extern const char *const account_cgu_attrs[];
/* Records the acceptance of the terms of use once; ret_stamp its date. */
int account_cgu_accept(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *target, char ret_stamp[16], struct fault *f) MM_WUR;
