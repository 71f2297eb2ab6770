/* Registration (account.h): the form's rules, a free login, the pending entry (the ORG's member proof: org_register.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "account_int.h"
#include "address.h"
#include "directory.h"
#include "log.h"
#include "login.h"
#include "protocol.h"
#include "records.h"
#include "secret.h"
#include "validate.h"

/* The registration's parameters that are not attributes, and their rules. */
enum pkind {
	P_TEXT,
	P_SECRET,
	P_LOGIN,
};

static const struct param {
	const char *key;
	size_t offset;
	enum pkind kind;
	size_t max;
	const char *label;
} params[] = {
	{"type", offsetof(struct account_registration, type), P_TEXT, 3, "type de compte"},
	{"password", offsetof(struct account_registration, password), P_SECRET, 1024, "mot de passe"},
	{"password_confirm", offsetof(struct account_registration, password_confirm), P_SECRET, 1024,
		"confirmation du mot de passe"},
	{"org_name", offsetof(struct account_registration, org_name), P_TEXT, 64, "nom de la BAL ORG"},
	{"member", offsetof(struct account_registration, member), P_LOGIN, 254, "compte de connexion"},
	{"member_txn", offsetof(struct account_registration, member_txn), P_SECRET, 64,
		"transaction du compte de connexion"},
	{"member_code", offsetof(struct account_registration, member_code), P_SECRET, 16,
		"code à usage unique du compte de connexion"},
	{"org", offsetof(struct account_registration, org), P_LOGIN, 254, "BAL ORG de rattachement"},
};

#define NPARAMS (sizeof(params) / sizeof(params[0]))

static const struct param *param_find(const char *key)
{
	for (size_t i = 0; i < NPARAMS; i++)
		if (!strcmp(params[i].key, key))
			return &params[i];
	return NULL;
}

static const char *param_value(const struct account_registration *reg, const struct param *p)
{
	return *(const char *const *)((const char *)reg + p->offset);
}

/* A catalogue attribute a registration may carry, and its index. */
static const struct cat_attr *reg_attr(const char *key, size_t *ret_index)
{
	size_t n;
	const struct cat_attr *all = catalog_all(&n), *a = catalog_find(key);

	if (!a || !(a->where & CAT_REGISTER) || (size_t)(a - all) >= ACCOUNT_REG_ATTRS_MAX)
		return NULL;
	*ret_index = (size_t)(a - all);
	return a;
}

bool account_registration_knows(const char *key)
{
	size_t i;

	return param_find(key) || reg_attr(key, &i);
}

int account_registration_keys(const char **keys, size_t max)
{
	size_t n, k = 0;
	const struct cat_attr *all = catalog_all(&n);

	for (size_t i = 0; i < NPARAMS; i++) {
		if (k + 1 >= max)
			return -ENOBUFS;
		keys[k++] = params[i].key;
	}
	for (size_t i = 0; i < n && i < ACCOUNT_REG_ATTRS_MAX; i++) {
		if (!(all[i].where & CAT_REGISTER))
			continue;
		if (k + 1 >= max)
			return -ENOBUFS;
		keys[k++] = all[i].key;
	}
	keys[k] = NULL;
	return (int)k;
}

/* value in its canonical form, copied into reg->norm when that differs
 * from value; value itself when it is canonical already, when normalising
 * fails (invalid UTF-8: the check refuses it) or when the canonical form is
 * still longer than max (the check says so on the value as given). */
static const char *reg_normalize(struct account_registration *reg, const struct cat_attr *a, enum pkind kind,
	size_t max, const char *value)
{
	char *out = reg->norm + reg->nnorm;
	size_t room = sizeof(reg->norm) - reg->nnorm;
	int r;

	if (!value || kind == P_SECRET)
		return value;
	r = a ? catalog_normalize(a, value, out, room) : text_squeeze(value, out, room);
	if (r < 0 || (size_t)r > max || !strcmp(out, value))
		return value;
	reg->nnorm += (size_t)r + 1;
	return out;
}

int account_registration_set(
	struct account_registration *reg, const char *key, const char *value, struct fault *f)
{
	const struct param *p = param_find(key);
	const struct cat_attr *a;
	size_t i;

	if (p) {
		*(const char **)((char *)reg + p->offset) = reg_normalize(reg, NULL, p->kind, p->max, value);
		return 0;
	}
	if (!(a = reg_attr(key, &i)))
		return fault_field(f, key, "unknown", "champ inconnu : %s", key);
	reg->attr[i] = reg_normalize(reg, a, P_TEXT, a->max, value);
	return 0;
}

