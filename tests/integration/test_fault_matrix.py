"""The fault matrix of issue 18, one test per row (rows not yet here are listed in
docs/faults.md): the fault is injected while logins run, and each test checks the
user's message, the PAM or wire result, and what is left in the directory."""
import concurrent.futures
import email
import email.policy
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.parse

import pytest
from aiosmtpd.controller import Controller

import mmwire
from apistack import Api
from mmstack import Daemon, _port_open, free_port, med_fields, wait_for
from test_api import assert_error
from pamstack import P_CODE, P_PASSWORD, PW, PamService, attrs_of, pamtester

CONF = """fail_delay_ms = 50
lockout_threshold = 5
rate_per_source = 1000000
rate_per_account = 100000
otp_resend_interval = 1
"""
CODE_RE = r"Ce code est le : (\d{6})"


class Relay:
    """An SMTP relay on a fixed port that accepts, refuses (5xx on RCPT, 4xx on DATA) or is
    down, as a test says; it keeps the code of each message it accepted, by recipient."""

    def __init__(self):
        self.port = free_port()
        self.mode = "ok"
        self.bodies = {}
        self.lock = threading.Lock()
        self.ctl = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.mode == "refuse":
            return "550 5.7.1 relaying denied"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.mode == "tempfail":
            return "451 4.3.0 try again later"
        m = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        text = m.get_body(preferencelist=("plain",)).get_content()
        with self.lock:
            for to in envelope.rcpt_tos:
                self.bodies.setdefault(to.lower(), []).append(text)
        return "250 OK"

    def up(self):
        if not self.ctl:
            self.ctl = Controller(self, hostname="127.0.0.1", port=self.port)
            self.ctl.start()

    def down(self):
        if self.ctl:
            self.ctl.stop()
            self.ctl = None

    def count(self, to):
        with self.lock:
            return len(self.bodies.get(to.lower(), []))

    def wait(self, to, pattern, before, timeout=15):
        """The first match of pattern in a mail to `to` after the first `before` ones."""
        def hit():
            with self.lock:
                for text in self.bodies.get(to.lower(), [])[before:]:
                    m = re.search(pattern, text)
                    if m:
                        return m.group(1)
            return None
        wait_for(lambda: hit() is not None, timeout, f"mail to {to} matching {pattern}")
        return hit()


@pytest.fixture(scope="module")
def relay():
    r = Relay()
    r.up()
    yield r
    r.down()


@pytest.fixture(scope="module")
def rd(state, slapd, relay):
    d = Daemon(state, slapd, relay.port, name="faultsmtp", extra=CONF).start()
    yield d
    d.stop()


def test_smtp_relay_refusing_or_down_consumes_nothing_and_recovers(rd, relay, slapd, state):
    """Row 1: "SMTP relay refuses or is down when a code must be sent → the login says the
    code could not be sent (clear message), nothing is consumed, no lockout counted; it works
    again as soon as the relay is back"."""
    login, mail = registered(rd, relay)
    svc = PamService(state, rd, "medimail-faultsmtp")
    try:
        for mode in ("refuse", "tempfail", "down"):
            if mode == "down":
                relay.down()
            else:
                relay.mode = mode
            for _ in range(6):  # more than lockout_threshold: none of them may count
                r = pamtester(svc, login, ["authenticate"], [(P_PASSWORD, PW), (P_CODE, "000000")])
                assert r.status != 0, (mode, r)
                assert "Le code n'a pas pu être envoyé par e-mail" in r.output, (mode, r)
                assert "Code à usage unique reçu" not in r.output, (mode, r)
            e = attrs_of(slapd, login)
            for attr in ("mmLockedUntil", "mmOtpHash", "mmOtpSentAt"):
                assert attr not in e, (mode, attr)
            assert e.get("mmFailCount", ["0"]) == ["0"], mode
            relay.mode = "ok"
            relay.up()
        log = rd.log_text()
        assert re.search(rf'audit="otp-send".*account="{re.escape(login)}" result="refused" reason="mail not sent"', log)
        # the relay is back: the very next login gets its code and succeeds
        before = relay.count(mail)
        r = pamtester(svc, login, ["authenticate"],
                      [(P_PASSWORD, PW), (P_CODE, lambda: relay.wait(mail, CODE_RE, before))])
        assert r.status == 0, r
        # no secret of the refused attempts in the log
        assert PW not in log
    finally:
        relay.mode = "ok"
        relay.up()


def registered(d, relay):
    """A confirmed, validated MED registered on d, its mails read at the relay."""
    from pamstack import _unique_name
    sn = _unique_name().upper()
    mail = f"{sn.lower()}.fault@example.org"
    before = relay.count(mail)
    r = d.ctl("register", "MED", "--password-stdin", *med_fields(mail, sn, "Faute"), input=PW + "\n")
    assert r.returncode == 0, r.stdout + r.stderr
    login = r.json["fields"]["login"]
    token = relay.wait(mail, r"jeton=([0-9a-f]{64})", before)
    assert d.ctl("confirm", "--token-stdin", input=token + "\n").returncode == 0
    v = d.ctl("validate", login)
    assert v.returncode == 0, v.stdout
    return login, mail


@pytest.fixture(scope="module")
def faulty(state, slapd, relay):
    """A daemon that reaches slapd through a relay able to damage one search's answer
    (ldapfault.py), 55 entries its typeahead finds, and an active account to ask as."""
    from ldapfault import LdapFault
    from mmstack import SUFFIX
    lf = LdapFault(slapd.port, free_port())
    d = Daemon(state, slapd, relay.port, name="ldapfault",
               extra=f"{CONF}ldap_uri = {lf.url}\nldap_timeout = 2\n").start()
    ldif = "".join(
        f"dn: uid=zfault{i},ou=people,{SUFFIX}\nobjectClass: mmAccount\nuid: zfault{i}\n"
        f"mmAccountType: MED\nmmStatus: active\nmmLoginMail: zfault{i}@example.org\ncn: Zfault {i:02d}\n"
        f"sn: Zfault\ngivenName: Z\nmmVisibleMedimail: TRUE\nmmSearchKey: zfault\n"
        f"mmSearchKey: zfault{i}\nmmSearchKey: yfault{i}\n\n" for i in range(55))
    subprocess.run(["ldapadd", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url], input=ldif, text=True,
                   check=True, capture_output=True)
    login, _ = registered(d, relay)
    uid = int(slapd.search(f"ou=people,{SUFFIX}", f"(uid={login})", "uidNumber")[0]["uidNumber"][0])
    yield d, lf, uid
    d.stop()
    lf.close()
    subprocess.run(["ldapdelete", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url],
                   input="".join(f"uid=zfault{i},ou=people,{SUFFIX}\n" for i in range(55)), text=True,
                   check=True, capture_output=True)


