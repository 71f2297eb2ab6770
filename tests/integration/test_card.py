"""CPS card login end to end: SoftHSM2 tokens holding certificates of a test
IGC-Santé PKI, the medimail-card helper, the daemon's certificate checks and
account mapping, linking/unlinking, and the card-removal hook."""
import base64
import os
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
    assert authd.ctl("confirm", smtp.token(mail)).returncode == 0
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
def card_authd(state, slapd, smtp, pki, removal_log):
    cards, ca_file, crl_files = pki
    os.environ["SOFTHSM2_CONF"] = str(cards.conf)
    os.environ["MM_SHIM_MODULE"] = SOFTHSM
    shim_state = state / "cards" / "shim"
    shim_state.mkdir()
    os.environ["MM_SHIM_STATE"] = str(shim_state)
    extra = "\n".join([
        f"card_helper = {BUILD / 'card/medimail-card'}",
        f"card_module = {BUILD / 'tests/cps_shim.so'}",
        f"card_ca_file = {ca_file}",
        *[f"card_crl_file = {f}" for f in crl_files],
        "card_timeout = 20",
        "card_removal_action = lock",
        f"card_removal_command = /bin/sh {removal_log[1]}",
        "card_poll_ms = 200",
    ])
    d = Daemon(state, slapd, smtp.port, name="authd-card", extra=extra).start()
    yield d
    d.stop()


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


def card_auth(d, pin=PIN, *extra, uid=None):
    return d.ctl("card", "auth", "--pin-stdin", *extra, input=pin + "\n", uid=uid)


def uid_of(slapd, login):
    return int(slapd.search(SUFFIX, f"(uid={login})", "uidNumber")[0]["uidNumber"][0])


# ---------------------------------------------------------------- login

def test_good_card_logs_in_the_per_account_of_its_rpps(card_authd, accounts, insert, pki):
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

def test_wrong_pin_reports_tries_left_and_a_right_pin_resets(card_authd, accounts, insert):
    insert("good")
    r = card_auth(card_authd, WRONG)
    assert r.returncode == 1 and r.json["status"] == -13
    assert r.json["fields"]["reason"] == "pin_incorrect" and r.json["fields"]["tries"] == "low"
    r = card_auth(card_authd, WRONG)
    assert r.json["fields"]["reason"] == "pin_incorrect" and r.json["fields"]["tries"] == "final"
    assert "dernier essai" in r.json["message"]
    ok = card_auth(card_authd)
    assert ok.returncode == 0, ok.stdout
    r = card_auth(card_authd, WRONG)
    assert r.json["fields"]["tries"] == "low"   # the counter went back to full
    assert card_auth(card_authd).returncode == 0


def test_blocked_pin(card_authd, accounts, insert):
    insert("block")
    for _ in range(3):
        assert card_auth(card_authd, WRONG).json["fields"]["reason"] in ("pin_incorrect", "pin_locked")
    r = card_auth(card_authd, PIN)  # the right PIN no longer opens a blocked card
    assert r.returncode == 1 and r.json["fields"]["reason"] == "pin_locked" and r.json["status"] == -37
    assert "bloquée" in r.json["message"]


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
    assert f'audit="auth" caller="uid=0" method="cps" service="-" remote="-" account="-" result="refused" reason="{reason}' \
        in card_authd.log_text()


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

    # Only an administrator links, and the PIN must open the card.
    r = card_authd.ctl("card", "link", accounts["med"], "--pin-stdin", input=PIN + "\n", uid=NOBODY)
    assert r.returncode == 1 and r.json["status"] == -13
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
    time.sleep(0.5)  # monitors of earlier tests' cards settle
    before = count()
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

VPCD_PORT = 0x9C7B  # our own port, not the packaged reader's 0x8C7B
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
    before = count()
    assert card_auth(pcsc_authd).returncode == 0
    time.sleep(1.0)
    assert count() == before
    vicc.remove()                 # the token stays in SoftHSM: only PC/SC sees the card leave
    wait_for(lambda: count() == before + 1, timeout=10, what="removal action through PC/SC")
