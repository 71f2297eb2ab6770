/* Offline login: a local copy of an account's argon2id verifier, kept after an online login. */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "store.h"

struct offline_rec {
	char login[256];
	char mail[256];
	char address[256]; /* MSSanté address, else login e-mail */
	char verifier[256]; /* the {ARGON2} value of the directory */
	long long stamp; /* last online login */
	bool cgu; /* terms of use accepted */
};

/* After an online login (password + code): keeps e's verifier under its
 * login and its login e-mail. e needs uid, mmLoginMail, userPassword. */
int offline_store(const struct mm_config *c, const struct entry *e) __attribute__((warn_unused_result));
/* The record of a login or login e-mail still within offline_ttl; -ENOENT otherwise. */
int offline_load(const struct mm_config *c, const char *ident, struct offline_rec *ret)
	__attribute__((warn_unused_result));
/* The terms of use were accepted: so says an existing record (login). */
int offline_mark_cgu(const struct mm_config *c, const char *login) __attribute__((warn_unused_result));
/* Forgets an account (password changed, account refused online). */
void offline_forget(const struct mm_config *c, const struct entry *e);
void offline_rec_wipe(struct offline_rec *rec);

/* Offline failures of a login (its record's login), kept in a file beside
 * the record, so that they survive restarts and never share a slot.  The
 * attempt is reserved before the password is verified: -ENOLCK when the
 * login is locked (*ret_until its end, or 0 when the attempts left are all
 * in flight). */
int offline_attempt_reserve(const struct mm_config *c, const char *login, long long *ret_until,
	unsigned *ret_n) __attribute__((warn_unused_result));
/* The reserved attempt failed: locks at lockout_threshold (*ret_until). */
int offline_attempt_failed(const struct mm_config *c, const char *login, long long *ret_until)
	__attribute__((warn_unused_result));
/* The right password, attempt n (*ret_n of the reservation): the failures
 * up to it are forgiven, not the attempts reserved since (in flight, or
 * failed). n 0: all of them (a login with the password and the code). */
int offline_attempt_reset(const struct mm_config *c, const char *login, unsigned n)
	__attribute__((warn_unused_result));
