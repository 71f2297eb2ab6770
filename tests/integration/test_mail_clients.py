"""Mail clients (issue 16 item 2): a real Dovecot IMAP with `passdb pam` -> pam_medimail's mail
mode -> medimail-authd. App passwords and device credentials log in without the mailed code; the
account password never does; a revocation on another daemon counts at the very next login.
The same holds for SMTP submission: a real Postfix (`smtpd_sasl_type = dovecot`) asks a Dovecot
whose passdb is the same PAM service, and relays only for the authenticated, to the sink.

Dovecot runs as nobody (rpstack); its auth worker calls PAM as nobody, so the daemon it talks to
puts nobody's group in admin_group (as root is in production: Dovecot's auth worker runs as root).
The accounts are made and the secrets revoked through the session's daemon (`authd`): the mail
daemon (`md`) only ever reads them from the directory.
"""
import grp
import base64
import imaplib
import os
import re
import smtplib
import time

import pytest

import mmwire
from apistack import register_active
from mmstack import Daemon, med_fields, wait_for
from pamstack import MODULE, PW
from rpstack import Dovecot, PostfixSubmission, RpDir

EPERM, EACCES, EINVAL, ENOLCK = -1, -13, -22, -37
THRESHOLD = 3
_n = [0]


def _unique():
    _n[0] += 1
    digits = f"{os.getpid() % 10000}{_n[0]:03d}{int(time.time()) % 100000}"
    return "mc" + "".join(chr(ord("a") + int(c)) for c in digits)


@pytest.fixture(scope="module")
def md(state, slapd, smtp, authd):
    gid = grp.getgrnam("nogroup").gr_gid
    d = Daemon(state, slapd, smtp.port, name="maild", extra=(
        f"admin_group = {gid}\nfail_delay_ms = 50\nlockout_threshold = {THRESHOLD}\n"
        "lockout_duration = 600\nrate_per_source = 1000000\nrate_per_account = 1000000\n")).start()
    yield d
    d.stop()


def _pam_dir(md):
    pam = RpDir("mm-pam-")
    (pam.path / "pam.d").mkdir()
    line = f"required {MODULE} socket={md.socket} mail"
    (pam.path / "pam.d" / "medimail-mail").write_text(f"auth {line}\naccount {line}\n")
    pam.own()
    return pam


@pytest.fixture(scope="module")
def imap(md):
    pam = _pam_dir(md)
    dov = Dovecot()
    # passdb oauth2 is not used here (no such mechanism is offered by the tests): any URL will do
    dov.start("http://127.0.0.1:9/introspect", "unused", "unused", pam=(pam.path / "pam.d", "medimail-mail"))
    yield dov
    dov.stop()
    pam.remove()


@pytest.fixture(scope="module")
def submission(md, smtp):
    """Postfix submission authenticating through a Dovecot of its own, without Dovecot's failure
    delays (see Dovecot.start), relaying to the session's sink."""
    pam = _pam_dir(md)
    dov = Dovecot().start("http://127.0.0.1:9/introspect", "unused", "unused",
                          pam=(pam.path / "pam.d", "medimail-mail"), sasl_group="postfix", throttle=False)
    pf = PostfixSubmission()
    try:
        pf.start(dov.sasl_socket, f"[127.0.0.1]:{smtp.port}")
    except Exception:
        dov.stop()
        pam.remove()
        raise
    pf.dovecot = dov
    yield pf
    pf.stop()
    dov.stop()
    pam.remove()


def account(authd, smtp):
    name = _unique()
    mail = f"{name}@example.org"
    login = register_active(authd, smtp, "MED", med_fields(mail=mail, sn=name.upper(), given="Marie"), mail)
    return login, mail


def app_password(authd, login, name="Thunderbird"):
    r = mmwire.call(authd.socket, mmwire.APP_PASSWORD_CREATE, login=login, name=name)
    assert r.status == 0, r
    assert re.fullmatch(r"[0-9a-f]{64}", r.get("secret")), r
    return r.get("id"), r.get("secret")


def device(authd, login, name="Téléphone"):
    r = mmwire.call(authd.socket, mmwire.DEVICE_ENROL, login=login, name=name)
    assert r.status == 0, r
    c = mmwire.call(authd.socket, mmwire.DEVICE_COMPLETE, code=r.get("code"))
    assert c.status == 0, c
    return r.get("id"), c.get("credential")


def _conn(dov):
    # Dovecot delays failures from one address more each time (auth penalty, up to 15 s)
    return imaplib.IMAP4("127.0.0.1", dov.port, timeout=40)


