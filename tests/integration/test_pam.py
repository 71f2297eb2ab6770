"""pam_medimail end to end: the real pamtester (and a ctypes PAM client) under pam_wrapper with a
private pam.d, the module, one or two daemons, slapd and the SMTP sink. Codes are read from the
sink while the PAM conversation waits."""
import hashlib
import os
import re
import signal
import struct
import subprocess
import sys
import time

import pytest

import mmwire
from mmstack import SUFFIX, Daemon, free_port
from pamstack import (P_CGU, P_CODE, P_NEW, P_NEW2, P_OLD, P_PASSWORD, PW, Codes, PamService, attrs_of,
                      ldap_modify, login_answers, pamclient, pamtester, register_med, register_org, uid_of)

LOGIN_CONF = """fail_delay_ms = 100
lockout_threshold = 3
lockout_duration = 120
rate_per_source = 1000000
rate_per_account = 100000
otp_resend_interval = 30
"""


@pytest.fixture(scope="module")
def pamd(state, slapd, smtp, authd):
    d = Daemon(state, slapd, smtp.port, name="pamd", extra=LOGIN_CONF).start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def pamd2(state, slapd, smtp, authd):
    # Same slapd, same hash key (state/hash.key): a second site daemon.
    d = Daemon(state, slapd, smtp.port, name="pamd2", extra=LOGIN_CONF).start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def svc(state, pamd):
    return PamService(state, pamd, "medimail")


@pytest.fixture(scope="module")
def svc2(state, pamd2):
    return PamService(state, pamd2, "medimail2")


@pytest.fixture(scope="module")
def codes(smtp):
    return Codes(smtp)


@pytest.fixture
def account(authd, smtp):
    return register_med(authd, smtp)


def test_login_password_and_code(svc, codes, account, slapd, pamd):
    login, mail = account
    r = pamtester(svc, login, ["authenticate"], login_answers(codes, mail))
    assert r.status == 0, r
    assert "successfully authenticated" in r.output
    assert re.search(r"Un code à usage unique a été envoyé à .\*\*\*@example\.org", r.output), r
    e = attrs_of(slapd, login)
    assert "mmLastLogin" in e
    assert "mmOtpHash" not in e  # used: gone
    # audited, with no secret in the log
    log = pamd.log_text()
    assert re.search(rf'audit="otp-verify".*method="password\+otp".*account="{re.escape(login)}" result="ok"', log)
    assert PW not in log
    for c in codes.all(mail):
        assert c not in log


def test_code_mail_cordialement_le_service_medimail(svc, codes, account, smtp):
    """Fiche réflexe: « Medimail <medimail@mipih.fr> — Votre code d'accès à Medimail — Bonjour,
    Vous avez demandé un code à usage unique pour accéder à votre compte… Ce code est le :
    510762 Cordialement, le service Medimail Ceci est un email automatique, merci de ne pas y
    répondre. »: the code comes from the medimail address, not the cerbere one, in a
    plain-text and an HTML part."""
    login, mail = account
    r = pamtester(svc, login, ["authenticate"], login_answers(codes, mail))
    assert r.status == 0, r
    m = [m for m in smtp.messages(mail) if "Ce code est le" in smtp.body(m)][-1]
    sender, text, html = smtp.parts(m)
    assert sender == "medimail@mipih.fr"
    assert str(m["Subject"]) == "Votre code d'accès à Medimail"
    code = codes.all(mail)[-1]
    assert text.startswith("Bonjour,\n\nVous avez demandé un code à usage unique pour accéder à votre compte")
    assert f"Ce code est le : {code}" in text and f"Ce code est le : {code}" in html
    assert text.rstrip().endswith("Cordialement, le service Medimail\n\n"
                                  "Ceci est un email automatique, merci de ne pas y répondre.")
    assert "Cordialement, le service Medimail" in html
    assert "Ceci est un email automatique, merci de ne pas y répondre" in html
    # the account mails of the same person come from the other sender
    confirmation = [m for m in smtp.messages(mail) if "jeton=" in smtp.body(m)][-1]
    assert smtp.parts(confirmation)[0] == "cerbere@mipih.fr"


