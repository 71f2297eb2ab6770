"""Gérer mon compte, end to end: every setting set through medimailctl as its
owner (setpriv to the account's uid), read back, its effect checked in slapd,
through the mail system's own lookups (postmap on an ldap: table, a read as
cn=mail) and on two daemons; every refusal names its field and changes
nothing; every change leaves an audit line."""
import base64
import datetime
import re
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib

import ldap
import pexpect
import pytest

from mmstack import BUILD, SUFFIX, Daemon, cmdlines_holding, ctl_ok as ok, ctl_refused as refused, luhn_complete, med_fields, org_fields, per_fields

PW = "Pharma#2024"
MAIL_DN = f"cn=mail,ou=system,{SUFFIX}"





def entry(slapd, login):
    found = slapd.search(SUFFIX, f"(uid={login})", "*", "+")
    assert len(found) == 1, found
    return found[0]


def audited(authd, event, account, result="ok"):
    pat = re.compile(rf'audit="{re.escape(event)}".*account="{re.escape(account)}" result="{result}"')
    return any(pat.search(line) for line in authd.log_text().splitlines())


def make_account(authd, smtp, kind, fields, mail):
    args = ["register", kind] + fields
    if kind != "ORG":
        args.insert(2, "--password-stdin")
    r = authd.ctl(*args, input=PW + "\n")
    login = ok(r)["login"]
    ok(authd.ctl("confirm", "--token-stdin", input=smtp.token(mail) + "\n"))
    v = ok(authd.ctl("validate", login))
    return {"login": login, "mail": mail, "uid": int(v.get("uid_number", 0)) or None,
            "mss": v.get("mss_address")}


@pytest.fixture(scope="module")
def people(authd, smtp, slapd):
    """A pharmacist (PER), her secretary (MED), a colleague (PER) and their ORG."""
    p = {}
    p["doc"] = make_account(authd, smtp, "PER",
                            per_fields("claire.settings@example.org", "SETTINGS", "Claire",
                                       luhn_complete("1000700000")), "claire.settings@example.org")
    p["sec"] = make_account(authd, smtp, "MED",
                            med_fields("sonia.secr@example.org", "SECR", "Sonia"), "sonia.secr@example.org")
    p["col"] = make_account(authd, smtp, "PER",
                            per_fields("marc.autre@example.org", "AUTRE", "Marc",
                                       luhn_complete("1000700001")), "marc.autre@example.org")
    p["org"] = make_account(authd, smtp, "ORG",
                            org_fields("claire.settings@example.org", mail="officine.settings@example.org",
                                       name="Officine Reglages"), "officine.settings@example.org")
    ok(authd.ctl("org", "member", "add", p["org"]["login"], p["sec"]["login"]))
    return p


def as_user(authd, who, *args, **kw):
    return authd.ctl(*args, uid=who["uid"], **kw)


def ctl_on_tty(authd, uid, *args):
    """medimailctl on a pseudo-terminal, as a user types at it."""
    return pexpect.spawn("setpriv", [f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                                     str(BUILD / "ctl/medimailctl"), "--socket", str(authd.socket), *args],
                         encoding="utf-8", timeout=30)


# ----------------------------------------------------------- informations personnelles

def test_profile_shows_the_activity_screen(authd, people):
    doc, sec = people["doc"], people["sec"]
    f = ok(as_user(authd, doc, "profile", "show"))
    assert f["login"] == doc["login"] and f["type"] == "PER"
    assert f["type_title"] == "Compte Personnel"
    assert any("RPPS" in line for line in f["type_info"])
    assert "sn" in f["editable"] and "struct_id" not in f["editable"]
    m = ok(as_user(authd, sec, "profile", "show"))
    assert m["type_title"] == "Compte Medimail"
    assert any("ne donnant pas lieu à une adresse MSSanté" in line for line in m["type_info"])


def test_profile_edit_own_account(authd, slapd, people):
    doc = people["doc"]
    f = ok(as_user(authd, doc, "profile", "set", "--sn", "SETTINGS-DURAND", "--phone", "05 61 00 00 01",
                   "--phone2", "06 12 34 56 78", "--street", "3 rue des Lilas", "--postal-code", "31000",
                   "--city", "Toulouse", "--raison-sociale", "Pharmacie des Lilas", "--profession", "21",
                   "--speciality", "Orthopédie"))
    assert f["sn"] == "SETTINGS-DURAND" and f["phone"] == ["05 61 00 00 01"] and f["phone2"] == "06 12 34 56 78"
    e = entry(slapd, doc["login"])
    assert e["sn"] == ["SETTINGS-DURAND"] and e["cn"] == ["Claire SETTINGS-DURAND"]
    assert e["telephoneNumber"] == ["05 61 00 00 01", "06 12 34 56 78"]
    assert e["street"] == ["3 rue des Lilas"] and e["l"] == ["Toulouse"] and e["postalCode"] == ["31000"]
    assert e["o"] == ["Pharmacie des Lilas"] and e["mmSpeciality"] == ["Orthopédie"]
    assert {"claire", "settings", "durand", "toulouse"} <= set(e["mmSearchKey"])
    assert audited(authd, "profile-set", doc["login"])
    # The optional second phone is cleared by an empty value.
    ok(as_user(authd, doc, "profile", "set", "--phone2", ""))
    assert entry(slapd, doc["login"])["telephoneNumber"] == ["05 61 00 00 01"]


def test_profile_refusals_change_nothing(authd, slapd, people):
    doc = people["doc"]
    before = entry(slapd, doc["login"])
    refused(as_user(authd, doc, "profile", "set", "--phone", "not a phone"), "phone", "syntax")
    refused(as_user(authd, doc, "profile", "set", "--postal-code", "310"), "postal_code", "syntax")
    refused(as_user(authd, doc, "profile", "set", "--sn", ""), "sn", "required")
    refused(as_user(authd, doc, "profile", "set", "--struct-id", "810000034"), "struct_id", "not_allowed")
    refused(as_user(authd, doc, "profile", "set", "--rpps", "10002813839"), "rpps", "unknown")
    refused(as_user(authd, doc, "profile", "set", "--profession", "999"), "profession", "unknown")
    after = entry(slapd, doc["login"])
    assert after["modifyTimestamp"] == before["modifyTimestamp"]


