// The confirmation link's landing: opening the link changes nothing; "Je continue" confirms.
import { call, formError, param } from "/assets/app.js";

const form = document.getElementById("confirm-form");
const token = param("jeton");
if (!token) {
  formError(form, "Ce lien de confirmation est incomplet : ouvrez le lien reçu par mail en entier.");
  document.getElementById("confirm-submit").disabled = true;
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const btn = document.getElementById("confirm-submit");
  btn.disabled = true;
  const r = await call("confirm", { token });
  if (!r.ok) {
    btn.disabled = false;
    formError(form, r.status === 404 || r.status === 410 || r.status === 400
      ? "Ce lien de confirmation est inconnu, expiré ou déjà utilisé."
      : (r.data.message || "La confirmation a échoué : réessayez."));
    return;
  }
  form.hidden = true;
  document.getElementById("confirm-done").hidden = false;
  document.getElementById("confirm-status").textContent =
    `Votre adresse mail est confirmée (compte ${r.data.login}). Votre compte est en attente de validation par le centre de services.`;
  document.getElementById("confirm-login").focus();
});
