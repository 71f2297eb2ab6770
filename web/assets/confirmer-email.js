// The login e-mail change link's landing: opening it changes nothing; "Je confirme" does.
import { call, formError, param } from "/assets/app.js";

const form = document.getElementById("email-confirm-form");
const token = param("jeton");
if (!token) {
  formError(form, "Ce lien est incomplet : ouvrez le lien reçu par mail en entier.");
  document.getElementById("email-confirm-submit").disabled = true;
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const btn = document.getElementById("email-confirm-submit");
  btn.disabled = true;
  const r = await call("email-confirm", { token });
  if (!r.ok) {
    btn.disabled = false;
    formError(form, r.status === 404 || r.status === 400
      ? "Ce lien est inconnu, expiré ou déjà utilisé."
      : (r.data.message || "La confirmation a échoué : réessayez."));
    return;
  }
  form.hidden = true;
  document.getElementById("email-confirm-done").hidden = false;
  document.getElementById("email-confirm-status").textContent =
    `Votre nouvelle adresse de connexion est ${r.data.login_mail}. Utilisez-la désormais pour vous connecter.`;
  document.getElementById("email-confirm-login").focus();
});
