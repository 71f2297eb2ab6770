"""Load (issue 18, "Load and soak"): 500 PAM clients at once, each holding its connection, are
all answered, none refused, while one local user stalls 100 connections in the middle of a frame:
that user gets its share (max_clients_per_uid) and no more, its stalled connections are cut at the
frame deadline, and another user's request is answered meanwhile."""
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time

import mmwire
from mmstack import NOBODY, Daemon, wait_for

N = 500
SLOW = 100
PER_UID = 64  # the default max_clients_per_uid

# Runs as an unprivileged uid: opens SLOW connections, each sending half a frame header, then
# reports how many the daemon refused at once (it answers and closes) and, later, how many it cut
# at its frame deadline (EOF with nothing answered).
SLOW_CLIENT = textwrap.dedent("""
    import socket, sys, time
    path, n = sys.argv[1], int(sys.argv[2])
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.sendall(b"\\x4d\\x4d")  # two bytes of the magic, then silence
        socks.append(s)
    time.sleep(1.0)
    refused, held = 0, []
    for s in socks:
        s.settimeout(0.05)
        try:
            data = s.recv(4096)
        except socket.timeout:
            held.append(s)
            continue
        refused += 1 if data else 0
    print(f"refused={refused} held={len(held)}", flush=True)
    t0 = time.monotonic()
    cut = 0
    for s in held:
        s.settimeout(30)
        try:
            cut += s.recv(4096) == b""
        except (socket.timeout, ConnectionResetError):
            cut += 1
    print(f"cut={cut} after={time.monotonic() - t0:.1f}", flush=True)
""")


def test_500_concurrent_pam_clients_beside_a_user_stalling_connections(state, slapd, smtp):
    d = Daemon(state, slapd, smtp.port, name="load", extra="fail_delay_ms = 2000\n").start()
    try:
        slow = subprocess.Popen(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                                 sys.executable, "-c", SLOW_CLIENT, str(d.socket), str(SLOW)],
                                stdout=subprocess.PIPE, text=True)
        first = slow.stdout.readline().split()
        assert first == [f"refused={SLOW - PER_UID}", f"held={PER_UID}"], first

        # 500 root clients (sshd's pam_medimail acting for 500 remote users), released at once:
        # each connects and sends the password step of an unknown user, whose refusal the daemon
        # holds for fail_delay_ms (2 s), so all 500 connections are open together.
        socks, replies, errors = [], [None] * N, []
        barrier = threading.Barrier(N)

        def client(i):
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(120)
                socks.append(s)
                barrier.wait(60)
                s.connect(str(d.socket))
                s.sendall(mmwire.encode(mmwire.AUTH_PASSWORD, [
                    ("user", f"load.unknown{i:03d}"), ("password", "Pas-le-bon#1"),
                    ("service", "sshd"), ("rhost", f"198.51.{100 + i // 250}.{i % 250 + 1}")]))
                replies[i] = mmwire.decode_reply(s)
            except Exception as e:  # noqa: BLE001 - counted and reported below
                errors.append(f"{i}: {e!r}")
        threads = [threading.Thread(target=client, args=(i,)) for i in range(N)]
        for t in threads:
            t.start()
        # another user asks meanwhile: answered although nobody's connections are stalled
        t0 = time.monotonic()
        r = d.ctl("ping", uid=1)
        assert r.returncode == 0 and r.json["fields"]["daemon"] == "medimail-authd", r.stdout
        assert time.monotonic() - t0 < 5
        for t in threads:
            t.join(180)
        for s in socks:
            s.close()
        assert not errors, errors[:5]
        statuses = {rep.status for rep in replies}
        # each one the answer of a wrong login, none "démon saturé"
        assert statuses == {-13}, statuses
        assert all("saturé" not in (rep.message or "") for rep in replies)

        # the stalled connections are cut at the frame deadline (5 s), not held for ever
        second = slow.stdout.readline().split()
        assert second[0] == f"cut={PER_UID}", second
        assert slow.wait(30) == 0
        log = d.log_text()
        assert f"uid {NOBODY}: more than max_clients_per_uid ({PER_UID}) connections: refused" in log
        # said at most once a second, not once per refusal
        assert log.count("more than max_clients_per_uid") < SLOW - PER_UID
    finally:
        d.stop()


# Runs as an unprivileged uid: ROUNDS times, opens PER_UID connections at once, pings on each,
# closes them all; prints how many pings were answered and how many connections refused.
ROUNDS_CLIENT = textwrap.dedent("""
    import socket, sys, time
    sys.path.insert(0, sys.argv[3])
    import mmwire
    path, n = sys.argv[1], int(sys.argv[2])
    for _ in range(3):
        socks = []
        for _ in range(n):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(path)
            socks.append(s)
        answered = refused = 0
        for s in socks:
            s.sendall(mmwire.encode(mmwire.PING, []))
            rep = mmwire.decode_reply(s)
            answered += rep.status == 0
            refused += rep.status != 0
        for s in socks:
            s.close()
        print(f"answered={answered} refused={refused}", flush=True)
        time.sleep(0.5)
""")


def _threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def test_threads_kept_for_the_next_connections_are_bounded_and_give_every_slot_back(state, slapd, smtp):
    """A thread that served a connection waits for the next one (authd/ipc/server.c): after 200
    connections at once, at most 16 of their threads stay; a user's connections, served by kept
    threads round after round, give their max_clients_per_uid slots back each time."""
    d = Daemon(state, slapd, smtp.port, name="threads").start()
    try:
        assert d.ctl("ping").returncode == 0
        time.sleep(0.5)
        floor = _threads(d.proc.pid)
        socks = []
        for _ in range(200):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(str(d.socket))
            socks.append(s)
        for s in socks:
            s.sendall(mmwire.encode(mmwire.PING, []))
        # every connection open at once holds a thread of its own
        assert all(mmwire.decode_reply(s).status == 0 for s in socks)
        assert _threads(d.proc.pid) >= floor + 150
        for s in socks:
            s.close()
        deadline = time.monotonic() + 10
        while _threads(d.proc.pid) > floor + 16 and time.monotonic() < deadline:
            time.sleep(0.1)
        kept = _threads(d.proc.pid) - floor
        assert 0 < kept <= 16, kept

        out = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                              sys.executable, "-c", ROUNDS_CLIENT, str(d.socket), str(PER_UID),
                              os.path.dirname(mmwire.__file__)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == [f"answered={PER_UID}", "refused=0"] * 3, out.stdout
        # the kept threads served them: no more than before are left waiting (a thread that
        # finds 16 others waiting leaves just after its client's last reply, so waited for)
        wait_for(lambda: _threads(d.proc.pid) - floor <= 16, 10, "no more than 16 threads waiting")
        assert "more than max_clients_per_uid" not in d.log_text()
    finally:
        d.stop()
