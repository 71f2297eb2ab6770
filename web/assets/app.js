// The pages' shared module: the bridge and the JSON routes with the CSRF
// token, errors shown next to their field, the account header.
// No framework, no build step; every value from the service is written
// with textContent, never innerHTML.

let csrf = null;

export function setCsrf(token) {
  csrf = token || null;
}

// POST a JSON object to a route of the daemon; {ok, status, data}. A CSRF
// token gone stale (the session was rotated in another tab) is fetched
// again once.
export async function post(path, body = {}) {
  const r = await postOnce(path, body);
  if (r.status === 403 && r.data && r.data.error === "csrf_token") {
    const s = await session();
    if (s.authenticated) return postOnce(path, body);
  }
  return r;
}

async function postOnce(path, body) {
  const headers = { "Content-Type": "application/json" };
  if (csrf) headers["X-CSRF-Token"] = csrf;
  let res;
  try {
    res = await fetch(path, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (e) {
    return { ok: false, status: 0, data: { error: "network", message: "Le service est injoignable : vérifiez votre connexion et réessayez." } };
  }
  let data = {};
  try {
    data = await res.json();
  } catch (e) {
    data = { error: "internal", message: "Réponse illisible du service." };
  }
  if (data && data.csrf_token) setCsrf(data.csrf_token);
  return { ok: res.ok, status: res.status, data };
}

// One request of the socket's table over the bridge: flat object of strings.
export function call(name, fields = {}) {
  const body = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined && v !== null) body[k] = String(v);
  }
  return post("/v1/call/" + encodeURIComponent(name), body);
}

// Who is logged in: {authenticated, user, account, accounts, csrf_token, ...}.
export async function session() {
  try {
    const res = await fetch("/v1/web/session", { credentials: "same-origin", cache: "no-store" });
    const data = await res.json();
    if (data.csrf_token) setCsrf(data.csrf_token);
    return data;
  } catch (e) {
    return { authenticated: false };
  }
}

// A page for logged-in people: to the login page without a session, to the
// CGU page before they are accepted.
export async function requireSession() {
  const s = await session();
  if (!s.authenticated) {
    location.assign("/connexion?suite=" + encodeURIComponent(location.pathname));
    return null;
  }
  if (s.cgu_required) {
    location.assign("/cgu");
    return null;
  }
  return s;
}

// el("p", {class: "x", for: "id"}, "text", child...): text children are text nodes.
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    e.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return e;
}

// --- errors next to their field ---------------------------------------------

export function clearErrors(form) {
  for (const n of form.querySelectorAll(".mm-error")) n.remove();
  for (const i of form.querySelectorAll("[aria-invalid]")) {
    i.removeAttribute("aria-invalid");
    const d = (i.getAttribute("aria-describedby") || "").split(" ").filter((x) => !x.endsWith("-error"));
    if (d.length) i.setAttribute("aria-describedby", d.join(" "));
    else i.removeAttribute("aria-describedby");
  }
  const g = form.querySelector("[data-form-error]");
  if (g) {
    g.textContent = "";
    g.hidden = true;
  }
}

// The service's refusal: next to its field when it names one (field, rule,
// message), else in the form's general error zone.
export function showError(form, data, fallback = "La demande a été refusée.") {
  clearErrors(form);
  const msg = (data && data.message) || fallback;
  const field = data && data.field ? form.querySelector(`[name="${CSS.escape(data.field)}"]`) : null;
  if (field) {
    fieldError(field, msg);
    field.focus();
    return;
  }
  formError(form, msg);
}

export function fieldError(input, msg) {
  const id = (input.id || input.name) + "-error";
  const p = el("p", { class: "mm-error", id, role: "alert" }, msg);
  input.insertAdjacentElement("afterend", p);
  input.setAttribute("aria-invalid", "true");
  const d = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
  if (!d.includes(id)) d.push(id);
  input.setAttribute("aria-describedby", d.join(" "));
}

export function formError(form, msg) {
  let g = form.querySelector("[data-form-error]");
  if (!g) {
    g = el("p", { class: "mm-error mm-form-error", role: "alert", "data-form-error": true });
    form.prepend(g);
  }
  g.textContent = msg;
  g.hidden = false;
}

