/* Validation by the service centre, status changes and INT -> PER conversion (account.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account_int.h"
#include "log.h"
#include "mail.h"
#include "mcache.h"
#include "names.h"
#include "protocol.h"
#include "validate.h"

#define ID_TRIES 100 /* numbers skipped because the host took them */

const char *const account_validate_attrs[] = {"uid", "mmAccountType", "mmStatus", "mmLoginMail",
	"mmMssAddress", "sn", "givenName", "cn", "mmProfessionCode", "mmRespProfession", "postalCode", "l",
	"uidNumber", "gidNumber", NULL};

const char *const account_status_attrs[] = {
	"uid", "mmStatus", "mmValidatedAt", "mmSuspendedByStructure", "mmConfirmHash", NULL};

/* Allocates the next number of a range from a counter in the directory. */
static int id_allocate(struct store *s, const struct mm_config *c, const char *attr, unsigned min,
	unsigned max, unsigned *ret)
{
	char *dn = NULL;
	long long v = 0;
	int rc;

	if (asprintf(&dn, "cn=idpool,ou=system,%s", c->ldap_base) < 0)
		return -ENOMEM;
	rc = store_increment(s, dn, attr, 1, &v);
	if (rc == -ENOENT || rc == -ESTALE) {
		/* First allocation: create the counter (or its attribute), then retry. */
		struct mods m;

		mods_init(&m);
		if (rc == -ENOENT) {
			mods_add(&m, LDAP_MOD_ADD, "objectClass", "mmIdPool");
			mods_add(&m, LDAP_MOD_ADD, "cn", "idpool");
			mods_addf(&m, LDAP_MOD_ADD, attr, "%u", min - 1);
			rc = store_add(s, dn, &m);
		} else {
			mods_addf(&m, LDAP_MOD_ADD, attr, "%u", min - 1);
			rc = store_modify(s, dn, &m);
		}
		mods_free(&m);
		if (rc == 0 || rc == -EEXIST)
			rc = store_increment(s, dn, attr, 1, &v);
	}
	free(dn);
	if (rc < 0)
		return rc;
	if (v < (long long)min || v > (long long)max)
		return -ENOSPC;
	*ret = (unsigned)v;
	return 0;
}

/* The ORG's notice, as guides 001 and 002 say: nobody logs in to a BAL ORG;
 * its members reach it from their individual account with "Changer de
 * compte", and its address shows in the annuaire santé within 72 h. */
static int org_validated_text(const struct entry *e, const char *address, char **ret)
{
	return asprintf(ret,
		"Bonjour,\n\nLe centre de services a validé le compte organisationnel (BAL ORG) « %s ».\n\n"
		"%s%s%s"
		"Le compte sera visible dans l'annuaire santé dans les 72h, après que le Centre de "
		"Services du GRADeS ait finalisé le paramétrage du compte, notamment la création de "
		"l'adresse MSSanté.\n\n"
		"Pour accéder à la boîte organisationnelle :\n"
		"1. Connectez-vous à Medimail avec votre compte individuel nominatif : son identifiant "
		"(l'adresse mail de ce compte individuel) et son mot de passe. On ne se connecte pas "
		"avec l'adresse du compte organisationnel.\n"
		"2. Saisissez le code à usage unique (code OTP) envoyé sur votre adresse mail.\n"
		"3. Par défaut, vous arrivez sur votre compte individuel : cliquez sur l'intitulé du "
		"compte en haut à droite, puis sur « Changer de compte », et sur l'adresse du compte "
		"organisationnel.",
		entry_get(e, "cn") ? entry_get(e, "cn") : entry_get(e, "uid"),
		address ? "Adresse MSSanté du compte : " : "", address ? address : "", address ? "\n" : "");
}

static int person_validated_text(const struct entry *e, const char *address, char **ret)
{
	const char *type = entry_get(e, "mmAccountType");
	char *body = NULL;

	if (asprintf(&body,
		    "Bonjour,\n\nLe centre de services a validé votre compte Medimail.\n\n"
		    "Identifiant de connexion : %s\n%s%s%s\n"
		    "À la première connexion, saisissez votre mot de passe puis le code à usage unique\n"
		    "reçu par e-mail, et acceptez les conditions générales d'utilisation.",
		    entry_get(e, "mmLoginMail"), address ? "Adresse MSSanté : " : "", address ? address : "",
		    address ? "\n" : "") < 0)
		return -1;
	if (!strcmp(type, MM_TYPE_INT) && !address) {
		char *more = NULL;

		if (asprintf(&more,
			    "%s\n\nCompte INT : le centre de services ne lui a pas attribué d'adresse "
			    "MSSanté ; il n'apparaît pas dans l'annuaire santé.",
			    body) >= 0) {
			free(body);
			body = more;
		}
	} else if (!strcmp(type, MM_TYPE_MED)) {
		char *more = NULL;

		if (asprintf(&more,
			    "%s\n\nCompte Medimail : sans adresse MSSanté, vous ne pouvez pas répondre aux "
			    "messages des autres opérateurs MSSanté. Une délégation vers un compte PER ou "
			    "une BAL ORG "
			    "est conseillée.",
			    body) >= 0) {
			free(body);
			body = more;
		}
	}
	*ret = body;
	return 0;
}

