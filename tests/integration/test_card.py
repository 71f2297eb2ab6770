"""CPS card login end to end: SoftHSM2 tokens holding certificates of a test
IGC-Santé PKI, the medimail-card helper, the daemon's certificate checks and
account mapping, linking/unlinking, and the card-removal hook."""
import base64
import os
import subprocess
import time

import pytest

from cardpki import CA, Cards, cps_subject, luhn_complete, SOFTHSM, NOW, DAY
from mmstack import BUILD, Daemon, NOBODY, SUFFIX, med_fields, per_fields, wait_for

PIN = "58273914"
WRONG = "90817263"
PW = "Pharma#2024"

RPPS_GOOD = luhn_complete("9970011000")
RPPS_NOACCOUNT = luhn_complete("9970011001")
RPPS_SUSPENDED = luhn_complete("9970011002")
RPPS_OTHER = luhn_complete("9970011003")


def account(authd, smtp, kind, fields, mail):
    args = ["register", kind, "--password-stdin"] + fields
    r = authd.ctl(*args, input=PW + "\n")
    assert r.returncode == 0, r.stdout + r.stderr
    login = r.json["fields"]["login"]
    assert authd.ctl("confirm", "--token-stdin", input=smtp.token(mail) + "\n").returncode == 0
    assert authd.ctl("validate", login).returncode == 0
    return login


@pytest.fixture(scope="module")
def pki(state):
    root = CA("AC IGC-SANTE TEST")
    persons = CA("AC IGC-SANTE TEST PERSONNES", issuer=root)
    pirate = CA("AC PIRATE SANTE")
    impostor = CA("AC IGC-SANTE TEST PERSONNES", issuer=root)  # the trusted name, another key
    cards = Cards(state / "cards")
    subj = lambda rpps, sn, gn: cps_subject("8" + rpps, sn, gn)

    k, c = persons.issue(subj(RPPS_GOOD, "DONNAT-GADY", "ISABELLE"))
    cards.make("good", k, c, PIN)
    k, c = persons.issue(subj(RPPS_GOOD, "DONNAT-GADY", "ISABELLE"))
    cards.make("block", k, c, PIN)
    k, c = persons.issue(subj(RPPS_GOOD, "DONNAT-GADY", "ISABELLE"))
    cards.make("guard", k, c, PIN)
    k, c = persons.issue(subj(RPPS_GOOD, "DONNAT-GADY", "ISABELLE"), not_before=NOW - 4 * 365 * DAY,
                         not_after=NOW - DAY)
    cards.make("expired", k, c, PIN)
    k, c = pirate.issue(subj(RPPS_GOOD, "DONNAT-GADY", "ISABELLE"))
    cards.make("otherca", k, c, PIN)
    k, c = impostor.issue(subj(RPPS_GOOD, "DONNAT-GADY", "ISABELLE"))
    cards.make("impostor", k, c, PIN)
    k, c = persons.issue(subj(RPPS_GOOD, "DONNAT-GADY", "ISABELLE"))
    persons.revoked.append(c.serial_number)
    cards.make("revoked", k, c, PIN)
    k, c = persons.issue(subj(RPPS_NOACCOUNT, "NOUVEAU", "JEAN"))
    cards.make("unlinked", k, c, PIN)
    k, c = persons.issue(subj(RPPS_SUSPENDED, "SUSPENDU", "PAUL"))
    cards.make("suspended", k, c, PIN)
    # A forged card: a genuine certificate with a key that is not its key.
    _, c = persons.issue(subj(RPPS_GOOD, "DONNAT-GADY", "ISABELLE"))
    k2, _ = persons.issue(subj(RPPS_GOOD, "DONNAT-GADY", "ISABELLE"))
    cards.make("forged", k2, c, PIN)
    k, c = persons.issue(subj(RPPS_GOOD, "DONNAT-GADY", "ISABELLE"), digital_signature=False)
    cards.make("nosig", k, c, PIN)
    # A second card with the certificate of "good" (public) and a key and PIN of its own.
    k2, _ = persons.issue(subj(RPPS_GOOD, "DONNAT-GADY", "ISABELLE"))
    cards.make("clone", k2, cards.cert("good"), WRONG)

    ca_file = state / "cards" / "ca.pem"
    ca_file.write_bytes(root.pem() + persons.pem())
    crl_files = [state / "cards" / "persons.crl", state / "cards" / "root.crl"]
    crl_files[0].write_bytes(persons.crl_pem())
    crl_files[1].write_bytes(root.crl_pem())
    return cards, ca_file, crl_files


@pytest.fixture(scope="module")
def removal_log(state):
    log = state / "cards" / "removed.log"
    script = state / "cards" / "on-removal.sh"
    script.write_text(f'#!/bin/sh\necho "$MEDIMAIL_LOGIN $MEDIMAIL_CARD_ACTION $MEDIMAIL_CARD_TOKEN" >> {log}\n')
    return log, script


@pytest.fixture(scope="module")
def card_conf(state, pki, removal_log):
    cards, ca_file, crl_files = pki
    os.environ["SOFTHSM2_CONF"] = str(cards.conf)
    os.environ["MM_SHIM_MODULE"] = SOFTHSM
    shim_state = state / "cards" / "shim"
    shim_state.mkdir()
    os.environ["MM_SHIM_STATE"] = str(shim_state)
    return "\n".join([
        f"card_helper = {BUILD / 'card/medimail-card'}",
        f"card_module = {BUILD / 'tests/cps_shim.so'}",
        f"card_ca_file = {ca_file}",
        *[f"card_crl_file = {f}" for f in crl_files],
        "card_timeout = 20",
        "card_removal_action = lock",
        f"card_removal_command = /bin/sh {removal_log[1]}",
        "card_poll_ms = 200",
        # Most tests here log in by the card's RPPS without linking it first;
        # the default (no) is tested by link_first_authd below.
        "card_map_by_rpps = yes",
    ])


@pytest.fixture(scope="module")
def card_authd(state, slapd, smtp, card_conf):
    d = Daemon(state, slapd, smtp.port, name="authd-card", extra=card_conf).start()
    yield d
    d.stop()


def card_tries(state, name):
    """Wrong PINs the card itself has counted (the shim's state: 3 blocks it)."""
    f = state / "cards" / "shim" / f"CPS-{name}.tries"
    return int(f.read_text().split()[0]) if f.exists() else 0


def unblock(state, slapd, name):
    """The card's PUK step, and the daemons' count of its PIN tries forgotten."""
    (state / "cards" / "shim" / f"CPS-{name}.tries").unlink(missing_ok=True)
    for e in slapd.search(f"ou=sessions,{SUFFIX}", "(objectClass=mmCardPinCount)", "dn"):
        subprocess.run(["ldapdelete", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url, e["dn"]], check=True,
                       capture_output=True)


def pin_counts(slapd):
    return [int(e["mmFailCount"][0]) for e in
            slapd.search(f"ou=sessions,{SUFFIX}", "(objectClass=mmCardPinCount)", "mmFailCount")]


