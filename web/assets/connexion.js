// Connexion: adresse mail + mot de passe, then the mailed code; e-CPS with
// the code shown while the page polls; the Pro Santé Connect button.
import { post, checkRequired, showError, fieldError, formError, clearErrors, say, param, safeSuite, session } from "/assets/app.js";

const $ = (id) => document.getElementById(id);
let txn = null;
let resendTimer = null;
let ecpsTimer = null;

// to: where the login goes, the page's suite unless the daemon says (a link's reply)
function next(data, to = param("suite")) {
  const suite = safeSuite(to);
  // the CGU first, then where the login was going (an /oidc/authorize request waits there)
  if (data.status === "cgu_required") location.assign(suite === "/" ? "/cgu" : "/cgu?suite=" + encodeURIComponent(suite));
  else location.assign(suite);
}

function waitResend(seconds) {
  const btn = $("code-resend");
  const note = $("resend-wait");
  clearInterval(resendTimer);
  let left = Math.max(0, Math.ceil(seconds));
  if (!left) {
    btn.disabled = false;
    say(note, "");
    return;
  }
  btn.disabled = true;
  const tick = () => {
    if (left <= 0) {
      clearInterval(resendTimer);
      btn.disabled = false;
      say(note, "");
      return;
    }
    say(note, `Vous pourrez demander un nouveau code dans ${left} s.`);
    left--;
  };
  tick();
  resendTimer = setInterval(tick, 1000);
}

function lockMessage(data) {
  if (data.locked_until) {
    const d = new Date(data.locked_until * 1000);
    return `${data.message} (jusqu'au ${d.toLocaleString("fr-FR")})`;
  }
  return data.message;
}

function showCodeStep(data) {
  txn = data.txn;
  $("step-password").hidden = true;
  $("or-strong").hidden = true;
  $("strong").hidden = true;
  $("step-code").hidden = false;
  say($("code-sent"), data.code_sent
    ? `Un code à usage unique vient d'être envoyé à ${data.sent_to}.`
    : (data.message || "Un code vous a déjà été envoyé : saisissez-le."));
  waitResend(data.retry_after || 0);
  $("code").focus();
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.currentTarget;
  if (!checkRequired(form)) return;
  $("login-submit").disabled = true;
  const r = await post("/v1/web/login/password", { user: $("user").value.trim(), password: $("password").value });
  $("login-submit").disabled = false;
  $("password").value = "";
  if (r.ok) return showCodeStep(r.data);
  if (r.status === 423) return formError(form, lockMessage(r.data));
  showError(form, r.data, "Identifiant ou mot de passe incorrect.");
});

$("code-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.currentTarget;
  if (!checkRequired(form)) return;
  $("code-submit").disabled = true;
  // After an unlinked Pro Santé Connect login, the same code also links the identity.
  const r = await post(linking ? "/v1/web/psc/link" : "/v1/web/login/code", { txn, code: $("code").value.trim() });
  $("code-submit").disabled = false;
  // a link resumes the authorization request its Pro Santé Connect login came from, or none
  if (r.ok) return next(r.data, linking ? r.data.suite : param("suite"));
  if (linking && (r.status === 409 || r.status === 410)) {
    clearErrors(form);
    return formError(form, r.data.message || "La carte n'a pas pu être liée à votre compte.");
  }
  const code = $("code");
  code.value = "";
  clearErrors(form);
  if (r.status === 423) return fieldError(code, lockMessage(r.data));
  if (r.data.error === "txn_expired" || r.data.error === "invalid_txn") {
    formError(form, "Votre demande de connexion a expiré : recommencez avec votre adresse mail et votre mot de passe.");
    return;
  }
  let msg = r.data.message || "Code incorrect.";
  if (typeof r.data.tries_left === "number") msg += ` (essais restants : ${r.data.tries_left})`;
  fieldError(code, msg);
  code.focus();
});

$("code-resend").addEventListener("click", async () => {
  const form = $("code-form");
  const r = await post("/v1/web/login/resend", { txn });
  clearErrors(form);
  if (r.ok) {
    say($("code-sent"), `Un nouveau code vient d'être envoyé à ${r.data.sent_to}.`);
    waitResend(r.data.retry_after || 0);
    return;
  }
  if (r.status === 429 && r.data.retry_after) {
    waitResend(r.data.retry_after);
    return;
  }
  formError(form, r.data.message || "Le code n'a pas pu être renvoyé.");
});

$("code-restart").addEventListener("click", () => location.reload());

// --- e-CPS -----------------------------------------------------------------

function stopEcps() {
  clearTimeout(ecpsTimer);
  ecpsTimer = null;
  $("ecps-wait").hidden = true;
  $("ecps-form").hidden = false;
}

$("ecps-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const login = $("login-form");
  clearErrors(login);
  const user = $("user");
  if (!user.value.trim()) {
    fieldError(user, "Adresse mail : renseignez votre identifiant pour vous connecter avec e-CPS");
    user.focus();
    return;
  }
  const r = await post("/v1/web/ecps/start", { user: user.value.trim() });
  if (!r.ok) return showError(login, r.data, "La connexion avec e-CPS n'a pas pu commencer.");
  $("ecps-form").hidden = true;
  $("ecps-wait").hidden = false;
  $("ecps-code").textContent = r.data.binding_message;
  const every = Math.max(1, r.data.interval || 2) * 1000;
  const poll = async () => {
    const p = await post("/v1/web/ecps/poll", { request_id: r.data.request_id });
    if (p.ok && (p.data.status === "authenticated" || p.data.status === "cgu_required")) return next(p.data);
    if (p.ok) {
      ecpsTimer = setTimeout(poll, p.data.status === "slow_down" ? every * 2 : every);
      return;
    }
    stopEcps();
    formError(login, p.data.status === "denied" ? "Vous avez refusé la demande sur l'application e-CPS."
      : p.data.status === "expired" ? "La demande a expiré : recommencez."
      : (p.data.message || "La connexion avec e-CPS a échoué."));
  };
  ecpsTimer = setTimeout(poll, every);
});

$("ecps-cancel").addEventListener("click", stopEcps);

// --- Pro Santé Connect's answer, and an open session -------------------------

const PSC_ERRORS = {
  link_required: "Votre carte CPx n'est pas encore liée à votre compte Medimail : saisissez vos identifiants puis cliquez sur « Connexion » ; après le code reçu par mail, votre carte CPx sera liée à votre compte Medimail.",
  access_denied: "Pro Santé Connect a refusé la connexion.",
  not_permitted: "Votre compte n'est pas actif.",
  not_configured: "La connexion par Pro Santé Connect n'est pas disponible sur ce service.",
};
const pscError = param("psc");
const linking = pscError === "link_required";
if (pscError) say($("psc-error"), PSC_ERRORS[pscError] || "La connexion par Pro Santé Connect a échoué : réessayez.");
// An identity no account carries may also register ("Inscription simplifiée par Pro Santé Connect").
$("psc-register").hidden = !linking;

session().then((s) => {
  if (s.authenticated && !param("psc")) next(s);
});

// From /oidc/authorize (suite): Pro Santé Connect's callback comes back to it too.
const suiteParam = param("suite");
if (suiteParam && suiteParam.startsWith("/oidc/authorize?")) {
  $("psc-login").href = "/v1/web/psc/login?suite=" + encodeURIComponent(suiteParam);
}

// An OpenID Connect client may say who logs in (login_hint): the field is filled, never submitted.
const hint = param("login_hint");
if (hint && !$("user").value) $("user").value = hint;
