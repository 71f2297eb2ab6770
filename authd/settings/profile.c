/* "Informations personnelles" and "Activité": the profile, read from and checked by the catalogue. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "accounts.h"
#include "address.h"
#include "catalog.h"
#include "directory.h"
#include "log.h"
#include "protocol.h"
#include "settings_int.h"
#include "validate.h"

static const struct {
	const char *type, *title, *info[3];
} screens[] = {
	{MM_TYPE_MED, "Compte Medimail",
		{"Compte pour les professionnels sans identifiant RPPS",
			"Adresse mail visible uniquement par les utilisateurs de Medimail",
			"Compte ne donnant pas lieu à une adresse MSSanté"}},
	{MM_TYPE_PER, "Compte Personnel",
		{"Compte pour les professionnels de santé avec identifiant RPPS",
			"Adresse mail visible par tous les utilisateurs de MSSanté (Medimail, Mailiz, Lifen, "
			"…)",
			"Compte donnant lieu à une adresse MSSanté dans l'annuaire santé (annuaire "
			"national)"}},
	{MM_TYPE_INT, "Compte Interne",
		{"Compte pour les professionnels de santé en attente d'identifiant RPPS (médecins internes "
		 "ou "
		 "étrangers)",
			"Adresse mail visible par tous les utilisateurs de MSSanté (Medimail, Mailiz, "
			"Lifen…)",
			"Compte donnant lieu à une adresse MSSanté dans l'annuaire santé (annuaire "
			"national)"}},
	{MM_TYPE_ORG, "Compte organisationnel (BAL ORG)",
		{"Boîte aux lettres partagée d'un service ou d'une structure",
			"Accessible depuis les comptes individuels qui en sont comptes de connexion",
			"FINESS, responsable et description modifiables par les administrateurs seulement"}},
};

static const char type_help[] =
	"Si votre type de compte ne correspond pas à votre réalité professionnelle, contactez "
	"l'administrateur Medimail de votre structure ou le Centre De Services : "
	"http://assistance.esante-occitanie.fr/";

bool settings_profile_may_write(const struct cat_attr *a, bool org, const struct caller *who)
{
	/* The access rule let in the owner, a connection account of the ORG or
	 * an administrator: the catalogue says which of them writes what. */
	return catalog_may_write(a, org, who->admin);
}

/* The value of a profile attribute: phone and phone2 are the two values of telephoneNumber. */
static const char *field_value(const struct entry *e, const struct cat_attr *a)
{
	const struct attr *v = entry_attr(e, a->attr);
	size_t k = (a->where & CAT_SECOND_VALUE) ? 1 : 0;

	return v && v->nvals > k ? v->vals[k] : NULL;
}

int settings_profile_view(const struct entry *e, const struct caller *who, struct settings_profile *ret)
{
	const char *type = entry_get(e, "mmAccountType");
	bool org = settings_is_org(e);
	const struct cat_attr *cat;
	size_t ncat;

	memset(ret, 0, sizeof(*ret));
	ret->login = entry_get(e, "uid");
	ret->type = type;
	ret->login_mail = entry_get(e, "mmLoginMail");
	ret->mss_address = entry_get(e, "mmMssAddress");
	if (org)
		ret->name = entry_get(e, "cn");
	for (size_t i = 0; type && i < sizeof(screens) / sizeof(screens[0]); i++) {
		if (strcmp(screens[i].type, type))
			continue;
		ret->screen.title = screens[i].title;
		for (size_t j = 0; j < 3; j++)
			ret->screen.info[j] = screens[i].info[j];
	}
	if (type && !org)
		ret->screen.help = type_help;
	cat = catalog_all(&ncat);
	for (size_t i = 0; i < ncat; i++) {
		if (!(cat[i].where & CAT_PROFILE) || !catalog_applies(&cat[i], org))
			continue;
		if (ret->nfields < sizeof(ret->fields) / sizeof(ret->fields[0]))
			ret->fields[ret->nfields++] =
				(struct settings_profile_field){&cat[i], field_value(e, &cat[i])};
		if (settings_profile_may_write(&cat[i], org, who) &&
			ret->neditable < sizeof(ret->editable) / sizeof(ret->editable[0]))
			ret->editable[ret->neditable++] = &cat[i];
	}
	if (entry_get(e, "mmProfessionCode"))
		ret->profession_label = profession_label(entry_get(e, "mmProfessionCode"));
	if (org) {
		/* "Identifiants de connexion" of an ORG: its connection accounts. */
		const struct attr *mem = entry_attr(e, "mmMember");

		if (mem && mem->nvals) {
			if (!(ret->members = calloc(mem->nvals, sizeof(*ret->members))))
				return -ENOMEM;
			for (size_t j = 0; j < mem->nvals; j++)
				accounts_dn_login(mem->vals[j], ret->members[j], sizeof(ret->members[j]));
			ret->nmembers = mem->nvals;
		}
	}
	return 0;
}

