"""The daemon as a process: malformed and oversized frames, caller identity,
slapd going away and coming back, reload on SIGHUP, clean stop on SIGTERM."""
import contextlib
import os
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from mmstack import BUILD, Daemon, NOBODY, med_fields, notify_socket, wait_for

MAGIC = 0x4D4D4155


def frame(code, fields, version=1, magic=MAGIC, length=None):
    payload = struct.pack(">I", len(fields))
    for k, v in fields:
        payload += struct.pack(">I", len(k)) + k + struct.pack(">I", len(v)) + v
    n = len(payload) if length is None else length
    return struct.pack(">IHHI", magic, version, code, n) + payload


def exchange(path, data, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(path))
    s.sendall(data)
    chunks = b""
    try:
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks += c
            if len(chunks) >= 12:
                magic, ver, code, n = struct.unpack(">IHHI", chunks[:12])
                if len(chunks) >= 12 + n:
                    break
    finally:
        s.close()
    return chunks


def reply_status(raw):
    magic, ver, code, n = struct.unpack(">IHHI", raw[:12])
    assert magic == MAGIC and code & 0x8000
    status = struct.unpack(">i", raw[12:16])[0]
    mlen = struct.unpack(">I", raw[16:20])[0]
    return status, raw[20:20 + mlen].decode()


def ping_ok(authd):
    r = authd.ctl("ping")
    return r.returncode == 0 and r.json["fields"]["daemon"] == "medimail-authd"


BAD_FRAMES = [
    ("bad magic", frame(1, [], magic=0x12345678), -71),
    ("bad version", frame(1, [], version=9), -71),
    ("reply bit from a client", frame(0x8001, []), -71),
    ("length over the cap", struct.pack(">IHHI", MAGIC, 1, 1, 0x7FFFFFFF), -90),
    ("truncated field", frame(0x0104, [(b"login", b"x")])[:-1] + b"", None),
    ("field count lies", struct.pack(">IHHI", MAGIC, 1, 0x0104, 4) + struct.pack(">I", 1000), -71),
    ("NUL in a value", frame(0x0104, [(b"login", b"a\x00b")]), -71),
    ("upper-case key", frame(0x0104, [(b"LOGIN", b"a")]), -71),
    ("trailing garbage", struct.pack(">IHHI", MAGIC, 1, 1, 5) + b"\0\0\0\0Z", -71),
]


@pytest.mark.parametrize("name,data,status", BAD_FRAMES, ids=[b[0] for b in BAD_FRAMES])
def test_malformed_frames_get_an_error_and_the_daemon_serves_on(authd, name, data, status):
    raw = exchange(authd.socket, data, timeout=8)
    if status is None:
        # A frame cut short: the daemon waits for the rest, then drops the connection.
        assert raw == b"" or reply_status(raw)[0] < 0
    else:
        got, message = reply_status(raw)
        assert got == status, (name, got, message)
        assert message
    assert ping_ok(authd)


def test_unknown_request_code(authd):
    got, message = reply_status(exchange(authd.socket, frame(0x7777, [])))
    assert got == -38 and "inconnue" in message  # -ENOSYS


def test_oversized_value_refused_by_the_daemon(authd):
    big = b"a" * (64 * 1024 + 1)
    got, _ = reply_status(exchange(authd.socket, frame(0x0104, [(b"login", big)])))
    assert got == -71
    assert ping_ok(authd)


def test_slow_client_does_not_block_others(authd):
    # One client sends half a header and stalls; others are served meanwhile.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(authd.socket))
    s.sendall(struct.pack(">I", MAGIC))
    t0 = time.monotonic()
    assert ping_ok(authd)
    assert time.monotonic() - t0 < 2
    s.close()


def test_many_concurrent_clients(authd):
    results = []

    def worker():
        results.append(ping_ok(authd))
    threads = [threading.Thread(target=worker) for _ in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 64


def test_caller_identity_comes_from_the_kernel(authd, smtp):
    # A payload cannot claim to be root: an unprivileged caller stays unprivileged.
    r = authd.ctl("list", "--uid", "0", uid=NOBODY)
    assert r.returncode == 1
    assert r.json["status"] in (-13, -22)
    r = authd.ctl("list", uid=NOBODY)
    assert r.json["status"] == -13


def test_daemon_reconnects_after_slapd_restart(authd, slapd, smtp):
    # The daemon holds a live directory connection before slapd stops: a look-up slapd
    # answers (no such account, -ENOENT; not -EHOSTDOWN).
    warm = authd.ctl("show", "nobody.warmup")
    assert warm.returncode == 1 and warm.json["status"] == -2, warm.stdout
    slapd.stop()
    try:
        down = authd.ctl("register", "MED", "--password-stdin",
                         *med_fields("down@example.org", "DOWN", "Slapd"), input="Pharma#2024\n")
        assert down.returncode == 1
        assert down.json["status"] == -112  # -EHOSTDOWN
        assert "annuaire indisponible" in down.json["message"]
        assert ping_ok(authd)
    finally:
        slapd.start()
    up = authd.ctl("register", "MED", "--password-stdin",
                   *med_fields("down@example.org", "DOWN", "Slapd"), input="Pharma#2024\n")
    assert up.returncode == 0, up.stdout
    # logged by whichever thread connected first (a request, the follower, the sweeper): perhaps
    # an instant after this reply
    wait_for(lambda: "connected again" in authd.log_text(), timeout=5, what="the reconnection logged")


def test_reload_on_sighup(state, slapd, smtp):
    d = Daemon(state, slapd, smtp.port, name="reload")
    d.start()
    try:
        d.write_conf(extra="regions_open = Bretagne")
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in d.log_text(), what="reload")
        r = d.ctl("register", "MED", "--password-stdin", *med_fields("reload@example.org", "RELOAD", "Hup"),
                  input="Pharma#2024\n")
        assert r.returncode == 1 and r.json["fields"]["field"] == "region"
        # A broken file is refused and the running configuration kept.
        d.conf.write_text(d.conf.read_text() + "\nbogus_option = 1\n")
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in d.log_text(), what="refused reload")
        assert "bogus_option: unknown option" in d.log_text()
        assert ping_ok(d)
    finally:
        d.stop()


