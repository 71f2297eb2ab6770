"""A BAL ORG or an account named after a local user or group (sudo, root, adm,
docker, systemd-*, or anything the host's other NSS sources know) would inherit what
the host grants that name: sudo, sshd AllowGroups, pam_access and polkit match
groups by name. Such names, and uid/gid numbers the host knows, are refused at
registration and validation and never served by the name service (cache files and
socket answers alike), even when written straight into the directory. The uid/gid
ranges themselves are checked against the host's at start-up."""
import grp
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mmstack import BUILD, SUFFIX, Daemon, med_fields, org_fields, wait_for
from test_lifecycle import confirm, full_registration, register
from test_nss import cache_dir, cache_generation, getent, nss, wait_cache_fresh

RESERVED_ORGS = [("Sudo", "sudo"), ("Root", "root"), ("Docker", "docker"),
                 ("systemd-journal", "systemd-journal")]


def ldap(slapd, tool, ldif):
    r = subprocess.run([tool, "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url], input=ldif,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r


def add_user(slapd, login, uid):
    ldap(slapd, "ldapadd", f"dn: uid={login},ou=people,{SUFFIX}\nobjectClass: mmAccount\nuid: {login}\n"
                           f"mmAccountType: MED\nmmStatus: active\nmmLoginMail: {login}@example.org\n"
                           f"cn: Direct {login}\nsn: DIRECT\nuidNumber: {uid}\n")


def add_org(slapd, login, gid, members):
    mem = "".join(f"mmMember: uid={m},ou=people,{SUFFIX}\n" for m in members)
    ldap(slapd, "ldapadd", f"dn: uid={login},ou=orgs,{SUFFIX}\nobjectClass: mmAccount\nuid: {login}\n"
                           f"mmAccountType: ORG\nmmStatus: active\nmmLoginMail: {login}.org@example.org\n"
                           f"cn: {login}\ngidNumber: {gid}\n{mem}")


# ---------------------------------------------------------------- registration and validation

@pytest.fixture(scope="module")
def member(authd, smtp):
    """An individual account to attach the ORGs to (registered, not yet validated: enough)."""
    mail = "membre.names@example.org"
    r = register(authd, smtp, "MED", med_fields(mail, "NAMES", "Membre"))
    assert r.returncode == 0, r.stdout + r.stderr
    return mail


@pytest.mark.parametrize("org_name,login", RESERVED_ORGS)
def test_org_named_after_local_group_is_refused(authd, smtp, slapd, member, org_name, login):
    mail = f"reg.{login}@example.org"
    r = register(authd, smtp, "ORG", org_fields(member, mail=mail, name=org_name))
    assert r.returncode == 1, r.stdout
    f = r.json["fields"]
    assert (f["field"], f["rule"]) == ("org_name", "reserved_name"), r.json
    assert f"« {login} »" in r.json["message"] and "réservé" in r.json["message"], r.json["message"]
    assert not slapd.search(f"ou=orgs,{SUFFIX}", f"(mmLoginMail={mail})")


def test_org_named_after_a_group_only_the_host_knows_is_refused(authd, smtp, slapd, member):
    """A name on no list, known only because the host has such a group."""
    tried = 0
    for g in grp.getgrall():
        n = g.gr_name
        if not (n.isascii() and n[:1].isalpha() and n.replace("-", "").isalnum() and n == n.lower()):
            continue
        mail = f"host.{n}@example.org"
        r = register(authd, smtp, "ORG", org_fields(member, mail=mail, name=n))
        assert r.returncode == 1, (n, r.stdout)
        tried += 1
        if r.json["fields"]["rule"] == "reserved_name":
            continue  # on the built-in list as well: try another one
        assert (r.json["fields"]["field"], r.json["fields"]["rule"]) == ("org_name", "host_name"), r.json
        assert f"« {n} »" in r.json["message"] and "connu de la machine" in r.json["message"]
        assert not slapd.search(f"ou=orgs,{SUFFIX}", f"(mmLoginMail={mail})")
        return
    raise AssertionError(f"every one of the {tried} groups of this host is on the reserved list")


@pytest.mark.parametrize("org_name,login", RESERVED_ORGS)
def test_org_renamed_in_ldap_after_registration_is_refused_at_validation(authd, smtp, slapd, member,
                                                                         org_name, login):
    mail = f"ren.{login}@example.org"
    r = register(authd, smtp, "ORG", org_fields(member, mail=mail, name=f"Labo Renomme {len(login)}x"))
    assert r.returncode == 0, r.stdout
    first = r.json["fields"]["login"]
    assert confirm(authd, smtp, mail).returncode == 0
    # Written straight into the directory, past the registration's rule.
    ldap(slapd, "ldapmodify", f"dn: uid={first},ou=orgs,{SUFFIX}\nchangetype: modrdn\nnewrdn: uid={login}\n"
                              "deleteoldrdn: 1\n")
    try:
        v = authd.ctl("validate", login)
        assert v.returncode == 1, v.stdout
        assert (v.json["fields"]["field"], v.json["fields"]["rule"]) == ("login", "reserved_name"), v.json
        assert f"« {login} »" in v.json["message"], v.json["message"]
        e = slapd.search(f"ou=orgs,{SUFFIX}", f"(mmLoginMail={mail})")
        assert e[0]["mmStatus"] == ["pending-validation"] and "gidNumber" not in e[0]
    finally:
        ldap(slapd, "ldapdelete", f"uid={login},ou=orgs,{SUFFIX}\n")


# ---------------------------------------------------------------- the name service

class NsDaemon(Daemon):
    """A daemon in its own mount namespace, whose /etc/passwd and /etc/group are
    copies the test may extend while it runs (the host's files are never touched)."""

    def start(self, host_nsswitch=None):
        """host_nsswitch: the daemon's own nsswitch.conf (text), which may name the test source
        "mmfake" (tests/nss_fake_source.c: names it answers but never enumerates)."""
        self.passwd, self.group = self.state / f"{self.name}-passwd", self.state / f"{self.name}-group"
        if not self.passwd.exists():
            shutil.copyfile("/etc/passwd", self.passwd)
            shutil.copyfile("/etc/group", self.group)
        self.write_conf()
        self.logf = open(self.log, "ab")
        script = f'mount --bind "{self.passwd}" /etc/passwd && mount --bind "{self.group}" /etc/group'
        env = dict(os.environ)
        if host_nsswitch is not None:
            sw = self.state / f"{self.name}-nsswitch.conf"
            sw.write_text(host_nsswitch)
            script += f' && mount --bind "{sw}" /etc/nsswitch.conf'
            env["LD_LIBRARY_PATH"] = str(BUILD / "tests")
        self.proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script + ' && exec "$@"',
                                      "sh", str(BUILD / "authd/medimail-authd"), "-f", "-c", str(self.conf)],
                                     stdout=self.logf, stderr=self.logf, env=env)
        wait_for(lambda: self.socket.exists() or self.proc.poll() is not None, what="daemon socket")
        if self.proc.poll() is not None:
            raise RuntimeError(f"medimail-authd exited: {self.log.read_text()}")
        return self

    def host_add(self, passwd_line=None, group_line=None):
        """A local user or group created on the host while the daemon runs (in place: the bind follows)."""
        for path, line in ((self.passwd, passwd_line), (self.group, group_line)):
            if line:
                with open(path, "a") as f:
                    f.write(line + "\n")


