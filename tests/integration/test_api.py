"""The HTTP API of medimail-authd against real servers: the OpenAPI document,
service authentication, bounded and validated input, rate limits, TLS,
metrics, e-CPS push through a real CIBA provider, and session tokens shared
and revoked across two daemons of one directory."""
import json
import re
import socket
import ssl
import subprocess
import time

import pytest
import yaml

from apistack import Api, poll_until
from mmstack import SUFFIX, TOP, Daemon, _port_open, free_port, wait_for


def session_count(slapd):
    return len(slapd.search(f"ou=sessions,{SUFFIX}", "(objectClass=mmSession)", "1.1", scope="one"))


def assert_error(r, status, code=None):
    assert r.status == status, r
    assert isinstance(r.json, dict) and set(r.json) >= {"error", "message"}, r
    assert r.headers["Content-Type"].startswith("application/json")
    if code:
        assert r.json["error"] == code, r


def ecps_session(api, svc=None, user=None):
    """A session token obtained through an approved e-CPS push."""
    svc = svc or api.svc_a
    api.provider.control(ciba="approve", ciba_ttl=120)
    r = svc.post("/v1/ecps/start", {"user": user or api.per})
    assert r.status == 200, r
    done = poll_until(lambda: svc.post("/v1/ecps/poll", {"request_id": r.json["request_id"]}))
    assert done.status == 200 and done.json["status"] == "authenticated", done
    return done.json["session_token"]


# ------------------------------------------------------------ the OpenAPI document

def served_routes():
    """The route table compiled into the daemon (authd/http/api.c)."""
    src = (TOP / "authd" / "http" / "api.c").read_text()
    return {(m.group(1), meth) for m in re.finditer(r'\[ROUTE_\w+\] = \{\s*"(/[^"]*)",\s*"([A-Z|]+)"', src)
            for meth in m.group(2).split("|")}


def test_openapi_matches_the_served_paths(api):
    doc = yaml.safe_load((TOP / "authd" / "http" / "openapi.yaml").read_text())
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    assert documented == served_routes()
    # every documented operation is answered by the daemon (not "no such endpoint")
    anon = Api(api.url_a)
    for path, method in documented:
        r = api.svc_a.request(method, path, body={} if method == "POST" else None)
        assert not (r.status == 404 and r.json and r.json.get("error") == "not_found"), (path, r)
        # the status is one the document lists for this operation
        listed = set(doc["paths"][path][method.lower()]["responses"])
        assert str(r.status) in listed, (path, method, r.status, listed)
    # and a path that is not documented is not served
    assert_error(anon.get("/v1/admin"), 404, "not_found")
    assert_error(anon.get("/v1/introspect/"), 404, "not_found")


def test_healthz_and_metrics(api):
    anon = Api(api.url_a)
    r = anon.get("/healthz")
    assert r.status == 200 and r.json["status"] == "ok"
    before = anon.get("/metrics").body
    for _ in range(3):
        api.svc_a.post("/v1/introspect", {"token": "0" * 64})
    m = anon.get("/metrics")
    assert m.status == 200 and m.headers["Content-Type"].startswith("text/plain")

    def count(text):
        hit = re.search(r'^medimail_http_requests_total\{endpoint="introspect",status="200"\} (\d+)$', text, re.M)
        return int(hit.group(1)) if hit else 0
    assert count(m.body) == count(before) + 3
    assert re.search(r'^medimail_http_request_duration_seconds_count\{endpoint="introspect"\} \d+$', m.body, re.M)
    assert re.search(r'medimail_http_request_duration_seconds_bucket\{endpoint="introspect",le="\+Inf"\}', m.body)


# ------------------------------------------------------------ service authentication

