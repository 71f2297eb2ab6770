"""The OpenID Connect provider (issue 16): a conformance run from the discovery
document, the code flow through the web login (/connexion, password + mailed
code) in a real browser, the API parts over plain HTTP, and the classic attacks."""
import base64
import contextlib
import hashlib
import json
import os
import secrets
import subprocess
import time
import urllib.parse

import jwt
import pytest
from selenium.webdriver.support.ui import WebDriverWait

from apistack import Api
from mmstack import SUFFIX, Daemon, ctl_ok, free_port, wait_for, _port_open
from webstack import WebStack, stack_name

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def op(request, state, slapd, smtp):
    s = WebStack(state, slapd, smtp, stack_name(request.module.__name__),
                 extra=f"op_key_file = {state / 'oidc-keys.json'}\n")
    request.addfinalizer(s.stop)
    return s


def disco(op):
    r = op.api.get("/.well-known/openid-configuration")
    assert r.status == 200, r
    return r.json


def client(op, kind="confidential", method="client_secret_basic", alg="ES256", first_party="yes", extra=()):
    cid = f"rp{secrets.token_hex(4)}"
    redirect = f"{op.url}/rp/{cid}/callback"
    args = ["oidc", "client", "add", cid, "--redirect-uris", redirect, "--type", kind,
            "--first-party", first_party, "--token-endpoint-auth-method", method,
            "--id-token-signed-response-alg", alg, *extra]
    f = ctl_ok(op.authd.ctl(*args))
    return {"id": cid, "secret": f.get("secret"), "redirect": redirect}


def pkce():
    v = secrets.token_urlsafe(48)
    c = base64.urlsafe_b64encode(hashlib.sha256(v.encode()).digest()).rstrip(b"=").decode()
    return v, c


def authz_url(op, cl, challenge=None, **kw):
    q = {"client_id": cl["id"], "redirect_uri": cl["redirect"], "response_type": "code",
         "scope": "openid profile email medimail", "state": "st-" + secrets.token_hex(4),
         "nonce": "n-" + secrets.token_hex(4)}
    if challenge:
        q.update(code_challenge=challenge, code_challenge_method="S256")
    q.update(kw)
    return "/oidc/authorize?" + urllib.parse.urlencode({k: v for k, v in q.items() if v is not None}), q


def browser_login(op):
    """A fresh account logged in through /connexion in the browser; its cookie."""
    login, mail = op.account("PER")
    op.reset()
    op.login(mail)
    return login, mail, op.cookie()


def authorize(op, cookie, path):
    """GET /oidc/authorize with the session cookie, without following: the reply."""
    return op.api.get(path, headers={"Cookie": f"mm_session={cookie}"} if cookie else {})


def browser_cookie(op, name):
    """A cookie of the browser whatever its Path (an HttpOnly one too), or None."""
    return next((c["value"] for c in op.driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]
                 if c["name"] == name), None)


def code_of(reply, q):
    loc = reply.headers["Location"]
    u = urllib.parse.urlparse(loc)
    args = dict(urllib.parse.parse_qsl(u.query))
    assert args.get("state") == q["state"], loc
    return args.get("code"), args


def token(op, cl, body, basic=True):
    h = dict(FORM)
    body = dict(body)
    if cl.get("secret") and basic:
        h["Authorization"] = "Basic " + base64.b64encode(f"{cl['id']}:{cl['secret']}".encode()).decode()
    elif cl.get("secret"):
        body.update(client_id=cl["id"], client_secret=cl["secret"])
    else:
        body.setdefault("client_id", cl["id"])
    return op.api.post("/oidc/token", raw=urllib.parse.urlencode(body).encode(), headers=h)


def form_post(op, path, cl, body):
    h = dict(FORM)
    h["Authorization"] = "Basic " + base64.b64encode(f"{cl['id']}:{cl['secret']}".encode()).decode()
    return op.api.post(path, raw=urllib.parse.urlencode(body).encode(), headers=h)


def verify_id_token(op, tok, cl, nonce):
    jwks = jwt.PyJWKClient(op.url + "/oidc/jwks")
    key = jwks.get_signing_key_from_jwt(tok)
    alg = jwt.get_unverified_header(tok)["alg"]
    return jwt.decode(tok, key.key, algorithms=[alg], audience=cl["id"], issuer=disco(op)["issuer"],
                      options={"require": ["exp", "iat", "sub"]}) | {"_alg": alg, "_nonce_ok": None} \
        if nonce is None else _check_nonce(jwt.decode(tok, key.key, algorithms=[alg], audience=cl["id"],
                                                      issuer=disco(op)["issuer"]), nonce, alg)


def _check_nonce(claims, nonce, alg):
    assert claims["nonce"] == nonce
    claims["_alg"] = alg
    return claims


def full_flow(op, cl, cookie, challenge=None, verifier=None, **kw):
    path, q = authz_url(op, cl, challenge, **kw)
    r = authorize(op, cookie, path)
    assert r.status == 302, r
    code, _ = code_of(r, q)
    assert code, r.headers["Location"]
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": cl["redirect"]}
    if verifier:
        body["code_verifier"] = verifier
    t = token(op, cl, body)
    assert t.status == 200, t
    return q, code, t.json


# --- discovery and keys -------------------------------------------------------

def test_discovery_and_jwks(op):
    d = disco(op)
    for k in ("issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
              "introspection_endpoint", "revocation_endpoint", "end_session_endpoint"):
        assert d[k].startswith(op.url), (k, d[k])
    assert d["response_types_supported"] == ["code"]
    assert d["code_challenge_methods_supported"] == ["S256"]
    assert set(d["id_token_signing_alg_values_supported"]) == {"ES256", "RS256"}
    keys = op.api.get("/oidc/jwks").json["keys"]
    assert {k["alg"] for k in keys} == {"ES256", "RS256"}
    assert all("d" not in k and "p" not in k for k in keys), "no private part published"
    st = os.stat(op.authd.state / "oidc-keys.json")
    assert st.st_mode & 0o777 == 0o600 and st.st_uid == 0


def test_client_add_list_remove(op):
    cl = client(op)
    assert len(cl["secret"]) == 64
    listed = op.authd.ctl("oidc", "client", "list")
    assert cl["id"] in listed.stdout
    stored = json.dumps(op.slapd.search(f"ou=services,{SUFFIX}"))
    assert cl["id"] in stored and cl["secret"] not in stored, "only a keyed hash of the secret is kept"
    assert cl["secret"] not in op.authd.log_text()
    r = op.authd.ctl("oidc", "client", "add", cl["id"] + "x", "--redirect-uris", "javascript:alert(1)")
    assert r.returncode != 0
    ctl_ok(op.authd.ctl("oidc", "client", "remove", cl["id"]))
    assert cl["id"] not in op.authd.ctl("oidc", "client", "list").stdout


# --- the code flow ------------------------------------------------------------

def test_code_flow_in_the_browser(op):
    """The RP sends the browser to /oidc/authorize: our login, the mailed code, back with a code."""
    cl = client(op)
    login, mail = op.account("PER")
    op.reset()
    path, q = authz_url(op, cl)
    before = op.mails(mail)
    op.go(path)
    op.wait_path("/connexion")
    op.fill("user", mail)
    op.fill("password", "Pharma#2024")
    op.click("login-submit")
    op.visible("code")
    op.fill("code", op.code(mail, before))
    op.click("code-submit")
    op.wait_path(f"/rp/{cl['id']}/callback")
    args = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(op.driver.current_url).query))
    assert args["state"] == q["state"] and args["iss"] == disco(op)["issuer"]
    t = token(op, cl, {"grant_type": "authorization_code", "code": args["code"], "redirect_uri": cl["redirect"]})
    assert t.status == 200, t
    claims = verify_id_token(op, t.json["id_token"], cl, q["nonce"])
    assert claims["email"] == mail and claims["acr"] == "pwd+otp" and claims["amr"][:2] == ["pwd", "otp"]
    assert claims["auth_time"] <= time.time() and claims["sid"]
    ui = op.api.get("/oidc/userinfo", headers={"Authorization": "Bearer " + t.json["access_token"]})
    assert ui.status == 200 and ui.json["sub"] == claims["sub"] and ui.json["email"] == mail
    assert ui.json["mss_address"] and ui.json["account_type"] == "PER" and ui.json["rpps"]


def test_bal_org_after_changer_de_compte_at_the_provider(op):
    """Issue 16: an RP may ask to act as a BAL ORG the user connects to. "Changer de compte" in
    the header of the provider's pages, then the RP's request with scope bal_org: the ID token
    and userinfo name the BAL ORG (the person stays the subject). Without the scope, or acting
    as oneself, no bal_org; a member removed from the ORG since loses it at userinfo."""
    login, mail, cookie = browser_login(op)
    org, org_mss = op.org(login, "Pharmacie Oidc")
    cl = client(op)
    q, _, t = full_flow(op, cl, cookie, scope="openid profile bal_org")
    assert "bal_org" not in verify_id_token(op, t["id_token"], cl, q["nonce"])  # acting as oneself
    op.go("/")
    op.click("mm-switch")
    op.driver.find_element("css selector", f'#mm-switch-list button[data-account="{org}"]').click()
    op.wait_text("mm-mss-address", org_mss)
    cookie = op.cookie()
    q, _, t = full_flow(op, cl, cookie, scope="openid profile bal_org")
    idt = verify_id_token(op, t["id_token"], cl, q["nonce"])
    assert idt["bal_org"] == {"login": org, "name": "Pharmacie Oidc", "mss_address": org_mss}, idt
    assert idt["preferred_username"] == login
    ui = op.api.get("/oidc/userinfo", headers={"Authorization": "Bearer " + t["access_token"]})
    assert ui.status == 200 and ui.json["bal_org"]["login"] == org and ui.json["sub"] == idt["sub"]
    # the same session, a client that does not ask: nothing of the ORG
    q2, _, t2 = full_flow(op, cl, cookie, scope="openid profile")
    assert "bal_org" not in verify_id_token(op, t2["id_token"], cl, q2["nonce"])
    # the person is no longer a member: the claim goes at the next read
    r = subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", op.slapd.ldapi_url], text=True,
                       input=f"dn: uid={org},ou=orgs,{SUFFIX}\nchangetype: modify\ndelete: mmMember\n"
                             f"mmMember: uid={login},ou=people,{SUFFIX}\n", capture_output=True)
    assert r.returncode == 0, r.stderr
    # (the claims given lately are kept in memory until the followed directory reports the change)
    ui = lambda: op.api.get("/oidc/userinfo", headers={"Authorization": "Bearer " + t["access_token"]})
    within_a_second(lambda: "bal_org" not in ui().json, "the membership's end seen at userinfo")
    assert ui().status == 200
    assert "bal_org" in disco(op)["scopes_supported"] and "bal_org" in disco(op)["claims_supported"]