def _typeahead(d, uid, q="zfault"):
    r = d.ctl("search", q, uid=uid)
    return r, [x.get("login") for x in (r.json or {}).get("records", [])]


def test_directory_answer_cut_after_some_entries_fails_once_and_is_not_retried(faulty):
    """slapd ends a typeahead's answer with "busy" after 3 of its entries (what a loaded
    slapd or a time limit says mid-answer). The daemon has handed those 3 on already: it must
    answer an error with no record, not retry the search (a retry repeated every record with
    an "ok"), drop that connection, and answer the next search whole."""
    d, lf, uid = faulty
    lf.arm("end", b"zfault", after=3)
    r, got = _typeahead(d, uid)
    assert lf.sent == 3, lf.sent
    assert r.returncode != 0 and not got, r.stdout
    assert r.json["message"] == "recherche : réponse de l'annuaire interrompue, réessayez", r.stdout
    assert lf.searches == 1, "the search was sent again after a partial answer"
    assert "answer to a search cut after 3 entries, not retried" in d.log_text()
    lf.disarm()
    r, got = _typeahead(d, uid)
    assert r.returncode == 0, r.stdout
    assert len(got) == 50 == len(set(got)) and r.json["fields"]["refine"] == "yes", r.stdout
    assert d.proc.poll() is None


def test_directory_answer_cut_by_slapds_own_size_limit_says_refine(faulty):
    """A slapd whose size limit for the daemon is below the typeahead's 51 ends the answer
    with "size limit exceeded" after 10 entries: the 10 records are shown, and the list is
    said not to be whole (it used to read as every match, refine=no)."""
    from ldapfault import SIZE_LIMIT
    d, lf, uid = faulty
    lf.arm("end", b"zfault", after=10, code=SIZE_LIMIT)
    r, got = _typeahead(d, uid)
    lf.disarm()
    assert r.returncode == 0, r.stdout
    assert len(got) == 10 == len(set(got)) and r.json["fields"]["refine"] == "yes", r.stdout
    assert r.json["fields"]["count"] == "10", r.stdout
    assert "limité la réponse à 10 résultats" in r.json["message"], r.stdout


def test_directory_answer_dripping_is_bounded_by_one_deadline(faulty):
    """slapd sends a typeahead's entries one every 0.4 s: never silent for ldap_timeout (2 s),
    so a deadline per message would wait for all 55 (22 s) and hold a pooled connection all
    that time. The whole answer has one deadline: an error in about 2 s, and another user's
    search on the same daemon is answered meanwhile."""
    d, lf, uid = faulty
    lf.arm("drip", b"zfault", delay=0.4)
    out = {}

    def slow():
        t0 = time.monotonic()
        out["r"] = _typeahead(d, uid)
        out["secs"] = time.monotonic() - t0

    t = threading.Thread(target=slow)
    t.start()
    wait_for(lambda: lf.sent >= 1, 10, "the dripped answer under way")
    t0 = time.monotonic()
    r, got = _typeahead(d, uid, "yfault7")  # not the trigger: passes untouched
    other = time.monotonic() - t0
    t.join(30)
    lf.disarm()
    assert r.returncode == 0 and got == ["zfault7"], r.stdout
    assert other < 1.5, other
    (r, got), secs = out["r"], out["secs"]
    assert r.returncode != 0 and not got, r.stdout
    assert "interrompue" in r.json["message"], r.stdout
    assert 1.5 < secs < 5, secs
    assert lf.sent < 10, lf.sent
    r, got = _typeahead(d, uid)
    assert r.returncode == 0 and len(got) == 50, r.stdout


def test_sighup_under_load_loses_no_request(state, slapd, smtp):
    """Row 10: "a config reload (SIGHUP) under load, with a broken file then a good one → no
    request fails; the broken file is refused and the running one kept"."""
    d = Daemon(state, slapd, smtp.port, name="hupload", extra=CONF).start()
    try:
        stop = threading.Event()
        failures, done = [], [0]

        def client():
            while not stop.is_set():
                try:
                    r = mmwire.call(d.socket, mmwire.PING, timeout=10)
                    if r.status != 0:
                        failures.append(r)
                except OSError as e:
                    failures.append(e)
                done[0] += 1

        good = d.conf.read_text()
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            futs = [ex.submit(client) for _ in range(8)]
            for i in range(5):
                time.sleep(0.3)
                d.conf.write_text(good + "\nbogus_option = 1\n")
                d.proc.send_signal(signal.SIGHUP)
                wait_for(lambda: d.log_text().count("reload refused") > i, what="refused reload")
                d.conf.write_text(good.replace("fail_delay_ms = 50", f"fail_delay_ms = {51 + i}"))
                d.proc.send_signal(signal.SIGHUP)
                wait_for(lambda: d.log_text().count("configuration reloaded") > i, what="reload")
            stop.set()
            for f in futs:
                f.result()
        assert failures == [] and done[0] > 100, (failures[:5], done[0])
        assert d.proc.poll() is None
        assert "bogus_option: unknown option" in d.log_text()
    finally:
        d.stop()


# ---------------------------------------------------------------- row 5: the OpenID provider

class BadProvider:
    """An OpenID provider on a loopback port that is down, slow (answers after 30 s) or answers
    garbage, for its discovery document or for its token endpoint, as a test says."""

    def __init__(self):
        import http.server
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.discovery, self.token = "ok", "ok"
        self.stop_ev = threading.Event()
        self.hits = []
        me = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def answer(self, mode, body):
                me.hits.append(self.path.split("?")[0])
                if mode == "slow":
                    me.stop_ev.wait(30)
                    return
                if mode == "garbage":
                    body, ctype = b"<html><body>502 Bad Gateway \xff\xfe{", "text/html"
                else:
                    body, ctype = json.dumps(body).encode(), "application/json"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path.startswith("/.well-known/wallet-openid-configuration"):
                    i = me.issuer
                    self.answer(me.discovery, {"issuer": i, "authorization_endpoint": i + "/auth",
                                               "token_endpoint": i + "/token", "jwks_uri": i + "/jwks"})
                else:
                    self.answer("ok", {"keys": []})

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                self.answer(me.token, {"error": "invalid_grant"})

        self.handler = H
        self.srv = self.thread = None  # down until up(): nothing listens on the port

    def up(self):
        import http.server
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
        self.srv.daemon_threads = True
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def down(self):
        self.stop_ev.set()
        if self.srv:
            self.srv.shutdown()
            self.srv.server_close()


