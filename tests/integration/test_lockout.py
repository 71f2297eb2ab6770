"""The lockout against guessing: every attempt is reserved in the directory before it is evaluated
(passwords, one-time codes, the ORG member proof), one lock for logins and LDAP simple binds, and
offline-login failures that survive restarts and never share a slot."""
import concurrent.futures
import ctypes
import ctypes.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import mmwire
from mmstack import NOBODY, SUFFIX, Daemon, org_fields
from pamstack import P_PASSWORD, PW, Codes, PamService, ldap_modify, pamtester, register_med

HERE = Path(__file__).parent
THRESHOLD = 5
CONF = f"""fail_delay_ms = 50
lockout_threshold = {THRESHOLD}
lockout_duration = 600
otp_max_tries = 5
otp_resend_interval = 0
rate_per_source = 1000000
rate_per_account = 1000000
max_clients = 512
"""
EACCES, ENOLCK, EHOSTDOWN, ESTALE = -13, -37, -112, -116
WRONG = "Wrong#pass1"
N = 50


@pytest.fixture(scope="module")
def ld(state, slapd, smtp, authd):
    d = Daemon(state, slapd, smtp.port, name="lockd", extra=CONF).start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def codes(smtp):
    return Codes(smtp)


def audit_count(daemon, event, login, reason_re):
    return len(re.findall(rf'audit="{event}".*account="{re.escape(login)}".*reason="{reason_re}',
                          daemon.log_text()))


def interactive_hash(slapd, login, password=PW, cost="interactive"):
    """Gives the account a verifier of libsodium's interactive cost (64 MiB): the argon2 queue of a
    real deployment, where every waiting guess had read the failure count before its turn."""
    lib = ctypes.CDLL(ctypes.util.find_library("sodium"))
    assert lib.sodium_init() >= 0
    ops, mem = getattr(lib, f"crypto_pwhash_opslimit_{cost}"), getattr(lib, f"crypto_pwhash_memlimit_{cost}")
    ops.restype = mem.restype = ctypes.c_size_t
    out, pw = ctypes.create_string_buffer(128), password.encode()
    assert lib.crypto_pwhash_str(out, pw, ctypes.c_ulonglong(len(pw)), ctypes.c_ulonglong(ops()),
                                 ctypes.c_size_t(mem())) == 0
    ldap_modify(slapd, f"dn: uid={login},ou=people,{SUFFIX}\nchangetype: modify\nreplace: userPassword\n"
                       f"userPassword: {{ARGON2}}{out.value.decode()}\n")


def in_parallel(fn, items):
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(items)) as ex:
        return list(ex.map(fn, items))


# ---------------------------------------------------------------- reserved attempts

def test_parallel_wrong_passwords_verify_at_most_threshold(ld, authd, smtp, slapd):
    """50 PAM logins with a wrong password at once: at most lockout_threshold verifications."""
    login, _ = register_med(authd, smtp)
    interactive_hash(slapd, login)
    svc = PamService(ld.state, ld, "medimail-lockout")
    results = in_parallel(lambda _: pamtester(svc, login, ["authenticate"], [(P_PASSWORD, WRONG)],
                                              timeout=120, namespace=True), range(N))
    assert all(r.status != 0 for r in results)
    # the guesses refused unevaluated say the account is locked, with its end once it is known
    assert sum("Compte verrouillé après trop d'échecs" in r.output for r in results) >= N - THRESHOLD
    assert not any("jusqu'au ?" in r.output for r in results)
    verified = audit_count(ld, "auth", login, "bad password")
    print(f"{verified} password verifications out of {N} parallel guesses (threshold {THRESHOLD})")
    assert 1 <= verified <= THRESHOLD
    # ... and the account is locked: the right password is refused
    r = mmwire.call(ld.socket, mmwire.AUTH_PASSWORD, user=login, password=PW)
    assert r.status == ENOLCK, r