def test_login_email_as_user(svc, codes, account):
    login, mail = account
    r = pamclient(svc, mail, ["authenticate", "open_session"], login_answers(codes, mail))
    assert r.status == 0, r
    assert f"ENV MEDIMAIL_ACCOUNT={login}" in r.output


def test_wrong_password(svc, codes, account, slapd):
    login, mail = account
    before = codes.count(mail)
    t = time.monotonic()
    r = pamtester(svc, login, ["authenticate"], [(P_PASSWORD, "Wrong#pass1")])
    assert r.status != 0
    assert "Identifiant ou mot de passe incorrect" in r.output
    assert time.monotonic() - t >= 0.1  # fail_delay_ms
    assert codes.count(mail) == before  # no code mailed without the password
    assert attrs_of(slapd, login)["mmFailCount"] == ["1"]
    # a success resets the count
    r = pamtester(svc, login, ["authenticate"], login_answers(codes, mail))
    assert r.status == 0, r
    assert attrs_of(slapd, login).get("mmFailCount") == ["0"]


def test_unknown_user_same_answer(svc):
    r = pamtester(svc, "personne.inconnue", ["authenticate"], [(P_PASSWORD, PW)])
    assert r.status != 0
    assert "Identifiant ou mot de passe incorrect" in r.output


def test_wrong_code_five_times_then_new_code_needed(svc, codes, account, pamd):
    login, mail = account
    before = codes.count(mail)
    wrong = iter(["000000", "111111", "222222", "333333", "444444"])
    answers = [(P_PASSWORD, PW), (P_CODE + "*", lambda: next(wrong))]
    r = pamtester(svc, login, ["authenticate"], answers)
    assert r.status != 0
    assert r.output.count("Code à usage unique reçu par e-mail") == 5
    assert "4 essai(s) restant(s)" in r.output and "1 essai(s) restant(s)" in r.output
    assert "trop d'essais : un nouveau code est nécessaire" in r.output
    right = codes.wait_new(mail, before)
    assert right not in ("000000", "111111", "222222", "333333", "444444")
    # The right code no longer works: a new password step on the wire, then the old code.
    a = mmwire.call(pamd.socket, mmwire.AUTH_PASSWORD, user=login, password=PW)
    assert a.status == 0, a
    v = mmwire.call(pamd.socket, mmwire.OTP_VERIFY, user=login, txn=a.get("txn"), code=right)
    assert v.status == -116, v  # -ESTALE: a new code is needed
    # And through PAM no code is pending and the tries are spent: refused without prompting, told
    # until when (the lock, not the resend interval, which would end first and still lock)
    r = pamtester(svc, login, ["authenticate"], [(P_PASSWORD, PW), (P_CODE, right)])
    assert r.status != 0
    assert "jusqu'au" in r.output and "Code à usage unique" not in r.output, r.output


def test_reused_code_refused(svc, codes, account):
    login, mail = account
    before = codes.count(mail)
    r = pamtester(svc, login, ["authenticate"], login_answers(codes, mail))
    assert r.status == 0, r
    code = codes.wait_new(mail, before)
    # Next login within the resend interval: no new mail, the used code is refused.
    r = pamtester(svc, login, ["authenticate"], [(P_PASSWORD, PW), (P_CODE, code)])
    assert r.status != 0
    assert "Un nouveau code pourra être envoyé" in r.output or "Aucun code en attente" in r.output
    assert codes.count(mail) == before + 1


def test_expired_code(state, slapd, smtp, authd, codes, account):
    login, mail = account
    short = Daemon(state, slapd, smtp.port, name="pamd-short", extra=LOGIN_CONF + "otp_ttl = 1\n").start()
    try:
        s = PamService(state, short, "medimail-short")
        before = codes.count(mail)

        def late_code():
            c = codes.wait_new(mail, before)
            time.sleep(2.2)
            return c
        r = pamtester(s, login, ["authenticate"], [(P_PASSWORD, PW), (P_CODE, late_code)])
        assert r.status != 0
        assert "Code expiré" in r.output
        assert "mmOtpHash" not in attrs_of(slapd, login)  # an expired code is withdrawn
    finally:
        short.stop()