PSC_TIMEOUT = 2


@pytest.fixture(scope="module")
def bad_idp(state, slapd, relay):
    import os
    p = BadProvider()
    http_port = free_port()
    secret = state / "badidp.secret"
    secret.write_text("s3cret-of-the-bad-idp\n")
    os.chmod(secret, 0o600)
    d = Daemon(state, slapd, relay.port, name="faultidp",
               extra=CONF + f"http_listen = 127.0.0.1:{http_port}\npsc_issuer = {p.issuer}\n"
                     f"psc_client_id = medimail\npsc_client_secret_file = {secret}\n"
                     f"psc_redirect_uri = http://127.0.0.1:{http_port}/v1/psc/callback\n"
                     f"psc_timeout = {PSC_TIMEOUT}\n").start()
    wait_for(lambda: _port_open(http_port), what="http listener")
    p.url = f"http://127.0.0.1:{http_port}"
    p.daemon = d
    yield p
    d.stop()
    p.down()


def psc_login(base):
    """GET /v1/psc/login: (status, json or Location, seconds taken)."""
    t0 = time.monotonic()
    r = Api(base).get("/v1/psc/login")
    return r, time.monotonic() - t0


def password_login_meanwhile(d, relay, login, mail, svc):
    """A password + code login through PAM, timed."""
    before = relay.count(mail)
    t0 = time.monotonic()
    r = pamtester(svc, login, ["authenticate"],
                  [(P_PASSWORD, PW), (P_CODE, lambda: relay.wait(mail, CODE_RE, before))])
    return r, time.monotonic() - t0


@pytest.mark.parametrize("fault", ["down", "slow", "garbage"])
def test_provider_down_slow_or_garbage_bounded_clear_and_other_flows_unaffected(bad_idp, relay, state, fault):
    """Row 5: "Pro Santé Connect / the OpenID provider unreachable, slow (30 s), or answering
    garbage → bounded wait, a clear error, other flows unaffected" (here for the discovery
    document: the first exchange of every login)."""
    d = bad_idp.daemon
    login, mail = registered(d, relay)
    svc = PamService(state, d, f"medimail-faultidp-{fault}")
    bad_idp.discovery = {"down": "ok", "slow": "slow", "garbage": "garbage"}[fault]
    if fault == "down":
        assert not bad_idp.thread  # the first case: nothing listens on the issuer's port yet
    elif not bad_idp.thread:
        bad_idp.up()
    mark = len(d.log_text())
    try:
        with concurrent.futures.ThreadPoolExecutor(3) as ex:
            psc = [ex.submit(psc_login, bad_idp.url) for _ in range(2)]
            time.sleep(0.2)
            pw = ex.submit(password_login_meanwhile, d, relay, login, mail, svc)
            results = [f.result() for f in psc]
            r_pw, t_pw = pw.result()
        for r, took in results:
            assert_error(r, 502, "provider_error")
            assert r.json["message"] == "login: identity provider unreachable or failing", r
            assert took < PSC_TIMEOUT + 3, took  # the daemon's psc_timeout, not the provider's 30 s
            assert "Location" not in r.headers and "Set-Cookie" not in r.headers
        # the password login at the same time did not queue behind the provider
        assert r_pw.status == 0, r_pw
        assert t_pw < 15, t_pw
        log = d.log_text()[mark:]
        why = {"down": "Couldn't connect to server", "slow": "Timeout was reached",
               "garbage": "HTTP 200, not a JSON object"}[fault]
        assert re.search(rf"api login: {re.escape(bad_idp.issuer)}/\.well-known/wallet-openid-configuration"
                         rf".*{why}", log), log[-1500:]
        assert "s3cret-of-the-bad-idp" not in log
        # the HTTP door still answers everything else at once
        t0 = time.monotonic()
        assert Api(bad_idp.url).get("/v1/psc/nope").status == 404
        assert time.monotonic() - t0 < 1
    finally:
        bad_idp.discovery = "ok"


@pytest.mark.parametrize("fault", ["slow", "garbage"])
def test_provider_token_endpoint_slow_or_garbage(bad_idp, fault):
    """Row 5, the second exchange: the discovery answered, the token endpoint is slow or
    answers garbage; the callback ends within psc_timeout with a clear error and the
    flow's state is consumed (the same callback cannot be replayed)."""
    if not bad_idp.thread:
        bad_idp.up()
    bad_idp.discovery, bad_idp.token = "ok", fault
    try:
        r = Api(bad_idp.url).get("/v1/psc/login")
        assert r.status == 302, r
        assert r.headers["Location"].startswith(bad_idp.issuer + "/auth?")
        st = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers["Location"]).query))["state"]
        cb = f"{bad_idp.url}/v1/psc/callback?state={st}&code=abc"
        t0 = time.monotonic()
        r = Api(bad_idp.url).get("", url=cb, headers={"Cookie": f"mm_psc_state={st}"})
        took = time.monotonic() - t0
        assert took < PSC_TIMEOUT + 3, took
        if fault == "slow":
            assert_error(r, 502, "provider_error")
        else:
            assert_error(r, 401, "invalid_token")
            assert "token exchange refused" in r.json["message"], r
        assert "Set-Cookie" not in r.headers or "mm_psc_state=;" in r.headers["Set-Cookie"]
        r = Api(bad_idp.url).get("", url=cb, headers={"Cookie": f"mm_psc_state={st}"})
        assert_error(r, 400, "invalid_request")
    finally:
        bad_idp.token = "ok"


# ---------------------------------------------------------------- row 8: the cache directory

def _mc_header(d, name="passwd"):
    """(generation, stale) of one published cache file."""
    data = (d.state / f"{d.name}-mc" / name).read_bytes()[:32]
    return int.from_bytes(data[16:24], "little"), int.from_bytes(data[24:28], "little")


