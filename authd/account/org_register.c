/* The BAL ORG registration's connection account (account.h), guides 001
 * and 002: "Oui", an existing individual account proven by its password
 * and the one-time code mailed to it, in two steps with the login's
 * lockout and try limits; and "Créer un compte de connexion" (fiche
 * réflexe), an individual account registered for an ORG, attached to it
 * once validated. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "account_int.h"
#include "log.h"
#include "mcache.h"
#include "login.h"
#include "protocol.h"
#include "validate.h"

#define PROOF_EVENT "register-org-member-proof"

/* One answer for an unknown account, an ORG, someone's with a wrong
 * password: the form probes no account. */
static int wrong_password(struct fault *f)
{
	fault_clear(f);
	return fault_set(f, -EACCES, "compte de connexion : identifiant ou mot de passe incorrect");
}

/* The account named as the connection account, read as the login reads
 * it; -ENOENT for none (or an ambiguous name). */
static int member_find(
	struct store *s, const struct mm_config *c, const char *member, struct entry **ret, struct fault *f)
{
	int rc;

	*ret = NULL;
	if (!member || !*member)
		return fault_field(f, "member", "required", "compte de connexion : champ obligatoire");
	if (validate_text(member, 254) < 0)
		return fault_field(f, "member", "characters", "compte de connexion : identifiant invalide");
	rc = accounts_find(s, c, member, login_auth_attrs, ret);
	if (rc == -ENOTUNIQ)
		rc = -ENOENT;
	if (rc < 0 && rc != -ENOENT)
		return fault_store(f, rc, "compte de connexion");
	return rc;
}

int account_org_proof_start(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *member, const char *password, struct account_org_proof *ret, struct fault *f)
{
	struct login_step step;
	struct otp_sent sent;
	struct entry *e = NULL;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if (!member || !*member)
		return fault_field(f, "member", "required", "compte de connexion : champ obligatoire");
	if (!password || !*password)
		return fault_field(f, "member_password", "required",
			"mot de passe du compte de connexion : champ obligatoire");
	if (strlen(password) > MM_PASSWORD_MAX_BYTES)
		return fault_field(f, "member_password", "max_length",
			"mot de passe du compte de connexion : %d octets au plus", MM_PASSWORD_MAX_BYTES);
	/* "Saisir l'identifiant et le mot de passe de votre compte
	 * individuel": the login's password step, its rate limits and lockout. */
	if ((rc = login_rate_take(c, who, PROOF_EVENT, NULL, f)) < 0)
		return rc;
	rc = member_find(s, c, member, &e, f);
	if (rc == -ENOENT) {
		struct fault ignored = {0};

		login_event(who, PROOF_EVENT, "password", member, false, "unknown account");
		login_unknown_refuse(c, password, &ignored);
		fault_clear(&ignored);
		return wrong_password(f);
	}
	if (rc < 0)
		return rc;
	rc = login_password_step(s, c, who, PROOF_EVENT, e, password, &step, f);
	if (rc == -EACCES)
		rc = wrong_password(f);
	if (rc < 0)
		goto out;
	if (accounts_is_org(e)) {
		/* An ORG has no password of its own; never reached, said all the same. */
		login_txn_drop(s, c, step.txn);
		rc = fault_field(f, "member", "not_individual",
			"compte de connexion : une BAL ORG s'ouvre depuis un compte individuel");
		goto out;
	}
	/* "Renseigner le code à usage unique reçu sur votre adresse mail
	 * individuelle": the login's code, mailed to the account's address. */
	if ((rc = login_otp_send_to(s, c, who, e, step.txn, &sent, f)) < 0) {
		login_txn_drop(s, c, step.txn);
		goto out;
	}
	caller_audit(who, PROOF_EVENT, "password", entry_get(e, "uid"), true,
		"password right; code sent to the individual account");
	snprintf(ret->member, sizeof(ret->member), "%s", entry_get(e, "uid"));
	snprintf(ret->txn, sizeof(ret->txn), "%s", step.txn);
	snprintf(ret->sent_to, sizeof(ret->sent_to), "%s", sent.sent_to);
	ret->expires_in = sent.expires_in;
	rc = 0;
out:
	secret_wipe(step.txn, sizeof(step.txn));
	entry_free(e);
	return rc;
}