def test_parallel_wrong_codes_compare_at_most_otp_max_tries(ld, authd, smtp, codes):
    """50 wrong one-time codes at once for one pending code: at most otp_max_tries compared."""
    login, mail = register_med(authd, smtp)
    t = mmwire.call(ld.socket, mmwire.AUTH_PASSWORD, user=login, password=PW)
    assert t.status == 0, t
    txn = t.get("txn")
    before = codes.count(mail)
    assert mmwire.call(ld.socket, mmwire.OTP_SEND, user=login, txn=txn).status == 0
    code = codes.wait_new(mail, before)
    wrong = [f"{(int(code) + 1 + i) % 1000000:06d}" for i in range(N)]
    results = in_parallel(lambda c: mmwire.call(ld.socket, mmwire.OTP_VERIFY, user=login, txn=txn, code=c).status,
                          wrong)
    assert 0 not in results
    compared = audit_count(ld, "otp-verify", login, "wrong code")
    print(f"{compared} one-time codes compared out of {N} parallel guesses (otp_max_tries 5)")
    assert 1 <= compared <= 5
    # the code is spent: even the right one no longer opens the session
    r = mmwire.call(ld.socket, mmwire.OTP_VERIFY, user=login, txn=txn, code=code)
    assert r.status == ESTALE, r


def test_new_codes_do_not_give_back_the_tries_of_the_old_ones(ld, authd, smtp, codes):
    """Someone who has the password asks for a new code whenever the tries of one are spent: each
    code gave otp_max_tries again, guesses without end on a 6-digit code (10 a minute at the
    default resend interval). The tries are the account's until a login, not the code's."""
    login, mail = register_med(authd, smtp)
    for _ in range(4):
        t = mmwire.call(ld.socket, mmwire.AUTH_PASSWORD, user=login, password=PW)
        assert t.status == 0, t
        before = codes.count(mail)
        s = mmwire.call(ld.socket, mmwire.OTP_SEND, user=login, txn=t.get("txn"))
        if s.status != 0:
            assert s.status == ENOLCK, s
            break
        code = codes.wait_new(mail, before)
        for i in range(5):
            v = mmwire.call(ld.socket, mmwire.OTP_VERIFY, user=login, txn=t.get("txn"),
                            code=f"{(int(code) + 1 + i) % 1000000:06d}")
            assert v.status in (EACCES, ESTALE), v
            if v.status == ESTALE:
                break
    compared = audit_count(ld, "otp-verify", login, "wrong code")
    assert 1 <= compared <= 5, f"{compared} wrong codes compared, otp_max_tries 5"


def test_parallel_org_member_proofs_verify_at_most_threshold(ld, authd, smtp, slapd):
    """50 ORG registrations at once by a local user, each guessing the member's password."""
    member, _ = register_med(authd, smtp)
    interactive_hash(slapd, member)

    def one(i):
        return ld.ctl("register", "ORG", *org_fields(member, mail=f"guess{i}.{member}@example.org",
                                                     name=f"Guess {i}"),
                      uid=NOBODY, input=WRONG + "\n")
    results = in_parallel(one, range(N))
    assert all(r.returncode != 0 for r in results)
    verified = audit_count(ld, "register-org-member-proof", member, "(bad|wrong) password")
    print(f"{verified} member-password verifications out of {N} parallel guesses (threshold {THRESHOLD})")
    assert 1 <= verified <= THRESHOLD
    # the proof obeys the lock it earned, and so does the login
    assert mmwire.call(ld.socket, mmwire.AUTH_PASSWORD, user=member, password=PW).status == ENOLCK


def fail_count(slapd, login):
    e = slapd.search(f"uid={login},ou=people,{SUFFIX}", "(objectClass=*)", "mmFailCount", scope="base")
    return int(e[0].get("mmFailCount", ["0"])[0])


def test_right_password_does_not_forgive_guesses_reserved_while_it_is_checked(ld, authd, smtp, slapd):
    """A right password is being verified (its attempt reserved); guesses reserved meanwhile must
    stay counted: resetting the count to 0 gave them back, and the guessing went on at full speed."""
    login, _ = register_med(authd, smtp)
    interactive_hash(slapd, login, cost="moderate")  # a verification long enough to guess in
    with concurrent.futures.ThreadPoolExecutor(max_workers=THRESHOLD) as ex:
        right = ex.submit(mmwire.call, ld.socket, mmwire.AUTH_PASSWORD, user=login, password=PW)
        deadline = time.monotonic() + 30
        while fail_count(slapd, login) < 1:  # the right password's attempt is reserved
            assert time.monotonic() < deadline and not right.done()
        wrong = [ex.submit(mmwire.call, ld.socket, mmwire.AUTH_PASSWORD, user=login, password=WRONG)
                 for _ in range(THRESHOLD - 2)]
        while fail_count(slapd, login) < THRESHOLD - 1:  # ... and so are the guesses
            assert time.monotonic() < deadline
        assert not right.done(), "the right password was verified before the guesses were reserved"
        assert right.result().status == 0
        assert [w.result().status for w in wrong] == [EACCES] * (THRESHOLD - 2)
    # only the right password's own attempt (and what came before it) is forgiven
    assert fail_count(slapd, login) == THRESHOLD - 2
    for _ in range(2):
        mmwire.call(ld.socket, mmwire.AUTH_PASSWORD, user=login, password=WRONG)
    assert mmwire.call(ld.socket, mmwire.AUTH_PASSWORD, user=login, password=PW).status == ENOLCK


