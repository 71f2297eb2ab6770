"""rpstack: real relying parties of an OpenID Connect provider, started by the tests as private,
unprivileged processes on loopback ports (never the system services):

- Apache 2 with mod_auth_openidc protecting /protected/ (a CGI page echoing the OIDC_CLAIM_*
  variables), configured only by OIDCProviderMetadataURL, a client id/secret, the redirect URI and
  the crypto passphrase (plus PKCE S256, not the default in 2.4.12); back-channel logout reaches it
  at its redirect URI with `?logout=backchannel`;
- Dovecot 2.3 IMAP with `passdb oauth2` (token introspection, introspection_mode = post, the
  client's credentials as HTTP Basic in the URL's userinfo), mail in a temporary directory;
- Postfix 3.7 as a submission server (`PostfixSubmission`) authenticating through Dovecot's SASL
  socket; it alone runs its master as root (Postfix requires it), its daemons as `postfix`.

Apache and Dovecot run as `nobody` (the tests run as root) in a directory of their own under /tmp
that nobody can read; the provider is anything with a discovery URL (see test_rp_clients.py's fixture).
"""
import grp
import json
import os
import pwd
import shutil
import signal
import smtplib
import subprocess
import tempfile
import time
from pathlib import Path

from mmstack import _port_open, free_port, wait_for

APACHE_MODULES = "/usr/lib/apache2/modules"
PAM_WRAPPER = "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so"
UNPRIV = "nobody"


def _unpriv_argv():
    """The prefix that runs a command as nobody when the tests are root."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={UNPRIV}", "--regid=nogroup", "--clear-groups", "--"]


class RpDir:
    """A private directory the unprivileged relying parties own."""

    def __init__(self, prefix):
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
        os.chmod(self.path, 0o755)

    def own(self):
        if os.geteuid() == 0:
            pw = pwd.getpwnam(UNPRIV)
            for root, dirs, files in os.walk(self.path):
                for n in [root] + [os.path.join(root, x) for x in dirs + files]:
                    os.lchown(n, pw.pw_uid, pw.pw_gid)

    def remove(self):
        shutil.rmtree(self.path, ignore_errors=True)


class _Proc:
    proc = None

    def _start(self, argv, log, port, what, env=None):
        self.logf = open(log, "ab")
        self.proc = subprocess.Popen(_unpriv_argv() + argv, stdout=self.logf, stderr=self.logf,
                                     env=env, start_new_session=True)
        wait_for(lambda: _port_open(port) or self.proc.poll() is not None, 20, what)
        if self.proc.poll() is not None:
            text = Path(log).read_text()
            self.stop()
            raise RuntimeError(f"{what} exited: {text}")

    def _stop(self, pidfile=None):
        # The master's pid (Apache and Dovecot fork their own workers); only our own processes.
        pid = None
        if pidfile and Path(pidfile).exists():
            pid = int(Path(pidfile).read_text().split()[0])
        for p in filter(None, (pid, self.proc and self.proc.pid)):
            try:
                os.kill(p, signal.SIGTERM)
            except ProcessLookupError:
                pass
        if self.proc:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if pid:
            for _ in range(50):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
        if getattr(self, "logf", None):
            self.logf.close()


CLAIMS_CGI = r"""#!/usr/bin/python3
# The protected page: every OIDC_CLAIM_* variable mod_auth_openidc set, escaped.
import html
import os

print("Content-Type: text/html; charset=utf-8")
print()
rows = "".join(f'<dt>{html.escape(k)}</dt><dd id="{html.escape(k)}">{html.escape(v)}</dd>'
               for k, v in sorted(os.environ.items()) if k.startswith("OIDC_CLAIM_"))
print(f'<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>RP</title></head>'
      f'<body><h1>Page protegee</h1><p id="user">{html.escape(os.environ.get("REMOTE_USER", ""))}</p>'
      f'<dl id="claims">{rows}</dl></body></html>')
