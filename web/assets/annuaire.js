// Annuaires (guide 004): the search form, at most 50 results with the
// refine message, the contact card with "Ajouter aux favoris", the
// favourites list; the Medimail and annuaire santé views. Every value from
// the directory is written with textContent (el()).
import { requireSession, header, call, el, showError, clearErrors, say } from "/assets/app.js";

const LIMIT_MESSAGE = "Pour des raisons de performance, le nombre de résultats est limité à 50. " +
  "Précisez votre recherche pour réduire cette liste ou sélectionnez un contact.";
const LABELS = [
  ["name", "Nom"], ["given_name", "Prénom"], ["sn", "Nom de famille"], ["type", "Type de compte"],
  ["profession_label", "Profession"], ["speciality", "Spécialité"], ["raison_sociale", "Raison sociale"],
  ["attached_service", "Service de rattachement"], ["mss_address", "Adresse MSSanté"], ["phone", "Téléphone"], ["street", "Adresse"],
  ["postal_code", "Code postal"], ["city", "Ville"],
];
const FIELDS = ["q", "name", "first_name", "profession", "city", "postal_code", "raison_sociale"];

const s = await requireSession();
let acting = null;
let favorites = new Set();
const form = document.getElementById("search-form");
const card = document.getElementById("card");
const favBox = document.getElementById("card-favorite");
let shown = null;
let lastSearch = {};

function view() {
  return form.querySelector('input[name="view"]:checked').value;
}

function values(v) {
  return Array.isArray(v) ? v : v === undefined ? [] : [v];
}

function fullName(r) {
  return values(r.name)[0] || [values(r.given_name)[0], values(r.sn)[0]].filter(Boolean).join(" ") || r.login;
}

function row(r, prefix) {
  const b = el("button", { type: "button", class: "mm-link", "data-login": r.login, onclick: () => openCard(r) },
    fullName(r));
  const extra = [values(r.profession_label)[0], values(r.city)[0], values(r.mss_address)[0]].filter(Boolean).join(" – ");
  return el("li", { id: `${prefix}-${r.login}` }, b, extra ? el("span", { class: "mm-meta" }, " " + extra) : null);
}

async function openCard(summary) {
  say(document.getElementById("card-status"), "");
  // the contact's card: the full record of the same view, found by its login
  const r = await call("dir-search", { ...lastSearch, detail: "full" });
  const full = (r.ok && (r.data.records || []).find((x) => x.login === summary.login)) || summary;
  const dl = document.getElementById("card-fields");
  dl.replaceChildren();
  for (const [key, label] of LABELS) {
    const vs = values(full[key]);
    if (!vs.length) continue;
    dl.append(el("dt", {}, label), el("dd", { "data-field": key }, vs.join(", ")));
  }
  document.getElementById("card-title").textContent = "Fiche du contact : " + fullName(full);
  shown = full.login;
  favBox.checked = favorites.has(shown);
  card.hidden = false;
  favBox.focus();
}

favBox.addEventListener("change", async () => {
  if (!shown) return;
  const add = favBox.checked;
  const r = await call(add ? "dir-favorite-add" : "dir-favorite-del", { login: acting, target: shown });
  const status = document.getElementById("card-status");
  if (!r.ok) {
    favBox.checked = !add;
    return say(status, r.data.message || "La demande a été refusée.");
  }
  say(status, r.data.message || (add ? "Ajouté aux favoris" : "Retiré des favoris"));
  await loadFavorites();
});

async function loadFavorites() {
  const r = await call("dir-favorite-list", { login: acting });
  const list = document.getElementById("favorites");
  list.replaceChildren();
  if (!r.ok) return say(document.getElementById("favorites-count"), r.data.message || "Favoris indisponibles.");
  const recs = r.data.records || [];
  favorites = new Set(recs.map((x) => x.login));
  for (const x of recs) list.append(row(x, "fav"));
  say(document.getElementById("favorites-count"),
    recs.length ? `${recs.length} favori${recs.length > 1 ? "s" : ""}` : "Aucun favori pour l'instant.");
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  clearErrors(form);
  const fields = { login: acting, view: view() };
  for (const k of FIELDS) {
    const v = document.getElementById(k).value.trim();
    if (v) fields[k] = v;
  }
  lastSearch = fields;
  const r = await call("dir-search", fields);
  const list = document.getElementById("results");
  const refine = document.getElementById("refine");
  list.replaceChildren();
  refine.hidden = true;
  if (!r.ok) {
    say(document.getElementById("results-count"), "");
    return showError(form, r.data, "La recherche a été refusée.");
  }
  const recs = r.data.records || [];
  for (const x of recs) list.append(row(x, "res"));
  say(document.getElementById("results-count"),
    recs.length ? `${recs.length} résultat${recs.length > 1 ? "s" : ""}` : "Aucun résultat.");
  if (r.data.refine === "yes") say(refine, LIMIT_MESSAGE);
});

if (s) {
  header(s);
  // the directory and the favourites are the person's (rows INDIVIDUAL)
  acting = s.user.login;
  await loadFavorites();
}
