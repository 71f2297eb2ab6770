"""PASS Occitanie (issue 14, item 18), guide 003 "Gérer mon compte": "B - Désassocier un
mode de connexion par carte CPS / e-CPS ou le PASS" -- "Pour désassocier le mode de
connexion via le PASS Occitanie, cliquer sur la croix."

A second, generic OpenID Connect provider beside Pro Sante Connect (oidc_* options:
issuer, client, scopes, the claim that identifies the person), with login, link and
unlink as PSC. Two instances of the node test provider, two issuers, one daemon."""
import re
import urllib.parse

import pytest

from apistack import Api, OidcProvider, register_active
from mmstack import Daemon, _port_open, free_port, med_fields, wait_for
from test_api import assert_error
from test_api_login import CODE_RE, account_entry, ldap_modify, mails
from test_psc import Browser, params

GUIDE = "Pour désassocier le mode de connexion via le PASS Occitanie, cliquer sur la croix."
_names = iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@pytest.fixture(scope="module")
def pass_stack(state, slapd, smtp, api):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    psc_accounts = {"psc-sub-linked": {"national_id": "8" + api.rpps_linked, "given_name": "Paul",
                                       "family_name": "DURAND"}}
    pass_accounts = {
        "pass-sub-1": {"national_id": "", "given_name": "Nadège", "family_name": "VIVES", "pass_id": "occ-000123"},
        # its identifying claim is the string of a PSC subject linked elsewhere
        "pass-sub-2": {"national_id": "", "given_name": "Eve", "family_name": "MALLORY", "pass_id": "psc-twin"},
        "pass-sub-3": {"national_id": "", "given_name": "Sans", "family_name": "CLAIM"},
    }
    psc = OidcProvider(state, psc_accounts, [base + "/v1/psc/callback"], name="oidc-psc2").start()
    # the same client id at both providers: only the issuer (and the keys) tell them apart
    pas = OidcProvider(state, pass_accounts, [base + "/v1/oidc/callback", base + "/v1/psc/callback"],
                       name="oidc-pass", secret=psc.secret).start()
    d = Daemon(state, slapd, smtp.port, name="api-pass",
               extra=f"http_listen = {base[7:]}\nhttp_rate = 2000\nhttp_rate_burst = 4000\n"
                     f"{psc.daemon_config(base + '/v1/psc/callback')}"
                     f"{pas.daemon_config(base + '/v1/oidc/callback', prefix='oidc')}"
                     f"oidc_subject_claim = pass_id\n").start()
    wait_for(lambda: _port_open(port), what="listener")

    class S:
        pass
    s = S()
    s.psc, s.pas, s.d, s.url = psc, pas, d, base
    s.svc = Api(base, "webmail", api.secret)
    s.api = api
    yield s
    d.stop()
    psc.stop()
    pas.stop()


def browser(s, path="/v1/oidc"):
    return Browser(s.url, None, path=path)


def fresh(s, smtp):
    letter = next(_names)
    mail = f"pass.occ.{letter.lower()}@example.org"
    return register_active(s.api.a, smtp, "MED", med_fields(mail, "PASSOCC" + letter, "Nadège"), mail), mail


def password_step(s, smtp, login, mail):
    before = mails(smtp, mail)
    r = s.svc.post("/v1/login/password", {"user": login, "password": "Pharma#2024"})
    assert r.status == 200, r
    return r.json["txn"], smtp.wait_message(mail, CODE_RE, before).group(1)


def pass_link_required(s, account="pass-sub-1"):
    s.pas.control(account=account, acr=None)
    b = browser(s)
    r = b.visit(b.authorize())
    assert_error(r, 403, "link_required")
    assert "PASS Occitanie" in r.json["message"] and "national_id" not in r.json
    assert re.fullmatch(r"[0-9a-f]{64}", r.json["link"])
    return r.json["link"]