def test_org_users_edit_only_phone_address_and_raison_sociale(authd, slapd, people):
    doc, col, org = people["doc"], people["col"], people["org"]
    ok(as_user(authd, doc, "profile", "set", "--login", org["login"], "--phone", "05 63 11 22 33",
               "--street", "5 place du Vigan", "--raison-sociale", "SELARL Officine Reglages"))
    e = entry(slapd, org["login"])
    assert e["telephoneNumber"] == ["05 63 11 22 33"] and e["o"] == ["SELARL Officine Reglages"]
    before = entry(slapd, org["login"])
    new_finess = luhn_complete("81000005")
    for field, value in (("struct-id", new_finess), ("resp-sn", "AUTRE"), ("description", "autre"),
                         ("resp-rpps", "10002813839")):
        r = refused(as_user(authd, doc, "profile", "set", "--login", org["login"], f"--{field}", value),
                    field.replace("-", "_"), "admin_only", status=-13)
        assert "administrateur" in r["message"]
    refused(as_user(authd, doc, "profile", "set", "--login", org["login"], "--sn", "X"), "sn", "not_allowed")
    assert entry(slapd, org["login"])["modifyTimestamp"] == before["modifyTimestamp"]
    assert entry(slapd, org["login"])["mmStructId"] == ["810000034"]
    assert audited(authd, "profile-set", org["login"], "refused")
    # Not a connection account of the ORG: as if it did not exist.
    r = as_user(authd, col, "profile", "set", "--login", org["login"], "--phone", "05 00 00 00 00")
    assert r.returncode == 1 and r.json["status"] == -2
    # The administrator edits the FINESS, checked by its key.
    refused(authd.ctl("profile", "set", "--login", org["login"], "--struct-id", "810000035"),
            "struct_id", "check_digit")
    ok(authd.ctl("profile", "set", "--login", org["login"], "--struct-id", new_finess, "--resp-sn", "NOUVEAU"))
    e = entry(slapd, org["login"])
    assert e["mmStructId"] == [new_finess] and e["mmRespSn"] == ["NOUVEAU"]
    f = ok(as_user(authd, doc, "profile", "show", "--login", org["login"]))
    assert f["struct_id"] == new_finess and "struct_id" not in f["editable"] and "phone" in f["editable"]
    # "Identifiants de connexion" of the ORG: its address and its connection accounts.
    assert f["login_mail"] == org["mail"]
    assert sorted(f["member"]) == sorted([doc["login"], people["sec"]["login"]])


# ----------------------------------------------------------- mot de passe oublié

def test_password_forgotten_then_reset_once(authd, smtp, slapd, people):
    col = people["col"]
    n = len(smtp.messages(col["mail"]))
    r = ok(authd.ctl("password", "forgot", col["mail"], uid=65534))
    token = smtp.wait_message(col["mail"], r"reinitialiser\?jeton=([0-9a-f]{64})", count_before=n).group(1)
    e = entry(slapd, col["login"])
    assert e["mmResetHash"] and token not in str(e)
    assert audited(authd, "password-forgot", col["login"])
    # Unknown address: the same answer, no mail.
    unknown = authd.ctl("password", "forgot", "nobody.here@example.org", uid=65534)
    assert unknown.returncode == 0 and unknown.json["message"] == authd.ctl(
        "password", "forgot", "nobody.else@example.org").json["message"]
    # A second request within the minute sends nothing more.
    ok(authd.ctl("password", "forgot", col["mail"], uid=65534))
    assert len(smtp.messages(col["mail"])) == n + 1
    # The policy names the failed rule; the link survives a refused password.
    for bad, rule in (("Sh#1", "min_length"), ("alllower#1", "upper"), ("ALLUPPER#1", "lower"),
                      ("NoDigits#x", "digit"), ("NoSpecial12", "special")):
        r = authd.ctl("password", "reset", "--token-stdin", "--password-stdin", input=f"{token}\n{bad}\n",
                      uid=65534)
        refused(r, "password", rule)
    new = "Nouveau#Mot2passe"
    ok(authd.ctl("password", "reset", "--token-stdin", "--password-stdin", input=f"{token}\n{new}\n", uid=65534))
    dn = f"uid={col['login']},ou=people,{SUFFIX}"
    bind = subprocess.run(["ldapwhoami", "-x", "-H", slapd.ldap_url, "-D", dn, "-w", new], capture_output=True)
    assert bind.returncode == 0
    old = subprocess.run(["ldapwhoami", "-x", "-H", slapd.ldap_url, "-D", dn, "-w", PW], capture_output=True)
    assert old.returncode == 49
    again = authd.ctl("password", "reset", "--token-stdin", "--password-stdin", input=f"{token}\nEncore#Autre3\n",
                      uid=65534)
    assert again.returncode == 1 and again.json["status"] == -2
    assert "mmResetHash" not in entry(slapd, col["login"])
    assert audited(authd, "password-reset", col["login"])
    assert token not in authd.log_text()


# ----------------------------------------------------------- signatures

PNG_1X1 = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63f8cfc0f01f0005000201e4b0a0b40000000049454e44ae426082")).decode()



