// "Gérer mon compte" (guide 003, 004): every section for an individual
// account and for a BAL ORG, each on its own rows of the bridge. The acting
// account (after "Changer de compte") is sent as the rows' login.
import { call, checkRequired, clearErrors, el, fieldError, formError, header, requireSession, say, showError } from "/assets/app.js";
import { editor, editorHtml, editorSet } from "/assets/editor.js";
import { qrDraw } from "/assets/qr.js";

// a boolean of the directory or of a reply: TRUE/FALSE, yes/no, on/off
const off = (v) => /^(false|no|off)$/i.test(v || "");
const on = (v) => /^(true|yes|on)$/i.test(v || "");
const list = (v) => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);
let S = null; // the session
let acting = ""; // the acting account's login
let isOrg = false;

function section(id, title, intro) {
  const s = el("section", { id, class: "mm-section", "aria-labelledby": id + "-h" },
    el("h2", { id: id + "-h" }, title));
  if (intro) s.append(el("p", {}, intro));
  document.getElementById("compte-sections").append(s);
  document.getElementById("compte-toc").append(el("li", {}, el("a", { href: "#" + id }, title)));
  return s;
}

function field(id, label, value, opts = {}) {
  const input = el(opts.area ? "textarea" : "input", {
    id, name: opts.name || id, type: opts.area ? null : opts.type || "text",
    required: opts.required || null, disabled: opts.disabled || null, autocomplete: opts.autocomplete || null,
  });
  input.value = value || "";
  return el("div", {}, el("label", { for: id }, label, opts.required ? el("span", { class: "mm-required" }, " *") : null), input);
}

function check(id, label, on, name) {
  const box = el("input", { type: "checkbox", id, name: name || id });
  box.checked = !!on;
  return el("div", { class: "mm-check" }, box, el("label", { for: id }, label));
}

function status(id) {
  return el("p", { id, class: "mm-ok", role: "status", hidden: true });
}

function form(id, ...children) {
  return el("form", { id, novalidate: true }, ...children);
}

function submit(id, text = "Enregistrer") {
  return el("div", { class: "mm-actions" }, el("button", { type: "submit", class: "mm-button", id }, text));
}

const val = (id) => document.getElementById(id).value.trim();
const yes = (id) => (document.getElementById(id).checked ? "yes" : "no");

function onSubmit(f, fn) {
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!checkRequired(f)) return;
    await fn(f);
  });
}

// --- Informations personnelles -----------------------------------------------

const PERSON = [["sn", "Nom"], ["given_name", "Prénom"], ["phone", "Téléphone"], ["phone2", "Téléphone 2"],
  ["street", "Adresse postale"], ["postal_code", "Code postal"], ["city", "Ville"]];
const ACTIVITY = [["raison_sociale", "Raison sociale"], ["profession", "Profession"], ["speciality", "Spécialité"]];
const ORG_FIXED = [["struct_type", "Type de structure"], ["struct_id", "Identifiant de structure (FINESS)"],
  ["description", "Description du compte"], ["resp_sn", "Nom du responsable"], ["resp_given_name", "Prénom du responsable"],
  ["resp_profession", "Profession du responsable"], ["resp_rpps", "RPPS du responsable"]];

