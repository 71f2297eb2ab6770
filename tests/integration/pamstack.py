"""pamstack: the PAM side of the tests -- a private pam.d for pam_wrapper, the real pamtester
driven on a pty, the ctypes PAM client, one-time codes read from the SMTP sink, accounts."""
import email
import email.policy
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pexpect
import pexpect.popen_spawn

from mmstack import BUILD, SUFFIX, TOP, wait_for

PAM_WRAPPER = "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so"
MODULE = BUILD / "pam_medimail/pam_medimail.so"
PAMCLIENT = Path(__file__).with_name("pamclient.py")
PW = "Pharma#2024"

P_PASSWORD = "Mot de passe : "
P_CODE = "Code à usage unique reçu par e-mail : "
P_CGU = r"Acceptez-vous les conditions générales d'utilisation \? \(oui/non\)"
P_OLD = "Mot de passe actuel : "
P_NEW = "Nouveau mot de passe : "
P_NEW2 = "Confirmez le nouveau mot de passe : "


class SystemPam:
    """The system's own PAM configuration (no pam_wrapper): pamtester reads /etc/pam.d/<name>
    (the host's, or a container's when pamtester runs in it)."""

    def __init__(self, name):
        self.name = name

    def env(self):
        env = dict(os.environ, LANG="C.UTF-8")
        for k in ("LD_PRELOAD", "PAM_WRAPPER", "PAM_WRAPPER_SERVICE_DIR", "MEDIMAIL_SOCKET",
                  "MEDIMAIL_NSS_CACHE_DIR", "MEDIMAIL_NSS_BYPASS", "LD_LIBRARY_PATH"):
            env.pop(k, None)
        return env


class PamService:
    """A pam.d directory for pam_wrapper with one service using pam_medimail for all four types."""

    def __init__(self, state: Path, daemon, name="medimail", options=""):
        self.name = name
        self.dir = state / f"pam.d-{name}"
        self.dir.mkdir(exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.socket = daemon.socket if hasattr(daemon, "socket") else daemon
        lines = [f"{t} required {MODULE} socket={self.socket} {options}".rstrip()
                 for t in ("auth", "account", "password", "session")]
        (self.dir / name).write_text("\n".join(lines) + "\n")
        os.chmod(self.dir / name, 0o644)

    def env(self):
        return dict(os.environ, LD_PRELOAD=PAM_WRAPPER, PAM_WRAPPER="1",
                    PAM_WRAPPER_SERVICE_DIR=str(self.dir), LANG="C.UTF-8")


class Codes:
    """One-time codes from the SMTP sink's maildir, read as they arrive (cached per file)."""
    RE = re.compile(r"Ce code est le : (\d{6})")

    def __init__(self, smtp):
        self.dir = Path(smtp.dir)
        self.seen = {}
        self.lock = threading.Lock()

    def _scan(self):
        for sub in ("new", "cur"):
            d = self.dir / sub
            if not d.exists():
                continue
            for f in os.listdir(d):
                if f in self.seen:
                    continue
                raw = (d / f).read_bytes()
                # the parts are quoted-printable: read the decoded plain-text part
                m = email.message_from_bytes(raw, policy=email.policy.default)
                text = m.get_body(preferencelist=("plain",)).get_content()
                to = re.search(r"<?([^<>\s]+@[^<>\s]+)>?", str(m["To"] or ""))
                code = self.RE.search(text)
                self.seen[f] = (os.stat(d / f).st_mtime_ns, to.group(1).lower() if to else "",
                                code.group(1) if code else None)

    def all(self, to):
        with self.lock:
            self._scan()
            hits = [(t, c) for t, addr, c in self.seen.values() if addr == to.lower() and c]
        return [c for _, c in sorted(hits)]

    def count(self, to):
        return len(self.all(to))

    def wait_new(self, to, before, timeout=15):
        """The newest code to `to` once more than `before` codes were sent to it."""
        wait_for(lambda: self.count(to) > before, timeout, f"one-time code for {to}")
        return self.all(to)[-1]


class Run:
    def __init__(self, status, output):
        self.status, self.output = status, output

    def __repr__(self):
        return f"Run(status={self.status}, output={self.output!r})"


def pamtester(svc, user, ops, answers, uid=None, timeout=60, namespace=False, wrap=()):
    """Runs the real pamtester on a pty under pam_wrapper. answers: list of (prompt regex, answer
    or callable returning the answer); each prompt seen is answered by the first matching entry,
    which is then consumed unless it is marked with a trailing '*' in the regex.
    namespace=True: no pam_wrapper (it has only 36 config directories, so at most 36 processes at
    once); the real libpam reads svc.dir bind-mounted over /etc/pam.d in a private mount namespace.
    wrap: a command prefix that ends by exec-ing its arguments."""
    cmd = list(wrap) + ["pamtester", "-v", svc.name, user] + list(ops)
    if uid is not None:
        cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] + cmd
    env = svc.env()
    if namespace:
        cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c",
               'mount --bind "$0" /etc/pam.d && exec "$@"', str(svc.dir)] + cmd
        env = dict(os.environ, LANG="C.UTF-8")
    child = pexpect.spawn(cmd[0], cmd[1:], env=env, encoding="utf-8", timeout=timeout)
    return _drive(child, answers)


