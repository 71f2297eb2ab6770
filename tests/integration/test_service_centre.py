"""The service centre's side of the guides, end to end through medimailctl, the
daemon and slapd: the publication of a BAL ORG's MSSanté address (guides 001/002,
"dans les 72h"), the MSSanté address an INT gets after its validation (guide 000,
"pouvant donner lieu"), and the structure administrators ("Vos informations
Gestionnaire", fiche réflexe and guide 003), with their attacks: a plain user
publishing, a name with a newline, an ORG not validated, a structure
administrator of FINESS A acting on an account of FINESS B.

Every test makes its own accounts (test_lifecycle's person() and org_name())."""
import pytest

import test_lifecycle as lc
from mmstack import NOBODY, SUFFIX, ctl_ok, ctl_refused, int_fields

FINESS_A = "310000120"  # int_fields' structure
FINESS_B = "810000034"


def uid_of(slapd, login):
    return int(lc.entry(slapd, login)["uidNumber"][0])


def int_of(p, finess):
    fields = p.int()
    fields[fields.index(FINESS_A)] = finess
    return fields


def pending_int(authd, smtp, finess, tag):
    p = lc.person(tag, "Inès", "STRUCT")
    return p, lc.pending(authd, smtp, "INT", int_of(p, finess), p.mail)


def pending_org(authd, smtp, member_mail):
    name, org_login, _ = lc.org_name("Pharmacie Publiee")
    mail = f"contact.{org_login}@example.org"
    login = lc.pending(authd, smtp, "ORG", lc.org_fields(member_mail, mail=mail, name=name), mail)
    return login, name


def in_mssante_view(authd, words):
    r = authd.ctl("search", words, "--view", "mssante")
    assert r.returncode == 0, r.stdout
    return [x.get("mss_address") for x in r.json.get("records") or []]


# ------------------------------------------------------------ item 4: publication

def test_org_visible_in_annuaire_sante_dans_les_72h_once_the_centre_publishes(authd, smtp, slapd, tmp_path):
    """Guides 001/002: "Le compte sera visible dans l'annuaire santé dans les 72h,
    après que le Centre de Services du GRADeS ait finalisé le paramétrage du
    compte, notamment la création de l'adresse MSSanté." A validated ORG has its
    address, is told so by mail, but is in neither the MSSanté view nor the
    national export until `medimailctl publish`, audited."""
    member, _ = lc.active_per(authd, smtp)
    login, name = pending_org(authd, smtp, member.mail)
    v = ctl_ok(authd.ctl("validate", login))
    address = v["mss_address"]
    assert v["published"] == "no" and v["status"] == "active"
    assert "dans les 72h" in smtp.body(smtp.messages(f"contact.{login}@example.org")[-1])
    e = lc.entry(slapd, login)
    assert e["mmMssPending"] == ["TRUE"] and e["mmMssAddress"] == [address]
    # SHOW and the centre's list say it waits.
    assert ctl_ok(authd.ctl("show", login))["mss_pending"] == "TRUE"
    listed = authd.ctl("list", "--type", "ORG", "--status", "active")
    assert any(x["login"] == login and x.get("mss_pending") == "TRUE" for x in listed.json["records"])
    r = authd.ctl("list", "--published", "no")      # the centre's queue
    assert r.returncode == 0, r.stdout
    queue = r.json.get("records") or []
    assert login in [x["login"] for x in queue] and all(x.get("mss_pending") == "TRUE" for x in queue)
    ctl_refused(authd.ctl("list", "--published", "peut-être"), "published", "yes_no")
    # Not in the annuaire santé, nor in the national export; no MSSanté address in the Medimail view.
    assert address not in in_mssante_view(authd, name)
    out = tmp_path / "before.txt"
    ctl_ok(authd.ctl("export", "--output", str(out)))
    assert address not in out.read_text(encoding="utf-8")
    med = authd.ctl("search", name)
    rec = [x for x in med.json.get("records") or [] if x.get("login") == login]
    assert rec and "mss_address" not in rec[0], med.stdout
    # The centre publishes it.
    p = ctl_ok(authd.ctl("publish", login))
    assert p["mss_address"] == address
    assert "mmMssPending" not in lc.entry(slapd, login)
    assert login not in [x["login"] for x in authd.ctl("list", "--published", "no").json.get("records") or []]
    assert login in [x["login"] for x in authd.ctl("list", "--published", "yes", "--type", "ORG").json["records"]]
    assert address in in_mssante_view(authd, name)
    out = tmp_path / "after.txt"
    ctl_ok(authd.ctl("export", "--output", str(out)))
    assert address in out.read_text(encoding="utf-8")
    assert f'audit="publish" caller="uid=0"' in authd.log_text()
    # Twice: nothing left to publish.
    again = authd.ctl("publish", login)
    assert again.returncode == 1 and again.json["status"] == -1 and again.json["fields"]["reason"] == "published"


