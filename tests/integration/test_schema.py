"""Integration tests of the LDAP schema, indexes, ACLs and scripts/slapd.sh.

Each test module run starts private slapd processes under pytest temporary
directories; fixture finalizers stop them even when a test fails.
Run as root: local root over ldapi is the rootdn.
"""

import ctypes
import ctypes.util
import os
import re
import signal
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

from mmstack import free_port

ROOT = Path(__file__).resolve().parents[2]
SLAPD_SH = ROOT / "scripts" / "slapd.sh"
SCHEMA_DIR = ROOT / "ldap-schema"
SYS_SCHEMA = Path("/etc/ldap/schema")
SUFFIX = "dc=medimail,dc=test"
PEOPLE = "ou=people," + SUFFIX
ORGS = "ou=orgs," + SUFFIX
AUTHD_DN = "cn=authd,ou=system," + SUFFIX
PASSWORD = "S3cret!pass"




# ---------------------------------------------------------------- helpers

def run(cmd, *, input=None, env=None, check=True):
    proc = subprocess.run(cmd, input=input, env=env, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(
            "%r failed (%d)\nstdout: %s\nstderr: %s" % (cmd, proc.returncode, proc.stdout, proc.stderr)
        )
    return proc


def parse_ldif(text):
    """Parse ldapsearch -LLL output into [(dn, {attr_lower: [values]})]."""
    entries = []
    lines = []
    for line in text.splitlines():
        if line.startswith(" ") and lines:
            lines[-1] += line[1:]
        else:
            lines.append(line)
    dn, attrs = None, {}
    for line in lines + [""]:
        if not line.strip():
            if dn is not None:
                entries.append((dn, attrs))
            dn, attrs = None, {}
            continue
        if line.startswith("#"):
            continue
        name, sep, value = line.partition(":")
        if value.startswith(":"):
            import base64

            value = base64.b64decode(value[1:].strip()).decode("utf-8", "replace")
        else:
            value = value.strip()
        if name.lower() == "dn":
            dn = value
        else:
            attrs.setdefault(name.lower(), []).append(value)
    return entries


def schema_names(text):
    """NAMEs of attribute types and object classes in schema text (either format)."""
    # Unfold LDIF continuation lines, then look at every definition.
    text = re.sub(r"\n ", "", text)
    attrs, classes = set(), set()
    pattern = re.compile(
        r"(attributetype|objectclass|olcAttributeTypes:|olcObjectClasses:)\s*(?:\{\d+\})?\s*\("
        r"\s*\S+\s+NAME\s+(\(\s*(?:'[^']+'\s*)+\)|'[^']+')",
        re.IGNORECASE,
    )
    for kind, names in pattern.findall(text):
        target = attrs if kind.lower().startswith(("attributetype", "olcattributetypes")) else classes
        target.update(re.findall(r"'([^']+)'", names))
    return attrs, classes


def schema_definitions(text):
    """From slapd.conf-format schema: {attr: (syntax_oid, single)} and {class: (must, may)}."""
    attrs, classes = {}, {}
    # Definitions are separated by blank lines in medimail.schema.
    for block in re.split(r"\n\s*\n", text):
        block = "\n".join(line for line in block.splitlines() if not line.startswith("#")).strip()
        m = re.search(r"NAME\s+'([^']+)'", block)
        if block.lower().startswith("attributetype"):
            syntax = re.search(r"SYNTAX\s+([0-9.]+)", block).group(1)
            attrs[m.group(1)] = (syntax, "SINGLE-VALUE" in block)
        elif block.lower().startswith("objectclass"):

            def names(keyword):
                found = re.search(keyword + r"\s+(\([^)]*\)|\S+)", block)
                if not found:
                    return []
                return [n.strip() for n in found.group(1).strip("()").split("$") if n.strip()]

            classes[m.group(1)] = (names("MUST"), names("MAY"))
    return attrs, classes


def argon2_sodium(password):
    """An {ARGON2} value as libsodium's crypto_pwhash_str makes it (argon2id)."""
    path = ctypes.util.find_library("sodium")
    if not path:
        return None
    lib = ctypes.CDLL(path)
    if lib.sodium_init() < 0:
        return None
    lib.crypto_pwhash_opslimit_interactive.restype = ctypes.c_size_t
    lib.crypto_pwhash_memlimit_interactive.restype = ctypes.c_size_t
    out = ctypes.create_string_buffer(128)
    pw = password.encode()
    rc = lib.crypto_pwhash_str(
        out,
        pw,
        ctypes.c_ulonglong(len(pw)),
        ctypes.c_ulonglong(lib.crypto_pwhash_opslimit_interactive()),
        ctypes.c_size_t(lib.crypto_pwhash_memlimit_interactive()),
    )
    assert rc == 0
    return "{ARGON2}" + out.value.decode()


def argon2_slappasswd(password):
    proc = run(
        ["slappasswd", "-o", "module-path=/usr/lib/ldap", "-o", "module-load=argon2.so",
         "-h", "{ARGON2}", "-s", password]
    )
    return proc.stdout.strip()


def kill_pidfile(pidfile):
    try:
        pid = int(Path(pidfile).read_text().strip())
    except (OSError, ValueError):
        return
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


class Slapd:
    """One scripts/slapd.sh instance."""

    def __init__(self, state, port, user_binds=True):
        self.state = Path(state)
        self.port = port
        # Most tests here read the views as bound accounts: user binds on.
        self.env = dict(os.environ, MM_STATE=str(state), MM_LDAP_PORT=str(port),
                        MM_USER_BINDS="yes" if user_binds else "no")
        self.env.pop("MM_SUFFIX", None)
        self.env.pop("MM_AUTHD_PW", None)

    def sh(self, action, check=True):
        return run([str(SLAPD_SH), action], env=self.env, check=check)

    def start(self):
        return self.sh("start")

    def stop(self):
        self.sh("stop", check=False)
        kill_pidfile(self.state / "slapd" / "slapd.pid")  # in case the script failed

    @property
    def ldap_url(self):
        return "ldap://127.0.0.1:%d/" % self.port

    @property
    def ldapi_url(self):
        return "ldapi://" + urllib.parse.quote(str(self.state / "slapd" / "ldapi"), safe="")

    @property
    def authd_pw(self):
        return (self.state / "slapd" / "authd.pw").read_text()

    # root over ldapi (SASL EXTERNAL), mapped to the rootdn
    def root_add(self, ldif, check=True):
        return run(["ldapadd", "-Q", "-Y", "EXTERNAL", "-H", self.ldapi_url], input=ldif, check=check)

    def root_modify(self, ldif, check=True):
        return run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", self.ldapi_url], input=ldif, check=check)

    def root_search(self, base, filt="(objectClass=*)", *attrs, scope="sub"):
        proc = run(["ldapsearch", "-Q", "-LLL", "-o", "ldif-wrap=no", "-Y", "EXTERNAL", "-H", self.ldapi_url,
                    "-b", base, "-s", scope, filt, *attrs])
        return parse_ldif(proc.stdout)

    # simple bind over TCP; dn=None is anonymous
    def search(self, dn, password, base, filt="(objectClass=*)", *attrs, scope="sub", check=False):
        cmd = ["ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", self.ldap_url, "-b", base, "-s", scope]
        if dn is not None:
            cmd += ["-D", dn, "-w", password]
        proc = run(cmd + [filt, *attrs], check=check)
        return proc, parse_ldif(proc.stdout)

    def modify(self, dn, password, ldif, check=False):
        return run(["ldapmodify", "-x", "-H", self.ldap_url, "-D", dn, "-w", password], input=ldif, check=check)

    def whoami(self, dn, password):
        return run(["ldapwhoami", "-x", "-H", self.ldap_url, "-D", dn, "-w", password], check=False)


@pytest.fixture(scope="module")
def slapd(tmp_path_factory, request):
    server = Slapd(tmp_path_factory.mktemp("mm"), free_port())
    request.addfinalizer(server.stop)
    server.start()
    return server


def account_ldif(uid, *, extra=(), password=None, mail=None):
    lines = [
        "dn: uid=%s,%s" % (uid, PEOPLE),
        "objectClass: mmAccount",
        "uid: %s" % uid,
        "mmAccountType: PER",
        "mmStatus: active",
        "mmLoginMail: %s" % (mail or uid + "@example.org"),
        "cn: %s" % uid,
    ]
    if password:
        lines.append("userPassword: %s" % password)
    lines += list(extra)
    return "\n".join(lines) + "\n\n"


# ------------------------------------------------------------ slapd.sh

def test_slapd_sh_lifecycle(tmp_path_factory, request):
    server = Slapd(tmp_path_factory.mktemp("life"), free_port())
    request.addfinalizer(server.stop)
    sdir = server.state / "slapd"

    assert server.sh("status", check=False).returncode != 0
    out = server.start().stdout
    assert out.strip() == "%s %s" % (server.ldap_url, server.ldapi_url)
    assert server.sh("status").returncode == 0
    assert server.sh("url").stdout.splitlines() == [server.ldap_url, server.ldapi_url]
    for name in ("admin.pw", "authd.pw", "mail.pw", "annuaire.pw"):
        assert (sdir / name).stat().st_mode & 0o777 == 0o600
        assert len((sdir / name).read_text()) >= 16

    dns = {dn.lower() for dn, _ in server.root_search(SUFFIX, "(objectClass=*)", "1.1")}
    expected = {SUFFIX, PEOPLE, ORGS, "ou=sessions," + SUFFIX, "ou=services," + SUFFIX,
                "ou=system," + SUFFIX, AUTHD_DN, "cn=mail,ou=system," + SUFFIX,
                "cn=annuaire-sante,ou=system," + SUFFIX, "ou=policies," + SUFFIX,
                "cn=lockout,ou=policies," + SUFFIX}
    assert dns == {d.lower() for d in expected}
    assert run(["ldapwhoami", "-Q", "-Y", "EXTERNAL", "-H", server.ldapi_url]).stdout.strip() == \
        "dn:cn=admin," + SUFFIX
    assert server.whoami(AUTHD_DN, server.authd_pw).returncode == 0

    # start again while running: nothing changes
    pid = (sdir / "slapd.pid").read_text().strip()
    server.start()
    assert (sdir / "slapd.pid").read_text().strip() == pid

    server.root_add(account_ldif("persist"))
    server.sh("stop")
    assert server.sh("status", check=False).returncode != 0
    assert not (sdir / "slapd.pid").exists()
    assert not os.path.exists("/proc/" + pid)
    server.sh("stop")  # stopping a stopped server is fine

    server.start()
    assert server.root_search("uid=persist," + PEOPLE, scope="base")
    assert server.whoami(AUTHD_DN, server.authd_pw).returncode == 0

    # MM_AUTHD_PW given later replaces the daemon's password
    server.env["MM_AUTHD_PW"] = "An0ther-daemon-pw"
    server.start()
    assert server.authd_pw == "An0ther-daemon-pw"
    assert server.whoami(AUTHD_DN, "An0ther-daemon-pw").returncode == 0
    server.sh("stop")


def test_slapd_sh_requires_state():
    env = dict(os.environ)
    env.pop("MM_STATE", None)
    proc = run([str(SLAPD_SH), "status"], env=env, check=False)
    assert proc.returncode != 0 and "MM_STATE" in proc.stderr


# ------------------------------------------------------------- schema

def full_account_values():
    """One or more values for every attribute mmAccount allows."""
    attrs, classes = schema_definitions((SCHEMA_DIR / "medimail.schema").read_text())
    must, may = classes["mmAccount"]
    syntax_value = {
        "1.3.6.1.4.1.1466.115.121.1.26": "x-value",
        "1.3.6.1.4.1.1466.115.121.1.36": "10001234567",
        "1.3.6.1.4.1.1466.115.121.1.15": "Texte accentué",
        "1.3.6.1.4.1.1466.115.121.1.7": "TRUE",
        "1.3.6.1.4.1.1466.115.121.1.27": "3",
        "1.3.6.1.4.1.1466.115.121.1.24": "20250102030405Z",
        "1.3.6.1.4.1.1466.115.121.1.12": "uid=other," + PEOPLE,
        "1.3.6.1.4.1.1466.115.121.1.40": "opaque-hash",
    }
    special = {
        "uid": ["full"],
        "mmAccountType": ["PER"],
        "mmStatus": ["active"],
        "mmLoginMail": ["jean.dupont@example.org"],
        "mmMssAddress": ["jean.dupont@medecin.mssante.fr"],
        "mmAdeli": ["2A0012345"],
        "mmNationalId": ["810001234567"],
        "mmStructIdType": ["FINESS"],
        "mmStructId": ["750000001"],
        "mmProfessionCode": ["10"],
        "mmSearchKey": ["jean", "dupont", "medecin"],
        "mmCardCert": ["sha256:" + "ab" * 32],
        "mmPscSub": ["f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:ANS"],
        "mmSignature": ['{"id":1,"text":"Dr Dupont"}', '{"id":2,"text":"J. Dupont"}'],
        "mmDevice": ['{"id":"a1","name":"phone"}'],
        "mmAutoReply": ['{"active":false}'],
        "mmDelegate": ["secretariat@example.org", "remplacant@example.org"],
        "mmMember": ["uid=a," + PEOPLE, "uid=b," + PEOPLE],
        "mmFavorite": ["uid=c," + PEOPLE],
        "cn": ["Jean Dupont"],
        "sn": ["Dupont"],
        "givenName": ["Jean"],
        "displayName": ["Dr Jean Dupont"],
        "mail": ["jean.dupont@example.org"],
        "telephoneNumber": ["+33 1 23 45 67 89"],
        "mobile": ["+33 6 12 34 56 78"],
        "street": ["1 rue de la Paix"],
        "postalCode": ["75002"],
        "l": ["Paris"],
        "st": ["Ile-de-France"],
        "o": ["Cabinet Dupont"],
        "ou": ["Cardiologie"],
        "description": ["a full account"],
        "userPassword": [argon2_slappasswd(PASSWORD)],
        "uidNumber": ["100001"],
        "gidNumber": ["100001"],
        "homeDirectory": ["/home/jean.dupont"],
        "loginShell": ["/bin/bash"],
        "memberUid": ["jean.dupont"],
    }
    values = {}
    for name in must + may:
        if name in special:
            values[name] = special[name]
        else:
            assert name in attrs, "no test value for " + name
            values[name] = [syntax_value[attrs[name][0]]]
    return values


def test_full_account(slapd):
    values = full_account_values()
    dn = "uid=full," + PEOPLE
    ldif = "dn: %s\nobjectClass: mmAccount\n" % dn
    ldif += "".join("%s: %s\n" % (k, v) for k, vs in values.items() for v in vs)
    slapd.root_add(ldif + "\n")
    [(got_dn, got)] = slapd.root_search(dn, "(objectClass=*)", "*", scope="base")
    for name, vs in values.items():
        assert sorted(got.get(name.lower(), [])) == sorted(vs), name
    # equality and substring matching on the indexed search attributes
    assert slapd.root_search(PEOPLE, "(mmLoginMail=JEAN.DUPONT@example.org)", "1.1")
    assert slapd.root_search(PEOPLE, "(&(mmSearchKey=dup*)(mmSearchKey=jean))", "1.1")
    assert slapd.root_search(PEOPLE, "(mmCardCert=sha256:%s)" % ("ab" * 32), "1.1")
    assert slapd.root_search(PEOPLE, "(mmMember=UID=A,ou=People,%s)" % SUFFIX, "1.1")
    assert slapd.root_search(PEOPLE, "(mmValidatedAt<=20260101000000Z)", "1.1")


def test_org_account(slapd):
    members = ["uid=m1," + PEOPLE, "uid=m2," + PEOPLE, "uid=m3," + PEOPLE]
    dn = "uid=cardio.75002.paris," + ORGS
    ldif = "\n".join([
        "dn: " + dn,
        "objectClass: mmAccount",
        "uid: cardio.75002.paris",
        "mmAccountType: ORG",
        "mmStatus: pending",
        "mmLoginMail: cardiologie@hopital.example.org",
        "mmStructIdType: FINESS",
        "mmStructId: 750000001",
        "mmRespSn: Martin",
        "mmRespGivenName: Claire",
        "mmRespProfession: Médecin",
        "mmRespRpps: 10001234568",
        "description: Service de cardiologie, Hôpital X, Paris 75002",
    ] + ["mmMember: " + m for m in members]) + "\n\n"
    slapd.root_add(ldif)
    [(_, got)] = slapd.root_search(dn, "(objectClass=*)", "mmMember", scope="base")
    assert sorted(v.lower() for v in got["mmmember"]) == sorted(m.lower() for m in members)
    # the ORGs of an individual account
    found = slapd.root_search(ORGS, "(&(mmAccountType=ORG)(mmMember=uid=m2,%s))" % PEOPLE, "1.1")
    assert [d.lower() for d, _ in found] == [dn.lower()]


@pytest.mark.parametrize("case", ["no-login-mail", "two-status", "two-rpps", "bad-boolean", "unknown-attr",
                                  "session-attr-on-account"])
def test_schema_violations(slapd, case):
    uid = "bad-" + case
    base = account_ldif(uid).rstrip("\n").split("\n")
    if case == "no-login-mail":
        lines = [line for line in base if not line.startswith("mmLoginMail:")]
    elif case == "two-status":
        lines = base + ["mmStatus: blocked"]
    elif case == "two-rpps":
        lines = base + ["mmRpps: 10001234567", "mmRpps: 10001234568"]
    elif case == "bad-boolean":
        lines = base + ["mmLiberal: yes"]
    elif case == "unknown-attr":
        lines = base + ["mmNoSuchThing: 1"]
    else:
        lines = base + ["mmSessionId: abcd"]
    proc = slapd.root_add("\n".join(lines) + "\n\n", check=False)
    assert proc.returncode != 0
    assert not slapd.root_search(PEOPLE, "(uid=%s)" % uid, "1.1")


def test_session_and_service_client(slapd):
    slapd.root_add(
        "dn: mmSessionId=0a1b2c,ou=sessions,%s\nobjectClass: mmSession\nmmSessionId: 0a1b2c\n"
        "mmSessionUser: uid=full,%s\nmmSessionAccount: uid=full,%s\n"
        "mmSessionExpires: 20300101000000Z\nmmSessionMethod: password+otp\nmmSessionService: login\n"
        "mmSessionRemote: 192.0.2.1\nmmTokenHash: h\n\n"
        "dn: mmClientId=webmail,ou=services,%s\nobjectClass: mmServiceClient\nmmClientId: webmail\n"
        "mmClientSecretHash: $argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA\ncn: Webmail\n\n"
        % (SUFFIX, PEOPLE, PEOPLE, SUFFIX)
    )
    assert slapd.root_search("ou=sessions," + SUFFIX, "(mmSessionId=0A1B2C)", "1.1")
    proc = slapd.root_add("dn: mmSessionId=x,ou=sessions,%s\nobjectClass: mmSession\nmmSessionId: x\n"
                          "mmSessionUser: uid=a,%s\nmmSessionUser: uid=b,%s\n\n" % (SUFFIX, PEOPLE, PEOPLE),
                          check=False)
    assert proc.returncode != 0


# ------------------------------------------------------------ passwords

@pytest.mark.parametrize("maker", ["slappasswd", "libsodium"])
def test_argon2_bind(slapd, maker):
    value = argon2_slappasswd(PASSWORD) if maker == "slappasswd" else argon2_sodium(PASSWORD)
    assert value is not None, "libsodium (libsodium23) must be installed"
    assert value.startswith("{ARGON2}$argon2")
    uid = "argon-" + maker
    dn = "uid=%s,%s" % (uid, PEOPLE)
    slapd.root_add(account_ldif(uid, password=value))
    ok = slapd.whoami(dn, PASSWORD)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().lower() == ("dn:" + dn).lower()
    bad = slapd.whoami(dn, PASSWORD + "x")
    assert bad.returncode == 49  # invalidCredentials
    assert slapd.whoami(dn, "").returncode != 0


# ----------------------------------------------------------------- ACLs

@pytest.fixture(scope="module")
def acl_users(slapd):
    pw = argon2_slappasswd(PASSWORD)
    # mmFailCount 0: an account with a failed login not yet forgiven does not bind
    secrets = ["mmOtpHash: otp-secret", "mmOtpTries: 1", "mmConfirmHash: confirm-secret",
               "mmFailCount: 0", "mmLockedUntil: 20200101000000Z", "mmSearchKey: alice"]
    slapd.root_add(account_ldif("alice", password=pw, extra=secrets) +
                   account_ldif("bob", password=pw, extra=secrets))
    return "uid=alice," + PEOPLE, "uid=bob," + PEOPLE


SECRET_ATTRS = ["mmConfirmHash", "mmOtpHash", "mmOtpExpires", "mmOtpTries", "mmOtpSentAt", "mmFailCount",
                "mmLockedUntil", "mmTokenHash", "mmClientSecretHash"]


def test_acl_anonymous(slapd, acl_users):
    for base in (SUFFIX, PEOPLE, acl_users[0]):
        proc, entries = slapd.search(None, None, base)
        assert entries == [], proc.stdout
    proc, entries = slapd.search(None, None, SUFFIX, "(uid=alice)", scope="sub")
    assert entries == []


def test_acl_user_reads_directory_not_secrets(slapd, acl_users):
    alice, bob = acl_users
    for target in (alice, bob):
        proc, entries = slapd.search(alice, PASSWORD, target, "(objectClass=*)", "*", *SECRET_ATTRS,
                                     "userPassword", scope="base")
        assert proc.returncode == 0, proc.stderr
        [(_, attrs)] = entries
        assert attrs["mmloginmail"]
        for name in SECRET_ATTRS + ["userPassword"]:
            assert name.lower() not in attrs, name
    # secret attributes cannot be probed through a filter either
    for filt in ("(mmOtpHash=otp-secret)", "(mmOtpHash=*)", "(mmFailCount>=0)"):
        proc, entries = slapd.search(alice, PASSWORD, PEOPLE, filt, "1.1")
        assert entries == [], filt
    # sessions and service clients are invisible
    for base in ("ou=sessions," + SUFFIX, "ou=services," + SUFFIX):
        proc, entries = slapd.search(alice, PASSWORD, base)
        assert entries == []


def test_acl_user_cannot_write(slapd, acl_users):
    alice, bob = acl_users
    for target, change in ((alice, "replace: mmStatus\nmmStatus: active2"),
                           (alice, "replace: userPassword\nuserPassword: Other-pass1!"),
                           (alice, "replace: mmOtpTries\nmmOtpTries: 0"),
                           (bob, "replace: description\ndescription: hacked")):
        proc = slapd.modify(alice, PASSWORD, "dn: %s\nchangetype: modify\n%s\n\n" % (target, change))
        assert proc.returncode == 50, (change, proc.stderr)  # insufficientAccessRights
    assert slapd.whoami(alice, PASSWORD).returncode == 0


def test_owner_cannot_write_a_newline_in_a_name(slapd, acl_users):
    """Names, places and activity reach GECOS and the directories: only the daemon's validators
    write them, never the owner's own bind."""
    import base64
    alice, _ = acl_users
    bad = base64.b64encode(b"Alice\nroot:x:0:0").decode()
    for attr in ("sn", "givenName", "l", "o", "mmProfessionCode", "street", "mmSpeciality"):
        proc = slapd.modify(alice, PASSWORD, "dn: %s\nchangetype: modify\nreplace: %s\n%s:: %s\n\n"
                            % (alice, attr, attr, bad))
        assert proc.returncode == 50, (attr, proc.stderr)  # insufficientAccessRights
    # the visibility flags stay the owner's (Boolean syntax: nothing else to smuggle)
    proc = slapd.modify(alice, PASSWORD, "dn: %s\nchangetype: modify\nreplace: mmVisibleMedimail\n"
                        "mmVisibleMedimail: FALSE\n\n" % alice)
    assert proc.returncode == 0, proc.stderr


def test_ldap_bind_guesses_lock_the_bind(slapd):
    """slapd.sh runs ppolicy with the shipped lockout.ldif: 10 wrong binds lock the account."""
    dn = "uid=guessed,%s" % PEOPLE
    slapd.root_add(account_ldif("guessed", password=argon2_slappasswd(PASSWORD)))
    assert slapd.whoami(dn, PASSWORD).returncode == 0
    for _ in range(10):
        assert slapd.whoami(dn, PASSWORD + "x").returncode == 49
    assert slapd.whoami(dn, PASSWORD).returncode == 49
    [(_, attrs)] = slapd.root_search(dn, "(objectClass=*)", "pwdAccountLockedTime", scope="base")
    assert attrs.get("pwdaccountlockedtime"), attrs


def test_user_binds_off_by_default_refuse_the_right_password(tmp_path_factory, request):
    """Without MM_USER_BINDS=yes an account cannot bind at all, even with its right password:
    the directory is no password oracle beside the login; the system identities still bind."""
    server = Slapd(tmp_path_factory.mktemp("nobind"), free_port(), user_binds=False)
    server.env.pop("MM_USER_BINDS")
    request.addfinalizer(server.stop)
    server.start()
    dn = "uid=nobind,%s" % PEOPLE
    server.root_add(account_ldif("nobind", password=argon2_slappasswd(PASSWORD)))
    assert server.whoami(dn, PASSWORD).returncode == 49
    assert server.whoami(AUTHD_DN, server.authd_pw).returncode == 0


def test_acl_authd_writes(slapd, acl_users):
    alice, _ = acl_users
    pw = slapd.authd_pw
    proc = slapd.modify(AUTHD_DN, pw, "dn: %s\nchangetype: modify\nreplace: mmOtpHash\nmmOtpHash: new-otp\n-\n"
                                      "replace: mmOtpTries\nmmOtpTries: 0\n-\nreplace: mmStatus\n"
                                      "mmStatus: validated\n\n" % alice)
    assert proc.returncode == 0, proc.stderr
    proc, [(_, attrs)] = slapd.search(AUTHD_DN, pw, alice, "(objectClass=*)", "mmOtpHash", "mmOtpTries",
                                      "mmStatus", scope="base")
    assert attrs == {"mmotphash": ["new-otp"], "mmotptries": ["0"], "mmstatus": ["validated"]}
    # sessions: create, find, delete
    sess = "mmSessionId=feed,ou=sessions," + SUFFIX
    proc = run(["ldapadd", "-x", "-H", slapd.ldap_url, "-D", AUTHD_DN, "-w", pw],
               input="dn: %s\nobjectClass: mmSession\nmmSessionId: feed\nmmTokenHash: t\n"
                     "mmSessionUser: %s\n\n" % (sess, alice), check=False)
    assert proc.returncode == 0, proc.stderr
    proc, entries = slapd.search(AUTHD_DN, pw, "ou=sessions," + SUFFIX, "(mmSessionId=feed)", "mmTokenHash")
    assert entries == [(sess, {"mmtokenhash": ["t"]})]
    assert run(["ldapdelete", "-x", "-H", slapd.ldap_url, "-D", AUTHD_DN, "-w", pw, sess],
               check=False).returncode == 0
    # the daemon sets a password, the user binds with it (an active account: only those bind)
    slapd.modify(AUTHD_DN, pw, "dn: %s\nchangetype: modify\nreplace: mmStatus\nmmStatus: active\n\n" % alice,
                 check=True)
    new_pw = argon2_slappasswd("N3w-pass!word")
    proc = slapd.modify(AUTHD_DN, pw, "dn: %s\nchangetype: modify\nreplace: userPassword\nuserPassword: %s\n\n"
                        % (alice, new_pw))
    assert proc.returncode == 0, proc.stderr
    assert slapd.whoami(alice, "N3w-pass!word").returncode == 0
    assert slapd.whoami(alice, PASSWORD).returncode == 49
    slapd.modify(AUTHD_DN, pw, "dn: %s\nchangetype: modify\nreplace: userPassword\nuserPassword: %s\n\n"
                 % (alice, argon2_slappasswd(PASSWORD)), check=True)


# ------------------------------------------------------------ cn=config

CONFIG_SUFFIX = "dc=cfg,dc=test"
CONFIG_DB = "olcDatabase={1}mdb,cn=config"


@pytest.fixture(scope="module")
def config_slapd(tmp_path_factory, request):
    """A slapd run from a cn=config directory loading medimail.ldif."""
    return start_config_slapd(tmp_path_factory, request, SCHEMA_DIR / "medimail.ldif")


def start_config_slapd(tmp_path_factory, request, schema_ldif):
    base = tmp_path_factory.mktemp("cfg")
    confdir, dbdir = base / "slapd.d", base / "db"
    confdir.mkdir()
    dbdir.mkdir()
    pidfile = base / "slapd.pid"
    url = "ldapi://" + urllib.parse.quote(str(base / "ldapi"), safe="")
    request.addfinalizer(lambda: kill_pidfile(pidfile))
    peer_root = "gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth"
    includes = "".join("include: file://%s/%s.ldif\n\n" % (SYS_SCHEMA, s)
                       for s in ("core", "cosine", "nis", "inetorgperson"))
    includes += "include: file://%s\n\n" % schema_ldif
    ldif = (
        "dn: cn=config\nobjectClass: olcGlobal\ncn: config\nolcPidFile: %s\nolcArgsFile: %s\n"
        "olcLogLevel: none\n\n"
        "dn: cn=module{0},cn=config\nobjectClass: olcModuleList\ncn: module{0}\n"
        "olcModulePath: /usr/lib/ldap\nolcModuleLoad: back_mdb\n\n"
        "dn: cn=schema,cn=config\nobjectClass: olcSchemaConfig\ncn: schema\n\n"
        "%s"
        "dn: olcDatabase={-1}frontend,cn=config\nobjectClass: olcDatabaseConfig\n"
        "objectClass: olcFrontendConfig\nolcDatabase: {-1}frontend\n\n"
        "dn: olcDatabase={0}config,cn=config\nobjectClass: olcDatabaseConfig\nolcDatabase: {0}config\n"
        "olcRootDN: %s\n\n"
        "dn: %s\nobjectClass: olcDatabaseConfig\nobjectClass: olcMdbConfig\nolcDatabase: {1}mdb\n"
        "olcDbDirectory: %s\nolcSuffix: %s\nolcRootDN: %s\nolcDbMaxSize: 1073741824\n\n"
    ) % (pidfile, base / "slapd.args", includes, peer_root, CONFIG_DB, dbdir, CONFIG_SUFFIX, peer_root)
    (base / "config.ldif").write_text(ldif)
    run(["slapadd", "-n0", "-F", str(confdir), "-l", str(base / "config.ldif")])
    run(["slapd", "-h", url, "-F", str(confdir)])
    deadline = time.monotonic() + 10
    while True:
        proc = run(["ldapsearch", "-Q", "-LLL", "-Y", "EXTERNAL", "-H", url, "-b", "cn=config", "-s", "base",
                    "1.1"], check=False)
        if proc.returncode == 0:
            break
        assert time.monotonic() < deadline, proc.stderr
        time.sleep(0.1)
    return url


def test_ldif_in_sync_with_schema(tmp_path):
    out = tmp_path / "medimail.ldif"
    run([str(SCHEMA_DIR / "schema2ldif.sh"), str(out)])
    assert out.read_text() == (SCHEMA_DIR / "medimail.ldif").read_text(), \
        "medimail.ldif is stale: run ldap-schema/schema2ldif.sh"


def test_ldif_loads_into_cn_config(config_slapd):
    schema_attrs, schema_classes = schema_names((SCHEMA_DIR / "medimail.schema").read_text())
    ldif_attrs, ldif_classes = schema_names((SCHEMA_DIR / "medimail.ldif").read_text())
    assert len(schema_attrs) >= 60 and len(schema_classes) == 6
    assert all(n.startswith("mm") for n in schema_attrs | schema_classes)
    assert (ldif_attrs, ldif_classes) == (schema_attrs, schema_classes)

    proc = run(["ldapsearch", "-Q", "-LLL", "-Y", "EXTERNAL", "-H", config_slapd, "-b", "cn=schema,cn=config",
                "(cn=*medimail)", "olcAttributeTypes", "olcObjectClasses"])
    loaded_attrs, loaded_classes = schema_names(proc.stdout)
    assert (loaded_attrs, loaded_classes) == (schema_attrs, schema_classes)

    # and the schema is usable there
    run(["ldapadd", "-Q", "-Y", "EXTERNAL", "-H", config_slapd],
        input="dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: cfg\no: cfg\n\n"
              "dn: uid=x,%s\nobjectClass: mmAccount\nuid: x\nmmAccountType: MED\nmmStatus: active\n"
              "mmLoginMail: x@example.org\nmmVisibleMedimail: TRUE\n\n" % (CONFIG_SUFFIX, CONFIG_SUFFIX))


def test_schema_load_adds_the_object_classes_of_an_upgrade(tmp_path_factory, request, tmp_path):
    """A directory loaded with an older schema gains the classes added since
    (mmCardPinCount) when the loader runs again; a second run changes nothing."""
    text = (SCHEMA_DIR / "medimail.ldif").read_text()
    start = text.index("olcObjectClasses: ( mmClass:5 NAME 'mmCardPinCount'")
    end = text.index("olcObjectClasses:", start + 1)
    old = tmp_path / "medimail-old.ldif"
    old.write_text(text[:start] + text[end:])
    url = start_config_slapd(tmp_path_factory, request, old)
    loader = [str(SCHEMA_DIR / "medimail-ldap-schema-load"), "-H", url, "-D", CONFIG_DB]
    env = dict(os.environ, MEDIMAIL_SCHEMA_DIR=str(SCHEMA_DIR))
    first = run(loader, env=env)
    assert "object class mmCardPinCount added" in first.stdout, first.stdout
    proc = run(["ldapsearch", "-Q", "-LLL", "-Y", "EXTERNAL", "-H", url, "-b", "cn=schema,cn=config",
                "(cn=*medimail)", "olcAttributeTypes", "olcObjectClasses"])
    assert schema_names(proc.stdout) == schema_names((SCHEMA_DIR / "medimail.schema").read_text())
    second = run(loader, env=env)
    assert "added" not in second.stdout and "already loaded" in second.stdout, second.stdout
    run(["ldapadd", "-Q", "-Y", "EXTERNAL", "-H", url],
        input="dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: cfg\no: cfg\n\n"
              "dn: mmSessionId=x,%s\nobjectClass: mmSession\nobjectClass: mmCardPinCount\nmmSessionId: x\n"
              "mmFailCount: 1\n\n" % (CONFIG_SUFFIX, CONFIG_SUFFIX))


def test_indexes_ldif_applies(config_slapd):
    ldif = (SCHEMA_DIR / "indexes.ldif").read_text().replace("@DBDN@", CONFIG_DB)
    for _ in range(2):  # applying it again is harmless
        run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", config_slapd], input=ldif)
    proc = run(["ldapsearch", "-Q", "-LLL", "-Y", "EXTERNAL", "-H", config_slapd, "-b", CONFIG_DB, "-s", "base",
                "olcDbIndex"])
    [(_, attrs)] = parse_ldif(proc.stdout)
    loaded = {tuple(v.split()) for v in attrs["olcdbindex"]}
    conf = {tuple(line.split()[1:3]) for line in (SCHEMA_DIR / "indexes.conf").read_text().splitlines()
            if line.startswith("index")}
    assert loaded == conf
    assert ("mmSearchKey", "eq,sub") in conf and ("mmLoginMail", "eq") in conf
    # an indexed search works on the reindexed database
    proc = run(["ldapsearch", "-Q", "-LLL", "-Y", "EXTERNAL", "-H", config_slapd, "-b", CONFIG_SUFFIX,
                "(mmLoginMail=X@example.org)", "1.1"])
    assert "uid=x," + CONFIG_SUFFIX in proc.stdout


def test_loader_sets_the_bind_lockout(config_slapd):
    """The shipped loader gives a cn=config slapd the same lockout as scripts/slapd.sh: the ppolicy
    overlay and the policy entry of lockout.ldif (twice: harmless)."""
    run(["ldapadd", "-c", "-Q", "-Y", "EXTERNAL", "-H", config_slapd],
        input="dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: cfg\no: cfg\n\n" % CONFIG_SUFFIX,
        check=False)
    env = dict(os.environ, MEDIMAIL_SCHEMA_DIR=str(SCHEMA_DIR))
    for _ in range(2):
        run([str(SCHEMA_DIR / "medimail-ldap-schema-load"), "-H", config_slapd, "-b", CONFIG_SUFFIX], env=env)
    proc = run(["ldapsearch", "-Q", "-LLL", "-Y", "EXTERNAL", "-H", config_slapd, "-b",
                "cn=lockout,ou=policies," + CONFIG_SUFFIX, "-s", "base", "pwdMaxFailure"])
    assert "pwdMaxFailure: 5" in proc.stdout
    # a bind lock on that server (a {SSHA} password: no argon2 module there)
    pw = run(["slappasswd", "-n", "-h", "{SSHA}", "-s", PASSWORD]).stdout
    dn = "uid=cfgguess," + CONFIG_SUFFIX
    run(["ldapadd", "-Q", "-Y", "EXTERNAL", "-H", config_slapd],
        input="dn: %s\nobjectClass: mmAccount\nuid: cfgguess\nmmAccountType: MED\nmmStatus: active\n"
              "mmLoginMail: cfgguess@example.org\nuserPassword: %s\n\n" % (dn, pw))
    whoami = ["ldapwhoami", "-x", "-H", config_slapd, "-D", dn, "-w"]
    assert run(whoami + [PASSWORD], check=False).returncode == 0
    for _ in range(10):
        assert run(whoami + [PASSWORD + "x"], check=False).returncode == 49
    assert run(whoami + [PASSWORD], check=False).returncode == 49