const char *account_registration_get(const struct account_registration *reg, const char *key)
{
	const struct param *p = param_find(key);
	const char *v = NULL;
	size_t i;

	if (p)
		v = param_value(reg, p);
	else if (reg_attr(key, &i))
		v = reg->attr[i];
	return v && *v ? v : NULL;
}

/* The label of a field, for messages. */
static const char *label_of(const char *key)
{
	const struct param *p = param_find(key);
	const struct cat_attr *a = catalog_find(key);

	return p ? p->label : a ? a->label : key;
}

static int param_check(const struct param *p, const char *v, struct fault *f)
{
	if (p->kind != P_SECRET && validate_utf8(v, strlen(v)) < 0)
		return fault_field(f, p->key, "utf8", "%s : texte UTF-8 invalide", p->label);
	if (strlen(v) > p->max)
		return fault_field(f, p->key, "max_length", "%s : %zu caractères au plus", p->label, p->max);
	if (p->kind == P_TEXT && validate_text(v, p->max) < 0)
		return fault_field(
			f, p->key, "characters", "%s : texte vide ou caractères de contrôle", p->label);
	if (p->kind == P_LOGIN && validate_text(v, p->max) < 0)
		return fault_field(f, p->key, "characters", "%s : identifiant invalide", p->label);
	return 0;
}

/* "Choisir la région dans laquelle vous exercez" on every form: "la
 * création de compte est disponible seulement dans les régions où Medimail
 * a été choisi", the open ones named in the refusal. */
static int check_region(const struct mm_config *c, const char *region, struct fault *f)
{
	char open[512] = "";
	size_t len = 0;

	for (size_t i = 0; i < c->nregions; i++) {
		int r = snprintf(open + len, sizeof(open) - len, "%s%s", i ? ", " : "", c->regions[i]);

		if (r < 0 || (size_t)r >= sizeof(open) - len)
			break;
		len += (size_t)r;
	}
	if (!region) {
		fault_field(f, "region", "required", "région : champ obligatoire%s%s%s", len ? " (" : "",
			len ? open : "", len ? ")" : "");
		fault_put(f, "regions", len ? open : NULL);
		return -EINVAL;
	}
	if (!config_region_open(c, region)) {
		fault_field(f, "region", "closed",
			"la création de compte n'est pas ouverte dans la région %s (Medimail n'y a pas "
			"été choisi) ; régions ouvertes : %s",
			region, open);
		fault_put(f, "regions", open);
		return -EINVAL;
	}
	return 0;
}

