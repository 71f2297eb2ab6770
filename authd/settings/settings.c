/* "Gérer mon compte": personal data, password reset, signatures, automatic reply, notifications, delegations, dematerialisation, mobile devices. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "account_compat.h"
#include "address.h"
#include "html.h"
#include "json.h"
#include "log.h"
#include "mail.h"
#include "secret.h"
#include "settings.h"
#include "validate.h"

#define AUX_CLASS "mmSettings"

static const char *const settings_attrs[] = {"uid", "objectClass", "mmAccountType", "mmStatus", "mmLoginMail",
	"mmMssAddress", "sn", "givenName", "cn", "telephoneNumber", "street", "postalCode", "l", "o",
	"mmProfessionCode", "mmSpeciality", "mmStructIdType", "mmStructId", "description", "mmRespSn",
	"mmRespGivenName", "mmRespProfession", "mmRespRpps", "mmSignature", "mmDefaultSignature",
	"mmAutoReplyActive", "mmAutoReplyStart", "mmAutoReplyEnd", "mmAutoReplySubject", "mmAutoReplyBody",
	"mmNotifyReceipt", "mmNotifyOpening", "mmNotifyDigest", "mmNotifyOrgToIndividual", "mmDelegate",
	"mmDevice", "mmDematerialisation", "mmMember", "uidNumber", NULL};

static const char opening_caveat[] =
	"A noter : si vous envoyez un message Medimail à une personne utilisant une autre messagerie "
	"sécurisée de santé (Lifen, Mailiz, Wraptor…), vous ne pourrez pas recevoir de notification "
	"d'ouverture du message : Medimail est en incapacité de savoir si le message a été ouvert "
	"lorsqu'il a été envoyé à une autre messagerie sécurisée de santé.";

static const char med_delegate_advice[] =
	"Un compte Medimail (pour les professionnels sans numéro RPPS) ne peut pas répondre à un message "
	"provenant d'une autre messagerie sécurisée que Medimail. Il est donc conseillé de réaliser une "
	"délégation vers un compte PERsonnel ou ORGanisationnel (compte avec numéro RPPS).";

/* --- small helpers ------------------------------------------------------- */

static const char *get(const struct req *r, const char *key)
{
	const char *v = mm_msg_get(r->in, key);

	return v && *v ? v : NULL;
}

static long long now(void)
{
	return (long long)time(NULL);
}

static bool is_org(const struct entry *e)
{
	return !strcmp(entry_get(e, "mmAccountType"), MM_TYPE_ORG);
}

static const char *login_of(const struct entry *e)
{
	return entry_get(e, "uid");
}

/* Refuses fields outside `allowed` and repeated fields. */
static int check_keys(struct req *r, const char *const *allowed)
{
	for (size_t i = 0; i < r->in->nfields; i++) {
		const char *k = r->in->fields[i].key;
		size_t a;

		for (a = 0; allowed[a]; a++)
			if (!strcmp(allowed[a], k))
				break;
		if (!allowed[a])
			return req_fail_field(r, k, "unknown", "champ inconnu : %s", k);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(r->in->fields[j].key, k))
				return req_fail_field(r, k, "repeated", "%s : donné deux fois", k);
	}
	return 0;
}

/* The account a request acts on, with its settings read. */
static int target(struct req *r, bool change, struct entry **ret)
{
	struct entry *e = NULL, *full = NULL;
	const char *login = get(r, "login");
	int rc;

	*ret = NULL;
	/* A suspended or closed caller manages neither its own settings nor an ORG's. */
	if ((rc = caller_active(r, change ? "settings-set" : "settings-get")) < 0)
		return rc;
	if (login) {
		if (validate_text(login, 254) < 0)
			return req_fail_field(r, "login", "characters", "identifiant invalide");
		rc = account_find(r, login, &e);
		if (account_hidden(r, rc, e)) {
			entry_free(e);
			/* Same answer as a missing account: no probing of other accounts. */
			return req_fail(r, -ENOENT, "%s : compte introuvable", login);
		}
	} else if (r->who.admin && r->who.uid == 0) {
		return req_fail_field(r, "login", "required", "identifiant : champ obligatoire");
	} else {
		rc = account_by_uid(r, r->who.uid, &e);
		if (rc == -ENOENT)
			return req_fail(
				r, rc, "aucun compte Medimail pour l'utilisateur %u", (unsigned)r->who.uid);
	}
	if (rc < 0)
		return store_fail(r, rc, login ? login : "compte");
	rc = store_read(r->store, e->dn, settings_attrs, &full);
	entry_free(e);
	if (rc < 0)
		return store_fail(r, rc, login ? login : "compte");
	if (change && !strcmp(entry_get(full, "mmStatus"), MM_STATUS_CLOSED)) {
		entry_free(full);
		return req_fail(r, -EPERM, "le compte est clos");
	}
	*ret = full;
	return 0;
}

/* The settings attributes live in an auxiliary class added on first use. */
static void need_aux(struct mods *m, const struct entry *e)
{
	if (!entry_has_value(e, "objectClass", AUX_CLASS))
		mods_add(m, LDAP_MOD_ADD, "objectClass", AUX_CLASS);
}

static int modify(struct req *r, const struct entry *e, struct mods *m, const char *what)
{
	int rc = m->err ? m->err : store_modify(r->store, e->dn, m);

	mods_free(m);
	if (rc == -ESTALE)
		return req_fail(r, -EAGAIN, "%s : modifié entre-temps par ailleurs, réessayez", what);
	if (rc < 0)
		return store_fail(r, rc, what);
	return 0;
}

static int parse_bool(struct req *r, const char *key, int *ret)
{
	const char *v = mm_msg_get(r->in, key);

	*ret = -1;
	if (!v)
		return 0;
	if (!strcmp(v, "yes"))
		*ret = 1;
	else if (!strcmp(v, "no"))
		*ret = 0;
	else
		return req_fail_field(r, key, "syntax", "%s : yes ou no", key);
	return 0;
}

/* A stored boolean, or its default when absent. */
static bool stored_bool(const struct entry *e, const char *attr, bool def)
{
	const char *v = entry_get(e, attr);

	return v ? !strcmp(v, "TRUE") : def;
}

static void put_bool(struct req *r, const char *key, bool v)
{
	req_put(r, key, v ? "yes" : "no");
}

static void put_index(struct req *r, size_t i)
{
	char idx[24];

	snprintf(idx, sizeof(idx), "%zu", i);
	req_put(r, "#", idx);
}

/* 12 hex characters: ids of signatures and devices. */
static void new_id(char out[13])
{
	char tok[SECRET_TOKEN_HEX];

	secret_token(tok);
	memcpy(out, tok, 12);
	out[12] = '\0';
}

static bool valid_id(const char *s)
{
	return s && strlen(s) == 12 && strspn(s, "0123456789abcdef") == 12;
}

static bool valid_token(const char *s)
{
	return s && strlen(s) == SECRET_TOKEN_HEX - 1 &&
		strspn(s, "0123456789abcdef") == SECRET_TOKEN_HEX - 1;
}

static void audit_change(
	const struct req *r, const char *event, const struct entry *e, bool ok, const char *reason)
{
	audit_req(r, event, e ? login_of(e) : NULL, ok, reason);
}

/* --- Informations personnelles ------------------------------------------ */

enum pkind { P_NAME, P_TEXT, P_PHONE, P_POSTCODE, P_PROFESSION, P_RPPS, P_STRUCT_TYPE, P_STRUCT_ID };
enum pwho { W_INDIVIDUAL = 1, W_ORG = 2, W_ORG_ADMIN = 4 };

