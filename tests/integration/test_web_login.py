"""The Connexion pages in a real browser (issue 15): password, mailed code,
CGU, the account header, Changer de compte, Déconnexion; and the attacks on
the browser session (CSRF, another origin, an old session id, a cookie after
Déconnexion, ten wrong codes, XSS payloads)."""
import re
import time

from apistack import PW
from webstack import web  # noqa: F401 (the fixture)


def test_connexion_password_code_cgu_and_header(web):
    """Guide 000: "Se connecter à Medimail avec son identifiant (adresse mail) et son mot
    de passe. Saisir le code OTP (=code à usage unique) envoyé sur votre adresse mail.
    Valider les CGU." The header then shows the name, the login address and the
    MSSanté address ("Votre adresse MSSanté associée"), with "Déconnexion"."""
    login, mail = web.account("PER", cgu=False, given="Camille")
    before = web.password_step(mail)
    assert "Saisir le code OTP envoyé sur votre adresse mail" in web.text("step-code")
    assert web.find("code").get_attribute("id") == "code"
    web.fill("code", web.code(mail, before))
    web.click("code-submit")
    web.wait_path("/cgu")
    web.click("cgu-submit")  # not ticked: refused next to the box, in words
    assert "obligatoire" in web.error_of("accept")
    web.click("accept")
    web.click("cgu-submit")
    web.wait_path("/")
    web.wait_text("mm-name", "Camille")
    assert web.text("mm-login") == mail
    assert "Votre adresse MSSanté associée" in web.text("mm-mss")
    assert "mssante.fr" in web.text("mm-mss-address")
    assert web.text("mm-logout") == "Déconnexion"
    cookie = web.driver.get_cookie("mm_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert re.search(rf'audit="cgu-accept".*account="{login}" result="ok"', web.authd.log_text())
    web.logout()


def test_bridge_csrf_origin_and_headers(web):
    """Issue 15: a state change without the CSRF token, or from another origin, is
    refused; a row the web may not call answers as unknown; every answer carries
    the CSP."""
    login, mail = web.account("MED", given="Dominique")
    other, _ = web.account("MED")
    web.login(mail)
    token = web.cookie()
    csrf = web.csrf()
    ok = web.fetch("/v1/call/settings-get", {}, {"X-CSRF-Token": csrf})
    assert ok["status"] == 200, ok
    assert ok["json"]["login"] == login and isinstance(ok["json"]["editable"], list)
    # the acting account is the row's login, checked by the access rule
    assert web.fetch("/v1/call/settings-get", {"login": login}, {"X-CSRF-Token": csrf})["status"] == 200
    theirs = web.fetch("/v1/call/settings-get", {"login": other}, {"X-CSRF-Token": csrf})
    assert theirs["status"] == 404 and theirs["json"]["error"] == "not_found", theirs
    # no token, a wrong one, a token of the right shape for another session
    for headers in ({}, {"X-CSRF-Token": "0" * 64}, {"X-CSRF-Token": csrf[:-1]}):
        r = web.fetch("/v1/call/settings-set", {"phone": "0102030405"}, headers)
        assert r["status"] == 403 and r["json"]["error"] == "csrf_token", (headers, r)
    r = web.fetch("/v1/web/switch", {"target": login}, {})
    assert r["status"] == 403 and r["json"]["error"] == "csrf_token"
    # another origin, or none at all (a client outside the browser, with the cookie and the token)
    for origin in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {}):
        h = {"Cookie": f"mm_session={token}", "X-CSRF-Token": csrf}
        h.update(origin)
        r = web.api.post("/v1/call/settings-set", {"phone": "0102030405"}, headers=h)
        assert r.status == 403 and r.json["error"] == "csrf_origin", (origin, r)
    assert "csrf_origin" in web.api.post("/v1/web/login/password", {"user": mail, "password": PW},
                                         headers={"Origin": "http://evil.example"}).body
    assert re.search(r'audit="web-csrf".*result="refused" reason="request from another origin"',
                     web.authd.log_text())
    # Sec-Fetch-Site: same-origin stands for an Origin
    r = web.api.post("/v1/call/settings-get", {}, headers={"Cookie": f"mm_session={token}", "X-CSRF-Token": csrf,
                                                         "Sec-Fetch-Site": "same-origin"})
    assert r.status == 200, r
    # rows without WEB: administrators' and login rows answer as unknown
    for name in ("operator-grant", "auth", "nosuch"):
        r = web.fetch(f"/v1/call/{name}", {"login": login}, {"X-CSRF-Token": csrf})
        assert r["status"] == 404 and r["json"]["error"] == "unknown_request", (name, r)
    # the headers, on pages and on JSON
    page = web.api.get("/connexion")
    assert page.status == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["Referrer-Policy"] == "no-referrer"
    js = web.api.get("/assets/app.js")
    assert js.headers["Content-Type"] == "text/javascript; charset=utf-8"
    j = web.api.get("/v1/web/session")
    assert j.headers["Cache-Control"] == "no-store" and "default-src 'none'" in j.headers["Content-Security-Policy"]
    assert j.json == {"authenticated": False}
    missing = web.api.get("/assets/../../etc/passwd")
    assert missing.status == 404 and "root:" not in missing.body
    assert web.api.get("/nosuch").status == 404
    web.logout()


