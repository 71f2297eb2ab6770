/* The national extraction of the MSSanté view ("Extraction Correspondance
 * MSSanté", DOMAIN.md): 31 '|'-separated columns per mailbox. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "directory.h"
#include "log.h"
#include "validate.h"
#include "dir_view.h"

static const char *const export_header[DIR_EXPORT_COLUMNS] = {
	"Type de BAL",
	"Adresse BAL",
	"Type Identifiant PP",
	"Identifiant PP",
	"Identification nationale PP",
	"Type identifiant structure",
	"Identification Structure",
	"Service de rattachement",
	"Civilité d'exercice",
	"Nom d'exercice",
	"Prénom d'exercice",
	"Catégorie profession",
	"Libellé de catégorie profession",
	"Code Profession",
	"Libellé Profession",
	"Code savoir-faire",
	"Libellé savoir-faire",
	"Dématérialisation",
	"Raison Sociale structure BAL",
	"Enseigne commerciale structure BAL",
	"L2COMPLEMENTLOCALISATION",
	"L3COMPLEMENTDISTRIBUTION",
	"L4NUMEROVOIE",
	"L4COMPLEMENTNUMEROVOIE",
	"NL4TYPEVOIE",
	"L4LIBELLEVOIE",
	"L5LIEUDITMENTION",
	"L6LIGNEACHEMINEMENT",
	"Code postal",
	"Département",
	"Pays",
};

static const char *const export_attrs[] = {"mmAccountType", "mmMssAddress", "mmRpps", "mmAdeli",
	"mmNationalId", "mmStructIdType", "mmStructId", "ou", "sn", "givenName", "mmProfessionCode",
	"mmSpeciality", "mmDematerialisation", "o", "street", "postalCode", "l", "mmDepartment", NULL};

#define EXPORT_VALUE_MAX 512

/* A bounded cursor over the output line. */
struct line {
	char *p;
	size_t len, cap;
	bool full;
};

/* Appends a value: '|' and control characters become spaces (the format has
 * no quoting), cut at EXPORT_VALUE_MAX bytes on a UTF-8 boundary. */
static void line_value(struct line *l, const char *v)
{
	size_t n = v ? strlen(v) : 0;

	if (n > EXPORT_VALUE_MAX) {
		n = EXPORT_VALUE_MAX;
		while (n && ((unsigned char)v[n] & 0xc0) == 0x80)
			n--;
	}
	if (l->len + n + 1 >= l->cap) {
		l->full = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];
		l->p[l->len++] = (ch == '|' || ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
	}
	l->p[l->len] = '\0';
}

static void line_sep(struct line *l)
{
	if (l->len + 2 >= l->cap) {
		l->full = true;
		return;
	}
	l->p[l->len++] = '|';
	l->p[l->len] = '\0';
}

/* Département of a postcode: 2A/2B for Corsica, three digits overseas. */
static void department_of(const char *pc, char out[4])
{
	out[0] = '\0';
	if (!pc || strlen(pc) != 5 || strspn(pc, "0123456789") != 5)
		return;
	if (!strncmp(pc, "20", 2))
		snprintf(out, 4, "%s", pc[2] <= '1' ? "2A" : "2B");
	else if (!strncmp(pc, "97", 2) || !strncmp(pc, "98", 2))
		snprintf(out, 4, "%.3s", pc);
	else
		snprintf(out, 4, "%.2s", pc);
}