/* Which fields each account type requires and refuses. */
static int check_type_fields(
	const struct mm_config *c, const struct account_registration *reg, const char *type, struct fault *f)
{
	static const char *const individual_req[] = {"password", "sn", "given_name", NULL};
	/* The ORG form's starred fields (guides 001/002): "Adresse", "Ville",
	 * "Code postal" and the responsible's "Identifiant" carry no star, and
	 * the form has no name field (org_name_of() derives it). */
	static const char *const org_req[] = {"description", "struct_type", "struct_id", "resp_sn",
		"resp_given_name", "resp_profession", "member", NULL};
	static const char *const org_refused[] = {"password", "password_confirm", "sn", "given_name", "rpps",
		"adeli", "profession", "speciality", "liberal", "org", NULL};
	static const char *const individual_refused[] = {"org_name", "resp_sn", "resp_given_name",
		"resp_profession", "resp_rpps", "member", "member_txn", "member_code", NULL};
#define get(k) account_registration_get(reg, k)
	bool org = !strcmp(type, MM_TYPE_ORG);
	const char *const *req_list = org ? org_req : individual_req;
	const char *const *ref_list = org ? org_refused : individual_refused;
	int rc;

	for (size_t i = 0; req_list[i]; i++)
		if (!get(req_list[i]))
			return fault_field(
				f, req_list[i], "required", "%s : champ obligatoire", label_of(req_list[i]));
	for (size_t i = 0; ref_list[i]; i++)
		if (get(ref_list[i]))
			return fault_field(f, ref_list[i], "not_allowed", "%s : sans objet pour un compte %s",
				label_of(ref_list[i]), type);
	if (!strcmp(type, MM_TYPE_PER)) {
		if (!get("rpps") == !get("adeli"))
			return fault_field(f, "rpps", "required",
				"un compte PER demande un numéro RPPS ou (à défaut) ADELI, pas les deux");
		if (!get("profession"))
			return fault_field(f, "profession", "required", "profession : champ obligatoire");
	} else if (!strcmp(type, MM_TYPE_INT)) {
		if (get("rpps") || get("adeli"))
			return fault_field(f, "rpps", "not_allowed",
				"un compte INT attend son RPPS : avec un RPPS, créez un compte PER");
		if (!get("struct_type") || !get("struct_id"))
			return fault_field(f, "struct_id", "required",
				"un compte INT demande l'identifiant de sa structure (FINESS, SIRET ou "
				"SIREN)");
		if (!get("profession"))
			return fault_field(f, "profession", "required", "profession : champ obligatoire");
	} else if (!strcmp(type, MM_TYPE_MED)) {
		if (get("rpps") || get("adeli"))
			return fault_field(f, "rpps", "not_allowed",
				"un compte Medimail est réservé aux professionnels sans RPPS : créez un "
				"compte PER");
	}
	if (!!get("struct_type") != !!get("struct_id"))
		return fault_field(f, "struct_id", "required",
			"type et numéro d'identifiant de structure vont ensemble");
	if (get("struct_id") && validate_struct_id(get("struct_type"), get("struct_id")) < 0)
		return fault_field(f, "struct_id", "check_digit",
			"identifiant de structure : format ou clé de contrôle invalide pour %s",
			get("struct_type"));
	if (!strcmp(type, MM_TYPE_MED) && get("visible_mssante"))
		return fault_field(f, "visible_mssante", "not_allowed",
			"visible dans l'annuaire santé : un compte Medimail n'a pas d'adresse MSSanté");
	if ((rc = check_region(c, get("region"), f)) < 0)
		return rc;
	if (!org) {
		const char *rule = NULL, *pw = get("password");

		if (validate_password(pw, &rule) < 0)
			return fault_field(f, "password", rule, "%s", password_rule_message(rule));
		if (get("password_confirm") && strcmp(pw, get("password_confirm")))
			return fault_field(f, "password_confirm", "mismatch",
				"la confirmation ne correspond pas au mot de passe");
	}
	return 0;
#undef get
}

int account_registration_check(
	const struct mm_config *c, const struct account_registration *reg, struct fault *f)
{
	const char *type = reg->type;
	size_t n;
	const struct cat_attr *all = catalog_all(&n);
	int rc;

	/* Every value valid and bounded before anything else. */
	for (size_t i = 0; i < NPARAMS; i++) {
		const char *v = param_value(reg, &params[i]);

		if (v && *v && (rc = param_check(&params[i], v, f)) < 0)
			return rc;
	}
	for (size_t i = 0; i < n && i < ACCOUNT_REG_ATTRS_MAX; i++)
		if (reg->attr[i] && *reg->attr[i] && (rc = catalog_check(&all[i], reg->attr[i], f)) < 0)
			return rc;
	if (!type || !*type ||
		(strcmp(type, MM_TYPE_PER) && strcmp(type, MM_TYPE_INT) && strcmp(type, MM_TYPE_MED) &&
			strcmp(type, MM_TYPE_ORG)))
		return fault_field(f, "type", "unknown", "type de compte : PER, INT, MED ou ORG");
	if (!account_registration_get(reg, "login_mail"))
		return fault_field(f, "login_mail", "required", "adresse e-mail : champ obligatoire");
	return check_type_fields(c, reg, type, f);
}

static int check_duplicates(struct store *s, const struct mm_config *c,
	const struct account_registration *reg, bool org, struct fault *f)
{
	const char *rpps = account_registration_get(reg, "rpps");
	bool dup = false;
	int rc;

	rc = accounts_mail_taken(s, c, account_registration_get(reg, "login_mail"), NULL, &dup);
	if (rc < 0)
		return fault_store(f, rc, "inscription");
	if (dup) {
		fault_field(f, "login_mail", "duplicate",
			"adresse e-mail : un compte existe déjà avec cette adresse");
		return f->status = -EEXIST;
	}
	if (!org && rpps) {
		if ((rc = account_exists_with(s, c, "mmRpps", rpps, &dup)) < 0)
			return fault_store(f, rc, "inscription");
		if (dup) {
			fault_field(
				f, "rpps", "duplicate", "numéro RPPS : un compte existe déjà avec ce RPPS");
			return f->status = -EEXIST;
		}
	}
	return 0;
}

/* The registration's member, that the caller may attach to a new ORG: an
 * administrator names it, anyone else proves it (org_register.c). */