def test_service_credentials_are_required(api):
    anon = Api(api.url_a)
    r = anon.post("/v1/introspect", {"token": "0" * 64})
    assert_error(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    assert_error(Api(api.url_a, "webmail", "f" * 64).post("/v1/introspect", {"token": "0" * 64}), 401)
    assert_error(Api(api.url_a, "nosuch", api.secret).post("/v1/introspect", {"token": "0" * 64}), 401)
    assert_error(Api(api.url_a, "webmail", api.secret[:-1]).post("/v1/introspect", {"token": "0" * 64}), 401)
    assert "bad service credentials" in api.a.log_text()
    assert api.secret not in api.a.log_text()


def test_service_add_remove(api, slapd):
    r = api.a.ctl("service", "add", "intranet")
    assert r.returncode == 0
    secret = r.json["fields"]["secret"]
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    stored = slapd.search(f"ou=services,{SUFFIX}", "(mmClientId=intranet)")
    assert stored and stored[0]["mmClientSecretHash"][0] != secret and secret not in json.dumps(stored)
    svc = Api(api.url_b, "intranet", secret)
    assert svc.post("/v1/introspect", {"token": "0" * 64}).status == 200
    # duplicates, bad ids, non-admin callers refused
    assert api.a.ctl("service", "add", "intranet").returncode == 1
    assert api.a.ctl("service", "add", "Bad Id").returncode == 1
    assert api.a.ctl("service", "add", "other", uid=65534).returncode == 1
    assert api.a.ctl("service", "remove", "intranet").returncode == 0
    time.sleep(1.2)  # service_cache_ttl on the other daemon
    assert_error(svc.post("/v1/introspect", {"token": "0" * 64}), 401)
    assert api.a.ctl("service", "remove", "intranet").returncode == 1


# ------------------------------------------------------------ bounded, validated input

def test_bad_input_is_refused_and_changes_nothing(api, slapd):
    before = session_count(slapd)
    svc = api.svc_a
    assert_error(svc.post("/v1/introspect", raw=b'{"token": '), 400, "invalid_json")
    assert_error(svc.post("/v1/introspect", raw=b'["token"]'), 400, "invalid_json")
    assert_error(svc.post("/v1/introspect", raw=b''), 400, "invalid_json")
    assert_error(svc.post("/v1/introspect", raw=b'{"token":"a","token":"b"}'), 400, "invalid_json")
    assert_error(svc.post("/v1/introspect", {"token": 12}), 400, "invalid_field")
    assert_error(svc.post("/v1/introspect", {"token": ["x"]}), 400, "invalid_field")
    assert_error(svc.post("/v1/introspect", {"token": "x" * 300}), 400, "invalid_field")
    assert_error(svc.post("/v1/introspect", {"token": "a\u0000b"}), 400)  # NUL in a string
    assert_error(svc.post("/v1/introspect", {"token": "0" * 64, "admin": "yes"}), 400, "unknown_field")
    assert_error(svc.post("/v1/introspect", {}), 400, "missing_field")
    assert_error(svc.post("/v1/ecps/start", {"user": {"$ne": 1}}), 400)
    assert_error(svc.post("/v1/ecps/start", raw=b'{"user":' + b'[' * 50 + b']' * 50 + b'}'), 400, "invalid_json")
    assert_error(svc.post("/v1/ecps/poll", {"request_id": "../../etc"}), 400)
    assert_error(svc.post("/v1/introspect", raw=b'token=x', headers={"Content-Type": "application/x-www-form-urlencoded"}),
                 415, "unsupported_media_type")
    assert_error(svc.get("/v1/introspect"), 405, "method_not_allowed")
    assert_error(svc.get("/healthz", headers={"X-Big": "a" * 20000}), 431, "headers_too_large")
    assert_error(svc.post("/v1/introspect", raw=b'{"token":"' + b"0" * 70000 + b'"}'), 413, "body_too_large")
    assert session_count(slapd) == before


def test_ten_megabyte_body_is_refused_before_reading(api, state):
    big = state / "big.json"
    big.write_bytes(b'{"token":"' + b"a" * (10 * 1024 * 1024) + b'"}')
    r = subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-u", f"webmail:{api.secret}",
                        "-H", "Content-Type: application/json", "--data-binary", f"@{big}",
                        f"{api.url_a}/v1/introspect"], capture_output=True, text=True, timeout=30)
    body, _, code = r.stdout.rpartition("\n")
    assert code == "413", r
    assert json.loads(body)["error"] == "body_too_large"
    # the daemon is still serving
    assert Api(api.url_a).get("/healthz").status == 200


def test_rate_limit_per_source(state, slapd, smtp):
    port = free_port()
    d = Daemon(state, slapd, smtp.port, name="api-rate",
               extra=f"http_listen = 127.0.0.1:{port}\nhttp_rate = 1\nhttp_rate_burst = 3\n").start()
    try:
        wait_for(lambda: _port_open(port), what="listener")
        anon = Api(f"http://127.0.0.1:{port}")
        codes = [anon.get("/healthz").status for _ in range(6)]
        assert codes[:3] == [200, 200, 200] and 429 in codes[3:], codes
        r = anon.get("/healthz")
        assert_error(r, 429, "rate_limited")
        time.sleep(1.2)
        assert anon.get("/healthz").status == 200
    finally:
        d.stop()


def _fnv_slot(a):
    h = 2166136261
    for b in bytes(int(x) for x in a.split(".")) + bytes(12):
        h = ((h ^ b) * 16777619) & 0xffffffff
    return h % 4096