def _mc_fresh(d):
    try:
        return _mc_header(d, "passwd")[1] == 0 and _mc_header(d, "group")[1] == 0
    except (FileNotFoundError, IndexError):
        return False


@pytest.fixture()
def tiny_tmpfs(state):
    """A 256 KiB tmpfs mounted where the next daemon named faultmc keeps its cache."""
    import subprocess
    made = []

    def make(name, ro=False):
        p = state / f"{name}-mc"
        p.mkdir()
        opts = "size=256k,mode=0755" + (",ro" if ro else "")
        subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(p)], check=True)
        made.append(p)
        return p
    yield make
    for p in made:
        subprocess.run(["umount", "-l", str(p)], check=False)


def _getent(d, nsswitch, *keys):
    from test_nss import nss
    r = nss(d, nsswitch, "getent", "passwd", *keys)
    return r.returncode, r.stdout


def _fill(path):
    """Writes path until the file system is full."""
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as e:
            assert e.errno == 28, e  # ENOSPC


def test_cache_dir_full_falls_back_to_the_socket_and_says_why_once(state, slapd, relay, tiny_tmpfs):
    """Row 8: "the cache directory full or read-only → NSS falls back to the socket; the daemon
    says why in its log, once" (full here: a tiny tmpfs filled up)."""
    import subprocess
    nsswitch = state / "fault-nsswitch.conf"
    nsswitch.write_text("passwd: files medimail\ngroup: files medimail\nshadow: files\nhosts: files\n")
    mc = tiny_tmpfs("faultmc")
    d = Daemon(state, slapd, relay.port, name="faultmc", extra=CONF + "cache_refresh = 1\n").start()
    try:
        login, _ = registered(d, relay)
        other, _ = registered(d, relay)
        wait_for(lambda: _mc_fresh(d), 20, "a fresh cache")
        wait_for(lambda: _getent(d, nsswitch, login)[0] == 0, 10, "the user in the cache")
        gen_before = _mc_header(d)[0]
        _fill(mc / "filler")
        mark = len(d.log_text())
        assert d.ctl("suspend", login, "--reason", "test").returncode == 0
        # the published files are stale (the daemon flagged them) and cannot be rewritten
        wait_for(lambda: "name-service cache not rebuilt: No space left on device" in d.log_text()[mark:],
                 10, "the reason in the log")
        assert _mc_header(d)[1] == 1 and _mc_header(d)[0] == gen_before
        # readers ask the socket: the suspended user is gone, the other one still answers
        assert _getent(d, nsswitch, login) == (2, "")
        rc, out = _getent(d, nsswitch, other)
        assert rc == 0 and out.startswith(other + ":*:"), out
        time.sleep(3.5)  # three more failed rebuilds (cache_refresh = 1): still said once
        log = d.log_text()[mark:]
        assert log.count("name-service cache not rebuilt") == 1, log[-2000:]
        assert "previous files marked stale: lookups go to the socket" in log
        # room again: the next rebuild writes fresh files, said once too
        (mc / "filler").unlink()
        wait_for(lambda: _mc_fresh(d) and _mc_header(d)[0] != gen_before, 15, "a rebuilt cache")
        # said by the builder once the rebuild that published them returns: just after the files
        wait_for(lambda: "name-service cache written again after: No space left on device" in d.log_text()[mark:],
                 10, "the recovery in the log")
        assert _getent(d, nsswitch, login) == (2, "")
        assert _getent(d, nsswitch, other)[0] == 0
        # the cache alone answers again (no socket)
        sock, d.socket = d.socket, state / "no-such.sock"
        try:
            assert _getent(d, nsswitch, other)[0] == 0
        finally:
            d.socket = sock
    finally:
        d.stop()


def test_cache_dir_read_only_falls_back_to_the_socket_and_says_why_once(state, slapd, relay, tiny_tmpfs):
    """Row 8, read-only: a cache directory the daemon cannot write from the start (a read-only
    mount): no file is published, every lookup is answered by the socket, the log says why once."""
    nsswitch = state / "fault-nsswitch.conf"
    nsswitch.write_text("passwd: files medimail\ngroup: files medimail\nshadow: files\nhosts: files\n")
    mc = tiny_tmpfs("faultro", ro=True)
    d = Daemon(state, slapd, relay.port, name="faultro", extra=CONF + "cache_refresh = 1\n").start()
    try:
        login, _ = registered(d, relay)
        wait_for(lambda: "name-service cache not rebuilt: Read-only file system" in d.log_text(), 10, "the reason")
        assert list(mc.iterdir()) == []
        rc, out = _getent(d, nsswitch, login)
        assert rc == 0 and out.startswith(login + ":*:"), out
        assert d.ctl("suspend", login, "--reason", "test").returncode == 0
        assert _getent(d, nsswitch, login) == (2, "")
        time.sleep(3)
        assert d.log_text().count("name-service cache not rebuilt") == 1
    finally:
        d.stop()


# ---------------------------------------------------------------- row 9: the clock stepped

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


@pytest.fixture(scope="module")
def stepped(state, slapd, relay):
    """A daemon whose wall clock (time, CLOCK_REALTIME, not CLOCK_MONOTONIC: as a real clock
    step) is offset by what the test writes in a file, through libfaketime."""
    import os
    clock = state / "faultclock.offset"
    clock.write_text("+0\n")
    env = {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME_TIMESTAMP_FILE": str(clock), "FAKETIME_NO_CACHE": "1",
           "DONT_FAKE_MONOTONIC": "1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        d = Daemon(state, slapd, relay.port, name="faultclock",
                   extra=CONF + "otp_ttl = 600\nlockout_duration = 900\n").start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    d.clock = clock
    yield d
    d.stop()


def step(d, seconds):
    d.clock.write_text(f"{seconds:+d}\n")
    time.sleep(0.1)


