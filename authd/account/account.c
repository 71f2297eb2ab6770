/* The account lifecycle of the guides: registration, confirmation, validation, status, conversion, ORG members. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "address.h"
#include "daemon.h"
#include "log.h"
#include "login.h"
#include "mail.h"
#include "offline.h"
#include "mcache.h"
#include "names.h"
#include "secret.h"
#include "validate.h"

#define MAX_CANDIDATES 200
#define HOST_VIEW_AGE 5 /* seconds */
#define ID_TRIES 100 /* numbers skipped because the host took them */

enum fkind {
	F_NAME,
	F_TEXT,
	F_EMAIL,
	F_PHONE,
	F_POSTCODE,
	F_PROFESSION,
	F_BOOL,
	F_RPPS,
	F_ADELI,
	F_STRUCT_TYPE,
	F_STRUCT_ID,
	F_DEPARTMENT,
	F_SECRET,
	F_LOGIN,
};

/* Every field a registration may carry, its directory attribute and its rule. */
struct field {
	const char *key;
	const char *attr; /* NULL: not stored as such */
	enum fkind kind;
	size_t max;
	const char *label; /* French, for messages */
};

static const struct field fields[] = {
	{"type", NULL, F_TEXT, 3, "type de compte"},
	{"login_mail", "mmLoginMail", F_EMAIL, 254, "adresse e-mail"},
	{"password", NULL, F_SECRET, 1024, "mot de passe"},
	{"password_confirm", NULL, F_SECRET, 1024, "confirmation du mot de passe"},
	{"sn", "sn", F_NAME, 64, "nom"},
	{"given_name", "givenName", F_NAME, 64, "prénom"},
	{"rpps", "mmRpps", F_RPPS, 11, "numéro RPPS"},
	{"adeli", "mmAdeli", F_ADELI, 9, "numéro ADELI"},
	{"profession", "mmProfessionCode", F_PROFESSION, 4, "profession"},
	{"speciality", "mmSpeciality", F_TEXT, 128, "spécialité"},
	{"liberal", "mmLiberal", F_BOOL, 5, "activité libérale"},
	{"phone", "telephoneNumber", F_PHONE, 32, "téléphone"},
	{"phone2", "telephoneNumber", F_PHONE, 32, "second téléphone"},
	{"street", "street", F_TEXT, 128, "adresse postale"},
	{"postal_code", "postalCode", F_POSTCODE, 5, "code postal"},
	{"city", "l", F_NAME, 64, "ville"},
	{"region", "mmRegion", F_TEXT, 64, "région"},
	{"department", "mmDepartment", F_DEPARTMENT, 3, "département"},
	{"raison_sociale", "o", F_TEXT, 128, "raison sociale"},
	{"service", "ou", F_TEXT, 128, "service"},
	{"struct_type", "mmStructIdType", F_STRUCT_TYPE, 6, "type d'identifiant de structure"},
	{"struct_id", "mmStructId", F_STRUCT_ID, 14, "identifiant de structure"},
	{"org_name", NULL, F_TEXT, 64, "nom de la BAL ORG"},
	{"description", "description", F_TEXT, 1024, "description"},
	{"resp_sn", "mmRespSn", F_NAME, 64, "nom du responsable"},
	{"resp_given_name", "mmRespGivenName", F_NAME, 64, "prénom du responsable"},
	{"resp_profession", "mmRespProfession", F_PROFESSION, 4, "profession du responsable"},
	{"resp_rpps", "mmRespRpps", F_RPPS, 11, "RPPS du responsable"},
	{"member", NULL, F_LOGIN, 254, "compte de connexion"},
	{"member_password", NULL, F_SECRET, 1024, "mot de passe du compte de connexion"},
};

static const struct field *field_find(const char *key)
{
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (!strcmp(fields[i].key, key))
			return &fields[i];
	return NULL;
}

static bool valid_department(const char *s)
{
	size_t n = strlen(s);

	if (n == 2)
		return (s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && strcmp(s, "00") &&
			       strcmp(s, "20")) ||
			!strcmp(s, "2A") || !strcmp(s, "2B");
	if (n == 3)
		return !strncmp(s, "97", 2) && s[2] >= '1' && s[2] <= '6';
	return false;
}

/* Checks one value against its field's rule; names the rule on failure. */
static int field_check(struct req *r, const struct field *f, const char *v)
{
	if (f->kind != F_SECRET && validate_utf8(v, strlen(v)) < 0)
		return req_fail_field(r, f->key, "utf8", "%s : texte UTF-8 invalide", f->label);
	if (strlen(v) > f->max)
		return req_fail_field(
			r, f->key, "max_length", "%s : %zu caractères au plus", f->label, f->max);
	switch (f->kind) {
	case F_NAME:
		if (validate_name(v) < 0)
			return req_fail_field(r, f->key, "characters",
				"%s : lettres, espaces, apostrophes, tirets et points seulement", f->label);
		break;
	case F_TEXT:
		if (validate_text(v, f->max) < 0)
			return req_fail_field(r, f->key, "characters",
				"%s : texte vide ou caractères de contrôle", f->label);
		break;
	case F_EMAIL:
		if (validate_email(v) < 0)
			return req_fail_field(r, f->key, "syntax", "%s : adresse e-mail invalide", f->label);
		break;
	case F_PHONE:
		if (validate_phone(v) < 0)
			return req_fail_field(
				r, f->key, "syntax", "%s : numéro de téléphone invalide", f->label);
		break;
	case F_POSTCODE:
		if (validate_postal_code(v) < 0)
			return req_fail_field(r, f->key, "syntax", "%s : 5 chiffres attendus", f->label);
		break;
	case F_PROFESSION:
		if (validate_profession_code(v) < 0)
			return req_fail_field(r, f->key, "unknown",
				"%s : code profession inconnu (nomenclature TRE_G15)", f->label);
		break;
	case F_BOOL:
		if (strcmp(v, "yes") && strcmp(v, "no"))
			return req_fail_field(r, f->key, "syntax", "%s : yes ou no", f->label);
		break;
	case F_RPPS:
		if (validate_rpps(v) < 0)
			return req_fail_field(r, f->key, "check_digit",
				"%s : 11 chiffres dont une clé de contrôle (Luhn) valide", f->label);
		break;
	case F_ADELI:
		if (validate_adeli(v) < 0)
			return req_fail_field(
				r, f->key, "syntax", "%s : 9 caractères alphanumériques", f->label);
		break;
	case F_STRUCT_TYPE:
		if (strcmp(v, "FINESS") && strcmp(v, "SIRET") && strcmp(v, "SIREN"))
			return req_fail_field(r, f->key, "unknown", "%s : FINESS, SIRET ou SIREN", f->label);
		break;
	case F_STRUCT_ID: break; /* checked with its type */
	case F_DEPARTMENT:
		if (!valid_department(v))
			return req_fail_field(
				r, f->key, "syntax", "%s : numéro de département invalide", f->label);
		break;
	case F_SECRET:
		if (strlen(v) == 0)
			return req_fail_field(r, f->key, "empty", "%s : vide", f->label);
		break;
	case F_LOGIN:
		if (validate_text(v, f->max) < 0)
			return req_fail_field(r, f->key, "characters", "%s : identifiant invalide", f->label);
		break;
	}
	return 0;
}

static const char *get(const struct req *r, const char *key)
{
	const char *v = mm_msg_get(r->in, key);

	return v && *v ? v : NULL;
}

static long long now(void)
{
	return (long long)time(NULL);
}

const char *const account_attrs[] = {"uid", "mmAccountType", "mmStatus", "mmLoginMail", "mmMssAddress", "sn",
	"givenName", "cn", "mmRpps", "mmAdeli", "mmNationalId", "mmStructIdType", "mmStructId",
	"mmProfessionCode", "mmSpeciality", "mmLiberal", "telephoneNumber", "street", "postalCode", "l",
	"mmRegion", "mmDepartment", "o", "ou", "description", "mmRespSn", "mmRespGivenName",
	"mmRespProfession", "mmRespRpps", "mmMember", "mmDefaultAccount", "mmCguAcceptedAt", "mmValidatedAt",
	"mmRegisteredAt", "mmStatusReason", "mmVisibleMedimail", "mmVisibleMssante", "mmDematerialisation",
	"uidNumber", "gidNumber", "homeDirectory", "loginShell", "mmConfirmExpires", NULL};

