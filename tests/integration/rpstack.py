"""rpstack: real relying parties of an OpenID Connect provider, started by the tests as private,
unprivileged processes on loopback ports (never the system services):

- Apache 2 with mod_auth_openidc protecting /protected/ (a CGI page echoing the OIDC_CLAIM_*
  variables), configured only by OIDCProviderMetadataURL, a client id/secret, the redirect URI and
  the crypto passphrase (plus PKCE S256, not the default in 2.4.12); back-channel logout reaches it
  at its redirect URI with `?logout=backchannel`;
- Dovecot 2.3 IMAP with `passdb oauth2` (token introspection, introspection_mode = post, the
  client's credentials as HTTP Basic in the URL's userinfo), mail in a temporary directory.

Both run as `nobody` (the tests run as root) in a directory of their own under /tmp that nobody
can read; the provider is anything with a discovery URL (see test_rp_clients.py's fixture).
"""
import grp
import os
import pwd
import shutil
import signal
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

    def start(self, introspection_url, client_id, client_secret, username_attribute="email", pam=None):
        """pam: (pam.d directory for pam_wrapper, service name): a second passdb, `passdb pam`,
        for the LOGIN and PLAIN mechanisms (the mail clients' app passwords and device credentials)."""
        self.dir = RpDir("mm-dovecot-")
        d = self.dir.path
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
service anvil {{
  chroot =
}}
service auth {{
  unix_listener auth-userdb {{
    mode = 0600
  }}
}}
""")
        self.dir.own()
        self._start(["/usr/sbin/dovecot", "-F", "-c", str(d / "dovecot.conf")], d / "dovecot.out",
                    self.port, "dovecot", env=env)
        return self

    def log(self):
        p = self.dir.path / "dovecot.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self):
        self._stop(self.dir.path / "run" / "master.pid")
        self.dir.remove()