@pytest.mark.parametrize("offset", [3600, -3600])
def test_clock_stepped_an_hour_code_expires_by_its_own_rule(stepped, relay, slapd, state, offset):
    """Row 9: "the clock stepped back or forward an hour → codes, locks and sessions expire by
    their own clock rules, none becomes eternal". A code mailed just before the step is refused
    after it, both ways: forward it is past its otp_ttl; back, it would otherwise live an hour
    more than otp_ttl. It is discarded, and a new code mailed under the new clock works."""
    login, mail = registered(stepped, relay)
    svc = PamService(state, stepped, f"medimail-faultclock{offset}")
    before = relay.count(mail)

    def code_then_step():
        code = relay.wait(mail, CODE_RE, before)
        step(stepped, offset)
        return code
    try:
        r = pamtester(svc, login, ["authenticate"], [(P_PASSWORD, PW), (P_CODE, code_then_step)])
        assert r.status != 0, r
        e = attrs_of(slapd, login)
        assert "mmLockedUntil" not in e and e.get("mmFailCount", ["0"]) == ["0"], e
        if offset > 0:
            # forward: the password step (shorter-lived than the code) is over first
            assert "Délai dépassé : recommencez la connexion." in r.output, r
            why = "password step expired"
            stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(time.time() + offset))
            assert "mmOtpHash" not in e or e["mmOtpExpires"][0][:14] < stamp, e
        else:
            assert "Code expiré : reconnectez-vous pour recevoir un nouveau code." in r.output, r
            assert "mmOtpHash" not in e, e
            why = "code expired (the clock stepped back)"
        assert re.search(rf'audit="otp-verify".*account="{re.escape(login)}" result="refused" reason="{re.escape(why)}"',
                         stepped.log_text()), stepped.log_text()[-1500:]
        before = relay.count(mail)
        r = pamtester(svc, login, ["authenticate"],
                      [(P_PASSWORD, PW), (P_CODE, lambda: relay.wait(mail, CODE_RE, before))])
        assert r.status == 0, r
    finally:
        step(stepped, 0)


def test_clock_stepped_an_hour_lock_is_not_eternal(stepped, relay, slapd, state):
    """A lock taken at t: the clock stepped back an hour keeps it (it errs on the safe side,
    for at most that hour); stepped forward past its lockout_duration it is over, and the
    right password and code log in."""
    login, mail = registered(stepped, relay)
    svc = PamService(state, stepped, "medimail-faultclock-lock")
    try:
        for _ in range(5):  # lockout_threshold
            r = pamtester(svc, login, ["authenticate"], [(P_PASSWORD, "Wrong#2024"), (P_CODE, "000000")])
            assert r.status != 0
        import calendar
        until_s = calendar.timegm(time.strptime(attrs_of(slapd, login)["mmLockedUntil"][0][:14], "%Y%m%d%H%M%S"))
        r = pamtester(svc, login, ["authenticate"], [(P_PASSWORD, PW), (P_CODE, "000000")])
        assert r.status != 0 and "Compte verrouillé après trop d'échecs" in r.output, r
        step(stepped, -3600)
        r = pamtester(svc, login, ["authenticate"], [(P_PASSWORD, PW), (P_CODE, "000000")])
        assert r.status != 0 and "Compte verrouillé après trop d'échecs" in r.output, r
        step(stepped, 3600)  # beyond lockout_duration (900 s): over
        before = relay.count(mail)
        r = pamtester(svc, login, ["authenticate"],
                      [(P_PASSWORD, PW), (P_CODE, lambda: relay.wait(mail, CODE_RE, before))])
        assert r.status == 0, r
        assert time.time() + 3600 > until_s and time.time() < until_s  # over by the step, not by time
    finally:
        step(stepped, 0)


# ---------------------------------------------------------------- row 4: a daemon killed mid-transaction

@pytest.fixture()
def pair(state, slapd, smtp):
    """Two daemons with HTTP listeners on the shared slapd, and a service allowed on both."""
    common = CONF + "http_rate = 2000\nhttp_rate_burst = 4000\nsession_cache_ttl = 1\nservice_cache_ttl = 1\n"
    ports = free_port(), free_port()
    ds = [Daemon(state, slapd, smtp.port, name=f"faultkill{i}", extra=f"http_listen = 127.0.0.1:{p}\n{common}")
          for i, p in enumerate(ports)]
    for d in ds:
        d.start()
    wait_for(lambda: all(_port_open(p) for p in ports), what="http listeners")
    name = f"faultsvc{free_port()}"
    r = ds[0].ctl("service", "add", name)
    assert r.returncode == 0, r.stdout
    secret = r.json["fields"]["secret"]
    svcs = [Api(f"http://127.0.0.1:{p}", name, secret) for p in ports]
    yield ds, svcs
    for d in ds:
        d.stop()


def _txns(slapd, login):
    from mmstack import SUFFIX
    dn = slapd.search(SUFFIX, f"(uid={login})")[0]["dn"]
    return slapd.search(f"ou=sessions,{SUFFIX}", f"(&(description=pam-txn)(mmSessionUser={dn}))", scope="one")


def _kill9(d):
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=10)


def _fresh(d, smtp):
    from apistack import register_active
    from pamstack import _unique_name
    sn = _unique_name().upper()
    mail = f"{sn.lower()}.kill@example.org"
    return register_active(d, smtp, "MED", med_fields(mail, sn, "Tuee"), mail), mail


def _password_step(svc, smtp, login, mail, pending=None):
    """The password step: its transaction and the code it mailed. pending: the code mailed by the
    step before, which a step within otp_resend_interval of it gives again instead of a new one."""
    before = len(smtp.messages(mail))
    r = svc.post("/v1/login/password", {"user": login, "password": PW})
    if pending and r.status == 200 and r.json["code_sent"] is False:
        assert "utilisez-le" in r.json["message"], r  # that code is still the account's
        return r.json["txn"], pending
    assert r.status == 200 and r.json["code_sent"] is True, r
    return r.json["txn"], smtp.wait_message(mail, CODE_RE, before).group(1)


def test_daemon_killed_mid_transaction_the_other_finishes_it(pair, smtp, slapd):
    """Row 4: "a daemon killed with kill -9 mid-transaction → the other daemon finishes it, or it
    fails cleanly": the password step on A, A killed, the code on B opens the session; the
    transaction record is then gone, the code spent (refused a second time, on either)."""
    (a, b), (sa, sb) = pair
    login, mail = _fresh(a, smtp)
    txn, code = _password_step(sa, smtp, login, mail)
    assert len(_txns(slapd, login)) == 1
    _kill9(a)
    r = sb.post("/v1/login/code", {"txn": txn, "code": code})
    assert r.status == 200, r
    assert r.json["account"] == login and r.json["session_token"]
    assert sb.post("/v1/introspect", {"token": r.json["session_token"]}).json["active"] is True
    assert _txns(slapd, login) == []
    assert "mmOtpHash" not in attrs_of(slapd, login)
    assert_error(sb.post("/v1/login/code", {"txn": txn, "code": code}), 401, "invalid_txn")


