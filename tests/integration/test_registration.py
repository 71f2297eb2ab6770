"""Registration of individual accounts as guide 000 ("Création d'un compte
individuel nominatif") fills the form: the visibility and dematerialisation
boxes, the region, and the input a person types (an RPPS with spaces, a
profession by its name, names with stray spaces), the same rules for the
profile ("Gérer mon compte").

Every test makes its own accounts with identities of its own (test_lifecycle's
person(), org_name()): each runs alone with -k."""
import pytest

from mmstack import SUFFIX, org_fields
from test_lifecycle import active_per, confirm, entry, full_registration, org_name, person, register

OPEN = "Occitanie, Bretagne"  # regions_open of the test stack (mmstack.py)


def with_field(fields, key, value):
    """fields with --key set to value (replaced, or added)."""
    out = list(fields)
    if key in out:
        out[out.index(key) + 1] = value
    else:
        out += [key, value]
    return out


def without(fields, key):
    out = list(fields)
    i = out.index(key)
    del out[i:i + 2]
    return out


def refused(r, field, rule):
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.json["status"] == (-17 if rule == "duplicate" else -22), r.stdout
    assert r.json["fields"]["field"] == field and r.json["fields"]["rule"] == rule, r.json
    return r.json


def spaced(rpps):
    """An RPPS as it is printed: "100 028 138 39"."""
    return f"{rpps[:3]} {rpps[3:6]} {rpps[6:9]} {rpps[9:]}"


def fields_of(r):
    assert r.returncode == 0, r.stdout + r.stderr
    return r.json["fields"]


# ------------------------------------------------- item 6: the form's boxes

def test_boxes_checked_by_default_when_not_given(authd, smtp, slapd):
    """Guide 000: "Par défaut, votre adresse mail est visible dans l'annuaire
    Medimail." and "Par défaut, l'option dématérialisation est cochée"."""
    p = person("box.default", "Irene", "BOXDEF")
    login, _ = full_registration(authd, smtp, "PER", p.per(), p.mail)
    e = entry(slapd, login)
    assert e["mmVisibleMedimail"] == ["TRUE"] and e["mmVisibleMssante"] == ["TRUE"]
    assert e["mmDematerialisation"] == ["TRUE"]


def test_unchecked_boxes_are_stored_and_kept_at_validation(authd, smtp, slapd):
    """Guide 000: "Visible dans l'annuaire Medimail : ☒ Je souhaite que mon
    adresse mail apparaisse dans l'annuaire Medimail." and "Dématérialisation :
    ☒ Je souhaite dématérialiser tous mes échanges": choices of the form,
    unchecked ones kept through confirmation and validation."""
    p = person("box.off", "Odile", "BOXOFF")
    fields = p.per() + ["--visible-medimail", "no", "--visible-mssante", "no", "--dematerialisation", "no"]
    r = register(authd, smtp, "PER", fields)
    login = fields_of(r)["login"]
    pending = entry(slapd, login)
    assert pending["mmVisibleMedimail"] == ["FALSE"] and pending["mmVisibleMssante"] == ["FALSE"]
    assert pending["mmDematerialisation"] == ["FALSE"]
    assert confirm(authd, smtp, p.mail).returncode == 0
    assert authd.ctl("validate", login).returncode == 0
    e = entry(slapd, login)
    assert e["mmStatus"] == ["active"]
    assert e["mmVisibleMedimail"] == ["FALSE"] and e["mmVisibleMssante"] == ["FALSE"]
    assert e["mmDematerialisation"] == ["FALSE"]
    show = fields_of(authd.ctl("show", login))
    assert show["visible_medimail"] == "FALSE" and show["dematerialisation"] == "FALSE"
    # Not in the Medimail directory another user searches.
    _, other = active_per(authd, smtp, tag="box.reader", given="Remi", sn="READER")
    hits = authd.ctl("search", "--name", p.sn, "--login", other)
    assert hits.returncode == 0, hits.stdout
    assert login not in {rec.get("login") for rec in hits.json.get("records", [])}
    # One box unchecked, the others keep their default.
    q = person("box.demat", "Denis", "BOXDEMAT")
    login2, _ = full_registration(authd, smtp, "PER", q.per() + ["--dematerialisation", "no"], q.mail)
    e = entry(slapd, login2)
    assert e["mmDematerialisation"] == ["FALSE"] and e["mmVisibleMedimail"] == ["TRUE"]
    assert e["mmVisibleMssante"] == ["TRUE"]


def test_med_account_has_no_mssante_box(authd, smtp, slapd):
    """Guide 000 "BAL PER ... Adresse visible par tous les utilisateurs de
    MSSanté": the annuaire santé box is for an account with an MSSanté
    address; a MED account has none."""
    p = person("box.med", "Marthe", "BOXMED")
    refused(register(authd, smtp, "MED", p.med() + ["--visible-mssante", "yes"]), "visible_mssante", "not_allowed")
    login, _ = full_registration(authd, smtp, "MED", p.med() + ["--visible-medimail", "no"], p.mail)
    e = entry(slapd, login)
    assert e["mmVisibleMedimail"] == ["FALSE"] and "mmVisibleMssante" not in e


