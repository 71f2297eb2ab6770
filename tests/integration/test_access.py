"""The access table attacked from outside (issue 13): every request that names or acts on an
account, sent over the unix socket by callers who have no business with that account.

The rule (authd/store/access.c): someone else's account answers exactly as an unknown one, a
suspended caller acts for nobody, root names the account, malformed names are refused before
any look-up, every refusal is audited once with the caller and never with a secret."""
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from apistack import PW, luhn_complete, poll_until
from mmstack import TOP, med_fields, org_fields, per_fields

HERE = Path(__file__).resolve().parent


def _codes():
    text = (TOP / "common" / "protocol.h").read_text()
    return {m[1]: int(m[2], 16) for m in re.finditer(r"\bMM_REQ_([A-Z0-9_]+) = (0x[0-9a-fA-F]+)", text)}


C = _codes()
NOBODY_UID = 65534  # a uid with no account
SECRET_HEX = "ab" * 32


# --- wire calls as any uid ----------------------------------------------------------------

_PROG = r"""
import json, sys, mmwire
path, jobs = sys.argv[1], json.load(sys.stdin)
out = []
for code, fields in jobs:
    fields = [(k, v.encode("utf-8", "surrogateescape")) for k, v in fields]
    r = mmwire.call_raw(path, mmwire.encode(code, fields))
    out.append({"status": r.status, "message": r.message, "fields": r.fields})
print(json.dumps(out))
"""


def calls(authd, uid, jobs):
    """jobs: [(code, [(key, value), ...]), ...] sent by a process of this uid (None: root)."""
    cmd = [sys.executable, "-c", _PROG, str(authd.socket)]
    if uid is not None:
        cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] + cmd
    out = subprocess.run(cmd, input=json.dumps(jobs), capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(HERE)))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def call(authd, uid, code, fields):
    return calls(authd, uid, [(code, list(fields))])[0]


def text_of(r):
    return r["message"] + "\n" + "\n".join(f"{k}={v}" for k, v in r["fields"])


def shape(r, *names):
    """The reply with the names the caller gave replaced: what must not tell accounts apart."""
    s = json.dumps([r["status"], r["message"], r["fields"]], ensure_ascii=False)
    for n in names:
        s = s.replace(n, "<NAME>")
    return s


# --- the people ---------------------------------------------------------------------------

def make(authd, smtp, kind, fields, mail):
    args = ["register", kind] + fields
    if kind != "ORG":
        args.insert(2, "--password-stdin")
    r = authd.ctl(*args, input=PW + "\n")
    assert r.returncode == 0, r.stdout + r.stderr
    login = r.json["fields"]["login"]
    assert authd.ctl("confirm", "--token-stdin", input=smtp.token(mail) + "\n").returncode == 0
    v = authd.ctl("validate", login)
    assert v.returncode == 0, v.stdout
    f = v.json["fields"]
    return {"login": login, "mail": mail, "uid": int(f["uid_number"]) if f.get("uid_number") else None,
            "mss": f.get("mss_address")}


@pytest.fixture(scope="module")
def people(authd, smtp):
    p = {}
    p["vic"] = make(authd, smtp, "PER", per_fields("victime.acces@example.org", "VICTIME", "Vera",
                                                   luhn_complete("1000900000")), "victime.acces@example.org")
    p["att"] = make(authd, smtp, "PER", per_fields("attaquant.acces@example.org", "ATTAQUANT", "Artur",
                                                   luhn_complete("1000900001")), "attaquant.acces@example.org")
    p["sus"] = make(authd, smtp, "MED", med_fields("suspendu.acces@example.org", "SUSPENDU", "Sylvain"),
                    "suspendu.acces@example.org")
    p["org"] = make(authd, smtp, "ORG", org_fields("victime.acces@example.org", mail="officine.acces@example.org",
                                                   name="Officine Acces"), "officine.acces@example.org")
    p["sorg"] = make(authd, smtp, "ORG", org_fields("suspendu.acces@example.org", mail="cabinet.acces@example.org",
                                                    name="Cabinet Acces"), "cabinet.acces@example.org")
    # an ORG suspended by the service centre, whose connection account (the victim) is active
    p["org_off"] = make(authd, smtp, "ORG", org_fields("victime.acces@example.org", mail="ferme.acces@example.org",
                                                       name="Officine Fermee"), "ferme.acces@example.org")
    for who in ("sus", "org_off"):
        r = authd.ctl("suspend", p[who]["login"])
        assert r.returncode == 0, r.stdout
    for who in ("vic", "att", "sus"):
        assert p[who]["uid"], p[who]
    return p


