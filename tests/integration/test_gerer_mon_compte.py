"""Gérer mon compte (guide 003), issue 14: a profile edit keeps the account
findable by every field the directory searches on (item 12)."""
import pytest

from mmstack import SUFFIX, med_fields, org_fields, per_fields

PW = "Pharma#2024"


def luhn_complete(prefix):
    for d in "0123456789":
        s = prefix + d
        total = 0
        for i, c in enumerate(reversed(s)):
            n = int(c) * (2 if i % 2 else 1)
            total += n - 9 if n > 9 else n
        if total % 10 == 0:
            return s
    raise AssertionError


def ok(r):
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.json["fields"] if r.json else None


def refused(r, field, rule, status=-22):
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert r.json["status"] == status, r.stdout
    assert r.json["fields"].get("field") == field, r.stdout
    assert r.json["fields"].get("rule") == rule, r.stdout
    return r.json


def entry(slapd, login):
    found = slapd.search(SUFFIX, f"(uid={login})", "*", "+")
    assert len(found) == 1, found
    return found[0]


def make_account(authd, smtp, kind, fields, mail):
    args = ["register", kind] + fields
    if kind != "ORG":
        args.insert(2, "--password-stdin")
    login = ok(authd.ctl(*args, input=PW + "\n"))["login"]
    ok(authd.ctl("confirm", "--token-stdin", input=smtp.token(mail) + "\n"))
    v = ok(authd.ctl("validate", login))
    return {"login": login, "mail": mail, "uid": int(v.get("uid_number", 0)) or None}


def replaced(fields, **values):
    """A registration form with some of its fields given other values."""
    out = list(fields)
    for key, value in values.items():
        opt = "--" + key.replace("_", "-")
        if opt in out:
            out[out.index(opt) + 1] = value
        else:
            out += [opt, value]
    return out


def as_user(authd, who, *args):
    return authd.ctl(*args, uid=who["uid"])


def found_by(authd, field, value):
    """The logins the service centre finds with one search field."""
    args = [value] if field == "q" else ["--" + field.replace("_", "-"), value]
    r = authd.ctl("search", *args)
    assert r.returncode == 0, (field, value, r.stdout, r.stderr)
    return {rec.get("login") for rec in r.json.get("records", [])}


@pytest.fixture(scope="module")
def accts(authd, smtp, slapd):
    a = {}
    a["per"] = make_account(authd, smtp, "PER",
                            replaced(per_fields("zephyrin.quillebeuf@example.org", "QUILLEBEUF", "Zephyrin",
                                                luhn_complete("1001400000")),
                                     raison_sociale="Pharmacie Vauquelinière", street="2 place Ravanel",
                                     city="Lisle-sur-Tarn", postal_code="81310", department="81"),
                            "zephyrin.quillebeuf@example.org")
    a["med"] = make_account(authd, smtp, "MED",
                            med_fields("ombeline.sec14@example.org", "FARANDOUL", "Ombeline"),
                            "ombeline.sec14@example.org")
    a["org"] = make_account(authd, smtp, "ORG",
                            replaced(org_fields("zephyrin.quillebeuf@example.org", mail="officine.garance14@example.org",
                                                name="Officine Garancière"),
                                     raison_sociale="Pharmacie Capdenaguet",
                                     street="1 rue Pélissier", city="Saint-Sulpice-la-Pointe"),
                            "officine.garance14@example.org")
    ok(authd.ctl("org", "member", "add", a["org"]["login"], a["med"]["login"]))
    return a


# --------------------------------------------------------------- item 12

# Every field the directory searches on that a profile edit changes: the
# profile key, the search field, the old value (written by registration or
# by the fixture) and the new one.
PERSON_FIELDS = [
    ("sn", "name", "Quillebeuf", "Vermandois"),
    ("given_name", "first_name", "Zephyrin", "Anselmine"),
    ("city", "city", "Lisle-sur-Tarn", "Castelnaudary"),
    ("street", "address", "place Ravanel", "impasse des Tanneurs"),
    ("raison_sociale", "raison_sociale", "Vauquelinière", "Officine Sorbiers"),
    ("postal_code", "postal_code", "81310", "11493"),
]


def test_toutes_les_informations_apparaitront_dans_votre_fiche_contact(authd, slapd, accts):
    """"Sur cet écran, vous pouvez modifier les différents champs : nom, prénom,
    téléphone, adresse postale" / "Raison sociale, Profession et Spécialité" and
    "Toutes les informations saisies précédemment apparaitront dans votre fiche
    contact dans l'annuaire": after each edit the account is found by the new
    value of that field and no more by the old one, and every other field still
    finds it."""
    per = accts["per"]
    login = per["login"]
    for key, field, old, new in PERSON_FIELDS:
        assert login in found_by(authd, field, old), (key, "before")
    current = {field: old for _, field, old, _ in PERSON_FIELDS}
    for key, field, old, new in PERSON_FIELDS:
        ok(as_user(authd, per, "profile", "set", "--" + key.replace("_", "-"), new))
        current[field] = new
        assert login in found_by(authd, field, new), (key, new)
        assert login not in found_by(authd, field, old.split()[-1]), (key, old)
        # The edit of one field drops no key of another (the tagged ones included).
        for other, value in current.items():
            assert login in found_by(authd, other, value), (key, other, value)
    # The free text finds the new name, first name and city, not the old ones.
    for word in ("vermandois", "anselmine", "castelnaudary"):
        assert login in found_by(authd, "q", word), word
    for word in ("quillebeuf", "zephyrin"):
        assert login not in found_by(authd, "q", word), word
    # The profession is searched as it is stored.
    ok(as_user(authd, per, "profile", "set", "--profession", "10"))
    assert login in found_by(authd, "profession", "10") and login not in found_by(authd, "profession", "21")
    ok(as_user(authd, per, "profile", "set", "--profession", "21"))
    # One key per word, no stale one left behind.
    keys = set(entry(slapd, login)["mmSearchKey"])
    assert not {k for k in keys if "quillebeuf" in k or "zephyrin" in k or "ravanel" in k}, keys
    assert {"n:vermandois", "g:anselmine", "c:castelnaudary", "s:tanneurs", "o:sorbiers"} <= keys