@pytest.mark.parametrize("value,rule", [("oui", "syntax"), ("yes\n", "syntax"), ("yes" * 30, "max_length"),
                                        ("TRUE", "syntax")])
def test_box_values_are_yes_or_no(authd, smtp, slapd, value, rule):
    """Guide 000: "Laisser cette option cochée": a box is checked or not,
    yes or no, nothing else stored."""
    p = person("box.bad", "Bruno", "BOXBAD")
    refused(register(authd, smtp, "PER", p.per() + ["--dematerialisation", value]), "dematerialisation", rule)
    assert not slapd.search(SUFFIX, f"(mmLoginMail={p.mail})")


# ------------------------------------------------------ item 7: the region

def _org_fields(member_mail):
    name, org_login, _ = org_name("Cabinet Region")
    return org_fields(member_mail, mail=f"contact.{org_login}@example.org", name=name)


@pytest.mark.parametrize("kind", ["PER", "INT", "MED", "ORG"])
def test_region_is_required_on_every_registration(authd, smtp, slapd, kind):
    """Guide 000: "Choisir la région dans laquelle vous exercez" and the form's
    "Région *": no registration without it, an ORG's neither."""
    p = person("region.none", "Regine", "NOREGION")
    if kind == "ORG":
        member, _ = active_per(authd, smtp, tag="region.member", given="Marc", sn="REGMEMBER")
        fields = _org_fields(member.mail)
    else:
        fields = {"PER": p.per, "INT": p.int, "MED": p.med}[kind]()
    j = refused(register(authd, smtp, kind, without(fields, "--region")), "region", "required")
    assert OPEN in j["message"] and j["fields"]["regions"] == OPEN
    j = refused(register(authd, smtp, kind, with_field(fields, "--region", "   ")), "region", "required")


def test_region_where_medimail_is_not_open_is_refused_with_the_open_ones(authd, smtp, slapd):
    """Guide 000: "la création de compte est disponible seulement dans les
    régions où Medimail a été choisi comme solution de messagerie sécurisée de
    santé pour les libéraux": refused, and the message says where it is open."""
    p = person("region.closed", "Clement", "CLOSEDREG")
    j = refused(register(authd, smtp, "PER", with_field(p.per(), "--region", "Normandie")), "region", "closed")
    assert "Normandie" in j["message"] and f"régions ouvertes : {OPEN}" in j["message"]
    assert j["fields"]["regions"] == OPEN
    assert not slapd.search(SUFFIX, f"(mmLoginMail={p.mail})")


def test_region_is_stored_as_the_configuration_spells_it(authd, smtp, slapd):
    """Guide 000: "Région *" is a list: "occitanie" typed is the region
    Occitanie of regions_open."""
    p = person("region.case", "Cecile", "CASEREG")
    r = register(authd, smtp, "PER", with_field(p.per(), "--region", "  occitanie "))
    assert entry(slapd, fields_of(r)["login"])["mmRegion"] == ["Occitanie"]


@pytest.mark.parametrize("value,rule", [("Occitanie\nBretagne", "characters"), ("O" * 65, "max_length"),
                                        ("*", "closed"), ("Occitanie*", "closed")])
def test_region_attacks(authd, smtp, slapd, value, rule):
    """Guide 000: "Région *" is one of the open regions: a newline, an
    oversized value or a filter wildcard is no region."""
    p = person("region.attack", "Alain", "ATTACKREG")
    refused(register(authd, smtp, "PER", with_field(p.per(), "--region", value)), "region", rule)
    assert not slapd.search(SUFFIX, f"(mmLoginMail={p.mail})")


# ------------------------------------------- item 11: what a person types

def test_rpps_printed_with_spaces_is_normalised(authd, smtp, slapd):
    """Guide 000: "Identifiant RPPS (11 caractères)", as the card prints it
    ("100 028 138 39"): the spaces go, the number is checked and stored."""
    p = person("rpps.spaced", "Simone", "SPACED")
    r = register(authd, smtp, "PER", with_field(p.per(), "--rpps", spaced(p.rpps)))
    e = entry(slapd, fields_of(r)["login"])
    assert e["mmRpps"] == [p.rpps] and e["mmNationalId"] == ["8" + p.rpps]
    # Someone else's RPPS, spaced differently, is still someone else's.
    q = person("rpps.thief", "Thierry", "THIEF")
    refused(register(authd, smtp, "PER", with_field(q.per(), "--rpps", f" {p.rpps[:5]}  {p.rpps[5:]} ")),
            "rpps", "duplicate")
    # A wrong key stays wrong, a newline stays refused.
    wrong = p.rpps[:-1] + str((int(p.rpps[-1]) + 1) % 10)
    refused(register(authd, smtp, "PER", with_field(q.per(), "--rpps", spaced(wrong))), "rpps", "check_digit")
    refused(register(authd, smtp, "PER", with_field(q.per(), "--rpps", p.rpps[:5] + "\n" + p.rpps[5:])),
            "rpps", "max_length")


