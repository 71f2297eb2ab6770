#!/usr/bin/python3
"""bench/scale/scale.py: the figures of issue 17 item 5 on a directory already loaded by run.sh.

Two medimail-authd on one slapd (both following it by content synchronization), each with its
own socket and cache_dir, the daemon's default configuration for what is measured (cache_refresh,
argon2id cost, uid/gid ranges); only the rate limits and the failure delay are off, as in the other
benches, so that one client can drive a batch. Every figure comes from this run: nothing is typed in.

usage (root, under /tmp/mm-bench.lock): scale.py --state DIR --port P --accounts N --ldif FILE
                                          [--regs K] [--changes C] [--results FILE]
"""
import argparse
import email
import email.policy
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TOP / "tests/integration"))
from mmstack import BUILD, SUFFIX, Daemon, Slapd, SmtpSink, luhn_complete, wait_for  # noqa: E402

PW = "Pharma#2024"
UID_BASE, GID_BASE = 1900000000, 1910000000  # what run.sh gave dirgen: the daemon's default uid_min/gid_min
LDAP_TIMEOUT = None  # --ldap-timeout; None: the daemon's default
REBUILT = re.compile(r"name-service cache rebuilt: (\d+) users, (\d+) groups in (\d+) ms")


def now():
    return time.monotonic()


def loadavg():
    return Path("/proc/loadavg").read_text().strip()


def pct(xs, q):
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))] if s else float("nan")


def mem(pid):
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            out[k] = int(v.split()[0]) / 1024  # MiB
    return out


class ScaleDaemon(Daemon):
    """A daemon with the defaults a site gets (no test ranges, default argon2id and cache_refresh)."""

    def write_conf(self, extra=None):
        if not self.key.exists():
            self.key.write_text(os.urandom(32).hex())
            os.chmod(self.key, 0o600)
        self.cache = self.state / (self.name + "-mc")
        self.conf.write_text(f"""socket = {self.socket}
pid_file = {self.state / (self.name + '.pid')}
log_stderr = yes
log_level = info
ldap_uri = {self.slapd.ldapi_url}
ldap_base = {SUFFIX}
ldap_bind_dn = cn=authd,ou=system,{SUFFIX}
ldap_bind_password_file = {self.slapd.authd_pw_file}
smtp_url = smtp://127.0.0.1:{self.smtp_port}
hash_key_file = {self.key}
regions_open = Occitanie
domain.pharmacien = pharmacien.oc.mssante.fr
domain_default = oc.mssante.fr
cache_dir = {self.cache}
fail_delay_ms = 0
rate_per_source = 0
rate_per_account = 0
{f"ldap_timeout = {LDAP_TIMEOUT}" if LDAP_TIMEOUT else ""}
""")
        os.chmod(self.conf, 0o600)

    def rebuilds(self):
        return [tuple(int(x) for x in m.groups()) for m in REBUILT.finditer(self.log_text())]


class Nss:
    """Real getent through libnss_medimail, in a private mount namespace with "files medimail"."""

    def __init__(self, state):
        self.conf = state / "nsswitch.conf"
        self.conf.write_text("passwd: files medimail\ngroup: files medimail\nshadow: files\nhosts: files\n")
        self.empty = state / "empty-cache"
        self.empty.mkdir(exist_ok=True)

    def getent(self, d, keys, cache=None, db="passwd"):
        env = dict(os.environ, LD_LIBRARY_PATH=str(BUILD / "nss_medimail"), MEDIMAIL_SOCKET=str(d.socket),
                   MEDIMAIL_NSS_CACHE_DIR=str(cache or d.cache), LC_ALL="C.UTF-8")
        env.pop("MEDIMAIL_NSS_BYPASS", None)
        script = f'mount --bind "{self.conf}" /etc/nsswitch.conf && exec getent {db} "$@"'
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *keys],
                           env=env, capture_output=True, text=True, timeout=60)
        return r.returncode, {line.split(":")[0]: line for line in r.stdout.splitlines() if ":" in line}