@pytest.fixture(scope="module")
def nsd(state, slapd, smtp):
    d = NsDaemon(state, slapd, smtp.port, name="namesd", extra="enumerate = yes\ncache_refresh = 1\n").start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def nsswitch(state):
    p = state / "names-nsswitch.conf"
    p.write_text("passwd: files medimail\ngroup: files medimail\nshadow: files\nhosts: files\n")
    return p


@pytest.fixture(scope="module")
def direct(nsd, nsswitch, slapd):
    """Entries written straight into the directory with ldapadd, past every daemon rule."""
    add_user(slapd, "membre.direct", 1900219901)   # an ordinary user: the control
    add_user(slapd, "docker", 1900219902)          # a user named after a local group
    add_org(slapd, "adm", 1910310901, ["membre.direct"])            # a group named after a local group
    add_org(slapd, "sudo", 1910310902, ["membre.direct"])           # the attack itself
    add_org(slapd, "labo-direct", 1910310903, ["membre.direct"])    # an ordinary ORG: the control
    # The host creates a user and a group whose numbers the directory already holds.
    add_user(slapd, "uid.pris", 1900219903)
    add_org(slapd, "gid-pris", 1910310904, ["membre.direct"])
    wait_for(lambda: getent(nsd, nsswitch, "group", "labo-direct")[0] == 0, 20, "the entries in the cache")
    before = cache_generation(nsd, "group")[0]
    nsd.host_add("hostuser:x:1900219903:100::/nonexistent:/usr/sbin/nologin", "hostgroup:x:1910310904:")
    # two rebuilds later (cache_refresh = 1), the host's new entries were read
    wait_for(lambda: cache_generation(nsd, "group")[0] != before, 20, "a rebuilt cache")
    before = cache_generation(nsd, "group")[0]
    wait_for(lambda: cache_generation(nsd, "group")[0] != before, 20, "a rebuilt cache")
    wait_cache_fresh(nsd, after_change=False)
    return nsd


