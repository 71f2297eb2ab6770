/* Helpers shared by the settings services (not for other folders). */
#pragma once

#include <stdbool.h>

#include "access.h"
#include "fault.h"
#include "json.h"
#include "settings.h"
#include "store.h"

#define SETTINGS_AUX_CLASS "mmSettings"

long long settings_now(void);
bool settings_is_org(const struct entry *e);
/* A stored boolean (TRUE/FALSE), or def when absent. */
bool settings_stored_bool(const struct entry *e, const char *attr, bool def);
/* Refuses a change to a closed account (-EPERM "le compte est clos"). */
int settings_writable(const struct entry *t, struct fault *f) MM_WUR;
/* The settings attributes live in an auxiliary class added on first use. */
void settings_need_aux(struct mods *m, const struct entry *e);
/* Writes m to e and frees it; -EAGAIN when e changed meanwhile. */
int settings_modify(
	struct store *s, const struct entry *e, struct mods *m, const char *what, struct fault *f) MM_WUR;
/* e read again with settings_attrs. */
int settings_reread(
	struct store *s, const struct entry *e, const char *what, struct entry **ret, struct fault *f) MM_WUR;
/* The value of the multi-valued JSON attribute attr whose key is value,
 * parsed in *ret (json_flat_free it) with the stored string in *ret_raw;
 * -ENOENT when none. */
int settings_json_find(const struct entry *e, const char *attr, const char *key, const char *value,
	const char **ret_raw, struct json_flat *ret) MM_WUR;
/* A copy of a stored JSON value's key (NULL when absent); *oom set when the
 * copy failed. */
char *settings_json_dup(const struct json_flat *j, const char *key, bool *oom);
/* 12 hex characters: ids of signatures and devices. */
void settings_new_id(char out[SETTINGS_ID_LEN + 1]);
bool settings_valid_id(const char *s);
bool settings_valid_token(const char *s);
/* Refuses HTML outside the allow-list, naming the field and the rule. */
int settings_check_html(const char *key, const char *v, struct fault *f) MM_WUR;
