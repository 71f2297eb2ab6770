"""pam_medimail end to end: the real pamtester (and a ctypes PAM client) under pam_wrapper with a
private pam.d, the module, one or two daemons, slapd and the SMTP sink. Codes are read from the
sink while the PAM conversation waits."""
import hashlib
import os
import re
import signal
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