def victim_values(p, who="vic"):
    """What must never reach an attacker: every identifying value of the account."""
    a = p[who]
    return [v for v in (a["login"], a["mail"], a["mss"], str(a["uid"]) if a["uid"] else None) if v]


# --- the requests that name an account: (code name, key, other fields) ---------------------

NAMED = [
    ("SHOW", "login", []),
    ("CGU_ACCEPT", "login", []),
    ("AUTH_PASSWORD", "user", [("password", "Pas#Le-Bon1")]),
    ("OTP_SEND", "user", [("txn", SECRET_HEX)]),
    ("OTP_VERIFY", "user", [("txn", SECRET_HEX), ("code", "123456")]),
    ("ACCT_CHECK", "user", []),
    ("PASSWORD_CHANGE", "user", [("old_password", "Pas#Le-Bon1"), ("new_password", "Nouveau#Mot2passe")]),
    ("SESSION_OPEN", "user", [("method", "password")]),
    ("ACCOUNTS", "user", []),
    ("DEFAULT_SET", "user", [("target", "officine")]),
    ("DIR_SEARCH", "login", [("q", "martin")]),
    ("DIR_FAVORITE_ADD", "login", [("target", "nobody")]),
    ("DIR_FAVORITE_DEL", "login", [("target", "nobody")]),
    ("DIR_FAVORITE_LIST", "login", []),
    ("DIR_VISIBILITY", "login", [("directory", "medimail"), ("visible", "off")]),
    ("ECPS_START", "login", []),
    ("PSC_LIST", "user", []),
    ("PSC_UNLINK", "user", []),
    ("CARD_AUTH", "user", [("pin", "1234")]),
    ("CARD_LINK", "login", [("txn", SECRET_HEX), ("link_ticket", SECRET_HEX)]),
    ("CARD_LIST", "login", []),
    ("CARD_UNLINK", "login", [("fingerprint", "00" * 32)]),
    ("PROFILE_GET", "login", []),
    ("PROFILE_SET", "login", [("city", "Castres")]),
    ("EMAIL_CHANGE", "login", [("login_mail", "pirate.acces@example.org")]),
    ("SIGNATURE_LIST", "login", []),
    ("SIGNATURE_SET", "login", [("title", "Pirate"), ("html", "<p>pirate</p>")]),
    ("SIGNATURE_DEL", "login", [("id", "1")]),
    ("AUTOREPLY_GET", "login", []),
    ("AUTOREPLY_SET", "login", [("subject", "pirate")]),
    ("NOTIFY_GET", "login", []),
    ("NOTIFY_SET", "login", [("receipt", "no")]),
    ("DELEGATE_LIST", "login", []),
    ("DELEGATE_ADD", "login", [("address", "attaquant.acces@example.org")]),
    ("DELEGATE_DEL", "login", [("address", "attaquant.acces@example.org")]),
    ("DEMAT_GET", "login", []),
    ("DEMAT_SET", "login", [("dematerialisation", "yes")]),
    ("DEVICE_ENROL", "login", [("name", "pirate")]),
    ("DEVICE_LIST", "login", []),
    ("DEVICE_REVOKE", "login", [("id", "1")]),
    ("ORG_MEMBER_ADD", "org", [("member", "attaquant.acces@example.org")]),
    ("ORG_MEMBER_DEL", "org", [("member", "victime.acces@example.org")]),
    ("VALIDATE", "login", []),
    ("SUSPEND", "login", []),
    ("REACTIVATE", "login", []),
    ("CLOSE", "login", []),
    ("CONVERT", "login", [("rpps", luhn_complete("1000900009"))]),
    ("CONFIRM_RESEND", "login", []),
]
IDS = [n[0] for n in NAMED]
# Rows whose caller must be active (ACCESS_CALLER_ACTIVE in ipc/dispatch.c) and that act for an ORG.
ORG_ROWS = ["SHOW", "DIR_VISIBILITY", "PROFILE_GET", "PROFILE_SET", "SIGNATURE_LIST", "SIGNATURE_SET",
            "AUTOREPLY_GET", "AUTOREPLY_SET", "NOTIFY_GET", "NOTIFY_SET", "DELEGATE_LIST", "DELEGATE_ADD",
            "DEMAT_GET", "DEMAT_SET", "DEVICE_LIST", "ORG_MEMBER_ADD"]
