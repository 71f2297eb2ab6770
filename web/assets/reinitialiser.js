// The reset link's landing: opening it changes nothing; the form sets the new password.
import { checkRequired, fieldError } from "/assets/app.js";
import { landing } from "/assets/landing.js";

const pw = document.getElementById("password");
const confirm = document.getElementById("password_confirm");

landing({
  prefix: "reset",
  row: "password-reset",
  incomplete: "Ce lien de réinitialisation est incomplet : ouvrez le lien reçu par mail en entier.",
  gone: "Ce lien de réinitialisation est inconnu, expiré ou déjà utilisé : refaites une demande depuis « Mot de passe oublié ? ».",
  failed: "Le mot de passe n'a pas pu être modifié.",
  check: (form) => {
    if (!checkRequired(form)) return false;
    if (pw.value === confirm.value) return true;
    fieldError(confirm, "Confirmation du mot de passe : les deux mots de passe diffèrent");
    confirm.focus();
    return false;
  },
  fields: () => ({ password: pw.value, password_confirm: confirm.value }),
  after: () => { pw.value = ""; confirm.value = ""; },
  done: () => "Votre mot de passe a été modifié : connectez-vous avec le nouveau.",
});