int account_org_proof_finish(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *member, const char *txn, const char *code, struct entry **ret, struct fault *f)
{
	char login[LOGIN_NAME_MAX];
	struct entry *e = NULL;
	int rc;

	*ret = NULL;
	if (!txn || !*txn || !code || !*code)
		return fault_field(f, !txn || !*txn ? "member_txn" : "member_code", "required",
			"code à usage unique reçu sur l'adresse du compte de connexion : champ obligatoire "
			"(son mot de passe d'abord : register-org-proof)");
	if ((rc = login_rate_take(c, who, PROOF_EVENT, NULL, f)) < 0)
		return rc;
	rc = member_find(s, c, member, &e, f);
	if (rc == -ENOENT) {
		/* As login_txn_check answers a transaction of another account. */
		login_event(who, PROOF_EVENT, "otp", member, false, "unknown account");
		return fault_set(
			f, -EACCES, "le mot de passe doit être vérifié avant le code à usage unique");
	}
	if (rc < 0)
		return rc;
	/* "Je renseigne le code reçu afin de valider l'association de mon
	 * compte nominatif au compte organisationnel en cours de création": the
	 * login's code step on the transaction of this account's password
	 * step, then the transaction spent (its delete is the single-use gate). */
	if ((rc = login_otp_verify_of(s, c, who, e, txn, code, true, login, f)) < 0)
		goto out;
	if ((rc = login_txn_take(s, c, txn, e->dn)) < 0) {
		login_event(who, PROOF_EVENT, "otp", entry_get(e, "uid"), false, "transaction already used");
		rc = fault_set(f, -ESTALE, "code déjà utilisé : recommencez avec le mot de passe");
		goto out;
	}
	if (accounts_is_org(e) || !strcmp(entry_get(e, "mmStatus"), MM_STATUS_CLOSED)) {
		rc = fault_field(f, "member", "not_individual",
			"compte de connexion : une BAL ORG s'ouvre depuis un compte individuel non clos");
		goto out;
	}
	caller_audit(
		who, PROOF_EVENT, "password+otp", entry_get(e, "uid"), true, "connection account proven");
	*ret = e;
	return 0;
out:
	entry_free(e);
	return rc;
}

/* ------------------------------------------- Créer un compte de connexion */

#define JOIN_EVENT "register-connection-account"

int account_org_join_check(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *name, struct entry **ret, struct fault *f)
{
	struct entry *org = NULL;
	int rc;

	*ret = NULL;
	/* "Gestion des comptes de connexion": the ORG's own connection
	 * accounts, or an administrator; a suspended caller or ORG, nobody. */
	rc = access_resolve(
		c, s, who, ACCESS_SELF_OR_ORG, ACCESS_CALLER_ACTIVE, "org", name, NULL, JOIN_EVENT, &org, f);
	if (rc == -ENOENT && !who->admin) {
		fault_clear(f);
		return fault_set(f, -EACCES,
			"seuls les administrateurs et les comptes de connexion de la BAL ORG lui créent un "
			"compte de connexion");
	}
	if (rc < 0)
		return rc;
	if (!accounts_is_org(org)) {
		rc = fault_field(f, "org", "not_org", "%s n'est pas une BAL ORG", name);
		goto fail;
	}
	if (!strcmp(entry_get(org, "mmStatus"), MM_STATUS_CLOSED)) {
		rc = fault_field(f, "org", "closed", "la BAL ORG %s est close", entry_get(org, "uid"));
		goto fail;
	}
	*ret = org;
	return 0;
fail:
	caller_audit(who, JOIN_EVENT, NULL, entry_get(org, "uid"), false, "not an open ORG");
	entry_free(org);
	return rc;
}

