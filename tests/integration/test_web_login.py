"""The Connexion pages in a real browser (issue 15): password, mailed code,
CGU, the account header, Changer de compte, Déconnexion; and the attacks on
the browser session (CSRF, another origin, an old session id, a cookie after
Déconnexion, ten wrong codes, XSS payloads)."""
import re

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
    for name in ("validate", "auth", "nosuch"):
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
    web.wait_path("/")
    until_back = web.api.get("/v1/web/session", headers=web.as_cookie(web.cookie())).json
    assert until_back["account"]["login"] == login
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
