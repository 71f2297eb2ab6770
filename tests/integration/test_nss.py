"""libnss_medimail.so.2 through the real glibc: getent, id, getent initgroups, in a
private mount namespace whose /etc/nsswitch.conf says "medimail" (the host's file is
never touched). The module comes from the build directory via LD_LIBRARY_PATH, the
daemon's socket and cache directory via MEDIMAIL_SOCKET / MEDIMAIL_NSS_CACHE_DIR."""
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from mmstack import BUILD, SUFFIX, Daemon, med_fields, org_fields, wait_for
from test_lifecycle import full_registration

USER_GID = 100  # the daemon's default user_gid


# ---------------------------------------------------------------- harness

@pytest.fixture(scope="module")
def nssd(state, slapd, smtp):
    d = Daemon(state, slapd, smtp.port, name="nssd", extra="enumerate = yes\ncache_refresh = 2\n").start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def nsswitch(state):
    p = state / "nsswitch.conf"
    p.write_text("passwd: files medimail\ngroup: files medimail\nshadow: files\nhosts: files\n")
    return p


def cache_dir(d):
    return d.state / f"{d.name}-mc"


def nss(d, nsswitch, *cmd, cache=None, timeout=60):
    """Runs cmd with glibc resolving through our module (private mount namespace)."""
    env = dict(os.environ, LD_LIBRARY_PATH=str(BUILD / "nss_medimail"), MEDIMAIL_SOCKET=str(d.socket),
               MEDIMAIL_NSS_CACHE_DIR=str(cache if cache is not None else cache_dir(d)), LC_ALL="C.UTF-8")
    env.pop("MEDIMAIL_NSS_BYPASS", None)
    script = f'mount --bind "{nsswitch}" /etc/nsswitch.conf && exec "$@"'
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *cmd],
                          env=env, capture_output=True, text=True, timeout=timeout)


def getent(d, nsswitch, db, *keys, cache=None):
    r = nss(d, nsswitch, "getent", db, *keys, cache=cache)
    return r.returncode, r.stdout


def cache_generation(d, name="passwd"):
    data = (cache_dir(d) / name).read_bytes()[:32]
    return int.from_bytes(data[16:24], "little"), int.from_bytes(data[24:28], "little")


def changed_keys(d, name="passwd"):
    """How many keys the changed-keys file beside a cache file lists (mcfile.h; None: no file)."""
    try:
        data = (cache_dir(d) / f"{name}.changed").read_bytes()[:52]
    except FileNotFoundError:
        return None
    return int.from_bytes(data[48:52], "little")


def wait_cache_fresh(d, after_change=True):
    """Until both files are current (not stale) and no change is listed beside them; after a
    change, also until a build that began after the call is published (two new generations:
    the first may have begun before the change, and a new account is listed nowhere)."""
    for _ in range(2 if after_change else 0):
        before = cache_generation(d, "group")[0]
        wait_for(lambda: cache_generation(d, "group")[0] != before, 20, "a rebuilt cache")

    def fresh():
        try:
            return all(cache_generation(d, n)[1] == 0 and not changed_keys(d, n) for n in ("passwd", "group"))
        except (FileNotFoundError, IndexError):
            return False
    wait_for(fresh, 20, "a fresh name-service cache")


@pytest.fixture(scope="module")
def people(nssd, smtp, slapd):
    """Three active individual accounts and two ORGs."""
    out = {}
    for key, mail, sn, given in [("ana", "ana.nss@example.org", "NSSA", "Ana"),
                                 ("bob", "bob.nss@example.org", "NSSB", "Bob"),
                                 ("eve", "eve.nss@example.org", "NSSE", "Ève")]:
        login, v = full_registration(nssd, smtp, "MED", med_fields(mail, sn, given), mail)
        out[key] = {"login": login, "uid": int(slapd.search(SUFFIX, f"(uid={login})")[0]["uidNumber"][0]),
                    "gecos": f"{given} {sn}", "mail": mail}
    orgs = {}
    for key, mail, name in [("o1", "o1.nss@example.org", "Labo Nss Un"),
                            ("o2", "o2.nss@example.org", "Labo Nss Deux")]:
        login, v = full_registration(nssd, smtp, "ORG", org_fields(out["ana"]["mail"], mail=mail, name=name), mail)
        orgs[key] = {"name": login, "gid": int(v["gid_number"])}
    assert nssd.ctl("org", "member", "add", orgs["o1"]["name"], out["bob"]["login"]).returncode == 0
    out["orgs"] = orgs
    wait_cache_fresh(nssd)
    return out