def test_reset_mail_envoye_par_cerbere(authd, smtp, slapd):
    """Guide 003: "Dans le mail envoyé par cerbere@mipih.fr, cliquer sur le lien afin de définir
    un nouveau mot de passe": the reset link comes from the cerbere address, in a plain-text
    and an HTML part, and ends with the service's footer."""
    mail = "rose.cerbere@example.org"
    make_account(authd, smtp, "MED", med_fields(mail, "CERBERE", "Rose"), mail)
    n = len(smtp.messages(mail))
    ok(authd.ctl("password", "forgot", mail, uid=65534))
    token = smtp.wait_message(mail, r"reinitialiser\?jeton=([0-9a-f]{64})", count_before=n).group(1)
    m = smtp.messages(mail)[-1]
    sender, text, html = smtp.parts(m)
    assert sender == "cerbere@mipih.fr"
    assert str(m["Subject"]) == "Réinitialisation de votre mot de passe Medimail"
    assert f'<a href="https://medimail.localhost/mot-de-passe/reinitialiser?jeton={token}">' in html
    assert text.rstrip().endswith("Cordialement, le service Medimail\n\n"
                                  "Ceci est un email automatique, merci de ne pas y répondre.")
    assert "Ceci est un email automatique, merci de ne pas y répondre" in html


def test_reset_token_never_on_command_line(authd, smtp, slapd):
    """While medimailctl waits for the new password it holds a single-use token: any local user
    reading /proc/*/cmdline must not find it there and spend it first."""
    mail = "paul.jeton@example.org"
    me = make_account(authd, smtp, "MED", med_fields(mail, "JETON", "Paul"), mail)
    n = len(smtp.messages(mail))
    ok(authd.ctl("password", "forgot", mail, uid=65534))
    token = smtp.wait_message(mail, r"reinitialiser\?jeton=([0-9a-f]{64})", count_before=n).group(1)
    # The old form is refused, says how, and leaves the token unspent.
    old = authd.ctl("password", "reset", token, "--password-stdin", input="Jamais#Servi12\n", uid=65534)
    assert old.returncode == 2 and old.stdout == "", old
    assert "command line" in old.stderr and "--token-stdin" in old.stderr, old.stderr
    new = "Secret#Ecran42"
    child = ctl_on_tty(authd, 65534, "password", "reset")
    child.expect("Jeton du lien de réinitialisation : ")
    child.sendline(token)
    child.expect(r"Nouveau mot de passe \(")
    assert child.isalive()
    assert cmdlines_holding(token) == []
    child.sendline(new)
    child.expect("Confirmation du mot de passe : ")
    assert cmdlines_holding(token) == []
    child.sendline(new)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert token not in child.before  # not echoed either
    dn = f"uid={me['login']},ou=people,{SUFFIX}"
    bind = subprocess.run(["ldapwhoami", "-x", "-H", slapd.ldap_url, "-D", dn, "-w", new], capture_output=True)
    assert bind.returncode == 0


def test_reset_from_stdin_with_a_nul_sets_no_cut_password(authd, smtp, slapd):
    """A NUL in the new password read from stdin cut it short unseen: "Abcdef#12\\0..." became the
    password "Abcdef#12". Such input, and a line longer than a wire value, is refused, and the
    single-use token stays unspent."""
    mail = "nina.octet@example.org"
    me = make_account(authd, smtp, "MED", med_fields(mail, "OCTET", "Nina"), mail)
    n = len(smtp.messages(mail))
    ok(authd.ctl("password", "forgot", mail, uid=65534))
    token = smtp.wait_message(mail, r"reinitialiser\?jeton=([0-9a-f]{64})", count_before=n).group(1)
    dn = f"uid={me['login']},ou=people,{SUFFIX}"
    for bad in ("Abcdef#12\0Suite#Invisible99", "Abcdef#12" + "x" * 70000):
        r = authd.ctl("password", "reset", "--token-stdin", "--password-stdin", input=f"{token}\n{bad}\n",
                      uid=65534)
        assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
        assert "refused" in r.stderr, r.stderr
        cut = subprocess.run(["ldapwhoami", "-x", "-H", slapd.ldap_url, "-D", dn, "-w", "Abcdef#12"],
                             capture_output=True)
        assert cut.returncode == 49
    # the same for the token itself
    r = authd.ctl("password", "reset", "--token-stdin", "--password-stdin",
                  input=f"{token}\0x\nAbcdef#12\n", uid=65534)
    assert r.returncode == 2 and "refused" in r.stderr, r.stderr
    ok(authd.ctl("password", "reset", "--token-stdin", "--password-stdin", input=f"{token}\nAbcdef#12\n",
                 uid=65534))


def test_device_code_never_on_command_line(authd, smtp):
    """The enrolment code is exchanged once for the device's credential: the old argv form is
    refused without spending it; the terminal and --code-stdin take it."""
    mail = "ines.appareil@example.org"
    me = make_account(authd, smtp, "MED", med_fields(mail, "APPAREIL", "Ines"), mail)
    code = ok(as_user(authd, me, "device", "enrol", "Téléphone jeton"))["code"]
    old = authd.ctl("device", "complete", code, uid=65534)
    assert old.returncode == 2 and "--code-stdin" in old.stderr, old
    child = ctl_on_tty(authd, 65534, "--json", "device", "complete")
    child.expect("Code d'association de l'appareil : ")
    assert cmdlines_holding(code) == []
    child.sendline(code)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and '"credential":' in child.before, child.before
    again = authd.ctl("device", "complete", "--code-stdin", input=code + "\n", uid=65534)
    assert again.returncode == 1 and again.json["status"] == -2