def pamclient(svc, user, ops, answers, uid=None, timeout=60):
    """The ctypes PAM client over pipes (no tty line limit)."""
    cmd = [sys.executable, str(PAMCLIENT), svc.name, user] + list(ops)
    if uid is not None:
        cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] + cmd
    child = pexpect.popen_spawn.PopenSpawn(cmd, env=svc.env(), encoding="utf-8", timeout=timeout)
    return _drive(child, answers)


def _drive(child, answers):
    answers = list(answers)
    patterns = [re.compile(p.rstrip("*")) for p, _ in answers]
    out = []
    while True:
        idx = child.expect(patterns + [pexpect.EOF]) if patterns else child.expect([pexpect.EOF])
        out.append(child.before + (child.after if isinstance(child.after, str) else ""))
        if idx == len(patterns):
            break
        prompt, ans = answers[idx]
        if callable(ans):
            ans = ans()
        child.sendline(ans)
        if not prompt.endswith("*"):
            del answers[idx]
            del patterns[idx]
    if isinstance(child, pexpect.popen_spawn.PopenSpawn):
        status = child.wait()
    else:
        child.close()
        status = child.exitstatus if child.exitstatus is not None else -child.signalstatus
    return Run(status, "".join(out))


def login_answers(codes, mail, password=PW, code=None):
    """Answers for password + the code just mailed (read from the sink while pamtester waits)."""
    before = codes.count(mail)
    return [(P_PASSWORD, password), (P_CODE, code if code is not None else (lambda: codes.wait_new(mail, before)))]


# ---------------------------------------------------------------- accounts

_n = [0]


def _unique_name():
    _n[0] += 1
    n, s = _n[0] + int(time.time()) % 1000 * 100, ""
    while True:
        s = chr(ord("a") + n % 26) + s
        n //= 26
        if not n:
            break
    return "Pam" + s


def register_med(authd, smtp, validate=True, confirm=True, mail=None, password=PW):
    """A MED account through the real lifecycle; returns (login, mail)."""
    sn = _unique_name().upper()
    mail = mail or f"{sn.lower()}.user@example.org"
    r = authd.ctl("register", "MED", "--password-stdin", "--login-mail", mail, "--sn", sn, "--given-name",
                  "Jeanne", "--raison-sociale", "Cabinet test", "--region", "Occitanie", input=password + "\n")
    assert r.returncode == 0, r.stdout + r.stderr
    login = r.json["fields"]["login"]
    if confirm:
        c = authd.ctl("confirm", "--token-stdin", input=smtp.token(mail) + "\n")
        assert c.returncode == 0, c.stdout
    if validate:
        v = authd.ctl("validate", login)
        assert v.returncode == 0, v.stdout
    return login, mail


def register_org(authd, smtp, member, name):
    mail = f"{name.lower().replace(' ', '.')}@example.org"
    r = authd.ctl("register", "ORG", "--login-mail", mail, "--org-name", name, "--description",
                  f"Service {name}, Albi 81000", "--struct-type", "FINESS", "--struct-id", "810000034",
                  "--postal-code", "81000", "--city", "Albi", "--resp-sn", "MARTIN", "--resp-given-name",
                  "Isabelle", "--resp-profession", "21", "--resp-rpps", "10002813839", "--member", member,
                  "--region", "Occitanie", input="")
    assert r.returncode == 0, r.stdout + r.stderr
    login = r.json["fields"]["login"]
    assert authd.ctl("confirm", "--token-stdin", input=smtp.token(mail) + "\n").returncode == 0
    v = authd.ctl("validate", login)
    assert v.returncode == 0, v.stdout
    return login, v.json["fields"].get("mss_address")