async function personal() {
  const s = section("infos", "Informations personnelles");
  const r = await call("settings-get", { login: acting });
  if (!r.ok) return formError(s, r.data.message || "Lecture impossible.");
  const p = r.data;
  const editable = new Set(list(p.editable));
  const person = PERSON.filter(([k]) => editable.has(k) || (!isOrg && p[k] !== undefined));
  const fa = form("form-person", el("h3", {}, "A – Modifier les données personnelles"),
    el("p", {}, isOrg ? "Sur cet écran, vous pouvez modifier les champs : téléphone, adresse postale."
      : "Sur cet écran, vous pouvez modifier les différents champs : nom, prénom, téléphone, adresse postale."),
    ...person.map(([k, l]) => field("p-" + k, l, p[k], { name: k, disabled: !editable.has(k), required: k === "sn" })),
    submit("person-submit"), status("person-status"));
  const act = ACTIVITY.filter(([k]) => editable.has(k));
  const fb = form("form-activity", el("h3", {}, "B – Modifier l'activité"),
    el("p", { class: "mm-info", id: "type-title" }, p.type_title || p.type || ""),
    el("ul", { id: "type-info" }, ...list(p.type_info).map((l) => el("li", {}, l))),
    ...act.map(([k, l]) => field("p-" + k, l, p[k], { name: k })),
    p.profession_label ? el("p", { class: "mm-hint", id: "profession-label" }, "Profession : ", p.profession_label) : null);
  if (isOrg) {
    const dl = el("dl", { class: "mm-dl", id: "org-fixed" });
    for (const [k, l] of ORG_FIXED) if (p[k]) dl.append(el("dt", {}, l), el("dd", {}, p[k]));
    fb.append(dl, el("p", { class: "mm-hint" }, "Les champs FINESS, responsable du compte et description du compte ne sont pas modifiables par les utilisateurs : contactez l'administrateur Medimail de votre structure ou le Centre De Services."));
  } else {
    fb.append(el("p", { class: "mm-hint" }, "Si votre type de compte ne correspond pas à votre réalité professionnelle, contactez l'administrateur Medimail de votre structure ou le Centre De Services."));
  }
  fb.append(submit("activity-submit"), status("activity-status"));
  const save = (keys, st) => async (f) => {
    const body = { login: acting };
    for (const [k] of keys) if (editable.has(k)) body[k] = val("p-" + k);
    const w = await call("settings-set", body);
    if (!w.ok) return showError(f, w.data);
    clearErrors(f);
    say(document.getElementById(st), "Modifications enregistrées.");
  };
  onSubmit(fa, save(person, "person-status"));
  onSubmit(fb, save(act, "activity-status"));
  s.append(fa, fb);
  await visibility(s, p);
}

async function visibility(s, p) {
  const r = await call("show", { login: acting });
  const d = r.ok ? r.data : {};
  const med = p.type === "MED";
  const fc = form("form-visibility", el("h3", {}, "C – Gérer la visibilité de l'adresse mail dans l'annuaire Medimail et l'annuaire santé"),
    el("p", {}, "L'adresse Medimail est l'adresse de connexion à votre compte. Elle permet d'échanger uniquement avec des utilisateurs de Medimail et n'est visible que dans l'annuaire Medimail."),
    check("vis-medimail", "Adresse visible dans l'annuaire Medimail", !off(d.visible_medimail)));
  if (!med) {
    fc.append(el("p", {}, "L'adresse MSSanté permet d'échanger avec des professionnels utilisant d'autres messageries sécurisées de santé. Nous vous conseillons de garder l'adresse MSS visible dans l'annuaire santé."),
      check("vis-mssante", "Adresse MSSanté visible dans l'annuaire santé", !off(d.visible_mssante)));
  }
  fc.append(submit("visibility-submit"), status("visibility-status"));
  onSubmit(fc, async (f) => {
    const dirs = [["medimail", "vis-medimail"]].concat(med ? [] : [["mssante", "vis-mssante"]]);
    for (const [dir, id] of dirs) {
      const w = await call("dir-visibility", { login: acting, directory: dir, visible: document.getElementById(id).checked ? "on" : "off" });
      if (!w.ok) return showError(f, w.data);
    }
    clearErrors(f);
    say(document.getElementById("visibility-status"), "Visibilité enregistrée.");
  });
  s.append(fc);
}

// --- Identifiants de connexion -----------------------------------------------

function removable(ul, label, onRemove, id) {
  const li = el("li", {}, el("span", {}, label));
  li.append(el("button", {
    type: "button", class: "mm-button mm-secondary", id, "aria-label": "Désassocier " + label,
    onclick: async () => { if (await onRemove()) li.remove(); },
  }, "×"));
  ul.append(li);
}

