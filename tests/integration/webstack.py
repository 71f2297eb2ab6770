"""webstack: the web pages in a real browser -- one headless Chromium per test
module (python3-selenium driving /usr/bin/chromium through /usr/bin/chromedriver)
against one medimail-authd serving the tree's web/ over plain HTTP on loopback,
on the session's private slapd and SMTP sink (conftest.py), with the test
OpenID Connect provider (Pro Sante Connect, e-CPS) beside it.

A test module uses it by importing the fixture:

    from webstack import web  # noqa: F401 (the fixture)

    def test_something(web):
        login, mail = web.account("PER")
        web.login(mail)                       # password, mailed code, CGU -> "/"
        web.go("/compte")
        web.fill("phone", "0102030405")
        web.click("save")
        web.wait_text("status", "enregistr")

Keep browser tests few and broad: pages are reused, the browser is not.
"""
import json
import os
import re
import time

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from apistack import Api, OidcProvider, PW, register_active
from mmstack import TOP, Daemon, _port_open, free_port, int_fields, med_fields, per_fields, wait_for

CODE_RE = r"Ce code est le : (\d{6})"
WAIT = 10  # seconds a page may take to show what a test waits for

_serial = iter(range(1, 1_000_000))
IGNORED = (NoSuchElementException, StaleElementReferenceException)  # a page being replaced


def browser():
    """One headless Chromium (French, phone-sized width available through resize)."""
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--lang=fr-FR", "--window-size=1200,900", "--disable-extensions",
              "--no-first-run", "--disable-background-networking", "--disable-sync",
              "--disable-features=Translate,OptimizationHints,MediaRouter",
              "--password-store=basic"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


