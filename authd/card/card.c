/* CPS card login: runs the PKCS#11 helper, checks the certificate and the signature, maps the card to an account. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sodium.h>

#include "../card/cardproto.h"
#include "card.h"
#include "daemon.h"
#include "log.h"
#include "login.h"
#include "secret.h"
#include "validate.h"

#define FP_LEN (7 + 64) /* "sha256:" + hex */

extern char **environ;

/* ------------------------------------------------------------ parsing */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int hex_decode(const char *s, unsigned char *out, size_t max, size_t *ret_len)
{
	size_t n = strlen(s);

	if (n % 2 || n / 2 > max)
		return -EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		int h = hexval(s[2 * i]), l = hexval(s[2 * i + 1]);
		if (h < 0 || l < 0)
			return -EINVAL;
		out[i] = (unsigned char)(h * 16 + l);
	}
	*ret_len = n / 2;
	return 0;
}

static void hex_encode(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static void copy_word(char *dst, size_t dstsz, const char *src)
{
	size_t n = 0;

	/* Results and labels are short words; anything else is refused by the caller. */
	while (src && src[n] && n + 1 < dstsz)
		n++;
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

void card_answer_clear(struct card_answer *a)
{
	free(a->cert);
	sodium_memzero(a, sizeof(*a));
}

int card_answer_parse(const struct mm_msg *m, struct card_answer *ret)
{
	const char *result = mm_msg_get(m, "result"), *tries = mm_msg_get(m, "tries");
	const char *token = mm_msg_get(m, "token"), *cert = mm_msg_get(m, "cert"),
		   *sig = mm_msg_get(m, "sig");
	struct card_answer a = {0};

	memset(ret, 0, sizeof(*ret));
	if (!m->reply || !result || strlen(result) >= sizeof(a.result) ||
		strspn(result, "abcdefghijklmnopqrstuvwxyz_") != strlen(result))
		return -EBADMSG;
	if (tries && strcmp(tries, "low") && strcmp(tries, "final"))
		return -EBADMSG;
	if (mm_msg_get(m, "pin_tried") && strcmp(mm_msg_get(m, "pin_tried"), "yes"))
		return -EBADMSG;
	a.pin_tried = mm_msg_get(m, "pin_tried") != NULL;
	if (token && (strlen(token) >= sizeof(a.token) || validate_text(token, sizeof(a.token) - 1) < 0))
		return -EBADMSG;
	copy_word(a.result, sizeof(a.result), result);
	copy_word(a.tries, sizeof(a.tries), tries);
	copy_word(a.token, sizeof(a.token), token);
	if (!strcmp(result, "ok") && (!cert || !sig || !*cert || !*sig))
		return -EBADMSG;
	/* A read (MM_CARD_OP_READ) answers "present" with the certificate alone. */
	if (!strcmp(result, "ok") || (!strcmp(result, "present") && cert)) {
		if (!*cert)
			return -EBADMSG;
		a.cert = malloc(strlen(cert) / 2 + 1);
		if (!a.cert)
			return -ENOMEM;
		if (hex_decode(cert, a.cert, MM_CARD_CERT_MAX, &a.cert_len) < 0 ||
			(sig && hex_decode(sig, a.sig, sizeof(a.sig), &a.sig_len) < 0)) {
			card_answer_clear(&a);
			return -EBADMSG;
		}
	}
	*ret = a;
	return 0;
}

/* An AVA value as UTF-8 text without control characters. */
static int ava_text(const gnutls_x509_ava_st *ava, char *out, size_t outsz)
{
	const unsigned char *p = ava->value.data;
	size_t n = ava->value.size, o = 0;

	switch (ava->value_tag) {
	case 12: /* UTF8String */
	case 19: /* PrintableString */
	case 22: /* IA5String */
		if (n >= outsz)
			return -EINVAL;
		memcpy(out, p, n);
		o = n;
		break;
	case 20: /* TeletexString: read as Latin-1, as the old cards wrote it */
		for (size_t i = 0; i < n; i++) {
			if (o + 3 > outsz)
				return -EINVAL;
			if (p[i] < 0x80) {
				out[o++] = (char)p[i];
			} else {
				out[o++] = (char)(0xc0 | (p[i] >> 6));
				out[o++] = (char)(0x80 | (p[i] & 0x3f));
			}
		}
		break;
	case 30: /* BMPString: UCS-2 big-endian, no surrogates */
		if (n % 2)
			return -EINVAL;
		for (size_t i = 0; i < n; i += 2) {
			unsigned u = (unsigned)p[i] << 8 | p[i + 1];
			if (u >= 0xd800 && u <= 0xdfff)
				return -EINVAL;
			if (o + 4 > outsz)
				return -EINVAL;
			if (u < 0x80) {
				out[o++] = (char)u;
			} else if (u < 0x800) {
				out[o++] = (char)(0xc0 | (u >> 6));
				out[o++] = (char)(0x80 | (u & 0x3f));
			} else {
				out[o++] = (char)(0xe0 | (u >> 12));
				out[o++] = (char)(0x80 | ((u >> 6) & 0x3f));
				out[o++] = (char)(0x80 | (u & 0x3f));
			}
		}
		break;
	default: return -EINVAL;
	}
	out[o] = '\0';
	if (memchr(out, '\0', o) || validate_utf8(out, o) < 0)
		return -EINVAL;
	for (size_t i = 0; i < o; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			return -EINVAL;
	return 0;
}

static bool oid_is(const gnutls_x509_ava_st *ava, const char *oid)
{
	size_t n = ava->oid.size;

	/* gnutls may count the terminating NUL */
	if (n > 0 && ava->oid.data[n - 1] == '\0')
		n--;
	return n == strlen(oid) && !memcmp(ava->oid.data, oid, n);
}

int card_subject_parse(const unsigned char *der, size_t len, struct card_subject *ret)
{
	static const struct {
		const char *oid;
		size_t off;
	} wanted[] = {
		{"2.5.4.3", offsetof(struct card_subject, cn)},
		{"2.5.4.4", offsetof(struct card_subject, sn)},
		{"2.5.4.42", offsetof(struct card_subject, gn)},
		{"2.5.4.12", offsetof(struct card_subject, title)},
		{"2.5.4.6", offsetof(struct card_subject, c)},
	};
	struct card_subject s = {0};
	gnutls_x509_dn_t dn = NULL;
	gnutls_datum_t d = {(unsigned char *)der, (unsigned)len};
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	if (len == 0 || len > 64 * 1024)
		return -EBADMSG;
	if (gnutls_x509_dn_init(&dn) < 0)
		return -ENOMEM;
	if (gnutls_x509_dn_import(dn, &d) < 0) {
		r = -EBADMSG;
		goto out;
	}
	for (int irdn = 0; irdn < 64; irdn++) {
		int iava;
		for (iava = 0; iava < 16; iava++) {
			gnutls_x509_ava_st ava;
			int g = gnutls_x509_dn_get_rdn_ava(dn, irdn, iava, &ava);

			if (g == GNUTLS_E_ASN1_ELEMENT_NOT_FOUND)
				break;
			if (g < 0) {
				r = -EBADMSG;
				goto out;
			}
			if (oid_is(&ava, "2.5.4.11")) {
				if (!s.ou[0] && ava_text(&ava, s.ou, sizeof(s.ou)) < 0) {
					r = -EINVAL;
					goto out;
				}
				continue;
			}
			for (size_t w = 0; w < sizeof(wanted) / sizeof(wanted[0]); w++) {
				char *dst = (char *)&s + wanted[w].off;
				if (!oid_is(&ava, wanted[w].oid))
					continue;
				/* A repeated CN would make the identity ambiguous. */
				if (*dst || ava_text(&ava, dst, CARD_FIELD_MAX) < 0 || !*dst) {
					r = -EINVAL;
					goto out;
				}
			}
		}
		if (iava == 0)
			break;
	}
	if (s.cn[0] == '8' && strlen(s.cn) == 12 && strspn(s.cn + 1, "0123456789") == 11 &&
		validate_rpps(s.cn + 1) == 0) {
		s.kind = CARD_ID_RPPS;
		memcpy(s.id, s.cn + 1, 12);
	} else if (s.cn[0] == '0' && strlen(s.cn) == 10 && validate_adeli(s.cn + 1) == 0) {
		s.kind = CARD_ID_ADELI;
		memcpy(s.id, s.cn + 1, 10);
	}
	*ret = s;
out:
	gnutls_x509_dn_deinit(dn);
	return r;
}

/* ------------------------------------------------------------ the helper */

struct helper {
	pid_t pid;
	int fd;
};

/* Starts path with argv and envp: default signal dispositions and an empty mask (the daemon's
 * threads block its signals), fds 0 and 1 on io (or /dev/null), stderr on /dev/null, nothing else. */
static int spawn_clean(const char *path, char *const argv[], char *const envp[], int io, pid_t *ret_pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, def;
	int r;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGHUP);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGCHLD);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (io >= 0) {
		posix_spawn_file_actions_adddup2(&fa, io, 0);
		posix_spawn_file_actions_adddup2(&fa, io, 1);
	} else {
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	}
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	r = posix_spawn(ret_pid, path, &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return -r;
}

static int helper_start(const struct mm_config *c, struct helper *ret)
{
	char *argv[] = {(char *)"medimail-card", NULL};
	int sv[2], r;

	ret->pid = -1;
	ret->fd = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	/* The environment passes through: PKCS#11 modules read theirs (OPENSC_CONF, SOFTHSM2_CONF). */
	r = spawn_clean(c->card_helper, argv, environ, sv[1], &ret->pid);
	close(sv[1]);
	if (r < 0) {
		close(sv[0]);
		ret->pid = -1;
		return r;
	}
	ret->fd = sv[0];
	return 0;
}

static void helper_stop(struct helper *h)
{
	if (h->fd >= 0)
		close(h->fd);
	if (h->pid > 0) {
		/* Give it a moment to exit on its own, then kill it. */
		for (int i = 0; i < 20; i++) {
			if (waitpid(h->pid, NULL, WNOHANG) == h->pid) {
				h->pid = -1;
				break;
			}
			usleep(10000);
		}
		if (h->pid > 0) {
			kill(h->pid, SIGKILL);
			waitpid(h->pid, NULL, 0);
		}
	}
	h->pid = -1;
	h->fd = -1;
}

static int add_common(const struct mm_config *c, struct mm_msg *m)
{
	int r = mm_msg_add(m, "module", c->card_module);

	if (r == 0 && c->card_token && *c->card_token)
		r = mm_msg_add(m, "token", c->card_token);
	if (r == 0 && c->card_reader && *c->card_reader)
		r = mm_msg_add(m, "reader", c->card_reader);
	return r;
}

/* Asks the card to sign challenge; the helper is killed on timeout. The
 * helper sends the PIN only to a card that holds expect (expect_len bytes of
 * DER, the certificate read before), else answers "card_changed". */
static int card_sign(const struct mm_config *c, const char *pin, const unsigned char *expect,
	size_t expect_len, const unsigned char *chal, size_t chal_len, struct card_answer *ret)
{
	struct helper h;
	struct mm_msg *req = mm_msg_new(MM_CARD_OP_SIGN, false), *rep = NULL;
	char hex[2 * MM_CARD_CHALLENGE_MAX + 1], *expect_hex = NULL;
	int r;

	if (!req)
		return -ENOMEM;
	if (!(expect_hex = malloc(2 * expect_len + 1))) {
		mm_msg_free(req);
		return -ENOMEM;
	}
	hex_encode(expect, expect_len, expect_hex);
	hex_encode(chal, chal_len, hex);
	r = add_common(c, req);
	if (r == 0)
		r = mm_msg_add(req, "cert_label", c->card_cert_label);
	if (r == 0)
		r = mm_msg_add(req, "expect_cert", expect_hex);
	free(expect_hex);
	if (r == 0)
		r = mm_msg_add(req, "challenge", hex);
	if (r == 0)
		r = mm_msg_add(req, "pin", pin);
	if (r < 0) {
		mm_msg_free(req);
		return r;
	}
	r = helper_start(c, &h);
	if (r == 0)
		r = mm_msg_send(h.fd, req, (int)c->card_timeout * 1000);
	mm_msg_free(req); /* wipes the PIN */
	if (r == 0)
		r = mm_msg_recv(h.fd, true, (int)c->card_timeout * 1000, &rep);
	helper_stop(&h);
	if (r == 0 && rep->code != MM_CARD_OP_SIGN)
		r = -EPROTO;
	if (r == 0)
		r = card_answer_parse(rep, ret);
	mm_msg_free(rep);
	return r;
}

/* One question to the helper without a PIN (op PRESENT or READ; READ also
 * names the certificate to read): 0 with ret->result "present" (and, for
 * READ, the certificate) or why not. */
static int card_ask(const struct mm_config *c, uint16_t op, struct card_answer *ret)
{
	struct helper h;
	struct mm_msg *req = mm_msg_new(op, false), *rep = NULL;
	int r;

	if (!req)
		return -ENOMEM;
	r = add_common(c, req);
	if (r == 0 && op == MM_CARD_OP_READ)
		r = mm_msg_add(req, "cert_label", c->card_cert_label);
	if (r == 0)
		r = helper_start(c, &h);
	if (r == 0) {
		r = mm_msg_send(h.fd, req, (int)c->card_timeout * 1000);
		if (r == 0)
			r = mm_msg_recv(h.fd, true, (int)c->card_timeout * 1000, &rep);
		helper_stop(&h);
	}
	mm_msg_free(req);
	if (r == 0 && rep->code != op)
		r = -EPROTO;
	if (r == 0)
		r = card_answer_parse(rep, ret);
	if (r == 0 && op == MM_CARD_OP_READ && !strcmp(ret->result, "present") && !ret->cert) {
		card_answer_clear(ret);
		r = -EBADMSG;
	}
	mm_msg_free(rep);
	return r;
}

/* ------------------------------------------------------------ certificate checks */

struct card_proof {
	gnutls_x509_crt_t crt;
	struct card_subject subject;
	char fingerprint[FP_LEN + 1];
	char subject_dn[1024];
	char token[40];
	long long not_before, not_after;
};

static void proof_clear(struct card_proof *p)
{
	if (p->crt)
		gnutls_x509_crt_deinit(p->crt);
	memset(p, 0, sizeof(*p));
}

static int load_crls(gnutls_x509_trust_list_t tl, const char *path)
{
	gnutls_datum_t d = {NULL, 0};
	gnutls_x509_crl_t *crls = NULL;
	unsigned n = 0;
	int r;

	if (gnutls_load_file(path, &d) < 0)
		return -ENOENT;
	r = gnutls_x509_crl_list_import2(&crls, &n, &d,
		memmem(d.data, d.size, "-----BEGIN", 10) ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER, 0);
	gnutls_free(d.data);
	if (r < 0)
		return -EBADMSG;
	/* Only CRLs signed by a trust anchor count; the list takes ownership. */
	r = gnutls_x509_trust_list_add_crls(tl, crls, n, GNUTLS_TL_VERIFY_CRL, 0);
	gnutls_free(crls);
	return r < 0 ? -EBADMSG : 0;
}

static const char *verify_reason(unsigned status)
{
	if (status & GNUTLS_CERT_REVOKED)
		return "revoked";
	if (status & GNUTLS_CERT_EXPIRED)
		return "expired";
	if (status & GNUTLS_CERT_NOT_ACTIVATED)
		return "not_yet_valid";
	if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA))
		return "unknown_ca";
	return "invalid_cert";
}