static char *base_of(const struct req *r, const char *ou)
{
	char *s = NULL;

	if (asprintf(&s, "ou=%s,%s", ou, r->cfg->ldap_base) < 0)
		return NULL;
	return s;
}

/* Finds an account by login or login e-mail (any status), reading attrs. */
int account_find_attrs(struct req *r, const char *ident, const char *const *attrs, struct entry **ret)
{
	char *esc = store_escape(ident), *filter = NULL;
	int rc;

	*ret = NULL;
	if (!esc)
		return -ENOMEM;
	if (asprintf(&filter, "(&(objectClass=mmAccount)(|(uid=%s)(mmLoginMail=%s)))", esc, esc) < 0) {
		free(esc);
		return -ENOMEM;
	}
	rc = store_search_one(r->store, r->cfg->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, ret);
	free(esc);
	free(filter);
	return rc;
}

int account_find(struct req *r, const char *ident, struct entry **ret)
{
	return account_find_attrs(r, ident, account_attrs, ret);
}

int account_by_uid(struct req *r, uid_t uid, struct entry **ret)
{
	char filter[96];

	snprintf(filter, sizeof(filter), "(&(objectClass=mmAccount)(uidNumber=%u)(!(mmAccountType=ORG)))",
		(unsigned)uid);
	return store_search_one(r->store, r->cfg->ldap_base, LDAP_SCOPE_SUBTREE, filter, account_attrs, ret);
}

/* Maps a directory error to a reply. */
int store_fail(struct req *r, int rc, const char *what)
{
	switch (rc) {
	case -EHOSTDOWN: return req_fail(r, rc, "annuaire indisponible, réessayez plus tard");
	case -ENOENT: return req_fail(r, rc, "%s : compte introuvable", what);
	case -ENOTUNIQ: return req_fail(r, -EIO, "%s : identifiant ambigu", what);
	case -EACCES: return req_fail(r, rc, "%s : accès refusé par l'annuaire", what);
	default:
		log_msg(LOG_ERR, "%s: directory error %s", what, strerror(-rc));
		return req_fail(r, rc, "%s : erreur de l'annuaire", what);
	}
}

void audit_req(const struct req *r, const char *event, const char *account, bool ok, const char *reason)
{
	struct audit_ctx a = {.event = event, .caller = r->who.name, .account = account};

	audit(&a, ok, reason);
}

/* Is an account with this value already registered (any status, closed included)? */
static int exists_with(struct req *r, const char *attr, const char *value, bool *ret)
{
	char *esc = store_escape(value), *filter = NULL;
	size_t n = 0;
	int rc;

	if (!esc)
		return -ENOMEM;
	if (asprintf(&filter, "(&(objectClass=mmAccount)(%s=%s))", attr, esc) < 0) {
		free(esc);
		return -ENOMEM;
	}
	rc = store_count(r->store, r->cfg->ldap_base, filter, 1, &n);
	free(esc);
	free(filter);
	if (rc == 0)
		*ret = n > 0;
	return rc;
}

static int check_duplicates(struct req *r, const char *type)
{
	bool dup = false;
	int rc;

	rc = exists_with(r, "mmLoginMail", get(r, "login_mail"), &dup);
	if (rc < 0)
		return store_fail(r, rc, "inscription");
	if (dup) {
		req_fail_field(r, "login_mail", "duplicate",
			"adresse e-mail : un compte existe déjà avec cette adresse");
		return -EEXIST;
	}
	if (strcmp(type, MM_TYPE_ORG) && get(r, "rpps")) {
		rc = exists_with(r, "mmRpps", get(r, "rpps"), &dup);
		if (rc < 0)
			return store_fail(r, rc, "inscription");
		if (dup) {
			req_fail_field(
				r, "rpps", "duplicate", "numéro RPPS : un compte existe déjà avec ce RPPS");
			return -EEXIST;
		}
	}
	return 0;
}

/* Which fields each account type requires and refuses. */
static int check_type_fields(struct req *r, const char *type)
{
	static const char *const individual_req[] = {"password", "sn", "given_name", NULL};
	static const char *const org_req[] = {"org_name", "description", "struct_type", "struct_id",
		"postal_code", "city", "resp_sn", "resp_given_name", "resp_profession", "resp_rpps", "member",
		NULL};
	static const char *const org_refused[] = {"password", "password_confirm", "sn", "given_name", "rpps",
		"adeli", "profession", "speciality", "liberal", NULL};
	static const char *const individual_refused[] = {"org_name", "resp_sn", "resp_given_name",
		"resp_profession", "resp_rpps", "member", "member_password", NULL};
	bool org = !strcmp(type, MM_TYPE_ORG);
	const char *const *req_list = org ? org_req : individual_req;
	const char *const *ref_list = org ? org_refused : individual_refused;

	for (size_t i = 0; req_list[i]; i++)
		if (!get(r, req_list[i]))
			return req_fail_field(r, req_list[i], "required", "%s : champ obligatoire",
				field_find(req_list[i])->label);
	for (size_t i = 0; ref_list[i]; i++)
		if (get(r, ref_list[i]))
			return req_fail_field(r, ref_list[i], "not_allowed",
				"%s : sans objet pour un compte %s", field_find(ref_list[i])->label, type);
	if (!strcmp(type, MM_TYPE_PER)) {
		if (!get(r, "rpps") == !get(r, "adeli"))
			return req_fail_field(r, "rpps", "required",
				"un compte PER demande un numéro RPPS ou (à défaut) ADELI, pas les deux");
		if (!get(r, "profession"))
			return req_fail_field(r, "profession", "required", "profession : champ obligatoire");
	} else if (!strcmp(type, MM_TYPE_INT)) {
		if (get(r, "rpps") || get(r, "adeli"))
			return req_fail_field(r, "rpps", "not_allowed",
				"un compte INT attend son RPPS : avec un RPPS, créez un compte PER");
		if (!get(r, "struct_type") || !get(r, "struct_id"))
			return req_fail_field(r, "struct_id", "required",
				"un compte INT demande l'identifiant de sa structure (FINESS, SIRET ou "
				"SIREN)");
		if (!get(r, "profession"))
			return req_fail_field(r, "profession", "required", "profession : champ obligatoire");
	} else if (!strcmp(type, MM_TYPE_MED)) {
		if (get(r, "rpps") || get(r, "adeli"))
			return req_fail_field(r, "rpps", "not_allowed",
				"un compte Medimail est réservé aux professionnels sans RPPS : créez un "
				"compte PER");
	}
	if (!!get(r, "struct_type") != !!get(r, "struct_id"))
		return req_fail_field(r, "struct_id", "required",
			"type et numéro d'identifiant de structure vont ensemble");
	if (get(r, "struct_id") && validate_struct_id(get(r, "struct_type"), get(r, "struct_id")) < 0)
		return req_fail_field(r, "struct_id", "check_digit",
			"identifiant de structure : format ou clé de contrôle invalide pour %s",
			get(r, "struct_type"));
	if (r->cfg->nregions && !get(r, "region"))
		return req_fail_field(r, "region", "required", "région : champ obligatoire");
	if (get(r, "region") && !config_region_open(r->cfg, get(r, "region")))
		return req_fail_field(r, "region", "closed",
			"la création de compte n'est pas ouverte dans la région %s", get(r, "region"));
	if (!org) {
		const char *rule = NULL, *pw = get(r, "password");
		if (validate_password(pw, &rule) < 0)
			return req_fail_field(r, "password", rule, "%s", password_rule_message(rule));
		if (get(r, "password_confirm") && strcmp(pw, get(r, "password_confirm")))
			return req_fail_field(r, "password_confirm", "mismatch",
				"la confirmation ne correspond pas au mot de passe");
	}
	return 0;
}

/* Folded words for typeahead search (mmSearchKey): plain for free text
 * ("jean"), and tagged for searches by field ("n:" name, "g:" first name,
 * "c:" city, "s:" street, "o:" raison sociale; see authd/directory.c). */