async function credentials() {
  const s = section("identifiants", "Identifiants de connexion");
  if (isOrg) return orgCredentials(s);
  const me = S.user.login;
  // A – password: the mailed link, as "Mot de passe oublié ?"
  const fa = form("form-password", el("h3", {}, "A – Réinitialiser le mot de passe"),
    el("p", {}, "Un lien pour définir un nouveau mot de passe vous sera envoyé sur votre adresse de connexion."),
    submit("password-submit", "Demander la réinitialisation du mot de passe"), status("password-status"));
  onSubmit(fa, async (f) => {
    const w = await call("password-forgot", { login_mail: S.user.login_mail || S.user.login });
    if (!w.ok) return showError(f, w.data);
    say(document.getElementById("password-status"), "Un lien de réinitialisation vient d'être envoyé sur votre adresse de connexion.");
  });
  // the login e-mail change, confirmed through the mailed link
  const fm = form("form-email", el("h3", {}, "Changer d'adresse mail de connexion"),
    field("new-mail", "Nouvelle adresse mail", "", { name: "login_mail", type: "email", required: true, autocomplete: "email" }),
    el("p", { class: "mm-hint" }, "Un lien de confirmation sera envoyé à la nouvelle adresse ; rien ne change avant que vous l'ayez suivi."),
    submit("email-submit", "Changer d'adresse"), status("email-status"));
  onSubmit(fm, async (f) => {
    const w = await call("email-change", { login: me, login_mail: val("new-mail") });
    if (!w.ok) return showError(f, w.data);
    clearErrors(f);
    say(document.getElementById("email-status"), "Un lien de confirmation a été envoyé à " + w.data.pending + ".");
  });
  // B – cards and PASS Occitanie
  const fb = el("div", { id: "links" }, el("h3", {}, "B – Désassocier un mode de connexion par carte CPS / e-CPS ou le PASS"));
  const cards = el("ul", { class: "mm-list", id: "card-list" });
  const c = await call("card-list", { login: me });
  for (const k of list(c.ok && c.data.records)) {
    removable(cards, "Carte CPS " + (k.subject || k.fingerprint), async () => {
      const w = await call("card-unlink", { login: me, fingerprint: k.fingerprint });
      if (!w.ok) formError(fb, w.data.message || "Refusé.");
      return w.ok;
    }, "unlink-card-" + k.fingerprint.slice(0, 12));
  }
  const p = await call("psc-list", { user: me });
  for (const k of list(p.ok && p.data.records)) {
    const name = k.provider === "psc" ? "e-CPS / Pro Santé Connect" : (k.label || "PASS Occitanie");
    removable(cards, name, async () => {
      const w = await call("psc-unlink", { user: me, provider: k.provider, sub: k.sub });
      if (!w.ok) formError(fb, w.data.message || "Refusé.");
      return w.ok;
    }, "unlink-" + k.provider);
  }
  fb.append(cards, el("p", { class: "mm-hint", id: "links-none", hidden: cards.children.length > 0 }, "Aucune carte ni connexion PASS associée."));
  // C – the default account and the ORG notifications
  const a = await call("accounts", { user: me });
  const n = await call("notify-get", { login: me });
  const orgNotify = new Map(list(n.ok && n.data.records).map((o) => [o.org, o.org_to_individual === "yes"]));
  const fc = form("form-default", el("h3", {}, "C – Définir son compte par défaut et les notifications"),
    el("p", {}, "Cet écran affiche l'ensemble des comptes auxquels vous avez accès. Par défaut, lors de la connexion, vous arrivez sur votre compte individuel nominatif."));
  const fs = el("fieldset", {}, el("legend", {}, "Compte par défaut à la connexion"));
  for (const acc of list(a.ok && a.data.records)) {
    const rid = "default-" + acc.login;
    const radio = el("input", { type: "radio", name: "default", id: rid, value: acc.login });
    radio.checked = acc.default === "yes";
    const name = acc.self === "yes" ? `${acc.login_mail || acc.login} (compte individuel)` : (acc.mss_address || acc.login_mail || acc.login);
    fs.append(el("div", { class: "mm-check" }, radio, el("label", { for: rid }, name)));
    if (acc.self !== "yes") {
      fs.append(check("notify-org-" + acc.login, `Recevoir sur mon adresse individuelle les notifications de ${name}`,
        orgNotify.has(acc.login) ? orgNotify.get(acc.login) : true));
    }
  }
  fc.append(fs, submit("default-submit"), status("default-status"));
  onSubmit(fc, async (f) => {
    const sel = f.querySelector('input[name="default"]:checked');
    if (sel) {
      const w = await call("default-set", { user: me, target: sel.value });
      if (!w.ok) return showError(f, w.data);
    }
    for (const box of f.querySelectorAll('input[id^="notify-org-"]')) {
      const w = await call("notify-set", { login: me, org: box.id.slice("notify-org-".length), org_to_individual: box.checked ? "yes" : "no" });
      if (!w.ok) return showError(f, w.data);
    }
    clearErrors(f);
    say(document.getElementById("default-status"), "Préférences enregistrées.");
  });
  s.append(fa, fm, fb, fc);
}

