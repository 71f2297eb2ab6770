"""Password + e-mailed code login over the HTTP API (the same policy as PAM: lockout,
code tries, expiry, single use, rate limits, audit), and the first Pro Sante Connect
login of an unmapped identity linked after it, against real slapd, SMTP sink and
OpenID Connect provider, across two daemons."""
import json
import re
import subprocess
import time

import pytest

import mmwire
from apistack import PW, Api, luhn_complete, register_active
from mmstack import SUFFIX, Daemon, _port_open, free_port, med_fields, per_fields, wait_for
from test_api import assert_error, session_count
from test_psc import Browser

CODE_RE = r"Ce code est le : (\d{6})"
_names = iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def fresh_account(api, smtp, kind="MED", rpps=None):
    """A new active account, so that no test meets another's code or resend interval."""
    letter = next(_names)
    mail = f"api.login.{letter.lower()}@example.org"
    if kind == "PER":
        fields = per_fields(mail, "APILOG" + letter, "Marc", rpps)
    else:
        fields = med_fields(mail, "APILOG" + letter, "Marc")
    return register_active(api.a, smtp, kind, fields, mail), mail


def mails(smtp, mail):
    return len(smtp.messages(mail))


def password_step(svc, smtp, user, mail, password=PW, login=None):
    before = mails(smtp, mail)
    r = svc.post("/v1/login/password", {"user": user, "password": password})
    assert r.status == 200, r
    assert re.fullmatch(r"[0-9a-f]{64}", r.json["txn"]) and r.json["login"] == (login or user)
    assert r.json["code_sent"] is True and r.json["expires_in"] > 0
    code = smtp.wait_message(mail, CODE_RE, before).group(1)
    return r.json["txn"], code


def ldap_modify(slapd, ldif):
    subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url], input=ldif, text=True,
                   check=True, capture_output=True)


def account_entry(slapd, login):
    return slapd.search(SUFFIX, f"(uid={login})")[0]


def txn_entries(slapd, login):
    dn = account_entry(slapd, login)["dn"]
    return slapd.search(f"ou=sessions,{SUFFIX}", f"(&(description=pam-txn)(mmSessionUser={dn}))", scope="one")


# ------------------------------------------------------------ the login

def test_password_then_code_gives_a_session_valid_on_both_daemons(api, smtp, slapd):
    login, mail = fresh_account(api, smtp)
    txn, code = password_step(api.svc_a, smtp, login, mail)
    # the code step may land on the other daemon: everything lives in the directory
    r = api.svc_b.post("/v1/login/code", {"txn": txn, "code": code})
    assert r.status == 200, r
    assert r.json["status"] == "authenticated" and r.json["account"] == login
    assert r.json["method"] == "password+otp"
    token = r.json["session_token"]
    for svc in (api.svc_a, api.svc_b):
        i = svc.post("/v1/introspect", {"token": token})
        assert i.json["active"] is True and i.json["sub"] == login, i
        assert i.json["method"] == "password+otp" and i.json["client_id"] == "webmail"
    # the transaction served once
    assert txn_entries(slapd, login) == []
    assert_error(api.svc_a.post("/v1/login/code", {"txn": txn, "code": code}), 401, "invalid_txn")
    # audited with the client id and the HTTP peer; no secret in the logs
    logs = api.a.log_text() + api.b.log_text()
    assert re.search(rf'audit="auth" caller="api:webmail" method="password" service="webmail" '
                     rf'remote="127\.0\.0\.1" account="{login}" result="ok"', logs), logs[-2000:]
    assert re.search(rf'audit="otp-verify" caller="api:webmail" method="password\+otp" service="webmail" '
                     rf'remote="127\.0\.0\.1" account="{login}" result="ok"', logs)
    for secret in (PW, code, txn, token):
        assert secret not in logs
    assert token not in json.dumps(slapd.search(f"ou=sessions,{SUFFIX}"))


