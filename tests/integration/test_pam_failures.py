"""pam_medimail and the login requests when things go wrong: SMTP down, slapd stopped, the daemon
gone or hung, hostile input, rate limits, callers that are not root, and many logins at once."""
import concurrent.futures
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mmwire
from mmstack import SUFFIX, Daemon, free_port
from pamstack import (P_CODE, P_PASSWORD, PW, Codes, InstalledStack, PamService, attrs_of, login_answers,
                      pamclient, pamtester, register_med, uid_of)

CONF = """fail_delay_ms = 50
lockout_threshold = 5
rate_per_source = 1000000
rate_per_account = 100000
max_clients = 512
"""
HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def fd(state, slapd, smtp, authd):
    d = Daemon(state, slapd, smtp.port, name="faild", extra=CONF).start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def fsvc(state, fd):
    return PamService(state, fd, "medimail-fail")


@pytest.fixture(scope="module")
def codes(smtp):
    return Codes(smtp)


@pytest.fixture
def account(authd, smtp):
    return register_med(authd, smtp)


def test_smtp_down_tells_the_user_and_locks_nothing(state, slapd, smtp, fsvc, codes, account):
    login, mail = account
    nosmtp = Daemon(state, slapd, free_port(), name="nosmtp", extra=CONF).start()
    try:
        s = PamService(state, nosmtp, "medimail-nosmtp")
        r = pamtester(s, login, ["authenticate"], [(P_PASSWORD, PW), (P_CODE, "123456")])
        assert r.status != 0
        assert "Le code n'a pas pu être envoyé par e-mail" in r.output
        assert "Code à usage unique reçu" not in r.output  # not asked for a code that never left
        e = attrs_of(slapd, login)
        for attr in ("mmLockedUntil", "mmOtpHash", "mmOtpSentAt"):
            assert attr not in e, attr
        assert e.get("mmFailCount", ["0"]) == ["0"]
        assert re.search(rf'audit="otp-send".*account="{re.escape(login)}" result="refused" reason="mail not sent"',
                         nosmtp.log_text())
    finally:
        nosmtp.stop()
    # nothing throttled or locked: a login right away works
    r = pamtester(fsvc, login, ["authenticate"], login_answers(codes, mail))
    assert r.status == 0, r


def test_slapd_down_fails_closed_then_recovers(slapd, fsvc, codes, account):
    login, mail = account
    slapd.stop()
    try:
        t = time.monotonic()
        r = pamtester(fsvc, login, ["authenticate"], [(P_PASSWORD, PW)])
        assert r.status != 0
        assert "Annuaire Medimail indisponible" in r.output
        assert "Authentication service cannot retrieve authentication info" in r.output
        assert time.monotonic() - t < 15
        r = pamtester(fsvc, login, ["acct_mgmt"], [])
        assert r.status != 0 and "Annuaire Medimail indisponible" in r.output
    finally:
        slapd.start()
    r = pamtester(fsvc, login, ["authenticate"], login_answers(codes, mail))
    assert r.status == 0, r


def test_daemon_gone_fails_fast(state, slapd, smtp, account):
    login, _ = account
    d = Daemon(state, slapd, smtp.port, name="gone", extra=CONF).start()
    s = PamService(state, d, "medimail-gone")
    d.stop()
    t = time.monotonic()
    r = pamtester(s, login, ["authenticate"], [(P_PASSWORD, PW)])
    assert time.monotonic() - t < 3
    assert r.status != 0 and "Service d'authentification Medimail injoignable" in r.output


def test_hung_daemon_bounded_by_timeout(state, slapd, smtp, account):
    login, _ = account
    d = Daemon(state, slapd, smtp.port, name="hung", extra=CONF).start()
    try:
        s = PamService(state, d, "medimail-hung", "timeout=2")
        d.proc.send_signal(signal.SIGSTOP)
        t = time.monotonic()
        r = pamtester(s, login, ["authenticate"], [(P_PASSWORD, PW)])
        took = time.monotonic() - t
        assert r.status != 0 and "injoignable" in r.output
        assert 1.5 < took < 6, took
    finally:
        d.proc.send_signal(signal.SIGCONT)
        d.stop()


