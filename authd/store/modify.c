/* Writing the directory: modification lists, add, modify, delete, and the
 * atomic counters (increment, increment-if, reserve) the lockout relies on. */
#include <errno.h>
#include <lber.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "store.h"
#include "store_int.h"

void mods_init(struct mods *m)
{
	memset(m, 0, sizeof(*m));
}

void mods_add(struct mods *m, int op, const char *attr, const char *value)
{
	LDAPMod *mod = NULL;

	if (m->err)
		return;
	if ((op == LDAP_MOD_ADD || op == LDAP_MOD_INCREMENT) && (!value || !*value))
		return;
	/* Merge values of the same attribute and operation. */
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i]->mod_op == op && !strcasecmp(m->v[i]->mod_type, attr) && value) {
			mod = m->v[i];
			break;
		}
	if (!mod) {
		if (m->n + 2 > m->cap) {
			size_t cap = m->cap ? m->cap * 2 : 16;
			LDAPMod **nv = reallocarray(m->v, cap, sizeof(*nv));
			if (!nv) {
				m->err = -ENOMEM;
				return;
			}
			m->v = nv;
			m->cap = cap;
		}
		mod = calloc(1, sizeof(*mod));
		if (!mod || !(mod->mod_type = strdup(attr))) {
			free(mod);
			m->err = -ENOMEM;
			return;
		}
		mod->mod_op = op;
		m->v[m->n++] = mod;
		m->v[m->n] = NULL;
	}
	if (value) {
		size_t k = 0;
		char **nv;

		while (mod->mod_values && mod->mod_values[k])
			k++;
		nv = reallocarray(mod->mod_values, k + 2, sizeof(char *));
		if (!nv) {
			m->err = -ENOMEM;
			return;
		}
		mod->mod_values = nv;
		nv[k] = strdup(value);
		nv[k + 1] = NULL;
		if (!nv[k])
			m->err = -ENOMEM;
	}
}

void mods_addf(struct mods *m, int op, const char *attr, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) {
		m->err = -ENOMEM;
		s = NULL;
	}
	va_end(ap);
	if (s)
		mods_add(m, op, attr, s);
	free(s);
}

void mods_free(struct mods *m)
{
	for (size_t i = 0; i < m->n; i++) {
		for (size_t k = 0; m->v[i]->mod_values && m->v[i]->mod_values[k]; k++)
			secret_free(m->v[i]->mod_values[k]);
		free(m->v[i]->mod_values);
		free(m->v[i]->mod_type);
		free(m->v[i]);
	}
	free(m->v);
	memset(m, 0, sizeof(*m));
}

struct mod_arg {
	const char *dn;
	LDAPMod **mods;
	int kind; /* 0 add, 1 modify, 2 delete */
};

static int op_mod(LDAP *ld, void *p)
{
	struct mod_arg *a = p;
	int rc;

	if (a->kind == 0)
		rc = ldap_add_ext_s(ld, a->dn, a->mods, NULL, NULL);
	else if (a->kind == 1)
		rc = ldap_modify_ext_s(ld, a->dn, a->mods, NULL, NULL);
	else
		rc = ldap_delete_ext_s(ld, a->dn, NULL, NULL);
	return store_map_ldap(rc);
}

int store_add(struct store *s, const char *dn, struct mods *m)
{
	struct mod_arg a = {dn, m->v, 0};

	return m->err ? m->err : store_with_conn(s, op_mod, &a);
}

int store_modify(struct store *s, const char *dn, struct mods *m)
{
	struct mod_arg a = {dn, m->v, 1};

	if (m->err)
		return m->err;
	if (m->n == 0)
		return 0;
	return store_with_conn(s, op_mod, &a);
}

int store_delete(struct store *s, const char *dn)
{
	struct mod_arg a = {dn, NULL, 2};

	return store_with_conn(s, op_mod, &a);
}

struct incr_arg {
	const char *dn;
	const char *attr;
	const char *assertion; /* RFC 4528 filter the entry must match, or NULL */
	long long delta;
	long long value;
};