void settings_profile_free(struct settings_profile *p)
{
	free(p->members);
	p->members = NULL;
	p->nmembers = 0;
}

/* A profile attribute of the catalogue, NULL when key names none. */
static const struct cat_attr *profile_attr(const char *key)
{
	const struct cat_attr *a = catalog_find(key);

	return a && (a->where & CAT_PROFILE) ? a : NULL;
}

/* Fields that may not be emptied beyond the catalogue's CAT_REQUIRED: the
 * profession of a health professional, the address of an ORG. */
static bool required_here(const struct cat_attr *a, const struct entry *t, bool org)
{
	const char *type = entry_get(t, "mmAccountType");

	if (a->where & CAT_REQUIRED)
		return true;
	/* An ORG's address, city and postcode are optional, as on its
	 * registration form (no star); only a professional keeps a profession. */
	return !org && !strcmp(a->key, "profession") && (!type || strcmp(type, MM_TYPE_MED));
}

/* The given value of key, or NULL when the change does not name it. */
static const char *given(const struct settings_change *in, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(in[i].key, key))
			return in[i].value;
	return NULL;
}

int settings_profile_check(const struct entry *t, const struct caller *who, const struct settings_change *in,
	size_t n, struct fault *f)
{
	bool org = settings_is_org(t);
	const char *st, *sid;
	int rc;

	for (size_t i = 0; i < n; i++) {
		const struct cat_attr *a = profile_attr(in[i].key);

		if (!a)
			return fault_field(f, in[i].key, "unknown", "champ inconnu : %s", in[i].key);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(in[j].key, in[i].key))
				return fault_field(
					f, in[i].key, "repeated", "%s : donné deux fois", in[i].key);
	}
	for (size_t i = 0; i < n; i++) {
		const struct cat_attr *a = profile_attr(in[i].key);
		const char *v = in[i].value;

		if (!catalog_applies(a, org))
			return fault_field(f, a->key, "not_allowed", "%s : sans objet pour un compte %s",
				a->label, entry_get(t, "mmAccountType"));
		if (!settings_profile_may_write(a, org, who)) {
			fault_field(f, a->key, "admin_only",
				"%s : non modifiable par les utilisateurs ; contactez l'administrateur "
				"Medimail "
				"de votre structure ou le Centre De Services",
				a->label);
			f->status = -EACCES;
			return -EACCES;
		}
		if (!*v && required_here(a, t, org))
			return fault_field(f, a->key, "required", "%s : champ obligatoire", a->label);
		if (*v && (rc = catalog_check(a, v, f)) < 0)
			return rc;
	}
	if (n == 0)
		return fault_set(f, -EINVAL, "aucun champ à modifier");
	/* The structure id is checked against its (new or stored) type. */
	st = given(in, n, "struct_type") ? given(in, n, "struct_type") : entry_get(t, "mmStructIdType");
	sid = given(in, n, "struct_id") ? given(in, n, "struct_id") : entry_get(t, "mmStructId");
	if ((given(in, n, "struct_type") || given(in, n, "struct_id")) &&
		(!st || !*st || !sid || !*sid || validate_struct_id(st, sid) < 0))
		return fault_field(f, "struct_id", "check_digit",
			"identifiant de structure : format ou clé de contrôle invalide pour %s",
			st && *st ? st : "?");
	return 0;
}

/* telephoneNumber holds the first phone then the optional second one. */
static int phones(
	const struct entry *t, const struct settings_change *in, size_t n, struct mods *m, struct fault *f)
{
	const struct attr *tel = entry_attr(t, "telephoneNumber");
	const char *phone[2];

	for (size_t k = 0; k < 2; k++) {
		const char *v = given(in, n, k ? "phone2" : "phone");

		phone[k] = v ? (*v ? v : NULL) : (tel && tel->nvals > k ? tel->vals[k] : NULL);
	}
	if (!phone[0] && phone[1]) {
		phone[0] = phone[1];
		phone[1] = NULL;
	}
	if (phone[0] && phone[1] && !strcmp(phone[0], phone[1]))
		return fault_field(f, "phone2", "duplicate", "second téléphone : identique au premier");
	mods_add(m, LDAP_MOD_REPLACE, "telephoneNumber", NULL);
	for (size_t k = 0; k < 2; k++)
		if (phone[k])
			mods_add(m, LDAP_MOD_REPLACE, "telephoneNumber", phone[k]);
	return 0;
}

