"""One change, seen in getent on every daemon at once, without rewriting the cache (issue 17):
a change is listed in the small passwd.changed / group.changed files beside the large cache
files, whose lookups then ask the daemon, until the next full build. Here the full builds
never come by themselves (cache_refresh = 3600, cache_fold_ms = 0): every answer that changes
comes from the changed-keys files, on the daemon that made the change and, through the
followed directory, on the other one."""
import contextlib
import subprocess
import time

import pytest

from mmstack import SUFFIX, Daemon, med_fields, org_fields, wait_for
from test_lifecycle import full_registration
from test_nss import cache_dir, cache_generation, changed_keys, getent, nss, nsswitch, pw_line  # noqa: F401

EXTRA = "enumerate = yes\ncache_refresh = 3600\ncache_fold_ms = 0\n"


def built(d):
    return "name-service cache rebuilt" in d.log_text()


@pytest.fixture(scope="module")
def pair(state, slapd, smtp):
    a = Daemon(state, slapd, smtp.port, name="chg-a", extra=EXTRA).start()
    b = Daemon(state, slapd, smtp.port, name="chg-b", extra=EXTRA).start()
    for d in (a, b):
        wait_for(lambda d=d: "following ou=people" in d.log_text(), 15, "the follow of ou=people")
    yield a, b
    a.stop()
    b.stop()


@pytest.fixture(scope="module")
def people(pair, smtp, slapd):
    """Three active accounts and an ORG whose only member is ana, then one full build on each
    daemon (a restart): from here on, nothing rebuilds the files."""
    a, b = pair
    out = {}
    for key, sn in (("ana", "CHGA"), ("bob", "CHGB"), ("eve", "CHGE")):
        mail = f"{key}.chg@example.org"
        login, _ = full_registration(a, smtp, "MED", med_fields(mail, sn, key.capitalize()), mail)
        out[key] = {"login": login, "uid": int(slapd.search(SUFFIX, f"(uid={login})")[0]["uidNumber"][0]),
                    "gecos": f"{key.capitalize()} {sn}", "mail": mail}
    login, v = full_registration(a, smtp, "ORG", org_fields(out["ana"]["mail"], mail="org.chg@example.org",
                                                            name="Labo Chg"), "org.chg@example.org")
    out["org"] = {"name": login, "gid": int(v["gid_number"])}
    time.sleep(2.5)  # the follow reports entries modified from a second before it starts
    for d in (a, b):
        d.stop()
        mark = len(d.log_text())  # the log is appended to: only what this start says counts
        d.start()
        wait_for(lambda d=d, mark=mark: "name-service cache rebuilt" in d.log_text()[mark:] and
                 "following ou=orgs" in d.log_text()[mark:], 30, "a build and the follow")
    for d in (a, b):  # the builds the follow's start asked for are over
        n = -1
        while n != builds(d):
            n = builds(d)
            time.sleep(1.5)
        assert changed_keys(d, "passwd") == 0 and changed_keys(d, "group") == 0
    return out


@contextlib.contextmanager
def without_socket(d):
    """The module finds no daemon: what it answers comes from the cache files alone."""
    sock = d.socket
    d.socket = d.state / "no-such.sock"
    try:
        yield
    finally:
        d.socket = sock


def set_status(slapd, dn, status):
    subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url], check=True, capture_output=True,
                   text=True, input=f"dn: {dn}\nchangetype: modify\nreplace: mmStatus\nmmStatus: {status}\n")


def builds(d):
    return d.log_text().count("name-service cache rebuilt")


def generations(d):
    return cache_generation(d, "passwd")[0], cache_generation(d, "group")[0]


def members(d, nsswitch, group):
    rc, out = getent(d, nsswitch, "group", group)
    assert rc == 0, out
    return set(filter(None, out.strip().split(":")[3].split(",")))


def within(what, fn, seconds=1.0):
    """fn() becomes true within seconds (the goal of the issue); returns how long it took."""
    t0 = time.monotonic()
    while not fn():
        assert time.monotonic() - t0 < seconds, f"{what}: not seen within {seconds} s"
        time.sleep(0.02)
    return time.monotonic() - t0


