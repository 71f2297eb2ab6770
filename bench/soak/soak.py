"""The soak of issue 18: two providers in multi-provider replication, one medimail-authd on each
(each with the other provider as failover), and a steady mix of flows on both daemons for a bounded
time (it stops by itself):

  login      password step + mailed code over the HTTP API (/v1/login/password, /v1/login/code)
  introspect /v1/introspect of a session opened by a login
  nss        getent passwd LOGIN through nss_medimail (private mount namespace, its own nsswitch.conf)
  search     medimailctl search (annuaire Medimail)
  settings   medimailctl profile set --login LOGIN --city ... (a directory write)
  register   medimailctl register (a directory write), one in fifty operations

Card logins are not in the mix: they need the PKCS#11 test token and a helper per login, far from
cheap next to the rest (tests/integration/test_card.py covers them).

Every --interval seconds (60) it prints one line and keeps one JSON row: requests done per flow,
errors by kind, p99 per flow over the interval, each daemon's RSS and open fds (/proc). At the end,
once replication converged, it counts the writes lost: sessions not on both providers or not
active through both daemons, settings whose last value is not on both providers, registrations
missing on either (0 expected). A PNG plot if matplotlib imports; a message otherwise.

--daemon-build may be an AddressSanitizer build (Makefile asan target, build-asan): the daemons
run from it, the clients (medimailctl, the NSS module) from --build; the daemons' logs are then
checked for sanitizer reports after a clean stop (LeakSanitizer runs at exit)."""
import argparse
import asyncio
import concurrent.futures
import email
import email.policy
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TOP / "tests" / "integration"))

import mmstack  # noqa: E402
from apistack import Api  # noqa: E402
from mmstack import SUFFIX, Daemon, Slapd, _port_open, free_port, med_fields, wait_for  # noqa: E402

PW = "Soak#2024xy"
CODE_RE = re.compile(r"Ce code est le : (\d{6})")
TOKEN_RE = re.compile(r"jeton=([0-9a-f]{64})")
SANITIZER_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: \w+Sanitizer")
CONF = """fail_delay_ms = 50
lockout_threshold = 5
rate_per_source = 1000000
rate_per_account = 1000000
otp_resend_interval = 0
http_rate = 1000000
http_rate_burst = 1000000
ldap_timeout = 3
enumerate = yes
cache_refresh = 5
"""
MIX = [("login", 30), ("introspect", 25), ("nss", 15), ("search", 12), ("settings", 16), ("register", 2)]


class Relay:
    """An SMTP sink in this process that keeps each message's text by recipient (the codes are
    read from memory, not from a Maildir that grows for the whole soak)."""

    def __init__(self):
        from aiosmtpd.controller import Controller
        self.port = free_port()
        self.bodies = {}
        self.lock = threading.Lock()
        self.ctl = Controller(self, hostname="127.0.0.1", port=self.port)
        self.ctl.start()

    async def handle_DATA(self, server, session, envelope):
        m = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        text = m.get_body(preferencelist=("plain",)).get_content()
        with self.lock:
            for to in envelope.rcpt_tos:
                self.bodies.setdefault(to.lower(), []).append(text)
        return "250 OK"

    def count(self, to):
        with self.lock:
            return len(self.bodies.get(to.lower(), []))

    def wait(self, to, pattern, before, timeout=15):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                for text in self.bodies.get(to.lower(), [])[before:]:
                    m = pattern.search(text)
                    if m:
                        return m.group(1)
            time.sleep(0.02)
        raise TimeoutError(f"no mail to {to}")

    def stop(self):
        self.ctl.stop()


