/* "Inscription simplifiée par Pro Santé Connect" (account.h): a registration filled from a verified PSC identity. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "account_int.h"
#include "protocol.h"
#include "records.h"
#include "validate.h"

static bool handle_valid(const char *h)
{
	return h && strlen(h) == SECRET_TOKEN_HEX - 1 &&
		strspn(h, "0123456789abcdef") == SECRET_TOKEN_HEX - 1;
}

static void copy(char *out, size_t n, const char *v)
{
	if (v && strlen(v) < n && validate_text(v, n - 1) == 0)
		snprintf(out, n, "%s", v);
}

static const char *str_of(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v && *v ? v : NULL;
}

/* A street of the structure's site as the RPPS spells it: number, repetition, type, name. */
static void street_of(const json_t *a, char *out, size_t n)
{
	static const struct {
		const char *code, *word;
	} types[] = {{"R", "rue"}, {"AV", "avenue"}, {"BD", "boulevard"}, {"PL", "place"}, {"CHE", "chemin"},
		{"IMP", "impasse"}, {"ALL", "allée"}, {"RTE", "route"}, {"QUA", "quai"}, {"CRS", "cours"}};
	const char *num = str_of(a, "numeroVoie"), *rep = str_of(a, "indiceRepetitionVoie");
	const char *type = str_of(a, "codeTypeDeVoie"), *name = str_of(a, "libelleVoie"), *word = NULL;
	char buf[256];

	if (!name)
		return;
	for (size_t i = 0; type && i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcasecmp(type, types[i].code))
			word = types[i].word;
	snprintf(buf, sizeof(buf), "%s%s%s%s%s%s%s", num ? num : "", rep ? " " : "", rep ? rep : "",
		num ? " " : "", word ? word : "", word ? " " : "", name);
	copy(out, n, buf);
}

/* The fields of the first exercice and of its first activity (the site). */
static void ref_pro_fill(const json_t *ref, struct account_psc_prefill *p)
{
	const json_t *ex = json_array_get(json_object_get(ref, "exercices"), 0);
	const json_t *act = json_array_get(json_object_get(ex, "activities"), 0);
	const char *v, *cedex;

	if (!ex)
		return;
	v = str_of(ex, "codeProfession");
	if (v && validate_profession_code(v) == 0)
		copy(p->profession, sizeof(p->profession), v);
	if (!p->sn[0])
		copy(p->sn, sizeof(p->sn), str_of(ex, "nomDexercice"));
	if (!p->given_name[0])
		copy(p->given_name, sizeof(p->given_name), str_of(ex, "prenomDexercice"));
	if (!act)
		return;
	copy(p->raison_sociale, sizeof(p->raison_sociale), str_of(act, "raisonSocialeSite"));
	street_of(act, p->street, sizeof(p->street));
	if ((v = str_of(act, "codePostal")) && validate_postal_code(v) == 0)
		copy(p->postal_code, sizeof(p->postal_code), v);
	/* "75015 PARIS": the city after the postcode. */
	if ((cedex = str_of(act, "bureauCedex"))) {
		const char *sp = strchr(cedex, ' ');

		copy(p->city, sizeof(p->city), sp && sp[1] ? sp + 1 : cedex);
	}
	if ((v = str_of(act, "numeroFinessSite")) && validate_struct_id("FINESS", v) == 0) {
		snprintf(p->struct_type, sizeof(p->struct_type), "FINESS");
		copy(p->struct_id, sizeof(p->struct_id), v);
	} else if ((v = str_of(act, "numeroSiretSite")) && validate_struct_id("SIRET", v) == 0) {
		snprintf(p->struct_type, sizeof(p->struct_type), "SIRET");
		copy(p->struct_id, sizeof(p->struct_id), v);
	}
}

