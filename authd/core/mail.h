/* Outgoing e-mail through an SMTP server (libcurl): codes, confirmation links, notices. */
#pragma once

#include "config.h"

/* Sends a UTF-8 text/plain message. -ECOMM when the server cannot be
 * reached or refuses it; the message names no secret in logs. */
int mail_send(const struct mm_config *c, const char *to, const char *subject, const char *body)
	__attribute__((warn_unused_result));
/* Writes an RFC 2047 encoded-word form of s when it is not plain ASCII. */
int mail_encode_header(const char *s, char *out, size_t outsz);