/* The notice mail; false when it could not be sent. */
static bool send_validated(const struct mm_config *c, const struct entry *e, const char *address)
{
	char *body = NULL;
	bool ok;

	if ((accounts_is_org(e) ? org_validated_text(e, address, &body)
				: person_validated_text(e, address, &body)) < 0)
		return true; /* as before: no mail, no complaint */
	ok = mail_send(c, MAIL_ACCOUNT, entry_get(e, "mmLoginMail"), c->validated_subject, body) >= 0;
	free(body);
	return ok;
}

/* A number already in the entry (written straight into the directory) must not be the host's. */
static int id_servable(const struct mm_config *c, const struct entry *e, bool org, struct fault *f)
{
	struct host_view *h = host_view_get(ACCOUNT_HOST_VIEW_AGE);
	const char *v = entry_get(e, org ? "gidNumber" : "uidNumber"), *rule = NULL;
	char *end;
	unsigned long n;
	int rc;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || n > UINT32_MAX) {
		rc = -EINVAL;
		rule = org ? "gid_range" : "uid_range";
	} else {
		rc = org ? names_check_gid(c, h, (uint32_t)n, NAMES_ASK_HOST, &rule)
			 : names_check_uid(c, h, (uint32_t)n, NAMES_ASK_HOST, &rule);
	}
	host_view_put(h);
	if (rc == 0)
		return 0;
	return fault_field(f, org ? "gid_number" : "uid_number", rule, "%s %s : %s (règle %s)",
		org ? "gid" : "uid", v, names_rule_message(rule), rule);
}

/* A new uid (gid for an ORG), skipping the numbers the host took since start-up. */
static int id_new(struct store *s, const struct mm_config *c, bool org, unsigned *ret, struct fault *f)
{
	struct host_view *h = host_view_get(ACCOUNT_HOST_VIEW_AGE);
	int rc = -ENOSPC;

	for (unsigned t = 0; t < ID_TRIES; t++) {
		const char *rule;

		rc = org ? id_allocate(s, c, "gidNumber", c->gid_min, c->gid_max, ret)
			 : id_allocate(s, c, "uidNumber", c->uid_min, c->uid_max, ret);
		if (rc < 0 ||
			(org ? names_check_gid(c, h, *ret, NAMES_ASK_HOST, &rule)
			     : names_check_uid(c, h, *ret, NAMES_ASK_HOST, &rule)) == 0)
			break;
		log_msg(LOG_WARNING, "%s %u is the host's: skipped", org ? "gid" : "uid", *ret);
		rc = -ENOSPC;
	}
	host_view_put(h);
	if (rc == -ENOSPC)
		return fault_set(f, rc, "plage de numéros %s épuisée", org ? "gid" : "uid");
	if (rc < 0)
		return fault_store(f, rc, "validation");
	return 0;
}

/* home_template with %u replaced by the login. */
static void home_of(const struct mm_config *c, const char *login, char *home, size_t size)
{
	const char *t = c->home_template;
	size_t o = 0;

	for (; *t && o + 1 < size; t++) {
		if (t[0] == '%' && t[1] == 'u') {
			o += (size_t)snprintf(home + o, size - o, "%s", login);
			t++;
		} else {
			home[o++] = *t;
		}
	}
	home[o < size ? o : size - 1] = '\0';
}

int account_mss_parse(const char *value, enum account_mss *ret, struct fault *f)
{
	*ret = ACCOUNT_MSS_DEFAULT;
	if (!value)
		return 0;
	if (!strcmp(value, "yes"))
		*ret = ACCOUNT_MSS_YES;
	else if (!strcmp(value, "no"))
		*ret = ACCOUNT_MSS_NO;
	else
		return fault_field(f, "mss", "yes_no", "adresse MSSanté : yes ou no");
	return 0;
}

/* Does the account get an MSSanté address? Guide 000: a BAL PER is a "compte
 * donnant lieu à une adresse MSSanté", a BAL INT a "compte pouvant donner
 * lieu à une adresse MSSanté dans l'annuaire MSS national": the centre
 * decides, and without its decision an INT has none. */
