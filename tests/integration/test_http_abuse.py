"""The HTTP listener under slow clients and connection floods, and the client
address behind a reverse proxy: per-source connection limits, deadlines on
headers and bodies whatever trickles, room kept in a full table, and
X-Forwarded-For / Forwarded read only from trusted proxies."""
import http.client
import json
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmstack import Daemon, _port_open, free_port, wait_for

HERE = Path(__file__).resolve().parent
HEADER_TIMEOUT = 3


@pytest.fixture(autouse=True)
def _fd_room():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def listener(state, slapd, smtp, name, extra=""):
    port = free_port()
    d = Daemon(state, slapd, smtp.port, name=name,
               extra=f"http_listen = 127.0.0.1:{port}\nhttp_header_timeout = {HEADER_TIMEOUT}\n"
                     f"http_rate = 5000\nhttp_rate_burst = 5000\n{extra}").start()
    wait_for(lambda: _port_open(port), what="listener")
    return d, port


def request(port, path="/healthz", method="GET", headers=None, source="127.0.0.1", body=None, timeout=5):
    """headers: a dict, or (name, value) pairs when a name comes twice."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        c.putrequest(method, path)
        pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        if body is not None:
            pairs.append(("Content-Length", str(len(body))))
        for k, v in pairs:
            c.putheader(k, v)
        c.endheaders(body)
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def refused(port, cause):
    _, text = request(port, "/metrics")
    hit = re.search(r'^medimail_http_connections_refused_total\{cause="%s"\} (\d+)$' % cause, text, re.M)
    assert hit, text
    return int(hit.group(1))


def opened(port):
    _, text = request(port, "/metrics")
    return int(re.search(r"^medimail_http_connections_open (\d+)$", text, re.M).group(1))


def slow_clients(port, count, duration, *args):
    """Starts slowclients.py; .communicate() gives its JSON report."""
    return subprocess.Popen([sys.executable, str(HERE / "slowclients.py"), "--port", str(port), "--count",
                             str(count), "--duration", str(duration), *args],
                            stdout=subprocess.PIPE, text=True)


def report(p):
    out, _ = p.communicate(timeout=120)
    r = json.loads(out)
    assert "error" not in r, r
    return r


# ------------------------------------------------------------ floods and slow senders

def test_slow_header_flood_from_one_source_does_not_starve_others(state, slapd, smtp):
    d, port = listener(state, slapd, smtp, "http-flood")
    try:
        flood = slow_clients(port, 1500, HEADER_TIMEOUT + 4, "--interval", "1")
        time.sleep(1.5)  # the flood is connected
        lat, codes = [], []
        for _ in range(100):
            t = time.monotonic()
            try:
                st, _ = request(port, timeout=3)
            except OSError as e:
                st = repr(e)
            lat.append(time.monotonic() - t)
            codes.append(st)
        r = report(flood)
        assert codes == [200] * 100, [c for c in codes if c != 200][:5]
        lat.sort()
        p99 = lat[98]
        print(f"flood: p99 {p99 * 1000:.1f} ms, max {lat[-1] * 1000:.1f} ms")
        assert p99 < 0.100, lat[-5:]
        cut = r["cut"]
        assert r["connected"] == 1500
        assert None not in cut, f"{cut.count(None)} slow connections still open"
        kept = [c for c in cut if c > 0.5]
        print(f"flood: {len(cut) - len(kept)} refused at accept, {len(kept)} kept, "
              f"cut after {min(kept):.2f}..{max(kept):.2f} s" if kept else "flood: none kept")
        assert 0 < len(kept) <= 32 + 4, len(kept)
        assert max(cut) <= HEADER_TIMEOUT + 1.0, max(cut)
        assert refused(port, "per_source_limit") >= 1500 - 36
        assert refused(port, "header_deadline") >= len(kept) - 4
        # and the listener let go of them, not only the clients
        wait_for(lambda: opened(port) <= 1, timeout=3, what="the slow connections closed by the listener")
    finally:
        d.stop()


def test_header_trickled_one_byte_per_second_is_cut_at_the_deadline(state, slapd, smtp):
    d, port = listener(state, slapd, smtp, "http-trickle", "http_timeout = 60\n")
    try:
        r = report(slow_clients(port, 1, HEADER_TIMEOUT + 3, "--byte", "--interval", "1"))
        cut = r["cut"][0]
        assert cut is not None, "still open"
        assert HEADER_TIMEOUT - 0.5 <= cut <= HEADER_TIMEOUT + 1.0, cut
        assert refused(port, "header_deadline") == 1
    finally:
        d.stop()


def test_body_trickled_below_the_rate_is_cut_at_its_deadline(state, slapd, smtp):
    # 2000 bytes declared at 1000 bytes/s at least: header time + 2 s
    d, port = listener(state, slapd, smtp, "http-body", "http_timeout = 60\nhttp_body_rate = 1000\n")
    try:
        r = report(slow_clients(port, 1, HEADER_TIMEOUT + 5, "--body", "2000", "--interval", "0.5"))
        cut = r["cut"][0]
        assert cut is not None, "still open"
        assert HEADER_TIMEOUT + 2 - 0.5 <= cut <= HEADER_TIMEOUT + 2 + 1.0, cut
        assert refused(port, "body_deadline") == 1
        # a body sent at speed is still answered
        st, _ = request(port, "/v1/introspect", "POST", {"Content-Type": "application/json"}, body=b"{}")
        assert st == 401
    finally:
        d.stop()


def test_full_table_cuts_the_oldest_header_readers_for_a_new_client(state, slapd, smtp):
    d, port = listener(state, slapd, smtp, "http-full",
                       "http_max_connections = 40\nhttp_max_conn_per_source = 100\n")
    try:
        flood = slow_clients(port, 40, 2.5, "--interval", "1")
        time.sleep(1.0)
        t = time.monotonic()
        st, _ = request(port, timeout=2)
        took = time.monotonic() - t
        r = report(flood)
        assert st == 200 and took < 0.5, took
        cut = [c for c in r["cut"] if c is not None]
        # the first connections made room, the newest are still there
        assert 1 <= len(cut) <= 4, r["cut"]
        assert r["cut"][-1] is None
        assert refused(port, "table_full_evicted") >= 1
    finally:
        d.stop()


def test_full_table_never_cuts_a_request_being_answered(state, slapd, smtp):
    import base64
    import threading
    d, port = listener(state, slapd, smtp, "http-busy",
                       "http_max_connections = 20\nhttp_max_conn_per_source = 100\nfail_delay_ms = 2500\n")
    try:
        r = d.ctl("service", "add", "busyweb")
        assert r.returncode == 0, r.stdout
        auth = "Basic " + base64.b64encode(b"busyweb:" + r.json["fields"]["secret"].encode()).decode()
        answer = {}

        def slow_login():
            t = time.monotonic()
            answer["status"] = request(port, "/v1/login/password", "POST", source="127.0.0.3", timeout=10,
                                       headers={"Content-Type": "application/json", "Authorization": auth},
                                       body=b'{"user":"nobody.here@example.org","password":"Wrong-pass1!"}')[0]
            answer["took"] = time.monotonic() - t
        th = threading.Thread(target=slow_login)
        th.start()
        time.sleep(0.5)  # the login is being answered (fail_delay_ms)
        flood = slow_clients(port, 20, 2.5, "--interval", "1")
        time.sleep(0.8)
        codes = [request(port, timeout=2)[0] for _ in range(3)]
        th.join(10)
        r = report(flood)
        assert codes == [200] * 3
        # the request being answered got its answer; header readers made the room
        assert answer.get("status") == 401 and answer["took"] >= 2.4, answer
        # room was made twice (the 20th slow connection, the first new client), from the oldest
        assert r["cut"][0] is not None and r["cut"][1] is not None, r["cut"]
        assert r["cut"][-1] is None, r["cut"]
        assert refused(port, "table_full_evicted") >= 2
    finally:
        d.stop()


def test_connections_per_source_are_limited_at_accept(state, slapd, smtp):
    d, port = listener(state, slapd, smtp, "http-persource", "http_max_conn_per_source = 5\n")
    try:
        r = report(slow_clients(port, 8, 1.5, "--interval", "1"))
        assert sum(1 for c in r["cut"] if c is None) == 5, r["cut"]
        assert refused(port, "per_source_limit") == 3
        # another address is not affected
        assert request(port, source="127.0.0.3")[0] == 200
    finally:
        d.stop()


# ------------------------------------------------------------ behind a reverse proxy

def audited_remotes(d):
    return re.findall(r'audit="api-auth".*?remote="([^"]*)"', d.log_text())


def bad_login(port, source, headers):
    pairs = [("Content-Type", "application/json"), ("Authorization", "Basic d2VibWFpbDp4")]
    pairs += list(headers.items()) if isinstance(headers, dict) else headers
    st, _ = request(port, "/v1/introspect", "POST", source=source, headers=pairs, body=b'{"token":"00"}')
    assert st == 401


def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(state, slapd, smtp):
    d, port = listener(state, slapd, smtp, "http-xff",
                       "http_trusted_proxies = 127.0.0.1, ::1\nhttp_rate = 1\nhttp_rate_burst = 3\n")
    try:
        # from an untrusted peer the headers change neither the audit nor the bucket
        bad_login(port, "127.0.0.2", {"X-Forwarded-For": "10.1.1.1"})
        bad_login(port, "127.0.0.2", {"Forwarded": "for=10.1.1.2"})
        assert audited_remotes(d)[-2:] == ["127.0.0.2", "127.0.0.2"]
        codes = [request(port, source="127.0.0.2", headers={"X-Forwarded-For": f"10.2.0.{i}"})[0]
                 for i in range(4)]
        assert 429 in codes, codes
        # from the trusted proxy the header it sets names the client
        bad_login(port, "127.0.0.1", {"X-Forwarded-For": "10.1.1.1"})
        assert audited_remotes(d)[-1:] == ["10.1.1.1"]
        # a bucket per client behind the proxy
        codes = [request(port, headers={"X-Forwarded-For": f"10.3.0.{i}"})[0] for i in range(8)]
        assert codes == [200] * 8, codes
        codes = [request(port, headers={"X-Forwarded-For": "10.3.1.1"})[0] for i in range(5)]
        assert 429 in codes, codes
    finally:
        d.stop()


def test_one_client_behind_a_proxy_cannot_hold_all_its_connections(state, slapd, smtp):
    d, port = listener(state, slapd, smtp, "http-xff-persource",
                       "http_trusted_proxies = 127.0.0.1\nhttp_max_conn_per_source = 2\nhttp_body_rate = 100\n")
    try:
        # two requests of 10.7.7.7 under way through the proxy (slow bodies)
        flood = slow_clients(port, 2, 2.5, "--source", "127.0.0.1", "--body", "1000", "--interval", "0.5",
                             "--header", "X-Forwarded-For: 10.7.7.7")
        time.sleep(1.0)
        st, body = request(port, headers={"X-Forwarded-For": "10.7.7.7"})
        assert st == 429 and json.loads(body)["error"] == "too_many_connections", body
        # other clients of the same proxy are served: the proxy is not limited as one source
        assert request(port, headers={"X-Forwarded-For": "10.7.7.8"})[0] == 200
        r = report(flood)
        assert r["cut"] == [None, None], r
        assert refused(port, "per_source_limit") == 1
        # the slots come back when the requests end
        wait_for(lambda: request(port, headers={"X-Forwarded-For": "10.7.7.7"})[0] == 200, timeout=5,
                 what="10.7.7.7 served again")
    finally:
        d.stop()


def test_client_forwarded_header_passed_through_by_the_proxy_names_no_address(state, slapd, smtp):
    """nginx and HAProxy keep X-Forwarded-For and pass a client's own Forwarded header through:
    only the header the proxy is said to set (http_proxy_header) is read."""
    d, port = listener(state, slapd, smtp, "http-fwd-pass",
                       "http_trusted_proxies = 127.0.0.1\nhttp_rate = 1\nhttp_rate_burst = 3\n")
    try:
        bad_login(port, "127.0.0.1", [("Forwarded", "for=203.0.113.9"), ("X-Forwarded-For", "10.9.9.9")])
        bad_login(port, "127.0.0.1", {"Forwarded": "for=203.0.113.10"})
        assert audited_remotes(d)[-2:] == ["10.9.9.9", "127.0.0.1"]
        # a fresh Forwarded address per request is no fresh bucket
        codes = [request(port, headers=[("Forwarded", f"for=203.0.114.{i}"), ("X-Forwarded-For", "10.9.9.8")])[0]
                 for i in range(6)]
        assert 429 in codes, codes
    finally:
        d.stop()
    d, port = listener(state, slapd, smtp, "http-fwd-rfc",
                       "http_trusted_proxies = 127.0.0.1\nhttp_proxy_header = forwarded\n")
    try:
        bad_login(port, "127.0.0.1", [("Forwarded", 'for="[2001:db8::7]:4711";proto=https'),
                                      ("X-Forwarded-For", "10.9.9.7")])
        assert audited_remotes(d)[-1:] == ["2001:db8::7"]
    finally:
        d.stop()


def test_forged_forwarded_chain_takes_the_rightmost_untrusted_hop(state, slapd, smtp):
    d, port = listener(state, slapd, smtp, "http-xff-forged", "http_trusted_proxies = 127.0.0.0/8\n")
    try:
        # the trusted hop at the right is skipped
        bad_login(port, "127.0.0.1", {"X-Forwarded-For": "1.2.3.4, 127.0.0.1"})
        # a client that prepends an address of its own does not choose it
        bad_login(port, "127.0.0.1", {"X-Forwarded-For": "127.0.0.9, 6.6.6.6, 10.4.4.4"})
        # a proxy that adds its own header line (HAProxy) after the client's
        bad_login(port, "127.0.0.1", [("X-Forwarded-For", "10.5.5.5"), ("X-Forwarded-For", "6.6.6.6")])
        assert audited_remotes(d)[-3:] == ["1.2.3.4", "10.4.4.4", "6.6.6.6"]
        # malformed: ignored for the address (the peer is used), logged once
        before = d.log_text().count("X-Forwarded-For from proxy")
        for v in ("10.4.4.4, not-an-ip", "10.4.4.4,", "10.4.4.4:99999"):
            bad_login(port, "127.0.0.1", {"X-Forwarded-For": v})
        assert audited_remotes(d)[-3:] == ["127.0.0.1"] * 3
        assert d.log_text().count("X-Forwarded-For from proxy") == before + 1
    finally:
        d.stop()


def test_a_reload_keeps_the_trusted_proxies_of_the_start(state, slapd, smtp):
    # Read at start like the rest of the listener: the proxy stays exempt from the
    # per-source limit at accept, so its headers must go on naming the client.
    d, port = listener(state, slapd, smtp, "http-xff-reload", "http_trusted_proxies = 127.0.0.1\n")
    try:
        bad_login(port, "127.0.0.1", {"X-Forwarded-For": "10.8.8.1"})
        assert audited_remotes(d)[-1:] == ["10.8.8.1"]
        d.write_conf(extra=f"http_listen = 127.0.0.1:{port}\nhttp_header_timeout = {HEADER_TIMEOUT}\n"
                           "http_rate = 5000\nhttp_rate_burst = 5000\n")
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in d.log_text(), what="reload")
        bad_login(port, "127.0.0.1", {"X-Forwarded-For": "10.8.8.2"})
        assert audited_remotes(d)[-1:] == ["10.8.8.2"]
    finally:
        d.stop()


def test_ipv6_clients_of_one_64_share_a_rate_bucket(state, slapd, smtp):
    # A host holds a whole /64: one source for the rate limit as for the table.
    d, port = listener(state, slapd, smtp, "http-xff-v6",
                       "http_trusted_proxies = 127.0.0.1\nhttp_rate = 1\nhttp_rate_burst = 3\n")
    try:
        codes = [request(port, headers={"X-Forwarded-For": f"2001:db8:0:1::{i + 1:x}"})[0] for i in range(6)]
        assert 429 in codes, codes
        # another /64 has its own bucket
        assert request(port, headers={"X-Forwarded-For": "2001:db8:0:2::1"})[0] == 200
    finally:
        d.stop()