static const struct pfield {
	const char *key, *attr;
	enum pkind kind;
	size_t max;
	unsigned who;
	bool required; /* may not be cleared */
	const char *label;
} pfields[] = {
	{"sn", "sn", P_NAME, 64, W_INDIVIDUAL, true, "nom"},
	{"given_name", "givenName", P_NAME, 64, W_INDIVIDUAL, true, "prénom"},
	{"phone", NULL, P_PHONE, 32, W_INDIVIDUAL | W_ORG, false, "téléphone"},
	{"phone2", NULL, P_PHONE, 32, W_INDIVIDUAL | W_ORG, false, "second téléphone"},
	{"street", "street", P_TEXT, 128, W_INDIVIDUAL | W_ORG, false, "adresse postale"},
	{"postal_code", "postalCode", P_POSTCODE, 5, W_INDIVIDUAL | W_ORG, false, "code postal"},
	{"city", "l", P_NAME, 64, W_INDIVIDUAL | W_ORG, false, "ville"},
	{"raison_sociale", "o", P_TEXT, 128, W_INDIVIDUAL | W_ORG, false, "raison sociale"},
	{"profession", "mmProfessionCode", P_PROFESSION, 4, W_INDIVIDUAL, false, "profession"},
	{"speciality", "mmSpeciality", P_TEXT, 128, W_INDIVIDUAL, false, "spécialité"},
	{"struct_type", "mmStructIdType", P_STRUCT_TYPE, 6, W_ORG_ADMIN, true,
		"type d'identifiant de structure"},
	{"struct_id", "mmStructId", P_STRUCT_ID, 14, W_ORG_ADMIN, true, "FINESS (ou SIRET / SIREN)"},
	{"description", "description", P_TEXT, 1024, W_ORG_ADMIN, true, "description du compte"},
	{"resp_sn", "mmRespSn", P_NAME, 64, W_ORG_ADMIN, true, "nom du responsable"},
	{"resp_given_name", "mmRespGivenName", P_NAME, 64, W_ORG_ADMIN, true, "prénom du responsable"},
	{"resp_profession", "mmRespProfession", P_PROFESSION, 4, W_ORG_ADMIN, true,
		"profession du responsable"},
	{"resp_rpps", "mmRespRpps", P_RPPS, 11, W_ORG_ADMIN, true, "RPPS du responsable"},
};
#define NPFIELDS (sizeof(pfields) / sizeof(pfields[0]))

static const struct pfield *pfield_find(const char *key)
{
	for (size_t i = 0; i < NPFIELDS; i++)
		if (!strcmp(pfields[i].key, key))
			return &pfields[i];
	return NULL;
}

static bool pfield_applies(const struct pfield *f, bool org)
{
	return org ? (f->who & (W_ORG | W_ORG_ADMIN)) != 0 : (f->who & W_INDIVIDUAL) != 0;
}

static bool pfield_editable(const struct req *r, const struct pfield *f, bool org)
{
	if (!pfield_applies(f, org))
		return false;
	return org ? (f->who & W_ORG) || r->who.admin : true;
}

static int pfield_check(struct req *r, const struct pfield *f, const char *v)
{
	if (validate_utf8(v, strlen(v)) < 0)
		return req_fail_field(r, f->key, "utf8", "%s : texte UTF-8 invalide", f->label);
	if (strlen(v) > f->max)
		return req_fail_field(
			r, f->key, "max_length", "%s : %zu caractères au plus", f->label, f->max);
	switch (f->kind) {
	case P_NAME:
		if (validate_name(v) < 0)
			return req_fail_field(r, f->key, "characters",
				"%s : lettres, espaces, apostrophes, tirets et points seulement", f->label);
		break;
	case P_TEXT:
		if (validate_text(v, f->max) < 0)
			return req_fail_field(r, f->key, "characters",
				"%s : texte vide ou caractères de contrôle", f->label);
		break;
	case P_PHONE:
		if (validate_phone(v) < 0)
			return req_fail_field(
				r, f->key, "syntax", "%s : numéro de téléphone invalide", f->label);
		break;
	case P_POSTCODE:
		if (validate_postal_code(v) < 0)
			return req_fail_field(r, f->key, "syntax", "%s : 5 chiffres attendus", f->label);
		break;
	case P_PROFESSION:
		if (validate_profession_code(v) < 0)
			return req_fail_field(r, f->key, "unknown",
				"%s : code profession inconnu (nomenclature TRE_G15)", f->label);
		break;
	case P_RPPS:
		if (validate_rpps(v) < 0)
			return req_fail_field(r, f->key, "check_digit",
				"%s : 11 chiffres dont une clé de contrôle (Luhn) valide", f->label);
		break;
	case P_STRUCT_TYPE:
		if (strcmp(v, "FINESS") && strcmp(v, "SIRET") && strcmp(v, "SIREN"))
			return req_fail_field(r, f->key, "unknown", "%s : FINESS, SIRET ou SIREN", f->label);
		break;
	case P_STRUCT_ID: break; /* with its type, below */
	}
	return 0;
}

static void type_screen(struct req *r, const char *type)
{
	static const struct {
		const char *type, *title, *info[3];
	} t[] = {
		{MM_TYPE_MED, "Compte Medimail",
			{"Compte pour les professionnels sans identifiant RPPS",
				"Adresse mail visible uniquement par les utilisateurs de Medimail",
				"Compte ne donnant pas lieu à une adresse MSSanté"}},
		{MM_TYPE_PER, "Compte Personnel",
			{"Compte pour les professionnels de santé avec identifiant RPPS",
				"Adresse mail visible par tous les utilisateurs de MSSanté (Medimail, "
				"Mailiz, Lifen, …)",
				"Compte donnant lieu à une adresse MSSanté dans l'annuaire santé (annuaire "
				"national)"}},
		{MM_TYPE_INT, "Compte Interne",
			{"Compte pour les professionnels de santé en attente d'identifiant RPPS (médecins "
			 "internes ou étrangers)",
				"Adresse mail visible par tous les utilisateurs de MSSanté (Medimail, "
				"Mailiz, Lifen…)",
				"Compte donnant lieu à une adresse MSSanté dans l'annuaire santé (annuaire "
				"national)"}},
		{MM_TYPE_ORG, "Compte organisationnel (BAL ORG)",
			{"Boîte aux lettres partagée d'un service ou d'une structure",
				"Accessible depuis les comptes individuels qui en sont comptes de connexion",
				"FINESS, responsable et description modifiables par les administrateurs "
				"seulement"}},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (strcmp(t[i].type, type))
			continue;
		req_put(r, "type_title", t[i].title);
		for (size_t j = 0; j < 3; j++)
			req_put(r, "type_info", t[i].info[j]);
	}
	if (strcmp(type, MM_TYPE_ORG))
		req_put(r, "type_help",
			"Si votre type de compte ne correspond pas à votre réalité professionnelle, "
			"contactez l'administrateur Medimail de votre structure ou le Centre De Services : "
			"http://assistance.esante-occitanie.fr/");
}

static void put_profile(struct req *r, const struct entry *e)
{
	const struct attr *tel = entry_attr(e, "telephoneNumber");
	bool org = is_org(e);

	req_put(r, "login", login_of(e));
	req_put(r, "type", entry_get(e, "mmAccountType"));
	type_screen(r, entry_get(e, "mmAccountType"));
	req_put(r, "login_mail", entry_get(e, "mmLoginMail"));
	req_put(r, "mss_address", entry_get(e, "mmMssAddress"));
	if (org)
		req_put(r, "name", entry_get(e, "cn"));
	for (size_t i = 0; i < NPFIELDS; i++) {
		const struct pfield *f = &pfields[i];

		if (!pfield_applies(f, org))
			continue;
		if (!strcmp(f->key, "phone") || !strcmp(f->key, "phone2")) {
			size_t k = f->key[5] == '2';
			if (tel && tel->nvals > k)
				req_put(r, f->key, tel->vals[k]);
			continue;
		}
		req_put(r, f->key, entry_get(e, f->attr));
	}
	if (entry_get(e, "mmProfessionCode"))
		req_put(r, "profession_label", profession_label(entry_get(e, "mmProfessionCode")));
	if (org) {
		/* "Identifiants de connexion" of an ORG: its connection accounts. */
		const struct attr *mem = entry_attr(e, "mmMember");
		for (size_t j = 0; mem && j < mem->nvals; j++) {
			char login[80];
			const char *p = mem->vals[j] + (strncasecmp(mem->vals[j], "uid=", 4) ? 0 : 4);
			size_t n = strcspn(p, ",");
			snprintf(login, sizeof(login), "%.*s",
				(int)(n < sizeof(login) ? n : sizeof(login) - 1), p);
			req_put(r, "member", login);
		}
	}
	for (size_t i = 0; i < NPFIELDS; i++)
		if (pfield_editable(r, &pfields[i], org))
			req_put(r, "editable", pfields[i].key);
}

int settings_profile_get(struct req *r)
{
	static const char *const keys[] = {"login", NULL};
	struct entry *e = NULL;
	int rc;

	if ((rc = check_keys(r, keys)) < 0 || (rc = target(r, false, &e)) < 0)
		return rc;
	put_profile(r, e);
	entry_free(e);
	return 0;
}

