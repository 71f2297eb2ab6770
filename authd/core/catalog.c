/* The attribute catalogue (catalog.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "catalog.h"
#include "validate.h"

#define REG CAT_REGISTER
#define SUM CAT_SUMMARY
#define SHOW CAT_SHOW
#define PROF CAT_PROFILE
#define DIRM CAT_DIR_MEDIMAIL
#define DIRS CAT_DIR_MSSANTE
#define REQ CAT_REQUIRED
#define ORG CAT_ORG_ONLY
#define IND CAT_INDIVIDUAL_ONLY
#define OWNER CAT_W_OWNER
#define MEMBER CAT_W_ORG_MEMBER
#define ADMIN CAT_W_ADMIN

static const struct cat_attr catalog[] = {
	{"login", "uid", CAT_READONLY, 64, "identifiant", SUM | SHOW | DIRM, 0},
	{"type", "mmAccountType", CAT_READONLY, 3, "type de compte", SUM | SHOW | DIRM | DIRS, 0},
	{"status", "mmStatus", CAT_READONLY, 32, "statut", SUM | SHOW, 0},
	{"login_mail", "mmLoginMail", CAT_EMAIL, 254, "adresse e-mail", REG | SUM | SHOW | DIRM, 0},
	{"mss_address", "mmMssAddress", CAT_READONLY, 254, "adresse MSSanté", SUM | SHOW | DIRM | DIRS, 0},
	{"sn", "sn", CAT_NAME, 64, "nom", REG | SHOW | PROF | DIRM | DIRS | REQ | IND, OWNER | ADMIN},
	{"given_name", "givenName", CAT_NAME, 64, "prénom", REG | SHOW | PROF | DIRM | DIRS | REQ | IND,
		OWNER | ADMIN},
	{"name", "cn", CAT_READONLY, 256, "nom affiché", SUM | SHOW | DIRM | DIRS, 0},
	{"rpps", "mmRpps", CAT_RPPS, 11, "numéro RPPS", REG | SHOW | IND, 0},
	{"adeli", "mmAdeli", CAT_ADELI, 9, "numéro ADELI", REG | SHOW | IND, 0},
	{"national_id", "mmNationalId", CAT_READONLY, 12, "identifiant national", SHOW, 0},
	{"struct_type", "mmStructIdType", CAT_STRUCT_TYPE, 6, "type d'identifiant de structure",
		REG | SHOW | PROF | REQ | ORG, ADMIN},
	{"struct_id", "mmStructId", CAT_STRUCT_ID, 14, "FINESS (ou SIRET / SIREN)",
		REG | SHOW | PROF | REQ | ORG, ADMIN},
	{"profession", "mmProfessionCode", CAT_PROFESSION, 4, "profession",
		REG | SHOW | PROF | DIRM | DIRS | IND, OWNER | ADMIN},
	{"speciality", "mmSpeciality", CAT_TEXT, 128, "spécialité", REG | SHOW | PROF | DIRM | DIRS | IND,
		OWNER | ADMIN},
	{"liberal", "mmLiberal", CAT_BOOL, 5, "activité libérale", REG | SHOW | IND, 0},
	{"phone", "telephoneNumber", CAT_PHONE, 32, "téléphone", REG | SHOW | PROF | DIRM | DIRS,
		OWNER | MEMBER | ADMIN},
	{"phone2", "telephoneNumber", CAT_PHONE, 32, "second téléphone", REG | PROF | CAT_SECOND_VALUE,
		OWNER | MEMBER | ADMIN},
	{"street", "street", CAT_TEXT, 128, "adresse postale", REG | SHOW | PROF | DIRM | DIRS,
		OWNER | MEMBER | ADMIN},
	{"postal_code", "postalCode", CAT_POSTCODE, 5, "code postal", REG | SHOW | PROF | DIRM | DIRS,
		OWNER | MEMBER | ADMIN},
	{"city", "l", CAT_NAME, 64, "ville", REG | SHOW | PROF | DIRM | DIRS, OWNER | MEMBER | ADMIN},
	{"region", "mmRegion", CAT_TEXT, 64, "région", REG | SHOW, 0},
	{"department", "mmDepartment", CAT_DEPARTMENT, 3, "département", REG | SHOW, 0},
	{"raison_sociale", "o", CAT_TEXT, 128, "raison sociale", REG | SHOW | PROF | DIRM | DIRS,
		OWNER | MEMBER | ADMIN},
	/* "Service de rattachement": not "service", which on the socket (and in
	 * the audit) names the PAM service asking; the bridge refuses that key. */
	{"attached_service", "ou", CAT_TEXT, 128, "service de rattachement", REG | SHOW | DIRM | DIRS, 0},
	{"description", "description", CAT_TEXT, 1024, "description du compte", REG | SHOW | PROF | REQ | ORG,
		ADMIN},
	{"resp_sn", "mmRespSn", CAT_NAME, 64, "nom du responsable", REG | SHOW | PROF | REQ | ORG, ADMIN},
	{"resp_given_name", "mmRespGivenName", CAT_NAME, 64, "prénom du responsable",
		REG | SHOW | PROF | REQ | ORG, ADMIN},
	{"resp_profession", "mmRespProfession", CAT_PROFESSION, 4, "profession du responsable",
		REG | SHOW | PROF | REQ | ORG, ADMIN},
	{"resp_rpps", "mmRespRpps", CAT_RPPS, 11, "RPPS du responsable", REG | SHOW | PROF | ORG, ADMIN},
	{"cgu_accepted_at", "mmCguAcceptedAt", CAT_READONLY, 16, "CGU acceptées le", SHOW, 0},
	{"validated_at", "mmValidatedAt", CAT_READONLY, 16, "validé le", SHOW, 0},
	{"registered_at", "mmRegisteredAt", CAT_READONLY, 16, "inscrit le", SHOW, 0},
	{"status_reason", "mmStatusReason", CAT_READONLY, 256, "motif du statut", SHOW, 0},
	/* The form's boxes, "yes" unless unchecked (TRUE | FALSE stored); changed
	 * afterwards by the visibility and notification settings, not the profile. */
	{"visible_medimail", "mmVisibleMedimail", CAT_BOOL, 5, "visible dans l'annuaire Medimail", REG | SHOW,
		0},
	{"visible_mssante", "mmVisibleMssante", CAT_BOOL, 5, "visible dans l'annuaire santé", REG | SHOW, 0},
	{"dematerialisation", "mmDematerialisation", CAT_BOOL, 5, "dématérialisation", REG | SHOW, 0},
	/* The service centre's steps: an ORG's address not yet published
	 * (account_publish), the structures an account administers. */
	{"mss_pending", "mmMssPending", CAT_READONLY, 5, "adresse MSSanté en attente de publication",
		SUM | SHOW, 0},
	{"struct_admin", "mmStructAdmin", CAT_READONLY, 32, "gestionnaire de la structure", SHOW, 0},
	{"uid_number", "uidNumber", CAT_READONLY, 10, "numéro d'utilisateur", SHOW, 0},
	{"gid_number", "gidNumber", CAT_READONLY, 10, "numéro de groupe", SHOW, 0},
	{"home", "homeDirectory", CAT_READONLY, 256, "répertoire personnel", SHOW, 0},
	{"shell", "loginShell", CAT_READONLY, 256, "interpréteur de commandes", SHOW, 0},
};

