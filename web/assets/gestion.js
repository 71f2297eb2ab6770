// The back office (/gestion): the validation queue and the service
// centre's decisions on one account, through the bridge's ADMIN rows (a
// service-centre operator; a structure administrator for its structures).
// Every value from the directory is written with textContent (el()).
import { requireSession, header, call, el, showError, checkRequired, clearErrors, say } from "/assets/app.js";

const s = await requireSession();
const queueForm = document.getElementById("queue-form");
const actForm = document.getElementById("act-form");
const status = document.getElementById("act-status");

function first(v) {
  return Array.isArray(v) ? v[0] : v;
}

queueForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  clearErrors(queueForm);
  const fields = {};
  for (const k of ["status", "type", "published"]) {
    const v = queueForm.elements[k].value;
    if (v) fields[k] = v;
  }
  const r = await call("list", fields);
  const list = document.getElementById("queue");
  list.replaceChildren();
  if (!r.ok) {
    say(document.getElementById("queue-count"), "");
    return showError(queueForm, r.data, "La liste a été refusée.");
  }
  const recs = r.data.records || [];
  for (const x of recs) {
    const login = first(x.login);
    const name = first(x.name) || [first(x.given_name), first(x.sn)].filter(Boolean).join(" ");
    list.append(el("li", { id: `q-${login}` },
      el("button", { type: "button", class: "mm-link", onclick: () => pick(login) }, login),
      el("span", { class: "mm-meta" }, " " + [name, first(x.type), first(x.status)].filter(Boolean).join(" – "))));
  }
  say(document.getElementById("queue-count"),
    (recs.length ? `${recs.length} compte${recs.length > 1 ? "s" : ""}` : "Aucun compte.") +
    (r.data.message ? " " + r.data.message : ""));
});

function pick(login) {
  actForm.elements.login.value = login;
  actForm.elements.login.focus();
}

for (const b of actForm.querySelectorAll("button[data-row]")) {
  b.addEventListener("click", async () => {
    say(status, "");
    if (!checkRequired(actForm)) return;
    const fields = { login: actForm.elements.login.value.trim() };
    for (const k of (b.dataset.fields || "").split(" ").filter(Boolean)) {
      const v = actForm.elements[k].value.trim();
      if (v) fields[k] = v;
    }
    const r = await call(b.dataset.row, fields);
    if (!r.ok) return showError(actForm, r.data, "La demande a été refusée.");
    say(status, r.data.message || "C'est fait.");
  });
}

// The account's audit trail: this daemon's last 200 decisions about it.
document.getElementById("do-audit").addEventListener("click", async () => {
  say(status, "");
  if (!checkRequired(actForm)) return;
  const r = await call("audit-trail", { login: actForm.elements.login.value.trim() });
  if (!r.ok) return showError(actForm, r.data, "La demande a été refusée.");
  const list = document.getElementById("audit");
  list.replaceChildren();
  for (const x of r.data.records || []) {
    const when = new Date(Number(first(x.at)) * 1000).toLocaleString("fr-FR");
    list.append(el("li", {}, el("time", { datetime: new Date(Number(first(x.at)) * 1000).toISOString() }, when),
      " " + first(x.line)));
  }
  say(document.getElementById("audit-count"), r.data.message || "");
  document.getElementById("audit-section").hidden = false;
});

// The OpenID Connect clients (the operator's rows oidc-client-list, -add, -remove).
async function removeClient(id, name) {
  const r = await call("oidc-client-remove", { id });
  const count = document.getElementById("oidc-count");
  if (!r.ok) return say(count, (r.data && r.data.message) || "Le retrait a été refusé.");
  await listClients();
  say(count, `Client ${name} retiré : ses jetons ne sont plus acceptés.`);
}

async function listClients() {
  const list = document.getElementById("oidc-clients");
  const count = document.getElementById("oidc-count");
  list.replaceChildren();
  const r = await call("oidc-client-list", {});
  if (!r.ok) return say(count, (r.data && r.data.message) || "La liste a été refusée.");
  const recs = r.data.records || [];
  for (const x of recs) {
    const id = first(x.id);
    list.append(el("li", { id: `oidc-${id}` },
      el("strong", {}, first(x.name) || id),
      el("span", { class: "mm-meta" }, " " + [id, first(x.type) === "public" ? "public" : "confidentiel",
        first(x.first_party) === "yes" ? "interne (sans consentement)" : "tiers (consentement)",
        first(x.token_endpoint_auth_method), first(x.id_token_signed_response_alg)].filter(Boolean).join(" – ")),
      el("span", { class: "mm-meta" }, " " + (first(x.redirect_uris) || "")),
      " ",
      el("button", { type: "button", class: "mm-button mm-secondary", id: `oidc-remove-${id}`,
                     "aria-label": `Retirer le client ${first(x.name) || id}` }, "Retirer")));
    document.getElementById(`oidc-remove-${id}`).addEventListener("click", () => removeClient(id, first(x.name) || id));
  }
  say(count, recs.length ? `${recs.length} client${recs.length > 1 ? "s" : ""}` : "Aucun client.");
}
document.getElementById("do-oidc-list").addEventListener("click", listClients);

const addForm = document.getElementById("oidc-add-form");
addForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  clearErrors(addForm);
  document.getElementById("oidc-secret-box").hidden = true;
  if (!checkRequired(addForm)) return;
  const fields = {};
  for (const f of addForm.querySelectorAll("input, select"))
    if (f.value.trim()) fields[f.name] = f.value.trim();
  const r = await call("oidc-client-add", fields);
  if (!r.ok) return showError(addForm, r.data, "Le client n'a pas pu être ajouté.");
  const id = first(r.data.id) || fields.id;
  document.getElementById("oidc-added").textContent = `Client ${id} ajouté.`;
  // shown once: the daemon keeps only its keyed hash
  document.getElementById("oidc-secret").textContent = first(r.data.secret) || "(client public : pas de secret)";
  document.getElementById("oidc-secret-box").hidden = false;
  addForm.reset();
  await listClients();
});

if (s) header(s);