def test_code_from_daemon_a_verifies_on_b_once(pamd, pamd2, codes, account):
    login, mail = account
    before = codes.count(mail)
    a = mmwire.call(pamd.socket, mmwire.AUTH_PASSWORD, user=login, password=PW, service="test")
    assert a.status == 0, a
    s = mmwire.call(pamd.socket, mmwire.OTP_SEND, user=login, txn=a.get("txn"))
    assert s.status == 0, s
    code = codes.wait_new(mail, before)
    # daemon B knows the transaction and the code through the directory
    v = mmwire.call(pamd2.socket, mmwire.OTP_VERIFY, user=login, txn=a.get("txn"), code=code)
    assert v.status == 0, v
    # used: fails on both daemons, whatever the transaction
    for d in (pamd, pamd2):
        t = mmwire.call(d.socket, mmwire.AUTH_PASSWORD, user=login, password=PW)
        assert t.status == 0
        again = mmwire.call(d.socket, mmwire.OTP_VERIFY, user=login, txn=t.get("txn"), code=code)
        assert again.status == -116, again
    # the first transaction ended with its success
    old = mmwire.call(pamd.socket, mmwire.OTP_VERIFY, user=login, txn=a.get("txn"), code=code)
    assert old.status == -13, old


def test_code_from_a_through_pam_on_b(svc, svc2, codes, account):
    """The module on daemon B accepts the code daemon A sent, when B is asked within the resend interval."""
    login, mail = account
    wrong_then_give_up = iter(["999999", ""])
    r = pamtester(svc, login, ["authenticate"], [(P_PASSWORD, PW), (P_CODE + "*", lambda: next(wrong_then_give_up))])
    assert r.status != 0  # a code was sent by A, one wrong try spent, then an empty answer ends it
    code = codes.all(mail)[-1]
    r = pamtester(svc2, login, ["authenticate"], [(P_PASSWORD, PW), (P_CODE, code)])
    assert r.status == 0, r
    assert "Un code vous a été envoyé il y a moins de" in r.output


def test_lockout_holds_on_both_daemons(svc, svc2, codes, account, slapd, pamd2):
    login, mail = account
    for s in (svc, svc2):
        r = pamtester(s, login, ["authenticate"], [(P_PASSWORD, "Wrong#pass1")])
        assert "Identifiant ou mot de passe incorrect" in r.output
    r = pamtester(svc, login, ["authenticate"], [(P_PASSWORD, "Wrong#pass2")])
    assert r.status != 0 and "Compte verrouillé après trop d'échecs" in r.output
    assert "mmLockedUntil" in attrs_of(slapd, login)
    before = codes.count(mail)
    for s in (svc, svc2):  # the right password is refused on both daemons
        r = pamtester(s, login, ["authenticate"], [(P_PASSWORD, PW)])
        assert r.status != 0 and "Compte verrouillé" in r.output, r
    assert codes.count(mail) == before
    a = mmwire.call(pamd2.socket, mmwire.AUTH_PASSWORD, user=login, password=PW)
    assert a.status == -37 and int(a.get("locked_until")) > time.time() + 60  # -ENOLCK
    assert re.search(rf'audit="auth".*account="{re.escape(login)}" result="refused" reason="account locked"',
                     pamd2.log_text())
    # the lock ends: an administrator (here the directory) clears it, and the password works again;
    # the daemon's lock and its copy for LDAP binds (ppolicy's pwdAccountLockedTime)
    ldap_modify(slapd, f"dn: {attrs_of(slapd, login)['dn']}\nchangetype: modify\nreplace: mmLockedUntil\n"
                       f"mmLockedUntil: 20000101000000Z\n-\ndelete: pwdAccountLockedTime\n")
    r = pamtester(svc2, login, ["authenticate"], login_answers(codes, mail))
    assert r.status == 0, r
    assert "mmLockedUntil" not in attrs_of(slapd, login)


