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