static bool mods_has(const struct mods *m, const char *attr, const char *value)
{
	for (size_t i = 0; i < m->n; i++)
		for (size_t k = 0;
			!strcasecmp(m->v[i]->mod_type, attr) && m->v[i]->mod_values && m->v[i]->mod_values[k];
			k++)
			if (!strcmp(m->v[i]->mod_values[k], value))
				return true;
	return false;
}

static void add_search_keys_tagged(struct mods *m, const char *text, const char *tag, bool plain)
{
	char folded[256], tagged[300], *save = NULL;

	if (!text || text_fold(text, ' ', folded, sizeof(folded)) <= 0)
		return;
	for (char *w = strtok_r(folded, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		/* "Jean Paris" living in Paris: a value twice would fail the add. */
		if (plain && !mods_has(m, "mmSearchKey", w))
			mods_add(m, LDAP_MOD_ADD, "mmSearchKey", w);
		snprintf(tagged, sizeof(tagged), "%s:%s", tag ? tag : "", w);
		if (tag && !mods_has(m, "mmSearchKey", tagged))
			mods_add(m, LDAP_MOD_ADD, "mmSearchKey", tagged);
	}
}

static void add_search_keys(struct mods *m, const char *text, const char *tag)
{
	add_search_keys_tagged(m, text, tag, true);
}

static int send_confirmation(struct req *r, const char *to, const char *token)
{
	char *body = NULL;
	int rc;

	if (asprintf(&body,
		    "Bonjour,\n\nVous venez de demander la création d'un compte Medimail.\n"
		    "Pour confirmer votre adresse e-mail, ouvrez ce lien (valable %u heures, une seule fois) "
		    ":\n\n"
		    "%s%s\n\nSi vous n'êtes pas à l'origine de cette demande, ignorez ce message.\n",
		    r->cfg->confirm_ttl / 3600, r->cfg->confirm_url, token) < 0)
		return -ENOMEM;
	rc = mail_send(r->cfg, to, r->cfg->confirm_subject, body);
	secret_free(body);
	return rc;
}

/* Proves that the caller may attach `member` to a new ORG. */
static int resolve_member(struct req *r, struct entry **ret)
{
	static const char *const event = "register-org-member-proof";
	struct entry *m = NULL, *p = NULL;
	const char *pw = get(r, "member_password");
	int rc;

	*ret = NULL;
	/* A password guess by another door than the login: the login's rate
	 * limits and lockout, and an unknown member answered like a wrong
	 * password, so that the form probes no account. */
	if (!r->who.admin && !pw)
		return req_fail_field(r, "member_password", "required",
			"mot de passe du compte de connexion : champ obligatoire");
	if (!r->who.admin && (rc = login_rate(r, event, NULL)) < 0)
		return rc;
	rc = account_find(r, get(r, "member"), &m);
	if (rc == -ENOENT && !r->who.admin) {
		login_audit(r, event, "password", get(r, "member"), false, "unknown account");
		(void)login_password_unknown(r, pw);
		return req_fail(r, -EACCES, "compte de connexion : mot de passe incorrect");
	}
	if (rc == -ENOENT)
		return req_fail_field(
			r, "member", "unknown", "compte de connexion : aucun compte individuel à ce nom");
	if (rc < 0)
		return store_fail(r, rc, "compte de connexion");
	if (!r->who.admin) {
		/* The attempt reserved before the password is verified; the kind
		 * of account is told only to who proved its password. */
		if ((rc = login_rate(r, event, entry_get(m, "uid"))) < 0)
			goto fail;
		rc = store_read(r->store, m->dn, login_password_attrs, &p);
		if (rc < 0) {
			rc = store_fail(r, rc, "compte de connexion");
			goto fail;
		}
		rc = login_password_check(r, event, p, pw);
		entry_free(p);
		if (rc == -EACCES)
			rc = req_fail(r, -EACCES, "compte de connexion : mot de passe incorrect");
		if (rc < 0)
			goto fail;
	}
	if (!strcmp(entry_get(m, "mmAccountType"), MM_TYPE_ORG) ||
		!strcmp(entry_get(m, "mmStatus"), MM_STATUS_CLOSED)) {
		rc = req_fail_field(r, "member", "not_individual",
			"compte de connexion : une BAL ORG s'ouvre depuis un compte individuel non clos");
		goto fail;
	}
	*ret = m;
	return 0;
fail:
	entry_free(m);
	return rc;
}

/* The rule of names.h on the name the name service would serve for this
 * login (a user, or the group of an ORG, written to name): NULL when it
 * may be served, else the rule that refuses it. */
static const char *login_refusal(struct req *r, bool org, const char *login, char *name, size_t namesz)
{
	struct host_view *h;
	const char *rule = NULL;

	if (org ? names_group_name(r->cfg, login, name, namesz) < 0
		: snprintf(name, namesz, "%s", login) >= (int)namesz)
		return "name_syntax";
	h = host_view_get(HOST_VIEW_AGE);
	if (names_check(r->cfg, h, name, NAMES_ASK_HOST, &rule) == 0)
		rule = NULL;
	host_view_put(h);
	return rule;
}

/* 0, or the reply's refusal naming the field and the rule. */
static int login_servable(struct req *r, bool org, const char *login, const char *field, const char *label)
{
	char name[300];
	const char *rule = login_refusal(r, org, login, name, sizeof(name));

	if (!rule)
		return 0;
	return req_fail_field(r, field, rule, "%s : le nom %s « %s » est refusé : %s (règle %s)", label,
		org ? "de groupe" : "d'utilisateur", name, names_rule_message(rule), rule);
}

int account_register(struct req *r)
{
	const char *type = get(r, "type");
	char pwhash[SECRET_PWHASH_MAX] = "", token[SECRET_TOKEN_HEX], tokhash[SECRET_HASH_HEX];
	char stamp[16], expires[16], login[40] = "", cand[40];
	struct entry *member = NULL;
	struct mods m;
	char *dn = NULL, *ou = NULL;
	bool org;
	int rc;

	mods_init(&m);
	/* Strict: every field known, valid and bounded before anything else. */
	for (size_t i = 0; i < r->in->nfields; i++) {
		const struct field *f = field_find(r->in->fields[i].key);

		if (!f)
			return req_fail_field(r, r->in->fields[i].key, "unknown", "champ inconnu : %s",
				r->in->fields[i].key);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(r->in->fields[j].key, f->key))
				return req_fail_field(
					r, f->key, "repeated", "%s : donné deux fois", f->label);
		if (*r->in->fields[i].value && (rc = field_check(r, f, r->in->fields[i].value)) < 0)
			return rc;
	}
	if (!type ||
		(strcmp(type, MM_TYPE_PER) && strcmp(type, MM_TYPE_INT) && strcmp(type, MM_TYPE_MED) &&
			strcmp(type, MM_TYPE_ORG)))
		return req_fail_field(r, "type", "unknown", "type de compte : PER, INT, MED ou ORG");
	if (!get(r, "login_mail"))
		return req_fail_field(r, "login_mail", "required", "adresse e-mail : champ obligatoire");
	org = !strcmp(type, MM_TYPE_ORG);
	if ((rc = check_type_fields(r, type)) < 0)
		return rc;
	if ((rc = check_duplicates(r, type)) < 0)
		return rc;
	if (org && (rc = resolve_member(r, &member)) < 0)
		return rc;

	rc = org ? login_org(get(r, "org_name"), login, sizeof(login))
		 : login_person(get(r, "given_name"), get(r, "sn"), login, sizeof(login));
	if (rc < 0) {
		rc = req_fail_field(r, org ? "org_name" : "sn", "login",
			"impossible de former un identifiant à partir du nom");
		goto out;
	}
	/* The name itself is refused (ORG "Sudo"): say so before any work. */
	if ((rc = login_servable(r, org, login, org ? "org_name" : "sn", org ? "nom de la BAL ORG" : "nom")) <
		0) {
		audit_req(r, "register", login, false, "name refused by the name-service rule");
		goto out;
	}

	if (!org && (rc = secret_password_hash(get(r, "password"), pwhash)) < 0) {
		rc = req_fail(r, rc, "mot de passe : hachage impossible");
		goto out;
	}
	secret_token(token);
	if ((rc = secret_keyed_hash("confirm", token, tokhash)) < 0)
		goto out;
	store_time(now(), stamp);
	store_time(now() + r->cfg->confirm_ttl, expires);

	ou = base_of(r, org ? "orgs" : "people");
	if (!ou) {
		rc = -ENOMEM;
		goto out;
	}
	/* Find a free login: jean.durand, jean.durand2, ... */
	for (unsigned n = 1; n <= MAX_CANDIDATES; n++) {
		bool taken = false;

		if (login_candidate(login, n, cand, sizeof(cand)) < 0) {
			rc = -ENAMETOOLONG;
			goto out;
		}
		/* A numbered candidate that happens to be the host's is skipped. */
		if (n > 1) {
			char name[300];

			if (login_refusal(r, org, cand, name, sizeof(name))) {
				rc = -EEXIST;
				continue;
			}
		}
		if ((rc = exists_with(r, "uid", cand, &taken)) < 0) {
			rc = store_fail(r, rc, "inscription");
			goto out;
		}
		if (taken) {
			rc = -EEXIST;
			continue;
		}
		mods_free(&m);
		mods_init(&m);
		mods_add(&m, LDAP_MOD_ADD, "objectClass", "mmAccount");
		mods_add(&m, LDAP_MOD_ADD, "uid", cand);
		mods_add(&m, LDAP_MOD_ADD, "mmAccountType", type);
		mods_add(&m, LDAP_MOD_ADD, "mmStatus", MM_STATUS_PENDING_CONFIRMATION);
		mods_add(&m, LDAP_MOD_ADD, "mail", get(r, "login_mail"));
		mods_add(&m, LDAP_MOD_ADD, "mmRegisteredAt", stamp);
		mods_add(&m, LDAP_MOD_ADD, "mmConfirmHash", tokhash);
		mods_add(&m, LDAP_MOD_ADD, "mmConfirmExpires", expires);
		mods_add(&m, LDAP_MOD_ADD, "mmVisibleMedimail", "TRUE");
		if (strcmp(type, MM_TYPE_MED))
			mods_add(&m, LDAP_MOD_ADD, "mmVisibleMssante", "TRUE");
		mods_add(&m, LDAP_MOD_ADD, "mmDematerialisation", "TRUE");
		/* The guide's defaults, stored so that the mail system reads them as is. */
		mods_add(&m, LDAP_MOD_ADD, "mmNotifyReceipt", "TRUE");
		if (strcmp(type, MM_TYPE_ORG))
			mods_add(&m, LDAP_MOD_ADD, "mmNotifyOrgToIndividual", "TRUE");
		for (size_t i = 0; i < r->in->nfields; i++) {
			const struct field *f = field_find(r->in->fields[i].key);
			const char *v = r->in->fields[i].value;

			if (!f->attr || !*v)
				continue;
			if (f->kind == F_BOOL)
				v = !strcmp(v, "yes") ? "TRUE" : "FALSE";
			mods_add(&m, LDAP_MOD_ADD, f->attr, v);
		}
		if (org) {
			mods_add(&m, LDAP_MOD_ADD, "cn", get(r, "org_name"));
			mods_add(&m, LDAP_MOD_ADD, "displayName", get(r, "org_name"));
			mods_add(&m, LDAP_MOD_ADD, "mmMember", member->dn);
			add_search_keys(&m, get(r, "org_name"), "n");
		} else {
			mods_addf(&m, LDAP_MOD_ADD, "cn", "%s %s", get(r, "given_name"), get(r, "sn"));
			mods_addf(
				&m, LDAP_MOD_ADD, "displayName", "%s %s", get(r, "given_name"), get(r, "sn"));
			mods_add(&m, LDAP_MOD_ADD, "userPassword", pwhash);
			add_search_keys(&m, get(r, "given_name"), "g");
			add_search_keys(&m, get(r, "sn"), "n");
			if (get(r, "rpps"))
				mods_addf(&m, LDAP_MOD_ADD, "mmNationalId", "8%s", get(r, "rpps"));
			else if (get(r, "adeli"))
				mods_addf(&m, LDAP_MOD_ADD, "mmNationalId", "0%s", get(r, "adeli"));
		}
		add_search_keys(&m, get(r, "city"), "c");
		add_search_keys_tagged(&m, get(r, "street"), "s", false);
		add_search_keys_tagged(&m, get(r, "raison_sociale"), "o", false);
		free(dn);
		dn = NULL;
		{
			char *e = store_escape_dn(cand);
			if (!e || asprintf(&dn, "uid=%s,%s", e, ou) < 0) {
				free(e);
				rc = -ENOMEM;
				goto out;
			}
			free(e);
		}
		rc = store_add(r->store, dn, &m);
		if (rc == -EEXIST) {
			/* A concurrent registration took the login or the e-mail. */
			if ((rc = check_duplicates(r, type)) < 0)
				goto out;
			rc = -EEXIST;
			continue;
		}
		break;
	}
	if (rc == -EEXIST) {
		rc = req_fail(r, -EEXIST, "aucun identifiant libre pour ce nom");
		goto out;
	}
	if (rc < 0) {
		rc = store_fail(r, rc, "inscription");
		goto out;
	}
	snprintf(login, sizeof(login), "%s", cand);
	rc = send_confirmation(r, get(r, "login_mail"), token);
	if (rc < 0) {
		/* Nothing half-done: without the link the account could never be confirmed. */
		if (store_delete(r->store, dn) < 0)
			log_msg(LOG_ERR, "registration of %s: mail failed and the entry could not be removed",
				login);
		audit_req(r, "register", login, false, "confirmation mail not sent");
		rc = req_fail(r, -ECOMM,
			"l'e-mail de confirmation n'a pas pu être envoyé : inscription annulée, réessayez "
			"plus tard");
		goto out;
	}
	audit_req(r, "register", login, true, type);
	req_put(r, "login", login);
	req_put(r, "dn", dn);
	req_put(r, "status", MM_STATUS_PENDING_CONFIRMATION);
	mm_msg_set_message(r->out, "compte %s créé : un lien de confirmation a été envoyé à %s", login,
		get(r, "login_mail"));
	rc = 0;
out:
	secret_wipe(pwhash, sizeof(pwhash));
	secret_wipe(token, sizeof(token));
	mods_free(&m);
	entry_free(member);
	free(dn);
	free(ou);
	return rc;
}

