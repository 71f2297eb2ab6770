"""The Debian packages, built from this tree and installed on this machine:
dpkg-buildpackage and lintian pass, install creates the user and the key,
the installed daemon accepts the installed config and serves as _medimail,
the schema loader works on a cn=config slapd, libnss-medimail adds itself to
nsswitch.conf and libpam-medimail to the common-* PAM files (pam-auth-update),
and purge puts /etc back exactly as it was. The CI test then runs the
installed daemon on the compiled-in paths and logs in through the installed
PAM module with the system's libpam and resolves the account through the
installed NSS module with the system's nsswitch.conf. A finalizer restores
the snapshots even on failure."""
import json
import os
import re
import pwd
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from mmstack import SUFFIX, TOP, Daemon, free_port, wait_for

PKGS = ["medimail-authd", "medimail-ldap-schema", "libpam-medimail", "libnss-medimail"]
# Files a package install may touch in /etc; restored byte for byte afterwards.
ETC_FILES = ["/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow",
             "/etc/passwd-", "/etc/group-", "/etc/shadow-", "/etc/gshadow-", "/etc/subuid", "/etc/subgid"]
MADE_PATHS = ["/etc/medimail", "/var/lib/medimail", "/run/medimail",
              "/etc/systemd/system/multi-user.target.wants/medimail-authd.service"]
# pam-auth-update's record of the profiles it has seen and enabled.
PAM_STATE = Path("/var/lib/pam")
CI_SERVICE = Path("/etc/pam.d/medimail-ci-test")


def sh(*cmd, check=True, **kw):
    r = subprocess.run(list(cmd), capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def installed(pkg):
    r = sh("dpkg-query", "-W", "-f=${db:Status-Abbrev}", pkg, check=False)
    return r.returncode == 0 and r.stdout.startswith("i")


def pamd_snapshot(d=Path("/etc/pam.d")):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()} if d.is_dir() else {}


def restore_dir(d, saved):
    now = pamd_snapshot(d)
    for name in set(now) - set(saved):
        (d / name).unlink()
    for name, data in saved.items():
        if now.get(name) != data:
            (d / name).write_bytes(data)


def nss_line(db, text):
    """The sources of db in an nsswitch.conf text."""
    for line in text.splitlines():
        if line.split("#")[0].startswith(db + ":"):
            return line.split("#")[0].split(":", 1)[1].split()
    return []


def etc_snapshot():
    snap = {}
    for f in ETC_FILES:
        p = Path(f)
        snap[f] = (p.read_bytes(), p.stat()) if p.exists() else None
    return snap


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    """Build the packages from a copy of the working tree (not ../ of the checkout)."""
    top = tmp_path_factory.mktemp("deb")
    src = top / "medimail-auth"
    shutil.copytree(TOP, src, ignore=shutil.ignore_patterns(".git", "build*", "obj-*", "state", "__pycache__",
                                                           ".pytest_cache"))
    r = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = {p.name.split("_")[0]: p for p in top.glob("*.deb")}
    assert set(PKGS) <= set(out)
    return out


def debs_of(debs):
    return [str(debs[p]) for p in PKGS]


@pytest.fixture
def clean_system():
    """Snapshot what installing may change; purge and restore afterwards, whatever happens."""
    for pkg in PKGS:
        assert not installed(pkg), f"{pkg} is already installed here: refusing to touch it"
    for p in MADE_PATHS:
        assert not os.path.lexists(p), f"{p} exists before the test: refusing to touch it"
    assert not CI_SERVICE.exists()
    etc, pamd, pam_state = etc_snapshot(), pamd_snapshot(), pamd_snapshot(PAM_STATE)
    daemons = []
    yield etc, pamd, daemons
    for proc in daemons:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    subprocess.run(["dpkg", "--purge", *PKGS], capture_output=True)
    for f, saved in etc.items():
        p = Path(f)
        if saved is None:
            if p.exists():
                p.unlink()
        elif p.read_bytes() != saved[0]:
            p.write_bytes(saved[0])
            os.chmod(p, stat.S_IMODE(saved[1].st_mode))
            os.chown(p, saved[1].st_uid, saved[1].st_gid)
    restore_dir(Path("/etc/pam.d"), pamd)
    restore_dir(PAM_STATE, pam_state)
    for p in MADE_PATHS:
        if os.path.islink(p) or os.path.isfile(p):
            os.unlink(p)
        elif os.path.isdir(p):
            shutil.rmtree(p)