def test_megabyte_password_refused_before_sending(fsvc, fd, account, slapd):
    login, _ = account
    t = time.monotonic()
    r = pamclient(fsvc, login, ["authenticate"], [(P_PASSWORD, "A" * (1 << 20))])
    assert r.status != 0
    assert "Saisie trop longue" in r.output
    assert time.monotonic() - t < 10
    # refused by the module: the daemon never saw an authentication of this account
    assert not re.search(rf'audit="auth".*account="{re.escape(login)}"', fd.log_text())
    # 2000 bytes fit in a wire value but not in the daemon's password limit
    r = pamclient(fsvc, login, ["authenticate"], [(P_PASSWORD, "B" * 2000)])
    assert r.status != 0 and "Saisie trop longue" in r.output
    # refused as malformed, not counted as a wrong password
    assert attrs_of(slapd, login).get("mmFailCount", ["0"]) == ["0"]


def test_nul_bytes_and_bad_frames(fd, account):
    login, _ = account
    r = mmwire.call_raw(fd.socket, mmwire.encode(mmwire.AUTH_PASSWORD, [("user", b"ab\0cd"), ("password", PW)]))
    assert r.status < 0 and r.status in (-22, -71)  # -EINVAL or -EPROTO
    r = mmwire.call_raw(fd.socket, mmwire.encode(mmwire.AUTH_PASSWORD, [("user", login), ("password", b"Pharma\0#2024")]))
    assert r.status < 0
    assert mmwire.call(fd.socket, mmwire.PING).status == 0  # still serving


def test_invalid_utf8_and_control_characters_in_user_names(fsvc, fd):
    r = pamclient(fsvc, b"caf\xe9", ["authenticate"], [(P_PASSWORD, PW)])
    assert r.status != 0 and "Identifiant invalide" in r.output, r
    assert "RESULT authenticate 10 " in r.output  # PAM_USER_UNKNOWN
    # the one access rule's wording (store/access.c), was login_user's "malformed user name"
    assert 'reason="malformed account name"' in fd.log_text()
    r = pamclient(fsvc, "bad\x01user", ["authenticate"], [(P_PASSWORD, PW)])
    assert r.status != 0 and "Identifiant invalide" in r.output, r
    r = pamclient(fsvc, "x" * 300, ["authenticate"], [(P_PASSWORD, PW)])
    assert r.status != 0 and "Identifiant invalide" in r.output


def as_user(uid, code, **fields):
    """A wire call from a non-root process (SO_PEERCRED uid)."""
    prog = ("import sys, json, mmwire; r = mmwire.call(sys.argv[1], int(sys.argv[2]), **json.loads(sys.argv[3]));"
            "print(json.dumps({'status': r.status, 'message': r.message, 'fields': dict(r.fields)}))")
    import json
    out = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", sys.executable, "-c",
                          prog, str(code[0]), str(code[1]), json.dumps(fields)],
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(HERE)), timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_non_root_caller_only_for_itself(fd, fsvc, codes, authd, smtp, slapd):
    me, my_mail = register_med(authd, smtp)
    other, _ = register_med(authd, smtp)
    uid = uid_of(slapd, me)
    r = as_user(uid, (fd.socket, mmwire.AUTH_PASSWORD), user=other, password=PW)
    assert r["status"] == -13, r
    assert re.search(rf'audit="auth" caller="uid={uid}".*account="{re.escape(other)}" result="refused" '
                     r'reason="caller may not act for this account"', fd.log_text())
    r = as_user(uid, (fd.socket, mmwire.AUTH_PASSWORD), user=me, password=PW)
    assert r["status"] == 0 and len(r["fields"]["txn"]) == 64
    # a screen locker: pamtester running as the user, for the user
    res = pamtester(fsvc, me, ["authenticate"], login_answers(codes, my_mail), uid=uid)
    assert res.status == 0, res
    res = pamtester(fsvc, other, ["authenticate"], [(P_PASSWORD, PW)], uid=uid)
    assert res.status != 0
    # the code step needs this account's password step
    t = mmwire.call(fd.socket, mmwire.AUTH_PASSWORD, user=other, password=PW)
    assert mmwire.call(fd.socket, mmwire.OTP_SEND, user=me, txn=t.get("txn")).status == -13
    assert mmwire.call(fd.socket, mmwire.OTP_SEND, user=me).status == -13


