"""Pro Sante Connect login (authorization code flow, PKCE, state, nonce) through a
real OpenID Connect provider, browser-style: redirects followed, cookies kept."""
import http.cookiejar
import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from apistack import Api, OidcProvider
from mmstack import SUFFIX, Daemon, _port_open, free_port, wait_for
from test_api import assert_error, session_count


class StopAtCallback(urllib.request.HTTPRedirectHandler):
    """Follows redirects like a browser, except the last one back to the daemon."""

    def __init__(self, stop_prefix):
        self.stop_prefix = stop_prefix
        self.caught = None

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if newurl.startswith(self.stop_prefix):
            self.caught = newurl
            return None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class Browser:
    """A browser-style client of one provider's login routes (path: /v1/psc, or
    /v1/oidc for the second provider); ctx: the TLS context it reaches an https
    provider with (its client certificate, for mutual TLS)."""

    def __init__(self, base, ctx=None, path="/v1/psc"):
        self.base, self.path = base, path
        self.jar = http.cookiejar.CookieJar()
        self.stop = StopAtCallback(base + path + "/callback")
        handlers = [urllib.request.HTTPCookieProcessor(self.jar), self.stop]
        if ctx:
            handlers.append(urllib.request.HTTPSHandler(context=ctx))
        self.opener = urllib.request.build_opener(*handlers)

    def authorize(self):
        """GET /v1/psc/login and through the provider; returns the callback URL (not yet visited)."""
        self.stop.caught = None
        try:
            self.opener.open(self.base + self.path + "/login", timeout=30)
        except urllib.error.HTTPError as e:
            if not self.stop.caught:
                raise AssertionError(f"no redirect back: {e.code} {e.read()[:300]!r}")
        assert self.stop.caught, "the provider did not redirect back"
        return self.stop.caught

    def visit(self, url):
        try:
            r = self.opener.open(url, timeout=30)
            return _reply(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            return _reply(e.code, e.headers, e.read())

    def cookie(self, name):
        return next((c.value for c in self.jar if c.name == name), None)


def _reply(status, headers, body):
    from apistack import Reply
    return Reply(status, headers, body.decode())


def params(url):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def test_login_redirect_carries_pkce_state_nonce_acr(api):
    r = Api(api.url_a).get("/v1/psc/login")
    assert r.status == 302
    loc = r.headers["Location"]
    assert loc.startswith(api.provider.issuer + "/auth?")  # from the wallet discovery document
    p = params(loc)
    assert p["response_type"] == "code" and p["client_id"] == "medimail"
    assert p["scope"] == "openid scope_all" and p["acr_values"] == "eidas1"
    assert p["code_challenge_method"] == "S256" and len(p["code_challenge"]) == 43
    assert len(p["state"]) == 64 and len(p["nonce"]) == 64 and p["nonce"] != p["state"]
    cookie = r.headers["Set-Cookie"]
    assert f"mm_psc_state={p['state']}" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_code_flow_end_to_end(api, slapd):
    api.provider.control(account="psc-sub-linked", acr="eidas1")
    b = Browser(api.url_a)
    cb = b.authorize()
    assert params(cb)["state"] == b.cookie("mm_psc_state")
    r = b.visit(cb)
    assert r.status == 200, r
    assert r.json["status"] == "authenticated" and r.json["method"] == "psc" and r.json["account"] == api.per
    token = r.json["session_token"]
    i = api.svc_b.post("/v1/introspect", {"token": token})
    assert i.json["active"] is True and i.json["sub"] == api.per and i.json["method"] == "psc"
    # the state served once: replaying the same callback (code, state, nonce) is refused,
    # by the browser (its cookie was cleared) and by anyone holding the old cookie
    assert_error(b.visit(cb), 400, "invalid_state")
    st = params(cb)["state"]
    assert_error(Api(api.url_a).get("", url=cb, headers={"Cookie": f"mm_psc_state={st}"}), 400, "invalid_request")
    assert "psc" in api.a.log_text() and token not in api.a.log_text()


def test_flow_started_on_a_finishes_on_b(api):
    """The state record and the derived nonce/verifier are shared through the directory and the key."""
    api.provider.control(account="psc-sub-linked", acr="eidas1")
    b = Browser(api.url_a)
    cb = b.authorize()
    on_b = cb.replace(api.url_a, api.url_b)
    # the cookie belongs to A's origin: carry it as the same browser would behind one name
    r = Api(api.url_b).get("", url=on_b, headers={"Cookie": f"mm_psc_state={b.cookie('mm_psc_state')}"})
    assert r.status == 401, r  # B's redirect_uri differs from the one the code was issued for
    assert "token exchange refused" in r.json["message"]


def test_unlinked_identity_needs_a_link(api, slapd):
    api.provider.control(account="psc-sub-unlinked", acr="eidas1")
    not_links = "(&(objectClass=mmSession)(!(mmSessionMethod=psc-link)))"
    before = len(slapd.search(f"ou=sessions,{SUFFIX}", not_links, "1.1", scope="one"))
    b = Browser(api.url_a)
    r = b.visit(b.authorize())
    assert_error(r, 403, "link_required")
    assert r.json["national_id"] == "8" + api.rpps_unlinked
    assert r.json["family_name"] == "LEROY"
    # no session: only a link handle for POST /v1/psc/link (test_api_login.py)
    assert len(slapd.search(f"ou=sessions,{SUFFIX}", not_links, "1.1", scope="one")) == before
    assert len(r.json["link"]) == 64
    api.provider.control(account="psc-sub-linked")


def test_linked_by_psc_subject(api, slapd):
    """An account whose mmPscSub is the subject is found even without an RPPS match."""
    import subprocess
    dn = slapd.search(SUFFIX, f"(uid={api.med})")[0]["dn"]
    ldif = f"dn: {dn}\nchangetype: modify\nadd: mmPscSub\nmmPscSub: psc-sub-unlinked\n"
    subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url], input=ldif, text=True,
                   check=True, capture_output=True)
    try:
        api.provider.control(account="psc-sub-unlinked", acr="eidas1")
        b = Browser(api.url_a)
        r = b.visit(b.authorize())
        assert r.status == 200, r
        assert r.json["account"] == api.med
    finally:
        ldif = f"dn: {dn}\nchangetype: modify\ndelete: mmPscSub\n"
        subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url], input=ldif, text=True,
                       check=True, capture_output=True)
        api.provider.control(account="psc-sub-linked")


