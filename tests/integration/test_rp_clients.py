"""Real relying parties (rpstack.py) against an OpenID Connect provider: Apache + mod_auth_openidc
logs a user in through Chromium and sees the claims; Dovecot accepts an access token over IMAP
(AUTHENTICATE OAUTHBEARER and XOAUTH2) and refuses a revoked one, and so does Postfix over SMTP
submission (AUTH through Dovecot's SASL socket).

The tests are parametrised by the provider (fixture `op`): the node oidc-provider the tests
already run (tests/oidc/provider.js), and medimail-authd's own ("ours"), giving the same interface:
  discovery_url, introspection_url, apache_client / dovecot_client (id, secret),
  token(user) -> access token, revoke(token), browser_login(driver, user), users (name -> claims),
  sub(user), after_redirect(driver) (ours: the login typed at /connexion when the RP sent the
  browser there), apache_scope and expected_claims(user) (ours: OIDC_CLAIM_mss_address).
"""
import base64
import hashlib
import http.cookiejar
import imaplib
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from apistack import OidcProvider
from mmstack import ctl_ok
from webstack import WebStack, PW
from rpstack import Apache, Dovecot, PostfixSubmission

from webstack import browser

USERS = {
    "rp-sub-camille": {"national_id": "810002813839", "given_name": "Camille", "family_name": "Durand",
                       "email": "camille.durand@example.org"},
    "rp-sub-karim": {"national_id": "810002813840", "given_name": "Karim", "family_name": "Benali",
                     "email": "karim.benali@example.org"},
}
DOVECOT_CB = "http://127.0.0.1:9/dovecot-token-cb"  # never visited: the code is read from the redirect


class _Stop(urllib.request.HTTPRedirectHandler):
    def __init__(self, prefix):
        self.prefix, self.caught = prefix, None

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if newurl.startswith(self.prefix):
            self.caught = newurl
            return None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _basic(cid, secret):
    return "Basic " + base64.b64encode(f"{urllib.parse.quote(cid)}:{urllib.parse.quote(secret)}".encode()).decode()


class NodeOp:
    """The node oidc-provider with two more clients: Apache's and one for Dovecot's introspection
    (also used by the tests to obtain tokens through the code flow)."""

    name = "node"

    def __init__(self, state, apache, dovecot_port):
        self.apache_client = ("rp-apache", base64.b32encode(os.urandom(20)).decode().lower())
        self.dovecot_client = ("rp-dovecot", base64.b32encode(os.urandom(20)).decode().lower())
        self.users = USERS
        extra = [
            {"client_id": self.apache_client[0], "client_secret": self.apache_client[1],
             "redirect_uris": [apache.redirect_uri], "response_types": ["code"],
             "grant_types": ["authorization_code"], "token_endpoint_auth_method": "client_secret_basic",
             "backchannel_logout_uri": apache.backchannel_logout_uri,
             "backchannel_logout_session_required": True,
             "post_logout_redirect_uris": [apache.base + "/"]},
            {"client_id": self.dovecot_client[0], "client_secret": self.dovecot_client[1],
             "redirect_uris": [DOVECOT_CB], "response_types": ["code"],
             "grant_types": ["authorization_code"], "token_endpoint_auth_method": "client_secret_basic"},
        ]
        self.p = OidcProvider(state, USERS, ["http://127.0.0.1:9/unused"], name="rp-node",
                              extra_clients=extra).start()
        self.discovery_url = self.p.issuer + "/.well-known/openid-configuration"
        self.meta = json.loads(urllib.request.urlopen(self.discovery_url, timeout=5).read())
        self.introspection_url = self.meta["introspection_endpoint"]

    def token(self, user):
        """An access token for `user` (code flow with PKCE, as the Dovecot client)."""
        self.p.control(account=user)
        verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        stop = _Stop(DOVECOT_CB)
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), stop)
        q = urllib.parse.urlencode({"client_id": self.dovecot_client[0], "response_type": "code",
                                    "scope": "openid email", "redirect_uri": DOVECOT_CB,
                                    "code_challenge": challenge, "code_challenge_method": "S256",
                                    "state": os.urandom(8).hex(), "nonce": os.urandom(8).hex()})
        try:
            opener.open(self.meta["authorization_endpoint"] + "?" + q, timeout=5)
        except urllib.error.HTTPError as e:
            if not stop.caught:
                raise AssertionError(f"authorize failed: {e.code} {e.read()[:300]}")
        assert stop.caught, "the provider did not redirect back"
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(stop.caught).query)["code"][0]
        body = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": DOVECOT_CB,
                                       "code_verifier": verifier}).encode()
        req = urllib.request.Request(self.meta["token_endpoint"], data=body,
                                     headers={"Authorization": _basic(*self.dovecot_client)})
        return json.loads(urllib.request.urlopen(req, timeout=5).read())["access_token"]

    def revoke(self, token):
        body = urllib.parse.urlencode({"token": token, "token_type_hint": "access_token"}).encode()
        req = urllib.request.Request(self.meta["revocation_endpoint"], data=body,
                                     headers={"Authorization": _basic(*self.dovecot_client)})
        assert urllib.request.urlopen(req, timeout=5).status == 200

    def introspect(self, token):
        body = urllib.parse.urlencode({"token": token}).encode()
        req = urllib.request.Request(self.introspection_url, data=body,
                                     headers={"Authorization": _basic(*self.dovecot_client)})
        return json.loads(urllib.request.urlopen(req, timeout=5).read())

    def browser_login(self, driver, user):
        """The node provider logs in whoever the tests chose, without a form."""
        self.p.control(account=user)

    def browser_logout(self, driver):
        """Logout at the provider (RP-initiated logout's end-session page, confirmed)."""
        driver.get(self.meta["end_session_endpoint"])
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "button[name=logout]"))
        driver.find_element(By.CSS_SELECTOR, "button[name=logout][value=yes]").click()
        WebDriverWait(driver, 10).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "button[name=logout]"))

    apache_scope = "openid email"

    def sub(self, user):
        return user

    def expected_claims(self, user):
        return {}

    def after_redirect(self, driver):
        """The node provider logs the chosen user in without a page."""

    def stop(self):
        self.p.stop()


