"""Gérer mon compte in a real browser (issue 15, guide 003 and 004): every
section of /compte for an individual account and for a BAL ORG after
"Changer de compte", each change read back through LDAP; the device
enrolment's QR code drawn on the page and decoded from a screenshot by
zbarimg; the login e-mail change through its mailed link; the attacks (XSS
in the text fields and in a signature, another user's login, CSRF)."""
import base64
import re
import subprocess
import time

import ldap
import ldap.filter
from selenium.webdriver.common.by import By

from mmstack import SUFFIX
from webstack import until, web  # noqa: F401 (the fixture)

XSS = '"><img src=x onerror="window.__mm_xss=1">'
SCRIPT = "<script>window.__mm_xss=1</script>"


def ldap_entry(web, login):
    """The account's entry read with python3-ldap from the test slapd (ldapi, EXTERNAL)."""
    conn = ldap.initialize(web.slapd.ldapi_url)
    conn.sasl_external_bind_s()
    try:
        res = conn.search_s(SUFFIX, ldap.SCOPE_SUBTREE, f"(uid={ldap.filter.escape_filter_chars(login)})", ["*"])
    finally:
        conn.unbind_s()
    (_, a), = [(dn, a) for dn, a in res if dn]
    return {k: [v.decode() for v in vs] for k, vs in a.items()}


def open_compte(web):
    web.go("/compte")
    until(lambda: web.driver.execute_script("return document.body.dataset.ready") == "yes", what="/compte ready")


def a11y(web):
    """Over the page: no input without a label, no img without alt, no skipped heading level."""
    return web.driver.execute_script("""
        const bad = [];
        for (const i of document.querySelectorAll('input, select, textarea')) {
          if (i.type === 'hidden') continue;
          if (!i.id || !document.querySelector('label[for="' + CSS.escape(i.id) + '"]')) bad.push('no label: ' + (i.id || i.name));
        }
        for (const z of document.querySelectorAll('[contenteditable]')) {
          const l = z.getAttribute('aria-labelledby');
          if (!l || !document.getElementById(l)) bad.push('editor without label: ' + z.id);
        }
        for (const i of document.querySelectorAll('img')) if (!i.hasAttribute('alt')) bad.push('img without alt');
        let last = 0;
        for (const h of document.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
          const n = +h.tagName[1];
          if (n > last + 1) bad.push('heading skips to ' + h.tagName + ': ' + h.textContent);
          last = n;
        }
        if (document.documentElement.lang !== 'fr') bad.push('lang');
        return bad;
    """)


def set_value(web, id_, value):
    e = web.find(id_)
    web.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", e)
    e.clear()
    e.send_keys(value)


def tick(web, id_, on):
    e = web.find(id_)
    web.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", e)
    if e.is_selected() != on:
        e.click()


def press(web, id_):
    e = web.find(id_)
    web.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", e)
    e.click()