class Mail:
    """The confirmation tokens from the sink's maildir, reading each new message once."""

    def __init__(self, smtp):
        self.smtp, self.seen, self.tokens = smtp, set(), {}

    def token(self, to, timeout=60):
        end = now() + timeout
        while now() < end:
            for sub in ("new", "cur"):
                d = self.smtp.dir / sub
                for f in (os.listdir(d) if d.exists() else []):
                    if f in self.seen:
                        continue
                    self.seen.add(f)
                    m = email.message_from_bytes((d / f).read_bytes(), policy=email.policy.default)
                    t = re.search(r"jeton=([0-9a-f]{64})", self.smtp.body(m))
                    if t:
                        self.tokens[m["To"].addresses[0].addr_spec.lower()] = t.group(1)
            if to.lower() in self.tokens:
                return self.tokens.pop(to.lower())
            time.sleep(0.01)
        raise TimeoutError(f"no confirmation mail to {to}")


def ldap(slapd, tool, text):
    r = subprocess.run([tool, "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url], input=text, capture_output=True,
                       text=True)
    return r.returncode, r.stderr


def seed_idpool(slapd, n):
    """A migrated directory's id counter: past the ids the import gave out (validate allocates from it)."""
    dn = f"cn=idpool,ou=system,{SUFFIX}"
    rc, err = ldap(slapd, "ldapadd", f"dn: {dn}\nobjectClass: mmIdPool\ncn: idpool\n"
                   f"uidNumber: {UID_BASE + n - 1}\ngidNumber: {GID_BASE + n - 1}\n")
    if rc == 68:
        rc, err = ldap(slapd, "ldapmodify", f"dn: {dn}\nchangetype: modify\nreplace: uidNumber\n"
                       f"uidNumber: {UID_BASE + n - 1}\n-\nreplace: gidNumber\ngidNumber: {GID_BASE + n - 1}\n")
    if rc != 0:
        raise RuntimeError(f"idpool: {err}")


def active_logins(slapd, count):
    r = subprocess.run(["ldapsearch", "-LLL", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url, "-b",
                        f"ou=people,{SUFFIX}", "-z", str((count + 1) * 5),
                        "(&(mmStatus=active)(mmAccountType=PER)(uidNumber=*))", "uid"],
                       capture_output=True, text=True)
    logins = re.findall(r"^uid: (\S+)$", r.stdout, re.M)
    if len(logins) < count + 1:
        raise RuntimeError(f"only {len(logins)} active accounts found: {r.stderr}")
    return logins[::5][:count + 1]


def start_measured(d, nss, probe):
    """Process start -> first getpwnam answered on the socket -> cache files written."""
    t0 = now()
    d.start()
    t_socket = now()
    while True:
        rc, got = nss.getent(d, [probe], cache=nss.empty)
        if probe in got:
            break
        if d.proc.poll() is not None or now() - t0 > 600:
            raise RuntimeError(f"{d.name}: no answer: {d.log_text()[-2000:]}")
        time.sleep(0.02)
    t_answer = now()
    wait_for(lambda: d.rebuilds() or d.proc.poll() is not None, 600, f"{d.name} cache files")
    t_files = now()
    if not d.rebuilds():
        raise RuntimeError(f"{d.name} exited: {d.log_text()[-2000:]}")
    users, groups, ms = d.rebuilds()[0]
    return {"socket_s": t_socket - t0, "answer_s": t_answer - t0, "files_s": t_files - t0, "build_ms": ms,
            "users": users, "groups": groups}


def alpha(i):
    """i in letters (a given name takes no digits)."""
    s = ""
    while True:
        s = chr(97 + i % 26) + s
        i //= 26
        if not i:
            return s


def register_batch(a, mail, k, tag):
    """k registrations through daemon A's CLI door: register -> confirmation link -> validate."""
    steps = {"register": [], "confirm": [], "validate": [], "flow": []}
    logins = []
    t_all = now()
    for i in range(k):
        addr = f"scale.{tag}.{i}@example.org"
        rpps = luhn_complete("19%08d" % i)  # not among dirgen's (1 + the entry's index)
        t0 = now()
        r = a.ctl("register", "PER", "--password-stdin", "--login-mail", addr, "--sn", "ECHELLE",
                  "--given-name", "Test" + alpha(i), "--rpps", rpps, "--profession", "21", "--liberal", "yes",
                  "--phone", "05 63 00 00 01", "--street", "1 place du Vigan", "--postal-code", "81000",
                  "--city", "Albi", "--region", "Occitanie", "--department", "81", input=PW + "\n")
        t1 = now()
        if r.returncode != 0 or not r.json:
            raise RuntimeError(f"register {addr}: {r.stdout} {r.stderr}")
        login = r.json["fields"]["login"]
        tok = mail.token(addr)
        t2 = now()
        c = a.ctl("confirm", "--token-stdin", input=tok + "\n")
        t3 = now()
        v = a.ctl("validate", login)
        t4 = now()
        if c.returncode != 0 or v.returncode != 0:
            raise RuntimeError(f"{login}: confirm {c.stdout} validate {v.stdout}")
        steps["register"].append(t1 - t0)
        steps["confirm"].append(t3 - t2)
        steps["validate"].append(t4 - t3)
        steps["flow"].append(t4 - t0)
        logins.append(login)
    return steps, now() - t_all, logins


def watch(nss, daemons, logins, present, issue, timeout):
    """Calls issue(i) for each change i (it returns the change's start time), while one thread per
    daemon runs getent on every pending login, until each shows the change (present: the login must
    appear; else disappear). Returns {daemon name: [seconds from the change's start]}."""
    start, took = {}, []
    seen = {d.name: {} for d in daemons}
    rounds = {d.name: [] for d in daemons}
    done = threading.Event()

    def poll(d):
        while not done.is_set():
            pending = [i for i in start if i not in seen[d.name]]
            if pending:
                t0 = now()
                _, got = nss.getent(d, [logins[i] for i in pending])
                t = now()
                rounds[d.name].append(t - t0)
                for i in pending:
                    if (logins[i] in got) == present:
                        seen[d.name][i] = t - start[i]
            time.sleep(0.02)

    threads = [threading.Thread(target=poll, args=(d,), daemon=True) for d in daemons]
    for t in threads:
        t.start()
    try:
        for i in range(len(logins)):
            t = issue(i)
            took.append(now() - t)
            start[i] = t
        end = now() + timeout
        while now() < end and any(len(seen[d.name]) < len(logins) for d in daemons):
            time.sleep(0.1)
    finally:
        done.set()
        for t in threads:
            t.join()
    return {d.name: [seen[d.name].get(i) for i in range(len(logins))] for d in daemons}, rounds, took


def summary(xs, rounds):
    ok = [x for x in xs if x is not None]
    return {"raw": [None if x is None else round(x, 3) for x in xs], "poll_p50": pct(rounds, .5),
            "poll_max": max(rounds) if rounds else float("nan"), "n": len(xs), "seen": len(ok), "p50": pct(ok, 0.5), "max": max(ok) if ok else float("nan"),
            "min": min(ok) if ok else float("nan")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--state", type=Path, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--accounts", type=int, required=True)
    ap.add_argument("--ldif", required=True)
    ap.add_argument("--regs", type=int, default=100)
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--spacing", type=float, default=5.0, help="seconds between two measured changes")
    ap.add_argument("--results", type=Path)
    ap.add_argument("--ldap-timeout", type=int, help="authd.conf ldap_timeout (default: the daemon's)")
    a = ap.parse_args()
    global LDAP_TIMEOUT
    LDAP_TIMEOUT = a.ldap_timeout
    st = a.state
    os.chmod(st, 0o755)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    load0 = loadavg()
    print(f"stamp {stamp}  loadavg before: {load0}", flush=True)

    slapd = Slapd(st, port=a.port).start()
    smtp = SmtpSink(st).start()
    daemons = []
    try:
        seed_idpool(slapd, a.accounts)
        spid = int((st / "slapd" / "slapd.pid").read_text())
        nss = Nss(st)
        probes = active_logins(slapd, a.changes)
        probe, suspend_logins = probes[0], probes[1:]
        A = ScaleDaemon(st, slapd, smtp.port, name="A")
        B = ScaleDaemon(st, slapd, smtp.port, name="B", hash_key=st / "hash.key")
        daemons = [A, B]
        fig = {}
        fig["start_A"] = start_measured(A, nss, probe)
        print("A:", fig["start_A"], flush=True)
        fig["start_B"] = start_measured(B, nss, probe)
        print("B:", fig["start_B"], flush=True)
        wait_for(lambda: all(d.log_text().count("by content synchronization") >= 4 for d in daemons), 120,
                 "both daemons following the directory")
        fig["files"] = {n: (A.cache / n).stat().st_size for n in ("passwd", "group")}
        fig["mem"] = {"A": mem(A.proc.pid), "B": mem(B.proc.pid), "slapd": mem(spid)}
        print("files:", fig["files"], "mem:", fig["mem"], flush=True)

        # The cache answers before the measured changes (so "visible" below is not a first miss).
        for d in daemons:
            rc, got = nss.getent(d, suspend_logins)
            assert len(got) == len(suspend_logins), (d.name, rc, len(got))

        mail = Mail(smtp)
        a.regs and print(f"registrations: {a.regs} through A", flush=True)
        steps, wall, _ = register_batch(A, mail, a.regs, "batch")
        fig["regs"] = {"n": a.regs, "wall": wall, **{k: (pct(v, .5), pct(v, .99)) for k, v in steps.items()}}
        print("regs:", fig["regs"], flush=True)

        # One account change through A, seen through getent on B and on A.
        timeout = 3 * 60 + 4 * max(fig["start_A"]["build_ms"], fig["start_B"]["build_ms"]) / 1000
        nb0 = len(B.rebuilds())

        def suspend(i):
            if i:
                time.sleep(a.spacing)
            t = now()
            r = A.ctl("suspend", suspend_logins[i], "--reason", "bench")
            assert r.returncode == 0, r.stdout + r.stderr
            return t

        vis, rounds, took = watch(nss, daemons, suspend_logins, False, suspend, timeout)
        fig["suspend"] = {n: summary(v, rounds[n]) for n, v in vis.items()}
        fig["suspend_req"] = took
        fig["B_rebuilds"] = B.rebuilds()[nb0:]
        print("suspend visible:", fig["suspend"], flush=True)

        # A new account: registered and confirmed through A (not timed), then validated (timed).
        pend = []
        for i in range(a.changes):
            addr = f"scale.new.{i}@example.org"
            r = A.ctl("register", "PER", "--password-stdin", "--login-mail", addr, "--sn", "NOUVEAU",
                      "--given-name", "Neuf" + alpha(i), "--rpps", luhn_complete("18%08d" % i), "--profession", "21",
                      "--liberal", "yes", "--postal-code", "81000", "--city", "Albi", "--region", "Occitanie",
                      "--department", "81", input=PW + "\n")
            assert r.returncode == 0, r.stdout
            pend.append(r.json["fields"]["login"])
            c = A.ctl("confirm", "--token-stdin", input=mail.token(addr) + "\n")
            assert c.returncode == 0, c.stdout

        def validate(i):
            if i:
                time.sleep(a.spacing / 5)
            t = now()
            r = A.ctl("validate", pend[i])
            assert r.returncode == 0, r.stdout
            return t

        vis, rounds, took = watch(nss, daemons, pend, True, validate, timeout)
        fig["create"] = {n: summary(v, rounds[n]) for n, v in vis.items()}
        fig["create_req"] = took
        print("new account visible:", fig["create"], flush=True)
        fig["rebuilds_A"] = A.rebuilds()
        fig["rebuilds_B"] = B.rebuilds()
        fig["mem_end"] = {"A": mem(A.proc.pid), "B": mem(B.proc.pid), "slapd": mem(spid)}
    finally:
        for d in daemons:
            d.stop()
        smtp.stop()
        slapd.stop()
    load1 = loadavg()
    print(f"loadavg after: {load1}", flush=True)
    text = report(a, stamp, load0, load1, fig)
    print(text)
    if a.results:
        a.results.write_text(text)


def load_line(state):
    p = state / "load.txt"
    return p.read_text().strip() if p.exists() else "not recorded"


def ms(x):
    return f"{x * 1000:.0f} ms" if x < 10 else f"{x:.1f} s"


def report(a, stamp, load0, load1, f):
    sa, sb, r = f["start_A"], f["start_B"], f["regs"]
    later = [x[2] for x in f["rebuilds_A"][1:]] or [sa["build_ms"]]
    brb = [x[2] for x in f["rebuilds_B"]]
    mb = lambda x: f"{x:.1f} MiB"  # noqa: E731
    lines = [
        f"# Scale figures at {a.accounts:,} accounts (issue 17 item 5)".replace(",", " "),
        "",
        "Written by `bench/scale/run.sh` (scale.py) from one run; nothing in this file is typed in by hand.",
        "",
        "## Command and run",
        "",
        "```sh",
        "make build",
        f"bench/scale/run.sh {a.accounts}      # MM_SCALE_REGS={a.regs} MM_SCALE_CHANGES={a.changes}",
        "```",
        "",
        f"- stamp: `{stamp}`; directory `bench/dirgen/dirgen.py --count {a.accounts} --seed 7 --uid-base "
        f"{UID_BASE} --gid-base {GID_BASE}`, slapadd'ed by `scripts/slapd.sh` (MM_SLAPADD), syncprov on",
        f"- load (run.sh, when the pristine database was made; LDIF generation 0 s means the LDIF "
        f"existed): {load_line(a.state)}",
        f"- `/proc/loadavg` before: `{load0}`; after: `{load1}` (2 vCPU, shared machine)",
        f"- two daemons, A and B, on that slapd over ldapi, each with its own socket and cache_dir, the "
        f"default configuration for what is measured (ldap_timeout {a.ldap_timeout or 'default 5'} s, cache_refresh 60 s, argon2id interactive, default "
        f"uid/gid ranges); rate limits and fail_delay_ms off so that one client drives the batch",
        "",
        "## Figures",
        "",
        "| figure | A | B |",
        "| --- | --- | --- |",
        f"| start → socket file | {ms(sa['socket_s'])} | {ms(sb['socket_s'])} |",
        f"| start → first getpwnam answered (socket, NSS module, empty cache dir) | {ms(sa['answer_s'])} | "
        f"{ms(sb['answer_s'])} |",
        f"| start → cache files written (\"rebuilt\" in the log) | {ms(sa['files_s'])} | {ms(sb['files_s'])} |",
        f"| first cache build (the daemon's log: search + build + write) | {sa['build_ms']} ms | "
        f"{sb['build_ms']} ms |",
        f"| users / groups in the cache | {sa['users']} / {sa['groups']} | {sb['users']} / {sb['groups']} |",
        f"| later full rebuilds on A (median of {len(later)}, during the run) | {statistics.median(later):.0f} ms "
        f"| {len(brb)} rebuilds, median {statistics.median(brb):.0f} ms |",
        f"| cache files: passwd, group | {f['files']['passwd'] / 2**20:.1f} MiB, "
        f"{f['files']['group'] / 2**20:.1f} MiB | (same content) |",
        f"| daemon VmRSS / VmHWM after the first build | {mb(f['mem']['A']['VmRSS'])} / "
        f"{mb(f['mem']['A']['VmHWM'])} | {mb(f['mem']['B']['VmRSS'])} / {mb(f['mem']['B']['VmHWM'])} |",
        f"| daemon VmRSS / VmHWM at the end | {mb(f['mem_end']['A']['VmRSS'])} / "
        f"{mb(f['mem_end']['A']['VmHWM'])} | {mb(f['mem_end']['B']['VmRSS'])} / "
        f"{mb(f['mem_end']['B']['VmHWM'])} |",
        f"| slapd VmRSS / VmHWM after the builds; at the end | {mb(f['mem']['slapd']['VmRSS'])} / "
        f"{mb(f['mem']['slapd']['VmHWM'])}; {mb(f['mem_end']['slapd']['VmRSS'])} / "
        f"{mb(f['mem_end']['slapd']['VmHWM'])} | |",
    ]
    if r["n"]:
        lines += [
            f"| registrations, register → confirm → validate through A, one client: {r['n']} in "
            f"{r['wall']:.1f} s | **{r['n'] / r['wall']:.2f} /s** | |",
            f"| — register p50 / p99 | {ms(r['register'][0])} / {ms(r['register'][1])} | |",
            f"| — confirm p50 / p99 | {ms(r['confirm'][0])} / {ms(r['confirm'][1])} | |",
            f"| — validate p50 / p99 | {ms(r['validate'][0])} / {ms(r['validate'][1])} | |",
            f"| — whole flow p50 / p99 (with the mail's delivery) | {ms(r['flow'][0])} / {ms(r['flow'][1])} | |",
        ]
    for key, what in (("suspend", "an account suspended through A → gone from `getent passwd`"),
                      ("create", "a new account validated through A → in `getent passwd`")):
        sa_, sb_ = f[key]["A"], f[key]["B"]
        lines.append(f"| {what}: p50 / max (seen {sa_['seen']}/{sa_['n']} on A, {sb_['seen']}/{sb_['n']} on B) | "
                     f"{ms(sa_['p50'])} / {ms(sa_['max'])} | **{ms(sb_['p50'])} / {ms(sb_['max'])}** |")
    lines += [
        "",
        "Times are from the start of the change's request (`medimailctl suspend`/`validate` on A's socket) "
        "to the first poll of real `getent passwd` (glibc, `files medimail`, the build's libnss_medimail "
        "with MEDIMAIL_SOCKET and MEDIMAIL_NSS_CACHE_DIR of that daemon) that shows it; each daemon is "
        f"polled every 20 ms plus one getent run (a few ms); changes are {a.spacing:.0f} s apart (new "
        f"accounts {a.spacing / 5:.0f} s), so they fall at spread points of B's rebuild cycle.",
        "",
        "## What bounds each figure (from this run)",
        "",
    ]
    lines += bounds(f, later, brb)
    return "\n".join(lines) + "\n"


def bounds(f, later, brb):
    sa, sus, cre = f["start_A"], f["suspend"], f["create"]
    out = [
        f"- **first answer** ({ms(sa['answer_s'])}): a getpwnam on the socket is one LDAP search (the "
        "daemon answers before its snapshot exists); the start itself is config, LDAP pool, the socket.",
        f"- **cache files** ({ms(sa['files_s'])} after start): the first full build, {sa['build_ms']} ms "
        f"in the log for {sa['users']} users: two streamed searches (store_search_each, one wait per "
        "entry) of every active account and ORG, then the two files written and renamed.",
        f"- **change seen on A**: suspend p50 {ms(sus['A']['p50'])}: A lists the account's keys (login, "
        "e-mail, uid, group list, the groups that list it) in its small passwd.changed / group.changed "
        "files at once (mcache_changed), so its NSS module asks A's socket, which reads slapd, for "
        "those keys only; the large files are not rewritten (A's next full build, "
        f"{statistics.median(later):.0f} ms at this size, folds the list in). A new account (p50 "
        f"{ms(cre['A']['p50'])}) is a miss in the files: the module asks the socket.",
        f"- **change seen on B**: suspend p50 {ms(sus['B']['p50'])}, max {ms(sus['B']['max'])}. B learns "
        "the change from its content-synchronization follow of ou=people (mcache_followed), reads the "
        "entry and lists the same keys in its own changed-keys files: the bound is the follow's delay, "
        "one entry read and the rewrite of the small files, not B's full build "
        f"({statistics.median(brb):.0f} ms). A new account on B (p50 {ms(cre['B']['p50'])}) is a miss, "
        "answered by B's socket from slapd at once.",
        (f"- the goal (≤ 1 s on both daemons) is **met**: suspend max A {ms(sus['A']['max'])}, "
         f"B {ms(sus['B']['max'])}; new account max A {ms(cre['A']['max'])}, B {ms(cre['B']['max'])}."
         if all(x[n]["seen"] == x[n]["n"] and x[n]["max"] <= 1 for x in (sus, cre) for n in ("A", "B")) else
         f"- the goal (≤ 1 s on both daemons) is **missed**: suspend max A {ms(sus['A']['max'])}, "
         f"B {ms(sus['B']['max'])}; new account max A {ms(cre['A']['max'])}, B {ms(cre['B']['max'])}."),
        f"- B's rebuilds during the run (users, groups, ms): {f['rebuilds_B']}",
        "- every measurement, seconds (None: not seen before the timeout), and one getent poll's "
        "duration p50 / max:",
    ]
    for key in ("suspend", "create"):
        for n in ("A", "B"):
            x = f[key][n]
            out.append(f"  - {key} on {n}: {x['raw']}; poll {ms(x['poll_p50'])} / {ms(x['poll_max'])}")
        out.append(f"  - {key}: the request itself (medimailctl on A's socket, until its answer): "
                   f"{[round(x, 3) for x in f[key + '_req']]}")
    return out


if __name__ == "__main__":
    main()
