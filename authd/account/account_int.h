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