static int member_proof(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct account_registration *reg, struct entry **ret, struct fault *f)
{
	const char *member = account_registration_get(reg, "member");
	struct entry *m = NULL;
	int rc;

	*ret = NULL;
	if (!who->admin)
		return account_org_proof_finish(s, c, who, member,
			account_registration_get(reg, "member_txn"),
			account_registration_get(reg, "member_code"), ret, f);
	rc = accounts_find(s, c, member, NULL, &m);
	if (rc == -ENOENT)
		return fault_field(
			f, "member", "unknown", "compte de connexion : aucun compte individuel à ce nom");
	if (rc < 0)
		return fault_store(f, rc, "compte de connexion");
	if (accounts_is_org(m) || !strcmp(entry_get(m, "mmStatus"), MM_STATUS_CLOSED)) {
		entry_free(m);
		return fault_field(f, "member", "not_individual",
			"compte de connexion : une BAL ORG s'ouvre depuis un compte individuel non clos");
	}
	*ret = m;
	return 0;
}

/* The ORG's name, for its login and its MSSanté address: org_name when
 * given, else the form's "Description du compte" (mandatory, and the
 * account's own: the raison sociale is the structure's, shared by its ORGs). */
static const char *org_name_of(const struct account_registration *reg)
{
	const char *n = account_registration_get(reg, "org_name");

	return n ? n : account_registration_get(reg, "description");
}

/* The pending entry of candidate login cand. */
static void entry_mods(struct mods *m, const struct mm_config *c, const struct account_registration *reg,
	const char *cand, const struct entry *member, const char *join_dn, const char *pwhash,
	const char *tokhash, const char *stamp, const char *expires)
{
#define get(k) account_registration_get(reg, k)
	const char *type = reg->type;
	size_t n;
	const struct cat_attr *all = catalog_all(&n);
	struct entry *e = NULL;

	mods_add(m, LDAP_MOD_ADD, "objectClass", "mmAccount");
	mods_add(m, LDAP_MOD_ADD, "uid", cand);
	mods_add(m, LDAP_MOD_ADD, "mmAccountType", type);
	mods_add(m, LDAP_MOD_ADD, "mmStatus", MM_STATUS_PENDING_CONFIRMATION);
	mods_add(m, LDAP_MOD_ADD, "mail", get("login_mail"));
	mods_add(m, LDAP_MOD_ADD, "mmRegisteredAt", stamp);
	mods_add(m, LDAP_MOD_ADD, "mmConfirmHash", tokhash);
	mods_add(m, LDAP_MOD_ADD, "mmConfirmExpires", expires);
	/* The form's boxes, checked unless the person unchecked them: "Par
	 * défaut, votre adresse mail est visible dans l'annuaire Medimail",
	 * "l'option dématérialisation est cochée". A MED account has no
	 * MSSanté address to show. */
	if (!get("visible_medimail"))
		mods_add(m, LDAP_MOD_ADD, "mmVisibleMedimail", "TRUE");
	if (strcmp(type, MM_TYPE_MED) && !get("visible_mssante"))
		mods_add(m, LDAP_MOD_ADD, "mmVisibleMssante", "TRUE");
	if (!get("dematerialisation"))
		mods_add(m, LDAP_MOD_ADD, "mmDematerialisation", "TRUE");
	/* The guide's defaults, stored so that the mail system reads them as is. */
	mods_add(m, LDAP_MOD_ADD, "mmNotifyReceipt", "TRUE");
	if (strcmp(type, MM_TYPE_ORG))
		mods_add(m, LDAP_MOD_ADD, "mmNotifyOrgToIndividual", "TRUE");
	for (size_t i = 0; i < n && i < ACCOUNT_REG_ATTRS_MAX; i++) {
		const char *v = reg->attr[i];

		if (!v || !*v)
			continue;
		if (all[i].kind == CAT_BOOL)
			v = !strcmp(v, "yes") ? "TRUE" : "FALSE";
		else if (!strcmp(all[i].key, "region") && config_region_name(c, v))
			v = config_region_name(c, v); /* as regions_open spells it */
		mods_add(m, LDAP_MOD_ADD, all[i].attr, v);
	}
	if (!strcmp(type, MM_TYPE_ORG)) {
		mods_add(m, LDAP_MOD_ADD, "cn", org_name_of(reg));
		mods_add(m, LDAP_MOD_ADD, "displayName", org_name_of(reg));
		mods_add(m, LDAP_MOD_ADD, "mmMember", member ? member->dn : reg->new_member_dn);
	} else {
		mods_addf(m, LDAP_MOD_ADD, "cn", "%s %s", get("given_name"), get("sn"));
		mods_addf(m, LDAP_MOD_ADD, "displayName", "%s %s", get("given_name"), get("sn"));
		mods_add(m, LDAP_MOD_ADD, "userPassword", pwhash);
		if (join_dn)
			mods_add(m, LDAP_MOD_ADD, "mmJoinOrg", join_dn);
		if (get("rpps"))
			mods_addf(m, LDAP_MOD_ADD, "mmNationalId", "8%s", get("rpps"));
		else if (get("adeli"))
			mods_addf(m, LDAP_MOD_ADD, "mmNationalId", "0%s", get("adeli"));
	}
	/* The directory's keys, from the entry these modifications make. */
	if (entry_apply(NULL, m, &e) < 0) {
		m->err = -ENOMEM;
		return;
	}
	dir_search_keys(e, m, LDAP_MOD_ADD);
	entry_free(e);
#undef get
}

