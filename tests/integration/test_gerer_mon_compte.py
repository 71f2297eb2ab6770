"""Gérer mon compte (guide 003), issue 14: a profile edit keeps the account
findable by every field the directory searches on (item 12), and the
ORG -> individual notification switch is one per ORG (item 15)."""
import pytest

from mmstack import SUFFIX, ctl_ok as ok, ctl_refused as refused, luhn_complete, med_fields, org_fields, per_fields

PW = "Pharma#2024"





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
    a["org2"] = make_account(authd, smtp, "ORG",
                             replaced(org_fields("zephyrin.quillebeuf@example.org", mail="labo.mirabeau14@example.org",
                                                 name="Labo Mirabelier")),
                             "labo.mirabeau14@example.org")
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


# --------------------------------------------------------------- item 15

MAIL_DN = f"cn=mail,ou=system,{SUFFIX}"


def mail_read(slapd, login, *attrs):
    """What the mail system's notifier reads, bound as cn=mail."""
    import ldap
    conn = ldap.initialize(slapd.ldap_url)
    conn.simple_bind_s(MAIL_DN, (slapd.state / "slapd" / "mail.pw").read_text())
    try:
        res = conn.search_s(SUFFIX, ldap.SCOPE_SUBTREE, f"(uid={login})", list(attrs))
    finally:
        conn.unbind_s()
    (_, a), = [(dn, a) for dn, a in res if dn]
    return {k: [v.decode() for v in vs] for k, vs in a.items()}


def org_states(r):
    """{ORG login: its org_to_individual} of a NOTIFY_GET/SET answer, and the summary."""
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return {x["org"]: x["org_to_individual"] for x in r.json.get("records", [])}, \
        r.json["fields"]["org_to_individual"]


def test_par_defaut_une_notification_est_envoyee_pour_chaque_compte_organisationnel(authd, accts):
    """"Par défaut, lorsqu'un message Medimail est reçu sur un compte
    organisationnel, une notification est envoyée sur votre adresse mail
    individuelle et sur votre adresse organisationnelle": each ORG the account
    connects to is listed, with its name, switched on."""
    per, org, org2 = accts["per"], accts["org"], accts["org2"]
    r = as_user(authd, per, "notify", "show")
    states, summary = org_states(r)
    assert states == {org["login"]: "yes", org2["login"]: "yes"} and summary == "yes"
    names = {x["org"]: x["name"] for x in r.json["records"]}
    assert names == {org["login"]: "Officine Garancière", org2["login"]: "Labo Mirabelier"}


def test_decocher_la_case_pour_un_seul_compte_organisationnel(authd, slapd, accts):
    """"Si vous ne souhaitez pas recevoir de notification sur votre adresse mail
    individuelle, décocher la case" — one box per ORG: unticking it for one ORG
    leaves the others, and the other connection accounts of that ORG, as they
    were; the mail system reads it."""
    per, med, org, org2 = accts["per"], accts["med"], accts["org"], accts["org2"]
    states, summary = org_states(as_user(authd, per, "notify", "set", "--org", org2["login"],
                                         "--org-to-individual", "no"))
    assert states == {org["login"]: "yes", org2["login"]: "no"} and summary == "some"
    e = entry(slapd, per["login"])
    org2_dn = entry(slapd, org2["login"])["dn"]
    assert e["mmNotifyOrgOff"] == [org2_dn] and e.get("mmNotifyOrgToIndividual") == ["TRUE"]
    seen = mail_read(slapd, per["login"], "mmNotifyOrgToIndividual", "mmNotifyOrgOff")
    assert seen == {"mmNotifyOrgToIndividual": ["TRUE"], "mmNotifyOrgOff": [org2_dn]}
    # The ORG named by its address is the same ORG.
    states, _ = org_states(as_user(authd, per, "notify", "set", "--org", org["mail"],
                                   "--org-to-individual", "no"))
    assert states == {org["login"]: "no", org2["login"]: "no"}
    states, _ = org_states(as_user(authd, per, "notify", "set", "--org", org["login"],
                                   "--org-to-individual", "yes"))
    assert states == {org["login"]: "yes", org2["login"]: "no"}
    # Another connection account of the same ORG keeps its own box.
    states, summary = org_states(as_user(authd, med, "notify", "show"))
    assert states == {org["login"]: "yes"} and summary == "yes"


