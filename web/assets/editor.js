// The signature and automatic-reply editor: a contenteditable zone with the
// guide's buttons (gras, italique, souligné, taille, police, couleur,
// remplissage, listes, alignement, image, supprimer tous les styles), and a
// serialiser that writes only what the daemon's allow-list (authd/core/html.c)
// accepts: b i u span font p div br ul ol li img, style limited to font-size,
// font-family, color, background-color, text-align; img only as a data: URI.
import { el } from "/assets/app.js";

const TAGS = new Set(["b", "strong", "i", "em", "u", "span", "font", "p", "div", "br", "ul", "ol", "li", "img"]);
const FONTS = ["Arial", "Verdana", "Georgia", "Times New Roman", "Courier New"];
const SIZES = [["2", "Petite"], ["3", "Normale"], ["4", "Grande"], ["5", "Très grande"]];
const IMG_MAX = 40 * 1024;

function attrText(v) {
  return v.replace(/&/g, "").replace(/</g, "").replace(/"/g, "'");
}

function text(v) {
  // controls out (the rule "control"), newlines as spaces
  return v.replace(/[\u0000-\u001f\u007f]/g, " ").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function goodColor(v) {
  return /^#[0-9a-f]{3,8}$/i.test(v) || /^rgba?\([0-9., %]+\)$/i.test(v) || /^[a-z]{1,24}$/i.test(v);
}

function goodSize(v) {
  return /^(xx-small|x-small|small|medium|large|x-large|xx-large|xxx-large|smaller|larger)$/i.test(v) ||
    /^[0-9]{1,4}(\.[0-9]{1,2})?(px|pt|em|rem|%)$/i.test(v);
}

function goodFamily(v) {
  return v.length <= 200 && /^\s*(['"]?)[A-Za-z0-9 _-]+\1\s*(,\s*(['"]?)[A-Za-z0-9 _-]+\3\s*)*$/.test(v);
}

// The style attribute's own text: the page's CSP (style-src 'self') leaves
// inline styles unparsed, so node.style cannot be read.
function parseStyle(node) {
  const out = new Map();
  for (const part of (node.getAttribute("style") || "").split(";")) {
    const i = part.indexOf(":");
    if (i < 0) continue;
    const k = part.slice(0, i).trim().toLowerCase();
    const v = part.slice(i + 1).replace(/!important/i, "").trim();
    if (k && v) out.set(k, v);
  }
  return out;
}

function styleOf(node) {
  const s = parseStyle(node);
  const out = [];
  const size = s.get("font-size");
  if (size && goodSize(size)) out.push(`font-size: ${size}`);
  const fam = (s.get("font-family") || "").replace(/"/g, "'");
  if (fam && goodFamily(fam)) out.push(`font-family: ${fam}`);
  for (const k of ["color", "background-color"]) {
    const v = s.get(k);
    if (v && goodColor(v)) out.push(`${k}: ${v}`);
  }
  const al = s.get("text-align") || node.getAttribute("align") || "";
  if (/^(left|right|center|justify|start|end)$/.test(al)) out.push(`text-align: ${al}`);
  return out;
}

// Inline styles shown through the CSSOM, which the CSP allows: what the
// editor's commands and the stored HTML wrote as attributes.
function restyle(zone) {
  for (const n of zone.querySelectorAll("[style], [align]")) {
    const st = styleOf(n);
    const al = n.getAttribute("align");
    n.removeAttribute("style");
    n.removeAttribute("align");
    for (const d of st) {
      const i = d.indexOf(":");
      n.style.setProperty(d.slice(0, i), d.slice(i + 1).trim());
    }
    if (al && !n.style.textAlign && /^(left|right|center|justify)$/.test(al)) n.style.setProperty("text-align", al);
  }
}

function serialiseChildren(node, inList) {
  let out = "";
  for (const c of node.childNodes) out += serialise(c, inList);
  return out;
}

function serialise(node, inList) {
  if (node.nodeType === Node.TEXT_NODE) return text(node.nodeValue);
  if (node.nodeType !== Node.ELEMENT_NODE) return "";
  let tag = node.tagName.toLowerCase();
  if (tag === "br") return "<br>";
  if (tag === "img") {
    const src = node.getAttribute("src") || "";
    if (!/^data:image\/(png|jpeg|gif);base64,[A-Za-z0-9+/=]+$/.test(src)) return "";
    let a = `<img src="${src}"`;
    const alt = node.getAttribute("alt");
    a += ` alt="${attrText(alt || "").slice(0, 256)}"`;
    for (const d of ["width", "height"]) {
      const v = node.getAttribute(d);
      if (v && /^[0-9]{1,4}$/.test(v)) a += ` ${d}="${v}"`;
    }
    return a + ">";
  }
  if (tag === "script" || tag === "style") return "";
  if (tag === "li" && !inList) tag = "div";
  if (!TAGS.has(tag)) tag = /^(h[1-6]|section|article|blockquote|pre)$/.test(tag) ? "div" : "span";
  let inner = serialiseChildren(node, tag === "ul" || tag === "ol");
  if ((tag === "ul" || tag === "ol") && /^(\s|<br>)*$/.test(inner)) return "";
  const st = styleOf(node);
  let attrs = st.length ? ` style="${st.join("; ")}"` : "";
  if (tag === "font") {
    const face = (node.getAttribute("face") || "").replace(/"/g, "'");
    if (face && goodFamily(face)) attrs += ` face="${face}"`;
    const size = node.getAttribute("size") || "";
    if (/^[1-7]$/.test(size)) attrs += ` size="${size}"`;
    const color = node.getAttribute("color") || "";
    if (color && goodColor(color)) attrs += ` color="${color}"`;
  }
  // styles of emphasis written by the browser as CSS become the allowed tags
  const s = parseStyle(node);
  if (/^(bold|[6-9]00)$/.test(s.get("font-weight") || "") && tag !== "b" && tag !== "strong") inner = `<b>${inner}</b>`;
  if (s.get("font-style") === "italic" && tag !== "i" && tag !== "em") inner = `<i>${inner}</i>`;
  if (/underline/.test(s.get("text-decoration") || s.get("text-decoration-line") || "") && tag !== "u") inner = `<u>${inner}</u>`;
  if (tag === "span" && !attrs) return inner;
  return `<${tag}${attrs}>${inner}</${tag}>`;
}

// The allowed HTML of an editor zone.
export function editorHtml(zone) {
  return serialiseChildren(zone, false).trim();
}

// Puts stored HTML (already checked by the daemon) into the zone without
// running anything: parsed in an inert document, then re-serialised.
export function editorSet(zone, html) {
  const doc = new DOMParser().parseFromString(`<body>${html || ""}</body>`, "text/html");
  const clean = serialiseChildren(doc.body, false);
  const doc2 = new DOMParser().parseFromString(`<body>${clean}</body>`, "text/html");
  zone.replaceChildren(...Array.from(doc2.body.childNodes).map((n) => document.importNode(n, true)));
  restyle(zone);
}

// A labelled editor: returns {node, zone}. id names the zone; label its text.
export function editor(id, label) {
  const zone = el("div", {
    id, class: "mm-editor", contenteditable: "true", tabindex: "0", role: "textbox", "aria-multiline": "true",
    "aria-labelledby": id + "-label",
  });
  const cmd = (name, value) => () => {
    zone.focus();
    document.execCommand("styleWithCSS", false, name === "hiliteColor");
    document.execCommand(name, false, value);
    restyle(zone);
  };
  const b = (key, title, name, value) => el("button", { type: "button", class: "mm-button mm-secondary", "data-cmd": key, title, onclick: cmd(name, value) }, title);
  const size = el("select", { id: id + "-size" },
    el("option", { value: "" }, "Taille"), ...SIZES.map(([v, t]) => el("option", { value: v }, t)));
  size.addEventListener("change", () => { if (size.value) cmd("fontSize", size.value)(); size.value = ""; });
  const font = el("select", { id: id + "-font" },
    el("option", { value: "" }, "Police"), ...FONTS.map((f) => el("option", { value: f }, f)));
  font.addEventListener("change", () => { if (font.value) cmd("fontName", font.value)(); font.value = ""; });
  const color = el("input", { type: "color", id: id + "-color", value: "#00558c" });
  color.addEventListener("change", () => cmd("foreColor", color.value)());
  const fill = el("input", { type: "color", id: id + "-fill", value: "#ffff00" });
  fill.addEventListener("change", () => cmd("hiliteColor", fill.value)());
  const file = el("input", { type: "file", id: id + "-image", accept: "image/png,image/jpeg,image/gif", class: "mm-file" });
  file.addEventListener("change", () => {
    const f = file.files[0];
    file.value = "";
    if (!f) return;
    if (f.size > IMG_MAX) {
      alert("Image trop grande (40 Kio au plus).");
      return;
    }
    const r = new FileReader();
    r.onload = () => {
      zone.focus();
      const img = el("img", { src: r.result, alt: f.name.replace(/\.[a-z]+$/i, "") });
      const sel = getSelection();
      if (sel.rangeCount && zone.contains(sel.anchorNode)) sel.getRangeAt(0).insertNode(img);
      else zone.append(img);
    };
    r.readAsDataURL(f);
  });
  const plain = el("button", {
    type: "button", class: "mm-button mm-secondary", "data-cmd": "plain", title: "Supprimer tous les styles",
    onclick: () => {
      const lines = zone.innerText.split("\n");
      zone.replaceChildren();
      lines.forEach((l, i) => { if (i) zone.append(el("br")); zone.append(l); });
    },
  }, "Supprimer tous les styles");
  const lab = (input, t) => el("span", { class: "mm-tool" }, el("label", { for: input.id, class: "mm-tool-label" }, t), input);
  const bar = el("div", { class: "mm-toolbar", role: "toolbar", "aria-label": "Mise en forme : " + label },
    b("bold", "Gras", "bold"), b("italic", "Italique", "italic"), b("underline", "Souligné", "underline"),
    lab(size, "Taille"), lab(font, "Police"), lab(color, "Couleur"), lab(fill, "Remplissage"),
    b("ul", "Liste à puces", "insertUnorderedList"), b("ol", "Liste numérotée", "insertOrderedList"),
    b("left", "Aligner à gauche", "justifyLeft"), b("center", "Centrer", "justifyCenter"), b("right", "Aligner à droite", "justifyRight"),
    lab(file, "Image"), plain);
  const node = el("div", { class: "mm-editor-wrap" }, el("p", { id: id + "-label", class: "mm-label" }, label), bar, zone);
  return { node, zone };
}