static int profile_set_canonical(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, const struct settings_change *in, size_t n, struct entry **ret,
	struct fault *f)
{
	char changed[512] = "";
	bool org = settings_is_org(t), names = false, tel = false;
	struct entry *after = NULL;
	struct mods m;
	int rc;

	(void)c;
	*ret = NULL;
	if ((rc = settings_writable(t, f)) < 0)
		return rc;
	if ((rc = settings_profile_check(t, who, in, n, f)) < 0) {
		if (rc == -EACCES)
			caller_audit(
				who, "profile-set", NULL, entry_get(t, "uid"), false, fault_get(f, "field"));
		return rc;
	}
	mods_init(&m);
	for (size_t i = 0; i < n; i++) {
		const struct cat_attr *a = profile_attr(in[i].key);
		const char *v = in[i].value;

		if (strlen(changed) + strlen(a->key) + 2 < sizeof(changed))
			snprintf(changed + strlen(changed), sizeof(changed) - strlen(changed), "%s%s",
				changed[0] ? "," : "", a->key);
		if (!strcasecmp(a->attr, "telephoneNumber")) {
			tel = true;
			continue;
		}
		if (!strcmp(a->key, "sn") || !strcmp(a->key, "given_name"))
			names = true;
		mods_add(&m, LDAP_MOD_REPLACE, a->attr, *v ? v : NULL);
	}
	if (tel && (rc = phones(t, in, n, &m, f)) < 0) {
		mods_free(&m);
		return rc;
	}
	if (names && !org) {
		const char *sn = given(in, n, "sn") ? given(in, n, "sn") : entry_get(t, "sn");
		const char *gn =
			given(in, n, "given_name") ? given(in, n, "given_name") : entry_get(t, "givenName");

		mods_addf(&m, LDAP_MOD_REPLACE, "cn", "%s %s", gn, sn);
		mods_addf(&m, LDAP_MOD_REPLACE, "displayName", "%s %s", gn, sn);
	}
	/* The directory finds the account by what it will hold: its keys are
	 * computed again from the entry as these changes leave it. */
	if ((rc = entry_apply(t, &m, &after)) < 0) {
		mods_free(&m);
		return fault_set(f, rc, "mémoire insuffisante");
	}
	dir_search_keys(after, &m, LDAP_MOD_REPLACE);
	entry_free(after);
	if ((rc = settings_modify(s, t, &m, "informations personnelles", f)) < 0)
		return rc;
	caller_audit(who, "profile-set", NULL, entry_get(t, "uid"), true, changed);
	return settings_reread(s, t, "informations personnelles", ret, f);
}

/* The change with each value in its canonical form (catalog_normalize, as
 * registration does): *ret_v and *ret_buf malloc'ed, the values pointing
 * into the change or into *ret_buf. */
static int profile_normalize(const struct settings_change *in, size_t n, struct settings_change **ret_v,
	char **ret_buf, struct fault *f)
{
	struct settings_change *v = calloc(n ? n : 1, sizeof(*v));
	size_t room = 1, used = 0;
	char *buf;

	for (size_t i = 0; i < n; i++)
		room += strlen(in[i].value) + 1;
	if (!v || !(buf = malloc(room))) {
		free(v);
		return fault_set(f, -ENOMEM, "mémoire insuffisante");
	}
	for (size_t i = 0; i < n; i++) {
		const struct cat_attr *a = profile_attr(in[i].key);
		int r = a ? catalog_normalize(a, in[i].value, buf + used, room - used) : -EINVAL;

		v[i] = in[i];
		/* Kept as given when it cannot be normalised or is still too long:
		 * the check refuses it in the words of the value typed. */
		if (r < 0 || (size_t)r > a->max || !strcmp(buf + used, in[i].value))
			continue;
		v[i].value = buf + used;
		used += (size_t)r + 1;
	}
	*ret_v = v;
	*ret_buf = buf;
	return 0;
}

int settings_profile_set(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, const struct settings_change *in, size_t n, struct entry **ret,
	struct fault *f)
{
	struct settings_change *canon = NULL;
	char *buf = NULL;
	int rc;

	*ret = NULL;
	if ((rc = profile_normalize(in, n, &canon, &buf, f)) < 0)
		return rc;
	rc = profile_set_canonical(s, c, who, t, canon, n, ret, f);
	free(canon);
	free(buf);
	return rc;
}