def test_a_suspension_is_seen_on_both_daemons_at_once_without_a_rebuild(pair, nsswitch, people):
    a, b = pair
    bob = people["bob"]
    before = {d.name: generations(d) for d in pair}
    nbuilds = {d.name: builds(d) for d in pair}
    assert getent(b, nsswitch, "passwd", bob["login"]) == (0, pw_line(bob) + "\n")
    assert a.ctl("suspend", bob["login"], "--reason", "test").returncode == 0
    for d in pair:
        for key in (bob["login"], str(bob["uid"]), bob["mail"]):
            within(f"{key} gone on {d.name}", lambda d=d, key=key: getent(d, nsswitch, "passwd", key)[0] == 2)
        # the big files were not rewritten, nor flagged stale: only the changed keys ask the daemon
        assert generations(d) == before[d.name]
        assert cache_generation(d, "passwd")[1] == 0 and cache_generation(d, "group")[1] == 0
        assert changed_keys(d, "passwd") >= 1
    assert a.ctl("reactivate", bob["login"]).returncode == 0
    for d in pair:
        within(f"{bob['login']} back on {d.name}",
               lambda d=d: getent(d, nsswitch, "passwd", bob["login"]) == (0, pw_line(bob) + "\n"))
        assert builds(d) == nbuilds[d.name], "a full build ran"


def test_unchanged_keys_are_still_answered_by_the_cache_alone(pair, nsswitch, people):
    """Only the listed keys go to the socket: with no socket at all, eve (never changed) is
    answered, bob (listed by the test above) is not."""
    a, b = pair
    eve, bob = people["eve"], people["bob"]
    for d in pair:
        with without_socket(d):
            assert getent(d, nsswitch, "passwd", eve["login"]) == (0, pw_line(eve) + "\n")
            assert getent(d, nsswitch, "passwd", str(eve["uid"]))[0] == 0
            assert getent(d, nsswitch, "passwd", bob["login"])[0] != 0


def test_an_org_member_added_on_one_daemon_is_in_id_on_the_other(pair, nsswitch, people):
    a, b = pair
    eve, org = people["eve"], people["org"]

    def groups(d):
        r = nss(d, nsswitch, "id", "-G", eve["login"])
        assert r.returncode == 0, r.stderr
        return set(int(x) for x in r.stdout.split())

    assert org["gid"] not in groups(b)
    assert eve["login"] not in members(b, nsswitch, org["name"])
    assert a.ctl("org", "member", "add", org["name"], eve["login"]).returncode == 0
    for d in pair:
        took = within(f"eve in the ORG on {d.name}", lambda d=d: org["gid"] in groups(d))
        assert eve["login"] in members(d, nsswitch, org["name"]), took
        assert str(org["gid"]) in nss(d, nsswitch, "getent", "group", str(org["gid"])).stdout
    assert a.ctl("org", "member", "remove", org["name"], eve["login"]).returncode == 0
    for d in pair:
        within(f"eve out of the ORG on {d.name}", lambda d=d: org["gid"] not in groups(d))
        assert eve["login"] not in members(d, nsswitch, org["name"])


def test_a_change_made_in_the_directory_itself_is_seen_too(pair, nsswitch, people, slapd):
    """Not through any daemon: an operator's ldapmodify suspends ana; both daemons learn it from
    the follow, and her ORG's group loses her."""
    ana, org = people["ana"], people["org"]
    dn = slapd.search(SUFFIX, f"(uid={ana['login']})")[0]["dn"]
    assert ana["login"] in members(pair[1], nsswitch, org["name"])
    set_status(slapd, dn, "suspended")
    for d in pair:
        within(f"ana gone on {d.name}", lambda d=d: getent(d, nsswitch, "passwd", ana["login"])[0] == 2)
        within(f"ana out of the group on {d.name}",
               lambda d=d: ana["login"] not in members(d, nsswitch, org["name"]))
    set_status(slapd, dn, "active")
    for d in pair:
        within(f"ana back on {d.name}", lambda d=d: getent(d, nsswitch, "passwd", ana["login"])[0] == 0)


def test_a_lost_changed_file_makes_every_answer_come_from_the_daemon(pair, nsswitch, people):
    """The cache promises a changed-keys file: without a usable one, nothing is answered from the
    cache (it could be outdated), everything from the daemon."""
    a, _ = pair
    eve = people["eve"]
    path = cache_dir(a) / "passwd.changed"
    saved = path.read_bytes()
    sock = a.socket
    try:
        path.unlink()
        assert getent(a, nsswitch, "passwd", eve["login"]) == (0, pw_line(eve) + "\n")  # the daemon
        a.socket = a.state / "no-such.sock"
        assert getent(a, nsswitch, "passwd", eve["login"])[0] != 0
        path.write_bytes(saved[:40])  # a truncated one is no better
        assert getent(a, nsswitch, "passwd", eve["login"])[0] != 0
    finally:
        a.socket = sock
        tmp = path.with_name(".restore")
        tmp.write_bytes(saved)
        tmp.replace(path)
    assert getent(a, nsswitch, "passwd", eve["login"]) == (0, pw_line(eve) + "\n")


