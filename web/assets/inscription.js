// "Créer un compte" (guides 000, 001, 002): the region, then the account type,
// then one form posted to the `register` row over the bridge ("Je valide").
// A BAL ORG is opened by an individual account: "Oui" proves an existing one
// (password, then the code mailed to it: `register-org-proof`), "Non" creates
// it with the ORG (its fields prefixed `member.`).
import { call, checkRequired, clearErrors, el, fieldError, say, showError } from "/assets/app.js";
import { input, loadRegions, PASSWORD_RULE, PROFESSIONS } from "/assets/fields.js";

const STRUCT_TYPES = [["FINESS", "FINESS"], ["SIRET", "SIRET"], ["SIREN", "SIREN"]];

// [key, label, options]: req (required), kind (text, email, password, tel, select, check), hint,
// choices (select), on (a checkbox's default), auto (autocomplete).
const PERSON = (p = "") => [
  ["h", "Je renseigne mes informations personnelles"],
  [p + "sn", "Nom", { req: true, auto: "family-name" }],
  [p + "given_name", "Prénom", { req: true, auto: "given-name" }],
  [p + "login_mail", "Adresse mail", { req: true, kind: "email", auto: "email",
    hint: "L'adresse doit forcément être une adresse nominative. C'est sur la base de l'adresse mail saisie que sera ensuite définie l'adresse MSS." }],
  [p + "password", "Mot de passe", { req: true, kind: "password", auto: "new-password", hint: PASSWORD_RULE }],
  [p + "password_confirm", "Confirmation du mot de passe", { req: true, kind: "password", auto: "new-password" }],
];
const PHONES = [
  ["phone", "Téléphone professionnel", { kind: "tel", auto: "tel" }],
  ["phone2", "Deuxième numéro de téléphone", { kind: "tel" }],
];
const PLACE = [
  ["h", "Je renseigne mon lieu d'exercice"],
  ["street", "Adresse", { auto: "street-address" }],
  ["city", "Ville", { auto: "address-level2" }],
  ["postal_code", "Code postal", { auto: "postal-code", numeric: true }],
  ["department", "Département", { numeric: true, hint: "Son numéro : 81, 2A…" }],
  ["raison_sociale", "Raison Sociale", {}],
  ["attached_service", "Service de rattachement", {}],
];
const BOXES = (mss) => [
  ["visible_medimail", "Je souhaite que mon adresse mail apparaisse dans l'annuaire Medimail.", { kind: "check", on: true, legend: "Visible dans l'annuaire Medimail" }],
  ...(mss ? [["visible_mssante", "Je souhaite que mon adresse MSSanté apparaisse dans l'annuaire santé.", { kind: "check", on: true, legend: "Visible dans l'annuaire santé" }]] : []),
  ["dematerialisation", "Je souhaite dématérialiser tous mes échanges et ne plus recevoir de papier.", { kind: "check", on: true, legend: "Dématérialisation" }],
];
const PROFESSION = (p = "", req = true) => [p + "profession", "Profession", { req, kind: "select", choices: PROFESSIONS }];

const FORMS = {
  PER: {
    title: "Création d'un compte à titre personnel avec identifiant national (RPPS ou ADELI)",
    fields: [...PERSON(), ["h", "Je renseigne mes informations professionnelles"], PROFESSION(),
      ["speciality", "Spécialité", {}],
      ["rpps", "Identifiant RPPS (11 caractères)", { numeric: true, hint: "Ou, à défaut, le numéro ADELI ci-dessous." }],
      ["adeli", "Numéro ADELI (9 caractères)", {}],
      ["liberal", "J'exerce mon activité en tant que libéral(e)", { kind: "check", legend: "Activité libérale" }],
      ...PHONES, ...PLACE, ...BOXES(true)],
  },
  INT: {
    title: "Je suis professionnel de santé étranger ou encore en formation",
    fields: [...PERSON(), ["h", "Je renseigne mes informations professionnelles"], PROFESSION(),
      ["speciality", "Spécialité", {}],
      ["struct_type", "Type d'identifiant de votre établissement", { req: true, kind: "select", choices: STRUCT_TYPES }],
      ["struct_id", "Identifiant de votre établissement (FINESS / SIRET / SIREN)", { req: true, numeric: true }],
      ["liberal", "J'exerce mon activité en tant que libéral(e)", { kind: "check", legend: "Activité libérale" }],
      ...PHONES, ...PLACE, ...BOXES(true)],
  },
  MED: {
    title: "Compte pour les professionnels sans identifiant RPPS : adresse visible uniquement par les utilisateurs de Medimail, sans adresse MSSanté",
    fields: [...PERSON(), ...PHONES, ...PLACE, ...BOXES(false)],
  },
  ORG: {
    title: "Compléter le formulaire d'inscription du compte partagé (BAL ORG)",
    fields: [
      ["h", "Le compte partagé"],
      ["login_mail", "Adresse mail générique", { req: true, kind: "email", hint: "Ex : pharmacie-du-centre-albi@gmail.com" }],
      ["org_name", "Nom du compte partagé", { req: true }],
      ["description", "Description du compte", { req: true, hint: "Ce champ permet d'être retrouvé plus facilement dans l'annuaire. Indiquer le nom du service, la structure, la ville, le code postal." }],
      ["struct_type", "Type d'identifiant établissement", { req: true, kind: "select", choices: STRUCT_TYPES }],
      ["struct_id", "Identifiant établissement", { req: true, numeric: true, hint: "Indiquer le numéro FINESS géographique ; le SIREN/SIRET uniquement si vous ne disposez pas de FINESS." }],
      ...PHONES.slice(0, 1), ...PLACE,
      ["h", "Le responsable"],
      ["resp_sn", "Nom du responsable", { req: true }],
      ["resp_given_name", "Prénom du responsable", { req: true }],
      PROFESSION("resp_"), ["resp_rpps", "RPPS du responsable", { numeric: true }],
      ...BOXES(true)],
  },
};
// "Non": the individual account created with the ORG, its fields prefixed.
const MEMBER = [...PERSON("member."), ["h", "Identifiant national du compte individuel"],
  ["member.rpps", "Identifiant RPPS (11 caractères)", { numeric: true, hint: "Avec un RPPS : un compte PER, visible dans l'annuaire santé. Sans : un compte sans adresse MSSanté." }],
  PROFESSION("member.", false)];

