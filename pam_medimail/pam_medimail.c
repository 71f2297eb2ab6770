/* pam_medimail: the PAM module of medimail-auth. It gathers the inputs, asks medimail-authd and maps the answer; every rule lives in the daemon. */
#include <dlfcn.h>
#include <errno.h>
#include <nss.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define PAM_SM_AUTH
#define PAM_SM_ACCOUNT
#define PAM_SM_SESSION
#define PAM_SM_PASSWORD
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "nsswitch.h"
#include "wire.h"

#define DEFAULT_TIMEOUT_MS 30000
#define USER_MAX 254
#define CODE_ROUNDS_MAX 20 /* the daemon counts the tries; this only bounds the loop */
#define DATA_SESSION "pam_medimail_session"
#define DATA_METHOD "pam_medimail_method" /* how pam_sm_authenticate succeeded, for the session */
#define ECPS_TIMEOUT_DEFAULT 120
#define ECPS_INTERVAL_MAX 60
#define HOST_PASSWD "/etc/passwd"
#define HOST_NSSWITCH "/etc/nsswitch.conf"
#define NSS_SOURCE_COUNT 16 /* sources of one passwd line */
#define NSS_BUF_MAX (1u << 20)

enum lang { FR, EN };

struct opts {
	bool debug, use_first_pass, try_first_pass, use_authtok;
	bool cps, cps_auto, ecps;
	const char *socket;
	int timeout_ms;
	int ecps_timeout; /* seconds */
	enum lang lang;
};

/* ------------------------------------------------------------ messages */

enum msg {
	M_USER_PROMPT,
	M_PASSWORD_PROMPT,
	M_CODE_PROMPT,
	M_CODE_SENT,
	M_CODE_PENDING,
	M_CODE_WAIT,
	M_CODE_NOT_SENT,
	M_BAD_CREDENTIALS,
	M_LOCKED,
	M_LOCKED_NOW,
	M_RATE,
	M_BAD_CODE,
	M_CODE_EXHAUSTED,
	M_CODE_EXPIRED,
	M_CODE_STALE,
	M_STEP_EXPIRED,
	M_DIR_DOWN,
	M_DAEMON_DOWN,
	M_TOO_LONG,
	M_BAD_USER,
	M_PENDING,
	M_SUSPENDED,
	M_CLOSED,
	M_ORG,
	M_CGU_PROMPT,
	M_CGU_REFUSED,
	M_CGU_RECORDED,
	M_OLD_PW,
	M_NEW_PW,
	M_NEW_PW2,
	M_PW_MISMATCH,
	M_PW_CHANGED,
	M_RULE_MIN,
	M_RULE_MAX,
	M_RULE_UPPER,
	M_RULE_LOWER,
	M_RULE_DIGIT,
	M_RULE_SPECIAL,
	M_RULE_UTF8,
	M_RULE_SAME,
	M_REFUSED,
	M_NOT_PERMITTED,
	M_PASSWORD_PROMPT_OFFLINE,
	M_OFFLINE_OK,
	M_CGU_OFFLINE,
	M_PIN_PROMPT,
	M_PIN_WRONG,
	M_PIN_LOW,
	M_PIN_FINAL,
	M_PIN_LOCKED,
	M_PIN_TRIES,
	M_PIN_FAILURES,
	M_PIN_INVALID,
	M_NO_CARD,
	M_NO_READER,
	M_CARD_READ,
	M_CARD_NO_CERT,
	M_CARD_EXPIRED,
	M_CARD_NOT_YET,
	M_CARD_UNKNOWN_CA,
	M_CARD_REVOKED,
	M_CARD_KEY_USAGE,
	M_CARD_BAD_SIG,
	M_CARD_INVALID,
	M_CARD_MISMATCH,
	M_LINK_NEEDED,
	M_LINKED,
	M_LINK_MISMATCH,
	M_LINK_ELSEWHERE,
	M_LINK_FAILED,
	M_ECPS_CODE,
	M_ECPS_WAIT,
	M_ECPS_DENIED,
	M_ECPS_EXPIRED,
	M_ECPS_TIMEOUT,
	M_ECPS_CANCELLED,
	M_ECPS_DOWN,
	M_COUNT
};