static int op_increment(LDAP *ld, void *p)
{
	struct incr_arg *a = p;
	char delta[32], *vals[2] = {delta, NULL};
	char *attrs[2] = {(char *)a->attr, NULL};
	LDAPMod mod = {.mod_op = LDAP_MOD_INCREMENT, .mod_type = (char *)a->attr, .mod_values = vals};
	LDAPMod *mods[2] = {&mod, NULL};
	LDAPControl *ctrl = NULL, *actrl = NULL, *sctrls[3] = {NULL, NULL, NULL}, **rctrls = NULL;
	BerElement *ber = NULL;
	LDAPMessage *res = NULL;
	int rc, msgid, err = 0, r = -EIO;

	snprintf(delta, sizeof(delta), "%lld", a->delta);
	/* The post-read control (RFC 4527) returns the value the increment produced. */
	ber = ber_alloc_t(LBER_USE_DER);
	if (!ber || ber_printf(ber, "{v}", attrs) < 0) {
		if (ber)
			ber_free(ber, 1);
		return -ENOMEM;
	}
	rc = ldap_control_create(LDAP_CONTROL_POST_READ, 1, NULL, 0, &ctrl);
	if (rc == LDAP_SUCCESS) {
		struct berval *bv = NULL;
		if (ber_flatten(ber, &bv) < 0) {
			rc = LDAP_NO_MEMORY;
		} else {
			ctrl->ldctl_value = *bv;
			ber_memfree(bv);
		}
	}
	ber_free(ber, 1);
	if (rc != LDAP_SUCCESS) {
		ldap_control_free(ctrl);
		return -ENOMEM;
	}
	sctrls[0] = ctrl;
	if (a->assertion) {
		/* The assertion control makes the check and the increment one operation. */
		rc = ldap_create_assertion_control(ld, (char *)a->assertion, 1, &actrl);
		if (rc != LDAP_SUCCESS) {
			ldap_control_free(ctrl);
			return rc == LDAP_FILTER_ERROR ? -EINVAL : -ENOMEM;
		}
		sctrls[1] = actrl;
	}
	rc = ldap_modify_ext(ld, a->dn, mods, sctrls, NULL, &msgid);
	ldap_control_free(ctrl);
	ldap_control_free(actrl);
	if (rc != LDAP_SUCCESS)
		return store_map_ldap(rc);
	if (ldap_result(ld, msgid, LDAP_MSG_ALL, NULL, &res) <= 0) {
		/* The increment may have been applied: not -EHOSTDOWN, which
		 * with_conn would retry, counting a failure or a try twice. */
		ldap_msgfree(res);
		ldap_abandon_ext(ld, msgid, NULL, NULL);
		return -EIO;
	}
	rc = ldap_parse_result(ld, res, &err, NULL, NULL, NULL, &rctrls, 1);
	if (rc != LDAP_SUCCESS)
		return store_map_ldap(rc);
	if (err != LDAP_SUCCESS) {
		ldap_controls_free(rctrls);
		return store_map_ldap(err);
	}
	for (size_t i = 0; rctrls && rctrls[i]; i++) {
		BerElement *rb;
		struct berval bv, **vals2 = NULL;
		char *type = NULL;

		if (strcmp(rctrls[i]->ldctl_oid, LDAP_CONTROL_POST_READ))
			continue;
		rb = ber_init(&rctrls[i]->ldctl_value);
		if (!rb)
			break;
		/* SearchResultEntry: { dn, { { type, { vals } } ... } } */
		if (ber_scanf(rb, "{m{{a[V]}", &bv, &type, &vals2) != LBER_ERROR && vals2 && vals2[0]) {
			char tmp[32];
			size_t l = vals2[0]->bv_len < sizeof(tmp) - 1 ? vals2[0]->bv_len : sizeof(tmp) - 1;
			memcpy(tmp, vals2[0]->bv_val, l);
			tmp[l] = '\0';
			a->value = strtoll(tmp, NULL, 10);
			r = 0;
		}
		ber_memfree(type);
		ber_bvecfree(vals2);
		ber_free(rb, 1);
	}
	ldap_controls_free(rctrls);
	return r;
}

int store_increment(struct store *s, const char *dn, const char *attr, long long delta, long long *ret_value)
{
	struct incr_arg a = {dn, attr, NULL, delta, 0};
	int r = store_with_conn(s, op_increment, &a);

	if (r == 0)
		*ret_value = a.value;
	return r;
}

int store_increment_if(struct store *s, const char *dn, const char *attr, long long delta,
	const char *assertion, long long *ret_value)
{
	struct incr_arg a = {dn, attr, assertion, delta, 0};
	int r = store_with_conn(s, op_increment, &a);

	if (r == 0)
		*ret_value = a.value;
	return r;
}

int store_reserve(
	struct store *s, const char *dn, const char *attr, const char *assertion, long long *ret_value)
{
	struct incr_arg a = {dn, attr, assertion, 1, 0};
	int r = store_with_conn(s, op_increment, &a);

	if (r == -ESTALE) {
		/* No counter yet: create it at 0 (a concurrent request may have
		 * done so: -EEXIST), then increment under the assertion. */
		struct mods m;

		mods_init(&m);
		mods_add(&m, LDAP_MOD_ADD, attr, "0");
		r = store_modify(s, dn, &m);
		mods_free(&m);
		if (r == 0 || r == -EEXIST)
			r = store_with_conn(s, op_increment, &a);
	}
	if (r == 0)
		*ret_value = a.value;
	return r;
}
