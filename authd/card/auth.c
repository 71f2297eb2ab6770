/* Logging in with a CPS card: which account the card is (a linked
 * certificate, else its national id), who may try its PIN, the proof, the
 * account's state. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "card_priv.h"
#include "protocol.h"
#include "secret.h"
#include "validate.h"

const char *const card_account_attrs[] = {"uid", "mmStatus", "mmAccountType", "uidNumber", "mmRpps",
	"mmAdeli", "mmCardCert", "mmCardInfo", "mmLoginMail", NULL};

int card_find_by(
	const struct card_op *op, const char *attr, const char *value, const char *extra, struct entry **ret)
{
	char *esc = store_escape(value), *filter = NULL;
	int rc;

	*ret = NULL;
	if (!esc || asprintf(&filter, "(&(objectClass=mmAccount)%s(%s=%s))", extra, attr, esc) < 0) {
		free(esc);
		return -ENOMEM;
	}
	rc = store_search_one(op->s, op->c->ldap_base, LDAP_SCOPE_SUBTREE, filter, card_account_attrs, ret);
	free(esc);
	free(filter);
	return rc;
}

/* The account a card maps to: a linked certificate first; then, only with
 * card_map_by_rpps, the PER of its subject's national id. By default the
 * fiche réflexe holds: "Votre carte CPx doit être préalablement liée à votre
 * compte", so an unlinked card gets link_required and its link ticket. */
static int card_owner(const struct card_op *op, const char *fingerprint, const struct card_subject *subject,
	struct entry **ret)
{
	int rc = card_find_by(op, "mmCardCert", fingerprint, "", ret);

	if (rc == -ENOENT && op->c->card_map_by_rpps && subject->kind != CARD_ID_NONE)
		rc = card_find_by(op, subject->kind == CARD_ID_RPPS ? "mmRpps" : "mmAdeli", subject->id,
			"(mmAccountType=PER)", ret);
	return rc;
}

/* Is name (a login or login e-mail, as the request gave it) this account's? */
static bool names_account(const char *name, const struct entry *e)
{
	const char *uid = entry_get(e, "uid"), *mail = entry_get(e, "mmLoginMail");

	return (uid && !strcmp(name, uid)) || (mail && !strcasecmp(name, mail));
}

/* May this caller log in as the card's account? The user it named, and a
 * caller that is not root only as itself (a screen locker). */
static bool card_caller_may(const struct caller *who, const char *user, const struct entry *e)
{
	if (user && !names_account(user, e))
		return false;
	return who->uid == 0 || accounts_owned_by(e, who->uid);
}

static int card_mismatch(const struct card_op *op, const char *account)
{
	card_audit(op, account, false, "card_mismatch");
	return card_refuse(op->f, -EACCES, "card_mismatch", "cette carte n'est pas celle de ce compte");
}

/* A card of no account, to a caller that is not root: its PIN is worth a try
 * only to link it to the caller's own account (a link ticket). A caller with
 * no account, or whose national id is not the card's, spends none of its tries. */
static int card_unmapped_may(const struct card_op *op, const char *user, const struct card_subject *s)
{
	struct entry *me = NULL;
	const char *own = NULL;
	int rc;

	if (op->who->uid == 0)
		return 0;
	rc = access_own_account(op->c, op->s, op->who, card_account_attrs, &me);
	if (rc < 0 && rc != -ENOENT)
		return fault_store(op->f, rc, "compte");
	if (me && s->kind != CARD_ID_NONE)
		own = entry_get(me, s->kind == CARD_ID_RPPS ? "mmRpps" : "mmAdeli");
	if (!me || (own && strcasecmp(own, s->id)) || (user && !names_account(user, me))) {
		rc = card_mismatch(op, user ? user : me ? entry_get(me, "uid") : NULL);
		entry_free(me);
		return rc;
	}
	entry_free(me);
	return 0;
}