def test_daemon_killed_mid_transaction_leaves_no_orphan_past_its_expiry(pair, smtp, slapd):
    """Row 4, nobody finishes: the record A left is refused once expired, and the sweep (at the
    start of a daemon, then once an interval) removes it from the directory, with nothing else
    of the account touched (no lock, no failure counted)."""
    (a, b), (sa, sb) = pair
    login, mail = _fresh(a, smtp)
    txn, code = _password_step(sa, smtp, login, mail)
    _kill9(a)
    (t,) = _txns(slapd, login)
    # its expiry passes (moved into the past rather than waiting its TTL)
    from pamstack import ldap_modify
    ldap_modify(slapd, f"dn: {t['dn']}\nchangetype: modify\nreplace: mmSessionExpires\n"
                       f"mmSessionExpires: 20200101000000Z\n")
    assert len(_txns(slapd, login)) == 1  # still in the directory until someone sweeps
    a.start()  # a daemon starting sweeps ou=sessions at once
    wait_for(lambda: _txns(slapd, login) == [], 15, "the orphan transaction swept")
    assert_error(sb.post("/v1/login/code", {"txn": txn, "code": code}), 401, "invalid_txn")
    e = attrs_of(slapd, login)
    assert "mmLockedUntil" not in e and e.get("mmFailCount", ["0"]) == ["0"], e
    # and the account logs in normally on either daemon (with the code it was mailed, when the
    # sweep was quicker than otp_resend_interval)
    txn, code = _password_step(sa, smtp, login, mail, pending=code)
    assert sb.post("/v1/login/code", {"txn": txn, "code": code}).status == 200
    assert _txns(slapd, login) == []


# ---------------------------------------------------------------- row 6: the phone never answers

def _ecps_flows(slapd, login):
    from mmstack import SUFFIX
    dn = slapd.search(SUFFIX, f"(uid={login})")[0]["dn"]
    return slapd.search(f"ou=sessions,{SUFFIX}", f"(&(description=ecps)(mmSessionAccount={dn}))", scope="one")


@pytest.mark.parametrize("end", ["sigint", "timeout"])
def test_phone_never_answers_the_wait_ends_and_the_daemon_drops_the_request(api, state, slapd, end):
    """Row 6: "the phone never answers an e-CPS push → the wait ends at its timeout; Ctrl-C ends
    it at once" and the daemon forgets the pending request either way (an approval on the phone
    afterwards has nothing to open), audited as cancelled."""
    import sys
    import pexpect
    import pexpect.popen_spawn
    from pamstack import PAMCLIENT
    p_code = r"Code à vérifier dans l'application e-CPS : (\S+)"
    timeout = 30 if end == "sigint" else 2
    svc = PamService(state, api.a, name=f"fault-ecps-{end}", options=f"ecps ecps_timeout={timeout}")
    api.provider.control(ciba="expire", ciba_ttl=120)  # the phone stays silent
    before = len(_ecps_flows(slapd, api.per))
    mark = len(api.a.log_text())
    env = dict(svc.env(), PAMCLIENT_SIGINT="1")
    try:
        t0 = time.monotonic()
        child = pexpect.popen_spawn.PopenSpawn([sys.executable, str(PAMCLIENT), svc.name, api.per, "authenticate"],
                                               env=env, encoding="utf-8", timeout=20)
        child.expect(p_code)
        assert len(_ecps_flows(slapd, api.per)) == before + 1  # pending in the directory
        if end == "sigint":
            time.sleep(0.5)
            t0 = time.monotonic()
            child.kill(signal.SIGINT)
        child.expect(pexpect.EOF)
        took = time.monotonic() - t0
        out = child.before
        assert child.wait() == 1
        if end == "sigint":
            assert "ERROR: Connexion e-CPS annulée." in out and "RESULT authenticate 26" in out, out
            assert took < 5, took
        else:
            assert "ERROR: Pas de réponse de l'application e-CPS dans le délai : recommencez la connexion." in out, out
            assert "RESULT authenticate 7" in out, out
            assert 1.5 < took < 10, took
        assert len(_ecps_flows(slapd, api.per)) == before, "the pending request outlived the wait"
        log = api.a.log_text()[mark:]
        assert re.search(rf'audit="ecps" .*account="{re.escape(api.per)}" result="refused" '
                         r'reason="cancelled by the user"', log), log[-1500:]
    finally:
        api.provider.control(ciba="approve", ciba_ttl=120)