ACTIVE_ROWS = ["DIR_SEARCH", "DIR_FAVORITE_LIST", "DIR_VISIBILITY", "CARD_LIST", "PROFILE_GET", "PROFILE_SET",
               "SIGNATURE_LIST", "AUTOREPLY_GET", "NOTIFY_GET", "DELEGATE_LIST", "DEMAT_GET", "DEVICE_LIST",
               "DEVICE_ENROL", "PSC_UNLINK", "EMAIL_CHANGE"]
NAME_REQUIRED = ["PSC_UNLINK", "CGU_ACCEPT", "CARD_LINK"]


def fields_for(row, name):
    _, key, extra = row
    return ([(key, name)] if name is not None else []) + extra


@pytest.mark.parametrize("victim", ["vic", "org", "org_off"])
@pytest.mark.parametrize("row", NAMED, ids=IDS)
def test_someone_elses_account_answers_as_an_unknown_one(authd, people, row, victim):
    """Another user naming the victim (a person, an ORG, a suspended ORG), by login and by login
    e-mail: the same bytes as an unknown name."""
    vic, att = people[victim], people["att"]
    code = C[row[0]]
    unknown_login, unknown_mail = "inconnu-acces-9z", "personne.inconnue.acces@example.org"
    got = calls(authd, att["uid"], [(code, fields_for(row, vic["login"])), (code, fields_for(row, unknown_login)),
                                    (code, fields_for(row, vic["mail"])), (code, fields_for(row, unknown_mail))])
    by_login, unk_login, by_mail, unk_mail = got
    assert by_login["status"] < 0, by_login
    assert shape(by_login, vic["login"]) == shape(unk_login, unknown_login), (by_login, unk_login)
    assert shape(by_mail, vic["mail"]) == shape(unk_mail, unknown_mail), (by_mail, unk_mail)
    # nothing of the victim's beyond what the attacker typed itself
    for r, typed in ((by_login, vic["login"]), (by_mail, vic["mail"])):
        leak = text_of(r).replace(typed, "")
        for v in victim_values(people, victim):
            assert v not in leak, (v, r)


@pytest.mark.parametrize("row", NAMED, ids=IDS)
def test_suspended_caller_acts_for_nobody(authd, people, row):
    """A suspended user, for itself (by name and without) and for the ORG it is a connection account of."""
    sus, sorg = people["sus"], people["sorg"]
    code = C[row[0]]
    own, unnamed, for_org = calls(authd, sus["uid"], [(code, fields_for(row, sus["login"])),
                                                       (code, fields_for(row, None)),
                                                       (code, fields_for(row, sorg["login"]))])
    assert for_org["status"] < 0, for_org
    leak = text_of(for_org).replace(sorg["login"], "")
    for v in victim_values(people, "sorg"):
        assert v not in leak, (v, for_org)
    if row[0] in ACTIVE_ROWS:
        # a row that requires the name refuses its absence first (field required)
        for r in (own, unnamed) if row[0] not in NAME_REQUIRED else (own,):
            assert r["status"] == -1 and dict(r["fields"]).get("reason") == "account_state", r
            assert dict(r["fields"]).get("status") == "suspended", r
    # whatever the row, a suspended caller never gets a success that changes the directory
    if row[0] not in ("SHOW", "ACCT_CHECK", "ACCOUNTS", "PSC_LIST", "CARD_LIST"):
        for r in (own, unnamed):
            assert r["status"] < 0, r


@pytest.mark.parametrize("row", [r for r in NAMED if r[0] in ORG_ROWS], ids=[r[0] for r in NAMED if r[0] in ORG_ROWS])
def test_org_is_acted_for_only_by_its_active_connection_accounts(authd, people, row):
    code = C[row[0]]
    org = people["org"]
    att, mine = calls(authd, people["att"]["uid"], [(code, fields_for(row, org["login"]))])[0], None
    assert att["status"] < 0 and org["mss"] not in text_of(att), att
    mine = calls(authd, people["vic"]["uid"], [(code, fields_for(row, org["login"]))])[0]
    assert mine["status"] != -2, mine  # the victim is its connection account: the table lets it in


