#!/usr/bin/python3
"""bench/pam/run.py: PAM password + e-mailed code logins through pam_medimail, per step, with and
without the argon2id work. Starts its own slapd, SMTP sink and two daemons (scratch in
$MM_BENCH_STATE, default /tmp/mm-pam-bench), creates the accounts, runs pam-otp-bench.

usage (root): MM_BUILD=$PWD/build bench/pam/run.py [N] > bench/pam/results.txt
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TOP / "tests/integration"))
from mmstack import BUILD, SUFFIX, Daemon, Slapd, SmtpSink  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 400
PW = "Pharma#2024"
COMMON = """log_level = notice
fail_delay_ms = 0
rate_per_source = 0
rate_per_account = 0
otp_resend_interval = 0
max_clients = 512
ldap_pool = 8
"""
# libsodium "interactive" argon2id (the daemon's default) vs the smallest cost libsodium accepts.
CONFIGS = {
    "argon2id-interactive": "argon2_opslimit = 2\nargon2_memlimit = 67108864\nargon2_parallel = 2\n",
    "argon2id-minimal": "argon2_opslimit = 1\nargon2_memlimit = 8192\nargon2_parallel = 2\n",
}


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def main():
    state = Path(os.environ.get("MM_BENCH_STATE", "/tmp/mm-pam-bench"))
    if state.exists():
        shutil.rmtree(state)
    state.mkdir(parents=True)
    os.chmod(state, 0o755)
    slapd = Slapd(state).start()
    smtp = SmtpSink(state).start()
    daemons = {}
    try:
        for i, (name, conf) in enumerate(CONFIGS.items()):
            d = Daemon(state, slapd, smtp.port, name=f"bench{i}", extra=COMMON + conf).start()
            daemons[name] = d
            # one account through the real lifecycle, for a hash made with this cost
            mail = f"modele{i}@example.org"
            r = d.ctl("register", "MED", "--password-stdin", "--login-mail", mail, "--sn", f"MODELE{'AB'[i]}",
                      "--given-name", "Bench", "--region", "Occitanie", input=PW + "\n", check=0)
            login = r.json["fields"]["login"]
            d.ctl("confirm", "--token-stdin", input=smtp.token(mail) + "\n", check=0)
            d.ctl("validate", login, check=0)
            pw_hash = slapd.search(SUFFIX, f"(uid={login})", "userPassword")[0]["userPassword"][0]
            ldif, users = [], []
            for k in range(N):
                u, m = f"b{i}.user{k:04d}", f"b{i}.user{k:04d}@example.org"
                users.append(f"{u} {m}")
                ldif.append(f"dn: uid={u},ou=people,{SUFFIX}\nobjectClass: mmAccount\nuid: {u}\n"
                            f"mmAccountType: MED\nmmStatus: active\nmmLoginMail: {m}\ncn: Bench\nsn: BENCH\n"
                            f"uidNumber: {1900211000 + i * 4000 + k}\nmmCguAcceptedAt: 20260101000000Z\n"
                            f"userPassword: {pw_hash}\n")
            sh(["ldapadd", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url], input="\n".join(ldif))
            (state / f"users-{name}.txt").write_text("\n".join(users) + "\n")
            (state / "pam.d").mkdir(exist_ok=True)
            (state / "pam.d" / f"mm-{name}").write_text(
                f"auth required {BUILD / 'pam_medimail/pam_medimail.so'} socket={d.socket}\n"
                "account required pam_permit.so\n")
        # settle: empty the maildir of the registration mails
        shutil.rmtree(smtp.dir / "new", ignore_errors=True)
        (smtp.dir / "new").mkdir(parents=True, exist_ok=True)
        bench = str(BUILD / "bench/pam/pam-otp-bench")
        print(f"# {N} users per configuration; slapd, SMTP sink, daemon and client on this machine")
        for name, d in daemons.items():
            users = str(state / f"users-{name}.txt")
            base = ["-u", users, "-M", str(smtp.dir), "-P", PW, "-l", name]
            # warm-up (discarded): first connections, first argon2id allocations
            subprocess.run([bench] + base + ["-m", "wire", "-s", str(d.socket), "-n", "10", "-j", "1"],
                           capture_output=True)
            runs = [
                ["-m", "wire", "-s", str(d.socket), "-n", str(N // 2), "-j", "1"],
                ["-m", "pam", "-S", f"mm-{name}", "-c", str(state / "pam.d"), "-n", str(N // 2), "-j", "1"],
                ["-m", "pam", "-S", f"mm-{name}", "-c", str(state / "pam.d"), "-n", str(N), "-j", "4"],
            ]
            for extra in runs:
                r = subprocess.run([bench] + base + extra, capture_output=True, text=True)
                sys.stdout.write(r.stdout)
                if r.returncode != 0:
                    sys.stdout.write(f"# failed: {r.stderr}\n")
                sys.stdout.flush()
    finally:
        for d in daemons.values():
            d.stop()
        smtp.stop()
        slapd.stop()


if __name__ == "__main__":
    main()