def test_compte_individual_every_section(web):
    """Guide 003, part 1: each section of "Gérer mon compte" changed in the page and
    read back in the directory; the payloads stay text."""
    login, mail = web.account("PER", given="Camille")
    peer, peer_mail = web.account("MED")
    web.login(mail)
    open_compte(web)
    assert a11y(web) == []
    for h in ("Informations personnelles", "Identifiants de connexion", "Signatures", "Réponse automatique",
              "Notifications", "Délégations", "Dématérialisation", "Appareils mobiles", "Informations gestionnaire"):
        assert web.driver.find_elements(By.XPATH, f"//h2[normalize-space()='{h}']"), h
    # A – données personnelles, with a payload in a text field
    set_value(web, "p-phone", "0561000001")
    set_value(web, "p-city", "Toulouse")
    set_value(web, "p-street", "1 rue " + XSS)
    press(web, "person-submit")
    web.wait_text("person-status", "enregistr")
    e = ldap_entry(web, login)
    assert e["telephoneNumber"][0] == "0561000001" and e["l"] == ["Toulouse"], e
    assert e["street"] == ["1 rue " + XSS]
    # B – activité
    set_value(web, "p-raison_sociale", "Cabinet " + SCRIPT)
    press(web, "activity-submit")
    web.wait_text("activity-status", "enregistr")
    assert ldap_entry(web, login)["o"] == ["Cabinet " + SCRIPT]
    # C – visibilité
    tick(web, "vis-medimail", False)
    tick(web, "vis-mssante", False)
    press(web, "visibility-submit")
    web.wait_text("visibility-status", "enregistr")
    e = ldap_entry(web, login)
    assert e["mmVisibleMedimail"] == ["FALSE"] and e["mmVisibleMssante"] == ["FALSE"]
    # the payloads came back as text after a reload
    open_compte(web)
    assert web.find("p-street").get_attribute("value") == "1 rue " + XSS
    assert web.find("vis-medimail").is_selected() is False
    assert web.dom_inert() == []
    # Signatures: the editor's styles, the stored HTML holds only allowed markup
    set_value(web, "sig-title-0", "Pro " + XSS)
    zone = web.find("sig-html-0")
    web.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", zone)
    zone.click()
    zone.send_keys("Dr Camille")
    web.driver.execute_script("""
        const z = arguments[0]; const r = document.createRange(); r.selectNodeContents(z);
        const s = getSelection(); s.removeAllRanges(); s.addRange(r);""", zone)
    for b in ("bold", "italic", "underline", "center"):
        web.driver.find_element(By.CSS_SELECTOR, f'#form-signature-0 [data-cmd="{b}"]').click()
    # a pasted payload: inert in the zone, not in the stored signature
    web.driver.execute_script("""arguments[0].insertAdjacentHTML('beforeend',
        '<a href="javascript:alert(1)">x</a><span onclick="x()" style="position:fixed;color:red">s</span>');""", zone)
    tick(web, "sig-default-0", True)
    press(web, "sig-save-0")
    web.wait_text("sig-status-0", "enregistr")
    e = ldap_entry(web, login)
    sig = " ".join(e["mmSignature"])
    assert "Dr Camille" in sig and "<b>" in sig and "<i>" in sig and "<u>" in sig and "text-align: center" in sig, sig
    assert "onclick" not in sig and "javascript" not in sig and "href" not in sig and "position" not in sig, sig
    assert "color: red" in sig
    assert e.get("mmDefaultSignature"), e
    # Réponse automatique
    tick(web, "ar-enabled", True)
    web.driver.execute_script("arguments[0].value='2030-01-02'", web.find("ar-start"))
    web.driver.execute_script("arguments[0].value='2030-01-09'", web.find("ar-end"))
    set_value(web, "ar-subject", "Absent " + XSS)
    z = web.find("ar-body")
    web.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", z)
    z.click()
    z.send_keys("De retour le 10")
    press(web, "autoreply-submit")
    web.wait_text("autoreply-status", "enregistr")
    e = ldap_entry(web, login)
    assert e["mmAutoReplyActive"] == ["TRUE"] and e["mmAutoReplyStart"][0].startswith("20300102")
    assert e["mmAutoReplyEnd"][0].startswith("20300109") and e["mmAutoReplySubject"] == ["Absent " + XSS]
    assert "De retour le 10" in e["mmAutoReplyBody"][0]
    # Notifications
    tick(web, "nt-opening", True)
    tick(web, "nt-digest", True)
    tick(web, "nt-receipt", False)
    press(web, "notify-submit")
    web.wait_text("notify-status", "enregistr")
    e = ldap_entry(web, login)
    assert e["mmNotifyOpening"] == ["TRUE"] and e["mmNotifyDigest"] == ["TRUE"] and e["mmNotifyReceipt"] == ["FALSE"]
    # Délégations: a non-Medimail address refused next to the field, then one added and removed
    set_value(web, "dl-address", "quelquun@gmail.example")
    press(web, "delegate-submit")
    until(lambda: web.error_of("dl-address"), what="delegate refusal")
    set_value(web, "dl-address", peer_mail)
    press(web, "delegate-submit")
    web.wait_text("delegate-list", peer_mail)
    assert len(ldap_entry(web, login)["mmDelegate"]) == 1
    # Dématérialisation
    tick(web, "dm-on", False)
    press(web, "demat-submit")
    web.wait_text("demat-status", "enregistr")
    assert ldap_entry(web, login)["mmDematerialisation"] == ["FALSE"]
    # the page read back after a reload shows what was stored
    open_compte(web)
    assert web.find("nt-opening").is_selected() and not web.find("nt-receipt").is_selected()
    assert not web.find("dm-on").is_selected() and web.find("ar-enabled").is_selected()
    assert web.find("sig-title-0").get_attribute("value") == "Pro " + XSS
    assert web.dom_inert() == [] and a11y(web) == []
    press(web, "delegate-del-" + re.sub(r"[^A-Za-z0-9_-]", "_", peer_mail))
    until(lambda: "mmDelegate" not in ldap_entry(web, login), what="delegate removed")