def test_lintian_reports_no_error(debs):
    r = sh("lintian", "--allow-root", "--fail-on", "error", *debs_of(debs), check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not [l for l in r.stdout.splitlines() if l.startswith("E:")]


def test_package_contents(debs):
    files = sh("dpkg-deb", "-c", str(debs["medimail-authd"])).stdout
    for f in ["./usr/sbin/medimail-authd", "./usr/bin/medimailctl", "./etc/medimail/authd.conf",
              "./lib/systemd/system/medimail-authd.service", "./usr/share/man/man8/medimail-authd.8.gz",
              "./usr/share/man/man5/medimail-authd.conf.5.gz", "./usr/share/man/man1/medimailctl.1.gz"]:
        assert f in files, f
    ctl = sh("dpkg-deb", "-f", str(debs["medimail-authd"]), "Depends").stdout
    assert "adduser" in ctl and "libsodium" in ctl
    tmp = debs["medimail-authd"].parent / "ctrl"
    sh("dpkg-deb", "-e", str(debs["medimail-authd"]), str(tmp))
    assert (tmp / "conffiles").read_text().split() == ["/etc/medimail/authd.conf"]
    schema = sh("dpkg-deb", "-c", str(debs["medimail-ldap-schema"])).stdout
    for f in ["medimail.ldif", "medimail.schema", "indexes.ldif", "acl.conf"]:
        assert f"./usr/share/medimail/ldap-schema/{f}" in schema
    assert "./usr/sbin/medimail-ldap-schema-load" in schema


def _cn_config_slapd(tmp: Path):
    """A slapd with cn=config (like Debian's), core/cosine/nis/inetorgperson, one mdb database."""
    d = tmp / "cnconfig"
    (d / "slapd.d").mkdir(parents=True)
    (d / "db").mkdir()
    sock = d / "ldapi"
    ldif = f"""dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {d}/slapd.pid

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

"""
    for s in ["core", "cosine", "nis", "inetorgperson"]:
        ldif += Path(f"/etc/ldap/schema/{s}.ldif").read_text() + "\n"
    ldif += f"""dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by dn.exact=gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth manage by * break

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {SUFFIX}
olcDbDirectory: {d}/db
olcDbIndex: objectClass eq
olcAccess: {{0}}to * by dn.exact=gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth manage by * break
"""
    (d / "config.ldif").write_text(ldif)
    sh("slapadd", "-n0", "-F", str(d / "slapd.d"), "-l", str(d / "config.ldif"))
    uri = "ldapi://" + str(sock).replace("/", "%2F")
    sh("slapd", "-F", str(d / "slapd.d"), "-h", uri)
    wait_for(lambda: sh("ldapsearch", "-Q", "-Y", "EXTERNAL", "-H", uri, "-b", "cn=config", "-s", "base",
                        check=False).returncode == 0, what="cn=config slapd")
    return d, uri


def test_install_run_purge(debs, clean_system, tmp_path, slapd):
    etc_before, pamd_before, _ = clean_system
    sh("dpkg", "-i", *debs_of(debs))

    # the NSS module is on the passwd and group lines, the PAM module in the common-* files
    nsswitch = Path("/etc/nsswitch.conf").read_text()
    for db in ("passwd", "group"):
        assert nss_line(db, nsswitch) == nss_line(db, etc_before["/etc/nsswitch.conf"][0].decode()) + ["medimail"]
    assert "medimail" not in nss_line("shadow", nsswitch)
    assert Path("/usr/lib/x86_64-linux-gnu/libnss_medimail.so.2").exists()
    assert Path("/lib/x86_64-linux-gnu/security/pam_medimail.so").exists()
    common = {f: Path("/etc/pam.d", f).read_text() for f in ("common-auth", "common-account", "common-password",
                                                              "common-session")}
    for f, text in common.items():
        assert "pam_medimail.so" in text, f
    # host users get PAM_IGNORE from the module: the account line must not turn it into "bad"
    acct = [line for line in common["common-account"].splitlines() if "pam_medimail.so" in line]
    assert len(acct) == 1 and "ignore=ignore" in acct[0] and "default=bad" in acct[0], acct
    # reinstalling the modules adds nothing twice
    sh("dpkg", "-i", str(debs["libnss-medimail"]), str(debs["libpam-medimail"]))
    assert Path("/etc/nsswitch.conf").read_text() == nsswitch
    assert Path("/etc/pam.d/common-auth").read_text() == common["common-auth"]

    # the system user and the key
    pw = pwd.getpwnam("_medimail")
    assert 0 < pw.pw_uid < 1000 and pw.pw_dir == "/var/lib/medimail"
    key = Path("/etc/medimail/hash.key")
    st = key.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == pw.pw_uid
    text = key.read_text()
    assert len(text.strip()) == 64 and int(text, 16) != 0
    assert Path("/var/lib/medimail/mc").is_dir()

    # the installed daemon accepts the installed config, as root and as _medimail
    r = sh("/usr/sbin/medimail-authd", "-t")
    assert "/etc/medimail/authd.conf: ok" in r.stdout
    sh("setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups",
       "/usr/sbin/medimail-authd", "-t", "-c", "/etc/medimail/authd.conf")
    assert "medimailctl" in sh("man", "-w", "medimailctl").stdout

    # reinstalling (the upgrade path) keeps the key
    sh("dpkg", "-i", str(debs["medimail-authd"]))
    assert key.read_text() == text

    # the installed daemon runs as _medimail with the generated key; clients,
    # root or not, trust its socket in a directory only it can write
    run = tmp_path / "run"
    run.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chown(run, pw.pw_uid, pw.pw_gid)
    ldap_pw = tmp_path / "ldap.pw"
    shutil.copy(slapd.authd_pw_file, ldap_pw)
    os.chown(ldap_pw, pw.pw_uid, pw.pw_gid)
    os.chmod(ldap_pw, 0o600)
    conf = tmp_path / "authd.conf"
    conf.write_text(f"socket = {run}/authd.sock\nlog_stderr = yes\nldap_uri = {slapd.ldap_url}\n"
                    f"ldap_base = {SUFFIX}\nldap_bind_dn = cn=authd,ou=system,{SUFFIX}\n"
                    f"ldap_bind_password_file = {ldap_pw}\nhash_key_file = /etc/medimail/hash.key\n"
                    f"cache_dir = {run}/mc\n")
    os.chmod(conf, 0o644)
    proc = subprocess.Popen(["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups",
                             "/usr/sbin/medimail-authd", "-f", "-c", str(conf)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: (run / "authd.sock").exists() or proc.poll() is not None, what="installed daemon")
        assert proc.poll() is None
        assert (run / "authd.sock").stat().st_uid == pw.pw_uid
        ping = sh("/usr/bin/medimailctl", "--socket", f"{run}/authd.sock", "ping")
        assert "0.1.0" in ping.stdout
        as_nobody = sh("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                       "/usr/bin/medimailctl", "--socket", f"{run}/authd.sock", "ping")
        assert "0.1.0" in as_nobody.stdout
        # the same socket in a directory others may write is refused
        os.chmod(run, 0o777)
        refused = sh("/usr/bin/medimailctl", "--socket", f"{run}/authd.sock", "ping", check=False)
        assert refused.returncode == 3 and "Operation not permitted" in refused.stderr
        os.chmod(run, 0o755)
    finally:
        proc.terminate()
        proc.wait(10)

    # the schema loader, on a cn=config slapd like Debian's
    d, uri = _cn_config_slapd(tmp_path)
    try:
        out = sh("/usr/sbin/medimail-ldap-schema-load", "-H", uri, "-b", SUFFIX).stdout
        assert "schema medimail loaded" in out and "indexes set on olcDatabase={1}mdb,cn=config" in out
        again = sh("/usr/sbin/medimail-ldap-schema-load", "-H", uri, "-b", SUFFIX).stdout
        assert "already loaded" in again
        schemas = sh("ldapsearch", "-Q", "-LLL", "-Y", "EXTERNAL", "-H", uri, "-b", "cn=schema,cn=config",
                     "-s", "one", "cn").stdout
        assert schemas.count("medimail") == 2          # dn and cn, once
        idx = sh("ldapsearch", "-Q", "-LLL", "-Y", "EXTERNAL", "-H", uri, "-b", "olcDatabase={1}mdb,cn=config",
                 "-s", "base", "olcDbIndex").stdout
        assert "mmLoginMail eq" in idx and "mmConfirmHash eq" in idx
        # the loaded schema is usable: an account entry is accepted
        add = sh("ldapadd", "-Q", "-Y", "EXTERNAL", "-H", uri, input=f"""dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
dc: medimail
o: medimail
""")
        assert add.returncode == 0
        bad = sh("/usr/sbin/medimail-ldap-schema-load", "-H", uri, "-b", "dc=nowhere", check=False)
        assert bad.returncode == 1 and "no database with suffix dc=nowhere" in bad.stderr
    finally:
        pid = (d / "slapd.pid").read_text().strip()
        os.kill(int(pid), 15)
        wait_for(lambda: not Path(f"/proc/{pid}").exists(), what="cn=config slapd to stop")

    # purge: nothing of ours is left and /etc is back to what it was
    sh("dpkg", "--purge", *PKGS)
    for pkg in PKGS:
        assert not installed(pkg)
    with pytest.raises(KeyError):
        pwd.getpwnam("_medimail")
    for p in MADE_PATHS:
        assert not os.path.lexists(p), p
    assert pamd_snapshot() == pamd_before
    after = etc_snapshot()
    assert after["/etc/nsswitch.conf"][0] == etc_before["/etc/nsswitch.conf"][0]
    for f in ["/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"]:
        assert (after[f] and after[f][0]) == (etc_before[f] and etc_before[f][0]), f


def test_ci_installed_modules_log_in_and_resolve(debs, clean_system, tmp_path, slapd, smtp):
    """Issue 9, CI: the installed daemon on its compiled-in paths (/run/medimail/authd.sock,
    /var/lib/medimail/mc), an account made with the installed medimailctl, then the installed
    NSS module through the nsswitch.conf the package edited and the installed PAM module
    through the system's libpam and a service file in /etc/pam.d."""
    from pamstack import P_CODE, P_PASSWORD, Codes, SystemPam, pamtester

    etc_before, pamd_before, daemons = clean_system
    sh("dpkg", "-i", *debs_of(debs))
    pw = pwd.getpwnam("_medimail")
    sock = Path("/run/medimail/authd.sock")

    # the daemon's configuration: the test stack's directory and mail sink (with its uid and
    # gid ranges: the session's other daemons allocate from them too), the package's key,
    # the socket and cache directory the modules look for by default
    Path("/run/medimail").mkdir(mode=0o755)
    os.chown("/run/medimail", pw.pw_uid, pw.pw_gid)
    os.chmod(tmp_path, 0o755)
    ldap_pw = tmp_path / "ldap.pw"
    shutil.copy(slapd.authd_pw_file, ldap_pw)
    os.chown(ldap_pw, pw.pw_uid, pw.pw_gid)
    os.chmod(ldap_pw, 0o600)
    conf = tmp_path / "authd.conf"
    conf.write_text(f"""socket = {sock}
pid_file = /run/medimail/authd.pid
log_stderr = yes
log_level = debug
ldap_uri = {slapd.ldap_url}
ldap_base = {SUFFIX}
ldap_bind_dn = cn=authd,ou=system,{SUFFIX}
ldap_bind_password_file = {ldap_pw}
ldap_timeout = 3
smtp_url = smtp://127.0.0.1:{smtp.port}
smtp_timeout = 3
hash_key_file = /etc/medimail/hash.key
argon2_opslimit = 1
argon2_memlimit = 8388608
regions_open = Occitanie
uid_min = 1900210000
uid_max = 1900219999
gid_min = 1910310000
gid_max = 1910310999
cache_dir = /var/lib/medimail/mc
cache_refresh = 1
otp_resend_interval = 1
""")
    os.chmod(conf, 0o644)
    log = open(tmp_path / "authd.log", "wb")
    proc = subprocess.Popen(["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups",
                             "/usr/sbin/medimail-authd", "-f", "-c", str(conf)], stdout=log, stderr=log)
    daemons.append(proc)
    try:
        wait_for(lambda: sock.exists() or proc.poll() is not None, what="installed daemon")
        assert proc.poll() is None, (tmp_path / "authd.log").read_text()

        def ctl(*args, input=None):
            r = sh("/usr/bin/medimailctl", "--json", *args, input=input, check=False)
            assert r.returncode == 0, r.stdout + r.stderr
            return json.loads(r.stdout)["fields"]

        # an account, with the installed medimailctl on its default socket
        stamp = "".join(chr(ord("a") + int(c)) for c in str(time.time_ns())[-6:])
        mail = f"ci.{stamp}@example.org"
        password = "Install#2024ci"
        login = ctl("register", "MED", "--password-stdin", "--login-mail", mail, "--sn", "INSTALLE" + stamp.upper(),
                    "--given-name", "Camille", "--raison-sociale", "Cabinet CI", "--region", "Occitanie",
                    input=password + "\n")["login"]
        ctl("confirm", "--token-stdin", input=smtp.token(mail) + "\n")
        ctl("validate", login)
        uid = int(slapd.search(SUFFIX, f"(uid={login})", "uidNumber")[0]["uidNumber"][0])

        # (a) the installed NSS module, through the real /etc/nsswitch.conf, no override
        env = SystemPam("").env()

        def getent():
            return subprocess.run(["getent", "passwd", login], capture_output=True, text=True, env=env)
        wait_for(lambda: getent().returncode == 0, 15, f"getent passwd {login}")
        fields = getent().stdout.strip().split(":")
        assert fields[0] == login and int(fields[2]) == uid, fields
        gid = int(fields[3])
        assert fields[4] == f"Camille INSTALLE{stamp.upper()}"
        by_uid = sh("getent", "passwd", str(uid), env=env).stdout
        assert by_uid.split(":")[0] == login
        ident = sh("id", login, env=env).stdout
        assert ident.startswith(f"uid={uid}({login}) gid={gid}"), ident
        assert sh("id", "-u", login, env=env).stdout.strip() == str(uid)
        assert subprocess.run(["getent", "passwd", "ci.nobody.such"], env=env, capture_output=True).returncode == 2

        # (b) the installed PAM module through the system's libpam and a service file of ours
        CI_SERVICE.write_text("auth required pam_medimail.so\naccount required pam_medimail.so\n"
                              "session required pam_medimail.so\n")
        os.chmod(CI_SERVICE, 0o644)
        codes = Codes(smtp)
        before = codes.count(mail)
        svc = SystemPam(CI_SERVICE.name)
        r = pamtester(svc, login, ["authenticate", "acct_mgmt"],
                      [(P_PASSWORD, password), (P_CODE, lambda: codes.wait_new(mail, before)),
                       (r"\(oui/non\)", "oui")])
        assert r.status == 0, r
        assert "successfully authenticated" in r.output and "account management done" in r.output, r
        assert re.search(rf'audit="otp-verify".*account="{re.escape(login)}" result="ok"',
                         (tmp_path / "authd.log").read_text())
        # a wrong password is refused, and mails no code
        before = codes.count(mail)
        r = pamtester(svc, login, ["authenticate"], [(P_PASSWORD, password + "x")])
        assert r.status != 0 and "Identifiant ou mot de passe incorrect" in r.output, r
        assert codes.count(mail) == before

        # the same login through the common-auth and common-account that pam-auth-update
        # wrote: pam_unix asks for the password first, the package's profile passes it on
        # (use_first_pass); pam_unix's account check accepts a user without a shadow entry
        # because the module's password field is "*", as SSSD's is
        CI_SERVICE.write_text("@include common-auth\n@include common-account\n")
        time.sleep(1.2)  # otp_resend_interval: a new code may be mailed
        r = pamtester(svc, login, ["authenticate", "acct_mgmt"],
                      [(r"[Pp]assword: |Mot de passe : ", password), (P_CODE, lambda: codes.wait_new(mail, before))])
        assert r.status == 0, r
        assert "successfully authenticated" in r.output and "account management done" in r.output, r
        assert fields[1] == "*"
        CI_SERVICE.unlink()
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        shutil.rmtree("/run/medimail", ignore_errors=True)

    # purge: the modules are gone from nsswitch.conf and pam.d, byte for byte
    sh("dpkg", "--purge", *PKGS)
    assert not os.path.lexists("/run/medimail")
    assert pamd_snapshot() == pamd_before
    assert Path("/etc/nsswitch.conf").read_bytes() == etc_before["/etc/nsswitch.conf"][0]
    assert subprocess.run(["getent", "passwd", login], capture_output=True).returncode == 2
