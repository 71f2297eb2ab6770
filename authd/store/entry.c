/* Entries read from the directory: attribute look-ups and freeing (store.h). */
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