@pytest.fixture(scope="module")
def accounts(card_authd, smtp):
    good = account(card_authd, smtp, "PER",
                   per_fields("isabelle.donnat@example.org", "DONNAT-GADY", "Isabelle", RPPS_GOOD),
                   "isabelle.donnat@example.org")
    susp = account(card_authd, smtp, "PER",
                   per_fields("paul.suspendu@example.org", "SUSPENDU", "Paul", RPPS_SUSPENDED),
                   "paul.suspendu@example.org")
    assert card_authd.ctl("suspend", susp, "--reason", "test").returncode == 0
    med = account(card_authd, smtp, "MED", med_fields("jean.nouveau@example.org", "NOUVEAU", "Jean"),
                  "jean.nouveau@example.org")
    other = account(card_authd, smtp, "PER",
                    per_fields("autre.pro@example.org", "AUTRE", "Pro", RPPS_OTHER), "autre.pro@example.org")
    return {"good": good, "suspended": susp, "med": med, "other": other}


@pytest.fixture
def insert(pki):
    cards = pki[0]
    inserted = []

    def _insert(name):
        cards.insert(name)
        inserted.append(name)
    yield _insert
    for name in inserted:
        cards.remove(name)


def settled(count, quiet=1.5, timeout=15):
    """The value of count() once it has not changed for `quiet` seconds: the watchers of an
    earlier test's card run their removal action on their own poll (card_poll_ms), after that
    test has ended."""
    end = time.monotonic() + timeout
    value, since = count(), time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < end, "removal actions still coming"
        time.sleep(0.1)
        if count() != value:
            value, since = count(), time.monotonic()
    return value


def card_auth(d, pin=PIN, *extra, uid=None):
    return d.ctl("card", "auth", "--pin-stdin", *extra, input=pin + "\n", uid=uid)


def uid_of(slapd, login):
    return int(slapd.search(SUFFIX, f"(uid={login})", "uidNumber")[0]["uidNumber"][0])


# ---------------------------------------------------------------- login

def test_good_card_logs_in_the_per_account_of_its_rpps(card_authd, accounts, insert, pki):
    """With card_map_by_rpps = yes, an unlinked card whose CN is 8 + RPPS logs in
    to the PER of that RPPS."""
    insert("good")
    r = card_auth(card_authd)
    assert r.returncode == 0, r.stdout
    f = r.json["fields"]
    assert f["login"] == accounts["good"] and f["method"] == "cps"
    assert f["national_id"] == "8" + RPPS_GOOD
    assert f["fingerprint"] == pki[0].fingerprint("good")
    assert 'audit="auth" caller="uid=0" method="cps"' in card_authd.log_text()


def test_card_must_match_the_requested_user(card_authd, accounts, insert):
    insert("good")
    assert card_auth(card_authd, PIN, "--user", accounts["good"]).returncode == 0
    r = card_auth(card_authd, PIN, "--user", accounts["other"])
    assert r.returncode == 1 and r.json["fields"]["reason"] == "card_mismatch"


def test_unprivileged_caller_authenticates_only_itself(card_authd, accounts, insert, slapd):
    insert("good")
    own = card_auth(card_authd, uid=uid_of(slapd, accounts["good"]))
    assert own.returncode == 0 and own.json["fields"]["login"] == accounts["good"], own.stdout
    r = card_auth(card_authd, uid=NOBODY)
    assert r.returncode == 1 and r.json["status"] == -13 and r.json["fields"]["reason"] == "card_mismatch"


def test_no_card_in_the_reader(card_authd, accounts):
    r = card_auth(card_authd)
    assert r.returncode == 1 and r.json["fields"]["reason"] == "no_card" and r.json["status"] == -19


# ---------------------------------------------------------------- PIN

def test_wrong_pin_reports_tries_left_and_a_right_pin_resets(card_authd, accounts, insert, state, slapd):
    insert("good")
    r = card_auth(card_authd, WRONG)
    assert r.returncode == 1 and r.json["status"] == -13
    assert r.json["fields"]["reason"] == "pin_incorrect" and r.json["fields"]["tries"] == "low"
    ok = card_auth(card_authd)
    assert ok.returncode == 0, ok.stdout
    assert card_tries(state, "good") == 0 and pin_counts(slapd) == []  # both counts went back to zero
    r = card_auth(card_authd, WRONG)
    assert r.json["fields"]["tries"] == "low"
    r = card_auth(card_authd, WRONG)
    assert r.json["fields"]["reason"] == "pin_incorrect" and r.json["fields"]["tries"] == "final"
    assert "dernier essai" in r.json["message"]
    # The daemon keeps the card's last try: not even the right PIN is tried now.
    r = card_auth(card_authd)
    assert r.returncode == 1 and r.json["status"] == -37 and r.json["fields"]["reason"] == "pin_tries", r.stdout
    assert card_tries(state, "good") == 2
    unblock(state, slapd, "good")
    assert card_auth(card_authd).returncode == 0


def test_blocked_pin(card_authd, accounts, insert, state):
    insert("block")
    (state / "cards" / "shim" / "CPS-block.tries").write_text("3\n")  # blocked elsewhere
    r = card_auth(card_authd, PIN)  # the right PIN no longer opens a blocked card
    assert r.returncode == 1 and r.json["fields"]["reason"] == "pin_locked" and r.json["status"] == -37
    assert "bloquée" in r.json["message"]


def test_other_uid_cannot_spend_victim_card_pin_tries(card_authd, accounts, insert, state, slapd):
    """Another local user (or root naming another account) cannot try PINs on a
    professional's card: refused before the card sees a PIN."""
    insert("good")
    unblock(state, slapd, "good")
    for _ in range(4):
        for uid, extra in ((uid_of(slapd, accounts["other"]), ()), (NOBODY, ()),
                           (None, ("--user", accounts["other"]))):
            r = card_auth(card_authd, WRONG, *extra, uid=uid)
            assert r.returncode == 1 and r.json["status"] == -13, r.stdout
            assert r.json["fields"]["reason"] == "card_mismatch", r.stdout
    assert card_tries(state, "good") == 0 and pin_counts(slapd) == []
    assert f'account="{accounts["other"]}" result="refused" reason="card_mismatch"' in card_authd.log_text()
    own = card_auth(card_authd, uid=uid_of(slapd, accounts["good"]))
    assert own.returncode == 0 and own.json["fields"]["login"] == accounts["good"], own.stdout


def test_other_uid_cannot_spend_the_pin_tries_of_a_card_of_no_account(card_authd, accounts, insert, state, slapd):
    """A card that maps to no account yet (a professional about to link it) is
    in the reader: another local user, whose own national id is not the card's,
    or who has no account at all, could never link it nor log in with it, so
    spends none of its tries. A user who may link it (no national id of its
    own) still may try its PIN (the link ticket)."""
    insert("unlinked")
    unblock(state, slapd, "unlinked")
    for uid in (uid_of(slapd, accounts["other"]), NOBODY):
        r = card_auth(card_authd, WRONG, uid=uid)
        assert r.returncode == 1 and r.json["fields"]["reason"] == "card_mismatch", r.stdout
    assert card_tries(state, "unlinked") == 0 and pin_counts(slapd) == []
    r = card_auth(card_authd, PIN, uid=uid_of(slapd, accounts["med"]))
    assert r.json["fields"]["reason"] == "link_required" and r.json["fields"].get("link_ticket"), r.stdout