class SoakDaemon(Daemon):
    """A Daemon whose binary may come from another build (the ASan one)."""

    def __init__(self, *a, binary, env=None, **kw):
        super().__init__(*a, **kw)
        self.binary = binary
        self.env = env

    def start(self):
        self.write_conf()
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([str(self.binary), "-f", "-c", str(self.conf)], stdout=self.logf,
                                     stderr=self.logf, env=self.env)
        wait_for(lambda: self.socket.exists() or self.proc.poll() is not None, 30, "daemon socket")
        if self.proc.poll() is not None:
            raise RuntimeError(f"medimail-authd exited: {self.log.read_text()}")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "logf", None):
            self.logf.close()

    def proc_stats(self):
        pid = self.proc.pid
        rss = 0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        return {"rss_kib": rss, "fds": len(os.listdir(f"/proc/{pid}/fd"))}


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.done = {}
        self.errors = {}
        self.lat = {}  # latencies of the current interval, by flow

    def ok(self, flow, secs):
        with self.lock:
            self.done[flow] = self.done.get(flow, 0) + 1
            self.lat.setdefault(flow, []).append(secs)

    def err(self, flow, kind):
        with self.lock:
            key = f"{flow}: {kind}"
            self.errors[key] = self.errors.get(key, 0) + 1

    def take_latencies(self):
        with self.lock:
            lat, self.lat = self.lat, {}
        return {k: round(p99(v) * 1000, 1) for k, v in sorted(lat.items())}


def p99(values):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * 0.99))] if v else 0.0