def test_pass_login_redirect_is_the_second_providers(pass_stack):
    s = pass_stack
    r = Api(s.url).get("/v1/oidc/login")
    assert r.status == 302, r
    loc = r.headers["Location"]
    assert loc.startswith(s.pas.issuer + "/auth?")  # from its standard discovery document
    p = params(loc)
    assert p["client_id"] == "medimail" and p["scope"] == "openid" and "acr_values" not in p
    assert p["code_challenge_method"] == "S256" and len(p["state"]) == 64
    cookie = r.headers["Set-Cookie"]
    assert f"mm_oidc_state={p['state']}" in cookie and "Path=/v1/oidc" in cookie and "HttpOnly" in cookie
    # PSC on the same daemon keeps its own
    r = Api(s.url).get("/v1/psc/login")
    assert r.headers["Location"].startswith(s.psc.issuer + "/auth?") and "acr_values=eidas1" in r.headers["Location"]


def test_pass_link_login_and_unlink_like_psc(pass_stack, smtp, slapd):
    """Pour désassocier le mode de connexion via le PASS Occitanie, cliquer sur la croix:
    the PASS identity is linked by one password + code login, then logs in alone, is
    listed naming its provider and is unlinked by its provider's name."""
    s = pass_stack
    login, mail = fresh(s, smtp)
    link = pass_link_required(s)
    txn, code = password_step(s, smtp, login, mail)
    # a PSC link endpoint does not take a PASS handle
    assert_error(s.svc.post("/v1/psc/link", {"link": link, "txn": txn, "code": code}), 410, "link_expired")
    r = s.svc.post("/v1/oidc/link", {"link": link, "txn": txn, "code": code})
    assert r.status == 200, (r, s.d.log_text()[-1500:])
    assert r.json["account"] == login and r.json["method"] == "pass"
    e = account_entry(slapd, login)
    assert e["mmOidcLink"] == ["pass:occ-000123"] and "mmPscSub" not in e
    assert re.search(rf'audit="oidc-link" .*account="{login}" result="ok"', s.d.log_text())
    # the next PASS login maps directly
    b = browser(s)
    r = b.visit(b.authorize())
    assert r.status == 200, r
    assert r.json["account"] == login and r.json["method"] == "pass"
    i = s.svc.post("/v1/introspect", {"token": r.json["session_token"]})
    assert i.json["active"] is True and i.json["sub"] == login and i.json["method"] == "pass"
    # psc list names each provider
    lst = s.d.ctl("psc", "list", login)
    assert lst.returncode == 0, lst.stdout
    assert [(x["provider"], x["label"], x["sub"]) for x in lst.json["records"]] == \
        [("pass", "PASS Occitanie", "occ-000123")]
    uid = int(e["uidNumber"][0])
    assert s.d.ctl("psc", "list", uid=uid).json["records"][0]["provider"] == "pass"
    # another user may neither list nor unlink it
    assert s.d.ctl("psc", "list", login, uid=65534).returncode == 1
    assert s.d.ctl("psc", "unlink", login, "--provider", "pass", uid=65534).returncode == 1
    # the cross: the owner unlinks it, by its provider's name
    un = s.d.ctl("psc", "unlink", login, "occ-000123", "--provider", "pass", uid=uid)
    assert un.returncode == 0, un.stdout
    assert un.json["fields"]["removed"] == "1" and "PASS Occitanie" in un.json["message"]
    assert "mmOidcLink" not in account_entry(slapd, login)
    assert re.search(rf'audit="psc-unlink" .*method="pass" .*account="{login}" result="ok"', s.d.log_text())
    b = browser(s)
    assert_error(b.visit(b.authorize()), 403, "link_required")