def _cancel(sock, rid, uid=None):
    """MM_REQ_ECPS_CANCEL on the wire, as root or (uid) as another unix user: (status, field)."""
    import subprocess
    import sys
    from pathlib import Path
    code = ("import mmwire,sys; r = mmwire.call(sys.argv[1], 0x0503, request_id=sys.argv[2], timeout=10); "
            "print(r.status, r.get('status'))")
    cmd = [sys.executable, "-c", code, str(sock), rid]
    if uid is not None:
        cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                         env={"PYTHONPATH": str(Path(__file__).parent), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    st, field = out.stdout.split()
    return int(st), field


def test_ecps_cancel_of_another_accounts_request_changes_nothing(api, state, slapd):
    """The cancel request under the poll's rule: a unix user who is not the account's cannot
    drop its pending request (answered unknown, the record stays); a malformed id is refused."""
    api.provider.control(ciba="expire", ciba_ttl=120)
    try:
        st = mmwire.call(api.a.socket, 0x0501, login=api.per, timeout=10)
        assert st.status == 0, st.message
        rid = st.get("request_id")
        n = len(_ecps_flows(slapd, api.per))
        assert _cancel(api.a.socket, rid, uid=65534) == (0, "unknown")
        assert len(_ecps_flows(slapd, api.per)) == n
        assert _cancel(api.a.socket, rid) == (0, "cancelled")
        assert len(_ecps_flows(slapd, api.per)) == n - 1
        assert _cancel(api.a.socket, rid) == (0, "unknown")
        assert _cancel(api.a.socket, "x" * 63 + "\n")[0] == -22
    finally:
        api.provider.control(ciba="approve", ciba_ttl=120)


# ---------------------------------------------------------------- row 3: a provider killed under load

G_SECONDS = float(os.environ.get("MM_FAULT_G_SECONDS", "15"))  # the figure is 60
G_RATE = float(os.environ.get("MM_FAULT_G_RATE", "20"))         # logins per second, both daemons
G_CONF = CONF.replace("otp_resend_interval = 1", "otp_resend_interval = 0") + """lockout_duration = 900
http_rate = 100000
http_rate_burst = 100000
ldap_timeout = 2
"""


@pytest.fixture(scope="module")
def providers2(state):
    """Two providers in multi-provider replication (docs/replication.md)."""
    from mmstack import SUFFIX, Slapd
    pa, pb = free_port(), free_port()
    common = {"MM_REPL_PW": os.urandom(12).hex(), "MM_AUTHD_PW": os.urandom(12).hex()}
    a = Slapd(state / "gprovA", pa, dict(common, MM_SERVER_ID="1", MM_SYNC_PEERS=f"ldap://127.0.0.1:{pb}/"))
    b = Slapd(state / "gprovB", pb, dict(common, MM_SERVER_ID="2", MM_SYNC_PEERS=f"ldap://127.0.0.1:{pa}/"))
    for s in (a, b):
        s.state.mkdir()
        s.start()
    try:
        wait_for(lambda: b.search(f"ou=people,{SUFFIX}", scope="base"), 15, "provider B to fill from A")
        yield a, b
    finally:
        for s in (a, b):
            s.stop()


def _slapd_kill9(s):
    pid = int((s.state / "slapd" / "slapd.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10, "slapd gone")


def _active(d, relay, sn):
    mail = f"{sn.lower()}.prov@example.org"
    before = relay.count(mail)
    r = d.ctl("register", "MED", "--password-stdin", *med_fields(mail, sn, "Charge"), input=PW + "\n")
    assert r.returncode == 0, r.stdout + r.stderr
    login = r.json["fields"]["login"]
    token = relay.wait(mail, r"jeton=([0-9a-f]{64})", before)
    assert d.ctl("confirm", "--token-stdin", input=token + "\n").returncode == 0
    assert d.ctl("validate", login).returncode == 0
    assert d.ctl("cgu", "accept", login).returncode == 0
    return login, mail


def _people(s, flt, attr="uid"):
    from mmstack import SUFFIX
    return {e[attr][0] for e in s.search(f"ou=people,{SUFFIX}", flt, attr) if attr in e}


def test_provider_killed_under_load_loses_nothing(state, providers2, relay):
    """Row 3: "one of two providers killed with kill -9 during 20 logins/s for 60 s → 0 writes
    lost when it returns (count them), no code accepted twice, no lockout lost". Two daemons,
    each on its own provider first and the other as failover (ldap_uri lists both); password +
    code logins through the HTTP API at a steady rate (MM_FAULT_G_RATE, MM_FAULT_G_SECONDS: 15 s
    here), registrations and accounts driven into lockout meanwhile; provider A is killed a third
    of the way in and restarted at two thirds. Once replication converged: every session opened
    exists on both providers and is active through both daemons, every registered account is on
    both, every code used is refused when replayed on the other daemon, every lock holds on
    both providers and both daemons."""
    import queue
    from mmstack import SUFFIX
    a, b = providers2
    key = state / "g-hash.key"
    key.write_text(os.urandom(32).hex())
    os.chmod(key, 0o600)
    ports = free_port(), free_port()
    ds = [Daemon(state, p, relay.port, name=f"gprov{i}", hash_key=key,
                 extra=f"ldap_uri = {p.ldap_url} {q.ldap_url}\nhttp_listen = 127.0.0.1:{port}\n{G_CONF}")
          for i, (p, q, port) in enumerate(((a, b, ports[0]), (b, a, ports[1])))]
    try:
        for d in ds:
            d.start()
        wait_for(lambda: all(_port_open(p) for p in ports), what="http listeners")
        r = ds[0].ctl("service", "add", f"gsvc{ports[0]}")
        assert r.returncode == 0, r.stdout
        svcs = [Api(f"http://127.0.0.1:{p}", f"gsvc{ports[0]}", r.json["fields"]["secret"]) for p in ports]
        wait_for(lambda: svcs[1].post("/v1/introspect", {"token": "0" * 64}).status == 200, 10,
                 "the service on provider B")
        from pamstack import _unique_name
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            users = list(ex.map(lambda i: _active(ds[0], relay, _unique_name().upper()), range(24)))
            lockers = list(ex.map(lambda i: _active(ds[0], relay, _unique_name().upper()), range(6)))
        idle = queue.Queue()
        for u in users:
            idle.put(u)
        lock = threading.Lock()
        sessions, used, errors, registered, locked = [], [], [], [], []

        def err(kind, started):
            with lock:
                errors.append((started - t0, time.monotonic() - t0, kind))

        def login(i):
            user, mail = idle.get()
            started = time.monotonic()
            try:
                k = i % 2
                before = relay.count(mail)
                r = svcs[k].post("/v1/login/password", {"user": user, "password": PW})
                if r.status != 200:
                    return err(f"password {r.status} {(r.json or {}).get('error')}", started)
                code = relay.wait(mail, CODE_RE, before)
                c = svcs[k].post("/v1/login/code", {"txn": r.json["txn"], "code": code})
                if c.status != 200:
                    return err(f"code {c.status} {(c.json or {}).get('error')}", started)
                with lock:
                    sessions.append((user, c.json["session_token"]))
                    used.append((k, r.json["txn"], code))
            except Exception as e:  # noqa: BLE001 - counted, the test fails on it below
                err(f"{type(e).__name__}", started)
            finally:
                idle.put((user, mail))

        def register(i):
            sn = _unique_name().upper()
            started = time.monotonic()
            r = ds[i % 2].ctl("register", "MED", "--password-stdin",
                              *med_fields(f"{sn.lower()}.g@example.org", sn, "Pendant"), input=PW + "\n")
            if r.returncode != 0:
                return err(f"register {r.stdout.strip()[:80]}", started)
            with lock:
                registered.append(r.json["fields"]["login"])

        def lockout(i):
            user, _ = lockers[i]
            for j in range(10):  # lockout_threshold is 5: a try lost at the kill is made again
                started = time.monotonic()
                try:
                    st = svcs[(i + j) % 2].post("/v1/login/password", {"user": user, "password": f"Wrong#{j}x"}).status
                except OSError as e:
                    err(f"lockout {type(e).__name__}", started)
                    continue
                if st == 423:
                    with lock:
                        locked.append(user)
                    return
                if st != 401:
                    err(f"lockout {st}", started)

        n = int(G_SECONDS * G_RATE)
        t0 = time.monotonic()
        killed = back = None
        with concurrent.futures.ThreadPoolExecutor(24) as ex:
            futs = []
            for i in range(n):
                wait = t0 + i / G_RATE - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                el = time.monotonic() - t0
                if killed is None and el >= G_SECONDS / 3:
                    _slapd_kill9(a)
                    killed = el
                if back is None and el >= 2 * G_SECONDS / 3:
                    a.start()
                    back = el
                futs.append(ex.submit(login, i))
                if i % int(G_RATE) == 0:
                    futs.append(ex.submit(register, i))
                if i % int(G_RATE * G_SECONDS / len(lockers)) == 0 and i // int(G_RATE * G_SECONDS / len(lockers)) < len(lockers):
                    futs.append(ex.submit(lockout, i // int(G_RATE * G_SECONDS / len(lockers))))
            for f in futs:
                f.result()
        took = time.monotonic() - t0
        print(f"{n} logins in {took:.1f} s ({n / took:.1f}/s), provider A killed at {killed:.1f} s, back at "
              f"{back:.1f} s; {len(sessions)} sessions, {len(registered)} registered, {len(locked)} locked, "
              f"errors {errors}")
        assert took < G_SECONDS * 4 + 30, "the load hung"  # the rate is the machine's: 2 shared cores
        # the daemon whose provider died failed over. Only requests around the kill may fail
        # (docs/faults.md, open: a 500 from an operation cut mid-way; a code step on the failover
        # provider for a transaction A had not replicated yet): each started at most ldap_timeout (2 s) after
        # the kill and ended within two ldap_timeout of it, or the same around A's return (open
        # too: the counters' increment cut when the daemon's connection went back to A, seen once
        # 0.4 s after the restart, "right secret; failures not reset"); everything else passed.
        late = [e for e in errors if not ((e[0] <= killed + 2 and e[1] <= killed + 2 * 2 + 1) or
                                          (back - 2 <= e[0] <= back + 2 and e[1] <= back + 2 * 2 + 1))]
        assert late == [] and len(errors) <= 24, errors
        assert len(sessions) + sum(1 for e in errors if not e[2].startswith(("register", "lockout"))) == n
        assert len(locked) == len(lockers)

        # replication converges: every write exists on both providers
        def sessions_on(s):
            return len(s.search(f"ou=sessions,{SUFFIX}", "(&(objectClass=mmSession)(description=session))",
                                "mmSessionId", scope="one"))
        regs = set(registered)
        wait_for(lambda: regs <= _people(a, "(uid=*)") and regs <= _people(b, "(uid=*)"), 30,
                 "the accounts registered during the run on both providers")
        wait_for(lambda: sessions_on(a) == sessions_on(b) >= len(sessions), 30, "the sessions on both providers")
        for user, _ in lockers:
            wait_for(lambda: "mmLockedUntil" in (a.search(f"ou=people,{SUFFIX}", f"(uid={user})")[0])
                     and "mmLockedUntil" in (b.search(f"ou=people,{SUFFIX}", f"(uid={user})")[0]), 30,
                     f"the lock of {user} on both providers")
        lost = [t for _, t in sessions for svc in svcs
                if svc.post("/v1/introspect", {"token": t}).json.get("active") is not True]
        assert lost == [], f"{len(lost)} sessions lost"
        # no code accepted twice: each used code replayed on the other daemon
        replays = [svcs[1 - k].post("/v1/login/code", {"txn": txn, "code": code}).status for k, txn, code in used]
        assert replays and all(st == 401 for st in replays), set(replays)
        # no lockout lost: the right password refused on both daemons
        for user, _ in lockers:
            for svc in svcs:
                r = svc.post("/v1/login/password", {"user": user, "password": PW})
                assert r.status == 423, (user, r)
        for d in ds:
            assert d.proc.poll() is None
    finally:
        for d in ds:
            d.stop()
        a.start()


def test_idle_connections_to_a_killed_provider_are_not_used_for_a_write(state, providers2, relay):
    """A daemon reading provider B and counting login attempts on provider A (ldap_lockout_uri),
    every pooled connection to A opened, A killed with kill -9, then password steps at once: each
    must pass, counted on B. The step reserves its try with an increment (op_increment), which is
    not retried once sent, since it may have been applied; but an idle connection whose server
    went away is known as such before anything is sent on it (the end of its stream is
    readable), so the pool drops it and tries to connect again: A is down, and the try is
    counted on the daemon's own provider, instead of going into a dead socket and the step
    answering 500 "internal" (docs/faults.md)."""
    a, b = providers2
    key = state / "h-hash.key"
    key.write_text(os.urandom(32).hex())
    os.chmod(key, 0o600)
    port = free_port()
    d = Daemon(state, b, relay.port, name="hprov", hash_key=key, extra=(
        f"ldap_uri = {b.ldap_url}\nldap_lockout_uri = {a.ldap_url}\nhttp_listen = 127.0.0.1:{port}\n"
        f"ldap_pool = 4\n{G_CONF}"))
    try:
        d.start()
        wait_for(lambda: _port_open(port), what="the http listener")
        r = d.ctl("service", "add", f"hsvc{port}")
        assert r.returncode == 0, r.stdout
        svc = Api(f"http://127.0.0.1:{port}", f"hsvc{port}", r.json["fields"]["secret"])
        from pamstack import _unique_name
        users = [_active(d, relay, _unique_name().upper()) for _ in range(8)]
        wait_for(lambda: {u for u, _ in users} <= _people(a, "(uid=*)"), 30, "the accounts on provider A")

        def steps():
            with concurrent.futures.ThreadPoolExecutor(len(users)) as ex:
                return list(ex.map(lambda u: svc.post("/v1/login/password", {"user": u[0], "password": PW}),
                                   users))
        out = steps()  # the counters' connections opened, to A
        assert [o.status for o in out] == [200] * len(users), [(o.status, o.json) for o in out]
        _slapd_kill9(a)
        time.sleep(0.5)  # the end of each idle connection's stream has reached the daemon
        for _ in range(3):
            out = steps()
            assert [o.status for o in out] == [200] * len(users), [(o.status, o.json) for o in out]
        assert "lockout provider: " in d.log.read_text(), "counted on the local provider, and said so"
        assert d.proc.poll() is None
    finally:
        d.stop()
        a.start()