@pytest.mark.parametrize("row", NAMED, ids=IDS)
def test_uid_without_account(authd, people, row):
    code = C[row[0]]
    unnamed, named = calls(authd, NOBODY_UID, [(code, fields_for(row, None)),
                                               (code, fields_for(row, people["vic"]["login"]))])
    assert unnamed["status"] < 0 and named["status"] < 0, (unnamed, named)
    for r in (unnamed, named):
        leak = text_of(r).replace(people["vic"]["login"], "")
        for v in victim_values(people):
            assert v not in leak, (v, r)


ROOT_MUST_NAME = [r for r in NAMED if r[0] not in ("DIR_SEARCH", "CARD_AUTH")]


@pytest.mark.parametrize("row", ROOT_MUST_NAME, ids=[r[0] for r in ROOT_MUST_NAME])
def test_root_without_a_name(authd, people, row):
    r = call(authd, None, C[row[0]], fields_for(row, None))
    assert r["status"] == -22, r
    f = dict(r["fields"])
    assert f.get("field") in (row[1], "member", "org") and f.get("rule") == "required", r


BAD_NAMES = {"newline": "victime\naudit=\"forged\" result=\"ok\"", "control": "vic\x01time", "escape": "vic\x1b[2J",
             "del": "vic\x7f", "long": "v" * 300, "tab": "vic\ttime"}


@pytest.mark.parametrize("row", NAMED, ids=IDS)
def test_malformed_names_are_refused_before_any_look_up(authd, people, row):
    code = C[row[0]]
    jobs = [(code, fields_for(row, n)) for n in BAD_NAMES.values()]
    for uid in (people["att"]["uid"], None):
        for (label, name), r in zip(BAD_NAMES.items(), calls(authd, uid, jobs)):
            assert r["status"] in (-22, -13), (label, r)  # -EINVAL; -EACCES: administrators only
            if r["status"] == -22:
                assert dict(r["fields"]).get("field") in (row[1], "login", "user", "org"), (label, r)
            assert "\n" not in r["message"] and "\x1b" not in r["message"] and "\x01" not in r["message"], r
    # the audit trail stays one line per decision: the forged line never appears
    for line in authd.log_text().splitlines():
        assert not line.startswith('audit="forged"'), line


@pytest.mark.parametrize("row", NAMED, ids=IDS)
def test_repeated_and_unknown_fields(authd, people, row):
    """The table reads the first value of the key; the handler must not read another one."""
    code = C[row[0]]
    vic, att = people["vic"], people["att"]
    _, key, extra = row
    jobs = [(code, [(key, att["login"]), (key, vic["login"])] + extra),
            (code, [(key, vic["login"]), (key, att["login"])] + extra),
            (code, [(key, att["login"])] + extra + [("pirate", "1")])]
    first_mine, first_his, unknown = calls(authd, att["uid"], jobs)
    for r in (first_mine, first_his):
        assert r["status"] < 0, r
        leak = text_of(r).replace(vic["login"], "")
        for v in victim_values(people):
            assert v not in leak, (v, r)
    assert first_mine["status"] in (-22, -13, -2), first_mine
    if row[0] not in ("VALIDATE", "SUSPEND", "REACTIVATE", "CLOSE", "CONVERT", "CONFIRM_RESEND"):
        assert first_mine["status"] == -22 and dict(first_mine["fields"]).get("rule") == "repeated", first_mine
        assert unknown["status"] == -22 and dict(unknown["fields"]).get("field") == "pirate", unknown


def test_every_refusal_audited_once_with_the_caller(authd, people):
    att, vic = people["att"], people["vic"]
    marker_pw = "Secret#Marqueur-9912"
    before = len(authd.log_text().splitlines())
    r = call(authd, att["uid"], C["PROFILE_GET"], [("login", vic["login"])])
    assert r["status"] == -2
    r = call(authd, att["uid"], C["AUTH_PASSWORD"], [("user", vic["login"]), ("password", marker_pw)])
    assert r["status"] == -13
    r = call(authd, att["uid"], C["SUSPEND"], [("login", vic["login"])])
    assert r["status"] == -13
    lines = authd.log_text().splitlines()[before:]
    audits = [ln for ln in lines if ln.startswith("audit=") or " audit=" in ln]
    for event in ("settings-get", "auth", "suspend"):
        mine = [ln for ln in audits if f'audit="{event}"' in ln and f'caller="uid={att["uid"]}"' in ln
                and 'result="refused"' in ln]
        assert len(mine) == 1, (event, audits)
    assert not any(marker_pw in ln for ln in lines)