int account_confirm(struct req *r)
{
	static const char *const attrs[] = {"uid", "mmStatus", "mmConfirmExpires", NULL};
	const char *token = get(r, "token");
	char h[SECRET_HASH_HEX], filter[128];
	struct entry *e = NULL;
	struct mods m;
	int rc;

	if (!token || strlen(token) != SECRET_TOKEN_HEX - 1 ||
		strspn(token, "0123456789abcdef") != strlen(token))
		return req_fail_field(r, "token", "syntax", "lien de confirmation invalide");
	if ((rc = secret_keyed_hash("confirm", token, h)) < 0)
		return rc;
	snprintf(filter, sizeof(filter), "(&(objectClass=mmAccount)(mmConfirmHash=%s))", h);
	rc = store_search_one(r->store, r->cfg->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, &e);
	if (rc == -ENOENT) {
		audit_req(r, "confirm", NULL, false, "unknown or used token");
		return req_fail(r, -ENOENT, "lien de confirmation inconnu ou déjà utilisé");
	}
	if (rc < 0)
		return store_fail(r, rc, "confirmation");
	if (store_parse_time(entry_get(e, "mmConfirmExpires")) < now()) {
		audit_req(r, "confirm", entry_get(e, "uid"), false, "token expired");
		entry_free(e);
		return req_fail(r, -ETIMEDOUT, "lien de confirmation expiré : demandez un nouveau lien");
	}
	if (strcmp(entry_get(e, "mmStatus"), MM_STATUS_PENDING_CONFIRMATION)) {
		entry_free(e);
		return req_fail(r, -EPERM, "ce compte n'attend pas de confirmation");
	}
	mods_init(&m);
	/* Deleting the exact value makes the link single-use across daemons. */
	mods_add(&m, LDAP_MOD_DELETE, "mmConfirmHash", h);
	mods_add(&m, LDAP_MOD_DELETE, "mmConfirmExpires", NULL);
	mods_add(&m, LDAP_MOD_REPLACE, "mmStatus", MM_STATUS_PENDING_VALIDATION);
	rc = store_modify(r->store, e->dn, &m);
	mods_free(&m);
	if (rc == -ESTALE) {
		entry_free(e);
		return req_fail(r, -ENOENT, "lien de confirmation déjà utilisé");
	}
	if (rc < 0) {
		entry_free(e);
		return store_fail(r, rc, "confirmation");
	}
	audit_req(r, "confirm", entry_get(e, "uid"), true, NULL);
	req_put(r, "login", entry_get(e, "uid"));
	req_put(r, "status", MM_STATUS_PENDING_VALIDATION);
	mm_msg_set_message(r->out,
		"adresse confirmée : le compte %s attend la validation du centre de services",
		entry_get(e, "uid"));
	entry_free(e);
	return 0;
}