def test_compte_device_qr_and_revoke(web, tmp_path):
    """Guide 003 "Appareils mobiles": a name, "Générer le QR Code", the code drawn on
    the page decodes (zbarimg, from a screenshot) to the enrolment URI holding the
    same code; "Révoquer" removes the device."""
    login, mail = web.account("PER")
    web.login(mail)
    open_compte(web)
    set_value(web, "dv-name", "Téléphone " + XSS)
    press(web, "device-submit")
    canvas = web.visible("device-qr-canvas")
    code = web.text("device-code")
    assert code
    web.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    png = tmp_path / "qr.png"
    png.write_bytes(base64.b64decode(canvas.screenshot_as_base64))
    r = subprocess.run(["zbarimg", "-q", "--raw", str(png)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    uri = r.stdout.strip()
    assert code in uri, (uri, code)
    # the device as the directory holds it: pending, then revoked from the page
    assert any("Téléphone" in d for d in ldap_entry(web, login).get("mmDevice", []))
    web.wait_text("device-list", "en attente")
    assert web.dom_inert() == []
    button = web.driver.find_element(By.CSS_SELECTOR, "#device-list button")
    web.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()
    until(lambda: not web.driver.find_elements(By.CSS_SELECTOR, "#device-list li"), what="device revoked")
    assert not ldap_entry(web, login).get("mmDevice")


def test_compte_email_change_through_the_mailed_link(web):
    """The login e-mail change: the link mailed to the new address opens a page
    that changes nothing until "Je confirme"."""
    login, mail = web.account("MED")
    new = mail.replace("web.", "neuf.")
    web.login(mail)
    open_compte(web)
    before = web.mails(new)
    set_value(web, "new-mail", new)
    press(web, "email-submit")
    web.wait_text("email-status", new)
    m = web.smtp.wait_message(new, r"(/compte/confirmer-email\?jeton=[0-9a-f]{64})", before)
    link = m.group(1)
    web.go(link)
    web.visible("email-confirm-submit")
    time.sleep(0.5)
    assert ldap_entry(web, login)["mmLoginMail"] == [mail]  # the GET changed nothing
    assert a11y(web) == []
    web.click("email-confirm-submit")
    web.wait_text("email-confirm-status", new)
    assert ldap_entry(web, login)["mmLoginMail"] == [new]
    # the link is single use
    web.go(link)
    web.click("email-confirm-submit")
    until(lambda: "inconnu" in web.driver.find_element(By.ID, "email-confirm-form").text, what="used link refused")


def switch(web, target):
    web.click("mm-switch")
    web.driver.find_element(By.CSS_SELECTOR, f'#mm-switch-list button[data-account="{target}"]').click()
    until(lambda: web.driver.execute_script("return document.body.dataset.ready") == "yes"
          and web.driver.find_elements(By.ID, "mm-acting"), what="switched")


def test_compte_org_after_switch_connection_accounts(web):
    """Guide 003, part 2: the BAL ORG's /compte after "Changer de compte": its own
    fields (téléphone, adresse; FINESS and responsable read only), its
    connection accounts added and removed, no device section."""
    login, mail = web.account("PER")
    other, other_mail = web.account("MED")
    org, mss = web.org(login)
    web.login(mail)
    open_compte(web)
    switch(web, org)
    assert "organisationnel" in web.text("compte-who")
    assert a11y(web) == [] and not web.driver.find_elements(By.ID, "appareils")
    assert not web.driver.find_elements(By.ID, "p-sn")  # an ORG has no nom / prénom
    set_value(web, "p-phone", "0562000002")
    press(web, "person-submit")
    web.wait_text("person-status", "enregistr")
    assert ldap_entry(web, org)["telephoneNumber"][0] == "0562000002"
    assert ldap_entry(web, login).get("telephoneNumber", [""])[0] != "0562000002"
    web.wait_text("member-list", login)
    set_value(web, "member-mail", other_mail)
    press(web, "member-submit")
    web.wait_text("member-list", other)
    members = ldap_entry(web, org)["mmMember"]
    assert len(members) == 2 and any(f"uid={other}," in m for m in members)
    press(web, "member-del-" + re.sub(r"[^A-Za-z0-9_-]", "_", other))
    until(lambda: len(ldap_entry(web, org)["mmMember"]) == 1, what="member removed")
    # the ORG's signature is the ORG's
    set_value(web, "sig-title-0", "Accueil")
    z = web.find("sig-html-0")
    web.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", z)
    z.click()
    z.send_keys("Le secrétariat")
    press(web, "sig-save-0")
    web.wait_text("sig-status-0", "enregistr")
    assert "Le secrétariat" in " ".join(ldap_entry(web, org)["mmSignature"])
    assert "mmSignature" not in ldap_entry(web, login)


def test_compte_attacks(web):
    """Another user's login in login/org is refused; without the CSRF token nothing
    changes; without a session the ORG's connection accounts do not answer; a
    signature outside the allow-list is refused by the daemon."""
    login, mail = web.account("PER")
    victim, victim_mail = web.account("PER")
    vorg, _ = web.org(victim)
    web.login(mail)
    open_compte(web)
    csrf = web.csrf()
    h = {"X-CSRF-Token": csrf}
    for name, body in (("settings-set", {"login": victim, "phone": "0100000000"}),
                       ("signature-set", {"login": victim, "title": "x", "html": "x"}),
                       ("device-enrol", {"login": victim, "name": "x"}),
                       ("email-change", {"login": victim, "login_mail": "pirate@example.org"}),
                       ("managers-get", {"login": victim}),
                       ("delegate-add", {"login": vorg, "address": mail})):
        r = web.fetch(f"/v1/call/{name}", body, h)
        assert r["status"] in (403, 404), (name, r)
    for name in ("org-member-add", "org-member-del"):
        r = web.fetch(f"/v1/call/{name}", {"org": vorg, "member": mail}, h)
        assert r["status"] == 403, (name, r)
    assert len(ldap_entry(web, vorg)["mmMember"]) == 1
    e = ldap_entry(web, victim)
    assert "telephoneNumber" not in e or e["telephoneNumber"][0] != "0100000000"
    assert "mmSignature" not in e and "mmDevice" not in e and e["mmLoginMail"] == [victim_mail]
    # no CSRF token: refused, nothing written
    r = web.fetch("/v1/call/settings-set", {"phone": "0100000001"}, {})
    assert r["status"] == 403 and r["json"]["error"] == "csrf_token"
    r = web.fetch("/v1/call/device-enrol", {"name": "x"}, {})
    assert r["status"] == 403 and r["json"]["error"] == "csrf_token"
    assert "mmDevice" not in ldap_entry(web, login)
    # a signature the page's editor would never write: refused with the HTML rule
    for html in (SCRIPT, XSS, '<a href="javascript:alert(1)">x</a>', '<span style="background:url(x)">x</span>'):
        r = web.fetch("/v1/call/signature-set", {"title": "t", "html": html}, h)
        assert r["status"] == 400 and r["json"]["field"] == "html", (html, r)
    assert "mmSignature" not in ldap_entry(web, login)
    # the managers' section answers for one's own account
    r = web.fetch("/v1/call/managers-get", {"login": login}, h)
    assert r["status"] == 200, r
    # logged out: the ORG rows need a session even though PUBLIC on the socket
    web.logout()
    web.go("/connexion")
    for name in ("org-member-add", "org-member-del", "email-change", "managers-get"):
        r = web.fetch(f"/v1/call/{name}", {"org": vorg, "member": mail}, {})
        assert r["status"] == 401 and r["json"]["error"] == "login_required", (name, r)
    assert len(ldap_entry(web, vorg)["mmMember"]) == 1


def ldap_modify(web, login, mods):
    conn = ldap.initialize(web.slapd.ldapi_url)
    conn.sasl_external_bind_s()
    try:
        (dn, _), = [r for r in conn.search_s(SUFFIX, ldap.SCOPE_SUBTREE, f"(uid={login})", ["uid"]) if r[0]]
        conn.modify_s(dn, mods)
    finally:
        conn.unbind_s()


def test_compte_identifiants(web):
    """Guide 003 "Identifiants de connexion": the reset link asked from the account,
    désassocier the e-CPS / Pro Santé Connect link ("la croix"), the default account
    and the ORG's notifications to the individual address; a newline in a field is
    refused next to it; two e-mail changes at once: one passes, the other waits."""
    login, mail = web.account("PER")
    org, mss = web.org(login)
    ldap_modify(web, login, [(ldap.MOD_ADD, "mmPscSub", [b"sub-web-" + login.encode()])])
    web.login(mail)
    open_compte(web)
    # A – the reset link, mailed as for "Mot de passe oublié ?"
    before = web.mails(mail)
    press(web, "password-submit")
    web.wait_text("password-status", "envoyé")
    web.smtp.wait_message(mail, r"(/mot-de-passe/reinitialiser\?jeton=[0-9a-f]+)", before)
    # B – the PSC link, removed by its cross
    web.wait_text("card-list", "Pro Santé Connect")
    press(web, "unlink-psc")
    until(lambda: "mmPscSub" not in ldap_entry(web, login), what="psc unlinked")
    assert "Pro Santé Connect" not in web.text("card-list")
    # C – the ORG as the default account, its notifications off for me
    tick(web, "default-" + org, True)
    tick(web, "notify-org-" + org, False)
    press(web, "default-submit")
    web.wait_text("default-status", "enregistr")
    e = ldap_entry(web, login)
    assert any(f"uid={org}," in v for v in e["mmDefaultAccount"]), e.get("mmDefaultAccount")
    assert any(f"uid={org}," in v for v in e.get("mmNotifyOrgOff", [])) or e.get("mmNotifyOrgToIndividual") == ["FALSE"], e
    open_compte(web)
    assert web.find("default-" + org).is_selected() and not web.find("notify-org-" + org).is_selected()
    # a newline in a text field: refused next to the field, nothing written
    web.driver.execute_script("arguments[0].value = 'Toulouse\\nX-Injected: 1'", web.find("p-city"))
    press(web, "person-submit")
    until(lambda: web.error_of("p-city"), what="newline refused")
    assert "X-Injected" not in " ".join(ldap_entry(web, login).get("l", []))
    # two e-mail changes in parallel: one per interval
    csrf = web.csrf()
    r = web.driver.execute_async_script("""
        const [csrf, a, b, done] = arguments;
        const one = (m) => fetch('/v1/call/email-change', {method: 'POST', credentials: 'same-origin',
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
            body: JSON.stringify({login_mail: m})}).then(r => r.status);
        Promise.all([one(a), one(b)]).then(done);
    """, csrf, mail.replace("web.", "un."), mail.replace("web.", "deux."))
    assert sorted(r) == [200, 429], r
    assert ldap_entry(web, login)["mmLoginMail"] == [mail]


def test_compte_phone_width_and_keyboard(web):
    """Readable at 360 px (nothing wider than the screen) and usable with the
    keyboard: every control of /compte is reachable by Tab."""
    login, mail = web.account("MED")
    web.login(mail)
    web.driver.set_window_size(360, 800)
    try:
        open_compte(web)
        width = web.driver.execute_script("return window.innerWidth")
        wide = web.driver.execute_script("""
            const w = arguments[0];
            return [...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > w + 1)
                .map(e => e.tagName + '#' + e.id).slice(0, 10);""", width)
        assert web.driver.execute_script("return document.documentElement.scrollWidth") <= width, wide
        assert wide == []
        # no positive tabindex, no control taken out of the tab order
        assert web.driver.execute_script("""
            return [...document.querySelectorAll('main button, main input, main select, main a, [contenteditable]')]
              .filter(e => e.tabIndex < 0 || e.getAttribute('tabindex') > 0).map(e => e.id)""") == []
        # the device name typed and submitted with the keyboard alone
        web.find("dv-name").send_keys("Tablette\n")
        web.visible("device-qr-canvas")
    finally:
        web.driver.set_window_size(1280, 900)
