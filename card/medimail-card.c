/* medimail-card: the only process that loads a PKCS#11 module; signs the daemon's challenge with the card. */
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <PCSC/winscard.h>
#include <p11-kit/pkcs11.h>

#include "cardproto.h"
#include "wire.h"

#define IO_TIMEOUT_MS 10000
#define LABEL_MAX 256

static CK_FUNCTION_LIST_PTR p11;
static void *module_handle;
/* Set once the PIN went to the card: every later reply says so, whatever
 * C_Login answers (a card pulled while it checks the PIN has counted it). */
static bool pin_tried;

struct token_spec {
	char token[LABEL_MAX];
	char manufacturer[LABEL_MAX];
	char serial[LABEL_MAX];
	char model[LABEL_MAX];
	char object[LABEL_MAX];
	bool has_token, has_manufacturer, has_serial, has_model, has_object;
};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes an RFC 7512 attribute value into out. */
static int pct_decode(const char *s, size_t n, char *out, size_t outsz)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			int h, l;
			if (i + 2 >= n || (h = hexval(s[i + 1])) < 0 || (l = hexval(s[i + 2])) < 0)
				return -EINVAL;
			c = h * 16 + l;
			i += 2;
		}
		if (c == 0 || o + 1 >= outsz)
			return -EINVAL;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* A token is named by its label, or by a PKCS#11 URI (RFC 7512) path. */
static int token_spec_parse(const char *s, struct token_spec *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (!s || !*s)
		return 0;
	if (strncmp(s, "pkcs11:", 7)) {
		if (strlen(s) >= LABEL_MAX)
			return -EINVAL;
		strcpy(ret->token, s);
		ret->has_token = true;
		return 0;
	}
	s += 7;
	while (*s && *s != '?') {
		size_t n = strcspn(s, ";?");
		const char *eq = memchr(s, '=', n);
		char *dst = NULL;
		bool *flag = NULL;
		size_t klen;

		if (!eq)
			return -EINVAL;
		klen = (size_t)(eq - s);
#define K(name, field)                                                                                       \
	if (klen == strlen(name) && !strncmp(s, name, klen)) {                                               \
		dst = ret->field;                                                                            \
		flag = &ret->has_##field;                                                                    \
	}
		K("token", token)
		else K("manufacturer", manufacturer) else K("serial", serial) else K("model", model) else K(
			"object", object)
#undef K
			if (dst)
		{
			if (pct_decode(eq + 1, n - klen - 1, dst, LABEL_MAX) < 0)
				return -EINVAL;
			*flag = true;
		}
		else if (!(klen == 4 && !strncmp(s, "type", 4)) && !(klen == 2 && !strncmp(s, "id", 2)))
		{
			return -EINVAL; /* an attribute we would silently ignore */
		}
		s += n;
		if (*s == ';')
			s++;
	}
	return 0;
}

/* A blank-padded PKCS#11 UTF-8 field equals a C string. */
static bool padded_eq(const unsigned char *field, size_t len, const char *want)
{
	size_t n = len;

	while (n > 0 && (field[n - 1] == ' ' || field[n - 1] == '\0'))
		n--;
	return strlen(want) == n && !memcmp(field, want, n);
}

static void padded_copy(const unsigned char *field, size_t len, char *out, size_t outsz)
{
	size_t n = len;

	while (n > 0 && (field[n - 1] == ' ' || field[n - 1] == '\0'))
		n--;
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, field, n);
	out[n] = '\0';
}

static bool token_matches(const CK_TOKEN_INFO *ti, const struct token_spec *spec)
{
	return (!spec->has_token || padded_eq(ti->label, sizeof(ti->label), spec->token)) &&
		(!spec->has_manufacturer ||
			padded_eq(ti->manufacturerID, sizeof(ti->manufacturerID), spec->manufacturer)) &&
		(!spec->has_serial || padded_eq(ti->serialNumber, sizeof(ti->serialNumber), spec->serial)) &&
		(!spec->has_model || padded_eq(ti->model, sizeof(ti->model), spec->model));
}