/* The ORG dn the individual account e was registered for, read now
 * (malloc'ed), or NULL. */
static char *join_of(struct store *s, const struct entry *e)
{
	static const char *const attrs[] = {"mmJoinOrg", NULL};
	struct entry *me = NULL;
	char *dn = NULL;

	if (store_read(s, e->dn, attrs, &me) == 0 && entry_get(me, "mmJoinOrg"))
		dn = strdup(entry_get(me, "mmJoinOrg"));
	entry_free(me);
	return dn;
}

/* The account registered together with e ("Non"): the ORG whose member e
 * is and that e was registered for, or the member of the ORG e registered
 * for it; read with attrs (plus the identity attributes). -ENOENT: none. */
static int joint_partner(struct store *s, const struct mm_config *c, const struct entry *e,
	const char *const *attrs, struct entry **ret)
{
	const char **all = accounts_attrs_with_identity(attrs);
	const struct attr *a;
	struct entry *p = NULL;
	char *dn;

	*ret = NULL;
	if (!all)
		return -ENOMEM;
	if (!accounts_is_org(e)) {
		if ((dn = join_of(s, e)) && accounts_by_dn(s, c, dn, all, &p) == 0 && accounts_is_org(p) &&
			entry_has_value(p, "mmMember", e->dn))
			*ret = p;
		else
			entry_free(p);
		free(dn);
		free(all);
		return *ret ? 0 : -ENOENT;
	}
	a = entry_attr(e, "mmMember");
	for (size_t i = 0; a && i < a->nvals && !*ret; i++) {
		if (accounts_by_dn(s, c, a->vals[i], all, &p) < 0)
			continue;
		if (!accounts_is_org(p) && (dn = join_of(s, p)) && !strcasecmp(dn, e->dn))
			*ret = p;
		else
			entry_free(p);
		if (!*ret)
			p = NULL;
		free(dn);
		dn = NULL;
	}
	free(all);
	return *ret ? 0 : -ENOENT;
}

int account_org_joint_ready(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, struct fault *f)
{
	struct entry *p = NULL;
	int rc = 0;

	if (joint_partner(s, c, e, NULL, &p) < 0)
		return 0;
	/* Validated together, by one who may validate both: a structure
	 * administrator validating its structure's account does not validate,
	 * with it, an ORG or a member of another structure (a member of no
	 * structure, created for an ORG of its own, goes with that ORG). */
	if (!who->admin) {
		struct entry *me = NULL;
		bool mine = (!accounts_is_org(p) && !entry_get(p, "mmStructId")) ||
			(access_own_account(c, s, who, NULL, &me) == 0 && access_structure_admin_of(me, p));

		entry_free(me);
		if (!mine) {
			caller_audit(who, "validate", NULL, entry_get(e, "uid"), false,
				"joint account of another structure");
			rc = fault_set(f, -EACCES,
				"%s a été inscrit avec %s, qui n'est pas d'une structure que vous gérez : le "
				"centre de services les valide",
				entry_get(e, "uid"), entry_get(p, "uid"));
			fault_put(f, "joint", entry_get(p, "uid"));
			entry_free(p);
			return rc;
		}
	}
	/* "Les deux comptes sont confirmés et validés ensemble" (issue 14, item 2). */
	if (!strcmp(entry_get(p, "mmStatus"), MM_STATUS_PENDING_CONFIRMATION)) {
		caller_audit(
			who, "validate", NULL, entry_get(e, "uid"), false, "joint account not confirmed");
		rc = fault_set(f, -EPERM,
			"%s a été inscrit avec %s, qui n'a pas encore confirmé son adresse : les deux "
			"comptes "
			"se valident ensemble",
			entry_get(e, "uid"), entry_get(p, "uid"));
		fault_put(f, "joint", entry_get(p, "uid"));
	}
	entry_free(p);
	return rc;
}