/* Folded words of the names and the city, for the directory's typeahead search. */
static void search_keys(struct mods *m, const char *a, const char *b, const char *c)
{
	const char *src[3] = {a, b, c};
	char folded[256], *save = NULL;

	mods_add(m, LDAP_MOD_REPLACE, "mmSearchKey", NULL);
	for (size_t i = 0; i < 3; i++) {
		if (!src[i] || text_fold(src[i], ' ', folded, sizeof(folded)) <= 0)
			continue;
		for (char *w = strtok_r(folded, " ", &save); w; w = strtok_r(NULL, " ", &save))
			mods_add(m, LDAP_MOD_REPLACE, "mmSearchKey", w);
	}
}

int settings_profile_set(struct req *r)
{
	struct entry *e = NULL;
	const struct attr *tel;
	const char *phone[2] = {NULL, NULL}, *st, *sid;
	char changed[512] = "";
	struct mods m;
	bool org, names = false, phones = false;
	int rc;

	/* Every field known and not repeated before anything else. */
	for (size_t i = 0; i < r->in->nfields; i++) {
		const char *k = r->in->fields[i].key;
		if (strcmp(k, "login") && !pfield_find(k))
			return req_fail_field(r, k, "unknown", "champ inconnu : %s", k);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(r->in->fields[j].key, k))
				return req_fail_field(r, k, "repeated", "%s : donné deux fois", k);
	}
	if ((rc = target(r, true, &e)) < 0)
		return rc;
	org = is_org(e);
	mods_init(&m);
	for (size_t i = 0; i < r->in->nfields; i++) {
		const char *k = r->in->fields[i].key, *v = r->in->fields[i].value;
		const struct pfield *f = pfield_find(k);

		if (!f)
			continue;
		if (!pfield_applies(f, org)) {
			rc = req_fail_field(r, k, "not_allowed", "%s : sans objet pour un compte %s",
				f->label, entry_get(e, "mmAccountType"));
			goto out;
		}
		if (!pfield_editable(r, f, org)) {
			req_fail_field(r, k, "admin_only",
				"%s : non modifiable par les utilisateurs ; contactez l'administrateur "
				"Medimail "
				"de votre structure ou le Centre De Services",
				f->label);
			audit_change(r, "profile-set", e, false, k);
			rc = -EACCES;
			goto out;
		}
		if (!*v &&
			(f->required ||
				(!org && !strcmp(k, "profession") &&
					strcmp(entry_get(e, "mmAccountType"), MM_TYPE_MED)) ||
				(org && (!strcmp(k, "postal_code") || !strcmp(k, "city"))))) {
			rc = req_fail_field(r, k, "required", "%s : champ obligatoire", f->label);
			goto out;
		}
		if (*v && (rc = pfield_check(r, f, v)) < 0)
			goto out;
		if (strlen(changed) + strlen(k) + 2 < sizeof(changed))
			snprintf(changed + strlen(changed), sizeof(changed) - strlen(changed), "%s%s",
				changed[0] ? "," : "", k);
		if (!strcmp(k, "phone") || !strcmp(k, "phone2")) {
			phones = true;
			continue;
		}
		if (!strcmp(k, "sn") || !strcmp(k, "given_name") || !strcmp(k, "city"))
			names = true;
		mods_add(&m, LDAP_MOD_REPLACE, f->attr, *v ? v : NULL);
	}
	if (!changed[0]) {
		rc = req_fail(r, -EINVAL, "aucun champ à modifier");
		goto out;
	}
	/* The structure id is checked against its (new or stored) type. */
	st = mm_msg_get(r->in, "struct_type") ? mm_msg_get(r->in, "struct_type")
					      : entry_get(e, "mmStructIdType");
	sid = mm_msg_get(r->in, "struct_id") ? mm_msg_get(r->in, "struct_id") : entry_get(e, "mmStructId");
	if ((mm_msg_get(r->in, "struct_type") || mm_msg_get(r->in, "struct_id")) &&
		(!st || !sid || validate_struct_id(st, sid) < 0)) {
		rc = req_fail_field(r, "struct_id", "check_digit",
			"identifiant de structure : format ou clé de contrôle invalide pour %s",
			st ? st : "?");
		goto out;
	}
	if (phones) {
		/* telephoneNumber holds the first phone then the optional second one. */
		tel = entry_attr(e, "telephoneNumber");
		for (size_t k = 0; k < 2; k++) {
			const char *given = mm_msg_get(r->in, k ? "phone2" : "phone");
			phone[k] = given ? (*given ? given : NULL)
					 : (tel && tel->nvals > k ? tel->vals[k] : NULL);
		}
		if (!phone[0] && phone[1]) {
			phone[0] = phone[1];
			phone[1] = NULL;
		}
		if (phone[0] && phone[1] && !strcmp(phone[0], phone[1])) {
			rc = req_fail_field(
				r, "phone2", "duplicate", "second téléphone : identique au premier");
			goto out;
		}
		mods_add(&m, LDAP_MOD_REPLACE, "telephoneNumber", NULL);
		for (size_t k = 0; k < 2; k++)
			if (phone[k])
				mods_add(&m, LDAP_MOD_REPLACE, "telephoneNumber", phone[k]);
	}
	if (names) {
		const char *city = mm_msg_get(r->in, "city") ? get(r, "city") : entry_get(e, "l");
		if (org) {
			search_keys(&m, entry_get(e, "cn"), NULL, city);
		} else {
			const char *sn = get(r, "sn") ? get(r, "sn") : entry_get(e, "sn");
			const char *gn =
				get(r, "given_name") ? get(r, "given_name") : entry_get(e, "givenName");
			mods_addf(&m, LDAP_MOD_REPLACE, "cn", "%s %s", gn, sn);
			mods_addf(&m, LDAP_MOD_REPLACE, "displayName", "%s %s", gn, sn);
			search_keys(&m, gn, sn, city);
		}
	}
	if ((rc = modify(r, e, &m, "informations personnelles")) < 0)
		goto out;
	audit_change(r, "profile-set", e, true, changed);
	entry_free(e);
	e = NULL;
	if ((rc = target(r, false, &e)) < 0)
		goto out;
	put_profile(r, e);
	mm_msg_set_message(r->out, "informations enregistrées");
out:
	mods_free(&m);
	entry_free(e);
	return rc;
}

/* --- Mot de passe oublié ------------------------------------------------- */