static const char *rv_result(CK_RV rv)
{
	switch (rv) {
	case CKR_PIN_INCORRECT: return "pin_incorrect";
	case CKR_PIN_LOCKED: return "pin_locked";
	case CKR_PIN_LEN_RANGE:
	case CKR_PIN_INVALID: return "pin_invalid";
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_DEVICE_REMOVED:
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_SLOT_ID_INVALID: return "no_card";
	default: return "module_error";
	}
}

static int module_load(const char *path, const char **why)
{
	CK_C_GetFunctionList getfl;
	CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
	CK_RV rv;

	module_handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!module_handle) {
		*why = "cannot load the PKCS#11 module";
		return -ENOENT;
	}
	getfl = (CK_C_GetFunctionList)dlsym(module_handle, "C_GetFunctionList");
	if (!getfl || getfl(&p11) != CKR_OK || !p11) {
		*why = "not a PKCS#11 module";
		return -EINVAL;
	}
	rv = p11->C_Initialize(&args);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		*why = "C_Initialize failed";
		return -EIO;
	}
	return 0;
}

static void module_unload(void)
{
	if (p11)
		p11->C_Finalize(NULL);
	p11 = NULL;
}

/* Finds the slot holding the wanted token; -ENODEV when none does. */
static int slot_find(const struct token_spec *spec, CK_SLOT_ID *ret, CK_TOKEN_INFO *ret_info)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64;
	CK_RV rv = p11->C_GetSlotList(CK_TRUE, slots, &n);

	if (rv != CKR_OK)
		return -EIO;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		if (p11->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (!(ti.flags & CKF_TOKEN_INITIALIZED) || !token_matches(&ti, spec))
			continue;
		*ret = slots[i];
		*ret_info = ti;
		return 0;
	}
	return -ENODEV;
}

/* PC/SC: is a card in the configured reader? "present", "no_card" or "no_reader". */
static const char *reader_state(const char *reader)
{
	SCARDCONTEXT ctx;
	SCARD_READERSTATE rs = {.szReader = reader, .dwCurrentState = SCARD_STATE_UNAWARE};
	const char *res;

	if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx) != SCARD_S_SUCCESS)
		return "no_reader";
	if (SCardGetStatusChange(ctx, 0, &rs, 1) != SCARD_S_SUCCESS ||
		(rs.dwEventState & SCARD_STATE_UNKNOWN))
		res = "no_reader";
	else if (rs.dwEventState & SCARD_STATE_PRESENT)
		res = "present";
	else
		res = "no_card";
	SCardReleaseContext(ctx);
	return res;
}

static int hex_decode(const char *s, unsigned char *out, size_t max, size_t *ret_len)
{
	size_t n = strlen(s);

	if (n % 2 || n / 2 > max)
		return -EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		int h = hexval(s[2 * i]), l = hexval(s[2 * i + 1]);
		if (h < 0 || l < 0)
			return -EINVAL;
		out[i] = (unsigned char)(h * 16 + l);
	}
	*ret_len = n / 2;
	return 0;
}

static int put_hex(struct mm_msg *m, const char *key, const unsigned char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *s = malloc(2 * n + 1);
	int r;

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 15];
	}
	s[2 * n] = '\0';
	r = mm_msg_add(m, key, s);
	free(s);
	return r;
}

static int reply(int fd, uint16_t code, const char *result, const char *detail, struct mm_msg *extra)
{
	struct mm_msg *m = extra ? extra : mm_msg_new(code, true);
	int r;

	if (!m)
		return -ENOMEM;
	m->status =
		strcmp(result, "ok") && strcmp(result, "present") && strcmp(result, "removed") ? -EACCES : 0;
	mm_msg_set_message(m, "%s", detail ? detail : "");
	r = pin_tried ? mm_msg_add(m, "pin_tried", "yes") : 0;
	if (r == 0 && (r = mm_msg_add(m, "result", result)) == 0)
		r = mm_msg_send(fd, m, IO_TIMEOUT_MS);
	mm_msg_free(m);
	return r;
}

static int get_attr(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, unsigned char *buf,
	size_t max, size_t *ret_len)
{
	CK_ATTRIBUTE a = {type, NULL, 0};

	if (p11->C_GetAttributeValue(s, o, &a, 1) != CKR_OK || a.ulValueLen == (CK_ULONG)-1 ||
		a.ulValueLen > max)
		return -EIO;
	a.pValue = buf;
	if (p11->C_GetAttributeValue(s, o, &a, 1) != CKR_OK)
		return -EIO;
	*ret_len = a.ulValueLen;
	return 0;
}