def login(dov, user, secret):
    m = _conn(dov)
    try:
        m.login(user, secret)
        m.select("INBOX")
        m.logout()
        return True
    except imaplib.IMAP4.error:
        try:
            m.shutdown()
        except OSError:
            pass
        return False


def plain(dov, payload):
    m = _conn(dov)
    sent = []

    def answer(_challenge):
        sent.append(1)
        return payload if len(sent) == 1 else b""

    try:
        ok = m.authenticate("PLAIN", answer)[0] == "OK"
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


def audits(daemon, event, account_login):
    return re.findall(rf'audit="{event}".*account="{re.escape(account_login)}".*', daemon.log_text())


def test_app_password_logs_in_over_imap_without_a_code(authd, md, smtp, imap):
    user, mail = account(authd, smtp)
    _, secret = app_password(authd, user)
    mails_before = len(smtp.messages(mail))
    assert login(imap, user, secret), imap.log()[-3000:]
    assert plain(imap, f"\0{user}\0{secret}".encode())
    # the code is never asked: no mail, no code event, on the mail daemon
    assert len(smtp.messages(mail)) == mails_before
    assert not audits(md, "otp-send", user) and not audits(md, "otp-verify", user)
    assert audits(md, "mail-auth", user), md.log_text()[-2000:]
    # the list shows the name and the last use, never the secret nor its hash
    r = mmwire.call(authd.socket, mmwire.APP_PASSWORD_LIST, login=user)
    assert r.status == 0 and r.records()[0]["name"] == "Thunderbird" and r.records()[0].get("used"), r
    assert secret not in repr(r) and "hash" not in repr(r)


def test_account_password_is_refused(authd, md, smtp, imap):
    user, _ = account(authd, smtp)
    app_password(authd, user)
    assert not login(imap, user, PW)
    r = mmwire.call(md.socket, mmwire.MAIL_AUTH, user=user, secret=PW)
    assert r.status == EACCES, r


def test_revoked_app_password_refused_at_the_next_login_on_another_daemon(authd, md, smtp, imap):
    user, _ = account(authd, smtp)
    pid, secret = app_password(authd, user)
    keep_id, keep = app_password(authd, user, "K-9 Mail")
    assert login(imap, user, secret)
    r = mmwire.call(authd.socket, mmwire.APP_PASSWORD_REVOKE, login=user, id=pid)
    assert r.status == 0, r
    assert not login(imap, user, secret)
    assert login(imap, user, keep)  # the other client's password still works
    assert mmwire.call(md.socket, mmwire.MAIL_AUTH, user=user, secret=secret).status == EACCES


def test_device_credential_logs_in_until_revoked(authd, md, smtp, imap):
    user, _ = account(authd, smtp)
    did, cred = device(authd, user)
    assert login(imap, user, cred), imap.log()[-3000:]
    r = mmwire.call(md.socket, mmwire.MAIL_AUTH, user=user, secret=cred)
    assert r.status == 0 and r.get("method") == "device", r
    assert mmwire.call(authd.socket, mmwire.DEVICE_REVOKE, login=user, id=did).status == 0
    assert not login(imap, user, cred)


def test_another_users_app_password_is_refused(authd, md, smtp, imap):
    alice, _ = account(authd, smtp)
    bob, _ = account(authd, smtp)
    _, bob_secret = app_password(authd, bob)
    app_password(authd, alice)
    assert not login(imap, alice, bob_secret)
    assert mmwire.call(md.socket, mmwire.MAIL_AUTH, user=alice, secret=bob_secret).status == EACCES
    # a non-admin caller names only itself: an unknown-account answer, whoever it names
    assert login(imap, bob, bob_secret)


def test_lockout_after_repeated_bad_secrets(authd, md, smtp, imap):
    user, _ = account(authd, smtp)
    _, secret = app_password(authd, user)
    for _ in range(THRESHOLD):
        r = mmwire.call(md.socket, mmwire.MAIL_AUTH, user=user, secret="0" * 64)
        assert r.status in (EACCES, ENOLCK), r
    r = mmwire.call(md.socket, mmwire.MAIL_AUTH, user=user, secret=secret)
    assert r.status == ENOLCK and r.get("locked_until"), r
    assert not login(imap, user, secret)
    # the same lock as the password's: the account password step is refused too
    a = mmwire.call(md.socket, mmwire.AUTH_PASSWORD, user=user, password=PW)
    assert a.status == ENOLCK, a


def test_parallel_bad_secrets_spend_at_most_the_threshold(authd, md, smtp):
    import concurrent.futures
    user, _ = account(authd, smtp)
    app_password(authd, user)
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        rs = list(ex.map(lambda i: mmwire.call(md.socket, mmwire.MAIL_AUTH, user=user, secret=f"{i:064x}"),
                         range(20)))
    assert all(r.status in (EACCES, ENOLCK) for r in rs), rs
    assert sum(1 for r in rs if r.status == EACCES) <= THRESHOLD


