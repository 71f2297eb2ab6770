/* "Gérer mon compte": the account settings of the guide (requests 0x07xx of protocol.h).
 *
 * Every function serves one request: it reads its fields from r->in, checks
 * that the caller (r->uid, r->admin) may act on the account, writes the
 * directory, audits the change and fills r->out. The unix-socket server and
 * the HTTP API call the same functions. They return 0 or a negative errno
 * (protocol.h "Status"); a refused field is named by the reply fields
 * "field" and "rule". */
#pragma once

#include "daemon.h"

#define SETTINGS_RESET_TTL 3600 /* seconds a password reset link lives */
#define SETTINGS_RESET_INTERVAL 60 /* at most one reset mail per account per interval */
#define SETTINGS_ENROL_TTL 600 /* seconds an enrolment code lives */
#define SETTINGS_MAX_SIGNATURES 10
/* All of an account's signatures together, so that a list fits in one reply frame. */
#define SETTINGS_SIGNATURES_MAX_BYTES (160u * 1024u)
#define SETTINGS_MAX_DELEGATES 10
#define SETTINGS_MAX_DEVICES 10

/* Informations personnelles, activité */
int settings_profile_get(struct req *r);
int settings_profile_set(struct req *r);
/* Identifiants de connexion: "Mot de passe oublié ?" */
int settings_password_forgot(struct req *r);
int settings_password_reset(struct req *r);
/* Signatures */
int settings_signature_list(struct req *r);
int settings_signature_set(struct req *r);
int settings_signature_del(struct req *r);
/* Réponse automatique */
int settings_autoreply_get(struct req *r);
int settings_autoreply_set(struct req *r);
/* Notifications (and the ORG-to-individual switch of "Identifiants de connexion") */
int settings_notify_get(struct req *r);
int settings_notify_set(struct req *r);
/* Délégations */
int settings_delegate_list(struct req *r);
int settings_delegate_add(struct req *r);
int settings_delegate_del(struct req *r);
/* Dématérialisation */
int settings_demat_get(struct req *r);
int settings_demat_set(struct req *r);
/* Appareils mobiles */
int settings_device_enrol(struct req *r);
int settings_device_complete(struct req *r);
int settings_device_list(struct req *r);
int settings_device_revoke(struct req *r);
int settings_device_verify(struct req *r);

/* Serves any 0x07xx request; -ENOSYS for an unknown one. */
int settings_dispatch(struct req *r);