/* Checks chain, dates, revocation, key usage and the signature of chal. NULL when all is well. */
static const char *card_check(const struct mm_config *c, const struct card_answer *a,
	const unsigned char *chal, size_t chal_len, struct card_proof *p)
{
	gnutls_x509_trust_list_t tl = NULL;
	gnutls_pubkey_t pk = NULL;
	gnutls_datum_t der = {a->cert, (unsigned)a->cert_len}, dn = {NULL, 0}, str = {NULL, 0};
	gnutls_datum_t data = {(unsigned char *)chal, (unsigned)chal_len},
		       sig = {(unsigned char *)a->sig, (unsigned)a->sig_len};
	unsigned char fp[32];
	size_t fplen = sizeof(fp);
	unsigned status = 0, ku = 0, bits = 0;
	const char *why = NULL;

	if (gnutls_x509_crt_init(&p->crt) < 0 ||
		gnutls_x509_crt_import(p->crt, &der, GNUTLS_X509_FMT_DER) < 0)
		return "invalid_cert";
	if (gnutls_x509_crt_get_fingerprint(p->crt, GNUTLS_DIG_SHA256, fp, &fplen) < 0 || fplen != 32)
		return "invalid_cert";
	memcpy(p->fingerprint, "sha256:", 7);
	hex_encode(fp, 32, p->fingerprint + 7);
	copy_word(p->token, sizeof(p->token), a->token);
	p->not_before = (long long)gnutls_x509_crt_get_activation_time(p->crt);
	p->not_after = (long long)gnutls_x509_crt_get_expiration_time(p->crt);
	if (gnutls_x509_crt_get_dn3(p->crt, &str, 0) >= 0) {
		snprintf(p->subject_dn, sizeof(p->subject_dn), "%.*s", (int)str.size, (const char *)str.data);
		gnutls_free(str.data);
	}
	if (!c->card_ca_file || !*c->card_ca_file) {
		log_msg(LOG_ERR, "card_ca_file is not set: no card can be trusted");
		return "unknown_ca";
	}
	if (gnutls_x509_trust_list_init(&tl, 0) < 0)
		return "card_error";
	if (gnutls_x509_trust_list_add_trust_file(tl, c->card_ca_file, NULL, GNUTLS_X509_FMT_PEM, 0, 0) <=
		0) {
		log_msg(LOG_ERR, "card_ca_file %s: no certificate loaded", c->card_ca_file);
		why = "card_error";
		goto out;
	}
	for (size_t i = 0; i < c->ncard_crl_files; i++)
		if (load_crls(tl, c->card_crl_files[i]) < 0) {
			/* A CRL we cannot read must not let a revoked card in. */
			log_msg(LOG_ERR, "card_crl_file %s: cannot load", c->card_crl_files[i]);
			why = "card_error";
			goto out;
		}
	if (gnutls_x509_trust_list_verify_crt2(tl, &p->crt, 1, NULL, 0, 0, &status, NULL) < 0) {
		why = "invalid_cert";
		goto out;
	}
	if (status) {
		why = verify_reason(status);
		goto out;
	}
	if (gnutls_x509_crt_get_key_usage(p->crt, &ku, NULL) < 0 || !(ku & GNUTLS_KEY_DIGITAL_SIGNATURE)) {
		why = "key_usage";
		goto out;
	}
	if (gnutls_x509_crt_get_raw_dn(p->crt, &dn) < 0 ||
		card_subject_parse(dn.data, dn.size, &p->subject) < 0) {
		why = "invalid_cert";
		goto out;
	}
	if (gnutls_pubkey_init(&pk) < 0 || gnutls_pubkey_import_x509(pk, p->crt, 0) < 0 ||
		gnutls_pubkey_get_pk_algorithm(pk, &bits) != GNUTLS_PK_RSA || bits < 2048) {
		why = "invalid_cert";
		goto out;
	}
	if (gnutls_pubkey_verify_data2(pk, GNUTLS_SIGN_RSA_SHA256, 0, &data, &sig) < 0)
		why = "bad_signature";
out:
	gnutls_free(dn.data);
	gnutls_pubkey_deinit(pk);
	gnutls_x509_trust_list_deinit(tl, 1);
	return why;
}

