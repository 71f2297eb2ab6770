/* The unix socket's "Gérer mon compte" requests (0x07xx): adapters over settings.h. */
#pragma once

#include "request.h"

int settings_req_profile_get(struct req *r);
int settings_req_profile_set(struct req *r);
int settings_req_password_forgot(struct req *r);
int settings_req_password_reset(struct req *r);
int settings_req_email_change(struct req *r);
int settings_req_email_confirm(struct req *r);
int settings_req_signature_list(struct req *r);
int settings_req_signature_set(struct req *r);
int settings_req_signature_del(struct req *r);
int settings_req_autoreply_get(struct req *r);
int settings_req_autoreply_set(struct req *r);
int settings_req_notify_get(struct req *r);
int settings_req_notify_set(struct req *r);
int settings_req_delegate_list(struct req *r);
int settings_req_delegate_add(struct req *r);
int settings_req_delegate_del(struct req *r);
int settings_req_demat_get(struct req *r);
int settings_req_demat_set(struct req *r);
int settings_req_device_enrol(struct req *r);
int settings_req_device_complete(struct req *r);
int settings_req_device_list(struct req *r);
int settings_req_device_revoke(struct req *r);
int settings_req_device_verify(struct req *r);
int settings_req_app_password_create(struct req *r);
int settings_req_app_password_list(struct req *r);
int settings_req_app_password_revoke(struct req *r);
int settings_req_managers_get(struct req *r);
