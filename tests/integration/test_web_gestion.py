"""The back office's rows over the web bridge (issue 15, /gestion): a
service-centre operator (mmRole centre-operator, given by root with
`medimailctl operator grant`) validates, suspends, reactivates, closes,
converts, publishes and names gestionnaires from its browser session; a
structure administrator only for its structure; everyone else, and an
operator whose role was revoked, is refused at once."""
import re

from apistack import PW
from mmstack import SUFFIX, int_fields, luhn_complete, per_fields
from webstack import web  # noqa: F401 (the fixture)

BACK_OFFICE = ("validate", "list", "suspend", "reactivate", "close", "convert", "publish", "mss-grant",
               "struct-admin-add", "struct-admin-del", "audit-trail")
N = iter(range(1, 10_000))


def registered(web, kind):
    """A confirmed account waiting in the validation queue; (login, mail)."""
    n = next(N)
    mail = f"gestion.{web.authd.name.replace('-', '')}.{kind.lower()}{n}@example.org"
    fields = (per_fields(mail, "GESTION", "Paul", luhn_complete(f"993{web.port % 10000:04d}{n:03d}"))
              if kind == "PER" else int_fields(mail, "GESTION", "Ines"))
    r = web.authd.ctl("register", kind, "--password-stdin", *fields, input=PW + "\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert web.authd.ctl("confirm", "--token-stdin", input=web.smtp.token(mail) + "\n").returncode == 0
    return r.json["fields"]["login"], mail


def status(web, login):
    return web.authd.ctl("show", login).json["fields"]["status"]


def call(web, name, fields, csrf):
    return web.fetch(f"/v1/call/{name}", fields, {"X-CSRF-Token": csrf})


def test_non_operator_refused_on_every_back_office_row(web):
    login, mail = web.account("PER")
    target, _ = registered(web, "PER")
    web.login(mail)
    csrf = web.csrf()
    for name in BACK_OFFICE:
        r = call(web, name, {"login": target}, csrf)
        assert r["status"] in (403, 404), (name, r)
        assert r["json"]["error"] in ("forbidden", "not_found"), (name, r)
    assert status(web, target) != "active"
    # the role itself never answers the bridge, not even for an operator
    assert web.authd.ctl("operator", "grant", login).returncode == 0
    for name in ("operator-grant", "operator-revoke"):
        r = call(web, name, {"login": target}, csrf)
        assert r["status"] == 404 and r["json"]["error"] == "unknown_request", r
    assert web.authd.ctl("operator", "revoke", login).returncode == 0
    web.logout()


def test_operator_grant_is_root_only_and_audited(web):
    login, _ = web.account("PER")
    other, other_mail = web.account("MED")
    uid = web.authd.ctl("show", other).json["fields"]["uid_number"]
    r = web.authd.ctl("operator", "grant", login, uid=int(uid))
    assert r.returncode == 1 and r.json["status"] == -13, r.stdout
    assert web.authd.ctl("operator", "grant", login).returncode == 0
    r = web.authd.ctl("operator", "grant", login)
    assert r.returncode == 1 and r.json["status"] == -17, r.stdout
    assert web.authd.ctl("operator", "revoke", login).returncode == 0
    r = web.authd.ctl("operator", "revoke", login)
    assert r.returncode == 1 and r.json["status"] == -2, r.stdout
    log = web.authd.log_text()
    assert re.search(rf'audit="operator-grant" caller="uid=0".*account="{login}" result="ok"', log)
    assert re.search(rf'audit="operator-revoke" caller="uid=0".*account="{login}" result="ok"', log)
    # a registration field cannot carry the role
    n = next(N)
    mail = f"gestion.role{n}.{web.port}@example.org"
    r = web.authd.ctl("register", "MED", "--password-stdin", "--login-mail", mail, "--sn", "ROLE",
                      "--given-name", "Eve", "--raison-sociale", "X", "--region", "Occitanie",
                      "--role", "centre-operator", input=PW + "\n")
    assert r.returncode != 0
    # nor a settings row: the bridge's profile writer refuses the field, the role stays unset
    web.login(other_mail)
    csrf = web.csrf()
    for field in ("role", "mmRole"):
        r = call(web, "settings-set", {field: "centre-operator"}, csrf)
        assert r["status"] == 400, r
    [e] = web.slapd.search("ou=people," + SUFFIX, f"(uid={other})", "mmRole")
    assert "mmRole" not in e
    r = call(web, "list", {}, csrf)
    assert r["status"] == 403, r
    web.logout()


def test_operator_back_office_flow_and_revocation(web):
    op, op_mail = web.account("PER", given="Opera")
    assert web.authd.ctl("operator", "grant", op).returncode == 0
    per, _ = registered(web, "PER")
    int_, _ = registered(web, "INT")
    web.login(op_mail)
    csrf = web.csrf()
    # the validation queue
    q = call(web, "list", {"status": "pending-validation"}, csrf)
    assert q["status"] == 200, q
    assert per in {x.get("login") for x in q["json"].get("records", [])}, q
    # validate a PER; an INT with the MSSanté decision
    r = call(web, "validate", {"login": per}, csrf)
    assert r["status"] == 200, r
    assert status(web, per) == "active"
    r = call(web, "validate", {"login": int_, "mss": "no"}, csrf)
    assert r["status"] == 200, r
    assert status(web, int_) == "active"
    # suspend, reactivate, close
    assert call(web, "suspend", {"login": per}, csrf)["status"] == 200
    assert status(web, per) == "suspended"
    assert call(web, "reactivate", {"login": per}, csrf)["status"] == 200
    assert status(web, per) == "active"
    # INT -> PER
    r = call(web, "convert", {"login": int_, "rpps": luhn_complete(f"992{web.port % 10000:04d}{next(N):03d}")}, csrf)
    assert r["status"] == 200, r
    assert web.authd.ctl("show", int_).json["fields"]["type"] == "PER"
    # a gestionnaire
    r = call(web, "struct-admin-add", {"login": per, "struct_type": "FINESS", "struct_id": "310000120"}, csrf)
    assert r["status"] == 200 and r["json"]["struct_admin"] == "FINESS:310000120", r
    assert call(web, "close", {"login": per}, csrf)["status"] == 200
    assert status(web, per) == "closed"
    log = web.authd.log_text()
    assert re.search(rf'audit="validate" caller="web-operator".*account="{per}" result="ok"', log)
    # revoked: refused at once, same session
    assert web.authd.ctl("operator", "revoke", op).returncode == 0
    r = call(web, "suspend", {"login": int_}, csrf)
    assert r["status"] in (403, 404), r
    assert status(web, int_) == "active"
    web.logout()


def test_gestionnaire_sees_only_its_structure(web):
    boss, boss_mail = web.account("PER", given="Gest")
    assert web.authd.ctl("gestionnaire", "add", boss, "--struct-type", "FINESS",
                         "--struct-id", "310000120").returncode == 0
    mine, _ = registered(web, "INT")      # FINESS 310000120 (int_fields)
    theirs, _ = registered(web, "PER")    # no structure
    web.login(boss_mail)
    csrf = web.csrf()
    q = call(web, "list", {}, csrf)
    assert q["status"] == 200, q
    logins = {x.get("login") for x in q["json"].get("records", [])}
    assert mine in logins and theirs not in logins
    r = call(web, "suspend", {"login": theirs}, csrf)
    assert r["status"] == 404 and r["json"]["error"] == "not_found", r
    r = call(web, "validate", {"login": theirs}, csrf)
    assert r["status"] == 404 and r["json"]["error"] == "not_found", r
    # the service centre's rows stay refused
    for name in ("close", "convert", "publish", "struct-admin-add"):
        r = call(web, name, {"login": mine}, csrf)
        assert r["status"] in (403, 404), (name, r)
    # no CSRF token: refused before any rule
    r = web.fetch("/v1/call/suspend", {"login": mine}, {})
    assert r["status"] == 403 and r["json"]["error"] == "csrf_token", r
    web.logout()


def act(web, row_button, login, **fields):
    """The "Agir sur un compte" form: login, optional fields, one button; the status text."""
    web.fill("login", login)
    for k, v in fields.items():
        e = web.find(k)
        if e.tag_name == "select":
            from selenium.webdriver.support.ui import Select
            Select(e).select_by_value(v)
        else:
            web.fill(k, v)
    web.driver.execute_script("document.getElementById('act-status').textContent = ''")
    web.click(row_button)


def done(web, fragment):
    return web.wait_text("act-status", fragment)


def test_operator_in_the_page(web):
    """The back office page: the queue, validate (a PER; an INT with the MSSanté
    decision), suspend, reactivate, convert, name a gestionnaire, close, publish a
    BAL ORG's address."""
    op, op_mail = web.account("PER", given="Opera")
    assert web.authd.ctl("operator", "grant", op).returncode == 0
    per, _ = registered(web, "PER")
    int_, _ = registered(web, "INT")
    member, _ = web.account("PER")
    org, _ = web.org(member)
    web.login(op_mail)
    web.go("/gestion")
    web.visible("mm-logout")
    web.click("queue-submit")
    web.wait_text("queue", per)
    assert int_ in web.text("queue")
    web.driver.find_element("css selector", f'[id="q-{per}"] button').click()
    assert web.find("login").get_attribute("value") == per
    web.click("do-validate")
    until_status(web, per, "active")
    act(web, "do-validate", int_, mss="no")
    until_status(web, int_, "active")
    act(web, "do-suspend", per, reason="contrôle")
    until_status(web, per, "suspended")
    act(web, "do-reactivate", per)
    until_status(web, per, "active")
    act(web, "do-convert", int_, rpps=luhn_complete(f"991{web.port % 10000:04d}{next(N):03d}"))
    done(web, int_)
    assert web.authd.ctl("show", int_).json["fields"]["type"] == "PER"
    act(web, "do-admin-add", per, struct_type="FINESS", struct_id="310000120")
    done(web, "gestionnaire")
    act(web, "do-close", per, reason="départ")
    until_status(web, per, "closed")
    # an ORG's address: the queue of those not published, then publish
    from selenium.webdriver.support.ui import Select
    Select(web.find("f-status")).select_by_value("")
    Select(web.find("f-type")).select_by_value("ORG")
    Select(web.find("f-published")).select_by_value("no")
    web.click("queue-submit")
    web.wait_text("queue", org)
    act(web, "do-publish", org)
    done(web, "publiée dans l'annuaire santé")
    r = web.authd.ctl("list", "--type", "ORG", "--published", "no")
    assert org not in {x.get("login") for x in r.json.get("records", [])}
    # the audit trail of the PER: every decision above, newest first
    act(web, "do-audit", per)
    web.wait_text("audit-count", "événements pour")
    trail = web.text("audit")
    # (a status change is audited under the status it writes)
    for event in ("closed", "struct-admin-add", "active", "suspended", "validate"):
        assert f'audit="{event}"' in trail, (event, trail)
    assert trail.index('audit="closed"') < trail.index('audit="validate"')
    assert 'caller="web-operator"' in trail
    # a refusal shows next to its field, in words
    act(web, "do-validate", "nosuch-account")
    assert web.wait_text("act-form", "compte introuvable")
    assert web.dom_inert() == []
    web.logout()


def until_status(web, login, want):
    from webstack import until
    until(lambda: status(web, login) == want, what=f"{login} {want}")


def test_gestionnaire_page_and_inert_values(web):
    """A gestionnaire's page lists only its structure's accounts; a name carrying
    markup stays text; another structure's account is unknown."""
    boss, boss_mail = web.account("PER", given="Gest")
    assert web.authd.ctl("gestionnaire", "add", boss, "--struct-type", "FINESS",
                         "--struct-id", "310000120").returncode == 0
    mine, _ = registered(web, "INT")
    theirs, _ = registered(web, "PER")
    payload = '"><img src=x onerror="window.__mm_xss=1"><script>window.__mm_xss=1</script>'
    import subprocess
    ldif = (f"dn: uid={mine},ou=people,{SUFFIX}\nchangetype: modify\nreplace: cn\ncn: {payload}\n")
    r = subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", web.slapd.ldapi_url], input=ldif,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    web.login(boss_mail)
    web.go("/gestion")
    web.visible("mm-logout")
    web.click("queue-submit")
    web.wait_text("queue", mine)
    assert theirs not in web.text("queue")
    assert payload in web.find(f"q-{mine}").text
    assert web.dom_inert() == []
    act(web, "do-suspend", theirs)
    web.wait_text("act-form", "compte introuvable")
    assert status(web, theirs) != "suspended"
    act(web, "do-suspend", mine)
    until_status(web, mine, "suspended")
    # the audit trail: of its structure's account, not of another's
    act(web, "do-audit", mine)
    web.wait_text("audit", 'audit="suspended"')
    csrf = web.csrf()
    r = call(web, "audit-trail", {"login": theirs}, csrf)
    assert r["status"] == 404 and r["json"]["error"] == "not_found", r
    r = call(web, "audit-trail", {"login": boss}, csrf)
    assert r["status"] == 404, r
    web.logout()


def test_gestion_page_a11y(web):
    from webstack import until  # noqa: F401
    from test_web_annuaire import A11Y
    _, mail = web.account("MED")
    web.login(mail)
    web.driver.set_window_size(360, 800)
    try:
        web.go("/gestion")
        web.visible("mm-logout")
        assert web.driver.execute_script(A11Y) == []
        # a non-operator's queue: refused in words, in the form
        web.click("queue-submit")
        web.wait_text("queue-form", "administrateurs")
    finally:
        web.driver.set_window_size(1200, 900)
    web.logout()