/* ------------------------------------------------------------ requests */

static const char *const card_attrs[] = {"uid", "mmStatus", "mmAccountType", "uidNumber", "mmRpps", "mmAdeli",
	"mmCardCert", "mmCardInfo", "mmLoginMail", NULL};

static const char *get(const struct req *r, const char *key)
{
	const char *v = mm_msg_get(r->in, key);

	return v && *v ? v : NULL;
}

/* With the PAM service and remote host when the request carries them. */
static void audit_card(
	const struct req *r, const char *event, const char *account, bool ok, const char *reason)
{
	login_audit(r, event, "cps", account, ok, reason);
}

static const char *login_mail_of(const struct entry *e)
{
	const char *v = entry_get(e, "mmLoginMail");

	return v ? v : "";
}

static int find_by(struct req *r, const char *attr, const char *value, const char *extra, struct entry **ret)
{
	char *esc = store_escape(value), *filter = NULL;
	int rc;

	*ret = NULL;
	if (!esc || asprintf(&filter, "(&(objectClass=mmAccount)%s(%s=%s))", extra, attr, esc) < 0) {
		free(esc);
		return -ENOMEM;
	}
	rc = store_search_one(r->store, r->cfg->ldap_base, LDAP_SCOPE_SUBTREE, filter, card_attrs, ret);
	free(esc);
	free(filter);
	return rc;
}

static int find_login(struct req *r, const char *login, struct entry **ret)
{
	int rc = find_by(r, "uid", login, "", ret);

	if (rc == -ENOENT)
		rc = find_by(r, "mmLoginMail", login, "", ret);
	return rc;
}

static int find_caller(struct req *r, struct entry **ret)
{
	char uid[16];

	snprintf(uid, sizeof(uid), "%u", (unsigned)r->who.uid);
	return find_by(r, "uidNumber", uid, "(!(mmAccountType=ORG))", ret);
}

static int store_refusal(struct req *r, int rc)
{
	if (rc == -EHOSTDOWN)
		return req_fail(r, rc, "annuaire indisponible, réessayez plus tard");
	if (rc == -ENOTUNIQ)
		return req_fail(r, -EIO, "identifiant ambigu dans l'annuaire");
	if (rc == -ENOENT)
		return req_fail(r, rc, "compte introuvable");
	log_msg(LOG_ERR, "card: directory error %s", strerror(-rc));
	return req_fail(r, rc, "erreur de l'annuaire");
}

static int helper_refusal(struct req *r, const struct card_answer *a)
{
	const char *res = a->result;

	req_put(r, "reason", res);
	if (!strcmp(res, "pin_incorrect")) {
		if (a->tries[0])
			req_put(r, "tries", a->tries);
		return req_fail(r, -EACCES, "code PIN incorrect%s",
			!strcmp(a->tries, "final")         ? " : dernier essai avant blocage de la carte"
				: !strcmp(a->tries, "low") ? " : peu d'essais restants"
							   : "");
	}
	if (!strcmp(res, "pin_locked"))
		return req_fail(r, -ENOLCK,
			"carte CPS bloquée : code PIN saisi trop de fois (déblocage avec le code PUK)");
	if (!strcmp(res, "pin_invalid"))
		return req_fail(r, -EINVAL, "code PIN de longueur invalide");
	if (!strcmp(res, "card_changed"))
		return req_fail(r, -EAGAIN, "la carte a changé pendant la lecture : recommencez");
	if (!strcmp(res, "no_card"))
		return req_fail(r, -ENODEV, "aucune carte CPS dans le lecteur");
	if (!strcmp(res, "no_reader"))
		return req_fail(r, -ENODEV, "lecteur de carte introuvable");
	if (!strcmp(res, "no_cert"))
		return req_fail(r, -ENOENT, "la carte ne porte pas de certificat d'authentification");
	if (!strcmp(res, "no_key"))
		return req_fail(r, -ENOENT, "la carte ne porte pas la clé du certificat d'authentification");
	return req_fail(r, -EIO, "erreur du module PKCS#11 de la carte");
}

static int check_refusal(struct req *r, const char *why)
{
	static const struct {
		const char *why, *msg;
	} msgs[] = {
		{"expired", "certificat de la carte expiré"},
		{"not_yet_valid", "certificat de la carte pas encore valide"},
		{"unknown_ca", "certificat émis par une autorité non reconnue"},
		{"revoked", "certificat de la carte révoqué"},
		{"key_usage", "certificat non prévu pour l'authentification"},
		{"bad_signature", "signature de la carte invalide : la clé ne correspond pas au certificat"},
		{"invalid_cert", "certificat de la carte invalide"},
	};

	req_put(r, "reason", why);
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		if (!strcmp(msgs[i].why, why))
			return req_fail(r, -EACCES, "%s", msgs[i].msg);
	return req_fail(r, -EIO, "vérification de la carte impossible");
}

/* The card in the reader, read before its PIN is tried. */
struct card_seen {
	char fingerprint[FP_LEN + 1];
	struct card_subject subject;
	char tries[8]; /* "", "low" or "final", as the token tells */
	unsigned char *cert; /* its certificate (DER): the PIN goes to no other card */
	size_t cert_len;
	char owner[128]; /* the account it maps to, "" if none: named in the audit */
	long long prior; /* wrong PINs the count held before this try */
};

static void seen_clear(struct card_seen *s)
{
	free(s->cert);
	memset(s, 0, sizeof(*s));
}

