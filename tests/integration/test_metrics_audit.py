"""The flow metrics on /metrics (moved by exactly the logins done), who may read them (the
allow-list, the bearer token from a root-owned file), and `medimailctl audit` over the daemon's
audit_file (by account, time, result; strict parsing; reopened at SIGHUP)."""
import grp
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

import mmwire
from mmstack import BUILD, NOBODY, Daemon, free_port, wait_for, _port_open
from pamstack import PW, Codes, register_med

WRONG = "Wrong#pass1"
THRESHOLD = 3
CONF = f"""fail_delay_ms = 1
lockout_threshold = {THRESHOLD}
lockout_duration = 600
otp_resend_interval = 0
rate_per_source = 1000000
rate_per_account = 1000000
"""
TOKEN = "mT0ken-" + "a1b2c3d4e5f6a7b8c9d0"


def start(state, slapd, smtp, name, extra=""):
    port = free_port()
    d = Daemon(state, slapd, smtp.port, name=name,
               extra=f"{CONF}http_listen = 127.0.0.1:{port}\n{extra}").start()
    d.port = port
    wait_for(lambda: _port_open(port), what="http listener")
    return d


def get(d, path="/metrics", headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{d.port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def raw_get(d, head):
    """A request written byte by byte (headers urllib would refuse)."""
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
        s.sendall(head)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


def scrape(d):
    status, text = get(d)
    assert status == 200, text
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def delta(after, before, name):
    return after.get(name, 0) - before.get(name, 0)


@pytest.fixture(scope="module")
def audit_path(state):
    return state / "ops-audit.log"


@pytest.fixture(scope="module")
def md(state, slapd, smtp, authd, audit_path):
    d = start(state, slapd, smtp, "ops", f"audit_file = {audit_path}\n")
    yield d
    d.stop()


@pytest.fixture(scope="module")
def codes(smtp):
    return Codes(smtp)


def ctl_audit(d, *args, uid=None):
    """medimailctl audit over the daemon's file; --json among args asks for JSON."""
    return d.ctl("audit", "--file", str(d.audit_file), *args, uid=uid, json_out=False)


# ------------------------------------------------------------ the counters

def test_counters_move_by_exactly_the_logins_done(md, authd, smtp, codes):
    login, mail = register_med(authd, smtp)
    victim, _ = register_med(authd, smtp)
    before = scrape(md)

    t = mmwire.call(md.socket, mmwire.AUTH_PASSWORD, user=login, password=PW)
    assert t.status == 0, t
    assert mmwire.call(md.socket, mmwire.AUTH_PASSWORD, user=login, password=WRONG).status != 0
    n = codes.count(mail)
    assert mmwire.call(md.socket, mmwire.OTP_SEND, user=login, txn=t.get("txn")).status == 0
    code = codes.wait_new(mail, n)
    assert mmwire.call(md.socket, mmwire.OTP_VERIFY, user=login, txn=t.get("txn"), code="000000" if code != "000000" else "111111").status != 0
    assert mmwire.call(md.socket, mmwire.OTP_VERIFY, user=login, txn=t.get("txn"), code=code).status == 0
    for _ in range(THRESHOLD):
        assert mmwire.call(md.socket, mmwire.AUTH_PASSWORD, user=victim, password=WRONG).status != 0
    after = scrape(md)
    pw = 'medimail_logins_total{method="password",door="socket",result="%s"}'
    otp = 'medimail_logins_total{method="otp",door="socket",result="%s"}'
    assert delta(after, before, pw % "ok") == 1
    assert delta(after, before, pw % "refused") == 1 + THRESHOLD
    # the second factor that completes the login says so: password+otp
    assert delta(after, before, 'medimail_logins_total{method="password+otp",door="socket",result="ok"}') == 1
    assert delta(after, before, otp % "ok") == 0
    assert delta(after, before, otp % "refused") == 1
    assert delta(after, before, "medimail_codes_sent_total") == 1
    assert delta(after, before, "medimail_codes_failed_total") == 0
    assert delta(after, before, "medimail_lockouts_total") == 1
    assert delta(after, before, "medimail_smtp_send_seconds_count") == 1
    assert delta(after, before, "medimail_smtp_send_failed_total") == 0
    assert delta(after, before, "medimail_ldap_operation_seconds_count") >= 8
    assert delta(after, before, 'medimail_ldap_operation_seconds_bucket{le="+Inf"}') == \
        delta(after, before, "medimail_ldap_operation_seconds_count")
    # set by the cache builder and the follower, threads of their own: waited for, not read once
    wait_for(lambda: scrape(md).get("medimail_nss_cache_rebuilds_total", 0) >= 1, what="a first cache build")
    assert "medimail_nss_cache_last_rebuild_seconds" in scrape(md)
    wait_for(lambda: scrape(md).get("medimail_follow_live", 0) >= 1,  # ou=sessions and the accounts
             what="the follower live")
    # no account name and no address in any label
    text = get(md)[1]
    for secret in (login, victim, mail):
        assert secret not in text


def test_relay_down_counts_a_failed_code_and_a_failed_send(state, slapd, smtp, authd):
    login, _ = register_med(authd, smtp)
    d = Daemon(state, slapd, free_port(), name="ops-norelay", extra=CONF + f"http_listen = 127.0.0.1:{free_port()}\n")
    d.port = int(re.search(r"http_listen = 127.0.0.1:(\d+)", d.extra).group(1))
    d.start()
    try:
        wait_for(lambda: _port_open(d.port), what="http listener")
        before = scrape(d)
        t = mmwire.call(d.socket, mmwire.AUTH_PASSWORD, user=login, password=PW)
        assert t.status == 0, t
        assert mmwire.call(d.socket, mmwire.OTP_SEND, user=login, txn=t.get("txn")).status != 0
        after = scrape(d)
        assert delta(after, before, "medimail_codes_failed_total") == 1
        assert delta(after, before, "medimail_codes_sent_total") == 0
        assert delta(after, before, "medimail_smtp_send_failed_total") >= 1
        assert delta(after, before, "medimail_smtp_send_seconds_count") == \
            delta(after, before, "medimail_smtp_send_failed_total")
    finally:
        d.stop()


def test_mail_client_logins_counted_by_credential(md, authd, smtp):
    login, _ = register_med(authd, smtp)
    r = mmwire.call(authd.socket, mmwire.APP_PASSWORD_CREATE, login=login, name="Thunderbird")
    assert r.status == 0, r
    secret = r.get("secret")
    e = mmwire.call(authd.socket, mmwire.DEVICE_ENROL, login=login, name="Téléphone")
    c = mmwire.call(authd.socket, mmwire.DEVICE_COMPLETE, code=e.get("code"))
    assert e.status == 0 and c.status == 0, (e, c)
    before = scrape(md)
    assert mmwire.call(md.socket, mmwire.MAIL_AUTH, user=login, secret=secret).status == 0
    assert mmwire.call(md.socket, mmwire.MAIL_AUTH, user=login, secret=c.get("credential")).status == 0
    assert mmwire.call(md.socket, mmwire.MAIL_AUTH, user=login, secret=PW).status != 0
    after = scrape(md)
    ev = 'medimail_audit_events_total{event="mail-auth",method="%s",door="socket",result="%s"}'
    assert delta(after, before, ev % ("app-password", "ok")) == 1
    assert delta(after, before, ev % ("device", "ok")) == 1
    refused = [k for k in after if k.startswith('medimail_audit_events_total{event="mail-auth"')
               and 'result="refused"' in k]
    assert sum(delta(after, before, k) for k in refused) == 1
    logins = [k for k in after if k.startswith("medimail_logins_total{")]
    assert sum(delta(after, before, k) for k in logins) == 3
    # the LDAP work of those three logins is in the histogram, the relay untouched
    assert delta(after, before, "medimail_ldap_operation_seconds_count") >= 3
    assert delta(after, before, "medimail_smtp_send_seconds_count") == 0


def test_unknown_event_and_method_names_stay_in_bounded_labels(md):
    before = scrape(md)
    # a login attempt for a name nobody has: refused, counted, the name never a label
    weird = 'x"}\nmedimail_forged 1'
    mmwire.call(md.socket, mmwire.AUTH_PASSWORD, user=weird, password=WRONG)
    after = scrape(md)
    assert "medimail_forged" not in get(md)[1]
    refused = [k for k in after if k.startswith("medimail_logins_total{") and 'result="refused"' in k]
    assert sum(delta(after, before, k) for k in refused) == 1
    assert delta(after, before, 'medimail_audit_events_total{event="auth",method="none",door="socket",'
                                'result="refused"}') == 1


# ------------------------------------------------------------ who may read /metrics

def test_default_is_loopback_only_and_proxied_sources_are_refused(state, slapd, smtp, authd):
    d = start(state, slapd, smtp, "ops-proxy", "http_trusted_proxies = 127.0.0.1\n")
    try:
        assert get(d)[0] == 200
        # the client behind the trusted proxy is another source: refused
        assert get(d, headers={"X-Forwarded-For": "192.0.2.7"})[0] == 403
    finally:
        d.stop()


def test_allow_list_refuses_another_source(state, slapd, smtp, authd):
    d = start(state, slapd, smtp, "ops-allow", "metrics_allow = 10.0.0.0/8, fd00::/8\n")
    try:
        status, body = get(d)
        assert status == 403 and "metrics" in body
        assert get(d, "/healthz")[0] == 200  # the rest of the API is not affected
    finally:
        d.stop()


def test_bearer_token(state, slapd, smtp, authd):
    tf = state / "metrics.token"
    tf.write_text(TOKEN + "\n")
    os.chmod(tf, 0o600)
    d = start(state, slapd, smtp, "ops-token", f"metrics_token_file = {tf}\n")
    try:
        assert get(d)[0] == 403
        assert get(d, headers={"Authorization": "Bearer " + TOKEN[:-1] + "x"})[0] == 403
        assert get(d, headers={"Authorization": "Bearer " + TOKEN[:-1]})[0] == 403
        assert get(d, headers={"Authorization": "Bearer " + TOKEN + "x"})[0] == 403
        assert get(d, headers={"Authorization": "Basic " + TOKEN})[0] == 403
        status, text = get(d, headers={"Authorization": "Bearer " + TOKEN})
        assert status == 200 and "medimail_logins_total" in text
        # the token in the URL: refused even when right (it would land in access logs)
        assert get(d, f"/metrics?token={TOKEN}", headers={"Authorization": "Bearer " + TOKEN})[0] == 403
        assert get(d, f"/metrics?access_token={TOKEN}")[0] == 403
        # a token with a newline (an obsolete folded header line) or a trailing blank
        folded = (b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer "
                  + TOKEN.encode() + b"\r\n x\r\n\r\n")
        assert raw_get(d, folded) != 200
        nl = (b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer "
              + TOKEN.encode() + b"\n\r\n\r\n")
        # a bare LF ends the header line: what was compared is the token alone
        assert raw_get(d, nl) == 200
        # and a bare LF followed by a continuation does not make a longer token pass
        assert raw_get(d, b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer "
                       + TOKEN.encode() + b"\n x\r\n\r\n") != 200
        assert raw_get(d, b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer "
                       + TOKEN.encode() + b"\x0b\r\n\r\n") != 200
    finally:
        d.stop()


def test_token_file_must_be_ours_and_the_token_never_inline(state, slapd, smtp, authd):
    tf = state / "metrics-open.token"
    tf.write_text(TOKEN + "\n")
    os.chmod(tf, 0o644)
    with pytest.raises(RuntimeError, match="metrics_token_file"):
        start(state, slapd, smtp, "ops-badtok", f"metrics_token_file = {tf}\n")
    two = state / "metrics-two.token"
    two.write_text(TOKEN + "\nsecond-line\n")
    os.chmod(two, 0o600)
    with pytest.raises(RuntimeError, match="one line"):
        start(state, slapd, smtp, "ops-twotok", f"metrics_token_file = {two}\n")
    with pytest.raises(RuntimeError, match="metrics_token_file"):
        start(state, slapd, smtp, "ops-inline", f"metrics_token = {TOKEN}\n")
    # and no process of ours shows the token on its command line
    r = subprocess.run(["grep", "-l", "-a", TOKEN] + [f"/proc/{p}/cmdline" for p in os.listdir("/proc") if p.isdigit()],
                       capture_output=True, text=True)
    assert r.stdout == ""


# ------------------------------------------------------------ medimailctl audit

def audit_lines(path):
    return path.read_text().splitlines()


def test_audit_query_by_account_result_and_time(md, authd, smtp, audit_path):
    md.audit_file = audit_path
    login, _ = register_med(authd, smtp)
    other, _ = register_med(authd, smtp)
    t0 = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    assert mmwire.call(md.socket, mmwire.AUTH_PASSWORD, user=login, password=WRONG).status != 0
    assert mmwire.call(md.socket, mmwire.AUTH_PASSWORD, user=login, password=PW).status == 0
    assert mmwire.call(md.socket, mmwire.AUTH_PASSWORD, user=other, password=PW).status == 0
    r = ctl_audit(md, "--account", login)
    assert r.returncode == 0, r.stderr
    mine = [line for line in audit_lines(audit_path) if f'account="{login}"' in line]
    assert len(r.stdout.splitlines()) == len(mine) >= 2
    assert all(f'account="{login}"' in line for line in r.stdout.splitlines())
    # exactly the two decisions this daemon took about the account, oldest first
    every = json.loads(ctl_audit(md, "--json", "--account", login).stdout)
    assert [(x["event"], x["method"], x["caller"], x["result"], x["reason"]) for x in every] == [
        ("auth", "password", "uid=0", "refused", "bad password"),
        ("auth", "password", "uid=0", "ok", "password step; one-time code required")]
    assert every[0]["service"] is None and every[0]["remote"] is None
    j = ctl_audit(md, "--json", "--account", login, "--result", "refused")
    recs = json.loads(j.stdout)
    assert [x["result"] for x in recs] == ["refused"] * len(recs) and len(recs) == \
        sum('result="refused"' in line for line in mine)
    assert all(x["account"] == login and x["event"] and x["time"].endswith("Z") for x in recs)
    ok = json.loads(ctl_audit(md, "--json", "--account", login, "--result", "ok").stdout)
    assert len(ok) + len(recs) == len(mine)
    # the time range: nothing of this account before t0, all of it from t0
    assert json.loads(ctl_audit(md, "--json", "--account", other, "--until", t0).stdout) == []
    since = json.loads(ctl_audit(md, "--json", "--account", other, "--since", t0).stdout)
    assert len(since) == sum(f'account="{other}"' in line for line in audit_lines(audit_path)) >= 1
    assert ctl_audit(md, "--since", "yesterday").returncode == 2
    assert ctl_audit(md, "--result", "maybe").returncode == 2


def test_audit_file_is_private_and_the_query_root_only(md, audit_path):
    md.audit_file = audit_path
    assert (audit_path.stat().st_mode & 0o777) == 0o600
    r = ctl_audit(md, uid=NOBODY)
    assert r.returncode == 1 and r.stdout == ""


def test_admin_group_reads_the_audit_others_do_not(state, slapd, smtp, authd):
    gid = grp.getgrnam("nogroup").gr_gid
    path = state / "ops-admin-audit.log"
    d = start(state, slapd, smtp, "ops-admin", f"admin_group = {gid}\naudit_file = {path}\n")
    try:
        mmwire.call(d.socket, mmwire.AUTH_PASSWORD, user="nobody.here", password=WRONG)
        wait_for(lambda: 'account="nobody.here"' in path.read_text(), what="audit line")
        st = path.stat()
        assert (st.st_mode & 0o777) == 0o640 and st.st_gid == gid
        cmd = [str(BUILD / "ctl/medimailctl"), "audit", "--file", str(path), "--account", "nobody.here"]
        member = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={gid}", "--clear-groups"] + cmd,
                                capture_output=True, text=True)
        assert member.returncode == 0 and 'account="nobody.here"' in member.stdout, member
        other = subprocess.run(["setpriv", f"--reuid={NOBODY}", "--regid=1", "--clear-groups"] + cmd,
                               capture_output=True, text=True)
        assert other.returncode == 1 and other.stdout == "" and "Permission denied" in other.stderr, other
    finally:
        d.stop()


def test_a_forged_line_cannot_be_written_and_a_forged_file_line_is_refused(md, audit_path, state):
    md.audit_file = audit_path
    forged = 'evil" result="ok" reason="x\n2026-01-01T00:00:00.000Z audit="auth" caller="uid=0" account="admin'
    n = len(audit_lines(audit_path))
    assert mmwire.call(md.socket, mmwire.AUTH_PASSWORD, user=forged, password=WRONG).status != 0
    wait_for(lambda: len(audit_lines(audit_path)) > n, what="audit line")
    new = audit_lines(audit_path)[n:]
    assert len(new) == 1 and 'account="admin' not in new[0].split("reason=")[0].replace('account="evil', "")
    r = ctl_audit(md, "--json")
    assert r.returncode == 0, r.stderr  # every line the daemon wrote parses
    assert not any(x["account"] == "admin" for x in json.loads(r.stdout))
    # a line added by someone else, with a quote in a value or a field more, is skipped and said
    copy = state / "forged-audit.log"
    copy.write_text(audit_path.read_text()
                    + '2026-01-01T00:00:00.000Z audit="auth" caller="uid=0" method="-" service="-" '
                      'remote="-" account="ad"min" result="ok" reason="-"\n'
                    + '2026-01-01T00:00:00.000Z audit="auth" caller="uid=0" method="-" service="-" '
                      'remote="-" account="admin" result="ok" reason="-" extra="1"\n')
    os.chmod(copy, 0o600)
    r = md.ctl("audit", "--file", str(copy), "--account", "admin", json_out=False)
    assert r.returncode == 1 and r.stdout == "" and r.stderr.count("malformed") == 2, r
    os.chmod(copy, 0o620)  # writable by its group: not the daemon's file
    assert md.ctl("audit", "--file", str(copy), json_out=False).returncode == 1


def test_audit_file_reopened_at_sighup(md, authd, smtp, audit_path, state):
    md.audit_file = audit_path
    login, _ = register_med(authd, smtp)
    rotated = state / "ops-audit.log.1"
    os.rename(audit_path, rotated)
    mark = len(md.log_text())
    md.proc.send_signal(signal.SIGHUP)
    # the new file exists from its open, before the swap; the reload's line comes after the swap
    wait_for(lambda: "configuration reloaded" in md.log_text()[mark:], what="audit file reopened")
    assert audit_path.exists()
    assert mmwire.call(md.socket, mmwire.AUTH_PASSWORD, user=login, password=PW).status == 0
    wait_for(lambda: f'account="{login}"' in audit_path.read_text(), what="line in the new file")
    assert f'account="{login}"' not in rotated.read_text()
    assert (audit_path.stat().st_mode & 0o777) == 0o600
    # a configuration broken meanwhile: the reload is refused, the file reopened all the same
    good = md.conf.read_text()
    md.conf.write_text(good + "no_such_option = 1\n")
    try:
        os.rename(audit_path, state / "ops-audit.log.2")
        mark = len(md.log_text())
        md.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in md.log_text()[mark:], what="audit file reopened after a refused reload")
        assert audit_path.exists()
        assert mmwire.call(md.socket, mmwire.AUTH_PASSWORD, user=login, password=WRONG).status != 0
        wait_for(lambda: f'account="{login}"' in audit_path.read_text(), what="line in the new file")
    finally:
        md.conf.write_text(good)