def test_a_link_of_one_provider_is_not_unlinked_through_the_others_name(pass_stack, smtp, slapd):
    """Attack: the PASS link named as a PSC one (same subject string) stays; PSC's stays
    when the PASS name is used."""
    s = pass_stack
    login, mail = fresh(s, smtp)
    dn = account_entry(slapd, login)["dn"]
    ldap_modify(slapd, f"dn: {dn}\nchangetype: modify\nadd: mmOidcLink\nmmOidcLink: pass:same-sub\n"
                       f"-\nadd: mmPscSub\nmmPscSub: psc-only\n")
    lst = s.d.ctl("psc", "list", login).json["records"]
    assert {(x["provider"], x["sub"]) for x in lst} == {("psc", "psc-only"), ("pass", "same-sub")}
    assert {x["label"] for x in lst} == {"Pro Santé Connect", "PASS Occitanie"}
    r = s.d.ctl("psc", "unlink", login, "same-sub")  # PSC is the default provider
    assert r.returncode == 1 and "Pro Santé Connect" in r.stdout, r.stdout
    r = s.d.ctl("psc", "unlink", login, "same-sub", "--provider", "psc")
    assert r.returncode == 1
    r = s.d.ctl("psc", "unlink", login, "psc-only", "--provider", "pass")
    assert r.returncode == 1 and "PASS Occitanie" in r.stdout, r.stdout
    e = account_entry(slapd, login)
    assert e["mmOidcLink"] == ["pass:same-sub"] and e["mmPscSub"] == ["psc-only"]
    # a provider name that cannot be one, or a newline in it
    assert s.d.ctl("psc", "unlink", login, "--provider", "pass\nx").returncode == 1
    assert s.d.ctl("psc", "unlink", login, "--provider", "x" * 40).returncode == 1
    # every link of one provider goes, the other's stays
    r = s.d.ctl("psc", "unlink", login, "--provider", "pass")
    assert r.returncode == 0 and r.json["fields"]["removed"] == "1"
    e = account_entry(slapd, login)
    assert "mmOidcLink" not in e and e["mmPscSub"] == ["psc-only"]
    assert s.d.ctl("psc", "unlink", login).returncode == 0
    assert "mmPscSub" not in account_entry(slapd, login)


def test_a_pass_identity_never_logs_in_through_a_psc_link(pass_stack, smtp, slapd):
    """Attack: a PASS identifying claim equal to a PSC subject linked to an account."""
    s = pass_stack
    login, _ = fresh(s, smtp)
    dn = account_entry(slapd, login)["dn"]
    ldap_modify(slapd, f"dn: {dn}\nchangetype: modify\nadd: mmPscSub\nmmPscSub: psc-twin\n")
    pass_link_required(s, "pass-sub-2")


def test_pass_id_token_presented_as_psc_is_refused(state, slapd, smtp, pass_stack):
    """Attack (mix-up): the PSC flow's code obtained at PASS and exchanged at an endpoint
    that answers with PASS's ID token: its issuer is not PSC's, refused."""
    s = pass_stack
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    pas = OidcProvider(state, s.pas.accounts, [base + "/v1/psc/callback"], name="oidc-pass-mix",
                       secret=s.psc.secret).start()
    d = Daemon(state, slapd, smtp.port, name="api-mixup",
               extra=f"http_listen = 127.0.0.1:{port}\n{s.psc.daemon_config(base + '/v1/psc/callback')}"
                     f"psc_token_endpoint = {pas.issuer}/token\npsc_jwks_uri = {pas.issuer}/jwks\n"
                     f"psc_userinfo = no\n").start()
    try:
        wait_for(lambda: _port_open(port), what="listener")
        pas.control(account="pass-sub-1", acr="eidas1")
        r = Api(base).get("/v1/psc/login")
        state_ = params(r.headers["Location"])["state"]
        # the same authorization request, sent to PASS instead of PSC
        q = urllib.parse.urlsplit(r.headers["Location"]).query
        b = Browser(base, None, path="/v1/psc")
        b.stop.caught = None
        try:
            b.opener.open(f"{pas.issuer}/auth?{q}", timeout=30)
        except Exception:
            pass
        cb = b.stop.caught
        assert cb and params(cb)["state"] == state_, cb
        r = Api(base).get("", url=cb, headers={"Cookie": f"mm_psc_state={state_}"})
        assert_error(r, 401, "invalid_token")
        assert r.json["message"].endswith(": iss"), r.json
        assert "session_token" not in r.json
    finally:
        d.stop()
        pas.stop()