def test_unreachable_lockout_provider_still_counts_on_the_local_one(state, slapd, smtp, authd):
    """ldap_lockout_uri down: the guesses are still reserved (on the daemon's own provider), not free."""
    login, _ = register_med(authd, smtp)
    d = Daemon(state, slapd, smtp.port, name="lockout-uri-down",
               extra=CONF + "ldap_lockout_uri = ldap://127.0.0.1:1/\n").start()
    try:
        assert mmwire.call(d.socket, mmwire.AUTH_PASSWORD, user=login, password=PW).status == 0
        statuses = in_parallel(lambda _: mmwire.call(d.socket, mmwire.AUTH_PASSWORD, user=login,
                                                     password=WRONG).status, range(20))
        assert set(statuses) <= {EACCES, ENOLCK} and ENOLCK in statuses, statuses
        assert audit_count(d, "auth", login, "bad password") <= THRESHOLD
        assert mmwire.call(d.socket, mmwire.AUTH_PASSWORD, user=login, password=PW).status == ENOLCK
        assert "lockout provider" in d.log_text()
    finally:
        d.stop()


# ---------------------------------------------------------------- one lock for logins and binds

def bind(slapd, login, password):
    return subprocess.run(["ldapwhoami", "-x", "-H", slapd.ldap_url, "-D", f"uid={login},ou=people,{SUFFIX}",
                           "-w", password], capture_output=True, text=True).returncode


def test_ldap_bind_guesses_lock_the_pam_login(ld, authd, smtp, slapd):
    login, _ = register_med(authd, smtp)
    assert bind(slapd, login, PW) == 0  # this session's slapd lets accounts bind
    for _ in range(10):
        assert bind(slapd, login, WRONG) == 49
    assert bind(slapd, login, PW) == 49  # locked for binds
    svc = PamService(ld.state, ld, "medimail-bindlock")
    r = pamtester(svc, login, ["authenticate"], [(P_PASSWORD, PW)])
    assert r.status != 0 and "verrouillé" in r.output, r
    assert mmwire.call(ld.socket, mmwire.AUTH_PASSWORD, user=login, password=PW).status == ENOLCK


def test_wrong_pam_passwords_lock_the_ldap_bind(ld, authd, smtp, slapd):
    login, _ = register_med(authd, smtp)
    for _ in range(THRESHOLD):
        assert mmwire.call(ld.socket, mmwire.AUTH_PASSWORD, user=login, password=WRONG).status in (EACCES, ENOLCK)
    assert mmwire.call(ld.socket, mmwire.AUTH_PASSWORD, user=login, password=PW).status == ENOLCK
    assert bind(slapd, login, PW) == 49


def test_bind_failures_spend_the_login_budget(ld, authd, smtp, slapd):
    """Binds and logins share one budget: threshold-1 wrong binds leave one login guess."""
    login, _ = register_med(authd, smtp)
    for _ in range(THRESHOLD - 1):
        assert bind(slapd, login, WRONG) == 49
    assert mmwire.call(ld.socket, mmwire.AUTH_PASSWORD, user=login, password=WRONG).status == ENOLCK
    assert mmwire.call(ld.socket, mmwire.AUTH_PASSWORD, user=login, password=PW).status == ENOLCK


def test_login_failures_spend_the_bind_budget(ld, authd, smtp, slapd):
    """The reverse: threshold-1 wrong logins leave one guess, by a bind too, not a fresh threshold
    of bind guesses (ppolicy counts only pwdFailureTime, not the daemon's mmFailCount)."""
    login, _ = register_med(authd, smtp)
    for _ in range(THRESHOLD - 1):
        assert mmwire.call(ld.socket, mmwire.AUTH_PASSWORD, user=login, password=WRONG).status == EACCES
    assert bind(slapd, login, WRONG) == 49
    # the budget is spent: the right password neither binds nor logs in
    assert bind(slapd, login, PW) == 49
    assert mmwire.call(ld.socket, mmwire.AUTH_PASSWORD, user=login, password=PW).status == ENOLCK