async function orgCredentials(s) {
  const p = await call("settings-get", { login: acting });
  s.append(el("h3", {}, "A – Visualiser l'adresse mail associée à la boite organisationnelle"),
    el("p", { id: "org-mail" }, p.ok ? p.data.login_mail || "" : ""),
    el("p", { class: "mm-hint" }, "C'est sur cette adresse que vous recevez une notification dès réception d'un message Medimail sur la boite organisationnelle."));
  const box = el("div", { id: "members" }, el("h3", {}, "B – Ajouter ou supprimer un compte de connexion"));
  const ul = el("ul", { class: "mm-list", id: "member-list" });
  const f = form("form-member", field("member-mail", "Adresse mail du compte à ajouter", "", { name: "member", type: "email", required: true }),
    submit("member-submit", "Ajouter"), status("member-status"));
  const draw = (members) => {
    ul.replaceChildren();
    for (const m of members) {
      removable(ul, m, async () => {
        const w = await call("org-member-del", { org: acting, member: m });
        if (!w.ok) formError(f, w.data.message || "Refusé.");
        return w.ok;
      }, "member-del-" + m.replace(/[^A-Za-z0-9_-]/g, "_"));
    }
  };
  const reload = async () => {
    const m = await call("show", { login: acting });
    if (m.ok) draw(list(m.data.member));
    else formError(f, m.data.message || "Liste indisponible.");
  };
  await reload();
  onSubmit(f, async () => {
    const w = await call("org-member-add", { org: acting, member: val("member-mail") });
    if (!w.ok) return showError(f, w.data);
    await reload();
    document.getElementById("member-mail").value = "";
    clearErrors(f);
    say(document.getElementById("member-status"), w.data.message || "Compte de connexion ajouté.");
  });
  box.append(ul, f);
  s.append(box);
}

// --- Signatures -----------------------------------------------------------------

async function signatures() {
  const s = section("signatures", "Signatures", "Depuis « Signatures », vous pouvez créer et gérer vos signatures.");
  const holder = el("div", { id: "signature-list" });
  const add = el("button", { type: "button", class: "mm-button mm-secondary", id: "signature-add" }, "Ajouter une signature");
  s.append(holder, add);
  let n = 0;
  const one = (sig) => {
    const k = n++;
    const ed = editor("sig-html-" + k, "Contenu");
    const f = form("form-signature-" + k,
      field("sig-title-" + k, "Intitulé", sig.title, { name: "title", required: true }),
      el("p", { class: "mm-hint" }, isOrg ? "Il sera visible par les utilisateurs ayant accès au compte partagé." : "Il sera visible uniquement par vous."),
      ed.node, check("sig-default-" + k, "Signature par défaut", on(sig.default)),
      el("div", { class: "mm-actions" },
        el("button", { type: "submit", class: "mm-button", id: "sig-save-" + k }, "Enregistrer"),
        el("button", { type: "button", class: "mm-button mm-secondary", id: "sig-del-" + k }, "Supprimer")),
      status("sig-status-" + k));
    f.dataset.id = sig.id || "";
    editorSet(ed.zone, sig.html || "");
    onSubmit(f, async () => {
      const body = { login: acting, title: val("sig-title-" + k), html: editorHtml(ed.zone), default: yes("sig-default-" + k) };
      if (f.dataset.id) body.id = f.dataset.id;
      const w = await call("signature-set", body);
      if (!w.ok) return w.data.field === "html" ? (clearErrors(f), fieldError(ed.zone, w.data.message)) : showError(f, w.data);
      f.dataset.id = w.data.id;
      clearErrors(f);
      say(document.getElementById("sig-status-" + k), "Signature enregistrée.");
    });
    f.querySelector("#sig-del-" + k).addEventListener("click", async () => {
      if (f.dataset.id) {
        const w = await call("signature-del", { login: acting, id: f.dataset.id });
        if (!w.ok) return showError(f, w.data);
      }
      f.remove();
    });
    holder.append(f);
    return f;
  };
  add.addEventListener("click", () => one({}).querySelector("input").focus());
  const r = await call("signature-list", { login: acting });
  const recs = list(r.ok && r.data.records);
  if (recs.length) recs.forEach(one);
  else one({});
}

// --- Réponse automatique ------------------------------------------------------