@pytest.fixture
def card_authd2(state, slapd, smtp, card_conf, card_authd):
    # A second daemon on the same directory (same hash key): the count is shared.
    d = Daemon(state, slapd, smtp.port, name="authd-card2", extra=card_conf).start()
    yield d
    d.stop()


def test_wrong_pins_stop_before_the_token_locks(card_authd, card_authd2, accounts, insert, state, slapd):
    insert("guard")
    refusals = lambda: card_authd.log_text().count('reason="pin_tries"') + \
        card_authd2.log_text().count('reason="pin_tries"')
    before = refusals()
    reasons = []
    for d in (card_authd, card_authd2, card_authd, card_authd2, card_authd):
        r = card_auth(d, WRONG)
        assert r.returncode == 1, r.stdout
        reasons.append(r.json["fields"]["reason"])
    assert reasons == ["pin_incorrect", "pin_incorrect", "pin_tries", "pin_tries", "pin_tries"], reasons
    assert card_tries(state, "guard") == 2  # the card's own count never reached 3
    assert pin_counts(slapd) == [5]  # reserved before each try, refused past 2
    assert refusals() == before + 3
    # Past the daemons' count (it lapsed), the card's own "last try" flag still keeps that try.
    for e in slapd.search(f"ou=sessions,{SUFFIX}", "(objectClass=mmCardPinCount)", "dn"):
        subprocess.run(["ldapdelete", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url, e["dn"]], check=True)
    r = card_auth(card_authd, WRONG)
    assert r.json["fields"]["reason"] == "pin_tries" and card_tries(state, "guard") == 2, r.stdout
    assert 'result="refused" reason="pin_final_try"' in card_authd.log_text()
    unblock(state, slapd, "guard")
    assert card_auth(card_authd2).returncode == 0 and pin_counts(slapd) == []


class HelperHooks:
    """The real medimail-card behind a wrapper that counts its runs (one per
    helper process: the read, then the PIN step), runs what a test hooked to a
    run number (a card swapped in the reader), can make every run wait a while
    (requests in parallel all read before any PIN step) and runs one helper at a
    time, as one card in one reader answers one command at a time."""

    def __init__(self, root: "os.PathLike"):
        from pathlib import Path
        self.dir = Path(root)
        self.dir.mkdir(exist_ok=True)
        self.script = self.dir / "medimail-card-hooked"
        d = self.dir
        self.script.write_text(f"""#!/bin/sh
n=$(flock {d}/runs.lock sh -c 'n=$(($(cat {d}/runs 2>/dev/null || echo 0) + 1)); echo $n > {d}/runs; echo $n')
[ -f {d}/hook.$n ] && . {d}/hook.$n
[ -f {d}/delay ] && sleep "$(cat {d}/delay)"
exec flock {d}/card.lock {BUILD / 'card/medimail-card'}
""")
        self.script.chmod(0o755)

    def reset(self, delay=None):
        for f in self.dir.glob("hook.*"):
            f.unlink()
        (self.dir / "runs").unlink(missing_ok=True)
        (self.dir / "delay").unlink(missing_ok=True)
        if delay:
            (self.dir / "delay").write_text(f"{delay}\n")

    def swap_before_run(self, n, cards, out, into):
        """Before helper run n: card out leaves the reader, card into comes in."""
        d_out, u_out, _ = cards.cards[out]
        d_in, u_in, _ = cards.cards[into]
        (self.dir / f"hook.{n}").write_text(f"mv '{cards.live / u_out}' '{d_out}/'\nmv '{d_in / u_in}' '{cards.live}/'\n")


@pytest.fixture(scope="module")
def hooks(state):
    return HelperHooks(state / "cards" / "hooks")


@pytest.fixture(scope="module")
def hooked_authd(state, slapd, smtp, card_conf, card_authd, hooks):
    conf = card_conf.replace(f"card_helper = {BUILD / 'card/medimail-card'}", f"card_helper = {hooks.script}")
    d = Daemon(state, slapd, smtp.port, name="authd-hooked", extra=conf).start()
    yield d
    d.stop()


def test_card_swapped_between_the_read_and_the_pin_step_gets_no_pin(hooked_authd, hooks, accounts, insert,
                                                                     state, slapd, pki):
    """A local user (a MED account: no national id) shows a card of no account,
    which it may link to its own (its PIN may be tried), then puts the victim's
    card in the reader before the PIN step: that PIN must not reach a card the
    caller was never cleared for."""
    cards = pki[0]
    unblock(state, slapd, "good")
    unblock(state, slapd, "unlinked")
    insert("unlinked")
    hooks.reset()
    hooks.swap_before_run(2, cards, "unlinked", "good")
    try:
        r = card_auth(hooked_authd, WRONG, uid=uid_of(slapd, accounts["med"]))
        assert r.returncode == 1, r.stdout
        assert r.json["fields"]["reason"] == "card_changed" and r.json["status"] == -11, r.stdout
        assert card_tries(state, "good") == 0  # the victim's card never saw the PIN
        assert card_tries(state, "unlinked") == 0
        assert pin_counts(slapd) in ([], [0])  # no PIN was tried: the reserved try is given back
        assert 'result="refused" reason="card_changed"' in hooked_authd.log_text()
    finally:
        hooks.reset()
        cards.remove("good")


@pytest.fixture
def hooked_authd2(state, slapd, smtp, card_conf, hooked_authd, hooks):
    conf = card_conf.replace(f"card_helper = {BUILD / 'card/medimail-card'}", f"card_helper = {hooks.script}")
    d = Daemon(state, slapd, smtp.port, name="authd-hooked2", extra=conf).start()
    yield d
    d.stop()


def expire_pin_counts(slapd):
    """The daemons' counts lapse (card_pin_lockout went by)."""
    for e in slapd.search(f"ou=sessions,{SUFFIX}", "(objectClass=mmCardPinCount)", "dn"):
        ldif = f"dn: {e['dn']}\nchangetype: modify\nreplace: mmSessionExpires\nmmSessionExpires: 20200101000000Z\n"
        subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url], input=ldif, text=True,
                       check=True, capture_output=True)