def test_every_table_refusal_audited_once_without_a_secret(authd, people):
    """Each row, the attacker naming the victim: one audit line with the caller, no secret anywhere."""
    att, vic = people["att"], people["vic"]
    secrets = ["Pas#Le-Bon1", "Nouveau#Mot2passe", SECRET_HEX, "123456"]
    for row in NAMED:
        before = len(authd.log_text().splitlines())
        r = call(authd, att["uid"], C[row[0]], fields_for(row, vic["login"]))
        assert r["status"] < 0, (row[0], r)
        lines = authd.log_text().splitlines()[before:]
        mine = [ln for ln in lines if 'audit="' in ln and f'caller="uid={att["uid"]}"' in ln]
        assert len(mine) == 1 and 'result="refused"' in mine[0], (row[0], mine)
        if row[0] not in ("CARD_AUTH",):  # the card is read before the name is looked at
            assert f'account="{vic["login"]}"' in mine[0], (row[0], mine)
        for s in secrets:
            assert not any(s in ln for ln in lines), (row[0], s)


def test_refusals_of_the_caller_audited_once(authd, people):
    """A uid without account, a suspended caller, a malformed name: one audit line each, with the caller."""
    def one_line(uid, row, name, what):
        before = len(authd.log_text().splitlines())
        r = call(authd, uid, C[row[0]], fields_for(row, name))
        assert r["status"] < 0, (row[0], what, r)
        lines = authd.log_text().splitlines()[before:]
        mine = [ln for ln in lines if 'audit="' in ln and f'caller="uid={uid}"' in ln]
        assert len(mine) == 1 and 'result="refused"' in mine[0], (row[0], what, mine)
        assert all(ch not in ln for ln in lines for ch in "\x01\x1b\x7f"), (row[0], what)
    for row in NAMED:
        if row[0] in ("CARD_AUTH", "VALIDATE", "SUSPEND", "REACTIVATE", "CLOSE", "CONVERT", "CONFIRM_RESEND"):
            continue  # no card in the reader; an administrators' row refuses before any name
        one_line(people["att"]["uid"], row, "vic\x1b[2J\x01", "malformed name")
        if row[0] not in NAME_REQUIRED and row[1] != "org":
            one_line(NOBODY_UID, row, None, "no account")
        if row[0] in ACTIVE_ROWS:
            one_line(people["sus"]["uid"], row, people["sus"]["login"], "suspended caller")


def test_inactive_account_cannot_change_its_password(authd, people):
    """PASSWORD_CHANGE with the right old password, by the suspended user and by root (PAM's passwd)."""
    sus = people["sus"]
    new = "Autre#Passe-2031"
    for uid in (sus["uid"], None):
        r = call(authd, uid, C["PASSWORD_CHANGE"], [("user", sus["login"]), ("old_password", PW),
                                                    ("new_password", new)])
        assert r["status"] == -1 and dict(r["fields"]).get("reason") == "suspended", r
    # still the old password: the new one is a wrong one, the old one meets the suspension
    assert call(authd, None, C["AUTH_PASSWORD"], [("user", sus["login"]), ("password", new)])["status"] == -13
    assert call(authd, None, C["AUTH_PASSWORD"], [("user", sus["login"]), ("password", PW)])["status"] == -1


ORG_WRITES = ["PROFILE_SET", "SIGNATURE_SET", "AUTOREPLY_SET", "NOTIFY_SET", "DELEGATE_ADD", "DEMAT_SET",
              "DIR_VISIBILITY", "ORG_MEMBER_ADD", "PROFILE_GET", "DELEGATE_LIST"]


@pytest.mark.parametrize("row", [r for r in NAMED if r[0] in ORG_WRITES],
                         ids=[r[0] for r in NAMED if r[0] in ORG_WRITES])