// YYYYmmddHHMMSSZ -> "jj/mm/aaaa hh:mm (UTC)"
const when = (t) => (t && t.length >= 12 ? `${t.slice(6, 8)}/${t.slice(4, 6)}/${t.slice(0, 4)} ${t.slice(8, 10)}:${t.slice(10, 12)} (UTC)` : t || "");
const toDate = (t) => (t && t.length >= 8 ? `${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}` : "");

async function autoreply() {
  const s = section("reponse", "Réponse automatique", "Depuis « Réponse automatique », vous pouvez créer et gérer vos réponses automatiques.");
  const r = await call("autoreply-get", { login: acting });
  const a = r.ok ? r.data : {};
  const ed = editor("ar-body", "Corps du message");
  const f = form("form-autoreply", check("ar-enabled", "Activer la réponse automatique", on(a.enabled)),
    field("ar-start", "Date de début", toDate(a.start), { name: "start", type: "date" }),
    field("ar-end", "Date de fin", toDate(a.end), { name: "end", type: "date" }),
    field("ar-subject", "Objet", a.subject, { name: "subject" }), ed.node,
    submit("autoreply-submit"), status("autoreply-status"));
  editorSet(ed.zone, a.body || "");
  onSubmit(f, async () => {
    const body = { login: acting, enabled: yes("ar-enabled"), subject: val("ar-subject"), body: editorHtml(ed.zone) };
    if (val("ar-start")) body.start = val("ar-start");
    if (val("ar-end")) body.end = val("ar-end");
    const w = await call("autoreply-set", body);
    if (!w.ok) return w.data.field === "body" ? (clearErrors(f), fieldError(ed.zone, w.data.message)) : showError(f, w.data);
    clearErrors(f);
    say(document.getElementById("autoreply-status"), "Réponse automatique enregistrée.");
  });
  s.append(f);
}

// --- Notifications ----------------------------------------------------------------

async function notifications() {
  const s = section("notifications", "Notifications");
  const r = await call("notify-get", { login: acting });
  const n = r.ok ? r.data : {};
  const f = form("form-notify", el("h3", {}, "A – Gérer les notifications de réception"),
    check("nt-receipt", `Recevoir une notification sur ${isOrg ? "le mail associé à votre compte organisationnel" : "votre mail de connexion"} à chaque message Medimail reçu (laisser cette case cochée)`, on(n.receipt), "receipt"),
    n.receipt_address ? el("p", { class: "mm-hint", id: "nt-address" }, "Adresse : ", n.receipt_address) : null,
    check("nt-digest", "Recevoir tous les jours une notification indiquant si vous avez reçu ou non un message Medimail", on(n.digest), "digest"),
    el("h3", {}, "B – Gérer les notifications d'ouverture"),
    check("nt-opening", "Recevoir une notification à chaque fois qu'un utilisateur de Medimail ouvre un message que vous avez envoyé", on(n.opening), "opening"),
    el("p", { class: "mm-info", id: "nt-caveat" }, n.opening_caveat || "Medimail ne peut pas savoir si un message envoyé à une autre messagerie sécurisée de santé a été ouvert."),
    submit("notify-submit"), status("notify-status"));
  onSubmit(f, async () => {
    const w = await call("notify-set", { login: acting, receipt: yes("nt-receipt"), digest: yes("nt-digest"), opening: yes("nt-opening") });
    if (!w.ok) return showError(f, w.data);
    clearErrors(f);
    say(document.getElementById("notify-status"), "Notifications enregistrées.");
  });
  s.append(f);
}

// --- Délégations ----------------------------------------------------------------

async function delegations() {
  const s = section("delegations", "Délégations",
    "Une délégation de compte permet à la personne qui en bénéficie de recevoir une copie de chaque message Medimail reçu par ce compte. On ne peut déléguer que vers un autre utilisateur Medimail.");
  const ul = el("ul", { class: "mm-list", id: "delegate-list" });
  const f = form("form-delegate", el("h3", {}, "A – Ajouter une délégation"),
    field("dl-address", "Adresse mail vers laquelle le message doit être redirigé", "", { name: "address", type: "email", required: true }),
    submit("delegate-submit", "Ajouter la délégation"), status("delegate-status"));
  const item = (addr) => removable(ul, addr, async () => {
    const w = await call("delegate-del", { login: acting, address: addr });
    if (!w.ok) formError(f, w.data.message || "Refusé.");
    return w.ok;
  }, "delegate-del-" + addr.replace(/[^A-Za-z0-9_-]/g, "_"));
  const r = await call("delegate-list", { login: acting });
  if (r.ok && r.data.advice) s.append(el("p", { class: "mm-info", id: "delegate-advice" }, r.data.advice));
  for (const d of list(r.ok && r.data.records)) item(d.address);
  onSubmit(f, async () => {
    const w = await call("delegate-add", { login: acting, address: val("dl-address") });
    if (!w.ok) return showError(f, w.data);
    item(w.data.address);
    document.getElementById("dl-address").value = "";
    clearErrors(f);
    say(document.getElementById("delegate-status"), "Délégation ajoutée.");
  });
  s.append(f, el("h3", {}, "B – Supprimer une délégation"), ul);
}