@pytest.mark.parametrize("via", ["cache", "socket"])
def test_entries_named_after_local_names_written_into_ldap_are_not_served(direct, nsswitch, tmp_path, via):
    d = direct
    cache = None if via == "cache" else tmp_path
    # the controls are served: the module answers in this namespace
    rc, out = getent(d, nsswitch, "passwd", "membre.direct", cache=cache)
    assert rc == 0 and out.split(":")[2] == "1900219901", out
    rc, out = getent(d, nsswitch, "group", "1910310903", cache=cache)
    assert rc == 0 and out.startswith("labo-direct:*:1910310903:membre.direct"), out
    # a user "docker", by name and by number
    assert getent(d, nsswitch, "passwd", "docker", cache=cache) == (2, "")
    assert getent(d, nsswitch, "passwd", "1900219902", cache=cache) == (2, "")
    # groups "adm" and "sudo": the host's own answer by name, nothing of ours by number
    for gid in (1910310901, 1910310902):
        assert getent(d, nsswitch, "group", str(gid), cache=cache) == (2, ""), gid
    rc, out = getent(d, nsswitch, "group", "sudo", cache=cache)
    assert rc == 0 and out.split(":")[2] == str(grp.getgrnam("sudo").gr_gid), out
    # numbers the host took: neither the directory's user nor its group is served
    assert getent(d, nsswitch, "passwd", "uid.pris", cache=cache) == (2, "")
    assert getent(d, nsswitch, "passwd", "1900219903", cache=cache) == (2, "")
    assert getent(d, nsswitch, "group", "gid-pris", cache=cache) == (2, "")
    assert getent(d, nsswitch, "group", "1910310904", cache=cache) == (2, "")
    # initgroups gives the member the control ORG only
    r = nss(d, nsswitch, "getent", "initgroups", "membre.direct", cache=cache)
    assert r.returncode == 0 and r.stdout.split()[1:] == ["1910310903"], r.stdout


def test_a_name_the_host_takes_while_served_is_no_longer_served(direct, nsswitch, slapd, tmp_path):
    """The socket served "pris.tard" and the group "labo-tard"; then the host creates a user and a
    group of those names (in place, as useradd does). Within seconds the socket stops answering
    for them, though the daemon had just looked them up (nothing remembered "unknown")."""
    d = direct
    add_user(slapd, "pris.tard", 1900219906)
    add_org(slapd, "labo-tard", 1910310906, ["membre.direct"])
    wait_for(lambda: getent(d, nsswitch, "passwd", "pris.tard", cache=tmp_path)[0] == 0, 20, "pris.tard served")
    assert getent(d, nsswitch, "group", "labo-tard", cache=tmp_path)[0] == 0
    assert getent(d, nsswitch, "passwd", "1900219906", cache=tmp_path)[0] == 0
    d.host_add("pris.tard:x:60206:100::/nonexistent:/usr/sbin/nologin", "labo-tard:x:60207:")
    # (the daemon's /etc/passwd and /etc/group are its own copies: getent here sees only our answers)
    wait_for(lambda: getent(d, nsswitch, "passwd", "1900219906", cache=tmp_path) == (2, ""), 10,
             "uid 1900219906 (named like a host user now) no longer served")
    assert getent(d, nsswitch, "passwd", "pris.tard", cache=tmp_path) == (2, "")
    assert getent(d, nsswitch, "group", "labo-tard", cache=tmp_path) == (2, "")
    assert getent(d, nsswitch, "group", "1910310906", cache=tmp_path) == (2, "")
    assert getent(d, nsswitch, "passwd", "membre.direct", cache=tmp_path)[0] == 0  # the control