def test_suspended_and_pending_refused_with_reason(svc, codes, authd, smtp):
    login, mail = register_med(authd, smtp)
    assert authd.ctl("suspend", login, "--reason", "départ").returncode == 0
    r = pamtester(svc, login, ["authenticate"], [(P_PASSWORD, PW)])
    assert r.status != 0 and "Compte suspendu" in r.output
    r = pamtester(svc, login, ["acct_mgmt"], [])
    assert r.status != 0 and "Compte suspendu" in r.output
    plogin, pmail = register_med(authd, smtp, validate=False)
    r = pamtester(svc, plogin, ["authenticate"], [(P_PASSWORD, PW)])
    assert r.status != 0 and "Compte pas encore validé" in r.output
    r = pamtester(svc, plogin, ["acct_mgmt"], [])
    assert r.status != 0 and "Compte pas encore validé" in r.output
    assert codes.count(mail) == 0 and codes.count(pmail) == 0
    # a closed account
    assert authd.ctl("close", login).returncode == 0
    r = pamtester(svc, login, ["acct_mgmt"], [])
    assert r.status != 0 and "Compte clos" in r.output


def test_english_messages(state, pamd, codes, account):
    login, mail = account
    en = PamService(state, pamd, "medimail-en", "lang=en")
    before = codes.count(mail)
    r = pamtester(en, login, ["authenticate"],
                  [("Password: ", PW), ("One-time code received by e-mail: ", lambda: codes.wait_new(mail, before))])
    assert r.status == 0, r
    assert "A one-time code was sent to" in r.output
    r = pamtester(en, login, ["authenticate"], [("Password: ", "Wrong#pass1")])
    assert "Wrong login or password." in r.output


def test_first_login_cgu(svc, codes, account, slapd):
    login, mail = account
    assert "mmCguAcceptedAt" not in attrs_of(slapd, login)
    r = pamtester(svc, login, ["authenticate", "acct_mgmt"], login_answers(codes, mail) + [(P_CGU, "non")])
    assert r.status != 0
    assert "doivent être acceptées" in r.output
    assert "mmCguAcceptedAt" not in attrs_of(slapd, login)
    r = pamtester(svc, login, ["acct_mgmt"], [(P_CGU, "oui")])
    assert r.status == 0, r
    assert "account management done" in r.output
    assert "mmCguAcceptedAt" in attrs_of(slapd, login)
    r = pamtester(svc, login, ["acct_mgmt"], [])  # not asked again
    assert r.status == 0 and "conditions générales" not in r.output


def test_password_change_and_each_rule(svc, codes, account, slapd):
    login, mail = account
    rules = [("Ab1!xyz", "au moins 8 caractères"), ("pharma#2025", "au moins une majuscule"),
             ("PHARMA#2025", "au moins une minuscule"), ("Pharma#abcd", "au moins un chiffre"),
             ("Pharma2025x", "au moins un caractère spécial"), (PW, "doit différer de l'ancien")]
    for new, message in rules:
        r = pamtester(svc, login, ["chauthtok"], [(P_OLD, PW), (P_NEW, new), (P_NEW2, new)])
        assert r.status != 0 and message in r.output, (new, r)
    r = pamtester(svc, login, ["chauthtok"], [(P_OLD, PW), (P_NEW, "Autre#2025"), (P_NEW2, "Autre#2026")])
    assert r.status != 0 and "diffèrent" in r.output
    r = pamtester(svc, login, ["chauthtok"], [(P_OLD, "Wrong#pass1"), (P_NEW, "Autre#2025"), (P_NEW2, "Autre#2025")])
    assert r.status != 0 and "incorrect" in r.output
    old_hash = attrs_of(slapd, login)["userPassword"]
    r = pamtester(svc, login, ["chauthtok"], [(P_OLD, PW), (P_NEW, "Autre#2025"), (P_NEW2, "Autre#2025")])
    assert r.status == 0, r
    assert "Mot de passe changé" in r.output
    new_hash = attrs_of(slapd, login)["userPassword"]
    assert new_hash != old_hash and new_hash[0].startswith("{ARGON2}$argon2id$")
    r = pamtester(svc, login, ["authenticate"], [(P_PASSWORD, PW)])
    assert r.status != 0
    r = pamtester(svc, login, ["authenticate"], login_answers(codes, mail, password="Autre#2025"))
    assert r.status == 0, r