WEB_RESEND_INTERVAL = 5  # otp_resend_interval of webstack's daemon


def test_old_session_refused_after_login_switch_and_logout(web):
    """Issue 15: the session id is rotated at login and at "Changer de compte" (the old
    one refused), and a cookie stolen after "Déconnexion" is refused. Guide 001:
    "Cliquer sur l'intitulé du compte en haut à droite, puis sur « Changer de
    compte », et sur l'adresse mail du compte organisationnel.\""""
    login, mail = web.account("PER", given="Romane")
    org, org_mss = web.org(login)
    _, mail2 = web.account("MED")
    web.login(mail2)
    first = web.cookie()
    # a login in the same browser (its pages' own requests, another account): the first id dies
    before = web.mails(mail)
    step = web.fetch("/v1/web/login/password", {"user": mail, "password": PW})
    assert step["status"] == 200, step
    done = web.fetch("/v1/web/login/code", {"txn": step["json"]["txn"], "code": web.code(mail, before)})
    assert done["status"] == 200 and done["json"]["status"] == "authenticated", done
    second = web.cookie()
    assert second != first
    assert web.api.get("/v1/web/session", headers=web.as_cookie(first)).json == {"authenticated": False}
    assert web.api.get("/v1/web/session", headers=web.as_cookie(second)).json["user"]["login"] == login
    # Changer de compte: the ORG, then back; a new id each time
    web.go("/")
    web.click("mm-switch")
    web.driver.find_element("css selector", f'#mm-switch-list button[data-account="{org}"]').click()
    web.wait_text("mm-mss-address", org_mss)
    assert "Compte utilisé" in web.text("mm-acting")
    third = web.cookie()
    assert third != second
    assert web.api.get("/v1/web/session", headers=web.as_cookie(second)).json == {"authenticated": False}
    s = web.api.get("/v1/web/session", headers=web.as_cookie(third)).json
    assert s["account"]["login"] == org and s["user"]["login"] == login
    assert re.search(rf'audit="switch".*account="{login}" result="ok" reason="{org}"', web.authd.log_text())
    web.click("mm-switch")
    web.driver.find_element("css selector", f'#mm-switch-list button[data-account="{login}"]').click()
    from webstack import until
    until(lambda: web.api.get("/v1/web/session", headers=web.as_cookie(web.cookie())).json.get(
        "account", {}).get("login") == login, what="back on the individual account")
    # the ORG as default account (Gérer mon compte): the next login opens on it
    r = web.fetch("/v1/call/default-set", {"user": login, "target": org}, {"X-CSRF-Token": web.csrf()})
    assert r["status"] == 200, r
    # Déconnexion: the record is gone, the cookie refused everywhere
    last = web.cookie()
    csrf = web.csrf()
    web.logout()
    assert web.cookie() is None
    h = web.as_cookie(last)
    assert web.api.get("/v1/web/session", headers=h).json == {"authenticated": False}
    h["X-CSRF-Token"] = csrf
    r = web.api.post("/v1/call/settings-get", {}, headers=h)
    assert r.status == 401 and r.json["error"] == "login_required", r
    r = web.api.post("/v1/web/switch", {"target": org}, headers=h)
    assert r.status == 401, r
    # password, code: the session on the default account, the ORG. The code of the
    # first login was mailed moments ago: a new one waits for otp_resend_interval
    # (5 s in webstack), as a PAM login would.
    time.sleep(WEB_RESEND_INTERVAL)
    web.login(mail)
    web.wait_text("mm-mss-address", org_mss)
    s = web.api.get("/v1/web/session", headers=web.as_cookie(web.cookie())).json
    assert s["account"]["login"] == org and s["user"]["login"] == login
    assert [a["login"] for a in s["accounts"] if a["default"]] == [org]
    web.logout()