def test_psc_id_token_presented_as_pass_is_refused(state, slapd, smtp, pass_stack):
    """Attack (mix-up), the other way: PSC's ID token in the PASS flow, refused on iss."""
    s = pass_stack
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    psc = OidcProvider(state, {"psc-sub-linked": {"national_id": "8" + s.api.rpps_linked, "given_name": "Paul",
                                                  "family_name": "DURAND", "pass_id": "occ-000123"}},
                       [base + "/v1/oidc/callback"], name="oidc-psc-mix", secret=s.pas.secret).start()
    d = Daemon(state, slapd, smtp.port, name="api-mixup2",
               extra=f"http_listen = 127.0.0.1:{port}\n{s.pas.daemon_config(base + '/v1/oidc/callback', 'oidc')}"
                     f"oidc_subject_claim = pass_id\noidc_token_endpoint = {psc.issuer}/token\n"
                     f"oidc_jwks_uri = {psc.issuer}/jwks\noidc_userinfo = no\n").start()
    try:
        wait_for(lambda: _port_open(port), what="listener")
        psc.control(account="psc-sub-linked", acr="eidas1")
        r = Api(base).get("/v1/oidc/login")
        state_ = params(r.headers["Location"])["state"]
        q = urllib.parse.urlsplit(r.headers["Location"]).query
        b = Browser(base, None, path="/v1/oidc")
        try:
            b.opener.open(f"{psc.issuer}/auth?{q}", timeout=30)
        except Exception:
            pass
        cb = b.stop.caught
        assert cb and params(cb)["state"] == state_, cb
        r = Api(base).get("", url=cb, headers={"Cookie": f"mm_oidc_state={state_}"})
        assert_error(r, 401, "invalid_token")
        assert r.json["message"] == "PASS Occitanie answer refused: iss", r.json
    finally:
        d.stop()
        psc.stop()


def test_a_state_of_one_provider_is_refused_on_the_other(pass_stack):
    """Attack: the state PSC issued replayed on the PASS callback, and the other way round."""
    s = pass_stack
    s.psc.control(account="psc-sub-linked", acr="eidas1")
    s.pas.control(account="pass-sub-1", acr=None)
    bp = browser(s, "/v1/psc")
    cb = bp.authorize()
    st, code = params(cb)["state"], params(cb)["code"]
    on_pass = f"{s.url}/v1/oidc/callback?state={st}&code={code}"
    assert_error(Api(s.url).get("", url=on_pass, headers={"Cookie": f"mm_oidc_state={st}"}), 400,
                 "invalid_request")
    # PSC's state was not consumed by the attempt: its browser still finishes
    r = bp.visit(cb)
    assert r.status == 200 and r.json["method"] == "psc", r
    bo = browser(s)
    cb = bo.authorize()
    st, code = params(cb)["state"], params(cb)["code"]
    on_psc = f"{s.url}/v1/psc/callback?state={st}&code={code}"
    assert_error(Api(s.url).get("", url=on_psc, headers={"Cookie": f"mm_psc_state={st}"}), 400,
                 "invalid_request")


def test_a_token_without_the_identifying_claim_is_refused(pass_stack):
    s = pass_stack
    s.pas.control(account="pass-sub-3", acr=None)
    b = browser(s)
    r = b.visit(b.authorize())
    assert_error(r, 401, "invalid_token")
    assert "identifying claim missing" in r.json["message"]
    s.pas.control(account="pass-sub-1")


def test_second_provider_options_are_checked(state, slapd, smtp):
    for extra, why in [("oidc_issuer = http://127.0.0.1:1\n", "oidc_issuer needs oidc_client_id"),
                       ("oidc_name = psc\n", "oidc_name"),
                       ("oidc_name = Pass Occitanie\n", "oidc_name"),
                       ("oidc_subject_claim = " + "c" * 65 + "\n", "oidc_subject_claim")]:
        d = Daemon(state, slapd, smtp.port, name="pass-bad", extra=extra)
        try:
            with pytest.raises(RuntimeError, match=why):
                d.start()
        finally:
            d.stop()