def test_sigterm_stops_cleanly(state, slapd, smtp):
    d = Daemon(state, slapd, smtp.port, name="term")
    d.start()
    pidfile = state / "term.pid"
    wait_for(pidfile.exists, what="pid file")
    assert int(pidfile.read_text()) == d.proc.pid
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(10) == 0
    assert not pidfile.exists()
    assert not d.socket.exists()
    assert "stopped" in d.log_text()
    d.stop()


@contextlib.contextmanager
def _started_with(d, addr):
    """d's daemon started by hand with NOTIFY_SOCKET=addr; stopped by SIGTERM, exit 0."""
    with open(d.log, "ab") as logf:
        proc = subprocess.Popen([str(BUILD / "authd/medimail-authd"), "-f", "-c", str(d.conf)], stdout=logf,
                                stderr=logf, env=dict(os.environ, NOTIFY_SOCKET=addr))
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise
    assert rc == 0


def test_service_manager_is_told_ready_once_served_and_stopping_at_the_end(state, slapd, smtp):
    """systemd's Type=notify: READY=1 comes when the socket is answered (a ping right after it
    succeeds), STOPPING=1 when SIGTERM is heard; a NOTIFY_SOCKET that is no socket path is said
    and ignored, and the daemon serves all the same."""
    d = Daemon(state, slapd, smtp.port, name="notifyd")
    d.write_conf()
    ns, addr = notify_socket("notify", 20)
    with ns, _started_with(d, addr) as proc:
        assert ns.recv(4096) == b"READY=1"
        assert ping_ok(d)
        # a reload (systemd's ExecReload, or Type=notify-reload) is framed by RELOADING=1 with
        # the monotonic clock's time, and READY=1 after it, taken or refused
        good = d.conf.read_text()
        for conf, said in ((good, "configuration reloaded"), ("ldap_pool = many\n", "reload refused")):
            d.conf.write_text(conf)
            before = time.monotonic()
            proc.send_signal(signal.SIGHUP)
            first = ns.recv(4096).split(b"\n")
            assert first[0] == b"RELOADING=1" and len(first) == 2 and first[1].startswith(b"MONOTONIC_USEC=")
            assert before - 1 <= int(first[1].split(b"=")[1]) / 1e6 <= time.monotonic() + 1
            assert ns.recv(4096) == b"READY=1"
            assert said in d.log_text()
            assert ping_ok(d)
        d.conf.write_text(good)
        proc.send_signal(signal.SIGTERM)
        assert ns.recv(4096) == b"STOPPING=1"
    for bad in ("relative/notify", "@", "/" + "x" * 200):
        with _started_with(d, bad) as proc:
            wait_for(lambda: ping_ok(d), 10, "the daemon serving without a notify socket")
            assert proc.poll() is None
    assert d.log_text().count("NOTIFY_SOCKET is not a socket path: ignored") == 3
    # a socket nobody listens on: said once, and the daemon serves; a failed datagram does
    # not stop the next ones (a manager back in time for a reload hears its whole frame)
    name = f"medimail-nobody-{os.getpid()}-{time.monotonic_ns()}"
    with _started_with(d, "@" + name) as proc:
        wait_for(lambda: ping_ok(d), 10, "the daemon serving with nobody to tell")
        late = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        late.bind("\0" + name)
        late.settimeout(20)
        with late:
            proc.send_signal(signal.SIGHUP)
            assert late.recv(4096).split(b"\n")[0] == b"RELOADING=1"
            assert late.recv(4096) == b"READY=1"
            proc.send_signal(signal.SIGTERM)
            assert late.recv(4096) == b"STOPPING=1"
    assert d.log_text().count("service manager not told READY=1: Connection refused") == 1
    assert d.log_text().count("service manager not told") == 1


def test_bad_configuration_refused_at_start(state, slapd, smtp):
    conf = state / "bad.conf"
    conf.write_text("hash_key_file = /nonexistent\nfoo = bar\n")
    os.chmod(conf, 0o600)
    r = subprocess.run([str(BUILD / "authd/medimail-authd"), "-t", "-c", str(conf)], capture_output=True, text=True)
    assert r.returncode == 1 and "line 2: foo: unknown option" in r.stderr
    os.chmod(conf, 0o666)
    r = subprocess.run([str(BUILD / "authd/medimail-authd"), "-t", "-c", str(conf)], capture_output=True, text=True)
    assert r.returncode == 1 and "writable" in r.stderr


def test_hash_key_must_be_private(state, slapd, smtp):
    key = state / "loose.key"
    key.write_text(os.urandom(32).hex())
    os.chmod(key, 0o644)
    d = Daemon(state, slapd, smtp.port, name="loosekey", hash_key=key)
    with pytest.raises(RuntimeError, match="mode 0600"):
        d.start()
    d.stop()