/* Validates the account registered together with e, pending validation. */
static void joint_validate(
	struct store *s, const struct mm_config *c, const struct caller *who, const struct entry *e)
{
	struct account_validated v;
	struct fault f = {0};
	struct entry *p = NULL;

	if (joint_partner(s, c, e, account_validate_attrs, &p) < 0)
		return;
	if (!strcmp(entry_get(p, "mmStatus"), MM_STATUS_PENDING_VALIDATION)) {
		if (account_validate(s, c, who, p, ACCOUNT_MSS_DEFAULT, &v, &f) < 0)
			log_msg(LOG_WARNING, "%s: validated, but not %s registered with it: %s",
				entry_get(e, "uid"), entry_get(p, "uid"), f.message ? f.message : "?");
		else
			caller_audit(who, "validate", NULL, entry_get(p, "uid"), true,
				"validated with its joint account");
	}
	fault_clear(&f);
	entry_free(p);
}

void account_org_join_validated(
	struct store *s, const struct mm_config *c, const struct caller *who, const struct entry *e)
{
	struct entry *org = NULL;
	char *dn = NULL;
	struct mods m;
	int rc;

	/* "Non": the ORG or its member registered together, validated now too. */
	joint_validate(s, c, who, e);
	if (accounts_is_org(e) || !(dn = join_of(s, e)))
		goto out;
	/* "Créer un compte de connexion": the ORG it was registered for. */
	rc = accounts_by_dn(s, c, dn, NULL, &org);
	if (rc == 0 && accounts_is_org(org) && strcmp(entry_get(org, "mmStatus"), MM_STATUS_CLOSED)) {
		mods_init(&m);
		mods_add(&m, LDAP_MOD_ADD, "mmMember", e->dn);
		rc = store_modify(s, org->dn, &m);
		mods_free(&m);
		if (rc == 0) {
			mcache_changed(s, c, org->dn); /* the ORG's group has a new member */
			caller_audit(who, "org-member-add", NULL, entry_get(org, "uid"), true,
				entry_get(e, "uid"));
		} else if (rc != -EEXIST) {
			log_msg(LOG_WARNING, "%s: not attached to %s: %s", entry_get(e, "uid"),
				entry_get(org, "uid"), strerror(-rc));
		}
	} else {
		caller_audit(who, "org-member-add", NULL, entry_get(e, "uid"), false,
			"the ORG it was registered for is gone or closed");
	}
	mods_init(&m);
	mods_add(&m, LDAP_MOD_DELETE, "mmJoinOrg", NULL);
	if (store_modify(s, e->dn, &m) < 0)
		log_msg(LOG_WARNING, "%s: mmJoinOrg not removed", entry_get(e, "uid"));
	mods_free(&m);
out:
	free(dn);
	entry_free(org);
}

/* -------------------------------------------------------------- "Non" */

/* A refusal of the member's fields names them as the request did. */
static int member_fault(struct fault *f, int rc)
{
	const char *field = fault_get(f, "field");
	char key[80];

	if (field && strncmp(field, ACCOUNT_MEMBER_PREFIX, strlen(ACCOUNT_MEMBER_PREFIX))) {
		snprintf(key, sizeof(key), "%s%s", ACCOUNT_MEMBER_PREFIX, field);
		fault_put(f, "field", key);
	}
	return rc;
}

int account_register_org_new_member(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct account_registration *org_in, struct account_registration *mem,
	struct account_registered *ret_org, struct account_registered *ret_member, struct fault *f)
{
#define get(r, k) account_registration_get(r, k)
	struct account_registration org = *org_in;
	const char *type;
	bool taken = false;
	struct mods m;
	int rc;