def test_suspended_org_is_acted_for_by_no_connection_account(authd, people, row):
    """The service centre suspended the ORG: its users no longer manage it (an administrator still does)."""
    org = people["org_off"]
    r = call(authd, people["vic"]["uid"], C[row[0]], fields_for(row, org["login"]))
    assert r["status"] < 0, r
    assert dict(r["fields"]).get("reason") == "account_state" and dict(r["fields"]).get("status") == "suspended", r
    admin = call(authd, None, C[row[0]], fields_for(row, org["login"]))
    assert admin["status"] != -2 and admin["status"] != -13, admin


# --- PUBLIC rows whose credential belongs to someone else -----------------------------------

def test_session_handle_of_another_user(authd, people):
    vic, att = people["vic"], people["att"]
    opened = call(authd, None, C["SESSION_OPEN"], [("user", vic["login"]), ("method", "password")])
    assert opened["status"] == 0, opened
    handle = dict(opened["fields"])["session"]
    other = "cd" * 32
    for uid in (att["uid"], NOBODY_UID, people["sus"]["uid"]):
        sw, sw_unknown, close, close_unknown = calls(authd, uid, [
            (C["SWITCH"], [("session", handle), ("target", people["org"]["login"])]),
            (C["SWITCH"], [("session", other), ("target", people["org"]["login"])]),
            (C["SESSION_CLOSE"], [("session", handle)]),
            (C["SESSION_CLOSE"], [("session", other)])])
        assert shape(sw) == shape(sw_unknown) and sw["status"] == -2, (sw, sw_unknown)
        assert shape(close) == shape(close_unknown) and close["status"] == -2, (close, close_unknown)
    # still the victim's: it switches and closes it
    sw = call(authd, vic["uid"], C["SWITCH"], [("session", handle), ("target", people["org"]["login"])])
    assert sw["status"] == 0 and dict(sw["fields"])["user"] == vic["login"], sw
    assert call(authd, vic["uid"], C["SESSION_CLOSE"], [("session", handle)])["status"] == 0


def test_login_transaction_of_another_user(authd, people):
    """The victim's password step (its txn) used by the attacker for its own account."""
    vic, att = people["vic"], people["att"]
    t = call(authd, vic["uid"], C["AUTH_PASSWORD"], [("user", vic["login"]), ("password", PW)])
    assert t["status"] == 0, t
    txn = dict(t["fields"])["txn"]
    for code, extra in (("OTP_SEND", []), ("OTP_VERIFY", [("code", "123456")])):
        mine, unknown = calls(authd, att["uid"], [(C[code], [("user", att["login"]), ("txn", txn)] + extra),
                                                  (C[code], [("user", att["login"]), ("txn", "ef" * 32)] + extra)])
        assert mine["status"] < 0 and shape(mine) == shape(unknown), (code, mine, unknown)
    link, link_unknown = calls(authd, att["uid"], [
        (C["CARD_LINK"], [("login", att["login"]), ("txn", txn), ("link_ticket", SECRET_HEX)]),
        (C["CARD_LINK"], [("login", att["login"]), ("txn", "ef" * 32), ("link_ticket", SECRET_HEX)])])
    assert link["status"] < 0 and shape(link) == shape(link_unknown), (link, link_unknown)
    # the victim's transaction is still usable by the victim: the attacker burnt nothing
    s = call(authd, vic["uid"], C["OTP_SEND"], [("user", vic["login"]), ("txn", txn)])
    assert s["status"] == 0, s


# --- parallel owners and attackers ----------------------------------------------------------

def test_parallel_replies_never_carry_another_callers_data(authd, people):
    vic, att = people["vic"], people["att"]
    rounds = 15
    jobs = {
        "vic": (vic["uid"], [(C["PROFILE_GET"], []), (C["SHOW"], [("login", vic["login"])]),
                             (C["ACCOUNTS"], [])] * rounds),
        "att": (att["uid"], [(C["PROFILE_GET"], []), (C["PROFILE_GET"], [("login", vic["login"])]),
                             (C["SHOW"], [("login", vic["mail"])]), (C["ACCOUNTS"], [("user", vic["login"])]),
                             (C["ACCOUNTS"], [])] * rounds),
        "nobody": (NOBODY_UID, [(C["PROFILE_GET"], [("login", vic["login"])]), (C["SHOW"], [])] * rounds),
    }
    results = {}

    def run(name):
        uid, js = jobs[name]
        results[name] = calls(authd, uid, js)

    threads = [threading.Thread(target=run, args=(n,)) for n in jobs for _ in range(1)]
    threads += [threading.Thread(target=run, args=("vic",))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) == set(jobs)
    for r in results["vic"]:
        assert r["status"] == 0, r
        assert att["login"] not in text_of(r) and att["mail"] not in text_of(r), r
        assert vic["login"] in text_of(r), r
    for r in results["att"]:
        t = text_of(r).replace(vic["login"], "").replace(vic["mail"], "")
        for v in victim_values(people):
            assert v not in t, (v, r)
        assert r["status"] == 0 or r["status"] == -2, r
    for r in results["nobody"]:
        assert r["status"] == -2, r
        for v in victim_values(people) + victim_values(people, "att"):
            assert v not in text_of(r).replace(vic["login"], ""), (v, r)


