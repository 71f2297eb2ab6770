// "Mot de passe oublié ?": the same answer whether or not an account uses the address.
import { call, checkRequired, showError, say } from "/assets/app.js";

document.getElementById("forgot-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.currentTarget;
  if (!checkRequired(form)) return;
  const r = await call("password-forgot", { login_mail: document.getElementById("login_mail").value.trim() });
  if (!r.ok) return showError(form, r.data, "La demande n'a pas pu être envoyée.");
  form.hidden = true;
  say(document.getElementById("forgot-status"),
    "Si un compte actif utilise cette adresse, un lien de réinitialisation vient d'y être envoyé.");
});