def test_colliding_address_does_not_refill_an_exhausted_bucket(state, slapd, smtp):
    """The per-source table was an unkeyed hash of the address, one bucket a slot, taken over by
    a newcomer: a client that spent its bucket sent one request from an address of the same slot
    (any second address; an IPv6 /64 holds plenty) and came back to a full bucket, for ever."""
    import http.client
    port = free_port()
    me = "127.0.0.1"
    other = next(f"127.0.{i // 256}.{i % 256}" for i in range(2, 65536)
                 if _fnv_slot(f"127.0.{i // 256}.{i % 256}") == _fnv_slot(me))
    d = Daemon(state, slapd, smtp.port, name="api-collide",
               extra=f"http_listen = 127.0.0.1:{port}\nhttp_rate = 1\nhttp_rate_burst = 3\n").start()

    def get(src):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(src, 0))
        c.request("GET", "/healthz")
        status = c.getresponse().status
        c.close()
        return status
    try:
        wait_for(lambda: _port_open(port), what="listener")
        codes = [get(me) for _ in range(6)]
        assert codes[:3] == [200, 200, 200] and codes[-1] == 429, codes
        assert get(other) == 200  # its own bucket
        assert get(me) == 429, "the colliding request refilled the spent bucket"
    finally:
        d.stop()


def test_plain_http_refused_off_loopback(state, slapd, smtp):
    d = Daemon(state, slapd, smtp.port, name="api-plain", extra=f"http_listen = 0.0.0.0:{free_port()}\n")
    with pytest.raises(RuntimeError, match="plain HTTP is refused off loopback"):
        d.start()
    d.stop()


def test_tls_listener(state, slapd, smtp):
    cert, key = state / "api.crt", state / "api.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    port = free_port()
    d = Daemon(state, slapd, smtp.port, name="api-tls",
               extra=f"http_listen = 0.0.0.0:{port}\nhttp_tls_cert = {cert}\nhttp_tls_key = {key}\n").start()
    try:
        wait_for(lambda: _port_open(port), what="listener")
        ctx = ssl.create_default_context(cafile=str(cert))
        r = Api(f"https://127.0.0.1:{port}", tls_context=ctx).get("/healthz")
        assert r.status == 200 and r.json["status"] == "ok"
        # no clear text on the TLS port
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(5)
            try:
                data = s.recv(100)
            except (ConnectionResetError, socket.timeout):
                data = b""
            assert b'"status":"ok"' not in data
    finally:
        d.stop()


# ------------------------------------------------------------ e-CPS and sessions

def test_ecps_approve_shares_the_session_across_daemons(api, slapd):
    api.provider.control(ciba="approve", ciba_ttl=120)
    r = api.svc_a.post("/v1/ecps/start", {"user": api.per})
    assert r.status == 200, r
    assert re.fullmatch(r"[0-9a-f]{64}", r.json["request_id"])
    assert r.json["interval"] >= 1 and r.json["expires_in"] > 0
    # the code shown to the user is the one the provider pushed to the phone
    last = api.provider.ciba_last()
    assert last["binding_message"] == r.json["binding_message"]
    assert last["login_hint"] == "8" + api.rpps_linked
    # daemon B finishes what daemon A began
    done = poll_until(lambda: api.svc_b.post("/v1/ecps/poll", {"request_id": r.json["request_id"]}))
    assert done.status == 200, done
    token = done.json["session_token"]
    assert re.fullmatch(r"[0-9a-f]{64}", token) and done.json["account"] == api.per
    # the token itself is nowhere in the directory
    dump = json.dumps(slapd.search(f"ou=sessions,{SUFFIX}"))
    assert token not in dump
    for svc in (api.svc_a, api.svc_b):
        i = svc.post("/v1/introspect", {"token": token})
        assert i.status == 200 and i.json["active"] is True, i
        assert i.json["sub"] == api.per and i.json["account"] == api.per
        assert i.json["method"] == "ecps" and i.json["mss_address"].endswith("@pharmacien.oc.mssante.fr")
        assert i.json["exp"] > time.time() and i.json["iat"] <= time.time() + 1
    # a request id serves once
    again = api.svc_a.post("/v1/ecps/poll", {"request_id": r.json["request_id"]})
    assert_error(again, 410, "expired")


