"""The attacker's tests of issue 14's features (orgreg14, centre14, self14, psc14,
the web foundation): each test names the hole it closes and the rule it keeps."""
import concurrent.futures

from mmstack import SUFFIX, med_fields, per_fields
from test_email_change import make_med
from test_lifecycle import PW, active_per, confirm, entry, person, register
from test_registration_org import _non
from test_service_centre import FINESS_A, FINESS_B, gestionnaire, int_of  # noqa: F401 (a fixture)

EAGAIN, EEXIST = -11, -17


def register_med(authd, mail, sn, given="Anne"):
    return authd.ctl("register", "MED", "--password-stdin", *med_fields(mail, sn, given), input=PW + "\n")


def test_n_inscriptions_simultanees_d_une_adresse_un_seul_compte(authd, smtp, slapd):
    """Guide 003 / issue 14 item 13: "the login mail unique". slapd's unique overlay searches
    before it writes, so N registrations of one address at the same moment could all pass it;
    registration now claims the address first, as the e-mail change does (records.h,
    mail_claim_take): one account has it, every other is refused (duplicate, or busy)."""
    mail = "course.inscription@example.org"
    people = [person(f"course{i}", "Anne", "COURSEINS") for i in range(8)]  # surnames of their own
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda p: register_med(authd, mail, p.sn), people))
    ok = [r for r in results if r.returncode == 0]
    assert len(ok) == 1, [r.stdout for r in results]
    for r in results:
        if r.returncode:
            assert r.json["status"] in (EAGAIN, EEXIST), r.stdout
    owners = slapd.search(SUFFIX, f"(mmLoginMail={mail})", "uid")
    assert len(owners) == 1, owners
    # the claim is gone once the entry is written: a later registration is told "duplicate"
    r = register_med(authd, mail.upper(), people[0].sn + "BIS")
    assert r.returncode == 1 and r.json["status"] == EEXIST, r.stdout
    assert slapd.search(f"ou=sessions,{SUFFIX}", "(description=email-claim)", "1.1", scope="one") == []


def test_l_adresse_mssante_d_un_autre_compte_n_est_pas_une_adresse_de_connexion(authd, smtp, slapd):
    """Guide 003 ("Gestion de votre compte Medimail : adresse mail"), issue 14 item 13: "the
    login mail unique". Another account's MSSanté address (a person's, or the generic address
    of a BAL ORG whose mailbox its members read) is not free: taken as a login e-mail it would
    sit in the mail attribute beside the owner's. Refused at registration and at the change."""
    _, victim = active_per(authd, smtp, tag="victime.mss", given="Vera", sn="VICTIME")
    mss = entry(slapd, victim)["mmMssAddress"][0]
    r = register_med(authd, mss, "INTRUS")
    assert r.returncode == 1 and r.json["status"] == EEXIST, r.stdout
    assert r.json["fields"]["field"] == "login_mail" and r.json["fields"]["rule"] == "duplicate"
    me = make_med(authd, smtp, "ivan.intrus@example.org", "INTRUSMSS")
    r = authd.ctl("email", "change", mss.upper(), uid=me["uid"])
    assert r.returncode == 1 and r.json["status"] == EEXIST, r.stdout
    assert r.json["fields"]["rule"] == "duplicate"
    assert slapd.search(SUFFIX, f"(mmLoginMail={mss})", "uid") == []


