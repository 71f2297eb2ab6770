"""Two slapd providers in multi-provider replication (scripts/slapd.sh with
MM_SERVER_ID / MM_SYNC_PEERS), one medimail-authd on each, sharing one hash
key: what one daemon writes, the other sees and acts on; a daemon whose
ldap_uri lists both providers keeps working when one is killed, and nothing
written meanwhile is lost when it returns; a one-time code mailed through
one daemon verifies once on the other and a lockout earned on one holds on
the other (the wire protocol of pam_medimail, tests/integration/mmwire.py).
See docs/replication.md."""
import os
import subprocess
import time

import pytest

import mmwire
from mmstack import SUFFIX, Daemon, Slapd, free_port, med_fields, wait_for

PW = "Repli#2024x"


@pytest.fixture(scope="module")
def providers(state):
    pa, pb = free_port(), free_port()
    common = {"MM_REPL_PW": os.urandom(12).hex(), "MM_AUTHD_PW": os.urandom(12).hex(), "MM_USER_BINDS": "yes"}
    a = Slapd(state / "provA", pa, dict(common, MM_SERVER_ID="1", MM_SYNC_PEERS=f"ldap://127.0.0.1:{pb}/"))
    b = Slapd(state / "provB", pb, dict(common, MM_SERVER_ID="2", MM_SYNC_PEERS=f"ldap://127.0.0.1:{pa}/"))
    for s in (a, b):
        s.state.mkdir()
    a.start()
    b.start()
    try:
        wait_for(lambda: b.search(f"ou=people,{SUFFIX}", scope="base"), 15, "provider B to fill from A")
        yield a, b
    finally:
        for s in (a, b):
            s.stop()


@pytest.fixture(scope="module")
def pair(state, providers, smtp):
    a, b = providers
    key = state / "repl-hash.key"
    key.write_text(os.urandom(32).hex())
    os.chmod(key, 0o600)
    da = Daemon(state, a, smtp.port, name="replA", hash_key=key).start()
    db = Daemon(state, b, smtp.port, name="replB", hash_key=key).start()
    yield da, db
    da.stop()
    db.stop()


LOGIN_CONF = """fail_delay_ms = 100
lockout_threshold = 3
lockout_duration = 120
rate_per_source = 1000000
rate_per_account = 100000
otp_resend_interval = 30
"""
ESTALE, EACCES, ENOLCK = -116, -13, -37


@pytest.fixture(scope="module")
def login_pair(state, providers, smtp, pair):
    """Daemons for PAM requests, one on each provider (lockout after 3 failures), both counting
    failures on provider A (ldap_lockout_uri)."""
    a, b = providers
    conf = LOGIN_CONF + f"ldap_lockout_uri = {a.ldap_url}\n"
    da = Daemon(state, a, smtp.port, name="replLA", hash_key=pair[0].key, extra=conf).start()
    db = Daemon(state, b, smtp.port, name="replLB", hash_key=pair[0].key, extra=conf).start()
    yield da, db
    da.stop()
    db.stop()


def on(slapd, login):
    return slapd.search(f"ou=people,{SUFFIX}", f"(uid={login})")


def register_med(d, mail, sn, given):
    r = d.ctl("register", "MED", "--password-stdin", *med_fields(mail, sn, given), input=PW + "\n")
    assert r.returncode == 0, r.stdout + r.stderr
    return r.json["fields"]["login"]


def test_providers_replicate_everything_both_ways(providers):
    a, b = providers
    for s, other in ((a, b), (b, a)):
        ou = f"ou=probe{s.port},{SUFFIX}"
        subprocess.run(["ldapadd", "-Q", "-Y", "EXTERNAL", "-H", s.ldapi_url], check=True, capture_output=True,
                       input=f"dn: {ou}\nobjectClass: organizationalUnit\nou: probe{s.port}\n", text=True)
        wait_for(lambda: other.search(ou, scope="base"), 10, f"{ou} on the other provider")
    # the replicator sees the secret attributes that the daemon alone may read
    assert b.search(f"cn=replicator,ou=system,{SUFFIX}", scope="base")