/* Runs the card seen with pin and checks what it returns. 0 with *p filled, or a refusal already in the reply.
 * *ret_tried: whether the card may have seen the PIN (also when the helper did not answer). */
static int card_prove(struct req *r, const char *event, const char *account, const struct card_seen *seen,
	struct card_proof *p, bool *ret_tried)
{
	unsigned char chal[32];
	struct card_answer a;
	const char *why;
	int rc;

	memset(p, 0, sizeof(*p));
	*ret_tried = true;
	randombytes_buf(chal, sizeof(chal));
	rc = card_sign(r->cfg, get(r, "pin"), seen->cert, seen->cert_len, chal, sizeof(chal), &a);
	if (rc < 0) {
		log_msg(LOG_ERR, "card helper %s: %s", r->cfg->card_helper, strerror(-rc));
		audit_card(r, event, account, false, rc == -ETIMEDOUT ? "card_timeout" : "card_error");
		req_put(r, "reason", rc == -ETIMEDOUT ? "card_timeout" : "card_error");
		return req_fail(r, rc == -ETIMEDOUT ? -ETIMEDOUT : -EIO, "lecture de la carte impossible");
	}
	*ret_tried = a.pin_tried;
	if (strcmp(a.result, "ok")) {
		audit_card(r, event, account, false, a.result);
		rc = helper_refusal(r, &a);
		card_answer_clear(&a);
		return rc;
	}
	why = card_check(r->cfg, &a, chal, sizeof(chal), p);
	card_answer_clear(&a);
	if (why) {
		char reason[128];
		snprintf(reason, sizeof(reason), "%s %s", why, p->fingerprint[0] ? p->fingerprint : "");
		audit_card(r, event, account, false, reason);
		proof_clear(p);
		return check_refusal(r, why);
	}
	return 0;
}

/* ------------------------------------------------------------ PIN tries per card */

/* Which card is there (certificate and PIN flags, no PIN). 0, or the refusal in the reply. */
static int card_see(struct req *r, const char *event, const char *account, struct card_seen *ret)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	struct card_answer a;
	int rc;

	memset(ret, 0, sizeof(*ret));
	rc = card_ask(r->cfg, MM_CARD_OP_READ, &a);
	if (rc < 0) {
		log_msg(LOG_ERR, "card helper %s: %s", r->cfg->card_helper, strerror(-rc));
		audit_card(r, event, account, false, rc == -ETIMEDOUT ? "card_timeout" : "card_error");
		req_put(r, "reason", rc == -ETIMEDOUT ? "card_timeout" : "card_error");
		return req_fail(r, rc == -ETIMEDOUT ? -ETIMEDOUT : -EIO, "lecture de la carte impossible");
	}
	if (strcmp(a.result, "present")) {
		audit_card(r, event, account, false, a.result);
		rc = helper_refusal(r, &a);
		card_answer_clear(&a);
		return rc;
	}
	crypto_hash_sha256(h, a.cert, a.cert_len);
	memcpy(ret->fingerprint, "sha256:", 7);
	hex_encode(h, sizeof(h), ret->fingerprint + 7);
	{
		gnutls_x509_crt_t crt = NULL;
		gnutls_datum_t der = {a.cert, (unsigned)a.cert_len}, dn = {NULL, 0};

		/* Unreadable: no national id to map by (the proof refuses such a certificate). */
		if (gnutls_x509_crt_init(&crt) < 0 ||
			gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER) < 0 ||
			gnutls_x509_crt_get_raw_dn(crt, &dn) < 0 ||
			card_subject_parse(dn.data, dn.size, &ret->subject) < 0)
			memset(&ret->subject, 0, sizeof(ret->subject));
		gnutls_free(dn.data);
		if (crt)
			gnutls_x509_crt_deinit(crt);
	}
	copy_word(ret->tries, sizeof(ret->tries), a.tries);
	ret->cert = a.cert; /* moves */
	ret->cert_len = a.cert_len;
	a.cert = NULL;
	card_answer_clear(&a);
	return 0;
}

