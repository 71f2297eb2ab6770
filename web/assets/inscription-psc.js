// "Inscription simplifiée par Pro Santé Connect" (guide 000): the identity no
// account carries, whose link handle the callback left in an HttpOnly cookie;
// its claims (RPPS, names, profession) are shown and fixed, the rest is the
// registration's form.
import { checkRequired, clearErrors, el, fieldError, post, say, showError } from "/assets/app.js";
import { input, loadRegions, PASSWORD_RULE, PROFESSIONS } from "/assets/fields.js";

const $ = (id) => document.getElementById(id);
const LABELS = { rpps: "Identifiant RPPS", sn: "Nom", given_name: "Prénom", profession: "Profession" };
const FIELDS = [
  ["login_mail", "Adresse mail", { req: true, kind: "email", auto: "email", hint: "L'adresse doit forcément être une adresse nominative." }],
  ["password", "Mot de passe", { req: true, kind: "password", auto: "new-password", hint: PASSWORD_RULE }],
  ["password_confirm", "Confirmation du mot de passe", { req: true, kind: "password", auto: "new-password" }],
  ["speciality", "Spécialité", {}],
  ["liberal", "J'exerce mon activité en tant que libéral(e)", { kind: "check", legend: "Activité libérale" }],
  ["phone", "Téléphone professionnel", { kind: "tel", auto: "tel" }],
  ["h", "Je renseigne mon lieu d'exercice"],
  ["street", "Adresse", { auto: "street-address" }],
  ["city", "Ville", { auto: "address-level2" }],
  ["postal_code", "Code postal", { auto: "postal-code", numeric: true }],
  ["department", "Département", { numeric: true }],
  ["raison_sociale", "Raison Sociale", {}],
  ["attached_service", "Service de rattachement", {}],
  ["visible_medimail", "Je souhaite que mon adresse mail apparaisse dans l'annuaire Medimail.", { kind: "check", on: true, legend: "Visible dans l'annuaire Medimail" }],
  ["dematerialisation", "Je souhaite dématérialiser tous mes échanges et ne plus recevoir de papier.", { kind: "check", on: true, legend: "Dématérialisation" }],
];
let fixed = [];

async function start() {
  const r = await post("/v1/web/psc/register/prefill", {});
  if (!r.ok) {
    say($("psc-status"), r.status === 410
      ? "Aucune identité Pro Santé Connect en attente : connectez-vous d'abord avec Pro Santé Connect depuis la page de connexion."
      : (r.data.message || "Pro Santé Connect n'a pas pu être lu : réessayez."));
    return;
  }
  fixed = r.data.fixed || [];
  const dl = $("psc-fixed");
  for (const k of fixed) {
    const v = k === "profession" ? (PROFESSIONS.find(([c]) => c === r.data[k]) || [, r.data[k]])[1] : r.data[k];
    dl.append(el("dt", {}, LABELS[k] || k), el("dd", { id: "fixed-" + k }, v));
  }
  const box = $("psc-fields");
  // a profession the identity does not give is asked for
  if (!fixed.includes("profession")) box.append(...input(["profession", "Profession", { req: true, kind: "select", choices: PROFESSIONS }]));
  for (const f of FIELDS) box.append(...input(f));
  box.append(...input(["region", "Région", { req: true, kind: "select", choices: [] }]));
  await loadRegions($("region"));
  $("region").firstChild.remove(); // loadRegions adds its own "Choisir…"
  for (const k of ["street", "postal_code", "city", "raison_sociale"]) if (r.data[k]) $(k).value = r.data[k];
  $("psc-form").hidden = false;
}

$("psc-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.currentTarget;
  if (!checkRequired(form)) return;
  if ($("password").value !== $("password_confirm").value) {
    clearErrors(form);
    fieldError($("password_confirm"), "Confirmation du mot de passe : les deux mots de passe diffèrent");
    return $("password_confirm").focus();
  }
  const body = {};
  for (const i of form.querySelectorAll("#psc-fields input, #psc-fields select")) {
    if (i.type === "checkbox") body[i.name] = i.checked ? "yes" : "no";
    else if (i.value.trim()) body[i.name] = i.type === "password" ? i.value : i.value.trim();
  }
  $("psc-submit").disabled = true;
  const r = await post("/v1/web/psc/register", body);
  $("psc-submit").disabled = false;
  if (!r.ok) return showError(form, r.data, "L'inscription a été refusée.");
  for (const i of form.querySelectorAll("input[type=password]")) i.value = "";
  $("psc-form-step").hidden = true;
  $("psc-done").hidden = false;
  say($("psc-done-status"), r.data.message ||
    `Compte ${r.data.login} créé et lié à votre identité Pro Santé Connect : confirmez votre adresse mail avec le lien qui vient d'y être envoyé.`);
  $("psc-done-login").focus();
});

start();