# ---------------------------------------------------------------- offline login

def offline_conf(odir, extra=""):
    return CONF + f"offline_login = yes\noffline_ttl = 3600\noffline_dir = {odir}\n" + extra


def online_login(d, codes, login, mail):
    t = mmwire.call(d.socket, mmwire.AUTH_PASSWORD, user=login, password=PW)
    assert t.status == 0, t
    before = codes.count(mail)
    assert mmwire.call(d.socket, mmwire.OTP_SEND, user=login, txn=t.get("txn")).status == 0
    r = mmwire.call(d.socket, mmwire.OTP_VERIFY, user=login, txn=t.get("txn"), code=codes.wait_new(mail, before))
    assert r.status == 0, r


def no_directory(state, slapd):
    """A directory that is not there (the shared slapd keeps serving the other tests)."""
    return SimpleNamespace(ldapi_url="ldapi://" + str(state / "no-such-ldapi").replace("/", "%2F"),
                           authd_pw_file=slapd.authd_pw_file)


def offline_try(d, login, password):
    return mmwire.call(d.socket, mmwire.AUTH_PASSWORD, user=login, password=password)


@pytest.fixture
def offline_accounts(state, slapd, smtp, authd, ld, codes, request):
    """n accounts with an offline verifier (one online login each) in a fresh offline_dir."""
    odir = state / f"offline-{request.node.name}"
    online = Daemon(state, slapd, smtp.port, name=f"on-{request.node.name}"[:40], extra=offline_conf(odir)).start()

    def make(logins):
        for login, mail in logins:
            online_login(online, codes, login, mail)
        return odir
    yield make
    online.stop()


def test_offline_failures_survive_a_daemon_restart(state, slapd, smtp, authd, offline_accounts):
    login, mail = register_med(authd, smtp)
    odir = offline_accounts([(login, mail)])
    off = Daemon(state, no_directory(state, slapd), smtp.port, name="offline-restart", extra=offline_conf(odir))
    off.start()
    try:
        for _ in range(THRESHOLD):
            assert offline_try(off, login, WRONG).status in (EACCES, ENOLCK)
        assert offline_try(off, login, PW).status == ENOLCK
    finally:
        off.stop()
    off.start()  # a restart forgets nothing
    try:
        r = offline_try(off, login, PW)
        assert r.status == ENOLCK, r
        assert re.search(rf'audit="auth".*method="offline".*account="{re.escape(login)}".*reason="account locked',
                         off.log_text())
    finally:
        off.stop()


def offline_fails(odir):
    """The offline failure count of the one account of odir."""
    files = list(Path(odir).glob("*.fails"))
    if not files:
        return 0
    assert len(files) == 1, files
    m = re.match(r"fails=(\d+) ", files[0].read_text())
    return int(m.group(1)) if m else 0


def test_offline_right_password_does_not_forgive_guesses_reserved_while_it_is_checked(
        state, slapd, smtp, authd, offline_accounts):
    """Offline (sshd, login: root callers in parallel), the same: a right password being verified
    must not give back the guesses reserved meanwhile by writing fails=0."""
    login, mail = register_med(authd, smtp)
    interactive_hash(slapd, login, cost="moderate")  # the verifier kept offline is this one
    odir = offline_accounts([(login, mail)])
    off = Daemon(state, no_directory(state, slapd), smtp.port, name="offline-race", extra=offline_conf(odir))
    off.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=THRESHOLD) as ex:
            right = ex.submit(offline_try, off, login, PW)
            deadline = time.monotonic() + 30
            while offline_fails(odir) < 1:
                assert time.monotonic() < deadline and not right.done()
            wrong = [ex.submit(offline_try, off, login, WRONG) for _ in range(THRESHOLD - 2)]
            while offline_fails(odir) < THRESHOLD - 1:
                assert time.monotonic() < deadline
            assert not right.done(), "the right password was verified before the guesses were reserved"
            assert right.result().status == 0
            assert [w.result().status for w in wrong] == [EACCES] * (THRESHOLD - 2)
        assert offline_fails(odir) == THRESHOLD - 2
        for _ in range(2):
            offline_try(off, login, WRONG)
        assert offline_try(off, login, PW).status == ENOLCK
    finally:
        off.stop()


