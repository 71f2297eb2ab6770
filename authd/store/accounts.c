/* Facts about an account entry (accounts.h): who owns it, its state. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "accounts.h"
#include "protocol.h"

const char *const accounts_identity_attrs[] = {"uid", "mmAccountType", "mmStatus", "uidNumber", "gidNumber",
	"mmMember", "mmLoginMail",
	/* the structure administrators' rule (access.h) */
	"mmStructIdType", "mmStructId", "mmStructAdmin", NULL};

void accounts_dn_login(const char *dn, char *out, size_t n)
{
	const char *p = dn && !strncasecmp(dn, "uid=", 4) ? dn + 4 : "";
	size_t len = strcspn(p, ",");

	if (!n)
		return;
	snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), p);
}

bool accounts_owned_by(const struct entry *e, uid_t uid)
{
	const char *n = entry_get(e, "uidNumber");
	char want[16];

	if (!n)
		return false;
	snprintf(want, sizeof(want), "%u", (unsigned)uid);
	return !strcmp(n, want);
}

bool accounts_active(const struct entry *e)
{
	return entry_has_value(e, "mmStatus", MM_STATUS_ACTIVE);
}

bool accounts_is_org(const struct entry *e)
{
	return entry_has_value(e, "mmAccountType", MM_TYPE_ORG);
}

const char *accounts_inactive_reason(const struct entry *e)
{
	const char *st = entry_get(e, "mmStatus");

	if (!st)
		return "pending";
	if (!strcmp(st, MM_STATUS_ACTIVE))
		return NULL;
	if (!strcmp(st, MM_STATUS_SUSPENDED))
		return "suspended";
	if (!strcmp(st, MM_STATUS_CLOSED))
		return "closed";
	return "pending";
}

const char **accounts_attrs_with_identity(const char *const *attrs)
{
	size_t n = 0, k = 0;
	const char **v;

	for (size_t i = 0; accounts_identity_attrs[i]; i++)
		n++;
	for (size_t i = 0; attrs && attrs[i]; i++)
		n++;
	if (!(v = calloc(n + 1, sizeof(*v))))
		return NULL;
	for (size_t i = 0; accounts_identity_attrs[i]; i++)
		v[k++] = accounts_identity_attrs[i];
	for (size_t i = 0; attrs && attrs[i]; i++) {
		bool dup = false;

		for (size_t j = 0; j < k && !dup; j++)
			dup = !strcasecmp(v[j], attrs[i]);
		if (!dup)
			v[k++] = attrs[i];
	}
	return v;
}
