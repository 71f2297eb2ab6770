/* The name-service requests on the unix socket: fields in, typed service
 * call, reply out (nss_req.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nss.h"
#include "nss_req.h"
#include "wire.h"

/* Adds the values of list as comma-separated chunks under key (a value
 * holds at most MM_VALUE_MAX bytes). */
static void put_chunks(struct req *r, const char *key, char *const *list, size_t n)
{
	char *chunk = malloc(MM_VALUE_MAX);
	size_t len = 0;

	if (!chunk) {
		if (!r->err)
			r->err = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(list[i]);

		if (len && len + 1 + l >= MM_VALUE_MAX) {
			chunk[len] = '\0';
			req_put(r, key, chunk);
			len = 0;
		}
		if (len)
			chunk[len++] = ',';
		memcpy(chunk + len, list[i], l);
		len += l;
	}
	if (len) {
		chunk[len] = '\0';
		req_put(r, key, chunk);
	}
	free(chunk);
}

static void put_passwd(struct req *r, const struct nss_passwd *p)
{
	req_put(r, "name", p->name);
	req_putf(r, "uid", "%u", (unsigned)p->uid);
	req_putf(r, "gid", "%u", (unsigned)p->gid);
	req_put(r, "gecos", p->gecos);
	req_put(r, "dir", p->dir);
	req_put(r, "shell", p->shell);
}

static void put_group(struct req *r, const struct nss_group *g)
{
	req_put(r, "name", g->name);
	req_putf(r, "gid", "%u", (unsigned)g->gid);
	put_chunks(r, "members", g->members, g->nmembers);
}

/* A uid or gid field: decimal, 1 .. 2^32-2. */
static int id_field(struct req *r, const char *key, const char *what, uint32_t *ret)
{
	unsigned long v;

	if (!nss_id_parse(req_get(r, key), 1, UINT32_MAX - 1, &v))
		return req_fail_field(r, key, "format", "%s invalide", what);
	*ret = (uint32_t)v;
	return 0;
}

int nss_req_getpwnam(struct req *r)
{
	static const char *const allowed[] = {"name", NULL};
	struct nss_passwd p;
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, allowed)) < 0)
		return rc;
	if ((rc = nss_getpwnam(r->store, r->cfg, &r->who, req_get(r, "name"), &p, &f)) < 0)
		return req_fault(r, &f);
	put_passwd(r, &p);
	nss_passwd_clear(&p);
	return 0;
}

int nss_req_getpwuid(struct req *r)
{
	static const char *const allowed[] = {"uid", NULL};
	struct nss_passwd p;
	struct fault f = {0};
	uint32_t uid;
	int rc;

	if ((rc = req_keys(r, allowed)) < 0 || (rc = id_field(r, "uid", "uid", &uid)) < 0)
		return rc;
	if ((rc = nss_getpwuid(r->store, r->cfg, &r->who, uid, &p, &f)) < 0)
		return req_fault(r, &f);
	put_passwd(r, &p);
	nss_passwd_clear(&p);
	return 0;
}

int nss_req_getgrnam(struct req *r)
{
	static const char *const allowed[] = {"name", NULL};
	struct nss_group g;
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, allowed)) < 0)
		return rc;
	if ((rc = nss_getgrnam(r->store, r->cfg, &r->who, req_get(r, "name"), &g, &f)) < 0)
		return req_fault(r, &f);
	put_group(r, &g);
	nss_group_clear(&g);
	return 0;
}

int nss_req_getgrgid(struct req *r)
{
	static const char *const allowed[] = {"gid", NULL};
	struct nss_group g;
	struct fault f = {0};
	uint32_t gid;
	int rc;

	if ((rc = req_keys(r, allowed)) < 0 || (rc = id_field(r, "gid", "gid", &gid)) < 0)
		return rc;
	if ((rc = nss_getgrgid(r->store, r->cfg, &r->who, gid, &g, &f)) < 0)
		return req_fault(r, &f);
	put_group(r, &g);
	nss_group_clear(&g);
	return 0;
}

int nss_req_initgroups(struct req *r)
{
	static const char *const allowed[] = {"name", NULL};
	struct nss_groups_of g;
	struct fault f = {0};
	char **gids;
	int rc;

	if ((rc = req_keys(r, allowed)) < 0)
		return rc;
	if ((rc = nss_initgroups(r->store, r->cfg, &r->who, req_get(r, "name"), &g, &f)) < 0)
		return req_fault(r, &f);
	gids = calloc(g.n + 1, sizeof(*gids));
	for (size_t i = 0; gids && i < g.n; i++)
		if (asprintf(&gids[i], "%u", (unsigned)g.gids[i]) < 0) {
			gids[i] = NULL;
			for (size_t j = 0; j < i; j++)
				free(gids[j]);
			free(gids);
			gids = NULL;
		}
	if (!gids) {
		nss_groups_of_clear(&g);
		return -ENOMEM;
	}
	req_put(r, "name", g.name);
	put_chunks(r, "gids", gids, g.n);
	for (size_t i = 0; i < g.n; i++)
		free(gids[i]);
	free(gids);
	nss_groups_of_clear(&g);
	return 0;
}

/* The offset of an enumeration page: absent or "0", else 1 .. 2^32-1. */
static int offset_field(struct req *r, size_t *ret)
{
	const char *s = req_get(r, "offset");
	unsigned long v = 0;

	if (s && strcmp(s, "0") && !nss_id_parse(s, 1, UINT32_MAX, &v))
		return req_fail_field(r, "offset", "format", "offset invalide");
	*ret = v;
	return 0;
}

int nss_req_pwent(struct req *r)
{
	static const char *const allowed[] = {"offset", NULL};
	struct nss_passwd_page p;
	struct fault f = {0};
	size_t off;
	int rc;

	if ((rc = req_keys(r, allowed)) < 0 || (rc = offset_field(r, &off)) < 0)
		return rc;
	if ((rc = nss_pwent(r->cfg, &r->who, off, &p, &f)) < 0)
		return req_fault(r, &f);
	for (size_t i = 0; i < p.n; i++) {
		req_put_index(r, i);
		put_passwd(r, &p.items[i]);
	}
	if (p.more)
		req_putf(r, "next", "%zu", p.next);
	nss_passwd_page_clear(&p);
	return 0;
}

int nss_req_grent(struct req *r)
{
	static const char *const allowed[] = {"offset", NULL};
	struct nss_group_page p;
	struct fault f = {0};
	size_t off;
	int rc;

	if ((rc = req_keys(r, allowed)) < 0 || (rc = offset_field(r, &off)) < 0)
		return rc;
	if ((rc = nss_grent(r->cfg, &r->who, off, &p, &f)) < 0)
		return req_fault(r, &f);
	for (size_t i = 0; i < p.n; i++) {
		req_put_index(r, i);
		put_group(r, &p.items[i]);
	}
	if (p.more)
		req_putf(r, "next", "%zu", p.next);
	nss_group_page_clear(&p);
	return 0;
}