def test_per_and_int_addresses_are_published_at_validation(authd, smtp, slapd):
    """The 72 h of the guides are the ORG's ("Validation et visibilité du compte
    organisationnel dans l'annuaire santé"): a PER is in the annuaire santé once
    validated, as before, and has nothing to publish."""
    p, login = lc.active_per(authd, smtp, tag="paul.publie", given="Paul", sn="PUBLIE")
    assert "mmMssPending" not in lc.entry(slapd, login)
    assert lc.entry(slapd, login)["mmMssAddress"][0] in in_mssante_view(authd, p.sn)
    r = authd.ctl("publish", login)
    assert r.returncode == 1 and r.json["status"] == -1 and r.json["fields"]["reason"] == "type", r.stdout


def test_publishing_a_non_validated_org_is_refused(authd, smtp, slapd):
    member, _ = lc.active_per(authd, smtp)
    login, _ = pending_org(authd, smtp, member.mail)
    r = authd.ctl("publish", login)
    assert r.returncode == 1 and r.json["status"] == -1, r.stdout
    assert r.json["fields"]["reason"] == "account_state" and r.json["fields"]["status"] == "pending-validation"
    e = lc.entry(slapd, login)
    assert e["mmStatus"] == ["pending-validation"] and "mmMssAddress" not in e
    # Validated, then suspended: not published either.
    ctl_ok(authd.ctl("validate", login))
    ctl_ok(authd.ctl("suspend", login))
    r = authd.ctl("publish", login)
    assert r.returncode == 1 and r.json["fields"]["reason"] == "account_state", r.stdout
    assert lc.entry(slapd, login)["mmMssPending"] == ["TRUE"]


def test_a_plain_user_may_not_publish(authd, smtp, slapd):
    """Publication is the service centre's: not the ORG's connection account, not
    a structure administrator, not a uid without an account; audited."""
    member, member_login = lc.active_per(authd, smtp)
    login, _ = pending_org(authd, smtp, member.mail)
    ctl_ok(authd.ctl("validate", login))
    ctl_ok(authd.ctl("gestionnaire", "add", member_login, "--struct-type", "FINESS", "--struct-id", "810000034"))
    for uid in (uid_of(slapd, member_login), NOBODY):
        for cmd in (("publish", login), ("mss", "grant", login)):
            r = authd.ctl(*cmd, uid=uid)
            assert r.returncode == 1 and r.json["status"] == -13, r.stdout
            assert r.json["message"] == "réservé aux administrateurs"
    assert lc.entry(slapd, login)["mmMssPending"] == ["TRUE"]
    assert 'audit="publish"' in authd.log_text() and "administrators only" in authd.log_text()


def test_publish_a_name_with_a_newline_or_oversized(authd, smtp, slapd):
    member, _ = lc.active_per(authd, smtp)
    login, _ = pending_org(authd, smtp, member.mail)
    ctl_ok(authd.ctl("validate", login))
    ctl_refused(authd.ctl("publish", login + "\nx"), "login", "characters")
    r = authd.ctl("publish", "x" * 5000)
    assert r.returncode == 1 and r.json["fields"].get("field") == "login", r.stdout
    r = authd.ctl("publish", "nosuch.org.zz")
    assert r.returncode == 1 and r.json["status"] == -2, r.stdout
    assert lc.entry(slapd, login)["mmMssPending"] == ["TRUE"]


# ------------------------------------------------------------ the INT's address after validation