@pytest.mark.parametrize("typed,code,domain", [("pharmacien", "21", "pharmacien.oc.mssante.fr"),
                                                ("Médecin", "10", "medecin.oc.mssante.fr"),
                                                ("sage femme", "50", None), ("21", "21", None)])
def test_profession_by_label_or_slug(authd, smtp, slapd, typed, code, domain):
    """Guide 000: "Sélectionner la Profession dans la liste": the profession
    named as a person reads it in the list is its TRE_G15 code."""
    p = person("prof.label", "Paule", "PROFLABEL")
    login, v = full_registration(authd, smtp, "PER", with_field(p.per(), "--profession", typed), p.mail)
    assert entry(slapd, login)["mmProfessionCode"] == [code]
    if domain:
        assert v["mss_address"].endswith("@" + domain)


def test_unknown_profession_is_refused_with_the_list(authd, smtp, slapd):
    """Guide 000: "Sélectionner la Profession dans la liste": an unknown one is
    answered with the list, not "4 caractères au plus"."""
    p = person("prof.unknown", "Ursule", "PROFUNK")
    for typed in ("Boulanger", "99", "pharmacien\nmedecin"):
        j = refused(register(authd, smtp, "PER", with_field(p.per(), "--profession", typed)), "profession", "unknown")
        assert "Médecin (10)" in j["message"] and "Pharmacien (21)" in j["message"], j["message"]
        assert "caractères au plus" not in j["message"]
    assert not slapd.search(SUFFIX, f"(mmLoginMail={p.mail})")


def test_names_are_trimmed_and_inner_spaces_collapsed(authd, smtp, slapd):
    """Guide 000: "Nom : DURAND", "Prénom : Jean": names trimmed and inner runs
    of spaces collapsed before they are stored."""
    p = person("name.spaces", "Jean", "SPACES")
    fields = with_field(with_field(p.per(), "--sn", f"  {p.sn}   DE  LA\u00a0TOUR "), "--given-name", " Jean   Pierre ")
    fields = with_field(fields, "--city", " Saint   Affrique ")
    fields = with_field(fields, "--login-mail", f" {p.mail} ")
    r = register(authd, smtp, "PER", fields)
    login = fields_of(r)["login"]
    e = entry(slapd, login)
    assert e["sn"] == [f"{p.sn} DE LA TOUR"] and e["givenName"] == ["Jean Pierre"]
    assert e["cn"] == [f"Jean Pierre {p.sn} DE LA TOUR"] and e["l"] == ["Saint Affrique"]
    assert e["mmLoginMail"] == [p.mail]
    assert confirm(authd, smtp, p.mail).returncode == 0
    # The same address with spaces around it is the same address.
    q = person("name.dup", "Denise", "DUPMAIL")
    refused(register(authd, smtp, "PER", with_field(q.per(), "--login-mail", f"  {p.mail}")), "login_mail",
            "duplicate")
    # Normalising lets no control character or oversized name in.
    refused(register(authd, smtp, "PER", with_field(q.per(), "--sn", f" {q.sn}\nX ")), "sn", "characters")
    refused(register(authd, smtp, "PER", with_field(q.per(), "--sn", "A " * 40)), "sn", "max_length")
    refused(register(authd, smtp, "PER", with_field(q.per(), "--sn", "     ")), "sn", "required")


def test_profile_edit_normalises_like_registration(authd, smtp, slapd):
    """Guide 003 "Gérer mon compte": the information of the form may be changed
    once the account exists ("Les informations saisies dans le formulaire
    d'inscription peuvent être modifiées une fois le compte créé"), read as
    registration reads them."""
    p = person("profile.norm", "Noel", "PROFNORM")
    login, v = full_registration(authd, smtp, "PER", p.per(), p.mail)
    uid = int(v["uid_number"])
    r = authd.ctl("profile", "set", "--sn", f"  {p.sn}   BIS ", "--given-name", " Noel  Marie ",
                  "--profession", "Médecin", "--city", " Albi ", uid=uid)
    assert r.returncode == 0, r.stdout + r.stderr
    e = entry(slapd, login)
    assert e["sn"] == [f"{p.sn} BIS"] and e["givenName"] == ["Noel Marie"]
    assert e["mmProfessionCode"] == ["10"] and e["l"] == ["Albi"]
    assert e["cn"] == [f"Noel Marie {p.sn} BIS"]
    j = refused(authd.ctl("profile", "set", "--profession", "Boulanger", uid=uid), "profession", "unknown")
    assert "Pharmacien (21)" in j["message"]
    refused(authd.ctl("profile", "set", "--sn", "   ", uid=uid), "sn", "required")
    refused(authd.ctl("profile", "set", "--sn", " A\nB ", uid=uid), "sn", "characters")
    assert entry(slapd, login)["sn"] == [f"{p.sn} BIS"]
    # Another user's account stays out of reach, normalised or not.
    _, other = active_per(authd, smtp, tag="profile.other", given="Olga", sn="OTHER")
    r = authd.ctl("profile", "set", "--login", other, "--sn", " PIRATE ", uid=uid)
    assert r.returncode == 1
    assert entry(slapd, other)["sn"] != ["PIRATE"]
