"""The BAL ORG form's field rules as guides 001/002 show them (issue 14,
item 5), and the MSSanté address of an individual account taken from the
e-mail entered (guide 000, fiche réflexe; item 8).

The "Oui" path of the ORG form (item 1): the existing individual account is
proven by its password and the one-time code mailed to it, in two steps, with
the login's lockout and try limits.

Every test makes its own accounts (test_lifecycle's person(), org_name()):
each runs alone with -k."""
import json
import re
import subprocess
from pathlib import Path

import pytest

import mmwire
from mmstack import NOBODY, PY, SUFFIX, Daemon, org_fields, per_fields, wait_for
from test_lifecycle import (PW, _codes_to, _fold, active_org, active_per, confirm, entry, full_registration, org_name,
                            person, register, register_org_oui, unique_rpps)
from test_registration import refused, with_field, without

HERE = Path(__file__).parent
REGISTER, ORG_PROOF = 0x0101, 0x0141
EACCES, EINVAL, ENOLCK, ESTALE = -13, -22, -37, -116
# Run as NOBODY: reads [[code, [[key, value], ...]], ...] on stdin, sends them all at
# once (threads), prints [[status, message, {fields}], ...].
_AS_USER = r"""
import concurrent.futures, json, sys
sys.path.insert(0, sys.argv[1])
import mmwire
reqs = json.load(sys.stdin)
def one(r):
    rep = mmwire.call_raw(sys.argv[2], mmwire.encode(r[0], [tuple(kv) for kv in r[1]]))
    return [rep.status, rep.message, dict(rep.fields)]
with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(64, len(reqs)))) as ex:
    print(json.dumps(list(ex.map(one, reqs))))
"""


