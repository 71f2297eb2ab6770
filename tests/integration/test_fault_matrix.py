"""The fault matrix of issue 18, one test per row (rows not yet here are listed in
docs/faults.md): the fault is injected while logins run, and each test checks the
user's message, the PAM or wire result, and what is left in the directory."""
import concurrent.futures
import email
import email.policy
import re
import signal
import threading
import time

import pytest
from aiosmtpd.controller import Controller

import mmwire
from mmstack import Daemon, free_port, med_fields, wait_for
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
