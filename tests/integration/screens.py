"""Screenshots of the main pages in Chromium (issue 15, item 5), for the README.

Not a test module (its name does not start with test_): `make screenshots` runs it
explicitly, on the same stack as the browser tests (private slapd, SMTP sink, one
daemon serving web/), and writes docs/screenshots/<page>.png at 1200 px wide and
<page>-mobile.png at 360 px. The accounts are the demo ones it registers itself."""
import os
from pathlib import Path

from mmstack import TOP
from test_web_annuaire import search, seed
from webstack import web  # noqa: F401 (the fixture)

OUT = Path(os.environ.get("MM_SHOTS", TOP / "docs/screenshots"))


def shot(web, name, width=1200):
    """The whole page (its scroll height) as OUT/name.png."""
    web.driver.set_window_size(width, 900)
    h = web.driver.execute_script("return document.documentElement.scrollHeight + window.outerHeight - window.innerHeight")
    web.driver.set_window_size(width, min(max(h, 600), 2400))
    web.driver.execute_script("window.scrollTo(0, 0)")
    OUT.mkdir(parents=True, exist_ok=True)
    web.driver.save_screenshot(str(OUT / f"{name}.png"))
    web.driver.set_window_size(1200, 900)


def test_screenshots(web):
    web.go("/connexion")
    web.visible("login-submit")
    shot(web, "connexion")
    shot(web, "connexion-mobile", 360)
    if (TOP / "web/inscription.html").exists():
        web.go("/inscription")
        web.find("main")
        shot(web, "inscription")
    login, mail = web.account("PER", given="Camille", sn="MARTIN")
    org, _ = web.org(login, "Cabinet des Lilas")
    before = web.password_step(mail)
    shot(web, "code")
    web.fill("code", web.code(mail, before))
    web.click("code-submit")
    web.wait_path("/")
    web.go("/compte")
    web.visible("mm-logout")
    shot(web, "compte")
    shot(web, "compte-mobile", 360)
    seed(web, "lilas", 3, cn=lambda i: ["Dr Anne LILAS", "Paul LILAS", "Pharmacie des Lilas"][i],
         l="Montpellier", postalCode="34000")
    search(web, "lilas")
    web.wait_text("results-count", "résultat")
    shot(web, "annuaire")
    from pamstack import register_med
    for _ in range(3):  # the validation queue: confirmed, waiting for the service centre
        register_med(web.authd, web.smtp, validate=False)
    assert web.authd.ctl("operator", "grant", login).returncode == 0
    web.go("/gestion")
    web.visible("queue-submit").click()
    web.wait_text("queue-count", "compte")  # "N comptes" or "Aucun compte."
    shot(web, "gestion")
