/* pam_medimail messages: every text the user sees (French, English) and how a refusal of the daemon maps to a PAM code. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "pam_medimail.h"
#include "wire.h"

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

const char *pmm_text(const struct opts *o, enum msg m)
{
	return messages[m][o->lang];
}

/* Shows a message; fmt comes from the table (or "%s"), never from the daemon.
 * Returns what the conversation said (most callers need not care). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
int pmm_say(pam_handle_t *pamh, int style, const char *fmt, const char *arg)
{
	if (arg)
		return pam_prompt(pamh, style, NULL, fmt, arg);
	return pam_prompt(pamh, style, NULL, "%s", fmt);
}
#pragma GCC diagnostic pop

void pmm_error(pam_handle_t *pamh, const struct opts *o, enum msg m, const char *arg)
{
	pmm_say(pamh, PAM_ERROR_MSG, pmm_text(o, m), arg);
}

/* The refusals of the daemon that map to one message and one PAM code:
 * by status, then the -EPERM ones by their reason (M_COUNT: no message). */
static const struct {
	int status;
	enum msg m;
	const char *arg; /* the reply field shown in the message, or NULL */
	int pam;
} status_map[] = {
	{-EACCES, M_BAD_CREDENTIALS, NULL, PAM_AUTH_ERR},
	{-EAGAIN, M_RATE, "retry_after", PAM_AUTH_ERR},
	{-EHOSTDOWN, M_DIR_DOWN, NULL, PAM_AUTHINFO_UNAVAIL},
	{-ENOENT, M_COUNT, NULL, PAM_USER_UNKNOWN},
};

static const struct {
	const char *reason;
	enum msg m;
	int pam;
} perm_reasons[] = {
	{"pending", M_PENDING, PAM_PERM_DENIED},
	{"suspended", M_SUSPENDED, PAM_PERM_DENIED},
	{"closed", M_CLOSED, PAM_ACCT_EXPIRED},
	{"org", M_ORG, PAM_PERM_DENIED},
	{"cgu", M_CGU_OFFLINE, PAM_PERM_DENIED},
};

int pmm_explain(pam_handle_t *pamh, const struct opts *o, const struct mm_msg *rep, int fallback)
{
	const char *reason = mm_msg_get(rep, "reason"), *field = mm_msg_get(rep, "field");

	for (size_t i = 0; i < sizeof(status_map) / sizeof(status_map[0]); i++)
		if (rep->status == status_map[i].status) {
			if (status_map[i].m != M_COUNT)
				pmm_error(pamh, o, status_map[i].m,
					status_map[i].arg ? mm_msg_get(rep, status_map[i].arg) ?: "?" : NULL);
			return status_map[i].pam;
		}
	switch (rep->status) {
	case -ENOLCK: {
		const char *until = mm_msg_get(rep, "locked_until");
		char when[40] = "?";
		time_t t = until ? (time_t)strtoll(until, NULL, 10) : 0;
		struct tm tm;

		/* No end: the attempts left are all being checked right now. */
		if (t > 0 && localtime_r(&t, &tm) && strftime(when, sizeof(when), "%d/%m/%Y %H:%M:%S", &tm))
			pmm_error(pamh, o, M_LOCKED, when);
		else
			pmm_error(pamh, o, M_LOCKED_NOW, NULL);
		return PAM_MAXTRIES;
	}
	case -EPERM:
		for (size_t i = 0; reason && i < sizeof(perm_reasons) / sizeof(perm_reasons[0]); i++)
			if (!strcmp(reason, perm_reasons[i].reason)) {
				pmm_error(pamh, o, perm_reasons[i].m, NULL);
				return perm_reasons[i].pam;
			}
		pmm_error(pamh, o, M_REFUSED, rep->message);
		return PAM_PERM_DENIED;
	case -EINVAL:
		if (field && !strcmp(field, "user")) {
			pmm_error(pamh, o, M_BAD_USER, NULL);
			return PAM_USER_UNKNOWN;
		}
		if (!strcmp(mm_msg_get(rep, "rule") ?: "", "max_length"))
			pmm_error(pamh, o, M_TOO_LONG, NULL);
		else if (o->lang == FR && rep->message && *rep->message)
			pmm_error(pamh, o, M_REFUSED, rep->message);
		else
			pmm_error(pamh, o, M_REFUSED, field ?: "?");
		return fallback;
	default:
		if (o->lang == FR && rep->message && *rep->message)
			pmm_error(pamh, o, M_REFUSED, rep->message);
		return fallback;
	}
}

/* The daemon was not reached (or the input could not be sent). */
int pmm_unreachable(pam_handle_t *pamh, const struct opts *o, int r, int code)
{
	if (r == -EMSGSIZE || r == -EINVAL) {
		pmm_error(pamh, o, M_TOO_LONG, NULL);
		return code == PAM_AUTHINFO_UNAVAIL ? PAM_AUTH_ERR : code;
	}
	pmm_error(pamh, o, M_DAEMON_DOWN, NULL);
	return code;
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
int pmm_card_refusal(pam_handle_t *pamh, const struct opts *o, const struct mm_msg *rep)
{
	const char *reason = mm_msg_get(rep, "reason") ?: "";

	if (!strcmp(reason, "pin_incorrect")) {
		const char *tries = mm_msg_get(rep, "tries") ?: "";

		pmm_error(pamh, o,
			!strcmp(tries, "final")         ? M_PIN_FINAL
				: !strcmp(tries, "low") ? M_PIN_LOW
							: M_PIN_WRONG,
			NULL);
		return PAM_AUTH_ERR;
	}
	if (!strcmp(reason, "account_state")) {
		const char *st = mm_msg_get(rep, "status") ?: "";

		if (!strcmp(st, "closed")) {
			pmm_error(pamh, o, M_CLOSED, NULL);
			return PAM_ACCT_EXPIRED;
		}
		pmm_error(pamh, o, !strcmp(st, "suspended") ? M_SUSPENDED : M_PENDING, NULL);
		return PAM_PERM_DENIED;
	}
	for (size_t i = 0; i < sizeof(card_reasons) / sizeof(card_reasons[0]); i++)
		if (!strcmp(reason, card_reasons[i].reason)) {
			pmm_error(pamh, o, card_reasons[i].m, NULL);
			return card_reasons[i].pam;
		}
	return pmm_explain(pamh, o, rep, PAM_AUTH_ERR);
}

enum msg pmm_rule_msg(const char *rule)
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