static const char *const messages[M_COUNT][2] = {
	[M_USER_PROMPT] = {"Identifiant : ", "Login: "},
	[M_PASSWORD_PROMPT] = {"Mot de passe : ", "Password: "},
	[M_CODE_PROMPT] = {"Code à usage unique reçu par e-mail : ", "One-time code received by e-mail: "},
	[M_CODE_SENT] = {"Un code à usage unique a été envoyé à %s.", "A one-time code was sent to %s."},
	[M_CODE_PENDING] = {"Un code vous a été envoyé il y a moins de %s s : saisissez-le.",
		"A code was sent to you less than %s s ago: enter it."},
	[M_CODE_WAIT] = {"Un nouveau code pourra être envoyé dans %s s.", "A new code can be sent in %s s."},
	[M_CODE_NOT_SENT] = {"Le code n'a pas pu être envoyé par e-mail ; réessayez plus tard.",
		"The code could not be sent by e-mail; try again later."},
	[M_BAD_CREDENTIALS] = {"Identifiant ou mot de passe incorrect.", "Wrong login or password."},
	[M_LOCKED] = {"Compte verrouillé après trop d'échecs, jusqu'au %s.",
		"Account locked after too many failures, until %s."},
	[M_LOCKED_NOW] = {"Compte verrouillé après trop d'échecs.",
		"Account locked after too many failures."},
	[M_RATE] = {"Trop de tentatives : réessayez dans %s s.", "Too many attempts: try again in %s s."},
	[M_BAD_CODE] = {"Code incorrect (%s essai(s) restant(s)).", "Wrong code (%s tries left)."},
	[M_CODE_EXHAUSTED] =
		{"Code incorrect, trop d'essais : un nouveau code est nécessaire, reconnectez-vous.",
			"Wrong code, too many tries: a new code is needed, log in again."},
	[M_CODE_EXPIRED] = {"Code expiré : reconnectez-vous pour recevoir un nouveau code.",
		"Code expired: log in again to receive a new code."},
	[M_CODE_STALE] =
		{"Aucun code en attente (déjà utilisé ?) : reconnectez-vous pour recevoir un nouveau code.",
			"No code pending (already used?): log in again to receive a new code."},
	[M_STEP_EXPIRED] = {"Délai dépassé : recommencez la connexion.", "Too late: start the login again."},
	[M_DIR_DOWN] = {"Annuaire Medimail indisponible : connexion impossible pour le moment.",
		"Medimail directory unavailable: cannot log in for now."},
	[M_DAEMON_DOWN] = {"Service d'authentification Medimail injoignable.",
		"Medimail authentication service unreachable."},
	[M_TOO_LONG] = {"Saisie trop longue : refusée.", "Input too long: refused."},
	[M_BAD_USER] = {"Identifiant invalide.", "Invalid login."},
	[M_PENDING] = {"Compte pas encore validé : confirmation de l'adresse e-mail ou validation par le "
		       "centre de services en attente.",
		"Account not validated yet: e-mail confirmation or validation by the service centre "
		"pending."},
	[M_SUSPENDED] = {"Compte suspendu : contactez le centre de services.",
		"Account suspended: contact the service centre."},
	[M_CLOSED] = {"Compte clos.", "Account closed."},
	[M_ORG] = {"Une BAL ORG s'ouvre depuis un compte individuel (« Changer de compte »).",
		"An ORG mailbox is opened from an individual account (\"Switch account\")."},
	[M_CGU_PROMPT] = {"Acceptez-vous les conditions générales d'utilisation ? (oui/non) ",
		"Do you accept the terms of use? (yes/no) "},
	[M_CGU_REFUSED] = {"Les conditions générales d'utilisation doivent être acceptées pour se connecter.",
		"The terms of use must be accepted to log in."},
	[M_CGU_RECORDED] = {"Conditions générales d'utilisation acceptées.", "Terms of use accepted."},
	[M_OLD_PW] = {"Mot de passe actuel : ", "Current password: "},
	[M_NEW_PW] = {"Nouveau mot de passe : ", "New password: "},
	[M_NEW_PW2] = {"Confirmez le nouveau mot de passe : ", "Retype the new password: "},
	[M_PW_MISMATCH] = {"Les deux saisies du nouveau mot de passe diffèrent.",
		"The two new passwords differ."},
	[M_PW_CHANGED] = {"Mot de passe changé.", "Password changed."},
	[M_RULE_MIN] = {"Mot de passe refusé : au moins 8 caractères.",
		"Password refused: at least 8 characters."},
	[M_RULE_MAX] = {"Mot de passe refusé : trop long.", "Password refused: too long."},
	[M_RULE_UPPER] = {"Mot de passe refusé : au moins une majuscule.",
		"Password refused: at least one upper-case letter."},
	[M_RULE_LOWER] = {"Mot de passe refusé : au moins une minuscule.",
		"Password refused: at least one lower-case letter."},
	[M_RULE_DIGIT] = {"Mot de passe refusé : au moins un chiffre.",
		"Password refused: at least one digit."},
	[M_RULE_SPECIAL] = {"Mot de passe refusé : au moins un caractère spécial.",
		"Password refused: at least one special character."},
	[M_RULE_UTF8] = {"Mot de passe refusé : texte UTF-8 invalide.",
		"Password refused: invalid UTF-8 text."},
	[M_RULE_SAME] = {"Mot de passe refusé : il doit différer de l'ancien.",
		"Password refused: it must differ from the old one."},
	[M_REFUSED] = {"Refusé : %s", "Refused: %s"},
	[M_NOT_PERMITTED] = {"Opération non permise pour cet utilisateur.",
		"Operation not permitted for this user."},
	[M_PASSWORD_PROMPT_OFFLINE] =
		{"Mot de passe (connexion HORS LIGNE, annuaire Medimail injoignable) : ",
			"Password (OFFLINE login, Medimail directory unreachable): "},
	[M_OFFLINE_OK] = {"Connexion HORS LIGNE : mot de passe vérifié localement, sans code à usage unique "
			  "(possible jusqu'au %s).",
		"OFFLINE login: password checked locally, without a one-time code (possible until %s)."},
	[M_CGU_OFFLINE] =
		{"Les conditions générales d'utilisation s'acceptent lors d'une connexion en ligne.",
			"The terms of use are accepted during an online login."},
	[M_PIN_PROMPT] = {"Code PIN de la carte CPS : ", "CPS card PIN: "},
	[M_PIN_WRONG] = {"Code PIN incorrect.", "Wrong PIN."},
	[M_PIN_LOW] = {"Code PIN incorrect : peu d'essais restants avant le blocage de la carte.",
		"Wrong PIN: few tries left before the card is blocked."},
	[M_PIN_FINAL] = {"Code PIN incorrect : il ne reste qu'un essai avant le blocage de la carte.",
		"Wrong PIN: one try left before the card is blocked."},
	[M_PIN_LOCKED] = {"Carte CPS bloquée : code PIN faux trop de fois. Débloquez-la avec son code PUK.",
		"CPS card blocked: too many wrong PINs. Unblock it with its PUK."},
	[M_PIN_TRIES] =
		{"Trop de codes PIN faux : carte CPS protégée, plus d'essai ici pour ne pas la bloquer.",
			"Too many wrong PINs: no more tries here, so that the CPS card is not blocked."},
	[M_PIN_FAILURES] = {"Attention : %s code(s) PIN faux saisi(s) sur votre carte CPS depuis sa dernière "
			    "utilisation.",
		"Warning: %s wrong PIN(s) were typed on your CPS card since it was last used."},
	[M_PIN_INVALID] = {"Code PIN de longueur invalide.", "PIN of invalid length."},
	[M_NO_CARD] = {"Aucune carte CPS dans le lecteur.", "No CPS card in the reader."},
	[M_NO_READER] = {"Lecteur de carte introuvable.", "Card reader not found."},
	[M_CARD_READ] = {"Lecture de la carte CPS impossible.", "The CPS card could not be read."},
	[M_CARD_NO_CERT] = {"La carte ne porte pas de certificat d'authentification CPS.",
		"The card holds no CPS authentication certificate."},
	[M_CARD_EXPIRED] = {"Certificat de la carte CPS expiré.", "The CPS card's certificate has expired."},
	[M_CARD_NOT_YET] = {"Certificat de la carte CPS pas encore valide.",
		"The CPS card's certificate is not valid yet."},
	[M_CARD_UNKNOWN_CA] = {"Carte émise par une autorité non reconnue.",
		"Card issued by an authority that is not trusted."},
	[M_CARD_REVOKED] = {"Certificat de la carte CPS révoqué.", "The CPS card's certificate is revoked."},
	[M_CARD_KEY_USAGE] = {"Certificat de la carte non prévu pour l'authentification.",
		"The card's certificate is not meant for authentication."},
	[M_CARD_BAD_SIG] = {"Signature de la carte invalide : carte refusée.",
		"Invalid card signature: card refused."},
	[M_CARD_INVALID] = {"Certificat de la carte CPS invalide.", "Invalid CPS card certificate."},
	[M_CARD_MISMATCH] = {"Cette carte CPS n'est pas celle de ce compte.",
		"This CPS card does not belong to this account."},
	[M_LINK_NEEDED] = {"Cette carte CPS n'est liée à aucun compte Medimail. Pour la lier au compte %s, "
			   "connectez-vous une fois avec son mot de passe et le code reçu par e-mail.",
		"This CPS card is not linked to a Medimail account yet. To link it to the account %s, log in "
		"once with its password and the code received by e-mail."},
	[M_LINKED] = {"Carte CPS liée au compte %s : connectez-vous désormais avec la carte et son code PIN.",
		"CPS card linked to the account %s: from now on, log in with the card and its PIN."},
	[M_LINK_MISMATCH] = {"La carte CPS n'a pas été liée : son numéro national n'est pas celui du compte.",
		"The CPS card was not linked: its national number is not the account's."},
	[M_LINK_ELSEWHERE] = {"La carte CPS n'a pas été liée : elle l'est déjà à un autre compte.",
		"The CPS card was not linked: it is already linked to another account."},
	[M_LINK_FAILED] = {"La carte CPS n'a pas été liée (%s).", "The CPS card was not linked (%s)."},
	[M_ECPS_CODE] = {"Code à vérifier dans l'application e-CPS : %s",
		"Code to check in the e-CPS app: %s"},
	[M_ECPS_WAIT] = {"Validez la demande dans l'application e-CPS de votre téléphone (%s s au plus).",
		"Approve the request in the e-CPS app on your phone (%s s at most)."},
	[M_ECPS_DENIED] = {"Connexion refusée dans l'application e-CPS.", "Login refused in the e-CPS app."},
	[M_ECPS_EXPIRED] = {"Demande e-CPS expirée sans réponse : recommencez la connexion.",
		"The e-CPS request expired unanswered: start the login again."},
	[M_ECPS_TIMEOUT] = {"Pas de réponse de l'application e-CPS dans le délai : recommencez la connexion.",
		"No answer from the e-CPS app in time: start the login again."},
	[M_ECPS_CANCELLED] = {"Connexion e-CPS annulée.", "e-CPS login cancelled."},
	[M_ECPS_DOWN] = {"Service e-CPS (Pro Santé Connect) injoignable.",
		"e-CPS service (Pro Santé Connect) unreachable."},
};

