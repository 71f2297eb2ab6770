"""The attacker's tests of issue 14's features (orgreg14, centre14, self14, psc14,
the web foundation): each test names the hole it closes and the rule it keeps."""
import concurrent.futures

from mmstack import SUFFIX, med_fields
from test_email_change import make_med
from test_lifecycle import PW, active_per, entry, person

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