/* The "login" field is required: the refusal every administrative request gives. */
static int login_required(struct req *r)
{
	return req_fail_field(r, "login", "required", "identifiant : champ obligatoire");
}

/* The account named by the request's "login" field, or the reply's refusal. */
static int account_named(struct req *r, struct entry **ret)
{
	int rc;

	*ret = NULL;
	if (!get(r, "login"))
		return login_required(r);
	rc = account_find(r, get(r, "login"), ret);
	return rc < 0 ? store_fail(r, rc, get(r, "login")) : 0;
}

int account_confirm_resend(struct req *r)
{
	char token[SECRET_TOKEN_HEX], h[SECRET_HASH_HEX], expires[16];
	struct entry *e = NULL;
	struct mods m;
	int rc;

	if (!r->who.admin)
		return req_fail(r, -EACCES, "réservé aux administrateurs");
	if ((rc = account_named(r, &e)) < 0)
		return rc;
	if (strcmp(entry_get(e, "mmStatus"), MM_STATUS_PENDING_CONFIRMATION)) {
		entry_free(e);
		return req_fail(r, -EPERM, "ce compte n'attend pas de confirmation");
	}
	secret_token(token);
	rc = secret_keyed_hash("confirm", token, h);
	store_time(now() + r->cfg->confirm_ttl, expires);
	mods_init(&m);
	mods_add(&m, LDAP_MOD_REPLACE, "mmConfirmHash", h);
	mods_add(&m, LDAP_MOD_REPLACE, "mmConfirmExpires", expires);
	if (rc == 0)
		rc = store_modify(r->store, e->dn, &m);
	mods_free(&m);
	if (rc == 0)
		rc = send_confirmation(r, entry_get(e, "mmLoginMail"), token);
	secret_wipe(token, sizeof(token));
	audit_req(r, "confirm-resend", entry_get(e, "uid"), rc == 0, rc ? strerror(-rc) : NULL);
	if (rc == -ECOMM)
		rc = req_fail(r, rc, "l'e-mail de confirmation n'a pas pu être envoyé");
	else if (rc < 0)
		rc = store_fail(r, rc, "confirmation");
	else
		mm_msg_set_message(r->out, "nouveau lien envoyé à %s", entry_get(e, "mmLoginMail"));
	entry_free(e);
	return rc;
}

/* Allocates the next number of a range from a counter in the directory. */
static int id_allocate(struct req *r, const char *attr, unsigned min, unsigned max, unsigned *ret)
{
	char *dn = NULL;
	long long v = 0;
	int rc;

	if (asprintf(&dn, "cn=idpool,ou=system,%s", r->cfg->ldap_base) < 0)
		return -ENOMEM;
	rc = store_increment(r->store, dn, attr, 1, &v);
	if (rc == -ENOENT || rc == -ESTALE) {
		/* First allocation: create the counter (or its attribute), then retry. */
		struct mods m;

		mods_init(&m);
		if (rc == -ENOENT) {
			mods_add(&m, LDAP_MOD_ADD, "objectClass", "mmIdPool");
			mods_add(&m, LDAP_MOD_ADD, "cn", "idpool");
			mods_addf(&m, LDAP_MOD_ADD, attr, "%u", min - 1);
			rc = store_add(r->store, dn, &m);
		} else {
			mods_addf(&m, LDAP_MOD_ADD, attr, "%u", min - 1);
			rc = store_modify(r->store, dn, &m);
		}
		mods_free(&m);
		if (rc == 0 || rc == -EEXIST)
			rc = store_increment(r->store, dn, attr, 1, &v);
	}
	free(dn);
	if (rc < 0)
		return rc;
	if (v < (long long)min || v > (long long)max)
		return -ENOSPC;
	*ret = (unsigned)v;
	return 0;
}

/* The MSSanté address of a validated account: first free candidate. */
static int assign_address(struct req *r, const struct entry *e, char *out, size_t outsz)
{
	const char *type = entry_get(e, "mmAccountType");
	bool org = !strcmp(type, MM_TYPE_ORG);
	const char *prof = entry_get(e, org ? "mmRespProfession" : "mmProfessionCode");
	const char *domain = config_domain_for(r->cfg, prof ? profession_domain_key(prof) : NULL);
	char base[256];
	int rc;

	rc = org ? address_org(entry_get(e, "cn"), entry_get(e, "postalCode"), entry_get(e, "l"), domain,
			   base, sizeof(base))
		 : address_person(entry_get(e, "givenName"), entry_get(e, "sn"), domain, base, sizeof(base));
	if (rc < 0)
		return rc;
	for (unsigned n = 1; n <= MAX_CANDIDATES; n++) {
		struct mods m;
		bool taken = false;

		if ((rc = address_candidate(base, n, out, outsz)) < 0)
			return rc;
		if ((rc = exists_with(r, "mmMssAddress", out, &taken)) < 0)
			return rc;
		if (taken)
			continue;
		mods_init(&m);
		mods_add(&m, LDAP_MOD_REPLACE, "mmMssAddress", out);
		rc = store_modify(r->store, e->dn, &m);
		mods_free(&m);
		if (rc != -EEXIST)
			return rc;
	}
	return -ENOSPC;
}

static void send_validated(struct req *r, const struct entry *e, const char *address)
{
	char *body = NULL;
	const char *type = entry_get(e, "mmAccountType");

	if (asprintf(&body,
		    "Bonjour,\n\nLe centre de services a validé votre compte Medimail.\n\n"
		    "Identifiant de connexion : %s\n%s%s%s\n"
		    "À la première connexion, saisissez votre mot de passe puis le code à usage unique\n"
		    "reçu par e-mail, et acceptez les conditions générales d'utilisation.\n",
		    entry_get(e, "mmLoginMail"), address ? "Adresse MSSanté : " : "", address ? address : "",
		    address ? "\n" : "") < 0)
		return;
	if (!strcmp(type, MM_TYPE_MED)) {
		char *more = NULL;
		if (asprintf(&more,
			    "%s\nCompte Medimail : sans adresse MSSanté, vous ne pouvez pas répondre aux "
			    "messages des autres opérateurs MSSanté. Une délégation vers un compte PER ou "
			    "une BAL ORG "
			    "est conseillée.\n",
			    body) >= 0) {
			free(body);
			body = more;
		}
	}
	if (mail_send(r->cfg, entry_get(e, "mmLoginMail"), r->cfg->validated_subject, body) < 0)
		mm_msg_set_message(
			r->out, "compte validé, mais l'e-mail de notification n'a pas pu être envoyé");
	free(body);
}

/* A number already in the entry (written straight into the directory) must not be the host's. */
static int id_servable(struct req *r, const struct entry *e, bool org)
{
	struct host_view *h = host_view_get(HOST_VIEW_AGE);
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
		rc = org ? names_check_gid(r->cfg, h, (uint32_t)n, NAMES_ASK_HOST, &rule)
			 : names_check_uid(r->cfg, h, (uint32_t)n, NAMES_ASK_HOST, &rule);
	}
	host_view_put(h);
	if (rc == 0)
		return 0;
	return req_fail_field(r, org ? "gid_number" : "uid_number", rule, "%s %s : %s (règle %s)",
		org ? "gid" : "uid", v, names_rule_message(rule), rule);
}

