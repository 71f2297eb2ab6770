// The registration forms' pieces, shared by /inscription and /inscription/psc:
// the lists the service accepts and one labelled input per field.
import { el } from "/assets/app.js";

export const FRANCE = ["Auvergne-Rhône-Alpes", "Bourgogne-Franche-Comté", "Bretagne", "Centre-Val de Loire", "Corse",
  "Grand Est", "Guadeloupe", "Guyane", "Hauts-de-France", "Île-de-France", "La Réunion", "Martinique", "Mayotte",
  "Normandie", "Nouvelle-Aquitaine", "Occitanie", "Pays de la Loire", "Provence-Alpes-Côte d'Azur"];
export const PROFESSIONS = [["10", "Médecin"], ["21", "Pharmacien"], ["26", "Audioprothésiste"], ["28", "Opticien-Lunetier"],
  ["31", "Assistant dentaire"], ["32", "Physicien médical"], ["40", "Chirurgien-Dentiste"], ["50", "Sage-Femme"],
  ["60", "Infirmier"], ["69", "Infirmier psychiatrique"], ["70", "Masseur-Kinésithérapeute"],
  ["80", "Pédicure-Podologue"], ["81", "Orthoprothésiste"], ["82", "Podo-Orthésiste"],
  ["83", "Orthopédiste-Orthésiste"], ["84", "Oculariste"], ["85", "Epithésiste"],
  ["86", "Technicien de laboratoire médical"], ["91", "Orthophoniste"], ["92", "Orthoptiste"],
  ["94", "Ergothérapeute"], ["95", "Diététicien"], ["96", "Psychomotricien"], ["98", "Manipulateur ERM"]];
export const PASSWORD_RULE = "8 caractères min, 1 majuscule, 1 minuscule, 1 caractère spécial, 1 chiffre";

// One field as label + control (+ hint): [key, label, {req, kind (text, email,
// password, tel, select, check), hint, choices, on, auto, numeric, legend}];
// ["h", title] is a sub-heading.
export function input([key, label, o = {}]) {
  if (key === "h") return [el("h3", {}, label)];
  const id = key;
  const req = o.req ? el("span", { class: "mm-required" }, "*") : null;
  const hintId = o.hint ? id + "-hint" : null;
  const attrs = { id, name: key };
  if (o.req) attrs.required = true;
  if (hintId) attrs["aria-describedby"] = hintId;
  if (o.auto) attrs.autocomplete = o.auto;
  let node;
  if (o.kind === "check") {
    attrs.type = "checkbox";
    if (o.on) attrs.checked = true;
    return [el("p", { class: "mm-label" }, o.legend), el("div", { class: "mm-check" }, el("input", attrs), el("label", { for: id }, label))];
  }
  if (o.kind === "select") {
    node = el("select", attrs, el("option", { value: "" }, "Choisir…"),
      ...o.choices.map(([v, t]) => el("option", { value: v }, t)));
  } else {
    attrs.type = o.kind === "email" ? "text" : o.kind || "text";
    if (o.kind === "email") attrs.inputmode = "email";
    if (o.numeric) attrs.inputmode = "numeric";
    node = el("input", attrs);
  }
  const out = [el("label", { for: id }, label + " ", ...(req ? [req] : [])), node];
  if (hintId) out.push(el("p", { class: "mm-hint", id: hintId }, o.hint));
  return out;
}

// The regions where registration is open into the select, France's when every one is.
export async function loadRegions(sel) {
  sel.append(el("option", { value: "" }, "Choisir…"));
  let list = FRANCE;
  try {
    const r = await fetch("/v1/web/registration", { credentials: "same-origin", cache: "no-store" });
    const d = await r.json();
    if (!d.every_region) list = d.regions || [];
  } catch (e) {
    /* the page still offers France's regions; the service refuses a closed one next to its field */
  }
  for (const name of list) sel.append(el("option", { value: name }, name));
  if (list.length === 1) sel.value = list[0];
}