def test_registered_on_a_confirmed_validated_and_bound_on_b(pair, providers, smtp):
    da, db = pair
    a, b = providers
    login = register_med(da, "rep.one@example.org", "UNO", "Repa")
    wait_for(lambda: on(b, login), 10, "the account on provider B")
    # the secret (confirmation hash) replicated too: B's daemon confirms A's link
    token = smtp.token("rep.one@example.org")
    c = db.ctl("confirm", "--token-stdin", input=token + "\n")
    assert c.returncode == 0 and c.json["fields"]["status"] == "pending-validation", c.stdout
    # ... and the link cannot be used again on A once B's write reached A
    wait_for(lambda: on(a, login)[0]["mmStatus"] == ["pending-validation"], 10, "confirmation on A")
    again = da.ctl("confirm", "--token-stdin", input=token + "\n")
    assert again.returncode == 1 and again.json["status"] < 0
    v = db.ctl("validate", login)
    assert v.returncode == 0, v.stdout
    wait_for(lambda: on(a, login)[0]["mmStatus"] == ["active"], 10, "validation on A")
    dn = f"uid={login},ou=people,{SUFFIX}"
    for s in (a, b):
        ok = subprocess.run(["ldapwhoami", "-x", "-H", s.ldap_url, "-D", dn, "-w", PW], capture_output=True, text=True)
        assert ok.returncode == 0 and dn in ok.stdout, ok.stderr
        bad = subprocess.run(["ldapwhoami", "-x", "-H", s.ldap_url, "-D", dn, "-w", PW + "x"], capture_output=True)
        assert bad.returncode == 49
    shown = da.ctl("show", login)
    assert shown.json["fields"]["status"] == "active"


def test_duplicate_across_daemons_refused(pair, providers):
    da, db = pair
    a, b = providers
    login = register_med(da, "rep.two@example.org", "DEUX", "Repb")
    wait_for(lambda: on(b, login), 10, "the account on provider B")
    r = db.ctl("register", "MED", "--password-stdin", *med_fields("rep.two@example.org", "DEUX", "Repb"),
               input=PW + "\n")
    assert r.returncode == 1 and r.json["fields"]["rule"] == "duplicate"


def _letters(i):
    s = ""
    for _ in range(3):
        s = "abcdefghijklmnopqrstuvwxyz"[i % 26] + s
        i //= 26
    return s


def test_failover_when_a_provider_dies_and_nothing_lost(state, pair, providers, smtp):
    a, b = providers
    # a daemon that knows both providers, A first
    dc = Daemon(state, a, smtp.port, name="replC", hash_key=pair[0].key,
                extra=f"ldap_uri = {a.ldap_url} {b.ldap_url}\nldap_timeout = 2").start()
    logins = []
    try:
        for i in range(24):
            if i == 8:
                a.stop()                       # provider A killed mid-traffic
            logins.append(register_med(dc, f"fo.{_letters(i)}@example.org", "PANNE", "Fo" + _letters(i)))
        # everything written so far is on B (those before the kill replicated, the rest written there)
        for login in logins:
            wait_for(lambda: on(b, login), 10, f"{login} on B")
        a.start()                              # A returns and catches up
        for login in logins:
            wait_for(lambda: on(a, login), 20, f"{login} on A after it rejoined")
        # and a write after A's return is on both (the daemon may still be writing to B: its
        # pooled connections do not go back to A; either way it replicates to the other)
        last = register_med(dc, "fo.after@example.org", "APRES", "Foapres")
        wait_for(lambda: on(b, last) and on(a, last), 20, "post-return account on both providers")
        assert len({e["dn"] for e in a.search(f"ou=people,{SUFFIX}", "(uid=fo*)", "dn")}) == len(logins) + 1
        assert len({e["dn"] for e in b.search(f"ou=people,{SUFFIX}", "(uid=fo*)", "dn")}) == len(logins) + 1
    finally:
        dc.stop()
        a.start()


def _active_on_both(da, providers, smtp, mail, sn, given):
    """An account registered, confirmed and validated through daemon A, active on provider B."""
    a, b = providers
    login = register_med(da, mail, sn, given)
    assert da.ctl("confirm", "--token-stdin", input=smtp.token(mail) + "\n").returncode == 0
    assert da.ctl("validate", login).returncode == 0
    wait_for(lambda: on(b, login) and on(b, login)[0]["mmStatus"] == ["active"], 10, "the active account on B")
    return login


def _codes(smtp, mail):
    import re
    return [re.search(r"Ce code est le : (\d{6})", smtp.body(m)).group(1) for m in smtp.messages(mail)
            if re.search(r"Ce code est le : (\d{6})", smtp.body(m))]


