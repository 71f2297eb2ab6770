"""Créer un compte in the browser (issue 15; guides 000, 001, 002): the region, the account
type, the form, "Je valide"; the confirmation link read from the mail sink and "Je
continue"; validation; the first login with the mailed code. BAL ORG "Oui" (the
individual account's password, then its mailed code) and "Non" (the individual account
created with it). And the attacks: markup in every text field, a wrong "Oui" password,
a closed region, a registration from another origin."""
import re

import pytest

from apistack import PW
from mmstack import SUFFIX, luhn_complete
from webstack import web  # noqa: F401 (the fixture)

XSS = ['<script>window.__mm_xss=1</script>', '"><img src=x onerror="window.__mm_xss=1">',
       'javascript:window.__mm_xss=1']
_n = iter(range(1, 100000))


def tag():
    n = next(_n)
    return n, "reg" + "".join("abcdefghij"[int(c)] for c in str(n))


def start(web, kind, region="Occitanie"):
    web.reset()
    web.go("/inscription")
    web.visible("region-choice")
    from selenium.webdriver.support.ui import Select, WebDriverWait
    # the regions are filled in by the page's script from the daemon: wait for the one wanted
    WebDriverWait(web.driver, 20).until(
        lambda d: d.find_elements("css selector", f'#region-choice option[value="{region}"]'))
    Select(web.find("region-choice")).select_by_value(region)
    web.click("region-next")
    if kind == "ORG-oui":
        web.click("kind-org")
        web.click("org-oui")
    elif kind == "ORG-non":
        web.click("kind-org")
        web.click("org-non")
    else:
        web.click("kind-individual")
        web.click("type-" + kind)


def select(web, id_, value):
    from selenium.webdriver.support.ui import Select
    Select(web.visible(id_)).select_by_value(value)


def person(web, mail, sn, given="Paule", prefix=""):
    web.fill(prefix + "sn", sn)
    web.fill(prefix + "given_name", given)
    web.fill(prefix + "login_mail", mail)
    web.fill(prefix + "password", PW)
    web.fill(prefix + "password_confirm", PW)


def submit(web):
    web.click("register-submit")
    web.visible("done-status")
    return web.text("done-status")


def confirm_validate_login(web, login, mail):
    """The mailed link's page ("Je continue"), the service centre's validation, the first login."""
    token = web.smtp.token(mail)
    web.go(f"/inscription/confirmer?jeton={token}")
    web.click("confirm-submit")
    web.wait_text("confirm-status", "confirm")
    v = web.authd.ctl("validate", login)
    assert v.returncode == 0, v.stdout
    web.login(mail)
    web.logout()


def login_of(web, mail):
    (e,) = web.slapd.search(SUFFIX, f"(mmLoginMail={mail})")
    return e["uid"][0], e


@pytest.mark.parametrize("kind", ["PER", "INT", "MED"])
def test_individual_accounts_through_the_pages(web, kind):
    n, t = tag()
    mail, sn = f"{t}.{kind.lower()}@example.org", "INSCRIT" + t.upper()
    start(web, kind)
    assert web.driver.find_element("css selector", 'label[for="sn"] .mm-required')
    person(web, mail, sn)
    if kind != "MED":
        select(web, "profession", "21")
    if kind == "PER":
        web.fill("rpps", luhn_complete(f"998{n:07d}"))
        web.click("liberal")
    if kind == "INT":
        select(web, "struct_type", "FINESS")
        web.fill("struct_id", "310000120")
    web.fill("city", "Albi")
    web.fill("postal_code", "81000")
    web.fill("attached_service", "Service de pharmacie")
    web.click("dematerialisation")  # unticked: the only default changed
    assert "lien de confirmation" in submit(web)
    login, e = login_of(web, mail)
    assert e["mmAccountType"] == [kind] and e["mmStatus"] == ["pending-confirmation"]
    assert e["mmRegion"] == ["Occitanie"] and e["l"] == ["Albi"] and e["ou"] == ["Service de pharmacie"]
    assert e["mmVisibleMedimail"] == ["TRUE"] and e["mmDematerialisation"] == ["FALSE"]
    assert e.get("mmLiberal") == (["TRUE"] if kind == "PER" else ["FALSE"] if kind == "INT" else None)
    assert PW not in web.authd.log_text()
    confirm_validate_login(web, login, mail)