def test_cgu_at_the_first_login_keeps_the_authorization_request(op):
    """A first login from /oidc/authorize goes through the CGU and comes back to the request,
    not to "/". A suite that leaves the site ("/\\host", "//host") is not followed."""
    cl = client(op)
    login, mail = op.account("PER", cgu=False)
    op.reset()
    path, q = authz_url(op, cl)
    op.go(path)
    op.wait_path("/connexion")
    before = op.mails(mail)
    op.fill("user", mail)
    op.fill("password", "Pharma#2024")
    op.click("login-submit")
    op.visible("code")
    op.fill("code", op.code(mail, before))
    op.click("code-submit")
    op.wait_path("/cgu")
    assert "requete" in urllib.parse.parse_qs(urllib.parse.urlparse(op.driver.current_url).query)["suite"][0]
    op.click("accept")
    op.click("cgu-submit")
    op.wait_path(f"/rp/{cl['id']}/callback")
    args = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(op.driver.current_url).query))
    assert args["state"] == q["state"] and args["code"]
    # another site as the suite of a login: the browser stays here
    for bad in ("/\\evil.example/x", "//evil.example/x", "https://evil.example/x"):
        login2, mail2 = op.account("PER")
        op.reset()
        op.go("/connexion?suite=" + urllib.parse.quote(bad, safe=""))
        before = op.mails(mail2)
        op.fill("user", mail2)
        op.fill("password", "Pharma#2024")
        op.click("login-submit")
        op.visible("code")
        op.fill("code", op.code(mail2, before))
        op.click("code-submit")
        op.wait_path("/")
        assert urllib.parse.urlparse(op.driver.current_url).netloc == urllib.parse.urlparse(op.url).netloc


def test_pro_sante_connect_from_authorize(op):
    """Pro Santé Connect chosen at the provider's login: its callback resumes the pending
    /oidc/authorize (handle carried in an HttpOnly cookie through PSC), not the home page."""
    login, mail = op.psc_account()
    op.provider.control(account=op.psc_sub, acr="eidas1")
    cl = client(op)
    op.reset()
    path, q = authz_url(op, cl)
    op.go(path)
    op.wait_path("/connexion")
    href = op.find("psc-login").get_attribute("href")
    assert "/v1/web/psc/login?suite=" in href and "requete" in href, href
    op.click("psc-login")
    op.wait_path(f"/rp/{cl['id']}/callback", timeout=20)
    args = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(op.driver.current_url).query))
    assert args["state"] == q["state"] and args["iss"] == disco(op)["issuer"]
    t = token(op, cl, {"grant_type": "authorization_code", "code": args["code"], "redirect_uri": cl["redirect"]})
    assert t.status == 200, t
    claims = verify_id_token(op, t.json["id_token"], cl, q["nonce"])
    assert claims["email"] == mail and claims["acr"] == "psc" and "psc" in claims["amr"]
    # the handle is spent: the cookie is gone, the request cannot be resumed again
    assert not browser_cookie(op, "mm_psc_suite")
    again = authorize(op, op.cookie(), "/oidc/authorize?requete=" + urllib.parse.parse_qs(
        urllib.parse.urlparse(href).query)["suite"][0].split("requete=")[1])
    assert again.status == 400
    # attacker: a suite that is no authorization request's path is never a destination
    for suite in ("https://evil.example/", "//evil.example/", "/oidc/authorize?requete=" + "0" * 63 + "\n",
                  "/oidc/authorize?requete=../../compte", "javascript:alert(1)"):
        op.reset()
        op.go("/v1/web/psc/login?" + urllib.parse.urlencode({"suite": suite}))
        op.wait_path("/", timeout=20)
        assert op.driver.current_url.startswith(op.url + "/"), (suite, op.driver.current_url)
        assert not browser_cookie(op, "mm_psc_suite")
    # a well-formed but unknown handle: PSC logs in, the provider then refuses the request
    op.reset()
    op.go("/v1/web/psc/login?" + urllib.parse.urlencode({"suite": "/oidc/authorize?requete=" + "ab" * 32}))
    WebDriverWait(op.driver, 20).until(lambda d: "/oidc/authorize" in d.current_url)
    r = op.api.get("/oidc/authorize?requete=" + "ab" * 32, headers={"Cookie": "mm_session=" + op.cookie()})
    assert r.status == 400 and "inconnue" in json.dumps(r.json, ensure_ascii=False), r.json


def psc_walk(op, suite, forge=None):
    """A client without the browser through /v1/web/psc/login?suite= and the provider, up to
    our callback; forge (not None) replaces the HttpOnly cookie mm_psc_suite that the login
    left. Returns (client, the callback's reply, not followed)."""
    c = Api(op.url)
    url = op.url + "/v1/web/psc/login?" + urllib.parse.urlencode({"suite": suite})
    r = c.get("", url=url)
    for _ in range(12):
        assert r.status in (302, 303), r
        url = urllib.parse.urljoin(url, r.headers["Location"])
        if url.startswith(op.url + "/v1/psc/callback"):
            break
        r = c.get("", url=url)
    else:
        raise AssertionError("the provider did not come back")
    jar = {k.name: k.value for k in c.jar if k.name.startswith("mm_")}
    if forge is not None:
        jar["mm_psc_suite"] = forge
    return c, c.get("", url=url, headers={"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())})


def cgu_forget(op, login):
    """The account's CGU as never accepted (the next login asks for them again)."""
    r = subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", op.slapd.ldapi_url], text=True,
                       input=f"dn: uid={login},ou=people,{SUFFIX}\nchangetype: modify\n"
                             "delete: mmCguAcceptedAt\n", capture_output=True)
    assert r.returncode == 0, r.stderr


def cgu_accepted(op, login):
    return bool(op.slapd.search(SUFFIX, f"(uid={login})")[0].get("mmCguAcceptedAt"))


def test_pro_sante_connect_with_the_cgu_to_accept_resumes_the_request(op):
    """Issue 16: Pro Santé Connect chosen at the provider's login for an account whose CGU are
    not yet accepted: our /cgu page, then the pending request resumes at the RP's callback
    (acr psc). CGU refused or left give no code, and the session they leave authorizes
    nothing; the spent request does not resume again; an altered or forged handle and a
    suite to another site lead to no code and off no site."""
    login, mail = op.psc_account(cgu=False)
    op.provider.control(account=op.psc_cgu_sub, acr="eidas1")
    cl = client(op)

    def to_cgu():
        op.reset()
        path, q = authz_url(op, cl)
        op.go(path)
        op.wait_path("/connexion")
        op.click("psc-login")
        op.wait_path("/cgu", timeout=20)
        suite = urllib.parse.parse_qs(urllib.parse.urlparse(op.driver.current_url).query)["suite"][0]
        assert suite.startswith("/oidc/authorize?requete="), suite
        assert not browser_cookie(op, "mm_psc_suite")
        return path, q, suite.split("requete=", 1)[1]

    def no_code(reply):
        assert reply.status in (302, 400), reply
        if reply.status == 302:
            loc = reply.headers["Location"]
            assert loc.startswith("/connexion?") and "code=" not in loc, loc

    # refused: the box left unticked sends nothing; "Déconnexion" ends the session
    path, q, handle = to_cgu()
    cookie = op.cookie()
    op.click("cgu-submit")
    assert "obligatoire" in (op.error_of("accept") or "")
    assert op.driver.current_url.split("?")[0] == op.url + "/cgu" and not cgu_accepted(op, login)
    s = op.api.get("/v1/web/session", headers=op.as_cookie(cookie)).json
    assert s["cgu_required"] and "account" not in s, s
    # left without accepting: neither the pending request nor a new one gets a code
    no_code(authorize(op, cookie, "/oidc/authorize?requete=" + handle))
    no_code(authorize(op, cookie, authz_url(op, cl)[0]))
    op.go(path)  # the RP's request again in this browser: back to the CGU, not to the RP
    op.wait_path("/cgu")
    op.click("cgu-logout")
    op.wait_path("/connexion")
    no_code(authorize(op, cookie, "/oidc/authorize?requete=" + handle))
    assert not cgu_accepted(op, login)

    # the suite of the CGU to another site: accepted, the browser stays here
    for bad in ("//evil.example/x", "/\\evil.example/x", "https://evil.example/x"):
        to_cgu()
        op.go("/cgu?suite=" + urllib.parse.quote(bad, safe=""))
        op.click("accept")
        op.click("cgu-submit")
        op.wait_path("/")
        assert cgu_accepted(op, login)
        cgu_forget(op, login)

    # an altered handle: accepted, the provider knows no such request, no code
    path, q, handle = to_cgu()
    altered = handle[:-1] + ("0" if handle[-1] != "0" else "1")
    op.go("/cgu?suite=" + urllib.parse.quote("/oidc/authorize?requete=" + altered, safe=""))
    op.click("accept")
    op.click("cgu-submit")
    WebDriverWait(op.driver, 10).until(lambda d: d.current_url.startswith(op.url + "/oidc/authorize"))
    assert "inconnue" in op.driver.find_element("tag name", "body").text
    assert "/rp/" not in op.driver.current_url
    cgu_forget(op, login)

    # the handle's cookie forged between the login and the callback: no destination but ours
    pending = authorize(op, None, authz_url(op, cl)[0]).headers["Location"]
    handle = urllib.parse.parse_qs(urllib.parse.urlparse(pending).query)["suite"][0].split("requete=")[1]
    for forged in ("%2F%2Fevil.example", "https://evil.example/", "../../compte", "0" * 63 + "g", ""):
        _, r = psc_walk(op, "/oidc/authorize?requete=" + handle, forge=forged)
        assert r.status == 302 and r.headers["Location"] == "/cgu", (forged, r.headers["Location"])
    altered = handle[:-1] + ("0" if handle[-1] != "0" else "1")
    c, r = psc_walk(op, "/oidc/authorize?requete=" + handle, forge=altered)
    assert r.status == 302 and r.headers["Location"] == "/cgu?suite=%2Foidc%2Fauthorize%3Frequete%3D" + altered
    assert not cgu_accepted(op, login)

    # accepted: the request resumes at the RP's callback with its state, once
    path, q, handle = to_cgu()
    op.click("accept")
    op.click("cgu-submit")
    op.wait_path(f"/rp/{cl['id']}/callback", timeout=20)
    args = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(op.driver.current_url).query))
    assert args["state"] == q["state"] and args["iss"] == disco(op)["issuer"] and cgu_accepted(op, login)
    t = token(op, cl, {"grant_type": "authorization_code", "code": args["code"], "redirect_uri": cl["redirect"]})
    assert t.status == 200, t
    claims = verify_id_token(op, t.json["id_token"], cl, q["nonce"])
    assert claims["email"] == mail and claims["acr"] == "psc" and "psc" in claims["amr"], claims
    # replayed: the spent request is unknown, to the browser as to a client
    r = authorize(op, op.cookie(), "/oidc/authorize?requete=" + handle)
    assert r.status == 400 and "inconnue" in json.dumps(r.json, ensure_ascii=False), r
    op.go("/cgu?suite=" + urllib.parse.quote("/oidc/authorize?requete=" + handle, safe=""))
    WebDriverWait(op.driver, 10).until(lambda d: d.current_url.startswith(op.url + "/oidc/authorize"))
    assert "inconnue" in op.driver.find_element("tag name", "body").text
    op.provider.control(account=op.psc_sub, acr="eidas1")