def pw_line(u):
    return f"{u['login']}:*:{u['uid']}:{USER_GID}:{u['gecos']}:/home/{u['login']}:/bin/bash"


# ---------------------------------------------------------------- visibility

@pytest.mark.parametrize("via", ["cache", "socket"])
def test_users_and_org_groups_visible(nssd, nsswitch, people, tmp_path, via):
    # "socket": an empty cache directory, so every answer comes from the daemon.
    cache = None if via == "cache" else tmp_path
    ana, bob, o1 = people["ana"], people["bob"], people["orgs"]["o1"]
    for key in (ana["login"], str(ana["uid"])):
        rc, out = getent(nssd, nsswitch, "passwd", key, cache=cache)
        assert rc == 0 and out.strip() == pw_line(ana), out
    for key in (o1["name"], str(o1["gid"])):
        rc, out = getent(nssd, nsswitch, "group", key, cache=cache)
        assert rc == 0, out
        name, pw, gid, members = out.strip().split(":")
        assert (name, pw, int(gid)) == (o1["name"], "*", o1["gid"])
        assert sorted(members.split(",")) == sorted([ana["login"], bob["login"]])
    rc, out = getent(nssd, nsswitch, "passwd", "nobody.such.user", cache=cache)
    assert rc == 2 and out == ""
    # ORGs are groups, not users; users are not groups.
    assert getent(nssd, nsswitch, "passwd", o1["name"], cache=cache)[0] == 2
    assert getent(nssd, nsswitch, "group", ana["login"], cache=cache)[0] == 2


def test_cache_answers_without_the_daemon_socket(nssd, nsswitch, people):
    """The cache alone answers: a socket path that does not exist changes nothing."""
    ana = people["ana"]
    env_sock = nssd.socket
    try:
        nssd.socket = nssd.state / "no-such.sock"
        rc, out = getent(nssd, nsswitch, "passwd", ana["login"])
        assert rc == 0 and out.strip() == pw_line(ana)
        rc, out = getent(nssd, nsswitch, "group", people["orgs"]["o1"]["name"])
        assert rc == 0 and ana["login"] in out
    finally:
        nssd.socket = env_sock


@pytest.mark.parametrize("via", ["cache", "socket"])
def test_login_email_lookup(nssd, nsswitch, people, tmp_path, via):
    cache = None if via == "cache" else tmp_path
    ana = people["ana"]
    for key in (ana["mail"], ana["mail"].upper()):
        rc, out = getent(nssd, nsswitch, "passwd", key, cache=cache)
        assert rc == 0 and out.strip() == pw_line(ana), (key, out)


@pytest.mark.parametrize("via", ["cache", "socket"])
def test_id_shows_the_users_orgs(nssd, nsswitch, people, tmp_path, via):
    cache = None if via == "cache" else tmp_path
    ana, bob, eve = people["ana"], people["bob"], people["eve"]
    o1, o2 = people["orgs"]["o1"], people["orgs"]["o2"]
    r = nss(nssd, nsswitch, "id", ana["login"], cache=cache)
    assert r.returncode == 0, r.stderr
    assert f"uid={ana['uid']}({ana['login']})" in r.stdout
    assert f"{o1['gid']}({o1['name']})" in r.stdout and f"{o2['gid']}({o2['name']})" in r.stdout
    r = nss(nssd, nsswitch, "getent", "initgroups", bob["login"], cache=cache)
    assert r.returncode == 0 and r.stdout.split()[1:] == [str(o1["gid"])], r.stdout
    r = nss(nssd, nsswitch, "id", "-G", eve["login"], cache=cache)
    assert r.returncode == 0 and r.stdout.split() == [str(USER_GID)], r.stdout


# ---------------------------------------------------------------- changes

def id_groups(nssd, nsswitch, login):
    r = nss(nssd, nsswitch, "id", "-G", login)
    assert r.returncode == 0, r.stderr
    return set(int(x) for x in r.stdout.split())