def test_refusals_shown_next_to_their_field(web):
    n, t = tag()
    start(web, "PER")
    person(web, f"{t}@example.org", "REFUS")
    web.click("register-submit")  # profession left empty: said before asking the service
    assert "obligatoire" in web.error_of("profession")
    select(web, "profession", "21")
    web.fill("rpps", "10002813838")  # a wrong check digit: the service's rule, next to the field
    web.click("register-submit")
    web.wait_text("rpps-error", "rpps")
    web.fill("rpps", luhn_complete(f"998{n:07d}"))
    web.fill("password_confirm", PW + "x")
    web.click("register-submit")
    assert "diffèrent" in web.error_of("password_confirm")
    web.fill("password_confirm", PW)
    web.fill("password", "court")
    web.fill("password_confirm", "court")
    web.click("register-submit")
    web.wait_text("password-error", "")
    assert web.error_of("password")
    assert web.slapd.search(SUFFIX, f"(mmLoginMail={t}@example.org)") == []


def test_markup_in_every_text_field_is_stored_as_text_or_refused_and_never_runs(web):
    """Issue 15: `<script>`, `"><img onerror>` and `javascript:` in every text field rendered inert."""
    for payload in XSS:
        n, t = tag()
        start(web, "MED")
        person(web, f"{t}@example.org", "XSS", given="Paule")
        for f in ("street", "city", "raison_sociale", "given_name"):
            web.fill(f, payload)
        web.click("register-submit")
        web.driver.implicitly_wait(0)
        import time
        time.sleep(1)
        assert web.dom_inert() == [], payload
        # the refusal (if any) is text on the page, not markup
        for err in web.driver.find_elements("css selector", ".mm-error"):
            assert err.find_elements("css selector", "*") == []


def test_bal_org_oui_password_then_code(web):
    """Guide 001, 1.1: "Saisir l'identifiant et le mot de passe de votre compte individuel;
    Renseigner le code à usage unique reçu sur votre adresse mail individuelle"."""
    member, mail = web.account("PER")
    n, t = tag()
    org_mail = f"contact.{t}@example.org"
    start(web, "ORG-oui")
    web.fill("member", mail)
    web.fill("member_password", PW + "x")  # wrong: refused, counted as a login's wrong password
    web.click("proof-submit")
    # the login's answer, naming neither field (no hint of which one was wrong)
    web.wait_text("step-proof", "identifiant ou mot de passe incorrect")
    assert web.error_of("member_password") is None
    (e,) = web.slapd.search(SUFFIX, f"(uid={member})")
    assert e.get("mmFailCount") == ["1"], e.get("mmFailCount")
    before = web.mails(mail)
    web.fill("member_password", PW)
    web.click("proof-submit")
    web.visible("member_code")
    web.fill("member_code", web.code(mail, before))
    web.click("proof-code-submit")
    org_form(web, org_mail, t)
    assert "lien de confirmation" in submit(web)
    login, e = login_of(web, org_mail)
    assert e["mmAccountType"] == ["ORG"]
    (m,) = web.slapd.search(SUFFIX, f"(uid={member})")
    assert e["mmMember"] == [m["dn"]]


def org_form(web, org_mail, t):
    web.fill("login_mail", org_mail)
    web.fill("org_name", f"Pharmacie {t.capitalize()}")
    web.fill("description", f"Officine {t}, Albi 81000")
    select(web, "struct_type", "FINESS")
    web.fill("struct_id", "810000034")
    web.fill("resp_sn", "MARTIN")
    web.fill("resp_given_name", "Isabelle")
    select(web, "resp_profession", "21")