def test_login_e_mail_as_user(api, smtp):
    login, mail = fresh_account(api, smtp)
    txn, code = password_step(api.svc_b, smtp, mail, mail, login=login)
    r = api.svc_a.post("/v1/login/code", {"txn": txn, "code": code})
    assert r.status == 200 and r.json["account"] == login, r


def test_wrong_password_sends_no_code(api, smtp, slapd):
    login, mail = fresh_account(api, smtp)
    before, sessions = mails(smtp, mail), session_count(slapd)
    r = api.svc_a.post("/v1/login/password", {"user": login, "password": PW + "x"})
    assert_error(r, 401, "invalid_credentials")
    assert "txn" not in r.json
    # an unknown account answers exactly the same
    u = api.svc_a.post("/v1/login/password", {"user": "nobody.here", "password": PW})
    assert_error(u, 401, "invalid_credentials")
    assert u.json == r.json
    assert account_entry(slapd, login)["mmFailCount"] == ["1"]
    time.sleep(0.5)
    assert mails(smtp, mail) == before and session_count(slapd) == sessions
    # a good password resets the count
    password_step(api.svc_a, smtp, login, mail)
    assert account_entry(slapd, login).get("mmFailCount", ["0"]) == ["0"]


def test_wrong_code_five_times_then_the_right_code_fails(api, smtp, slapd):
    login, mail = fresh_account(api, smtp)
    txn, code = password_step(api.svc_a, smtp, login, mail)
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    sessions = session_count(slapd)
    for left in (4, 3, 2, 1):
        r = api.svc_b.post("/v1/login/code", {"txn": txn, "code": wrong})
        assert_error(r, 401, "invalid_credentials")
        assert r.json["tries_left"] == left, r
    assert_error(api.svc_a.post("/v1/login/code", {"txn": txn, "code": wrong}), 401, "new_code_required")
    r = api.svc_a.post("/v1/login/code", {"txn": txn, "code": code})
    assert_error(r, 401, "new_code_required")
    assert session_count(slapd) == sessions
    assert "mmOtpHash" not in account_entry(slapd, login)


def test_used_code_is_refused(api, smtp, slapd):
    login, mail = fresh_account(api, smtp)
    txn, code = password_step(api.svc_a, smtp, login, mail)
    assert api.svc_a.post("/v1/login/code", {"txn": txn, "code": code}).status == 200
    # a fresh password step (over the socket: no new code within the resend interval)
    a = mmwire.call(api.a.socket, mmwire.AUTH_PASSWORD, user=login, password=PW)
    assert a.status == 0, a
    r = api.svc_b.post("/v1/login/code", {"txn": a.get("txn"), "code": code})
    assert_error(r, 401, "new_code_required")
    # and over the API, within the resend interval, the password step says when to retry
    r = api.svc_a.post("/v1/login/password", {"user": login, "password": PW})
    assert_error(r, 429, "rate_limited")
    assert 0 < r.json["retry_after"] <= 30


def test_expired_transaction_and_expired_code(api, smtp, slapd):
    login, mail = fresh_account(api, smtp)
    txn, code = password_step(api.svc_a, smtp, login, mail)
    dn = account_entry(slapd, login)["dn"]
    # the code expires first: it is refused as expired, and withdrawn
    ldap_modify(slapd, f"dn: {dn}\nchangetype: modify\nreplace: mmOtpExpires\nmmOtpExpires: 20200101000000Z\n")
    assert_error(api.svc_b.post("/v1/login/code", {"txn": txn, "code": code}), 410, "code_expired")
    assert "mmOtpHash" not in account_entry(slapd, login)
    # then the transaction itself
    (t,) = txn_entries(slapd, login)
    ldap_modify(slapd, f"dn: {t['dn']}\nchangetype: modify\nreplace: mmSessionExpires\n"
                       f"mmSessionExpires: 20200101000000Z\n")
    assert_error(api.svc_a.post("/v1/login/code", {"txn": txn, "code": code}), 410, "txn_expired")
    assert txn_entries(slapd, login) == []  # deleted when found expired
    assert_error(api.svc_a.post("/v1/login/code", {"txn": txn, "code": code}), 401, "invalid_txn")