int account_validate(struct req *r)
{
	struct entry *e = NULL;
	char address[256] = "", stamp[16], home[512];
	unsigned id = 0;
	struct mods m;
	bool org, has_address;
	int rc;

	if (!r->who.admin)
		return req_fail(r, -EACCES, "réservé au centre de services (administrateurs)");
	if ((rc = account_named(r, &e)) < 0)
		return rc;
	if (strcmp(entry_get(e, "mmStatus"), MM_STATUS_PENDING_VALIDATION)) {
		rc = req_fail(r, -EPERM, "le compte %s est %s : seule une inscription confirmée se valide",
			entry_get(e, "uid"), entry_get(e, "mmStatus"));
		audit_req(r, "validate", entry_get(e, "uid"), false, "wrong status");
		goto out;
	}
	org = !strcmp(entry_get(e, "mmAccountType"), MM_TYPE_ORG);
	/* The login may have been written into the directory after registration. */
	if ((rc = login_servable(r, org, entry_get(e, "uid"), "login", "identifiant")) < 0) {
		audit_req(r, "validate", entry_get(e, "uid"), false, "name refused by the name-service rule");
		goto out;
	}
	if (entry_get(e, org ? "gidNumber" : "uidNumber") && (rc = id_servable(r, e, org)) < 0) {
		audit_req(r, "validate", entry_get(e, "uid"), false, "number known to the host");
		goto out;
	}
	has_address = strcmp(entry_get(e, "mmAccountType"), MM_TYPE_MED) != 0;
	if (has_address && entry_get(e, "mmMssAddress"))
		snprintf(address, sizeof(address), "%s", entry_get(e, "mmMssAddress"));
	else if (has_address && (rc = assign_address(r, e, address, sizeof(address))) < 0) {
		rc = rc == -ENOSPC ? req_fail(r, rc, "aucune adresse MSSanté libre pour ce nom")
				   : store_fail(r, rc, "validation");
		goto out;
	}
	if (!entry_get(e, org ? "gidNumber" : "uidNumber")) {
		struct host_view *h = host_view_get(HOST_VIEW_AGE);

		/* A number the host took since start-up is skipped, not handed out twice. */
		for (unsigned t = 0; t < ID_TRIES; t++) {
			const char *rule;

			rc = org ? id_allocate(r, "gidNumber", r->cfg->gid_min, r->cfg->gid_max, &id)
				 : id_allocate(r, "uidNumber", r->cfg->uid_min, r->cfg->uid_max, &id);
			if (rc < 0 ||
				(org ? names_check_gid(r->cfg, h, id, NAMES_ASK_HOST, &rule)
				     : names_check_uid(r->cfg, h, id, NAMES_ASK_HOST, &rule)) == 0)
				break;
			log_msg(LOG_WARNING, "%s %u is the host's: skipped", org ? "gid" : "uid", id);
			rc = -ENOSPC;
		}
		host_view_put(h);
		if (rc == -ENOSPC) {
			rc = req_fail(r, rc, "plage de numéros %s épuisée", org ? "gid" : "uid");
			goto out;
		}
		if (rc < 0) {
			rc = store_fail(r, rc, "validation");
			goto out;
		}
	}
	store_time(now(), stamp);
	mods_init(&m);
	mods_add(&m, LDAP_MOD_REPLACE, "mmStatus", MM_STATUS_ACTIVE);
	mods_add(&m, LDAP_MOD_REPLACE, "mmValidatedAt", stamp);
	if (id && org) {
		mods_addf(&m, LDAP_MOD_REPLACE, "gidNumber", "%u", id);
	} else if (id) {
		const char *t = r->cfg->home_template, *login = entry_get(e, "uid");
		size_t o = 0;

		for (; *t && o + 1 < sizeof(home); t++) {
			if (t[0] == '%' && t[1] == 'u') {
				o += (size_t)snprintf(home + o, sizeof(home) - o, "%s", login);
				t++;
			} else {
				home[o++] = *t;
			}
		}
		home[o < sizeof(home) ? o : sizeof(home) - 1] = '\0';
		mods_addf(&m, LDAP_MOD_REPLACE, "uidNumber", "%u", id);
		mods_addf(&m, LDAP_MOD_REPLACE, "gidNumber", "%u", (unsigned)r->cfg->user_gid);
		mods_add(&m, LDAP_MOD_REPLACE, "homeDirectory", home);
		mods_add(&m, LDAP_MOD_REPLACE, "loginShell", r->cfg->shell);
	}
	rc = store_modify(r->store, e->dn, &m);
	mods_free(&m);
	if (rc < 0) {
		rc = store_fail(r, rc, "validation");
		goto out;
	}
	mcache_invalidate(); /* a new user or group for the name service */
	audit_req(r, "validate", entry_get(e, "uid"), true, address[0] ? address : "no MSSanté address");
	req_put(r, "login", entry_get(e, "uid"));
	req_put(r, "status", MM_STATUS_ACTIVE);
	if (address[0])
		req_put(r, "mss_address", address);
	if (id) {
		char num[16];
		snprintf(num, sizeof(num), "%u", id);
		req_put(r, org ? "gid_number" : "uid_number", num);
	}
	mm_msg_set_message(r->out, "compte %s validé", entry_get(e, "uid"));
	send_validated(r, e, address[0] ? address : NULL);
	rc = 0;
out:
	entry_free(e);
	return rc;
}

/* Wire name of each stored attribute for SHOW and LIST. */
static const struct {
	const char *attr, *key;
} show_map[] = {
	{"uid", "login"},
	{"mmAccountType", "type"},
	{"mmStatus", "status"},
	{"mmLoginMail", "login_mail"},
	{"mmMssAddress", "mss_address"},
	{"sn", "sn"},
	{"givenName", "given_name"},
	{"cn", "name"},
	{"mmRpps", "rpps"},
	{"mmAdeli", "adeli"},
	{"mmNationalId", "national_id"},
	{"mmStructIdType", "struct_type"},
	{"mmStructId", "struct_id"},
	{"mmProfessionCode", "profession"},
	{"mmSpeciality", "speciality"},
	{"mmLiberal", "liberal"},
	{"telephoneNumber", "phone"},
	{"street", "street"},
	{"postalCode", "postal_code"},
	{"l", "city"},
	{"mmRegion", "region"},
	{"mmDepartment", "department"},
	{"o", "raison_sociale"},
	{"ou", "service"},
	{"description", "description"},
	{"mmRespSn", "resp_sn"},
	{"mmRespGivenName", "resp_given_name"},
	{"mmRespProfession", "resp_profession"},
	{"mmRespRpps", "resp_rpps"},
	{"mmCguAcceptedAt", "cgu_accepted_at"},
	{"mmValidatedAt", "validated_at"},
	{"mmRegisteredAt", "registered_at"},
	{"mmStatusReason", "status_reason"},
	{"mmVisibleMedimail", "visible_medimail"},
	{"mmVisibleMssante", "visible_mssante"},
	{"mmDematerialisation", "dematerialisation"},
	{"uidNumber", "uid_number"},
	{"gidNumber", "gid_number"},
	{"homeDirectory", "home"},
	{"loginShell", "shell"},
};

static const char *type_label(const char *type)
{
	if (!strcmp(type, MM_TYPE_PER))
		return "Compte Personnel : professionnel de santé avec RPPS, adresse MSSanté dans l'annuaire "
		       "santé";
	if (!strcmp(type, MM_TYPE_INT))
		return "Compte Interne : professionnel de santé en attente de RPPS, adresse MSSanté dans "
		       "l'annuaire santé";
	if (!strcmp(type, MM_TYPE_MED))
		return "Compte Medimail : professionnel sans RPPS, adresse visible des seuls utilisateurs de "
		       "Medimail, sans adresse MSSanté";
	return "BAL ORG : boîte aux lettres organisationnelle partagée, accessible depuis un compte "
	       "individuel";
}