def test_je_continue_confirms_only_on_submit(web):
    """Guide 000: "Depuis le mail reçu, cliquer sur le lien de confirmation de création
    de votre compte. Puis cliquer sur Je continue." Opening the link (a mail scanner, a
    preview) changes nothing; the form's POST confirms."""
    from mmstack import med_fields
    mail = "web.confirm.landing@example.org"
    r = web.authd.ctl("register", "MED", "--password-stdin", *med_fields(mail, "CONFIRME", "Anna"), input=PW + "\n")
    assert r.returncode == 0, r.stdout + r.stderr
    login = r.json["fields"]["login"]
    link = web.smtp.wait_message(mail, r"(http://\S+/inscription/confirmer\?jeton=[0-9a-f]{64})").group(1)
    assert link.startswith(web.url + "/inscription/confirmer?jeton=")
    status = lambda: web.authd.ctl("show", login).json["fields"]["status"]  # noqa: E731
    before = status()
    assert web.api.get(link[len(web.url):]).status == 200  # a scanner's GET
    web.driver.get(link)
    assert web.text("confirm-submit") == "Je continue"
    assert status() == before
    web.click("confirm-submit")
    web.wait_text("confirm-status", "confirmée")
    assert status() != before and status().startswith("pending")
    # the same link again: used
    web.driver.get(link)
    web.click("confirm-submit")
    web.wait_text("main", "inconnu, expiré ou déjà utilisé")
    # a link cut short
    web.go("/inscription/confirmer")
    web.wait_text("main", "incomplet")


def test_mot_de_passe_oublie_and_the_reset_link(web):
    """Guide 003: "Vous avez perdu ou oublié votre mot de passe : Cliquer sur « Mot de
    passe oublié ? » et suivre la procédure." The mailed link lands on a form; the
    password policy's refusal is shown next to the field, in words."""
    login, mail = web.account("MED")
    web.go("/connexion")
    web.click("forgot-link")
    web.wait_path("/mot-de-passe-oublie")
    web.click("forgot-submit")
    assert "obligatoire" in web.error_of("login_mail")
    before = web.mails(mail)
    web.fill("login_mail", mail)
    web.click("forgot-submit")
    web.wait_text("forgot-status", "lien de réinitialisation")
    # an unknown address gets the same words
    web.go("/mot-de-passe-oublie")
    web.fill("login_mail", "nobody.at.all@example.org")
    web.click("forgot-submit")
    web.wait_text("forgot-status", "lien de réinitialisation")
    link = web.smtp.wait_message(mail, r"(http://\S+/mot-de-passe/reinitialiser\?jeton=[0-9a-f]{64})",
                                 before).group(1)
    web.driver.get(link)  # opening it changes nothing: the token still serves below
    web.fill("password", "court")
    web.fill("password_confirm", "court")
    web.click("reset-submit")
    err = until_error(web, "password")
    assert err and "8" in err, err
    new = "Nouveau#Mdp2026"
    web.fill("password", new)
    web.fill("password_confirm", new + "x")
    web.click("reset-submit")
    assert "diffèrent" in until_error(web, "password_confirm")
    web.fill("password", new)
    web.fill("password_confirm", new)
    web.click("reset-submit")
    web.wait_text("reset-status", "modifié")
    # the new password opens the session; the link is spent
    web.login(mail, password=new)
    web.logout()
    web.driver.get(link)
    web.fill("password", new)
    web.fill("password_confirm", new)
    web.click("reset-submit")
    web.wait_text("main", "déjà utilisé")