def test_state_mismatch(api):
    api.provider.control(account="psc-sub-linked", acr="eidas1")
    b = Browser(api.url_a)
    cb = b.authorize()
    p = params(cb)
    # another browser (no cookie) presenting the callback: login CSRF refused
    r = Api(api.url_a).get("", url=cb)
    assert_error(r, 400, "invalid_state")
    # a cookie that is not the state of the URL
    forged = cb.replace(p["state"], "0" * 64)
    r = Api(api.url_a).get("", url=forged, headers={"Cookie": "mm_psc_state=" + "0" * 64})
    assert_error(r, 400, "invalid_request")  # matches the cookie, but no such flow
    r = Api(api.url_a).get("", url=cb, headers={"Cookie": "mm_psc_state=" + "1" * 64})
    assert_error(r, 400, "invalid_state")
    # the real browser can still finish
    assert b.visit(cb).status == 200


def test_pkce_verifier_mismatch(api):
    """A code obtained for one flow, presented with another flow's state (hence verifier)."""
    api.provider.control(account="psc-sub-linked", acr="eidas1")
    b1, b2 = Browser(api.url_a), Browser(api.url_a)
    cb1, cb2 = b1.authorize(), b2.authorize()
    swapped = cb2.replace(params(cb2)["code"], params(cb1)["code"])
    r = b2.visit(swapped)
    assert_error(r, 401, "invalid_token")
    assert "token exchange refused" in r.json["message"]


@pytest.mark.parametrize("acr", [None, "eidas2"])
def test_wrong_or_missing_acr(api, acr):
    api.provider.control(account="psc-sub-linked", acr=acr)
    try:
        b = Browser(api.url_a)
        r = b.visit(b.authorize())
        assert_error(r, 401, "invalid_token")
        assert "acr" in r.json["message"]
    finally:
        api.provider.control(acr="eidas1")