def _code_flow(meta, client, cookie, redirect, scope):
    """An access token through the code flow with PKCE, plain HTTP with a session cookie."""
    verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    stop = _Stop(redirect)
    opener = urllib.request.build_opener(stop)
    q = urllib.parse.urlencode({"client_id": client[0], "response_type": "code", "scope": scope,
                                "redirect_uri": redirect, "code_challenge": challenge,
                                "code_challenge_method": "S256", "state": os.urandom(8).hex(),
                                "nonce": os.urandom(8).hex()})
    req = urllib.request.Request(meta["authorization_endpoint"] + "?" + q, headers={"Cookie": cookie})
    try:
        opener.open(req, timeout=10)
    except urllib.error.HTTPError as e:
        if not stop.caught:
            raise AssertionError(f"authorize failed: {e.code} {e.read()[:300]}")
    assert stop.caught, "the provider did not redirect back"
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(stop.caught).query)["code"][0]
    body = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
                                   "code_verifier": verifier}).encode()
    req = urllib.request.Request(meta["token_endpoint"], data=body, headers={"Authorization": _basic(*client)})
    return json.loads(urllib.request.urlopen(req, timeout=10).read())["access_token"]


class OursOp(NodeOp):
    """medimail-authd's own provider (authd/oidc/): a daemon serving web/ with the provider on,
    the two clients registered with `medimailctl oidc client add`, two PER accounts whose logins
    are typed (password and mailed code) at /connexion."""

    name = "ours"
    apache_scope = "openid email medimail"

    def __init__(self, request, state, slapd, smtp, apache):
        self.ws = WebStack(state, slapd, smtp, "rp-ours", extra=f"op_key_file = {state / 'rp-oidc-keys.json'}\n")
        ctl = self.ws.authd.ctl
        self.apache_client = ("rp-apache", ctl_ok(ctl(
            "oidc", "client", "add", "rp-apache", "--redirect-uris", apache.redirect_uri,
            "--type", "confidential", "--first-party", "yes",
            "--token-endpoint-auth-method", "client_secret_basic",
            "--backchannel-logout-uri", apache.backchannel_logout_uri,
            "--post-logout-redirect-uris", apache.base + "/"))["secret"])
        self.dovecot_client = ("rp-dovecot", ctl_ok(ctl(
            "oidc", "client", "add", "rp-dovecot", "--redirect-uris", DOVECOT_CB, "--type", "confidential",
            "--first-party", "yes", "--token-endpoint-auth-method", "client_secret_basic"))["secret"])
        self.users, self._cookies, self._subs, self.pending = {}, {}, {}, None
        for user, given in (("rp-sub-camille", "Camille"), ("rp-sub-karim", "Karim")):
            login, mail = self.ws.account("PER", given=given)
            self.users[user] = {"email": mail, "login": login}
        self.discovery_url = self.ws.url + "/.well-known/openid-configuration"
        self.meta = json.loads(urllib.request.urlopen(self.discovery_url, timeout=5).read())
        self.introspection_url = self.meta["introspection_endpoint"]
        # each user's web session (and sub) now, before the tests type their logins: a second
        # mailed code within otp_resend_interval would not be sent
        for user in self.users:
            self.sub(user)

    def _cookie(self, user):
        """A web session of user's (the stack's own browser), as a Cookie header."""
        if user not in self._cookies:
            self.ws.reset()
            self.ws.login(self.users[user]["email"])
            self._cookies[user] = "mm_session=" + self.ws.cookie()
            self.ws.reset()
        return self._cookies[user]

    def token(self, user):
        return _code_flow(self.meta, self.dovecot_client, self._cookie(user), DOVECOT_CB, "openid email")

    def _userinfo(self, user):
        tok = _code_flow(self.meta, self.dovecot_client, self._cookie(user), DOVECOT_CB, "openid email medimail")
        req = urllib.request.Request(self.meta["userinfo_endpoint"], headers={"Authorization": "Bearer " + tok})
        return json.loads(urllib.request.urlopen(req, timeout=5).read())

    def sub(self, user):
        if user not in self._subs:
            self._subs[user] = self._userinfo(user)
        return self._subs[user]["sub"]

    def expected_claims(self, user):
        self.sub(user)
        ui = self._subs[user]
        assert ui.get("mss_address"), ui
        return {"OIDC_CLAIM_mss_address": ui["mss_address"], "OIDC_CLAIM_account_type": "PER"}

    def browser_login(self, driver, user):
        """The next time the RP sends the browser to our /connexion, user's login is typed there."""
        self.pending = user

    def after_redirect(self, driver):
        """If the RP's redirect landed at our /connexion (no session of ours), type the pending
        user's password and mailed code; /connexion?suite= sends the browser back to finish."""
        connexion = self.ws.url + "/connexion"
        WebDriverWait(driver, 15).until(lambda d: d.current_url.startswith(self.apache.base + "/protected/")
                                        or d.current_url.split("?")[0] == connexion)
        if driver.current_url.split("?")[0] != connexion:
            return
        assert "suite=" in driver.current_url, driver.current_url
        mail = self.users[self.pending]["email"]
        time.sleep(6)  # the stack's otp_resend_interval (5 s) since this user's last mailed code
        before = self.ws.mails(mail)
        wait = WebDriverWait(driver, 15)
        for id_, value in (("user", mail), ("password", PW)):
            e = wait.until(lambda d: d.find_element(By.ID, id_) if d.find_element(By.ID, id_).is_displayed() else None)
            e.clear()
            e.send_keys(value)
        driver.find_element(By.ID, "login-submit").click()
        try:
            e = wait.until(lambda d: d.find_element(By.ID, "code") if d.find_element(By.ID, "code").is_displayed()
                           else None)
        except Exception:
            raise AssertionError(f"no code step at {driver.current_url}: "
                                 f"{driver.find_element(By.TAG_NAME, 'body').text[:1500]}")
        e.send_keys(self.ws.code(mail, before))
        driver.find_element(By.ID, "code-submit").click()

    def browser_logout(self, driver):
        """Logout at our provider (the page's own request): back-channel logout to Apache."""
        driver.get(self.ws.url + "/oidc/logout")
        WebDriverWait(driver, 15).until(lambda d: d.current_url.split("?")[0] == self.ws.url + "/connexion")

    def stop(self):
        self.ws.stop()


