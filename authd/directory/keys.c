/* The typeahead keys of an account (mmSearchKey), computed from the entry
 * alone: the one place that says which field is found by which search. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "directory.h"
#include "protocol.h"

/* Which attribute feeds which search field (dir_filter's tags): plain words
 * for the free text ("q": names, ORG name, city), tagged words for the
 * searches by field.  "cn" is the name of an ORG only: a person's cn is its
 * given name and name, already keyed. */
static const struct {
	const char *attr, *tag;
	bool plain, org_only, individual_only;
} key_fields[] = {
	{"cn", "n:", true, true, false},
	{"givenName", "g:", true, false, true},
	{"sn", "n:", true, false, true},
	{"l", "c:", true, false, false},
	{"street", "s:", false, false, false},
	{"o", "o:", false, false, false},
};

static bool has_key(const struct mods *m, int op, const char *value)
{
	for (size_t i = 0; i < m->n; i++) {
		if (m->v[i]->mod_op != op || strcasecmp(m->v[i]->mod_type, "mmSearchKey"))
			continue;
		for (size_t k = 0; m->v[i]->mod_values && m->v[i]->mod_values[k]; k++)
			if (!strcmp(m->v[i]->mod_values[k], value))
				return true;
	}
	return false;
}

static void put_key(struct mods *m, int op, const char *value)
{
	/* "Jean Paris" living in Paris: a value twice would fail the write. */
	if (!has_key(m, op, value))
		mods_add(m, op, "mmSearchKey", value);
}

void dir_search_keys(const struct entry *e, struct mods *m, int op)
{
	const char *type = entry_get(e, "mmAccountType");
	bool org = type && !strcmp(type, MM_TYPE_ORG);

	if (op == LDAP_MOD_REPLACE)
		mods_add(m, LDAP_MOD_REPLACE, "mmSearchKey", NULL);
	for (size_t i = 0; i < sizeof(key_fields) / sizeof(key_fields[0]); i++) {
		const struct attr *a = entry_attr(e, key_fields[i].attr);

		if ((key_fields[i].org_only && !org) || (key_fields[i].individual_only && org) || !a)
			continue;
		for (size_t j = 0; j < a->nvals; j++) {
			char folded[1024], tagged[1100], *save = NULL;

			if (text_fold(a->vals[j], ' ', folded, sizeof(folded)) <= 0)
				continue;
			for (char *w = strtok_r(folded, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
				if (key_fields[i].plain)
					put_key(m, op, w);
				snprintf(tagged, sizeof(tagged), "%s%s", key_fields[i].tag, w);
				put_key(m, op, tagged);
			}
		}
	}
}