static const char *T(const struct opts *o, enum msg m)
{
	return messages[m][o->lang];
}

/* Shows a message; fmt comes from the table (or "%s"), never from the daemon.
 * Returns what the conversation said (most callers need not care). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static int say(pam_handle_t *pamh, int style, const char *fmt, const char *arg)
{
	if (arg)
		return pam_prompt(pamh, style, NULL, fmt, arg);
	return pam_prompt(pamh, style, NULL, "%s", fmt);
}
#pragma GCC diagnostic pop

static void error_msg(pam_handle_t *pamh, const struct opts *o, enum msg m, const char *arg)
{
	say(pamh, PAM_ERROR_MSG, T(o, m), arg);
}

/* ------------------------------------------------------------ options */

static void parse_opts(pam_handle_t *pamh, int argc, const char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->socket = MM_DEFAULT_SOCKET;
	o->timeout_ms = DEFAULT_TIMEOUT_MS;
	o->ecps_timeout = ECPS_TIMEOUT_DEFAULT;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "debug"))
			o->debug = true;
		else if (!strcmp(a, "use_first_pass"))
			o->use_first_pass = true;
		else if (!strcmp(a, "try_first_pass"))
			o->try_first_pass = true;
		else if (!strcmp(a, "use_authtok"))
			o->use_authtok = true;
		else if (!strcmp(a, "cps"))
			o->cps = true;
		else if (!strcmp(a, "cps_auto"))
			o->cps_auto = true;
		else if (!strcmp(a, "ecps"))
			o->ecps = true;
		else if (!strncmp(a, "ecps_timeout=", 13)) {
			char *end;
			long s = strtol(a + 13, &end, 10);

			if (end == a + 13 || *end || s < 1 || s > 3600)
				pam_syslog(
					pamh, LOG_WARNING, "invalid option value: %s (1..3600 seconds)", a);
			else
				o->ecps_timeout = (int)s;
		} else if (!strncmp(a, "socket=", 7) && a[7] == '/')
			o->socket = a + 7;
		else if (!strncmp(a, "timeout=", 8)) {
			char *end;
			long s = strtol(a + 8, &end, 10);

			if (end == a + 8 || *end || s < 1 || s > 600)
				pam_syslog(pamh, LOG_WARNING, "invalid option value: %s (1..600 seconds)", a);
			else
				o->timeout_ms = (int)s * 1000;
		} else if (!strcmp(a, "lang=fr"))
			o->lang = FR;
		else if (!strcmp(a, "lang=en"))
			o->lang = EN;
		else
			pam_syslog(pamh, LOG_WARNING, "unknown option: %s", a);
	}
}

/* ------------------------------------------------------------ talking to the daemon */

static void put_meta(pam_handle_t *pamh, struct mm_msg *m)
{
	const void *service = NULL, *rhost = NULL;

	if (pam_get_item(pamh, PAM_SERVICE, &service) == PAM_SUCCESS && service)
		(void)!mm_msg_add(m, "service", service);
	if (pam_get_item(pamh, PAM_RHOST, &rhost) == PAM_SUCCESS && rhost)
		(void)!mm_msg_add(m, "rhost", rhost);
}

/* Sends code with the fields given as key, value pairs ending with NULL.
 * Returns 0 and the reply, or a negative errno when the daemon was not
 * reached or a field could not be encoded (-EMSGSIZE for a value too long). */
static int call(pam_handle_t *pamh, const struct opts *o, uint16_t code, struct mm_msg **ret, ...)
{
	struct mm_msg *m = mm_msg_new(code, false);
	va_list ap;
	int r = 0;

	*ret = NULL;
	if (!m)
		return -ENOMEM;
	va_start(ap, ret);
	for (const char *k; (k = va_arg(ap, const char *));) {
		const char *v = va_arg(ap, const char *);

		if (v && strlen(v) > MM_VALUE_MAX) {
			r = -EMSGSIZE;
			break;
		}
		if (v && (r = mm_msg_add(m, k, v)) < 0)
			break;
	}
	va_end(ap);
	if (r == 0) {
		put_meta(pamh, m);
		r = mm_client_call(o->socket, o->timeout_ms, m, ret);
		if (r < 0)
			pam_syslog(pamh, LOG_ERR, "medimail-authd at %s: %s", o->socket, strerror(-r));
		else if (o->debug)
			pam_syslog(pamh, LOG_DEBUG, "request 0x%04x: status %d", code, (int)(*ret)->status);
	}
	mm_msg_free(m); /* wipes the secrets it carried */
	return r;
}

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

typedef enum nss_status (*getpwnam_r_fn)(const char *, struct passwd *, char *, size_t, int *);

/* Asks one NSS source the way glibc does, through its module's entry point.
 * The handle is kept, as glibc keeps it: a module may own thread keys. */
static bool nss_source_knows(const char *source, const char *user)
{
	char lib[NSSWITCH_SOURCE_MAX + 16], sym[NSSWITCH_SOURCE_MAX + 24], *buf = NULL;
	struct passwd pw;
	getpwnam_r_fn fn;
	void *h;
	bool found = false;

	if (snprintf(lib, sizeof(lib), "libnss_%s.so.2", source) >= (int)sizeof(lib) ||
		snprintf(sym, sizeof(sym), "_nss_%s_getpwnam_r", source) >= (int)sizeof(sym))
		return false;
	if (!(h = dlopen(lib, RTLD_LAZY | RTLD_LOCAL)) || !(fn = (getpwnam_r_fn)dlsym(h, sym)))
		return false;
	/* An entry larger than the buffer is TRYAGAIN/ERANGE, not "unknown": grow
	 * it as glibc does (a long GECOS must not make a host user ours). */
	for (size_t sz = 16384; sz <= NSS_BUF_MAX; sz *= 2) {
		char *nb = realloc(buf, sz);
		int err = 0;
		enum nss_status st;

		if (!nb) {
			found = true; /* cannot tell: stand aside */
			break;
		}
		buf = nb;
		st = fn(user, &pw, buf, sz, &err);
		explicit_bzero(buf, sz);
		if (st == NSS_STATUS_TRYAGAIN && err == ERANGE) {
			found = sz * 2 > NSS_BUF_MAX; /* too large to read: cannot tell */
			continue;
		}
		found = st == NSS_STATUS_SUCCESS;
		break;
	}
	free(buf);
	return found;
}

/* The passwd sources of nsswitch.conf but files (read directly) and ours
 * (never asked: the daemon may be down, and a host name is never ours).
 * Every passwd line counts: a source named anywhere makes its users the host's. */
static bool other_source_knows(const char *user)
{
	FILE *f = fopen(HOST_NSSWITCH, "re");
	char *line = NULL, src[NSS_SOURCE_COUNT][NSSWITCH_SOURCE_MAX];
	size_t cap = 0;
	bool found = false;

	if (!f)
		return false;
	while (!found && getline(&line, &cap, f) > 0) {
		int n = nsswitch_line_sources(line, "passwd", src, NSS_SOURCE_COUNT);

		for (int i = 0; i < n && !found; i++)
			if (strcmp(src[i], "files") && strcmp(src[i], "medimail"))
				found = nss_source_knows(src[i], user);
	}
	free(line);
	fclose(f);
	return found;
}

/* A user the host itself knows (root, local or directory administrators) is
 * not ours: in /etc/passwd, read directly, or in another NSS source than
 * medimail. Our own NSS module is never asked, so a down daemon cannot lock
 * the console. */
/* Does /etc/passwd have a line for user? Its name field compared as glibc's
 * files source does, on lines of any length (a 16 KiB buffer stopped at the
 * first longer line and missed every user after it). A file that cannot be
 * read counts as knowing the user: standing aside is the safe answer. */