#define NCATALOG (sizeof(catalog) / sizeof(catalog[0]))

const struct cat_attr *catalog_all(size_t *n)
{
	*n = NCATALOG;
	return catalog;
}

const struct cat_attr *catalog_find(const char *key)
{
	for (size_t i = 0; i < NCATALOG; i++)
		if (!strcmp(catalog[i].key, key))
			return &catalog[i];
	return NULL;
}

const struct cat_attr *catalog_by_attr(const char *attr)
{
	/* slapd names attributes as they were asked for: exact match first. */
	for (size_t i = 0; i < NCATALOG; i++)
		if (!strcmp(catalog[i].attr, attr) && !(catalog[i].where & CAT_SECOND_VALUE))
			return &catalog[i];
	for (size_t i = 0; i < NCATALOG; i++)
		if (!strcasecmp(catalog[i].attr, attr) && !(catalog[i].where & CAT_SECOND_VALUE))
			return &catalog[i];
	return NULL;
}

bool catalog_applies(const struct cat_attr *a, bool org)
{
	return org ? !(a->where & CAT_INDIVIDUAL_ONLY) : !(a->where & CAT_ORG_ONLY);
}

bool catalog_may_write(const struct cat_attr *a, bool org, bool admin)
{
	if (!catalog_applies(a, org))
		return false;
	if (admin)
		return (a->writers & CAT_W_ADMIN) != 0;
	return (a->writers & (org ? CAT_W_ORG_MEMBER : CAT_W_OWNER)) != 0;
}

static bool valid_department(const char *s)
{
	size_t n = strlen(s);

	/* 01..95 but 20 (Corsica is 2A and 2B); "96".."99" number no department. */
	if (n == 2)
		return (s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && strcmp(s, "00") &&
			       strcmp(s, "20") && strcmp(s, "95") <= 0) ||
			!strcmp(s, "2A") || !strcmp(s, "2B");
	if (n == 3)
		return !strncmp(s, "97", 2) && s[2] >= '1' && s[2] <= '6';
	return false;
}

