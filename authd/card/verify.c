/* Whether a card proves itself: its certificate (trust anchors, CRLs, dates,
 * key usage, subject) and its signature of a fresh challenge; the card seen
 * before its PIN is the one that signs. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sodium.h>

#include "../card/cardproto.h"
#include "card_priv.h"
#include "log.h"

void card_audit(const struct card_op *op, const char *account, bool ok, const char *reason)
{
	caller_audit(op->who, op->event, "cps", account, ok, reason);
}

int card_refuse(struct fault *f, int status, const char *reason, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	fault_put(f, "reason", reason);
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	fault_set(f, status, "%s", msg ? msg : "refus");
	free(msg);
	return status;
}

void card_proof_clear(struct card_proof *p)
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
	card_hex_encode(fp, 32, p->fingerprint + 7);
	card_copy_word(p->token, sizeof(p->token), a->token);
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

/* What the helper answered instead of "ok" or "present", as a refusal. */
static int helper_refusal(struct fault *f, const struct card_answer *a)
{
	const char *res = a->result;

	fault_put(f, "reason", res);
	if (!strcmp(res, "pin_incorrect")) {
		if (a->tries[0])
			fault_put(f, "tries", a->tries);
		return fault_set(f, -EACCES, "code PIN incorrect%s",
			!strcmp(a->tries, "final")         ? " : dernier essai avant blocage de la carte"
				: !strcmp(a->tries, "low") ? " : peu d'essais restants"
							   : "");
	}
	if (!strcmp(res, "pin_locked"))
		return fault_set(f, -ENOLCK,
			"carte CPS bloquée : code PIN saisi trop de fois (déblocage avec le code PUK)");
	if (!strcmp(res, "pin_invalid"))
		return fault_set(f, -EINVAL, "code PIN de longueur invalide");
	if (!strcmp(res, "card_changed"))
		return fault_set(f, -EAGAIN, "la carte a changé pendant la lecture : recommencez");
	if (!strcmp(res, "no_card"))
		return fault_set(f, -ENODEV, "aucune carte CPS dans le lecteur");
	if (!strcmp(res, "no_reader"))
		return fault_set(f, -ENODEV, "lecteur de carte introuvable");
	if (!strcmp(res, "no_cert"))
		return fault_set(f, -ENOENT, "la carte ne porte pas de certificat d'authentification");
	if (!strcmp(res, "no_key"))
		return fault_set(f, -ENOENT, "la carte ne porte pas la clé du certificat d'authentification");
	return fault_set(f, -EIO, "erreur du module PKCS#11 de la carte");
}

static int check_refusal(struct fault *f, const char *why)
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

	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		if (!strcmp(msgs[i].why, why))
			return card_refuse(f, -EACCES, why, "%s", msgs[i].msg);
	return card_refuse(f, -EIO, why, "vérification de la carte impossible");
}

/* The helper did not answer (it failed, or was killed at the timeout). */
static int helper_failed(const struct card_op *op, const char *account, int rc)
{
	const char *reason = rc == -ETIMEDOUT ? "card_timeout" : "card_error";

	log_msg(LOG_ERR, "card helper %s: %s", op->c->card_helper, strerror(-rc));
	card_audit(op, account, false, reason);
	return card_refuse(
		op->f, rc == -ETIMEDOUT ? -ETIMEDOUT : -EIO, reason, "lecture de la carte impossible");
}

void card_seen_clear(struct card_seen *s)
{
	free(s->cert);
	memset(s, 0, sizeof(*s));
}

/* Runs the card seen with pin and checks what it returns. 0 with *p filled, or the refusal in op->f.
 * *ret_tried: whether the card may have seen the PIN (also when the helper did not answer). */
static int card_prove(const struct card_op *op, const char *account, const char *pin,
	const struct card_seen *seen, struct card_proof *p, bool *ret_tried)
{
	unsigned char chal[32];
	struct card_answer a;
	const char *why;
	int rc;

	memset(p, 0, sizeof(*p));
	*ret_tried = true;
	randombytes_buf(chal, sizeof(chal));
	rc = card_helper_sign(op->c, pin, seen->cert, seen->cert_len, chal, sizeof(chal), &a);
	if (rc < 0)
		return helper_failed(op, account, rc);
	*ret_tried = a.pin_tried;
	if (strcmp(a.result, "ok")) {
		card_audit(op, account, false, a.result);
		rc = helper_refusal(op->f, &a);
		card_answer_clear(&a);
		return rc;
	}
	why = card_check(op->c, &a, chal, sizeof(chal), p);
	card_answer_clear(&a);
	if (why) {
		char reason[128];
		snprintf(reason, sizeof(reason), "%s %s", why, p->fingerprint[0] ? p->fingerprint : "");
		card_audit(op, account, false, reason);
		card_proof_clear(p);
		return check_refusal(op->f, why);
	}
	return 0;
}

int card_see(const struct card_op *op, const char *account, struct card_seen *ret)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t der, dn = {NULL, 0};
	struct card_answer a;
	int rc;

	memset(ret, 0, sizeof(*ret));
	rc = card_helper_ask(op->c, MM_CARD_OP_READ, &a);
	if (rc < 0)
		return helper_failed(op, account, rc);
	if (strcmp(a.result, "present")) {
		card_audit(op, account, false, a.result);
		rc = helper_refusal(op->f, &a);
		card_answer_clear(&a);
		return rc;
	}
	crypto_hash_sha256(h, a.cert, a.cert_len);
	memcpy(ret->fingerprint, "sha256:", 7);
	card_hex_encode(h, sizeof(h), ret->fingerprint + 7);
	/* Unreadable: no national id to map by (the proof refuses such a certificate). */
	der.data = a.cert;
	der.size = (unsigned)a.cert_len;
	if (gnutls_x509_crt_init(&crt) < 0 || gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER) < 0 ||
		gnutls_x509_crt_get_raw_dn(crt, &dn) < 0 ||
		card_subject_parse(dn.data, dn.size, &ret->subject) < 0)
		memset(&ret->subject, 0, sizeof(ret->subject));
	gnutls_free(dn.data);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	card_copy_word(ret->tries, sizeof(ret->tries), a.tries);
	ret->cert = a.cert; /* moves */
	ret->cert_len = a.cert_len;
	a.cert = NULL;
	card_answer_clear(&a);
	return 0;
}

int card_prove_seen(const struct card_op *op, const char *account, const char *pin,
	const struct card_seen *seen, struct card_proof *p, bool *ret_tried)
{
	int rc = card_prove(op, account, pin, seen, p, ret_tried);

	if (rc == 0 && strcmp(p->fingerprint, seen->fingerprint)) {
		card_audit(op, account, false, "card_changed");
		card_proof_clear(p);
		return card_refuse(
			op->f, -EAGAIN, "card_changed", "la carte a changé pendant la lecture : recommencez");
	}
	return rc;
}

int card_pin_check(struct fault *f, const char *pin)
{
	if (!pin || !*pin)
		return fault_field(f, "pin", "required", "code PIN : champ obligatoire");
	if (strlen(pin) > MM_CARD_PIN_MAX)
		return fault_field(f, "pin", "max_length", "code PIN trop long");
	return 0;
}
