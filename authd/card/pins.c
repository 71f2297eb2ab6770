/* The daemons' count of a card's PIN tries, under ou=sessions (so that every
 * daemon counts it): a try is reserved before the card sees the PIN, and
 * settled after. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "card_priv.h"
#include "log.h"
#include "secret.h"

static int pin_count_dn(const struct mm_config *c, const struct card_seen *seen, char **ret)
{
	char hash[SECRET_HASH_HEX];

	*ret = NULL;
	if (secret_keyed_hash("card-pin", seen->fingerprint, hash) < 0)
		return -EIO;
	if (asprintf(ret, "mmSessionId=%s,ou=sessions,%s", hash, c->ldap_base) < 0) {
		*ret = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Reserves one PIN try of this card in the directory, before the card sees
 * the PIN: increment, then compare. A count lasts card_pin_lockout seconds
 * from its first try, or until a right PIN. 0 with the try reserved, or the
 * refusal in op->f. */
static int pin_try_reserve(const struct card_op *op, const char *account, struct card_seen *seen)
{
	static const char *const attrs[] = {"mmSessionExpires", NULL};
	struct store *counters = store_counters(op->s);
	const struct mm_config *c = op->c;
	struct entry *e = NULL;
	char *dn = NULL, expires[16], hash[SECRET_HASH_HEX];
	long long n = 0, now = (long long)time(NULL);
	int rc;

	if ((rc = pin_count_dn(c, seen, &dn)) < 0)
		return fault_set(op->f, rc, "compteur de codes PIN indisponible");
	rc = store_read(counters, dn, attrs, &e);
	if (rc == 0 && entry_get(e, "mmSessionExpires") &&
		store_parse_time(entry_get(e, "mmSessionExpires")) <= now) {
		struct mods m;

		/* A lapsed count starts again in place, and only once: the old expiry
		 * is the compare. Deleting it instead would also delete the fresh count
		 * a parallel request just made, and both would count from 1. */
		store_time(now + c->card_pin_lockout, expires);
		mods_init(&m);
		mods_add(&m, LDAP_MOD_DELETE, "mmSessionExpires", entry_get(e, "mmSessionExpires"));
		mods_add(&m, LDAP_MOD_ADD, "mmSessionExpires", expires);
		mods_add(&m, LDAP_MOD_REPLACE, "mmFailCount", "0");
		rc = store_modify(counters, dn, &m);
		mods_free(&m);
		if (rc < 0 && rc != -ESTALE && rc != -ENOENT) /* else reset or cleared meanwhile */
			log_msg(LOG_WARNING, "lapsed PIN count not reset: %s", strerror(-rc));
	}
	entry_free(e);
	rc = store_increment(counters, dn, "mmFailCount", 1, &n);
	if (rc == -ENOENT) {
		struct mods m;

		if ((rc = secret_keyed_hash("card-pin", seen->fingerprint, hash)) < 0) {
			fault_set(op->f, rc, "compteur de codes PIN indisponible");
			goto out;
		}
		store_time(now + c->card_pin_lockout, expires);
		mods_init(&m);
		mods_add(&m, LDAP_MOD_ADD, "objectClass", "mmSession");
		mods_add(&m, LDAP_MOD_ADD, "objectClass", "mmCardPinCount");
		mods_add(&m, LDAP_MOD_ADD, "mmSessionId", hash);
		mods_add(&m, LDAP_MOD_ADD, "mmSessionExpires", expires);
		mods_add(&m, LDAP_MOD_ADD, "mmFailCount", "1");
		mods_add(&m, LDAP_MOD_ADD, "description", "card-pin");
		rc = store_add(counters, dn, &m);
		mods_free(&m);
		n = 1;
		if (rc == -EEXIST) /* created meanwhile by another request */
			rc = store_increment(counters, dn, "mmFailCount", 1, &n);
	}
	/* The card has counted wrong PINs this count did not see (made before it
	 * lapsed, or elsewhere): the first try it knows of is its last here, so
	 * that requests reading the card at the same time cannot each spend one. */
	if (rc == 0 && n == 1 && !strcmp(seen->tries, "low") && c->card_pin_tries > 1)
		rc = store_increment(counters, dn, "mmFailCount", (long long)c->card_pin_tries - 1, &n);
	if (rc < 0) {
		rc = fault_store(op->f, rc, "compteur de codes PIN");
		goto out;
	}
	seen->prior = n - 1;
	if (n > (long long)c->card_pin_tries) {
		card_audit(op, account, false, "pin_tries");
		rc = card_refuse(op->f, -ENOLCK, "pin_tries",
			"carte CPS : trop de codes PIN faux, essais suspendus ici");
	} else if (!strcmp(seen->tries, "final")) {
		/* The card says its next wrong PIN blocks it (tries made elsewhere, or
		 * before this count lapsed): that try is never spent here. */
		card_audit(op, account, false, "pin_final_try");
		rc = card_refuse(op->f, -ENOLCK, "pin_tries",
			"carte CPS : dernier essai de code PIN, gardé pour le code PUK");
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
static void pin_try_settle(const struct card_op *op, const struct card_seen *seen, int rc, bool tried)
{
	struct store *counters = store_counters(op->s);
	char *dn = NULL;
	long long n;
	int e = 0;

	if (pin_count_dn(op->c, seen, &dn) < 0)
		return;
	/* Only a proof clears it: a card that logged in but whose signature or
	 * certificate did not verify may be any card showing this certificate
	 * (it is public), and its PIN says nothing of the card the count is for. */
	if (rc == 0)
		e = store_delete(counters, dn);
	else if (!tried)
		e = store_increment(counters, dn, "mmFailCount", -1, &n);
	if (e < 0 && e != -ENOENT)
		log_msg(LOG_WARNING, "card PIN count not updated: %s", strerror(-e));
	free(dn);
}

int card_prove_counted(const struct card_op *op, const char *account, const char *pin, struct card_seen *seen,
	struct card_proof *p)
{
	bool tried;
	int rc;

	memset(p, 0, sizeof(*p));
	if ((rc = pin_try_reserve(op, account, seen)) < 0)
		return rc;
	rc = card_prove_seen(op, account, pin, seen, p, &tried);
	pin_try_settle(op, seen, rc, tried);
	return rc;
}