"""


class Apache(_Proc):
    """Apache + mod_auth_openidc. port is reserved before the provider knows the client."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.redirect_uri = f"{self.base}/protected/redirect_uri"
        self.backchannel_logout_uri = f"{self.redirect_uri}?logout=backchannel"
        self.page = f"{self.base}/protected/claims"

    def start(self, discovery_url, client_id, client_secret, scope="openid email"):
        self.dir = RpDir("mm-apache-")
        d = self.dir.path
        for sub in ("htdocs", "cgi", "run"):
            (d / sub).mkdir()
        (d / "cgi" / "claims").write_text(CLAIMS_CGI)
        os.chmod(d / "cgi" / "claims", 0o755)
        passphrase = os.urandom(16).hex()
        mods = ["mpm_prefork", "authz_core", "authz_user", "authn_core", "auth_openidc", "cgi", "alias", "env"]
        conf = "".join(f"LoadModule {m}_module {APACHE_MODULES}/mod_{m}.so\n" for m in mods) + f"""
ServerRoot {d}
ServerName 127.0.0.1
Listen 127.0.0.1:{self.port}
PidFile {d}/run/httpd.pid
DefaultRuntimeDir {d}/run
Mutex file:{d}/run default
ErrorLog {d}/error.log
LogLevel warn auth_openidc:info
CustomLog {d}/access.log "%m %U%q %>s"
StartServers 1
MinSpareServers 1
MaxSpareServers 2
DocumentRoot {d}/htdocs
ScriptAlias /protected/ {d}/cgi/
<Directory {d}/cgi>
  Options +ExecCGI
</Directory>
OIDCProviderMetadataURL {discovery_url}
OIDCClientID {client_id}
OIDCClientSecret {client_secret}
OIDCRedirectURI {self.redirect_uri}
OIDCCryptoPassphrase {passphrase}
OIDCPKCEMethod S256
OIDCScope "{scope}"
<Location /protected/>
  AuthType openid-connect
  Require valid-user
</Location>
"""
        (d / "httpd.conf").write_text(conf)
        self.dir.own()
        self.conf = d / "httpd.conf"
        self._start(["/usr/sbin/apache2", "-f", str(self.conf), "-DFOREGROUND"], d / "apache.out",
                    self.port, "apache")
        return self

    def error_log(self):
        p = self.dir.path / "error.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def access_log(self):
        p = self.dir.path / "access.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self):
        self._stop(self.dir.path / "run" / "httpd.pid")
        self.dir.remove()


class Dovecot(_Proc):
    """Dovecot IMAP with passdb oauth2 (token introspection)."""

    def __init__(self, port=None):
        self.port = port or free_port()

    def start(self, introspection_url, client_id, client_secret, username_attribute="email", pam=None,
              sasl_group=None, throttle=True):
        """pam: (pam.d directory for pam_wrapper, service name): a second passdb, `passdb pam`,
        for the LOGIN and PLAIN mechanisms (the mail clients' app passwords and device credentials).
        sasl_group: a group (Postfix's) whose members may ask this Dovecot to authenticate their
        clients (Postfix's `smtpd_sasl_type = dovecot`) at self.sasl_socket; no one else may.
        throttle=False: no auth_failure_delay and no per-address auth penalty (which grows to 15 s,
        past the 10 s Postfix waits for Dovecot's answer before a 454): the daemon's lockout stays."""
        self.dir = RpDir("mm-dovecot-")
        d = self.dir.path
        self.sasl_socket = d / "sasl" / "auth" if sasl_group else None
        for sub in ("run", "state", "mail"):
            (d / sub).mkdir()
        scheme, rest = introspection_url.split("://", 1)
        url = f"{scheme}://{client_id}:{client_secret}@{rest}"
        (d / "oauth2.ext").write_text(f"""introspection_mode = post
introspection_url = {url}
username_attribute = {username_attribute}
active_attribute = active
active_value = true
force_introspection = yes
timeout_msecs = 5000
""")
        os.chmod(d / "oauth2.ext", 0o600)  # the client secret
        pam_passdb, env = "", None
        if pam:
            pam_dir, service = pam
            pam_passdb = (f"passdb {{\n  driver = pam\n  mechanisms = plain login\n"
                          f"  args = failure_show_msg=yes {service}\n}}\n")
            # Linux-PAM reads only /etc/pam.d: pam_wrapper gives the auth workers a private one.
            env = dict(os.environ, LD_PRELOAD=PAM_WRAPPER, PAM_WRAPPER="1", PAM_WRAPPER_SERVICE_DIR=str(pam_dir))
        u = UNPRIV if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        pw = pwd.getpwnam(u)
        # mode 0: no anvil-auth-penalty socket, and without it the auth process applies no penalty
        anvil = ("service anvil {\n  chroot =\n}\n" if throttle else
                 "auth_failure_delay = 0\nservice anvil {\n  chroot =\n"
                 "  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n}\n")
        sasl_listener = (f"  unix_listener {self.sasl_socket} {{\n    mode = 0666\n  }}\n"
                         if sasl_group else "")
        (d / "dovecot.conf").write_text(f"""protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login oauthbearer xoauth2
auth_verbose = yes
auth_debug = yes
auth_cache_size = 0
default_internal_user = {u}
default_internal_group = {grp.getgrgid(pw.pw_gid).gr_name}
default_login_user = {u}
mail_location = maildir:{d}/mail/%u
import_environment = TZ LD_PRELOAD PAM_WRAPPER PAM_WRAPPER_SERVICE_DIR
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {d}/oauth2.ext
}}
{pam_passdb}userdb {{
  driver = static
  args = uid={pw.pw_uid} gid={pw.pw_gid} home={d}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
{anvil}service auth {{
  unix_listener auth-userdb {{
    mode = 0600
  }}
{sasl_listener}}}
""")
        self.dir.own()
        if sasl_group:
            # Dovecot (nobody) cannot give its socket to another group: the directory does.
            (d / "sasl").mkdir()
            os.chown(d / "sasl", pw.pw_uid, grp.getgrnam(sasl_group).gr_gid)
            os.chmod(d / "sasl", 0o750)
        self._start(["/usr/sbin/dovecot", "-F", "-c", str(d / "dovecot.conf")], d / "dovecot.out",
                    self.port, "dovecot", env=env)
        return self

    def log(self):
        p = self.dir.path / "dovecot.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self):
        self._stop(self.dir.path / "run" / "master.pid")
        self.dir.remove()


