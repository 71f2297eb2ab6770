// The CGU at the first login: the session acts as no account until they are accepted.
import { post, session, checkRequired, showError, logout, param, safeSuite } from "/assets/app.js";

// where the login was going before the CGU (e.g. an /oidc/authorize request)
const suite = safeSuite(param("suite"));
const s = await session();
if (!s.authenticated) location.assign("/connexion");
else if (!s.cgu_required) location.assign(suite);

document.getElementById("cgu-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.currentTarget;
  if (!checkRequired(form)) return;
  const r = await post("/v1/web/cgu/accept", {});
  if (r.ok) location.assign(suite);
  else showError(form, r.data, "L'acceptation des CGU n'a pas pu être enregistrée.");
});
document.getElementById("cgu-logout").addEventListener("click", logout);