def test_lockout_is_shared_across_daemons(api, smtp, slapd):
    login, mail = fresh_account(api, smtp)
    codes = []
    for i in range(5):  # lockout_threshold = 5, alternating daemons
        svc = api.svc_a if i % 2 == 0 else api.svc_b
        codes.append(svc.post("/v1/login/password", {"user": login, "password": "Wrong#2024"}).status)
    assert codes == [401, 401, 401, 401, 423], codes
    # the right password is refused on either daemon while locked, and no code is sent
    before = mails(smtp, mail)
    for svc in (api.svc_a, api.svc_b):
        r = svc.post("/v1/login/password", {"user": login, "password": PW})
        assert_error(r, 423, "locked")
        assert r.json["locked_until"] > time.time() + 600
    assert "mmLockedUntil" in account_entry(slapd, login)
    assert mails(smtp, mail) == before
    # once the lockout ran out (moved into the past here), the login goes through and clears it
    dn = account_entry(slapd, login)["dn"]
    # (the daemon's lock and its copy for LDAP binds, ppolicy's pwdAccountLockedTime)
    ldap_modify(slapd, f"dn: {dn}\nchangetype: modify\nreplace: mmLockedUntil\nmmLockedUntil: 20200101000000Z\n"
                       f"-\ndelete: pwdAccountLockedTime\n")
    password_step(api.svc_b, smtp, login, mail)
    assert "mmLockedUntil" not in account_entry(slapd, login)


def test_bad_input_is_refused_and_changes_nothing(api, smtp, slapd, state):
    login, mail = fresh_account(api, smtp)
    svc = api.svc_a
    before_mail, before_sessions = mails(smtp, mail), session_count(slapd)
    before_entry = account_entry(slapd, login)
    for path in ("/v1/login/password", "/v1/login/code", "/v1/psc/link"):
        assert_error(svc.post(path, raw=b'{"user": '), 400, "invalid_json")
        assert_error(svc.post(path, raw=b'["user"]'), 400, "invalid_json")
        assert_error(svc.post(path, raw=b'{"a":' + b'{' * 20 + b'}' * 20 + b'}'), 400, "invalid_json")
        assert_error(svc.post(path, {}), 400, "missing_field")
        assert_error(svc.post(path, raw=b'x=1', headers={"Content-Type": "text/plain"}), 415)
        assert_error(svc.get(path), 405, "method_not_allowed")
        assert_error(Api(api.url_a).post(path, {"user": login, "password": PW}), 401, "unauthorized")
    bad = [
        ("/v1/login/password", {"user": login, "password": 12}, "invalid_field"),
        ("/v1/login/password", {"user": [login], "password": PW}, "invalid_field"),
        ("/v1/login/password", {"user": login, "password": PW, "admin": True}, "unknown_field"),
        ("/v1/login/password", {"user": login, "password": "x" * 1025}, "invalid_field"),
        ("/v1/login/password", {"user": login}, "missing_field"),
        ("/v1/login/password", {"user": login + "\u0000", "password": PW}, None),  # NUL: refused by the parser
        ("/v1/login/password", {"user": "a\nb", "password": PW}, "invalid_field"),
        ("/v1/login/code", {"txn": "0" * 64, "code": 123456}, "invalid_field"),
        ("/v1/login/code", {"txn": "0" * 65, "code": "123456"}, "invalid_field"),
        ("/v1/login/code", {"txn": "0" * 64, "code": "123456", "user": login}, "unknown_field"),
        ("/v1/psc/link", {"link": "0" * 64, "txn": "0" * 64, "code": None}, "invalid_field"),
    ]
    for path, body, err in bad:
        assert_error(svc.post(path, body), 400, err)
    # a transaction that does not exist, or is not hex: no hint, nothing touched
    assert_error(svc.post("/v1/login/code", {"txn": "0" * 64, "code": "123456"}), 401, "invalid_txn")
    assert_error(svc.post("/v1/login/code", {"txn": "../" * 21 + "a", "code": "123456"}), 401, "invalid_txn")
    # a 10 MB body is refused before it is read
    big = state / "big-login.json"
    big.write_bytes(b'{"user":"' + login.encode() + b'","password":"' + b"a" * (10 * 1024 * 1024) + b'"}')
    out = subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-u", f"webmail:{api.secret}",
                          "-H", "Content-Type: application/json", "--data-binary", f"@{big}",
                          f"{api.url_a}/v1/login/password"], capture_output=True, text=True, timeout=30)
    body, _, status = out.stdout.rpartition("\n")
    assert status == "413" and json.loads(body)["error"] == "body_too_large", out
    time.sleep(0.3)
    assert mails(smtp, mail) == before_mail and session_count(slapd) == before_sessions
    assert account_entry(slapd, login) == before_entry


