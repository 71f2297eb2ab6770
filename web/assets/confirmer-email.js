// The login e-mail change link's landing: opening it changes nothing; "Je confirme" does.
import { landing } from "/assets/landing.js";

landing({
  prefix: "email-confirm",
  row: "email-confirm",
  incomplete: "Ce lien est incomplet : ouvrez le lien reçu par mail en entier.",
  gone: "Ce lien est inconnu, expiré ou déjà utilisé.",
  failed: "La confirmation a échoué : réessayez.",
  done: (d) => `Votre nouvelle adresse de connexion est ${d.login_mail}. Utilisez-la désormais pour vous connecter.`,
});
