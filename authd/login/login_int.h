/* Helpers shared by the login services' files (not for other folders). */
#pragma once

#include "login.h"
#include "protocol.h"

#define LOGIN_USER_MAX 254

/* Service and remote host as audit and IA5 attributes take them, else NULL. */
const char *login_printable(const char *s);
/* The configured delay after a failure. */
void login_fail_delay(const struct mm_config *c);
/* Spends the argon2id work of a password check on nothing. */
void login_dummy_verify(const char *password);
/* The account the request field "user" names, through the one access rule
 * (access_resolve, ACCESS_SELF): an administrator names anyone, another
 * caller only itself (its own account when it names none); an unknown
 * account and someone else's both -ENOENT. */
int login_find(struct store *s, const struct mm_config *c, const struct caller *who, const char *event,
	const char *user, const char *const *attrs, struct entry **ret, struct fault *f) MM_WUR;
/* -ENOLCK "compte verrouillé", with locked_until when until is known. */
int login_locked_fault(long long until, struct fault *f);