static int mss_wanted(const struct entry *e, enum account_mss mss, bool *ret, struct fault *f)
{
	const char *type = entry_get(e, "mmAccountType");

	*ret = false;
	if (!strcmp(type, MM_TYPE_INT)) {
		*ret = mss == ACCOUNT_MSS_YES;
		return 0;
	}
	if (!strcmp(type, MM_TYPE_MED)) {
		if (mss == ACCOUNT_MSS_YES)
			return fault_field(
				f, "mss", "type", "adresse MSSanté : un compte Medimail (MED) n'en a pas");
		return 0;
	}
	if (mss == ACCOUNT_MSS_NO)
		return fault_field(f, "mss", "type",
			"adresse MSSanté : un compte %s donne toujours lieu à une adresse MSSanté", type);
	*ret = true;
	return 0;
}

int account_validate(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, enum account_mss mss, struct account_validated *ret, struct fault *f)
{
	const char *login = entry_get(e, "uid");
	char stamp[16], home[512];
	struct mods m;
	bool org, has_address;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if (strcmp(entry_get(e, "mmStatus"), MM_STATUS_PENDING_VALIDATION)) {
		caller_audit(who, "validate", NULL, login, false, "wrong status");
		return fault_set(f, -EPERM, "le compte %s est %s : seule une inscription confirmée se valide",
			login, entry_get(e, "mmStatus"));
	}
	if ((rc = account_org_joint_ready(s, c, who, e, f)) < 0) /* "Non": validated together */
		return rc;
	org = ret->org = accounts_is_org(e);
	/* The login may have been written into the directory after registration. */
	if ((rc = account_login_servable(c, org, login, "login", "identifiant", f)) < 0) {
		caller_audit(who, "validate", NULL, login, false, "name refused by the name-service rule");
		return rc;
	}
	if (entry_get(e, org ? "gidNumber" : "uidNumber") && (rc = id_servable(c, e, org, f)) < 0) {
		caller_audit(who, "validate", NULL, login, false, "number known to the host");
		return rc;
	}
	if (mss == ACCOUNT_MSS_YES && !who->admin && !strcmp(entry_get(e, "mmAccountType"), MM_TYPE_INT)) {
		/* A structure administrator validates; the INT's address is the centre's decision. */
		caller_audit(who, "validate", NULL, login, false, "mss decided by the service centre");
		return fault_field(f, "mss", "service_centre",
			"adresse MSSanté d'un compte INT : décidée par le centre de services");
	}
	if ((rc = mss_wanted(e, mss, &has_address, f)) < 0) {
		caller_audit(who, "validate", NULL, login, false, "mss refused for the type");
		return rc;
	}
	if (has_address && entry_get(e, "mmMssAddress"))
		snprintf(ret->mss_address, sizeof(ret->mss_address), "%s", entry_get(e, "mmMssAddress"));
	else if (has_address &&
		(rc = account_assign_address(s, c, e, ret->mss_address, sizeof(ret->mss_address))) < 0)
		return rc == -ENOSPC ? fault_set(f, rc, "aucune adresse MSSanté libre pour ce nom")
				     : fault_store(f, rc, "validation");
	if (!entry_get(e, org ? "gidNumber" : "uidNumber") && (rc = id_new(s, c, org, &ret->id, f)) < 0)
		return rc;
	store_time(account_now(), stamp);
	mods_init(&m);
	mods_add(&m, LDAP_MOD_REPLACE, "mmStatus", MM_STATUS_ACTIVE);
	mods_add(&m, LDAP_MOD_REPLACE, "mmValidatedAt", stamp);
	/* Guides 001/002, "dans les 72h": an ORG's address waits for the
	 * service centre's publication (account_publish, publish.c). */
	ret->pending_publication = org && ret->mss_address[0];
	if (ret->pending_publication)
		mods_add(&m, LDAP_MOD_REPLACE, "mmMssPending", "TRUE");
	if (ret->id && org) {
		mods_addf(&m, LDAP_MOD_REPLACE, "gidNumber", "%u", ret->id);
	} else if (ret->id) {
		home_of(c, login, home, sizeof(home));
		mods_addf(&m, LDAP_MOD_REPLACE, "uidNumber", "%u", ret->id);
		mods_addf(&m, LDAP_MOD_REPLACE, "gidNumber", "%u", (unsigned)c->user_gid);
		mods_add(&m, LDAP_MOD_REPLACE, "homeDirectory", home);
		mods_add(&m, LDAP_MOD_REPLACE, "loginShell", c->shell);
	}
	rc = store_modify(s, e->dn, &m);
	mods_free(&m);
	if (rc < 0)
		return fault_store(f, rc, "validation");
	mcache_changed(s, c, e->dn); /* a new user or group for the name service */
	account_org_join_validated(s, c, who, e); /* "Créer un compte de connexion" (org_register.c) */
	caller_audit(who, "validate", NULL, login, true,
		ret->mss_address[0] ? ret->mss_address : "no MSSanté address");
	ret->notice_failed = !send_validated(c, e, ret->mss_address[0] ? ret->mss_address : NULL);
	return 0;
}

