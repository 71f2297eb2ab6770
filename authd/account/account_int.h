/* What the account services share among themselves (not for other folders). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "account.h"
#include "accounts.h"

#define ACCOUNT_MAX_CANDIDATES 200
#define ACCOUNT_HOST_VIEW_AGE 5 /* seconds */

long long account_now(void);
/* Is an account with this value already registered (any status, closed included)? */
int account_exists_with(
	struct store *s, const struct mm_config *c, const char *attr, const char *value, bool *ret) MM_WUR;
/* The rule of names.h on the name the name service would serve for this
 * login (a user, or the group of an ORG, written to name): NULL when it
 * may be served, else the rule that refuses it. */
const char *account_login_refusal(
	const struct mm_config *c, bool org, const char *login, char *name, size_t namesz);
/* 0, or f naming field and rule when the login's name may not be served. */
int account_login_servable(const struct mm_config *c, bool org, const char *login, const char *field,
	const char *label, struct fault *f) MM_WUR;
/* The registration's login e-mail or RPPS already registered: -EEXIST
 * (field, rule duplicate), as account_register says (register.c), for a
 * door that must know before it spends a single-use credential. */
int account_registration_duplicates(struct store *s, const struct mm_config *c,
	const struct account_registration *reg, struct fault *f) MM_WUR;
/* Mails the confirmation link of token to `to`. */
int account_send_confirmation(const struct mm_config *c, const char *to, const char *token) MM_WUR;
/* The MSSanté address of a validated account: the first free candidate,
 * written to the entry and to out. */
int account_assign_address(
	struct store *s, const struct mm_config *c, const struct entry *e, char *out, size_t outsz) MM_WUR;
/* The second step of account_org_proof_start: the code of member's
 * transaction txn, verified and spent as the login's; *ret the member. */
int account_org_proof_finish(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *member, const char *txn, const char *code, struct entry **ret, struct fault *f) MM_WUR;
/* "Créer un compte de connexion" (fiche réflexe): may who register an
 * individual account attached to the ORG called name once validated (an
 * administrator, or an active connection account of that active ORG; the
 * same -EACCES for an unknown ORG and someone else's)? *ret the ORG. */
int account_org_join_check(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *name, struct entry **ret, struct fault *f) MM_WUR;
/* Before the validation of e: 0, or -EPERM when e was registered with its
 * ORG or its connection account ("Non") and that one has not confirmed its
 * address yet (the two are validated together). */
int account_org_joint_ready(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, struct fault *f) MM_WUR;
/* After the validation of e. An individual account registered for an ORG
 * (mmJoinOrg) becomes its connection account, unless that ORG is gone or
 * closed meanwhile; mmJoinOrg is removed. The account registered together
 * with e ("Non"), confirmed, is validated with it. */
void account_org_join_validated(
	struct store *s, const struct mm_config *c, const struct caller *who, const struct entry *e);
