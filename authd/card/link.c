/* Linking a card to an account (by an administrator with the PIN, or by the
 * owner with a link ticket and a completed login), listing and unlinking. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accounts.h"
#include "card_priv.h"
#include "protocol.h"
#include "secret.h"

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
	char fingerprint[CARD_FP_LEN + 1];
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

int card_ticket_issue(const struct mm_config *c, const struct card_proof *p, char ret[SECRET_TOKEN_HEX])
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

/* ------------------------------------------------------------ link */

/* The owner's link (PAM): the ticket of the card that proved itself, and a
 * just-completed password + code login of the account. */
static int link_by_user(
	const struct card_op *op, const struct entry *e, const struct card_link_args *a, struct card_proof *p)
{
	const char *login = entry_get(e, "uid");
	int rc;

	if (!accounts_active(e)) {
		card_audit(op, login, false, "account_state");
		fault_put(op->f, "reason", "account_state");
		fault_put(op->f, "status", entry_get(e, "mmStatus"));
		return fault_set(
			op->f, -EPERM, "compte %s non actif : la carte ne peut pas y être liée", login);
	}
	/* The ticket first: a wrong one does not burn the login. */
	if ((rc = ticket_take(a->link_ticket, p)) < 0) {
		card_audit(op, login, false, "no valid link ticket");
		return card_refuse(op->f, -EACCES, "ticket",
			"carte à présenter de nouveau (code PIN) : la demande de liaison a expiré");
	}
	rc = a->txn_consume ? a->txn_consume(a->txn_ctx, a->txn, e->dn) : -ENOENT;
	if (rc == -ENOENT || rc == -ETIMEDOUT) {
		card_audit(op, login, false, "no completed password + code login");
		card_proof_clear(p);
		return card_refuse(op->f, -EACCES, "txn",
			"la liaison demande une connexion par mot de passe et code à usage unique");
	}
	if (rc < 0) {
		card_proof_clear(p);
		return fault_store(op->f, rc, login);
	}
	return 0;
}

/* The administrator's link: the card in the reader, with its PIN. */
static int link_by_admin(
	const struct card_op *op, const struct entry *e, const char *pin, struct card_proof *p)
{
	struct card_seen seen;
	int rc;

	memset(p, 0, sizeof(*p));
	rc = card_see(op, entry_get(e, "uid"), &seen);
	if (rc == 0)
		rc = card_prove_counted(op, entry_get(e, "uid"), pin, &seen, p);
	card_seen_clear(&seen);
	return rc;
}

/* The certificate goes on the account, with what card list shows of it. */
static int link_store(const struct card_op *op, const struct entry *e, const struct card_proof *p,
	struct card_link_result *ret)
{
	const char *login = entry_get(e, "uid");
	struct entry *other = NULL;
	char *info = NULL, linked[16];
	struct mods m;
	int rc;

	/* The card of another professional does not go on this account. */
	if ((p->subject.kind == CARD_ID_RPPS && entry_get(e, "mmRpps") &&
		    strcmp(p->subject.id, entry_get(e, "mmRpps"))) ||
		(p->subject.kind == CARD_ID_ADELI && entry_get(e, "mmAdeli") &&
			strcasecmp(p->subject.id, entry_get(e, "mmAdeli")))) {
		card_audit(op, login, false, "card_mismatch");
		return card_refuse(op->f, -EACCES, "card_mismatch",
			"le numéro national de la carte n'est pas celui du compte");
	}
	rc = card_find_by(op, "mmCardCert", p->fingerprint, "", &other);
	if (rc == 0 && strcmp(other->dn, e->dn)) {
		entry_free(other);
		card_audit(op, login, false, "linked_elsewhere");
		return card_refuse(
			op->f, -EEXIST, "linked_elsewhere", "cette carte est déjà liée à un autre compte");
	}
	entry_free(other);
	if (rc < 0 && rc != -ENOENT)
		return fault_store(op->f, rc, login);
	store_time((long long)time(NULL), linked);
	store_time(p->not_before, ret->not_before);
	store_time(p->not_after, ret->not_after);
	if (rc == -ENOENT) {
		if (asprintf(&info, "%s %s %s %s %s", p->fingerprint, linked, ret->not_before, ret->not_after,
			    p->subject_dn) < 0)
			return fault_set(op->f, -ENOMEM, "mémoire insuffisante");
		mods_init(&m);
		mods_add(&m, LDAP_MOD_ADD, "mmCardCert", p->fingerprint);
		mods_add(&m, LDAP_MOD_ADD, "mmCardInfo", info);
		rc = store_modify(op->s, e->dn, &m);
		mods_free(&m);
		free(info);
		if (rc < 0)
			return fault_store(op->f, rc, login);
	}
	card_audit(op, login, true, p->fingerprint);
	snprintf(ret->login, sizeof(ret->login), "%s", login);
	memcpy(ret->fingerprint, p->fingerprint, sizeof(ret->fingerprint));
	snprintf(ret->subject, sizeof(ret->subject), "%s", p->subject_dn);
	return 0;
}

