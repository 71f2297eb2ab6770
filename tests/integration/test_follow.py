"""Changes seen on every daemon at once, through the directory itself (issue 17, item 2): each
daemon follows ou=sessions and the accounts by LDAP Content Synchronization (RFC 4533
refreshAndPersist, slapd's syncprov), so that a session revoked, or an account disabled, through
one daemon is refused by the other long before its verified-token cache would expire
(session_cache_ttl = 60 s here, its maximum). Without syncprov the daemons say so once and keep their timers."""
import subprocess
import time

import pytest

from apistack import Api, register_active
from mmstack import SUFFIX, Daemon, Slapd, _port_open, free_port, med_fields, wait_for
from test_api_login import password_step

TTL = 60  # the longest allowed, far longer than any wait below: an answer that changes came from the follow


def ldap_modify(slapd, ldif):
    subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url], input=ldif, text=True,
                   check=True, capture_output=True)


class Pair:
    """Two daemons on one directory, each with an HTTP API and a long session cache."""

    def __init__(self, state, slapd, smtp, name):
        self.ports = free_port(), free_port()
        common = f"session_cache_ttl = {TTL}\nservice_cache_ttl = 1\nhttp_rate = 2000\nhttp_rate_burst = 4000\n"
        self.a = Daemon(state, slapd, smtp.port, name=f"{name}-a",
                        extra=f"http_listen = 127.0.0.1:{self.ports[0]}\n{common}").start()
        self.b = Daemon(state, slapd, smtp.port, name=f"{name}-b",
                        extra=f"http_listen = 127.0.0.1:{self.ports[1]}\n{common}").start()
        wait_for(lambda: all(_port_open(p) for p in self.ports), what="http listeners")
        r = self.a.ctl("service", "add", f"follow-{name}")
        assert r.returncode == 0, r.stdout
        secret = r.json["fields"]["secret"]
        self.svc_a = Api(f"http://127.0.0.1:{self.ports[0]}", f"follow-{name}", secret)
        self.svc_b = Api(f"http://127.0.0.1:{self.ports[1]}", f"follow-{name}", secret)

    def stop(self):
        self.a.stop()
        self.b.stop()


@pytest.fixture(scope="module")
def pair(state, slapd, smtp):
    p = Pair(state, slapd, smtp, "follow")
    for d in (p.a, p.b):  # each base says so at its own refreshDone, in no fixed order
        wait_for(lambda d=d: all(f"following {base}," in d.log_text()
                                 for base in ("ou=sessions", "ou=people", "ou=orgs")), 15, "the follow of each base")
    yield p
    p.stop()


_names = iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def session(pair, smtp):
    """A fresh account's API session, opened on daemon A, verified (and cached) on daemon B."""
    letter = next(_names)
    mail = f"follow.{letter.lower()}@example.org"
    login = register_active(pair.a, smtp, "MED", med_fields(mail, "FOLLOW" + letter, "Nina"), mail)
    txn, code = password_step(pair.svc_a, smtp, login, mail)
    r = pair.svc_a.post("/v1/login/code", {"txn": txn, "code": code})
    assert r.status == 200, r
    token = r.json["session_token"]
    assert pair.svc_b.post("/v1/introspect", {"token": token}).json["active"] is True
    return login, token


def active_on_b(pair, token):
    return pair.svc_b.post("/v1/introspect", {"token": token}).json["active"]


def test_both_daemons_follow_the_directory(pair):
    for d in (pair.a, pair.b):
        log = d.log_text()
        for base in ("ou=sessions", "ou=people", "ou=orgs"):
            assert f"following {base},{SUFFIX} by content synchronization" in log, log[-2000:]
        assert "refuses content synchronization" not in log