def test_rate_limits(state, slapd, smtp, authd, account):
    login, _ = account
    d = Daemon(state, slapd, smtp.port, name="rated",
               extra="fail_delay_ms = 0\nrate_per_account = 3\nrate_per_source = 5\n").start()
    try:
        got = [mmwire.call(d.socket, mmwire.AUTH_PASSWORD, user=login, password=PW).status for _ in range(4)]
        assert got[:3] == [0, 0, 0] and got[3] == -11, got  # -EAGAIN
        r = mmwire.call(d.socket, mmwire.AUTH_PASSWORD, user=login, password=PW)
        assert r.status == -11 and int(r.get("retry_after")) >= 1
        assert 'reason="rate limit per account"' in d.log_text()
        # per source: the same caller on other accounts runs out too
        statuses = [mmwire.call(d.socket, mmwire.AUTH_PASSWORD, user=f"nobody{i}", password=PW,
                                rhost="10.0.0.9").status for i in range(7)]
        assert -11 in statuses
        assert 'reason="rate limit per source"' in d.log_text()
        s = PamService(state, d, "medimail-rated")
        res = pamtester(s, login, ["authenticate"], [(P_PASSWORD, PW)])
        assert res.status != 0 and "Trop de tentatives : réessayez dans" in res.output
    finally:
        d.stop()


def test_unprivileged_rhost_does_not_give_a_fresh_bucket(state, slapd, smtp, authd, account):
    """rhost is the caller's word: from a non-root caller it must not name a new source bucket."""
    login, _ = account
    uid = uid_of(slapd, login)
    d = Daemon(state, slapd, smtp.port, name="rhostd",
               extra="fail_delay_ms = 0\nrate_per_account = 1000000\nrate_per_source = 3\n").start()
    try:
        prog = ("import sys, json, mmwire; print(json.dumps([mmwire.call(sys.argv[1], mmwire.AUTH_PASSWORD, "
                "user=sys.argv[2], password=sys.argv[3], rhost=f'203.0.113.{i}').status for i in range(6)]))")
        out = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", sys.executable, "-c",
                              prog, str(d.socket), login, PW], capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=str(HERE)), timeout=60)
        assert out.returncode == 0, out.stderr
        got = json.loads(out.stdout)
        assert got[:3] == [0, 0, 0] and got[3:] == [-11, -11, -11], got  # -EAGAIN
        assert re.search(rf'caller="uid={uid}".*result="refused" reason="rate limit per source"', d.log_text())
        # root (sshd, login) still names the remote host: each host has its own bucket
        got = [mmwire.call(d.socket, mmwire.AUTH_PASSWORD, user=login, password=PW, rhost=f"198.51.100.{i}").status
               for i in range(4)]
        assert got == [0, 0, 0, 0], got
    finally:
        d.stop()


def test_use_first_pass(state, fd, codes, account):
    """pam_wrapper's pam_set_items puts PAM_AUTHTOK before us; use_first_pass takes it without prompting."""
    login, mail = account
    pdir = state / "pam.d-firstpass"
    pdir.mkdir(exist_ok=True)
    from pamstack import MODULE
    (pdir / "firstpass").write_text(
        "auth required /usr/lib/x86_64-linux-gnu/pam_wrapper/pam_set_items.so\n"
        f"auth required {MODULE} socket={fd.socket} use_first_pass\n")
    svc = PamService.__new__(PamService)
    svc.name, svc.dir, svc.socket = "firstpass", pdir, fd.socket
    env = svc.env()
    before = codes.count(mail)
    import pexpect
    child = pexpect.spawn("pamtester", ["-v", "firstpass", login, "authenticate"], encoding="utf-8", timeout=30,
                          env=dict(env, PAM_AUTHTOK=PW))
    idx = child.expect([P_PASSWORD, P_CODE])
    assert idx == 1, "the password was prompted for despite use_first_pass"
    child.sendline(codes.wait_new(mail, before))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before