def test_int_pouvant_donner_lieu_gets_its_address_after_validation(authd, smtp, slapd):
    """Guide 000, BAL INT: "Compte pouvant donner lieu à une adresse MSSanté dans
    l'annuaire MSS national": validated without one, the centre gives it later
    (`medimailctl mss grant`), the owner is mailed, the address is in the MSSanté
    view; once, for an active INT only."""
    k = lc.person("ines.plustard", "Inès", "PLUSTARD")
    login, v = lc.full_registration(authd, smtp, "INT", k.int(), k.mail)
    assert "mss_address" not in v
    g = ctl_ok(authd.ctl("mss", "grant", login))
    address = f"{k.mail.split('@')[0].lower()}@medecin.oc.mssante.fr"
    assert g["mss_address"] == address and lc.entry(slapd, login)["mmMssAddress"] == [address]
    assert smtp.wait_message(k.mail, r"adresse MSSanté")
    assert address in in_mssante_view(authd, k.sn)
    assert 'audit="mss-grant" caller="uid=0"' in authd.log_text()
    again = authd.ctl("mss", "grant", login)
    assert again.returncode == 1 and again.json["fields"]["reason"] == "has_address", again.stdout
    # Not for a PER, not for an INT still pending, not for a suspended one.
    _, per = lc.active_per(authd, smtp)
    assert authd.ctl("mss", "grant", per).json["fields"]["reason"] == "type"
    _, waiting = pending_int(authd, smtp, FINESS_A, "ines.attend")
    assert authd.ctl("mss", "grant", waiting).json["fields"]["reason"] == "account_state"
    s = lc.person("ines.suspendue", "Inès", "SUSPENDUE")
    sus, _ = lc.full_registration(authd, smtp, "INT", s.int(), s.mail)
    ctl_ok(authd.ctl("suspend", sus))
    assert authd.ctl("mss", "grant", sus).json["fields"]["reason"] == "account_state"
    assert "mmMssAddress" not in lc.entry(slapd, sus)


# ------------------------------------------------------------ item 14: structure administrators

@pytest.fixture
def gestionnaire(authd, smtp, slapd):
    """An active PER made structure administrator of FINESS A by the centre: (login, uid, person)."""
    p, login = lc.active_per(authd, smtp, tag="celia.gestion", given="Célia", sn="GESTION")
    r = ctl_ok(authd.ctl("gestionnaire", "add", login, "--struct-type", "FINESS", "--struct-id", FINESS_A))
    assert r["struct_admin"] == f"FINESS:{FINESS_A}"
    assert lc.entry(slapd, login)["mmStructAdmin"] == [f"FINESS:{FINESS_A}"]
    return login, uid_of(slapd, login), p


def test_gestionnaire_validates_and_manages_the_accounts_of_its_structure(authd, smtp, slapd, gestionnaire):
    """Guide 000: "rapprochez-vous de l'administrateur Medimail pour la création de
    votre compte"; fiche réflexe: "Contactez le ou les administrateurs Medimail de
    votre structure". The structure administrator of FINESS A sees the validation
    queue of A, validates, suspends and reactivates the accounts of A; closing and
    the INT's MSSanté address stay the service centre's."""
    g, guid, _ = gestionnaire
    _, mine = pending_int(authd, smtp, FINESS_A, "ines.mienne")
    _, theirs = pending_int(authd, smtp, FINESS_B, "ines.autre")
    queue = authd.ctl("list", "--status", "pending-validation", uid=guid)
    assert queue.returncode == 0, queue.stdout
    logins = {x["login"] for x in queue.json.get("records") or []}
    assert mine in logins and theirs not in logins
    assert all(lc.entry(slapd, x)["mmStructId"] == [FINESS_A] for x in logins)
    # The INT's address: the centre's decision.
    ctl_refused(authd.ctl("validate", mine, "--mss", "yes", uid=guid), "mss", "service_centre")
    assert lc.entry(slapd, mine)["mmStatus"] == ["pending-validation"]
    v = ctl_ok(authd.ctl("validate", mine, uid=guid))
    assert v["status"] == "active" and "mss_address" not in v
    assert f'audit="validate" caller="uid={guid}"' in authd.log_text()
    assert f'audit="structure-admin" caller="uid={guid}"' in authd.log_text()
    assert f'account="{mine}" result="ok" reason="validate"' in authd.log_text()
    assert ctl_ok(authd.ctl("suspend", mine, "--reason", "départ", uid=guid))["status"] == "suspended"
    assert lc.entry(slapd, mine)["mmSuspendedByStructure"] == ["TRUE"]
    assert ctl_ok(authd.ctl("reactivate", mine, uid=guid))["status"] == "active"
    assert "mmSuspendedByStructure" not in lc.entry(slapd, mine)
    # What the service centre suspended, the centre alone reactivates.
    ctl_ok(authd.ctl("suspend", mine, "--reason", "abus"))
    r = authd.ctl("reactivate", mine, uid=guid)
    assert r.returncode == 1 and r.json["status"] == -13 and "centre de services" in r.json["message"], r.stdout
    assert lc.entry(slapd, mine)["mmStatus"] == ["suspended"]
    assert ctl_ok(authd.ctl("reactivate", mine))["status"] == "active"
    r = authd.ctl("close", mine, uid=guid)
    assert r.returncode == 1 and r.json["status"] == -13, r.stdout
    assert lc.entry(slapd, mine)["mmStatus"] == ["active"]