int card_link(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *account, const struct card_link_args *a, struct card_link_result *ret,
	struct fault *f)
{
	const struct card_op op = {s, c, who, "card_link", f};
	bool by_user = a->txn || a->link_ticket;
	struct card_proof p;
	int rc;

	memset(ret, 0, sizeof(*ret));
	memset(&p, 0, sizeof(p));
	/* Which account is the door's (its access row); how a link is proven is ours. */
	if (!who->admin && !by_user)
		return fault_set(f, -EACCES, "réservé aux administrateurs");
	if (by_user && a->pin)
		return fault_field(f, "pin", "unexpected", "code PIN : pas avec txn et link_ticket");
	if (!by_user && (rc = card_pin_check(f, a->pin)) < 0)
		return rc;
	if (accounts_is_org(account) || entry_has_value(account, "mmStatus", MM_STATUS_CLOSED)) {
		card_audit(&op, entry_get(account, "uid"), false, "account_state");
		return card_refuse(
			f, -EPERM, "account_state", "une carte se lie à un compte individuel non clos");
	}
	rc = by_user ? link_by_user(&op, account, a, &p) : link_by_admin(&op, account, a->pin, &p);
	if (rc == 0)
		rc = link_store(&op, account, &p, ret);
	card_proof_clear(&p);
	return rc;
}

/* ------------------------------------------------------------ list, unlink */

int card_records(const struct entry *account, struct card_record **ret, size_t *ret_n)
{
	const struct attr *certs = entry_attr(account, "mmCardCert"),
			  *infos = entry_attr(account, "mmCardInfo");
	struct card_record *v;
	size_t n = certs ? certs->nvals : 0;

	*ret = NULL;
	*ret_n = 0;
	if (n == 0)
		return 0;
	if (!(v = calloc(n, sizeof(*v))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *fp = certs->vals[i];
		size_t fl = strlen(fp);

		v[i].fingerprint = fp;
		/* mmCardInfo: "<fingerprint> <linked> <not before> <not after> <subject>" */
		for (size_t j = 0; infos && j < infos->nvals; j++) {
			const char *info = infos->vals[j];
			char linked[16] = "", nb[16] = "", na[16] = "";
			int off = 0;

			if (strncmp(info, fp, fl) || info[fl] != ' ')
				continue;
			if (sscanf(info + fl, " %15s %15s %15s %n", linked, nb, na, &off) != 3 || !off)
				continue;
			v[i].subject = info + fl + off;
			memcpy(v[i].linked_at, linked, sizeof(linked));
			memcpy(v[i].not_before, nb, sizeof(nb));
			memcpy(v[i].not_after, na, sizeof(na));
			break;
		}
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int card_unlink(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *account, const char *fingerprint, struct fault *f)
{
	const struct card_op op = {s, c, who, "card_unlink", f};
	const char *login = entry_get(account, "uid"), *fp = fingerprint;
	const struct attr *infos;
	struct mods m;
	int rc;

	if (!fp || strlen(fp) != CARD_FP_LEN || strncmp(fp, "sha256:", 7) ||
		strspn(fp + 7, "0123456789abcdef") != 64)
		return fault_field(
			f, "fingerprint", "syntax", "empreinte : sha256: suivi de 64 chiffres hexadécimaux");
	if (!entry_has_value(account, "mmCardCert", fp)) {
		card_audit(&op, login, false, "not linked");
		return fault_set(f, -ENOENT, "aucune carte liée avec cette empreinte");
	}
	mods_init(&m);
	mods_add(&m, LDAP_MOD_DELETE, "mmCardCert", fp);
	infos = entry_attr(account, "mmCardInfo");
	for (size_t j = 0; infos && j < infos->nvals; j++)
		if (!strncmp(infos->vals[j], fp, CARD_FP_LEN) && infos->vals[j][CARD_FP_LEN] == ' ')
			mods_add(&m, LDAP_MOD_DELETE, "mmCardInfo", infos->vals[j]);
	rc = store_modify(s, account->dn, &m);
	mods_free(&m);
	if (rc < 0)
		return fault_store(f, rc, login);
	card_audit(&op, login, true, fp);
	return 0;
}
