// Accueil: the account header and the ways on.
import { requireSession, header } from "/assets/app.js";

const s = await requireSession();
if (s) {
  header(s);
  const acct = s.account || {};
  document.getElementById("welcome").textContent =
    `Bienvenue ${[s.user.given_name, s.user.sn].filter(Boolean).join(" ") || s.user.login}.` +
    (acct.login && acct.login !== s.user.login ? ` Vous utilisez le compte ${acct.address || acct.login}.` : "");
}