// Required fields left empty, said in words before asking the service.
export function checkRequired(form) {
  clearErrors(form);
  let first = null;
  for (const i of form.querySelectorAll("[required]")) {
    if ((i.type === "checkbox" && !i.checked) || (i.type !== "checkbox" && !i.value.trim())) {
      const label = form.querySelector(`label[for="${CSS.escape(i.id)}"]`);
      const name = label ? label.textContent.replace(/\s*\*\s*$/, "") : i.name;
      fieldError(i, `${name} : champ obligatoire`);
      first = first || i;
    }
  }
  if (first) first.focus();
  return !first;
}

export function say(node, msg) {
  node.textContent = msg;
  node.hidden = !msg;
}

// --- the account header -------------------------------------------------------

function personName(u) {
  const n = [u.given_name, u.sn].filter(Boolean).join(" ");
  return n || u.login;
}

// Fills <header id="mm-header">: name, login address, MSSanté address,
// "Changer de compte" with the ORGs, "Déconnexion".
export function header(s) {
  const h = document.getElementById("mm-header");
  if (!h || !s || !s.authenticated) return;
  h.replaceChildren();
  const acct = s.account || {};
  const mine = (s.accounts || []).find((a) => a.login === acct.login) || {};
  const who = el("div", { class: "mm-who" },
    el("p", { class: "mm-name", id: "mm-name" }, personName(s.user)),
    el("p", { class: "mm-login", id: "mm-login" }, s.user.login_mail || s.user.login),
    el("p", { class: "mm-mss", id: "mm-mss" }, "Votre adresse MSSanté associée : ",
      el("span", { id: "mm-mss-address" }, mine.mss_address || "aucune")));
  if (acct.login && acct.login !== s.user.login) {
    who.append(el("p", { class: "mm-acting", id: "mm-acting" }, "Compte utilisé : ",
      el("strong", {}, mine.login_mail || acct.address || acct.login)));
  }
  const nav = el("nav", { class: "mm-nav", "aria-label": "Compte" });
  const others = (s.accounts || []).filter((a) => a.login !== acct.login);
  if (others.length) {
    const list = el("ul", { class: "mm-switch-list", id: "mm-switch-list", hidden: true });
    for (const a of others) {
      const label = a.self ? `${a.login_mail || a.login} (compte individuel)` : (a.mss_address || a.login_mail || a.login);
      list.append(el("li", {}, el("button", {
        type: "button", class: "mm-link", "data-account": a.login,
        onclick: () => switchTo(a.login),
      }, label)));
    }
    const btn = el("button", {
      type: "button", id: "mm-switch", class: "mm-button mm-secondary", "aria-expanded": "false",
      "aria-controls": "mm-switch-list",
      onclick: () => {
        list.hidden = !list.hidden;
        btn.setAttribute("aria-expanded", String(!list.hidden));
        if (!list.hidden) list.querySelector("button").focus();
      },
    }, "Changer de compte");
    list.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") {
        list.hidden = true;
        btn.setAttribute("aria-expanded", "false");
        btn.focus();
      }
    });
    nav.append(el("div", { class: "mm-switch" }, btn, list));
  }
  nav.append(el("button", { type: "button", id: "mm-logout", class: "mm-button mm-secondary", onclick: logout }, "Déconnexion"));
  h.append(el("a", { href: "/", class: "mm-brand" }, "Medimail"), who, nav);
}

async function switchTo(login) {
  const r = await post("/v1/web/switch", { target: login });
  if (r.ok) location.reload();
  else alert(r.data.message || "Changement de compte refusé");
}

export async function logout() {
  await post("/v1/web/logout", {});
  setCsrf(null);
  location.assign("/connexion");
}

// The query-string parameter name (a mailed link's token).
export function param(name) {
  return new URLSearchParams(location.search).get(name);
}

// Where a page may send the browser once it is done (the "suite" parameter): a path of this site
// only. Not "//host", and no backslash anywhere: browsers read "/\\host" as "//host".
export function safeSuite(s) {
  return typeof s === "string" && /^\/(?!\/)[\x21-\x7e]*$/.test(s) && !s.includes("\\") ? s : "/";
}
