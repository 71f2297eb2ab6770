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
               "struct-admin-add", "struct-admin-del")
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