int settings_password_forgot(struct req *r)
{
	static const char *const keys[] = {"login_mail", NULL};
	static const char *const attrs[] = {
		"uid", "objectClass", "mmAccountType", "mmStatus", "mmLoginMail", "mmResetExpires", NULL};
	const char *mail = get(r, "login_mail");
	char token[SECRET_TOKEN_HEX], h[SECRET_HASH_HEX], expires[16], *esc = NULL, *filter = NULL,
								       *body = NULL;
	struct entry *e = NULL;
	struct mods m;
	const char *why = NULL;
	int rc;

	if ((rc = check_keys(r, keys)) < 0)
		return rc;
	if (!mail || validate_email(mail) < 0)
		return req_fail_field(r, "login_mail", "syntax", "adresse e-mail invalide");
	esc = store_escape(mail);
	if (!esc || asprintf(&filter, "(&(objectClass=mmAccount)(mmLoginMail=%s))", esc) < 0) {
		free(esc);
		return -ENOMEM;
	}
	free(esc);
	rc = store_search_one(r->store, r->cfg->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, &e);
	free(filter);
	if (rc == -ENOENT) {
		why = "no such account";
		goto same_answer;
	}
	if (rc < 0)
		return store_fail(r, rc, "réinitialisation");
	if (is_org(e)) {
		why = "ORG has no password";
		goto same_answer;
	}
	if (strcmp(entry_get(e, "mmStatus"), MM_STATUS_ACTIVE)) {
		why = "account not active";
		goto same_answer;
	}
	if (entry_get(e, "mmResetExpires") &&
		store_parse_time(entry_get(e, "mmResetExpires")) - SETTINGS_RESET_TTL +
				SETTINGS_RESET_INTERVAL >
			now()) {
		why = "a link was sent less than a minute ago";
		goto same_answer;
	}
	secret_token(token);
	if ((rc = secret_keyed_hash("password-reset", token, h)) < 0)
		goto out;
	store_time(now() + SETTINGS_RESET_TTL, expires);
	mods_init(&m);
	need_aux(&m, e);
	mods_add(&m, LDAP_MOD_REPLACE, "mmResetHash", h);
	mods_add(&m, LDAP_MOD_REPLACE, "mmResetExpires", expires);
	if ((rc = modify(r, e, &m, "réinitialisation")) < 0)
		goto out;
	if (asprintf(&body,
		    "Bonjour,\n\nVous avez demandé la réinitialisation du mot de passe de votre compte "
		    "Medimail.\n"
		    "Pour définir un nouveau mot de passe, ouvrez ce lien (valable %u minutes, une seule "
		    "fois) :\n\n"
		    "%s%s\n\nSi vous n'êtes pas à l'origine de cette demande, ignorez ce message : votre mot "
		    "de "
		    "passe actuel reste valable.\n",
		    SETTINGS_RESET_TTL / 60, r->cfg->reset_url, token) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	if (mail_send(r->cfg, entry_get(e, "mmLoginMail"), "Réinitialisation de votre mot de passe Medimail",
		    body) < 0) {
		audit_change(r, "password-forgot", e, false, "mail not sent");
		rc = req_fail(r, -ECOMM, "l'e-mail n'a pas pu être envoyé, réessayez plus tard");
		goto out;
	}
	audit_change(r, "password-forgot", e, true, "link sent");
	goto answer;
same_answer:
	audit_req(r, "password-forgot", e ? login_of(e) : NULL, false, why);
answer:
	/* The same answer whether the address is known or not. */
	mm_msg_set_message(r->out,
		"si un compte actif utilise cette adresse, un lien de réinitialisation "
		"vient d'y être envoyé");
	rc = 0;
out:
	secret_wipe(token, sizeof(token));
	secret_free(body);
	entry_free(e);
	return rc;
}

int settings_password_reset(struct req *r)
{
	static const char *const keys[] = {"token", "password", "password_confirm", NULL};
	static const char *const attrs[] = {"uid", "mmStatus", "mmResetExpires", NULL};
	const char *token = get(r, "token"), *pw = get(r, "password"), *rule = NULL;
	char h[SECRET_HASH_HEX], filter[128], pwhash[SECRET_PWHASH_MAX] = "";
	struct entry *e = NULL;
	struct mods m;
	int rc;

	if ((rc = check_keys(r, keys)) < 0)
		return rc;
	if (!valid_token(token))
		return req_fail_field(r, "token", "syntax", "lien de réinitialisation invalide");
	if (!pw)
		return req_fail_field(r, "password", "required", "mot de passe : champ obligatoire");
	if (validate_password(pw, &rule) < 0)
		return req_fail_field(r, "password", rule, "%s", password_rule_message(rule));
	if (get(r, "password_confirm") && strcmp(pw, get(r, "password_confirm")))
		return req_fail_field(r, "password_confirm", "mismatch",
			"la confirmation ne correspond pas au mot de passe");
	if ((rc = secret_keyed_hash("password-reset", token, h)) < 0)
		return rc;
	snprintf(filter, sizeof(filter), "(&(objectClass=mmAccount)(mmResetHash=%s))", h);
	rc = store_search_one(r->store, r->cfg->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, &e);
	if (rc == -ENOENT) {
		audit_req(r, "password-reset", NULL, false, "unknown or used token");
		return req_fail(r, -ENOENT, "lien de réinitialisation inconnu ou déjà utilisé");
	}
	if (rc < 0)
		return store_fail(r, rc, "réinitialisation");
	if (store_parse_time(entry_get(e, "mmResetExpires")) < now()) {
		audit_change(r, "password-reset", e, false, "token expired");
		rc = req_fail(r, -ETIMEDOUT, "lien de réinitialisation expiré : faites une nouvelle demande");
		goto out;
	}
	if (strcmp(entry_get(e, "mmStatus"), MM_STATUS_ACTIVE)) {
		audit_change(r, "password-reset", e, false, "account not active");
		rc = req_fail(r, -EPERM, "le compte n'est pas actif");
		goto out;
	}
	if ((rc = secret_password_hash(pw, pwhash)) < 0) {
		rc = req_fail(r, rc, "mot de passe : hachage impossible");
		goto out;
	}
	mods_init(&m);
	/* Deleting the exact hash makes the link single-use across daemons. */
	mods_add(&m, LDAP_MOD_DELETE, "mmResetHash", h);
	mods_add(&m, LDAP_MOD_REPLACE, "mmResetExpires", NULL);
	mods_add(&m, LDAP_MOD_REPLACE, "userPassword", pwhash);
	rc = m.err ? m.err : store_modify(r->store, e->dn, &m);
	mods_free(&m);
	if (rc == -ESTALE) {
		audit_change(r, "password-reset", e, false, "token used concurrently");
		rc = req_fail(r, -ENOENT, "lien de réinitialisation déjà utilisé");
		goto out;
	}
	if (rc < 0) {
		rc = store_fail(r, rc, "réinitialisation");
		goto out;
	}
	audit_change(r, "password-reset", e, true, NULL);
	req_put(r, "login", login_of(e));
	mm_msg_set_message(r->out, "mot de passe modifié");
out:
	secret_wipe(pwhash, sizeof(pwhash));
	entry_free(e);
	return rc;
}

/* --- Signatures ---------------------------------------------------------- */

/* Refuses HTML outside the allow-list, naming the field and the rule. */
static int check_html(struct req *r, const char *key, const char *v)
{
	struct html_error err;

	if (html_check(v, strlen(v), &err) == 0)
		return 0;
	return req_fail_field(r, key, err.rule, "%s : %s%s%s%s (octet %zu)", key, html_rule_message(err.rule),
		err.what[0] ? " : « " : "", err.what, err.what[0] ? " »" : "", err.offset);
}

int settings_signature_list(struct req *r)
{
	static const char *const keys[] = {"login", NULL};
	struct entry *e = NULL;
	const struct attr *a;
	const char *def;
	size_t n = 0;
	int rc;

	if ((rc = check_keys(r, keys)) < 0 || (rc = target(r, false, &e)) < 0)
		return rc;
	a = entry_attr(e, "mmSignature");
	def = entry_get(e, "mmDefaultSignature");
	for (size_t i = 0; a && i < a->nvals; i++) {
		struct json_flat j;
		if (json_flat_parse(a->vals[i], &j) < 0 || !json_flat_get(&j, "id")) {
			log_msg(LOG_WARNING, "%s: unreadable signature value skipped", login_of(e));
			continue;
		}
		put_index(r, n++);
		req_put(r, "id", json_flat_get(&j, "id"));
		req_put(r, "title", json_flat_get(&j, "title"));
		req_put(r, "html", json_flat_get(&j, "html"));
		put_bool(r, "default", def && !strcmp(def, json_flat_get(&j, "id")));
		json_flat_free(&j);
	}
	entry_free(e);
	return 0;
}

/* The stored value of signature id, parsed; -ENOENT when none. */
static int signature_find(const struct entry *e, const char *id, const char **ret_raw, struct json_flat *ret)
{
	const struct attr *a = entry_attr(e, "mmSignature");

	for (size_t i = 0; a && i < a->nvals; i++) {
		struct json_flat j;
		if (json_flat_parse(a->vals[i], &j) < 0)
			continue;
		if (json_flat_get(&j, "id") && !strcmp(json_flat_get(&j, "id"), id)) {
			*ret_raw = a->vals[i];
			*ret = j;
			return 0;
		}
		json_flat_free(&j);
	}
	return -ENOENT;
}

int settings_signature_set(struct req *r)
{
	static const char *const keys[] = {"login", "id", "title", "html", "default", NULL};
	const char *id_in = get(r, "id"), *title = get(r, "title"), *html = mm_msg_get(r->in, "html");
	const char *raw = NULL;
	struct json_flat old = {0};
	struct entry *e = NULL;
	char id[13], *val = NULL;
	struct mods m;
	int def, rc;

	mods_init(&m);
	if ((rc = check_keys(r, keys)) < 0 || (rc = parse_bool(r, "default", &def)) < 0)
		return rc;
	if (id_in && !valid_id(id_in))
		return req_fail_field(r, "id", "syntax", "identifiant de signature invalide");
	if (!id_in && !title)
		return req_fail_field(r, "title", "required", "intitulé : champ obligatoire");
	if (!id_in && !html)
		return req_fail_field(r, "html", "required", "contenu : champ obligatoire");
	if (title && validate_text(title, 128) < 0)
		return req_fail_field(r, "title", "characters",
			"intitulé : 128 octets au plus, sans caractère de contrôle");
	if (mm_msg_get(r->in, "title") && !title)
		return req_fail_field(r, "title", "required", "intitulé : champ obligatoire");
	if (html && (rc = check_html(r, "html", html)) < 0)
		return rc;
	if ((rc = target(r, true, &e)) < 0)
		return rc;
	if (id_in) {
		if (signature_find(e, id_in, &raw, &old) < 0) {
			rc = req_fail_field(r, "id", "unknown", "signature %s introuvable", id_in);
			goto out;
		}
		snprintf(id, sizeof(id), "%s", id_in);
	} else {
		const struct attr *a = entry_attr(e, "mmSignature");
		if (a && a->nvals >= SETTINGS_MAX_SIGNATURES) {
			rc = req_fail_field(
				r, "id", "too_many", "%d signatures au plus", SETTINGS_MAX_SIGNATURES);
			goto out;
		}
		new_id(id);
	}
	{
		const char *kv[] = {"id", id, "title", title ? title : json_flat_get(&old, "title"), "html",
			html ? html : json_flat_get(&old, "html")};
		val = json_flat_encode(kv, 3);
	}
	if (!val) {
		rc = -ENOMEM;
		goto out;
	}
	{
		const struct attr *a = entry_attr(e, "mmSignature");
		size_t total = strlen(val);
		for (size_t i = 0; a && i < a->nvals; i++)
			if (a->vals[i] != raw)
				total += strlen(a->vals[i]);
		if (total > SETTINGS_SIGNATURES_MAX_BYTES) {
			rc = req_fail_field(r, "html", "total_size",
				"l'ensemble des signatures dépasse %u Kio",
				SETTINGS_SIGNATURES_MAX_BYTES / 1024);
			goto out;
		}
	}
	need_aux(&m, e);
	if (raw && strcmp(raw, val))
		mods_add(&m, LDAP_MOD_DELETE, "mmSignature", raw);
	if (!raw || strcmp(raw, val))
		mods_add(&m, LDAP_MOD_ADD, "mmSignature", val);
	if (def == 1)
		mods_add(&m, LDAP_MOD_REPLACE, "mmDefaultSignature", id);
	else if (def == 0 && entry_get(e, "mmDefaultSignature") &&
		!strcmp(entry_get(e, "mmDefaultSignature"), id))
		mods_add(&m, LDAP_MOD_REPLACE, "mmDefaultSignature", NULL);
	if ((rc = modify(r, e, &m, "signature")) < 0)
		goto out;
	audit_change(r, "signature-set", e, true, id);
	req_put(r, "id", id);
	mm_msg_set_message(r->out, "signature enregistrée");
out:
	mods_free(&m);
	json_flat_free(&old);
	free(val);
	entry_free(e);
	return rc;
}

int settings_signature_del(struct req *r)
{
	static const char *const keys[] = {"login", "id", NULL};
	const char *id = get(r, "id"), *raw = NULL;
	struct json_flat old = {0};
	struct entry *e = NULL;
	struct mods m;
	int rc;

	mods_init(&m);
	if ((rc = check_keys(r, keys)) < 0)
		return rc;
	if (!valid_id(id))
		return req_fail_field(r, "id", "syntax", "identifiant de signature invalide");
	if ((rc = target(r, true, &e)) < 0)
		return rc;
	if (signature_find(e, id, &raw, &old) < 0) {
		rc = req_fail_field(r, "id", "unknown", "signature %s introuvable", id);
		goto out;
	}
	mods_add(&m, LDAP_MOD_DELETE, "mmSignature", raw);
	if (entry_get(e, "mmDefaultSignature") && !strcmp(entry_get(e, "mmDefaultSignature"), id))
		mods_add(&m, LDAP_MOD_REPLACE, "mmDefaultSignature", NULL);
	if ((rc = modify(r, e, &m, "signature")) < 0)
		goto out;
	audit_change(r, "signature-del", e, true, id);
	req_put(r, "id", id);
	mm_msg_set_message(r->out, "signature supprimée");
out:
	mods_free(&m);
	json_flat_free(&old);
	entry_free(e);
	return rc;
}

/* --- Réponse automatique ------------------------------------------------- */

/* "YYYY-MM-DD" (start or end of that day, UTC) or "YYYYmmddHHMMSSZ". */
static int parse_when(const char *v, bool end, long long *ret)
{
	struct tm tm = {0};
	int y, mo, d;
	char tail;
	time_t t;

	if (strlen(v) == 15 && v[14] == 'Z') {
		long long x = store_parse_time(v);
		if (x < 0)
			return -EINVAL;
		*ret = x;
		return 0;
	}
	if (strlen(v) != 10 || sscanf(v, "%4d-%2d-%2d%c", &y, &mo, &d, &tail) != 3 || v[4] != '-' ||
		v[7] != '-')
		return -EINVAL;
	if (y < 2000 || y > 2199 || mo < 1 || mo > 12 || d < 1 || d > 31)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	t = timegm(&tm);
	/* timegm normalises 31 February: refuse what it moved. */
	if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != mo - 1)
		return -EINVAL;
	*ret = (long long)t + (end ? 86399 : 0);
	return 0;
}

