"""The account lifecycle of the guides, end to end through medimailctl, the daemon,
slapd and the SMTP sink: registration of each type, confirmation, validation,
status changes, conversion, ORG connection accounts, and every refusal.

Every test makes its own accounts with identities of its own (person(), org_name()):
no test depends on another one, and each runs alone with -k."""
import itertools
import json
import random
import re
import string
import subprocess
import time
import unicodedata

import pexpect
import pytest

from mmstack import BUILD, SUFFIX, NOBODY, Daemon, cmdlines_holding, luhn_complete, int_fields, med_fields, org_fields, per_fields

PW = "Pharma#2024"

# A random start: identities differ from one run to the next too (a shared directory).
_serial = itertools.count(random.randrange(26 ** 4))





def _letters(n, width=4):
    out = ""
    for _ in range(width):
        n, r = divmod(n, 26)
        out = string.ascii_lowercase[r] + out
    return out


def _fold(text):
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


class Person:
    """A person nobody else uses: unique login mail, surname (hence login and
    MSSanté address) and RPPS with a valid check digit."""

    def __init__(self, tag, given, sn):
        n = next(_serial)
        self.tag = _letters(n)
        self.given = given
        self.sn = sn + self.tag.upper()
        self.mail = f"{tag}.{self.tag}@example.org"
        self.rpps = luhn_complete(f"9978{n % 10 ** 6:06d}")
        self.login = f"{_fold(given)}.{_fold(self.sn)}"

    def per(self):
        return per_fields(self.mail, self.sn, self.given, self.rpps)

    def int(self):
        return int_fields(self.mail, self.sn, self.given)

    def med(self):
        return med_fields(self.mail, self.sn, self.given)


def person(tag="isabelle.martin", given="Isabelle", sn="MARTIN"):
    return Person(tag, given, sn)


def unique_rpps():
    return luhn_complete(f"9979{next(_serial) % 10 ** 6:06d}")


def org_name(base="Pharmacie du Centre"):
    """A BAL ORG name nobody else uses, its login and its address's local part."""
    name = f"{base} {_letters(next(_serial)).capitalize()}"
    return name, _fold(name).replace(" ", "-"), _fold(name).replace(" ", ".")


def register(authd, smtp, kind, fields, password=PW, uid=None):
    args = ["register", kind] + fields
    if kind != "ORG":
        args.insert(2, "--password-stdin")
        return authd.ctl(*args, input=password + "\n", uid=uid)
    return authd.ctl(*args, uid=uid, input="" if password is None else password + "\n")


def _codes_to(smtp, mail):
    """The one-time codes mailed to mail so far, oldest first."""
    out = []
    for m in smtp.messages(mail):
        hit = re.search(r"Ce code est le : (\d{6})", smtp.body(m))
        if hit:
            out.append(hit.group(1))
    return out


def register_org_oui(authd, smtp, fields, member_mail, password=PW, uid=NOBODY, code=None):
    """An ORG registered by "Oui" through medimailctl as a local user (guides 001, 002): the
    member's password, then the one-time code mailed to member_mail (or code). The
    CompletedProcess-like result has .returncode, .stdout, .stderr, .json and .code (the
    code mailed, or None when the password step failed)."""
    before = len(_codes_to(smtp, member_mail))
    cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
           str(BUILD / "ctl/medimailctl"), "--socket", str(authd.socket), "--json", "register", "ORG"] + fields
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdin.write(password + "\n")
    p.stdin.flush()
    mailed = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and p.poll() is None:
        got = _codes_to(smtp, member_mail)
        if len(got) > before:
            mailed = got[-1]
            break
        time.sleep(0.05)
    try:
        out, err = p.communicate((code if code is not None else mailed or "") + "\n", timeout=60)
    except BrokenPipeError:
        out, err = p.communicate(timeout=60)
    r = subprocess.CompletedProcess(cmd, p.returncode, out, err)
    r.json = json.loads(out) if out.strip().startswith("{") else None
    r.code = mailed
    return r


def confirm(authd, smtp, mail):
    token = smtp.token(mail)
    return authd.ctl("confirm", "--token-stdin", input=token + "\n")


def entry(slapd, login):
    found = slapd.search(SUFFIX, f"(uid={login})")
    assert len(found) == 1, found
    return found[0]


def full_registration(authd, smtp, kind, fields, mail, *validate_args):
    r = register(authd, smtp, kind, fields)
    assert r.returncode == 0, r.stdout + r.stderr
    login = r.json["fields"]["login"]
    c = confirm(authd, smtp, mail)
    assert c.returncode == 0, c.stdout
    v = authd.ctl("validate", login, *validate_args)
    assert v.returncode == 0, v.stdout
    return login, v.json["fields"]


def active_per(authd, smtp, **kw):
    """An active PER account of its own: (person, login)."""
    p = person(**kw)
    login, _ = full_registration(authd, smtp, "PER", p.per(), p.mail)
    assert login == p.login
    return p, login


def active_med(authd, smtp, tag="lea.roux", given="Léa", sn="ROUX"):
    p = person(tag, given, sn)
    login, _ = full_registration(authd, smtp, "MED", p.med(), p.mail)
    assert login == p.login
    return p, login


