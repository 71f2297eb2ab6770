/* Test PKCS#11 module: SoftHSM2 with the PIN retry counter of a CPS card (3 tries), which SoftHSM lacks. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

/*
 * MM_SHIM_MODULE: the real module (SoftHSM2); MM_SHIM_STATE: a directory
 * where the failure count of each token (by label) is kept across the
 * helper's short-lived processes. After one failure the token reports
 * CKF_USER_PIN_COUNT_LOW, after two CKF_USER_PIN_FINAL_TRY, after three
 * CKF_USER_PIN_LOCKED and C_Login answers CKR_PIN_LOCKED even to the right
 * PIN, as a CPS card does until it is unblocked with its PUK.
 *
 * Two more files in that directory model other cards and readers:
 * <label>.noflags: the module reports none of the PIN counter flags (only the
 * lock), as many do; <label>.pull: the card leaves the reader while it checks
 * the PIN: the try is counted (a card counts before it compares, so that
 * tearing does not save a try) and C_Login answers CKR_DEVICE_REMOVED;
 * <label>.hang: C_GetTokenInfo blocks while the file exists (a hung module).
 */

#define MAX_TRIES 3

static CK_FUNCTION_LIST real_copy, shim;
static CK_FUNCTION_LIST_PTR real;
static CK_SLOT_ID session_slot[4096];

static void state_path_of(CK_SLOT_ID slot, const char *suffix, char *out, size_t outsz)
{
	CK_TOKEN_INFO ti;
	const char *dir = getenv("MM_SHIM_STATE");
	char label[33];
	size_t n;

	out[0] = '\0';
	if (!dir || real->C_GetTokenInfo(slot, &ti) != CKR_OK)
		return;
	memcpy(label, ti.label, 32);
	n = 32;
	while (n > 0 && label[n - 1] == ' ')
		n--;
	label[n] = '\0';
	for (char *p = label; *p; p++)
		if (*p == '/')
			*p = '_';
	snprintf(out, outsz, "%s/%s.%s", dir, label, suffix);
}

static void state_path(CK_SLOT_ID slot, char *out, size_t outsz)
{
	state_path_of(slot, "tries", out, outsz);
}

static int marked(CK_SLOT_ID slot, const char *suffix)
{
	char path[512];
	FILE *f;

	state_path_of(slot, suffix, path, sizeof(path));
	if (!path[0] || !(f = fopen(path, "r")))
		return 0;
	fclose(f);
	return 1;
}

static int failures(CK_SLOT_ID slot)
{
	char path[512];
	FILE *f;
	int n = 0;

	state_path(slot, path, sizeof(path));
	if (!path[0] || !(f = fopen(path, "r")))
		return 0;
	if (fscanf(f, "%d", &n) != 1)
		n = 0;
	fclose(f);
	return n;
}

static void set_failures(CK_SLOT_ID slot, int n)
{
	char path[512];
	FILE *f;

	state_path(slot, path, sizeof(path));
	if (!path[0] || !(f = fopen(path, "w")))
		return;
	fprintf(f, "%d\n", n);
	fclose(f);
}

static CK_RV shim_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	CK_RV rv = real->C_GetTokenInfo(slot, info);
	int n;

	if (rv != CKR_OK)
		return rv;
	/* <label>.hang: a module that blocks in the call (a reader gone mute). */
	while (marked(slot, "hang"))
		sleep(1);
	n = failures(slot);
	info->flags &= ~(CK_FLAGS)(CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED);
	if (n >= MAX_TRIES)
		info->flags |= CKF_USER_PIN_LOCKED;
	else if (marked(slot, "noflags"))
		;
	else if (n == MAX_TRIES - 1)
		info->flags |= CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY;
	else if (n > 0)
		info->flags |= CKF_USER_PIN_COUNT_LOW;
	return CKR_OK;
}

static CK_RV shim_OpenSession(
	CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify, CK_SESSION_HANDLE_PTR ret)
{
	CK_RV rv = real->C_OpenSession(slot, flags, app, notify, ret);

	if (rv == CKR_OK && *ret < 4096)
		session_slot[*ret] = slot;
	return rv;
}

static CK_RV shim_Login(CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	CK_SLOT_ID slot = s < 4096 ? session_slot[s] : 0;
	int n = failures(slot);
	CK_RV rv;

	if (user != CKU_USER)
		return real->C_Login(s, user, pin, len);
	if (n >= MAX_TRIES)
		return CKR_PIN_LOCKED;
	rv = real->C_Login(s, user, pin, len);
	if (rv == CKR_PIN_INCORRECT)
		set_failures(slot, n + 1);
	else if (rv == CKR_OK && n)
		set_failures(slot, 0);
	if (marked(slot, "pull")) {
		if (rv == CKR_OK)
			real->C_Logout(s);
		return CKR_DEVICE_REMOVED;
	}
	return rv;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ret);
CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ret)
{
	const char *path = getenv("MM_SHIM_MODULE");
	CK_C_GetFunctionList getfl;
	void *h;

	if (!real) {
		if (!path || !(h = dlopen(path, RTLD_NOW | RTLD_LOCAL)))
			return CKR_GENERAL_ERROR;
		getfl = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
		if (!getfl || getfl(&real) != CKR_OK)
			return CKR_GENERAL_ERROR;
		real_copy = *real;
		shim = real_copy;
		shim.C_GetTokenInfo = shim_GetTokenInfo;
		shim.C_OpenSession = shim_OpenSession;
		shim.C_Login = shim_Login;
	}
	*ret = &shim;
	return CKR_OK;
}