static bool autoreply_active(const struct entry *e, long long t)
{
	const char *s = entry_get(e, "mmAutoReplyStart"), *en = entry_get(e, "mmAutoReplyEnd");

	return stored_bool(e, "mmAutoReplyActive", false) && s && en && store_parse_time(s) <= t &&
		t <= store_parse_time(en);
}

static void put_autoreply(struct req *r, const struct entry *e)
{
	req_put(r, "login", login_of(e));
	put_bool(r, "enabled", stored_bool(e, "mmAutoReplyActive", false));
	req_put(r, "start", entry_get(e, "mmAutoReplyStart"));
	req_put(r, "end", entry_get(e, "mmAutoReplyEnd"));
	req_put(r, "subject", entry_get(e, "mmAutoReplySubject"));
	req_put(r, "body", entry_get(e, "mmAutoReplyBody"));
	put_bool(r, "active_now", autoreply_active(e, now()));
}

int settings_autoreply_get(struct req *r)
{
	static const char *const keys[] = {"login", NULL};
	struct entry *e = NULL;
	int rc;

	if ((rc = check_keys(r, keys)) < 0 || (rc = target(r, false, &e)) < 0)
		return rc;
	put_autoreply(r, e);
	entry_free(e);
	return 0;
}

int settings_autoreply_set(struct req *r)
{
	static const char *const keys[] = {"login", "enabled", "start", "end", "subject", "body", NULL};
	const char *start = mm_msg_get(r->in, "start"), *end = mm_msg_get(r->in, "end");
	const char *subject = mm_msg_get(r->in, "subject"), *body = mm_msg_get(r->in, "body");
	long long ts = -1, te = -1;
	char s_start[16], s_end[16];
	struct entry *e = NULL;
	struct mods m;
	int enabled, rc;
	bool on;

	mods_init(&m);
	if ((rc = check_keys(r, keys)) < 0 || (rc = parse_bool(r, "enabled", &enabled)) < 0)
		return rc;
	if (start && *start && parse_when(start, false, &ts) < 0)
		return req_fail_field(r, "start", "syntax", "date de début : AAAA-MM-JJ attendu");
	if (end && *end && parse_when(end, true, &te) < 0)
		return req_fail_field(r, "end", "syntax", "date de fin : AAAA-MM-JJ attendu");
	if (subject && *subject && validate_text(subject, 255) < 0)
		return req_fail_field(
			r, "subject", "characters", "objet : 255 octets au plus, sans caractère de contrôle");
	if (body && *body && (rc = check_html(r, "body", body)) < 0)
		return rc;
	if ((rc = target(r, true, &e)) < 0)
		return rc;
	/* The window and the switch are checked on what will be stored. */
	if (!start && entry_get(e, "mmAutoReplyStart"))
		ts = store_parse_time(entry_get(e, "mmAutoReplyStart"));
	if (!end && entry_get(e, "mmAutoReplyEnd"))
		te = store_parse_time(entry_get(e, "mmAutoReplyEnd"));
	if (ts >= 0 && te >= 0 && te < ts) {
		rc = req_fail_field(r, "end", "before_start", "la date de fin précède la date de début");
		goto out;
	}
	on = enabled == 1 || (enabled == -1 && stored_bool(e, "mmAutoReplyActive", false));
	if (on) {
		const char *missing = ts < 0                                                 ? "start"
			: te < 0                                                             ? "end"
			: !(subject ? *subject : entry_get(e, "mmAutoReplySubject") != NULL) ? "subject"
			: !(body ? *body : entry_get(e, "mmAutoReplyBody") != NULL)          ? "body"
											     : NULL;
		if (missing) {
			rc = req_fail_field(r, missing, "required",
				"%s : obligatoire pour activer la réponse automatique", missing);
			goto out;
		}
	}
	need_aux(&m, e);
	if (enabled >= 0)
		mods_add(&m, LDAP_MOD_REPLACE, "mmAutoReplyActive", enabled ? "TRUE" : "FALSE");
	if (start) {
		if (ts >= 0)
			store_time(ts, s_start);
		mods_add(&m, LDAP_MOD_REPLACE, "mmAutoReplyStart", ts >= 0 ? s_start : NULL);
	}
	if (end) {
		if (te >= 0)
			store_time(te, s_end);
		mods_add(&m, LDAP_MOD_REPLACE, "mmAutoReplyEnd", te >= 0 ? s_end : NULL);
	}
	if (subject)
		mods_add(&m, LDAP_MOD_REPLACE, "mmAutoReplySubject", *subject ? subject : NULL);
	if (body)
		mods_add(&m, LDAP_MOD_REPLACE, "mmAutoReplyBody", *body ? body : NULL);
	if ((rc = modify(r, e, &m, "réponse automatique")) < 0)
		goto out;
	audit_change(r, "autoreply-set", e, true, on ? "enabled" : "disabled");
	entry_free(e);
	e = NULL;
	if ((rc = target(r, false, &e)) < 0)
		goto out;
	put_autoreply(r, e);
	mm_msg_set_message(r->out, "réponse automatique enregistrée");
out:
	mods_free(&m);
	entry_free(e);
	return rc;
}

