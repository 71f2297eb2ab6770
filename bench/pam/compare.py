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


def mrow_pw(name, what, label):
    one = med(label, "wire", "auth_password", 1)
    serial = f"{1000 / float(one['mean_ms']):.0f} (1/mean)" if one and "mean_ms" in one else MISSING
    rows.append((name, what,
                 ms(float(one["p50_ms"])) if one else MISSING,
                 ms(float(one["p99_ms"])) if one else MISSING, serial, "—"))


prow("pam_permit only (PAM framework floor)", "—", "pam_permit-floor", "run")
prow("pam_ldap → nslcd", "search + LDAP bind, `{SSHA}`", "nslcd", "run")
prow("pam_sss, default sssd.conf, cold cache", "first auth of each user", "sssd", "cold")
prow("pam_sss, default sssd.conf, warm", "identity refresh + bind + cached credential", "sssd", "warm")
mrow_pw("pam_medimail password step alone, argon2id default (interactive)",
        "`AUTH_PASSWORD` on the wire: lookup, argon2id verify, lockout, transaction entry",
        "argon2id-interactive")
mrow_pw("pam_medimail password step alone, argon2id minimal", "the same, KDF at its smallest cost",
        "argon2id-minimal")
mrow_tx("pam_medimail whole transaction, argon2id default (interactive)",
        "PAM: mode + password + code by e-mail + code check", "argon2id-interactive")
mrow_tx("pam_medimail whole transaction, argon2id minimal", "the same, KDF at its smallest cost",
        "argon2id-minimal")

print("| stack | what one op does | p50 (1 proc) | p99 (1 proc) | ops/s (1 proc) | ops/s (4 procs/threads) |")
print("|---|---|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
print()
print("Peers: pam-bench (`pam_start` → `pam_authenticate` → `pam_end`, good passwords), one op a user, "
      "on the peers' 100k-user slapd. medimail: pam-otp-bench; the password step's ops/s is 1000 / its "
      "mean time at 1 client (serial rate of that step; no separate throughput run); whole "
      "transactions are completed transactions over wall time.")