def session_env(output):
    return dict(line[4:].split("=", 1) for line in output.splitlines() if line.startswith("ENV "))


def test_session_env_exported_and_closed(state, svc, codes, account, slapd):
    login, mail = account
    r = pamclient(svc, login, ["authenticate", "open_session"], login_answers(codes, mail))
    assert r.status == 0, r
    env = session_env(r.output)
    assert env["MEDIMAIL_ACCOUNT"] == login
    assert env["MEDIMAIL_ADDRESS"] == mail  # a MED account has no MSSanté address
    handle = env["MEDIMAIL_SESSION"]
    assert re.fullmatch(r"[0-9a-f]{64}", handle)
    # only the keyed hash of the handle is stored
    key = bytes.fromhex((state / "hash.key").read_text().strip())
    hashed = hashlib.blake2b(b"pam-session\0" + handle.encode(), key=key, digest_size=32).hexdigest()
    sessions = slapd.search(f"ou=sessions,{SUFFIX}", f"(mmSessionId={hashed})")
    assert len(sessions) == 1
    assert sessions[0]["mmSessionUser"][0].startswith(f"uid={login},")
    assert not slapd.search(f"ou=sessions,{SUFFIX}", f"(mmSessionId={handle})")
    # open + close in one PAM transaction removes it
    r = pamclient(svc, login, ["open_session", "close_session"], [])
    assert r.status == 0, r
    env2 = session_env(r.output)
    h2 = hashlib.blake2b(b"pam-session\0" + env2["MEDIMAIL_SESSION"].encode(), key=key, digest_size=32).hexdigest()
    assert not slapd.search(f"ou=sessions,{SUFFIX}", f"(mmSessionId={h2})")


def test_switch_to_org_and_back_and_default(svc, codes, authd, smtp, slapd, pamd):
    login, mail = register_med(authd, smtp)
    other, _ = register_med(authd, smtp)
    org, org_addr = register_org(authd, smtp, login, "Pharmacie Bascule")
    foreign, _ = register_org(authd, smtp, other, "Pharmacie Voisine")
    uid = uid_of(slapd, login)
    r = pamclient(svc, login, ["open_session"], [])
    env = session_env(r.output)
    assert env["MEDIMAIL_ACCOUNT"] == login
    handle = env["MEDIMAIL_SESSION"]
    lst = pamd.ctl("accounts", uid=uid, check=0).json
    logins = [(x["login"], x["self"], x["default"]) for x in lst["records"]]
    assert logins == [(login, "yes", "yes"), (org, "no", "no")]
    sw = pamd.ctl("switch", org, "--session-stdin", input=handle + "\n", uid=uid, check=0).json
    assert sw["fields"]["account"] == org and sw["fields"]["address"] == org_addr
    assert org_addr.endswith("@pharmacien.oc.mssante.fr") or "@" in org_addr
    s = slapd.search(f"ou=sessions,{SUFFIX}", "(mmSessionAccount=*)", "mmSessionAccount")
    assert any(x["mmSessionAccount"][0].startswith(f"uid={org},") for x in s)
    back = pamd.ctl("switch", login, "--session-stdin", input=handle + "\n", uid=uid, check=0).json
    assert back["fields"]["account"] == login
    # a foreign ORG: refused and audited
    bad = pamd.ctl("switch", foreign, "--session-stdin", input=handle + "\n", uid=uid, check=1)
    assert "ne fait pas partie de vos comptes" in bad.json["message"]
    assert re.search(rf'audit="switch".*account="{re.escape(login)}" result="refused" '
                     r'reason="target is not an account of the user"', pamd.log_text())
    # another user cannot use this session handle
    assert pamd.ctl("switch", org, "--session-stdin", input=handle + "\n", uid=uid_of(slapd, other), check=1)
    # the handle is never taken from the command line, where any local user reads it
    old = pamd.ctl("switch", org, "--session", handle, uid=uid, check=2)
    assert "--session-stdin" in old.stderr and old.json is None
    # the default account at login
    pamd.ctl("default", org, uid=uid, check=0)
    assert pamd.ctl("default", foreign, uid=uid, check=1)
    r = pamclient(svc, login, ["open_session"], [])
    env = session_env(r.output)
    assert env["MEDIMAIL_ACCOUNT"] == org and env["MEDIMAIL_ADDRESS"] == org_addr
    lst = pamd.ctl("accounts", uid=uid, check=0).json
    assert [(x["login"], x["default"]) for x in lst["records"]] == [(login, "no"), (org, "yes")]
    # root may set it for a user; back to the individual account
    pamd.ctl("default", login, "--user", login, check=0)
    r = pamclient(svc, login, ["open_session"], [])
    assert session_env(r.output)["MEDIMAIL_ACCOUNT"] == login