int account_set_status(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, const char *status, const char *reason, const char **ret_status,
	struct fault *f)
{
	const char *cur = entry_get(e, "mmStatus"), *target = status;
	struct mods m;
	int rc;

	(void)c;
	*ret_status = NULL;
	if (reason && !*reason)
		reason = NULL;
	if (reason && validate_text(reason, 256) < 0)
		return fault_field(f, "reason", "characters", "motif : texte de 256 octets au plus");
	if (!strcmp(cur, MM_STATUS_CLOSED))
		return fault_set(f, -EPERM, "le compte %s est clos", entry_get(e, "uid"));
	if (!strcmp(status, MM_STATUS_ACTIVE)) {
		if (strcmp(cur, MM_STATUS_SUSPENDED))
			return fault_set(f, -EPERM, "seul un compte suspendu se réactive (statut : %s)", cur);
		/* A structure administrator undoes its own kind of suspension only. */
		if (!who->admin && !entry_has_value(e, "mmSuspendedByStructure", "TRUE")) {
			caller_audit(who, status, NULL, entry_get(e, "uid"), false,
				"suspended by the service centre");
			return fault_set(f, -EACCES,
				"le compte %s a été suspendu par le centre de services : lui seul le "
				"réactive",
				entry_get(e, "uid"));
		}
		/* Suspended before its validation: back to the validation queue, or
		 * before its confirmation (its link unused, confirm.c) back to
		 * waiting for it: a suspension never stands for the proof of the
		 * login e-mail. */
		if (!entry_get(e, "mmValidatedAt"))
			target = entry_get(e, "mmConfirmHash") ? MM_STATUS_PENDING_CONFIRMATION
							       : MM_STATUS_PENDING_VALIDATION;
	} else if (!strcmp(status, MM_STATUS_SUSPENDED) && !strcmp(cur, MM_STATUS_SUSPENDED)) {
		return fault_set(f, -EPERM, "le compte %s est déjà suspendu", entry_get(e, "uid"));
	}
	mods_init(&m);
	mods_add(&m, LDAP_MOD_REPLACE, "mmStatus", target);
	mods_add(&m, LDAP_MOD_REPLACE, "mmStatusReason", reason);
	/* Who suspended: a structure administrator, or the service centre. */
	mods_add(&m, LDAP_MOD_REPLACE, "mmSuspendedByStructure",
		!strcmp(target, MM_STATUS_SUSPENDED) && !who->admin ? "TRUE" : NULL);
	rc = store_modify(s, e->dn, &m);
	mods_free(&m);
	if (rc < 0)
		return fault_store(f, rc, "statut");
	mcache_changed(s, c, e->dn); /* users and groups appear or disappear with the status */
	caller_audit(who, status, NULL, entry_get(e, "uid"), true, reason);
	*ret_status = target;
	return 0;
}

int account_convert(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, const char *rpps, char ret_address[256], struct fault *f)
{
	struct mods m;
	bool dup = false;
	int rc;

	ret_address[0] = '\0';
	if (!rpps || validate_rpps(rpps) < 0)
		return fault_field(f, "rpps", "check_digit",
			"numéro RPPS : 11 chiffres dont une clé de contrôle (Luhn) valide");
	if (strcmp(entry_get(e, "mmAccountType"), MM_TYPE_INT))
		return fault_set(f, -EPERM, "seul un compte INT se convertit en PER (type : %s)",
			entry_get(e, "mmAccountType"));
	if ((rc = account_exists_with(s, c, "mmRpps", rpps, &dup)) < 0)
		return fault_store(f, rc, "conversion");
	if (dup) {
		fault_field(f, "rpps", "duplicate", "numéro RPPS : un compte existe déjà avec ce RPPS");
		return f->status = -EEXIST;
	}
	mods_init(&m);
	mods_add(&m, LDAP_MOD_REPLACE, "mmAccountType", MM_TYPE_PER);
	mods_add(&m, LDAP_MOD_REPLACE, "mmRpps", rpps);
	mods_addf(&m, LDAP_MOD_REPLACE, "mmNationalId", "8%s", rpps);
	rc = store_modify(s, e->dn, &m);
	mods_free(&m);
	if (rc < 0)
		return fault_store(f, rc, "conversion");
	if (entry_get(e, "mmMssAddress"))
		snprintf(ret_address, 256, "%s", entry_get(e, "mmMssAddress"));
	else if (!strcmp(entry_get(e, "mmStatus"), MM_STATUS_ACTIVE) &&
		(rc = account_assign_address(s, c, e, ret_address, 256)) < 0)
		return fault_store(f, rc, "conversion");
	caller_audit(who, "convert", NULL, entry_get(e, "uid"), true, "INT -> PER");
	return 0;
}