def until_error(web, id_):
    from webstack import until
    return until(lambda: web.error_of(id_), what=f"an error next to #{id_}")


def test_code_resend_after_the_throttle(web):
    """Guide 004: "Un code OTP va vous être demandé pour finaliser l'identification
    (code à usage unique reçu par e-mail à chaque demande de connexion)": "Renvoyer le
    code" waits for the resend interval, then mails a new code that opens the session."""
    login, mail = web.account("MED")
    before = web.password_step(mail)
    first = web.code(mail, before)
    # not yet: the button waits for the resend interval, and says so
    assert web.find("code-resend").get_attribute("disabled") is not None
    assert "nouveau code dans" in web.text("resend-wait")
    # a made-up transaction gets nothing
    r = web.fetch("/v1/web/login/resend", {"txn": "0" * 64})
    assert r["status"] == 401 and r["json"]["error"] == "invalid_txn"
    from webstack import until
    until(lambda: web.find("code-resend").get_attribute("disabled") is None, timeout=15,
          what="the resend button enabled")
    n = web.mails(mail)
    web.click("code-resend")
    web.wait_text("code-sent", "nouveau code")
    second = web.code(mail, n)
    assert web.find("code-resend").get_attribute("disabled") is not None
    web.fill("code", second)
    web.click("code-submit")
    web.wait_path("/")
    assert first or second
    web.logout()


def test_ten_wrong_codes_lock_as_pam_does(web):
    """Issue 15: ten wrong codes in the page give the same lockout as PAM: the code is
    spent after otp_max_tries, the right one no longer opens a session, and a new
    code is refused to the page and to PAM's OTP_SEND alike (locked)."""
    import mmwire
    login, mail = web.account("MED")
    before = web.password_step(mail)
    right = web.code(mail, before)
    wrong = f"{(int(right) + 1) % 1000000:06d}"
    seen = []
    for i in range(10):
        web.fill("code", wrong)
        web.click("code-submit")
        seen.append(until_error(web, "code"))
        web.wait_text("code-form", seen[-1][:20])
    assert "essai(s) restant(s)" in seen[0] and "trop d'essais" in seen[4], seen
    assert all("nouveau code est nécessaire" in s for s in seen[5:]), seen
    web.fill("code", right)
    web.click("code-submit")
    assert "nouveau code" in until_error(web, "code")
    assert web.cookie() is None
    # a new login: the password is right, the code refused (the account's tries are spent)
    web.go("/connexion")
    web.fill("user", mail)
    web.fill("password", PW)
    web.click("login-submit")
    web.wait_text("login-form", "jusqu'au")
    # PAM sees the same lock
    t = mmwire.call(web.authd.socket, mmwire.AUTH_PASSWORD, user=login, password=PW)
    assert t.status == 0, t
    s = mmwire.call(web.authd.socket, mmwire.OTP_SEND, user=login, txn=t.get("txn"))
    assert s.status == -37, s  # ENOLCK
    compared = len(re.findall(rf'audit="otp-verify".*account="{login}" result="refused" reason="wrong code',
                              web.authd.log_text()))
    assert 1 <= compared <= 5, compared


PAYLOADS = ['<script>window.__mm_xss=1</script>', '"><img src=x onerror="window.__mm_xss=1">',
            "javascript:window.__mm_xss=1"]