def active_org(authd, smtp, member_mail, name=None):
    """An active BAL ORG whose connection account is member_mail: (login, name, mail, fields)."""
    name, org_login, _ = name or org_name()
    mail = f"contact.{org_login}@example.org"
    login, v = full_registration(authd, smtp, "ORG", org_fields(member_mail, mail=mail, name=name), mail)
    return login, v


# ---------------------------------------------------------------- the four paths

def test_per_registration_end_to_end(authd, smtp, slapd):
    p = person()
    r = register(authd, smtp, "PER", p.per())
    assert r.returncode == 0, r.stdout + r.stderr
    login = r.json["fields"]["login"]
    assert login == p.login
    e = entry(slapd, login)
    assert e["mmStatus"] == ["pending-confirmation"]
    assert e["mmAccountType"] == ["PER"]
    assert e["mmNationalId"] == ["8" + p.rpps]
    assert e["userPassword"][0].startswith("{ARGON2}$argon2id$")
    assert "mmMssAddress" not in e

    c = confirm(authd, smtp, p.mail)
    assert c.returncode == 0 and c.json["fields"]["status"] == "pending-validation"
    assert entry(slapd, login)["mmStatus"] == ["pending-validation"]
    assert "mmConfirmHash" not in entry(slapd, login)

    v = authd.ctl("validate", login)
    assert v.returncode == 0, v.stdout
    # Guide 000: "C'est sur la base de l'adresse mail saisie que sera ensuite
    # définie l'adresse MSS": the local part of the mail entered, not prenom.nom.
    local = p.mail.split("@")[0]
    assert v.json["fields"]["mss_address"] == f"{local}@pharmacien.oc.mssante.fr"
    e = entry(slapd, login)
    assert e["mmStatus"] == ["active"]
    assert e["mmMssAddress"] == [f"{local}@pharmacien.oc.mssante.fr"]
    assert 1900210000 <= int(e["uidNumber"][0]) <= 1900219999
    assert e["homeDirectory"] == [f"/home/{login}"]
    assert e["mmVisibleMedimail"] == ["TRUE"] and e["mmVisibleMssante"] == ["TRUE"]
    assert e["mmDematerialisation"] == ["TRUE"]
    notice = smtp.wait_message(p.mail, r"validé")
    assert notice