int account_psc_prefill_parse(const char *data, struct account_psc_prefill *p)
{
	json_t *d = data ? json_loads(data, 0, NULL) : NULL;
	const char *nid;
	int rc = -EIO;

	memset(p, 0, sizeof(*p));
	if (!d)
		return rc;
	copy(p->sub, sizeof(p->sub), str_of(d, "sub"));
	nid = str_of(d, "national_id");
	copy(p->national_id, sizeof(p->national_id), nid);
	if (!p->sub[0] || !p->national_id[0])
		goto out;
	/* "8" + RPPS: the RPPS is the identity's, proven by the provider. */
	if (strlen(nid) == 12 && nid[0] == '8' && validate_rpps(nid + 1) == 0)
		snprintf(p->rpps, sizeof(p->rpps), "%s", nid + 1);
	copy(p->sn, sizeof(p->sn), str_of(d, "family_name"));
	copy(p->given_name, sizeof(p->given_name), str_of(d, "given_name"));
	ref_pro_fill(json_object_get(d, "ref_pro"), p);
	rc = 0;
out:
	json_decref(d);
	return rc;
}

static int offer_load(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *handle, const char *event, struct account_psc_prefill *ret, struct fault *f)
{
	char *unused = NULL, *data = NULL;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if (!handle_valid(handle))
		return fault_field(f, "link", "syntax", "lien Pro Santé Connect invalide");
	rc = flow_get(s, c, RECORD_PSC_LINK, handle, &unused, &data);
	free(unused);
	if (rc == -ENOENT) {
		caller_audit(who, event, "psc", NULL, false, "unknown, expired or used link handle");
		return fault_set(f, -ENOENT,
			"lien Pro Santé Connect inconnu, expiré ou déjà utilisé : reconnectez-vous avec Pro "
			"Santé Connect");
	}
	if (rc < 0)
		return fault_store(f, rc, "inscription Pro Santé Connect");
	rc = account_psc_prefill_parse(data, ret);
	secret_free(data);
	if (rc < 0)
		return fault_set(f, -EIO, "lien Pro Santé Connect illisible");
	if (!ret->rpps[0]) {
		caller_audit(who, event, "psc", ret->national_id, false, "identity without an RPPS");
		fault_put(f, "reason", "no_rpps");
		return fault_set(f, -EPERM,
			"l'inscription simplifiée est réservée aux professionnels identifiés par leur RPPS : "
			"inscrivez-vous par le formulaire");
	}
	return 0;
}

static int sub_linked(struct store *s, const struct mm_config *c, const char *sub, bool *ret)
{
	bool dup = false;
	int rc = account_exists_with(s, c, "mmPscSub", sub, &dup);

	*ret = dup;
	return rc;
}

static int already_linked(
	const struct caller *who, const char *event, const struct account_psc_prefill *p, struct fault *f)
{
	caller_audit(who, event, "psc", p->national_id, false, "identity already linked");
	fault_put(f, "reason", "already_linked");
	return fault_set(f, -EEXIST, "cette identité Pro Santé Connect est déjà liée à un compte");
}

int account_psc_prefill(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *handle, struct account_psc_prefill *ret, struct fault *f)
{
	bool linked;
	int rc;

	if ((rc = offer_load(s, c, who, handle, "register-psc-prefill", ret, f)) < 0)
		return rc;
	/* Another handle of the same identity may have registered it meanwhile. */
	if ((rc = sub_linked(s, c, ret->sub, &linked)) < 0)
		return fault_store(f, rc, "inscription Pro Santé Connect");
	return linked ? already_linked(who, "register-psc-prefill", ret, f) : 0;
}

/* The value of key the identity proves, or NULL when it proves none. */
static const char *proven(const struct account_psc_prefill *p, const char *key)
{
	const char *v = !strcmp(key, "rpps") ? p->rpps
		: !strcmp(key, "sn")         ? p->sn
		: !strcmp(key, "given_name") ? p->given_name
		: !strcmp(key, "profession") ? p->profession
					     : NULL;

	return v && *v ? v : NULL;
}