def test_revoked_token_refused_everywhere(api):
    token = ecps_session(api)
    assert api.svc_a.post("/v1/introspect", {"token": token}).json["active"] is True
    assert api.svc_b.post("/v1/introspect", {"token": token}).json["active"] is True  # now cached on B
    r = api.svc_b.post("/v1/logout", {"token": token})
    assert r.status == 200 and r.json["revoked"] is True
    assert api.svc_b.post("/v1/introspect", {"token": token}).json == {"active": False}
    time.sleep(1.2)  # session_cache_ttl: the bound on A's memory of it
    assert api.svc_a.post("/v1/introspect", {"token": token}).json == {"active": False}
    assert api.svc_a.post("/v1/logout", {"token": token}).json["revoked"] is False


def test_suspended_account_loses_its_sessions(api):
    token = ecps_session(api)
    assert api.a.ctl("suspend", api.per, "--reason", "test").returncode == 0
    try:
        time.sleep(1.2)
        assert api.svc_b.post("/v1/introspect", {"token": token}).json == {"active": False}
    finally:
        assert api.a.ctl("reactivate", api.per).returncode == 0
    time.sleep(1.2)
    assert api.svc_b.post("/v1/introspect", {"token": token}).json["active"] is True


def test_ecps_denied(api, slapd):
    api.provider.control(ciba="deny", ciba_ttl=120)
    before = session_count(slapd)
    r = api.svc_a.post("/v1/ecps/start", {"user": api.per})
    assert r.status == 200
    done = poll_until(lambda: api.svc_a.post("/v1/ecps/poll", {"request_id": r.json["request_id"]}))
    assert_error(done, 403, "access_denied")
    assert done.json["status"] == "denied"
    assert session_count(slapd) == before  # the pending request is gone, no session


def test_ecps_expired(api):
    api.provider.control(ciba="expire", ciba_ttl=2)
    r = api.svc_a.post("/v1/ecps/start", {"user": api.per})
    assert r.status == 200
    assert api.svc_a.post("/v1/ecps/poll", {"request_id": r.json["request_id"]}).json["status"] == "pending"
    time.sleep(2.5)
    done = poll_until(lambda: api.svc_a.post("/v1/ecps/poll", {"request_id": r.json["request_id"]}))
    assert_error(done, 410, "expired")
    api.provider.control(ciba="approve", ciba_ttl=120)


def test_ecps_refusals(api):
    assert_error(api.svc_a.post("/v1/ecps/start", {"user": "nobody.here"}), 404, "unknown_user")
    # a MED account has no national id: no e-CPS
    r = api.svc_a.post("/v1/ecps/start", {"user": api.med})
    assert_error(r, 403, "not_permitted")
    assert "national id" in r.json["message"]
    assert_error(api.svc_a.post("/v1/ecps/poll", {"request_id": "ab" * 32}), 410, "expired")


def test_ecps_through_the_socket(api):
    """medimailctl ecps: the client the PAM module will mirror (MM_REQ_ECPS_START/POLL)."""
    api.provider.control(ciba="approve", ciba_ttl=120)
    r = api.a.ctl("ecps", api.per, json_out=False)
    assert r.returncode == 0, r.stdout + r.stderr
    code = re.search(r"Code e-CPS : (\d+)", r.stdout).group(1)
    assert api.provider.ciba_last()["binding_message"] == code
    token = re.search(r"session_token\s+([0-9a-f]{64})", r.stdout).group(1)
    assert api.svc_b.post("/v1/introspect", {"token": token}).json["method"] == "ecps"
    # an unprivileged caller may not push for someone else's account
    r = api.a.ctl("ecps", api.per, uid=65534)
    assert r.returncode == 1
    api.provider.control(ciba="deny")
    r = api.a.ctl("ecps", api.per, json_out=False)
    assert r.returncode == 1 and "refusée" in r.stderr
    api.provider.control(ciba="approve")


def test_session_expires(api, state, slapd, smtp):
    port = free_port()
    d = Daemon(state, slapd, smtp.port, name="api-ttl",
               extra=f"http_listen = 127.0.0.1:{port}\nsession_ttl = 2\nsession_cache_ttl = 5\n"
                     + api.provider.daemon_config(f"http://127.0.0.1:{port}/v1/psc/callback")).start()
    try:
        wait_for(lambda: _port_open(port), what="listener")
        svc = Api(f"http://127.0.0.1:{port}", "webmail", api.secret)
        token = ecps_session(api, svc=svc)
        i = svc.post("/v1/introspect", {"token": token})
        assert i.json["active"] is True and i.json["exp"] - i.json["iat"] <= 3
        before = session_count(slapd)
        time.sleep(2.5)
        # expired: refused even though the verification is still in the cache, and removed
        assert svc.post("/v1/introspect", {"token": token}).json == {"active": False}
        assert api.svc_b.post("/v1/introspect", {"token": token}).json == {"active": False}
        assert session_count(slapd) == before - 1
    finally:
        d.stop()