def test_argon2_password_binds_through_slapd(authd, smtp, slapd):
    _, login = active_per(authd, smtp, tag="paul.bind", given="Paul", sn="BIND")
    dn = f"uid={login},ou=people,{SUFFIX}"
    ok = subprocess.run(["ldapwhoami", "-x", "-H", slapd.ldap_url, "-D", dn, "-w", PW], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert dn in ok.stdout
    bad = subprocess.run(["ldapwhoami", "-x", "-H", slapd.ldap_url, "-D", dn, "-w", PW + "x"], capture_output=True)
    assert bad.returncode == 49


def test_int_registration_and_conversion(authd, smtp, slapd):
    k = person("karim.benali", "Karim", "BENALI")
    login, v = full_registration(authd, smtp, "INT", k.int(), k.mail, "--mss", "yes")
    e = entry(slapd, login)
    assert e["mmAccountType"] == ["INT"] and e["mmStructIdType"] == ["FINESS"]
    assert v["mss_address"] == f"{k.mail.split('@')[0]}@medecin.oc.mssante.fr"  # the mail entered
    # The RPPS arrives: INT -> PER.
    bad = authd.ctl("convert", login, "--rpps", "10002813838")   # wrong check digit
    assert bad.returncode == 1 and bad.json["fields"]["field"] == "rpps"
    other, _ = active_per(authd, smtp)
    dup = authd.ctl("convert", login, "--rpps", other.rpps)      # someone else's
    assert dup.returncode == 1 and dup.json["fields"]["rule"] == "duplicate"
    rpps = unique_rpps()
    ok = authd.ctl("convert", login, "--rpps", rpps)
    assert ok.returncode == 0, ok.stdout
    e = entry(slapd, login)
    assert e["mmAccountType"] == ["PER"] and e["mmRpps"] == [rpps]
    assert e["mmNationalId"] == ["8" + rpps]
    again = authd.ctl("convert", login, "--rpps", rpps)
    assert again.returncode == 1


def pending(authd, smtp, kind, fields, mail):
    r = register(authd, smtp, kind, fields)
    assert r.returncode == 0, r.stdout + r.stderr
    assert confirm(authd, smtp, mail).returncode == 0
    return r.json["fields"]["login"]


def test_int_compte_pouvant_donner_lieu_a_une_adresse_mssante(authd, smtp, slapd, tmp_path):
    """Guide 000, BAL INT: "Compte pouvant donner lieu à une adresse MSSanté
    dans l'annuaire MSS national" (a PER is a "compte donnant lieu"): the
    service centre decides at validation. Without its decision the INT gets no
    address, is not in the MSSanté view and its visible_mssante box does not
    apply; with --mss yes it gets one; the later conversion to PER gives it one."""
    k = person("ines.sansadresse", "Inès", "SANSADRESSE")
    login, v = full_registration(authd, smtp, "INT", k.int(), k.mail)
    assert "mss_address" not in v and v["status"] == "active" and v.get("uid_number")
    e = entry(slapd, login)
    assert e["mmStatus"] == ["active"] and "mmMssAddress" not in e
    assert "annuaire santé" in smtp.body(smtp.messages(k.mail)[-1])
    assert 'audit="validate" caller="uid=0"' in authd.log_text() and "no MSSanté address" in authd.log_text()
    # Not in the MSSanté view; still in the Medimail one.
    mss = authd.ctl("search", "SANSADRESSE", "--view", "mssante")
    assert mss.returncode == 0 and not any("SANSADRESSE" in x.get("name", "") for x in
                                           mss.json.get("records") or []), mss.stdout
    med = authd.ctl("search", "SANSADRESSE")
    assert any("SANSADRESSE" in x.get("name", "") for x in med.json.get("records") or []), med.stdout
    assert not slapd.search(SUFFIX, f"(&(uid={login})(mmMssAddress=*))", "uid")
    # Its visible_mssante box does not apply: neither for the owner nor an administrator.
    uid = int(e["uidNumber"][0])
    for extra in ({"uid": uid}, {}):
        r = authd.ctl("visibility", "mssante", "on", "--login", login, **extra)
        assert r.returncode == 1 and r.json["status"] == -1 and "INT" in r.json["message"], r.stdout
    assert authd.ctl("visibility", "medimail", "off", "--login", login).returncode == 0
    # The RPPS arrives: as a PER it gets its address, on the e-mail entered
    # ("C'est sur la base de l'adresse mail saisie que sera ensuite définie l'adresse MSS").
    address = f"{k.mail.split('@')[0].lower()}@medecin.oc.mssante.fr"
    ok = authd.ctl("convert", login, "--rpps", unique_rpps())
    assert ok.returncode == 0 and ok.json["fields"]["mss_address"] == address, ok.stdout
    assert authd.ctl("visibility", "mssante", "on", "--login", login).returncode == 0
    mss = authd.ctl("search", "SANSADRESSE", "--view", "mssante")
    assert any(x.get("mss_address") == address for x in
               mss.json.get("records") or []), mss.stdout

    # --mss no says the same as the default.
    n = person("ines.refusee", "Inès", "REFUSEE")
    login, v = full_registration(authd, smtp, "INT", n.int(), n.mail, "--mss", "no")
    assert "mss_address" not in v and "mmMssAddress" not in entry(slapd, login)

    # The centre decides yes: an address, and the MSSanté view.
    y = person("ines.avecadresse", "Inès", "AVECADRESSE")
    login, v = full_registration(authd, smtp, "INT", y.int(), y.mail, "--mss", "yes")
    assert v["mss_address"] == f"{y.mail.split('@')[0].lower()}@medecin.oc.mssante.fr"
    assert entry(slapd, login)["mmMssAddress"] == [v["mss_address"]]
    mss = authd.ctl("search", "AVECADRESSE", "--view", "mssante")
    assert any(x.get("mss_address") == v["mss_address"] for x in mss.json.get("records") or []), mss.stdout
    # The national extraction of the MSSanté view: the INT with an address, not the one without.
    out = tmp_path / "export.txt"
    assert authd.ctl("export", "--output", str(out)).returncode == 0
    text = out.read_text(encoding="utf-8")
    assert "AVECADRESSE" in text and "REFUSEE" not in text


def test_validate_mss_is_yes_or_no_and_follows_the_type(authd, smtp, slapd):
    """"Compte donnant lieu à une adresse MSSanté" (PER, ORG): mss=no is
    refused; a MED has none: mss=yes is refused; anything but yes|no (a
    newline, an oversized value) is refused, and the account stays pending."""
    i = person("ines.attente", "Inès", "ATTENTE")
    login = pending(authd, smtp, "INT", i.int(), i.mail)
    for bad in ("oui", "yes\nno", "y" * 5000, "YES", " yes"):  # (an empty value is no value: the default)
        r = authd.ctl("validate", login, "--mss", bad)
        assert r.returncode != 0, r.stdout
        if r.json:
            assert r.json["fields"].get("field") in ("mss", None), r.stdout
    assert entry(slapd, login)["mmStatus"] == ["pending-validation"]
    r = authd.ctl("validate", login, "--mss", "oui")
    assert r.returncode == 1 and r.json["fields"]["field"] == "mss" and r.json["fields"]["rule"] == "yes_no"
    p = person("paul.toujours", "Paul", "TOUJOURS")
    login = pending(authd, smtp, "PER", p.per(), p.mail)
    r = authd.ctl("validate", login, "--mss", "no")
    assert r.returncode == 1 and r.json["fields"]["field"] == "mss" and r.json["fields"]["rule"] == "type"
    assert entry(slapd, login)["mmStatus"] == ["pending-validation"]
    r = authd.ctl("validate", login, "--mss", "yes")
    assert r.returncode == 0 and r.json["fields"]["mss_address"], r.stdout
    m = person("lea.jamais", "Léa", "JAMAIS")
    login = pending(authd, smtp, "MED", m.med(), m.mail)
    r = authd.ctl("validate", login, "--mss", "yes")
    assert r.returncode == 1 and r.json["fields"]["rule"] == "type", r.stdout
    r = authd.ctl("validate", login, "--mss", "no")
    assert r.returncode == 0 and "mss_address" not in r.json["fields"], r.stdout
    # Someone other than an administrator may not validate, with or without mss.
    r = authd.ctl("validate", login, "--mss", "yes", uid=NOBODY)
    assert r.returncode == 1


def test_med_registration_has_no_mssante_address(authd, smtp, slapd):
    p = person("lea.roux", "Léa", "ROUX")
    login, v = full_registration(authd, smtp, "MED", p.med(), p.mail)
    assert "mss_address" not in v
    e = entry(slapd, login)
    assert "mmMssAddress" not in e and "mmVisibleMssante" not in e
    assert e["givenName"] == ["Léa"]
    body = smtp.body(smtp.messages(p.mail)[-1])
    assert "délégation" in body


def test_org_registration_with_connection_accounts(authd, smtp, slapd):
    # The first connection account: an existing individual account.
    first, first_login = active_per(authd, smtp)
    second, second_login = active_med(authd, smtp)
    name, org_login, org_local = org_name()
    mail = f"contact.{org_login}@example.org"
    login, v = full_registration(authd, smtp, "ORG", org_fields(first.mail, mail=mail, name=name), mail)
    assert login == org_login
    assert v["mss_address"] == f"{org_local}.81000.albi@pharmacien.oc.mssante.fr"
    e = entry(slapd, login)
    assert e["mmAccountType"] == ["ORG"]
    assert e["mmMember"] == [f"uid={first_login},ou=people,{SUFFIX}"]
    assert e["dn"].endswith(f"ou=orgs,{SUFFIX}")
    assert 1910310000 <= int(e["gidNumber"][0]) <= 1910310999
    assert "userPassword" not in e
    # A second connection account, then removal; the last one stays.
    assert authd.ctl("org", "member", "add", login, second.mail).returncode == 0
    assert len(entry(slapd, login)["mmMember"]) == 2
    assert authd.ctl("org", "member", "add", login, second_login).returncode == 1  # already
    assert authd.ctl("org", "member", "remove", login, second_login).returncode == 0
    last = authd.ctl("org", "member", "remove", login, first_login)
    assert last.returncode == 1 and "au moins un" in last.json["message"]
    # An ORG cannot be a connection account.
    assert authd.ctl("org", "member", "add", login, login).returncode == 1


def test_org_needs_member_password_from_non_admin(authd, smtp, slapd):
    member, member_login = active_per(authd, smtp)
    name, org_login, _ = org_name("Cabinet Test")
    mail = f"contact.{org_login}@example.org"
    fields = org_fields(member.mail, mail=mail, name=name)
    fails = int(entry(slapd, member_login).get("mmFailCount", ["0"])[0])
    wrong = register(authd, smtp, "ORG", fields, password="Nope#2024", uid=NOBODY)
    assert wrong.returncode == 1 and wrong.json["status"] == -13, wrong.stdout
    assert slapd.search(SUFFIX, f"(mmLoginMail={mail})") == []
    # A wrong guess counts like a failed login: no guessing beside the lockout.
    assert entry(slapd, member_login)["mmFailCount"] == [str(fails + 1)]
    # The password alone no longer registers (issue 14, item 1): then the code mailed to it.
    ok = register_org_oui(authd, smtp, fields, member.mail)
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_org_member_proof_does_not_tell_which_accounts_exist(authd, smtp, slapd):
    """Anyone may fill in the ORG form: an unknown member, an ORG named as member and an
    existing account with a wrong password get the same answer."""
    member, _ = active_per(authd, smtp)
    org_login, _ = active_org(authd, smtp, member.mail)
    nobody = person("nobody.here")
    name, probe_login, _ = org_name("Cabinet Sonde")
    mail = f"contact.{probe_login}@example.org"
    replies = []
    for who in (member.mail, nobody.mail, org_login):
        fields = org_fields(who, mail=mail, name=name)
        r = register(authd, smtp, "ORG", fields, password="Nope#2024", uid=NOBODY)
        assert r.returncode == 1, r.stdout
        replies.append((r.json["status"], r.json["message"], r.json.get("fields")))
    assert replies[0] == replies[1] == replies[2], replies
    assert replies[0][0] == -13
    assert slapd.search(SUFFIX, f"(mmLoginMail={mail})") == []


def test_org_collision_gets_next_address(authd, smtp, slapd):
    member, _ = active_per(authd, smtp)
    name, org_login, org_local = org_name()
    first, _ = active_org(authd, smtp, member.mail, name=(name, org_login, org_local))
    assert first == org_login
    mail = f"contact2.{org_login}@example.org"
    login, v = full_registration(authd, smtp, "ORG", org_fields(member.mail, mail=mail, name=name), mail)
    assert login == org_login + "2"
    assert v["mss_address"] == f"{org_local}.81000.albi2@pharmacien.oc.mssante.fr"
    addrs = [x["mmMssAddress"][0] for x in slapd.search(SUFFIX, "(mmAccountType=ORG)", "mmMssAddress")
             if "mmMssAddress" in x]
    assert len(addrs) == len(set(addrs))


def test_person_collision_gets_next_login_and_address(authd, smtp, slapd):
    first, first_login = active_per(authd, smtp)
    same = person()
    same.sn, same.login = first.sn, first.login   # the same name, another mail and RPPS
    login, v = full_registration(authd, smtp, "PER", same.per(), same.mail)
    assert login == first_login + "2"
    assert v["mss_address"] != f"{first_login}@pharmacien.oc.mssante.fr"
    assert v["mss_address"].endswith("@pharmacien.oc.mssante.fr")


# ---------------------------------------------------------------- the mails

FOOTER = ("Cordialement, le service Medimail", "Ceci est un email automatique, merci de ne pas y répondre")


def assert_footer(text, html):
    """The fiche réflexe's code mail ends: "Cordialement, le service Medimail" /
    "Ceci est un email automatique, merci de ne pas y répondre"."""
    tail = [line for line in text.strip().splitlines() if line.strip()][-2:]
    assert tail == [FOOTER[0], FOOTER[1] + "."], tail
    for sentence in FOOTER:
        assert sentence in html, html


def test_account_mails_from_cerbere_with_text_and_html(authd, smtp, slapd):
    """Guide 000: "Un mail vous sera envoyé – Expéditeur cerbere@mipih.fr"; "Depuis le mail
    reçu, cliquer sur le lien de confirmation": the confirmation and the validation
    notice come from the cerbere address, each with a plain-text and an HTML part."""
    p = person()
    r = register(authd, smtp, "PER", p.per())
    assert r.returncode == 0, r.stdout + r.stderr
    token = smtp.token(p.mail)
    sender, text, html = smtp.parts(smtp.messages(p.mail)[-1])
    assert sender == "cerbere@mipih.fr"
    assert f"jeton={token}" in text
    assert f'<a href="https://medimail.localhost/inscription/confirmer?jeton={token}">' in html
    assert_footer(text, html)
    assert authd.ctl("confirm", "--token-stdin", input=token + "\n").returncode == 0
    n = len(smtp.messages(p.mail))
    assert authd.ctl("validate", r.json["fields"]["login"]).returncode == 0
    smtp.wait_message(p.mail, r"validé", count_before=n)
    m = smtp.messages(p.mail)[-1]
    assert str(m["Subject"]) == "Votre compte Medimail est validé"
    sender, text, html = smtp.parts(m)
    assert sender == "cerbere@mipih.fr"
    assert f"Identifiant de connexion : {p.mail}" in text and "Identifiant de connexion" in html
    assert_footer(text, html)


def test_org_validation_mail_says_changer_de_compte_and_72h(authd, smtp, slapd):
    """Guides 001/002: "Se connecter à Medimail avec son identifiant (adresse mail du compte
    individuel nominatif)", then "« Changer de compte »"; "Le compte sera visible dans
    l'annuaire santé dans les 72h": the ORG's notice says so and never gives the ORG's
    own mail as a login."""
    member, _ = active_per(authd, smtp)
    name, org_login, org_local = org_name()
    mail = f"contact.{org_login}@example.org"
    login, v = full_registration(authd, smtp, "ORG", org_fields(member.mail, mail=mail, name=name), mail)
    smtp.wait_message(mail, r"compte organisationnel")
    m = smtp.messages(mail)[-1]
    sender, text, html = smtp.parts(m)
    assert sender == "cerbere@mipih.fr"
    flat = " ".join(text.split())
    assert "compte individuel nominatif" in flat
    assert "« Changer de compte »" in flat
    assert "visible dans l'annuaire santé dans les 72h" in flat
    assert "Centre de Services du GRADeS ait finalisé le paramétrage du compte" in flat
    assert f"Adresse MSSanté du compte : {v['mss_address']}" in flat
    assert name in flat
    assert "Identifiant de connexion" not in flat and f": {mail}" not in flat
    assert "Changer de compte" in html and "dans les 72h" in html
    assert_footer(text, html)


def test_sender_per_kind_is_configurable(state, slapd, smtp):
    """"Expéditeur cerbere@mipih.fr" for account mails, medimail for codes: each sender is an
    option (mail_from_account, mail_from_code); a display name out of ASCII is encoded."""
    d = Daemon(state, slapd, smtp.port, name="senders",
               extra="mail_from_account = Cerbère Médimail <cerbere@region.test>\n"
                     "mail_from_code = codes@region.test\n").start()
    try:
        p = person("rose.senders", "Rose", "SENDERS")
        r = register(d, smtp, "MED", p.med())
        assert r.returncode == 0, r.stdout + r.stderr
        smtp.token(p.mail)
        m = smtp.messages(p.mail)[-1]
        assert smtp.parts(m)[0] == "cerbere@region.test"
        assert m["From"].addresses[0].display_name == "Cerbère Médimail"
    finally:
        d.stop()


@pytest.mark.parametrize("line", ["mail_from_code = Medimail <pas une adresse>",
                                  "mail_from_account = Medimail <a@b.fr>, <c@d.fr> x",
                                  "smtp_from = nobody"])
def test_sender_not_an_address_refused_at_start(state, slapd, smtp, line):
    """A sender that is not "Name <address>" or an address stops the daemon at start-up,
    naming the option, rather than mailing with a broken From."""
    d = Daemon(state, slapd, smtp.port, name="badfrom", extra=line + "\n")
    with pytest.raises(RuntimeError) as e:
        d.start()
    d.stop()
    assert line.split(" =")[0] in str(e.value)


# ---------------------------------------------------------------- statuses

def test_status_transitions(authd, smtp, slapd):
    p = person("sus.pend", "Sus", "PEND")
    login, _ = full_registration(authd, smtp, "MED", p.med(), p.mail)
    assert authd.ctl("suspend", login, "--reason", "départ").returncode == 0
    e = entry(slapd, login)
    assert e["mmStatus"] == ["suspended"] and e["mmStatusReason"] == ["départ"]
    assert authd.ctl("suspend", login).returncode == 1
    assert authd.ctl("reactivate", login).returncode == 0
    assert entry(slapd, login)["mmStatus"] == ["active"]
    assert authd.ctl("reactivate", login).returncode == 1
    assert authd.ctl("close", login).returncode == 0
    assert authd.ctl("reactivate", login).returncode == 1
    assert entry(slapd, login)["mmStatus"] == ["closed"]
    # A closed account's e-mail stays taken.
    again = register(authd, smtp, "MED", p.med())
    assert again.returncode == 1 and again.json["fields"]["rule"] == "duplicate"


def test_validate_requires_confirmation(authd, smtp, slapd):
    p = person("not.confirmed", "Not", "CONFIRMED")
    r = register(authd, smtp, "MED", p.med())
    login = r.json["fields"]["login"]
    v = authd.ctl("validate", login)
    assert v.returncode == 1 and v.json["status"] == -1  # -EPERM
    assert entry(slapd, login)["mmStatus"] == ["pending-confirmation"]


def test_confirmation_link_is_single_use(authd, smtp, slapd):
    p = person("once", "Only", "ONCE")
    r = register(authd, smtp, "MED", p.med())
    token = smtp.token(p.mail)
    assert authd.ctl("confirm", "--token-stdin", input=token + "\n").returncode == 0
    again = authd.ctl("confirm", "--token-stdin", input=token + "\n")
    assert again.returncode == 1 and again.json["status"] == -2
    assert authd.ctl("confirm", "--token-stdin", input="0" * 64 + "\n").returncode == 1
    assert authd.ctl("confirm", "--token-stdin", input="not-a-token\n").json["fields"]["field"] == "token"
    assert r.returncode == 0


def test_confirm_token_never_on_command_line(authd, smtp, slapd):
    """The old "confirm TOKEN" form put a single-use token where every local user reads it: it is
    refused with the way to give it, without spending it; the prompt takes it unechoed."""
    p = person("argv.jeton", "Anne", "ARGVJETON")
    r = register(authd, smtp, "MED", p.med())
    token = smtp.token(p.mail)
    old = authd.ctl("confirm", token)
    assert old.returncode == 2 and "--token-stdin" in old.stderr and "command line" in old.stderr, old
    assert entry(slapd, r.json["fields"]["login"])["mmStatus"] == ["pending-confirmation"]
    child = pexpect.spawn(str(BUILD / "ctl/medimailctl"), ["--socket", str(authd.socket), "confirm"],
                          encoding="utf-8", timeout=30)
    child.expect("Jeton du lien de confirmation : ")
    assert cmdlines_holding(token) == []
    child.sendline(token)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and token not in child.before, child.before
    assert entry(slapd, r.json["fields"]["login"])["mmStatus"] != ["pending-confirmation"]
    # no terminal and no --token-stdin: refused, not read from a pipe by surprise
    piped = authd.ctl("confirm", input=token + "\n")
    assert piped.returncode == 2 and "--token-stdin" in piped.stderr


def test_confirmation_resend_replaces_the_link(authd, smtp, slapd):
    p = person("resend", "Re", "RESEND")
    r = register(authd, smtp, "MED", p.med())
    first = smtp.token(p.mail)
    n = len(smtp.messages(p.mail))
    assert authd.ctl("resend-confirmation", r.json["fields"]["login"]).returncode == 0
    second = smtp.wait_message(p.mail, r"jeton=([0-9a-f]{64})", count_before=n).group(1)
    assert second != first
    assert authd.ctl("confirm", "--token-stdin", input=first + "\n").returncode == 1
    assert authd.ctl("confirm", "--token-stdin", input=second + "\n").returncode == 0


def test_cgu_acceptance_recorded_once(authd, smtp, slapd):
    p = person("cgu", "Accept", "CGU")
    login, _ = full_registration(authd, smtp, "MED", p.med(), p.mail)
    first = authd.ctl("cgu", "accept", login)
    assert first.returncode == 0
    stamp = entry(slapd, login)["mmCguAcceptedAt"]
    second = authd.ctl("cgu", "accept", login)
    assert second.returncode == 0 and entry(slapd, login)["mmCguAcceptedAt"] == stamp
    # Someone else may not accept for this account.
    other = authd.ctl("cgu", "accept", login, uid=NOBODY)
    assert other.returncode == 1


# ---------------------------------------------------------------- caller rules

def test_administration_needs_root(authd, smtp, slapd):
    member, login = active_per(authd, smtp)
    _, other = active_med(authd, smtp)
    org_login, _ = active_org(authd, smtp, member.mail)
    before = len(authd.log_text())
    for args in (["list"], ["validate", login], ["suspend", login],
                 ["convert", login, "--rpps", unique_rpps()],
                 ["org", "member", "add", org_login, other]):
        r = authd.ctl(*args, uid=NOBODY)
        assert r.returncode == 1 and r.json["status"] == -13, (args, r.stdout)
    assert entry(slapd, login)["mmStatus"] == ["active"]
    assert len(entry(slapd, org_login)["mmMember"]) == 1
    # Nobody else's account is shown to an unprivileged caller.
    r = authd.ctl("show", login, uid=NOBODY)
    assert r.returncode == 1 and "ARGON2" not in r.stdout
    # Every refusal is audited as one, and nothing that caller asked succeeded.
    mine = [line for line in authd.log_text()[before:].splitlines() if f'caller="uid={NOBODY}"' in line]
    for event in ("list", "validate", "suspend", "convert", "org-member-add"):
        assert any(f'audit="{event}"' in line and 'result="refused"' in line for line in mine), (event, mine)
    assert not any('result="ok"' in line for line in mine), mine


def test_show_never_returns_secrets(authd, smtp):
    _, login = active_per(authd, smtp)
    r = authd.ctl("show", login)
    assert r.returncode == 0
    for secret in ("ARGON2", "userPassword", "mmConfirmHash", "mmOtp"):
        assert secret not in r.stdout


# ---------------------------------------------------------------- refusals

REFUSALS = [
    # (type, overrides, field, rule)
    ("PER", {"--rpps": "10002813838"}, "rpps", "check_digit"),
    ("PER", {"--rpps": "1000281383"}, "rpps", "check_digit"),
    ("PER", {"--login-mail": "pas-une-adresse"}, "login_mail", "syntax"),
    ("PER", {"--login-mail": "a@b"}, "login_mail", "syntax"),
    ("PER", {"--profession": "99"}, "profession", "unknown"),
    ("PER", {"--region": "Normandie"}, "region", "closed"),
    ("PER", {"--postal-code": "8100"}, "postal_code", "syntax"),
    ("PER", {"--phone": "12"}, "phone", "syntax"),
    ("PER", {"--liberal": "oui"}, "liberal", "syntax"),
    ("PER", {"--department": "00"}, "department", "syntax"),
    ("PER", {"--sn": "A" * 65}, "sn", "max_length"),
    ("PER", {"--sn": "D*)(uid=*"}, "sn", "characters"),
    ("INT", {"--struct-id": "310000121"}, "struct_id", "check_digit"),
    ("INT", {"--struct-type": "RPPS"}, "struct_type", "unknown"),
]


@pytest.mark.parametrize("kind,overrides,field,rule", REFUSALS)
def test_field_refusals_name_field_and_rule(authd, smtp, slapd, kind, overrides, field, rule):
    p = person("refused")
    fields = p.per() if kind == "PER" else p.int()
    for k, v in overrides.items():
        fields[fields.index(k) + 1] = v
    r = register(authd, smtp, kind, fields)
    assert r.returncode == 1, r.stdout
    assert r.json["status"] == -22
    assert r.json["fields"]["field"] == field and r.json["fields"]["rule"] == rule, r.json
    assert r.json["message"]
    assert slapd.search(SUFFIX, f"(mmLoginMail={p.mail})") == []


@pytest.mark.parametrize("password,rule", [
    ("Ab1!", "min_length"), ("abcdefg1!", "upper"), ("ABCDEFG1!", "lower"),
    ("Abcdefgh!", "digit"), ("Abcdefgh1", "special"), ("Aa1!" + "x" * 1100, "max_length"),
])
def test_password_policy(authd, smtp, slapd, password, rule):
    p = person("pw", "Policy", "PW")
    r = register(authd, smtp, "MED", p.med(), password=password)
    assert r.returncode == 1
    assert r.json["fields"] == {"field": "password", "rule": rule}, r.json
    assert slapd.search(SUFFIX, f"(mmLoginMail={p.mail})") == []


@pytest.mark.parametrize("kind,extra,field", [
    ("PER", ["--adeli", "123456789"], "rpps"),                 # both RPPS and ADELI
    ("INT", ["--rpps", None], "rpps"),                          # INT has no RPPS yet
    ("MED", ["--rpps", None], "rpps"),                          # MED is for professionals without RPPS
    ("MED", ["--resp-sn", "X"], "resp_sn"),                     # ORG-only field
    ("MED", ["--bogus", "1"], "bogus"),                         # unknown field
])
def test_type_rules(authd, smtp, slapd, kind, extra, field):
    p = person("type", "Rule", "TYPE")
    base = {"PER": p.per, "INT": p.int, "MED": p.med}[kind]()
    extra = [unique_rpps() if x is None else x for x in extra]   # a valid RPPS of nobody
    r = register(authd, smtp, kind, base + extra)
    assert r.returncode == 1 and r.json["fields"]["field"] == field, r.json
    assert slapd.search(SUFFIX, f"(mmLoginMail={p.mail})") == []


def test_missing_required_fields(authd, smtp):
    p = person("req", "Req", "REQ")
    r = register(authd, smtp, "PER", ["--login-mail", p.mail, "--sn", p.sn, "--given-name", p.given])
    assert r.returncode == 1 and r.json["fields"]["field"] == "rpps"
    r = register(authd, smtp, "ORG", ["--login-mail", p.mail])
    assert r.returncode == 1 and r.json["fields"]["rule"] == "required"
    r = register(authd, smtp, "XYZ", ["--login-mail", p.mail])
    assert r.returncode == 1 and r.json["fields"]["field"] == "type"


def test_duplicates_refused(authd, smtp, slapd):
    first, _ = active_per(authd, smtp)
    again = person()
    same_mail = register(authd, smtp, "PER", per_fields(first.mail, again.sn, again.given, again.rpps))
    assert same_mail.returncode == 1 and same_mail.json["fields"] == {"field": "login_mail", "rule": "duplicate"}
    same_rpps = register(authd, smtp, "PER", per_fields(again.mail, again.sn, again.given, first.rpps))
    assert same_rpps.returncode == 1 and same_rpps.json["fields"] == {"field": "rpps", "rule": "duplicate"}
    assert same_mail.json["status"] == -17


INJECTIONS = ["*)(uid=*", "*", "\\2a", ")(|(objectClass=*)", "x" * 10240]


@pytest.mark.parametrize("value", INJECTIONS)
def test_ldap_injection_in_every_text_field(authd, smtp, slapd, value):
    keys = ("--sn", "--given-name", "--login-mail", "--city", "--street", "--speciality", "--region",
            "--phone", "--raison-sociale", "--attached-service")
    for n, key in enumerate(keys):
        fields = person(f"inject{n}", "Test", "INJECT").med()
        if key in fields:
            fields[fields.index(key) + 1] = value
        else:
            fields += [key, value]
        r = register(authd, smtp, "MED", fields)
        if r.returncode == 0:
            # Accepted only as literal text: the stored value is exactly what was sent.
            login = r.json["fields"]["login"]
            stored = entry(slapd, login)
            assert value in sum((v for k, v in stored.items() if k != "dn"), []), (key, value)
            assert authd.ctl("close", login).returncode == 0
        else:
            assert r.returncode == 1 and r.json["status"] == -22, (key, r.stdout, r.stderr)
            assert r.json["fields"]["field"] == key[2:].replace("-", "_")
    # Lookups by identifier escape their filter: no wildcard match, nothing changed.
    active = len(slapd.search(SUFFIX, "(mmStatus=active)", "1.1"))
    for args in (["show", "*"], ["validate", "*)(uid=*"], ["suspend", "*"], ["suspend", value]):
        r = authd.ctl(*args)
        assert r.returncode == 1 and r.json["status"] in (-2, -22), (args, r.stdout)
    assert len(slapd.search(SUFFIX, "(mmStatus=active)", "1.1")) == active


def test_invalid_utf8_and_nul_refused(authd, smtp, slapd):
    # medimailctl passes argv bytes as they are: invalid UTF-8 reaches the daemon.
    import os
    mail = person("utf8").mail
    cmd = [os.fsencode(a) for a in [str(authd.socket)]]
    r = subprocess.run([os.fsencode(str(__import__("mmstack").BUILD / "ctl/medimailctl")), b"--socket",
                        cmd[0], b"--json", b"register", b"MED", b"--password-stdin",
                        b"--login-mail", mail.encode(), b"--sn", b"\xc3\x28", b"--given-name", b"X",
                        b"--region", b"Occitanie"], input=b"Pharma#2024\n", capture_output=True)
    assert r.returncode == 1
    assert b'"rule":"utf8"' in r.stdout
    assert slapd.search(SUFFIX, f"(mmLoginMail={mail})") == []


def test_smtp_down_cancels_registration(authd, smtp, slapd):
    p = person("nomail", "No", "MAIL")
    smtp.stop()
    try:
        r = register(authd, smtp, "MED", p.med())
        assert r.returncode == 1 and r.json["status"] == -70  # -ECOMM
        assert "e-mail" in r.json["message"]
        assert slapd.search(SUFFIX, f"(mmLoginMail={p.mail})") == []
    finally:
        smtp.start()
    r = register(authd, smtp, "MED", p.med())
    assert r.returncode == 0, r.stdout


def test_no_secret_in_the_log(authd, smtp):
    active_per(authd, smtp)   # a registration and a validation, whatever ran before
    log = authd.log_text()
    for secret in (PW, "Pharma#2024", "$argon2id$"):
        assert secret not in log
    assert 'audit="register"' in log and 'audit="validate"' in log