# The daemon's own nsswitch.conf, and whether its view of the host's names is then whole (nothing
# asked per name) -- every other line is one glibc reads as sending lookups to "mmfake", a source
# that knows fake.user, fake-sudo and gid 1910310852 and enumerates none of them.
HOST_SWITCHES = {
    "files": ("passwd: files\ngroup: files\n", True),
    "files and a source that does not enumerate": ("passwd: files mmfake\ngroup: files mmfake\n", False),
    "the source on a second line, blank before the colon":
        ("passwd: files\ngroup: files\npasswd : files mmfake\ngroup\t: files mmfake\n", False),
    "the source on a line after a vertical tab":
        ("passwd: files\ngroup: files\n\vpasswd: files mmfake\n\vgroup: files mmfake\n", False),
    "the source on a line with no colon": ("passwd: files\ngroup: files\npasswd files mmfake\n"
                                           "group files mmfake\n", False),
}


@pytest.fixture(scope="module")
def fake_entries(slapd):
    add_user(slapd, "fake.user", 1900219851)                      # a user only the source knows
    add_org(slapd, "fake-sudo", 1910310850, ["membre.fake"])      # a group only the source knows
    add_org(slapd, "ldap-gid", 1910310852, ["membre.fake"])       # a gid only the source has
    add_user(slapd, "membre.fake", 1900219853)                    # the controls
    add_org(slapd, "labo-fake", 1910310854, ["membre.fake"])


@pytest.mark.parametrize("switch", HOST_SWITCHES)
def test_a_source_that_does_not_enumerate_is_asked_whatever_the_line(state, slapd, smtp, nsswitch,
                                                                     fake_entries, tmp_path, switch):
    """The socket answers of a daemon whose nsswitch.conf sends lookups to a source no enumeration
    shows (sss, ldap) ask that source for each name and number; only when every source is one the
    view holds whole (files here) is nothing asked. Every way of writing the line that glibc takes
    and a careless reader would not (a second line, "group :", a vertical tab, no colon) asks."""
    text, whole = HOST_SWITCHES[switch]
    name = "fakesd" + str(list(HOST_SWITCHES).index(switch))
    d = NsDaemon(state, slapd, smtp.port, name=name).start(host_nsswitch=text)
    try:
        wait_for(lambda: getent(d, nsswitch, "passwd", "membre.fake", cache=tmp_path)[0] == 0, 20,
                 "the control served")
        assert getent(d, nsswitch, "group", "labo-fake", cache=tmp_path)[0] == 0
        served = {key: getent(d, nsswitch, db, key, cache=tmp_path)[0] == 0
                  for db, key in (("passwd", "fake.user"), ("passwd", "1900219851"), ("group", "fake-sudo"),
                                  ("group", "1910310850"), ("group", "1910310852"), ("group", "ldap-gid"))}
        # the host knows them only through mmfake: served where it is not listed, refused where it is
        assert served == dict.fromkeys(served, whole), served
        log = d.log.read_text()
        said = "users all in the view, groups all in the view" if whole else \
            "users asked of the host for each name, groups asked of the host for each name"
        assert f"host names: {said}" in log, log[-2000:]
    finally:
        d.stop()