@pytest.fixture(scope="module", params=["node", "ours"])
def op(request, state, slapd, smtp):
    apache, dovecot = Apache(), Dovecot()
    o = NodeOp(state, apache, dovecot.port) if request.param == "node" else OursOp(request, state, slapd, smtp, apache)
    o.apache = apache
    started = []
    try:
        started.append(apache.start(o.discovery_url, *o.apache_client, scope=o.apache_scope))
        started.append(dovecot.start(o.introspection_url, *o.dovecot_client))
        o.apache, o.dovecot = apache, dovecot
        yield o
    finally:
        for s in reversed(started):
            s.stop()
        o.stop()


@pytest.fixture(scope="module")
def driver():
    d = browser()
    yield d
    d.quit()


def _imap(op):
    # Dovecot delays failures from one address more each time (auth penalty, up to 15 s)
    return imaplib.IMAP4("127.0.0.1", op.dovecot.port, timeout=40)


def _sasl(op, mech, payload):
    m = _imap(op)
    sent = []

    def answer(_challenge):
        # First the initial response; after a failure the server sends its error as a challenge
        # and waits for the client's dummy answer (RFC 7628 3.2.3: %x01; XOAUTH2: empty).
        sent.append(1)
        return payload if len(sent) == 1 else (b"\x01" if mech == "OAUTHBEARER" else b"")

    try:
        typ, _ = m.authenticate(mech, answer)
        ok = typ == "OK"
    except imaplib.IMAP4.error:
        ok = False
    try:
        if ok:
            m.select("INBOX")
            m.logout()
        else:
            m.shutdown()
    except (imaplib.IMAP4.error, OSError):
        pass
    return ok