def test_bal_org_non_creates_the_individual_account_too(web):
    """Guide 001, 1.2: "Créer un compte individuel directement rattaché au compte partagé"."""
    n, t = tag()
    org_mail, mail = f"contact.{t}@example.org", f"{t}.membre@example.org"
    start(web, "ORG-non")
    org_form(web, org_mail, t)
    person(web, mail, "MEMBRE" + t.upper(), prefix="member.")
    web.fill("member.rpps", luhn_complete(f"997{n:07d}"))
    select(web, "member.profession", "21")
    msg = submit(web)
    assert "deux comptes" in msg
    org, e = login_of(web, org_mail)
    member, m = login_of(web, mail)
    assert m["mmAccountType"] == ["PER"] and e["mmMember"] == [m["dn"]]
    # both confirmed, then validated together; the member logs in and sees the ORG
    for addr in (org_mail, mail):
        web.go(f"/inscription/confirmer?jeton={web.smtp.token(addr)}")
        web.click("confirm-submit")
        web.wait_text("confirm-status", "confirm")
    assert web.authd.ctl("validate", org).returncode == 0
    web.login(mail)
    web.click("mm-switch")
    assert web.driver.find_elements("css selector", f'#mm-switch-list button[data-account="{org}"]')
    web.logout()


def test_closed_region_and_another_origin(web):
    """Guide 000: "la création de compte est disponible seulement dans les régions où
    Medimail a été choisi"; a registration posted from another site is refused."""
    regions = web.api.get("/v1/web/registration").json
    assert isinstance(regions["regions"], list) and "every_region" in regions
    n, t = tag()
    body = {"type": "MED", "login_mail": f"{t}@example.org", "sn": "AILLEURS", "given_name": "Paule",
            "password": PW, "password_confirm": PW, "region": "Occitanie"}
    r = web.api.post("/v1/call/register", body, headers={"Origin": "http://evil.example"})
    assert r.status == 403 and r.json["error"] == "csrf_origin", r
    assert web.slapd.search(SUFFIX, f"(mmLoginMail={t}@example.org)") == []
    if not regions["every_region"]:
        body["region"] = "Nulle-Part"
        r = web.api.post("/v1/call/register", body, headers={"Origin": web.url})
        assert r.status >= 400 and r.json["field"] == "region", r


def _per(tag):
    n, _ = globals()["tag"]()
    return {"type": "PER", "password": PW, "password_confirm": PW, "login_mail": f"reg.{tag}{n}@example.org",
            "sn": "INSCRIT" + "ABCDEFGHIJ"[n % 10], "given_name": "Paule",
            "rpps": luhn_complete(f"993{n:07d}"), "profession": "21", "liberal": "yes",
            "postal_code": "81000", "city": "Albi", "region": "Occitanie", "department": "81"}


