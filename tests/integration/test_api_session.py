"""CGU, default account and "Changer de compte" hold for every door, not only PAM
(issue 14, item 19): a login over the HTTP API (password + code, Pro Sante Connect)
gets the PAM session's rules, against real slapd, SMTP sink and OpenID Connect
provider, across two daemons."""
import re
import subprocess

from apistack import register_active
from mmstack import SUFFIX, med_fields
from pamstack import register_org
from test_api import assert_error
from test_api_login import password_step
from test_psc import Browser

_names = iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def fresh(api, smtp, cgu=True):
    letter = next(_names)
    mail = f"api.session.{letter.lower()}@example.org"
    login = register_active(api.a, smtp, "MED", med_fields(mail, "APISESS" + letter, "Lina"), mail, cgu=cgu)
    return login, mail


def login_http(api, smtp, login, mail, svc=None):
    txn, code = password_step(api.svc_a, smtp, login, mail)
    return (svc or api.svc_b).post("/v1/login/code", {"txn": txn, "code": code})


def active(api, token):
    return api.svc_a.post("/v1/introspect", {"token": token}).json


def ldap_modify(slapd, ldif):
    subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url], input=ldif, text=True,
                   check=True, capture_output=True)


def dn_of(slapd, login):
    return slapd.search(SUFFIX, f"(uid={login})")[0]["dn"]


# ------------------------------------------------------------ CGU (guide 000)

def test_valider_les_cgu_http_login_gets_cgu_required_until_accepted(api, smtp, slapd):
    """Guide 000: "Se connecter à Medimail avec son identifiant (adresse mail) et son mot de
    passe. Saisir le code OTP (=code à usage unique) envoyé sur votre adresse mail. Valider les
    CGU." Over HTTP too: no usable session until the CGU are accepted."""
    login, mail = fresh(api, smtp, cgu=False)
    r = login_http(api, smtp, login, mail)
    assert_error(r, 403, "cgu_required")
    assert r.json["cgu_required"] is True and r.json["user"] == login
    token = r.json["session_token"]
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    # of no use yet, on either daemon, and no switch either
    assert active(api, token) == {"active": False}
    assert api.svc_b.post("/v1/introspect", {"token": token}).json == {"active": False}
    assert_error(api.svc_a.post("/v1/session/switch", {"token": token, "target": login}), 403)
    assert "mmCguAcceptedAt" not in slapd.search(SUFFIX, f"(uid={login})")[0]
    # accepted with the token (on the other daemon): the session opens on the account
    ok = api.svc_b.post("/v1/cgu/accept", {"token": token})
    assert ok.status == 200, ok
    assert ok.json["status"] == "authenticated" and ok.json["account"] == login
    assert ok.json["cgu_required"] is False and re.fullmatch(r"\d{14}Z", ok.json["cgu_accepted_at"])
    assert "session_token" not in ok.json
    i = active(api, token)
    assert i["active"] is True and i["sub"] == login
    assert slapd.search(SUFFIX, f"(uid={login})")[0]["mmCguAcceptedAt"] == [ok.json["cgu_accepted_at"]]
    assert re.search(rf'audit="cgu-accept".*account="{login}" result="ok"', api.b.log_text())
    # accepted once: again is a no-op that keeps the first stamp
    twice = api.svc_a.post("/v1/cgu/accept", {"token": token})
    assert twice.status == 200 and twice.json["cgu_accepted_at"] == ok.json["cgu_accepted_at"]


def test_cgu_accept_attacker_revoked_malformed_and_newline_tokens(api, smtp, slapd):
    """The CGU are accepted by the holder of the login's token only: a revoked token, a
    token with a newline, an oversized one, or a made-up one accept nothing."""
    login, mail = fresh(api, smtp, cgu=False)
    token = login_http(api, smtp, login, mail).json["session_token"]
    assert api.svc_a.post("/v1/logout", {"token": token}).json == {"revoked": True}
    assert_error(api.svc_a.post("/v1/cgu/accept", {"token": token}), 401, "invalid_token")
    for bad in (token + "\n", token[:-1] + "\n", "\n" + token[1:], "ab" * 32, "x" * 257, ""):
        r = api.svc_a.post("/v1/cgu/accept", {"token": bad})
        assert r.status in (400, 401), (bad, r)
    assert "mmCguAcceptedAt" not in slapd.search(SUFFIX, f"(uid={login})")[0]
    assert re.search(r'audit="cgu-accept".*result="refused" reason="unknown session"', api.a.log_text())
    # without service credentials: nothing
    from apistack import Api
    assert_error(Api(api.url_a).post("/v1/cgu/accept", {"token": token}), 401, "unauthorized")


def test_valider_les_cgu_psc_login_gets_cgu_required(api, slapd):
    """Guide 000 "Valider les CGU": a Pro Santé Connect login of an account that has not
    accepted them gets cgu_required too."""
    dn = dn_of(slapd, api.per)
    stamp = slapd.search(SUFFIX, f"(uid={api.per})")[0]["mmCguAcceptedAt"][0]
    ldap_modify(slapd, f"dn: {dn}\nchangetype: modify\ndelete: mmCguAcceptedAt\n")
    try:
        api.provider.control(account="psc-sub-linked", acr="eidas1")
        b = Browser(api.url_a)
        r = b.visit(b.authorize())
        assert_error(r, 403, "cgu_required")
        assert r.json["method"] == "psc" and r.json["user"] == api.per
        token = r.json["session_token"]
        assert active(api, token) == {"active": False}
        ok = api.svc_a.post("/v1/cgu/accept", {"token": token})
        assert ok.status == 200 and ok.json["account"] == api.per, ok
        assert active(api, token)["sub"] == api.per
    finally:
        if "mmCguAcceptedAt" not in slapd.search(SUFFIX, f"(uid={api.per})")[0]:
            ldap_modify(slapd, f"dn: {dn}\nchangetype: modify\nadd: mmCguAcceptedAt\nmmCguAcceptedAt: {stamp}\n")