/* --- Notifications ------------------------------------------------------- */

static const struct {
	const char *key, *attr;
	bool def, individual_only;
} notify_map[] = {
	{"receipt", "mmNotifyReceipt", true, false},
	{"opening", "mmNotifyOpening", false, false},
	{"digest", "mmNotifyDigest", false, false},
	{"org_to_individual", "mmNotifyOrgToIndividual", true, true},
};
#define NNOTIFY (sizeof(notify_map) / sizeof(notify_map[0]))

static void put_notify(struct req *r, const struct entry *e)
{
	req_put(r, "login", login_of(e));
	for (size_t i = 0; i < NNOTIFY; i++)
		if (!notify_map[i].individual_only || !is_org(e))
			put_bool(r, notify_map[i].key, stored_bool(e, notify_map[i].attr, notify_map[i].def));
	req_put(r, "receipt_address", entry_get(e, "mmLoginMail"));
	req_put(r, "opening_caveat", opening_caveat);
}

int settings_notify_get(struct req *r)
{
	static const char *const keys[] = {"login", NULL};
	struct entry *e = NULL;
	int rc;

	if ((rc = check_keys(r, keys)) < 0 || (rc = target(r, false, &e)) < 0)
		return rc;
	put_notify(r, e);
	entry_free(e);
	return 0;
}

int settings_notify_set(struct req *r)
{
	static const char *const keys[] = {
		"login", "receipt", "opening", "digest", "org_to_individual", NULL};
	int v[NNOTIFY], rc;
	char changed[128] = "";
	struct entry *e = NULL;
	struct mods m;

	mods_init(&m);
	if ((rc = check_keys(r, keys)) < 0)
		return rc;
	for (size_t i = 0; i < NNOTIFY; i++)
		if ((rc = parse_bool(r, notify_map[i].key, &v[i])) < 0)
			return rc;
	if ((rc = target(r, true, &e)) < 0)
		return rc;
	need_aux(&m, e);
	for (size_t i = 0; i < NNOTIFY; i++) {
		if (v[i] < 0)
			continue;
		if (notify_map[i].individual_only && is_org(e)) {
			rc = req_fail_field(r, notify_map[i].key, "not_allowed",
				"%s : se règle depuis chaque compte individuel", notify_map[i].key);
			goto out;
		}
		mods_add(&m, LDAP_MOD_REPLACE, notify_map[i].attr, v[i] ? "TRUE" : "FALSE");
		snprintf(changed + strlen(changed), sizeof(changed) - strlen(changed), "%s%s=%s",
			changed[0] ? "," : "", notify_map[i].key, v[i] ? "yes" : "no");
	}
	if (!changed[0]) {
		rc = req_fail(r, -EINVAL, "aucun réglage à modifier");
		goto out;
	}
	if ((rc = modify(r, e, &m, "notifications")) < 0)
		goto out;
	audit_change(r, "notify-set", e, true, changed);
	entry_free(e);
	e = NULL;
	if ((rc = target(r, false, &e)) < 0)
		goto out;
	put_notify(r, e);
	mm_msg_set_message(r->out, "notifications enregistrées");
out:
	mods_free(&m);
	entry_free(e);
	return rc;
}

/* --- Délégations --------------------------------------------------------- */