def test_signatures(authd, slapd, people):
    doc, sec, org = people["doc"], people["sec"], people["org"]
    html = ('<p style="text-align: left"><b>Dr Claire Settings</b><br>'
            '<span style="color: #1f4e79; font-family: Arial, sans-serif; font-size: 10pt">Pharmacienne</span></p>'
            f'<img src="data:image/png;base64,{PNG_1X1}" alt="logo">')
    a = ok(as_user(authd, doc, "signature", "add", "--title", "Pro", "--html", html, "--default", "yes"))["id"]
    b = ok(as_user(authd, doc, "signature", "add", "--title", "Courte", "--html", "<i>C. S.</i>"))["id"]
    r = as_user(authd, doc, "signature", "list")
    recs = {x["id"]: x for x in r.json["records"]}
    assert recs[a]["html"] == html and recs[a]["title"] == "Pro" and recs[a]["default"] == "yes"
    assert recs[b]["default"] == "no"
    e = entry(slapd, doc["login"])
    assert e["mmDefaultSignature"] == [a] and len(e["mmSignature"]) == 2
    # One default: choosing b replaces a.
    ok(as_user(authd, doc, "signature", "set", b, "--default", "yes"))
    recs = {x["id"]: x for x in as_user(authd, doc, "signature", "list").json["records"]}
    assert recs[b]["default"] == "yes" and recs[a]["default"] == "no"
    ok(as_user(authd, doc, "signature", "set", a, "--title", "Professionnelle"))
    recs = {x["id"]: x for x in as_user(authd, doc, "signature", "list").json["records"]}
    assert recs[a]["title"] == "Professionnelle" and recs[a]["html"] == html
    ok(as_user(authd, doc, "signature", "remove", b))
    e = entry(slapd, doc["login"])
    assert len(e["mmSignature"]) == 1 and "mmDefaultSignature" not in e
    assert audited(authd, "signature-set", doc["login"]) and audited(authd, "signature-del", doc["login"])
    # On an ORG the signature is shared by its connection accounts.
    s = ok(as_user(authd, doc, "signature", "add", "--login", org["login"], "--title", "Officine",
                   "--html", "<b>Officine Reglages</b>", "--default", "yes"))["id"]
    seen = as_user(authd, sec, "signature", "list", "--login", org["login"]).json["records"]
    assert [(x["id"], x["title"], x["default"]) for x in seen] == [(s, "Officine", "yes")]
    # The secretary does not see the pharmacist's own signatures.
    r = as_user(authd, sec, "signature", "list", "--login", doc["login"])
    assert r.returncode == 1 and r.json["status"] == -2


def shared_dir(tmp_path):
    """A directory the unprivileged test clients can read and write."""
    tmp_path.chmod(0o777)
    return tmp_path


def test_signature_refusals_change_nothing(authd, slapd, people, tmp_path):
    doc = people["doc"]
    tmp_path = shared_dir(tmp_path)
    before = entry(slapd, doc["login"])
    refused(as_user(authd, doc, "signature", "add", "--title", "x", "--html", "<script>alert(1)</script>"),
            "html", "script")
    refused(as_user(authd, doc, "signature", "add", "--title", "x", "--html", '<b onmouseover="x()">a</b>'),
            "html", "event_handler")
    refused(as_user(authd, doc, "signature", "add", "--title", "x",
                    "--html", '<span style="background: url(javascript:x)">a</span>'), "html", "style_url")
    refused(as_user(authd, doc, "signature", "add", "--title", "x", "--html", "<b>open"), "html", "unbalanced")
    refused(as_user(authd, doc, "signature", "add", "--title", "x", "--html", "<!-- x -->"), "html", "comment")
    big_img = tmp_path / "big.html"
    big_img.write_text('<img src="data:image/png;base64,' + "iVBORw0KGgoA" + "A" * (14000 * 4) + '">')
    refused(as_user(authd, doc, "signature", "add", "--title", "x", "--html-file", str(big_img)),
            "html", "image_size")
    big = tmp_path / "big2.html"
    big.write_text("a" * 61500)
    refused(as_user(authd, doc, "signature", "add", "--title", "x", "--html-file", str(big)), "html", "max_length")
    refused(as_user(authd, doc, "signature", "add", "--html", "<b>x</b>"), "title", "required")
    # Together the signatures stay small enough to be listed in one reply.
    near = tmp_path / "near.html"
    near.write_text("<p>" + "b" * 59000 + "</p>")
    added = [ok(as_user(authd, doc, "signature", "add", "--title", f"long{i}", "--html-file", str(near)))["id"]
             for i in range(2)]
    refused(as_user(authd, doc, "signature", "add", "--title", "trop", "--html-file", str(near)),
            "html", "total_size")
    assert len(as_user(authd, doc, "signature", "list").json["records"]) == len(before["mmSignature"]) + 2
    for sid in added:
        ok(as_user(authd, doc, "signature", "remove", sid))
    before = entry(slapd, doc["login"])
    refused(as_user(authd, doc, "signature", "set", "0123456789ab", "--title", "y"), "id", "unknown")
    after = entry(slapd, doc["login"])
    assert after["mmSignature"] == before["mmSignature"]
    assert after["modifyTimestamp"] == before["modifyTimestamp"]


# ----------------------------------------------------------- réponse automatique

def mail_read(slapd, flt, *attrs):
    conn = ldap.initialize(slapd.ldap_url)
    conn.simple_bind_s(MAIL_DN, (slapd.state / "slapd" / "mail.pw").read_text())
    try:
        res = conn.search_s(SUFFIX, ldap.SCOPE_SUBTREE, flt, list(attrs) or None)
    finally:
        conn.unbind_s()
    return [(dn, {k: [v.decode() for v in vs] for k, vs in a.items()}) for dn, a in res if dn]


def gtime(dt):
    return dt.strftime("%Y%m%d%H%M%SZ")


def vacation_filter(address, when):
    """What a Sieve/vacation consumer asks: the auto-reply of address if it is on now."""
    t = gtime(when)
    return (f"(&(objectClass=mmAccount)(|(mmLoginMail={address})(mmMssAddress={address}))"
            f"(mmAutoReplyActive=TRUE)(mmAutoReplyStart<={t})(mmAutoReplyEnd>={t}))")