static bool passwd_file_has(const char *user)
{
	FILE *f = fopen(HOST_PASSWD, "re");
	size_t len = strlen(user), cap = 0;
	char *line = NULL;
	ssize_t n;
	bool found = false;

	if (!f)
		return errno != ENOENT;
	while (!found && (n = getline(&line, &cap, f)) > 0)
		found = (size_t)n > len && !strncmp(line, user, len) && line[len] == ':';
	if (!found && ferror(f))
		found = true;
	free(line);
	fclose(f);
	return found;
}

static bool host_user(const char *user)
{
	return passwd_file_has(user) || other_source_knows(user);
}

/* PAM_IGNORE for a host user, so the rest of the stack decides alone. */
static int stand_aside(pam_handle_t *pamh, const struct opts *o)
{
	if (o->debug)
		pam_syslog(pamh, LOG_DEBUG, "a user of this host, not of Medimail: ignored");
	return PAM_IGNORE;
}

static bool user_name_ok(const char *user)
{
	if (strlen(user) > USER_MAX)
		return false;
	for (const unsigned char *p = (const unsigned char *)user; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* A PAM_USER already set that names a user of the host (setcred, close_session). */
static bool host_user_item(pam_handle_t *pamh)
{
	const void *user = NULL;

	return pam_get_item(pamh, PAM_USER, &user) == PAM_SUCCESS && user && user_name_ok(user) &&
		host_user(user);
}

static int get_user(pam_handle_t *pamh, const struct opts *o, const char **ret)
{
	const char *user = NULL;
	int r = pam_get_user(pamh, &user, T(o, M_USER_PROMPT));

	if (r != PAM_SUCCESS || !user || !*user)
		return r == PAM_SUCCESS ? PAM_USER_UNKNOWN : r;
	if (!user_name_ok(user)) {
		error_msg(pamh, o, M_BAD_USER, NULL);
		return PAM_USER_UNKNOWN;
	}
	/* After that check: only a well-formed name reaches the NSS modules. */
	if (host_user(user))
		return stand_aside(pamh, o);
	*ret = user;
	return PAM_SUCCESS;
}

/* Tells the user why the daemon refused; returns the PAM code for step. */
static int explain(pam_handle_t *pamh, const struct opts *o, const struct mm_msg *rep, int fallback)
{
	const char *reason = mm_msg_get(rep, "reason"), *field = mm_msg_get(rep, "field");

	switch (rep->status) {
	case -EACCES: error_msg(pamh, o, M_BAD_CREDENTIALS, NULL); return PAM_AUTH_ERR;
	case -ENOLCK: {
		const char *until = mm_msg_get(rep, "locked_until");
		char when[40] = "?";
		time_t t = until ? (time_t)strtoll(until, NULL, 10) : 0;
		struct tm tm;

		/* No end: the attempts left are all being checked right now. */
		if (t > 0 && localtime_r(&t, &tm) && strftime(when, sizeof(when), "%d/%m/%Y %H:%M:%S", &tm))
			error_msg(pamh, o, M_LOCKED, when);
		else
			error_msg(pamh, o, M_LOCKED_NOW, NULL);
		return PAM_MAXTRIES;
	}
	case -EAGAIN: error_msg(pamh, o, M_RATE, mm_msg_get(rep, "retry_after") ?: "?"); return PAM_AUTH_ERR;
	case -EHOSTDOWN: error_msg(pamh, o, M_DIR_DOWN, NULL); return PAM_AUTHINFO_UNAVAIL;
	case -ENOENT: return PAM_USER_UNKNOWN;
	case -EPERM:
		if (reason && !strcmp(reason, "pending"))
			error_msg(pamh, o, M_PENDING, NULL);
		else if (reason && !strcmp(reason, "suspended"))
			error_msg(pamh, o, M_SUSPENDED, NULL);
		else if (reason && !strcmp(reason, "closed"))
			error_msg(pamh, o, M_CLOSED, NULL);
		else if (reason && !strcmp(reason, "org"))
			error_msg(pamh, o, M_ORG, NULL);
		else if (reason && !strcmp(reason, "cgu"))
			error_msg(pamh, o, M_CGU_OFFLINE, NULL);
		else
			error_msg(pamh, o, M_REFUSED, rep->message);
		return reason && !strcmp(reason, "closed") ? PAM_ACCT_EXPIRED : PAM_PERM_DENIED;
	case -EINVAL:
		if (field && !strcmp(field, "user")) {
			error_msg(pamh, o, M_BAD_USER, NULL);
			return PAM_USER_UNKNOWN;
		}
		if (!strcmp(mm_msg_get(rep, "rule") ?: "", "max_length"))
			error_msg(pamh, o, M_TOO_LONG, NULL);
		else if (o->lang == FR && rep->message && *rep->message)
			error_msg(pamh, o, M_REFUSED, rep->message);
		else
			error_msg(pamh, o, M_REFUSED, field ?: "?");
		return fallback;
	default:
		if (o->lang == FR && rep->message && *rep->message)
			error_msg(pamh, o, M_REFUSED, rep->message);
		return fallback;
	}
}

/* The daemon was not reached (or the input could not be sent). */
static int unreachable(pam_handle_t *pamh, const struct opts *o, int r, int code)
{
	if (r == -EMSGSIZE || r == -EINVAL) {
		error_msg(pamh, o, M_TOO_LONG, NULL);
		return code == PAM_AUTHINFO_UNAVAIL ? PAM_AUTH_ERR : code;
	}
	error_msg(pamh, o, M_DAEMON_DOWN, NULL);
	return code;
}

static bool have_item(pam_handle_t *pamh, int item)
{
	const void *v = NULL;

	return pam_get_item(pamh, item, &v) == PAM_SUCCESS && v;
}

/* A secret from PAM_AUTHTOK (first_pass options) or the conversation. */
static int get_secret(
	pam_handle_t *pamh, const struct opts *o, int item, enum msg prompt, bool first_pass, char **ret)
{
	const void *tok = NULL;
	char *resp = NULL;

	*ret = NULL;
	if (first_pass && (o->use_first_pass || o->try_first_pass) &&
		pam_get_item(pamh, item, &tok) == PAM_SUCCESS && tok) {
		*ret = strdup(tok);
		return *ret ? PAM_SUCCESS : PAM_BUF_ERR;
	}
	if (first_pass && o->use_first_pass)
		return PAM_AUTH_ERR;
	if (pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &resp, "%s", T(o, prompt)) != PAM_SUCCESS || !resp) {
		wipe_free(resp);
		return PAM_CONV_ERR;
	}
	*ret = resp;
	return PAM_SUCCESS;
}

/* ------------------------------------------------------------ auth */

/* then_link: keep the finished transaction for one MM_REQ_CARD_LINK. */
static int code_step(
	pam_handle_t *pamh, const struct opts *o, const char *user, const char *txn, bool then_link)
{
	struct mm_msg *rep = NULL;
	int r, rc = PAM_AUTH_ERR;

	r = call(pamh, o, MM_REQ_OTP_SEND, &rep, "user", user, "txn", txn, NULL);
	if (r < 0)
		return unreachable(pamh, o, r, PAM_AUTHINFO_UNAVAIL);
	if (rep->status == 0) {
		say(pamh, PAM_TEXT_INFO, T(o, M_CODE_SENT), mm_msg_get(rep, "sent_to") ?: "?");
	} else if (rep->status == -EAGAIN && mm_msg_get(rep, "pending")) {
		bool pending = !strcmp(mm_msg_get(rep, "pending"), "yes");

		say(pamh, pending ? PAM_TEXT_INFO : PAM_ERROR_MSG,
			T(o, pending ? M_CODE_PENDING : M_CODE_WAIT), mm_msg_get(rep, "retry_after") ?: "?");
		if (!pending)
			goto out;
	} else if (rep->status == -ECOMM) {
		error_msg(pamh, o, M_CODE_NOT_SENT, NULL);
		rc = PAM_AUTHINFO_UNAVAIL;
		goto out;
	} else {
		rc = explain(pamh, o, rep, PAM_AUTH_ERR);
		goto out;
	}
	for (int round = 0; round < CODE_ROUNDS_MAX; round++) {
		char *code = NULL;

		mm_msg_free(rep);
		rep = NULL;
		if (pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &code, "%s", T(o, M_CODE_PROMPT)) != PAM_SUCCESS ||
			!code) {
			wipe_free(code);
			rc = PAM_CONV_ERR;
			goto out;
		}
		if (!*code) { /* an empty answer: the user gave up */
			wipe_free(code);
			rc = PAM_AUTH_ERR;
			goto out;
		}
		r = call(pamh, o, MM_REQ_OTP_VERIFY, &rep, "user", user, "txn", txn, "code", code, "then",
			then_link ? "card_link" : NULL, NULL);
		wipe_free(code);
		if (r < 0) {
			rc = unreachable(pamh, o, r, PAM_AUTHINFO_UNAVAIL);
			goto out;
		}
		if (rep->status == 0) {
			rc = PAM_SUCCESS;
			goto out;
		}
		if (rep->status == -EACCES && mm_msg_get(rep, "tries_left")) {
			error_msg(pamh, o, M_BAD_CODE, mm_msg_get(rep, "tries_left"));
			continue;
		}
		if (rep->status == -ESTALE)
			error_msg(pamh, o, mm_msg_get(rep, "tries_left") ? M_CODE_EXHAUSTED : M_CODE_STALE,
				NULL);
		else if (rep->status == -ETIMEDOUT)
			error_msg(pamh, o, mm_msg_get(rep, "reason") ? M_STEP_EXPIRED : M_CODE_EXPIRED, NULL);
		else {
			rc = explain(pamh, o, rep, PAM_AUTH_ERR);
			goto out;
		}
		rc = PAM_AUTH_ERR;
		goto out;
	}
out:
	mm_msg_free(rep);
	return rc;
}