def test_code_mailed_by_a_verifies_on_b_and_not_again_on_a(login_pair, providers, smtp):
    la, lb = login_pair
    a, b = providers
    mail = "rep.otp@example.org"
    login = _active_on_both(la, providers, smtp, mail, "CODE", "Repc")
    # password and code request on daemon A (provider A)
    t = mmwire.call(la.socket, mmwire.AUTH_PASSWORD, user=login, password=PW, service="test")
    assert t.status == 0, t
    s = mmwire.call(la.socket, mmwire.OTP_SEND, user=login, txn=t.get("txn"))
    assert s.status == 0, s
    wait_for(lambda: _codes(smtp, mail), 15, "the one-time code mail")
    code = _codes(smtp, mail)[-1]
    # the code's keyed hash reaches provider B; daemon B verifies it within A's transaction
    wait_for(lambda: "mmOtpHash" in on(b, login)[0], 10, "the code on provider B")
    v = mmwire.call(lb.socket, mmwire.OTP_VERIFY, user=login, txn=t.get("txn"), code=code)
    assert v.status == 0, v
    # the use replicates back to A: gone there too
    wait_for(lambda: "mmOtpHash" not in on(a, login)[0], 10, "the used code withdrawn on provider A")
    for d in (la, lb):
        fresh = mmwire.call(d.socket, mmwire.AUTH_PASSWORD, user=login, password=PW)
        assert fresh.status == 0, fresh
        again = mmwire.call(d.socket, mmwire.OTP_VERIFY, user=login, txn=fresh.get("txn"), code=code)
        assert again.status == ESTALE, (d.name, again)
    # and A's own transaction, finished on B, does not accept it a second time
    old = mmwire.call(la.socket, mmwire.OTP_VERIFY, user=login, txn=t.get("txn"), code=code)
    assert old.status == EACCES, old
    assert len(_codes(smtp, mail)) == 1


def test_lockout_earned_on_a_holds_on_b(login_pair, providers, smtp):
    la, lb = login_pair
    a, b = providers
    mail = "rep.lock@example.org"
    login = _active_on_both(la, providers, smtp, mail, "VERROU", "Repv")
    statuses = [mmwire.call(la.socket, mmwire.AUTH_PASSWORD, user=login, password=f"Wrong#{i}x").status
                for i in range(3)]
    assert all(st < 0 for st in statuses), statuses
    assert "mmLockedUntil" in on(a, login)[0]
    wait_for(lambda: "mmLockedUntil" in on(b, login)[0], 10, "the lock on provider B")
    # the right password is refused on both daemons, B included, and no code is mailed
    for d in (lb, la):
        r = mmwire.call(d.socket, mmwire.AUTH_PASSWORD, user=login, password=PW)
        assert r.status == ENOLCK, (d.name, r)
        assert int(r.get("locked_until")) > time.time() + 60
    assert _codes(smtp, mail) == []
    # failures counted through both daemons add up: a fresh account, two failures on A, one on B
    mail2 = "rep.lock2@example.org"
    login2 = _active_on_both(la, providers, smtp, mail2, "VERROUB", "Repw")
    for _ in range(2):
        assert mmwire.call(la.socket, mmwire.AUTH_PASSWORD, user=login2, password="Wrong#ab1").status < 0
    wait_for(lambda: on(b, login2)[0].get("mmFailCount") == ["2"], 10, "the failure count on provider B")
    assert mmwire.call(lb.socket, mmwire.AUTH_PASSWORD, user=login2, password="Wrong#ab1").status < 0
    wait_for(lambda: "mmLockedUntil" in on(a, login2)[0], 10, "B's lock on provider A")
    r = mmwire.call(la.socket, mmwire.AUTH_PASSWORD, user=login2, password=PW)
    assert r.status == ENOLCK, r


def test_parallel_wrong_passwords_on_two_providers_verify_at_most_threshold_plus_one(login_pair, providers, smtp):
    """50 wrong passwords at once, half through each daemon on its own provider: the attempt is
    reserved on the provider before it is verified, so replication lag buys at most one more."""
    import concurrent.futures
    import re
    la, lb = login_pair
    mail = "rep.race@example.org"
    login = _active_on_both(la, providers, smtp, mail, "COURSE", "Repr")

    def one(i):
        d = (la, lb)[i % 2]
        return mmwire.call(d.socket, mmwire.AUTH_PASSWORD, user=login, password=f"Wrong#{i}x").status
    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as ex:
        statuses = list(ex.map(one, range(50)))
    assert all(st in (EACCES, ENOLCK) for st in statuses), statuses
    verified = sum(len(re.findall(rf'audit="auth".*account="{re.escape(login)}".*reason="bad password',
                                  d.log_text())) for d in (la, lb))
    print(f"{verified} verifications out of 50 on two providers (threshold 3)")
    assert 1 <= verified <= 3 + 1
    for d in (la, lb):
        assert mmwire.call(d.socket, mmwire.AUTH_PASSWORD, user=login, password=PW).status == ENOLCK