def test_autoreply_window(authd, slapd, people, postfix):
    doc = people["doc"]
    today = datetime.datetime.now(datetime.timezone.utc).date()
    d = lambda days: (today + datetime.timedelta(days=days)).isoformat()
    before = entry(slapd, doc["login"])
    refused(as_user(authd, doc, "autoreply", "set", "--enabled", "yes", "--start", d(3), "--end", d(1),
                    "--subject", "Absente", "--body", "<p>Absente</p>"), "end", "before_start")
    refused(as_user(authd, doc, "autoreply", "set", "--enabled", "yes", "--start", d(0)), "end", "required")
    refused(as_user(authd, doc, "autoreply", "set", "--start", "2026-02-30"), "start", "syntax")
    refused(as_user(authd, doc, "autoreply", "set", "--body", "<script>x</script>"), "body", "script")
    assert entry(slapd, doc["login"])["modifyTimestamp"] == before["modifyTimestamp"]

    f = ok(as_user(authd, doc, "autoreply", "set", "--enabled", "yes", "--start", d(-1), "--end", d(1),
                   "--subject", "Absence du cabinet", "--body", "<p>Je suis <b>absente</b>.</p>"))
    assert f["enabled"] == "yes" and f["active_now"] == "yes"
    assert f["start"] == d(-1).replace("-", "") + "000000Z" and f["end"] == d(1).replace("-", "") + "235959Z"
    assert audited(authd, "autoreply-set", doc["login"])
    now = datetime.datetime.now(datetime.timezone.utc)
    for addr in (doc["mail"], doc["mss"]):
        hits = mail_read(slapd, vacation_filter(addr, now), "mmAutoReplySubject", "mmAutoReplyBody")
        assert len(hits) == 1 and hits[0][1]["mmAutoReplySubject"] == ["Absence du cabinet"]
    assert postfix.query("vacation", doc["mss"], when=now) == "Absence du cabinet"
    # Outside the window (three days later) nothing answers.
    later = now + datetime.timedelta(days=3)
    assert mail_read(slapd, vacation_filter(doc["mss"], later)) == []
    assert postfix.query("vacation", doc["mss"], when=later) is None

    # A window in the past: stored, enabled, but not active now.
    f = ok(as_user(authd, doc, "autoreply", "set", "--start", "2024-01-01", "--end", "2024-01-31"))
    assert f["enabled"] == "yes" and f["active_now"] == "no"
    assert mail_read(slapd, vacation_filter(doc["mss"], now)) == []
    assert postfix.query("vacation", doc["mss"], when=now) is None
    f = ok(as_user(authd, doc, "autoreply", "set", "--start", d(0), "--end", d(0)))
    assert f["active_now"] == "yes"
    f = ok(as_user(authd, doc, "autoreply", "set", "--enabled", "no"))
    assert f["active_now"] == "no" and f["subject"] == "Absence du cabinet"
    assert postfix.query("vacation", doc["mss"], when=now) is None


# ----------------------------------------------------------- notifications

def test_notifications(authd, slapd, people):
    doc, org = people["doc"], people["org"]
    f = ok(as_user(authd, doc, "notify", "show"))
    assert (f["receipt"], f["opening"], f["digest"], f["org_to_individual"]) == ("yes", "no", "no", "yes")
    assert f["receipt_address"] == doc["mail"]
    assert "autre messagerie sécurisée de santé" in f["opening_caveat"]
    f = ok(as_user(authd, doc, "notify", "set", "--opening", "yes", "--digest", "yes",
                   "--org-to-individual", "no"))
    assert (f["receipt"], f["opening"], f["digest"], f["org_to_individual"]) == ("yes", "yes", "yes", "no")
    assert "autre messagerie" in f["opening_caveat"]
    e = entry(slapd, doc["login"])
    assert e["mmNotifyOpening"] == ["TRUE"] and e["mmNotifyDigest"] == ["TRUE"]
    assert e["mmNotifyOrgToIndividual"] == ["FALSE"] and e["mmNotifyReceipt"] == ["TRUE"]
    assert audited(authd, "notify-set", doc["login"])
    # The mail system reads them as cn=mail.
    (_, attrs), = mail_read(slapd, f"(mmLoginMail={doc['mail']})", "mmNotifyOpening", "mmNotifyOrgToIndividual")
    assert attrs == {"mmNotifyOpening": ["TRUE"], "mmNotifyOrgToIndividual": ["FALSE"]}
    # On an ORG: receipt notices to its address; the ORG-to-individual switch belongs to each member.
    f = ok(as_user(authd, doc, "notify", "show", "--login", org["login"]))
    assert f["receipt_address"] == org["mail"] and "org_to_individual" not in f
    before = entry(slapd, org["login"])
    refused(as_user(authd, doc, "notify", "set", "--login", org["login"], "--org-to-individual", "no"),
            "org_to_individual", "not_allowed")
    refused(as_user(authd, doc, "notify", "set", "--receipt", "maybe"), "receipt", "syntax")
    assert entry(slapd, org["login"])["modifyTimestamp"] == before["modifyTimestamp"]


# ----------------------------------------------------------- délégations + Postfix

class Postfix:
    """postmap -q on ldap: tables bound as the mail system's identity."""

    def __init__(self, slapd, d):
        self.slapd, self.dir = slapd, d
        (d / "main.cf").write_text("compatibility_level = 3.6\n")
        self.pw = (slapd.state / "slapd" / "mail.pw").read_text()

    def table(self, name, query_filter, attr):
        cf = self.dir / f"{name}.cf"
        cf.write_text(f"""server_host = {self.slapd.ldap_url}
version = 3
search_base = {SUFFIX}
scope = sub
query_filter = {query_filter}
result_attribute = {attr}
bind = yes
bind_dn = {MAIL_DN}
bind_pw = {self.pw}
""")
        cf.chmod(0o600)
        return cf

    def query(self, kind, address, when=None):
        if kind == "delegate":
            cf = self.table("delegate", "(&(objectClass=mmAccount)(mmStatus=active)"
                            "(|(mmLoginMail=%s)(mmMssAddress=%s)))", "mmDelegate")
        else:
            # The time is written into the table as a cron job would rewrite it.
            t = gtime(when)
            cf = self.table("vacation", "(&(objectClass=mmAccount)(|(mmLoginMail=%s)(mmMssAddress=%s))"
                            f"(mmAutoReplyActive=TRUE)(mmAutoReplyStart<={t})(mmAutoReplyEnd>={t}))",
                            "mmAutoReplySubject")
        r = subprocess.run(["postmap", "-c", str(self.dir), "-q", address, f"ldap:{cf}"],
                           capture_output=True, text=True)
        # postmap -q: 0 and the value when found, 1 and silence when not; a fatal error
        # exits 1 too, but says so: no answer is taken for the other.
        out = r.stdout.strip()
        if r.returncode == 0:
            assert out and r.stderr == "", (out, r.stderr)
            return out
        assert (r.returncode, out, r.stderr) == (1, "", ""), (r.returncode, out, r.stderr)
        return None