def oauthbearer(user, token):
    return f"n,a={user},\x01auth=Bearer {token}\x01\x01".encode()


def xoauth2(user, token):
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


# ---- Apache + mod_auth_openidc ----

def test_apache_page_shows_the_claims_after_login(op, driver):
    op.browser_login(driver, "rp-sub-camille")
    driver.get(op.apache.page)
    op.after_redirect(driver)
    WebDriverWait(driver, 15).until(lambda d: d.current_url.startswith(op.apache.page)
                                    and d.find_elements(By.ID, "claims"))
    claims = {e.get_attribute("id"): e.text for e in driver.find_elements(By.CSS_SELECTOR, "#claims dd")}
    assert claims.get("OIDC_CLAIM_sub") == op.sub("rp-sub-camille"), (claims, op.apache.error_log()[-2000:])
    assert claims.get("OIDC_CLAIM_email") == op.users["rp-sub-camille"]["email"]
    assert claims.get("OIDC_CLAIM_iss") == op.meta["issuer"]
    for k, v in op.expected_claims("rp-sub-camille").items():
        assert claims.get(k) == v, (k, claims)


def _claims(driver, op):
    driver.get(op.apache.page)
    op.after_redirect(driver)
    WebDriverWait(driver, 15).until(lambda d: d.current_url.startswith(op.apache.page)
                                    and d.find_elements(By.ID, "claims"))
    return {e.get_attribute("id"): e.text for e in driver.find_elements(By.CSS_SELECTOR, "#claims dd")}


def test_provider_logout_ends_the_apache_session_by_back_channel(op, driver):
    """Logged in at Apache as Camille; logout at the provider posts a logout token to Apache's
    redirect URI (?logout=backchannel), which kills its session: the next visit logs in again
    (as whoever the provider now logs in), it does not reuse Camille's session."""
    driver.delete_all_cookies()
    op.browser_login(driver, "rp-sub-camille")
    assert _claims(driver, op).get("OIDC_CLAIM_sub") == op.sub("rp-sub-camille")
    # without a logout, the Apache session holds whoever the provider would log in next
    op.browser_login(driver, "rp-sub-karim")
    assert _claims(driver, op).get("OIDC_CLAIM_sub") == op.sub("rp-sub-camille")
    op.browser_logout(driver)
    assert _claims(driver, op).get("OIDC_CLAIM_sub") == op.sub("rp-sub-karim"), op.apache.error_log()[-3000:]
    assert "POST /protected/redirect_uri?logout=backchannel 200" in op.apache.access_log()


def test_apache_refuses_a_forged_logout_token(op):
    """An unsigned (alg none) logout token posted to the back-channel URI is refused."""
    def b64(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    forged = b64({"alg": "none"}) + "." + b64({
        "iss": op.meta["issuer"], "aud": op.apache_client[0], "iat": 0, "jti": "x", "sub": "rp-sub-camille",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}) + "."
    body = urllib.parse.urlencode({"logout_token": forged}).encode()
    try:
        status = urllib.request.urlopen(urllib.request.Request(op.apache.backchannel_logout_uri, data=body),
                                        timeout=5).status
    except urllib.error.HTTPError as e:
        status = e.code
    assert status == 400


def test_apache_refuses_a_forged_callback(op):
    """The redirect URI with a code but no state cookie of ours is refused, no claims."""
    url = op.apache.redirect_uri + "?code=forged&state=forged"
    try:
        r = urllib.request.urlopen(url, timeout=5)
        body = r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        body = e.read().decode(errors="replace")
        assert e.code >= 400
    assert "OIDC_CLAIM_" not in body


def test_apache_page_without_login_goes_to_the_provider(op):
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **kw):
            return None

    try:
        # a browser's Accept (mod_auth_openidc answers 401, not a redirect, to non-browser clients)
        req = urllib.request.Request(op.apache.page, headers={"Accept": "text/html"})
        urllib.request.build_opener(NoRedirect).open(req, timeout=5)
        raise AssertionError("the page was served without a login")
    except urllib.error.HTTPError as e:
        assert e.code == 302
        loc = e.headers["Location"]
    assert loc.startswith(op.meta["authorization_endpoint"] + "?")
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)
    assert q["client_id"] == [op.apache_client[0]]
    assert q["code_challenge_method"] == ["S256"]
    assert q["redirect_uri"] == [op.apache.redirect_uri]
    assert q["state"] and q["nonce"]