def test_xss_payloads_stay_text(web, slapd):
    """Issue 15: `<script>`, `"><img onerror>` and `javascript:` in the text fields and in
    the directory's values are rendered inert: text in the DOM, no element, no handler."""
    import subprocess
    from mmstack import SUFFIX
    p = " ".join(PAYLOADS)  # the three at once, in every field
    web.go("/connexion")
    web.fill("user", p)
    web.fill("password", p)
    web.click("login-submit")
    until_any_error(web)
    assert web.dom_inert() == [], web.dom_inert()
    web.click("ecps-start")  # the identifier echoed back in the refusal, if ever
    until_any_error(web)
    assert web.dom_inert() == []
    web.go("/mot-de-passe-oublie")
    web.fill("login_mail", p)
    web.click("forgot-submit")
    until_any_error(web)
    assert web.dom_inert() == []
    for q in PAYLOADS:
        web.go("/connexion?psc=" + q)
        web.wait_text("psc-error", "Pro Santé Connect")
        assert web.dom_inert() == []
    # values of the directory (written by another tool) in the header
    login, mail = web.account("MED")
    dn = slapd.search(SUFFIX, f"(uid={login})")[0]["dn"]
    subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url], check=True, text=True,
                   capture_output=True, input=f"dn: {dn}\nchangetype: modify\nreplace: givenName\n"
                   f"givenName: {PAYLOADS[1]}\n-\nreplace: sn\nsn: {PAYLOADS[0]}\n")
    web.login(mail)
    web.wait_text("mm-name", "onerror")
    assert web.text("mm-name") == f"{PAYLOADS[1]} {PAYLOADS[0]}"
    assert web.dom_inert() == []
    assert web.driver.execute_script("return document.querySelectorAll('#mm-header img, #mm-header script').length") == 0
    web.logout()


def until_any_error(web):
    from webstack import until
    return until(lambda: web.driver.execute_script(
        "return [...document.querySelectorAll('.mm-error')].some(e => !e.hidden && e.textContent)"),
        what="an error shown")


def test_se_connecter_avec_e_cps(web):
    """Guide 000: "Renseigner son identifiant puis cliquer sur « Se connecter avec
    e-CPS ». Un code PIN va s'afficher à l'écran. Sur l'application e-CPS, sélectionner
    le bon code." The page shows the code while it polls, then opens the session."""
    login, mail = web.psc_account()
    web.provider.control(ciba="approve", ciba_ttl=120)
    web.go("/connexion")
    web.fill("user", mail)
    web.click("ecps-start")
    code = web.visible("ecps-code").text
    assert code and code == web.provider.ciba_last()["binding_message"]
    web.wait_path("/", timeout=20)
    web.wait_text("mm-name", "Hugo")
    assert web.api.get("/v1/web/session", headers=web.as_cookie(web.cookie())).json["method"] == "ecps"
    web.logout()


def test_pro_sante_connect_button(web):
    """Guide 004: "Connexion avec votre carte CPx via le bouton « PRO Santé Connect »":
    the provider's answer ends in the browser session on the linked account."""
    login, mail = web.psc_account()
    web.provider.control(account=web.psc_sub, acr="eidas1")
    web.go("/connexion")
    web.click("psc-login")
    web.wait_path("/", timeout=20)
    web.wait_text("mm-name", "Hugo")
    s = web.api.get("/v1/web/session", headers=web.as_cookie(web.cookie())).json
    assert s["user"]["login"] == login and s["method"] == "psc"
    web.logout()


def test_idle_and_absolute_timeouts(web, slapd):
    """Issue 15: idle and absolute timeouts. The record's expiry is the idle deadline,
    moved forward by use; its login time bounds it whatever the use."""
    import subprocess
    import time
    from mmstack import SUFFIX

    def record(login):
        dn = slapd.search(SUFFIX, f"(uid={login})")[0]["dn"]
        hits = [e for e in slapd.search("ou=sessions," + SUFFIX, f"(mmSessionUser={dn})")
                if "session" in e.get("description", [])]
        assert len(hits) == 1, hits
        return hits[0]

    def modify(dn, attr, value):
        subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url], check=True, text=True,
                       capture_output=True, input=f"dn: {dn}\nchangetype: modify\nreplace: {attr}\n{attr}: {value}\n")

    def gtime(t):
        return time.strftime("%Y%m%d%H%M%SZ", time.gmtime(t))

    def alive():
        return web.api.get("/v1/web/session", headers=web.as_cookie(web.cookie())).json["authenticated"]

    login, mail = web.account("MED")
    web.login(mail)
    rec = record(login)
    since = int(next(v for v in rec["description"] if v.startswith("data:since:")).split(":")[2])
    assert abs(since - time.time()) < 120
    exp = time.mktime(time.strptime(rec["mmSessionExpires"][0], "%Y%m%d%H%M%SZ")) - time.timezone
    assert 1700 <= exp - time.time() <= 1810  # web_idle_timeout, 1800 s by default
    # used: the idle deadline moves forward
    modify(rec["dn"], "mmSessionExpires", gtime(time.time() + 100))
    assert alive()
    moved = record(login)["mmSessionExpires"][0]
    assert moved > gtime(time.time() + 1700)
    # idle past the deadline: gone
    modify(rec["dn"], "mmSessionExpires", gtime(time.time() - 1))
    assert not alive()
    web.go("/")
    web.wait_path("/connexion")
    # past the absolute end (43200 s from the login), however recently used
    web.reset()
    login2, mail2 = web.account("MED")
    web.login(mail2)
    rec = record(login2)
    modify(rec["dn"], "description", "session")
    subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url], check=True, text=True,
                   capture_output=True, input=f"dn: {rec['dn']}\nchangetype: modify\nadd: description\n"
                   f"description: data:since:{int(time.time()) - 43200 - 5}\n")
    assert not alive()
    assert re.search(rf'audit="web-session".*account="{login2}" result="refused" reason="absolute timeout"',
                     web.authd.log_text())


