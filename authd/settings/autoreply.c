/* "Réponse automatique": an out-of-office reply over a window of days. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "settings_int.h"
#include "validate.h"

int settings_parse_date(const char *v, bool end, long long *ret)
{
	struct tm tm = {0};
	int y, mo, d;
	char tail;
	time_t t;

	if (strlen(v) == 15 && v[14] == 'Z') {
		long long x = store_parse_time(v);

		if (x < 0)
			return -EINVAL;
		*ret = x;
		return 0;
	}
	if (strlen(v) != 10 || sscanf(v, "%4d-%2d-%2d%c", &y, &mo, &d, &tail) != 3 || v[4] != '-' ||
		v[7] != '-')
		return -EINVAL;
	if (y < 2000 || y > 2199 || mo < 1 || mo > 12 || d < 1 || d > 31)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	t = timegm(&tm);
	/* timegm normalises 31 February: refuse what it moved. */
	if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != mo - 1)
		return -EINVAL;
	*ret = (long long)t + (end ? 86399 : 0);
	return 0;
}

void settings_autoreply_view(const struct entry *t, long long now, struct settings_autoreply *ret)
{
	const char *s = entry_get(t, "mmAutoReplyStart"), *e = entry_get(t, "mmAutoReplyEnd");

	memset(ret, 0, sizeof(*ret));
	ret->login = entry_get(t, "uid");
	ret->enabled = settings_stored_bool(t, "mmAutoReplyActive", false);
	ret->start = s;
	ret->end = e;
	ret->subject = entry_get(t, "mmAutoReplySubject");
	ret->body = entry_get(t, "mmAutoReplyBody");
	ret->active_now = ret->enabled && s && e && store_parse_time(s) <= now && now <= store_parse_time(e);
}

/* The window as it will be stored: given dates, else the stored ones (-1: none). */
static int window(const struct entry *t, const struct settings_autoreply_change *in, long long *ts,
	long long *te, struct fault *f)
{
	const char *s = t ? entry_get(t, "mmAutoReplyStart") : NULL,
		   *e = t ? entry_get(t, "mmAutoReplyEnd") : NULL;

	*ts = *te = -1;
	if (in->start && *in->start && settings_parse_date(in->start, false, ts) < 0)
		return fault_field(f, "start", "syntax", "date de début : AAAA-MM-JJ attendu");
	if (in->end && *in->end && settings_parse_date(in->end, true, te) < 0)
		return fault_field(f, "end", "syntax", "date de fin : AAAA-MM-JJ attendu");
	if (!in->start && s)
		*ts = store_parse_time(s);
	if (!in->end && e)
		*te = store_parse_time(e);
	return 0;
}

static bool present(const char *given, const struct entry *t, const char *attr)
{
	return given ? *given != '\0' : (t && entry_get(t, attr) != NULL);
}

/* What can be checked before the account is read. */
static int syntax(const struct settings_autoreply_change *in, struct fault *f)
{
	long long x;

	if (in->start && *in->start && settings_parse_date(in->start, false, &x) < 0)
		return fault_field(f, "start", "syntax", "date de début : AAAA-MM-JJ attendu");
	if (in->end && *in->end && settings_parse_date(in->end, true, &x) < 0)
		return fault_field(f, "end", "syntax", "date de fin : AAAA-MM-JJ attendu");
	if (in->subject && *in->subject && validate_text(in->subject, 255) < 0)
		return fault_field(
			f, "subject", "characters", "objet : 255 octets au plus, sans caractère de contrôle");
	if (in->body && *in->body)
		return settings_check_html("body", in->body, f);
	return 0;
}

int settings_autoreply_check(
	const struct entry *t, const struct settings_autoreply_change *in, struct fault *f)
{
	long long ts, te;
	const char *missing;
	bool on;
	int rc;

	if ((rc = window(t, in, &ts, &te, f)) < 0)
		return rc;
	if ((rc = syntax(in, f)) < 0)
		return rc;
	/* The window and the switch are checked on what will be stored. */
	if (ts >= 0 && te >= 0 && te < ts)
		return fault_field(f, "end", "before_start", "la date de fin précède la date de début");
	on = in->enabled == 1 ||
		(in->enabled == -1 && t && settings_stored_bool(t, "mmAutoReplyActive", false));
	if (!on)
		return 0;
	missing = ts < 0                                         ? "start"
		: te < 0                                         ? "end"
		: !present(in->subject, t, "mmAutoReplySubject") ? "subject"
		: !present(in->body, t, "mmAutoReplyBody")       ? "body"
								 : NULL;
	if (missing)
		return fault_field(f, missing, "required",
			"%s : obligatoire pour activer la réponse automatique", missing);
	return 0;
}

int settings_autoreply_set(struct store *s, const struct mm_config *c, const struct caller *who,
	const struct entry *t, const struct settings_autoreply_change *in, struct entry **ret,
	struct fault *f)
{
	char s_start[16], s_end[16];
	long long ts, te;
	struct mods m;
	bool on;
	int rc;

	(void)c;
	*ret = NULL;
	if ((rc = syntax(in, f)) < 0 || (rc = settings_writable(t, f)) < 0 ||
		(rc = settings_autoreply_check(t, in, f)) < 0 || (rc = window(t, in, &ts, &te, f)) < 0)
		return rc;
	on = in->enabled == 1 || (in->enabled == -1 && settings_stored_bool(t, "mmAutoReplyActive", false));
	mods_init(&m);
	settings_need_aux(&m, t);
	if (in->enabled >= 0)
		mods_add(&m, LDAP_MOD_REPLACE, "mmAutoReplyActive", in->enabled ? "TRUE" : "FALSE");
	if (in->start) {
		if (ts >= 0)
			store_time(ts, s_start);
		mods_add(&m, LDAP_MOD_REPLACE, "mmAutoReplyStart", ts >= 0 ? s_start : NULL);
	}
	if (in->end) {
		if (te >= 0)
			store_time(te, s_end);
		mods_add(&m, LDAP_MOD_REPLACE, "mmAutoReplyEnd", te >= 0 ? s_end : NULL);
	}
	if (in->subject)
		mods_add(&m, LDAP_MOD_REPLACE, "mmAutoReplySubject", *in->subject ? in->subject : NULL);
	if (in->body)
		mods_add(&m, LDAP_MOD_REPLACE, "mmAutoReplyBody", *in->body ? in->body : NULL);
	if ((rc = settings_modify(s, t, &m, "réponse automatique", f)) < 0)
		return rc;
	caller_audit(who, "autoreply-set", NULL, entry_get(t, "uid"), true, on ? "enabled" : "disabled");
	return settings_reread(s, t, "réponse automatique", ret, f);
}
