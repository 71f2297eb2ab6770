"""mmstack: the real components of a test run -- a private slapd, an SMTP sink,
one or more medimail-authd daemons -- started and stopped by the tests."""
import email
import email.policy
import json
import mailbox
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("MM_BUILD", TOP / "build"))
PY = "/usr/bin/python3"
SUFFIX = "dc=medimail,dc=test"
NOBODY = 65534


def luhn_complete(prefix):
    """prefix + its Luhn check digit (RPPS numbers and FINESS are Luhn over all their digits)."""
    total = 0
    for i, ch in enumerate(reversed(prefix)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return prefix + str(-total % 10)


assert luhn_complete("1000281383") == "10002813839" and luhn_complete("9970042786") == "99700427869"


def ctl_ok(r):
    """The fields of a medimailctl answer that must have succeeded."""
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.json["fields"] if r.json else None


def ctl_refused(r, field, rule, status=-22):
    """A medimailctl answer refusing field by rule, with a message."""
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert r.json["status"] == status, r.stdout
    assert r.json["fields"].get("field") == field, r.stdout
    assert r.json["fields"].get("rule") == rule, r.stdout
    assert r.json["message"], r.stdout
    return r.json


_PORT_LOW = 20000  # below ip_local_port_range (32768-60999 on Debian): no outgoing connection takes these
_PORT_HIGH = 32768
_port_next = 0


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on, for a component the test starts next.

    Not the kernel's bind(0) choice: that comes from the ephemeral range, where any outgoing
    connection of a parallel test (a daemon's LDAP connection, a client) can take the port before
    the component binds it, and the component fails "address in use". Each xdist worker cycles
    through its own slice of the range below the ephemeral one, skipping ports still bound or in
    TIME_WAIT (bind without SO_REUSEADDR fails on both)."""
    global _port_next
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    count = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")), index + 1)
    width = (_PORT_HIGH - _PORT_LOW) // count
    base = _PORT_LOW + index * width
    for _ in range(width):
        port = base + _port_next % width
        _port_next += 1
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {base}-{base + width - 1}")


def wait_for(pred, timeout=10.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


class Slapd:
    def __init__(self, state: Path, port=None, env=None):
        self.state = state
        self.port = port or free_port()
        self.env = dict(os.environ, MM_STATE=str(state), MM_LDAP_PORT=str(self.port), **(env or {}))

    def run(self, cmd):
        return subprocess.run([str(TOP / "scripts/slapd.sh"), cmd], env=self.env, check=True,
                              capture_output=True, text=True)

    def start(self):
        self.run("start")
        urls = self.run("url").stdout.split()
        self.ldap_url, self.ldapi_url = urls[0], urls[1]
        return self

    def stop(self):
        self.run("stop")

    @property
    def authd_pw_file(self):
        return self.state / "slapd" / "authd.pw"

    def search(self, base, flt="(objectClass=*)", *attrs, scope="sub", bind=None):
        """ldapsearch as local root (ldapi EXTERNAL), or bind=(dn, password) simple."""
        cmd = ["ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-H", self.ldapi_url, "-b", base, "-s", scope]
        if bind:
            cmd += ["-x", "-D", bind[0], "-w", bind[1]]
        else:
            cmd += ["-Q", "-Y", "EXTERNAL"]
        r = subprocess.run(cmd + [flt, *attrs], capture_output=True, text=True)
        if r.returncode not in (0, 32):
            raise RuntimeError(f"ldapsearch failed: {r.stderr}")
        return parse_ldif(r.stdout)


def parse_ldif(text):
    import base64
    entries, cur = [], None
    for line in text.splitlines():
        if not line.strip():
            cur = None
            continue
        if line.startswith("#"):
            continue
        key, _, val = line.partition(":")
        if val.startswith(":"):
            val = base64.b64decode(val[1:].strip()).decode("utf-8", "replace")
        else:
            val = val.strip()
        if key == "dn":
            cur = {"dn": val}
            entries.append(cur)
        elif cur is not None:
            cur.setdefault(key, []).append(val)
    return entries


class SmtpSink:
    def __init__(self, state: Path, port=None):
        self.dir = state / "mail"
        self.port = port or free_port()
        self.pidfile = state / "smtp.pid"
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([PY, str(TOP / "scripts/smtp-sink.py"), "--listen",
                                      f"127.0.0.1:{self.port}", "--maildir", str(self.dir),
                                      "--pidfile", str(self.pidfile)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.pidfile.exists, what="smtp sink")
        wait_for(lambda: _port_open(self.port), what="smtp port")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)

    def messages(self, to=None):
        if not self.dir.exists():
            return []
        box = mailbox.Maildir(str(self.dir), create=False)
        out = []
        for key in box.keys():
            path = Path(box._lookup(key) and os.path.join(str(self.dir), box._lookup(key)))
            m = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
            if to and to.lower() not in str(m["To"]).lower():
                continue
            out.append((path.stat().st_mtime_ns, m))
        out.sort(key=lambda x: x[0])
        return [m for _, m in out]

    @staticmethod
    def body(m):
        return m.get_body(preferencelist=("plain",)).get_content()

    @staticmethod
    def parts(m):
        """(sender address, plain text, HTML) of a daemon's mail, checking its MIME
        shape: multipart/alternative of a text/plain and a text/html part, both
        UTF-8, quoted-printable or base64, and a header that stays ASCII."""
        assert m.get_content_type() == "multipart/alternative", m.get_content_type()
        subtypes = [p.get_content_type() for p in m.iter_parts()]
        assert subtypes == ["text/plain", "text/html"], subtypes
        for p in m.iter_parts():
            assert p.get_content_charset() == "utf-8"
            assert p["Content-Transfer-Encoding"] in ("quoted-printable", "base64")
        for name, value in m.raw_items():
            assert value.isascii(), (name, value)
        text = m.get_body(preferencelist=("plain",)).get_content()
        html = m.get_body(preferencelist=("html",)).get_content()
        return m["From"].addresses[0].addr_spec, text, html

    def wait_message(self, to, pattern, count_before=0, timeout=10):
        found = []

        def check():
            msgs = self.messages(to)
            for m in msgs[count_before:]:
                hit = re.search(pattern, self.body(m))
                if hit:
                    found.append(hit)
                    return True
            return False
        wait_for(check, timeout, f"mail to {to} matching {pattern}")
        return found[-1]

    def token(self, to):
        return self.wait_message(to, r"jeton=([0-9a-f]{64})").group(1)


def _port_open(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def notify_socket(tag, timeout):
    """A service manager's notify socket (sd_notify(3)): a datagram socket in the abstract
    namespace (no path length, nothing to remove) and its NOTIFY_SOCKET value, "@name"."""
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"medimail-test-{tag}-{os.getpid()}-{time.monotonic_ns()}"
    ns.bind("\0" + name)
    ns.settimeout(timeout)
    return ns, "@" + name


class Daemon:
    """One medimail-authd on the shared slapd."""

    def __init__(self, state: Path, slapd: Slapd, smtp_port: int, name="authd", hash_key=None, extra=""):
        self.state = state
        self.name = name
        self.slapd = slapd
        self.smtp_port = smtp_port
        self.socket = state / f"{name}.sock"
        self.conf = state / f"{name}.conf"
        self.log = state / f"{name}.log"
        self.key = hash_key or (state / "hash.key")
        self.extra = extra
        self.proc = None

    def write_conf(self, extra=None):
        if not self.key.exists():
            self.key.write_text(os.urandom(32).hex())
            os.chmod(self.key, 0o600)
        text = f"""socket = {self.socket}
pid_file = {self.state / (self.name + '.pid')}
log_stderr = yes
log_level = debug
ldap_uri = {self.slapd.ldapi_url}
ldap_base = {SUFFIX}
ldap_bind_dn = cn=authd,ou=system,{SUFFIX}
ldap_bind_password_file = {self.slapd.authd_pw_file}
ldap_timeout = 3
smtp_url = smtp://127.0.0.1:{self.smtp_port}
smtp_timeout = 3
hash_key_file = {self.key}
argon2_opslimit = 1
argon2_memlimit = 8388608
regions_open = Occitanie, Bretagne
domain.pharmacien = pharmacien.oc.mssante.fr
domain.medecin = medecin.oc.mssante.fr
domain_default = oc.mssante.fr
uid_min = 1900210000
uid_max = 1900219999
gid_min = 1910310000
gid_max = 1910310999
cache_dir = {self.state / (self.name + '-mc')}
{self.extra if extra is None else extra}
"""
        self.conf.write_text(text)
        os.chmod(self.conf, 0o600)

    def start(self):
        self.write_conf()
        self.logf = open(self.log, "ab")
        # Started as systemd starts it (Type=notify): the daemon says READY=1 once every thread
        # of its start (policy, cache builder, follower) is running and it accepts, so a test
        # never races the end of the start. An abstract socket: no path length, nothing to remove.
        ns, addr = notify_socket(f"notify-{id(self)}", 0.1)
        with ns:
            self.proc = subprocess.Popen([str(BUILD / "authd/medimail-authd"), "-f", "-c", str(self.conf)],
                                         stdout=self.logf, stderr=self.logf,
                                         env=dict(os.environ, NOTIFY_SOCKET=addr))
            end = time.monotonic() + 30
            while self.proc.poll() is None:
                try:
                    if b"READY=1" in ns.recv(4096).split(b"\n"):
                        break
                except socket.timeout:
                    if time.monotonic() > end:
                        raise TimeoutError("timed out waiting for the daemon's READY=1")
        if self.proc.poll() is not None:
            raise RuntimeError(f"medimail-authd exited: {self.log.read_text()}")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "logf", None):
            self.logf.close()

    def ctl(self, *args, input=None, uid=None, json_out=True, check=None):
        cmd = [str(BUILD / "ctl/medimailctl"), "--socket", str(self.socket)]
        if json_out:
            cmd.append("--json")
        cmd += list(args)
        if uid is not None:
            cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] + cmd
        r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=60)
        r.json = json.loads(r.stdout) if json_out and r.stdout.strip().startswith("{") else None
        if check is not None:
            assert r.returncode == check, (r.returncode, r.stdout, r.stderr)
        return r

    def log_text(self):
        return self.log.read_text(errors="replace")


def cmdlines_holding(secret):
    """The processes whose command line (what any local user reads in /proc) holds secret."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if secret.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(pid)
            except OSError:
                pass  # gone meanwhile
    return found


# Field sets of the four registration paths, as the guides fill the forms.
def per_fields(mail="isabelle.martin@example.org", sn="MARTIN", given="Isabelle", rpps="10002813839"):
    return ["--login-mail", mail, "--sn", sn, "--given-name", given, "--rpps", rpps, "--profession", "21",
            "--liberal", "yes", "--phone", "05 63 00 00 01", "--street", "1 place du Vigan",
            "--postal-code", "81000", "--city", "Albi", "--region", "Occitanie", "--department", "81",
            "--speciality", "Officine"]


def int_fields(mail="karim.benali@example.org", sn="BENALI", given="Karim"):
    return ["--login-mail", mail, "--sn", sn, "--given-name", given, "--profession", "10",
            "--struct-type", "FINESS", "--struct-id", "310000120", "--city", "Toulouse",
            "--postal-code", "31000", "--region", "Occitanie"]


def med_fields(mail="lea.roux@example.org", sn="ROUX", given="Léa"):
    return ["--login-mail", mail, "--sn", sn, "--given-name", given, "--raison-sociale",
            "Pharmacie du Centre", "--region", "Occitanie"]


def org_fields(member, mail="contact.pharmacie@example.org", name="Pharmacie du Centre"):
    return ["--login-mail", mail, "--org-name", name, "--description",
            "Officine, Pharmacie du Centre, Albi 81000", "--struct-type", "FINESS", "--struct-id",
            "810000034", "--raison-sociale", "Pharmacie du Centre", "--street", "1 place du Vigan",
            "--postal-code", "81000", "--city", "Albi", "--phone", "05 63 00 00 00", "--resp-sn", "MARTIN",
            "--resp-given-name", "Isabelle", "--resp-profession", "21", "--resp-rpps", "10002813839",
            "--member", member, "--region", "Occitanie"]