def test_gestionnaire_of_finess_a_on_an_account_of_finess_b_sees_an_unknown_account(authd, smtp, slapd,
                                                                                   gestionnaire):
    """The same answer for an account of another structure as for one that does
    not exist, and nothing changes."""
    g, guid, _ = gestionnaire
    _, theirs = pending_int(authd, smtp, FINESS_B, "ines.voisine")
    _, per = lc.active_per(authd, smtp)       # of no structure
    for cmd in ("validate", "suspend", "reactivate"):
        other = authd.ctl(cmd, theirs, uid=guid)
        unknown = authd.ctl(cmd, "nosuch.zzz", uid=guid)
        assert other.returncode == unknown.returncode == 1
        assert other.json["status"] == unknown.json["status"] == -2, other.stdout
        assert other.json["message"] == f"{theirs} : compte introuvable"
        assert unknown.json["message"] == "nosuch.zzz : compte introuvable"
        assert other.json["fields"] == unknown.json["fields"]
        assert authd.ctl(cmd, per, uid=guid).json["status"] == -2
    assert lc.entry(slapd, theirs)["mmStatus"] == ["pending-validation"]
    assert lc.entry(slapd, per)["mmStatus"] == ["active"]
    # A name with a newline: refused as a name, before any look-up.
    ctl_refused(authd.ctl("validate", theirs + "\n" + g, uid=guid), "login", "characters")


def test_gestionnaire_role_is_given_and_taken_by_the_centre_only(authd, smtp, slapd, gestionnaire):
    g, guid, _ = gestionnaire
    _, mine = pending_int(authd, smtp, FINESS_A, "ines.retrait")
    _, other_login = lc.active_per(authd, smtp)
    # Nobody but an administrator gives the role, the holder included.
    for uid in (guid, uid_of(slapd, other_login)):
        r = authd.ctl("gestionnaire", "add", other_login, "--struct-type", "FINESS", "--struct-id", FINESS_A,
                      uid=uid)
        assert r.returncode == 1 and r.json["status"] == -13, r.stdout
    assert "mmStructAdmin" not in lc.entry(slapd, other_login)
    # Checked values: a newline, a wrong check digit, one without the other, an ORG, twice.
    ctl_refused(authd.ctl("gestionnaire", "add", other_login, "--struct-type", "FINESS", "--struct-id",
                          FINESS_A + "\n"), "struct_id", "check_digit")
    ctl_refused(authd.ctl("gestionnaire", "add", other_login, "--struct-type", "FINESS", "--struct-id",
                          "310000121"), "struct_id", "check_digit")
    r = authd.ctl("gestionnaire", "add", other_login, "--struct-type", "FINESS", "--struct-id", "3" * 5000)
    assert r.returncode == 1 and r.json["fields"].get("field") == "struct_id", r.stdout
    ctl_refused(authd.ctl("gestionnaire", "add", other_login + "\nroot", "--struct-type", "FINESS",
                          "--struct-id", FINESS_A), "login", "characters")
    ctl_refused(authd.ctl("gestionnaire", "add", other_login, "--struct-id", FINESS_A), "struct_id", "required")
    ctl_refused(authd.ctl("gestionnaire", "add", other_login), "struct_id", "required")  # a PER of no structure
    dup = authd.ctl("gestionnaire", "add", g, "--struct-type", "FINESS", "--struct-id", FINESS_A)
    assert dup.returncode == 1 and dup.json["status"] == -17, dup.stdout
    member, _ = lc.active_per(authd, smtp)
    org_login, _ = lc.active_org(authd, smtp, member.mail)
    r = authd.ctl("gestionnaire", "add", org_login, "--struct-type", "FINESS", "--struct-id", FINESS_A)
    assert r.returncode == 1 and r.json["status"] == -1, r.stdout
    # An INT of A made administrator of its own structure (no --struct-id).
    k = lc.person("karim.gestion", "Karim", "GESTION")
    k_login, _ = lc.full_registration(authd, smtp, "INT", k.int(), k.mail)
    assert ctl_ok(authd.ctl("gestionnaire", "add", k_login))["struct_admin"] == f"FINESS:{FINESS_A}"
    assert 'audit="struct-admin-add" caller="uid=0"' in authd.log_text()
    # Taken back: the former holder is a plain user again.
    ctl_ok(authd.ctl("gestionnaire", "remove", g))
    assert "mmStructAdmin" not in lc.entry(slapd, g)
    r = authd.ctl("validate", mine, uid=guid)
    assert r.returncode == 1 and r.json["status"] == -13, r.stdout
    assert 'audit="struct-admin-del" caller="uid=0"' in authd.log_text()
    gone = authd.ctl("gestionnaire", "remove", g)
    assert gone.returncode == 1 and gone.json["status"] == -2, gone.stdout