def test_l_ancienne_case_unique_vaut_pour_tous_les_comptes_organisationnels(authd, slapd, accts):
    """The single switch of before still means "every ORG": off, none
    notifies (and no ORG keeps a choice of its own); one ORG ticked again
    after that leaves the others off; on, every ORG notifies."""
    per, org, org2 = accts["per"], accts["org"], accts["org2"]
    states, summary = org_states(as_user(authd, per, "notify", "set", "--org-to-individual", "no"))
    assert states == {org["login"]: "no", org2["login"]: "no"} and summary == "no"
    e = entry(slapd, per["login"])
    assert e["mmNotifyOrgToIndividual"] == ["FALSE"] and "mmNotifyOrgOff" not in e
    states, summary = org_states(as_user(authd, per, "notify", "set", "--org", org["login"],
                                         "--org-to-individual", "yes"))
    assert states == {org["login"]: "yes", org2["login"]: "no"} and summary == "some"
    e = entry(slapd, per["login"])
    assert e["mmNotifyOrgToIndividual"] == ["TRUE"]
    assert e["mmNotifyOrgOff"] == [entry(slapd, org2["login"])["dn"]]
    states, summary = org_states(as_user(authd, per, "notify", "set", "--org-to-individual", "yes"))
    assert states == {org["login"]: "yes", org2["login"]: "yes"} and summary == "yes"
    assert "mmNotifyOrgOff" not in entry(slapd, per["login"])


def test_un_compte_de_connexion_retire_perd_son_choix(authd, slapd, accts):
    """"Pour supprimer l'accès d'un utilisateur à la boite organisationnelle,
    cliquer sur la croix": the choice for that ORG goes with the access; added
    again, the account starts from its switch for every ORG."""
    med, org = accts["med"], accts["org"]
    states, _ = org_states(as_user(authd, med, "notify", "set", "--org", org["login"],
                                   "--org-to-individual", "no"))
    assert states == {org["login"]: "no"}
    ok(authd.ctl("org", "member", "remove", org["login"], med["login"]))
    assert "mmNotifyOrgOff" not in entry(slapd, med["login"])
    states, summary = org_states(as_user(authd, med, "notify", "show"))
    assert states == {} and summary == "yes"
    ok(authd.ctl("org", "member", "add", org["login"], med["login"]))
    states, _ = org_states(as_user(authd, med, "notify", "show"))
    assert states == {org["login"]: "yes"}


def test_notification_par_compte_organisationnel_refus(authd, slapd, accts):
    """The attacker's requests: an ORG the account is not a connection account
    of and an unknown one get the same answer; a newline, an oversized value, no
    switch with the ORG, the ORG's own account, another user's account: refused,
    nothing written."""
    per, med, org, org2 = accts["per"], accts["med"], accts["org"], accts["org2"]
    before = entry(slapd, med["login"])
    other = refused(as_user(authd, med, "notify", "set", "--org", org2["login"], "--org-to-individual", "no"),
                    "org", "not_member")
    unknown = refused(as_user(authd, med, "notify", "set", "--org", "nosuchorg14", "--org-to-individual", "no"),
                      "org", "not_member")
    assert other["message"] == unknown["message"]
    refused(as_user(authd, med, "notify", "set", "--org", org["login"] + "\nx", "--org-to-individual", "no"),
            "org", "characters")
    refused(as_user(authd, med, "notify", "set", "--org", "o" * 300, "--org-to-individual", "no"),
            "org", "max_length")
    refused(as_user(authd, med, "notify", "set", "--org", org["login"]), "org_to_individual", "required")
    refused(as_user(authd, med, "notify", "set", "--org", org["login"], "--org-to-individual", "maybe"),
            "org_to_individual", "syntax")
    refused(as_user(authd, med, "notify", "set", "--login", org["login"], "--org", org["login"],
                    "--org-to-individual", "no"), "org_to_individual", "not_allowed")
    assert entry(slapd, med["login"])["modifyTimestamp"] == before["modifyTimestamp"]
    # Another user's account: not answered as a setting of it.
    before = entry(slapd, per["login"])
    r = as_user(authd, med, "notify", "set", "--login", per["login"], "--org", org["login"],
                "--org-to-individual", "no")
    assert r.returncode == 1 and r.json["status"] in (-2, -13), r.stdout
    assert entry(slapd, per["login"])["modifyTimestamp"] == before["modifyTimestamp"]
