"""The BAL ORG form's field rules as guides 001/002 show them (issue 14,
item 5), and the MSSanté address of an individual account taken from the
e-mail entered (guide 000, fiche réflexe; item 8).

Every test makes its own accounts (test_lifecycle's person(), org_name()):
each runs alone with -k."""
import pytest

from mmstack import SUFFIX, Daemon, org_fields, per_fields
from test_lifecycle import (_fold, active_per, confirm, entry, full_registration, org_name, person,
                            register, unique_rpps)
from test_registration import refused, with_field, without

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