/* The first object matching the template; -ENOENT when none. */
static int find_one(CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *ret)
{
	CK_ULONG found = 0;
	CK_RV rv = p11->C_FindObjectsInit(s, tmpl, n);

	if (rv != CKR_OK)
		return -EIO;
	rv = p11->C_FindObjects(s, ret, 1, &found);
	p11->C_FindObjectsFinal(s);
	if (rv != CKR_OK)
		return -EIO;
	return found ? 0 : -ENOENT;
}

/* The token a request names, as SIGN and READ open it. */
struct token {
	CK_SLOT_ID slot;
	CK_TOKEN_INFO ti;
	CK_SESSION_HANDLE sess;
	char label[40]; /* the token's label, for the daemon's removal watch */
	unsigned char *cert; /* the certificate's DER (MM_CARD_CERT_MAX bytes allocated) */
	size_t cert_len;
	unsigned char id[256]; /* its CKA_ID, to find the key */
	size_t id_len;
};

/* Finds the token: the configured reader holds a card (PC/SC), the module
 * loads, a slot holds the token spec names. NULL, or the result to answer
 * (*ret_detail says which step). token_close() in every case. */
static const char *token_find(const char *module, const char *reader, const struct token_spec *spec,
	struct token *t, const char **ret_detail)
{
	int r;

	memset(t, 0, sizeof(*t));
	t->sess = CK_INVALID_HANDLE;
	if (reader && *reader) {
		const char *st = reader_state(reader);
		if (strcmp(st, "present")) {
			*ret_detail = "PC/SC";
			return st;
		}
	}
	if (module_load(module, ret_detail) < 0)
		return "module_error";
	r = slot_find(spec, &t->slot, &t->ti);
	if (r < 0) {
		*ret_detail = "token";
		return r == -ENODEV ? "no_card" : "module_error";
	}
	padded_copy(t->ti.label, sizeof(t->ti.label), t->label, sizeof(t->label));
	return NULL;
}

/* Finds the token, refuses a locked PIN, opens a session and reads the
 * certificate labelled label (and its CKA_ID when want_id), all without the
 * PIN. NULL, or the result to answer (*ret_detail says which step). */
static const char *token_open(const char *module, const char *reader, const struct token_spec *spec,
	const char *label, bool want_id, struct token *t, const char **ret_detail)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ctype = CKC_X_509;
	CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_CERTIFICATE_TYPE, &ctype, sizeof(ctype)},
		{CKA_LABEL, (void *)label, strlen(label)}};
	CK_OBJECT_HANDLE ocert;
	const char *res;
	CK_RV rv;

	if ((res = token_find(module, reader, spec, t, ret_detail)))
		return res;
	if (t->ti.flags & CKF_USER_PIN_LOCKED) {
		*ret_detail = "token flags";
		return "pin_locked";
	}
	rv = p11->C_OpenSession(t->slot, CKF_SERIAL_SESSION, NULL, NULL, &t->sess);
	if (rv != CKR_OK) {
		t->sess = CK_INVALID_HANDLE;
		*ret_detail = "C_OpenSession";
		return rv_result(rv);
	}
	*ret_detail = "certificate";
	t->cert = malloc(MM_CARD_CERT_MAX);
	if (!t->cert || find_one(t->sess, tmpl, 3, &ocert) < 0 ||
		get_attr(t->sess, ocert, CKA_VALUE, t->cert, MM_CARD_CERT_MAX, &t->cert_len) < 0 ||
		(want_id && get_attr(t->sess, ocert, CKA_ID, t->id, sizeof(t->id), &t->id_len) < 0))
		return "no_cert";
	*ret_detail = NULL;
	return NULL;
}

static void token_close(struct token *t)
{
	if (t->sess != CK_INVALID_HANDLE)
		p11->C_CloseSession(t->sess);
	free(t->cert);
	module_unload();
	memset(t, 0, sizeof(*t));
	t->sess = CK_INVALID_HANDLE;
}

