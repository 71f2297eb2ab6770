/* The fake directory of the access tests (fake_accounts.c). */
#pragma once

#define FAKE_MAX 16

struct fake_account {
	char login[32], dn[96], type[4], status[32], members[128];
	char struct_type[8], struct_id[16], struct_admin[64]; /* "" : none */
	unsigned uid; /* uidNumber of an individual account, gidNumber of an ORG; 0: none */
};

/* Look-ups made since fake_reset(). */
extern unsigned fake_lookups;
void fake_reset(void);
/* members: comma-separated logins of an ORG's connection accounts. */
void fake_add(const char *login, const char *type, const char *status, unsigned uid, const char *members);
/* The structure an account was registered with (mmStructIdType, mmStructId). */
void fake_set_structure(const char *login, const char *type, const char *id);
/* The structure administrator role (mmStructAdmin "TYPE:ID") of an account. */
void fake_set_struct_admin(const char *login, const char *value);
