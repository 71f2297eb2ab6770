"""/compte "Mots de passe d'application" in a real browser (issue 16 item 2): a name, the secret
shown once with its copy hint, the list, "Révoquer"; the secret checked by mail-auth on the
daemon's socket before and after; the attacks (XSS in the name, a newline, CSRF, another user's
login, parallel creations past the limit)."""
import json
import re
import urllib.error
import urllib.request

import mmwire
from selenium.webdriver.common.by import By

from test_web_compte import XSS, a11y, ldap_entry, open_compte, press, set_value
from webstack import until, web  # noqa: F401 (the fixture)

EACCES = -13


def _call(web, name, body, csrf=True):
    h = {"X-CSRF-Token": web.csrf()} if csrf else {}
    return web.fetch(f"/v1/call/{name}", body, headers=h)


def test_compte_app_password_create_shown_once_and_revoke(web):
    login, mail = web.account("PER")
    web.login(mail)
    open_compte(web)
    assert a11y(web) == []
    web.wait_text("app-password-list", "Aucun")
    # at 360 px, with the keyboard alone: the name typed, Enter, the secret shown
    web.driver.set_window_size(360, 800)
    set_value(web, "ap-name", "Thunderbird " + XSS + "\n")
    secret_box = web.visible("app-password-secret")
    width = web.driver.execute_script("return window.innerWidth")
    wide = web.driver.execute_script("""
        return [...document.querySelectorAll('#mots-de-passe-application *')]
          .filter(e => e.getBoundingClientRect().right > arguments[0] + 1).map(e => e.tagName + '#' + e.id);""", width)
    assert wide == [], wide
    assert web.driver.switch_to.active_element.get_attribute("id") == "app-password-secret"
    web.driver.set_window_size(1200, 900)
    secret = secret_box.get_attribute("value")
    assert re.fullmatch(r"[0-9a-f]{64}", secret), secret
    assert "plus jamais affiché" in web.text("app-password-hint") and "Ctrl+C" in web.text("app-password-hint")
    assert web.text("app-password-for") == "Thunderbird " + XSS  # the name as text
    web.wait_text("app-password-list", "jamais utilisé")
    assert web.dom_inert() == [] and a11y(web) == []
    # stored hashed: neither the entry nor the list carries the secret
    e = ldap_entry(web, login)
    assert len(e.get("mmAppPasswordHash", [])) == 1 and secret not in str(e)
    lst = _call(web, "app-password-list", {"login": login})
    assert lst["status"] == 200 and secret not in lst["text"] and "hash" not in lst["text"], lst
    # the mail server's request takes it (root on the socket names the account)
    ok = mmwire.call(web.authd.socket, mmwire.MAIL_AUTH, user=login, secret=secret)
    assert ok.status == 0 and ok.get("method") == "app-password", ok
    # shown once: gone after "J'ai copié", and after a reload
    press(web, "app-password-done")
    assert not web.driver.find_elements(By.ID, "app-password-secret")
    open_compte(web)
    assert not web.driver.find_elements(By.ID, "app-password-secret")
    assert secret not in web.driver.page_source
    web.wait_text("app-password-list", "dernière utilisation")
    button = web.driver.find_element(By.CSS_SELECTOR, "#app-password-list button")
    web.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()
    web.wait_text("app-password-list", "Aucun")
    assert "révoqué" in web.text("app-password-status")
    assert not ldap_entry(web, login).get("mmAppPasswordHash")
    assert mmwire.call(web.authd.socket, mmwire.MAIL_AUTH, user=login, secret=secret).status == EACCES


def test_compte_app_password_attacks(web):
    login, mail = web.account("PER")
    other, _ = web.account("PER")
    web.login(mail)
    open_compte(web)
    # a newline in the name: refused next to the field
    r = _call(web, "app-password-create", {"login": login, "name": "Outlook\nforged"})
    assert r["status"] >= 400 and r["json"]["field"] == "name", r
    set_value(web, "ap-name", "x" * 65)
    press(web, "app-password-submit")
    until(lambda: "64 octets" in (web.error_of("ap-name") or ""), what="the name's error next to it")
    # CSRF token missing, another origin
    r = _call(web, "app-password-create", {"login": login, "name": "Sans jeton"}, csrf=False)
    assert r["status"] == 403, r
    req = urllib.request.Request(f"{web.url}/v1/call/app-password-create", method="POST",
                                 data=json.dumps({"login": login, "name": "Ailleurs"}).encode(),
                                 headers={"Content-Type": "application/json", "X-CSRF-Token": web.csrf(),
                                          "Cookie": f"mm_session={web.cookie()}", "Origin": "https://evil.example"})
    try:
        urllib.request.urlopen(req, timeout=10)
        status = 200
    except urllib.error.HTTPError as e:
        status = e.code
    assert status == 403
    assert "Ailleurs" not in str(ldap_entry(web, login))
    # another user's account named in login
    r = _call(web, "app-password-create", {"login": other, "name": "Pas à moi"})
    assert r["status"] >= 400, r
    assert not ldap_entry(web, other).get("mmAppPasswordHash")
    # the mail server's row is not the page's: unknown over the bridge
    r = _call(web, "mail-auth", {"user": login, "secret": "0" * 64})
    assert r["status"] == 404, r
    # the same name twice
    assert _call(web, "app-password-create", {"login": login, "name": "Mail"})["status"] == 200
    r = _call(web, "app-password-create", {"login": login, "name": "Mail"})
    assert r["status"] >= 400 and r["json"]["rule"] == "duplicate", r
    # parallel creations never pass the limit of ten
    token = web.csrf()
    results = web.driver.execute_async_script("""
        const [token, login, done] = arguments;
        Promise.all(Array.from({length: 14}, (_, i) => fetch('/v1/call/app-password-create', {
          method: 'POST', credentials: 'same-origin',
          headers: {'Content-Type': 'application/json', 'X-CSRF-Token': token},
          body: JSON.stringify({login, name: 'Client ' + i})}).then(r => r.status))).then(done);
    """, token, login)
    assert results.count(200) <= 9, results
    held = ldap_entry(web, login).get("mmAppPasswordHash", [])
    assert 1 <= len(held) <= 10, held
    lst = _call(web, "app-password-list", {"login": login})
    assert len(lst["json"]["records"]) == len(held)