class Soak:
    def __init__(self, a):
        self.a = a
        self.build = Path(a.build).resolve()
        self.daemon_build = Path(a.daemon_build or a.build).resolve()
        self.asan = self._sanitized()
        mmstack.BUILD = self.build  # medimailctl from the normal build
        self.state = Path(tempfile.mkdtemp(prefix="mmsoak-", dir=a.state_dir))
        os.chmod(self.state, 0o755)
        self.stats = Stats()
        self.rows = []
        self.sessions = []    # (daemon index, account, token, monotonic time opened)
        self.settings = {}    # account -> last city written with success
        self.registered = []  # logins
        self._writing = set()  # accounts whose settings write is under way
        self.mismatch = []     # (provider, account, value there, last value written)
        self.lock = threading.Lock()
        self.idle = None
        self.providers, self.daemons, self.svcs = [], [], []

    def _sanitized(self):
        try:
            opts = json.loads((self.daemon_build / "meson-info" / "intro-buildoptions.json").read_text())
        except (OSError, ValueError):
            return False
        return any(o["name"] == "b_sanitize" and o["value"] not in ("none", []) for o in opts)

    # ------------------------------------------------------------ the stack
    def up(self):
        pa, pb = free_port(), free_port()
        common = {"MM_REPL_PW": os.urandom(12).hex(), "MM_AUTHD_PW": os.urandom(12).hex()}
        a = Slapd(self.state / "provA", pa, dict(common, MM_SERVER_ID="1", MM_SYNC_PEERS=f"ldap://127.0.0.1:{pb}/"))
        b = Slapd(self.state / "provB", pb, dict(common, MM_SERVER_ID="2", MM_SYNC_PEERS=f"ldap://127.0.0.1:{pa}/"))
        self.providers = [a, b]
        for s in self.providers:
            s.state.mkdir()
            s.start()
        wait_for(lambda: b.search(f"ou=people,{SUFFIX}", scope="base"), 20, "provider B to fill from A")
        self.relay = Relay()
        key = self.state / "hash.key"
        key.write_text(os.urandom(32).hex())
        os.chmod(key, 0o600)
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:print_summary=1",
                   UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=0")
        ports = free_port(), free_port()
        for i, (p, q) in enumerate(((a, b), (b, a))):
            self.daemons.append(SoakDaemon(
                self.state, p, self.relay.port, name=f"soak{i}", hash_key=key,
                binary=self.daemon_build / "authd" / "medimail-authd", env=env,
                extra=f"ldap_uri = {p.ldap_url} {q.ldap_url}\nhttp_listen = 127.0.0.1:{ports[i]}\n{CONF}").start())
        wait_for(lambda: all(_port_open(p) for p in ports), 30, "http listeners")
        r = self.daemons[0].ctl("service", "add", "soaksvc")
        if r.returncode != 0:
            raise RuntimeError(r.stdout + r.stderr)
        self.svcs = [Api(f"http://127.0.0.1:{p}", "soaksvc", r.json["fields"]["secret"]) for p in ports]
        wait_for(lambda: self.svcs[1].post("/v1/introspect", {"token": "0" * 64}).status == 200, 20,
                 "the service on provider B")
        self.nsswitch = self.state / "nsswitch.conf"
        self.nsswitch.write_text("passwd: files medimail\ngroup: files medimail\nshadow: files\nhosts: files\n")
        import queue
        self.idle = queue.Queue()
        # the accounts, all through daemon A: validations on two providers at once would race
        # for the same uidNumber (docs/replication.md, the unique overlay)
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            self.users = list(ex.map(self._active, range(self.a.accounts)))
        self.homes = {u: i % 2 for i, (u, _) in enumerate(self.users)}
        for u in self.users:
            self.idle.put(u)

    def _active(self, i):
        d = self.daemons[0]
        sn = "SOAK" + "".join(random.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(6))
        mail = f"{sn.lower()}.{i}@example.org"
        r = d.ctl("register", "MED", "--password-stdin", *med_fields(mail, sn, "Endurance"), input=PW + "\n")
        if r.returncode != 0:
            raise RuntimeError(r.stdout + r.stderr)
        login = r.json["fields"]["login"]
        token = self.relay.wait(mail, TOKEN_RE, 0)
        for args, inp in ((("confirm", "--token-stdin"), token + "\n"), (("validate", login), None),
                          (("cgu", "accept", login), None)):
            c = d.ctl(*args, input=inp)
            if c.returncode != 0:
                raise RuntimeError(c.stdout + c.stderr)
        return login, mail

    def down(self):
        for d in self.daemons:
            d.stop()
        if getattr(self, "relay", None):
            self.relay.stop()
        for s in self.providers:
            try:
                s.stop()
            except subprocess.CalledProcessError:
                pass

    # ------------------------------------------------------------ the flows
    def home(self, user, k):
        """--affinity: an account's writes (logins, settings) all through one daemon, its home."""
        return self.homes[user] if self.a.affinity else k

    def f_login(self, k):
        user, mail = self.idle.get()
        k = self.home(user, k)
        try:
            before = self.relay.count(mail)
            r = self.svcs[k].post("/v1/login/password", {"user": user, "password": PW})
            if r.status != 200:
                return f"password {r.status} {(r.json or {}).get('error')}"
            code = self.relay.wait(mail, CODE_RE, before)
            c = self.svcs[k].post("/v1/login/code", {"txn": r.json["txn"], "code": code})
            if c.status != 200:
                return f"code {c.status} {(c.json or {}).get('error')}"
            with self.lock:
                self.sessions.append((k, user, c.json["session_token"], time.monotonic()))
        finally:
            self.idle.put((user, mail))
        return None

    def f_introspect(self, k):
        with self.lock:  # a session a second old at least: on the other provider, replication is async
            old = [x for x in self.sessions[-400:] if time.monotonic() - x[3] > 1.0]
            if not old:
                return "skip"
            _, user, token, _ = random.choice(old)
        r = self.svcs[k].post("/v1/introspect", {"token": token})
        if r.status != 200 or r.json.get("active") is not True:
            return f"{r.status} active={(r.json or {}).get('active')}"
        return None

    def f_nss(self, k):
        user, _ = random.choice(self.users)
        d = self.daemons[k]
        env = dict(os.environ, LD_LIBRARY_PATH=str(self.build / "nss_medimail"), MEDIMAIL_SOCKET=str(d.socket),
                   MEDIMAIL_NSS_CACHE_DIR=str(self.state / f"{d.name}-mc"), LC_ALL="C.UTF-8")
        env.pop("MEDIMAIL_NSS_BYPASS", None)
        script = f'mount --bind "{self.nsswitch}" /etc/nsswitch.conf && exec "$@"'
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                            "getent", "passwd", user], env=env, capture_output=True, text=True, timeout=30)
        if r.returncode != 0 or not r.stdout.startswith(user + ":"):
            return f"getent rc={r.returncode}"
        return None

    def f_search(self, k):
        r = self.daemons[k].ctl("search", "--name", "SOAK")
        if r.returncode != 0:
            return f"rc={r.returncode} {(r.json or {}).get('message', '')[:60]}"
        return None

    def f_settings(self, k):
        city = "Ville" + "".join(random.choice("abcdefghij") for _ in range(8))
        with self.lock:  # one write per account at a time, so "the last value" is well defined
            free = [u for u, _ in self.users if u not in self._writing]
            if not free:
                return "skip"
            user = random.choice(free)
            self._writing.add(user)
        try:
            r = self.daemons[self.home(user, k)].ctl("profile", "set", "--login", user, "--city", city)
            if r.returncode != 0:
                return f"rc={r.returncode} {(r.json or {}).get('message', '')[:60]}"
            with self.lock:
                self.settings[user] = city
        finally:
            with self.lock:
                self._writing.discard(user)
        return None

    def f_register(self, k):
        sn = "REG" + "".join(random.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(7))
        r = self.daemons[k].ctl("register", "MED", "--password-stdin",
                                *med_fields(f"{sn.lower()}.soak@example.org", sn, "Pendant"), input=PW + "\n")
        if r.returncode != 0:
            return f"rc={r.returncode} {(r.json or {}).get('message', '')[:60]}"
        with self.lock:
            self.registered.append(r.json["fields"]["login"])
        return None

    def one(self, flow, k):
        t = time.monotonic()
        try:
            e = getattr(self, "f_" + flow)(k)
        except Exception as ex:  # noqa: BLE001 - an error of the flow, counted by kind
            e = type(ex).__name__
        if e == "skip":
            return
        if e:
            self.stats.err(flow, e)
        else:
            self.stats.ok(flow, time.monotonic() - t)

    # ------------------------------------------------------------ the run
    def report(self, t):
        row = {"t": round(t), "done": dict(sorted(self.stats.done.items())), "errors": dict(self.stats.errors),
               "p99_ms": self.stats.take_latencies(),
               "daemons": [d.proc_stats() for d in self.daemons], "loadavg": os.getloadavg()[0]}
        self.rows.append(row)
        print(f"[{row['t']:5d} s] done {sum(row['done'].values())} {row['done']} errors {row['errors']} "
              f"p99 ms {row['p99_ms']} " + " ".join(f"d{i} rss {s['rss_kib']} KiB fds {s['fds']}"
                                                    for i, s in enumerate(row['daemons'])) +
              f" load {row['loadavg']:.2f}", flush=True)

    def run(self):
        flows = [f for f, w in MIX for _ in range(w)]
        rng = random.Random(18)
        total = self.a.seconds
        n = int(total * self.a.rate)
        t0 = time.monotonic()
        next_report = self.a.interval
        with concurrent.futures.ThreadPoolExecutor(self.a.workers) as ex:
            futs = []
            for i in range(n):
                due = t0 + i / self.a.rate
                while True:
                    now = time.monotonic()
                    if now - t0 >= next_report:
                        self.report(now - t0)
                        next_report += self.a.interval
                    if now >= due:
                        break
                    time.sleep(min(due - now, 0.05))
                futs.append(ex.submit(self.one, rng.choice(flows), i % 2))
                if len(futs) > 1000:
                    futs = [f for f in futs if not f.done()]
            for f in futs:
                f.result()
        took = time.monotonic() - t0
        if not self.rows or self.rows[-1]["t"] < round(took):
            self.report(took)
        return took

    def lost_writes(self):
        """Once both providers agree (up to 60 s), the writes missing on either."""
        a, b = self.providers

        def count():
            lost = {"sessions": 0, "settings": 0, "registrations": 0, "sessions_inactive": 0}
            for s in (a, b):
                have = {e["mmSessionId"][0] for e in s.search(
                    f"ou=sessions,{SUFFIX}", "(&(objectClass=mmSession)(description=session))", "mmSessionId",
                    scope="one") if "mmSessionId" in e}
                lost["sessions"] += max(0, len(self.sessions) - len(have))
                people = {e["uid"][0]: e.get("l", []) for e in s.search(
                    f"ou=people,{SUFFIX}", "(uid=*)", "uid", "l") if "uid" in e}
                bad = [(s.port, u, people.get(u), city) for u, city in self.settings.items()
                       if people.get(u) != [city]]
                self.mismatch = bad[:10]
                lost["settings"] += len(bad)
                lost["registrations"] += sum(1 for u in self.registered if u not in people)
            return lost
        end = time.monotonic() + 60
        while True:
            lost = count()
            if sum(lost.values()) == 0 or time.monotonic() > end:
                break
            time.sleep(1)
        for _, _, token, _ in self.sessions:
            for svc in self.svcs:
                r = svc.post("/v1/introspect", {"token": token})
                if r.status != 200 or r.json.get("active") is not True:
                    lost["sessions_inactive"] += 1
        return lost

    def sanitizer_reports(self):
        out = []
        for d in self.daemons:
            for line in d.log.read_text(errors="replace").splitlines():
                if SANITIZER_RE.search(line):
                    out.append(f"{d.name}: {line}")
        return out

    def plot(self, path):
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("no plot: python3-matplotlib is not installed", flush=True)
            return None
        ts = [r["t"] / 60 for r in self.rows]
        fig, ax = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
        for i in range(len(self.daemons)):
            ax[0].plot(ts, [r["daemons"][i]["rss_kib"] / 1024 for r in self.rows], label=f"daemon {i} RSS MiB")
            ax[1].plot(ts, [r["daemons"][i]["fds"] for r in self.rows], label=f"daemon {i} open fds")
        for flow, _ in MIX:
            ax[2].plot(ts, [r["p99_ms"].get(flow, float("nan")) for r in self.rows], label=f"{flow} p99 ms")
        for x in ax:
            x.legend(fontsize="small")
            x.grid(True)
        ax[2].set_xlabel("minutes")
        fig.tight_layout()
        fig.savefig(path)
        print(f"plot: {path}", flush=True)
        return str(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--seconds", type=float, help="overrides --minutes")
    ap.add_argument("--rate", type=float, default=20.0, help="operations per second, both daemons")
    ap.add_argument("--interval", type=float, default=60.0, help="seconds between two report lines")
    ap.add_argument("--accounts", type=int, default=24)
    ap.add_argument("--workers", type=int, default=32)
    ap.add_argument("--affinity", action="store_true",
                    help="each account's logins and settings writes through one daemon (see RESULTS.md: two "
                         "providers writing the same entry within the replication delay can undo a write)")
    ap.add_argument("--build", default=os.environ.get("MM_BUILD", str(TOP / "build")))
    ap.add_argument("--daemon-build", help="the daemon's build (e.g. build-asan); --build by default")
    ap.add_argument("--state-dir", default="/tmp")
    ap.add_argument("--json", help="write the summary (rows included) here")
    ap.add_argument("--plot", help="PNG file for the plot (needs matplotlib)")
    a = ap.parse_args()
    a.seconds = a.seconds if a.seconds is not None else a.minutes * 60
    s = Soak(a)
    summary = {"seconds": a.seconds, "rate": a.rate, "affinity": a.affinity, "asan": None,
               "command": " ".join(sys.argv)}
    try:
        s.up()
        print(f"stack up in {s.state}: two providers, two daemons ({s.daemon_build.name}"
              f"{', sanitizers' if s.asan else ''}), {len(s.users)} accounts; {a.rate}/s for {a.seconds:.0f} s",
              flush=True)
        took = s.run()
        lost = s.lost_writes()
        summary.update(took=round(took, 1), done=dict(sorted(s.stats.done.items())),
                       requests=sum(s.stats.done.values()), errors=s.stats.errors, lost=lost,
                       writes={"sessions": len(s.sessions), "settings": len(s.settings),
                               "registrations": len(s.registered)},
                       mismatch=s.mismatch, loadavg=os.getloadavg(), rows=s.rows)
    finally:
        s.down()
    if s.asan:
        summary["asan"] = s.sanitizer_reports()
    if a.plot:
        summary["plot"] = s.plot(a.plot)
    print(f"requests {summary['requests']} in {summary['took']} s, errors {summary['errors']}, "
          f"writes {summary['writes']}, lost {summary['lost']}"
          + (f" {summary['mismatch']}" if summary.get("mismatch") else "")
          + f", load {tuple(round(x, 2) for x in summary['loadavg'])}"
          + (f", sanitizer reports {len(summary['asan'])}" if s.asan else ""), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(summary, indent=1))
    bad = summary["errors"] or sum(summary["lost"].values()) or summary["asan"]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