# --- e-CPS: a request id is the credential of the account it was started for -----------------

def test_ecps_request_of_another_user_answers_as_an_unknown_one(api, people):
    """On the socket (PUBLIC row, the service applies the rule): an attacker's poll of someone
    else's request id gets the answer of an unknown id, and the owner's request stays its own."""
    a = api.a
    api.provider.control(ciba="approve", ciba_ttl=120)
    start = call(a, None, C["ECPS_START"], [("login", api.per)])
    assert start["status"] == 0, start
    rid = dict(start["fields"])["request_id"]
    for uid in (people["att"]["uid"], NOBODY_UID, people["sus"]["uid"]):
        mine, unknown = calls(a, uid, [(C["ECPS_POLL"], [("request_id", rid), ("session", "none")]),
                                       (C["ECPS_POLL"], [("request_id", "ab" * 32), ("session", "none")])])
        assert mine["status"] == -110 and shape(mine) == shape(unknown), (mine, unknown)
        assert api.per not in text_of(mine), mine
    # the owner (root, as PAM) still collects it
    for _ in range(60):
        r = call(a, None, C["ECPS_POLL"], [("request_id", rid), ("session", "none")])
        if dict(r["fields"]).get("status") not in ("pending", "slow_down"):
            break
    assert r["status"] == 0 and dict(r["fields"]).get("account") == api.per, r


# --- the HTTP door ------------------------------------------------------------------------

def test_http_login_names_accounts_without_telling_them_apart(api, people):
    vic = people["vic"]
    svc = api.svc_a
    got = [svc.post("/v1/login/password", {"user": u, "password": "Pas#Le-Bon1"})
           for u in (vic["login"], "inconnu-http-9z", vic["mail"], "personne.http@example.org")]
    assert all(r.status == got[0].status for r in got) and got[0].status in (401, 403), got
    assert len({json.dumps(r.json, sort_keys=True) for r in got}) == 1, got
    for r in got:
        for v in victim_values(people):
            assert v not in r.body, (v, r)


def test_http_session_token_acts_for_no_other_account(api, people):
    """A session token names its own account only: no field of a request moves it to another."""
    from test_api import ecps_session
    token = ecps_session(api)
    svc = api.svc_a
    for extra in ({"account": people["vic"]["login"]}, {"user": people["vic"]["login"]}, {"login": "root"}):
        r = svc.post("/v1/introspect", dict(token=token, **extra))
        assert r.status == 400 and r.json["error"] == "unknown_field", r
        r = svc.post("/v1/logout", dict(token=token, **extra))
        assert r.status == 400 and r.json["error"] == "unknown_field", r
    i = svc.post("/v1/introspect", {"token": token})
    assert i.status == 200 and i.json["active"] and i.json["account"] == api.per, i
    for v in victim_values(people):
        assert v not in i.body, (v, i)
    # a JSON body that repeats the token (the first someone else's) is refused, not half-read
    r = svc.post("/v1/logout", raw=json.dumps({"token": "cd" * 32}).encode()[:-1] + f', "token": "{token}"}}'.encode())
    assert r.status == 400 and r.json["error"] == "invalid_json", r
    assert svc.post("/v1/introspect", {"token": token}).json["active"], "still active"
    # without the service's credentials, nothing at all
    from apistack import Api
    anon = Api(api.url_a)
    assert anon.post("/v1/introspect", {"token": token}).status == 401
    assert anon.post("/v1/login/password", {"user": people["vic"]["login"], "password": PW}).status == 401