// --- Dématérialisation --------------------------------------------------------------

async function demat() {
  const s = section("demat", "Dématérialisation",
    "Des établissements ayant certains logiciels métiers utilisent ce paramètre afin de savoir si le professionnel de santé accepte la totale dématérialisation des échanges.");
  const r = await call("demat-get", { login: acting });
  const f = form("form-demat", check("dm-on", "J'accepte la dématérialisation des échanges (laisser la case cochée)", r.ok && on(r.data.dematerialisation), "dematerialisation"),
    submit("demat-submit"), status("demat-status"));
  onSubmit(f, async () => {
    const w = await call("demat-set", { login: acting, dematerialisation: yes("dm-on") });
    if (!w.ok) return showError(f, w.data);
    say(document.getElementById("demat-status"), "Préférence enregistrée.");
  });
  s.append(f);
}

// --- Appareils mobiles ----------------------------------------------------------------

async function devices() {
  const s = section("appareils", "Appareils mobiles",
    "Installez l'application Medimail Mobile (App Store ou Google Play), choisissez « J'ai un compte Medimail » puis « Scanner le QR Code ».");
  const ul = el("ul", { class: "mm-list", id: "device-list" });
  const f = form("form-device", el("h3", {}, "A – Associer un appareil mobile"),
    field("dv-name", "Nom de l'appareil", "", { name: "name", required: true }),
    submit("device-submit", "Générer le QR Code"), status("device-status"));
  const qr = el("div", { id: "device-qr", hidden: true });
  const draw = async () => {
    const r = await call("device-list", { login: acting });
    ul.replaceChildren();
    for (const d of list(r.ok && r.data.records)) {
      const state = d.state === "active" ? "actif" : "en attente";
      ul.append(el("li", { "data-device": d.id }, el("span", {}, `${d.name} (${state})`),
        el("button", {
          type: "button", class: "mm-button mm-secondary", id: "device-revoke-" + d.id,
          onclick: async () => {
            const w = await call("device-revoke", { login: acting, id: d.id });
            if (!w.ok) return formError(f, w.data.message || "Refusé.");
            await draw();
          },
        }, "Révoquer")));
    }
  };
  onSubmit(f, async () => {
    const w = await call("device-enrol", { login: acting, name: val("dv-name") });
    if (!w.ok) return showError(f, w.data);
    clearErrors(f);
    const canvas = el("canvas", { id: "device-qr-canvas", class: "mm-qr", role: "img",
      "aria-label": "QR Code d'association de l'appareil " + w.data.name });
    qrDraw(canvas, w.data.enrol_uri, 6);
    qr.replaceChildren(canvas,
      el("p", {}, "Avec votre téléphone, scannez le QR Code. Code d'association : ", el("strong", { id: "device-code" }, w.data.code)),
      el("p", { class: "mm-hint" }, "Valable jusqu'au " + when(w.data.expires) + "."));
    qr.hidden = false;
    await draw();
  });
  s.append(f, qr, el("h3", {}, "B – Révoquer l'accès à votre compte Medimail sur vos appareils mobiles"), ul);
  await draw();
}

// --- Mots de passe d'application (issue 16: mail clients) --------------------------------