/* Password, then the e-mailed code. On success *ret_login is the account's
 * login and, with then_link, *ret_txn the finished transaction (NULL after
 * an offline login, which has none). */
static int password_login(pam_handle_t *pamh, const struct opts *o, const char *user, bool then_link,
	char **ret_login, char **ret_txn)
{
	struct mm_msg *rep = NULL;
	char *password = NULL, *txn = NULL, *login = NULL;
	bool prompted, offline;
	int r, rc;

	*ret_login = NULL;
	*ret_txn = NULL;
	/* Online or offline: said in the prompt, before the password is typed. */
	r = call(pamh, o, MM_REQ_LOGIN_MODE, &rep, NULL);
	if (r < 0)
		return unreachable(pamh, o, r, PAM_AUTHINFO_UNAVAIL);
	if (rep->status < 0) {
		rc = explain(pamh, o, rep, PAM_AUTHINFO_UNAVAIL);
		mm_msg_free(rep);
		return rc;
	}
	offline = !strcmp(mm_msg_get(rep, "mode") ?: "", "offline");
	mm_msg_free(rep);
	rep = NULL;
	prompted = !((o->use_first_pass || o->try_first_pass) && have_item(pamh, PAM_AUTHTOK));
	if ((rc = get_secret(pamh, o, PAM_AUTHTOK, offline ? M_PASSWORD_PROMPT_OFFLINE : M_PASSWORD_PROMPT,
		     true, &password)) != PAM_SUCCESS)
		return rc;
	if (strlen(password) > MM_VALUE_MAX) {
		/* Refused here: the wire carries at most MM_VALUE_MAX bytes a value. */
		error_msg(pamh, o, M_TOO_LONG, NULL);
		rc = PAM_AUTH_ERR;
		goto out;
	}
	r = call(pamh, o, MM_REQ_AUTH_PASSWORD, &rep, "user", user, "password", password, NULL);
	if (r < 0) {
		rc = unreachable(pamh, o, r, PAM_AUTHINFO_UNAVAIL);
		goto out;
	}
	if (rep->status < 0) {
		rc = explain(pamh, o, rep, PAM_AUTH_ERR);
		if (rc == PAM_USER_UNKNOWN && rep->status == -ENOENT)
			rc = PAM_AUTH_ERR;
		goto out;
	}
	if (!strcmp(mm_msg_get(rep, "offline") ?: "no", "yes") && mm_msg_get(rep, "login")) {
		const char *until = mm_msg_get(rep, "offline_until");
		time_t t = until ? (time_t)strtoll(until, NULL, 10) : 0;
		char when[40] = "?";
		struct tm tm;

		if (t > 0 && localtime_r(&t, &tm))
			strftime(when, sizeof(when), "%d/%m/%Y %H:%M", &tm);
		say(pamh, PAM_TEXT_INFO, T(o, M_OFFLINE_OK), when);
		if (prompted)
			(void)pam_set_item(pamh, PAM_AUTHTOK, password);
		*ret_login = strdup(mm_msg_get(rep, "login"));
		rc = *ret_login ? PAM_SUCCESS : PAM_BUF_ERR;
		goto out;
	}
	if (!mm_msg_get(rep, "txn") || !mm_msg_get(rep, "login")) {
		pam_syslog(pamh, LOG_ERR, "medimail-authd: reply without transaction");
		rc = PAM_AUTH_ERR;
		goto out;
	}
	txn = strdup(mm_msg_get(rep, "txn"));
	login = strdup(mm_msg_get(rep, "login"));
	if (!txn || !login) {
		rc = PAM_BUF_ERR;
		goto out;
	}
	rc = code_step(pamh, o, login, txn, then_link);
	if (rc == PAM_SUCCESS) {
		/* Only a complete login hands the password on to the modules below. */
		if (prompted)
			(void)pam_set_item(pamh, PAM_AUTHTOK, password);
		*ret_login = login;
		login = NULL;
		if (then_link) {
			*ret_txn = txn;
			txn = NULL;
		}
	}
out:
	mm_msg_free(rep);
	wipe_free(password);
	wipe_free(txn);
	free(login);
	return rc;
}

static void cleanup_method(pam_handle_t *pamh, void *data, int error_status)
{
	free(data);
}

/* The login the daemon answered becomes the user; the method goes to the session. */
static int auth_done(
	pam_handle_t *pamh, const struct opts *o, const char *user, const char *login, const char *method)
{
	char *m;
	int rc;

	/* The daemon answered another name than the one typed (the login
	 * e-mail, another case): were that name the host's, the Medimail
	 * password would open the host account's session. */
	if (login && strcmp(user, login) && (!user_name_ok(login) || host_user(login))) {
		pam_syslog(pamh, LOG_WARNING, "Medimail account %s is also a user of this host: refused",
			user_name_ok(login) ? login : "(invalid)");
		error_msg(pamh, o, M_BAD_USER, NULL);
		return PAM_AUTH_ERR;
	}
	m = strdup(method);
	if (!m)
		return PAM_BUF_ERR;
	if ((rc = pam_set_data(pamh, DATA_METHOD, m, cleanup_method)) != PAM_SUCCESS) {
		free(m);
		return rc;
	}
	/* The login e-mail was accepted as the user: the rest of the stack gets the login. */
	if (login && strcmp(user, login))
		rc = pam_set_item(pamh, PAM_USER, login);
	if (o->debug)
		pam_syslog(pamh, LOG_DEBUG, "authentication of %s by %s: %s", login ? login : user, method,
			pam_strerror(pamh, rc));
	return rc;
}

/* ------------------------------------------------------------ CPS card */