int catalog_normalize(const struct cat_attr *a, const char *v, char *out, size_t size)
{
	const char *code;
	int r;

	switch (a->kind) {
	case CAT_RPPS:
	case CAT_ADELI:
	case CAT_STRUCT_ID: return text_unspace(v, out, size);
	case CAT_PROFESSION:
		if ((r = text_squeeze(v, out, size)) > 0 && (code = profession_code_of(out))) {
			/* A code is never longer than the label or slug it was found by. */
			snprintf(out, size, "%s", code);
			r = (int)strlen(out);
		}
		return r;
	case CAT_READONLY:
		if (!out || !size)
			return -ENOSPC;
		if (strlen(v) >= size) {
			out[0] = '\0';
			return -ENOSPC;
		}
		memcpy(out, v, strlen(v) + 1);
		return (int)strlen(out);
	default: return text_squeeze(v, out, size);
	}
}

int catalog_check(const struct cat_attr *a, const char *v, struct fault *f)
{
	if (validate_utf8(v, strlen(v)) < 0)
		return fault_field(f, a->key, "utf8", "%s : texte UTF-8 invalide", a->label);
	/* An unknown profession is answered with the list, whatever its length. */
	if (strlen(v) > a->max && a->kind != CAT_PROFESSION)
		return fault_field(f, a->key, "max_length", "%s : %zu caractères au plus", a->label, a->max);
	switch (a->kind) {
	case CAT_NAME:
		if (validate_name(v) < 0)
			return fault_field(f, a->key, "characters",
				"%s : lettres, espaces, apostrophes, tirets et points seulement", a->label);
		break;
	case CAT_TEXT:
	case CAT_READONLY:
		if (validate_text(v, a->max) < 0)
			return fault_field(f, a->key, "characters",
				"%s : texte vide ou caractères de contrôle", a->label);
		break;
	case CAT_EMAIL:
		if (validate_email(v) < 0)
			return fault_field(f, a->key, "syntax", "%s : adresse e-mail invalide", a->label);
		break;
	case CAT_PHONE:
		if (validate_phone(v) < 0)
			return fault_field(
				f, a->key, "syntax", "%s : numéro de téléphone invalide", a->label);
		break;
	case CAT_POSTCODE:
		if (validate_postal_code(v) < 0)
			return fault_field(f, a->key, "syntax", "%s : 5 chiffres attendus", a->label);
		break;
	case CAT_PROFESSION:
		if (validate_profession_code(v) < 0) {
			char list[1024];

			if (profession_list(list, sizeof(list)) < 0)
				list[0] = '\0';
			return fault_field(f, a->key, "unknown",
				"%s inconnue : choisissez parmi %s (nomenclature TRE_G15, code ou "
				"libellé)",
				a->label, list);
		}
		break;
	case CAT_BOOL:
		if (strcmp(v, "yes") && strcmp(v, "no"))
			return fault_field(f, a->key, "syntax", "%s : yes ou no", a->label);
		break;
	case CAT_RPPS:
		if (validate_rpps(v) < 0)
			return fault_field(f, a->key, "check_digit",
				"%s : 11 chiffres dont une clé de contrôle (Luhn) valide", a->label);
		break;
	case CAT_ADELI:
		if (validate_adeli(v) < 0)
			return fault_field(
				f, a->key, "syntax", "%s : 9 caractères alphanumériques", a->label);
		break;
	case CAT_STRUCT_TYPE:
		if (strcmp(v, "FINESS") && strcmp(v, "SIRET") && strcmp(v, "SIREN"))
			return fault_field(f, a->key, "unknown", "%s : FINESS, SIRET ou SIREN", a->label);
		break;
	case CAT_STRUCT_ID: break; /* checked with its type by the caller */
	case CAT_DEPARTMENT:
		if (!valid_department(v))
			return fault_field(
				f, a->key, "syntax", "%s : numéro de département invalide", a->label);
		break;
	}
	return 0;
}

const char **catalog_attrs(unsigned flags)
{
	const char **v = calloc(NCATALOG + 1, sizeof(*v));
	size_t k = 0;

	if (!v)
		return NULL;
	for (size_t i = 0; i < NCATALOG; i++) {
		bool dup = false;

		if ((catalog[i].where & flags) != flags)
			continue;
		for (size_t j = 0; j < k && !dup; j++)
			dup = !strcasecmp(v[j], catalog[i].attr);
		if (!dup)
			v[k++] = catalog[i].attr;
	}
	return v;
}