def uid_of(slapd, login):
    return int(slapd.search(SUFFIX, f"(uid={login})", "uidNumber")[0]["uidNumber"][0])


def attrs_of(slapd, login):
    return slapd.search(SUFFIX, f"(uid={login})")[0]


def ldap_modify(slapd, ldif):
    r = subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url], input=ldif,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


PROFILE = TOP / "conf/pam-configs/medimail"
NSS_WRAPPER = "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so"
PAM_MATRIX = "/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so"
PAM_DIR = "/lib/x86_64-linux-gnu/security"


def profile_lines(section):
    """The lines of one section (Auth, Account, ...) of the pam-auth-update profile."""
    lines, cur = [], None
    for line in PROFILE.read_text().splitlines():
        if line and not line[0].isspace():
            cur = line[:-1] if line.endswith(":") else None
        elif cur == section and line.strip():
            lines.append(line.strip())
    assert lines, section
    return lines


class InstalledStack(PamService):
    """A service shaped like the common-* files pam-auth-update writes with pam_unix and this
    profile: the profile's own lines, unchanged but for the module path and socket. pam_matrix
    holds pam_unix's place in auth (root's real password is not the tests' to know); the
    account and session stacks use the real pam_unix."""

    def __init__(self, state: Path, daemon, name, local_passwords, nss_users):
        """local_passwords: {user: password} for pam_matrix; nss_users: {user: uid}, what NSS
        (files, then the medimail module's cache) resolves, served by nss_wrapper."""
        super().__init__(state, daemon, name)
        self.passdb = self.dir / f"{name}.passdb"
        self.passdb.write_text("".join(f"{u}:{p}:{name}\n" for u, p in local_passwords.items()))
        os.chmod(self.passdb, 0o600)
        self.nss_passwd = self.dir / f"{name}.passwd"
        # "*" as nss_medimail answers; root's "x" sends pam_unix to the real /etc/shadow.
        self.nss_passwd.write_text("".join(f"{u}:{'x' if uid == 0 else '*'}:{uid}:{uid}::/home/{u}:/bin/sh\n"
                                           for u, uid in nss_users.items()))
        self.nss_group = self.dir / f"{name}.group"
        self.nss_group.write_text("".join(f"{u}:x:{uid}:\n" for u, uid in nss_users.items()))

        def ours(line):
            # pam-auth-update turns "end" into the jump over the rest of the primary block.
            return (line.replace("pam_medimail.so", f"{MODULE} socket={self.socket}")
                    .replace("success=end", "success=1"))
        lines = [f"auth [success=2 default=ignore] {PAM_MATRIX} passdb={self.passdb}"]
        lines += [f"auth {ours(line)}" for line in profile_lines("Auth")]
        lines += [f"auth requisite {PAM_DIR}/pam_deny.so", f"auth required {PAM_DIR}/pam_permit.so"]
        lines += [f"account [success=1 new_authtok_reqd=done default=ignore] {PAM_DIR}/pam_unix.so",
                  f"account requisite {PAM_DIR}/pam_deny.so", f"account required {PAM_DIR}/pam_permit.so"]
        lines += [f"account {ours(line)}" for line in profile_lines("Account")]
        lines += [f"session [default=1] {PAM_DIR}/pam_permit.so", f"session requisite {PAM_DIR}/pam_deny.so",
                  f"session required {PAM_DIR}/pam_permit.so", f"session required {PAM_DIR}/pam_unix.so"]
        lines += [f"session {ours(line)}" for line in profile_lines("Session")]
        (self.dir / name).write_text("\n".join(lines) + "\n")

    def env(self):
        return dict(super().env(), LD_PRELOAD=f"{PAM_WRAPPER} {NSS_WRAPPER}", NSS_WRAPPER_PASSWD=str(self.nss_passwd),
                    NSS_WRAPPER_GROUP=str(self.nss_group))
