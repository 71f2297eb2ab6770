// The consent screen of the OpenID Connect provider, for clients not marked
// first-party: what the service asks, "Autoriser" or "Refuser" (POST with CSRF).
import { post, session, showError, say, param } from "/assets/app.js";

const $ = (id) => document.getElementById(id);
const LABELS = {
  openid: "votre identifiant Medimail (stable, propre à ce service)",
  profile: "vos nom et prénom",
  email: "votre adresse e-mail de connexion",
  medimail: "votre adresse MSSanté, votre numéro RPPS, votre profession et votre type de compte",
  orgs: "les BAL ORG que vous pouvez ouvrir",
  offline_access: "un accès prolongé en votre absence",
};
const requete = param("requete") || "";

const s = await session();
if (!s.authenticated) location.assign("/connexion?suite=" + encodeURIComponent("/oidc/authorize?requete=" + requete));
else {
  const res = await fetch("/v1/oidc/consent?requete=" + encodeURIComponent(requete), { credentials: "same-origin", cache: "no-store" });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) say($("consent-status"), data.message || "Demande d'autorisation inconnue ou expirée.");
  else {
    $("client-name").textContent = data.client_name;
    $("client-id").textContent = data.client_id;
    for (const sc of (data.scope || "").split(" ")) {
      const li = document.createElement("li");
      li.textContent = LABELS[sc] || sc;
      $("scopes").append(li);
    }
  }
}

async function decide(decision) {
  const r = await post("/v1/oidc/consent/decide", { requete, decision });
  if (r.ok && r.data.redirect) location.assign(r.data.redirect);
  else showError($("consent-form"), r.data, "La décision n'a pas pu être enregistrée.");
}
$("consent-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  decide("accept");
});
$("consent-refuse").addEventListener("click", () => decide("refuse"));