def test_newline_and_nul_in_the_user_name_refused(authd, md, smtp, imap):
    user, _ = account(authd, smtp)
    _, secret = app_password(authd, user)
    assert not plain(imap, f"\0{user}\0extra\0{secret}".encode())
    assert not plain(imap, f"\0{user}\n\0{secret}".encode())
    r = mmwire.call(md.socket, mmwire.MAIL_AUTH, user=f"{user}\nforged", secret=secret)
    assert r.status == EINVAL, r
    frame = mmwire.encode(mmwire.MAIL_AUTH, [("user", user.encode() + b"\0x"), ("secret", secret)])
    assert mmwire.call_raw(md.socket, frame).status < 0
    assert login(imap, user, secret)  # the right name still logs in


def test_unprivileged_caller_names_no_one_else(authd, md, smtp):
    user, _ = account(authd, smtp)
    _, secret = app_password(authd, user)
    import subprocess
    import sys
    code = ("import sys, mmwire; r = mmwire.call(sys.argv[1], mmwire.MAIL_AUTH, user=sys.argv[2], "
            "secret=sys.argv[3]); print(r.status)")
    out = subprocess.run(["setpriv", "--reuid=65534", "--regid=nogroup", "--clear-groups", sys.executable, "-c",
                          code, str(authd.socket), user, secret], capture_output=True, text=True,
                         cwd=os.path.dirname(__file__), env=dict(os.environ, PYTHONPATH=os.path.dirname(__file__)))
    assert out.stdout.strip() == str(EACCES), out


def test_pam_mail_mode_asks_one_secret_never_a_code(state, authd, md, smtp):
    """pamtester on the mail mode: one password prompt, no code prompt, success with the app
    password; the account password and its code are never asked for."""
    from pamstack import P_CODE, P_PASSWORD, PamService, pamtester
    user, mail = account(authd, smtp)
    _, secret = app_password(authd, user)
    svc = PamService(state, md, name="medimail-mailmode", options="mail")
    before = len(smtp.messages(mail))
    r = pamtester(svc, user, ["authenticate", "acct_mgmt"], [(P_PASSWORD, secret), (P_CODE, "000000")])
    assert r.status == 0, r
    assert r.output.count(P_PASSWORD.strip()) == 1 and P_CODE.strip() not in r.output, r
    assert len(smtp.messages(mail)) == before
    r = pamtester(svc, user, ["authenticate"], [(P_PASSWORD, PW), (P_CODE, "000000")])
    assert r.status != 0 and P_CODE.strip() not in r.output, r


def test_suspended_account_is_refused(authd, md, smtp, imap):
    user, _ = account(authd, smtp)
    _, secret = app_password(authd, user)
    assert login(imap, user, secret)
    s = authd.ctl("suspend", user, "--reason", "test des clients de messagerie")
    assert s.returncode == 0, s.stdout + s.stderr
    r = mmwire.call(md.socket, mmwire.MAIL_AUTH, user=user, secret=secret)
    assert r.status == EPERM and r.get("reason") == "suspended", r
    assert not login(imap, user, secret)


# --- SMTP submission: Postfix, smtpd_sasl_type = dovecot, the same passdb pam ---

def _smtp(sub):
    return sub.session()


def smtp_auth(sub, mech, user, secret):
    """A submission session authenticated by mech (PLAIN with an initial response, LOGIN by its
    two prompts, as Thunderbird does), or None when the server answers 535."""
    def authobject(s):
        s.user, s.password = user, secret
        return getattr(s, f"auth_{mech.lower()}")
    return sub.login(mech, authobject, initial_response_ok=(mech == "PLAIN"))


def smtp_plain(sub, payload):
    """The code answering AUTH PLAIN with a raw payload."""
    s = _smtp(sub)
    code, _ = s.docmd("AUTH", "PLAIN " + base64.b64encode(payload).decode())
    s.close()
    return code


def _message(sender, rcpt, tag):
    return f"From: {sender}\r\nTo: {rcpt}\r\nSubject: {tag}\r\n\r\nenvoi {tag}\r\n"