def test_the_next_build_folds_the_changes_in(pair, nsswitch, people):
    a, _ = pair
    bob = people["bob"]
    assert changed_keys(a, "passwd") >= 1
    a.stop()
    a.start()
    wait_for(lambda: built(a), 30, "a build")
    wait_for(lambda: changed_keys(a, "passwd") == 0 and changed_keys(a, "group") == 0, 10, "empty lists")
    with without_socket(a):
        assert getent(a, nsswitch, "passwd", bob["login"]) == (0, pw_line(bob) + "\n")


def test_the_socket_answers_a_group_from_the_snapshot_only_while_following(
        pair, nsswitch, people, state, slapd, smtp, tmp_path):
    """getgrnam through the socket (no cache files) takes its members' state from the daemon's
    snapshot and changed-keys list only while the directory is followed; a daemon that does not
    follow it reads every member, so a member suspended elsewhere is gone from its answer at once."""
    a, b = pair
    ana, org = people["ana"], people["org"]
    c = Daemon(state, slapd, smtp.port, name="chg-c", extra=EXTRA + "ldap_follow = no\n").start()
    try:
        wait_for(lambda: built(c), 30, "a build")
        for d in (b, c):
            assert ana["login"] in members_via_socket(d, nsswitch, org["name"], tmp_path)
        assert a.ctl("suspend", ana["login"], "--reason", "test").returncode == 0
        assert ana["login"] not in members_via_socket(c, nsswitch, org["name"], tmp_path)
        within("ana out of the socket's answer on chg-b",
               lambda: ana["login"] not in members_via_socket(b, nsswitch, org["name"], tmp_path))
    finally:
        assert a.ctl("reactivate", ana["login"]).returncode == 0
        c.stop()
    within("ana back on chg-b", lambda: ana["login"] in members_via_socket(b, nsswitch, org["name"], tmp_path))


def members_via_socket(d, nsswitch, group, empty):
    rc, out = getent(d, nsswitch, "group", group, cache=empty)
    assert rc == 0, out
    return set(filter(None, out.strip().split(":")[3].split(",")))


def test_a_change_the_name_service_does_not_show_lists_nothing(pair, nsswitch, people, slapd):
    """A failed login writes the account's entry (mmFailCount) on every daemon's follow: that
    lists no key and starts no build, so an attacker's guesses cannot make the daemons rebuild
    or send the host's lookups to the socket."""
    eve = people["eve"]
    dn = slapd.search(SUFFIX, f"(uid={eve['login']})")[0]["dn"]
    before = {d.name: (builds(d), changed_keys(d, "passwd"), changed_keys(d, "group")) for d in pair}
    for n in (3, 0):
        subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url], check=True,
                       capture_output=True, text=True,
                       input=f"dn: {dn}\nchangetype: modify\nreplace: mmFailCount\nmmFailCount: {n}\n")
    time.sleep(1.0)  # the follow's reports have long arrived
    for d in pair:
        assert (builds(d), changed_keys(d, "passwd"), changed_keys(d, "group")) == before[d.name]
        with without_socket(d):
            assert getent(d, nsswitch, "passwd", eve["login"]) == (0, pw_line(eve) + "\n")


def ldap_replace(slapd, dn, attr, value):
    subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url], check=True, capture_output=True,
                   text=True, input=f"dn: {dn}\nchangetype: modify\nreplace: {attr}\n{attr}: {value}\n")