def test_vider_un_champ_optionnel_le_retire_de_l_annuaire(authd, accts):
    """"An empty value clears an optional field": the account is no longer
    found by what it held (street, raison sociale)."""
    per = accts["per"]
    ok(as_user(authd, per, "profile", "set", "--street", "", "--raison-sociale", ""))
    assert per["login"] not in found_by(authd, "address", "tanneurs")
    assert per["login"] not in found_by(authd, "raison_sociale", "sorbiers")
    assert per["login"] in found_by(authd, "name", "vermandois")


def test_l_administrateur_modifie_un_profil_la_recherche_suit(authd, accts):
    """The service centre edits a user's profile ("contacter l'administrateur
    Medimail de votre structure ou notre Centre De Services"): the same keys."""
    med = accts["med"]
    assert med["login"] in found_by(authd, "name", "farandoul")
    ok(authd.ctl("profile", "set", "--login", med["login"], "--sn", "Malaucène", "--city", "Gaillac"))
    assert med["login"] in found_by(authd, "name", "malaucene")
    assert med["login"] not in found_by(authd, "name", "farandoul")
    assert med["login"] in found_by(authd, "city", "gaillac")
    assert med["login"] in found_by(authd, "first_name", "ombeline")


def test_compte_partage_adresse_postale_et_raison_sociale(authd, accts):
    """PARTIE 2 : "vous pouvez modifier les champs : téléphone, adresse
    postale" and "le champ Raison sociale" — "Renseigner ces champs permet
    d'être retrouvé plus facilement dans l'annuaire": an ORG edited by its
    connection account is found by its new street, city and raison sociale,
    still by its name, no more by the old values."""
    med, org = accts["med"], accts["org"]
    login = org["login"]
    assert login in found_by(authd, "raison_sociale", "capdenaguet")
    assert login in found_by(authd, "name", "garanciere")
    ok(as_user(authd, med, "profile", "set", "--login", login, "--street", "4 allée des Cordiers",
               "--city", "Rabastens", "--postal-code", "81800", "--raison-sociale", "SELARL Bellegarrigue"))
    assert login in found_by(authd, "address", "cordiers")
    assert login not in found_by(authd, "address", "pelissier")
    assert login in found_by(authd, "city", "rabastens") and login not in found_by(authd, "city", "sulpice")
    assert login in found_by(authd, "raison_sociale", "bellegarrigue")
    assert login not in found_by(authd, "raison_sociale", "capdenaguet")
    assert login in found_by(authd, "postal_code", "81800")
    assert login in found_by(authd, "name", "garanciere") and login in found_by(authd, "q", "garanciere")


def test_une_modification_refusee_ne_change_pas_la_recherche(authd, slapd, accts):
    """The attacker's values: a newline, an oversized value, another user's
    account; each is refused and the keys stay as they were."""
    per, med = accts["per"], accts["med"]
    before = entry(slapd, per["login"])
    refused(as_user(authd, per, "profile", "set", "--sn", "Evil\nmmStatus: active"), "sn", "characters")
    refused(as_user(authd, per, "profile", "set", "--city", "Albi\n"), "city", "characters")
    refused(as_user(authd, per, "profile", "set", "--street", "x" * 129), "street", "max_length")
    refused(as_user(authd, per, "profile", "set", "--raison-sociale", "a\x01b"), "raison_sociale", "characters")
    r = as_user(authd, per, "profile", "set", "--login", med["login"], "--sn", "Pirate")
    assert r.returncode == 1 and r.json["status"] in (-2, -13), r.stdout
    after = entry(slapd, per["login"])
    assert after["mmSearchKey"] == before["mmSearchKey"]
    assert after["modifyTimestamp"] == before["modifyTimestamp"]
    assert med["login"] not in found_by(authd, "name", "pirate")
    # A search value with a newline or too long is refused, not searched.
    r = authd.ctl("search", "--raison-sociale", "lac\n)(uid=*")
    assert r.returncode == 1 and r.json["fields"]["field"] == "raison_sociale"
    r = authd.ctl("search", "--raison-sociale", "a" * 300)
    assert r.returncode == 1 and r.json["fields"] == {"field": "raison_sociale", "rule": "max_length"}