def test_org_membership_change_visible_in_id(nssd, nsswitch, people):
    eve, o2 = people["eve"], people["orgs"]["o2"]
    assert o2["gid"] not in id_groups(nssd, nsswitch, eve["login"])
    assert nssd.ctl("org", "member", "add", o2["name"], eve["login"]).returncode == 0
    # At once (the daemon flagged its cache stale and answers itself) ...
    assert o2["gid"] in id_groups(nssd, nsswitch, eve["login"])
    rc, out = getent(nssd, nsswitch, "group", o2["name"])
    assert eve["login"] in out.strip().split(":")[3].split(",")
    # ... and from the rebuilt cache.
    wait_cache_fresh(nssd)
    assert o2["gid"] in id_groups(nssd, nsswitch, eve["login"])
    assert nssd.ctl("org", "member", "remove", o2["name"], eve["login"]).returncode == 0
    assert o2["gid"] not in id_groups(nssd, nsswitch, eve["login"])
    wait_cache_fresh(nssd)
    assert o2["gid"] not in id_groups(nssd, nsswitch, eve["login"])
    rc, out = getent(nssd, nsswitch, "group", o2["name"])
    assert eve["login"] not in out


def test_suspended_account_disappears(nssd, nsswitch, people):
    bob, o1 = people["bob"], people["orgs"]["o1"]
    assert nssd.ctl("suspend", bob["login"], "--reason", "test").returncode == 0
    for key in (bob["login"], str(bob["uid"]), bob["mail"]):
        assert getent(nssd, nsswitch, "passwd", key)[0] == 2, key
    assert bob["login"] not in getent(nssd, nsswitch, "group", o1["name"])[1]
    assert nss(nssd, nsswitch, "id", bob["login"]).returncode == 1
    wait_cache_fresh(nssd)
    assert getent(nssd, nsswitch, "passwd", bob["login"])[0] == 2
    assert bob["login"] not in getent(nssd, nsswitch, "group", o1["name"])[1]
    assert nssd.ctl("reactivate", bob["login"]).returncode == 0
    assert getent(nssd, nsswitch, "passwd", bob["login"]) == (0, pw_line(bob) + "\n")
    wait_cache_fresh(nssd)
    assert bob["login"] in getent(nssd, nsswitch, "group", o1["name"])[1]


def test_change_made_outside_the_daemon_reaches_the_cache(nssd, nsswitch, people, slapd):
    """A directory write by another tool appears within cache_refresh (2 s here)."""
    eve = people["eve"]
    dn = f"uid={eve['login']},ou=people,{SUFFIX}"
    ldapmodify(slapd, f"dn: {dn}\nchangetype: modify\nreplace: givenName\ngivenName: Evelyne\n")
    try:
        def renamed():
            return getent(nssd, nsswitch, "passwd", eve["login"])[1].split(":")[4] == "Evelyne NSSE"
        wait_for(renamed, 15, "the new gecos")
    finally:
        ldapmodify(slapd, f"dn: {dn}\nchangetype: modify\nreplace: givenName\ngivenName: Ève\n")


def ldapmodify(slapd, ldif, bind=None):
    cmd = ["ldapmodify", "-H", slapd.ldapi_url]
    cmd += ["-x", "-D", bind[0], "-w", bind[1]] if bind else ["-Q", "-Y", "EXTERNAL"]
    return subprocess.run(cmd, input=ldif, capture_output=True, text=True)


def test_uid_and_gid_collisions_refused_by_the_directory(nssd, people, slapd):
    ana, bob = people["ana"], people["bob"]
    o1, o2 = people["orgs"]["o1"], people["orgs"]["o2"]
    authd = ("cn=authd,ou=system," + SUFFIX, slapd.authd_pw_file.read_text())
    for bind in (authd, None):
        r = ldapmodify(slapd, f"dn: uid={bob['login']},ou=people,{SUFFIX}\nchangetype: modify\n"
                              f"replace: uidNumber\nuidNumber: {ana['uid']}\n", bind)
        assert r.returncode == 19, r.stderr  # constraintViolation (slapo-unique)
        r = ldapmodify(slapd, f"dn: uid={o2['name']},ou=orgs,{SUFFIX}\nchangetype: modify\n"
                              f"replace: gidNumber\ngidNumber: {o1['gid']}\n", bind)
        assert r.returncode == 19, r.stderr
    e = slapd.search(SUFFIX, f"(uidNumber={ana['uid']})", "uid")
    assert [x["uid"][0] for x in e] == [ana["login"]]


# ---------------------------------------------------------------- damage and outages