def test_host_user_named_like_a_login_mail_gets_no_org(direct, nsswitch, slapd, tmp_path):
    """The module answers a login e-mail as well as a login (getpwnam, initgroups). A host user
    of that name (sssd's fully-qualified names, here in the files) logging in had glibc merge our
    initgroups answer into its groups: the ORG of the Medimail account that has that e-mail."""
    d = direct
    add_user(slapd, "mail.pris", 1900219905)
    add_org(slapd, "labo-mail", 1910310905, ["mail.pris"])
    before = cache_generation(d, "group")[0]
    d.host_add("mail.pris@example.org:x:60205:100::/nonexistent:/usr/sbin/nologin")
    wait_for(lambda: cache_generation(d, "group")[0] != before, 20, "a rebuilt cache")
    before = cache_generation(d, "group")[0]
    wait_for(lambda: cache_generation(d, "group")[0] != before, 20, "a rebuilt cache")
    wait_cache_fresh(d, after_change=False)
    ours_first = tmp_path / "nsswitch-ours-first.conf"
    ours_first.write_text("passwd: medimail files\ngroup: files medimail\n")
    for cache in (None, tmp_path / "empty"):
        # the control: the Medimail account by its login has its ORG
        r = nss(d, nsswitch, "getent", "initgroups", "mail.pris", cache=cache)
        assert r.returncode == 0 and "1910310905" in r.stdout.split(), r.stdout
        # the host user of the e-mail's name does not
        r = nss(d, nsswitch, "getent", "initgroups", "mail.pris@example.org", cache=cache)
        assert "1910310905" not in r.stdout.split(), (cache, r.stdout)
        # nor is the name answered with our account, whatever the order of the sources (the
        # host user lives in the daemon's files only: here no one answers)
        assert getent(d, ours_first, "passwd", "mail.pris@example.org", cache=cache) == (2, ""), cache
        rc, out = getent(d, ours_first, "passwd", "mail.pris", cache=cache)
        assert rc == 0 and out.split(":")[2] == "1900219905", (cache, out)


def test_enumeration_skips_entries_named_after_local_names(direct, nsswitch):
    d = direct
    rc, out = getent(d, nsswitch, "passwd")
    ours = [line for line in out.splitlines() if line.split(":")[2].startswith("19002199")]
    # (mail.pris, labo-mail: the e-mail test's own entries, ordinary ones)
    assert [line.split(":")[0] for line in ours if not line.startswith("mail.pris:")] == ["membre.direct"], ours
    rc, out = getent(d, nsswitch, "group")
    ours = [line.split(":")[0] for line in out.splitlines() if line.split(":")[2].startswith("19103109")]
    assert [n for n in ours if n != "labo-mail"] == ["labo-direct"], ours


def sudo_l(d, nsswitch, sudoers, user, cache=None):
    """sudo -l -U user with this nsswitch.conf and this sudoers, in a private mount namespace."""
    env = dict(os.environ, LD_LIBRARY_PATH=str(BUILD / "nss_medimail"), MEDIMAIL_SOCKET=str(d.socket),
               MEDIMAIL_NSS_CACHE_DIR=str(cache if cache is not None else cache_dir(d)), LC_ALL="C.UTF-8")
    env.pop("MEDIMAIL_NSS_BYPASS", None)
    script = (f'mount --bind "{nsswitch}" /etc/nsswitch.conf && mount --bind "{sudoers}" /etc/sudoers'
              ' && exec sudo -l -U "$1"')
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", user],
                          env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("via", ["cache", "socket"])
def test_member_of_org_named_sudo_is_no_sudoer(direct, nsswitch, tmp_path, via):
    assert shutil.which("sudo"), "sudo is installed by scripts/deps.sh"
    sudoers = tmp_path / "sudoers"
    # Debian's rule, and one for the control ORG: proves sudo sees our groups here.
    sudoers.write_text("root ALL=(ALL:ALL) ALL\n%sudo ALL=(ALL:ALL) ALL\n%labo-direct ALL=(root) /usr/bin/id\n")
    os.chmod(sudoers, 0o440)
    cache = None if via == "cache" else tmp_path / "empty"
    if cache:
        cache.mkdir()
    r = sudo_l(direct, nsswitch, sudoers, "membre.direct", cache=cache)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "/usr/bin/id" in r.stdout, r.stdout
    assert "(ALL : ALL) ALL" not in r.stdout, r.stdout


def test_org_group_prefix_puts_org_groups_in_their_own_namespace(state, slapd, smtp, nsswitch, member):
    d = Daemon(state, slapd, smtp.port, name="prefixd", extra="org_group_prefix = mss-\nenumerate = yes\n").start()
    try:
        # "Wheel" is no local group once prefixed: registered, validated, served as "mss-wheel".
        mail = "prefixed.wheel@example.org"
        login, v = full_registration(d, smtp, "ORG", org_fields(member, mail=mail, name="Wheel"), mail)
        assert login == "wheel"
        gid = int(v["gid_number"])
        wait_cache_fresh(d, after_change=False)
        for cache in (None, state / "prefix-empty"):
            if cache:
                cache.mkdir(exist_ok=True)
            rc, out = getent(d, nsswitch, "group", str(gid), cache=cache)
            assert rc == 0 and out.startswith(f"mss-wheel:*:{gid}:"), out
            rc, out = getent(d, nsswitch, "group", "mss-wheel", cache=cache)
            assert rc == 0 and out.split(":")[2] == str(gid), out
            # the bare login is not one of our group names
            rc, out = getent(d, nsswitch, "group", "wheel", cache=cache)
            assert rc == 2 or out.split(":")[2] != str(gid), out
    finally:
        d.stop()


