/* The identities of OpenID Connect providers linked to an account ("Désassocier
 * un mode de connexion par carte CPS / e-CPS ou le PASS"): where each
 * provider's links are stored, how an account is found by one, linking and
 * unlinking. A Pro Santé Connect link is its subject in mmPscSub; a link of
 * another provider is "<provider>:<subject>" in mmOidcLink, so that the same
 * subject at two providers is two links and never one another's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "login_int.h"

#define OIDC_LINK_ATTR "mmOidcLink"

const char *const login_psc_attrs[] = {
	"uid", "mmAccountType", "mmStatus", "uidNumber", "mmNationalId", "mmPscSub", OIDC_LINK_ATTR, NULL};

const struct attr *login_psc_links(const struct entry *e)
{
	return entry_attr(e, "mmPscSub");
}

static bool is_psc(const char *provider)
{
	return !provider || !strcmp(provider, "psc");
}

bool login_link_provider_valid(const char *p)
{
	size_t n = p ? strlen(p) : 0;

	if (n == 0 || n > LOGIN_LINK_PROVIDER_MAX || p[0] < 'a' || p[0] > 'z')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '-'))
			return false;
	return true;
}

bool login_link_subject_valid(const char *sub)
{
	size_t n = sub ? strlen(sub) : 0;

	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)sub[i] < 0x20 || sub[i] == 0x7f)
			return false;
	return true;
}

size_t login_links(const struct entry *e, struct login_link *out, size_t max)
{
	const struct attr *psc = entry_attr(e, "mmPscSub"), *other = entry_attr(e, OIDC_LINK_ATTR);
	size_t n = 0;

	for (size_t i = 0; psc && i < psc->nvals && n < max; i++) {
		snprintf(out[n].provider, sizeof(out[n].provider), "psc");
		out[n++].subject = psc->vals[i];
	}
	for (size_t i = 0; other && i < other->nvals && n < max; i++) {
		const char *colon = strchr(other->vals[i], ':');
		size_t len = colon ? (size_t)(colon - other->vals[i]) : 0;

		if (!colon || len == 0 || len > LOGIN_LINK_PROVIDER_MAX)
			continue; /* not written by this daemon */
		memcpy(out[n].provider, other->vals[i], len);
		out[n].provider[len] = '\0';
		out[n++].subject = colon + 1;
	}
	return n;
}

/* The attribute and value of provider's link to subject (value malloc'ed). */
static int link_value(const char *provider, const char *subject, const char **ret_attr, char **ret_val)
{
	if (!login_link_subject_valid(subject) || (!is_psc(provider) && !login_link_provider_valid(provider)))
		return -EINVAL;
	if (is_psc(provider)) {
		*ret_attr = "mmPscSub";
		*ret_val = strdup(subject);
	} else {
		*ret_attr = OIDC_LINK_ATTR;
		if (asprintf(ret_val, "%s:%s", provider, subject) < 0)
			*ret_val = NULL;
	}
	return *ret_val ? 0 : -ENOMEM;
}

int login_link_filter(const char *provider, const char *subject, char **ret_filter)
{
	const char *attr;
	char *val = NULL, *esc = NULL;
	int r;

	*ret_filter = NULL;
	if ((r = link_value(provider, subject, &attr, &val)) < 0)
		return r;
	esc = store_escape(val);
	free(val);
	if (!esc)
		return -ENOMEM;
	if (asprintf(ret_filter, "(&(objectClass=mmAccount)(%s=%s))", attr, esc) < 0)
		*ret_filter = NULL;
	free(esc);
	return *ret_filter ? 0 : -ENOMEM;
}

int login_link_taken(struct store *s, const struct mm_config *c, const char *provider, const char *subject,
	const char *account_dn)
{
	static const char *const attrs[] = {"1.1", NULL};
	struct entry *e = NULL;
	char *filter = NULL;
	int rc;

	if ((rc = login_link_filter(provider, subject, &filter)) < 0)
		return rc;
	rc = store_search_one(s, c->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, &e);
	free(filter);
	if (rc == 0)
		rc = strcasecmp(e->dn, account_dn) ? -EEXIST : 0;
	else if (rc == -ENOENT || rc == -ENOTUNIQ)
		rc = rc == -ENOENT ? 0 : -EEXIST;
	entry_free(e);
	return rc;
}

int login_link_add(struct store *s, const struct mm_config *c, const struct entry *e, const char *provider,
	const char *subject)
{
	const char *attr;
	char *val = NULL;
	struct mods m;
	int rc;

	if ((rc = link_value(provider, subject, &attr, &val)) < 0)
		return rc;
	if ((rc = login_link_taken(s, c, provider, subject, e->dn)) < 0 || entry_has_value(e, attr, val))
		goto out;
	mods_init(&m);
	mods_add(&m, LDAP_MOD_ADD, attr, val);
	rc = store_modify(s, e->dn, &m);
	mods_free(&m);
	if (rc == -EEXIST)
		rc = 0;
out:
	free(val);
	return rc;
}

int login_psc_unlink(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *e, const char *provider, const char *label, const char *sub, size_t *ret_removed,
	struct fault *f)
{
	struct login_link links[LOGIN_LINKS_MAX];
	size_t nl = login_links(e, links, LOGIN_LINKS_MAX), n = 0;
	const char *name = provider ? provider : "psc", *who_label = label ? label : name;
	const char *method = name; /* as the sessions of that provider say */
	struct mods m;
	int rc;

	(void)c;
	*ret_removed = 0;
	if (!is_psc(provider) && !login_link_provider_valid(provider))
		return fault_field(f, "provider", "format", "fournisseur d'identité inconnu");
	mods_init(&m);
	/* Only this provider's links: a subject of another provider is not
	 * named by this one's name, even when the strings are the same. */
	for (size_t i = 0; i < nl; i++) {
		const char *attr;
		char *val = NULL;

		if (strcmp(links[i].provider, name) || (sub && strcmp(links[i].subject, sub)))
			continue;
		if (link_value(name, links[i].subject, &attr, &val) < 0)
			continue;
		/* Deleting the exact value the entry had: a concurrent change fails. */
		mods_add(&m, LDAP_MOD_DELETE, attr, val);
		free(val);
		n++;
	}
	if (n == 0) {
		mods_free(&m);
		login_event(who, "psc-unlink", method, entry_get(e, "uid"), false, "not linked");
		return fault_set(f, -ENOENT, "%s : aucune identité %s liée%s", entry_get(e, "uid"), who_label,
			sub ? " sous ce sujet" : "");
	}
	rc = store_modify(s, e->dn, &m);
	mods_free(&m);
	if (rc < 0) {
		login_event(who, "psc-unlink", method, entry_get(e, "uid"), false, "directory error");
		return fault_store(f, rc, who_label);
	}
	login_event(who, "psc-unlink", method, entry_get(e, "uid"), true,
		is_psc(provider) ? "Pro Santé Connect identity unlinked" : "identity unlinked");
	*ret_removed = n;
	return 0;
}