def corruptions(data):
    """Damaged copies of a cache file: (label, bytes)."""
    n = len(data)
    yield "truncated-half", data[: n // 2]
    yield "truncated-header", data[:40]
    yield "empty", b""
    yield "zeroed", bytes(n)
    yield "random", os.urandom(n)
    for off in (0, 8, 20, 48, 100, 200, n // 3, n // 2, n - 20):
        b = bytearray(data)
        b[off] ^= 0xFF
        yield f"flip@{off}", bytes(b)
    b = bytearray(data)
    for off in range(96, n, 37):  # every record and chain damaged somewhere
        b[off] ^= 0x5A
    yield "flip-every-37", bytes(b)


def test_corrupted_cache_still_answers_correctly(nssd, nsswitch, people, tmp_path):
    wait_cache_fresh(nssd)
    ana, o1 = people["ana"], people["orgs"]["o1"]
    want_pw = pw_line(ana)
    want_gr = getent(nssd, nsswitch, "group", o1["name"])[1].strip()
    want_id = id_groups(nssd, nsswitch, ana["login"])
    pw_data = (cache_dir(nssd) / "passwd").read_bytes()
    gr_data = (cache_dir(nssd) / "group").read_bytes()
    checked = 0
    for (plabel, pdata), (glabel, gdata) in zip(corruptions(pw_data), corruptions(gr_data)):
        d = tmp_path / plabel
        d.mkdir()
        (d / "passwd").write_bytes(pdata)
        (d / "group").write_bytes(gdata)
        for f in ("passwd", "group"):
            os.chmod(d / f, 0o644)
        assert getent(nssd, nsswitch, "passwd", ana["login"], cache=d) == (0, want_pw + "\n"), plabel
        assert getent(nssd, nsswitch, "passwd", str(ana["uid"]), cache=d) == (0, want_pw + "\n"), plabel
        assert getent(nssd, nsswitch, "group", o1["name"], cache=d)[1].strip() == want_gr, glabel
        r = nss(nssd, nsswitch, "id", "-G", ana["login"], cache=d)
        assert set(int(x) for x in r.stdout.split()) == want_id, glabel
        checked += 1
    assert checked >= 14


def test_stale_flag_sends_readers_to_the_daemon(nssd, nsswitch, people, tmp_path):
    """A cache file flagged stale is not used, even if its content is a lie."""
    bob = people["bob"]
    d = tmp_path / "mc"
    shutil.copytree(cache_dir(nssd), d)
    # Suspend bob: the copy still lists him, but is not flagged stale -> it is trusted...
    assert nssd.ctl("suspend", bob["login"]).returncode == 0
    try:
        assert getent(nssd, nsswitch, "passwd", bob["login"], cache=d)[0] == 0
        # ... until its stale flag is set, as the daemon does to replaced files.
        with open(d / "passwd", "r+b") as f:
            f.seek(24)
            f.write((1).to_bytes(4, "little"))
        assert getent(nssd, nsswitch, "passwd", bob["login"], cache=d)[0] == 2
    finally:
        assert nssd.ctl("reactivate", bob["login"]).returncode == 0


def test_daemon_down_fails_fast_or_answers_from_cache(nssd, nsswitch, people, tmp_path):
    ana = people["ana"]
    wait_cache_fresh(nssd)
    nssd.stop()
    try:
        # The cache still answers.
        assert getent(nssd, nsswitch, "passwd", ana["login"]) == (0, pw_line(ana) + "\n")
        # No cache, no daemon: a quick "not found".
        t = time.monotonic()
        rc, out = getent(nssd, nsswitch, "passwd", ana["login"], cache=tmp_path)
        assert rc == 2 and time.monotonic() - t < 3
    finally:
        nssd.start()
    # A daemon that hangs (SIGSTOP): the module gives up after its timeout.
    nssd.proc.send_signal(signal.SIGSTOP)
    try:
        t = time.monotonic()
        rc, out = getent(nssd, nsswitch, "passwd", "someone.unknown", cache=tmp_path)
        elapsed = time.monotonic() - t
        assert rc == 2 and elapsed < 3, elapsed
    finally:
        nssd.proc.send_signal(signal.SIGCONT)
    wait_cache_fresh(nssd)
    assert getent(nssd, nsswitch, "passwd", ana["login"]) == (0, pw_line(ana) + "\n")


def test_bypass_variable_disables_the_module(nssd, nsswitch, people):
    ana = people["ana"]
    env = dict(os.environ, LD_LIBRARY_PATH=str(BUILD / "nss_medimail"), MEDIMAIL_SOCKET=str(nssd.socket),
               MEDIMAIL_NSS_CACHE_DIR=str(cache_dir(nssd)), MEDIMAIL_NSS_BYPASS="1")
    script = f'mount --bind "{nsswitch}" /etc/nsswitch.conf && exec getent passwd {ana["login"]}'
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stdout == ""


def test_bypass_variable_cannot_hide_users_from_setuid_programs(nssd, state, people):
    """A user running a setuid/setgid program must not make Medimail users vanish
    inside it with MEDIMAIL_NSS_BYPASS. A setgid copy of the helper gets AT_SECURE from
    the kernel; the overrides of the socket and cache paths are ignored there too,
    so the daemon's socket is bound on the default path in a private namespace."""
    ana = people["ana"]
    helper = state / "nss_secure_setgid"
    shutil.copy(BUILD / "tests/nss_secure", helper)
    os.chown(helper, 0, 65534)
    os.chmod(helper, 0o2755)
    sock_dir = "/run/medimail"
    script = (f'mount -t tmpfs tmpfs /run && mkdir -p {sock_dir} && touch {sock_dir}/authd.sock && '
              f'mount --bind "{nssd.socket}" {sock_dir}/authd.sock && exec "$@"')
    env = dict(os.environ, MEDIMAIL_NSS_BYPASS="1", MEDIMAIL_SOCKET="/nonexistent",
               MEDIMAIL_NSS_CACHE_DIR="/nonexistent")
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", str(helper),
                        str(BUILD / "nss_medimail/libnss_medimail.so.2"), ana["login"]],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["secure=1", f"found {ana['login']}:{ana['uid']}"], r.stdout


# ---------------------------------------------------------------- enumeration

def test_enumeration_when_enabled(nssd, nsswitch, people):
    rc, out = getent(nssd, nsswitch, "passwd")
    assert rc == 0
    lines = out.splitlines()
    for key in ("ana", "eve"):
        assert pw_line(people[key]) in lines
    assert lines[0].startswith("root:")  # files first, then medimail
    rc, out = getent(nssd, nsswitch, "group")
    names = [line.split(":")[0] for line in out.splitlines()]
    assert people["orgs"]["o1"]["name"] in names and people["orgs"]["o2"]["name"] in names


def test_enumeration_off_by_default(state, slapd, smtp, nsswitch, people, tmp_path):
    d = Daemon(state, slapd, smtp.port, name="nssoff").start()
    try:
        wait_cache_fresh(d, after_change=False)
        rc, out = getent(d, nsswitch, "passwd")
        assert rc == 0 and people["ana"]["login"] not in out and out.startswith("root:")
        rc, out = getent(d, nsswitch, "group")
        assert people["orgs"]["o1"]["name"] not in out
        # Lookups by name still work.
        assert getent(d, nsswitch, "passwd", people["ana"]["login"]) == (0, pw_line(people["ana"]) + "\n")
    finally:
        d.stop()


# ---------------------------------------------------------------- threads

@pytest.mark.parametrize("via", ["cache", "socket"])
def test_many_threads_in_one_process(nssd, nsswitch, people, tmp_path, via):
    wait_cache_fresh(nssd)
    users = []
    for key in ("ana", "bob", "eve"):
        u = people[key]
        ngroups = 1 + len([o for o in people["orgs"].values()
                           if u["login"] in getent(nssd, nsswitch, "group", o["name"])[1].strip().split(":")[3]
                           .split(",")])
        users.append(f"{u['login']}:{u['uid']}:{USER_GID}:{ngroups}:{u['gecos']}")
    groups = []
    for o in people["orgs"].values():
        members = getent(nssd, nsswitch, "group", o["name"])[1].strip().split(":")[3]
        groups.append(f"{o['name']}:{o['gid']}:{len(members.split(',')) if members else 0}")
    per_thread = 100000 if via == "cache" else 300
    cache = None if via == "cache" else tmp_path
    r = nss(nssd, nsswitch, str(BUILD / "tests/nss_threads"), "16", str(per_thread), *users, "--", *groups,
            "--", "ghost.nobody", cache=cache, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"lookups={16 * per_thread} failures=0" in r.stdout
