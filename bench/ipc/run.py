#!/usr/bin/python3
"""bench/ipc/run.py: a connection to medimail-authd's socket, for two builds side by side in one run.

Usage (as root, from the checkout; the client is NEW_BUILD's bench/connect-bench):
    bench/ipc/run.py BASE_BUILD NEW_BUILD [CALLS_PER_THREAD] [ROUNDS]

One private slapd and SMTP sink; one daemon of each build on it.  Each round runs
connect-bench (MM_REQ_PING on a fresh connection and on a kept one, alternated) against
both daemons, in alternating order, at 1 and 4 client threads; the median of the rounds'
p50 and p99 is printed for each build, mode and thread count, and the daemons' CPU time.
"""
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TOP / "tests/integration"))
import mmstack  # noqa: E402

LINE = re.compile(r"^(fresh|kept)\s+n=\d+ p50=([\d.]+)us p90=[\d.]+us p99=([\d.]+)us")


def cpu_seconds(pid):
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / 100.0


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    builds = {"base": Path(sys.argv[1]).resolve(), "new": Path(sys.argv[2]).resolve()}
    calls = int(sys.argv[3]) if len(sys.argv) > 3 else 5000
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    client = builds["new"] / "bench/connect-bench"
    if not client.exists():
        sys.exit(f"no {client} (ninja -C {builds['new']})")
    with tempfile.TemporaryDirectory(prefix="mm-bench-ipc-") as tmp:
        st = Path(tmp)
        slapd = mmstack.Slapd(st / "ldap").start()
        smtp = mmstack.SmtpSink(st).start()
        daemons = {}
        try:
            for name, b in builds.items():
                mmstack.BUILD = b
                d = mmstack.Daemon(st, slapd, smtp.port, name=name)
                daemons[name] = d.start()
            res = {}
            for r in range(rounds):
                order = list(builds) if r % 2 == 0 else list(reversed(builds))
                for threads in (1, 4):
                    for name in order:
                        before = cpu_seconds(daemons[name].proc.pid)
                        out = subprocess.run([str(client), str(daemons[name].socket),
                                              str(calls // threads), str(threads)],
                                             check=True, capture_output=True, text=True).stdout
                        cpu = cpu_seconds(daemons[name].proc.pid) - before
                        for line in out.splitlines():
                            m = LINE.match(line)
                            if m:
                                res.setdefault((name, threads, m[1]), []).append((float(m[2]), float(m[3])))
                        res.setdefault((name, threads, "cpu"), []).append(cpu / (2 * (calls // threads) * threads))
            print(f"{calls} calls per mode and round, {rounds} rounds; medians of the rounds")
            print("| build | threads | fresh p50 | fresh p99 | kept p50 | kept p99 | daemon CPU per call |")
            print("|---|---|---|---|---|---|---|")
            for threads in (1, 4):
                for name in builds:
                    f = res[(name, threads, "fresh")]
                    k = res[(name, threads, "kept")]
                    cpu = statistics.median(res[(name, threads, "cpu")]) * 1e6
                    print(f"| {name} | {threads} | {statistics.median(x[0] for x in f):.1f} us | "
                          f"{statistics.median(x[1] for x in f):.1f} us | {statistics.median(x[0] for x in k):.1f} us | "
                          f"{statistics.median(x[1] for x in k):.1f} us | {cpu:.1f} us |")
        finally:
            for d in daemons.values():
                d.stop()
            smtp.stop()
            slapd.stop()


if __name__ == "__main__":
    main()
