#!/usr/bin/python3
"""bench/pam/compare.py: one table from one bench/pam/run.sh run.

usage: compare.py peers-results.txt medimail-results.txt > compare.md

peers-results.txt: the peers' pam-bench "RESULT label=... phase=... op=... procs=... p50_us=... ops_s=..." lines.
medimail-results.txt: pam-otp-bench "RESULT label mode step j=... n=... p50_ms=... p99_ms=... ops_s=... mean_ms=..." lines.
Only figures present in those files are printed; a missing one is shown as "missing".
"""
import sys


def kv(fields):
    return dict(f.split("=", 1) for f in fields if "=" in f)


peers = []
for line in open(sys.argv[1], encoding="utf-8"):
    if line.startswith("RESULT "):
        peers.append(kv(line.split()[1:]))
mm = []
for line in open(sys.argv[2], encoding="utf-8"):
    if line.startswith("RESULT "):
        f = line.split()
        d = kv(f[4:])
        d.update(label=f[1], mode=f[2], step=f[3])
        mm.append(d)


def peer(label, phase, procs, op="auth_ok"):
    for r in peers:
        if r["label"] == label and r["phase"] == phase and r["procs"] == str(procs) and r["op"] == op:
            return r
    return None


def med(label, mode, step, j):
    for r in mm:
        if r["label"] == label and r["mode"] == mode and r["step"] == step and r["j"] == str(j):
            return r
    return None


def ms(x):
    return f"{x:.2f} ms" if x < 100 else f"{x:.0f} ms"


MISSING = "missing"
rows = []


def prow(name, what, label, phase):
    one, four = peer(label, phase, 1), peer(label, phase, 4)
    rows.append((name, what,
                 ms(float(one["p50_us"]) / 1000) if one else MISSING,
                 ms(float(one["p99_us"]) / 1000) if one else MISSING,
                 one["ops_s"] if one else MISSING,
                 four["ops_s"] if four else "—"))


def mrow_tx(name, what, label):
    one, four = med(label, "pam", "transaction", 1), med(label, "pam", "transaction", 4)
    rows.append((name, what,
                 ms(float(one["p50_ms"])) if one else MISSING,
                 ms(float(one["p99_ms"])) if one else MISSING,
                 f"{float(one['ops_s']):.0f}" if one else MISSING,
                 f"{float(four['ops_s']):.0f}" if four else MISSING))


def mrow_kdf(name, what, label):
    one = med(label, "kdf", "argon2id_verify", 1)
    rows.append((name, what,
                 ms(float(one["p50_ms"])) if one else MISSING,
                 ms(float(one["p99_ms"])) if one else MISSING,
                 f"{1000 / float(one['mean_ms']):.0f} (1/mean)" if one else MISSING, "—"))


def mrow_pw(name, what, label):
    one = med(label, "password", "auth_password", 1)
    serial = f"{1000 / float(one['mean_ms']):.0f} (1/mean)" if one and "mean_ms" in one else MISSING
    rows.append((name, what,
                 ms(float(one["p50_ms"])) if one else MISSING,
                 ms(float(one["p99_ms"])) if one else MISSING, serial, "—"))


def minus_kdf(label):
    """(p50 of the password step - p50 of the KDF alone, mean - mean), ms; None if a figure is missing."""
    pw, kdf = med(label, "password", "auth_password", 1), med(label, "kdf", "argon2id_verify", 1)
    if not pw or not kdf:
        return None
    return (float(pw["p50_ms"]) - float(kdf["p50_ms"]), float(pw["mean_ms"]) - float(kdf["mean_ms"]))


def mrow_minus(name, label):
    d = minus_kdf(label)
    rows.append((name, "p50 of the step − p50 of the KDF alone (mean − mean in brackets)",
                 f"{ms(d[0])} [{ms(d[1])}]" if d else MISSING, "—", "—", "—"))