def test_a_suspended_gestionnaire_manages_nothing(authd, smtp, slapd, gestionnaire):
    g, guid, _ = gestionnaire
    _, mine = pending_int(authd, smtp, FINESS_A, "ines.bloquee")
    ctl_ok(authd.ctl("suspend", g))
    r = authd.ctl("validate", mine, uid=guid)
    assert r.returncode == 1 and r.json["status"] == -1 and r.json["fields"]["reason"] == "account_state"
    assert lc.entry(slapd, mine)["mmStatus"] == ["pending-validation"]
    ctl_ok(authd.ctl("reactivate", g))


def test_vos_informations_gestionnaire_contactez_les_administrateurs_de_votre_structure(authd, smtp, slapd,
                                                                                       gestionnaire):
    """Fiche réflexe, Gérer mon compte: "Vos informations Gestionnaire : Contactez
    le ou les administrateurs Medimail de votre structure." The users of FINESS A
    (an INT, and a BAL ORG of A through its connection account) see their
    structure administrators with their contact; those of FINESS B see none."""
    g, _, gp = gestionnaire
    gaddr = lc.entry(slapd, g)["mmMssAddress"][0]
    k = lc.person("karim.contact", "Karim", "CONTACT")
    k_login, _ = lc.full_registration(authd, smtp, "INT", k.int(), k.mail)
    r = authd.ctl("gestionnaires", uid=uid_of(slapd, k_login))
    assert r.returncode == 0, r.stdout
    assert r.json["fields"]["struct_type"] == "FINESS" and r.json["fields"]["struct_id"] == FINESS_A
    recs = r.json.get("records") or []
    mine = [x for x in recs if x["mail"] == gaddr]
    assert mine and mine[0]["name"] == f"{gp.given} {gp.sn}" and mine[0]["phone"] == ["05 63 00 00 01"]
    # Someone of FINESS B: none of A's.
    b = lc.person("karim.ailleurs", "Karim", "AILLEURS")
    b_login, _ = lc.full_registration(authd, smtp, "INT", int_of(b, FINESS_B), b.mail)
    r = authd.ctl("gestionnaires", uid=uid_of(slapd, b_login))
    assert r.returncode == 0 and gaddr not in [x["mail"] for x in r.json.get("records") or []], r.stdout
    # A suspended structure administrator is no contact.
    ctl_ok(authd.ctl("suspend", g))
    r = authd.ctl("gestionnaires", uid=uid_of(slapd, k_login))
    assert gaddr not in [x["mail"] for x in r.json.get("records") or []]
    ctl_ok(authd.ctl("reactivate", g))
    # Another account's information: the answer of an unknown account.
    r = authd.ctl("gestionnaires", "--login", k_login, uid=uid_of(slapd, b_login))
    assert r.returncode == 1 and r.json["status"] == -2, r.stdout