static int op_sign(int fd, const struct mm_msg *req)
{
	const char *module = mm_msg_get(req, "module"), *reader = mm_msg_get(req, "reader");
	const char *label = mm_msg_get(req, "cert_label"), *pin = mm_msg_get(req, "pin");
	const char *chal_hex = mm_msg_get(req, "challenge"), *expect_hex = mm_msg_get(req, "expect_cert");
	const char *res, *detail = NULL;
	unsigned char chal[MM_CARD_CHALLENGE_MAX], sig[MM_CARD_SIG_MAX];
	unsigned char *expect = NULL;
	size_t chal_len = 0, expect_len = 0;
	CK_ULONG sig_len = sizeof(sig);
	struct token_spec spec;
	struct token t = {.sess = CK_INVALID_HANDLE};
	CK_OBJECT_HANDLE okey;
	CK_RV rv;
	struct mm_msg *m = NULL;
	int r;

	if (!module || !*module || !label || !pin || !chal_hex ||
		token_spec_parse(mm_msg_get(req, "token"), &spec) < 0 ||
		hex_decode(chal_hex, chal, sizeof(chal), &chal_len) < 0 || chal_len < MM_CARD_CHALLENGE_MIN ||
		strlen(pin) > MM_CARD_PIN_MAX)
		return reply(fd, MM_CARD_OP_SIGN, "bad_request", "invalid request", NULL);
	if (expect_hex) {
		if (!(expect = malloc(MM_CARD_CERT_MAX)) ||
			hex_decode(expect_hex, expect, MM_CARD_CERT_MAX, &expect_len) < 0 || !expect_len) {
			free(expect);
			return reply(fd, MM_CARD_OP_SIGN, "bad_request", "invalid expect_cert", NULL);
		}
	}
	if (spec.has_object)
		label = spec.object;
	/* The certificate is public: read in this session, before the PIN. A card
	 * swapped since the daemon read it (and mapped it to an account) is not
	 * the card this PIN was allowed for; a removal ends the session, so the
	 * card that logs in below is the one compared here. */
	if ((res = token_open(module, reader, &spec, label, true, &t, &detail))) {
		r = reply(fd, MM_CARD_OP_SIGN, res, detail, NULL);
		goto out;
	}
	if (expect && (expect_len != t.cert_len || memcmp(expect, t.cert, t.cert_len))) {
		r = reply(fd, MM_CARD_OP_SIGN, "card_changed", "certificate", NULL);
		goto out;
	}
	/* A length the token refuses never reaches the card. */
	if (t.ti.ulMaxPinLen && t.ti.ulMaxPinLen != CK_UNAVAILABLE_INFORMATION &&
		t.ti.ulMinPinLen <= t.ti.ulMaxPinLen &&
		(strlen(pin) < t.ti.ulMinPinLen || strlen(pin) > t.ti.ulMaxPinLen)) {
		r = reply(fd, MM_CARD_OP_SIGN, "pin_invalid", "PIN length", NULL);
		goto out;
	}
	pin_tried = true;
	rv = p11->C_Login(t.sess, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)strlen(pin));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		CK_TOKEN_INFO ti;

		res = rv_result(rv);
		m = mm_msg_new(MM_CARD_OP_SIGN, true);
		/* How many tries are left, as far as the token tells. */
		if (m && rv == CKR_PIN_INCORRECT && p11->C_GetTokenInfo(t.slot, &ti) == CKR_OK) {
			if (ti.flags & CKF_USER_PIN_LOCKED)
				res = "pin_locked";
			else if (ti.flags & CKF_USER_PIN_FINAL_TRY)
				r = mm_msg_add(m, "tries", "final");
			else if (ti.flags & CKF_USER_PIN_COUNT_LOW)
				r = mm_msg_add(m, "tries", "low");
		}
		r = reply(fd, MM_CARD_OP_SIGN, res, "C_Login", m);
		m = NULL;
		goto out;
	}
	{
		CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
		CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_ID, t.id, t.id_len}};
		if (find_one(t.sess, tmpl, 2, &okey) < 0) {
			r = reply(fd, MM_CARD_OP_SIGN, "no_key", "private key", NULL);
			goto out;
		}
	}
	{
		CK_MECHANISM mech = {CKM_SHA256_RSA_PKCS, NULL, 0};
		rv = p11->C_SignInit(t.sess, &mech, okey);
		if (rv == CKR_OK)
			rv = p11->C_Sign(t.sess, chal, chal_len, sig, &sig_len);
		if (rv != CKR_OK) {
			r = reply(fd, MM_CARD_OP_SIGN, rv_result(rv), "C_Sign", NULL);
			goto out;
		}
	}
	m = mm_msg_new(MM_CARD_OP_SIGN, true);
	if (!m || mm_msg_add(m, "token", t.label) < 0 || put_hex(m, "cert", t.cert, t.cert_len) < 0 ||
		put_hex(m, "sig", sig, sig_len) < 0) {
		mm_msg_free(m);
		r = reply(fd, MM_CARD_OP_SIGN, "module_error", "out of memory", NULL);
		goto out;
	}
	r = reply(fd, MM_CARD_OP_SIGN, "ok", NULL, m);