void account_registered_clear(struct account_registered *r)
{
	free(r->dn);
	memset(r, 0, sizeof(*r));
}

int account_register(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct account_registration *reg, struct account_registered *ret, struct fault *f)
{
#define get(k) account_registration_get(reg, k)
	char pwhash[SECRET_PWHASH_MAX] = "", token[SECRET_TOKEN_HEX], tokhash[SECRET_HASH_HEX];
	char stamp[16], expires[16], login[40] = "", cand[40] = "", claim[256] = "", rclaim[32] = "";
	struct entry *member = NULL, *join = NULL;
	struct mods m;
	char *dn = NULL, *ou = NULL;
	bool org;
	int rc;

	memset(ret, 0, sizeof(*ret));
	mods_init(&m);
	if ((rc = account_registration_check(c, reg, f)) < 0)
		return rc;
	org = !strcmp(reg->type, MM_TYPE_ORG);
	if ((rc = check_duplicates(s, c, reg, org, f)) < 0)
		return rc;
	if (org && !reg->new_member_dn && (rc = member_proof(s, c, who, reg, &member, f)) < 0)
		return rc;
	if (!org && get("org") && (rc = account_org_join_check(s, c, who, get("org"), &join, f)) < 0)
		goto out;
	/* Two registrations of one address at the same moment both pass slapd's
	 * unique overlay (it searches before it writes): the address is claimed
	 * (records.h), as a login e-mail change claims it, checked again and
	 * held until the entry is written. */
	if ((rc = mail_claim_take(s, c, get("login_mail"), claim, sizeof(claim))) < 0) {
		if (rc != -EBUSY) {
			rc = fault_store(f, rc, "inscription");
			goto out;
		}
		caller_audit(who, "register", NULL, NULL, false, "address being taken meanwhile");
		rc = fault_set(
			f, -EAGAIN, "cette adresse est en cours d'attribution : réessayez dans un instant");
		fault_put(f, "retry_after", "1");
		goto out;
	}
	/* The RPPS likewise: one account per person. */
	if (!org && get("rpps") &&
		(rc = record_claim_take(s, c, RECORD_RPPS_CLAIM, get("rpps"), rclaim, sizeof(rclaim))) < 0) {
		if (rc != -EBUSY) {
			rc = fault_store(f, rc, "inscription");
			goto out;
		}
		caller_audit(who, "register", NULL, NULL, false, "RPPS being registered meanwhile");
		rc = fault_set(f, -EAGAIN, "ce RPPS est en cours d'inscription : réessayez dans un instant");
		fault_put(f, "retry_after", "1");
		goto out;
	}
	if ((rc = check_duplicates(s, c, reg, org, f)) < 0)
		goto out;

	rc = org ? login_org(org_name_of(reg), login, sizeof(login))
		 : login_person(get("given_name"), get("sn"), login, sizeof(login));
	if (rc < 0) {
		rc = fault_field(f, org ? (get("org_name") ? "org_name" : "description") : "sn", "login",
			"impossible de former un identifiant à partir du nom");
		goto out;
	}
	/* The name itself is refused (ORG "Sudo"): say so before any work. */
	if ((rc = account_login_servable(
		     c, org, login, org ? "org_name" : "sn", org ? "nom de la BAL ORG" : "nom", f)) < 0) {
		caller_audit(who, "register", NULL, login, false, "name refused by the name-service rule");
		goto out;
	}

	if (!org && (rc = secret_password_hash(get("password"), pwhash)) < 0) {
		rc = fault_set(f, rc, "mot de passe : hachage impossible");
		goto out;
	}
	secret_token(token);
	if ((rc = secret_keyed_hash("confirm", token, tokhash)) < 0) {
		fault_set(f, rc, "inscription : jeton impossible");
		goto out;
	}
	store_time(account_now(), stamp);
	store_time(account_now() + c->confirm_ttl, expires);

	if (asprintf(&ou, "ou=%s,%s", org ? "orgs" : "people", c->ldap_base) < 0) {
		ou = NULL;
		rc = fault_set(f, -ENOMEM, "mémoire insuffisante");
		goto out;
	}
	/* Find a free login: jean.durand, jean.durand2, ... */
	for (unsigned n = 1; n <= ACCOUNT_MAX_CANDIDATES; n++) {
		bool taken = false;
		char *e;

		if (login_candidate(login, n, cand, sizeof(cand)) < 0) {
			rc = fault_set(f, -ENAMETOOLONG, "identifiant trop long");
			goto out;
		}
		/* A numbered candidate that happens to be the host's is skipped. */
		if (n > 1) {
			char name[300];

			if (account_login_refusal(c, org, cand, name, sizeof(name))) {
				rc = -EEXIST;
				continue;
			}
		}
		if ((rc = account_exists_with(s, c, "uid", cand, &taken)) < 0) {
			rc = fault_store(f, rc, "inscription");
			goto out;
		}
		if (taken) {
			rc = -EEXIST;
			continue;
		}
		mods_free(&m);
		mods_init(&m);
		entry_mods(&m, c, reg, cand, member, join ? join->dn : NULL, pwhash, tokhash, stamp, expires);
		free(dn);
		dn = NULL;
		e = store_escape_dn(cand);
		if (!e || asprintf(&dn, "uid=%s,%s", e, ou) < 0) {
			free(e);
			dn = NULL;
			rc = fault_set(f, -ENOMEM, "mémoire insuffisante");
			goto out;
		}
		free(e);
		rc = store_add(s, dn, &m);
		if (rc == -EEXIST) {
			/* A concurrent registration took the login or the e-mail. */
			if ((rc = check_duplicates(s, c, reg, org, f)) < 0)
				goto out;
			rc = -EEXIST;
			continue;
		}
		break;
	}
	/* Written (or not): the directory now answers for the address. */
	mail_claim_drop(s, c, claim);
	record_claim_drop(s, c, RECORD_RPPS_CLAIM, rclaim);
	claim[0] = rclaim[0] = '\0';
	if (rc == -EEXIST) {
		rc = fault_set(f, -EEXIST, "aucun identifiant libre pour ce nom");
		goto out;
	}
	if (rc < 0) {
		rc = fault_store(f, rc, "inscription");
		goto out;
	}
	snprintf(login, sizeof(login), "%s", cand);
	if (account_send_confirmation(c, get("login_mail"), token) < 0) {
		/* Nothing half-done: without the link the account could never be confirmed. */
		if (store_delete(s, dn) < 0)
			log_msg(LOG_ERR, "registration of %s: mail failed and the entry could not be removed",
				login);
		caller_audit(who, "register", NULL, login, false, "confirmation mail not sent");
		rc = fault_set(f, -ECOMM,
			"l'e-mail de confirmation n'a pas pu être envoyé : inscription annulée, réessayez "
			"plus tard");
		goto out;
	}
	caller_audit(who, "register", NULL, login, true, reg->type);
	if (join)
		caller_audit(
			who, "register", NULL, login, true, "connection account of a BAL ORG once validated");
	snprintf(ret->login, sizeof(ret->login), "%s", login);
	ret->dn = dn;
	dn = NULL;
	rc = 0;
out:
	mail_claim_drop(s, c, claim);
	record_claim_drop(s, c, RECORD_RPPS_CLAIM, rclaim);
	secret_wipe(pwhash, sizeof(pwhash));
	secret_wipe(token, sizeof(token));
	mods_free(&m);
	entry_free(member);
	entry_free(join);
	free(dn);
	free(ou);
	return rc;
#undef get
}

int account_registration_duplicates(
	struct store *s, const struct mm_config *c, const struct account_registration *reg, struct fault *f)
{
	return check_duplicates(s, c, reg, reg->type && !strcmp(reg->type, MM_TYPE_ORG), f);
}