@pytest.fixture(scope="module")
def postfix(slapd, tmp_path_factory):
    return Postfix(slapd, tmp_path_factory.mktemp("postfix"))


def test_delegations(authd, slapd, people, postfix):
    doc, sec, col = people["doc"], people["sec"], people["col"]
    assert postfix.query("delegate", doc["mss"]) is None
    f = ok(as_user(authd, doc, "delegate", "add", sec["mail"].upper()))
    assert f["address"] == sec["mail"] and "advice" not in f
    ok(as_user(authd, doc, "delegate", "add", col["mss"]))
    recs = as_user(authd, doc, "delegate", "list").json["records"]
    assert sorted(x["address"] for x in recs) == sorted([sec["mail"], col["mss"]])
    assert sorted(entry(slapd, doc["login"])["mmDelegate"]) == sorted([sec["mail"], col["mss"]])
    assert audited(authd, "delegate-add", doc["login"])
    # Postfix's own lookup, by the MSSanté address and by the login address.
    for addr in (doc["mss"], doc["mail"]):
        got = postfix.query("delegate", addr)
        assert sorted(got.split(",")) == sorted([sec["mail"], col["mss"]])

    before = entry(slapd, doc["login"])
    for bad in ("secretariatdupont@gmail.com", "inconnu@pharmacien.oc.mssante.fr"):
        r = refused(as_user(authd, doc, "delegate", "add", bad), "address", "not_medimail")
        assert "Medimail" in r["message"]
    refused(as_user(authd, doc, "delegate", "add", doc["mss"]), "address", "self")
    refused(as_user(authd, doc, "delegate", "add", "pas une adresse"), "address", "syntax")
    r = as_user(authd, doc, "delegate", "add", sec["mail"])
    assert r.returncode == 1 and r.json["fields"]["rule"] == "duplicate"
    refused(as_user(authd, doc, "delegate", "remove", "personne@example.org"), "address", "unknown")
    assert entry(slapd, doc["login"])["modifyTimestamp"] == before["modifyTimestamp"]
    assert audited(authd, "delegate-add", doc["login"], "refused")

    ok(as_user(authd, doc, "delegate", "remove", col["mss"]))
    assert postfix.query("delegate", doc["mss"]) == sec["mail"]
    assert audited(authd, "delegate-del", doc["login"])
    # A suspended target cannot receive new delegations.
    ok(authd.ctl("suspend", col["login"], "--reason", "test"))
    refused(as_user(authd, doc, "delegate", "add", col["mail"]), "address", "not_medimail")
    ok(authd.ctl("reactivate", col["login"]))


def test_med_account_is_advised_to_delegate(authd, people):
    sec, doc = people["sec"], people["doc"]
    f = ok(as_user(authd, sec, "delegate", "list"))
    assert "PERsonnel ou ORGanisationnel" in f["advice"]
    f = ok(as_user(authd, sec, "delegate", "add", doc["mss"]))
    assert "advice" in f
    assert "advice" not in ok(as_user(authd, doc, "delegate", "list"))


def test_mail_identity_reads_only_what_it_needs(slapd, people):
    doc = people["doc"]
    (dn, attrs), = mail_read(slapd, f"(uid={doc['login']})")
    assert set(attrs) <= {"objectClass", "uid", "mmAccountType", "mmStatus", "mmLoginMail", "mmMssAddress",
                          "mmMember", "mmDelegate", "mmAutoReplyActive", "mmAutoReplyStart", "mmAutoReplyEnd",
                          "mmAutoReplySubject", "mmAutoReplyBody", "mmNotifyReceipt", "mmNotifyOpening",
                          "mmNotifyDigest", "mmNotifyOrgToIndividual"}
    assert "mmDelegate" in attrs and "mmLoginMail" in attrs
    for hidden in ("sn", "telephoneNumber", "userPassword", "mmSignature", "mmDevice", "mmRpps", "street"):
        assert hidden not in attrs
    # Not even usable in a filter.
    assert mail_read(slapd, "(sn=SETTINGS-DURAND)") == []
    assert mail_read(slapd, f"(telephoneNumber=05 61 00 00 01)") == []


# ----------------------------------------------------------- dématérialisation

def test_dematerialisation(authd, slapd, people):
    doc = people["doc"]
    assert ok(as_user(authd, doc, "demat", "show"))["dematerialisation"] == "yes"
    assert ok(as_user(authd, doc, "demat", "set", "no"))["dematerialisation"] == "no"
    assert entry(slapd, doc["login"])["mmDematerialisation"] == ["FALSE"]
    assert ok(as_user(authd, doc, "demat", "show"))["dematerialisation"] == "no"
    assert audited(authd, "demat-set", doc["login"])
    refused(as_user(authd, doc, "demat", "set", "peut-être"), "dematerialisation", "syntax")
    ok(as_user(authd, doc, "demat", "set", "yes"))
    assert entry(slapd, doc["login"])["mmDematerialisation"] == ["TRUE"]


# ----------------------------------------------------------- appareils mobiles