static const struct {
	const char *reason;
	enum msg m;
	int pam;
} card_reasons[] = {
	{"pin_locked", M_PIN_LOCKED, PAM_MAXTRIES},
	{"pin_tries", M_PIN_TRIES, PAM_MAXTRIES},
	{"pin_invalid", M_PIN_INVALID, PAM_AUTH_ERR},
	{"no_card", M_NO_CARD, PAM_AUTHINFO_UNAVAIL},
	{"no_reader", M_NO_READER, PAM_AUTHINFO_UNAVAIL},
	{"card_error", M_CARD_READ, PAM_AUTHINFO_UNAVAIL},
	{"card_timeout", M_CARD_READ, PAM_AUTHINFO_UNAVAIL},
	{"no_cert", M_CARD_NO_CERT, PAM_AUTH_ERR},
	{"no_key", M_CARD_NO_CERT, PAM_AUTH_ERR},
	{"expired", M_CARD_EXPIRED, PAM_AUTH_ERR},
	{"not_yet_valid", M_CARD_NOT_YET, PAM_AUTH_ERR},
	{"unknown_ca", M_CARD_UNKNOWN_CA, PAM_AUTH_ERR},
	{"revoked", M_CARD_REVOKED, PAM_AUTH_ERR},
	{"key_usage", M_CARD_KEY_USAGE, PAM_AUTH_ERR},
	{"bad_signature", M_CARD_BAD_SIG, PAM_AUTH_ERR},
	{"invalid_cert", M_CARD_INVALID, PAM_AUTH_ERR},
	{"card_mismatch", M_CARD_MISMATCH, PAM_AUTH_ERR},
};

/* Tells the user why the card was refused; returns the PAM code. */
static int card_refusal(pam_handle_t *pamh, const struct opts *o, const struct mm_msg *rep)
{
	const char *reason = mm_msg_get(rep, "reason") ?: "";

	if (!strcmp(reason, "pin_incorrect")) {
		const char *tries = mm_msg_get(rep, "tries") ?: "";

		error_msg(pamh, o,
			!strcmp(tries, "final")         ? M_PIN_FINAL
				: !strcmp(tries, "low") ? M_PIN_LOW
							: M_PIN_WRONG,
			NULL);
		return PAM_AUTH_ERR;
	}
	if (!strcmp(reason, "account_state")) {
		const char *st = mm_msg_get(rep, "status") ?: "";

		if (!strcmp(st, "closed")) {
			error_msg(pamh, o, M_CLOSED, NULL);
			return PAM_ACCT_EXPIRED;
		}
		error_msg(pamh, o, !strcmp(st, "suspended") ? M_SUSPENDED : M_PENDING, NULL);
		return PAM_PERM_DENIED;
	}
	for (size_t i = 0; i < sizeof(card_reasons) / sizeof(card_reasons[0]); i++)
		if (!strcmp(reason, card_reasons[i].reason)) {
			error_msg(pamh, o, card_reasons[i].m, NULL);
			return card_reasons[i].pam;
		}
	return explain(pamh, o, rep, PAM_AUTH_ERR);
}

/* A card that maps to no account: one password + code login of the PAM
 * user, then the daemon links the card proved a moment ago (the ticket). */
static int card_link_flow(pam_handle_t *pamh, const struct opts *o, const char *user, const char *ticket)
{
	struct mm_msg *rep = NULL;
	char *login = NULL, *txn = NULL;
	int r, rc;

	say(pamh, PAM_TEXT_INFO, T(o, M_LINK_NEEDED), user);
	rc = password_login(pamh, o, user, true, &login, &txn);
	if (rc != PAM_SUCCESS)
		goto out;
	if (!txn) { /* offline: no transaction to link with, the login stands */
		error_msg(pamh, o, M_LINK_FAILED, "offline");
		rc = auth_done(pamh, o, user, login, "password");
		goto out;
	}
	r = call(pamh, o, MM_REQ_CARD_LINK, &rep, "login", login, "txn", txn, "link_ticket", ticket, NULL);
	if (r < 0)
		(void)unreachable(pamh, o, r, PAM_AUTHINFO_UNAVAIL);
	else if (rep->status == 0)
		say(pamh, PAM_TEXT_INFO, T(o, M_LINKED), login);
	else {
		const char *reason = mm_msg_get(rep, "reason") ?: "";

		if (!strcmp(reason, "card_mismatch"))
			error_msg(pamh, o, M_LINK_MISMATCH, NULL);
		else if (!strcmp(reason, "linked_elsewhere"))
			error_msg(pamh, o, M_LINK_ELSEWHERE, NULL);
		else
			error_msg(pamh, o, M_LINK_FAILED, *reason ? reason : rep->message);
	}
	/* Linked or not, the password and the e-mailed code made a full login. */
	rc = auth_done(pamh, o, user, login, "password+otp");
out:
	mm_msg_free(rep);
	wipe_free(txn);
	free(login);
	return rc;
}

static int card_login(pam_handle_t *pamh, const struct opts *o, const char *user)
{
	struct mm_msg *rep = NULL;
	char *pin = NULL, *ticket = NULL;
	int r, rc;

	if (pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &pin, "%s", T(o, M_PIN_PROMPT)) != PAM_SUCCESS || !pin) {
		wipe_free(pin);
		return PAM_CONV_ERR;
	}
	if (!*pin) { /* an empty answer: the user gave up */
		wipe_free(pin);
		return PAM_AUTH_ERR;
	}
	r = call(pamh, o, MM_REQ_CARD_AUTH, &rep, "pin", pin, "user", user, NULL);
	wipe_free(pin); /* the PIN served once: nothing keeps it */
	if (r < 0)
		return unreachable(pamh, o, r, PAM_AUTHINFO_UNAVAIL);
	if (rep->status == 0) {
		rc = mm_msg_get(rep, "login") ? auth_done(pamh, o, user, mm_msg_get(rep, "login"), "cps")
					      : PAM_AUTH_ERR;
		/* Someone else may have tried: the owner is told at once. */
		if (rc == PAM_SUCCESS && mm_msg_get(rep, "pin_failures") &&
			strspn(mm_msg_get(rep, "pin_failures"), "0123456789") ==
				strlen(mm_msg_get(rep, "pin_failures")))
			say(pamh, PAM_TEXT_INFO, T(o, M_PIN_FAILURES), mm_msg_get(rep, "pin_failures"));
		goto out;
	}
	if (rep->status == -ENOENT && !strcmp(mm_msg_get(rep, "reason") ?: "", "link_required") &&
		mm_msg_get(rep, "link_ticket")) {
		if (!(ticket = strdup(mm_msg_get(rep, "link_ticket")))) {
			rc = PAM_BUF_ERR;
			goto out;
		}
		mm_msg_free(rep);
		rep = NULL;
		rc = card_link_flow(pamh, o, user, ticket);
		goto out;
	}
	rc = card_refusal(pamh, o, rep);
out:
	mm_msg_free(rep);
	wipe_free(ticket);
	return rc;
}

/* cps: always the card; cps_auto: the card when the daemon sees one. */
static bool card_wanted(pam_handle_t *pamh, const struct opts *o)
{
	struct mm_msg *rep = NULL;
	bool present;

	if (o->cps)
		return true;
	if (!o->cps_auto)
		return false;
	if (call(pamh, o, MM_REQ_CARD_PRESENT, &rep, NULL) < 0)
		return false;
	present = rep->status == 0 && !strcmp(mm_msg_get(rep, "present") ?: "", "yes");
	if (o->debug)
		pam_syslog(pamh, LOG_DEBUG, "card present: %s (%s)", present ? "yes" : "no",
			mm_msg_get(rep, "reason") ?: "-");
	mm_msg_free(rep);
	return present;
}

/* ------------------------------------------------------------ e-CPS */