def test_no_secret_in_the_logs(fd, codes, smtp):
    log = fd.log_text()
    assert PW not in log and "Autre#2025" not in log
    sent = [c for m in smtp.messages() for c in re.findall(r"Ce code est le : (\d{6})", smtp.body(m))]
    assert sent
    for c in sent:
        assert c not in log


def test_many_concurrent_logins(slapd, fd, fsvc, codes, authd, smtp):
    """200 pamtester processes at once (real libpam, private /etc/pam.d in a mount namespace), each
    with its own account and its own code read from the sink."""
    n = 200
    login0, _ = register_med(authd, smtp)
    pw_hash = attrs_of(slapd, login0)["userPassword"][0]
    users = []
    ldif = []
    for i in range(n):
        login = f"bulk.user{i:03d}"
        mail = f"bulk.user{i:03d}@example.org"
        users.append((login, mail))
        ldif.append(f"dn: uid={login},ou=people,{SUFFIX}\nobjectClass: mmAccount\nuid: {login}\n"
                    f"mmAccountType: MED\nmmStatus: active\nmmLoginMail: {mail}\ncn: Bulk {i}\nsn: BULK\n"
                    f"uidNumber: {1900218000 + i}\nmmCguAcceptedAt: 20260101000000Z\nuserPassword: {pw_hash}\n")
    r = subprocess.run(["ldapadd", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url], input="\n".join(ldif),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

    def one(u):
        return pamtester(fsvc, u[0], ["authenticate", "acct_mgmt"], login_answers(codes, u[1]), timeout=180,
                         namespace=True)
    t = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as ex:
        results = list(ex.map(one, users))
    took = time.monotonic() - t
    failed = [(u, r) for u, r in zip(users, results) if r.status != 0]
    assert not failed, failed[:3]
    assert all(codes.count(m) == 1 for _, m in users)
    print(f"{n} concurrent pamtester logins in {took:.1f} s")


def test_expired_handles_swept(state, slapd, smtp, authd, account):
    login, _ = account
    ldif = (f"dn: mmSessionId={'0' * 64},ou=sessions,{SUFFIX}\nobjectClass: mmSession\nmmSessionId: {'0' * 64}\n"
            f"mmSessionExpires: 20000101000000Z\ndescription: pam-txn\n")
    r = subprocess.run(["ldapadd", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url], input=ldif,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    d = Daemon(state, slapd, smtp.port, name="sweeper", extra=CONF).start()
    try:
        # swept on the daemon's timer (at start, then once a minute), not by a login
        deadline = time.monotonic() + 15
        while slapd.search(f"ou=sessions,{SUFFIX}", f"(mmSessionId={'0' * 64})") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not slapd.search(f"ou=sessions,{SUFFIX}", f"(mmSessionId={'0' * 64})")
        assert mmwire.call(d.socket, mmwire.AUTH_PASSWORD, user=login, password=PW).status == 0
        # the transaction just made is not expired, so it stays
        assert slapd.search(f"ou=sessions,{SUFFIX}", "(description=pam-txn)")
    finally:
        d.stop()


def test_unknown_option_logged_and_debug(state, fd, account):
    login, _ = account
    s = PamService(state, fd, "medimail-opts", "debug bogus=1 timeout=abc")
    # pam_wrapper prints what the module sends to syslog, warnings and debug included
    s.env = lambda: dict(PamService.env(s), PAM_WRAPPER_DEBUGLEVEL="3")
    r = pamtester(s, login, ["authenticate"], [(P_PASSWORD, "Wrong#pass1")])
    assert r.status != 0
    assert "unknown option: bogus=1" in r.output
    assert "invalid option value: timeout=abc" in r.output
    assert "request 0x0201: status -13" in r.output  # debug


def test_offline_login(state, slapd, smtp, authd, fd, fsvc, codes):
    """offline_login: after an online login, the password alone works while slapd is down, said as such;
    off by default; bounded by offline_ttl; wrong passwords still refused."""
    login, mail = register_med(authd, smtp)
    never, _ = register_med(authd, smtp)
    odir = state / "offline"
    conf = CONF + f"offline_login = yes\noffline_ttl = 3600\noffline_dir = {odir}\notp_resend_interval = 0\n"
    d = Daemon(state, slapd, smtp.port, name="offd", extra=conf).start()
    short = Daemon(state, slapd, smtp.port, name="offd-short",
                   extra=CONF + f"offline_login = yes\noffline_ttl = 1\noffline_dir = {odir}\n").start()
    try:
        s = PamService(state, d, "medimail-offline")
        s_short = PamService(state, short, "medimail-offline-short")
        r = pamtester(s, login, ["authenticate", "acct_mgmt"], login_answers(codes, mail) + [(r"\(oui/non\)", "oui")])
        assert r.status == 0, r
        files = list(odir.iterdir())
        assert len(files) == 2  # under the login and under the login e-mail
        for f in files:
            assert oct(f.stat().st_mode & 0o777) == "0o600"
            assert login not in f.name and PW not in f.read_text()
            assert "verifier={ARGON2}$argon2id$" in f.read_text()
        slapd.stop()
        try:
            r = pamclient(s, mail, ["authenticate", "acct_mgmt", "open_session"],
                          [(r"Mot de passe \(connexion HORS LIGNE, annuaire Medimail injoignable\) : ", PW)])
            assert r.status == 0, r
            assert "Connexion HORS LIGNE : mot de passe vérifié localement, sans code à usage unique" in r.output
            assert "Code à usage unique" not in r.output.replace("sans code à usage unique", "")
            assert f"ENV MEDIMAIL_ACCOUNT={login}" in r.output
            assert re.search(rf'audit="auth".*method="offline".*account="{re.escape(login)}" result="ok"', d.log_text())
            r = pamclient(s, login, ["authenticate"], [(r"HORS LIGNE.*: ", "Wrong#pass1")])
            assert r.status != 0 and "Identifiant ou mot de passe incorrect" in r.output
            r = pamclient(s, never, ["authenticate"], [(r"HORS LIGNE.*: ", PW)])
            assert r.status != 0 and "Annuaire Medimail indisponible" in r.output
            time.sleep(1.5)
            r = pamclient(s_short, login, ["authenticate"], [(r"HORS LIGNE.*: ", PW)])
            assert r.status != 0 and "Annuaire Medimail indisponible" in r.output  # older than offline_ttl
            r = pamclient(fsvc, login, ["authenticate"], [(P_PASSWORD, PW)])  # off by default
            assert r.status != 0 and "Annuaire Medimail indisponible" in r.output
            assert "HORS LIGNE" not in r.output
        finally:
            slapd.start()
        # online again: the normal prompt and the code
        r = pamtester(s, login, ["authenticate"], login_answers(codes, mail))
        assert r.status == 0, r
    finally:
        d.stop()
        short.stop()


def test_use_authtok_in_password_stack(state, fd, account, slapd):
    """The shipped pam-auth-update profile runs 'use_authtok try_first_pass' in the password stack:
    the old and new passwords come from the modules above (here pam_wrapper's pam_set_items)."""
    login, _ = account
    from pamstack import MODULE
    import pexpect
    pdir = state / "pam.d-authtok"
    pdir.mkdir(exist_ok=True)
    (pdir / "authtok").write_text(
        "password required /usr/lib/x86_64-linux-gnu/pam_wrapper/pam_set_items.so\n"
        f"password required {MODULE} socket={fd.socket} use_authtok try_first_pass\n")
    svc = PamService.__new__(PamService)
    svc.name, svc.dir, svc.socket = "authtok", pdir, fd.socket
    before = attrs_of(slapd, login)["userPassword"]
    child = pexpect.spawn("pamtester", ["-v", "authtok", login, "chauthtok"], encoding="utf-8", timeout=30,
                          env=dict(svc.env(), PAM_AUTHTOK="Autre#2025", PAM_OLDAUTHTOK=PW))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "Mot de passe" not in child.before.replace("Mot de passe changé", "")  # nothing prompted
    assert attrs_of(slapd, login)["userPassword"] != before


def test_root_logs_in_when_daemon_is_down(state, slapd, smtp, account):
    """The daemon (or slapd) down must not lock the console: root, known to the host, gets
    PAM_IGNORE from every phase; a Medimail user is refused and told why."""
    login, _ = account
    d = Daemon(state, slapd, smtp.port, name="downd", extra=CONF).start()
    svc = InstalledStack(state, d, "medimail-installed", {"root": "Racine#Locale1"},
                         {"root": 0, login: uid_of(slapd, login)})
    d.stop()
    assert not d.socket.exists() or mmwire_unreachable(d.socket)
    r = pamtester(svc, "root", ["authenticate", "acct_mgmt", "open_session", "close_session"],
                  [(r"[Pp]assword: ", "Racine#Locale1")])
    assert r.status == 0, r
    assert "injoignable" not in r.output, r
    r = pamtester(svc, login, ["acct_mgmt"], [])
    assert r.status != 0, r
    assert "Service d'authentification Medimail injoignable" in r.output, r
    r = pamtester(svc, login, ["authenticate"], [(r"[Pp]assword: ", PW)])
    assert r.status != 0, r
    assert "Service d'authentification Medimail injoignable" in r.output, r


def test_user_of_another_nss_source_logs_in_when_daemon_is_down(state, slapd, smtp, account):
    """A host user from another NSS source than files (here systemd's userdb, standing for sssd or
    LDAP) is not ours either: ignored in every phase, daemon down or not."""
    login, _ = account
    d = Daemon(state, slapd, smtp.port, name="down2d", extra=CONF).start()
    svc = InstalledStack(state, d, "medimail-installed2", {"annuaire-admin": "Annuaire#Local1"},
                         {"annuaire-admin": 60123, login: uid_of(slapd, login)})
    d.stop()
    rec = svc.dir / "annuaire-admin.user"
    rec.write_text('{"userName": "annuaire-admin", "uid": 60123, "gid": 60123, "homeDirectory": "/nonexistent"}\n')
    nsswitch = svc.dir / "nsswitch.conf"
    nsswitch.write_text("passwd: files [NOTFOUND=continue] systemd medimail\ngroup: files systemd medimail\n")
    # A private /run holds the userdb record, a private /etc/nsswitch.conf names the sources.
    wrap = ["unshare", "-m", "--propagation", "private", "sh", "-c",
            'mount -t tmpfs tmpfs /run && mkdir /run/userdb && cp "$0" /run/userdb/ && '
            'mount --bind "$1" /etc/nsswitch.conf && shift && exec "$@"', str(rec), str(nsswitch)]
    r = pamtester(svc, "annuaire-admin", ["authenticate", "acct_mgmt", "open_session", "close_session"],
                  [(r"[Pp]assword: ", "Annuaire#Local1")], wrap=wrap)
    assert r.status == 0, r
    assert "injoignable" not in r.output, r
    r = pamtester(svc, login, ["acct_mgmt"], [], wrap=wrap)
    assert r.status != 0 and "Service d'authentification Medimail injoignable" in r.output, r


def mmwire_unreachable(sock):
    try:
        mmwire.call(sock, mmwire.PING)
    except OSError:
        return True
    return False


def host_userdb(svc, name, uid, passwd_line="passwd: files [NOTFOUND=continue] systemd medimail", **fields):
    """A command prefix giving the commands it runs a host user `name` of another NSS source (a
    systemd userdb record in a private /run, a private /etc/nsswitch.conf naming systemd)."""
    rec = svc.dir / f"{name}.user"
    rec.write_text(json.dumps(dict({"userName": name, "uid": uid, "gid": uid, "homeDirectory": "/nonexistent"},
                                   **fields)) + "\n")
    nsswitch = svc.dir / "nsswitch.conf"
    nsswitch.write_text(f"{passwd_line}\ngroup: files systemd medimail\n")
    return ["unshare", "-m", "--propagation", "private", "sh", "-c",
            'mount -t tmpfs tmpfs /run && mkdir /run/userdb && cp "$0" /run/userdb/ && '
            'mount --bind "$1" /etc/nsswitch.conf && shift && exec "$@"', str(rec), str(nsswitch)]


def test_login_by_mail_does_not_become_a_host_user_of_the_same_name(state, slapd, smtp, codes, account):
    """A Medimail account whose login is also a user of this host (registered on the central
    daemon, which never saw this workstation's users, or written into the directory): typing the
    login e-mail must not turn PAM_USER into the host user's name, or the Medimail password and
    code would open the host account's session (its uid, its sudo rights)."""
    login, mail = account
    d = Daemon(state, slapd, smtp.port, name="shadowd", extra=CONF + "otp_resend_interval = 0\n").start()
    try:
        svc = PamService(state, d, "medimail-shadow")
        wrap = host_userdb(svc, login, 60124)
        # the host user itself is the host's: ignored, the Medimail password is not even asked
        r = pamtester(svc, login, ["authenticate"], [], wrap=wrap)
        assert r.status != 0 and "Mot de passe" not in r.output, r
        # through the e-mail, the daemon answers the same login: refused, not rewritten
        r = pamtester(svc, mail, ["authenticate"], login_answers(codes, mail), wrap=wrap)
        assert r.status != 0, r
        assert "successfully authenticated" not in r.output and "Identifiant invalide" in r.output, r
        # the same account is still a Medimail login where the host has no such user
        r = pamtester(svc, mail, ["authenticate"], login_answers(codes, mail))
        assert r.status == 0, r
    finally:
        d.stop()


@pytest.mark.parametrize("passwd_line", [
    "passwd: files systemd[NOTFOUND=continue] medimail",  # glibc ends a source name at '['
    "passwd : files systemd medimail",  # and takes a blank before the colon
    "passwd: files medimail\npasswd: files systemd",  # every passwd line is read
])
def test_host_user_of_an_odd_nsswitch_line_is_not_taken_for_ours(state, slapd, smtp, codes, account, passwd_line):
    """nsswitch.conf lines glibc accepts must name the same sources to the module: a host user
    whose source it missed would be authenticated by the Medimail account of the same login
    and get the host account's session."""
    login, mail = account
    d = Daemon(state, slapd, smtp.port, name="oddnssd", extra=CONF).start()
    try:
        svc = PamService(state, d, "medimail-oddnss")
        r = pamtester(svc, login, ["authenticate"], login_answers(codes, mail),
                      wrap=host_userdb(svc, login, 60125, passwd_line))
        assert r.status != 0 and "Mot de passe" not in r.output, r
    finally:
        d.stop()


def test_host_user_after_a_long_passwd_line_is_not_taken_for_ours(state, slapd, smtp, codes, account):
    """/etc/passwd was read with a 16 KiB line buffer: fgetpwent_r's ERANGE on a longer line ended
    the scan, and every local user after it was taken for a Medimail one, so the Medimail account
    of the same login authenticated and got the local account's session."""
    login, mail = account
    d = Daemon(state, slapd, smtp.port, name="longpwd", extra=CONF).start()
    try:
        svc = PamService(state, d, "medimail-longpwd")
        passwd = svc.dir / "passwd"
        passwd.write_text(Path("/etc/passwd").read_text()
                          + f"longgecos:x:60130:60130:{'G' * 20000}:/nonexistent:/usr/sbin/nologin\n"
                          + f"{login}:x:60131:60131::/nonexistent:/usr/sbin/nologin\n")
        wrap = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                'mount --bind "$0" /etc/passwd && exec "$@"', str(passwd)]
        r = pamtester(svc, login, ["authenticate"], login_answers(codes, mail), wrap=wrap)
        assert r.status != 0 and "Mot de passe" not in r.output, r
        # the control: without the local user, the same login is Medimail's
        r = pamtester(svc, login, ["authenticate"], login_answers(codes, mail))
        assert r.status == 0, r
    finally:
        d.stop()


def test_host_user_with_a_large_entry_in_another_source_is_not_taken_for_ours(state, slapd, smtp, codes,
                                                                             account):
    """Another source's answer larger than the module's 16 KiB buffer (a long GECOS) came back as
    TRYAGAIN/ERANGE, which was taken for "unknown": the host user was taken for a Medimail one."""
    login, mail = account
    d = Daemon(state, slapd, smtp.port, name="bigent", extra=CONF).start()
    try:
        svc = PamService(state, d, "medimail-bigent")
        wrap = host_userdb(svc, login, 60132, realName="G" * 40000)
        r = pamtester(svc, login, ["authenticate"], login_answers(codes, mail), wrap=wrap)
        assert r.status != 0 and "Mot de passe" not in r.output, r
    finally:
        d.stop()
