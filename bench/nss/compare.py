#!/usr/bin/env python3
"""compare.py PEERS_RESULTS MEDIMAIL_RESULTS -- one markdown comparison of the RESULT lines
(nss-bench / hyperfine) of every backend measured in the same run, and the issue's goals."""
import os
import sys

rows = []
for path in sys.argv[1:]:
    if not os.path.exists(path):
        print(f"(no results at {path})\n")
        continue
    for line in open(path, encoding="utf-8"):
        if line.startswith("RESULT "):
            rows.append(dict(kv.split("=", 1) for kv in line.split()[1:]))

BACKENDS = ["medimail", "medimail-first", "medimail-socket", "sssd", "sssd-first", "sssd-nomemcache", "nslcd",
            "files-100k",
            "files-system"]
OPS = ["getpwnam", "getpwuid", "getgrnam", "getgrouplist", "getpwnam_miss"]


def pick(label, op, phase, procs="1"):
    """phase "cold", or "warm" = the last warm pass."""
    found = None
    for r in rows:
        if r["label"] != label or r["op"] != op or r["procs"] != procs:
            continue
        if phase == "cold" and r["phase"] == "cold":
            return r
        if phase == "warm" and r["phase"].startswith("warm"):
            found = r
    return found


def us(v):
    v = float(v)
    return f"{v / 1000:.2f} ms" if v >= 1000 else f"{v:.1f} µs"


def cell(r):
    return f"{us(r['p50_us'])} / {us(r['p99_us'])} / {r['ops_s']}/s" if r else "—"


print("p50 / p99 / calls per second, one process (nss-bench), unless noted.\n")
for phase in ("cold", "warm"):
    print(f"### {phase}\n")
    print("| backend | " + " | ".join(OPS) + " |")
    print("|---|" + "---|" * len(OPS))
    for b in BACKENDS:
        cells = [cell(pick(b, op, phase)) for op in OPS]
        if any(c != "—" for c in cells):
            print(f"| {b} | " + " | ".join(cells) + " |")
    print()
print("### warm, 4 forked workers (-j4)\n")
print("| backend | getpwnam | getgrnam | getgrouplist | getpwuid |")
print("|---|---|---|---|---|")
for b in BACKENDS:
    cells = [cell(pick(b, op, "warm", str(4))) for op in ("getpwnam", "getgrnam", "getgrouplist", "getpwuid")]
    if any(c != "—" for c in cells):
        print(f"| {b} | " + " | ".join(cells) + " |")
print()
print("### `id <user>` as a whole process (hyperfine, warm)\n")
print("| backend | p50 | p99 | runs/s |")
print("|---|---|---|---|")
for b in BACKENDS:
    r = next((r for r in rows if r["label"] == b and r["op"] == "hyperfine:id"), None)
    if r:
        print(f"| {b} | {us(r['p50_us'])} | {us(r['p99_us'])} | {r['ops_s']} |")
print()


def ratio(a, b):
    if not a or not b:
        return None
    return float(a["p50_us"]) / float(b["p50_us"])


print("### Goals of the issue (p50 ratios)\n")
print("| goal | medimail | peer | ratio | met |")
print("|---|---|---|---|---|")
for title, mine, peer, limit in [
        ("warm getpwnam ≤ 0.8 × SSSD (both \"files X\")", pick("medimail", "getpwnam", "warm"),
         pick("sssd", "getpwnam", "warm"), 0.8),
        ("warm getpwnam ≤ 0.5 × SSSD (both \"X files\", issue 17)", pick("medimail-first", "getpwnam", "warm"),
         pick("sssd-first", "getpwnam", "warm"), 0.5),
        ("warm getgrouplist ≤ 0.7 × SSSD (issue 17)", pick("medimail", "getgrouplist", "warm"),
         pick("sssd", "getgrouplist", "warm"), 0.7),
        ("socket getgrnam (a cache miss), cold, ≤ 0.5 × nslcd (issue 17)",
         pick("medimail-socket", "getgrnam", "cold"), pick("nslcd", "getgrnam", "cold"), 0.5),
        ("cold getpwnam ≤ 0.5 × nslcd", pick("medimail", "getpwnam", "cold"), pick("nslcd", "getpwnam", "cold"), 0.5),
        ("cold getgrouplist ≤ 0.1 × nslcd", pick("medimail", "getgrouplist", "cold"),
         pick("nslcd", "getgrouplist", "cold"), 0.1)]:
    q = ratio(mine, peer)
    print(f"| {title} | {us(mine['p50_us']) if mine else '—'} | {us(peer['p50_us']) if peer else '—'} | "
          f"{f'{q:.3f}' if q is not None else '—'} | {('yes' if q <= limit else 'NO') if q is not None else '—'} |")
sock = pick("medimail-socket", "getgrnam", "cold")
if sock:
    p99 = float(sock["p99_us"])
    print(f"| socket getgrnam p99 ≤ 5 ms, cold (issue 17) | {us(sock['p99_us'])} (p99) | — | — | "
          f"{'yes' if p99 <= 5000 else 'NO'} |")