def test_suspendre_puis_reactiver_ne_confirme_pas_l_adresse(authd, smtp, slapd, gestionnaire):
    """Guide 000: the account is created once its owner confirms the login e-mail by the link
    mailed to it ("Un email vous est envoyé afin de confirmer votre adresse mail"). A structure
    administrator (or the centre) suspending a registration that was never confirmed, then
    reactivating it, sent it to the validation queue: validated, it was an account on an
    address nobody proved. It goes back to waiting for its confirmation, the link still good."""
    g, guid, _ = gestionnaire
    for by in (guid, None):
        p = person("jamais.confirme", "Inès", "NONCONF")
        r = register(authd, smtp, "INT", int_of(p, FINESS_A))
        assert r.returncode == 0, r.stdout
        login = r.json["fields"]["login"]
        assert entry(slapd, login)["mmStatus"] == ["pending-confirmation"]
        assert authd.ctl("suspend", login, "--reason", "doute", uid=by).returncode == 0
        r = authd.ctl("reactivate", login, uid=by)
        assert r.returncode == 0 and r.json["fields"]["status"] == "pending-confirmation", r.stdout
        assert entry(slapd, login)["mmStatus"] == ["pending-confirmation"]
        r = authd.ctl("validate", login, uid=by)
        assert r.returncode == 1, r.stdout
        assert entry(slapd, login)["mmStatus"] == ["pending-confirmation"]
        # its owner's link still serves, and then the validation does
        assert confirm(authd, smtp, p.mail).returncode == 0
        assert authd.ctl("validate", login, uid=by).returncode == 0
        assert entry(slapd, login)["mmStatus"] == ["active"]


def test_gestionnaire_ne_valide_pas_avec_son_compte_une_bal_org_d_une_autre_structure(
        authd, smtp, slapd, gestionnaire):
    """Fiche réflexe: the administrators of a structure "valident et gèrent les comptes de leur
    structure"; issue 14 item 2: the "Non" accounts "are confirmed and validated together". A
    member declared in FINESS A registered with an ORG of FINESS B: A's administrator
    validating the member validated B's ORG with it (an MSSanté address in B's name). Refused
    (the centre validates both); with an ORG of A and its member of B, likewise."""
    g, guid, _ = gestionnaire
    for org_finess, member_finess in ((FINESS_B, FINESS_A), (FINESS_A, FINESS_B)):
        fields, login, mail, p = _non(f"non.cross.{org_finess}", struct_type="FINESS", struct_id=member_finess)
        fields[fields.index("--struct-id") + 1] = org_finess
        r = authd.ctl("register", "ORG", *fields, input=PW + "\n")
        assert r.returncode == 0, r.stdout + r.stderr
        member_login = r.json["fields"]["member_login"]
        assert confirm(authd, smtp, mail).returncode == 0 and confirm(authd, smtp, p.mail).returncode == 0
        mine = member_login if member_finess == FINESS_A else login
        r = authd.ctl("validate", mine, uid=guid)
        assert r.returncode == 1 and r.json["status"] == -13, r.stdout
        assert entry(slapd, login)["mmStatus"] == ["pending-validation"]
        assert entry(slapd, member_login)["mmStatus"] == ["pending-validation"]
        # the other one is no account of A's administrator at all
        other = login if mine == member_login else member_login
        assert authd.ctl("validate", other, uid=guid).returncode == 1
        assert entry(slapd, other)["mmStatus"] == ["pending-validation"]
        # the service centre validates both
        assert authd.ctl("validate", mine).returncode == 0
        assert entry(slapd, login)["mmStatus"] == ["active"] and entry(slapd, member_login)["mmStatus"] == ["active"]


def test_n_inscriptions_simultanees_d_un_rpps_un_seul_compte(authd, smtp, slapd):
    """Guide 000: a PER account is a person's, identified by "son numéro RPPS"; the RPPS is
    unique as the login mail is, and the same race (slapd's unique overlay searches before it
    writes) gave one RPPS to two accounts: the registration claims it first too."""
    people = [person(f"course.rpps{i}", "Rémi", "COURSERPPS") for i in range(6)]
    rpps = people[0].rpps
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda p: authd.ctl(
            "register", "PER", "--password-stdin", *per_fields(p.mail, p.sn, p.given, rpps), input=PW + "\n"),
            people))
    assert len([r for r in results if r.returncode == 0]) == 1, [r.stdout for r in results]
    for r in results:
        if r.returncode:
            assert r.json["status"] in (EAGAIN, EEXIST), r.stdout
    assert len(slapd.search(SUFFIX, f"(mmRpps={rpps})", "uid")) == 1
    assert slapd.search(f"ou=sessions,{SUFFIX}", "(description=rpps-claim)", "1.1", scope="one") == []
