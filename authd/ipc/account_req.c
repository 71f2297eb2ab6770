/* The socket adapters of the account lifecycle (0x01xx): fields in, one typed service call, reply out. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "account_req.h"
#include "log.h"
#include "login.h"
#include "protocol.h"

/* The fields every adapter takes besides its own (read by the dispatch table, audit only). */
#define AUDIT_KEYS "service", "rhost"

static void put(void *ctx, const char *key, const char *value)
{
	req_put(ctx, key, value);
}

/* ---------------------------------------------------------- the adapters */

int account_req_register(struct req *r)
{
	enum { NKEYS = ACCOUNT_REG_ATTRS_MAX + 16 };
	const char *keys[2 * NKEYS];
	char member_keys[NKEYS][64];
	struct account_registration reg = {0}, member = {0};
	struct account_registered done = {0}, done_member = {0};
	struct fault f = {0};
	const size_t plen = strlen(ACCOUNT_MEMBER_PREFIX);
	bool with_member = false;
	int n, rc;

	/* The registration's fields, and the same prefixed for the ORG's new
	 * connection account ("Non"). */
	if ((n = account_registration_keys(keys, NKEYS)) < 0)
		return req_fail(r, -ENOMEM, "inscription : table des champs trop longue");
	for (int i = 0; i < n; i++) {
		snprintf(member_keys[i], sizeof(member_keys[i]), "%s%s", ACCOUNT_MEMBER_PREFIX, keys[i]);
		keys[n + i] = member_keys[i];
	}
	keys[2 * n] = NULL;
	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	for (size_t i = 0; i < r->in->nfields; i++) {
		const char *key = r->in->fields[i].key, *value = r->in->fields[i].value;
		bool of_member = !strncmp(key, ACCOUNT_MEMBER_PREFIX, plen);

		with_member |= of_member;
		if (account_registration_set(
			    of_member ? &member : &reg, of_member ? key + plen : key, value, &f) < 0)
			return req_fault(r, &f);
	}
	if (with_member)
		rc = account_register_org_new_member(
			r->store, r->cfg, &r->who, &reg, &member, &done, &done_member, &f);
	else
		rc = account_register(r->store, r->cfg, &r->who, &reg, &done, &f);
	if (rc < 0)
		return req_fault(r, &f);
	req_put(r, "login", done.login);
	req_put(r, "dn", done.dn);
	req_put(r, "status", MM_STATUS_PENDING_CONFIRMATION);
	if (with_member) {
		req_put(r, "member_login", done_member.login);
		req_put(r, "member_dn", done_member.dn);
		req_put(r, "member_type", member.type);
		mm_msg_set_message(r->out,
			"BAL ORG %s et compte de connexion %s créés : un lien de confirmation a été envoyé à "
			"%s et "
			"à %s ; les deux comptes seront validés ensemble",
			done.login, done_member.login, account_registration_get(&reg, "login_mail"),
			account_registration_get(&member, "login_mail"));
	} else {
		mm_msg_set_message(r->out, "compte %s créé : un lien de confirmation a été envoyé à %s",
			done.login, account_registration_get(&reg, "login_mail"));
	}
	account_registered_clear(&done);
	account_registered_clear(&done_member);
	return 0;
}

int account_req_register_org_proof(struct req *r)
{
	static const char *const keys[] = {"member", "member_password", AUDIT_KEYS, NULL};
	struct account_org_proof p;
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	rc = account_org_proof_start(
		r->store, r->cfg, &r->who, req_get(r, "member"), req_get(r, "member_password"), &p, &f);
	if (rc < 0)
		return req_fault(r, &f);
	req_put(r, "member", p.member);
	req_put(r, "txn", p.txn);
	req_put(r, "sent_to", p.sent_to);
	req_putf(r, "expires_in", "%u", p.expires_in);
	mm_msg_set_message(r->out,
		"code à usage unique envoyé à %s : renseignez-le avec le formulaire de la BAL ORG",
		p.sent_to);
	secret_wipe(p.txn, sizeof(p.txn));
	return 0;
}

