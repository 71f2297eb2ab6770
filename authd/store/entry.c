/* Entries read from the directory: attribute look-ups and freeing, a DN's first RDN (store.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "secret.h"
#include "store.h"

const struct attr *entry_attr(const struct entry *e, const char *attr)
{
	for (size_t i = 0; i < e->nattrs; i++)
		if (!strcasecmp(e->attrs[i].name, attr))
			return &e->attrs[i];
	return NULL;
}

const char *entry_get(const struct entry *e, const char *attr)
{
	const struct attr *a = entry_attr(e, attr);

	return a && a->nvals ? a->vals[0] : NULL;
}

bool entry_has_value(const struct entry *e, const char *attr, const char *value)
{
	const struct attr *a = entry_attr(e, attr);

	if (!a)
		return false;
	for (size_t i = 0; i < a->nvals; i++)
		if (!strcasecmp(a->vals[i], value))
			return true;
	return false;
}

void entry_free(struct entry *e)
{
	if (!e)
		return;
	if (e->packed_size) {
		/* Values may be secrets (hashes read by the daemon): wipe them all. */
		secret_wipe(e, e->packed_size);
		free(e);
		return;
	}
	for (size_t i = 0; i < e->nattrs; i++) {
		for (size_t j = 0; j < e->attrs[i].nvals; j++)
			secret_free(e->attrs[i].vals[j]);
		free(e->attrs[i].vals);
		free(e->attrs[i].name);
	}
	free(e->attrs);
	free(e->dn);
	free(e);
}

void entries_free(struct entry **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		entry_free(v[i]);
	free(v);
}

static struct attr *apply_attr(struct entry *e, const char *name)
{
	struct attr *a = (struct attr *)entry_attr(e, name), *v;

	if (a)
		return a;
	if (!(v = reallocarray(e->attrs, e->nattrs + 1, sizeof(*v))))
		return NULL;
	e->attrs = v;
	a = &v[e->nattrs];
	memset(a, 0, sizeof(*a));
	if (!(a->name = strdup(name)))
		return NULL;
	e->nattrs++;
	return a;
}

static void apply_clear(struct attr *a, const char *value)
{
	size_t k = 0;

	for (size_t j = 0; j < a->nvals; j++) {
		if (!value || !strcasecmp(a->vals[j], value)) {
			secret_free(a->vals[j]);
			continue;
		}
		a->vals[k++] = a->vals[j];
	}
	a->nvals = k;
}

static int apply_add(struct attr *a, const char *value)
{
	char **v = reallocarray(a->vals, a->nvals + 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	a->vals = v;
	if (!(v[a->nvals] = strdup(value)))
		return -ENOMEM;
	a->nvals++;
	return 0;
}

static int apply_copy(struct entry *e, const struct entry *base)
{
	if (base->dn && !(e->dn = strdup(base->dn)))
		return -ENOMEM;
	for (size_t i = 0; i < base->nattrs; i++) {
		struct attr *a = apply_attr(e, base->attrs[i].name);

		if (!a)
			return -ENOMEM;
		for (size_t j = 0; j < base->attrs[i].nvals; j++)
			if (apply_add(a, base->attrs[i].vals[j]) < 0)
				return -ENOMEM;
	}
	return 0;
}

int entry_apply(const struct entry *base, const struct mods *m, struct entry **ret)
{
	struct entry *e = calloc(1, sizeof(*e));
	int rc = 0;

	*ret = NULL;
	if (!e)
		return -ENOMEM;
	if (m->err)
		rc = m->err;
	if (rc == 0 && base)
		rc = apply_copy(e, base);
	for (size_t i = 0; rc == 0 && i < m->n; i++) {
		const LDAPMod *mod = m->v[i];
		int op = mod->mod_op & ~LDAP_MOD_BVALUES;
		struct attr *a;

		if (op == LDAP_MOD_INCREMENT)
			continue;
		if (!(a = apply_attr(e, mod->mod_type))) {
			rc = -ENOMEM;
			break;
		}
		if (op == LDAP_MOD_REPLACE || (op == LDAP_MOD_DELETE && !mod->mod_values))
			apply_clear(a, NULL);
		for (size_t k = 0; rc == 0 && mod->mod_values && mod->mod_values[k]; k++) {
			if (op == LDAP_MOD_DELETE)
				apply_clear(a, mod->mod_values[k]);
			else
				rc = apply_add(a, mod->mod_values[k]);
		}
	}
	if (rc < 0) {
		entry_free(e);
		return rc;
	}
	*ret = e;
	return 0;
}

bool dn_rdn_value(const char *dn, const char *attr, char *out, size_t outsz)
{
	size_t a = strlen(attr), n;
	const char *v;

	if (strncasecmp(dn, attr, a) || dn[a] != '=')
		return false;
	v = dn + a + 1;
	n = strcspn(v, ",\\+");
	if (v[n] != ',' || n == 0 || n >= outsz)
		return false;
	memcpy(out, v, n);
	out[n] = '\0';
	return true;
}
