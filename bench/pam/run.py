#!/usr/bin/python3
"""bench/pam/run.py: PAM password + e-mailed code logins through pam_medimail on the peers' 100k-user
directory, per step, with the KDF alone beside it, at the daemon's default argon2id cost and at the
minimal cost.

usage (root): MM_BUILD=$PWD/build bench/pam/run.py PEERS_DATA [N] > medimail-results.txt

PEERS_DATA: the directory gen-users.py wrote (passwd, group, PASSWORD). bench/nss/gen-medimail.py
turns its users into mmAccount entries, with the peers' PASSWORD as argon2id: one "{ARGON2}" value
per cost, made once by kdf-bench -H (libsodium, as the daemon hashes), user i getting cost i % 2.
That LDIF is slapadd-ed into medimail's private slapd (scripts/slapd.sh MM_SLAPADD); one daemon
per cost runs on it; N users of each cost's half are drawn at random from the 100k.
Scratch in $MM_BENCH_STATE (default /tmp/mm-pam-bench).
"""
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TOP / "tests/integration"))
from mmstack import BUILD, Daemon, Slapd, SmtpSink  # noqa: E402

DATA = Path(sys.argv[1])
N = int(sys.argv[2]) if len(sys.argv) > 2 else 400
PW = (DATA / "PASSWORD").read_text().strip()
# the peers' uidNumbers (gen-users.py), the daemon's user_gid, no subordinate ids delegated on this
# throwaway bench host, and no NSS cache rebuild during the runs: as bench/nss/run.sh
COMMON = """log_level = notice
fail_delay_ms = 0
rate_per_source = 0
rate_per_account = 0
otp_resend_interval = 0
max_clients = 512
ldap_pool = 8
uid_min = 100000
uid_max = 199999
gid_min = 200000
gid_max = 209999
user_gid = 100
cache_refresh = 3600
"""
# libsodium "interactive" argon2id (the daemon's default) vs the smallest cost libsodium accepts.
COSTS = {
    "argon2id-interactive": (2, 67108864),
    "argon2id-minimal": (1, 8192),
}