def test_a_logout_on_one_daemon_is_refused_at_once_on_the_other(pair, smtp):
    login, token = session(pair, smtp)
    # cached on B: the same answer again, from memory
    assert active_on_b(pair, token) is True
    assert pair.svc_a.post("/v1/logout", {"token": token}).json == {"revoked": True}
    t0 = time.monotonic()
    wait_for(lambda: active_on_b(pair, token) is False, 10, "the revocation on the other daemon")
    assert time.monotonic() - t0 < TTL / 10
    # and it stays refused (no stale copy comes back from a read under way)
    for _ in range(5):
        assert active_on_b(pair, token) is False


def test_an_account_disabled_in_the_directory_ends_its_sessions_on_every_daemon(pair, smtp, slapd):
    """The change made by another daemon, or by an operator with ldapmodify: B's cached
    verification of the session is dropped when the account's entry changes."""
    login, token = session(pair, smtp)
    dn = f"uid={login},ou=people,{SUFFIX}"
    ldap_modify(slapd, f"dn: {dn}\nchangetype: modify\nreplace: mmStatus\nmmStatus: suspended\n")
    wait_for(lambda: active_on_b(pair, token) is False, 10, "the disabled account on the other daemon")
    assert pair.svc_a.post("/v1/introspect", {"token": token}).json["active"] is False


def test_another_accounts_change_leaves_a_session_cached(pair, smtp, slapd):
    """Only the sessions of the account whose entry changed are verified again."""
    login, token = session(pair, smtp)
    other, other_token = session(pair, smtp)
    ldap_modify(slapd, f"dn: uid={other},ou=people,{SUFFIX}\nchangetype: modify\nreplace: mmStatus\n"
                       "mmStatus: suspended\n")
    wait_for(lambda: active_on_b(pair, other_token) is False, 10, "the other account's session")
    assert active_on_b(pair, token) is True


def test_a_forged_session_name_in_the_directory_changes_nothing(pair, smtp, slapd):
    """Entries under ou=sessions that are not of the daemon's shape (another RDN, an id that
    is not hex) are followed without harm: the daemon keeps serving."""
    login, token = session(pair, smtp)
    for rdn in ("cn=not-a-session", "mmSessionId=ZZZ"):
        r = subprocess.run(["ldapadd", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url],
                           input=f"dn: {rdn},ou=sessions,{SUFFIX}\nobjectClass: organizationalRole\n"
                                 f"cn: x\n", text=True, capture_output=True)
        # the schema may refuse the entry; either way the daemons carry on
        assert r.returncode in (0, 65, 21), r.stderr
        subprocess.run(["ldapdelete", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url,
                        f"{rdn},ou=sessions,{SUFFIX}"], capture_output=True)
    assert active_on_b(pair, token) is True
    assert pair.b.proc.poll() is None and pair.a.proc.poll() is None


def test_the_follow_comes_back_after_slapd_restarts(pair, smtp, slapd):
    slapd.stop()
    slapd.start()
    for d in (pair.a, pair.b):
        wait_for(lambda d=d: d.log_text().count(f"following ou=sessions,{SUFFIX} by content") >= 2, 40, "the follow again")
    login, token = session(pair, smtp)
    assert pair.svc_a.post("/v1/logout", {"token": token}).json == {"revoked": True}
    wait_for(lambda: active_on_b(pair, token) is False, 10, "the revocation after the restart")


def test_without_syncprov_the_daemon_says_so_once_and_serves(tmp_path_factory, smtp):
    state = tmp_path_factory.mktemp("nosync")
    s = Slapd(state, env={"MM_SYNCPROV": "no"}).start()
    d = Daemon(state, s, smtp.port, name="nosync").start()
    try:
        wait_for(lambda: "refuses content synchronization" in d.log_text(), 15, "the refusal logged")
        time.sleep(2)
        log = d.log_text()
        assert log.count("refuses content synchronization") == 1, log  # said once, not in a loop
        assert "slapd needs the syncprov overlay" in log
        mail = "follow.nosync@example.org"
        login = register_active(d, smtp, "MED", med_fields(mail, "NOSYNC", "Noa"), mail)
        assert s.search(SUFFIX, f"(uid={login})", "mmStatus")[0]["mmStatus"] == ["active"]
    finally:
        d.stop()
        s.stop()
