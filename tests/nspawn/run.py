#!/usr/bin/python3
"""The Debian packages under a real systemd (issue 18, "Operations"), not only analysed.

A Debian 12 tree made with debootstrap from the Debian archive boots in systemd-nspawn
(systemd as its PID 1); the packages built from this checkout are installed in it with apt;
the unit is started, serves a password + mailed-code login through the container's own libpam
and an NSS lookup through its own nsswitch.conf, is reloaded and stopped with systemctl, and its
sandbox is checked on the running process (no capability, no_new_privs, seccomp, a read-only
/usr, no /home, the directories it may write) and by `systemd-analyze security`.

The directory (a private slapd) and the mail sink run on the host, as in the integration tests;
the container shares the host's network. Not part of `make test` (the debootstrap download and
the boot take minutes): run it with `make nspawn`, as root. It prints a table of what was checked,
with timings, and exits non-zero at the first check that fails.

Environment: MM_NSPAWN_CACHE (default /var/cache/medimail-nspawn) keeps the debootstrap tree
between runs; MM_NSPAWN_KEEP=1 leaves the container's tree in place for a look afterwards.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TOP / "tests/integration"))
from mmstack import SUFFIX, Slapd, SmtpSink, wait_for  # noqa: E402
from pamstack import P_CODE, P_PASSWORD, Codes, SystemPam, pamtester  # noqa: E402

PKGS = ["medimail-authd", "medimail-ldap-schema", "libpam-medimail", "libnss-medimail"]
# What the tree needs besides the packages' own dependencies (apt resolves those).
BASE_INCLUDE = "systemd,systemd-sysv,dbus,libpam-runtime,pamtester,ca-certificates"
MIRROR = "http://deb.debian.org/debian"
CACHE = Path(os.environ.get("MM_NSPAWN_CACHE", "/var/cache/medimail-nspawn"))
UNIT = "medimail-authd.service"

results = []


def sh(*cmd, check=True, **kw):
    r = subprocess.run(list(cmd), capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise SystemExit(f"FAILED: {' '.join(cmd)} -> {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def check(what, ok, detail=""):
    results.append((what, "ok" if ok else "FAILED", detail))
    print(f"[nspawn] {'ok    ' if ok else 'FAILED'} {what} {detail}", flush=True)
    if not ok:
        report()
        raise SystemExit(1)


def report():
    print("\n| check | result | detail |\n| --- | --- | --- |")
    for what, res, detail in results:
        print(f"| {what} | {res} | {detail} |")


def base_tree():
    """The debootstrap tree, made once and kept in CACHE."""
    base = CACHE / "bookworm"
    if (base / "usr/lib/systemd/systemd").exists():
        return base, 0.0
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = CACHE / "bookworm.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    t0 = time.monotonic()
    sh("debootstrap", "--variant=minbase", f"--include={BASE_INCLUDE}", "bookworm", str(tmp), MIRROR,
       timeout=1800)
    tmp.rename(base)
    return base, time.monotonic() - t0


def build_debs(scratch: Path):
    src = scratch / "medimail-auth"
    shutil.copytree(TOP, src, ignore=shutil.ignore_patterns(".git", "build*", "obj-*", "state", "__pycache__",
                                                           ".pytest_cache", "node_modules"))
    sh("dpkg-buildpackage", "-us", "-uc", "-b", cwd=src, timeout=900)
    out = {p.name.split("_")[0]: p for p in scratch.glob("*.deb")}
    missing = set(PKGS) - set(out)
    if missing:
        raise SystemExit(f"FAILED: dpkg-buildpackage made no {sorted(missing)}")
    return [out[p] for p in PKGS]


class Container:
    """A booted systemd-nspawn container; commands run in it with nsenter (no machined on a host
    whose PID 1 is not systemd)."""

    def __init__(self, root: Path, name: str):
        self.root, self.name = root, name
        self.proc = None
        self.leader = None

    def run_offline(self, *cmd, **kw):
        """A command in the tree before boot (systemd-nspawn without --boot)."""
        return sh("systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "-D", str(self.root), "--pipe", *cmd, **kw)

    def boot(self):
        self.log = open(self.root.parent / "boot.log", "wb")
        self.proc = subprocess.Popen(["systemd-nspawn", "--quiet", "--register=no", "--keep-unit",
                                      "-M", self.name, "-D", str(self.root), "--boot", "--console=pipe"],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)

        def leader():
            kids = sh("pgrep", "-P", str(self.proc.pid), check=False).stdout.split()
            return kids[0] if kids else None
        wait_for(lambda: leader() is not None or self.proc.poll() is not None, 60, "the container's PID 1")
        if self.proc.poll() is not None:
            raise SystemExit("FAILED: systemd-nspawn exited:\n" + (self.root.parent / "boot.log").read_text()[-3000:])
        self.leader = leader()

        def running():
            r = self.sh("systemctl", "is-system-running", check=False)
            return r.stdout.strip() in ("running", "degraded")
        wait_for(running, 120, "the container's systemd to finish booting")

    def sh(self, *cmd, check=True, input=None, timeout=120):
        return sh("nsenter", "-t", self.leader, "-a", "--", *cmd, check=check, input=input, timeout=timeout)

    def wrap(self):
        return ["nsenter", "-t", self.leader, "-a", "--"]

    def poweroff(self):
        if self.proc and self.proc.poll() is None:
            self.sh("systemctl", "poweroff", check=False)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()


def proc_status(c: Container, pid: str):
    text = c.sh("cat", f"/proc/{pid}/status").stdout
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def main():
    if os.geteuid() != 0:
        raise SystemExit("run as root: it boots a container")
    for tool in ("debootstrap", "systemd-nspawn", "dpkg-buildpackage", "pamtester"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing: run scripts/deps.sh (make deps) first")
    t_all = time.monotonic()
    base, t_boot = base_tree()
    check("debootstrap bookworm tree", True, f"{t_boot:.0f} s (0 when cached in {CACHE})")

    work = Path(tempfile.mkdtemp(prefix="mm-nspawn-"))
    os.chmod(work, 0o755)
    state = work / "stack"
    state.mkdir()
    os.chmod(state, 0o755)
    slapd = Slapd(state).start()
    smtp = SmtpSink(state).start()
    c = None
    try:
        t0 = time.monotonic()
        debs = build_debs(work)
        check("packages built from this tree", True, f"{time.monotonic() - t0:.0f} s")

        root = work / "root"
        sh("cp", "-a", "--reflink=auto", str(base), str(root))
        (root / "debs").mkdir()
        for d in debs:
            shutil.copy(d, root / "debs" / d.name)
        c = Container(root, "medimail-ci")
        t0 = time.monotonic()
        c.run_offline("sh", "-c", "apt-get update -q && DEBIAN_FRONTEND=noninteractive "
                      "apt-get install -y -q --no-install-recommends pamtester /debs/*.deb", timeout=1200)
        check("apt installs the four packages in the tree", True, f"{time.monotonic() - t0:.0f} s")

        # The site's configuration: the host's directory and mail sink (shared network).
        shutil.copy(slapd.authd_pw_file, root / "etc/medimail/ldap.pw")
        uid = int(c.run_offline("id", "-u", "_medimail").stdout)
        os.chown(root / "etc/medimail/ldap.pw", uid, 0)  # ids of the tree (no user namespace)
        os.chmod(root / "etc/medimail/ldap.pw", 0o600)
        conf = root / "etc/medimail/authd.conf"
        text = conf.read_text()
        site = {
            "ldap_uri": slapd.ldap_url, "ldap_base": SUFFIX, "ldap_bind_dn": f"cn=authd,ou=system,{SUFFIX}",
            "ldap_bind_password_file": "/etc/medimail/ldap.pw", "smtp_url": f"smtp://127.0.0.1:{smtp.port}",
            "regions_open": "Occitanie", "argon2_opslimit": "1", "argon2_memlimit": "8388608",
            "otp_resend_interval": "1", "cache_refresh": "1",
        }
        for k, v in site.items():
            text, n = re.subn(rf"(?m)^#?\s*{k}\s*=.*$", f"{k} = {v}", text, count=1)
            if n == 0:
                text += f"{k} = {v}\n"
        conf.write_text(text)

        t0 = time.monotonic()
        c.boot()
        check("the tree boots under systemd-nspawn (systemd is PID 1)", True, f"{time.monotonic() - t0:.1f} s")
        pid1 = c.sh("cat", "/proc/1/comm").stdout.strip()
        check("PID 1 in the container is systemd", pid1 == "systemd", pid1)

        enabled = c.sh("systemctl", "is-enabled", UNIT, check=False).stdout.strip()
        check("the package enabled the unit", enabled == "enabled", enabled)
        t0 = time.monotonic()
        c.sh("systemctl", "restart", UNIT)
        # Type=notify: systemctl returns once the daemon said READY=1, so the socket is there
        # and answered at once, with no wait here
        kind = c.sh("systemctl", "show", "-p", "Type", "--value", UNIT).stdout.strip()
        bound = c.sh("test", "-S", "/run/medimail/authd.sock", check=False).returncode == 0
        active = c.sh("systemctl", "is-active", UNIT, check=False).stdout.strip()
        check("systemctl start: active once it said READY=1, socket bound",
              kind == "notify" and bound and active == "active",
              f"{time.monotonic() - t0:.2f} s (Type={kind}, {active})")
        main_pid = c.sh("systemctl", "show", "-p", "MainPID", "--value", UNIT).stdout.strip()

        # An account, made with the container's medimailctl, then a login through its libpam.
        def ctl(*args, input=None):
            r = c.sh("medimailctl", "--json", *args, input=input, check=False)
            if r.returncode != 0:
                raise SystemExit(f"FAILED: medimailctl {args[0]}: {r.stdout}{r.stderr}")
            return json.loads(r.stdout)["fields"]
        stamp = "".join(chr(ord("a") + int(x)) for x in str(time.time_ns())[-6:])
        mail, password = f"nspawn.{stamp}@example.org", "Nspawn#2024ci"
        login = ctl("register", "MED", "--password-stdin", "--login-mail", mail, "--sn", "CONTENEUR" + stamp.upper(),
                    "--given-name", "Camille", "--raison-sociale", "Cabinet nspawn", "--region", "Occitanie",
                    input=password + "\n")["login"]
        ctl("confirm", "--token-stdin", input=smtp.token(mail) + "\n")
        ctl("validate", login)
        (root / "etc/pam.d/medimail-nspawn").write_text(
            "auth required pam_medimail.so\naccount required pam_medimail.so\nsession required pam_medimail.so\n")

        def login_once():
            codes = Codes(smtp)
            before = codes.count(mail)
            t = time.monotonic()
            r = pamtester(SystemPam("medimail-nspawn"), login, ["authenticate", "acct_mgmt"],
                          [(P_PASSWORD, password), (P_CODE, lambda: codes.wait_new(mail, before)),
                           (r"\(oui/non\)", "oui")], wrap=c.wrap())
            return r, time.monotonic() - t
        r, secs = login_once()
        check("a password + mailed-code login through the container's libpam",
              r.status == 0 and "successfully authenticated" in r.output, f"{secs:.2f} s")
        wait_for(lambda: c.sh("getent", "passwd", login, check=False).returncode == 0, 15, "getent passwd")
        check("getent passwd through the container's nsswitch.conf (the package added medimail)", True,
              c.sh("getent", "passwd", login).stdout.strip().split(":")[2])

        # The sandbox, on the running process.
        st = proc_status(c, main_pid)
        check("runs as _medimail", st["Uid"].split()[0] == str(uid), st["Uid"])
        check("no capability (CapEff, CapBnd)", int(st["CapEff"], 16) == 0 and int(st["CapBnd"], 16) == 0,
              f"CapEff={st['CapEff']} CapBnd={st['CapBnd']}")
        check("no_new_privs", st["NoNewPrivs"].strip() == "1")
        check("seccomp filter on", st["Seccomp"].strip() == "2", f"Seccomp={st['Seccomp'].strip()}")
        in_ns = ["nsenter", "-t", main_pid, "-m", "--"]
        r = c.sh(*in_ns, "sh", "-c", "touch /usr/mm-probe", check=False)
        check("ProtectSystem=strict: /usr is read-only to it", r.returncode != 0, r.stderr.strip()[:80])
        r = c.sh(*in_ns, "sh", "-c", "ls /home/* 2>&1; test -z \"$(ls -A /home 2>/dev/null)\"", check=False)
        check("ProtectHome: /home is empty to it", r.returncode == 0)
        r = c.sh(*in_ns, "sh", "-c", "test -w /var/lib/medimail && test -w /run/medimail && ! test -w /etc",
                 check=False)
        check("writes only its state and runtime directories", r.returncode == 0)
        r = c.sh(*in_ns, "sh", "-c", "ls /dev | wc -l", check=False)
        check("PrivateDevices: a minimal /dev", int(r.stdout.strip() or 99) < 30, f"{r.stdout.strip()} nodes")
        sec = c.sh("systemd-analyze", "security", "--no-pager", UNIT, check=False).stdout
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", sec)
        score = float(m.group(1)) if m else 99.0
        check("systemd-analyze security on the running unit: exposure <= 2.0", score <= 2.0,
              f"{m.group(1)} {m.group(2)}" if m else sec[-300:])

        # Reload: the same process, a login still works.
        t0 = time.monotonic()
        c.sh("systemctl", "reload", UNIT)
        same = c.sh("systemctl", "show", "-p", "MainPID", "--value", UNIT).stdout.strip() == main_pid
        wait_for(lambda: "reload" in c.sh("journalctl", "-u", UNIT, "--no-pager", "-q", check=False).stdout.lower(),
                 15, "the reload in the journal")
        check("systemctl reload: same process, the reload logged", same, f"{time.monotonic() - t0:.2f} s")
        time.sleep(1.2)  # otp_resend_interval
        r, secs = login_once()
        check("a login after the reload", r.status == 0, f"{secs:.2f} s")

        t0 = time.monotonic()
        c.sh("systemctl", "stop", UNIT)
        state_now = c.sh("systemctl", "is-active", UNIT, check=False).stdout.strip()
        gone = c.sh("test", "-e", "/run/medimail/authd.sock", check=False).returncode != 0
        check("systemctl stop: inactive, the runtime directory removed", state_now == "inactive" and gone,
              f"{time.monotonic() - t0:.2f} s")
        failed = c.sh("journalctl", "-u", UNIT, "--no-pager", "-q", "-p", "err", check=False).stdout.strip()
        journal = c.sh("journalctl", "-u", UNIT, "--no-pager", "-q", check=False).stdout
        if "service manager not told" in journal or "NOTIFY_SOCKET" in journal:
            failed += "\n" + journal[-200:]
        check("no error in the unit's journal", not failed, failed[:200])
    finally:
        if c:
            c.poweroff()
        smtp.stop()
        slapd.stop()
        if os.environ.get("MM_NSPAWN_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"[nspawn] kept {work}")
    check("total", True, f"{time.monotonic() - t_all:.0f} s")
    report()


if __name__ == "__main__":
    main()