/* Sleeps ms; false when a signal (Ctrl-C) cut the wait short. */
static bool wait_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	return clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL) == 0;
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ecps_login(pam_handle_t *pamh, const struct opts *o, const char *user)
{
	struct mm_msg *rep = NULL;
	char *rid = NULL, limit[16];
	const char *code, *iv;
	long interval;
	long long deadline;
	int r, rc;

	r = call(pamh, o, MM_REQ_ECPS_START, &rep, "login", user, NULL);
	if (r < 0)
		return unreachable(pamh, o, r, PAM_AUTHINFO_UNAVAIL);
	if (rep->status < 0) {
		if (rep->status == -ECOMM || rep->status == -ENOSYS) {
			error_msg(pamh, o, M_ECPS_DOWN, NULL);
			rc = PAM_AUTHINFO_UNAVAIL;
		} else {
			rc = explain(pamh, o, rep, PAM_AUTH_ERR);
			if (rc == PAM_USER_UNKNOWN)
				rc = PAM_AUTH_ERR;
		}
		goto out;
	}
	code = mm_msg_get(rep, "binding_message");
	iv = mm_msg_get(rep, "interval");
	interval = iv ? strtol(iv, NULL, 10) : 5;
	if (interval < 1 || interval > ECPS_INTERVAL_MAX)
		interval = 5;
	if (!code || !mm_msg_get(rep, "request_id") || !(rid = strdup(mm_msg_get(rep, "request_id")))) {
		pam_syslog(pamh, LOG_ERR, "medimail-authd: e-CPS reply without request_id or code");
		rc = PAM_AUTH_ERR;
		goto out;
	}
	/* The code must reach the user; a conversation that refuses it cancels. */
	if (say(pamh, PAM_TEXT_INFO, T(o, M_ECPS_CODE), code) != PAM_SUCCESS) {
		rc = PAM_ABORT;
		goto out;
	}
	snprintf(limit, sizeof(limit), "%d", o->ecps_timeout);
	if (say(pamh, PAM_TEXT_INFO, T(o, M_ECPS_WAIT), limit) != PAM_SUCCESS) {
		rc = PAM_ABORT;
		goto out;
	}
	deadline = mono_ms() + (long long)o->ecps_timeout * 1000;
	for (;;) {
		long long left = deadline - mono_ms();
		const char *st;

		mm_msg_free(rep);
		rep = NULL;
		if (left <= 0) {
			error_msg(pamh, o, M_ECPS_TIMEOUT, NULL);
			rc = PAM_AUTH_ERR;
			break;
		}
		if (!wait_ms(left < interval * 1000 ? (long)left : interval * 1000)) {
			error_msg(pamh, o, M_ECPS_CANCELLED, NULL);
			rc = PAM_ABORT;
			break;
		}
		r = call(pamh, o, MM_REQ_ECPS_POLL, &rep, "request_id", rid, "session", "none", NULL);
		if (r < 0) {
			rc = unreachable(pamh, o, r, PAM_AUTHINFO_UNAVAIL);
			break;
		}
		st = mm_msg_get(rep, "status") ?: "";
		if (rep->status == 0 && !strcmp(st, "authenticated") && mm_msg_get(rep, "account")) {
			rc = auth_done(pamh, o, user, mm_msg_get(rep, "account"), "ecps");
			break;
		}
		if (rep->status == 0 && (!strcmp(st, "pending") || !strcmp(st, "slow_down"))) {
			if (!strcmp(st, "slow_down") && interval + 5 <= ECPS_INTERVAL_MAX)
				interval += 5;
			continue;
		}
		if (rep->status == -EACCES && !strcmp(st, "denied"))
			error_msg(pamh, o, M_ECPS_DENIED, NULL);
		else if (rep->status == -ETIMEDOUT)
			error_msg(pamh, o, M_ECPS_EXPIRED, NULL);
		else {
			rc = explain(pamh, o, rep, PAM_AUTH_ERR);
			break;
		}
		rc = PAM_AUTH_ERR;
		break;
	}
out:
	mm_msg_free(rep);
	wipe_free(rid);
	return rc;
}

/* ------------------------------------------------------------ auth entry point */

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	const char *user = NULL;
	char *login = NULL, *txn = NULL;
	int rc;

	parse_opts(pamh, argc, argv, &o);
	if ((rc = get_user(pamh, &o, &user)) != PAM_SUCCESS)
		return rc;
	if (card_wanted(pamh, &o))
		return card_login(pamh, &o, user);
	if (o.ecps)
		return ecps_login(pamh, &o, user);
	rc = password_login(pamh, &o, user, false, &login, &txn);
	if (rc == PAM_SUCCESS)
		rc = auth_done(pamh, &o, user, login, "password+otp");
	wipe_free(txn);
	free(login);
	return rc;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;

	parse_opts(pamh, argc, argv, &o);
	if (host_user_item(pamh))
		return stand_aside(pamh, &o);
	return PAM_SUCCESS;
}

/* ------------------------------------------------------------ account */

static bool said_yes(const char *s)
{
	static const char *const yes[] = {"oui", "o", "yes", "y"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!strcasecmp(s, yes[i]))
			return true;
	return false;
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct mm_msg *rep = NULL, *rep2 = NULL;
	const char *user = NULL;
	char *answer = NULL;
	int r, rc;

	parse_opts(pamh, argc, argv, &o);
	if ((rc = get_user(pamh, &o, &user)) != PAM_SUCCESS)
		return rc;
	r = call(pamh, &o, MM_REQ_ACCT_CHECK, &rep, "user", user, NULL);
	if (r < 0)
		return unreachable(pamh, &o, r, PAM_AUTHINFO_UNAVAIL);
	if (rep->status < 0) {
		rc = explain(pamh, &o, rep, PAM_PERM_DENIED);
		if (rc == PAM_AUTH_ERR || rc == PAM_MAXTRIES)
			rc = PAM_PERM_DENIED;
		goto out;
	}
	rc = PAM_SUCCESS;
	if (strcmp(mm_msg_get(rep, "cgu_required") ?: "no", "yes"))
		goto out;
	/* First login: the terms of use, asked and recorded. */
	if (pam_prompt(pamh, PAM_PROMPT_ECHO_ON, &answer, "%s", T(&o, M_CGU_PROMPT)) != PAM_SUCCESS ||
		!answer) {
		rc = PAM_CONV_ERR;
		goto out;
	}
	answer[strcspn(answer, " \t\r\n")] = '\0';
	if (!said_yes(answer)) {
		error_msg(pamh, &o, M_CGU_REFUSED, NULL);
		rc = PAM_PERM_DENIED;
		goto out;
	}
	r = call(pamh, &o, MM_REQ_CGU_ACCEPT, &rep2, "login", mm_msg_get(rep, "login") ?: user, NULL);
	if (r < 0) {
		rc = unreachable(pamh, &o, r, PAM_AUTHINFO_UNAVAIL);
		goto out;
	}
	if (rep2->status < 0) {
		rc = explain(pamh, &o, rep2, PAM_PERM_DENIED);
		goto out;
	}
	say(pamh, PAM_TEXT_INFO, T(&o, M_CGU_RECORDED), NULL);
out:
	free(answer);
	mm_msg_free(rep);
	mm_msg_free(rep2);
	return rc;
}

/* ------------------------------------------------------------ password */

static enum msg rule_msg(const char *rule)
{
	static const struct {
		const char *rule;
		enum msg m;
	} rules[] = {
		{"min_length", M_RULE_MIN},
		{"max_length", M_RULE_MAX},
		{"upper", M_RULE_UPPER},
		{"lower", M_RULE_LOWER},
		{"digit", M_RULE_DIGIT},
		{"special", M_RULE_SPECIAL},
		{"utf8", M_RULE_UTF8},
		{"same", M_RULE_SAME},
	};