int account_req_confirm(struct req *r)
{
	static const char *const keys[] = {"token", AUDIT_KEYS, NULL};
	struct fault f = {0};
	char *login = NULL;
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (account_confirm(r->store, r->cfg, &r->who, req_get(r, "token"), &login, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "login", login);
	req_put(r, "status", MM_STATUS_PENDING_VALIDATION);
	mm_msg_set_message(
		r->out, "adresse confirmée : le compte %s attend la validation du centre de services", login);
	free(login);
	return 0;
}

int account_req_confirm_resend(struct req *r)
{
	static const char *const keys[] = {"login", AUDIT_KEYS, NULL};
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (account_confirm_resend(r->store, r->cfg, &r->who, r->target, &f) < 0)
		return req_fault(r, &f);
	mm_msg_set_message(r->out, "nouveau lien envoyé à %s", entry_get(r->target, "mmLoginMail"));
	return 0;
}

int account_req_validate(struct req *r)
{
	static const char *const keys[] = {"login", "mss", AUDIT_KEYS, NULL};
	struct account_validated v;
	enum account_mss mss;
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (account_mss_parse(req_get(r, "mss"), &mss, &f) < 0 ||
		account_validate(r->store, r->cfg, &r->who, r->target, mss, &v, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "login", entry_get(r->target, "uid"));
	req_put(r, "status", MM_STATUS_ACTIVE);
	if (v.mss_address[0])
		req_put(r, "mss_address", v.mss_address);
	if (v.pending_publication)
		req_put(r, "published", "no");
	if (v.id)
		req_putf(r, v.org ? "gid_number" : "uid_number", "%u", v.id);
	if (v.notice_failed)
		mm_msg_set_message(
			r->out, "compte validé, mais l'e-mail de notification n'a pas pu être envoyé");
	else
		mm_msg_set_message(r->out, "compte %s validé", entry_get(r->target, "uid"));
	return 0;
}

int account_req_show(struct req *r)
{
	static const char *const keys[] = {"login", AUDIT_KEYS, NULL};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	account_fields(r->target, true, put, r);
	return 0;
}

int account_req_list(struct req *r)
{
	static const char *const keys[] = {"status", "type", "published", NULL};
	struct entry **v = NULL;
	struct fault f = {0};
	size_t n = 0;
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (account_list(r->store, r->cfg, &r->who, req_get(r, "status"), req_get(r, "type"),
		    req_get(r, "published"), &v, &n, &f) < 0)
		return req_fault(r, &f);
	for (size_t i = 0; i < n; i++) {
		req_put_index(r, i);
		account_fields(v[i], false, put, r);
	}
	if (n == ACCOUNT_LIST_MAX)
		mm_msg_set_message(r->out, "%d comptes affichés au plus : précisez le statut ou le type",
			ACCOUNT_LIST_MAX);
	entries_free(v, n);
	return 0;
}

static int set_status(struct req *r, const char *status)
{
	static const char *const keys[] = {"login", "reason", AUDIT_KEYS, NULL};
	const char *written = NULL;
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (account_set_status(
		    r->store, r->cfg, &r->who, r->target, status, req_get(r, "reason"), &written, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "login", entry_get(r->target, "uid"));
	req_put(r, "status", written);
	mm_msg_set_message(r->out, "compte %s : %s", entry_get(r->target, "uid"), written);
	return 0;
}

int account_req_suspend(struct req *r)
{
	return set_status(r, MM_STATUS_SUSPENDED);
}

int account_req_reactivate(struct req *r)
{
	return set_status(r, MM_STATUS_ACTIVE);
}

int account_req_close(struct req *r)
{
	return set_status(r, MM_STATUS_CLOSED);
}

int account_req_convert(struct req *r)
{
	static const char *const keys[] = {"login", "rpps", AUDIT_KEYS, NULL};
	char address[256];
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (account_convert(r->store, r->cfg, &r->who, r->target, req_get(r, "rpps"), address, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "login", entry_get(r->target, "uid"));
	req_put(r, "type", MM_TYPE_PER);
	if (address[0])
		req_put(r, "mss_address", address);
	mm_msg_set_message(r->out, "compte %s converti en PER", entry_get(r->target, "uid"));
	return 0;
}

static int org_member(struct req *r, bool add)
{
	static const char *const keys[] = {"org", "member", AUDIT_KEYS, NULL};
	struct entry *org = NULL, *mem = NULL;
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (account_org_member_change(r->store, r->cfg, &r->who, req_get(r, "org"), req_get(r, "member"), add,
		    &org, &mem, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "org", entry_get(org, "uid"));
	req_put(r, "member", entry_get(mem, "uid"));
	mm_msg_set_message(r->out, "%s %s %s", entry_get(mem, "uid"), add ? "ajouté à" : "retiré de",
		entry_get(org, "uid"));
	entry_free(org);
	entry_free(mem);
	return 0;
}

int account_req_org_member_add(struct req *r)
{
	return org_member(r, true);
}

int account_req_org_member_del(struct req *r)
{
	return org_member(r, false);
}

int account_req_cgu_accept(struct req *r)
{
	static const char *const keys[] = {"login", AUDIT_KEYS, NULL};
	char stamp[16];
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (account_cgu_accept(r->store, r->cfg, &r->who, r->target, stamp, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "cgu_accepted_at", stamp);
	return 0;
}

int account_req_publish(struct req *r)
{
	static const char *const keys[] = {"login", AUDIT_KEYS, NULL};
	char address[256];
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (account_publish(r->store, r->cfg, &r->who, r->target, address, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "login", entry_get(r->target, "uid"));
	req_put(r, "mss_address", address);
	mm_msg_set_message(r->out, "adresse MSSanté %s publiée dans l'annuaire santé", address);
	return 0;
}

int account_req_mss_grant(struct req *r)
{
	static const char *const keys[] = {"login", AUDIT_KEYS, NULL};
	char address[256];
	bool notice_failed;
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (account_mss_grant(r->store, r->cfg, &r->who, r->target, address, &notice_failed, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "login", entry_get(r->target, "uid"));
	req_put(r, "mss_address", address);
	if (notice_failed)
		mm_msg_set_message(
			r->out, "adresse %s attribuée, mais l'e-mail n'a pas pu être envoyé", address);
	else
		mm_msg_set_message(
			r->out, "adresse MSSanté %s attribuée à %s", address, entry_get(r->target, "uid"));
	return 0;
}

static int struct_admin(struct req *r, bool add)
{
	static const char *const keys[] = {"login", "struct_type", "struct_id", AUDIT_KEYS, NULL};
	char key[32];
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (account_struct_admin_change(r->store, r->cfg, &r->who, r->target, req_get(r, "struct_type"),
		    req_get(r, "struct_id"), add, key, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "login", entry_get(r->target, "uid"));
	req_put(r, "struct_admin", key);
	mm_msg_set_message(r->out, "%s %s gestionnaire de %s", entry_get(r->target, "uid"),
		add ? "est" : "n'est plus", key[0] ? key : "aucune structure");
	return 0;
}

int account_req_struct_admin_add(struct req *r)
{
	return struct_admin(r, true);
}

int account_req_struct_admin_del(struct req *r)
{
	return struct_admin(r, false);
}

static int operator_change(struct req *r, bool add)
{
	static const char *const keys[] = {"login", AUDIT_KEYS, NULL};
	struct fault f = {0};
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	if (account_operator_change(r->store, r->cfg, &r->who, r->target, add, &f) < 0)
		return req_fault(r, &f);
	req_put(r, "login", entry_get(r->target, "uid"));
	if (add)
		req_put(r, "role", MM_ROLE_OPERATOR);
	mm_msg_set_message(r->out, "%s %s opérateur du centre de service", entry_get(r->target, "uid"),
		add ? "est" : "n'est plus");
	return 0;
}

int account_req_operator_grant(struct req *r)
{
	return operator_change(r, true);
}

int account_req_operator_revoke(struct req *r)
{
	return operator_change(r, false);
}

struct audit_put {
	struct req *r;
	size_t i;
};

static void put_audit(void *ctx, long long at, const char *line)
{
	struct audit_put *p = ctx;

	req_put_index(p->r, p->i++);
	req_putf(p->r, "at", "%lld", at);
	req_put(p->r, "line", line);
}

int account_req_audit_trail(struct req *r)
{
	static const char *const keys[] = {"login", AUDIT_KEYS, NULL};
	const char *login = entry_get(r->target, "uid");
	struct audit_put p = {.r = r};
	size_t n;
	int rc;

	if ((rc = req_keys(r, keys)) < 0)
		return rc;
	req_put(r, "login", login);
	n = audit_trail(login, 200, put_audit, &p);
	mm_msg_set_message(r->out, "%zu événement%s pour %s (ce démon, les plus récents d'abord)", n,
		n > 1 ? "s" : "", login);
	return 0;
}