out:
	if (t.sess != CK_INVALID_HANDLE)
		p11->C_Logout(t.sess);
	token_close(&t);
	free(expect);
	return r;
}

/* Has the daemon closed its end? Also serves as the wait between polls. */
static bool daemon_gone(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int n = poll(&p, 1, ms);

	return n > 0 || (n < 0 && errno != EINTR);
}

static int op_watch(int fd, const struct mm_msg *req)
{
	const char *module = mm_msg_get(req, "module"), *reader = mm_msg_get(req, "reader");
	const char *poll_s = mm_msg_get(req, "poll_ms"), *why = NULL;
	struct token_spec spec;
	CK_SLOT_ID slot;
	CK_TOKEN_INFO ti;
	long poll_ms = poll_s ? strtol(poll_s, NULL, 10) : 1000;
	int r;

	if (!module || !*module || token_spec_parse(mm_msg_get(req, "token"), &spec) < 0 || poll_ms < 50 ||
		poll_ms > 60000)
		return reply(fd, MM_CARD_OP_WATCH, "bad_request", "invalid request", NULL);
	if (reader && *reader) {
		SCARDCONTEXT ctx;
		SCARD_READERSTATE rs = {.szReader = reader, .dwCurrentState = SCARD_STATE_UNAWARE};
		LONG rc;

		if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx) != SCARD_S_SUCCESS)
			return reply(fd, MM_CARD_OP_WATCH, "no_reader", "PC/SC", NULL);
		rc = SCardGetStatusChange(ctx, 0, &rs, 1);
		if (rc != SCARD_S_SUCCESS || !(rs.dwEventState & SCARD_STATE_PRESENT)) {
			SCardReleaseContext(ctx);
			return reply(fd, MM_CARD_OP_WATCH, rc == SCARD_S_SUCCESS ? "no_card" : "no_reader",
				"PC/SC", NULL);
		}
		if ((r = reply(fd, MM_CARD_OP_WATCH, "present", NULL, NULL)) < 0) {
			SCardReleaseContext(ctx);
			return r;
		}
		/* Wait for the card to leave, checking between waits that the daemon still listens. */
		for (;;) {
			rs.dwCurrentState = rs.dwEventState & ~SCARD_STATE_CHANGED;
			rc = SCardGetStatusChange(ctx, (DWORD)poll_ms, &rs, 1);
			if (rc == SCARD_E_TIMEOUT) {
				/* Still there, said each round: the daemon knows this helper is alive. */
				if (daemon_gone(fd, 0) ||
					reply(fd, MM_CARD_OP_WATCH, "present", NULL, NULL) < 0)
					break;
				continue;
			}
			if (rc != SCARD_S_SUCCESS || !(rs.dwEventState & SCARD_STATE_PRESENT) ||
				(rs.dwEventState & (SCARD_STATE_UNKNOWN | SCARD_STATE_UNAVAILABLE))) {
				r = reply(fd, MM_CARD_OP_WATCH, "removed", "PC/SC", NULL);
				break;
			}
		}
		SCardReleaseContext(ctx);
		return r;
	}
	if (module_load(module, &why) < 0)
		return reply(fd, MM_CARD_OP_WATCH, "module_error", why, NULL);
	if (slot_find(&spec, &slot, &ti) < 0) {
		module_unload();
		return reply(fd, MM_CARD_OP_WATCH, "no_card", "token", NULL);
	}
	if ((r = reply(fd, MM_CARD_OP_WATCH, "present", NULL, NULL)) < 0) {
		module_unload();
		return r;
	}
	/* Poll: a fresh C_Initialize each round, so that modules that only scan
	 * their slots at initialisation (SoftHSM) see a token that went away. */
	module_unload();
	while (!daemon_gone(fd, (int)poll_ms)) {
		bool present;
		if (module_load(module, &why) < 0)
			present = false;
		else
			present = slot_find(&spec, &slot, &ti) == 0;
		module_unload();
		if (!present)
			return reply(fd, MM_CARD_OP_WATCH, "removed", "PKCS#11", NULL);
		/* A heartbeat: a module that hangs in a round leaves the daemon a silence to see. */
		if ((r = reply(fd, MM_CARD_OP_WATCH, "present", NULL, NULL)) < 0)
			return r;
	}
	return 0;
}