def test_suspended_member_session_can_no_longer_switch(svc, authd, smtp, slapd, pamd):
    """A PAM session lasts a week: each switch re-checks the user, the ORG and the membership."""
    login, _ = register_med(authd, smtp)
    org, _ = register_org(authd, smtp, login, "Pharmacie Suspension")
    uid = uid_of(slapd, login)
    handle = session_env(pamclient(svc, login, ["open_session"], []).output)["MEDIMAIL_SESSION"]
    pamd.ctl("switch", org, "--session-stdin", input=handle + "\n", uid=uid, check=0)
    pamd.ctl("switch", login, "--session-stdin", input=handle + "\n", uid=uid, check=0)
    assert authd.ctl("suspend", login, "--reason", "départ").returncode == 0
    for target in (org, login):
        r = pamd.ctl("switch", target, "--session-stdin", input=handle + "\n", uid=uid, check=1)
        assert r.json["status"] == -1 and r.json["fields"]["reason"] == "suspended", r.stdout
    r = pamd.ctl("default", org, uid=uid, check=1)
    assert r.json["status"] == -1 and r.json["fields"]["reason"] == "suspended", r.stdout
    s = slapd.search(f"ou=sessions,{SUFFIX}", "(mmSessionUser=*)", "mmSessionUser", "mmSessionAccount")
    mine = [x for x in s if x["mmSessionUser"][0].startswith(f"uid={login},")]
    assert [x["mmSessionAccount"][0].split(",")[0] for x in mine] == [f"uid={login}"]
    assert "mmDefaultAccount" not in attrs_of(slapd, login)
    assert re.search(rf'audit="switch".*account="{re.escape(login)}" result="refused" reason="suspended"',
                     pamd.log_text())
    # Reactivated: the same session switches again; closing always works.
    assert authd.ctl("reactivate", login).returncode == 0
    pamd.ctl("switch", org, "--session-stdin", input=handle + "\n", uid=uid, check=0)
    assert authd.ctl("suspend", login).returncode == 0
    r = mmwire.call(pamd.socket, mmwire.SESSION_CLOSE, session=handle)
    assert r.status == 0, r