	for (size_t i = 0; rule && i < sizeof(rules) / sizeof(rules[0]); i++)
		if (!strcmp(rule, rules[i].rule))
			return rules[i].m;
	return M_REFUSED;
}

PAM_EXTERN int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct mm_msg *rep = NULL;
	const char *user = NULL;
	char *old = NULL, *new1 = NULL, *new2 = NULL;
	int r, rc;

	parse_opts(pamh, argc, argv, &o);
	if ((rc = get_user(pamh, &o, &user)) != PAM_SUCCESS)
		return rc;
	if (flags & PAM_PRELIM_CHECK) {
		r = call(pamh, &o, MM_REQ_PING, &rep, NULL);
		mm_msg_free(rep);
		if (r < 0) {
			error_msg(pamh, &o, M_DAEMON_DOWN, NULL);
			return PAM_TRY_AGAIN;
		}
		return PAM_SUCCESS;
	}
	if (!(flags & PAM_UPDATE_AUTHTOK))
		return PAM_SERVICE_ERR;
	if ((rc = get_secret(pamh, &o, PAM_OLDAUTHTOK, M_OLD_PW, true, &old)) != PAM_SUCCESS)
		goto out;
	if (o.use_authtok) {
		/* The new password comes from a module above (e.g. pam_pwquality). */
		const void *tok = NULL;

		if (pam_get_item(pamh, PAM_AUTHTOK, &tok) != PAM_SUCCESS || !tok) {
			rc = PAM_AUTHTOK_ERR;
			goto out;
		}
		new1 = strdup(tok);
		new2 = strdup(tok);
		if (!new1 || !new2) {
			rc = PAM_BUF_ERR;
			goto out;
		}
	} else if ((rc = get_secret(pamh, &o, PAM_AUTHTOK, M_NEW_PW, false, &new1)) != PAM_SUCCESS ||
		(rc = get_secret(pamh, &o, PAM_AUTHTOK, M_NEW_PW2, false, &new2)) != PAM_SUCCESS)
		goto out;
	if (strcmp(new1, new2)) {
		error_msg(pamh, &o, M_PW_MISMATCH, NULL);
		rc = PAM_AUTHTOK_ERR;
		goto out;
	}
	if (strlen(old) > MM_VALUE_MAX || strlen(new1) > MM_VALUE_MAX) {
		error_msg(pamh, &o, M_TOO_LONG, NULL);
		rc = PAM_AUTHTOK_ERR;
		goto out;
	}
	r = call(pamh, &o, MM_REQ_PASSWORD_CHANGE, &rep, "user", user, "old_password", old, "new_password",
		new1, NULL);
	if (r < 0) {
		rc = unreachable(pamh, &o, r, PAM_AUTHTOK_ERR);
		goto out;
	}
	if (rep->status == 0) {
		say(pamh, PAM_TEXT_INFO, T(&o, M_PW_CHANGED), NULL);
		(void)pam_set_item(pamh, PAM_AUTHTOK, new1);
		rc = PAM_SUCCESS;
	} else if (rep->status == -EINVAL && mm_msg_get(rep, "rule") &&
		!strcmp(mm_msg_get(rep, "field") ?: "", "new_password")) {
		enum msg m = rule_msg(mm_msg_get(rep, "rule"));

		say(pamh, PAM_ERROR_MSG, T(&o, m), m == M_REFUSED ? mm_msg_get(rep, "rule") : NULL);
		rc = PAM_AUTHTOK_ERR;
	} else {
		rc = explain(pamh, &o, rep, PAM_AUTHTOK_ERR);
		if (rc != PAM_USER_UNKNOWN && rc != PAM_PERM_DENIED)
			rc = PAM_AUTHTOK_ERR;
	}
out:
	mm_msg_free(rep);
	wipe_free(old);
	wipe_free(new1);
	wipe_free(new2);
	return rc;
}

/* ------------------------------------------------------------ session */

static void cleanup_handle(pam_handle_t *pamh, void *data, int error_status)
{
	wipe_free(data);
}

static int putenv_kv(pam_handle_t *pamh, const char *key, const char *value)
{
	char *s = NULL;
	int rc;

	if (!value || asprintf(&s, "%s=%s", key, value) < 0)
		return PAM_BUF_ERR;
	rc = pam_putenv(pamh, s);
	wipe_free(s);
	return rc;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct mm_msg *rep = NULL;
	const char *user = NULL;
	char *handle = NULL;
	int r, rc;

	parse_opts(pamh, argc, argv, &o);
	if ((rc = get_user(pamh, &o, &user)) != PAM_SUCCESS)
		return rc;
	const void *method = NULL;

	if (pam_get_data(pamh, DATA_METHOD, &method) != PAM_SUCCESS || !method)
		method = "password+otp";
	r = call(pamh, &o, MM_REQ_SESSION_OPEN, &rep, "user", user, "method", (const char *)method, NULL);
	if (r < 0)
		return unreachable(pamh, &o, r, PAM_SESSION_ERR);
	if (rep->status < 0) {
		rc = explain(pamh, &o, rep, PAM_SESSION_ERR);
		/* Not a Medimail user: leave the session to the other modules. */
		rc = rc == PAM_USER_UNKNOWN ? PAM_IGNORE : PAM_SESSION_ERR;
		goto out;
	}
	if (!mm_msg_get(rep, "session") || !(handle = strdup(mm_msg_get(rep, "session")))) {
		rc = PAM_SESSION_ERR;
		goto out;
	}
	if ((rc = putenv_kv(pamh, "MEDIMAIL_ACCOUNT", mm_msg_get(rep, "account"))) != PAM_SUCCESS ||
		(rc = putenv_kv(pamh, "MEDIMAIL_ADDRESS", mm_msg_get(rep, "address"))) != PAM_SUCCESS ||
		(rc = putenv_kv(pamh, "MEDIMAIL_SESSION", handle)) != PAM_SUCCESS)
		goto out;
	if ((rc = pam_set_data(pamh, DATA_SESSION, handle, cleanup_handle)) != PAM_SUCCESS)
		goto out;
	handle = NULL;
	if (o.debug)
		pam_syslog(pamh, LOG_DEBUG, "session of %s opened as %s", user, mm_msg_get(rep, "account"));
out:
	wipe_free(handle);
	mm_msg_free(rep);
	return rc;
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct mm_msg *rep = NULL;
	const void *data = NULL;
	const char *handle;
	int r, rc = PAM_SUCCESS;

	parse_opts(pamh, argc, argv, &o);
	if (host_user_item(pamh))
		return stand_aside(pamh, &o);
	if (pam_get_data(pamh, DATA_SESSION, &data) == PAM_SUCCESS && data)
		handle = data;
	else
		handle = pam_getenv(pamh, "MEDIMAIL_SESSION");
	if (!handle)
		return PAM_IGNORE;
	r = call(pamh, &o, MM_REQ_SESSION_CLOSE, &rep, "session", handle, NULL);
	if (r < 0)
		rc = unreachable(pamh, &o, r, PAM_SESSION_ERR);
	else if (rep->status < 0 && rep->status != -ENOENT && rep->status != -EHOSTDOWN)
		rc = PAM_SESSION_ERR; /* an offline session, or one gone meanwhile, is simply over */
	mm_msg_free(rep);
	/* Forget the handle in every case: the daemon expires it anyway. */
	(void)pam_putenv(pamh, "MEDIMAIL_SESSION");
	(void)pam_putenv(pamh, "MEDIMAIL_ACCOUNT");
	(void)pam_putenv(pamh, "MEDIMAIL_ADDRESS");
	(void)pam_set_data(pamh, DATA_SESSION, NULL, NULL);
	return rc;
}