def test_pro_sante_connect_link_required_resumes_the_request(op):
    """Issue 16 and guide 004: a Pro Santé Connect identity no account carries, chosen at the
    provider's login: the link page (the account's password + mailed code, as at /connexion)
    links it, then the request the login came from resumes at the RP's callback. Another
    user's account cannot be linked without its password; a link page naming another pending
    request still resumes only the first (the request is kept with the link handle); the
    spent link handle and the spent request serve no more."""
    other, other_mail = op.account("MED")
    login, mail = op.account("MED", given="Ines")
    op.provider.control(account=op.psc_unlinked_sub, acr="eidas1")
    cl, cl2 = client(op), client(op)

    def linked(who):
        return op.psc_unlinked_sub in op.slapd.search(SUFFIX, f"(uid={who})")[0].get("mmPscSub", [])

    def pending(path):
        loc = authorize(op, None, path).headers["Location"]
        return urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)["suite"][0].split("requete=")[1]

    op.reset()
    path, q = authz_url(op, cl)
    op.go(path)
    op.wait_path("/connexion")
    op.click("psc-login")
    WebDriverWait(op.driver, 20).until(lambda d: "psc=link_required" in d.current_url)
    op.wait_text("psc-error", "pas encore liée")
    suite = urllib.parse.parse_qs(urllib.parse.urlparse(op.driver.current_url).query)["suite"][0]
    assert suite.startswith("/oidc/authorize?requete="), suite
    handle = suite.split("requete=", 1)[1]
    link = browser_cookie(op, "mm_psc_link")
    assert link and len(link) == 64 and link not in op.driver.current_url
    assert not browser_cookie(op, "mm_psc_suite") and not op.cookie()

    # attacker: another user's account without its password, or a forged transaction
    op.fill("user", other_mail)
    op.fill("password", "Devine#2024x")
    op.click("login-submit")
    WebDriverWait(op.driver, 10).until(
        lambda d: any(e.text for e in d.find_elements("css selector", "#login-form [data-form-error]")))
    assert not op.find("step-code").is_displayed()
    r = op.fetch("/v1/web/psc/link", {"txn": "ab" * 32, "code": "123456"})
    assert r["status"] in (400, 401) and "session" not in r["text"], r
    assert not linked(other) and not linked(login) and not op.cookie()
    assert authorize(op, None, "/oidc/authorize?requete=" + handle).headers["Location"].startswith("/connexion?")

    # the link page's suite changed to another pending request: the link resumes the first only
    other_handle = pending(authz_url(op, cl2)[0])
    op.go("/connexion?psc=link_required&suite=" + urllib.parse.quote("/oidc/authorize?requete=" + other_handle,
                                                                     safe=""))
    op.wait_text("psc-error", "pas encore liée")
    before = op.mails(mail)
    op.fill("user", mail)
    op.fill("password", "Pharma#2024")
    op.click("login-submit")
    op.fill("code", op.code(mail, before))
    op.click("code-submit")
    op.wait_path(f"/rp/{cl['id']}/callback", timeout=20)
    args = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(op.driver.current_url).query))
    assert args["state"] == q["state"] and args["iss"] == disco(op)["issuer"]
    assert linked(login) and not linked(other)
    t = token(op, cl, {"grant_type": "authorization_code", "code": args["code"], "redirect_uri": cl["redirect"]})
    assert t.status == 200, t
    claims = verify_id_token(op, t.json["id_token"], cl, q["nonce"])
    assert claims["email"] == mail and claims["acr"] == "psc" and "psc" in claims["amr"], claims
    # the other request was not resumed: still pending, a login away
    r = authorize(op, None, "/oidc/authorize?requete=" + other_handle)
    assert r.status == 302 and r.headers["Location"].startswith("/connexion?"), r

    # replayed: the link handle is spent (and gone from the browser), the request too
    assert not browser_cookie(op, "mm_psc_link")
    r = Api(op.url).post("/v1/web/psc/link", {"txn": "cd" * 32, "code": "000000"},
                         headers={"Origin": op.url, "Cookie": "mm_psc_link=" + link})
    assert r.status == 410 and r.json["error"] == "link_expired" and "suite" not in r.json, r
    assert "mm_session=" not in (r.headers.get("Set-Cookie") or "").replace("mm_session=;", "")
    r = authorize(op, op.cookie(), "/oidc/authorize?requete=" + handle)
    assert r.status == 400 and "inconnue" in json.dumps(r.json, ensure_ascii=False), r
    op.provider.control(account=op.psc_sub, acr="eidas1")


def test_each_auth_method_and_alg(op):
    login, mail, cookie = browser_login(op)
    subs = set()
    for method, alg, basic in (("client_secret_basic", "ES256", True), ("client_secret_post", "RS256", False)):
        cl = client(op, method=method, alg=alg)
        path, q = authz_url(op, cl)
        code, _ = code_of(authorize(op, cookie, path), q)
        t = token(op, cl, {"grant_type": "authorization_code", "code": code, "redirect_uri": cl["redirect"]},
                  basic=basic)
        assert t.status == 200, (method, t)
        c = verify_id_token(op, t.json["id_token"], cl, q["nonce"])
        assert c["_alg"] == alg
        subs.add(c["sub"])
        # the other method is refused for this client
        wrong = token(op, cl, {"grant_type": "authorization_code", "code": code, "redirect_uri": cl["redirect"]},
                      basic=not basic)
        assert wrong.status == 401 and wrong.json["error"] == "invalid_client"
    assert len(subs) == 1, "sub is stable across clients"


def test_public_client_requires_pkce_s256(op):
    login, mail, cookie = browser_login(op)
    cl = client(op, kind="public", method="none")
    assert cl["secret"] is None
    path, q = authz_url(op, cl)  # no PKCE
    r = authorize(op, cookie, path)
    assert r.status == 302 and "error=invalid_request" in r.headers["Location"]
    v, c = pkce()
    path, q = authz_url(op, cl, code_challenge=c, code_challenge_method="plain")
    r = authorize(op, cookie, path)
    assert "error=invalid_request" in r.headers["Location"], "plain refused"
    path, q = authz_url(op, cl, code_challenge=v[:43])  # no method: plain
    assert "error=invalid_request" in authorize(op, cookie, path).headers["Location"]
    # downgrade: a code asked with S256 and redeemed without / with a wrong verifier
    path, q = authz_url(op, cl, c)
    code, _ = code_of(authorize(op, cookie, path), q)
    bad = token(op, cl, {"grant_type": "authorization_code", "code": code, "redirect_uri": cl["redirect"]})
    assert bad.status == 400 and bad.json["error"] == "invalid_grant"
    path, q = authz_url(op, cl, c)
    code, _ = code_of(authorize(op, cookie, path), q)
    ok = token(op, cl, {"grant_type": "authorization_code", "code": code, "redirect_uri": cl["redirect"],
                        "code_verifier": v})
    assert ok.status == 200, ok


def test_redirect_uri_tricks_and_unknown_client(op):
    login, mail, cookie = browser_login(op)
    cl = client(op)
    for evil in (cl["redirect"] + "/x", cl["redirect"] + "?a=1", cl["redirect"][:-1], cl["redirect"] + "#f",
                 cl["redirect"].upper(), "https://evil.example/cb", cl["redirect"] + "%2F.."):
        path, q = authz_url(op, cl, redirect_uri=evil)
        r = authorize(op, cookie, path)
        assert r.status == 400 and "Location" not in r.headers, (evil, r)
    path, q = authz_url(op, cl, client_id="nosuchclient")
    r = authorize(op, cookie, path)
    assert r.status == 400 and "Location" not in r.headers
    # a valid client and URI: errors do go back, with state
    path, q = authz_url(op, cl, response_type="token")
    r = authorize(op, cookie, path)
    assert "error=unsupported_response_type" in r.headers["Location"] and q["state"] in r.headers["Location"]
    path, q = authz_url(op, cl, scope="profile")
    assert "error=invalid_scope" in authorize(op, cookie, path).headers["Location"]