def test_org_suspended_while_a_session_is_switched_to_it_is_refused_at_next_use(svc, authd, smtp, slapd, pamd):
    """A member's session is switched to its ORG (the ORG is also its default),
    then the ORG is suspended: switching to it again is refused, and the next
    session opens on the individual account, not on the suspended ORG."""
    login, _ = register_med(authd, smtp)
    org, _ = register_org(authd, smtp, login, "Pharmacie Suspendue")
    uid = uid_of(slapd, login)
    handle = session_env(pamclient(svc, login, ["open_session"], []).output)["MEDIMAIL_SESSION"]
    pamd.ctl("switch", org, "--session-stdin", input=handle + "\n", uid=uid, check=0)
    pamd.ctl("default", org, uid=uid, check=0)
    assert authd.ctl("suspend", org, "--reason", "fermeture").returncode == 0
    r = pamd.ctl("switch", org, "--session-stdin", input=handle + "\n", uid=uid, check=1)
    assert "ne fait pas partie de vos comptes" in r.json["message"], r.stdout
    assert pamd.ctl("switch", login, "--session-stdin", input=handle + "\n", uid=uid, check=0)
    env = session_env(pamclient(svc, login, ["open_session"], []).output)
    assert env["MEDIMAIL_ACCOUNT"] == login, env
    assert [x["login"] for x in pamd.ctl("accounts", uid=uid, check=0).json["records"]] == [login]


RAW_AS_USER = """
import socket, struct, sys
sys.path.insert(0, {here!r})
import mmwire
code, path = int(sys.argv[1], 16), sys.argv[2]
fields = [tuple(a.split("=", 1)) for a in sys.argv[3:]]
with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
    s.settimeout(30)
    s.connect(path)
    s.sendall(mmwire.encode(code, fields))
    head = mmwire._read(s, 12)
    body = mmwire._read(s, struct.unpack(">IHHI", head)[3])
sys.stdout.write((head + body).hex())
"""


def raw_reply_as(uid, sock, code, **fields):
    """The reply frame's bytes to a request sent by an unprivileged uid."""
    script = RAW_AS_USER.format(here=os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", sys.executable, "-c",
                        script, f"{code:x}", str(sock)] + [f"{k}={v}" for k, v in fields.items()],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return bytes.fromhex(r.stdout)


def test_unknown_and_foreign_account_answers_are_identical(authd, smtp, slapd, pamd):
    """To an unprivileged caller, someone else's account and an account that does not
    exist get the same bytes back; only the audit log tells them apart."""
    me, _ = register_med(authd, smtp)
    other, other_mail = register_med(authd, smtp)
    uid = uid_of(slapd, me)
    missing = "personne.inexistante"
    for code, extra in ((mmwire.ACCOUNTS, {}), (mmwire.DEFAULT_SET, {"target": me}),
                        (mmwire.SESSION_OPEN, {}), (mmwire.AUTH_PASSWORD, {"password": PW}),
                        (mmwire.OTP_SEND, {}), (mmwire.ACCT_CHECK, {})):
        unknown = raw_reply_as(uid, pamd.socket, code, user=missing, **extra)
        assert struct.unpack(">i", unknown[12:16])[0] < 0, (hex(code), unknown)
        for name in (other, other_mail):
            foreign = raw_reply_as(uid, pamd.socket, code, user=name, **extra)
            assert foreign == unknown, (hex(code), foreign, unknown)
    log = pamd.log_text()
    assert re.search(rf'account="{re.escape(other)}" result="refused" reason="caller may (only|not) act for',
                     log)  # the wording of the one access rule (store/access.c)
    assert re.search(rf'account="{missing}" result="refused" reason="unknown account"', log)
    # Managing an ORG: an unknown ORG and someone else's get the same answer.
    org, _ = register_org(authd, smtp, other, "Pharmacie Oracle")
    a = pamd.ctl("org", "member", "add", org, me, uid=uid, check=1)
    b = pamd.ctl("org", "member", "add", missing, me, uid=uid, check=1)
    assert (a.json["status"], a.json["message"], a.stderr) == (b.json["status"], b.json["message"], b.stderr)
    # The account resolvers answer alike too (they echo the name they were given).
    for args in (("show", "{}"), ("notify", "show", "--login", "{}"), ("card", "list", "{}"),
                 ("search", "--login", "{}", "martin")):
        got = []
        for name in (other, missing):
            r = pamd.ctl(*[x.format(name) for x in args], uid=uid, check=1)
            got.append((r.json["status"], r.json["message"].replace(name, "NAME"), r.json["fields"]))
        assert got[0] == got[1], (args, got)