def mrow_cpu(name, label):
    c = med(label, "cpu", "auth_password", 1)
    rows.append((name, "CPU per password step (utime+stime over the step-alone run / n)",
                 f"slapd {float(c['slapd_cpu_ms_per_op']):.2f} ms, daemon {float(c['daemon_cpu_ms_per_op']):.2f} ms"
                 if c else MISSING, "—", "—", "—"))


prow("pam_permit only (PAM framework floor)", "—", "pam_permit-floor", "run")
prow("pam_unix, local shadow (2000 of the users)", "SHA-512-crypt, `nodelay`", "files-pam_unix", "run")
prow("pam_ldap → nslcd", "search + LDAP bind, `{SSHA}`", "nslcd", "run")
prow("pam_sss, default sssd.conf, cold cache", "first auth of each user", "sssd", "cold")
prow("pam_sss, default sssd.conf, warm", "identity refresh + bind + cached credential", "sssd", "warm")
COSTS = [("argon2id-interactive", "argon2id default (t=2, 64 MiB)"), ("argon2id-minimal", "argon2id minimal (t=1, 8 KiB)")]
for label, cost in COSTS:
    mrow_kdf(f"KDF alone, {cost}", "one `crypto_pwhash_str_verify` in C (kdf-bench), the daemon's call", label)
    mrow_pw(f"pam_medimail password step, {cost}",
            "`AUTH_PASSWORD` on the wire: lookup, argon2id verify, lockout, transaction entry", label)
    mrow_minus(f"pam_medimail password step minus KDF, {cost}", label)
    mrow_cpu(f"pam_medimail password step CPU, {cost}", label)
    mrow_tx(f"pam_medimail whole transaction, {cost}",
            "PAM: mode + password + code by e-mail + code check", label)

print("| stack | what one op does | p50 (1 proc) | p99 (1 proc) | ops/s (1 proc) | ops/s (4 procs/threads) |")
print("|---|---|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
print()
print("Peers: pam-bench (`pam_start` → `pam_authenticate` → `pam_end`, good passwords), one op a user, "
      "on the peers' 100k-user slapd (pam_unix: the first 2000 of those users in a private /etc/shadow). "
      "medimail: the same 100k users in its own slapd; pam-otp-bench; the password step is the "
      "`-m password` run (AUTH_PASSWORD alone), its ops/s 1000 / its mean time at 1 client (serial rate); "
      "whole transactions are completed transactions over wall time.")
print()
nslcd = peer("nslcd", "run", 1)
for label, cost in COSTS:
    d = minus_kdf(label)
    if not d or not nslcd:
        print(f"- Goal (password step minus KDF ≤ 0.25× nslcd's whole pam_ldap auth), {cost}: {MISSING}")
        continue
    base = float(nslcd["p50_us"]) / 1000
    r = d[0] / base
    kdf = med(label, "kdf", "argon2id_verify", 1)
    spread = float(kdf["p99_ms"]) - float(kdf["p50_ms"])
    if abs(d[0]) < spread:
        # a difference of two long distributions, smaller than the KDF's own p50..p99 spread
        verdict = f"not resolvable at this cost (|difference| < the KDF's p50–p99 spread, {spread:.2f} ms)"
    else:
        verdict = "met" if r <= 0.25 else "**not met**"
    print(f"- Goal (password step minus KDF ≤ 0.25× nslcd's whole pam_ldap auth), {cost}: "
          f"{d[0]:.2f} ms / {base:.2f} ms = **{r:.2f}×** (mean-based {d[1] / base:.2f}×) — {verdict}")
strace = [r for r in mm if r["mode"] == "strace"]
if strace:
    print()
    print(f"System calls per password step at the minimal cost (strace -c -f, {strace[0]['label']}, "
          f"n={strace[0]['n']}, not timed), the most frequent and every sync:")
    for who in ("slapd", "daemon"):
        mine = sorted((r for r in strace if r["step"] == who), key=lambda r: -float(r["calls_per_op"]))
        keep = mine[:6] + [r for r in mine[6:] if "sync" in r["syscall"]]
        print(f"- {who}: " + ", ".join(f"{r['syscall']} {float(r['calls_per_op']):.1f}" for r in keep))