async function appPasswords() {
  const s = section("mots-de-passe-application", "Mots de passe d'application",
    "Un logiciel de messagerie (Thunderbird, Outlook, l'application Mail…) ne peut pas saisir le code reçu par e-mail : "
    + "donnez-lui un mot de passe d'application, un par logiciel. Il ne sert qu'à la messagerie (IMAP, SMTP), "
    + "jamais à la connexion à Medimail ; le mot de passe de votre compte n'y est jamais accepté.");
  const ul = el("ul", { class: "mm-list", id: "app-password-list" });
  const f = form("form-app-password", el("h3", {}, "A – Créer un mot de passe d'application"),
    field("ap-name", "Nom du logiciel de messagerie", "", { name: "name", required: true }),
    submit("app-password-submit", "Créer le mot de passe"), status("app-password-status"));
  const shown = el("div", { id: "app-password-shown", hidden: true });
  const draw = async () => {
    const r = await call("app-password-list", { login: acting });
    ul.replaceChildren();
    for (const p of list(r.ok && r.data.records)) {
      const used = p.used ? "dernière utilisation le " + when(p.used) : "jamais utilisé";
      ul.append(el("li", { "data-app-password": p.id },
        el("span", { class: "ap-label" }, `${p.name} (créé le ${when(p.created)}, ${used})`),
        el("button", {
          type: "button", class: "mm-button mm-secondary", id: "app-password-revoke-" + p.id,
          "aria-label": "Révoquer le mot de passe d'application " + p.name,
          onclick: async () => {
            const w = await call("app-password-revoke", { login: acting, id: p.id });
            if (!w.ok) return formError(f, w.data.message || "Refusé.");
            say(document.getElementById("app-password-status"), w.data.message || "Mot de passe révoqué.");
            await draw();
          },
        }, "Révoquer")));
    }
    if (!ul.children.length) ul.append(el("li", { id: "app-password-none" }, "Aucun mot de passe d'application."));
  };
  onSubmit(f, async () => {
    const w = await call("app-password-create", { login: acting, name: val("ap-name") });
    if (!w.ok) return showError(f, w.data);
    clearErrors(f);
    document.getElementById("ap-name").value = "";
    const secret = el("input", { id: "app-password-secret", type: "text", readonly: true, class: "mm-secret",
      autocomplete: "off", spellcheck: "false" });
    secret.value = w.data.secret;
    const hide = el("button", { type: "button", class: "mm-button mm-secondary", id: "app-password-done",
      onclick: () => { shown.replaceChildren(); shown.hidden = true; } }, "J'ai copié le mot de passe");
    shown.replaceChildren(
      el("p", {}, "Mot de passe d'application pour « ", el("strong", { id: "app-password-for" }, w.data.name), " » :"),
      el("div", {}, el("label", { for: "app-password-secret" }, "Mot de passe (à copier)"), secret),
      el("p", { class: "mm-hint", id: "app-password-hint" },
        "Copiez-le maintenant (sélectionnez-le puis Ctrl+C) et collez-le dans le champ mot de passe de votre logiciel de messagerie, "
        + "avec votre identifiant Medimail. Il ne sera plus jamais affiché : en cas de perte, révoquez-le et créez-en un autre."),
      hide);
    shown.hidden = false;
    secret.focus();
    secret.select();
    await draw();
  });
  s.append(f, shown, el("h3", {}, "B – Révoquer un mot de passe d'application"), ul);
  await draw();
}

// --- Informations gestionnaire ------------------------------------------------------------

async function managers() {
  const s = section("gestionnaire", "Informations gestionnaire",
    "Contactez le ou les administrateurs Medimail de votre structure.");
  const r = await call("managers-get", { login: acting });
  const ul = el("ul", { class: "mm-list", id: "manager-list" });
  for (const m of list(r.ok && r.data.records)) {
    ul.append(el("li", {}, el("span", {}, m.name || ""), el("span", {}, m.mail || ""), m.phone ? el("span", {}, m.phone) : null));
  }
  if (!ul.children.length) ul.append(el("li", {}, "Centre De Services e-Santé Occitanie : https://e-sante-occitanie.atlassian.net/servicedesk/customer/portal/1"));
  s.append(ul);
}

async function main() {
  S = await requireSession();
  if (!S) return;
  header(S);
  acting = (S.account && S.account.login) || S.user.login;
  const me = list(S.accounts).find((a) => a.login === acting) || {};
  isOrg = acting !== S.user.login || me.type === "ORG";
  say(document.getElementById("compte-who"), (isOrg ? "Compte organisationnel : " : "Compte individuel : ") + (me.mss_address || me.login_mail || acting));
  await personal();
  await credentials();
  await signatures();
  await autoreply();
  await notifications();
  await delegations();
  await demat();
  if (!isOrg) await devices();
  if (!isOrg) await appPasswords();
  await managers();
  document.body.dataset.ready = "yes";
}

main();