def test_app_password_submits_over_smtp_plain_and_login(authd, md, smtp, submission):
    user, mail = account(authd, smtp)
    _, secret = app_password(authd, user)
    mails_before = len(smtp.messages(mail))
    for mech in ("PLAIN", "LOGIN"):
        s = smtp_auth(submission, mech, user, secret)
        assert s, submission.log()[-3000:] + submission.dovecot.log()[-3000:]
        rcpt, tag = f"{_unique()}@destinataire.test", f"smtp-{mech.lower()}-{_unique()}"
        assert s.sendmail(mail, [rcpt], _message(mail, rcpt, tag)) == {}
        s.quit()
        # relayed to the sink: queued by Postfix, delivered, gone from the queue
        got = smtp.wait_message(rcpt, rf"envoi ({tag})")
        assert got.group(1) == tag
        assert smtp.messages(rcpt)[0]["X-Envelope-To"] == rcpt
        assert re.search(rf"sasl_method={mech}, sasl_username={re.escape(user)}$", submission.log(), re.M)
    wait_for(lambda: submission.queue() == [], what="an empty queue")
    # the code is never asked: no mail to the account, no code event on the mail daemon
    assert len(smtp.messages(mail)) == mails_before
    assert not audits(md, "otp-send", user) and not audits(md, "otp-verify", user)
    assert len(audits(md, "mail-auth", user)) >= 2, md.log_text()[-2000:]


def test_device_credential_submits_until_revoked_over_smtp(authd, md, smtp, submission):
    user, mail = account(authd, smtp)
    did, cred = device(authd, user)
    s = smtp_auth(submission, "PLAIN", user, cred)
    assert s, submission.dovecot.log()[-3000:]
    rcpt, tag = f"{_unique()}@destinataire.test", f"device-{_unique()}"
    assert s.sendmail(mail, [rcpt], _message(mail, rcpt, tag)) == {}
    s.quit()
    assert smtp.wait_message(rcpt, rf"envoi ({tag})").group(1) == tag
    assert mmwire.call(authd.socket, mmwire.DEVICE_REVOKE, login=user, id=did).status == 0
    # revoked on the session's daemon, refused by the mail daemon at the very next AUTH
    assert smtp_auth(submission, "PLAIN", user, cred) is None
    assert smtp_auth(submission, "LOGIN", user, cred) is None


def test_account_password_refused_over_smtp(authd, md, smtp, submission):
    user, mail = account(authd, smtp)
    app_password(authd, user)
    assert smtp_auth(submission, "PLAIN", user, PW) is None
    assert smtp_auth(submission, "LOGIN", user, PW) is None
    # refused by the daemon (the password is no mail secret), not lost on the way
    refused = [a for a in audits(md, "mail-auth", user) if 'result="refused" reason="bad secret"' in a]
    assert len(refused) == 2, md.log_text()[-2000:]


def test_no_relay_without_authentication(authd, smtp, submission):
    user, mail = account(authd, smtp)
    rcpt = f"{_unique()}@destinataire.test"
    s = _smtp(submission)
    assert s.has_extn("auth")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
        s.sendmail(mail, [rcpt], _message(mail, rcpt, "relais"))
    code, text = e.value.recipients[rcpt]
    # smtpd_relay_restrictions' final `reject`: no authentication, no relay
    assert (code, text) == (554, f"5.7.1 <{rcpt}>: Recipient address rejected: Access denied".encode())
    s.quit()
    # nothing was queued nor relayed
    assert submission.queue() == [] and smtp.messages(rcpt) == []
    assert re.search(rf"NOQUEUE: reject: RCPT from \S+: 554 5\.7\.1 <{re.escape(rcpt)}>: Recipient address "
                     rf"rejected: Access denied; from=<{re.escape(mail)}>", submission.log()), submission.log()


def test_newline_and_nul_in_the_user_name_refused_over_smtp(authd, md, smtp, submission):
    user, _ = account(authd, smtp)
    _, secret = app_password(authd, user)
    assert smtp_plain(submission, f"\0{user}\0extra\0{secret}".encode()) == 535
    assert smtp_plain(submission, f"\0{user}\n\0{secret}".encode()) == 535
    assert smtp_plain(submission, f"\0{user}\nforged\0{secret}".encode()) == 535
    assert smtp_auth(submission, "LOGIN", f"{user}\n", secret) is None
    assert smtp_auth(submission, "LOGIN", f"{user}\0x", secret) is None
    s = smtp_auth(submission, "PLAIN", user, secret)  # the right name still logs in
    assert s
    s.quit()


def test_another_users_app_password_refused_over_smtp(authd, md, smtp, submission):
    alice, _ = account(authd, smtp)
    bob, _ = account(authd, smtp)
    _, bob_secret = app_password(authd, bob)
    app_password(authd, alice)
    assert smtp_auth(submission, "PLAIN", alice, bob_secret) is None
    assert smtp_auth(submission, "LOGIN", alice, bob_secret) is None
    s = smtp_auth(submission, "PLAIN", bob, bob_secret)
    assert s
    s.quit()