def test_bridge_register_carries_attached_service(web, slapd):
    """Issue 15 item 3: "Service de rattachement" goes through POST /v1/call/register
    as attached_service and lands in ou; "service" is still refused by the bridge,
    and another origin is refused."""
    web.go("/connexion")
    csrf = web.csrf() or ""  # logged out: no session, no token; the Origin is checked
    body = _per("svc")
    body["attached_service"] = "Service cardiologie, clinique du Château"
    r = web.fetch("/v1/call/register", body, {"X-CSRF-Token": csrf})
    assert r["status"] == 200, r
    login = r["json"]["login"]
    assert r["json"]["status"] == "pending-confirmation", r
    found = slapd.search(SUFFIX, f"(uid={login})")
    assert len(found) == 1 and found[0]["ou"] == ["Service cardiologie, clinique du Château"], found
    # the socket's meta key stays refused, with the field's rule in the answer
    other = _per("svc")
    other["service"] = "cardiologie"
    r = web.fetch("/v1/call/register", other, {"X-CSRF-Token": csrf})
    assert r["status"] >= 400 and r["json"]["rule"] == "unknown", r
    assert slapd.search(SUFFIX, f"(mmLoginMail={other['login_mail']})") == []
    # another origin: refused, nothing created
    third = _per("svc")
    r = web.api.post("/v1/call/register", third, headers={"Origin": "http://evil.example"})
    assert r.status == 403 and r.json["error"] == "csrf_origin", r
    assert slapd.search(SUFFIX, f"(mmLoginMail={third['login_mail']})") == []
    # a newline in the field: refused by its rule, named
    bad = _per("svc")
    bad["attached_service"] = "cardiologie\nou: admin"
    r = web.fetch("/v1/call/register", bad, {"X-CSRF-Token": csrf})
    assert r["status"] >= 400 and r["json"].get("field") == "attached_service", r
    assert re.search(r"\S", r["json"]["message"])


def test_inscription_simplifiee_par_pro_sante_connect(web):
    """Guide 000: "Inscription simplifiée par Pro Santé Connect": an identity no account
    carries registers from the login page; its RPPS, names and profession are the
    identity's (shown, not editable), the handle is in an HttpOnly cookie, usable once."""
    web.provider.control(account=web.psc_unlinked_sub, acr="eidas1")
    web.reset()
    # without a Pro Santé Connect login first, nothing to register
    r = web.api.post("/v1/web/psc/register/prefill", {}, headers={"Origin": web.url})
    assert r.status == 410, r
    web.go("/connexion")
    assert not web.find("psc-register").is_displayed()
    web.click("psc-login")
    web.wait_path("/connexion")
    web.click("psc-register-link")
    web.wait_path("/inscription/psc")
    web.wait_text("fixed-sn", "NONLIEE")
    rpps = web.psc_accounts[web.psc_unlinked_sub]["national_id"][1:]
    assert web.text("fixed-rpps") == rpps and web.text("fixed-given_name") == "Ines"
    assert not web.driver.find_elements("id", "rpps") and not web.driver.find_elements("id", "sn")
    link = web.driver.get_cookie("mm_psc_link")
    assert link is None  # scoped to /v1/web/psc: the page itself never sees it
    n, t = tag()
    mail = f"{t}.psc@example.org"
    web.fill("login_mail", mail)
    web.fill("password", PW)
    web.fill("password_confirm", PW)
    web.fill("city", "<script>window.__mm_xss=1</script>")
    select(web, "region", "Occitanie")
    select(web, "profession", "21")  # not among this identity's claims: asked for
    web.click("psc-submit")  # refused by the field's rule, said in words, nothing run
    web.wait_text("city-error", "lettres")
    assert web.dom_inert() == []
    web.fill("city", "Albi")
    web.click("psc-submit")
    web.wait_text("psc-done-status", "confirmez")
    login, e = login_of(web, mail)
    assert e["mmRpps"] == [rpps] and e["sn"] == ["NONLIEE"] and e["givenName"] == ["Ines"]
    assert web.psc_unlinked_sub in e["mmPscSub"]
    assert e["l"] == ["Albi"]
    # the handle went with the registration: a second one is refused, nothing created
    again = web.fetch("/v1/web/psc/register", {"login_mail": f"{t}.bis@example.org", "password": PW,
                                               "password_confirm": PW, "region": "Occitanie"}, {})
    assert again["status"] == 410, again
    assert web.slapd.search(SUFFIX, f"(mmLoginMail={t}.bis@example.org)") == []
    # a handle in the body is refused: only the callback's cookie counts
    r = web.api.post("/v1/web/psc/register", {"link": "0" * 64}, headers={"Origin": web.url})
    assert r.status == 410, r
    web.provider.control(account=web.psc_sub, acr="eidas1")
