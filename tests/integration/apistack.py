"""apistack: the HTTP API side of a test run -- the test OpenID Connect provider
(node oidc-provider, shaped like Pro Sante Connect) and an HTTP client that
behaves like a browser or a service."""
import base64
import http.cookiejar
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from mmstack import TOP, free_port, luhn_complete, wait_for, _port_open  # noqa: F401 (re-exported to the API tests)

OIDC_DIR = TOP / "tests" / "oidc"
CLIENT_ID = "medimail"



class OidcProvider:
    def __init__(self, state: Path, accounts, redirect_uris, name="oidc", id_token_alg="RS256",
                 userinfo_alg=None, port=None, secret=None, tls=None, extra_clients=None):
        """tls: {cert, key, ca, client_context}: served over https, a client certificate
        required of every connection (client_context is the tests' own)."""
        self.state = state
        self.port = port or free_port()
        self.tls = tls
        self.issuer = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.secret = secret or base64.b32encode(os.urandom(20)).decode().lower()
        self.secret_file = state / f"{name}.secret"
        self.log = state / f"{name}.log"
        self.accounts = accounts
        self.redirect_uris = redirect_uris
        self.id_token_alg = id_token_alg
        self.userinfo_alg = userinfo_alg
        self.extra_clients = extra_clients or []  # more clients' metadata (rpstack.py's relying parties)
        self.proc = None

    def start(self):
        if not (OIDC_DIR / "node_modules" / "oidc-provider").exists():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=OIDC_DIR,
                           check=True, capture_output=True)
        self.secret_file.write_text(self.secret + "\n")
        os.chmod(self.secret_file, 0o600)
        env = dict(os.environ, PORT=str(self.port), CLIENT_ID=CLIENT_ID, CLIENT_SECRET=self.secret,
                   REDIRECT_URI=self.redirect_uris[0], ACCOUNTS=json.dumps(self.accounts),
                   ID_TOKEN_ALG=self.id_token_alg)
        env["REDIRECT_URIS"] = json.dumps(self.redirect_uris)
        env["EXTRA_CLIENTS"] = json.dumps(self.extra_clients)
        if self.userinfo_alg:
            env["USERINFO_ALG"] = self.userinfo_alg
        if self.tls:
            env.update(TLS_CERT=str(self.tls["cert"]), TLS_KEY=str(self.tls["key"]), TLS_CA=str(self.tls["ca"]))
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(["node", str(OIDC_DIR / "provider.js")], env=env, stdout=self.logf,
                                     stderr=self.logf)
        wait_for(lambda: _port_open(self.port) or self.proc.poll() is not None, 20, "oidc provider")
        if self.proc.poll() is not None:
            raise RuntimeError(f"provider exited: {self.log.read_text()}")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if getattr(self, "logf", None):
            self.logf.close()

    def control(self, **kw):
        req = urllib.request.Request(f"{self.issuer}/test/config", data=json.dumps(kw).encode(),
                                     headers={"Content-Type": "application/json"})
        return json.loads(self._open(req).read())

    def _open(self, req):
        ctx = self.tls["client_context"] if self.tls else None
        return urllib.request.urlopen(req, timeout=5, context=ctx)

    def ciba_last(self):
        return json.loads(self._open(f"{self.issuer}/test/ciba-last").read())

    def daemon_config(self, redirect_uri, prefix="psc"):
        """The daemon's options for this provider: as Pro Sante Connect (psc_*) or as the
        second, generic provider (oidc_*)."""
        return (f"{prefix}_issuer = {self.issuer}\n{prefix}_client_id = {CLIENT_ID}\n"
                f"{prefix}_client_secret_file = {self.secret_file}\n{prefix}_redirect_uri = {redirect_uri}\n"
                + ("psc_leeway = 5\n" if prefix == "psc" else ""))


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Api:
    """Requests to one daemon's HTTP API, as a service (Basic) or as a browser (cookies, redirects)."""

    def __init__(self, base, client=None, secret=None, browser=False, tls_context=None):
        self.base = base
        self.auth = None
        if client:
            self.auth = "Basic " + base64.b64encode(f"{client}:{secret}".encode()).decode()
        self.jar = http.cookiejar.CookieJar()
        handlers = [urllib.request.HTTPCookieProcessor(self.jar)]
        if tls_context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=tls_context))
        if not browser:
            handlers.append(NoRedirect())
        self.opener = urllib.request.build_opener(*handlers)

    def request(self, method, path, body=None, raw=None, headers=None, url=None):
        h = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if raw is not None:
            data = raw
            h.setdefault("Content-Type", "application/json")
        if self.auth:
            h["Authorization"] = self.auth
        h.update(headers or {})
        req = urllib.request.Request(url or self.base + path, data=data, headers=h, method=method)
        try:
            r = self.opener.open(req, timeout=30)
            return Reply(r.status, r.headers, r.read().decode())
        except urllib.error.HTTPError as e:
            return Reply(e.code, e.headers, e.read().decode())

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):
        return None


def poll_until(fn, timeout=15, interval=0.3):
    end = time.monotonic() + timeout
    while True:
        r = fn()
        if r.status != 200 or r.json.get("status") not in ("pending", "slow_down"):
            return r
        if time.monotonic() > end:
            raise TimeoutError(f"still pending: {r}")
        time.sleep(interval)


PW = "Pharma#2024"


def register_active(authd, smtp, kind, fields, mail, cgu=True):
    """Registration -> confirmation -> validation, as the guides describe it; then
    (cgu) the CGU accepted, as at the first login, without which no door opens a session."""
    args = ["register", kind, "--password-stdin"] + fields
    r = authd.ctl(*args, input=PW + "\n")
    assert r.returncode == 0, r.stdout + r.stderr
    login = r.json["fields"]["login"]
    c = authd.ctl("confirm", "--token-stdin", input=smtp.token(mail) + "\n")
    assert c.returncode == 0, c.stdout
    v = authd.ctl("validate", login)
    assert v.returncode == 0, v.stdout
    if cgu:
        a = authd.ctl("cgu", "accept", login)
        assert a.returncode == 0, a.stdout + a.stderr
    return login