def test_changes_racing_builds_leave_no_stale_answer(pair, nsswitch, people, state, slapd, smtp):
    """Three writers change three accounts at once, in the directory and through a daemon,
    while a third daemon rebuilds after every change it sees (cache_fold_ms high), so changes
    land during builds' reads and folds. Afterwards every daemon shows the last state from the
    socket, and its cache alone never shows an earlier one (it shows the last, or sends the key
    to the daemon). Not caught here: a fold that drops a key one build too early, which the next
    build (started by that same change) repairs within one build's time."""
    import threading
    a, b = pair
    c = Daemon(state, slapd, smtp.port, name="chg-r", extra="cache_refresh = 3600\ncache_fold_ms = 600000\n").start()
    keys = ("ana", "bob", "eve")
    dns = {k: slapd.search(SUFFIX, f"(uid={people[k]['login']})")[0]["dn"] for k in keys}
    errors = []

    def writer(k):
        try:
            for i in range(12):
                ldap_replace(slapd, dns[k], "sn", f"RACE{i}")
                if i % 4 == 1:
                    assert a.ctl("suspend", people[k]["login"], "--reason", "race").returncode == 0
                    assert a.ctl("reactivate", people[k]["login"]).returncode == 0
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    try:
        wait_for(lambda: built(c) and "following ou=people" in c.log_text(), 30, "a build and the follow")
        start = builds(c)
        threads = [threading.Thread(target=writer, args=(k,)) for k in keys]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert builds(c) > start + 3, "the changes did not race any build"

        def line(k):
            u = dict(people[k], gecos=f"{k.capitalize()} RACE11")
            return pw_line(u) + "\n"

        for d in (a, b, c):
            for k in keys:
                within(f"{k}'s last state on {d.name}",
                       lambda d=d, k=k: getent(d, nsswitch, "passwd", people[k]["login"]) == (0, line(k)), 2.0)
        time.sleep(1.0)  # every build the writers started is over on chg-r
        for d in (a, b, c):
            with without_socket(d):
                for k in keys:
                    rc, out = getent(d, nsswitch, "passwd", people[k]["login"])
                    assert rc != 0 or out == line(k), (d.name, out)
    finally:
        for k in keys:
            sn = people[k]["gecos"].split(" ", 1)[1]
            ldap_replace(slapd, dns[k], "sn", sn)
        c.stop()
    for d in pair:
        for k in keys:
            within(f"{k} restored on {d.name}",
                   lambda d=d, k=k: getent(d, nsswitch, "passwd", people[k]["login"]) == (0, pw_line(people[k]) + "\n"))


def test_a_member_named_like_a_host_user_gains_no_group(pair, nsswitch, people, slapd):
    """An operator (or a broken import) names host users among an ORG's members: root and
    daemon are then listed as changed group-list keys, which sends their initgroups to the
    daemon; it must give them no ORG group, and the group must not show them."""
    org = people["org"]
    dn = slapd.search(SUFFIX, f"(&(objectClass=mmAccount)(mmAccountType=ORG)(uid={org['name']}))")[0]["dn"]
    hosts = [f"uid={n},ou=people,{SUFFIX}" for n in ("root", "daemon")]
    mod = "".join(f"mmMember: {h}\n" for h in hosts)
    subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url], check=True, capture_output=True,
                   text=True, input=f"dn: {dn}\nchangetype: modify\nadd: mmMember\n{mod}")
    try:
        for d in pair:
            within(f"the ORG's change listed on {d.name}", lambda d=d: (changed_keys(d, "group") or 0) >= 2)
            for user in ("root", "daemon"):
                r = nss(d, nsswitch, "id", "-G", user)
                assert r.returncode == 0, r.stderr
                assert str(org["gid"]) not in r.stdout.split(), (d.name, user, r.stdout)
            assert not {"root", "daemon"} & members(d, nsswitch, org["name"])
    finally:
        subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url], check=True,
                       capture_output=True, text=True,
                       input=f"dn: {dn}\nchangetype: modify\ndelete: mmMember\n{mod}")


def test_an_account_deleted_in_the_directory_is_gone_on_both_daemons_at_once(pair, nsswitch, people, slapd):
    """The follow tells a change with the entry as it made it, so the daemons do not read the
    entry again; a delete comes with its name alone, and each daemon must then find the account
    gone rather than keep what the last change told. Last in this module: eve is gone after it."""
    eve = people["eve"]
    dn = slapd.search(SUFFIX, f"(uid={eve['login']})")[0]["dn"]
    ldap_replace(slapd, dn, "sn", "CHGE")  # modified since the follow started: its delete is told
    for d in pair:
        within(f"eve still shown on {d.name}", lambda d=d: getent(d, nsswitch, "passwd", eve["login"])[0] == 0)
    subprocess.run(["ldapdelete", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url, dn], check=True,
                   capture_output=True, text=True)
    for d in pair:
        within(f"eve gone on {d.name}", lambda d=d: getent(d, nsswitch, "passwd", eve["login"])[0] == 2)
        within(f"eve's uid gone on {d.name}",
               lambda d=d: getent(d, nsswitch, "passwd", str(eve["uid"]))[0] == 2)