/* Is the card there? PC/SC when a reader is configured, else the token's slot. */
static int op_present(int fd, const struct mm_msg *req)
{
	const char *module = mm_msg_get(req, "module"), *reader = mm_msg_get(req, "reader");
	const char *res, *detail = NULL;
	struct token_spec spec;
	struct token t;

	if (!module || !*module || token_spec_parse(mm_msg_get(req, "token"), &spec) < 0)
		return reply(fd, MM_CARD_OP_PRESENT, "bad_request", "invalid request", NULL);
	res = token_find(module, reader, &spec, &t, &detail);
	token_close(&t);
	return reply(fd, MM_CARD_OP_PRESENT, res ? res : "present", detail, NULL);
}

/* The card's certificate and PIN state, read without the PIN. */
static int op_read(int fd, const struct mm_msg *req)
{
	const char *module = mm_msg_get(req, "module"), *reader = mm_msg_get(req, "reader");
	const char *label = mm_msg_get(req, "cert_label"), *res, *detail = NULL;
	struct token_spec spec;
	struct token t;
	struct mm_msg *m = NULL;
	int r;

	if (!module || !*module || !label || token_spec_parse(mm_msg_get(req, "token"), &spec) < 0)
		return reply(fd, MM_CARD_OP_READ, "bad_request", "invalid request", NULL);
	if (spec.has_object)
		label = spec.object;
	if ((res = token_open(module, reader, &spec, label, false, &t, &detail))) {
		r = reply(fd, MM_CARD_OP_READ, res, detail, NULL);
		goto out;
	}
	m = mm_msg_new(MM_CARD_OP_READ, true);
	if (!m || mm_msg_add(m, "token", t.label) < 0 || put_hex(m, "cert", t.cert, t.cert_len) < 0 ||
		((t.ti.flags & CKF_USER_PIN_FINAL_TRY) && mm_msg_add(m, "tries", "final") < 0) ||
		(!(t.ti.flags & CKF_USER_PIN_FINAL_TRY) && (t.ti.flags & CKF_USER_PIN_COUNT_LOW) &&
			mm_msg_add(m, "tries", "low") < 0)) {
		mm_msg_free(m);
		r = reply(fd, MM_CARD_OP_READ, "module_error", "out of memory", NULL);
		goto out;
	}
	r = reply(fd, MM_CARD_OP_READ, "present", NULL, m);
out:
	token_close(&t);
	return r;
}

int main(int argc, char **argv)
{
	struct rlimit no_core = {0, 0};
	struct mm_msg *req = NULL;
	int fd = STDIN_FILENO, r;

	(void)argc;
	(void)argv;
	/* The PIN passes through this process: no core dumps, no ptrace by peers. */
	setrlimit(RLIMIT_CORE, &no_core);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
	r = mm_msg_recv(fd, false, IO_TIMEOUT_MS, &req);
	if (r < 0)
		return 2;
	switch (req->code) {
	case MM_CARD_OP_SIGN: r = op_sign(STDOUT_FILENO, req); break;
	case MM_CARD_OP_WATCH: r = op_watch(STDOUT_FILENO, req); break;
	case MM_CARD_OP_PRESENT: r = op_present(STDOUT_FILENO, req); break;
	case MM_CARD_OP_READ: r = op_read(STDOUT_FILENO, req); break;
	default: r = reply(STDOUT_FILENO, req->code, "bad_request", "unknown operation", NULL); break;
	}
	mm_msg_free(req); /* wipes the PIN */
	return r < 0 ? 1 : 0;
}