const state = { region: "", type: "", proof: null, non: false };
const $ = (id) => document.getElementById(id);

function show(id) {
  for (const s of ["step-region", "step-kind", "step-proof", "step-form", "step-done"]) $(s).hidden = s !== id;
  const h = $(id).querySelector("h2");
  if (h) {
    h.tabIndex = -1;
    h.focus();
  }
}

function openForm(type, non = false) {
  state.type = type;
  state.non = non;
  const box = $("fields");
  box.replaceChildren();
  let fields = FORMS[type].fields;
  if (type === "ORG" && non) fields = [...fields, ["h", "Créer un compte individuel directement rattaché au compte partagé"], ...MEMBER];
  for (const f of fields) box.append(...input(f));
  say($("form-kind"), FORMS[type].title + (state.proof ? ` — compte individuel associé : ${state.proof.member}` : ""));
  show("step-form");
}

$("region-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (!checkRequired(ev.currentTarget)) return;
  state.region = $("region-choice").value;
  show("step-kind");
});
$("kind-individual").addEventListener("click", () => {
  $("org-choice").hidden = true;
  $("individual-choice").hidden = false;
  $("type-PER").focus();
});
$("kind-org").addEventListener("click", () => {
  $("individual-choice").hidden = true;
  $("org-choice").hidden = false;
  $("org-oui").focus();
});
for (const t of ["PER", "INT", "MED"]) $("type-" + t).addEventListener("click", () => openForm(t));
$("org-oui").addEventListener("click", () => {
  state.proof = null;
  $("proof-form").hidden = false;
  $("proof-code-form").hidden = true;
  show("step-proof");
});
$("org-non").addEventListener("click", () => {
  state.proof = null;
  openForm("ORG", true);
});
$("register-back").addEventListener("click", () => show("step-kind"));

// "Oui": the individual account's password, then the code mailed to it.
$("proof-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.currentTarget;
  if (!checkRequired(form)) return;
  const r = await call("register-org-proof", { member: $("member").value.trim(), member_password: $("member_password").value });
  if (!r.ok) return showError(form, r.data, "L'identification du compte individuel a échoué.");
  $("member_password").value = "";
  state.proof = { member: r.data.member, txn: r.data.txn };
  form.hidden = true;
  $("proof-code-form").hidden = false;
  say($("proof-sent"), r.data.message || "Un code à usage unique vous a été envoyé.");
  $("member_code").focus();
});
$("proof-code-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (!checkRequired(ev.currentTarget)) return;
  state.proof.code = $("member_code").value.trim();
  openForm("ORG");
});

$("register-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.currentTarget;
  if (!checkRequired(form)) return;
  for (const p of ["", "member."]) {
    const a = form.querySelector(`[name="${p}password"]`), b = form.querySelector(`[name="${p}password_confirm"]`);
    if (a && b && a.value !== b.value) {
      clearErrors(form);
      fieldError(b, "Confirmation du mot de passe : les deux mots de passe diffèrent");
      return b.focus();
    }
  }
  const body = { type: state.type, region: state.region };
  for (const i of form.querySelectorAll("#fields input, #fields select")) {
    if (i.type === "checkbox") body[i.name] = i.checked ? "yes" : "no";
    else if (i.value.trim()) body[i.name] = i.type === "password" ? i.value : i.value.trim();
  }
  if (state.proof) Object.assign(body, { member: state.proof.member, member_txn: state.proof.txn, member_code: state.proof.code });
  $("register-submit").disabled = true;
  const r = await call("register", body);
  $("register-submit").disabled = false;
  if (!r.ok) {
    // a refused "Oui" code sends the person back to it
    if (r.data && (r.data.field === "member_code" || r.data.field === "member_txn")) {
      show("step-proof");
      return showError($("proof-code-form"), { ...r.data, field: "member_code" });
    }
    return showError(form, r.data, "L'inscription a été refusée.");
  }
  for (const i of form.querySelectorAll("input[type=password]")) i.value = "";
  say($("done-status"), r.data.message || "Un lien de confirmation vous a été envoyé.");
  show("step-done");
});

// A visitor has no session: the PUBLIC rows it calls are guarded by the
// request's Origin (http/web.c), a session's by its CSRF token too.
loadRegions($("region-choice"));