def _fnv1a_slot(login):
    # the slot of the former in-memory table: fnv1a("offline", login) % 256
    h = 1469598103934665603
    for b in b"offline":
        h = ((h ^ b) * 1099511628211) % (1 << 64)
    h = ((h ^ 0xFF) * 1099511628211) % (1 << 64)
    for b in login.encode():
        h = ((h ^ b) * 1099511628211) % (1 << 64)
    return (h | 1) % 256


def test_offline_failure_counts_of_two_logins_never_collide(state, slapd, smtp, authd, offline_accounts):
    """Two logins that shared a slot of the in-memory table: one's failure no longer erases the other's."""
    a, amail = register_med(authd, smtp)
    given, sn = a.split(".", 1)
    # a second account whose login lands in the same former slot
    for i in range(100000):
        cand = sn + "".join(chr(ord("a") + int(d)) for d in str(i))
        if _fnv1a_slot(f"{given}.{cand}") == _fnv1a_slot(a):
            break
    mail = f"{cand}.user@example.org"
    r = authd.ctl("register", "MED", "--password-stdin", "--login-mail", mail, "--sn", cand.upper(), "--given-name",
                  given.capitalize(), "--raison-sociale", "Cabinet test", "--region", "Occitanie", input=PW + "\n")
    assert r.returncode == 0, r.stdout
    b = r.json["fields"]["login"]
    assert _fnv1a_slot(b) == _fnv1a_slot(a) and b != a
    assert authd.ctl("confirm", "--token-stdin", input=smtp.token(mail) + "\n").returncode == 0
    assert authd.ctl("validate", b).returncode == 0
    odir = offline_accounts([(a, amail), (b, mail)])
    off = Daemon(state, no_directory(state, slapd), smtp.port, name="offline-slots", extra=offline_conf(odir)).start()
    try:
        for _ in range(THRESHOLD - 1):
            assert offline_try(off, b, WRONG).status == EACCES
        assert offline_try(off, a, WRONG).status == EACCES
        r = offline_try(off, b, WRONG)
        assert r.status == ENOLCK, r  # b's fifth failure locks b
        assert offline_try(off, b, PW).status == ENOLCK
        assert offline_try(off, a, PW).status == 0  # a had one failure: not locked
    finally:
        off.stop()


def test_offline_login_refuses_admin_group_callers(state, slapd, smtp, authd, offline_accounts):
    """Offline, the uid of the account cannot be checked: root only, not an admin_group member."""
    login, mail = register_med(authd, smtp)
    odir = offline_accounts([(login, mail)])
    gid = 4243
    off = Daemon(state, no_directory(state, slapd), smtp.port, name="offline-admin",
                 extra=offline_conf(odir, f"admin_group = {gid}\n")).start()
    try:
        prog = ("import sys, mmwire; r = mmwire.call(sys.argv[1], mmwire.AUTH_PASSWORD, user=sys.argv[2],"
                " password=sys.argv[3]); print(r.status)")
        out = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={gid}", "--clear-groups", sys.executable,
                              "-c", prog, str(off.socket), login, PW], capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=str(HERE)), timeout=30)
        assert out.returncode == 0, out.stderr
        assert int(out.stdout) == EHOSTDOWN
        assert 'reason="offline login needs a root caller"' in off.log_text()
        assert offline_try(off, login, PW).status == 0  # root still logs in offline
    finally:
        off.stop()


def test_daemon_restores_a_missing_bind_lockout_policy(state, slapd, smtp):
    """Without cn=lockout,ou=policies (the schema was loaded before the suffix existed, or the
    entry was removed), ppolicy would count failed binds under no rule: the daemon adds it back at
    its start, with its own threshold (the suite's, so that the shared slapd is left as it was)."""
    dn = f"cn=lockout,ou=policies,{SUFFIX}"
    attrs = ("pwdMaxFailure", "pwdLockoutDuration", "pwdLockout")
    before = slapd.search(dn, "(objectClass=pwdPolicy)", *attrs)
    assert len(before) == 1, before
    subprocess.run(["ldapdelete", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url, dn], check=True)
    assert slapd.search(dn, "(objectClass=*)") == []
    conf = (f"lockout_threshold = {before[0]['pwdMaxFailure'][0]}\n"
            f"lockout_duration = {before[0]['pwdLockoutDuration'][0]}\n")
    d = Daemon(state, slapd, smtp.port, name="policyd", extra=conf).start()
    try:
        after = slapd.search(dn, "(objectClass=pwdPolicy)", *attrs)
        assert [{k: x[k] for k in attrs} for x in after] == [{k: before[0][k] for k in attrs}], after
    finally:
        d.stop()