def test_provider_error_is_refused(api):
    r = Api(api.url_a).get("/v1/psc/login")
    state = params(r.headers["Location"])["state"]
    url = f"{api.url_a}/v1/psc/callback?state={state}&error=access_denied"
    r2 = Api(api.url_a).get("", url=url, headers={"Cookie": f"mm_psc_state={state}"})
    assert_error(r2, 403, "access_denied")
    # and the state is consumed
    r3 = Api(api.url_a).get("", url=f"{api.url_a}/v1/psc/callback?state={state}&code=x",
                            headers={"Cookie": f"mm_psc_state={state}"})
    assert_error(r3, 400, "invalid_request")


def test_es256_and_signed_userinfo(state, slapd, smtp, api):
    """A provider that signs ID tokens with ES256 and answers userinfo as a signed JWT."""
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/v1/psc/callback"
    accounts = {"psc-sub-linked": {"national_id": "8" + api.rpps_linked, "given_name": "Paul",
                                   "family_name": "DURAND"}}
    prov = OidcProvider(state, accounts, [redirect], name="oidc-es", id_token_alg="ES256",
                        userinfo_alg="ES256").start()
    d = Daemon(state, slapd, smtp.port, name="api-es",
               extra=f"http_listen = 127.0.0.1:{port}\n{prov.daemon_config(redirect)}").start()
    try:
        wait_for(lambda: _port_open(port), what="listener")
        b = Browser(f"http://127.0.0.1:{port}")
        r = b.visit(b.authorize())
        assert r.status == 200, (r, d.log_text()[-2000:])
        assert r.json["account"] == api.per
    finally:
        d.stop()
        prov.stop()


def test_provider_unreachable(state, slapd, smtp):
    port, dead = free_port(), free_port()
    secret = state / "dead.secret"
    secret.write_text("x\n")
    import os
    os.chmod(secret, 0o600)
    d = Daemon(state, slapd, smtp.port, name="api-dead",
               extra=f"http_listen = 127.0.0.1:{port}\npsc_issuer = http://127.0.0.1:{dead}\n"
                     f"psc_client_id = medimail\npsc_client_secret_file = {secret}\n"
                     f"psc_redirect_uri = http://127.0.0.1:{port}/v1/psc/callback\npsc_timeout = 2\n").start()
    try:
        wait_for(lambda: _port_open(port), what="listener")
        assert_error(Api(f"http://127.0.0.1:{port}").get("/v1/psc/login"), 502, "provider_error")
    finally:
        d.stop()


def test_key_rotation_refreshes_the_jwks_once(state, slapd, smtp, api):
    """The provider restarts with new keys (new kids): the daemon's cached JWKS
    misses, it fetches the set again once, and the login goes through."""
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/v1/psc/callback"
    accounts = {"psc-sub-linked": {"national_id": "8" + api.rpps_linked, "given_name": "Paul",
                                   "family_name": "DURAND"}}
    prov = OidcProvider(state, accounts, [redirect], name="oidc-rot").start()
    d = Daemon(state, slapd, smtp.port, name="api-rot",
               extra=f"http_listen = 127.0.0.1:{port}\n{prov.daemon_config(redirect)}").start()
    try:
        wait_for(lambda: _port_open(port), what="listener")
        b = Browser(f"http://127.0.0.1:{port}")
        assert b.visit(b.authorize()).status == 200
        kids_before = json.loads(urllib.request.urlopen(prov.issuer + "/jwks").read())["keys"]
        prov.stop()
        prov = OidcProvider(state, accounts, [redirect], name="oidc-rot", port=prov.port, secret=prov.secret).start()
        kids_after = json.loads(urllib.request.urlopen(prov.issuer + "/jwks").read())["keys"]
        assert {k["kid"] for k in kids_before}.isdisjoint({k["kid"] for k in kids_after})
        b = Browser(f"http://127.0.0.1:{port}")
        r = b.visit(b.authorize())
        assert r.status == 200, (r, d.log_text()[-1500:])
    finally:
        d.stop()
        prov.stop()