def as_user(daemon, *reqs, uid=NOBODY):
    """Raw requests sent by a local user (no administrator), in parallel; their replies."""
    cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", PY, "-c", _AS_USER, str(HERE),
           str(daemon.socket)]
    r = subprocess.run(cmd, input=json.dumps([[c, list(f)] for c, f in reqs]), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def wire_fields(ctl_fields):
    """["--login-mail", v, ...] as the request's (key, value) pairs."""
    return [(ctl_fields[i][2:].replace("-", "_"), ctl_fields[i + 1]) for i in range(0, len(ctl_fields), 2)]


def proof(daemon, smtp, member_mail, password=PW, member=None):
    """The first step as a local user: (reply, code mailed or None)."""
    before = len(_codes_to(smtp, member_mail))
    (rep,) = as_user(daemon, (ORG_PROOF, [("member", member or member_mail), ("member_password", password)]))
    code = None
    if rep[0] == 0:
        wait_for(lambda: len(_codes_to(smtp, member_mail)) > before, 15, f"code for {member_mail}")
        code = _codes_to(smtp, member_mail)[-1]
    return rep, code


def org_register(daemon, fields, member, txn, code):
    """The second step as a local user: the ORG form with the member's transaction and code."""
    pairs = [("type", "ORG")] + [kv for kv in wire_fields(fields) if kv[0] != "member"]
    pairs += [("member", member), ("member_txn", txn), ("member_code", code)]
    (rep,) = as_user(daemon, (REGISTER, pairs))
    return rep

PHARMA = "pharmacien.oc.mssante.fr"


def _org(authd, smtp, base="Pharmacie Form"):
    """A fresh member and the ORG form's fields for it: (fields, name, login, local, mail)."""
    member, _ = active_per(authd, smtp, tag="org.form", given="Olga", sn="FORMMEMBER")
    name, login, local = org_name(base)
    mail = f"contact.{login}@example.org"
    return org_fields(member.mail, mail=mail, name=name), name, login, local, mail


# --------------------------------------------- item 5: the ORG form's stars

def test_org_address_city_postcode_have_no_star(authd, smtp, slapd):
    """Guide 002: "seuls les champs avec un (*) sont obligatoires" and the form
    shows "Adresse", "Ville", "Code postal" without one: an ORG registers
    without them, and its address stays well-formed ("Nom de la pharmacie,
    code postal, commune + nom de domaine pharmacien" with the parts given)."""
    fields, name, login, local, mail = _org(authd, smtp)
    for key in ("--street", "--city", "--postal-code"):
        fields = without(fields, key)
    got, v = full_registration(authd, smtp, "ORG", fields, mail)
    assert got == login
    assert v["mss_address"] == f"{local}@{PHARMA}"
    e = entry(slapd, login)
    assert "postalCode" not in e and "l" not in e and "street" not in e


def test_org_without_postcode_keeps_the_city(authd, smtp, slapd):
    """Guide 001: "Nom de la pharmacie, code postal, commune": a city given
    without a postcode still ends the address."""
    fields, _, login, local, mail = _org(authd, smtp)
    _, v = full_registration(authd, smtp, "ORG", without(fields, "--postal-code"), mail)
    assert v["mss_address"] == f"{local}.albi@{PHARMA}"


@pytest.mark.parametrize("value", ["8100", "81000\n", "2A000"])
def test_org_postcode_given_is_still_checked(authd, smtp, slapd, value):
    """Optional is not unchecked: a "Code postal" given must be a postcode."""
    fields, _, _, _, mail = _org(authd, smtp)
    r = register(authd, smtp, "ORG", with_field(fields, "--postal-code", value))
    assert r.returncode == 1 and r.json["fields"]["field"] == "postal_code", r.stdout
    assert slapd.search(SUFFIX, f"(mmLoginMail={mail})") == []


def test_org_responsible_identifiant_optional(authd, smtp, slapd):
    """Guide 002: the responsible's "Identifiant" carries no star ("seuls les
    champs avec un (*) sont obligatoires"): an ORG registers without it."""
    fields, _, login, _, mail = _org(authd, smtp)
    got, _ = full_registration(authd, smtp, "ORG", without(fields, "--resp-rpps"), mail)
    assert got == login
    assert "mmRespRpps" not in entry(slapd, login)


@pytest.mark.parametrize("value,rule", [("10002813838", "check_digit"), ("1000281383912", "max_length"),
                                        ("10002813839\n", None)])
def test_org_responsible_identifiant_checked_when_given(authd, smtp, slapd, value, rule):
    """Guide 001: "noter son identifiant RPPS": when given, a valid RPPS
    (check digit, length, no control character), the ORG not created."""
    fields, _, _, _, mail = _org(authd, smtp)
    r = register(authd, smtp, "ORG", with_field(fields, "--resp-rpps", value))
    assert r.returncode == 1 and r.json["fields"]["field"] == "resp_rpps", r.stdout
    if rule:
        assert r.json["fields"]["rule"] == rule, r.json
    assert slapd.search(SUFFIX, f"(mmLoginMail={mail})") == []


def test_org_name_derived_from_the_description(authd, smtp, slapd):
    """Guide 002: the form asks "Description du compte *" (ex : "pharmacie du
    lac à Perpignan") and has no name field: without org_name, the ORG's
    login and MSSanté address come from the description, folded."""
    member, _ = active_per(authd, smtp, tag="org.desc", given="Denis", sn="DESCMEMBER")
    name, login, local = org_name("Pharmacie du Lac à Perpignan")
    mail = f"contact.{login}@example.org"
    fields = with_field(without(org_fields(member.mail, mail=mail, name=name), "--org-name"),
                        "--description", name)
    got, v = full_registration(authd, smtp, "ORG", fields, mail)
    # The login is the folded description, cut at 32 (POSIX name); the address keeps it whole.
    assert got == _fold(name).replace(" ", "-")[:32].rstrip("-") == login[:32].rstrip("-")
    assert v["mss_address"] == f"{local}.81000.albi@{PHARMA}"
    e = entry(slapd, got)
    assert e["cn"] == [name] and e["description"] == [name]


def test_org_name_given_still_wins(authd, smtp, slapd):
    """org_name, when a door gives it, names the ORG rather than the description."""
    fields, name, login, local, mail = _org(authd, smtp)
    got, v = full_registration(authd, smtp, "ORG", fields, mail)
    assert got == login and v["mss_address"] == f"{local}.81000.albi@{PHARMA}"


@pytest.mark.parametrize("key,value", [("--org-name", "Pharmacie\nroot"), ("--org-name", "P" * 65),
                                       ("--description", "Pharmacie\x07"), ("--description", "- - -")])
def test_org_name_attacks(authd, smtp, slapd, key, value):
    """A name with a newline, a control character, oversized, or one that folds
    to nothing: refused, nothing created."""
    fields, _, _, _, mail = _org(authd, smtp)
    if key == "--description":
        fields = without(fields, "--org-name")
    r = register(authd, smtp, "ORG", with_field(fields, key, value))
    assert r.returncode == 1, r.stdout
    assert r.json["fields"]["field"] in ("org_name", "description"), r.json
    assert slapd.search(SUFFIX, f"(mmLoginMail={mail})") == []


def test_org_without_description_is_refused(authd, smtp, slapd):
    """Guide 002: "Description du compte *": without org_name nor description, refused."""
    fields, *_ = _org(authd, smtp)
    refused(register(authd, smtp, "ORG", without(without(fields, "--org-name"), "--description")),
            "description", "required")


# ------------------------------------------------ item 1: "Oui", password and code

OUI = ("Guide 002: \"Saisir l'identifiant et le mot de passe de votre compte individuel\", then "
       "\"Renseigner le code à usage unique reçu sur votre adresse mail puis valider\" (\"Je renseigne "
       "le code reçu afin de valider l'association de mon compte nominatif au compte organisationnel "
       "en cours de création\")")
PROOF_CONF = """fail_delay_ms = 20
otp_max_tries = 5
otp_resend_interval = 0
rate_per_source = 1000000
rate_per_account = 1000000
max_clients = 512
"""


@pytest.fixture(scope="module")
def od(state, slapd, smtp, authd):
    """A daemon without rate limits, so that only the lockout and the code's tries stop guesses."""
    d = Daemon(state, slapd, smtp.port, name="orgproof", extra=PROOF_CONF).start()
    yield d
    d.stop()


def _oui(authd, smtp, tag="oui"):
    """An active member, and an ORG form naming it: (member, member_login, fields, org_login, org_mail)."""
    member, member_login = active_per(authd, smtp, tag=tag, given="Octave", sn="OUIMEMBER")
    name, login, _ = org_name("Pharmacie Oui")
    mail = f"contact.{login}@example.org"
    return member, member_login, org_fields(member.mail, mail=mail, name=name), login, mail


def _no_org(slapd, mail):
    return slapd.search(SUFFIX, f"(mmLoginMail={mail})") == []


def test_oui_password_then_code_mailed_to_the_individual_account(authd, smtp, slapd):
    member, member_login, fields, login, mail = _oui(authd, smtp)
    r = register_org_oui(authd, smtp, fields, member.mail)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.code, "no code mailed to the individual address"
    assert r.json["fields"]["login"] == login
    e = entry(slapd, login)
    assert e["mmMember"] == [f"uid={member_login},ou=people,{SUFFIX}"]
    assert e["mmStatus"] == ["pending-confirmation"]


test_oui_password_then_code_mailed_to_the_individual_account.__doc__ = (
    OUI + ": the password sends the login's code to the individual account's own address, and the "
    "code with the ORG form registers the ORG attached to that account.")


def test_oui_password_alone_no_longer_registers(od, authd, smtp, slapd):
    """Item 1: "Today only the password is asked". Without the code (or with the password in the
    form as before) the ORG form registers nothing."""
    member, _, fields, _, mail = _oui(authd, smtp)
    pairs = [("type", "ORG")] + wire_fields(fields)
    (rep,) = as_user(od, (REGISTER, pairs))
    assert rep[0] == EINVAL and rep[2]["field"] in ("member_txn", "member_code"), rep
    (rep,) = as_user(od, (REGISTER, pairs + [("member_password", PW)]))
    assert rep[0] != 0, rep
    assert _no_org(slapd, mail)


def test_oui_wrong_password_sends_no_code_and_counts_as_a_failed_login(od, authd, smtp, slapd):
    """"le mot de passe de votre compte individuel": a wrong one mails nothing and counts
    in the login's lockout, as a failed login does."""
    member, member_login, fields, _, mail = _oui(authd, smtp)
    fails = int(entry(slapd, member_login).get("mmFailCount", ["0"])[0])
    n = len(_codes_to(smtp, member.mail))
    rep, code = proof(od, smtp, member.mail, password="Nope#2024")
    assert rep[0] == EACCES and code is None, rep
    assert len(_codes_to(smtp, member.mail)) == n
    assert entry(slapd, member_login)["mmFailCount"] == [str(fails + 1)]


def test_oui_unknown_account_org_and_wrong_password_same_answer(od, authd, smtp, slapd):
    """The form probes no account: an unknown name, an ORG and someone's account with a
    wrong password get the same reply at the password step."""
    member, _, fields, _, _ = _oui(authd, smtp)
    org_login, _ = active_org(authd, smtp, member.mail)
    replies = [proof(od, smtp, member.mail, password="Nope#2024", member=who)[0]
               for who in (member.mail, f"nobody.{org_login}@example.org", org_login)]
    assert replies[0] == replies[1] == replies[2], replies
    assert replies[0][0] == EACCES


def test_oui_code_of_another_account_is_refused(od, authd, smtp, slapd):
    """"le code à usage unique reçu sur votre adresse mail": the code mailed to another
    account does not prove this one, and counts as a wrong try."""
    a, _, fields, _, mail = _oui(authd, smtp, tag="oui.a")
    ra, code_a = proof(od, smtp, a.mail)
    assert ra[0] == 0, ra
    # Another account's code; should it happen to be the same digits (one chance in a
    # million), a third account's is taken: equal digits would prove nothing here.
    for tag, given in (("oui.b", "Berthe"), ("oui.c", "Cyrielle")):
        b, _ = active_per(authd, smtp, tag=tag, given=given, sn="OUIOTHER")
        rb, code_b = proof(od, smtp, b.mail)
        assert rb[0] == 0, rb
        if code_b != code_a:
            break
    assert code_b != code_a
    rep = org_register(od, fields, a.mail, ra[2]["txn"], code_b)
    assert rep[0] == EACCES and rep[2].get("tries_left") == "4", rep
    assert _no_org(slapd, mail)
    # ... and the right one still does, once
    assert org_register(od, fields, a.mail, ra[2]["txn"], code_a)[0] == 0


def test_oui_naming_someone_elses_account_is_refused(od, authd, smtp, slapd):
    """"Associer un compte individuel existant" is one's own: a transaction and code proven on
    my account do not attach someone else's, and that account's code tries are untouched."""
    me, _, _, _, _ = _oui(authd, smtp, tag="oui.me")
    victim, victim_login, fields, _, mail = _oui(authd, smtp, tag="oui.victim")
    rep, code = proof(od, smtp, me.mail)
    assert rep[0] == 0, rep
    for member in (victim.mail, victim_login):
        r = org_register(od, fields, member, rep[2]["txn"], code)
        assert r[0] == EACCES, r
    assert _no_org(slapd, mail)
    assert entry(slapd, victim_login).get("mmOtpTries", ["0"]) == ["0"]
    assert slapd.search(SUFFIX, f"(mmMember=uid={victim_login},ou=people,{SUFFIX})") == []


def test_oui_replayed_code_is_refused(od, authd, smtp, slapd):
    """The code is "à usage unique": replayed with its transaction for a second ORG, refused."""
    member, _, fields, _, mail = _oui(authd, smtp)
    rep, code = proof(od, smtp, member.mail)
    assert org_register(od, fields, member.mail, rep[2]["txn"], code)[0] == 0
    name2, login2, _ = org_name("Pharmacie Rejouee")
    mail2 = f"contact.{login2}@example.org"
    again = org_register(od, org_fields(member.mail, mail=mail2, name=name2), member.mail, rep[2]["txn"],
                         code)
    assert again[0] == EACCES, again
    assert _no_org(slapd, mail2)


def test_oui_parallel_code_guesses_stop_at_the_try_limit(od, authd, smtp, slapd):
    """"the same lockout and try limits as a login": 50 ORG forms at once, each with a wrong
    code for one password step, compare at most otp_max_tries codes; the right code is then
    spent too."""
    member, member_login, fields, _, mail = _oui(authd, smtp, tag="oui.par")
    rep, code = proof(od, smtp, member.mail)
    assert rep[0] == 0, rep
    txn = rep[2]["txn"]
    pairs = [("type", "ORG")] + [kv for kv in wire_fields(fields) if kv[0] != "member"]
    wrong = [f"{(int(code) + 1 + i) % 1000000:06d}" for i in range(50)]
    results = as_user(od, *[(REGISTER, pairs + [("member", member.mail), ("member_txn", txn),
                                                 ("member_code", w)]) for w in wrong])
    assert all(r[0] != 0 for r in results), results
    compared = len(re.findall(rf'audit="otp-verify".*account="{re.escape(member_login)}".*reason="wrong code',
                              od.log_text()))
    assert 1 <= compared <= 5, compared
    assert org_register(od, fields, member.mail, txn, code)[0] == ESTALE
    assert _no_org(slapd, mail)


def test_oui_parallel_password_guesses_stop_at_the_lockout(od, authd, smtp, slapd):
    """The password step is the login's: 50 guesses at once verify at most lockout_threshold
    passwords, mail no code, and the account is then locked for the login too."""
    member, member_login, _, _, _ = _oui(authd, smtp, tag="oui.pw")
    n = len(_codes_to(smtp, member.mail))
    results = as_user(od, *[(ORG_PROOF, [("member", member.mail), ("member_password", f"Wrong#{i}x")])
                            for i in range(50)])
    assert all(r[0] in (EACCES, ENOLCK) for r in results), results
    assert len(_codes_to(smtp, member.mail)) == n
    assert mmwire.call(od.socket, mmwire.AUTH_PASSWORD, user=member_login, password=PW).status == ENOLCK


PROOF_KEYS = ["member", "member_password"]


@pytest.mark.parametrize("key", PROOF_KEYS)
def test_oui_proof_newline_in_every_field(od, authd, smtp, slapd, key):
    """A newline in the member's name or password: no code mailed."""
    member, _, _, _, _ = _oui(authd, smtp)
    n = len(_codes_to(smtp, member.mail))
    fields = {"member": member.mail, "member_password": PW}
    fields[key] += "\n"
    (rep,) = as_user(od, (ORG_PROOF, list(fields.items())))
    assert rep[0] in (EACCES, EINVAL), rep
    assert len(_codes_to(smtp, member.mail)) == n


ORG_KEYS = [k[2:].replace("-", "_") for k in org_fields("x")[0::2]] + ["member_txn", "member_code"]


@pytest.mark.parametrize("key", ORG_KEYS)
def test_oui_form_newline_in_every_field(od, authd, smtp, slapd, key):
    """A newline at the end of any field of the ORG form, the transaction or the code: nothing
    registered with a newline in it (refused, or the value trimmed for a typed field)."""
    member, _, fields, login, mail = _oui(authd, smtp)
    rep, code = proof(od, smtp, member.mail)
    pairs = dict([("type", "ORG")] + wire_fields(fields) + [("member_txn", rep[2]["txn"]), ("member_code", code)])
    pairs[key] += "\n"
    (r,) = as_user(od, (REGISTER, list(pairs.items())))
    for e in slapd.search(SUFFIX, f"(mmLoginMail={mail.rstrip()}*)"):
        for attr, values in e.items():
            assert all("\n" not in v for v in values), (attr, values)
    if key in ("member_txn", "member_code", "member", "login_mail"):
        assert r[0] != 0, r
        assert _no_org(slapd, mail)


# ------------------------------------- item 2: "Non", the individual account created with it

NON = ("Guide 001, 1.2: \"Créer un compte individuel directement rattaché au compte partagé en "
       "création\"")


def _non(tag, rpps=True, **member_kw):
    """An ORG form with a new connection account ("Non"): (fields, org_login, org_mail, member person)."""
    p = person(tag, "Nadia", "NONMEMBRE")
    name, login, _ = org_name("Pharmacie Non")
    mail = f"contact.{login}@example.org"
    fields = without(org_fields("x", mail=mail, name=name), "--member")
    fields += ["--member.login-mail", p.mail, "--member.sn", p.sn, "--member.given-name", p.given]
    if rpps:
        fields += ["--member.rpps", p.rpps, "--member.profession", "21"]
    for k, v in member_kw.items():
        fields += [f"--member.{k.replace('_', '-')}", v]
    return fields, login, mail, p


def _register_non(authd, fields, uid=None):
    return authd.ctl("register", "ORG", *fields, input=PW + "\n", uid=uid)


@pytest.mark.parametrize("rpps,kind", [(True, "PER"), (False, "MED")])
def test_non_creates_the_individual_account_with_the_org(authd, smtp, slapd, rpps, kind):
    fields, login, mail, p = _non(f"non.{kind.lower()}", rpps=rpps)
    r = _register_non(authd, fields, uid=NOBODY)
    assert r.returncode == 0, r.stdout + r.stderr
    got = r.json["fields"]
    assert got["login"] == login and got["member_type"] == kind
    org, member = entry(slapd, login), entry(slapd, got["member_login"])
    assert org["mmMember"] == [member["dn"]]
    assert member["mmAccountType"] == [kind] and member["mmStatus"] == ["pending-confirmation"]
    assert member["mmRegion"] == ["Occitanie"]  # the ORG's
    if kind == "MED":
        # guide 002: "Si vous cliquez sur « Non », cela va créer un compte non visible dans l'annuaire"
        assert "mmVisibleMssante" not in member
    else:
        assert member["mmRpps"] == [p.rpps]
    # each address gets its confirmation link
    assert smtp.token(p.mail) and smtp.token(mail)


test_non_creates_the_individual_account_with_the_org.__doc__ = (
    NON + ", \"Création d'un compte individuel avec RPPS\" / \"sans RPPS\": with an RPPS a PER, "
    "without a MED (\"Adresse mail visible uniquement par les utilisateurs de Medimail\", \"Compte ne "
    "donnant pas lieu à une adresse MSSanté\"), the ORG's connection account from the start.")


@pytest.mark.parametrize("first", ["org", "member"])
def test_non_both_accounts_confirmed_and_validated_together(authd, smtp, slapd, first):
    """Item 2: "Both accounts are confirmed and validated together": while one address is not
    confirmed, neither validates; validating either, once both are, validates both (the PER
    gets its MSSanté address, the ORG its own), and the ORG is then usable from the member."""
    fields, login, mail, p = _non(f"non.joint.{first}")
    r = _register_non(authd, fields)
    assert r.returncode == 0, r.stdout + r.stderr
    member_login = r.json["fields"]["member_login"]
    # only the ORG confirmed: neither validates
    assert confirm(authd, smtp, mail).returncode == 0
    for who in (login, member_login):
        v = authd.ctl("validate", who)
        assert v.returncode == 1, v.stdout
    assert confirm(authd, smtp, p.mail).returncode == 0
    v = authd.ctl("validate", login if first == "org" else member_login)
    assert v.returncode == 0, v.stdout
    org, member = entry(slapd, login), entry(slapd, member_login)
    assert org["mmStatus"] == ["active"] and member["mmStatus"] == ["active"]
    assert org["mmMssAddress"] and member["mmMssAddress"]
    assert org["mmMember"] == [member["dn"]] and "mmJoinOrg" not in member
    # the other one is validated already
    assert authd.ctl("validate", member_login if first == "org" else login).returncode == 1
    accounts = authd.ctl("accounts", "--user", member_login)
    assert login in accounts.stdout, accounts.stdout


def test_non_med_member_has_no_mssante_address(authd, smtp, slapd):
    """Guide 001, "Compte pour les professionnels sans identifiant RPPS": "Compte ne donnant pas
    lieu à une adresse MSSanté"; the ORG has its own."""
    fields, login, mail, p = _non("non.med.valid", rpps=False)
    r = _register_non(authd, fields)
    assert r.returncode == 0, r.stdout
    assert confirm(authd, smtp, mail).returncode == 0 and confirm(authd, smtp, p.mail).returncode == 0
    assert authd.ctl("validate", login).returncode == 0
    member = entry(slapd, r.json["fields"]["member_login"])
    assert member["mmStatus"] == ["active"] and "mmMssAddress" not in member
    assert entry(slapd, login)["mmMssAddress"]


@pytest.mark.parametrize("key,value,field,rule", [
    ("--member.sn", "", "member.sn", "required"),
    ("--member.login-mail", "pas-une-adresse", "member.login_mail", None),
    ("--member.rpps", "10002813838", "member.rpps", "check_digit"),
    ("--member.type", "INT", "member.type", "national_id"),
    ("--member.org", "quelconque", "member.org", "not_allowed"),
])
def test_non_member_fields_checked_and_named(authd, smtp, slapd, key, value, field, rule):
    """The individual form's rules hold for the member, and a refusal names the member's field;
    neither account is created."""
    fields, login, mail, p = _non("non.bad")
    fields = with_field(fields, key, value) if key in fields else fields + [key, value]
    r = _register_non(authd, fields)
    assert r.returncode == 1 and r.json["fields"]["field"] == field, r.stdout
    if rule:
        assert r.json["fields"]["rule"] == rule, r.json
    assert _no_org(slapd, mail) and _no_org(slapd, p.mail)


def test_non_and_oui_together_refused(authd, smtp, slapd):
    """"2 options pour créer un compte partagé": an existing account (Oui) or a new one (Non),
    not both."""
    fields, login, mail, p = _non("non.both")
    refused(_register_non(authd, fields + ["--member", "quelquun@example.org"]), "member", "not_allowed")
    assert _no_org(slapd, mail) and _no_org(slapd, p.mail)


def test_non_member_mail_is_not_the_generic_one(authd, smtp, slapd):
    """"Renseigner une adresse mail générique" for the ORG; the member's is its own."""
    fields, login, mail, p = _non("non.same")
    r = _register_non(authd, with_field(fields, "--member.login-mail", mail))
    assert r.returncode == 1 and r.json["fields"]["rule"] in ("same_as_org", "duplicate"), r.stdout
    assert _no_org(slapd, mail)


def test_non_duplicate_member_mail_creates_nothing(authd, smtp, slapd):
    """A member e-mail already registered: neither account is created."""
    existing, _ = active_per(authd, smtp, tag="non.dup", given="Denise", sn="DOUBLON")
    fields, login, mail, p = _non("non.dup2")
    r = _register_non(authd, with_field(fields, "--member.login-mail", existing.mail))
    assert r.returncode == 1 and r.json["fields"]["field"] == "member.login_mail", r.stdout
    assert _no_org(slapd, mail)


def test_non_org_mail_taken_creates_no_member(authd, smtp, slapd):
    """The ORG's generic address already registered: refused before the member is created, so
    that no confirmation link is mailed for an account that would not exist."""
    fields, login, mail, p = _non("non.orgdup")
    first = _register_non(authd, fields)
    assert first.returncode == 0, first.stdout
    again, _, _, q = _non("non.orgdup2")
    again = with_field(again, "--login-mail", mail)
    r = _register_non(authd, again)
    refused(r, "login_mail", "duplicate")
    assert _no_org(slapd, q.mail) and smtp.messages(q.mail) == []


NON_KEYS = ["member.login_mail", "member.sn", "member.given_name", "member.rpps", "member.profession",
            "member.phone", "member.city"]


@pytest.mark.parametrize("key", NON_KEYS)
def test_non_newline_in_every_member_field(authd, smtp, slapd, key):
    """A newline in any of the member's fields: nothing stored with a newline, and the login
    e-mail with one refused."""
    fields, login, mail, p = _non("non.nl", phone="05 63 00 00 09", city="Albi")
    flag = "--" + key.replace("_", "-")
    fields = with_field(fields, flag, dict(zip(fields[0::2], fields[1::2]))[flag] + "\n")
    r = _register_non(authd, fields)
    for e in slapd.search(SUFFIX, f"(|(mmLoginMail={mail})(mmLoginMail={p.mail}))"):
        for attr, values in e.items():
            assert all("\n" not in v for v in values), (attr, values)
    if key == "member.login_mail":
        assert r.returncode == 1 and _no_org(slapd, mail)


# ------------------------------- item 3: "Créer un compte de connexion" from the ORG

CREER = ("Fiche réflexe, \"Gestion des comptes de connexion\": \"cliquer sur \"Créer un compte de "
         "connexion\" pour accéder au formulaire d'inscription\"")


def _org_with_member(authd, smtp, slapd, tag):
    """An active ORG and its active connection account: (org_login, member, member_uid)."""
    member, member_login = active_per(authd, smtp, tag=tag, given="Gaston", sn="GESTION")
    org_login, _ = active_org(authd, smtp, member.mail)
    return org_login, member, int(entry(slapd, member_login)["uidNumber"][0])


def _members(slapd, org_login):
    return set(entry(slapd, org_login).get("mmMember", []))


@pytest.mark.parametrize("kind", ["PER", "INT", "MED"])
def test_creer_un_compte_de_connexion_by_a_connection_account(authd, smtp, slapd, kind):
    member_org, member, uid = _org_with_member(authd, smtp, slapd, f"creer.{kind.lower()}")
    new = person(f"cnx.{kind.lower()}", "Noemie", "CONNEXION")
    fields = {"PER": new.per, "INT": new.int, "MED": new.med}[kind]() + ["--org", member_org]
    r = register(authd, smtp, kind, fields, uid=uid)
    assert r.returncode == 0, r.stdout + r.stderr
    login = r.json["fields"]["login"]
    dn = entry(slapd, login)["dn"]
    # "attached to the ORG once validated": not before
    assert dn not in _members(slapd, member_org)
    assert confirm(authd, smtp, new.mail).returncode == 0
    assert dn not in _members(slapd, member_org)
    v = authd.ctl("validate", login, *(["--mss", "no"] if kind == "INT" else []))
    assert v.returncode == 0, v.stdout
    assert dn in _members(slapd, member_org)
    assert "mmJoinOrg" not in entry(slapd, login)
    # ... and it may now use the ORG ("Changer de compte" lists it)
    accounts = authd.ctl("accounts", "--user", login)
    assert member_org in accounts.stdout, accounts.stdout


test_creer_un_compte_de_connexion_by_a_connection_account.__doc__ = (
    CREER + ": a connection account of the ORG registers a new PER / INT / MED account, which "
    "becomes a connection account of the ORG once the service centre has validated it.")


def test_creer_un_compte_de_connexion_by_an_administrator(authd, smtp, slapd):
    """The service centre (an administrator) creates a connection account for an ORG too."""
    member_org, _, _ = _org_with_member(authd, smtp, slapd, "creer.admin")
    new = person("cnx.admin", "Agathe", "ADMINCNX")
    login, _ = full_registration(authd, smtp, "MED", new.med() + ["--org", member_org], new.mail)
    assert entry(slapd, login)["dn"] in _members(slapd, member_org)


def test_creer_un_compte_de_connexion_refused_to_others(authd, smtp, slapd):
    """Only the ORG's connection accounts (and administrators) create its connection accounts:
    a local user without an account, an active account of another ORG and an unknown ORG get
    the same refusal, and nothing is registered."""
    member_org, _, _ = _org_with_member(authd, smtp, slapd, "creer.victim")
    other_org, _, other_uid = _org_with_member(authd, smtp, slapd, "creer.other")
    replies = []
    for uid, org in ((NOBODY, member_org), (other_uid, member_org), (other_uid, f"{member_org}-nope")):
        new = person("cnx.refused", "Rene", "REFUS")
        r = register(authd, smtp, "MED", new.med() + ["--org", org], uid=uid)
        assert r.returncode == 1, r.stdout
        replies.append((r.json["status"], r.json["message"]))
        assert _no_org(slapd, new.mail)
    assert replies[0] == replies[1] == replies[2] and replies[0][0] == EACCES, replies


@pytest.mark.parametrize("value,rule", [("{org}\n", "characters"), ("{member}", "not_org"),
                                        ("x" * 255, "max_length")])
def test_creer_un_compte_de_connexion_org_attacks(authd, smtp, slapd, value, rule):
    """The ORG named with a newline, an individual account named as the ORG, an oversized
    name: refused, nothing registered."""
    member_org, member, uid = _org_with_member(authd, smtp, slapd, "creer.attack")
    new = person("cnx.attack", "Ivan", "ATTAQUE")
    org = value.format(org=member_org, member=member.mail)
    r = register(authd, smtp, "MED", new.med() + ["--org", org], uid=uid)
    assert r.returncode == 1 and r.json["fields"]["rule"] == rule, r.stdout
    assert _no_org(slapd, new.mail)


def test_creer_un_compte_de_connexion_not_for_an_org(authd, smtp, slapd):
    """A connection account is an individual account ("compte nominatif de type PER, INT ou
    MED"): an ORG registered with --org is refused."""
    member_org, member, _ = _org_with_member(authd, smtp, slapd, "creer.orgorg")
    name, login, _ = org_name("Pharmacie Imbriquee")
    mail = f"contact.{login}@example.org"
    r = register(authd, smtp, "ORG", org_fields(member.mail, mail=mail, name=name) + ["--org", member_org])
    refused(r, "org", "not_allowed")
    assert _no_org(slapd, mail)


def test_creer_un_compte_de_connexion_org_closed_before_validation(authd, smtp, slapd):
    """The ORG closed between the registration and the validation: the account is validated,
    attached to nothing."""
    member_org, _, uid = _org_with_member(authd, smtp, slapd, "creer.closed")
    new = person("cnx.closed", "Clara", "FERMEE")
    r = register(authd, smtp, "MED", new.med() + ["--org", member_org], uid=uid)
    assert r.returncode == 0, r.stdout
    assert authd.ctl("close", member_org).returncode == 0
    assert confirm(authd, smtp, new.mail).returncode == 0
    login = r.json["fields"]["login"]
    assert authd.ctl("validate", login).returncode == 0
    assert entry(slapd, login)["dn"] not in _members(slapd, member_org)


# ------------------------------------- item 8: the address from the mail entered

def _per(mail, given="Claire", sn="LAGARDE"):
    p = person("mss.mail", given, sn)
    return p, per_fields(mail, p.sn, p.given, p.rpps)


def test_mss_address_is_based_on_the_mail_entered(authd, smtp, slapd):
    """Guide 000: "C'est sur la base de l'adresse mail saisie que sera ensuite
    définie l'adresse MSS"; fiche réflexe: clagarde@iess.fr beside
    clagarde@iess.mssante.fr: the local part, folded, on the profession's domain."""
    tag = person("x").tag
    mail = f"CLagarde.{tag}@iess.fr"
    _, fields = _per(mail)
    _, v = full_registration(authd, smtp, "PER", fields, mail)
    assert v["mss_address"] == f"clagarde.{tag}@{PHARMA}"


def test_mss_address_folds_the_local_part(authd, smtp, slapd):
    """"sur la base de l'adresse mail saisie": its local part folded as names
    are (separators to '.', lowercase)."""
    tag = person("y").tag
    mail = f"secretariat_equipe-{tag}+mss@yahoo.fr"
    _, fields = _per(mail)
    _, v = full_registration(authd, smtp, "PER", fields, mail)
    assert v["mss_address"] == f"secretariat.equipe.{tag}.mss@{PHARMA}"


def test_mss_address_same_local_part_elsewhere_gets_the_next(authd, smtp, slapd):
    """Two people with the same local part at two providers: the second gets
    the next free address, never another user's."""
    tag = person("z").tag
    first_mail, second_mail = f"clagarde{tag}@iess.fr", f"clagarde{tag}@autre.fr"
    _, fields = _per(first_mail)
    _, v1 = full_registration(authd, smtp, "PER", fields, first_mail)
    _, fields = _per(second_mail)
    _, v2 = full_registration(authd, smtp, "PER", fields, second_mail)
    assert v1["mss_address"] == f"clagarde{tag}@{PHARMA}"
    assert v2["mss_address"] == f"clagarde{tag}2@{PHARMA}"


def test_mss_address_prenom_nom_when_the_local_part_is_not_usable(authd, smtp, slapd):
    """"prenom.nom" (guide 000's example prenom.nom@pharmacien.oc.mssante.fr)
    when the local part names nobody (digits only)."""
    p = person("digits")
    mail = f"0612{unique_rpps()}@example.org"
    _, fields = _per(mail, given=p.given, sn=p.sn)
    login, v = full_registration(authd, smtp, "PER", fields, mail)
    assert v["mss_address"] == f"{login}@{PHARMA}"


@pytest.fixture(scope="module")
def by_name(state, slapd, smtp):
    d = Daemon(state, slapd, smtp.port, name="mssname", extra="mss_local_part = name\n").start()
    yield d
    d.stop()


def test_mss_local_part_name_option(by_name, smtp, slapd):
    """mss_local_part = name: prenom.nom as before, whatever the mail entered."""
    p = person("opt.name", "Nina", "OPTNAME")
    r = register(by_name, smtp, "PER", p.per())
    assert r.returncode == 0, r.stdout
    login = r.json["fields"]["login"]
    assert confirm(by_name, smtp, p.mail).returncode == 0
    v = by_name.ctl("validate", login)
    assert v.returncode == 0, v.stdout
    assert v.json["fields"]["mss_address"] == f"{login}@{PHARMA}"


def test_mss_local_part_bad_value_refused(state, slapd, smtp):
    """A value other than mail or name stops the daemon from starting."""
    d = Daemon(state, slapd, smtp.port, name="mssbad", extra="mss_local_part = prenom\n")
    with pytest.raises(RuntimeError, match="mss_local_part"):
        d.start()
    d.stop()