static int pin_count_dn(const struct req *r, const struct card_seen *seen, char **ret)
{
	char hash[SECRET_HASH_HEX];

	*ret = NULL;
	if (secret_keyed_hash("card-pin", seen->fingerprint, hash) < 0)
		return -EIO;
	if (asprintf(ret, "mmSessionId=%s,ou=sessions,%s", hash, r->cfg->ldap_base) < 0) {
		*ret = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Reserves one PIN try of this card in the directory (so that every daemon
 * counts it), before the card sees the PIN: increment, then compare. A count
 * lasts card_pin_lockout seconds from its first try, or until a right PIN.
 * 0 with the try reserved, or the refusal in the reply. */
static int pin_try_reserve(struct req *r, const char *event, const char *account, struct card_seen *seen)
{
	static const char *const attrs[] = {"mmSessionExpires", NULL};
	struct entry *e = NULL;
	char *dn = NULL, expires[16], hash[SECRET_HASH_HEX];
	long long n = 0;
	int rc;

	if ((rc = pin_count_dn(r, seen, &dn)) < 0)
		return rc;
	rc = store_read(store_counters(r->store), dn, attrs, &e);
	if (rc == 0 && entry_get(e, "mmSessionExpires") &&
		store_parse_time(entry_get(e, "mmSessionExpires")) <= login_now()) {
		struct mods m;

		/* A lapsed count starts again in place, and only once: the old expiry
		 * is the compare. Deleting it instead would also delete the fresh count
		 * a parallel request just made, and both would count from 1. */
		store_time(login_now() + r->cfg->card_pin_lockout, expires);
		mods_init(&m);
		mods_add(&m, LDAP_MOD_DELETE, "mmSessionExpires", entry_get(e, "mmSessionExpires"));
		mods_add(&m, LDAP_MOD_ADD, "mmSessionExpires", expires);
		mods_add(&m, LDAP_MOD_REPLACE, "mmFailCount", "0");
		rc = store_modify(store_counters(r->store), dn, &m);
		mods_free(&m);
		if (rc < 0 && rc != -ESTALE && rc != -ENOENT) /* else reset or cleared meanwhile */
			log_msg(LOG_WARNING, "lapsed PIN count not reset: %s", strerror(-rc));
	}
	entry_free(e);
	rc = store_increment(store_counters(r->store), dn, "mmFailCount", 1, &n);
	if (rc == -ENOENT) {
		struct mods m;

		if ((rc = secret_keyed_hash("card-pin", seen->fingerprint, hash)) < 0)
			goto out;
		store_time(login_now() + r->cfg->card_pin_lockout, expires);
		mods_init(&m);
		mods_add(&m, LDAP_MOD_ADD, "objectClass", "mmSession");
		mods_add(&m, LDAP_MOD_ADD, "objectClass", "mmCardPinCount");
		mods_add(&m, LDAP_MOD_ADD, "mmSessionId", hash);
		mods_add(&m, LDAP_MOD_ADD, "mmSessionExpires", expires);
		mods_add(&m, LDAP_MOD_ADD, "mmFailCount", "1");
		mods_add(&m, LDAP_MOD_ADD, "description", "card-pin");
		rc = store_add(store_counters(r->store), dn, &m);
		mods_free(&m);
		n = 1;
		if (rc == -EEXIST) /* created meanwhile by another request */
			rc = store_increment(store_counters(r->store), dn, "mmFailCount", 1, &n);
	}
	/* The card has counted wrong PINs this count did not see (made before it
	 * lapsed, or elsewhere): the first try it knows of is its last here, so
	 * that requests reading the card at the same time cannot each spend one. */
	if (rc == 0 && n == 1 && !strcmp(seen->tries, "low") && r->cfg->card_pin_tries > 1)
		rc = store_increment(store_counters(r->store), dn, "mmFailCount",
			(long long)r->cfg->card_pin_tries - 1, &n);
	if (rc < 0) {
		rc = store_refusal(r, rc);
		goto out;
	}
	seen->prior = n - 1;
	if (n > (long long)r->cfg->card_pin_tries) {
		audit_card(r, event, account, false, "pin_tries");
		req_put(r, "reason", "pin_tries");
		rc = req_fail(r, -ENOLCK, "carte CPS : trop de codes PIN faux, essais suspendus ici");
	} else if (!strcmp(seen->tries, "final")) {
		/* The card says its next wrong PIN blocks it (tries made elsewhere, or
		 * before this count lapsed): that try is never spent here. */
		audit_card(r, event, account, false, "pin_final_try");
		req_put(r, "reason", "pin_tries");
		rc = req_fail(r, -ENOLCK, "carte CPS : dernier essai de code PIN, gardé pour le code PUK");
	}
out:
	free(dn);
	return rc;
}

/* After the try: a right PIN (the card proved the certificate) clears the count; a try the
 * card never saw (the helper stopped before C_Login: no card, another card, a
 * PIN of a length the token refuses...) is given back; a PIN the card saw
 * stays counted whatever C_Login answered (a card pulled while it checks the
 * PIN has counted it), and so does an unknown outcome (timeout). */
static void pin_try_settle(struct req *r, const struct card_seen *seen, int rc, bool tried)
{
	char *dn = NULL;
	long long n;
	int e = 0;

	if (pin_count_dn(r, seen, &dn) < 0)
		return;
	/* Only a proof clears it: a card that logged in but whose signature or
	 * certificate did not verify may be any card showing this certificate
	 * (it is public), and its PIN says nothing of the card the count is for. */
	if (rc == 0)
		e = store_delete(store_counters(r->store), dn);
	else if (!tried)
		e = store_increment(store_counters(r->store), dn, "mmFailCount", -1, &n);
	if (e < 0 && e != -ENOENT)
		log_msg(LOG_WARNING, "card PIN count not updated: %s", strerror(-e));
	free(dn);
}

/* Runs the card with the PIN: the card that signs must be the one seen (no swap in between). */
static int card_prove_seen(struct req *r, const char *event, const char *account,
	const struct card_seen *seen, struct card_proof *p, bool *ret_tried)
{
	int rc = card_prove(r, event, account, seen, p, ret_tried);

	if (rc == 0 && strcmp(p->fingerprint, seen->fingerprint)) {
		audit_card(r, event, account, false, "card_changed");
		proof_clear(p);
		req_put(r, "reason", "card_changed");
		return req_fail(r, -EAGAIN, "la carte a changé pendant la lecture : recommencez");
	}
	return rc;
}

/* Reserves a try, runs the card with the PIN, settles the count. */
static int card_prove_counted(
	struct req *r, const char *event, const char *account, struct card_seen *seen, struct card_proof *p)
{
	bool tried;
	int rc;

	memset(p, 0, sizeof(*p));
	if ((rc = pin_try_reserve(r, event, account, seen)) < 0)
		return rc;
	rc = card_prove_seen(r, event, account, seen, p, &tried);
	pin_try_settle(r, seen, rc, tried);
	return rc;
}

static bool pin_ok(struct req *r, int *ret)
{
	const char *pin = get(r, "pin");

	if (!pin) {
		*ret = req_fail_field(r, "pin", "required", "code PIN : champ obligatoire");
		return false;
	}
	if (strlen(pin) > MM_CARD_PIN_MAX) {
		*ret = req_fail_field(r, "pin", "max_length", "code PIN trop long");
		return false;
	}
	return true;
}

static int unknown_fields(struct req *r, const char *const *allowed)
{
	for (size_t i = 0; i < r->in->nfields; i++) {
		bool ok = false;
		for (size_t j = 0; allowed[j]; j++)
			if (!strcmp(r->in->fields[i].key, allowed[j]))
				ok = true;
		if (!ok)
			return req_fail_field(r, r->in->fields[i].key, "unknown", "champ inconnu : %s",
				r->in->fields[i].key);
	}
	return 0;
}

/* ------------------------------------------------------------ link tickets */

/* A card that proved itself with its PIN but maps to no account: what a link
 * needs of it, held here (never in the directory: the card is in this
 * machine's reader) under the keyed hash of a single-use ticket, so that the
 * user types the PIN once, then the password and the e-mailed code. */
#define TICKETS_MAX 32

struct link_ticket {
	char hash[SECRET_HASH_HEX];
	long long expires;
	struct card_subject subject;
	char fingerprint[FP_LEN + 1];
	char subject_dn[1024];
	long long not_before, not_after;
};

static struct link_ticket tickets[TICKETS_MAX];
static pthread_mutex_t tickets_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned ticket_ttl(const struct mm_config *c)
{
	/* Long enough for the password step, a mailed code and its typing. */
	return c->otp_ttl + 180;
}

static int ticket_issue(const struct mm_config *c, const struct card_proof *p, char ret[SECRET_TOKEN_HEX])
{
	char handle[SECRET_TOKEN_HEX], hash[SECRET_HASH_HEX];
	long long now = (long long)time(NULL);
	size_t slot = 0;
	int rc;

	secret_token(handle);
	if ((rc = secret_keyed_hash("card-link", handle, hash)) < 0) {
		secret_wipe(handle, sizeof(handle));
		return rc;
	}
	pthread_mutex_lock(&tickets_lock);
	/* A free or expired slot, else the one closest to expiry. */
	for (size_t i = 0; i < TICKETS_MAX; i++) {
		if (!tickets[i].hash[0] || tickets[i].expires <= now) {
			slot = i;
			break;
		}
		if (tickets[i].expires < tickets[slot].expires)
			slot = i;
	}
	secret_wipe(&tickets[slot], sizeof(tickets[slot]));
	memcpy(tickets[slot].hash, hash, sizeof(hash));
	tickets[slot].expires = now + ticket_ttl(c);
	tickets[slot].subject = p->subject;
	memcpy(tickets[slot].fingerprint, p->fingerprint, sizeof(p->fingerprint));
	memcpy(tickets[slot].subject_dn, p->subject_dn, sizeof(p->subject_dn));
	tickets[slot].not_before = p->not_before;
	tickets[slot].not_after = p->not_after;
	pthread_mutex_unlock(&tickets_lock);
	memcpy(ret, handle, SECRET_TOKEN_HEX);
	secret_wipe(handle, sizeof(handle));
	secret_wipe(hash, sizeof(hash));
	return 0;
}

/* Takes (and so ends) the ticket: fills p without a certificate handle. -ENOENT unknown or expired. */
static int ticket_take(const char *handle, struct card_proof *p)
{
	char hash[SECRET_HASH_HEX];
	long long now = (long long)time(NULL);
	int rc = -ENOENT;

	memset(p, 0, sizeof(*p));
	if (!handle || strlen(handle) != SECRET_TOKEN_HEX - 1 ||
		strspn(handle, "0123456789abcdef") != SECRET_TOKEN_HEX - 1)
		return -ENOENT;
	if (secret_keyed_hash("card-link", handle, hash) < 0)
		return -EIO;
	pthread_mutex_lock(&tickets_lock);
	for (size_t i = 0; i < TICKETS_MAX; i++) {
		if (!tickets[i].hash[0] || !secret_equal(tickets[i].hash, hash))
			continue;
		if (tickets[i].expires > now) {
			p->subject = tickets[i].subject;
			memcpy(p->fingerprint, tickets[i].fingerprint, sizeof(p->fingerprint));
			memcpy(p->subject_dn, tickets[i].subject_dn, sizeof(p->subject_dn));
			p->not_before = tickets[i].not_before;
			p->not_after = tickets[i].not_after;
			rc = 0;
		}
		secret_wipe(&tickets[i], sizeof(tickets[i]));
		break;
	}
	pthread_mutex_unlock(&tickets_lock);
	secret_wipe(hash, sizeof(hash));
	return rc;
}

static void monitor_start(const struct mm_config *c, const char *login, const char *token);

/* The account a card maps to: a linked certificate first, then the national id of its subject. */
static int card_owner(
	struct req *r, const char *fingerprint, const struct card_subject *subject, struct entry **ret)
{
	int rc = find_by(r, "mmCardCert", fingerprint, "", ret);

	if (rc == -ENOENT && subject->kind != CARD_ID_NONE)
		rc = find_by(r, subject->kind == CARD_ID_RPPS ? "mmRpps" : "mmAdeli", subject->id,
			"(mmAccountType=PER)", ret);
	return rc;
}

/* May this caller log in as the card's account? The user it named, and a
 * non-root caller only as itself (a screen locker). */
static bool card_caller_may(const struct req *r, const char *user, const struct entry *e)
{
	if (user && strcmp(user, entry_get(e, "uid")) && strcasecmp(user, login_mail_of(e)))
		return false;
	return r->who.uid == 0 ||
		(entry_get(e, "uidNumber") &&
			strtoul(entry_get(e, "uidNumber"), NULL, 10) == (unsigned long)r->who.uid);
}

/* A card of no account, to a caller that is not root: its PIN is worth a try
 * only to link it to the caller's own account (a link ticket). A caller with
 * no account, or whose national id is not the card's, spends none of its tries. */
static int card_unmapped_may(struct req *r, const char *user, const struct card_subject *s)
{
	struct entry *me = NULL;
	const char *own = NULL;
	int rc;

	if (r->who.uid == 0)
		return 0;
	rc = find_caller(r, &me);
	if (rc < 0 && rc != -ENOENT)
		return store_refusal(r, rc);
	if (me && s->kind != CARD_ID_NONE)
		own = entry_get(me, s->kind == CARD_ID_RPPS ? "mmRpps" : "mmAdeli");
	if (!me || (own && strcasecmp(own, s->id)) ||
		(user && strcmp(user, entry_get(me, "uid")) && strcasecmp(user, login_mail_of(me)))) {
		audit_card(r, "auth", user ? user : me ? entry_get(me, "uid") : NULL, false, "card_mismatch");
		entry_free(me);
		req_put(r, "reason", "card_mismatch");
		return req_fail(r, -EACCES, "cette carte n'est pas celle de ce compte");
	}
	entry_free(me);
	return 0;
}

static int card_mismatch(struct req *r, const char *user, const struct entry *e)
{
	audit_card(r, "auth", user ? user : entry_get(e, "uid"), false, "card_mismatch");
	req_put(r, "reason", "card_mismatch");
	return req_fail(r, -EACCES, "cette carte n'est pas celle de ce compte");
}

int card_auth(struct req *r)
{
	static const char *const allowed[] = {"pin", "user", "service", "rhost", NULL};
	const char *user = get(r, "user");
	struct card_seen seen;
	struct card_proof p;
	struct entry *e = NULL;
	const char *status;
	int rc;

	memset(&p, 0, sizeof(p));
	if ((rc = unknown_fields(r, allowed)) < 0 || !pin_ok(r, &rc))
		return rc;
	if (user && validate_text(user, 254) < 0)
		return req_fail_field(r, "user", "characters", "identifiant invalide");
	/* Whose card it is, before its PIN is tried: a caller that may not log in
	 * as that account spends none of the card's tries. */
	if ((rc = card_see(r, "auth", user, &seen)) < 0)
		return rc;
	rc = card_owner(r, seen.fingerprint, &seen.subject, &e);
	if (rc < 0 && rc != -ENOENT) {
		rc = store_refusal(r, rc);
		goto out;
	}
	if (rc == 0 && !card_caller_may(r, user, e)) {
		rc = card_mismatch(r, user, e);
		goto out;
	}
	if (rc == -ENOENT && (rc = card_unmapped_may(r, user, &seen.subject)) < 0)
		goto out;
	/* The wrong PINs are audited under the card's account (the owner's
	 * record), not only under the name the caller typed, if any. */
	if (e)
		snprintf(seen.owner, sizeof(seen.owner), "%s", entry_get(e, "uid") ?: "");
	entry_free(e);
	e = NULL;
	if ((rc = card_prove_counted(r, "auth", seen.owner[0] ? seen.owner : user, &seen, &p)) < 0)
		goto out;
	/* Mapped again from the proven certificate (the account may have changed meanwhile). */
	rc = card_owner(r, p.fingerprint, &p.subject, &e);
	if (rc == -ENOENT) {
		char reason[128];
		snprintf(reason, sizeof(reason), "link_required %s", p.fingerprint);
		audit_card(r, "auth", user, false, reason);
		char ticket[SECRET_TOKEN_HEX];

		req_put(r, "reason", "link_required");
		req_put(r, "fingerprint", p.fingerprint);
		req_put(r, "national_id", p.subject.cn);
		if (ticket_issue(r->cfg, &p, ticket) == 0)
			req_put(r, "link_ticket", ticket);
		secret_wipe(ticket, sizeof(ticket));
		rc = req_fail(r, -ENOENT,
			"carte CPS non liée à un compte Medimail : liez-la une fois à votre compte");
		goto out;
	}
	if (rc < 0) {
		rc = store_refusal(r, rc);
		goto out;
	}
	if (!card_caller_may(r, user, e)) {
		rc = card_mismatch(r, user, e);
		goto out;
	}
	status = entry_get(e, "mmStatus");
	if (!status || strcmp(status, MM_STATUS_ACTIVE)) {
		audit_card(r, "auth", entry_get(e, "uid"), false, status ? status : "no status");
		req_put(r, "reason", "account_state");
		req_put(r, "status", status);
		rc = req_fail(r, -EPERM, "compte %s : connexion impossible (statut : %s)",
			entry_get(e, "uid"), status ? status : "?");
		goto out;
	}
	if (seen.prior > 0) {
		/* Someone typed wrong PINs on this card since its last right PIN: the owner is told. */
		char reason[FP_LEN + 64], n[24];

		snprintf(reason, sizeof(reason), "%s after %lld wrong PIN(s)", p.fingerprint, seen.prior);
		snprintf(n, sizeof(n), "%lld", seen.prior);
		audit_card(r, "auth", entry_get(e, "uid"), true, reason);
		req_put(r, "pin_failures", n);
	} else {
		audit_card(r, "auth", entry_get(e, "uid"), true, p.fingerprint);
	}
	req_put(r, "login", entry_get(e, "uid"));
	req_put(r, "method", "cps");
	req_put(r, "fingerprint", p.fingerprint);
	req_put(r, "national_id", p.subject.cn);
	if (strcmp(r->cfg->card_removal_action, "none"))
		monitor_start(r->cfg, entry_get(e, "uid"), p.token);
	rc = 0;
out:
	entry_free(e);
	proof_clear(&p);
	seen_clear(&seen);
	return rc;
}

static void gtime(long long t, char out[16])
{
	store_time(t, out);
}

/* The user's own link (PAM): a just-completed password + code login of the
 * account and the ticket of the card that proved itself. */
static int link_by_user(struct req *r, const struct entry *e, struct card_proof *p)
{
	const char *txn = get(r, "txn");
	int rc;

	if (!r->who.admin && !login_owned_by(e, r->who.uid)) {
		audit_card(r, "card_link", entry_get(e, "uid"), false,
			"caller may only act for its own account");
		return req_fail(
			r, -EACCES, "un utilisateur non privilégié ne lie une carte qu'à son propre compte");
	}
	if (strcmp(entry_get(e, "mmStatus") ?: "", MM_STATUS_ACTIVE)) {
		audit_card(r, "card_link", entry_get(e, "uid"), false, "account_state");
		req_put(r, "reason", "account_state");
		req_put(r, "status", entry_get(e, "mmStatus"));
		return req_fail(r, -EPERM, "compte %s non actif : la carte ne peut pas y être liée",
			entry_get(e, "uid"));
	}
	/* The ticket first: a wrong one does not burn the login. */
	if ((rc = ticket_take(get(r, "link_ticket"), p)) < 0) {
		audit_card(r, "card_link", entry_get(e, "uid"), false, "no valid link ticket");
		req_put(r, "reason", "ticket");
		return req_fail(r, -EACCES,
			"carte à présenter de nouveau (code PIN) : la demande de liaison a expiré");
	}
	rc = login_txn_consume(r, txn, e->dn);
	if (rc == -ENOENT || rc == -ETIMEDOUT) {
		audit_card(r, "card_link", entry_get(e, "uid"), false, "no completed password + code login");
		req_put(r, "reason", "txn");
		proof_clear(p);
		return req_fail(r, -EACCES,
			"la liaison demande une connexion par mot de passe et code à usage unique");
	}
	if (rc < 0) {
		proof_clear(p);
		return store_refusal(r, rc);
	}
	return 0;
}

int card_link(struct req *r)
{
	static const char *const allowed[] = {"login", "pin", "txn", "link_ticket", "service", "rhost", NULL};
	const char *login = get(r, "login");
	bool by_user = get(r, "txn") || get(r, "link_ticket");
	struct card_proof p;
	struct entry *e = NULL, *other = NULL;
	char *info = NULL, linked[16], nb[16], na[16];
	struct mods m;
	int rc;

	if (!r->who.admin && !by_user)
		return req_fail(r, -EACCES, "réservé aux administrateurs");
	if ((rc = unknown_fields(r, allowed)) < 0)
		return rc;
	if (by_user && get(r, "pin"))
		return req_fail_field(r, "pin", "unexpected", "code PIN : pas avec txn et link_ticket");
	if (!by_user && !pin_ok(r, &rc))
		return rc;
	if (!login)
		return req_fail_field(r, "login", "required", "identifiant : champ obligatoire");
	rc = find_login(r, login, &e);
	if (!r->who.admin && (rc == -ENOENT || rc == -ENOTUNIQ || (rc == 0 && !login_owned_by(e, r->who.uid)))) {
		/* To a user, someone else's account and an unknown one get one answer
		 * (as for a login); only the audit log tells them apart. */
		audit_card(r, "card_link", rc == 0 ? entry_get(e, "uid") : login, false,
			rc == 0 ? "caller may only act for its own account" : "unknown account");
		entry_free(e);
		return req_fail(r, -ENOENT, "aucun compte Medimail de ce nom pour l'utilisateur %u",
			(unsigned)r->who.uid);
	}
	if (rc < 0)
		return store_refusal(r, rc);
	if (!strcmp(entry_get(e, "mmAccountType"), MM_TYPE_ORG) ||
		!strcmp(entry_get(e, "mmStatus"), MM_STATUS_CLOSED)) {
		audit_card(r, "card_link", entry_get(e, "uid"), false, "account_state");
		req_put(r, "reason", "account_state");
		rc = req_fail(r, -EPERM, "une carte se lie à un compte individuel non clos");
		goto out;
	}
	if (by_user) {
		rc = link_by_user(r, e, &p);
	} else {
		struct card_seen seen;

		rc = card_see(r, "card_link", entry_get(e, "uid"), &seen);
		if (rc == 0)
			rc = card_prove_counted(r, "card_link", entry_get(e, "uid"), &seen, &p);
		seen_clear(&seen);
	}
	if (rc < 0)
		goto out;
	/* The card of another professional does not go on this account. */
	if ((p.subject.kind == CARD_ID_RPPS && entry_get(e, "mmRpps") &&
		    strcmp(p.subject.id, entry_get(e, "mmRpps"))) ||
		(p.subject.kind == CARD_ID_ADELI && entry_get(e, "mmAdeli") &&
			strcasecmp(p.subject.id, entry_get(e, "mmAdeli")))) {
		audit_card(r, "card_link", entry_get(e, "uid"), false, "card_mismatch");
		req_put(r, "reason", "card_mismatch");
		rc = req_fail(r, -EACCES, "le numéro national de la carte n'est pas celui du compte");
		goto out_proof;
	}
	rc = find_by(r, "mmCardCert", p.fingerprint, "", &other);
	if (rc == 0 && strcmp(other->dn, e->dn)) {
		audit_card(r, "card_link", entry_get(e, "uid"), false, "linked_elsewhere");
		req_put(r, "reason", "linked_elsewhere");
		rc = req_fail(r, -EEXIST, "cette carte est déjà liée à un autre compte");
		goto out_proof;
	}
	if (rc < 0 && rc != -ENOENT) {
		rc = store_refusal(r, rc);
		goto out_proof;
	}
	gtime((long long)time(NULL), linked);
	gtime(p.not_before, nb);
	gtime(p.not_after, na);
	if (rc == -ENOENT) {
		if (asprintf(&info, "%s %s %s %s %s", p.fingerprint, linked, nb, na, p.subject_dn) < 0) {
			rc = -ENOMEM;
			goto out_proof;
		}
		mods_init(&m);
		mods_add(&m, LDAP_MOD_ADD, "mmCardCert", p.fingerprint);
		mods_add(&m, LDAP_MOD_ADD, "mmCardInfo", info);
		rc = store_modify(r->store, e->dn, &m);
		mods_free(&m);
		if (rc < 0) {
			rc = store_refusal(r, rc);
			goto out_proof;
		}
	}
	audit_card(r, "card_link", entry_get(e, "uid"), true, p.fingerprint);
	req_put(r, "login", entry_get(e, "uid"));
	req_put(r, "fingerprint", p.fingerprint);
	req_put(r, "subject", p.subject_dn);
	req_put(r, "not_before", nb);
	req_put(r, "not_after", na);
	mm_msg_set_message(r->out, "carte CPS liée au compte %s", entry_get(e, "uid"));
	rc = 0;
out_proof:
	proof_clear(&p);
out:
	free(info);
	entry_free(other);
	entry_free(e);
	return rc;
}

int card_present(struct req *r)
{
	static const char *const allowed[] = {"service", "rhost", NULL};
	struct card_answer a;
	int rc;

	if ((rc = unknown_fields(r, allowed)) < 0)
		return rc;
	rc = card_ask(r->cfg, MM_CARD_OP_PRESENT, &a);
	if (rc < 0) {
		log_msg(LOG_ERR, "card helper %s: %s", r->cfg->card_helper, strerror(-rc));
		req_put(r, "reason", rc == -ETIMEDOUT ? "card_timeout" : "card_error");
		return req_fail(r, rc == -ETIMEDOUT ? -ETIMEDOUT : -EIO, "lecteur de carte illisible");
	}
	req_put(r, "present", strcmp(a.result, "present") ? "no" : "yes");
	if (strcmp(a.result, "present"))
		req_put(r, "reason", a.result);
	card_answer_clear(&a);
	return 0;
}

/* The account a list/unlink request is about: admin names any, others only their own. */
static int target_account(struct req *r, struct entry **ret)
{
	const char *login = get(r, "login");
	struct entry *me = NULL;
	int rc;

	*ret = NULL;
	if (r->who.admin) {
		if (!login)
			return req_fail_field(r, "login", "required", "identifiant : champ obligatoire");
		rc = find_login(r, login, ret);
		return rc < 0 ? store_refusal(r, rc) : 0;
	}
	rc = find_caller(r, &me);
	if (rc < 0)
		return req_fail(r, -ENOENT, "aucun compte Medimail pour l'utilisateur %u", (unsigned)r->who.uid);
	if (login && strcmp(login, entry_get(me, "uid")) && strcasecmp(login, login_mail_of(me))) {
		entry_free(me);
		return req_fail(r, -ENOENT, "%s : compte introuvable", login);
	}
	if (!entry_has_value(me, "mmStatus", MM_STATUS_ACTIVE)) {
		/* A suspended or closed account manages no card. */
		audit_card(r, "card_manage", entry_get(me, "uid"), false, "account_state");
		req_put(r, "reason", "account_state");
		rc = req_fail(r, -EPERM, "le compte %s n'est pas actif", entry_get(me, "uid"));
		entry_free(me);
		return rc;
	}
	*ret = me;
	return 0;
}

int card_list(struct req *r)
{
	static const char *const allowed[] = {"login", NULL};
	const struct attr *certs, *infos;
	struct entry *e = NULL;
	size_t n = 0;
	int rc;

	if ((rc = unknown_fields(r, allowed)) < 0 || (rc = target_account(r, &e)) < 0)
		return rc;
	certs = entry_attr(e, "mmCardCert");
	infos = entry_attr(e, "mmCardInfo");
	req_put(r, "login", entry_get(e, "uid"));
	for (size_t i = 0; certs && i < certs->nvals; i++) {
		const char *fp = certs->vals[i];
		char idx[24];

		snprintf(idx, sizeof(idx), "%zu", n++);
		req_put(r, "#", idx);
		req_put(r, "fingerprint", fp);
		for (size_t j = 0; infos && j < infos->nvals; j++) {
			char linked[16] = "", nb[16] = "", na[16] = "";
			int off = 0;
			if (strncmp(infos->vals[j], fp, strlen(fp)) || infos->vals[j][strlen(fp)] != ' ')
				continue;
			if (sscanf(infos->vals[j] + strlen(fp), " %15s %15s %15s %n", linked, nb, na, &off) !=
					3 ||
				!off)
				continue;
			req_put(r, "subject", infos->vals[j] + strlen(fp) + off);
			req_put(r, "not_before", nb);
			req_put(r, "not_after", na);
			req_put(r, "linked_at", linked);
			break;
		}
	}
	entry_free(e);
	return 0;
}

int card_unlink(struct req *r)
{
	static const char *const allowed[] = {"login", "fingerprint", NULL};
	const char *fp = get(r, "fingerprint");
	const struct attr *infos;
	struct entry *e = NULL;
	struct mods m;
	int rc;

	if ((rc = unknown_fields(r, allowed)) < 0)
		return rc;
	if (!fp || strlen(fp) != FP_LEN || strncmp(fp, "sha256:", 7) ||
		strspn(fp + 7, "0123456789abcdef") != 64)
		return req_fail_field(
			r, "fingerprint", "syntax", "empreinte : sha256: suivi de 64 chiffres hexadécimaux");
	if ((rc = target_account(r, &e)) < 0)
		return rc;
	if (!entry_has_value(e, "mmCardCert", fp)) {
		audit_card(r, "card_unlink", entry_get(e, "uid"), false, "not linked");
		rc = req_fail(r, -ENOENT, "aucune carte liée avec cette empreinte");
		goto out;
	}
	mods_init(&m);
	mods_add(&m, LDAP_MOD_DELETE, "mmCardCert", fp);
	infos = entry_attr(e, "mmCardInfo");
	for (size_t j = 0; infos && j < infos->nvals; j++)
		if (!strncmp(infos->vals[j], fp, FP_LEN) && infos->vals[j][FP_LEN] == ' ')
			mods_add(&m, LDAP_MOD_DELETE, "mmCardInfo", infos->vals[j]);
	rc = store_modify(r->store, e->dn, &m);
	mods_free(&m);
	if (rc < 0) {
		rc = store_refusal(r, rc);
		goto out;
	}
	audit_card(r, "card_unlink", entry_get(e, "uid"), true, fp);
	req_put(r, "login", entry_get(e, "uid"));
	mm_msg_set_message(r->out, "carte désassociée du compte %s", entry_get(e, "uid"));
out:
	entry_free(e);
	return rc;
}

/* ------------------------------------------------------------ card removal */

/* One watcher per token: the session(s) opened with that card. */
struct monitor {
	struct monitor *next;
	char token[40];
	char login[256];
	char action[8];
	char *command;
	char *module, *token_spec, *reader, *helper;
	unsigned poll_ms;
};

static pthread_mutex_t monitors_lock = PTHREAD_MUTEX_INITIALIZER;
static struct monitor *monitors;

static void monitor_free(struct monitor *m)
{
	if (!m)
		return;
	free(m->command);
	free(m->module);
	free(m->token_spec);
	free(m->reader);
	free(m->helper);
	free(m);
}

/* Runs the configured command (no shell): argv split on blanks, MEDIMAIL_* in the environment.
 * login: the caller's copy of m->login, which monitor_start() may rewrite meanwhile. */
static int removal_run(const struct monitor *m, const char *login)
{
	char *copy = NULL, *argv[32], *save = NULL, *tok;
	char env_login[300], env_action[40], env_token[80];
	char *envp[] = {(char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", env_login, env_action, env_token, NULL};
	char def[300];
	size_t n = 0;
	pid_t pid;
	int st = 0, r;

	snprintf(env_login, sizeof(env_login), "MEDIMAIL_LOGIN=%s", login);
	snprintf(env_action, sizeof(env_action), "MEDIMAIL_CARD_ACTION=%s", m->action);
	snprintf(env_token, sizeof(env_token), "MEDIMAIL_CARD_TOKEN=%s", m->token);
	if (m->command && *m->command) {
		copy = strdup(m->command);
	} else {
		/* Without a command: logind does it. */
		if (!strcmp(m->action, "lock"))
			snprintf(def, sizeof(def), "/usr/bin/loginctl lock-sessions");
		else
			snprintf(def, sizeof(def), "/usr/bin/loginctl terminate-user %s", login);
		copy = strdup(def);
	}
	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, " \t", &save); tok && n < 31; tok = strtok_r(NULL, " \t", &save))
		argv[n++] = tok;
	argv[n] = NULL;
	if (n == 0) {
		free(copy);
		return -EINVAL;
	}
	r = spawn_clean(argv[0], argv, envp, -1, &pid);
	free(copy);
	if (r < 0)
		return r;
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -ECHILD;
}

static void *monitor_main(void *arg)
{
	struct monitor *m = arg;
	struct mm_config c = {0};
	struct helper h = {-1, -1};
	struct mm_msg *req = mm_msg_new(MM_CARD_OP_WATCH, false), *rep = NULL;
	struct card_answer a = {0};
	char poll_ms[16];
	int rc;

	c.card_helper = m->helper;
	c.card_module = m->module;
	c.card_token = m->token_spec;
	c.card_reader = m->reader;
	snprintf(poll_ms, sizeof(poll_ms), "%u", m->poll_ms);
	rc = req ? add_common(&c, req) : -ENOMEM;
	if (rc == 0)
		rc = mm_msg_add(req, "poll_ms", poll_ms);
	if (rc == 0)
		rc = helper_start(&c, &h);
	if (rc == 0)
		rc = mm_msg_send(h.fd, req, 10000);
	if (rc == 0)
		rc = mm_msg_recv(h.fd, true, 10000, &rep);
	if (rc == 0 && (card_answer_parse(rep, &a) < 0 || strcmp(a.result, "present")))
		rc = -ENODEV;
	mm_msg_free(rep);
	rep = NULL;
	if (rc == 0) {
		struct pollfd p = {.fd = h.fd, .events = POLLIN};
		/* Until the helper says the card left (or dies). */
		while (poll(&p, 1, -1) < 0)
			;
		rc = mm_msg_recv(h.fd, true, 5000, &rep);
		card_answer_clear(&a);
		if (rc == 0 && card_answer_parse(rep, &a) == 0 && !strcmp(a.result, "removed")) {
			struct audit_ctx ac = {.event = "card_removed", .caller = "monitor", .method = "cps"};
			char login[256];

			pthread_mutex_lock(&monitors_lock);
			snprintf(login, sizeof(login), "%s", m->login);
			pthread_mutex_unlock(&monitors_lock);
			ac.account = login;
			rc = removal_run(m, login);
			audit(&ac, rc == 0, rc == 0 ? m->action : "removal command failed");
		} else {
			log_msg(LOG_WARNING, "card monitor for token %s ended: %s", m->token,
				rc < 0 ? strerror(-rc) : a.result);
		}
	} else {
		log_msg(LOG_NOTICE, "card monitor for token %s not started: %s", m->token, strerror(-rc));
	}
	card_answer_clear(&a);
	mm_msg_free(rep);
	mm_msg_free(req);
	helper_stop(&h);
	pthread_mutex_lock(&monitors_lock);
	for (struct monitor **pp = &monitors; *pp; pp = &(*pp)->next)
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	pthread_mutex_unlock(&monitors_lock);
	monitor_free(m);
	return NULL;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void monitor_start(const struct mm_config *c, const char *login, const char *token)
{
	struct monitor *m;
	pthread_attr_t attr;
	pthread_t t;

	pthread_mutex_lock(&monitors_lock);
	for (m = monitors; m; m = m->next)
		if (!strcmp(m->token, token)) {
			/* Already watched: the latest session opened with it is the one to act on. */
			snprintf(m->login, sizeof(m->login), "%s", login);
			pthread_mutex_unlock(&monitors_lock);
			return;
		}
	m = calloc(1, sizeof(*m));
	if (!m) {
		pthread_mutex_unlock(&monitors_lock);
		return;
	}
	snprintf(m->token, sizeof(m->token), "%s", token);
	snprintf(m->login, sizeof(m->login), "%s", login);
	snprintf(m->action, sizeof(m->action), "%s", c->card_removal_action);
	m->poll_ms = c->card_poll_ms;
	m->command = dup_or_null(c->card_removal_command);
	m->module = dup_or_null(c->card_module);
	m->helper = dup_or_null(c->card_helper);
	m->reader = dup_or_null(c->card_reader);
	/* Watch the very token that signed, whatever card_token selects. */
	m->token_spec = malloc(13 + 3 * strlen(token) + 1);
	if (m->token_spec) {
		char *o = m->token_spec + sprintf(m->token_spec, "pkcs11:token=");
		for (const unsigned char *q = (const unsigned char *)token; *q; q++)
			o += (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
					(*q >= '0' && *q <= '9') || *q == '-' || *q == '_' || *q == '.'
				? sprintf(o, "%c", *q)
				: sprintf(o, "%%%02X", *q);
	}
	if (!m->module || !m->helper || !m->token_spec) {
		pthread_mutex_unlock(&monitors_lock);
		monitor_free(m);
		return;
	}
	m->next = monitors;
	monitors = m;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, monitor_main, m) != 0) {
		monitors = m->next;
		monitor_free(m);
	}
	pthread_attr_destroy(&attr);
	pthread_mutex_unlock(&monitors_lock);
}
