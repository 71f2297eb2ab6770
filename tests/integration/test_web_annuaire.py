"""Annuaires in a real browser (guide 004, issue 15): the search form, the
50-result cap and its message, the contact card, "Ajouter aux favoris" and the
favourites list, the Medimail / annuaire santé views; the attacks: directory
values carrying markup rendered inert, the rows without CSRF token refused, a
session-less call refused, the page's a11y basics."""
import subprocess
import uuid

from webstack import web  # noqa: F401 (the fixture)
from mmstack import SUFFIX

PEOPLE = "ou=people," + SUFFIX
LIMIT = ("Pour des raisons de performance, le nombre de résultats est limité à 50. "
         "Précisez votre recherche")
XSS = ['<script>window.__mm_xss=1</script>', '"><img src=x onerror="window.__mm_xss=1">',
       'javascript:window.__mm_xss=1']


def seed(web, word, n, cn=None, **attrs):
    """n active MED entries visible in the Medimail directory, found by word; their uids."""
    ldif, uids = "", []
    for i in range(n):
        uid = f"{word}{i}"
        uids.append(uid)
        name = cn(i) if cn else f"Annu {word} {i}"
        ldif += (f"dn: uid={uid},{PEOPLE}\nobjectClass: mmAccount\nuid: {uid}\nmmAccountType: MED\n"
                 f"mmStatus: active\nmmLoginMail: {uid}@example.org\ncn: {name}\nsn: {word}\n"
                 f"givenName: Annu\nmmVisibleMedimail: TRUE\nmmSearchKey: {word}\nmmSearchKey: n:{word}\n"
                 f"mmSearchKey: {uid}\n")
        for k, v in attrs.items():
            ldif += f"{k}: {v}\n"
        ldif += "\n"
    r = subprocess.run(["ldapadd", "-Q", "-Y", "EXTERNAL", "-H", web.slapd.ldapi_url], input=ldif,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return uids


def word():
    return "annu" + "".join(c for c in uuid.uuid4().hex if c.isalpha())[:6] + "x"


def search(web, q, view="medimail"):
    web.go("/annuaire")
    web.visible("mm-logout")
    web.click(f"view-{view}")
    web.fill("q", q)
    web.click("search-submit")


def test_search_cap_card_and_favorites(web):
    """Guide 004: "Pour des raisons de performance, le nombre de résultats est limité à 50 ;
    Précisez votre recherche […]"; "Cliquez sur le nom du destinataire pour accéder à sa
    fiche et cochez la case « Ajouter aux favoris »"."""
    w = word()
    uids = seed(web, w, 60, telephoneNumber="04 67 11 22 33", l="Sète", postalCode="34200")
    _, mail = web.account("MED")
    web.login(mail)
    search(web, w)
    web.wait_text("results-count", "50 résultats")
    assert len(web.driver.find_elements("css selector", "#results li")) == 50
    assert web.visible("refine").text.startswith(LIMIT)
    # a narrower search: one result, no message
    search(web, f"{w} {uids[42]}")
    web.wait_text("results-count", "1 résultat")
    assert not web.find("refine").is_displayed()
    # the card
    web.driver.find_element("css selector", f'#res-{uids[42]} button').click()
    web.wait_text("card-title", f"Annu {w} 42")
    card = web.text("card-fields")
    assert "04 67 11 22 33" in card and "Sète" in card and "34200" in card
    box = web.find("card-favorite")
    assert not box.is_selected()
    web.click("card-favorite")
    web.wait_text("card-status", "ajouté aux favoris")
    web.wait_text("favorites", f"Annu {w} 42")
    assert web.text("favorites-count") == "1 favori"
    # it survives a reload, then remove it
    web.go("/annuaire")
    web.wait_text("favorites", f"Annu {w} 42")
    web.driver.find_element("css selector", f'#fav-{uids[42]} button').click()
    web.wait_text("card-title", f"Annu {w} 42")
    assert web.find("card-favorite").is_selected()
    web.click("card-favorite")
    web.wait_text("card-status", "retiré des favoris")
    web.wait_text("favorites-count", "Aucun favori")
    # the annuaire santé view: these MED entries are not in it
    search(web, w, view="mssante")
    web.wait_text("results-count", "Aucun résultat")
    assert web.driver.execute_script("return document.querySelectorAll('#results li').length") == 0
    assert web.dom_inert() == []
    web.logout()


def test_directory_values_rendered_inert(web):
    """Issue 15: every value from the directory is escaped on output: markup in a
    name, a city, a phone number stays text in the results and on the card."""
    w = word()
    uids = seed(web, w, len(XSS), cn=lambda i: XSS[i], l=XSS[1], ou=XSS[2], street=XSS[0])
    _, mail = web.account("MED")
    web.login(mail)
    search(web, w)
    web.wait_text("results-count", f"{len(XSS)} résultats")
    for uid, payload in zip(uids, XSS):
        assert web.driver.find_element("css selector", f"#res-{uid} button").text == payload
    web.driver.find_element("css selector", f"#res-{uids[0]} button").click()
    web.wait_text("card-fields", XSS[1])
    assert XSS[2] in web.text("card-fields") and XSS[0] in web.text("card-fields")
    web.click("card-favorite")
    web.wait_text("favorites", XSS[0])
    assert web.dom_inert() == []
    assert web.driver.execute_script("return document.querySelectorAll('#main img, #main script').length") == 0
    web.logout()


def test_bridge_attacks(web):
    """The directory rows over the bridge: no CSRF token → refused; no session →
    refused; another person's favourites (their login) → unknown account; a value
    with a newline or a field the row does not know → refused in words."""
    w = word()
    [uid] = seed(web, w, 1)
    login, mail = web.account("MED")
    other, _ = web.account("MED")
    web.go("/connexion")
    r = web.fetch("/v1/call/dir-search", {"q": w})
    assert r["status"] == 401 and r["json"]["error"] == "login_required", r
    web.login(mail)
    csrf = web.csrf()
    r = web.fetch("/v1/call/dir-favorite-add", {"login": login, "target": uid})
    assert r["status"] == 403 and r["json"]["error"] == "csrf_token", r
    r = web.fetch("/v1/call/dir-favorite-add", {"login": other, "target": uid}, {"X-CSRF-Token": csrf})
    assert r["status"] == 404 and r["json"]["error"] == "not_found", r
    r = web.fetch("/v1/call/dir-favorite-list", {"login": other}, {"X-CSRF-Token": csrf})
    assert r["status"] == 404, r
    r = web.fetch("/v1/call/dir-search", {"q": w, "filter": "(uid=*)"}, {"X-CSRF-Token": csrf})
    assert r["status"] == 400, r
    r = web.fetch("/v1/call/dir-search", {"q": w + "\n" + "x"}, {"X-CSRF-Token": csrf})
    assert r["status"] == 400 and r["json"]["field"] == "q" and r["json"]["rule"] == "characters", r
    ok = web.fetch("/v1/call/dir-search", {"q": w}, {"X-CSRF-Token": csrf})
    assert ok["status"] == 200 and [x["login"] for x in ok["json"]["records"]] == [uid], ok
    # the administrators' export never answers the bridge
    r = web.fetch("/v1/call/dir-export", {}, {"X-CSRF-Token": csrf})
    assert r["status"] == 404 and r["json"]["error"] == "unknown_request", r
    web.logout()


A11Y = """
    const bad = [];
    if (document.documentElement.lang !== 'fr') bad.push('lang');
    for (const i of document.querySelectorAll('input, select, textarea')) {
      if (i.type === 'hidden') continue;
      const label = i.id && document.querySelector(`label[for="${CSS.escape(i.id)}"]`);
      if (!label && !i.getAttribute('aria-label')) bad.push('no label: ' + (i.id || i.name));
    }
    for (const img of document.querySelectorAll('img')) if (!img.hasAttribute('alt')) bad.push('img without alt');
    let last = 0;
    for (const h of document.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
      if (h.closest('[hidden]')) continue;
      const n = +h.tagName[1];
      if ((last === 0 && n !== 1) || n > last + 1) bad.push('heading ' + h.tagName + ' after h' + last);
      last = n;
    }
    if (document.documentElement.scrollWidth > window.innerWidth + 1) bad.push('wider: ' + document.documentElement.scrollWidth);
    return bad;
"""


def test_annuaire_a11y_and_keyboard(web):
    """Issue 15: labels, headings in order, no img without alt, 360 px wide; the
    search done with the keyboard only."""
    from selenium.webdriver.common.keys import Keys
    w = word()
    seed(web, w, 2)
    _, mail = web.account("MED")
    web.login(mail)
    web.driver.set_window_size(360, 800)
    try:
        web.go("/annuaire")
        web.visible("mm-logout")
        assert web.driver.execute_script(A11Y) == []
        web.find("q").send_keys(w + Keys.ENTER)
        web.wait_text("results-count", "2 résultats")
        web.driver.find_element("css selector", "#results li button").send_keys(Keys.ENTER)
        web.visible("card")
        assert web.driver.switch_to.active_element.get_attribute("id") == "card-favorite"
        assert web.driver.execute_script(A11Y) == []
    finally:
        web.driver.set_window_size(1200, 900)
    web.logout()