int dir_export_line(const struct entry *e, char *out, size_t outsz)
{
	const char *type = entry_get(e, "mmAccountType"), *addr = entry_get(e, "mmMssAddress");
	const char *rpps = entry_get(e, "mmRpps"), *adeli = entry_get(e, "mmAdeli");
	const char *stype = entry_get(e, "mmStructIdType"), *sid = entry_get(e, "mmStructId");
	const char *prof = entry_get(e, "mmProfessionCode"), *street = entry_get(e, "street");
	const char *pc = entry_get(e, "postalCode"), *city = entry_get(e, "l");
	const char *dep = entry_get(e, "mmDepartment"), *demat = entry_get(e, "mmDematerialisation");
	const char *cols[DIR_EXPORT_COLUMNS] = {0};
	char idnat[300] = "", idstruct[32] = "", num[16] = "", compl [8] = "", acheminement[160] = "",
	     dept[4] = "";
	const char *voie = street;
	bool org = type && !strcmp(type, MM_TYPE_ORG);
	struct line l = {out, 0, outsz, false};

	if (!type || !addr || outsz < 2)
		return -EINVAL;
	cols[0] = org ? "ORG" : "PER";
	cols[1] = addr;
	if (!org) {
		if (rpps) {
			cols[2] = "8";
			cols[3] = rpps;
			snprintf(idnat, sizeof(idnat), "8%s", rpps);
		} else if (adeli) {
			cols[2] = "0";
			cols[3] = adeli;
			snprintf(idnat, sizeof(idnat), "0%s", adeli);
		} else {
			/* No national id yet (INT): "10" + the MSSanté address. */
			cols[2] = "10";
			cols[3] = addr;
			snprintf(idnat, sizeof(idnat), "10%s", addr);
		}
		cols[4] = idnat;
	}
	if (stype && sid) {
		cols[5] = !strcmp(stype, "FINESS") ? "1" : !strcmp(stype, "SIREN") ? "2" : "3";
		snprintf(idstruct, sizeof(idstruct), "%s%s", cols[5], sid);
		cols[6] = idstruct;
	}
	cols[7] = entry_get(e, "ou");
	if (!org) {
		cols[9] = entry_get(e, "sn");
		cols[10] = entry_get(e, "givenName");
		/* TRE_R09 category: civilian (the guides know no other). */
		cols[11] = "C";
		cols[12] = "Civil";
		cols[13] = prof;
		cols[14] = prof ? profession_label(prof) : NULL;
		cols[16] = entry_get(e, "mmSpeciality");
	}
	cols[17] = demat && !strcasecmp(demat, "FALSE") ? "N" : "O";
	cols[18] = entry_get(e, "o");
	/* "12 bis rue X" -> number 12, complement B, way "rue X". */
	if (street) {
		size_t d = strspn(street, "0123456789");
		if (d > 0 && d < sizeof(num) && (street[d] == ' ' || street[d] == '\0')) {
			memcpy(num, street, d);
			num[d] = '\0';
			voie = street + d + strspn(street + d, " ");
			if (!strncasecmp(voie, "bis ", 4) || !strncasecmp(voie, "ter ", 4)) {
				snprintf(compl, sizeof(compl ), "%c",
					voie[0] == 'b' || voie[0] == 'B' ? 'B' : 'T');
				voie += 4;
			}
		}
	}
	cols[22] = num;
	cols[23] = compl ;
	cols[25] = voie;
	if (pc && city) {
		char folded[128];
		if (text_fold(city, ' ', folded, sizeof(folded)) > 0) {
			for (char *p = folded; *p; p++)
				if (*p >= 'a' && *p <= 'z')
					*p = (char)(*p - 'a' + 'A');
			snprintf(acheminement, sizeof(acheminement), "%s %s", pc, folded);
		}
	}
	cols[27] = acheminement;
	cols[28] = pc;
	if (dep)
		snprintf(dept, sizeof(dept), "%.3s", dep);
	else
		department_of(pc, dept);
	cols[29] = dept;
	cols[30] = "France";
	for (size_t i = 0; i < DIR_EXPORT_COLUMNS; i++) {
		if (i)
			line_sep(&l);
		line_value(&l, cols[i]);
	}
	return l.full ? -ENOSPC : (int)l.len;
}

struct export_ctx {
	dir_emit_fn emit;
	void *ctx;
	char *chunk;
	size_t len;
	size_t count;
};

static int export_flush(struct export_ctx *x)
{
	int rc = 0;

	if (x->len)
		rc = x->emit(x->ctx, x->chunk, x->len);
	x->len = 0;
	return rc;
}

static int export_add(struct export_ctx *x, const char *line, size_t n)
{
	int rc;

	if (x->len + n + 1 > DIR_EXPORT_CHUNK && (rc = export_flush(x)) < 0)
		return rc;
	memcpy(x->chunk + x->len, line, n);
	x->chunk[x->len + n] = '\n';
	x->len += n + 1;
	return 0;
}

static int export_entry(const struct entry *e, void *p)
{
	struct export_ctx *x = p;
	char line[DIR_EXPORT_COLUMNS * (EXPORT_VALUE_MAX + 1) + 1];
	int n = dir_export_line(e, line, sizeof(line));

	if (n < 0) {
		/* An entry the view admitted but that cannot make a line: skip it, say so. */
		log_msg(LOG_WARNING, "export: %s skipped (%s)", e->dn, strerror(-n));
		return 0;
	}
	x->count++;
	return export_add(x, line, (size_t)n);
}

int dir_export(struct store *s, const struct mm_config *c, const struct caller *who, dir_emit_fn emit,
	void *ctx, size_t *ret_count, struct fault *f)
{
	struct export_ctx x = {emit, ctx, NULL, 0, 0};
	char header[1024] = "";
	size_t seen = 0, o = 0;
	int rc;

	*ret_count = 0;
	x.chunk = malloc(DIR_EXPORT_CHUNK);
	if (!x.chunk)
		return fault_set(f, -ENOMEM, "mémoire insuffisante");
	for (size_t i = 0; i < DIR_EXPORT_COLUMNS; i++)
		o += (size_t)snprintf(header + o, sizeof(header) - o, "%s%s", i ? "|" : "", export_header[i]);
	rc = export_add(&x, header, o);
	if (rc == 0)
		rc = store_search_each(s, c->ldap_base, LDAP_SCOPE_SUBTREE, "(&" VIEW_MSSANTE ")",
			export_attrs, export_entry, &x, &seen);
	if (rc == 0)
		rc = export_flush(&x);
	free(x.chunk);
	*ret_count = x.count;
	caller_audit(who, "export", NULL, NULL, rc == 0, rc == 0 ? "mssante extraction" : strerror(-rc));
	if (rc < 0)
		return dir_store_fault(f, rc, "export");
	return 0;
}