int account_psc_merge(struct account_registration *reg, const struct account_psc_prefill *p, struct fault *f)
{
	static const char *const fixed[] = {"rpps", "sn", "given_name", "profession"};
	static const struct {
		const char *key;
		size_t off;
	} site[] = {
		{"raison_sociale", offsetof(struct account_psc_prefill, raison_sociale)},
		{"street", offsetof(struct account_psc_prefill, street)},
		{"postal_code", offsetof(struct account_psc_prefill, postal_code)},
		{"city", offsetof(struct account_psc_prefill, city)},
	};
	int rc;

	if (reg->type && *reg->type && strcmp(reg->type, MM_TYPE_PER))
		return fault_field(f, "type", "psc_claim",
			"type de compte : une inscription par Pro Santé Connect (avec RPPS) crée un compte "
			"PER");
	reg->type = MM_TYPE_PER;
	if (account_registration_get(reg, "adeli"))
		return fault_field(
			f, "adeli", "psc_claim", "numéro ADELI : le RPPS de Pro Santé Connect suffit");
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		const char *given = account_registration_get(reg, fixed[i]), *claim = proven(p, fixed[i]);
		struct account_registration probe;

		if (!claim)
			continue;
		if (given) {
			/* Compared in canonical form: "100 028 138 39" is the claim's RPPS. */
			memset(&probe, 0, sizeof(probe));
			if (account_registration_set(&probe, fixed[i], claim, f) < 0)
				return -EINVAL;
			if (strcasecmp(given, account_registration_get(&probe, fixed[i]) ?: ""))
				return fault_field(f, fixed[i], "psc_claim",
					"%s : la valeur est celle de votre identité Pro Santé Connect (%s)",
					catalog_find(fixed[i]) ? catalog_find(fixed[i])->label : fixed[i],
					claim);
			continue;
		}
		if ((rc = account_registration_set(reg, fixed[i], claim, f)) < 0)
			return rc;
	}
	for (size_t i = 0; i < sizeof(site) / sizeof(site[0]); i++) {
		const char *v = (const char *)p + site[i].off;

		if (*v && !account_registration_get(reg, site[i].key) &&
			(rc = account_registration_set(reg, site[i].key, v, f)) < 0)
			return rc;
	}
	if (p->struct_id[0] && !account_registration_get(reg, "struct_type") &&
		!account_registration_get(reg, "struct_id") &&
		((rc = account_registration_set(reg, "struct_type", p->struct_type, f)) < 0 ||
			(rc = account_registration_set(reg, "struct_id", p->struct_id, f)) < 0))
		return rc;
	return 0;
}

int account_register_psc(struct store *s, const struct mm_config *c, const struct caller *who,
	const char *handle, struct account_registration *reg, struct account_registered *ret, struct fault *f)
{
	static const char *const event = "register-psc";
	struct account_psc_prefill p;
	struct mods m;
	bool linked;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if ((rc = offer_load(s, c, who, handle, event, &p, f)) < 0)
		return rc;
	if ((rc = account_psc_merge(reg, &p, f)) < 0)
		return rc;
	/* Every rule before the handle is spent (account_register checks the
	 * duplicates again, and slapd's unique overlay at the write). */
	if ((rc = account_registration_check(c, reg, f)) < 0)
		return rc;
	if ((rc = sub_linked(s, c, p.sub, &linked)) < 0)
		return fault_store(f, rc, "inscription Pro Santé Connect");
	if (linked)
		return already_linked(who, event, &p, f);
	if ((rc = account_registration_duplicates(s, c, reg, f)) < 0)
		return rc;
	/* Single use: of two registrations with one handle, one deletes it. */
	if ((rc = flow_take(s, c, RECORD_PSC_LINK, handle)) < 0) {
		caller_audit(who, event, "psc", p.national_id, false, "link handle used meanwhile");
		if (rc == -ENOENT)
			return fault_set(f, -ENOENT, "lien Pro Santé Connect déjà utilisé");
		return fault_store(f, rc, "inscription Pro Santé Connect");
	}
	if ((rc = account_register(s, c, who, reg, ret, f)) < 0) {
		caller_audit(who, event, "psc", p.national_id, false, "registration refused");
		return rc;
	}
	/* The identity linked at once: its next PSC login finds the account. */
	mods_init(&m);
	mods_add(&m, LDAP_MOD_ADD, "mmPscSub", p.sub);
	rc = m.err ? m.err : store_modify(s, ret->dn, &m);
	mods_free(&m);
	if (rc < 0) {
		if (store_delete(s, ret->dn) < 0)
			caller_audit(who, event, "psc", ret->login, false, "entry left without its link");
		account_registered_clear(ret);
		return fault_store(f, rc, "inscription Pro Santé Connect");
	}
	caller_audit(
		who, event, "psc", ret->login, true, "RPPS proven by Pro Santé Connect, identity linked");
	return 0;
}