class WebStack:
    """A daemon serving web/, its URL, the browser, and the steps of the guides."""

    def __init__(self, state, slapd, smtp, name, extra=""):
        self.state, self.slapd, self.smtp = state, slapd, smtp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        redirect = f"{self.url}/v1/psc/callback"
        # One Pro Sante Connect identity per stack (the provider logs it in at once):
        # psc_account() registers the PER that carries its RPPS.
        from mmstack import luhn_complete
        self.psc_rpps = luhn_complete(f"995{self.port:07d}")
        self.psc_sub = f"web-psc-{name}"
        self.psc_unlinked_sub = f"web-psc-unlinked-{name}"
        self.psc_cgu_sub = f"web-psc-cgu-{name}"
        self.psc_accounts = {self.psc_sub: {"national_id": "8" + self.psc_rpps, "given_name": "Hugo",
                                            "family_name": "PSCWEB"},
                             # an identity no account carries: its first login asks for a link
                             self.psc_unlinked_sub: {"national_id": "8" + luhn_complete(f"994{self.port:07d}"),
                                                     "given_name": "Ines", "family_name": "NONLIEE"},
                             # the PER of psc_account(cgu=False): its CGU still to accept
                             self.psc_cgu_sub: {"national_id": "8" + luhn_complete(f"993{self.port:07d}"),
                                                "given_name": "Lea", "family_name": "PSCCGU"}}
        # started at its first use (web.provider): most modules never need it, and
        # the daemon reads only the secret file at start (discovery comes later)
        self._provider = OidcProvider(state, self.psc_accounts, [redirect], name=f"oidc-{name}")
        self._provider.secret_file.write_text(self._provider.secret + "\n")
        os.chmod(self._provider.secret_file, 0o600)
        self._provider_started = False
        self.authd = Daemon(state, slapd, smtp.port, name=name, extra=(
            f"http_listen = 127.0.0.1:{self.port}\n"
            f"web_root = {TOP / 'web'}\n"
            f"confirm_url = {self.url}/inscription/confirmer?jeton=\n"
            f"reset_url = {self.url}/mot-de-passe/reinitialiser?jeton=\n"
            f"email_change_url = {self.url}/compte/confirmer-email?jeton=\n"
            "http_rate = 2000\nhttp_rate_burst = 4000\n"
            # quick failures, a short resend interval, one source for every test
            "fail_delay_ms = 50\notp_resend_interval = 5\nrate_per_source = 100000\n"
            f"{self._provider.daemon_config(redirect)}{extra}")).start()
        wait_for(lambda: _port_open(self.port), what="http listener")
        self.api = Api(self.url)  # a client without the browser (headers, attacks)
        self.driver = browser()

    @property
    def provider(self):
        """The test OpenID Connect provider (Pro Sante Connect, e-CPS), started on first use."""
        if not self._provider_started:
            self._provider.start()
            self._provider_started = True
        return self._provider

    def stop(self):
        try:
            self.driver.quit()
        finally:
            self.authd.stop()
            if self._provider_started:
                self._provider.stop()

    # --- accounts -------------------------------------------------------------

    def account(self, kind="PER", cgu=True, sn=None, given="Camille"):
        """A validated account of kind (PER, INT, MED) with its own mail; (login, mail)."""
        n = next(_serial)
        tag = f"{self.authd.name.replace('-', '')}{n}"
        mail = f"web.{tag}@example.org"
        sn = sn or ("WEB" + re.sub(r"\d", lambda m: "ABCDEFGHIJ"[int(m.group())], tag).upper())
        if kind == "PER":
            from mmstack import luhn_complete
            fields = per_fields(mail, sn, given, luhn_complete(f"996{n:07d}"))
        elif kind == "INT":
            fields = int_fields(mail, sn, given)
        else:
            fields = med_fields(mail, sn, given)
        login = register_active(self.authd, self.smtp, kind, fields, mail, cgu=cgu)
        return login, mail

    def psc_account(self, cgu=True):
        """The PER that the stack's Pro Sante Connect identity (and e-CPS) maps to; (login, mail).
        cgu=False: the PER of the identity psc_cgu_sub, its CGU not accepted (once per stack)."""
        if not cgu:
            from mmstack import per_fields
            mail = f"lea.psccgu.{self.port}@example.org"
            rpps = self.psc_accounts[self.psc_cgu_sub]["national_id"][1:]
            return register_active(self.authd, self.smtp, "PER", per_fields(mail, "PSCCGU", "Lea", rpps), mail,
                                   cgu=False), mail
        if not getattr(self, "_psc", None):
            from mmstack import per_fields
            mail = f"hugo.pscweb.{self.port}@example.org"
            login = register_active(self.authd, self.smtp, "PER",
                                    per_fields(mail, "PSCWEB", "Hugo", self.psc_rpps), mail)
            self._psc = (login, mail)
        return self._psc

    def org(self, member, name=None):
        """A validated BAL ORG whose first connection account is member; (login, mss_address)."""
        from pamstack import register_org
        return register_org(self.authd, self.smtp, member, name or f"Cabinet Web {next(_serial)}")

    def as_cookie(self, token):
        """Headers of a client without the browser presenting token as the session cookie, from our origin."""
        return {"Cookie": f"mm_session={token}", "Origin": self.url}

    def mails(self, to):
        return len(self.smtp.messages(to))

    def code(self, mail, before):
        return self.smtp.wait_message(mail, CODE_RE, before).group(1)

    # --- the browser ----------------------------------------------------------

    def reset(self):
        """No cookie, no page: logged out, as a new visitor."""
        self.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        self.driver.get("about:blank")

    def go(self, path):
        self.driver.get(self.url + path)

    def find(self, id_):
        return WebDriverWait(self.driver, WAIT, poll_frequency=0.1).until(EC.presence_of_element_located((By.ID, id_)))

    def visible(self, id_):
        return WebDriverWait(self.driver, WAIT, poll_frequency=0.1).until(EC.visibility_of_element_located((By.ID, id_)))

    def fill(self, id_, value):
        e = self.visible(id_)
        e.clear()
        e.send_keys(value)
        return e

    def click(self, id_):
        e = WebDriverWait(self.driver, WAIT, poll_frequency=0.1).until(EC.element_to_be_clickable((By.ID, id_)))
        e.click()
        return e

    def text(self, id_):
        for _ in range(3):
            try:
                return self.find(id_).text
            except StaleElementReferenceException:
                time.sleep(0.2)
        return self.find(id_).text

    def wait_text(self, id_, fragment, timeout=WAIT):
        """The element's visible text holds fragment (case-insensitive); returns it."""
        try:
            WebDriverWait(self.driver, timeout, poll_frequency=0.1, ignored_exceptions=IGNORED).until(
                lambda d: fragment.lower() in (d.find_element(By.ID, id_).text or "").lower())
        except TimeoutException:
            raise AssertionError(f"#{id_} never showed {fragment!r}; page {self.driver.current_url}:\n"
                                 f"{self.driver.find_element(By.TAG_NAME, 'body').text[:2000]}\n"
                                 f"console: {self.console()}")
        return self.text(id_)

    def wait_path(self, path, timeout=WAIT):
        try:
            WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(
                lambda d: d.current_url.split("?")[0] == self.url + path)
        except TimeoutException:
            raise AssertionError(f"still at {self.driver.current_url}, expected {path}:\n"
                                 f"{self.driver.find_element(By.TAG_NAME, 'body').text[:2000]}\n"
                                 f"console: {self.console()}")

    def error_of(self, id_):
        """The error shown next to input id_ (tied by aria-describedby), or None."""
        e = self.find(id_)
        for ref in (e.get_attribute("aria-describedby") or "").split():
            if ref.endswith("-error"):
                return self.driver.find_element(By.ID, ref).text
        return None

    def console(self):
        try:
            return [m["message"] for m in self.driver.get_log("browser")]
        except Exception:
            return []

    def cookie(self):
        """The session cookie's value in the browser (None: none)."""
        c = self.driver.get_cookie("mm_session")
        return c["value"] if c else None

    def fetch(self, path, body=None, headers=None, method="POST"):
        """A request from the page's own JavaScript (same origin, the cookie sent):
        {status, json}. For attacks: leave out the CSRF header, change the body."""
        script = """
            const [path, method, body, headers, done] = arguments;
            fetch(path, {method, headers, body, credentials: "same-origin"})
              .then(async r => done({status: r.status, text: await r.text()}))
              .catch(e => done({status: 0, text: String(e)}));
        """
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        r = self.driver.execute_async_script(script, path, method,
                                             None if body is None else json.dumps(body), h)
        try:
            r["json"] = json.loads(r["text"])
        except ValueError:
            r["json"] = None
        return r

    def csrf(self):
        """The page's CSRF token, as GET /v1/web/session gives it."""
        return self.fetch("/v1/web/session", method="GET", headers={})["json"].get("csrf_token")

    # --- the guides' steps ----------------------------------------------------

    def password_step(self, mail, password=PW):
        before = self.mails(mail)
        self.go("/connexion")
        self.fill("user", mail)
        self.fill("password", password)
        self.click("login-submit")
        self.visible("code")
        return before

    def login(self, mail, password=PW, cgu=True):
        """Connexion as guide 000 says: adresse mail + mot de passe, the mailed
        code, the CGU when asked; ends on the home page."""
        before = self.password_step(mail, password)
        self.fill("code", self.code(mail, before))
        self.click("code-submit")
        if cgu:
            WebDriverWait(self.driver, WAIT, poll_frequency=0.1).until(
                lambda d: d.current_url.split("?")[0] in (self.url + "/", self.url + "/cgu"))
            if self.driver.current_url.split("?")[0] == self.url + "/cgu":
                self.click("accept")
                self.click("cgu-submit")
            self.wait_path("/")
            self.visible("mm-logout")

    def logout(self):
        self.click("mm-logout")
        self.wait_path("/connexion")

    def dom_inert(self):
        """No script injected: no element from a payload (script, img with
        onerror, javascript: links) anywhere in the document."""
        return self.driver.execute_script("""
            const bad = [];
            for (const s of document.scripts) if (!s.src) bad.push('inline script: ' + s.textContent.slice(0, 80));
            for (const e of document.querySelectorAll('*')) {
              for (const a of e.attributes) {
                if (/^on/i.test(a.name)) bad.push(e.tagName + ' ' + a.name);
                if (/^\\s*javascript:/i.test(a.value)) bad.push(e.tagName + ' ' + a.name + '=' + a.value);
              }
            }
            return bad.concat(window.__mm_xss ? ['payload ran'] : []);
        """)


def web_stack(request, state, slapd, smtp, extra="", suffix="x"):
    """Another stack, for a test that needs other options (extra: daemon
    configuration lines); stopped after the test."""
    s = WebStack(state, slapd, smtp, stack_name(request.module.__name__) + suffix, extra)
    request.addfinalizer(s.stop)
    return s


_stacks = {}


@pytest.fixture
def web(request, state, slapd, smtp):
    """The module's stack (started by its first test, stopped after its last), with a
    browser that holds no cookie: every test starts logged out."""
    key = request.module.__name__
    s = _stacks.get(key)
    if s is None:
        mod = request.node.getparent(pytest.Module)
        s = _stacks[key] = WebStack(state, slapd, smtp, stack_name(key))

        def stop():
            _stacks.pop(key, None)
            s.stop()
        mod.addfinalizer(stop)
    s.reset()
    return s


def stack_name(module):
    return "web-" + re.sub(r"[^a-z0-9]", "", module.split(".")[-1].lower())[-20:]


def until(pred, timeout=WAIT, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