def test_rate_limit_per_account_and_per_source(api, state, slapd, smtp):
    port = free_port()
    d = Daemon(state, slapd, smtp.port, name="api-login-rate",
               extra=f"http_listen = 127.0.0.1:{port}\nrate_per_account = 2\nrate_per_source = 4\n"
                     f"fail_delay_ms = 0\n").start()
    try:
        wait_for(lambda: _port_open(port), what="listener")
        svc = Api(f"http://127.0.0.1:{port}", "webmail", api.secret)
        login, mail = fresh_account(api, smtp)
        codes = [svc.post("/v1/login/password", {"user": login, "password": "Wrong#2024"}).status
                 for _ in range(3)]
        assert codes == [401, 401, 429], codes
        r = svc.post("/v1/login/password", {"user": login, "password": PW})
        assert_error(r, 429, "rate_limited")
        assert r.json["retry_after"] >= 1
        # the third wrong password was not even counted
        assert account_entry(slapd, login)["mmFailCount"] == ["2"]
        # another account from the same source: the source bucket (4 a minute) runs dry
        other, _ = fresh_account(api, smtp)
        r = svc.post("/v1/login/password", {"user": other, "password": "Wrong#2024"})
        assert_error(r, 429, "rate_limited")
        assert re.search(r'audit="auth" caller="api:webmail".*reason="rate limit per source"', d.log_text())
        assert re.search(r'audit="auth" caller="api:webmail".*reason="rate limit per account"', d.log_text())
    finally:
        d.stop()


# ------------------------------------------------------------ Pro Sante Connect: linking

def psc_link_required(api):
    api.provider.control(account="psc-sub-unlinked", acr="eidas1")
    b = Browser(api.url_a)
    r = b.visit(b.authorize())
    assert_error(r, 403, "link_required")
    assert re.fullmatch(r"[0-9a-f]{64}", r.json["link"]) and r.json["link_expires_in"] > 0
    return r.json["link"]


def unlink(slapd, login):
    entry = account_entry(slapd, login)
    if "mmPscSub" in entry:
        ldap_modify(slapd, f"dn: {entry['dn']}\nchangetype: modify\ndelete: mmPscSub\n")