def test_pro_sante_connect_first_login_links_the_card(web, slapd):
    """Guide 004: "Si votre carte n'est pas liée à votre compte, une interface vous invite
    à vous identifier sur votre compte Medimail : Saisissez vos identifiants puis
    cliquez sur "Connexion" : votre carte CPx est liée à votre compte Medimail." """
    from mmstack import SUFFIX
    login, mail = web.account("MED", given="Ines")
    web.provider.control(account=web.psc_unlinked_sub, acr="eidas1")
    web.go("/connexion")
    web.click("psc-login")
    web.wait_path("/connexion")
    web.wait_text("psc-error", "pas encore liée")
    assert "link" not in web.driver.current_url.split("?")[1].replace("link_required", "")
    before = web.mails(mail)
    web.fill("user", mail)
    web.fill("password", PW)
    web.click("login-submit")
    web.fill("code", web.code(mail, before))
    web.click("code-submit")
    web.wait_path("/")
    web.wait_text("mm-name", "Ines")
    assert web.psc_unlinked_sub in slapd.search(SUFFIX, f"(uid={login})")[0]["mmPscSub"]
    web.logout()
    # the next Pro Santé Connect login opens the session at once
    web.click("psc-login")
    web.wait_path("/")
    web.wait_text("mm-name", "Ines")
    web.logout()
    web.provider.control(account=web.psc_sub, acr="eidas1")


A11Y = """
    const bad = [];
    if (document.documentElement.lang !== 'fr') bad.push('lang ' + document.documentElement.lang);
    for (const i of document.querySelectorAll('input, select, textarea')) {
      if (i.type === 'hidden') continue;
      const label = i.id && document.querySelector(`label[for="${CSS.escape(i.id)}"]`);
      if (!label && !i.getAttribute('aria-label')) bad.push('no label: ' + (i.id || i.name));
      if (i.required && label && !label.querySelector('.mm-required')) bad.push('no * on ' + i.id);
    }
    for (const img of document.querySelectorAll('img')) if (!img.hasAttribute('alt')) bad.push('img without alt');
    let last = 0;
    for (const h of document.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
      const n = +h.tagName[1];
      if ((last === 0 && n !== 1) || n > last + 1) bad.push('heading ' + h.tagName + ' after h' + last);
      last = n;
    }
    if (document.querySelectorAll('h1').length !== 1) bad.push('h1 count');
    if (document.documentElement.scrollWidth > window.innerWidth + 1) bad.push('wider than the screen: ' + document.documentElement.scrollWidth);
    return bad;
"""


