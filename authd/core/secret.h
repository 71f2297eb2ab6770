/* Secrets: argon2id password hashes, keyed hashes of tokens and codes, random tokens. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define MM_WUR __attribute__((warn_unused_result))
#define SECRET_HASH_HEX 65 /* 32-byte keyed hash as hex + NUL */
#define SECRET_TOKEN_HEX 65 /* 32 random bytes as hex + NUL */
#define SECRET_PWHASH_MAX 160

/* Loads the shared hashing key (64 hex characters, file mode 0600 or
 * stricter, owned by the caller's euid or root). */
int secret_init(const char *key_file, unsigned long long opslimit, size_t memlimit, unsigned parallel,
	char *errbuf, size_t errlen) MM_WUR;
void secret_cleanup(void);

/* "{ARGON2}$argon2id$v=19$m=...,t=...,p=1$salt$hash" (what slapd's argon2
 * module verifies). Blocks while argon2_parallel hashes already run. */
int secret_password_hash(const char *password, char out[SECRET_PWHASH_MAX]) MM_WUR;
/* 0 when the password matches the stored {ARGON2} value; -EACCES otherwise. */
int secret_password_verify(const char *stored, const char *password) MM_WUR;
/* A keyed BLAKE2b of (context, value) as lowercase hex: for tokens and codes at rest. */
int secret_keyed_hash(const char *context, const char *value, char out[SECRET_HASH_HEX]) MM_WUR;
/* Constant-time comparison of two NUL-terminated hex strings of equal length. */
bool secret_equal(const char *a, const char *b);
void secret_token(char out[SECRET_TOKEN_HEX]);
/* A uniformly random decimal code of ndigits (<= 9) digits. */
void secret_code(char *out, size_t outsz, unsigned ndigits);
void secret_wipe(void *p, size_t n);
/* Wipes a NUL-terminated string and frees it; accepts NULL. */
void secret_free(char *s);