POSTFIX_SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PostfixSubmission:
    """A private Postfix 3.7 instance for SMTP submission: its own config directory, queue and
    log under /tmp, smtpd on a loopback port, no chroot. Clients authenticate through Dovecot's
    SASL socket; only they may relay, and everything goes to one relay host (the tests' sink).
    Postfix needs root to start (master as root, its daemons as the `postfix` user)."""

    def session(self):
        """A new SMTP session, greeted (EHLO)."""
        s = smtplib.SMTP("127.0.0.1", self.port, timeout=20)
        s.ehlo("client.test")
        return s

    def login(self, mech, authobject_of, initial_response_ok=True):
        """A session authenticated by mech, authobject_of(session) giving smtplib's answer to
        each challenge, or None when the server answers 535."""
        s = self.session()
        assert mech in s.esmtp_features["auth"].split(), s.esmtp_features
        try:
            code, _ = s.auth(mech, authobject_of(s), initial_response_ok=initial_response_ok)
        except smtplib.SMTPAuthenticationError as e:
            assert e.smtp_code == 535, e
            s.quit()
            return None
        assert code == 235
        return s

    def __init__(self, port=None):
        self.port = port or free_port()

    def start(self, sasl_socket, relayhost):
        self.path = Path(tempfile.mkdtemp(prefix="mm-postfix-", dir="/tmp"))
        os.chmod(self.path, 0o755)
        d = self.path
        for sub in ("conf", "queue", "data"):
            (d / sub).mkdir()
        shutil.chown(d / "data", "postfix", "postfix")
        self.conf = d / "conf"
        (self.conf / "main.cf").write_text(f"""compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = submission.test
mydomain = submission.test
myorigin = submission.test
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relayhost = {relayhost}
smtpd_tls_security_level = none
smtp_tls_security_level = none
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {sasl_socket}
smtpd_relay_restrictions = permit_sasl_authenticated, reject
""")
        (self.conf / "master.cf").write_text(
            f"127.0.0.1:{self.port} inet n - n - - smtpd\n" + POSTFIX_SERVICES)
        self.logf = open(d / "postfix.out", "ab")
        # start-fg: master in the foreground (not PID 1: under postfix-script), logging to maillog
        self.proc = subprocess.Popen(["/usr/sbin/postfix", "-c", str(self.conf), "start-fg"],
                                     stdout=self.logf, stderr=self.logf, start_new_session=True)
        wait_for(lambda: _port_open(self.port) or self.proc.poll() is not None, 20, "postfix")
        if self.proc.poll() is not None:
            text = (d / "postfix.out").read_text() + self.log()
            self.stop()
            raise RuntimeError(f"postfix exited: {text}")
        return self

    def log(self):
        p = self.path / "maillog"
        return p.read_text(errors="replace") if p.exists() else ""

    def queue(self):
        """The queue IDs of the messages still in the queue (postqueue -j)."""
        r = subprocess.run(["/usr/sbin/postqueue", "-c", str(self.conf), "-j"], capture_output=True,
                           text=True, check=True)
        return [json.loads(line)["queue_id"] for line in r.stdout.splitlines()]

    def _sessions(self, sid):
        # The master makes its own session: whatever is left in it is this instance's
        left = []
        for p in Path("/proc").iterdir():
            if p.name.isdigit():
                try:
                    state, _ppid, _pgrp, session = (p / "stat").read_text().rsplit(")", 1)[1].split()[:4]
                    if int(session) == sid and state != "Z":  # a zombie is init's to reap
                        left.append(int(p.name))
                except (OSError, IndexError, ValueError):
                    pass
        return left

    def stop(self):
        # SIGTERM to the master, which ends its daemons; postfix-script, waiting on it, then exits
        pidfile = self.path / "queue" / "pid" / "master.pid"
        master = int(pidfile.read_text().split()[0]) if pidfile.exists() else None
        try:
            os.kill(master or self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if master:
            wait_for(lambda: not self._sessions(master), 10, "postfix's processes to end")
        self.logf.close()
        shutil.rmtree(self.path, ignore_errors=True)