# ---- Dovecot passdb oauth2 ----

@pytest.mark.parametrize("mech,payload", [("OAUTHBEARER", oauthbearer), ("XOAUTH2", xoauth2)])
def test_dovecot_accepts_an_access_token(op, mech, payload):
    user = "rp-sub-karim"
    mail = op.users[user]["email"]
    token = op.token(user)
    assert _sasl(op, mech, payload(mail, token)), op.dovecot.log()[-3000:]


def test_dovecot_refuses_a_revoked_token(op):
    user = "rp-sub-karim"
    mail = op.users[user]["email"]
    token = op.token(user)
    assert _sasl(op, "XOAUTH2", xoauth2(mail, token))
    op.revoke(token)
    assert not _sasl(op, "XOAUTH2", xoauth2(mail, token))
    assert not _sasl(op, "OAUTHBEARER", oauthbearer(mail, token))


def test_dovecot_refuses_a_token_for_another_user(op):
    token = op.token("rp-sub-karim")
    assert not _sasl(op, "XOAUTH2", xoauth2(op.users["rp-sub-camille"]["email"], token))


def test_dovecot_refuses_a_forged_token(op):
    assert not _sasl(op, "OAUTHBEARER", oauthbearer(op.users["rp-sub-karim"]["email"], "forged" * 8))


# ---- the same tokens over SMTP submission: Postfix, smtpd_sasl_type = dovecot ----

@pytest.fixture(scope="module")
def submission(op, smtp):
    """Postfix asking a Dovecot of its own (the same introspection client) to check the token,
    without Dovecot's failure delays (Postfix waits 10 s for its answer), relaying to the sink."""
    dov = Dovecot().start(op.introspection_url, *op.dovecot_client, sasl_group="postfix", throttle=False)
    pf = PostfixSubmission()
    try:
        pf.start(dov.sasl_socket, f"[127.0.0.1]:{smtp.port}")
    except Exception:
        dov.stop()
        raise
    pf.dovecot = dov
    yield pf
    pf.stop()
    dov.stop()


def _smtp_sasl(sub, mech, payload):
    """An SMTP session authenticated by mech with an initial response, or None on a 535."""
    sent = []

    def answer(challenge=None):
        # after a failure the server sends its error as a challenge, as over IMAP (see _sasl)
        sent.append(challenge)
        return payload.decode() if len(sent) == 1 else ("\x01" if mech == "OAUTHBEARER" else "")
    return sub.login(mech, lambda s: answer)


@pytest.mark.parametrize("mech,payload", [("OAUTHBEARER", oauthbearer), ("XOAUTH2", xoauth2)])
def test_submission_relays_for_an_access_token(op, submission, smtp, mech, payload):
    mail = op.users["rp-sub-karim"]["email"]
    s = _smtp_sasl(submission, mech, payload(mail, op.token("rp-sub-karim")))
    assert s, submission.dovecot.log()[-3000:]
    rcpt, tag = f"{os.urandom(6).hex()}@destinataire.test", f"{mech}-{os.urandom(6).hex()}"
    assert s.sendmail(mail, [rcpt], f"From: {mail}\r\nTo: {rcpt}\r\nSubject: {tag}\r\n\r\nenvoi {tag}\r\n") == {}
    s.quit()
    assert smtp.wait_message(rcpt, rf"envoi ({tag})").group(1) == tag
    assert f"sasl_method={mech}, sasl_username={mail}\n" in submission.log()


def test_submission_refuses_a_revoked_token(op, submission):
    mail = op.users["rp-sub-karim"]["email"]
    token = op.token("rp-sub-karim")
    s = _smtp_sasl(submission, "XOAUTH2", xoauth2(mail, token))
    assert s
    s.quit()
    op.revoke(token)
    assert _smtp_sasl(submission, "XOAUTH2", xoauth2(mail, token)) is None
    assert _smtp_sasl(submission, "OAUTHBEARER", oauthbearer(mail, token)) is None


def test_submission_refuses_a_token_for_another_user(op, submission):
    token = op.token("rp-sub-karim")
    assert _smtp_sasl(submission, "XOAUTH2", xoauth2(op.users["rp-sub-camille"]["email"], token)) is None
    s = _smtp_sasl(submission, "XOAUTH2", xoauth2(op.users["rp-sub-karim"]["email"], token))
    assert s  # the token's own user still logs in with it
    s.quit()


# Dovecot's second passdb (passdb pam -> pam_medimail mail mode -> the daemon): test_mail_clients.py