def test_psc_first_login_links_after_password_and_code(api, smtp, slapd):
    login, mail = fresh_account(api, smtp)
    try:
        link = psc_link_required(api)
        # the handle is stored hashed
        assert link not in json.dumps(slapd.search(f"ou=sessions,{SUFFIX}"))
        txn, code = password_step(api.svc_a, smtp, login, mail)
        r = api.svc_b.post("/v1/psc/link", {"link": link, "txn": txn, "code": code})
        assert r.status == 200, r
        assert r.json["account"] == login and r.json["method"] == "psc"
        i = api.svc_a.post("/v1/introspect", {"token": r.json["session_token"]})
        assert i.json["active"] is True and i.json["sub"] == login
        assert account_entry(slapd, login)["mmPscSub"] == ["psc-sub-unlinked"]
        assert re.search(rf'audit="psc-link" .*account="{login}" result="ok"', api.b.log_text())
        # the handle served once
        r = api.svc_a.post("/v1/psc/link", {"link": link, "txn": txn, "code": code})
        assert_error(r, 410, "link_expired")
        # the next PSC login of that identity maps directly
        b = Browser(api.url_b)
        r = b.visit(b.authorize())
        assert r.status == 200, r
        assert r.json["account"] == login and r.json["method"] == "psc"
        # medimailctl psc list / unlink ("Suppression d'un mode de connexion")
        lst = api.b.ctl("psc", "list", login)
        assert lst.returncode == 0 and [x["sub"] for x in lst.json["records"]] == ["psc-sub-unlinked"], lst
        uid = int(account_entry(slapd, login)["uidNumber"][0])
        own = api.a.ctl("psc", "list", uid=uid)
        assert own.returncode == 0 and own.json["records"][0]["sub"] == "psc-sub-unlinked", own
        assert api.a.ctl("psc", "list", login, uid=65534).returncode == 1
        assert api.a.ctl("psc", "unlink", login, uid=65534).returncode == 1
        assert "mmPscSub" in account_entry(slapd, login)
        assert api.a.ctl("psc", "unlink", login, "other-sub").returncode == 1
        un = api.a.ctl("psc", "unlink", login, uid=uid)
        assert un.returncode == 0 and un.json["fields"]["removed"] == "1", un
        assert "mmPscSub" not in account_entry(slapd, login)
        assert api.a.ctl("psc", "list", login).json.get("records", []) == []
        assert api.a.ctl("psc", "unlink", login).returncode == 1  # nothing left to remove
        # unlinked: the identity needs a link again
        b = Browser(api.url_a)
        assert_error(b.visit(b.authorize()), 403, "link_required")
    finally:
        unlink(slapd, login)
        api.provider.control(account="psc-sub-linked")


def test_psc_link_with_a_wrong_code_links_nothing(api, smtp, slapd):
    login, mail = fresh_account(api, smtp)
    try:
        link = psc_link_required(api)
        txn, code = password_step(api.svc_a, smtp, login, mail)
        wrong = f"{(int(code) + 7) % 1000000:06d}"
        r = api.svc_a.post("/v1/psc/link", {"link": link, "txn": txn, "code": wrong})
        assert_error(r, 401, "invalid_credentials")
        assert "mmPscSub" not in account_entry(slapd, login)
        # an unknown transaction: nothing either
        assert_error(api.svc_a.post("/v1/psc/link", {"link": link, "txn": "ab" * 32, "code": code}), 401,
                     "invalid_txn")
        assert "mmPscSub" not in account_entry(slapd, login)
        # a made-up handle is refused before any code is spent
        assert_error(api.svc_a.post("/v1/psc/link", {"link": "cd" * 32, "txn": txn, "code": code}), 410,
                     "link_expired")
        # the identity is still unmapped
        b = Browser(api.url_a)
        assert_error(b.visit(b.authorize()), 403, "link_required")
        # the right code still links with the first handle
        r = api.svc_b.post("/v1/psc/link", {"link": link, "txn": txn, "code": code})
        assert r.status == 200 and r.json["account"] == login, r
    finally:
        unlink(slapd, login)
        api.provider.control(account="psc-sub-linked")


def test_psc_link_refused_for_another_professional(api, smtp, slapd):
    """A PER account whose national id is not the PSC identity's cannot take it."""
    login, mail = fresh_account(api, smtp, "PER", rpps=luhn_complete("9970000030"))
    try:
        link = psc_link_required(api)
        txn, code = password_step(api.svc_a, smtp, login, mail)
        r = api.svc_a.post("/v1/psc/link", {"link": link, "txn": txn, "code": code})
        assert_error(r, 409, "identity_mismatch")
        assert "mmPscSub" not in account_entry(slapd, login)
        assert re.search(rf'audit="psc-link" .*account="{login}" result="refused"', api.a.log_text())
    finally:
        unlink(slapd, login)
        api.provider.control(account="psc-sub-linked")
