"""The "Créer un compte" pages (issue 15, registration part) in the browser.

So far: the bridge carries the registration's "Service de rattachement"
(field attached_service, stored in ou) while the key "service", which on the
socket names the PAM service asking, stays refused from the web."""
import re

from mmstack import SUFFIX, luhn_complete
from webstack import web  # noqa: F401 (the fixture)

_n = iter(range(1, 100000))


def _per(tag):
    n = next(_n)
    return {"type": "PER", "password": "Pharma#2024", "login_mail": f"reg.{tag}{n}@example.org",
            "sn": "INSCRIT" + "ABCDEFGHIJ"[n % 10], "given_name": "Paule",
            "rpps": luhn_complete(f"997{n:07d}"), "profession": "21", "liberal": "yes",
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