def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", data[16:24])
    # The image data inflates to one filter byte plus one grey byte per pixel on each row.
    idat = data[data.index(b"IDAT") + 4:data.index(b"IEND") - 8]
    raw = zlib.decompress(idat)
    assert len(raw) == h * (w + 1) and set(raw[1:w + 1]) == {255}
    return w, h


def test_device_enrolment_works_once(authd, slapd, smtp, state, people, tmp_path):
    doc, org = people["doc"], people["org"]
    tmp_path = shared_dir(tmp_path)
    svg, png = tmp_path / "qr.svg", tmp_path / "qr.png"
    f = ok(as_user(authd, doc, "device", "enrol", "iPhone de Claire", "--svg", str(svg), "--png", str(png)))
    code, dev = f["code"], f["id"]
    assert f["enrol_uri"] == f"medimail://enrol?code={code}"
    root = ET.parse(svg).getroot()
    rects = [el for el in root if el.tag.endswith("rect")]
    assert len(rects) > 100 and root.get("viewBox").startswith("0 0 ")
    w, h = png_size(png)
    assert w == h and w % 8 == 0 and w >= (21 + 8) * 8
    # The terminal view: UTF-8 half blocks.
    text = as_user(authd, doc, "device", "enrol", "Tablette", json_out=False)
    assert text.returncode == 0 and "\u2580" in text.stdout and "\u2584" in text.stdout
    e = entry(slapd, doc["login"])
    assert len(e["mmDeviceEnrolHash"]) == 2 and code not in str(e)
    assert audited(authd, "device-enrol", doc["login"])

    done = ok(authd.ctl("device", "complete", "--code-stdin", input=code + "\n", uid=65534))
    cred = done["credential"]
    assert done["login"] == doc["login"] and done["id"] == dev and re.fullmatch(r"[0-9a-f]{64}", cred)
    again = authd.ctl("device", "complete", "--code-stdin", input=code + "\n", uid=65534)
    assert again.returncode == 1 and again.json["status"] == -2
    assert audited(authd, "device-complete", doc["login"])
    e = entry(slapd, doc["login"])
    assert len(e["mmDeviceCredHash"]) == 1 and cred not in str(e) and len(e["mmDeviceEnrolHash"]) == 1
    states = {x["id"]: x["state"] for x in as_user(authd, doc, "device", "list").json["records"]}
    assert states[dev] == "active" and sorted(states.values()) == ["active", "pending"]
    r = as_user(authd, doc, "device", "enrol", "Poste", "--login", org["login"])
    assert r.returncode == 1 and r.json["status"] == -1  # EPERM: devices belong to individual accounts
    refused(as_user(authd, doc, "device", "enrol", "x" * 80), "name", "characters")
    bad = authd.ctl("device", "complete", "--code-stdin", input="0" * 64 + "\n", uid=65534)
    assert bad.returncode == 1 and bad.json["status"] == -2

    # Two daemons on one slapd: both accept the credential, then both refuse it once revoked.
    second = Daemon(state, slapd, smtp.port, name="authd-settings2").start()
    try:
        for d in (authd, second):
            v = ok(d.ctl("device", "verify", input=cred + "\n"))
            assert v["login"] == doc["login"] and v["id"] == dev
        r = authd.ctl("device", "verify", input=cred + "\n", uid=doc["uid"])
        assert r.returncode == 1 and r.json["status"] == -13   # only the service checks credentials
        ok(as_user(authd, doc, "device", "revoke", dev))
        assert audited(authd, "device-revoke", doc["login"])
        for d in (authd, second):
            r = d.ctl("device", "verify", input=cred + "\n")
            assert r.returncode == 1 and r.json["status"] == -13
        assert re.search(r'audit="device-verify".*result="refused"', second.log_text())
        assert "mmDeviceCredHash" not in entry(slapd, doc["login"])
        refused(as_user(authd, doc, "device", "revoke", dev), "id", "unknown")
    finally:
        second.stop()
    assert cred not in authd.log_text() and code not in authd.log_text()


def test_unknown_fields_and_other_accounts_refused(authd, slapd, people):
    doc, col = people["doc"], people["col"]
    refused(as_user(authd, doc, "demat", "set", "yes", "--colour", "blue"), "colour", "unknown")
    for args in (("notify", "set", "--digest", "yes"), ("delegate", "add", doc["mail"]),
                 ("demat", "set", "no"), ("autoreply", "set", "--enabled", "no")):
        r = as_user(authd, col, *args[:2], "--login", doc["login"], *args[2:])
        assert r.returncode == 1 and r.json["status"] == -2, (args, r.stdout)
    # root must say which account.
    refused(authd.ctl("notify", "show"), "login", "required")


def timed_as(uid, socket_path, code, rounds, unknown, other):
    """The same request naming an unknown account and another one, in turns,
    from another local uid: the median of the per-turn differences of their
    answer times (other - unknown) and of the unknown one's, in microseconds
    (turns side by side share the machine's load); and each last answer."""
    import json
    import sys
    from pathlib import Path
    code_s = ("import json, sys, time, statistics; sys.path.insert(0, %r); from mmwire import call\n"
              "u, o = json.loads(sys.argv[1]); d = []; tu = []; a = {}\n"
              "def once(f):\n"
              "    t0 = time.perf_counter(); r = call(%r, %d, **f); return time.perf_counter() - t0, r\n"
              "for i in range(%d):\n"
              "    x, ru = once(u); y, ro = once(o)\n"
              "    if i %% 2: y, ro = once(o); x, ru = once(u)\n"
              "    d.append(y - x); tu.append(x)\n"
              "a = {'unknown': [ru.status, ru.message], 'other': [ro.status, ro.message]}\n"
              "print(json.dumps([statistics.median(d) * 1e6, statistics.median(tu) * 1e6, a]))"
              ) % (str(Path(__file__).parent), str(socket_path), code, rounds)
    p = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", sys.executable, "-c", code_s,
                        json.dumps([unknown, other])], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(p.stdout)