# ------------------------------------------------------------ default account, Changer de compte (DESIGN.md)

def test_org_reached_only_through_an_individual_account_then_changer_de_compte(api, smtp, slapd):
    """DESIGN.md: "An ORG is reached only through an individual account: log in to your
    individual account, then Changer de compte". Over HTTP: POST /v1/session/switch."""
    login, mail = fresh(api, smtp)
    other, _ = fresh(api, smtp)
    org, org_addr = register_org(api.a, smtp, login, "Pharmacie Http")
    foreign, _ = register_org(api.a, smtp, other, "Pharmacie Voisine Http")
    r = login_http(api, smtp, login, mail)
    assert r.status == 200 and r.json["account"] == login and r.json["user"] == login, r
    token = r.json["session_token"]
    sw = api.svc_b.post("/v1/session/switch", {"token": token, "target": org})
    assert sw.status == 200, sw
    assert sw.json["account"] == org and sw.json["account_type"] == "ORG" and sw.json["user"] == login
    if org_addr:
        assert sw.json["address"] == org_addr
    # at once on this daemon; the other's cache (session_cache_ttl = 1 s) follows
    assert api.svc_b.post("/v1/introspect", {"token": token}).json["sub"] == org
    assert re.search(rf'audit="switch".*account="{login}" result="ok" reason="{org}"', api.b.log_text())
    # back to the individual account
    back = api.svc_a.post("/v1/session/switch", {"token": token, "target": login})
    assert back.status == 200 and back.json["account"] == login
    assert active(api, token)["sub"] == login
    # someone else's ORG: refused and audited, the session unchanged
    bad = api.svc_a.post("/v1/session/switch", {"token": token, "target": foreign})
    assert_error(bad, 403, "not_permitted")
    assert "ne fait pas partie de vos comptes" in bad.json["message"]
    assert re.search(rf'audit="switch".*account="{login}" result="refused" '
                     r'reason="target is not an account of the user"', api.a.log_text())
    # another user's individual account, an unknown one: the same answer
    for t in (other, "nobody.here"):
        assert_error(api.svc_a.post("/v1/session/switch", {"token": token, "target": t}), 403, "not_permitted")
    assert active(api, token)["sub"] == login
    # an ORG never logs in itself
    assert api.svc_a.post("/v1/login/password", {"user": org, "password": "x" * 12}).status in (401, 403)


def test_session_opens_on_the_default_account_over_http(api, smtp, slapd):
    """DESIGN.md: "one of them may be its default account at login" (PAM's SESSION_OPEN
    rule, mmDefaultAccount), over HTTP too; a default that is no longer usable is not used."""
    login, mail = fresh(api, smtp)
    org, _ = register_org(api.a, smtp, login, "Pharmacie Defaut Http")
    assert api.a.ctl("default", org, "--user", login).returncode == 0
    r = login_http(api, smtp, login, mail)
    assert r.status == 200 and r.json["account"] == org and r.json["user"] == login, r
    assert r.json["account_type"] == "ORG"
    assert active(api, r.json["session_token"])["sub"] == org
    # a default ORG suspended: the session opens on the individual account
    login2, mail2 = fresh(api, smtp)
    org2, _ = register_org(api.a, smtp, login2, "Pharmacie Suspendue Http")
    assert api.a.ctl("default", org2, "--user", login2).returncode == 0
    assert api.a.ctl("suspend", org2, "--reason", "test").returncode == 0
    r2 = login_http(api, smtp, login2, mail2)
    assert r2.status == 200 and r2.json["account"] == login2, r2


def test_switch_attacker_tokens_revoked_newline_and_other_sessions(api, smtp, slapd):
    """A revoked token, a token with a newline or of another shape switches nothing;
    a PAM session handle is no API token."""
    login, mail = fresh(api, smtp)
    org, _ = register_org(api.a, smtp, login, "Pharmacie Jeton Http")
    token = login_http(api, smtp, login, mail).json["session_token"]
    assert api.svc_a.post("/v1/logout", {"token": token}).json == {"revoked": True}
    assert_error(api.svc_a.post("/v1/session/switch", {"token": token, "target": org}), 401, "invalid_token")
    for bad in (token + "\n", token[:32] + "\n" + token[33:], "g" * 64, "x" * 257):
        r = api.svc_a.post("/v1/session/switch", {"token": bad, "target": org})
        assert r.status in (400, 401), (bad, r)
    login2, mail2 = fresh(api, smtp)
    live = login_http(api, smtp, login2, mail2).json["session_token"]
    for bad_target in (org + "\nuid=admin", "x" * 255, ""):
        r = api.svc_a.post("/v1/session/switch", {"token": live, "target": bad_target})
        assert r.status in (400, 403), (bad_target, r)
    assert active(api, live)["sub"] == login2
    # the ORG of login is not login2's
    assert_error(api.svc_a.post("/v1/session/switch", {"token": live, "target": org}), 403, "not_permitted")
    # no session record of another kind serves as a token
    assert not slapd.search(f"ou=sessions,{SUFFIX}", f"(mmSessionAccount={dn_of(slapd, org)})")
