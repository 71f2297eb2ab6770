// The confirmation link's landing: opening the link changes nothing; "Je continue" confirms.
import { landing } from "/assets/landing.js";

landing({
  prefix: "confirm",
  row: "confirm",
  incomplete: "Ce lien de confirmation est incomplet : ouvrez le lien reçu par mail en entier.",
  gone: "Ce lien de confirmation est inconnu, expiré ou déjà utilisé.",
  failed: "La confirmation a échoué : réessayez.",
  done: (d) => `Votre adresse mail est confirmée (compte ${d.login}). Votre compte est en attente de validation par le centre de services.`,
});