# ---------------------------------------------------------------- start-up range check

def check_config(state, slapd, smtp, name, extra):
    d = Daemon(state, slapd, smtp.port, name=name, extra=extra)
    d.write_conf()
    return subprocess.run([str(BUILD / "authd/medimail-authd"), "-t", "-c", str(d.conf)],
                          capture_output=True, text=True)


@pytest.mark.parametrize("extra,message", [
    ("uid_min = 50000\nuid_max = 70000\n", "overlaps the host's UID_MIN..UID_MAX (1000..60000) in /etc/login.defs"),
    ("gid_min = 500\ngid_max = 900\n", "overlaps the host's SYS_GID_MIN..SYS_GID_MAX"),
    ("uid_min = 65000\nuid_max = 66000\n", "contains uid 65534, which the host already uses (user nobody)"),
    ("gid_min = 65000\ngid_max = 66000\n", "contains gid 65534, which the host already uses (group nogroup)"),
    # where useradd hands out subordinate ids (Debian: /etc/subuid, SUB_UID_MIN 100000..600100000)
    ("uid_min = 200000\nuid_max = 299999\n", "overlaps the host's SUB_UID_MIN..SUB_UID_MAX (100000..600100000)"),
])
def test_uid_gid_range_overlapping_the_hosts_is_a_configuration_error(state, slapd, smtp, extra, message):
    # the control: the suite's own ranges (those of every other test) pass the check
    ok = check_config(state, slapd, smtp, "rangeok", "")
    assert ok.returncode == 0 and "ok" in ok.stdout, ok.stderr
    r = check_config(state, slapd, smtp, "rangebad", extra)
    assert r.returncode == 1 and message in r.stderr, r.stderr
    # and the daemon refuses to start with it
    with pytest.raises(RuntimeError, match="host"):
        Daemon(state, slapd, smtp.port, name="rangebad", extra=extra).start()


def test_uid_range_inside_a_local_users_subordinate_ids_is_refused(state, slapd, smtp, tmp_path):
    """A local user with subordinate ids maps them in a user namespace (podman, unshare): a
    setuid file made there belongs, on the host, to the Medimail user of that uid."""
    sub = tmp_path / "subuid"
    sub.write_text("alice:1900200000:65536\n")
    r = check_config(state, slapd, smtp, "rangesub", f"subuid_file = {sub}\n")
    assert r.returncode == 1 and '"alice:1900200000:65536"' in r.stderr, r.stderr


def test_range_check_reads_the_configured_login_defs(state, slapd, smtp, tmp_path):
    defs = tmp_path / "login.defs"
    defs.write_text("UID_MIN 1000\nUID_MAX 1900250000\nGID_MIN 1000\nGID_MAX 60000\n")
    r = check_config(state, slapd, smtp, "rangedefs", f"login_defs = {defs}\n")
    assert r.returncode == 1 and f"UID_MIN..UID_MAX (1000..1900250000) in {defs}" in r.stderr, r.stderr


def test_site_reserved_names_are_refused_like_the_builtin_ones(state, slapd, smtp, member):
    d = Daemon(state, slapd, smtp.port, name="sitereserved", extra="reserved_names = comptabilite, dsi-*\n").start()
    try:
        for name, login in (("Comptabilité", "comptabilite"), ("DSI Admins", "dsi-admins")):
            r = register(d, smtp, "ORG", org_fields(member, mail=f"site.{login}@example.org", name=name))
            assert r.returncode == 1, r.stdout
            assert (r.json["fields"]["field"], r.json["fields"]["rule"]) == ("org_name", "reserved_name"), r.json
            assert f"« {login} »" in r.json["message"]
        # a name on no list is still welcome
        r = register(d, smtp, "ORG", org_fields(member, mail="site.dsi@example.org", name="DSI"))
        assert r.returncode == 0, r.stdout
    finally:
        d.stop()