static void lower_ascii(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

int settings_delegate_list(struct req *r)
{
	static const char *const keys[] = {"login", NULL};
	struct entry *e = NULL;
	const struct attr *a;
	int rc;

	if ((rc = check_keys(r, keys)) < 0 || (rc = target(r, false, &e)) < 0)
		return rc;
	req_put(r, "login", login_of(e));
	if (!strcmp(entry_get(e, "mmAccountType"), MM_TYPE_MED))
		req_put(r, "advice", med_delegate_advice);
	a = entry_attr(e, "mmDelegate");
	for (size_t i = 0; a && i < a->nvals; i++) {
		put_index(r, i);
		req_put(r, "address", a->vals[i]);
	}
	entry_free(e);
	return 0;
}

static int delegate_change(struct req *r, bool add)
{
	static const char *const keys[] = {"login", "address", NULL};
	static const char *const tattrs[] = {"uid", "mmStatus", "mmAccountType", NULL};
	const char *in = get(r, "address");
	char addr[256], *esc = NULL, *filter = NULL;
	struct entry *e = NULL, *t = NULL;
	const struct attr *a;
	struct mods m;
	int rc;

	mods_init(&m);
	if ((rc = check_keys(r, keys)) < 0)
		return rc;
	if (!in)
		return req_fail_field(r, "address", "required", "adresse : champ obligatoire");
	if (strlen(in) >= sizeof(addr) || validate_email(in) < 0)
		return req_fail_field(r, "address", "syntax", "adresse e-mail invalide");
	snprintf(addr, sizeof(addr), "%s", in);
	lower_ascii(addr);
	if ((rc = target(r, true, &e)) < 0)
		return rc;
	a = entry_attr(e, "mmDelegate");
	if (!add) {
		if (!entry_has_value(e, "mmDelegate", addr)) {
			rc = req_fail_field(r, "address", "unknown", "aucune délégation vers %s", addr);
			goto out;
		}
		mods_add(&m, LDAP_MOD_DELETE, "mmDelegate", addr);
		goto write;
	}
	if (entry_has_value(e, "mmDelegate", addr)) {
		rc = req_fail_field(r, "address", "duplicate", "une délégation vers %s existe déjà", addr);
		rc = -EEXIST;
		goto out;
	}
	if (a && a->nvals >= SETTINGS_MAX_DELEGATES) {
		rc = req_fail_field(
			r, "address", "too_many", "%d délégations au plus", SETTINGS_MAX_DELEGATES);
		goto out;
	}
	/* Only towards another active Medimail account: its login e-mail or its MSSanté address. */
	esc = store_escape(addr);
	if (!esc ||
		asprintf(&filter, "(&(objectClass=mmAccount)(|(mmLoginMail=%s)(mmMssAddress=%s)))", esc,
			esc) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	rc = store_search_one(r->store, r->cfg->ldap_base, LDAP_SCOPE_SUBTREE, filter, tattrs, &t);
	if (rc == -ENOENT || (rc == 0 && strcmp(entry_get(t, "mmStatus"), MM_STATUS_ACTIVE))) {
		audit_change(r, "delegate-add", e, false, "not a Medimail account");
		rc = req_fail_field(r, "address", "not_medimail",
			"%s n'est pas l'adresse d'un compte Medimail actif : une délégation ne se fait que "
			"vers "
			"un autre utilisateur Medimail",
			addr);
		goto out;
	}
	if (rc < 0) {
		rc = store_fail(r, rc, "délégation");
		goto out;
	}
	if (!strcmp(t->dn, e->dn)) {
		rc = req_fail_field(
			r, "address", "self", "une délégation vers son propre compte est sans objet");
		goto out;
	}
	need_aux(&m, e);
	mods_add(&m, LDAP_MOD_ADD, "mmDelegate", addr);
write:
	if ((rc = modify(r, e, &m, "délégation")) < 0)
		goto out;
	audit_change(r, add ? "delegate-add" : "delegate-del", e, true, addr);
	req_put(r, "login", login_of(e));
	req_put(r, "address", addr);
	if (add && !strcmp(entry_get(e, "mmAccountType"), MM_TYPE_MED))
		req_put(r, "advice", med_delegate_advice);
	mm_msg_set_message(r->out, add ? "délégation vers %s ajoutée" : "délégation vers %s supprimée", addr);
out:
	mods_free(&m);
	free(esc);
	free(filter);
	entry_free(t);
	entry_free(e);
	return rc;
}

int settings_delegate_add(struct req *r)
{
	return delegate_change(r, true);
}

int settings_delegate_del(struct req *r)
{
	return delegate_change(r, false);
}

/* --- Dématérialisation ---------------------------------------------------- */

int settings_demat_get(struct req *r)
{
	static const char *const keys[] = {"login", NULL};
	struct entry *e = NULL;
	int rc;

	if ((rc = check_keys(r, keys)) < 0 || (rc = target(r, false, &e)) < 0)
		return rc;
	req_put(r, "login", login_of(e));
	put_bool(r, "dematerialisation", stored_bool(e, "mmDematerialisation", true));
	entry_free(e);
	return 0;
}

int settings_demat_set(struct req *r)
{
	static const char *const keys[] = {"login", "dematerialisation", NULL};
	struct entry *e = NULL;
	struct mods m;
	int v, rc;

	if ((rc = check_keys(r, keys)) < 0 || (rc = parse_bool(r, "dematerialisation", &v)) < 0)
		return rc;
	if (v < 0)
		return req_fail_field(r, "dematerialisation", "required", "dematerialisation : yes ou no");
	if ((rc = target(r, true, &e)) < 0)
		return rc;
	mods_init(&m);
	mods_add(&m, LDAP_MOD_REPLACE, "mmDematerialisation", v ? "TRUE" : "FALSE");
	if ((rc = modify(r, e, &m, "dématérialisation")) == 0) {
		audit_change(r, "demat-set", e, true, v ? "yes" : "no");
		req_put(r, "login", login_of(e));
		put_bool(r, "dematerialisation", v);
	}
	entry_free(e);
	return rc;
}

/* --- Appareils mobiles ----------------------------------------------------- */

/* A device value: {"id","name","state","created", pending: "code","expires"; active: "cred","enrolled"}. */
static int device_find(const struct entry *e, const char *key, const char *value, const char **ret_raw,
	struct json_flat *ret)
{
	const struct attr *a = entry_attr(e, "mmDevice");

	for (size_t i = 0; a && i < a->nvals; i++) {
		struct json_flat j;
		if (json_flat_parse(a->vals[i], &j) < 0)
			continue;
		if (json_flat_get(&j, key) && !strcmp(json_flat_get(&j, key), value)) {
			*ret_raw = a->vals[i];
			*ret = j;
			return 0;
		}
		json_flat_free(&j);
	}
	return -ENOENT;
}

int settings_device_enrol(struct req *r)
{
	static const char *const keys[] = {"login", "name", NULL};
	const char *name = get(r, "name");
	char id[13], code[SECRET_TOKEN_HEX], h[SECRET_HASH_HEX], created[16], expires[16], *val = NULL,
											   *uri = NULL;
	struct entry *e = NULL;
	const struct attr *a;
	struct mods m;
	int rc;

	mods_init(&m);
	if ((rc = check_keys(r, keys)) < 0)
		return rc;
	if (!name)
		return req_fail_field(r, "name", "required", "nom de l'appareil : champ obligatoire");
	if (validate_text(name, 64) < 0)
		return req_fail_field(r, "name", "characters",
			"nom de l'appareil : 64 octets au plus, sans caractère de contrôle");
	if ((rc = target(r, true, &e)) < 0)
		return rc;
	if (is_org(e)) {
		rc = req_fail(r, -EPERM, "un appareil mobile s'associe à un compte individuel");
		goto out;
	}
	if (strcmp(entry_get(e, "mmStatus"), MM_STATUS_ACTIVE)) {
		rc = req_fail(r, -EPERM, "le compte n'est pas actif");
		goto out;
	}
	a = entry_attr(e, "mmDevice");
	if (a && a->nvals >= SETTINGS_MAX_DEVICES) {
		rc = req_fail_field(
			r, "name", "too_many", "%d appareils au plus : révoquez-en un", SETTINGS_MAX_DEVICES);
		goto out;
	}
	new_id(id);
	secret_token(code);
	if ((rc = secret_keyed_hash("device-enrol", code, h)) < 0)
		goto out;
	store_time(now(), created);
	store_time(now() + SETTINGS_ENROL_TTL, expires);
	{
		const char *kv[] = {"id", id, "name", name, "state", "pending", "created", created, "code", h,
			"expires", expires};
		val = json_flat_encode(kv, 6);
	}
	if (!val || asprintf(&uri, "medimail://enrol?code=%s", code) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	need_aux(&m, e);
	mods_add(&m, LDAP_MOD_ADD, "mmDevice", val);
	mods_add(&m, LDAP_MOD_ADD, "mmDeviceEnrolHash", h);
	if ((rc = modify(r, e, &m, "appareil mobile")) < 0)
		goto out;
	audit_change(r, "device-enrol", e, true, id);
	req_put(r, "login", login_of(e));
	req_put(r, "id", id);
	req_put(r, "name", name);
	req_put(r, "code", code);
	req_put(r, "expires", expires);
	req_put(r, "enrol_uri", uri);
	mm_msg_set_message(r->out,
		"scannez le QR code avec l'application Medimail Mobile (valable %d minutes, une seule fois)",
		SETTINGS_ENROL_TTL / 60);
out:
	secret_wipe(code, sizeof(code));
	secret_free(uri);
	mods_free(&m);
	free(val);
	entry_free(e);
	return rc;
}

int settings_device_complete(struct req *r)
{
	static const char *const keys[] = {"code", NULL};
	static const char *const attrs[] = {"uid", "mmStatus", "mmDevice", NULL};
	const char *code = get(r, "code"), *raw = NULL;
	char h[SECRET_HASH_HEX], filter[128], cred[SECRET_TOKEN_HEX], ch[SECRET_HASH_HEX], stamp[16],
		*val = NULL;
	struct json_flat d = {0};
	struct entry *e = NULL;
	struct mods m;
	int rc;

	mods_init(&m);
	if ((rc = check_keys(r, keys)) < 0)
		return rc;
	if (!valid_token(code))
		return req_fail_field(r, "code", "syntax", "code d'association invalide");
	if ((rc = secret_keyed_hash("device-enrol", code, h)) < 0)
		return rc;
	snprintf(filter, sizeof(filter), "(&(objectClass=mmAccount)(mmDeviceEnrolHash=%s))", h);
	rc = store_search_one(r->store, r->cfg->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, &e);
	if (rc == -ENOENT) {
		audit_req(r, "device-complete", NULL, false, "unknown or used code");
		return req_fail(r, -ENOENT, "code d'association inconnu ou déjà utilisé");
	}
	if (rc < 0)
		return store_fail(r, rc, "appareil mobile");
	if (device_find(e, "code", h, &raw, &d) < 0) {
		rc = req_fail(r, -ENOENT, "code d'association inconnu ou déjà utilisé");
		goto out;
	}
	if (store_parse_time(json_flat_get(&d, "expires")) < now()) {
		/* An expired code is removed: it can never serve again. */
		mods_add(&m, LDAP_MOD_DELETE, "mmDevice", raw);
		mods_add(&m, LDAP_MOD_DELETE, "mmDeviceEnrolHash", h);
		rc = m.err ? m.err : store_modify(r->store, e->dn, &m);
		if (rc < 0 && rc != -ESTALE)
			log_msg(LOG_WARNING, "%s: expired enrolment not removed: %s", login_of(e),
				strerror(-rc));
		audit_change(r, "device-complete", e, false, "code expired");
		rc = req_fail(r, -ETIMEDOUT, "code d'association expiré : générez un nouveau QR code");
		goto out;
	}
	if (strcmp(entry_get(e, "mmStatus"), MM_STATUS_ACTIVE)) {
		audit_change(r, "device-complete", e, false, "account not active");
		rc = req_fail(r, -EPERM, "le compte n'est pas actif");
		goto out;
	}
	secret_token(cred);
	if ((rc = secret_keyed_hash("device-cred", cred, ch)) < 0)
		goto out;
	store_time(now(), stamp);
	{
		const char *kv[] = {"id", json_flat_get(&d, "id"), "name", json_flat_get(&d, "name"), "state",
			"active", "created", json_flat_get(&d, "created"), "cred", ch, "enrolled", stamp};
		val = json_flat_encode(kv, 6);
	}
	if (!val) {
		rc = -ENOMEM;
		goto out;
	}
	/* One atomic modify: deleting the exact code hash fails if another daemon used it first. */
	mods_add(&m, LDAP_MOD_DELETE, "mmDeviceEnrolHash", h);
	mods_add(&m, LDAP_MOD_DELETE, "mmDevice", raw);
	mods_add(&m, LDAP_MOD_ADD, "mmDevice", val);
	mods_add(&m, LDAP_MOD_ADD, "mmDeviceCredHash", ch);
	rc = m.err ? m.err : store_modify(r->store, e->dn, &m);
	if (rc == -ESTALE) {
		audit_change(r, "device-complete", e, false, "code used concurrently");
		rc = req_fail(r, -ENOENT, "code d'association déjà utilisé");
		goto out;
	}
	if (rc < 0) {
		rc = store_fail(r, rc, "appareil mobile");
		goto out;
	}
	audit_change(r, "device-complete", e, true, json_flat_get(&d, "id"));
	req_put(r, "login", login_of(e));
	req_put(r, "id", json_flat_get(&d, "id"));
	req_put(r, "name", json_flat_get(&d, "name"));
	req_put(r, "credential", cred);
	mm_msg_set_message(r->out, "appareil associé");
out:
	secret_wipe(cred, sizeof(cred));
	mods_free(&m);
	json_flat_free(&d);
	free(val);
	entry_free(e);
	return rc;
}

int settings_device_list(struct req *r)
{
	static const char *const keys[] = {"login", NULL};
	struct entry *e = NULL;
	const struct attr *a;
	size_t n = 0;
	int rc;

	if ((rc = check_keys(r, keys)) < 0 || (rc = target(r, false, &e)) < 0)
		return rc;
	a = entry_attr(e, "mmDevice");
	for (size_t i = 0; a && i < a->nvals; i++) {
		struct json_flat j;
		if (json_flat_parse(a->vals[i], &j) < 0)
			continue;
		put_index(r, n++);
		req_put(r, "id", json_flat_get(&j, "id"));
		req_put(r, "name", json_flat_get(&j, "name"));
		req_put(r, "state", json_flat_get(&j, "state"));
		req_put(r, "created", json_flat_get(&j, "created"));
		req_put(r, "expires", json_flat_get(&j, "expires"));
		req_put(r, "enrolled", json_flat_get(&j, "enrolled"));
		json_flat_free(&j);
	}
	entry_free(e);
	return 0;
}

int settings_device_revoke(struct req *r)
{
	static const char *const keys[] = {"login", "id", NULL};
	const char *id = get(r, "id"), *raw = NULL;
	struct json_flat d = {0};
	struct entry *e = NULL;
	struct mods m;
	int rc;

	mods_init(&m);
	if ((rc = check_keys(r, keys)) < 0)
		return rc;
	if (!valid_id(id))
		return req_fail_field(r, "id", "syntax", "identifiant d'appareil invalide");
	if ((rc = target(r, true, &e)) < 0)
		return rc;
	if (device_find(e, "id", id, &raw, &d) < 0) {
		rc = req_fail_field(r, "id", "unknown", "appareil %s introuvable", id);
		goto out;
	}
	mods_add(&m, LDAP_MOD_DELETE, "mmDevice", raw);
	if (json_flat_get(&d, "cred"))
		mods_add(&m, LDAP_MOD_DELETE, "mmDeviceCredHash", json_flat_get(&d, "cred"));
	if (json_flat_get(&d, "code"))
		mods_add(&m, LDAP_MOD_DELETE, "mmDeviceEnrolHash", json_flat_get(&d, "code"));
	if ((rc = modify(r, e, &m, "appareil mobile")) < 0)
		goto out;
	audit_change(r, "device-revoke", e, true, id);
	req_put(r, "id", id);
	mm_msg_set_message(r->out, "accès de l'appareil « %s » révoqué", json_flat_get(&d, "name"));
out:
	mods_free(&m);
	json_flat_free(&d);
	entry_free(e);
	return rc;
}

int settings_device_verify(struct req *r)
{
	static const char *const keys[] = {"credential", NULL};
	static const char *const attrs[] = {"uid", "mmStatus", "mmDevice", NULL};
	const char *cred = get(r, "credential"), *raw = NULL;
	char ch[SECRET_HASH_HEX], filter[128];
	struct json_flat d = {0};
	struct entry *e = NULL;
	int rc;

	if ((rc = check_keys(r, keys)) < 0)
		return rc;
	if (!r->who.admin)
		return req_fail(r, -EACCES, "réservé au service de l'application mobile (administrateurs)");
	if (!valid_token(cred))
		return req_fail_field(r, "credential", "syntax", "identifiant d'appareil invalide");
	if ((rc = secret_keyed_hash("device-cred", cred, ch)) < 0)
		return rc;
	/* Always the directory, never a cache: a revocation counts on every daemon at once. */
	snprintf(filter, sizeof(filter), "(&(objectClass=mmAccount)(mmDeviceCredHash=%s))", ch);
	rc = store_search_one(r->store, r->cfg->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, &e);
	if (rc == -ENOENT) {
		audit_req(r, "device-verify", NULL, false, "unknown or revoked device");
		return req_fail(r, -EACCES, "appareil inconnu ou révoqué");
	}
	if (rc < 0)
		return store_fail(r, rc, "appareil mobile");
	if (device_find(e, "cred", ch, &raw, &d) < 0 || strcmp(entry_get(e, "mmStatus"), MM_STATUS_ACTIVE)) {
		audit_change(r, "device-verify", e, false, "revoked device or inactive account");
		rc = req_fail(r, -EACCES, "appareil inconnu ou révoqué");
		goto out;
	}
	audit_change(r, "device-verify", e, true, json_flat_get(&d, "id"));
	req_put(r, "login", login_of(e));
	req_put(r, "id", json_flat_get(&d, "id"));
	req_put(r, "name", json_flat_get(&d, "name"));
	rc = 0;
out:
	json_flat_free(&d);
	entry_free(e);
	return rc;
}

int settings_dispatch(struct req *r)
{
	switch (r->in->code) {
	case MM_REQ_PROFILE_GET: return settings_profile_get(r);
	case MM_REQ_PROFILE_SET: return settings_profile_set(r);
	case MM_REQ_PASSWORD_FORGOT: return settings_password_forgot(r);
	case MM_REQ_PASSWORD_RESET: return settings_password_reset(r);
	case MM_REQ_SIGNATURE_LIST: return settings_signature_list(r);
	case MM_REQ_SIGNATURE_SET: return settings_signature_set(r);
	case MM_REQ_SIGNATURE_DEL: return settings_signature_del(r);
	case MM_REQ_AUTOREPLY_GET: return settings_autoreply_get(r);
	case MM_REQ_AUTOREPLY_SET: return settings_autoreply_set(r);
	case MM_REQ_NOTIFY_GET: return settings_notify_get(r);
	case MM_REQ_NOTIFY_SET: return settings_notify_set(r);
	case MM_REQ_DELEGATE_LIST: return settings_delegate_list(r);
	case MM_REQ_DELEGATE_ADD: return settings_delegate_add(r);
	case MM_REQ_DELEGATE_DEL: return settings_delegate_del(r);
	case MM_REQ_DEMAT_GET: return settings_demat_get(r);
	case MM_REQ_DEMAT_SET: return settings_demat_set(r);
	case MM_REQ_DEVICE_ENROL: return settings_device_enrol(r);
	case MM_REQ_DEVICE_COMPLETE: return settings_device_complete(r);
	case MM_REQ_DEVICE_LIST: return settings_device_list(r);
	case MM_REQ_DEVICE_REVOKE: return settings_device_revoke(r);
	case MM_REQ_DEVICE_VERIFY: return settings_device_verify(r);
	default: return req_fail(r, -ENOSYS, "requête inconnue 0x%04x", r->in->code);
	}
}
