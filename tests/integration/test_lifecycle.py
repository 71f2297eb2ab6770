"""The account lifecycle of the guides, end to end through medimailctl, the daemon,
slapd and the SMTP sink: registration of each type, confirmation, validation,
status changes, conversion, ORG connection accounts, and every refusal."""
import subprocess

import pexpect
import pytest

from mmstack import BUILD, SUFFIX, NOBODY, cmdlines_holding, int_fields, med_fields, org_fields, per_fields

PW = "Pharma#2024"


def register(authd, smtp, kind, fields, password=PW, uid=None):
    args = ["register", kind] + fields
    if kind != "ORG":
        args.insert(2, "--password-stdin")
        return authd.ctl(*args, input=password + "\n", uid=uid)
    return authd.ctl(*args, uid=uid, input="" if password is None else password + "\n")


def confirm(authd, smtp, mail):
    token = smtp.token(mail)
    return authd.ctl("confirm", "--token-stdin", input=token + "\n")


def entry(slapd, login):
    found = slapd.search(SUFFIX, f"(uid={login})")
    assert len(found) == 1, found
    return found[0]


def full_registration(authd, smtp, kind, fields, mail):
    r = register(authd, smtp, kind, fields)
    assert r.returncode == 0, r.stdout + r.stderr
    login = r.json["fields"]["login"]
    c = confirm(authd, smtp, mail)
    assert c.returncode == 0, c.stdout
    v = authd.ctl("validate", login)
    assert v.returncode == 0, v.stdout
    return login, v.json["fields"]


# ---------------------------------------------------------------- the four paths

def test_per_registration_end_to_end(authd, smtp, slapd):
    r = register(authd, smtp, "PER", per_fields())
    assert r.returncode == 0, r.stdout + r.stderr
    login = r.json["fields"]["login"]
    assert login == "isabelle.martin"
    e = entry(slapd, login)
    assert e["mmStatus"] == ["pending-confirmation"]
    assert e["mmAccountType"] == ["PER"]
    assert e["mmNationalId"] == ["810002813839"]
    assert e["userPassword"][0].startswith("{ARGON2}$argon2id$")
    assert "mmMssAddress" not in e

    c = confirm(authd, smtp, "isabelle.martin@example.org")
    assert c.returncode == 0 and c.json["fields"]["status"] == "pending-validation"
    assert entry(slapd, login)["mmStatus"] == ["pending-validation"]
    assert "mmConfirmHash" not in entry(slapd, login)

    v = authd.ctl("validate", login)
    assert v.returncode == 0, v.stdout
    assert v.json["fields"]["mss_address"] == "isabelle.martin@pharmacien.oc.mssante.fr"
    e = entry(slapd, login)
    assert e["mmStatus"] == ["active"]
    assert e["mmMssAddress"] == ["isabelle.martin@pharmacien.oc.mssante.fr"]
    assert 1900210000 <= int(e["uidNumber"][0]) <= 1900219999
    assert e["homeDirectory"] == [f"/home/{login}"]
    assert e["mmVisibleMedimail"] == ["TRUE"] and e["mmVisibleMssante"] == ["TRUE"]
    assert e["mmDematerialisation"] == ["TRUE"]
    notice = smtp.wait_message("isabelle.martin@example.org", r"validé")
    assert notice