def test_pages_labelled_ordered_and_phone_width(web):
    """Issue 15: labels on every input, required fields marked *, heading order, no
    image without alt, lang="fr", readable at 360 px; the login done with the keyboard only."""
    from selenium.webdriver.common.keys import Keys
    web.driver.set_window_size(360, 800)
    try:
        for path in ("/connexion", "/mot-de-passe-oublie", "/mot-de-passe/reinitialiser?jeton=x",
                     "/inscription/confirmer?jeton=x", "/cgu", "/nulle-part"):
            web.go(path)
            web.find("main")
            assert web.driver.execute_script(A11Y) == [], path
        # keyboard only: type in each field, Tab to the next, Enter to submit
        login, mail = web.account("MED")
        web.go("/connexion")
        before = web.mails(mail)
        web.find("user").send_keys(mail + Keys.TAB)
        active = web.driver.switch_to.active_element
        assert active.get_attribute("id") == "password"
        active.send_keys(PW + Keys.ENTER)
        web.visible("code")
        until_focus(web, "code")
        web.driver.switch_to.active_element.send_keys(web.code(mail, before) + Keys.ENTER)
        web.wait_path("/")
        web.visible("mm-logout")
        assert web.driver.execute_script(A11Y) == []
        web.logout()
    finally:
        web.driver.set_window_size(1200, 900)


def until_focus(web, id_):
    from webstack import until
    until(lambda: web.driver.switch_to.active_element.get_attribute("id") == id_, what=f"focus on #{id_}")


def test_cookie_after_deconnexion_refused_on_every_daemon(web, api):
    """Issue 15: "a session cookie stolen after « Déconnexion » → refused on every
    daemon": the record is deleted and every daemon reads it from the directory."""
    from apistack import Api
    login, mail = web.account("MED")
    web.login(mail)
    token = web.cookie()
    others = [Api(api.url_a), Api(api.url_b)]
    for o in others:
        s = o.get("/v1/web/session", headers={"Cookie": f"mm_session={token}"}).json
        assert s["authenticated"] is True and s["user"]["login"] == login, s
    web.logout()
    for o in others:
        assert o.get("/v1/web/session", headers={"Cookie": f"mm_session={token}"}).json == {"authenticated": False}
        r = o.post("/v1/call/settings-get", {}, headers={"Cookie": f"mm_session={token}",
                                                        "Origin": o.base})
        assert r.status == 401 and r.json["error"] == "login_required", r


def test_tls_cookie_is_host_prefixed_and_secure(web, state):
    """Issue 15: the session cookie is `Secure`, `HttpOnly`, `SameSite=Strict` with the
    `__Host-` prefix; only plain-HTTP loopback gets `mm_session` without them."""
    import ssl
    import subprocess
    from apistack import Api
    from mmstack import Daemon, _port_open, free_port, wait_for
    cert, key = state / "web-tls.crt", state / "web-tls.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    port = free_port()
    d = Daemon(state, web.slapd, web.smtp.port, name="web-tls",
               extra=f"http_listen = 127.0.0.1:{port}\nhttp_tls_cert = {cert}\nhttp_tls_key = {key}\n"
                     "fail_delay_ms = 50\nrate_per_source = 100000\n").start()
    try:
        wait_for(lambda: _port_open(port), what="TLS listener")
        base = f"https://127.0.0.1:{port}"
        c = Api(base, tls_context=ssl.create_default_context(cafile=str(cert)))
        login, mail = web.account("MED")
        before = web.mails(mail)
        o = {"Origin": base}
        step = c.post("/v1/web/login/password", {"user": mail, "password": PW}, headers=o)
        assert step.status == 200, step
        # an http:// origin is another origin
        bad = c.post("/v1/web/login/code", {"txn": step.json["txn"], "code": "000000"},
                     headers={"Origin": f"http://127.0.0.1:{port}"})
        assert bad.status == 403 and bad.json["error"] == "csrf_origin"
        done = c.post("/v1/web/login/code", {"txn": step.json["txn"], "code": web.code(mail, before)}, headers=o)
        assert done.status == 200, done
        sc = done.headers["Set-Cookie"]
        token = re.match(r"__Host-mm_session=([0-9a-f]{64}); ", sc).group(1)
        flags = {f.strip() for f in sc.split(";")[1:]}
        assert flags == {"Path=/", "HttpOnly", "SameSite=Strict", "Secure"}, sc
        assert "Domain" not in sc
        assert c.get("/v1/web/session", headers={"Cookie": f"__Host-mm_session={token}"}).json["authenticated"]
        # the name without the prefix is not this listener's cookie
        assert c.get("/v1/web/session", headers={"Cookie": f"mm_session={token}"}).json == {"authenticated": False}
    finally:
        d.stop()