@pytest.mark.parametrize("count", ["lapsed", "never_seen"])
def test_parallel_wrong_pins_on_a_card_with_a_failure_cannot_block_it(hooked_authd, hooked_authd2, card_authd, hooks,
                                                                       accounts, insert, state, slapd, count):
    """The card counts one wrong PIN the daemons no longer count (their count
    lapsed) or never saw (typed elsewhere). Two wrong PINs at once through two
    daemons both read the card (not yet at its last try) before either tries:
    together they must not spend the card's last try."""
    import threading
    insert("guard")
    unblock(state, slapd, "guard")
    if count == "lapsed":
        assert card_auth(card_authd, WRONG).json["fields"]["reason"] == "pin_incorrect"
        expire_pin_counts(slapd)
    else:
        (state / "cards" / "shim" / "CPS-guard.tries").write_text("1\n")
    assert card_tries(state, "guard") == 1
    hooks.reset(delay=1)
    results = {}
    try:
        ts = [threading.Thread(target=lambda d=d: results.__setitem__(d.name, card_auth(d, WRONG)))
              for d in (hooked_authd, hooked_authd2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    finally:
        hooks.reset()
    reasons = sorted(r.json["fields"]["reason"] for r in results.values())
    assert card_tries(state, "guard") == 2, reasons  # the last try is still the owner's
    assert reasons == ["pin_incorrect", "pin_tries"], reasons
    unblock(state, slapd, "guard")


def test_card_pulled_while_it_checks_a_wrong_pin_gets_no_try_back(card_authd, accounts, insert, state, slapd):
    """Pulling the card while it checks a wrong PIN: the card has counted it, so
    the daemons must not give that try back. With a module that tells none of
    the PIN counter flags, their count is all that stops the third wrong PIN."""
    insert("good")
    unblock(state, slapd, "good")
    shim = state / "cards" / "shim"
    marks = [shim / "CPS-good.noflags", shim / "CPS-good.pull"]
    for m in marks:
        m.touch()
    try:
        reasons = [card_auth(card_authd, WRONG).json["fields"]["reason"] for _ in range(3)]
    finally:
        for m in marks:
            m.unlink()
    assert card_tries(state, "good") == 2, reasons  # not blocked
    assert reasons == ["no_card", "no_card", "pin_tries"], reasons
    unblock(state, slapd, "good")
    assert card_auth(card_authd).returncode == 0


def test_second_card_with_the_victims_certificate_cannot_clear_its_pin_count(card_authd, accounts, insert, state,
                                                                            slapd, pki):
    """Two cards, one certificate: between wrong PINs on the victim's card, a
    card of the attacker's making holding the victim's (public) certificate
    with the attacker's own key and PIN signs; the signature does not verify.
    That must not clear the count of the victim's card, or it takes a third
    wrong PIN (with a module that tells no PIN counter flags, that count is all
    that stands before it)."""
    cards = pki[0]
    insert("good")
    unblock(state, slapd, "good")
    noflags = state / "cards" / "shim" / "CPS-good.noflags"
    noflags.touch()
    reasons = []
    try:
        for _ in range(3):
            reasons.append(card_auth(card_authd, WRONG).json["fields"]["reason"])
            cards.remove("good")
            insert("clone")
            reasons.append(card_auth(card_authd, WRONG).json["fields"]["reason"])  # the clone's own PIN
            cards.remove("clone")
            cards.insert("good")
    finally:
        noflags.unlink()
    assert card_tries(state, "good") < 3, reasons  # not blocked
    assert reasons == ["pin_incorrect", "bad_signature"] + ["pin_tries"] * 4, reasons
    unblock(state, slapd, "good")
    assert card_auth(card_authd).returncode == 0


# ---------------------------------------------------------------- certificate checks

@pytest.mark.parametrize("card,reason", [
    ("expired", "expired"),
    ("otherca", "unknown_ca"),
    ("impostor", "invalid_cert"),
    ("revoked", "revoked"),
    ("forged", "bad_signature"),
    ("nosig", "key_usage"),
])
def test_refused_cards(card_authd, accounts, insert, card, reason):
    insert(card)
    r = card_auth(card_authd)
    assert r.returncode == 1, r.stdout
    assert r.json["fields"]["reason"] == reason and r.json["status"] == -13
    assert "login" not in r.json["fields"]
    # Under the account the card claims (by the RPPS of its subject), though it is refused.
    assert f'audit="auth" caller="uid=0" method="cps" service="-" remote="-" account="{accounts["good"]}" ' \
        f'result="refused" reason="{reason}' in card_authd.log_text()


def test_suspended_account_refused(card_authd, accounts, insert):
    insert("suspended")
    r = card_auth(card_authd)
    assert r.returncode == 1 and r.json["status"] == -1
    assert r.json["fields"]["reason"] == "account_state" and r.json["fields"]["status"] == "suspended"


# ---------------------------------------------------------------- link, list, unlink

def test_link_required_then_link_then_login_then_unlink(card_authd, accounts, insert, pki, slapd):
    cards = pki[0]
    fp = cards.fingerprint("unlinked")
    insert("unlinked")
    r = card_auth(card_authd)
    assert r.returncode == 1 and r.json["status"] == -2
    assert r.json["fields"]["reason"] == "link_required" and r.json["fields"]["fingerprint"] == fp

    # Only an administrator links with the PIN, and the PIN must open the card.
    # To a caller that is not the account's, the account is unknown (the one
    # access rule: someone else's account and an unknown one answer alike);
    # the owner is told the PIN form is for administrators.
    r = card_authd.ctl("card", "link", accounts["med"], "--pin-stdin", input=PIN + "\n", uid=NOBODY)
    assert r.returncode == 1 and r.json["status"] == -2 and "compte introuvable" in r.json["message"], r.stdout
    r = card_authd.ctl("card", "link", accounts["med"], "--pin-stdin", input=PIN + "\n",
                       uid=uid_of(slapd, accounts["med"]))
    assert r.returncode == 1 and r.json["status"] == -13, r.stdout
    r = card_authd.ctl("card", "link", accounts["med"], "--pin-stdin", input=WRONG + "\n")
    assert r.returncode == 1 and r.json["fields"]["reason"] == "pin_incorrect"
    assert card_auth(card_authd).returncode == 1  # resets the card's counter, still unlinked
    r = card_authd.ctl("card", "link", accounts["med"], "--pin-stdin", input=PIN + "\n")
    assert r.returncode == 0, r.stdout
    assert r.json["fields"]["fingerprint"] == fp
    assert "CN=8" + RPPS_NOACCOUNT in r.json["fields"]["subject"]
    e = slapd.search(SUFFIX, f"(uid={accounts['med']})", "mmCardCert", "mmCardInfo")[0]
    assert e["mmCardCert"] == [fp] and e["mmCardInfo"][0].startswith(fp + " ")

    r = card_auth(card_authd)
    assert r.returncode == 0 and r.json["fields"]["login"] == accounts["med"], r.stdout

    # The same card may not go on a second account.
    r = card_authd.ctl("card", "link", accounts["other"], "--pin-stdin", input=PIN + "\n")
    assert r.returncode == 1 and r.json["fields"]["reason"] in ("linked_elsewhere", "card_mismatch")

    lst = card_authd.ctl("card", "list", accounts["med"])
    assert lst.returncode == 0
    (rec,) = lst.json["records"]
    assert rec["fingerprint"] == fp and "surName=NOUVEAU" in rec["subject"]
    cert = cards.cert("unlinked")
    assert rec["not_after"] == cert.not_valid_after.strftime("%Y%m%d%H%M%SZ")
    # The owner sees their own cards, nobody else's.
    own = card_authd.ctl("card", "list", uid=uid_of(slapd, accounts["med"]))
    assert own.returncode == 0 and own.json["records"][0]["fingerprint"] == fp
    assert card_authd.ctl("card", "list", accounts["med"], uid=NOBODY).returncode == 1

    # Désassocier: the owner unlinks; the card needs linking again.
    r = card_authd.ctl("card", "unlink", accounts["med"], "sha256:" + "0" * 64)
    assert r.returncode == 1 and r.json["status"] == -2
    r = card_authd.ctl("card", "unlink", accounts["med"], fp, uid=uid_of(slapd, accounts["med"]))
    assert r.returncode == 0, r.stdout
    e = slapd.search(SUFFIX, f"(uid={accounts['med']})", "mmCardCert", "mmCardInfo")[0]
    assert "mmCardCert" not in e and "mmCardInfo" not in e
    r = card_auth(card_authd)
    assert r.returncode == 1 and r.json["fields"]["reason"] == "link_required"
    assert card_authd.ctl("card", "list", accounts["med"]).json.get("records") is None


@pytest.fixture(scope="module")
def link_first_authd(state, slapd, smtp, card_conf, card_authd):
    """The default: no card_map_by_rpps line at all."""
    conf = card_conf.replace("\ncard_map_by_rpps = yes", "")
    assert "card_map_by_rpps" not in conf
    d = Daemon(state, slapd, smtp.port, name="authd-card-linkfirst", extra=conf).start()
    yield d
    d.stop()


def test_votre_carte_cpx_doit_etre_prealablement_liee_a_votre_compte(link_first_authd, card_authd, accounts,
                                                                      insert, pki, slapd):
    """Fiche réflexe: "Votre carte CPx doit être préalablement liée à votre
    compte". By default (card_map_by_rpps off) a card whose CN is the RPPS of a
    PER account does not log in to it until it is linked: link_required and a
    link ticket, to root and to the owner; once linked it logs in; unlinked
    again, it is refused again."""
    d = link_first_authd
    fp = pki[0].fingerprint("good")
    insert("good")
    r = card_auth(d)
    assert r.returncode == 1 and r.json["status"] == -2, r.stdout
    f = r.json["fields"]
    assert f["reason"] == "link_required" and f["fingerprint"] == fp and f.get("link_ticket"), r.stdout
    assert "login" not in f
    owner = uid_of(slapd, accounts["good"])
    r = card_auth(d, uid=owner)
    assert r.returncode == 1 and r.json["fields"]["reason"] == "link_required", r.stdout
    assert r.json["fields"].get("link_ticket")
    r = card_auth(d, PIN, "--user", accounts["good"])
    assert r.returncode == 1 and r.json["fields"]["reason"] == "link_required", r.stdout
    assert 'audit="auth"' in d.log_text() and "link_required " + fp in d.log_text()
    # The same card, the same account, on the daemon that maps by RPPS: logs in.
    assert card_auth(card_authd).json["fields"]["login"] == accounts["good"]

    r = d.ctl("card", "link", accounts["good"], "--pin-stdin", input=PIN + "\n")
    assert r.returncode == 0 and r.json["fields"]["fingerprint"] == fp, r.stdout
    try:
        r = card_auth(d)
        assert r.returncode == 0 and r.json["fields"]["login"] == accounts["good"], r.stdout
        r = card_auth(d, uid=owner)
        assert r.returncode == 0 and r.json["fields"]["login"] == accounts["good"], r.stdout
    finally:
        assert d.ctl("card", "unlink", accounts["good"], fp).returncode == 0
    r = card_auth(d)
    assert r.returncode == 1 and r.json["fields"]["reason"] == "link_required", r.stdout


def test_without_rpps_mapping_another_uid_gets_no_link_ticket_for_someone_elses_card(link_first_authd, accounts,
                                                                                     insert, state, slapd):
    """"Votre carte CPx doit être préalablement liée à votre compte": to your
    own account only. With the mapping off, another local user (a PER of
    another RPPS, or a uid with no account) gets card_mismatch for the card of
    a PER, no ticket to link it, and spends none of its tries."""
    insert("good")
    unblock(state, slapd, "good")
    for uid in (uid_of(slapd, accounts["other"]), NOBODY):
        r = card_auth(link_first_authd, WRONG, uid=uid)
        assert r.returncode == 1 and r.json["fields"]["reason"] == "card_mismatch", r.stdout
        assert not r.json["fields"].get("link_ticket")
    assert card_tries(state, "good") == 0


def test_card_map_by_rpps_takes_only_a_boolean(state, slapd, smtp, card_conf):
    bad = card_conf.replace("card_map_by_rpps = yes", "card_map_by_rpps = maybe")
    with pytest.raises(RuntimeError, match="card_map_by_rpps.*expected yes or no|expected yes or no"):
        Daemon(state, slapd, smtp.port, name="authd-card-badbool", extra=bad).start()


def test_link_refuses_a_card_of_another_rpps(card_authd, accounts, insert):
    insert("good")
    r = card_authd.ctl("card", "link", accounts["other"], "--pin-stdin", input=PIN + "\n")
    assert r.returncode == 1 and r.json["fields"]["reason"] == "card_mismatch"


def test_unlink_syntax(card_authd, accounts):
    r = card_authd.ctl("card", "unlink", accounts["med"], "md5:abc")
    assert r.returncode == 1 and r.json["fields"]["field"] == "fingerprint"


# ---------------------------------------------------------------- removal

def test_card_removal_runs_the_action_for_the_card_session(card_authd, accounts, insert, pki, removal_log):
    log = removal_log[0]
    line = f"{accounts['good']} lock CPS-good"
    count = lambda: log.read_text().count(line) if log.exists() else 0
    before = settled(count)  # monitors of earlier tests' cards settle
    insert("good")
    r = card_auth(card_authd)
    assert r.returncode == 0
    time.sleep(1.0)
    assert count() == before  # still in the reader: nothing happens
    pki[0].remove("good")
    wait_for(lambda: count() == before + 1, timeout=10, what="removal action")
    wait_for(lambda: f'audit="card_removed" caller="monitor" method="cps" service="-" remote="-" '
                     f'account="{accounts["good"]}" result="ok" reason="lock"' in card_authd.log_text(),
             timeout=5, what="audit")
    time.sleep(0.5)
    assert count() == before + 1  # once per removal


# ---------------------------------------------------------------- a helper that hangs

def test_hung_helper_is_killed_at_the_timeout(state, slapd, smtp, pki, card_authd):
    import subprocess
    script = state / "cards" / "hung-helper.sh"
    script.write_text("#!/bin/sh\nexec sleep 47.25\n")
    script.chmod(0o755)
    d = Daemon(state, slapd, smtp.port, name="authd-hung",
               extra=f"card_helper = {script}\ncard_ca_file = {pki[1]}\ncard_timeout = 1\n").start()
    try:
        t0 = time.monotonic()
        r = card_auth(d)
        assert time.monotonic() - t0 < 5
        assert r.returncode == 1 and r.json["status"] == -110 and r.json["fields"]["reason"] == "card_timeout"
        # killed and reaped, not left behind
        left = subprocess.run(["pgrep", "-f", "sleep 47.25"], capture_output=True, text=True)
        assert left.stdout.strip() == ""
        assert 'reason="card_timeout"' in d.log_text()
    finally:
        d.stop()


def test_hung_module_does_not_hang_the_removal_watcher(state, slapd, smtp, card_conf, accounts, insert, pki,
                                                      removal_log):
    """Fault matrix row 7 (issue 18), "a hung PKCS#11 module → the removal watcher does not hang":
    the watch helper says "present" each poll round; when the module blocks (the shim's .hang
    file) the daemon hears nothing for card_poll_ms + card_timeout, kills the helper and runs the
    removal action (the card can no longer be vouched for); the token can be watched again."""
    log = removal_log[0]
    hang = state / "cards" / "shim" / "CPS-good.hang"
    d = Daemon(state, slapd, smtp.port, name="authd-hungwatch",
               extra=card_conf.replace("card_timeout = 20", "card_timeout = 2")).start()
    line = f"{accounts['good']} lock CPS-good"
    count = lambda: log.read_text().count(line) if log.exists() else 0
    try:
        insert("good")
        before = settled(count)
        assert card_auth(d).returncode == 0
        time.sleep(1.0)
        assert count() == before  # in the reader, heard from: nothing happens
        hang.write_text("")
        t0 = time.monotonic()
        wait_for(lambda: count() == before + 1, timeout=10, what="removal action after the hang")
        assert time.monotonic() - t0 < 2.2 + 3
        # the action writes its line before it exits; the audit line follows once the daemon has
        # reaped it, so under load it can come a moment later
        audited = f'audit="card_removed" caller="monitor" method="cps" service="-" remote="-" ' \
                  f'account="{accounts["good"]}" result="ok" reason="helper hung"'
        wait_for(lambda: audited in d.log_text(), timeout=10, what="audit line of the hung watcher")
        assert "card monitor for token CPS-good: helper silent for 2200 ms (hung PKCS#11 module?)" in d.log_text()
        # the watcher is gone, not stuck: once the module answers, a new login is watched again
        hang.unlink()
        time.sleep(0.5)  # the old watcher leaves the list just after its audit line
        assert card_auth(d).returncode == 0
        time.sleep(1.0)
        assert count() == before + 1
        pki[0].remove("good")
        wait_for(lambda: count() == before + 2, timeout=10, what="removal action of the new watcher")
    finally:
        hang.unlink(missing_ok=True)
        d.stop()


# ---------------------------------------------------------------- through PAM (pam_medimail cps / cps_auto)

P_PIN = "Code PIN de la carte CPS : "
PAM_SUCCESS, PAM_PERM_DENIED, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL, PAM_MAXTRIES = 0, 6, 7, 9, 11


def pam_result(output, op):
    import re
    m = re.search(rf"^RESULT {op} (\d+)", output, re.M)
    assert m, output
    return int(m.group(1))


@pytest.fixture(scope="module")
def card_pam(state, card_authd):
    from pamstack import PamService
    return {opt: PamService(state, card_authd, name=f"card-{opt.replace('=', '-').replace(' ', '-')}", options=opt)
            for opt in ("cps", "cps_auto", "cps lang=en")}


def test_pam_card_login_opens_a_cps_session_without_mailed_code(card_authd, accounts, insert, card_pam, smtp):
    import re
    from pamstack import P_CGU, Codes, pamclient
    codes = Codes(smtp)
    mails_before = codes.count("isabelle.donnat@example.org")
    insert("good")
    r = pamclient(card_pam["cps"], accounts["good"], ["authenticate", "acct_mgmt", "open_session", "close_session"],
                  [(P_PIN, PIN), (P_CGU + "*", "oui")])
    assert pam_result(r.output, "authenticate") == PAM_SUCCESS, r
    assert pam_result(r.output, "open_session") == PAM_SUCCESS, r
    assert f"ENV MEDIMAIL_ACCOUNT={accounts['good']}" in r.output
    assert r.output.count("PROMPT_OFF") == 1 and "Mot de passe" not in r.output  # the PIN only
    assert codes.count("isabelle.donnat@example.org") == mails_before  # strong authentication: no code
    log = card_authd.log_text()
    assert re.search(rf'audit="session-open" caller="uid=0" method="cps" service="card-cps" .*account="{accounts["good"]}" '
                     r'result="ok"', log), log[-3000:]


def test_pam_card_login_through_pamtester_in_english(card_authd, accounts, insert, card_pam):
    from pamstack import pamtester
    insert("good")
    r = pamtester(card_pam["cps lang=en"], accounts["good"], ["authenticate"], [("CPS card PIN: ", PIN)])
    assert r.status == 0 and "successfully authenticated" in r.output, r


def test_pam_wrong_pin_tells_the_tries_left(card_authd, accounts, insert, card_pam, state, slapd):
    from pamstack import pamclient
    insert("good")
    unblock(state, slapd, "good")
    svc = card_pam["cps"]
    r = pamclient(svc, accounts["good"], ["authenticate"], [(P_PIN, WRONG)])
    assert pam_result(r.output, "authenticate") == PAM_AUTH_ERR, r
    assert "ERROR: Code PIN incorrect : peu d'essais restants avant le blocage de la carte." in r.output
    r = pamclient(svc, accounts["good"], ["authenticate"], [(P_PIN, WRONG)])
    assert "ERROR: Code PIN incorrect : il ne reste qu'un essai avant le blocage de la carte." in r.output, r
    r = pamclient(svc, accounts["good"], ["authenticate"], [(P_PIN, PIN)])  # the last try is kept
    assert pam_result(r.output, "authenticate") == PAM_MAXTRIES, r
    assert "ERROR: Trop de codes PIN faux : carte CPS protégée" in r.output, r
    unblock(state, slapd, "good")
    r = pamclient(svc, accounts["good"], ["authenticate"], [(P_PIN, PIN)])
    assert pam_result(r.output, "authenticate") == PAM_SUCCESS, r


def test_wrong_pins_on_a_card_are_audited_to_its_owner_and_told_at_the_next_login(card_authd, accounts, insert,
                                                                                  card_pam, state, slapd):
    """Someone types wrong PINs on a professional's card (the count lapses, so
    this can go on, a try or two at a time): each is audited under the card's
    account even when no user was named, and the owner's next card login says
    how many there were."""
    from pamstack import pamclient
    insert("good")
    unblock(state, slapd, "good")
    r = card_auth(card_authd, WRONG)  # no user named
    assert r.json["fields"]["reason"] == "pin_incorrect", r.stdout
    assert f'account="{accounts["good"]}" result="refused" reason="pin_incorrect"' in card_authd.log_text()
    svc = card_pam["cps"]
    r = pamclient(svc, accounts["good"], ["authenticate"], [(P_PIN, PIN)])
    assert pam_result(r.output, "authenticate") == PAM_SUCCESS, r
    assert "Attention : 1 code(s) PIN faux saisi(s) sur votre carte CPS depuis sa dernière utilisation." in r.output, r
    assert f'account="{accounts["good"]}" result="ok" reason="sha256:' in card_authd.log_text()
    assert "after 1 wrong PIN(s)" in card_authd.log_text()
    ok = card_auth(card_authd)  # told once: the count went with the right PIN
    assert ok.returncode == 0 and "pin_failures" not in ok.json["fields"], ok.stdout


def test_pam_blocked_pin(card_authd, accounts, insert, card_pam, state):
    from pamstack import pamclient
    insert("block")
    (state / "cards" / "shim" / "CPS-block.tries").write_text("3\n")  # blocked elsewhere
    r = pamclient(card_pam["cps"], accounts["good"], ["authenticate"], [(P_PIN, PIN)])
    assert pam_result(r.output, "authenticate") == PAM_MAXTRIES, r
    assert "ERROR: Carte CPS bloquée : code PIN faux trop de fois. Débloquez-la avec son code PUK." in r.output


def test_pam_suspended_account_refused(card_authd, accounts, insert, card_pam):
    from pamstack import pamclient
    insert("suspended")
    r = pamclient(card_pam["cps"], accounts["suspended"], ["authenticate"], [(P_PIN, PIN)])
    assert pam_result(r.output, "authenticate") == PAM_PERM_DENIED, r
    assert "ERROR: Compte suspendu : contactez le centre de services." in r.output


def test_pam_card_of_another_account(card_authd, accounts, insert, card_pam):
    from pamstack import pamclient
    insert("good")
    r = pamclient(card_pam["cps"], accounts["other"], ["authenticate"], [(P_PIN, PIN)])
    assert pam_result(r.output, "authenticate") == PAM_AUTH_ERR, r
    assert "ERROR: Cette carte CPS n'est pas celle de ce compte." in r.output


def test_pam_cps_auto_uses_the_password_without_a_card(card_authd, accounts, card_pam, smtp):
    from pamstack import P_CGU, Codes, login_answers, pamclient
    codes = Codes(smtp)
    r = pamclient(card_pam["cps_auto"], accounts["good"], ["authenticate", "acct_mgmt", "open_session"],
                  login_answers(codes, "isabelle.donnat@example.org") + [(P_CGU + "*", "oui")])
    assert pam_result(r.output, "authenticate") == PAM_SUCCESS, r
    assert "Code PIN" not in r.output
    assert 'method="password+otp" service="card-cps_auto"' in card_authd.log_text()


def test_pam_card_pulled_during_the_pin_prompt(card_authd, accounts, insert, pki, card_pam):
    from pamstack import pamclient
    insert("good")

    def pull_then_pin():
        pki[0].remove("good")
        return PIN
    r = pamclient(card_pam["cps_auto"], accounts["good"], ["authenticate"], [(P_PIN, pull_then_pin)])
    assert pam_result(r.output, "authenticate") == PAM_AUTHINFO_UNAVAIL, r
    assert "ERROR: Aucune carte CPS dans le lecteur." in r.output
    assert "Mot de passe" not in r.output  # no silent fallback once the PIN was asked


def test_pam_links_an_unlinked_card_after_password_and_code(card_authd, accounts, insert, pki, card_pam, smtp,
                                                            slapd):
    from pamstack import P_CGU, Codes, login_answers, pamclient
    codes = Codes(smtp)
    mail = "lien.pam@example.org"
    login = account(card_authd, smtp, "MED", med_fields(mail, "LIEN", "Marc"), mail)
    fp = pki[0].fingerprint("unlinked")
    insert("unlinked")
    svc = card_pam["cps"]
    try:
        # A wrong password: nothing is linked.
        r = pamclient(svc, login, ["authenticate"], [(P_PIN, PIN), ("Mot de passe : ", "Faux#2024x")])
        assert pam_result(r.output, "authenticate") == PAM_AUTH_ERR, r
        assert "mmCardCert" not in slapd.search(SUFFIX, f"(uid={login})", "mmCardCert")[0]

        r = pamclient(svc, login, ["authenticate", "acct_mgmt", "open_session"],
                      [(P_PIN, PIN)] + login_answers(codes, mail) + [(P_CGU + "*", "oui")])
        assert pam_result(r.output, "authenticate") == PAM_SUCCESS, r
        assert pam_result(r.output, "open_session") == PAM_SUCCESS, r
        assert f"INFO: Cette carte CPS n'est liée à aucun compte Medimail. Pour la lier au compte {login}" in r.output
        assert f"INFO: Carte CPS liée au compte {login}" in r.output
        assert r.output.count(P_PIN) == 1  # the PIN was typed once
        e = slapd.search(SUFFIX, f"(uid={login})", "mmCardCert")[0]
        assert e["mmCardCert"] == [fp]

        # From now on the card alone (and its PIN) logs in, without password or code.
        r = pamclient(svc, login, ["authenticate"], [(P_PIN, PIN)])
        assert pam_result(r.output, "authenticate") == PAM_SUCCESS, r
        assert "Mot de passe" not in r.output
    finally:
        card_authd.ctl("card", "unlink", login, fp)
    log = card_authd.log_text()
    assert f'audit="card_link" caller="uid=0" method="cps" service="card-cps" remote="-" account="{login}" result="ok"' in log
    assert PIN not in log and WRONG not in log


def test_card_link_needs_a_completed_login_and_the_ticket(card_authd, accounts, insert, pki, smtp):
    """The wire side of the PAM link: a ticket alone, a password step alone, a replayed txn."""
    from pamstack import Codes
    from mmwire import call
    codes = Codes(smtp)
    mail = "lien.wire@example.org"
    login = account(card_authd, smtp, "MED", med_fields(mail, "FILAIRE", "Rose"), mail)
    insert("unlinked")
    auth = call(card_authd.socket, 0x0601, pin=PIN)
    assert auth.status == -2 and auth.get("reason") == "link_required"
    ticket = auth.get("link_ticket")
    assert len(ticket) == 64

    pw = call(card_authd.socket, 0x0201, user=login, password=PW)
    assert pw.status == 0
    txn = pw.get("txn")
    # a password step without its code does not link
    r = call(card_authd.socket, 0x0602, login=login, txn=txn, link_ticket=ticket)
    assert r.status == -13 and r.get("reason") == "txn"
    # the ticket was spent by that try: a new one is needed
    ticket = call(card_authd.socket, 0x0601, pin=PIN).get("link_ticket")
    before = codes.count(mail)
    assert call(card_authd.socket, 0x0202, user=login, txn=txn).status == 0
    code = codes.wait_new(mail, before)
    assert call(card_authd.socket, 0x0203, user=login, txn=txn, code=code, then="card_link").status == 0
    # a completed login is no password step any more
    assert call(card_authd.socket, 0x0202, user=login, txn=txn).status == -13
    r = call(card_authd.socket, 0x0602, login=login, txn=txn, link_ticket="0" * 64)
    assert r.status == -13 and r.get("reason") == "ticket"
    r = call(card_authd.socket, 0x0602, login=login, txn=txn, link_ticket=ticket)
    assert r.status == 0, r
    assert r.get("fingerprint") == pki[0].fingerprint("unlinked")
    # both were single use
    r = call(card_authd.socket, 0x0602, login=login, txn=txn, link_ticket=ticket)
    assert r.status == -13
    assert card_authd.ctl("card", "unlink", login, pki[0].fingerprint("unlinked")).returncode == 0
    assert ticket not in card_authd.log_text() and txn not in card_authd.log_text()


def call_as(uid, socket_path, code, **fields):
    """One request on the daemon's socket from another local uid."""
    import json
    import sys
    from pathlib import Path
    code_s = ("import json, sys; sys.path.insert(0, %r); from mmwire import call; "
              "r = call(%r, %d, **json.loads(sys.argv[1])); "
              "print(json.dumps([r.status, r.message, r.fields]))") % (str(Path(__file__).parent), str(socket_path), code)
    p = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", sys.executable, "-c", code_s,
                        json.dumps(fields)], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(p.stdout)


def test_card_link_tells_another_uid_nothing_of_which_accounts_exist(card_authd, accounts, slapd):
    """A local user sends the user's own link request (with made-up handles)
    naming other logins: an unknown one, someone's login, someone's login
    e-mail, a suspended account. All get one answer, as for a login."""
    me = uid_of(slapd, accounts["other"])
    answers = []
    for login in ("personne.inconnue@example.org", accounts["good"], "isabelle.donnat@example.org",
                  accounts["suspended"]):
        status, message, _ = call_as(me, card_authd.socket, 0x0602, login=login, txn="0" * 64,
                                     link_ticket="0" * 64)
        answers.append((status, message.replace(login, "LOGIN")))
    assert len(set(answers)) == 1, answers
    assert answers[0][0] in (-2, -13), answers


def test_card_present_query(card_authd, insert):
    from mmwire import call
    r = call(card_authd.socket, 0x0605)
    assert r.status == 0 and r.get("present") == "no" and r.get("reason") == "no_card"
    insert("good")
    r = call(card_authd.socket, 0x0605)
    assert r.status == 0 and r.get("present") == "yes"


# ---------------------------------------------------------------- secrets

def test_no_pin_and_no_certificate_in_the_log(card_authd, pki):
    log = card_authd.log_text()
    assert 'audit="auth"' in log
    for secret in (PIN, WRONG):
        assert secret not in log
    assert "BEGIN CERTIFICATE" not in log
    for name in ("good", "unlinked", "revoked"):
        der = pki[0].cert(name).public_bytes(__import__("cryptography.hazmat.primitives.serialization",
                                                        fromlist=["Encoding"]).Encoding.DER)
        assert base64.b64encode(der)[100:160].decode() not in log
        assert der.hex()[200:280] not in log


# ---------------------------------------------------------------- PC/SC (vsmartcard-vpcd)

VPCD_PORT = 0x4C7B  # our own (and the next, for the second slot vpcd opens), not the packaged reader's 0x8C7B;
# below the ephemeral range (32768-60999), where an outgoing connection of a parallel test took it,
# and below free_port's 20000-32767
PCSCD_SOCKET = "/run/pcscd/pcscd.comm"


@pytest.fixture(scope="module")
def pcscd(state):
    """A pcscd with only the vpcd reader "Virtual PCD 00 00" (pcscd 1.9 always serves
    /run/pcscd: it must not be running already)."""
    import socket as so
    import subprocess
    if os.path.exists(PCSCD_SOCKET):
        with so.socket(so.AF_UNIX) as s:
            if s.connect_ex(PCSCD_SOCKET) == 0:
                raise RuntimeError("a pcscd already runs: stop it for the PC/SC card tests")
    confdir = state / "pcsc"
    confdir.mkdir()
    (confdir / "vpcd").write_text(f'FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:{VPCD_PORT:#x}\n'
                                  f'LIBPATH /usr/lib/pcsc/drivers/serial/libifdvpcd.so\nCHANNELID {VPCD_PORT:#x}\n')
    log = open(state / "pcscd.log", "wb")
    p = subprocess.Popen(["pcscd", "--foreground", "--config", str(confdir), "--info"], stdout=log, stderr=log)
    wait_for(lambda: os.path.exists(PCSCD_SOCKET) and b"daemon ready" in (state / "pcscd.log").read_bytes(),
             what="pcscd")
    yield state / "pcscd.log"
    p.terminate()
    p.wait(10)
    log.close()


class Vicc:
    def __init__(self, log):
        self.proc = None
        self.log = log

    def insert(self):
        import subprocess
        from pathlib import Path
        n = self.log.read_bytes().count(b"Card inserted")
        self.proc = subprocess.Popen(["/usr/bin/python3", str(Path(__file__).with_name("vicc.py")), str(VPCD_PORT)])
        wait_for(lambda: self.log.read_bytes().count(b"Card inserted") > n, what="card inserted")

    def remove(self):
        if self.proc and self.proc.poll() is None:
            n = self.log.read_bytes().count(b"Card Removed")
            self.proc.terminate()
            self.proc.wait(5)
            # pcscd must see the card leave before another one comes in
            wait_for(lambda: self.log.read_bytes().count(b"Card Removed") > n, what="card removed")


@pytest.fixture
def vicc(pcscd):
    v = Vicc(pcscd)
    yield v
    v.remove()


@pytest.fixture(scope="module")
def pcsc_authd(state, slapd, smtp, pki, removal_log, card_authd, pcscd):
    cards, ca_file, crl_files = pki
    extra = "\n".join([
        f"card_helper = {BUILD / 'card/medimail-card'}",
        f"card_module = {BUILD / 'tests/cps_shim.so'}",
        "card_reader = Virtual PCD 00 00",
        f"card_ca_file = {ca_file}",
        *[f"card_crl_file = {f}" for f in crl_files],
        "card_removal_action = logout",
        f"card_removal_command = /bin/sh {removal_log[1]}",
        "card_poll_ms = 200",
        "card_map_by_rpps = yes",  # the good card logs in unlinked, as in card_conf
    ])
    d = Daemon(state, slapd, smtp.port, name="authd-pcsc", extra=extra).start()
    yield d
    d.stop()


def test_pcsc_reader_presence_gates_the_card(pcsc_authd, accounts, insert, vicc):
    insert("good")                # the token is there for PKCS#11 ...
    r = card_auth(pcsc_authd)     # ... but the configured reader is empty
    assert r.returncode == 1 and r.json["fields"]["reason"] == "no_card", r.stdout
    vicc.insert()
    r = card_auth(pcsc_authd)
    assert r.returncode == 0 and r.json["fields"]["login"] == accounts["good"], r.stdout


def test_pcsc_removal_runs_the_action(pcsc_authd, accounts, insert, vicc, removal_log):
    log = removal_log[0]
    line = f"{accounts['good']} logout CPS-good"
    count = lambda: log.read_text().count(line) if log.exists() else 0
    insert("good")
    vicc.insert()
    before = settled(count)  # the previous test's watcher acts on that test's card removal
    assert card_auth(pcsc_authd).returncode == 0
    time.sleep(1.0)
    assert count() == before
    vicc.remove()                 # the token stays in SoftHSM: only PC/SC sees the card leave
    wait_for(lambda: count() == before + 1, timeout=10, what="removal action through PC/SC")