def cpu_ticks(pid):
    """utime + stime of a process (all its threads, dead ones included), in clock ticks."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def settle(pid):
    """Wait until the daemon has built its NSS cache of the 100k users: no CPU tick for 1 s."""
    last, still = cpu_ticks(pid), 0
    while still < 4:
        time.sleep(0.25)
        now = cpu_ticks(pid)
        still = still + 1 if now == last else 0
        last = now


def profile(state, slapd_pid, name, d, smtp, bench):
    """What bounds the step at the minimal cost (the KDF all but gone): the system calls of slapd
    and of the daemon over a password-step-alone run, under strace -c (not timed)."""
    if shutil.which("strace"):
        n = min(N, 100)
        tr = {who: state / f"strace-{who}.txt" for who in ("slapd", "daemon")}
        st = [subprocess.Popen(["strace", "-c", "-f", "-qq", "-o", str(tr[who]), "-p", str(pid)])
              for who, pid in (("slapd", slapd_pid), ("daemon", d.proc.pid))]
        time.sleep(1)
        r = subprocess.run([bench, "-u", str(state / f"users-{name}.txt"), "-M", str(smtp.dir), "-P", PW,
                            "-l", name + "-strace", "-m", "password", "-s", str(d.socket), "-n", str(n),
                            "-j", "1"], capture_output=True, text=True)
        time.sleep(0.5)
        for p in st:
            p.send_signal(signal.SIGINT)
            p.wait(10)
        print(f"# strace -c -f of slapd and of the daemon over {n} password steps ({name}); "
              f"run rc={r.returncode}")
        for who, path in tr.items():
            for row in path.read_text().splitlines():
                f = row.split()
                # "% time seconds usecs/call calls [errors] syscall"
                if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
                    print(f"RESULT {name} strace {who} j=1 n={n} syscall={f[-1]} calls={f[3]} "
                          f"calls_per_op={int(f[3]) / n:.2f} seconds={f[1]}")
    else:
        print("# strace not installed: no system-call profile")


def main():
    state = Path(os.environ.get("MM_BENCH_STATE", "/tmp/mm-pam-bench"))
    if state.exists():
        shutil.rmtree(state)
    state.mkdir(parents=True)
    os.chmod(state, 0o755)
    kdf = str(BUILD / "bench/pam/kdf-bench")
    hashes = [subprocess.run([kdf, "-o", str(o), "-m", str(m), "-P", PW, "-H"], check=True,
                             capture_output=True, text=True).stdout.strip() for o, m in COSTS.values()]
    ldif = state / "medimail-100k.ldif"
    gen = subprocess.run([sys.executable, str(TOP / "bench/nss/gen-medimail.py"), str(DATA), str(ldif), "--cgu"]
                         + [a for h in hashes for a in ("--password-hash", h)],
                         check=True, capture_output=True, text=True)
    logins = [row.split(":", 1)[0] for row in open(DATA / "passwd", encoding="utf-8")]
    slapd = Slapd(state, env={"MM_SLAPADD": str(ldif)}).start()
    smtp = SmtpSink(state).start()
    daemons = {}
    clk = os.sysconf("SC_CLK_TCK")
    try:
        print(f"# {gen.stdout.strip()}")
        print(f"# {len(logins)} users in medimail's slapd; {N} drawn per cost; slapd, SMTP sink, daemon "
              "and client on this machine")
        rng = random.Random(42)
        (state / "pam.d").mkdir()
        for i, (name, (ops, mem)) in enumerate(COSTS.items()):
            conf = (f"subuid_file = {state / 'no-subuid'}\nsubgid_file = {state / 'no-subgid'}\n"
                    f"argon2_opslimit = {ops}\nargon2_memlimit = {mem}\nargon2_parallel = 2\n")
            d = Daemon(state, slapd, smtp.port, name=f"bench{i}", extra=COMMON + conf).start()
            daemons[name] = d
            settle(d.proc.pid)
            half = [k for k in range(len(logins)) if k % len(COSTS) == i]
            drawn = rng.sample(half, min(N + 10, len(half)))
            (state / f"users-{name}.txt").write_text(
                "".join(f"{logins[k]} {logins[k]}@bench.medimail.test\n" for k in drawn[10:]))
            (state / f"warm-{name}.txt").write_text(
                "".join(f"{logins[k]} {logins[k]}@bench.medimail.test\n" for k in drawn[:10]))
            (state / "pam.d" / f"mm-{name}").write_text(
                f"auth required {BUILD / 'pam_medimail/pam_medimail.so'} socket={d.socket}\n"
                "account required pam_permit.so\n")
        shutil.rmtree(smtp.dir / "new", ignore_errors=True)
        (smtp.dir / "new").mkdir(parents=True, exist_ok=True)
        bench = str(BUILD / "bench/pam/pam-otp-bench")
        slapd_pid = int((state / "slapd" / "slapd.pid").read_text())
        for name, d in daemons.items():
            ops, mem = COSTS[name]
            # the KDF alone, same parameters as this daemon's hashes, just before its runs
            r = subprocess.run([kdf, "-o", str(ops), "-m", str(mem), "-P", PW, "-n", str(max(N // 2, 20)),
                                "-l", name], capture_output=True, text=True)
            sys.stdout.write(r.stdout)
            base = ["-u", str(state / f"users-{name}.txt"), "-M", str(smtp.dir), "-P", PW, "-l", name]
            # warm-up (discarded), on users not measured: first connections, first argon2id allocations
            subprocess.run([bench, "-u", str(state / f"warm-{name}.txt"), "-M", str(smtp.dir), "-P", PW, "-l",
                            name, "-m", "wire", "-s", str(d.socket), "-n", "10", "-j", "1"], capture_output=True)
            runs = [
                ["-m", "wire", "-s", str(d.socket), "-n", str(N // 2), "-j", "1"],
                ["-m", "pam", "-S", f"mm-{name}", "-c", str(state / "pam.d"), "-n", str(N // 2), "-j", "1"],
                ["-m", "pam", "-S", f"mm-{name}", "-c", str(state / "pam.d"), "-n", str(N), "-j", "4"],
                ["-m", "password", "-s", str(d.socket), "-n", str(N), "-j", "1"],
            ]
            for extra in runs:
                t0 = (cpu_ticks(slapd_pid), cpu_ticks(d.proc.pid))
                r = subprocess.run([bench] + base + extra, capture_output=True, text=True)
                t1 = (cpu_ticks(slapd_pid), cpu_ticks(d.proc.pid))
                sys.stdout.write(r.stdout)
                if r.returncode != 0:
                    sys.stdout.write(f"# failed: {r.stderr}\n")
                elif extra[1] == "password":
                    # CPU of the password step alone: slapd's and the daemon's ticks over that run
                    n = int(extra[extra.index("-n") + 1])
                    print(f"RESULT {name} cpu auth_password j=1 n={n} "
                          f"slapd_cpu_ms_per_op={(t1[0] - t0[0]) * 1000 / clk / n:.3f} "
                          f"daemon_cpu_ms_per_op={(t1[1] - t0[1]) * 1000 / clk / n:.3f} clk_tck={clk}")
                sys.stdout.flush()
        # What bounds the step at the minimal cost (the KDF all but gone): the system calls of slapd
        # and of the daemon over a password-step-alone run, under strace -c (not timed).
        try:
            profile(state, slapd_pid, *list(daemons.items())[-1], smtp, bench)
        except Exception as e:  # noqa: BLE001 -- a diagnostic: the timed rows are already out
            print(f"# strace profile failed: {e}")
    finally:
        for d in daemons.values():
            d.stop()
        smtp.stop()
        slapd.stop()


if __name__ == "__main__":
    main()