/* The card proved itself but maps to no account: a ticket to link it. */
static int link_required(const struct card_op *op, const char *user, const struct card_proof *p,
	char ret_ticket[SECRET_TOKEN_HEX])
{
	char reason[128];

	snprintf(reason, sizeof(reason), "link_required %s", p->fingerprint);
	card_audit(op, user, false, reason);
	fault_put(op->f, "reason", "link_required");
	fault_put(op->f, "fingerprint", p->fingerprint);
	fault_put(op->f, "national_id", p->subject.cn);
	if (card_ticket_issue(op->c, p, ret_ticket) < 0)
		ret_ticket[0] = '\0';
	return fault_set(
		op->f, -ENOENT, "carte CPS non liée à un compte Medimail : liez-la une fois à votre compte");
}

int card_auth(struct store *s, const struct mm_config *c, const struct caller *who, const char *pin,
	const char *user, struct card_auth_result *ret, struct fault *f)
{
	const struct card_op op = {s, c, who, "auth", f};
	struct card_seen seen;
	struct card_proof p;
	struct entry *e = NULL;
	const char *status;
	int rc;

	memset(ret, 0, sizeof(*ret));
	memset(&p, 0, sizeof(p));
	if ((rc = card_pin_check(f, pin)) < 0)
		return rc;
	if (user && validate_text(user, 254) < 0)
		return fault_field(f, "user", "characters", "identifiant invalide");
	/* Whose card it is, before its PIN is tried: a caller that may not log in
	 * as that account spends none of the card's tries. */
	if ((rc = card_see(&op, user, &seen)) < 0)
		return rc;
	rc = card_owner(&op, seen.fingerprint, &seen.subject, &e);
	if (rc < 0 && rc != -ENOENT) {
		rc = fault_store(f, rc, "carte");
		goto out;
	}
	if (rc == 0 && !card_caller_may(who, user, e)) {
		rc = card_mismatch(&op, user ? user : entry_get(e, "uid"));
		goto out;
	}
	if (rc == -ENOENT && (rc = card_unmapped_may(&op, user, &seen.subject)) < 0)
		goto out;
	/* The wrong PINs are audited under the card's account (the owner's
	 * record), not only under the name the caller typed, if any. */
	if (e)
		snprintf(seen.owner, sizeof(seen.owner), "%s", entry_get(e, "uid") ?: "");
	entry_free(e);
	e = NULL;
	if ((rc = card_prove_counted(&op, seen.owner[0] ? seen.owner : user, pin, &seen, &p)) < 0)
		goto out;
	/* Mapped again from the proven certificate (the account may have changed meanwhile). */
	rc = card_owner(&op, p.fingerprint, &p.subject, &e);
	if (rc == -ENOENT) {
		rc = link_required(&op, user, &p, ret->link_ticket);
		goto out;
	}
	if (rc < 0) {
		rc = fault_store(f, rc, "carte");
		goto out;
	}
	if (!card_caller_may(who, user, e)) {
		rc = card_mismatch(&op, user ? user : entry_get(e, "uid"));
		goto out;
	}
	status = entry_get(e, "mmStatus");
	if (!status || strcmp(status, MM_STATUS_ACTIVE)) {
		card_audit(&op, entry_get(e, "uid"), false, status ? status : "no status");
		fault_put(f, "reason", "account_state");
		fault_put(f, "status", status);
		rc = fault_set(f, -EPERM, "compte %s : connexion impossible (statut : %s)",
			entry_get(e, "uid"), status ? status : "?");
		goto out;
	}
	if (seen.prior > 0) {
		/* Someone typed wrong PINs on this card since its last right PIN: the owner is told. */
		char reason[CARD_FP_LEN + 64];

		snprintf(reason, sizeof(reason), "%s after %lld wrong PIN(s)", p.fingerprint, seen.prior);
		card_audit(&op, entry_get(e, "uid"), true, reason);
		ret->pin_failures = seen.prior;
	} else {
		card_audit(&op, entry_get(e, "uid"), true, p.fingerprint);
	}
	snprintf(ret->login, sizeof(ret->login), "%s", entry_get(e, "uid"));
	memcpy(ret->fingerprint, p.fingerprint, sizeof(ret->fingerprint));
	snprintf(ret->national_id, sizeof(ret->national_id), "%s", p.subject.cn);
	if (strcmp(c->card_removal_action, "none"))
		card_monitor_start(c, entry_get(e, "uid"), p.token);
	rc = 0;
out:
	entry_free(e);
	card_proof_clear(&p);
	card_seen_clear(&seen);
	return rc;
}
