"""How soon a revocation made through one daemon is refused by another (issue 17: <= 1 s, with
introspection >= 45,000 req/s). Two pairs of daemons on one private slapd with syncprov: one pair
follows the directory (ldap_follow = yes), the other does not (its cache trusts a verified token
for session_cache_ttl = 5 s, the default). For each pair: N API sessions opened on A (password +
mailed code), each introspected on B (so cached there), then revoked on A one by one; B is
polled every 2 ms until it refuses the token, and the delay from A's answer to B's refusal is
recorded (each token introspected on B just before its revocation, so B's cache holds it). Then wrk on B's /v1/introspect with a cached token while A revokes sessions at a steady
rate (the follower busy). Prints one JSON summary."""
import argparse
import base64
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TOP / "tests" / "integration"))
sys.path.insert(0, str(TOP / "bench" / "api"))

from apistack import Api, register_active  # noqa: E402
from bench import LUA  # noqa: E402  (bench/api/bench.py's wrk script)
from mmstack import Daemon, Slapd, SmtpSink, _port_open, free_port, med_fields, wait_for  # noqa: E402
from test_api_login import password_step  # noqa: E402

EXTRA = ("http_threads = 2\nhttp_rate = 10000000\nhttp_rate_burst = 10000000\nsession_cache_ttl = 5\n"
         "log_level = notice\nrate_per_source = 0\nrate_per_account = 0\nhttp_max_conn_per_source = 4096\n"
         "otp_resend_interval = 0\n")


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


class Pair:
    def __init__(self, st, slapd, smtp, name, follow):
        self.pa, self.pb = free_port(), free_port()
        f = f"ldap_follow = {'yes' if follow else 'no'}\n"
        self.a = Daemon(st, slapd, smtp.port, name=f"{name}-a", extra=f"http_listen = 127.0.0.1:{self.pa}\n{EXTRA}{f}").start()
        self.b = Daemon(st, slapd, smtp.port, name=f"{name}-b", extra=f"http_listen = 127.0.0.1:{self.pb}\n{EXTRA}{f}").start()
        wait_for(lambda: _port_open(self.pa) and _port_open(self.pb), what="listeners")
        self.secret = self.a.ctl("service", "add", f"bench-{name}").json["fields"]["secret"]
        self.client = f"bench-{name}"
        self.svc_a = Api(f"http://127.0.0.1:{self.pa}", self.client, self.secret)
        self.svc_b = Api(f"http://127.0.0.1:{self.pb}", self.client, self.secret)
        if follow:
            wait_for(lambda: "following ou=sessions" in self.b.log_text(), 15, "the follow")

    def stop(self):
        self.a.stop()
        self.b.stop()


def sessions(pair, smtp, login, mail, n):
    out = []
    for _ in range(n):
        txn, code = password_step(pair.svc_a, smtp, login, mail)
        r = pair.svc_a.post("/v1/login/code", {"txn": txn, "code": code})
        assert r.status == 200, r
        out.append(r.json["session_token"])
    return out


def propagation(pair, tokens):
    delays = []
    for t in tokens:
        # verified on B just now: B's cache holds it for a whole session_cache_ttl
        assert pair.svc_b.post("/v1/introspect", {"token": t}).json["active"] is True
        assert pair.svc_a.post("/v1/logout", {"token": t}).json == {"revoked": True}
        t0 = time.monotonic()
        while pair.svc_b.post("/v1/introspect", {"token": t}).json["active"]:
            time.sleep(0.002)
            if time.monotonic() - t0 > 30:
                raise SystemExit("a revocation not seen in 30 s")
        delays.append(time.monotonic() - t0)
    return {"n": len(delays), "p50_ms": round(pct(delays, 50) * 1000, 1), "p99_ms": round(pct(delays, 99) * 1000, 1),
            "max_ms": round(max(delays) * 1000, 1), "mean_ms": round(statistics.mean(delays) * 1000, 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    a = ap.parse_args()
    st = Path(tempfile.mkdtemp(prefix="mm-bench-follow-"))
    os.chmod(st, 0o755)
    slapd = Slapd(st).start()
    smtp = SmtpSink(st).start()
    out = {"load_average_before": os.getloadavg()}
    pairs = []
    try:
        on = Pair(st, slapd, smtp, "follow", True)
        pairs.append(on)
        off = Pair(st, slapd, smtp, "timers", False)
        pairs.append(off)
        mail = "bench.follow@example.org"
        login = register_active(on.a, smtp, "MED", med_fields(mail, "BENCHFOLLOW", "Ines"), mail)
        for name, p in (("follow", on), ("timers_only", off)):
            out[f"revocation_seen_on_b_{name}"] = propagation(p, sessions(p, smtp, login, mail, a.sessions))
        # wrk on B (follow on) with a cached token, while A revokes a session every 20 ms
        keep = sessions(on, smtp, login, mail, 1)[0]
        spare = sessions(on, smtp, login, mail, a.sessions)
        auth = "Basic " + base64.b64encode(f"{on.client}:{on.secret}".encode()).decode()
        lua = st / "introspect.lua"
        lua.write_text(LUA % (auth, keep))
        stop = threading.Event()
        revoked = []

        def revoker():
            for t in spare:
                if stop.is_set():
                    break
                on.svc_a.post("/v1/logout", {"token": t})
                revoked.append(t)
                time.sleep(0.02)
        th = threading.Thread(target=revoker)
        th.start()
        cmd = ["wrk", "-t", "2", "-c", str(a.connections), "-d", f"{a.seconds}s", "--latency", "-s", str(lua),
               f"http://127.0.0.1:{on.pb}/v1/introspect"]
        w = subprocess.run(cmd, capture_output=True, text=True, check=True)
        stop.set()
        th.join()
        res = json.loads(re.search(r"^JSON (.*)$", w.stdout, re.M).group(1))
        res["rps"] = round(res["requests"] / res["seconds"])
        res["revocations_meanwhile"] = len(revoked)
        res["command"] = " ".join(cmd[:-3]) + " -s introspect.lua " + cmd[-1]
        out["introspect_on_b_follow_on_while_revoking"] = res
        out["load_average_after"] = os.getloadavg()
    finally:
        for p in pairs:
            p.stop()
        smtp.stop()
        slapd.stop()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