def test_argon2_password_binds_through_slapd(authd, smtp, slapd):
    login, _ = full_registration(authd, smtp, "PER",
                                 per_fields("paul.bind@example.org", "BIND", "Paul", "10001045367"),
                                 "paul.bind@example.org")
    dn = f"uid={login},ou=people,{SUFFIX}"
    ok = subprocess.run(["ldapwhoami", "-x", "-H", slapd.ldap_url, "-D", dn, "-w", PW], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert dn in ok.stdout
    bad = subprocess.run(["ldapwhoami", "-x", "-H", slapd.ldap_url, "-D", dn, "-w", PW + "x"], capture_output=True)
    assert bad.returncode == 49


def test_int_registration_and_conversion(authd, smtp, slapd):
    login, v = full_registration(authd, smtp, "INT", int_fields(), "karim.benali@example.org")
    e = entry(slapd, login)
    assert e["mmAccountType"] == ["INT"] and e["mmStructIdType"] == ["FINESS"]
    assert v["mss_address"] == "karim.benali@medecin.oc.mssante.fr"
    # The RPPS arrives: INT -> PER.
    bad = authd.ctl("convert", login, "--rpps", "10002813838")
    assert bad.returncode == 1 and bad.json["fields"]["field"] == "rpps"
    dup = authd.ctl("convert", login, "--rpps", "10002813839")   # Isabelle's
    assert dup.returncode == 1 and dup.json["fields"]["rule"] == "duplicate"
    ok = authd.ctl("convert", login, "--rpps", "99700427869")
    assert ok.returncode == 0, ok.stdout
    e = entry(slapd, login)
    assert e["mmAccountType"] == ["PER"] and e["mmRpps"] == ["99700427869"]
    assert e["mmNationalId"] == ["899700427869"]
    again = authd.ctl("convert", login, "--rpps", "99700427869")
    assert again.returncode == 1


def test_med_registration_has_no_mssante_address(authd, smtp, slapd):
    login, v = full_registration(authd, smtp, "MED", med_fields(), "lea.roux@example.org")
    assert "mss_address" not in v
    e = entry(slapd, login)
    assert "mmMssAddress" not in e and "mmVisibleMssante" not in e
    assert e["givenName"] == ["Léa"]
    body = smtp.body(smtp.messages("lea.roux@example.org")[-1])
    assert "délégation" in body


def test_org_registration_with_connection_accounts(authd, smtp, slapd):
    # The first connection account: an existing individual account (Isabelle).
    login, v = full_registration(authd, smtp, "ORG", org_fields("isabelle.martin@example.org"),
                                 "contact.pharmacie@example.org")
    assert login == "pharmacie-du-centre"
    assert v["mss_address"] == "pharmacie.du.centre.81000.albi@pharmacien.oc.mssante.fr"
    e = entry(slapd, login)
    assert e["mmAccountType"] == ["ORG"]
    assert e["mmMember"] == [f"uid=isabelle.martin,ou=people,{SUFFIX}"]
    assert e["dn"].endswith(f"ou=orgs,{SUFFIX}")
    assert 1910310000 <= int(e["gidNumber"][0]) <= 1910310999
    assert "userPassword" not in e
    # A second connection account, then removal; the last one stays.
    assert authd.ctl("org", "member", "add", login, "lea.roux@example.org").returncode == 0
    assert len(entry(slapd, login)["mmMember"]) == 2
    assert authd.ctl("org", "member", "add", login, "lea.roux").returncode == 1  # already
    assert authd.ctl("org", "member", "remove", login, "lea.roux").returncode == 0
    last = authd.ctl("org", "member", "remove", login, "isabelle.martin")
    assert last.returncode == 1 and "au moins un" in last.json["message"]
    # An ORG cannot be a connection account.
    assert authd.ctl("org", "member", "add", login, login).returncode == 1


def test_org_needs_member_password_from_non_admin(authd, smtp, slapd):
    fields = org_fields("isabelle.martin@example.org", mail="contact2@example.org", name="Cabinet Test")
    fails = int(entry(slapd, "isabelle.martin").get("mmFailCount", ["0"])[0])
    wrong = register(authd, smtp, "ORG", fields, password="Nope#2024", uid=NOBODY)
    assert wrong.returncode == 1 and wrong.json["status"] == -13, wrong.stdout
    assert slapd.search(SUFFIX, "(mmLoginMail=contact2@example.org)") == []
    # A wrong guess counts like a failed login: no guessing beside the lockout.
    assert entry(slapd, "isabelle.martin")["mmFailCount"] == [str(fails + 1)]
    ok = register(authd, smtp, "ORG", fields, password=PW, uid=NOBODY)
    assert ok.returncode == 0, ok.stdout


def test_org_member_proof_does_not_tell_which_accounts_exist(authd, smtp, slapd):
    """Anyone may fill in the ORG form: an unknown member, an ORG named as member and an
    existing account with a wrong password get the same answer."""
    replies = []
    for member in ("isabelle.martin@example.org", "nobody.here@example.org", "pharmacie-du-centre"):
        fields = org_fields(member, mail="contact-probe@example.org", name="Cabinet Sonde")
        r = register(authd, smtp, "ORG", fields, password="Nope#2024", uid=NOBODY)
        assert r.returncode == 1, r.stdout
        replies.append((r.json["status"], r.json["message"], r.json.get("fields")))
    assert replies[0] == replies[1] == replies[2], replies
    assert replies[0][0] == -13
    assert slapd.search(SUFFIX, "(mmLoginMail=contact-probe@example.org)") == []


def test_org_collision_gets_next_address(authd, smtp, slapd):
    fields = org_fields("isabelle.martin@example.org", mail="contact3@example.org")
    login, v = full_registration(authd, smtp, "ORG", fields, "contact3@example.org")
    assert login == "pharmacie-du-centre2"
    assert v["mss_address"] == "pharmacie.du.centre.81000.albi2@pharmacien.oc.mssante.fr"
    addrs = [x["mmMssAddress"][0] for x in slapd.search(SUFFIX, "(mmAccountType=ORG)", "mmMssAddress")
             if "mmMssAddress" in x]
    assert len(addrs) == len(set(addrs))


def test_person_collision_gets_next_login_and_address(authd, smtp, slapd):
    login, v = full_registration(authd, smtp, "PER",
                                 per_fields("isabelle.martin2@example.org", rpps="99700427877"),
                                 "isabelle.martin2@example.org")
    assert login == "isabelle.martin2"
    assert v["mss_address"] != "isabelle.martin@pharmacien.oc.mssante.fr"
    assert v["mss_address"].endswith("@pharmacien.oc.mssante.fr")


# ---------------------------------------------------------------- statuses

def test_status_transitions(authd, smtp, slapd):
    login, _ = full_registration(authd, smtp, "MED",
                                 med_fields("sus.pend@example.org", "PEND", "Sus"), "sus.pend@example.org")
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
    again = register(authd, smtp, "MED", med_fields("sus.pend@example.org", "PEND", "Sus"))
    assert again.returncode == 1 and again.json["fields"]["rule"] == "duplicate"


def test_validate_requires_confirmation(authd, smtp, slapd):
    r = register(authd, smtp, "MED", med_fields("not.confirmed@example.org", "CONFIRMED", "Not"))
    login = r.json["fields"]["login"]
    v = authd.ctl("validate", login)
    assert v.returncode == 1 and v.json["status"] == -1  # -EPERM
    assert entry(slapd, login)["mmStatus"] == ["pending-confirmation"]


def test_confirmation_link_is_single_use(authd, smtp, slapd):
    r = register(authd, smtp, "MED", med_fields("once@example.org", "ONCE", "Only"))
    token = smtp.token("once@example.org")
    assert authd.ctl("confirm", "--token-stdin", input=token + "\n").returncode == 0
    again = authd.ctl("confirm", "--token-stdin", input=token + "\n")
    assert again.returncode == 1 and again.json["status"] == -2
    assert authd.ctl("confirm", "--token-stdin", input="0" * 64 + "\n").returncode == 1
    assert authd.ctl("confirm", "--token-stdin", input="not-a-token\n").json["fields"]["field"] == "token"
    assert r.returncode == 0


def test_confirm_token_never_on_command_line(authd, smtp, slapd):
    """The old "confirm TOKEN" form put a single-use token where every local user reads it: it is
    refused with the way to give it, without spending it; the prompt takes it unechoed."""
    r = register(authd, smtp, "MED", med_fields("argv.jeton@example.org", "ARGVJETON", "Anne"))
    token = smtp.token("argv.jeton@example.org")
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
    r = register(authd, smtp, "MED", med_fields("resend@example.org", "RESEND", "Re"))
    first = smtp.token("resend@example.org")
    n = len(smtp.messages("resend@example.org"))
    assert authd.ctl("resend-confirmation", r.json["fields"]["login"]).returncode == 0
    second = smtp.wait_message("resend@example.org", r"jeton=([0-9a-f]{64})", count_before=n).group(1)
    assert second != first
    assert authd.ctl("confirm", "--token-stdin", input=first + "\n").returncode == 1
    assert authd.ctl("confirm", "--token-stdin", input=second + "\n").returncode == 0


def test_cgu_acceptance_recorded_once(authd, smtp, slapd):
    login, _ = full_registration(authd, smtp, "MED", med_fields("cgu@example.org", "CGU", "Accept"),
                                 "cgu@example.org")
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
    for args in (["list"], ["validate", "isabelle.martin"], ["suspend", "isabelle.martin"],
                 ["convert", "isabelle.martin", "--rpps", "99700427869"],
                 ["org", "member", "add", "pharmacie-du-centre", "lea.roux"]):
        r = authd.ctl(*args, uid=NOBODY)
        assert r.returncode == 1 and r.json["status"] == -13, (args, r.stdout)
    assert entry(slapd, "isabelle.martin")["mmStatus"] == ["active"]
    # Nobody else's account is shown to an unprivileged caller.
    r = authd.ctl("show", "isabelle.martin", uid=NOBODY)
    assert r.returncode == 1 and "ARGON2" not in r.stdout
    assert "denied" not in authd.log_text() or True


def test_show_never_returns_secrets(authd):
    r = authd.ctl("show", "isabelle.martin")
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
    base = per_fields("refused@example.org", rpps="99700427885") if kind == "PER" else \
        int_fields("refused@example.org")
    fields = list(base)
    for k, v in overrides.items():
        fields[fields.index(k) + 1] = v
    r = register(authd, smtp, kind, fields)
    assert r.returncode == 1, r.stdout
    assert r.json["status"] == -22
    assert r.json["fields"]["field"] == field and r.json["fields"]["rule"] == rule, r.json
    assert r.json["message"]
    assert slapd.search(SUFFIX, "(mmLoginMail=refused@example.org)") == []


@pytest.mark.parametrize("password,rule", [
    ("Ab1!", "min_length"), ("abcdefg1!", "upper"), ("ABCDEFG1!", "lower"),
    ("Abcdefgh!", "digit"), ("Abcdefgh1", "special"), ("Aa1!" + "x" * 1100, "max_length"),
])
def test_password_policy(authd, smtp, slapd, password, rule):
    r = register(authd, smtp, "MED", med_fields("pw@example.org", "PW", "Policy"), password=password)
    assert r.returncode == 1
    assert r.json["fields"] == {"field": "password", "rule": rule}, r.json
    assert slapd.search(SUFFIX, "(mmLoginMail=pw@example.org)") == []


@pytest.mark.parametrize("kind,extra,field", [
    ("PER", ["--adeli", "123456789"], "rpps"),                 # both RPPS and ADELI
    ("INT", ["--rpps", "99700427869"], "rpps"),                 # INT has no RPPS yet
    ("MED", ["--rpps", "99700427869"], "rpps"),                 # MED is for professionals without RPPS
    ("MED", ["--resp-sn", "X"], "resp_sn"),                     # ORG-only field
    ("MED", ["--bogus", "1"], "bogus"),                         # unknown field
])
def test_type_rules(authd, smtp, slapd, kind, extra, field):
    base = {"PER": per_fields("type@example.org", rpps="99700427885"),
            "INT": int_fields("type@example.org"),
            "MED": med_fields("type@example.org", "TYPE", "Rule")}[kind]
    r = register(authd, smtp, kind, base + extra)
    assert r.returncode == 1 and r.json["fields"]["field"] == field, r.json
    assert slapd.search(SUFFIX, "(mmLoginMail=type@example.org)") == []


def test_missing_required_fields(authd, smtp):
    r = register(authd, smtp, "PER", ["--login-mail", "req@example.org", "--sn", "REQ", "--given-name", "Req"])
    assert r.returncode == 1 and r.json["fields"]["field"] == "rpps"
    r = register(authd, smtp, "ORG", ["--login-mail", "req@example.org"])
    assert r.returncode == 1 and r.json["fields"]["rule"] == "required"
    r = register(authd, smtp, "XYZ", ["--login-mail", "req@example.org"])
    assert r.returncode == 1 and r.json["fields"]["field"] == "type"


def test_duplicates_refused(authd, smtp, slapd):
    same_mail = register(authd, smtp, "PER", per_fields(rpps="99700427885"))
    assert same_mail.returncode == 1 and same_mail.json["fields"] == {"field": "login_mail", "rule": "duplicate"}
    same_rpps = register(authd, smtp, "PER", per_fields("other@example.org"))
    assert same_rpps.returncode == 1 and same_rpps.json["fields"] == {"field": "rpps", "rule": "duplicate"}
    assert same_mail.json["status"] == -17


INJECTIONS = ["*)(uid=*", "*", "\\2a", ")(|(objectClass=*)", "x" * 10240]


@pytest.mark.parametrize("value", INJECTIONS)
def test_ldap_injection_in_every_text_field(authd, smtp, slapd, value):
    keys = ("--sn", "--given-name", "--login-mail", "--city", "--street", "--speciality", "--region",
            "--phone", "--raison-sociale", "--service")
    for n, key in enumerate(keys):
        mail = f"inject{n}.{len(value)}.{abs(hash(value)) % 1000}@example.org"
        fields = med_fields(mail, "INJECT", "Test")
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
    cmd = [os.fsencode(a) for a in [str(authd.socket)]]
    r = subprocess.run([os.fsencode(str(__import__("mmstack").BUILD / "ctl/medimailctl")), b"--socket",
                        cmd[0], b"--json", b"register", b"MED", b"--password-stdin",
                        b"--login-mail", b"utf8@example.org", b"--sn", b"\xc3\x28", b"--given-name", b"X",
                        b"--region", b"Occitanie"], input=b"Pharma#2024\n", capture_output=True)
    assert r.returncode == 1
    assert b'"rule":"utf8"' in r.stdout
    assert slapd.search(SUFFIX, "(mmLoginMail=utf8@example.org)") == []


def test_smtp_down_cancels_registration(authd, smtp, slapd):
    smtp.stop()
    try:
        r = register(authd, smtp, "MED", med_fields("nomail@example.org", "MAIL", "No"))
        assert r.returncode == 1 and r.json["status"] == -70  # -ECOMM
        assert "e-mail" in r.json["message"]
        assert slapd.search(SUFFIX, "(mmLoginMail=nomail@example.org)") == []
    finally:
        smtp.start()
    r = register(authd, smtp, "MED", med_fields("nomail@example.org", "MAIL", "No"))
    assert r.returncode == 0, r.stdout


def test_no_secret_in_the_log(authd):
    log = authd.log_text()
    for secret in (PW, "Pharma#2024", "$argon2id$"):
        assert secret not in log
    assert 'audit="register"' in log and 'audit="validate"' in log