@pytest.mark.parametrize("code,field,extra", [
    (0x0104, "login", {}),                                  # account show
    (0x0701, "login", {}),                                  # profile (settings)
    (0x010c, "login", {}),                                  # CGU acceptance
    (0x010a, "org", {"member": "sonia.secr@example.org"}),  # ORG member add
])
def test_unknown_account_is_not_answered_faster_than_someone_elses(authd, people, code, field, extra):
    """These requests answer an unknown login and someone else's in the same
    words; the time they take must not tell them apart either (one directory
    search more for one of them is some 30 % of the answer time)."""
    col = people["col"]
    other = people["org"]["mail"] if field == "org" else people["doc"]["mail"]
    seen = []
    for _ in range(3):  # a busy machine may blur one measure; a real difference shows in each
        diff, base, answers = timed_as(col["uid"], authd.socket, code, 100, {field: "personne.inconnue@example.org",
                                                                            **extra}, {field: other, **extra})
        assert answers["unknown"][0] == answers["other"][0] < 0, answers
        assert answers["unknown"][1].replace("personne.inconnue@example.org", "X") == \
            answers["other"][1].replace(other, "X"), answers
        seen.append((round(diff), round(base)))
        if abs(diff) < 0.2 * base:
            break
    else:
        raise AssertionError(f"answer time tells the accounts apart: (median difference, median time) us {seen}")


def test_suspended_member_cannot_manage_org(authd, smtp, slapd):
    """A suspended connection account keeps no hold on its ORG (members, settings,
    delegations) nor on its own settings; reactivated, it manages them again."""
    mem = make_account(authd, smtp, "MED", med_fields("paul.suspens@example.org", "SUSPENS", "Paul"),
                       "paul.suspens@example.org")
    new = make_account(authd, smtp, "MED", med_fields("rita.recrue@example.org", "RECRUE", "Rita"),
                       "rita.recrue@example.org")
    org = make_account(authd, smtp, "ORG",
                       org_fields(mem["mail"], mail="officine.suspens@example.org", name="Officine Suspens"),
                       "officine.suspens@example.org")
    # Active, the member manages the ORG.
    ok(as_user(authd, mem, "notify", "set", "--login", org["login"], "--digest", "yes"))
    ok(authd.ctl("suspend", mem["login"], "--reason", "départ"))
    before = {k: entry(slapd, x["login"]) for k, x in (("org", org), ("mem", mem), ("new", new))}
    for args in (("org", "member", "add", org["login"], new["login"]),
                 ("notify", "set", "--login", org["login"], "--digest", "no"),
                 ("demat", "set", "--login", org["login"], "no"),
                 ("delegate", "add", "--login", org["login"], new["mail"]),
                 ("delegate", "add", new["mail"]),
                 ("notify", "set", "--digest", "yes")):
        r = as_user(authd, mem, *args)
        assert r.returncode == 1 and r.json["status"] == -1, (args, r.stdout)
        assert r.json["fields"].get("reason") == "account_state", (args, r.stdout)
    after = {k: entry(slapd, x["login"]) for k, x in (("org", org), ("mem", mem), ("new", new))}
    assert after == before
    assert audited(authd, "org-member-add", mem["login"], "refused")
    # The refusal was the status: reactivated, the same request goes through.
    ok(authd.ctl("reactivate", mem["login"]))
    ok(as_user(authd, mem, "org", "member", "add", org["login"], new["login"]))
    assert f"uid={new['login']}," in " ".join(entry(slapd, org["login"])["mmMember"])


def root_ldap(slapd):
    conn = ldap.initialize(slapd.ldapi_url)
    conn.sasl_external_bind_s()
    return conn


def test_expired_codes_and_links_are_refused(authd, slapd, smtp, people):
    """Codes and links expire: age them in the directory (as slapd's root) and try them."""
    doc, sec = people["doc"], people["sec"]
    code = ok(as_user(authd, doc, "device", "enrol", "Ancien téléphone"))["code"]
    dn = f"uid={doc['login']},ou=people,{SUFFIX}"
    conn = root_ldap(slapd)
    try:
        (_, attrs), = conn.search_s(dn, ldap.SCOPE_BASE, attrlist=["mmDevice"])
        old = next(v for v in attrs["mmDevice"] if b'"name":"Ancien t' in v)
        aged = re.sub(rb'"expires":"\d{14}Z"', b'"expires":"20200101000000Z"', old)
        conn.modify_s(dn, [(ldap.MOD_DELETE, "mmDevice", [old]), (ldap.MOD_ADD, "mmDevice", [aged])])
        r = authd.ctl("device", "complete", "--code-stdin", input=code + "\n", uid=65534)
        assert r.returncode == 1 and r.json["status"] == -110, r.stdout
        r = authd.ctl("device", "complete", "--code-stdin", input=code + "\n", uid=65534)
        assert r.returncode == 1 and r.json["status"] == -2, r.stdout
        assert audited(authd, "device-complete", doc["login"], "refused")
        names = [x["name"] for x in as_user(authd, doc, "device", "list").json.get("records", [])]
        assert "Ancien téléphone" not in names

        n = len(smtp.messages(sec["mail"]))
        ok(authd.ctl("password", "forgot", sec["mail"]))
        token = smtp.wait_message(sec["mail"], r"reinitialiser\?jeton=([0-9a-f]{64})", count_before=n).group(1)
        sdn = f"uid={sec['login']},ou=people,{SUFFIX}"
        conn.modify_s(sdn, [(ldap.MOD_REPLACE, "mmResetExpires", [b"20200101000000Z"])])
        r = authd.ctl("password", "reset", "--token-stdin", "--password-stdin", input=f"{token}\nValide#Mot2passe\n",
                      uid=65534)
        assert r.returncode == 1 and r.json["status"] == -110, r.stdout
        assert audited(authd, "password-reset", sec["login"], "refused")
    finally:
        conn.unbind_s()