	memset(ret_org, 0, sizeof(*ret_org));
	memset(ret_member, 0, sizeof(*ret_member));
	if (!org.type || strcmp(org.type, MM_TYPE_ORG))
		return fault_field(f, "type", "not_org",
			"les champs %s* créent le compte de connexion d'une BAL ORG", ACCOUNT_MEMBER_PREFIX);
	if (get(&org, "member") || get(&org, "member_txn") || get(&org, "member_code"))
		return fault_field(f, "member", "not_allowed",
			"compte de connexion : un compte existant (« Oui ») ou un compte créé avec la BAL "
			"ORG "
			"(« Non »), pas les deux");
	if (get(mem, "org") || get(mem, "member") || get(mem, "member_txn") || get(mem, "member_code"))
		return member_fault(f,
			fault_field(f, get(mem, "org") ? "org" : "member", "not_allowed",
				"compte de connexion : champ sans objet"));
	/* Guide 001: "Je dispose d'un identifiant national : RPPS ou ADELI"
	 * gives a PER, "Je ne dispose pas" a MED (guide 002: "non visible dans
	 * l'annuaire" santé). */
	type = get(mem, "rpps") || get(mem, "adeli") ? MM_TYPE_PER : MM_TYPE_MED;
	if (mem->type && *mem->type && strcmp(mem->type, type))
		return member_fault(f,
			fault_field(f, "type", "national_id",
				"compte de connexion : PER avec un RPPS ou ADELI, MED sans"));
	mem->type = type;
	if (!get(mem, "region") && get(&org, "region") &&
		(rc = account_registration_set(mem, "region", get(&org, "region"), f)) < 0)
		return member_fault(f, rc);
	if ((rc = account_registration_check(c, mem, f)) < 0)
		return member_fault(f, rc);
	org.member = get(mem, "login_mail"); /* the ORG's connection account, for its own check */
	if ((rc = account_registration_check(c, &org, f)) < 0)
		return rc;
	if (!strcasecmp(get(mem, "login_mail"), get(&org, "login_mail")))
		return fault_field(f, ACCOUNT_MEMBER_PREFIX "login_mail", "same_as_org",
			"compte de connexion : une adresse nominative, autre que l'adresse générique de la "
			"BAL ORG");
	/* The ORG's own address taken: said before the member is created (and mailed). */
	if ((rc = accounts_mail_taken(s, c, get(&org, "login_mail"), NULL, &taken)) < 0)
		return fault_store(f, rc, "inscription");
	if (taken) {
		fault_field(f, "login_mail", "duplicate",
			"adresse e-mail : un compte existe déjà avec cette adresse");
		return f->status = -EEXIST;
	}
	if ((rc = account_register(s, c, who, mem, ret_member, f)) < 0)
		return member_fault(f, rc);
	org.new_member_dn = ret_member->dn;
	org.member = ret_member->login;
	if ((rc = account_register(s, c, who, &org, ret_org, f)) < 0)
		goto withdraw;
	/* The two are validated together: the member knows its ORG. */
	mods_init(&m);
	mods_add(&m, LDAP_MOD_ADD, "mmJoinOrg", ret_org->dn);
	rc = store_modify(s, ret_member->dn, &m);
	mods_free(&m);
	if (rc < 0) {
		rc = fault_store(f, rc, "inscription");
		if (store_delete(s, ret_org->dn) < 0)
			log_msg(LOG_ERR, "registration of %s: the ORG could not be removed", ret_org->login);
		account_registered_clear(ret_org);
		goto withdraw;
	}
	caller_audit(who, "register", NULL, ret_org->login, true, "with its new connection account");
	return 0;
withdraw:
	/* Nothing half-done: the member goes with its ORG (its link, mailed, leads nowhere). */
	if (store_delete(s, ret_member->dn) < 0)
		log_msg(LOG_ERR, "registration of %s: the entry could not be removed", ret_member->login);
	caller_audit(who, "register", NULL, ret_member->login, false, "withdrawn with its ORG");
	account_registered_clear(ret_member);
	return rc;
#undef get
}
