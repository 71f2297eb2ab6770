"""e-CPS login through PAM (issue 6 point 3): pam_medimail with the `ecps` option starts a CIBA
push through the daemon, shows the binding message and polls a real oidc-provider that
approves, denies or lets the request expire; cancelling ends the wait at once."""
import re
import signal
import sys
import time

import pexpect
import pexpect.popen_spawn
import pytest

from pamstack import P_CGU, PAMCLIENT, PamService, pamclient, pamtester

P_CODE = r"Code à vérifier dans l'application e-CPS : (\S+)"
PAM_SUCCESS, PAM_AUTH_ERR, PAM_ABORT = 0, 7, 26


@pytest.fixture(scope="module")
def ecps_svc(state, api):
    return PamService(state, api.a, name="ecps", options="ecps ecps_timeout=30")


def shown_code(output):
    m = re.search(P_CODE, output)
    assert m, output
    return m.group(1)


def result(output, op):
    m = re.search(rf"^RESULT {op} (\d+)", output, re.M)
    assert m, output
    return int(m.group(1))


def test_approved_push_logs_in_and_the_code_shown_is_the_binding_message(api, ecps_svc):
    api.provider.control(ciba="approve", ciba_ttl=120)
    before = api.provider.ciba_last()["count"]
    r = pamclient(ecps_svc, api.per, ["authenticate", "acct_mgmt", "open_session"], [(P_CGU + "*", "oui")])
    assert result(r.output, "authenticate") == PAM_SUCCESS, r
    assert result(r.output, "open_session") == PAM_SUCCESS, r
    last = api.provider.ciba_last()
    assert last["count"] == before + 1
    assert shown_code(r.output) == last["binding_message"]
    assert last["login_hint"] == "8" + api.rpps_linked
    assert f"ENV MEDIMAIL_ACCOUNT={api.per}" in r.output
    # no password, no e-mailed code: the phone was the second factor
    assert "PROMPT_OFF" not in r.output
    log = api.a.log_text()
    assert re.search(rf'audit="session-open" caller="uid=0" method="ecps" .*account="{api.per}" result="ok"', log), \
        log[-2000:]
    # PAM opened its own session: the poll did not leave an API session behind
    assert 'reason="authenticated (no API session)"' in log


def test_approved_push_through_pamtester(api, ecps_svc):
    api.provider.control(ciba="approve", ciba_ttl=120)
    r = pamtester(ecps_svc, api.per, ["authenticate"], [])
    assert r.status == 0, r
    assert "successfully authenticated" in r.output
    assert shown_code(r.output) == api.provider.ciba_last()["binding_message"]


def test_denied_on_the_phone(api, ecps_svc):
    api.provider.control(ciba="deny", ciba_ttl=120)
    try:
        r = pamclient(ecps_svc, api.per, ["authenticate"], [])
    finally:
        api.provider.control(ciba="approve", ciba_ttl=120)
    assert result(r.output, "authenticate") == PAM_AUTH_ERR, r
    assert "ERROR: Connexion refusée dans l'application e-CPS." in r.output
    assert shown_code(r.output) == api.provider.ciba_last()["binding_message"]


def test_expired_request(api, ecps_svc):
    api.provider.control(ciba="expire", ciba_ttl=2)
    try:
        t0 = time.monotonic()
        r = pamclient(ecps_svc, api.per, ["authenticate"], [])
        took = time.monotonic() - t0
    finally:
        api.provider.control(ciba="approve", ciba_ttl=120)
    assert result(r.output, "authenticate") == PAM_AUTH_ERR, r
    assert "ERROR: Demande e-CPS expirée sans réponse" in r.output
    assert took < 20  # the provider's 2 s, not the module's 30 s


def test_module_timeout(state, api):
    svc = PamService(state, api.a, name="ecps-short", options="ecps ecps_timeout=2 lang=en")
    api.provider.control(ciba="expire", ciba_ttl=120)
    try:
        t0 = time.monotonic()
        r = pamclient(svc, api.per, ["authenticate"], [])
        took = time.monotonic() - t0
    finally:
        api.provider.control(ciba="approve", ciba_ttl=120)
    assert result(r.output, "authenticate") == PAM_AUTH_ERR, r
    assert "Code to check in the e-CPS app: " in r.output
    assert "ERROR: No answer from the e-CPS app in time" in r.output
    assert 1.5 < took < 10


def test_conversation_cancel_on_the_code_message(api, ecps_svc, monkeypatch):
    """A greeter whose user presses Cancel: its conversation fails on the info message."""
    api.provider.control(ciba="expire", ciba_ttl=120)
    env = dict(ecps_svc.env(), PAMCLIENT_FAIL_INFO="e-CPS")
    try:
        t0 = time.monotonic()
        child = pexpect.popen_spawn.PopenSpawn([sys.executable, str(PAMCLIENT), ecps_svc.name, api.per,
                                                "authenticate"], env=env, encoding="utf-8", timeout=20)
        child.expect(pexpect.EOF)
        took = time.monotonic() - t0
    finally:
        api.provider.control(ciba="approve", ciba_ttl=120)
    assert child.wait() == 1
    assert result(child.before, "authenticate") == PAM_ABORT, child.before
    assert took < 10


def test_ctrl_c_ends_the_wait(api, ecps_svc):
    """SIGINT to an application that handles it: the module stops polling and returns PAM_ABORT."""
    api.provider.control(ciba="expire", ciba_ttl=120)
    env = dict(ecps_svc.env(), PAMCLIENT_SIGINT="1")
    try:
        child = pexpect.popen_spawn.PopenSpawn([sys.executable, str(PAMCLIENT), ecps_svc.name, api.per,
                                                "authenticate"], env=env, encoding="utf-8", timeout=20)
        child.expect(P_CODE)
        code = child.match.group(1)
        time.sleep(0.5)
        t0 = time.monotonic()
        child.kill(signal.SIGINT)
        child.expect(pexpect.EOF)
        took = time.monotonic() - t0
    finally:
        api.provider.control(ciba="approve", ciba_ttl=120)
    out = child.before
    assert child.wait() == 1
    assert code == api.provider.ciba_last()["binding_message"]
    assert "ERROR: Connexion e-CPS annulée." in out, out
    assert result(out, "authenticate") == PAM_ABORT, out
    assert "SIGNAL SIGINT" in out
    assert took < 5


def test_unknown_and_non_per_accounts_refused(api, ecps_svc):
    r = pamclient(ecps_svc, "nobody.here", ["authenticate"], [])
    assert result(r.output, "authenticate") == PAM_AUTH_ERR, r
    r = pamclient(ecps_svc, api.med, ["authenticate"], [])  # a MED account has no national id
    assert result(r.output, "authenticate") != PAM_SUCCESS, r
    assert "ERROR: Refusé" in r.output, r