/* The login of a DN "uid=x,ou=...". */
static void dn_login(const char *dn, char *out, size_t outsz)
{
	const char *p = dn + (strncasecmp(dn, "uid=", 4) ? 0 : 4);
	size_t n = strcspn(p, ",");

	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

static void put_entry(struct req *r, const struct entry *e, bool full)
{
	for (size_t i = 0; i < sizeof(show_map) / sizeof(show_map[0]); i++) {
		const struct attr *a = entry_attr(e, show_map[i].attr);

		if (!a)
			continue;
		if (!full && strcmp(show_map[i].key, "login") && strcmp(show_map[i].key, "type") &&
			strcmp(show_map[i].key, "status") && strcmp(show_map[i].key, "login_mail") &&
			strcmp(show_map[i].key, "mss_address") && strcmp(show_map[i].key, "name"))
			continue;
		for (size_t j = 0; j < a->nvals; j++)
			req_put(r, show_map[i].key, a->vals[j]);
	}
	if (full) {
		const struct attr *mem = entry_attr(e, "mmMember");
		req_put(r, "type_label", type_label(entry_get(e, "mmAccountType")));
		for (size_t j = 0; mem && j < mem->nvals; j++) {
			char login[80];
			dn_login(mem->vals[j], login, sizeof(login));
			req_put(r, "member", login);
		}
	}
}

/* Is the caller this account (or an active connection account of this ORG)?
 * e NULL: no account, after the same lookup of the caller. */
bool caller_owns(struct req *r, const struct entry *e)
{
	struct entry *me = NULL;
	bool own = false;

	if (account_by_uid(r, r->who.uid, &me) < 0)
		return false;
	if (!e)
		own = false;
	else if (!strcmp(me->dn, e->dn))
		own = true;
	else if (!strcmp(entry_get(e, "mmAccountType"), MM_TYPE_ORG))
		/* A suspended or closed connection account manages nothing. */
		own = entry_has_value(me, "mmStatus", MM_STATUS_ACTIVE) &&
			entry_has_value(e, "mmMember", me->dn);
	entry_free(me);
	return own;
}

bool account_hidden(struct req *r, int rc, const struct entry *e)
{
	if (r->who.admin || (rc != 0 && rc != -ENOENT && rc != -ENOTUNIQ))
		return false;
	/* The caller is looked up in every case: an unknown account answered
	 * sooner than someone else's would tell them apart. */
	return !caller_owns(r, rc == 0 ? e : NULL);
}

int caller_active(struct req *r, const char *event)
{
	struct entry *me = NULL;
	const char *status;
	int rc;

	if (r->who.admin)
		return 0;
	rc = account_by_uid(r, r->who.uid, &me);
	if (rc == -ENOENT)
		return 0; /* no account of its own: each request refuses that its own way */
	if (rc < 0)
		return store_fail(r, rc, "compte");
	status = entry_get(me, "mmStatus");
	if (!status || strcmp(status, MM_STATUS_ACTIVE)) {
		audit_req(r, event, entry_get(me, "uid"), false, "caller account not active");
		req_put(r, "reason", "account_state");
		req_put(r, "status", status);
		rc = req_fail(r, -EPERM, "votre compte %s n'est pas actif (statut : %s) : action impossible",
			entry_get(me, "uid"), status ? status : "?");
	}
	entry_free(me);
	return rc;
}

int account_show(struct req *r)
{
	struct entry *e = NULL;
	int rc;

	if (!get(r, "login")) {
		if (r->who.admin)
			return req_fail_field(r, "login", "required", "identifiant : champ obligatoire");
		rc = account_by_uid(r, r->who.uid, &e);
		if (rc == -ENOENT)
			return req_fail(
				r, rc, "aucun compte Medimail pour l'utilisateur %u", (unsigned)r->who.uid);
	} else {
		rc = account_find(r, get(r, "login"), &e);
		if (account_hidden(r, rc, e)) {
			entry_free(e);
			/* Same answer as a missing account: no probing of other accounts. */
			return req_fail(r, -ENOENT, "%s : compte introuvable", get(r, "login"));
		}
	}
	if (rc < 0)
		return store_fail(r, rc, get(r, "login") ? get(r, "login") : "compte");
	put_entry(r, e, true);
	entry_free(e);
	return 0;
}

int account_list(struct req *r)
{
	const char *status = get(r, "status"), *type = get(r, "type");
	struct entry **v = NULL;
	size_t n = 0;
	char *filter = NULL, *es = NULL, *et = NULL;
	int rc;

	if (!r->who.admin)
		return req_fail(r, -EACCES, "réservé aux administrateurs");
	for (size_t i = 0; i < r->in->nfields; i++)
		if (strcmp(r->in->fields[i].key, "status") && strcmp(r->in->fields[i].key, "type"))
			return req_fail_field(r, r->in->fields[i].key, "unknown", "champ inconnu : %s",
				r->in->fields[i].key);
	es = store_escape(status ? status : "*");
	et = store_escape(type ? type : "*");
	if (!es || !et ||
		asprintf(&filter, "(&(objectClass=mmAccount)%s%s%s%s%s%s)", status ? "(mmStatus=" : "",
			status ? es : "", status ? ")" : "", type ? "(mmAccountType=" : "", type ? et : "",
			type ? ")" : "") < 0) {
		rc = -ENOMEM;
		goto out;
	}
	rc = store_search(
		r->store, r->cfg->ldap_base, LDAP_SCOPE_SUBTREE, filter, account_attrs, 1000, &v, &n);
	if (rc < 0) {
		rc = store_fail(r, rc, "liste");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char idx[24];
		snprintf(idx, sizeof(idx), "%zu", i);
		req_put(r, "#", idx);
		put_entry(r, v[i], false);
	}
	if (n == 1000)
		mm_msg_set_message(r->out, "1000 comptes affichés au plus : précisez le statut ou le type");
	rc = 0;
out:
	entries_free(v, n);
	free(filter);
	free(es);
	free(et);
	return rc;
}

int account_set_status(struct req *r, const char *status)
{
	struct entry *e = NULL;
	const char *cur, *target = status, *reason = get(r, "reason");
	struct mods m;
	int rc;

	if (!r->who.admin)
		return req_fail(r, -EACCES, "réservé aux administrateurs");
	if (!get(r, "login"))
		return login_required(r);
	if (reason && validate_text(reason, 256) < 0)
		return req_fail_field(r, "reason", "characters", "motif : texte de 256 octets au plus");
	if ((rc = account_named(r, &e)) < 0)
		return rc;
	cur = entry_get(e, "mmStatus");
	if (!strcmp(cur, MM_STATUS_CLOSED)) {
		rc = req_fail(r, -EPERM, "le compte %s est clos", entry_get(e, "uid"));
		goto out;
	}
	if (!strcmp(status, MM_STATUS_ACTIVE)) {
		if (strcmp(cur, MM_STATUS_SUSPENDED)) {
			rc = req_fail(r, -EPERM, "seul un compte suspendu se réactive (statut : %s)", cur);
			goto out;
		}
		/* Suspended before its validation: back to the validation queue. */
		if (!entry_get(e, "mmValidatedAt"))
			target = MM_STATUS_PENDING_VALIDATION;
	} else if (!strcmp(status, MM_STATUS_SUSPENDED) && !strcmp(cur, MM_STATUS_SUSPENDED)) {
		rc = req_fail(r, -EPERM, "le compte %s est déjà suspendu", entry_get(e, "uid"));
		goto out;
	}
	mods_init(&m);
	mods_add(&m, LDAP_MOD_REPLACE, "mmStatus", target);
	mods_add(&m, LDAP_MOD_REPLACE, "mmStatusReason", reason);
	rc = store_modify(r->store, e->dn, &m);
	mods_free(&m);
	if (rc < 0) {
		rc = store_fail(r, rc, "statut");
		goto out;
	}
	mcache_invalidate(); /* users and groups appear or disappear with the status */
	audit_req(r, status, entry_get(e, "uid"), true, reason);
	req_put(r, "login", entry_get(e, "uid"));
	req_put(r, "status", target);
	mm_msg_set_message(r->out, "compte %s : %s", entry_get(e, "uid"), target);
out:
	entry_free(e);
	return rc;
}

int account_convert(struct req *r)
{
	const char *rpps = get(r, "rpps");
	struct entry *e = NULL;
	char address[256] = "";
	struct mods m;
	bool dup = false;
	int rc;

	if (!r->who.admin)
		return req_fail(r, -EACCES, "réservé au centre de services (administrateurs)");
	if (!get(r, "login"))
		return login_required(r);
	if (!rpps || validate_rpps(rpps) < 0)
		return req_fail_field(r, "rpps", "check_digit",
			"numéro RPPS : 11 chiffres dont une clé de contrôle (Luhn) valide");
	if ((rc = account_named(r, &e)) < 0)
		return rc;
	if (strcmp(entry_get(e, "mmAccountType"), MM_TYPE_INT)) {
		rc = req_fail(r, -EPERM, "seul un compte INT se convertit en PER (type : %s)",
			entry_get(e, "mmAccountType"));
		goto out;
	}
	if ((rc = exists_with(r, "mmRpps", rpps, &dup)) < 0) {
		rc = store_fail(r, rc, "conversion");
		goto out;
	}
	if (dup) {
		rc = req_fail_field(
			r, "rpps", "duplicate", "numéro RPPS : un compte existe déjà avec ce RPPS");
		rc = -EEXIST;
		goto out;
	}
	mods_init(&m);
	mods_add(&m, LDAP_MOD_REPLACE, "mmAccountType", MM_TYPE_PER);
	mods_add(&m, LDAP_MOD_REPLACE, "mmRpps", rpps);
	mods_addf(&m, LDAP_MOD_REPLACE, "mmNationalId", "8%s", rpps);
	rc = store_modify(r->store, e->dn, &m);
	mods_free(&m);
	if (rc < 0) {
		rc = store_fail(r, rc, "conversion");
		goto out;
	}
	if (!strcmp(entry_get(e, "mmStatus"), MM_STATUS_ACTIVE) && !entry_get(e, "mmMssAddress") &&
		(rc = assign_address(r, e, address, sizeof(address))) < 0) {
		rc = store_fail(r, rc, "conversion");
		goto out;
	}
	audit_req(r, "convert", entry_get(e, "uid"), true, "INT -> PER");
	req_put(r, "login", entry_get(e, "uid"));
	req_put(r, "type", MM_TYPE_PER);
	req_put(r, "mss_address", address[0] ? address : entry_get(e, "mmMssAddress"));
	mm_msg_set_message(r->out, "compte %s converti en PER", entry_get(e, "uid"));
	rc = 0;
out:
	entry_free(e);
	return rc;
}

static int org_member_change(struct req *r, bool add)
{
	struct entry *org = NULL, *mem = NULL;
	struct mods m;
	int rc;

	if (!get(r, "org") || !get(r, "member"))
		return req_fail_field(r, get(r, "org") ? "member" : "org", "required", "champ obligatoire");
	if ((rc = caller_active(r, add ? "org-member-add" : "org-member-del")) < 0)
		return rc;
	rc = account_find(r, get(r, "org"), &org);
	/* To others, an unknown account and someone else's get one answer. */
	if (account_hidden(r, rc, org)) {
		audit_req(r, add ? "org-member-add" : "org-member-del",
			org ? entry_get(org, "uid") : get(r, "org"), false,
			rc == 0 ? "caller is not a connection account" : "unknown account");
		rc = req_fail(r, -EACCES,
			"seuls les administrateurs et les comptes de connexion de la BAL ORG la gèrent");
		goto out;
	}
	if (rc < 0)
		return store_fail(r, rc, get(r, "org"));
	if (strcmp(entry_get(org, "mmAccountType"), MM_TYPE_ORG)) {
		rc = req_fail_field(r, "org", "not_org", "%s n'est pas une BAL ORG", get(r, "org"));
		goto out;
	}
	if ((rc = account_find(r, get(r, "member"), &mem)) < 0) {
		rc = store_fail(r, rc, get(r, "member"));
		goto out;
	}
	if (!strcmp(entry_get(mem, "mmAccountType"), MM_TYPE_ORG)) {
		rc = req_fail_field(
			r, "member", "not_individual", "un compte de connexion est un compte individuel");
		goto out;
	}
	if (add && !strcmp(entry_get(mem, "mmStatus"), MM_STATUS_CLOSED)) {
		rc = req_fail_field(r, "member", "closed", "le compte %s est clos", entry_get(mem, "uid"));
		goto out;
	}
	if (!add) {
		const struct attr *a = entry_attr(org, "mmMember");
		if (!entry_has_value(org, "mmMember", mem->dn)) {
			rc = req_fail(r, -ENOENT, "%s n'est pas un compte de connexion de %s",
				entry_get(mem, "uid"), entry_get(org, "uid"));
			goto out;
		}
		if (a && a->nvals <= 1) {
			rc = req_fail(r, -EPERM, "une BAL ORG garde au moins un compte de connexion");
			goto out;
		}
	}
	mods_init(&m);
	mods_add(&m, add ? LDAP_MOD_ADD : LDAP_MOD_DELETE, "mmMember", mem->dn);
	rc = store_modify(r->store, org->dn, &m);
	mods_free(&m);
	if (rc == -EEXIST) {
		rc = req_fail(r, -EEXIST, "%s est déjà un compte de connexion de %s", entry_get(mem, "uid"),
			entry_get(org, "uid"));
		goto out;
	}
	if (rc == -ESTALE) {
		rc = req_fail(r, -ENOENT, "%s n'est pas un compte de connexion de %s", entry_get(mem, "uid"),
			entry_get(org, "uid"));
		goto out;
	}
	if (rc < 0) {
		rc = store_fail(r, rc, "BAL ORG");
		goto out;
	}
	mcache_invalidate(); /* group members and the member's groups changed */
	audit_req(r, add ? "org-member-add" : "org-member-del", entry_get(org, "uid"), true,
		entry_get(mem, "uid"));
	req_put(r, "org", entry_get(org, "uid"));
	req_put(r, "member", entry_get(mem, "uid"));
	mm_msg_set_message(r->out, "%s %s %s", entry_get(mem, "uid"), add ? "ajouté à" : "retiré de",
		entry_get(org, "uid"));
out:
	entry_free(org);
	entry_free(mem);
	return rc;
}

int org_member_add(struct req *r)
{
	return org_member_change(r, true);
}

int org_member_del(struct req *r)
{
	return org_member_change(r, false);
}

int account_cgu_accept(struct req *r)
{
	struct entry *e = NULL;
	char stamp[16];
	struct mods m;
	int rc;

	if (!get(r, "login"))
		return login_required(r);
	rc = account_find(r, get(r, "login"), &e);
	if (account_hidden(r, rc, e)) {
		entry_free(e);
		return req_fail(r, -ENOENT, "%s : compte introuvable", get(r, "login"));
	}
	if (rc < 0)
		return store_fail(r, rc, get(r, "login"));
	if (strcmp(entry_get(e, "mmAccountType"), MM_TYPE_ORG) == 0) {
		entry_free(e);
		return req_fail(r, -EPERM, "les CGU s'acceptent depuis un compte individuel");
	}
	if (strcmp(entry_get(e, "mmStatus"), MM_STATUS_ACTIVE)) {
		rc = req_fail(r, -EPERM, "le compte %s n'est pas actif", entry_get(e, "uid"));
		entry_free(e);
		return rc;
	}
	if (entry_get(e, "mmCguAcceptedAt")) {
		req_put(r, "cgu_accepted_at", entry_get(e, "mmCguAcceptedAt"));
		entry_free(e);
		return 0;
	}
	store_time(now(), stamp);
	mods_init(&m);
	mods_add(&m, LDAP_MOD_ADD, "mmCguAcceptedAt", stamp);
	rc = store_modify(r->store, e->dn, &m);
	mods_free(&m);
	if (rc == -EEXIST)
		rc = 0; /* accepted meanwhile on another daemon */
	if (rc < 0) {
		rc = store_fail(r, rc, "CGU");
	} else {
		audit_req(r, "cgu-accept", entry_get(e, "uid"), true, NULL);
		if (offline_mark_cgu(r->cfg, entry_get(e, "uid")) < 0)
			log_msg(LOG_WARNING, "%s: offline record not updated", entry_get(e, "uid"));
		req_put(r, "cgu_accepted_at", stamp);
	}
	entry_free(e);
	return rc;
}