def test_code_reuse_revokes_and_other_client_refused(op):
    login, mail, cookie = browser_login(op)
    a, b = client(op), client(op)
    q, code, tok = full_flow(op, a, cookie)
    # a code of client a presented by client b
    path, q2 = authz_url(op, a)
    code2, _ = code_of(authorize(op, cookie, path), q2)
    stolen = token(op, b, {"grant_type": "authorization_code", "code": code2, "redirect_uri": a["redirect"]})
    assert stolen.status == 400 and stolen.json["error"] == "invalid_grant"
    # the code used a second time: refused, and the first tokens revoked
    again = token(op, a, {"grant_type": "authorization_code", "code": code, "redirect_uri": a["redirect"]})
    assert again.status == 400 and again.json["error"] == "invalid_grant"
    ui = op.api.get("/oidc/userinfo", headers={"Authorization": "Bearer " + tok["access_token"]})
    assert ui.status == 401
    assert token(op, a, {"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]}).status == 400
    # a refresh token of a presented by b
    q, code, tok = full_flow(op, a, cookie)
    r = token(op, b, {"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]})
    assert r.status == 400


def test_refresh_rotation_and_reuse(op):
    login, mail, cookie = browser_login(op)
    cl = client(op)
    q, code, t1 = full_flow(op, cl, cookie)
    t2 = token(op, cl, {"grant_type": "refresh_token", "refresh_token": t1["refresh_token"]})
    assert t2.status == 200 and t2.json["refresh_token"] != t1["refresh_token"]
    # the old one again: refused and the whole family revoked
    reuse = token(op, cl, {"grant_type": "refresh_token", "refresh_token": t1["refresh_token"]})
    assert reuse.status == 400 and reuse.json["error"] == "invalid_grant"
    assert token(op, cl, {"grant_type": "refresh_token", "refresh_token": t2.json["refresh_token"]}).status == 400
    ui = op.api.get("/oidc/userinfo", headers={"Authorization": "Bearer " + t2.json["access_token"]})
    assert ui.status == 401


def test_introspect_refresh_token(op):
    """RFC 7662 for refresh tokens: active with what it grants while live and
    unrotated, for its own client only; a rotated one answers false and, like
    its reuse at the token endpoint, revokes the family."""
    login, mail, cookie = browser_login(op)
    cl, other = client(op), client(op)
    q, code, t1 = full_flow(op, cl, cookie)
    ui = op.api.get("/oidc/userinfo", headers={"Authorization": "Bearer " + t1["access_token"]})
    assert ui.status == 200
    for body in ({"token": t1["refresh_token"]},
                 {"token": t1["refresh_token"], "token_type_hint": "refresh_token"},
                 {"token": t1["refresh_token"], "token_type_hint": "access_token"}):
        i = form_post(op, "/oidc/introspect", cl, body)
        assert i.status == 200 and i.json["active"] is True, (body, i.json)
        assert i.json["client_id"] == cl["id"] and i.json["scope"] == q["scope"]
        assert i.json["sub"] == ui.json["sub"] and i.json["exp"] > time.time() + 3600
        assert "token_type" not in i.json, "no bearer: a refresh token is no access token"
        assert "email" not in i.json, "a refresh token's answer names no more than sub"
    # the access token with the refresh hint: still found (the hint is only where to look first)
    i = form_post(op, "/oidc/introspect", cl, {"token": t1["access_token"], "token_type_hint": "refresh_token"})
    assert i.json["active"] is True and i.json["token_type"] == "bearer"
    # another client introspecting it: as unknown, and it stays usable by its own client
    for body in ({"token": t1["refresh_token"]}, {"token": t1["refresh_token"], "token_type_hint": "refresh_token"}):
        assert form_post(op, "/oidc/introspect", other, body).json == {"active": False}
    # introspection is no use of it: it rotates once, normally
    t2 = token(op, cl, {"grant_type": "refresh_token", "refresh_token": t1["refresh_token"]})
    assert t2.status == 200, t2
    assert form_post(op, "/oidc/introspect", cl, {"token": t2.json["refresh_token"]}).json["active"] is True
    # the rotated one introspected: false, and the family is revoked
    i = form_post(op, "/oidc/introspect", cl, {"token": t1["refresh_token"], "token_type_hint": "refresh_token"})
    assert i.json == {"active": False}
    assert form_post(op, "/oidc/introspect", cl, {"token": t2.json["refresh_token"]}).json == {"active": False}
    assert form_post(op, "/oidc/introspect", cl, {"token": t2.json["access_token"]}).json == {"active": False}
    assert token(op, cl, {"grant_type": "refresh_token", "refresh_token": t2.json["refresh_token"]}).status == 400
    # a revoked one: false
    q, code, t3 = full_flow(op, cl, cookie)
    assert form_post(op, "/oidc/revoke", cl, {"token": t3["refresh_token"],
                                               "token_type_hint": "refresh_token"}).status == 200
    assert form_post(op, "/oidc/introspect", cl, {"token": t3["refresh_token"]}).json == {"active": False}
    # garbage and a newline: false, never an error
    for junk in ("x" * 63, t3["refresh_token"] + "\n", "<script>alert(1)</script>"):
        r = form_post(op, "/oidc/introspect", cl, {"token": junk, "token_type_hint": "refresh_token"})
        assert r.status == 200 and r.json == {"active": False}


def test_introspect_rotated_refresh_token_by_another_client_revokes(op):
    """A rotated refresh token that leaked and is shown by another client: false,
    and its family is revoked all the same (it has left its client)."""
    login, mail, cookie = browser_login(op)
    cl, other = client(op), client(op)
    q, code, t1 = full_flow(op, cl, cookie)
    t2 = token(op, cl, {"grant_type": "refresh_token", "refresh_token": t1["refresh_token"]}).json
    assert form_post(op, "/oidc/introspect", other, {"token": t1["refresh_token"]}).json == {"active": False}
    assert form_post(op, "/oidc/introspect", cl, {"token": t2["refresh_token"]}).json == {"active": False}
    assert token(op, cl, {"grant_type": "refresh_token", "refresh_token": t2["refresh_token"]}).status == 400


def test_id_token_is_no_access_token_and_alg_none(op):
    login, mail, cookie = browser_login(op)
    cl = client(op)
    q, code, t = full_flow(op, cl, cookie)
    r = op.api.get("/oidc/userinfo", headers={"Authorization": "Bearer " + t["id_token"]})
    assert r.status == 401 and "invalid_token" in r.headers["WWW-Authenticate"]
    claims = jwt.decode(t["id_token"], options={"verify_signature": False})
    forged = jwt.encode(claims, None, algorithm="none")
    r = op.api.get("/oidc/logout?" + urllib.parse.urlencode({"id_token_hint": forged}))
    assert r.status == 400, "an unsigned id_token_hint is refused"
    hs = jwt.encode(claims, "secret", algorithm="HS256", headers={"kid": jwt.get_unverified_header(t["id_token"])["kid"]})
    assert op.api.get("/oidc/logout?" + urllib.parse.urlencode({"id_token_hint": hs})).status == 400


@contextlib.contextmanager
def another_daemon(op, state, slapd, smtp, name, extra=""):
    """One more daemon on op's directory, with its hash key and signing keys: its HTTP URL."""
    port = free_port()
    d = Daemon(state, slapd, smtp.port, name=name, hash_key=op.authd.key, extra=(
        f"http_listen = 127.0.0.1:{port}\nop_key_file = {state / 'oidc-keys.json'}\n" + extra)).start()
    try:
        wait_for(lambda: _port_open(port), what=f"{name}'s listener")
        yield f"http://127.0.0.1:{port}"
    finally:
        d.stop()


def test_introspect_and_revoke_on_a_second_daemon(op, state, slapd, smtp):
    login, mail, cookie = browser_login(op)
    rp, rs = client(op), client(op)  # rs: the resource server (Dovecot) introspects
    q, code, t = full_flow(op, rp, cookie)
    with another_daemon(op, state, slapd, smtp, "authd-oidc2") as url:
        two = Api(url)
        assert two.get("/oidc/jwks").json == op.api.get("/oidc/jwks").json, "one key set for the directory"

        def introspect(api):
            h = dict(FORM)
            h["Authorization"] = "Basic " + base64.b64encode(f"{rs['id']}:{rs['secret']}".encode()).decode()
            return api.post("/oidc/introspect", raw=urllib.parse.urlencode({"token": t["access_token"]}).encode(),
                            headers=h)
        i = introspect(two)
        assert i.status == 200 and i.json["active"] is True and i.json["email"] == mail
        assert i.json["client_id"] == rp["id"] and i.json["token_type"] == "bearer"
        assert all(not isinstance(v, (dict, list)) for v in i.json.values()), "flat, for Dovecot"
        # without client authentication: refused
        assert two.post("/oidc/introspect", raw=b"token=" + t["access_token"].encode(), headers=FORM).status == 401
        # another client cannot revoke it
        assert form_post(op, "/oidc/revoke", rs, {"token": t["access_token"]}).status == 200
        assert introspect(two).json["active"] is True
        r = form_post(op, "/oidc/revoke", rp, {"token": t["access_token"]})
        assert r.status == 200
        # B keeps what it verified in memory; the directory, followed, tells it within a second
        within_a_second(lambda: introspect(two).json == {"active": False}, "the revocation seen on B")

        # a rotation on A: B's kept version does not know the new tokens, and must not refuse them
        q, code, t = full_flow(op, rp, cookie)
        assert introspect(two).json["active"] is True
        old_rt = t["refresh_token"]
        t2 = token(op, rp, {"grant_type": "refresh_token", "refresh_token": old_rt})
        assert t2.status == 200, t2
        t = t2.json
        assert introspect(two).json["active"] is True, "issued on A a moment ago, known at once on B"
        assert two.get("/oidc/userinfo", headers={"Authorization": "Bearer " + t["access_token"]}).status == 200
        # the spent refresh token replayed on B: refused, and the family revoked for both daemons
        assert token_on(two, rp, {"grant_type": "refresh_token", "refresh_token": old_rt}).status == 400
        assert introspect(two).json == {"active": False}
        within_a_second(lambda: form_post(op, "/oidc/introspect", rs, {"token": t["access_token"]}).json
                        == {"active": False}, "the family's revocation by B seen on A")
        assert token(op, rp, {"grant_type": "refresh_token", "refresh_token": t["refresh_token"]}).status == 400

        q, code, t = full_flow(op, rp, cookie)
        # the account suspended through A: its tokens inactive on B within a second
        assert introspect(two).json["active"] is True
        ctl_ok(op.authd.ctl("suspend", login))
        try:
            within_a_second(lambda: introspect(two).json == {"active": False}, "the suspension seen on B")
            # what B kept for userinfo is dropped by the same report, an instant apart
            within_a_second(lambda: two.get("/oidc/userinfo", headers={"Authorization": "Bearer " + t["access_token"]})
                            .status == 401, "the suspension seen by B's userinfo")
        finally:
            ctl_ok(op.authd.ctl("reactivate", login))

        # the resource server's client removed through A: B refuses its authentication within a second
        assert introspect(two).status == 200
        ctl_ok(op.authd.ctl("oidc", "client", "remove", rs["id"]))
        within_a_second(lambda: introspect(two).status == 401, "the client's removal seen on B")


def within_a_second(pred, what):
    """pred becomes true within one second (issue 17: changes seen on every daemon within 1 s)."""
    wait_for(pred, timeout=1.0, what=what)


def token_on(api, cl, body):
    h = dict(FORM)
    h["Authorization"] = "Basic " + base64.b64encode(f"{cl['id']}:{cl['secret']}".encode()).decode()
    return api.post("/oidc/token", raw=urllib.parse.urlencode(body).encode(), headers=h)


def test_prompt_none_and_login(op):
    cl = client(op)
    path, q = authz_url(op, cl, prompt="none")
    r = authorize(op, None, path)
    assert r.status == 302 and "error=login_required" in r.headers["Location"]
    login, mail, cookie = browser_login(op)
    path, q = authz_url(op, cl, prompt="login")
    r = authorize(op, cookie, path)
    assert r.status == 302 and r.headers["Location"].startswith("/connexion?suite=")
    path, q = authz_url(op, cl, max_age="0")
    time.sleep(1.1)
    assert authorize(op, cookie, path).headers["Location"].startswith("/connexion?suite=")


def test_consent_for_third_party(op):
    login, mail, cookie = browser_login(op)
    cl = client(op, first_party="no")
    path, q = authz_url(op, cl)
    r = authorize(op, cookie, path)
    assert r.status == 302 and r.headers["Location"].startswith("/oidc/consentement?requete="), r.headers["Location"]
    handle = r.headers["Location"].split("=", 1)[1]
    # the decision needs the page's CSRF token
    nocsrf = op.api.post("/v1/oidc/consent/decide", {"requete": handle, "decision": "accept"},
                         headers={"Cookie": f"mm_session={cookie}", "Origin": op.url})
    assert nocsrf.status == 403
    path, q2 = authz_url(op, cl, prompt="none")
    assert "error=consent_required" in authorize(op, cookie, path).headers["Location"]
    # the page in the browser (logged in by browser_login): the client's name inert, then "Autoriser"
    op.go(r.headers["Location"])
    op.wait_text("client-id", cl["id"])
    assert op.dom_inert() == []
    assert op.driver.execute_script("""
        const bad = [];
        for (const i of document.querySelectorAll('input,select,textarea'))
          if (!document.querySelector('label[for="' + i.id + '"]')) bad.push(i.id);
        for (const i of document.querySelectorAll('img')) if (!i.alt) bad.push('img');
        let last = 0;
        for (const h of document.querySelectorAll('h1,h2,h3,h4')) {
          const n = +h.tagName[1]; if (n > last + 1) bad.push(h.tagName); last = n;
        }
        return bad;""") == []
    op.click("consent-accept")
    op.wait_path(f"/rp/{cl['id']}/callback")
    args = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(op.driver.current_url).query))
    assert args["state"] == q["state"] and args["code"]
    # consent remembered: the next request goes straight back with a code
    path, q3 = authz_url(op, cl)
    assert "code=" in authorize(op, cookie, path).headers["Location"]
    # refusing, for another client: access_denied to the client
    other = client(op, first_party="no")
    path, q4 = authz_url(op, other)
    op.go(authorize(op, cookie, path).headers["Location"])
    op.wait_text("client-id", other["id"])
    op.click("consent-refuse")
    op.wait_path(f"/rp/{other['id']}/callback")
    assert "error=access_denied" in op.driver.current_url


def test_login_hint_and_xss_in_client_name(op):
    name = '"><img src=x onerror=window.__mm_xss=1><script>window.__mm_xss=1</script>'
    cl = client(op, first_party="no", extra=("--name", name))
    login, mail, cookie = browser_login(op)
    path, q = authz_url(op, cl)
    op.go(authorize(op, cookie, path).headers["Location"])
    op.wait_text("client-id", cl["id"])
    assert op.text("client-name") == name
    assert op.dom_inert() == []
    op.reset()
    path, q = authz_url(op, client(op), login_hint="hint@example.org")
    op.go(path)
    op.wait_path("/connexion")
    assert op.find("user").get_attribute("value") == "hint@example.org"


def test_back_office_lists_the_clients(op):
    """/gestion shows the OpenID Connect clients to a service-centre operator (the ADMIN row
    oidc-client-list over the bridge), names written inert; anyone else is refused."""
    name = '"><img src=x onerror=window.__mm_xss=1><script>window.__mm_xss=1</script>'
    cl = client(op, first_party="no", extra=("--name", name))
    login, mail = op.account("PER")
    op.reset()
    op.login(mail)
    csrf = op.csrf()
    r = op.fetch("/v1/call/oidc-client-list", {}, {"X-CSRF-Token": csrf})
    assert r["status"] in (403, 404) and cl["id"] not in r["text"], r
    # nor add or remove one
    r = op.fetch("/v1/call/oidc-client-add", {"id": "rpintrus", "redirect_uris": f"{op.url}/x"}, {"X-CSRF-Token": csrf})
    assert r["status"] in (403, 404), r
    r = op.fetch("/v1/call/oidc-client-remove", {"id": cl["id"]}, {"X-CSRF-Token": csrf})
    assert r["status"] in (403, 404), r
    assert "rpintrus" not in op.authd.ctl("oidc", "client", "list").stdout
    assert op.fetch("/v1/call/oidc-client-list", {}, {})["status"] == 403, "no CSRF token: refused"
    assert op.authd.ctl("operator", "grant", login).returncode == 0
    try:
        op.go("/gestion")
        op.click("do-oidc-list")
        op.wait_text("oidc-count", "client")
        li = op.find(f"oidc-{cl['id']}")
        assert li.find_element("css selector", "strong").text == name
        assert "tiers (consentement)" in li.text and "client_secret_basic" in li.text and cl["redirect"] in li.text
        assert op.dom_inert() == []
        # the page's own checks: labels, alt, heading order
        assert op.driver.execute_script("""
            const bad = [];
            for (const i of document.querySelectorAll('input, select, textarea'))
              if (i.type !== 'hidden' && !document.querySelector(`label[for="${i.id}"]`)) bad.push('no label: ' + i.id);
            for (const i of document.querySelectorAll('img')) if (!i.hasAttribute('alt')) bad.push('img without alt');
            let last = 0;
            for (const h of document.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
              const n = Number(h.tagName[1]);
              if (n > last + 1) bad.push('heading skips: ' + h.tagName);
              last = n;
            }
            return bad;""") == []
        # the operator adds a client on the page: its secret shown once, and it works
        cid = f"rpweb{secrets.token_hex(3)}"
        redirect = f"{op.url}/rp/{cid}/callback"
        op.fill("oidc-id", cid)
        op.fill("oidc-name", "Intranet <b>CH</b>")
        op.fill("oidc-redirect", redirect)
        from selenium.webdriver.support.ui import Select
        Select(op.find("oidc-first")).select_by_value("yes")  # internal: no consent page in the flow below
        op.click("oidc-add-submit")
        op.wait_text("oidc-added", cid)
        secret = op.text("oidc-secret")
        assert len(secret) == 64 and op.find(f"oidc-{cid}").find_element("css selector", "strong").text == "Intranet <b>CH</b>"
        added = {"id": cid, "secret": secret, "redirect": redirect}
        _, _, t = full_flow(op, added, op.cookie())
        assert t["access_token"] and t["id_token"]
        r = op.fetch("/v1/call/oidc-client-list", {}, {"X-CSRF-Token": op.csrf()})
        assert secret not in r["text"], "shown once: never in the list"
        # a bad redirect address: refused next to its field
        op.fill("oidc-id", cid + "b")
        op.fill("oidc-redirect", "javascript:alert(1)")
        op.click("oidc-add-submit")
        assert "redirect_uris" in (op.error_of("oidc-redirect") or ""), op.error_of("oidc-redirect")
        assert cid + "b" not in op.authd.ctl("oidc", "client", "list").stdout
        # removed on the page: its tokens refused at once
        op.click(f"oidc-remove-{cid}")
        op.wait_text("oidc-count", "retiré")
        assert cid not in op.authd.ctl("oidc", "client", "list").stdout
        ui = op.api.get("/oidc/userinfo", headers={"Authorization": "Bearer " + t["access_token"]})
        assert ui.status == 401, "a removed client's access token opens nothing"
        rt = token(op, added, {"grant_type": "refresh_token", "refresh_token": t.get("refresh_token", "0" * 64)})
        assert rt.status in (400, 401), rt
        # no secret in the list, ever
        r = op.fetch("/v1/call/oidc-client-list", {}, {"X-CSRF-Token": op.csrf()})
        assert r["status"] == 200 and cl["secret"] not in r["text"] and "secret_hash" not in r["text"], r
        # another origin: refused
        r = op.api.post("/v1/call/oidc-client-list", {}, headers={"Cookie": "mm_session=" + op.cookie(),
                                                                  "Origin": "https://evil.example",
                                                                  "X-CSRF-Token": op.csrf()})
        assert r.status == 403, r
    finally:
        assert op.authd.ctl("operator", "revoke", login).returncode == 0
    r = op.fetch("/v1/call/oidc-client-list", {}, {"X-CSRF-Token": op.csrf()})
    assert r["status"] in (403, 404), "the role revoked: refused at once"
    op.reset()


def test_logout_ends_the_session(op):
    login, mail, cookie = browser_login(op)
    cl = client(op, extra=("--post-logout-redirect-uris", f"{op.url}/rp/bye"))
    q, code, t = full_flow(op, cl, cookie)
    bad = op.api.get("/oidc/logout?" + urllib.parse.urlencode(
        {"id_token_hint": t["id_token"], "post_logout_redirect_uri": f"{op.url}/rp/bye/x"}))
    assert bad.status == 400
    r = op.api.get("/oidc/logout?" + urllib.parse.urlencode(
        {"id_token_hint": t["id_token"], "post_logout_redirect_uri": f"{op.url}/rp/bye", "state": "s1"}))
    assert r.status == 302 and r.headers["Location"] == f"{op.url}/rp/bye?state=s1"
    s = op.api.get("/v1/web/session", headers={"Cookie": f"mm_session={cookie}"}).json
    assert s["authenticated"] is False, "the web session ended"
    assert op.api.get("/oidc/userinfo", headers={"Authorization": "Bearer " + t["access_token"]}).status == 401


def test_private_key_jwt(op, tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    # RFC 7518 6.2.1.2: each coordinate is exactly 32 bytes, which the provider requires;
    # PyJWT 2.6's to_jwk drops leading zero bytes (one key in ~120), so the JWK is built here.
    nums = key.public_key().public_numbers()
    b64 = lambda n: base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()
    jwk = {"kty": "EC", "crv": "P-256", "x": b64(nums.x), "y": b64(nums.y),
           "kid": "rp-key-1", "use": "sig", "alg": "ES256"}
    f = tmp_path / "jwks.json"
    f.write_text(json.dumps({"keys": [jwk]}))
    cl = client(op, method="private_key_jwt", extra=("--jwks-file", str(f)))
    assert cl["secret"] is None
    login, mail, cookie = browser_login(op)
    path, q = authz_url(op, cl)
    code, _ = code_of(authorize(op, cookie, path), q)
    d = disco(op)

    def assertion(**over):
        now = int(time.time())
        c = {"iss": cl["id"], "sub": cl["id"], "aud": d["token_endpoint"], "iat": now, "exp": now + 60,
             "jti": secrets.token_hex(8)}
        c.update(over)
        return jwt.encode(c, key, algorithm="ES256", headers={"kid": "rp-key-1"})

    def send(a, c=code):
        body = {"grant_type": "authorization_code", "code": c, "redirect_uri": cl["redirect"],
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": a}
        return op.api.post("/oidc/token", raw=urllib.parse.urlencode(body).encode(), headers=FORM)
    other = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode({"iss": cl["id"], "sub": cl["id"], "aud": d["token_endpoint"], "iat": int(time.time()),
                         "exp": int(time.time()) + 60, "jti": "x1"}, other, algorithm="ES256",
                        headers={"kid": "rp-key-1"})
    assert send(forged).status == 401, "signed by another key"
    assert send(assertion(aud="https://elsewhere.example/token")).status == 401
    assert send(assertion(exp=int(time.time()) - 100)).status == 401
    good = assertion()
    r = send(good)
    assert r.status == 200, r
    path, q = authz_url(op, cl)
    code2, _ = code_of(authorize(op, cookie, path), q)
    assert send(good, code2).status == 401, "an assertion is single use (jti)"
    assert send(assertion(), code2).status == 200


def test_key_rotation_keeps_the_old_key_published(op):
    login, mail, cookie = browser_login(op)
    cl = client(op)
    q, code, t = full_flow(op, cl, cookie)
    old_kid = jwt.get_unverified_header(t["id_token"])["kid"]
    f = ctl_ok(op.authd.ctl("oidc", "key", "rotate"))
    assert f["kid"] and f["kid"] != old_kid
    kids = {k["kid"] for k in op.api.get("/oidc/jwks").json["keys"]}
    assert old_kid in kids and f["kid"] in kids
    q, code, t2 = full_flow(op, cl, cookie)
    assert jwt.get_unverified_header(t2["id_token"])["kid"] == f["kid"]
    verify_id_token(op, t["id_token"], cl, q["nonce"] if False else None)
    st = os.stat(op.authd.state / "oidc-keys.json")
    assert st.st_mode & 0o777 == 0o600
    # a non-root caller cannot rotate
    r = op.authd.ctl("oidc", "key", "rotate", uid=65534)
    assert r.returncode != 0


def test_key_file_with_a_wide_mode_is_refused(state, slapd, smtp, tmp_path):
    kf = tmp_path / "keys.json"
    kf.write_text('{"keys": []}')
    os.chmod(kf, 0o644)
    d = Daemon(state, slapd, smtp.port, name="authd-oidcmode", extra=f"op_key_file = {kf}\n")
    with pytest.raises(RuntimeError, match="mode 0600"):
        d.start()
    d.stop()


def test_backchannel_logout(op):
    import http.server
    import threading
    got = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            got.append((self.headers.get("Content-Type"), self.rfile.read(n).decode()))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a):
            pass
    port = free_port()
    srv = http.server.HTTPServer(("127.0.0.1", port), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        cl = client(op, extra=("--backchannel-logout-uri", f"http://127.0.0.1:{port}/bcl"))
        login, mail, cookie = browser_login(op)
        q, code, t = full_flow(op, cl, cookie)
        sid = verify_id_token(op, t["id_token"], cl, q["nonce"])["sid"]
        # the user logs out at the provider (the page's own request, same site)
        op.go("/oidc/logout")
        op.wait_path("/connexion")
        wait_for(lambda: got, what="logout token")
        form = dict(urllib.parse.parse_qsl(got[0][1]))
        tok = form["logout_token"]
        assert jwt.get_unverified_header(tok)["typ"] == "logout+jwt"
        key = jwt.PyJWKClient(op.url + "/oidc/jwks").get_signing_key_from_jwt(tok)
        c = jwt.decode(tok, key.key, algorithms=["ES256"], audience=cl["id"], issuer=disco(op)["issuer"])
        assert c["sid"] == sid and "http://schemas.openid.net/event/backchannel-logout" in c["events"]
        assert "nonce" not in c
        assert op.api.get("/oidc/userinfo", headers={"Authorization": "Bearer " + t["access_token"]}).status == 401
    finally:
        srv.shutdown()


def test_parallel_refresh_gives_one_rotation(op):
    """The same refresh token sent eight times at once: at most one succeeds, and
    the reuse revokes the family, so no two live chains come out of one token."""
    from concurrent.futures import ThreadPoolExecutor
    login, mail, cookie = browser_login(op)
    cl = client(op)
    q, code, t = full_flow(op, cl, cookie)
    with ThreadPoolExecutor(8) as ex:
        rs = list(ex.map(lambda _: token(op, cl, {"grant_type": "refresh_token",
                                                   "refresh_token": t["refresh_token"]}), range(8)))
    ok = [r for r in rs if r.status == 200]
    assert len(ok) <= 1, [r.status for r in rs]
    assert all(r.status in (200, 400) for r in rs)
    for r in ok:
        assert token(op, cl, {"grant_type": "refresh_token", "refresh_token": r.json["refresh_token"]}).status == 400


def test_newline_and_repeated_parameters_refused(op):
    login, mail, cookie = browser_login(op)
    cl = client(op)
    path, q = authz_url(op, cl, state="a\nb")
    r = authorize(op, cookie, path)
    assert r.status == 302 and "error=invalid_request" in r.headers["Location"] and "a%0Ab" not in r.headers["Location"]
    path, q = authz_url(op, cl)
    r = authorize(op, cookie, path + "&scope=openid+orgs")
    assert "error=invalid_request" in r.headers["Location"]
    # a form body with a parameter twice
    h = dict(FORM)
    h["Authorization"] = "Basic " + base64.b64encode(f"{cl['id']}:{cl['secret']}".encode()).decode()
    r = op.api.post("/oidc/token", raw=b"grant_type=refresh_token&grant_type=authorization_code", headers=h)
    assert r.status == 400 and r.json["error"] == "invalid_request"
    # JSON is not what the token endpoint takes
    r = op.api.post("/oidc/token", {"grant_type": "authorization_code"}, headers={"Authorization": h["Authorization"]})
    assert r.status == 415


# --- one record per authorization, each change one compare-and-swap ------------

def _userinfo(op, at):
    return op.api.get("/oidc/userinfo", headers={"Authorization": "Bearer " + at}).status


def test_parallel_code_redemption_gives_no_live_tokens(op):
    """One code exchanged eight times at once: at most one exchange answers, and
    since the code was used more than once, whatever it gave is revoked."""
    from concurrent.futures import ThreadPoolExecutor
    login, mail, cookie = browser_login(op)
    cl = client(op)
    path, q = authz_url(op, cl)
    code, _ = code_of(authorize(op, cookie, path), q)
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": cl["redirect"]}
    with ThreadPoolExecutor(8) as ex:
        rs = list(ex.map(lambda _: token(op, cl, body), range(8)))
    assert all(r.status in (200, 400) for r in rs), [r.status for r in rs]
    ok = [r for r in rs if r.status == 200]
    assert len(ok) <= 1, [r.status for r in rs]
    for r in ok:
        assert _userinfo(op, r.json["access_token"]) == 401
        assert token(op, cl, {"grant_type": "refresh_token", "refresh_token": r.json["refresh_token"]}).status == 400


def test_rotation_keeps_the_old_access_token_and_revocation_is_per_token(op):
    """A refresh leaves the access token given before it alive until it expires;
    revoking one access token (RFC 7009) ends that one, not its family."""
    login, mail, cookie = browser_login(op)
    cl = client(op)
    q, code, t1 = full_flow(op, cl, cookie)
    t2 = token(op, cl, {"grant_type": "refresh_token", "refresh_token": t1["refresh_token"]})
    assert t2.status == 200
    t2 = t2.json
    assert _userinfo(op, t1["access_token"]) == 200 and _userinfo(op, t2["access_token"]) == 200
    assert form_post(op, "/oidc/revoke", cl, {"token": t1["access_token"]}).status == 200
    assert _userinfo(op, t1["access_token"]) == 401
    assert _userinfo(op, t2["access_token"]) == 200
    assert form_post(op, "/oidc/introspect", cl, {"token": t1["access_token"]}).json == {"active": False}
    t3 = token(op, cl, {"grant_type": "refresh_token", "refresh_token": t2["refresh_token"]})
    assert t3.status == 200, t3
    assert form_post(op, "/oidc/revoke", cl, {"token": t3.json["access_token"]}).status == 200
    assert _userinfo(op, t3.json["access_token"]) == 401 and _userinfo(op, t2["access_token"]) == 200
    # a refresh token revoked: the whole family
    assert form_post(op, "/oidc/revoke", cl, {"token": t3.json["refresh_token"]}).status == 200
    assert _userinfo(op, t2["access_token"]) == 401


def test_a_forged_token_of_a_real_family_revokes_nothing(op):
    """Every code and token is its family's handle then a secret of its own: a
    guessed secret under a real family is unknown everywhere and revokes nothing;
    the directory holds one record for the authorization and none of the texts."""
    import secrets
    login, mail, cookie = browser_login(op)
    cl = client(op)
    q, code, t = full_flow(op, cl, cookie)
    fam = t["refresh_token"][:32]
    assert t["access_token"][:32] == fam and code[:32] == fam
    forged = fam + secrets.token_hex(16)
    r = token(op, cl, {"grant_type": "refresh_token", "refresh_token": forged})
    assert r.status == 400 and r.json["error"] == "invalid_grant"
    r = token(op, cl, {"grant_type": "authorization_code", "code": forged, "redirect_uri": cl["redirect"]})
    assert r.status == 400
    assert form_post(op, "/oidc/revoke", cl, {"token": forged}).status == 200
    assert form_post(op, "/oidc/introspect", cl, {"token": forged}).json == {"active": False}
    assert _userinfo(op, forged) == 401
    for bad in (fam.upper() + t["access_token"][32:], t["access_token"] + "0", t["access_token"][:-1]):
        assert _userinfo(op, bad) == 401, bad
    assert _userinfo(op, t["access_token"]) == 200
    # a narrower scope longer than any grant's: refused, not cut to a prefix
    r = token(op, cl, {"grant_type": "refresh_token", "refresh_token": t["refresh_token"],
                       "scope": " ".join(["openid"] * 60)})
    assert r.status == 400 and r.json["error"] == "invalid_grant", r
    grants = op.slapd.search(f"ou=sessions,{SUFFIX}", f'(&(description=oidc-grant)(description=*"family":"{fam}"*))')
    assert len(grants) == 1, grants
    stored = json.dumps(op.slapd.search(f"ou=sessions,{SUFFIX}"))
    for secret in (code, t["access_token"], t["refresh_token"], code[32:], t["access_token"][32:]):
        assert secret not in stored
    r = token(op, cl, {"grant_type": "refresh_token", "refresh_token": t["refresh_token"]})
    assert r.status == 200, r


# --- the caches of the token, introspection and userinfo endpoints, attacked ------------------
# (a second daemon on the same directory, following it: what one changes, the other must see
# within a second, and a code or refresh token raced on both is spent once)

import threading  # noqa: E402


@pytest.fixture(scope="module")
def second(op, state, slapd, smtp):
    # hammered by the tests below from one address
    with another_daemon(op, state, slapd, smtp, "authd-oidc3", "http_rate = 100000\nhttp_rate_burst = 100000\n") as url:
        yield url


def raced(calls):
    """The calls (functions of nothing) at the same moment, one thread each: their results."""
    out = [None] * len(calls)
    go = threading.Barrier(len(calls))

    def run(i):
        go.wait()
        try:
            out[i] = calls[i]()
        except Exception as e:  # noqa: BLE001 (reported by the assertion below)
            out[i] = e
    ts = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert not any(isinstance(o, Exception) for o in out), out
    return out


def introspect_on(url, rs, tok, hint=None):
    body = {"token": tok} | ({"token_type_hint": hint} if hint else {})
    return token_like(url, "/oidc/introspect", rs, body)


def token_like(url, path, cl, body):
    h = dict(FORM)
    h["Authorization"] = "Basic " + base64.b64encode(f"{cl['id']}:{cl['secret']}".encode()).decode()
    return Api(url).post(path, raw=urllib.parse.urlencode(body).encode(), headers=h)


def userinfo_on(url, at):
    return Api(url).get("/oidc/userinfo", headers={"Authorization": "Bearer " + at})


def test_cache_attack_code_raced_on_two_daemons(op, second):
    """A code exchanged at once on both daemons (the first holding its fresh version in memory):
    one exchange only gives tokens, and the others, reuses, revoke them on both daemons."""
    login, mail, cookie = browser_login(op)
    rp, rs = client(op), client(op)
    for _ in range(3):
        path, q = authz_url(op, rp)
        code, _ = code_of(authorize(op, cookie, path), q)
        body = {"grant_type": "authorization_code", "code": code, "redirect_uri": rp["redirect"]}
        urls = [op.url, second] * 3
        out = raced([lambda u=u: token_like(u, "/oidc/token", rp, body) for u in urls])
        ok = [o for o in out if o.status == 200]
        assert len(ok) == 1, [(o.status, o.json) for o in out]
        assert all(o.status == 400 for o in out if o.status != 200), [(o.status, o.json) for o in out]
        t = ok[0].json
        for url in (op.url, second):
            within_a_second(lambda: introspect_on(url, rs, t["access_token"]).json == {"active": False},
                            "the tokens of a code used twice revoked")
            assert userinfo_on(url, t["access_token"]).status == 401
        assert token_like(second, "/oidc/token", rp, {"grant_type": "refresh_token",
                                                     "refresh_token": t["refresh_token"]}).status == 400


def test_cache_attack_refresh_raced_on_two_daemons(op, second):
    """A refresh token presented at once on both daemons, both holding the grant in memory: one
    rotation at most, and the reuse revokes the family everywhere."""
    login, mail, cookie = browser_login(op)
    rp, rs = client(op), client(op)
    q, code, t = full_flow(op, rp, cookie)
    # both daemons keep the version that knows this refresh token
    for url in (op.url, second):
        assert introspect_on(url, rs, t["access_token"]).json["active"] is True
    body = {"grant_type": "refresh_token", "refresh_token": t["refresh_token"]}
    out = raced([lambda u=u: token_like(u, "/oidc/token", rp, body) for u in [op.url, second] * 3])
    ok = [o.json for o in out if o.status == 200]
    assert len(ok) <= 1, [(o.status, o.json) for o in out]
    for tok in [t] + ok:
        for url in (op.url, second):
            within_a_second(lambda: introspect_on(url, rs, tok["access_token"]).json == {"active": False},
                            "a raced refresh token's family revoked")
            assert token_like(url, "/oidc/token", rp, {"grant_type": "refresh_token",
                                                      "refresh_token": tok["refresh_token"]}).status == 400


def test_cache_attack_rotation_ping_pong(op, second):
    """The rightful client rotating its refresh token on one daemon then the other, with no pause:
    never taken for a reuse (a false refusal revokes the family: a denial of service), and each
    new token known at once on the daemon that did not issue it, even though it holds an older
    version of the grant."""
    login, mail, cookie = browser_login(op)
    rp, rs = client(op), client(op)
    q, code, t = full_flow(op, rp, cookie)
    urls = [op.url, second]
    for url in urls:
        assert introspect_on(url, rs, t["access_token"]).json["active"] is True
    for n in range(12):
        here, there = urls[n % 2], urls[(n + 1) % 2]
        r = token_like(here, "/oidc/token", rp, {"grant_type": "refresh_token", "refresh_token": t["refresh_token"]})
        assert r.status == 200, (n, r.status, r.json)
        prev, t = t, r.json
        i = introspect_on(there, rs, t["access_token"])
        assert i.json["active"] is True, (n, i.json)
        assert userinfo_on(there, t["access_token"]).status == 200, n
        # the current refresh token introspected on the other daemon by its client: active
        assert introspect_on(there, rp, t["refresh_token"], "refresh_token").json["active"] is True, n
        # the access token given with the spent refresh token lives on until it expires
        assert introspect_on(there, rs, prev["access_token"]).json["active"] is True, n
    # and the last refresh token still works on both: the family was never revoked
    r = token_like(second, "/oidc/token", rp, {"grant_type": "refresh_token", "refresh_token": t["refresh_token"]})
    assert r.status == 200, r.json


def hammer(fn, stop, seen):
    """fn without pause until stop: (when it answered, its answer), but for the rate limit's."""
    while not stop.is_set():
        r = fn()
        if r is not None:
            seen.append((time.monotonic(), r))
        else:
            time.sleep(0.05)


def hammers(urls, rs, at, stop, seen):
    """Threads asking each daemon of urls without pause whether at opens introspection and
    userinfo (None: rate limited)."""
    def intro(url):
        r = introspect_on(url, rs, at)
        return None if r.status == 429 else r.json.get("active")

    def ui(url):
        r = userinfo_on(url, at)
        return None if r.status == 429 else r.status == 200
    ts = [threading.Thread(target=hammer, args=(lambda u=u, f=f: f(u), stop, seen)) for u in urls for f in (intro, ui)]
    for th in ts:
        th.start()
    return ts


def under_load(op, second, change):
    """A fresh token asked about without pause on both daemons (hammers) while change(login, rp,
    tokens) is made through the first: checks it was active before, and that every answer more
    than a second after the change refused it. Returns (login, rp, tokens)."""
    login, mail, cookie = browser_login(op)
    rp, rs = client(op), client(op)
    q, code, t = full_flow(op, rp, cookie)
    stop, seen = threading.Event(), []
    ts = hammers([op.url, second], rs, t["access_token"], stop, seen)
    try:
        time.sleep(0.5)
        asked = time.monotonic()
        change(login, rp, t)
        changed = time.monotonic()
        time.sleep(3.5)
    finally:
        stop.set()
        for th in ts:
            th.join(10)
    before = [ok for when, ok in seen if when < asked]
    assert before and all(before), "active before the change"
    late = [(round(when - changed, 2), ok) for when, ok in seen if when > changed + 1.0]
    assert late and not any(ok for _, ok in late), late
    return login, rp, t


def test_cache_attack_revocation_under_load(op, second):
    """Both daemons answering introspection and userinfo without pause while the access token is
    revoked through the first: inactive on both within a second, and never active again (a read
    begun before the revocation, or before its report, must not put the revoked version back for
    session_cache_ttl)."""
    def revoke(login, rp, t):
        assert form_post(op, "/oidc/revoke", rp, {"token": t["access_token"]}).status == 200
    login, rp, t = under_load(op, second, revoke)
    # the refresh token lives on (RFC 7009: an access token revoked alone), on both daemons
    r = token_like(second, "/oidc/token", rp, {"grant_type": "refresh_token", "refresh_token": t["refresh_token"]})
    assert r.status == 200, r.json


def test_cache_attack_suspension_under_load(op, second):
    """The account suspended while both daemons answer for its token without pause: the claims
    kept in memory go within a second and do not come back until the reactivation."""
    suspended = []

    def suspend(login, rp, t):
        ctl_ok(op.authd.ctl("suspend", login))
        suspended.append(login)
    try:
        login, rp, t = under_load(op, second, suspend)
        assert token_like(second, "/oidc/token", rp, {"grant_type": "refresh_token",
                                                     "refresh_token": t["refresh_token"]}).status == 400
    finally:
        for login in suspended:
            ctl_ok(op.authd.ctl("reactivate", login))


def test_cache_attack_orgs_membership_on_the_second_daemon(op, second):
    """The orgs claim served by the second daemon from memory: a membership ended through the
    directory is gone there within a second."""
    login, mail, cookie = browser_login(op)
    org, org_mss = op.org(login, "Pharmacie Cache")
    rp = client(op)
    q, code, t = full_flow(op, rp, cookie, scope="openid profile orgs")
    orgs = lambda: [o["login"] for o in userinfo_on(second, t["access_token"]).json.get("orgs", [])]
    assert orgs() == [org]
    assert orgs() == [org]  # kept
    r = subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", op.slapd.ldapi_url], text=True,
                       input=f"dn: uid={org},ou=orgs,{SUFFIX}\nchangetype: modify\ndelete: mmMember\n"
                             f"mmMember: uid={login},ou=people,{SUFFIX}\n", capture_output=True)
    assert r.returncode == 0, r.stderr
    within_a_second(lambda: orgs() == [], "the membership's end seen on the second daemon")



def test_cache_attack_a_daemon_that_does_not_follow(op, state, slapd, smtp):
    """A daemon that does not follow the directory keeps what it read until session_cache_ttl
    (for a swap, however old): a token issued since by another daemon must still be known to it
    (read again before a refusal, which would revoke the family), a spent one refused, and a
    revocation seen within session_cache_ttl."""
    login, mail, cookie = browser_login(op)
    rp, rs = client(op), client(op)
    with another_daemon(op, state, slapd, smtp, "authd-oidc4", "ldap_follow = no\nsession_cache_ttl = 3\n") as cu:
        refresh = lambda url, tok: token_like(url, "/oidc/token", rp, {"grant_type": "refresh_token",
                                                                     "refresh_token": tok["refresh_token"]})
        q, code, t = full_flow(op, rp, cookie)
        assert introspect_on(cu, rs, t["access_token"]).json["active"] is True  # C keeps this version
        # rotated on A: the new tokens unknown to C's version, known to the directory
        r = refresh(op.url, t)
        assert r.status == 200, r.json
        t = r.json
        r = refresh(cu, t)
        assert r.status == 200, ("a refresh token issued by A refused by C", r.json)
        t = r.json
        assert introspect_on(op.url, rs, t["access_token"]).json["active"] is True
        r = refresh(op.url, t)
        assert r.status == 200, r.json
        t2 = r.json
        assert introspect_on(cu, rs, t2["access_token"]).json["active"] is True
        assert userinfo_on(cu, t2["access_token"]).status == 200
        assert introspect_on(cu, rp, t2["refresh_token"], "refresh_token").json["active"] is True
        # the refresh token A spent, replayed on C (whose version still has it current): refused,
        # and the family revoked for both
        r = refresh(cu, t)
        assert r.status == 400, r.json
        # A follows the directory: C's revocation reaches it within a second, not at once
        within_a_second(lambda: introspect_on(op.url, rs, t2["access_token"]).json == {"active": False},
                        "the family's revocation by C seen on A")
        assert refresh(op.url, t2).status == 400

        # a code issued by C (which keeps its version for swaps however old), exchanged on A, then
        # replayed on C: refused, and what the first exchange gave revoked
        path, q = authz_url(op, rp)
        r = Api(cu).get(path, headers={"Cookie": f"mm_session={cookie}"})
        assert r.status == 302, r
        code, _ = code_of(r, q)
        body = {"grant_type": "authorization_code", "code": code, "redirect_uri": rp["redirect"]}
        time.sleep(3.2)  # past C's session_cache_ttl: the version kept serves swaps only
        r = token_like(op.url, "/oidc/token", rp, body)
        assert r.status == 200, r.json
        t = r.json
        r = token_like(cu, "/oidc/token", rp, body)
        assert r.status == 400, ("a code exchanged twice", r.json)
        within_a_second(lambda: introspect_on(op.url, rs, t["access_token"]).json == {"active": False},
                        "the revocation by C of what the code gave, seen on A")
        assert refresh(op.url, t).status == 400

        # a revocation on A: seen on C within its session_cache_ttl
        q, code, t = full_flow(op, rp, cookie)
        assert introspect_on(cu, rs, t["access_token"]).json["active"] is True
        assert form_post(op, "/oidc/revoke", rp, {"token": t["refresh_token"]}).status == 200
        wait_for(lambda: introspect_on(cu, rs, t["access_token"]).json == {"active": False}, timeout=4.5,
                 what="the revocation seen on C within session_cache_ttl")
        assert refresh(cu, t).status == 400


def test_the_kept_versions_are_counted_in_metrics(op):
    """/metrics says how often the provider answered from what it keeps in memory: a token
    introspected again is a grant hit, its client and claims too; a revoked one is read again."""
    def counts():
        r = op.api.get("/metrics")
        assert r.status == 200, r
        out = {}
        for line in (r.body.decode() if isinstance(r.body, bytes) else r.body).splitlines():
            if line.startswith("medimail_cache_lookups_total{"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def n(c, cache, result):
        return c.get(f'medimail_cache_lookups_total{{cache="{cache}",result="{result}"}}', 0)
    login, mail, cookie = browser_login(op)
    rp, rs = client(op), client(op)
    q, code, t = full_flow(op, rp, cookie)
    first = form_post(op, "/oidc/introspect", rs, {"token": t["access_token"]})
    assert first.json["active"] is True
    rounds = []

    def three_from_memory():
        # the daemon's own follower reports the writes above (the clients, the login) a moment
        # later, and each report drops what it kept of them: a round of three answers is wholly
        # from memory once those reports are in
        before = counts()
        for _ in range(3):
            assert form_post(op, "/oidc/introspect", rs, {"token": t["access_token"]}).json["active"] is True
        after = counts()
        rounds.append((before, after))
        return (all(n(after, c, "hit") - n(before, c, "hit") >= 3 for c in ("oidc_grant", "oidc_client", "oidc_claims"))
                and n(after, "oidc_grant", "miss") == n(before, "oidc_grant", "miss"))
    try:
        wait_for(three_from_memory, timeout=5, what="three introspections answered from memory")
    except TimeoutError:
        raise AssertionError(("the last round's counts, before and after", rounds[-1])) from None
    # revoked here: the kept version is dropped, the next answer reads the record again
    assert form_post(op, "/oidc/revoke", rp, {"token": t["access_token"]}).status == 200
    mid = counts()
    assert form_post(op, "/oidc/introspect", rs, {"token": t["access_token"]}).json == {"active": False}
    assert n(counts(), "oidc_grant", "miss") > n(mid, "oidc_grant", "miss")


def test_introspection_kept_as_text_answers_as_read(op):
    """An access token's introspection is written from a kept text of its claims after the
    first answer: the later answers are the same object, flat as Dovecot reads it, with the
    members of this token; a change of the name in the directory is in the next answer, and a
    value with quotes, a backslash and a newline stays one string."""
    login, mail, cookie = browser_login(op)
    rp, rs = client(op), client(op)
    q, code, t = full_flow(op, rp, cookie)
    first = form_post(op, "/oidc/introspect", rs, {"token": t["access_token"]})
    assert first.status == 200 and first.headers.get("Content-Type") == "application/json", first
    i = first.json
    assert i["active"] is True and i["token_type"] == "bearer" and i["client_id"] == rp["id"] == i["aud"]
    assert i["iss"] == disco(op)["issuer"] and i["scope"] == q["scope"]
    assert i["username"] == i["preferred_username"] == login and i["email"] == mail
    assert "email_verified" not in i and isinstance(i["exp"], int) and isinstance(i["auth_time"], int)
    assert all(not isinstance(v, (dict, list)) for v in i.values()), i
    for _ in range(3):
        again = form_post(op, "/oidc/introspect", rs, {"token": t["access_token"]})
        assert again.json == i and again.headers.get("Content-Type") == "application/json"
    # another token of the same user: its own client and expiry, the same kept claims
    cl2 = client(op)
    q2, code2, t2 = full_flow(op, cl2, cookie)
    j = form_post(op, "/oidc/introspect", rs, {"token": t2["access_token"]}).json
    assert j["client_id"] == cl2["id"] == j["aud"] and j["sub"] == i["sub"] and j["username"] == login
    # the name changed in the directory: the kept text is dropped with the claims
    name = 'Dr "Lenoir" \\ Paris\nbis'
    r = subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", op.slapd.ldapi_url], text=True,
                       input=f"dn: uid={login},ou=people,{SUFFIX}\nchangetype: modify\nreplace: cn\n"
                             f"cn:: {base64.b64encode(name.encode()).decode()}\n", capture_output=True)
    assert r.returncode == 0, r.stderr
    within_a_second(lambda: form_post(op, "/oidc/introspect", rs, {"token": t["access_token"]}).json.get("name")
                    == name, "the new name in the introspection")
    k = form_post(op, "/oidc/introspect", rs, {"token": t["access_token"]}).json
    assert k == dict(i, name=name)
    # suspended: inactive at once, though its claims were kept
    ctl_ok(op.authd.ctl("suspend", login))
    within_a_second(lambda: form_post(op, "/oidc/introspect", rs, {"token": t["access_token"]}).json
                    == {"active": False}, "the suspension in the introspection")
