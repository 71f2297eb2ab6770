// The reset link's landing: opening it changes nothing; the form sets the new password.
import { call, checkRequired, showError, formError, fieldError, param } from "/assets/app.js";

const form = document.getElementById("reset-form");
const token = param("jeton");
if (!token) formError(form, "Ce lien de réinitialisation est incomplet : ouvrez le lien reçu par mail en entier.");

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!checkRequired(form)) return;
  const pw = document.getElementById("password");
  const confirm = document.getElementById("password_confirm");
  if (pw.value !== confirm.value) {
    fieldError(confirm, "Confirmation du mot de passe : les deux mots de passe diffèrent");
    confirm.focus();
    return;
  }
  const r = await call("password-reset", { token, password: pw.value, password_confirm: confirm.value });
  pw.value = "";
  confirm.value = "";
  if (!r.ok) {
    if (!r.data.field && (r.status === 404 || r.status === 410))
      return formError(form, "Ce lien de réinitialisation est inconnu, expiré ou déjà utilisé : refaites une demande depuis « Mot de passe oublié ? ».");
    return showError(form, r.data, "Le mot de passe n'a pas pu être modifié.");
  }
  form.hidden = true;
  document.getElementById("reset-done").hidden = false;
  document.getElementById("reset-status").textContent = "Votre mot de passe a été modifié : connectez-vous avec le nouveau.";
  document.getElementById("reset-login").focus();
});
