"""The two directories of the guides, end to end: the views enforced by slapd
(ldapsearch as a Medimail user, the national operator, anonymous, an owner),
the daemon's typeahead search (50-cap and refine flag, accents, injection
attempts, unknown fields), favourites, visibility toggles and the national
export of the MSSanté view."""
import socket
import struct
import subprocess
import unicodedata

import pytest

from mmstack import NOBODY, SUFFIX

PW = "Annu#2024aire"
PEOPLE = "ou=people," + SUFFIX
ORGS = "ou=orgs," + SUFFIX
OPERATOR = "cn=annuaire-sante,ou=system," + SUFFIX
MAGIC = 0x4D4D4155
DIR_SEARCH = 0x0401


def luhn_ok(digits):
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def with_key(body):
    for k in "0123456789":
        if luhn_ok(body + k):
            return body + k
    raise AssertionError(body)


def register(authd, kind, fields, password=PW):
    args = ["register", kind] + fields
    if kind != "ORG":
        args.insert(2, "--password-stdin")
    return authd.ctl(*args, input=password + "\n")


def full_registration(authd, smtp, kind, fields, mail, validate=True, validate_args=()):
    r = register(authd, kind, fields)
    assert r.returncode == 0, r.stdout + r.stderr
    login = r.json["fields"]["login"]
    assert authd.ctl("confirm", "--token-stdin", input=smtp.token(mail) + "\n").returncode == 0
    if validate:
        v = authd.ctl("validate", login, *validate_args)
        assert v.returncode == 0, v.stdout
    return login


def person(mail, sn, given, *, rpps=None, profession="10", city="Béziers", postcode="34500",
           street="12 avenue Émile Zola", extra=()):
    f = ["--login-mail", mail, "--sn", sn, "--given-name", given, "--city", city, "--postal-code", postcode,
         "--street", street, "--region", "Occitanie", "--phone", "04 67 00 00 01"]
    if rpps:
        f += ["--rpps", rpps, "--profession", profession]
    return f + list(extra)


def ldapsearch(slapd, bind, base, flt, *attrs):
    """ldapsearch over TCP: bind = (dn, password) or None for anonymous."""
    cmd = ["ldapsearch", "-LLL", "-x", "-o", "ldif-wrap=no", "-H", slapd.ldap_url, "-b", base]
    if bind:
        cmd += ["-D", bind[0], "-w", bind[1]]
    r = subprocess.run(cmd + [flt, *attrs], capture_output=True, text=True)
    assert r.returncode in (0, 32), r.stderr
    from mmstack import parse_ldif
    return parse_ldif(r.stdout)


def ldapmodify(slapd, bind, ldif):
    return subprocess.run(["ldapmodify", "-x", "-H", slapd.ldap_url, "-D", bind[0], "-w", bind[1]],
                          input=ldif, capture_output=True, text=True)


def root_ldap(slapd, tool, ldif):
    r = subprocess.run([tool, "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url], input=ldif, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr


def status_of(slapd, login):
    [e] = slapd.search(SUFFIX, f"(uid={login})", "mmStatus")
    return e["mmStatus"][0]


def uid_number(slapd, login):
    [e] = slapd.search(SUFFIX, f"(uid={login})", "uidNumber")
    return int(e["uidNumber"][0])


@pytest.fixture(scope="module")
def people(authd, smtp, slapd):
    """A small directory made through the daemon, as the guides make it."""
    p = {}
    p["helene"] = full_registration(
        authd, smtp, "PER", person("helene.querubin@example.org", "QUÉRUBIN", "Hélène",
                                   rpps=with_key("1999000001")), "helene.querubin@example.org")
    p["hidden"] = full_registration(
        authd, smtp, "PER", person("octave.quirinal@example.org", "QUIRINAL", "Octave",
                                   rpps=with_key("1999000002"), city="Toulouse", postcode="31000"),
        "octave.quirinal@example.org")
    p["med"] = full_registration(
        authd, smtp, "MED", person("melodie.quirinal@example.org", "QUIRINAL", "Mélodie"),
        "melodie.quirinal@example.org")
    p["int"] = full_registration(
        authd, smtp, "INT", person("ilan.quirinal@example.org", "QUIRINAL", "Ilan", profession="60",
                                   extra=["--profession", "60", "--struct-type", "FINESS",
                                          "--struct-id", "310000120"]),
        "ilan.quirinal@example.org", validate_args=("--mss", "yes"))  # an INT: the centre's decision
    org = ["--login-mail", "contact.quirinal@example.org", "--org-name", "Pharmacie Quirinal",
           "--description", "Officine, Pharmacie Quirinal, Béziers 34500", "--struct-type", "FINESS",
           "--struct-id", "810000034", "--raison-sociale", "Pharmacie Quirinal", "--street", "3 rue Pasteur",
           "--postal-code", "34500", "--city", "Béziers", "--phone", "04 67 00 00 00", "--resp-sn", "QUÉRUBIN",
           "--resp-given-name", "Hélène", "--resp-profession", "21", "--resp-rpps", with_key("1999000001"),
           "--member", p["helene"], "--region", "Occitanie"]
    p["org"] = full_registration(authd, smtp, "ORG", org, "contact.quirinal@example.org", validate=False)
    # Octave hides himself from both directories, as the owner.
    oct_uid = uid_number(slapd, p["hidden"])
    for d in ("medimail", "mssante"):
        r = authd.ctl("visibility", d, "off", uid=oct_uid)
        assert r.returncode == 0, r.stdout
    return p


def dn(p, key):
    return f"uid={p[key]},{ORGS if key == 'org' else PEOPLE}"


def user(p, key="helene"):
    return (dn(p, key), PW)


def operator(slapd):
    return (OPERATOR, (slapd.state / "slapd" / "annuaire.pw").read_text())


def logins(entries):
    return {e["dn"].split(",")[0][4:] for e in entries}


# ------------------------------------------------------------ views in slapd

def test_anonymous_sees_nothing(slapd, people):
    for base in (SUFFIX, PEOPLE, ORGS, dn(people, "helene")):
        assert ldapsearch(slapd, None, base, "(objectClass=*)") == []


def test_medimail_user_view(slapd, people):
    seen = ldapsearch(slapd, user(people), SUFFIX, "(sn=QUIRINAL)", "mmLoginMail", "mmMssAddress", "mmStatus")
    names = logins(seen)
    assert {people["med"], people["int"]} <= names
    assert people["hidden"] not in names
    med = next(e for e in seen if e["dn"] == dn(people, "med"))
    assert med["mmLoginMail"] == ["melodie.quirinal@example.org"]
    assert "mmStatus" not in med                      # not a public attribute
    intern = next(e for e in seen if e["dn"] == dn(people, "int"))
    assert intern["mmMssAddress"][0].endswith(".mssante.fr")
    # the ORG is not validated yet: not in the directory, except for its connection account
    assert ldapsearch(slapd, user(people, "med"), SUFFIX, "(cn=Pharmacie Quirinal)") == []
    assert ldapsearch(slapd, user(people), SUFFIX, "(cn=Pharmacie Quirinal)")
    # its own entry, whatever the flags, is visible to its owner
    own = ldapsearch(slapd, user(people, "hidden"), dn(people, "hidden"), "(objectClass=*)", "mmVisibleMedimail")
    assert own and own[0]["mmVisibleMedimail"] == ["FALSE"]


def test_hidden_entry_not_found_by_any_filter(slapd, people):
    [h] = slapd.search(SUFFIX, f"(uid={people['hidden']})", "mmRpps", "mmLoginMail", "mmMssAddress")
    filters = [f"(uid={people['hidden']})", "(objectClass=*)", f"(mmRpps={h['mmRpps'][0]})", f"(mmLoginMail={h['mmLoginMail'][0]})",
               f"(mmMssAddress={h['mmMssAddress'][0]})", "(mmVisibleMedimail=FALSE)", "(mmVisibleMssante=FALSE)",
               "(!(mmVisibleMedimail=TRUE))", "(mmSearchKey=octave)", "(givenName=Octave)"]
    for bind in (user(people), operator(slapd)):
        for flt in filters:
            assert dn(people, "hidden") not in [e["dn"] for e in ldapsearch(slapd, bind, SUFFIX, flt)], (bind[0], flt)
    # the same filters find a visible entry: the test would see it
    assert dn(people, "helene") in [e["dn"] for e in ldapsearch(slapd, operator(slapd), SUFFIX, "(objectClass=*)")]


def test_mssante_view_for_the_national_operator(authd, slapd, people):
    op = operator(slapd)
    seen = ldapsearch(slapd, op, SUFFIX, "(objectClass=*)", "*")
    assert seen, "the operator sees the MSSanté view"
    assert all(e["mmAccountType"][0] in ("PER", "INT", "ORG") for e in seen)
    assert all("mmMssAddress" in e for e in seen)
    for e in seen:
        for secret in ("mmLoginMail", "mail", "uid", "mmStatus", "userPassword", "mmVisibleMssante",
                       "mmSearchKey", "mmMember", "uidNumber"):
            assert secret not in e, (e["dn"], secret)
    names = logins(seen)
    assert people["helene"] in names and people["int"] in names
    assert people["med"] not in names and people["hidden"] not in names
    # MED never, whatever the filter
    assert ldapsearch(slapd, op, SUFFIX, "(mmAccountType=MED)") == []
    assert ldapsearch(slapd, op, SUFFIX, "(sn=QUIRINAL)", "givenName") and \
        dn(people, "med") not in [e["dn"] for e in ldapsearch(slapd, op, SUFFIX, "(sn=QUIRINAL)")]
    # the ORG appears only once validated, and then only once the service centre
    # published its address (guides 001/002: "Le compte sera visible dans l'annuaire
    # santé dans les 72h, après que le Centre de Services du GRADeS ait finalisé le
    # paramétrage du compte, notamment la création de l'adresse MSSanté")
    assert ldapsearch(slapd, op, SUFFIX, "(cn=Pharmacie Quirinal)") == []
    v = authd.ctl("validate", people["org"])
    assert v.returncode == 0, v.stdout
    assert v.json["fields"]["published"] == "no" and v.json["fields"]["mss_address"]
    assert ldapsearch(slapd, op, SUFFIX, "(cn=Pharmacie Quirinal)") == []
    assert ldapsearch(slapd, op, SUFFIX, f"(mmMssAddress={v.json['fields']['mss_address']})") == []
    [med_sees] = ldapsearch(slapd, user(people, "med"), SUFFIX, "(cn=Pharmacie Quirinal)", "cn", "mmMssAddress")
    assert "mmMssAddress" not in med_sees          # in the Medimail view, its MSSanté address not yet public
    p = authd.ctl("publish", people["org"])
    assert p.returncode == 0 and p.json["fields"]["mss_address"] == v.json["fields"]["mss_address"], p.stdout
    [org] = ldapsearch(slapd, op, SUFFIX, "(cn=Pharmacie Quirinal)", "mmMssAddress", "description", "mmMember")
    assert org["mmMssAddress"][0].startswith("pharmacie.quirinal.34500.beziers@")
    assert "mmMember" not in org
    # and in the Medimail view too, now
    assert ldapsearch(slapd, user(people, "med"), SUFFIX, "(cn=Pharmacie Quirinal)")


def test_owner_writes_only_what_the_guides_allow(authd, slapd, people):
    """Over LDAP an owner writes its visibility flags only; the fields the guides let users edit go
    through the daemon's validators (a newline or ':' in a name must never reach GECOS)."""
    me, other = user(people), dn(people, "med")

    def change(target, attr, value, bind=me):
        return ldapmodify(slapd, bind, f"dn: {target}\nchangetype: modify\nreplace: {attr}\n{attr}: {value}\n\n")

    for attr, value in (("mmVisibleMedimail", "TRUE"), ("mmVisibleMssante", "TRUE")):
        r = change(me[0], attr, value)
        assert r.returncode == 0, (attr, r.stderr)
    for attr, value in (("telephoneNumber", "04 67 11 22 33"), ("street", "14 avenue Émile Zola"),
                        ("mmSpeciality", "Cardiologie"), ("o", "Cabinet Quérubin"), ("sn", "AUTRE"),
                        ("mmStatus", "suspended"), ("mmAccountType", "MED"), ("mmMssAddress", "x@y.fr"),
                        ("mmRpps", with_key("1999000009")), ("mmLoginMail", "other@example.org"),
                        ("uidNumber", "0"), ("mmFavorite", other)):
        assert change(me[0], attr, value).returncode == 50, attr
    # the same edits through the daemon, which validates them
    r = authd.ctl("profile", "set", "--login", people["helene"], "--phone", "04 67 11 22 33",
                  "--street", "14 avenue Émile Zola", "--speciality", "Cardiologie",
                  "--raison-sociale", "Cabinet Quérubin")
    assert r.returncode == 0, r.stdout
    # someone else's entry: nothing
    for attr in ("telephoneNumber", "mmVisibleMedimail"):
        assert change(other, attr, "TRUE" if attr.startswith("mm") else "01").returncode == 50, attr
    # a MED has no MSSanté flag to set
    assert change(other, "mmVisibleMssante", "TRUE", bind=user(people, "med")).returncode == 50
    # an ORG: its connection account sets its visibility over LDAP, nothing else
    org = dn(people, "org")
    assert change(org, "mmVisibleMedimail", "TRUE").returncode == 0
    for attr, value in (("telephoneNumber", "04 67 99 99 99"), ("postalCode", "34500"), ("o", "Pharmacie Quirinal"),
                        ("mmStructId", "340000017"), ("mmRespSn", "AUTRE"), ("description", "autre")):
        assert change(org, attr, value).returncode == 50, attr
    assert change(org, "mmVisibleMedimail", "TRUE", bind=user(people, "med")).returncode == 50


# ------------------------------------------------------- search via the daemon

def search(authd, *args, uid=None):
    return authd.ctl("search", *args, uid=uid)


def found(r):
    assert r.returncode == 0, r.stdout + r.stderr
    return {rec.get("login") or rec["mss_address"] for rec in r.json.get("records", [])}


def test_search_accents_case_and_prefixes(authd, slapd, people):
    me = uid_number(slapd, people["med"])
    for q in ("querubin", "QUÉRU", "quéru", "Hél", "helene querub"):
        assert people["helene"] in found(search(authd, q, uid=me)), q
    assert people["helene"] in found(search(authd, "--name", "querubin", "--first-name", "HELENE", uid=me))
    # fields are not interchangeable
    assert people["helene"] not in found(search(authd, "--first-name", "querubin", uid=me))
    assert people["helene"] in found(search(authd, "--city", "BEZIERS", uid=me))
    assert people["helene"] in found(search(authd, "--postal-code", "345", "--name", "quer", uid=me))
    assert people["helene"] not in found(search(authd, "--postal-code", "31", "--name", "quer", uid=me))
    assert people["helene"] in found(search(authd, "--address", "emile zola", "--name", "quer", uid=me))
    assert people["helene"] in found(search(authd, "--profession", "10", "--name", "quer", uid=me))
    assert people["helene"] in found(search(authd, "--profession", "médec", "--name", "quer", uid=me))
    assert people["helene"] not in found(search(authd, "--profession", "pharmacien", "--name", "quer", uid=me))
    r = search(authd, "quirinal", uid=me)
    names = found(r)
    assert people["hidden"] not in names and people["med"] in names
    rec = next(x for x in r.json["records"] if x["login"] == people["med"])
    assert rec["login_mail"] == "melodie.quirinal@example.org" and "mss_address" not in rec
    assert r.json["fields"]["refine"] == "no"


def test_search_mssante_view(authd, slapd, people):
    me = uid_number(slapd, people["med"])
    r = search(authd, "quirinal", "--view", "mssante", uid=me)
    assert r.returncode == 0, r.stdout
    recs = r.json["records"]
    assert recs and all("login_mail" not in x and "login" not in x for x in recs)
    assert all(x["type"] in ("PER", "INT", "ORG") for x in recs)
    assert {x["type"] for x in recs} >= {"INT"}
    assert not any(x["name"] in ("Octave QUIRINAL", "Mélodie QUIRINAL") for x in recs)
    # the contact's card: more fields, still no login e-mail
    full = search(authd, "quirinal", "--view", "mssante", "--detail", "full", uid=me).json["records"]
    assert any(x.get("given_name") == "Ilan" for x in full) and all("login_mail" not in x for x in full)


def test_search_needs_an_active_medimail_account(authd, people):
    r = search(authd, "quirinal", uid=NOBODY)
    assert r.returncode == 1 and r.json["status"] == -2


def test_fifty_results_and_refine(authd, slapd, people):
    ldif = ""
    for i in range(60):
        ldif += (f"dn: uid=bulk{i},{PEOPLE}\nobjectClass: mmAccount\nuid: bulk{i}\nmmAccountType: MED\n"
                 f"mmStatus: active\nmmLoginMail: bulk{i}@example.org\ncn: Zorglub {i}\nsn: Zorglub\n"
                 f"givenName: Bulk\nmmVisibleMedimail: TRUE\nmmSearchKey: zorglub\nmmSearchKey: n:zorglub\n"
                 f"mmSearchKey: bulk{i}\n\n")
    root_ldap(slapd, "ldapadd", ldif)
    me = uid_number(slapd, people["med"])
    r = search(authd, "zorg", uid=me)
    assert r.returncode == 0
    assert len(r.json["records"]) == 50 and r.json["fields"]["count"] == "50"
    assert r.json["fields"]["refine"] == "yes" and "limité à 50" in r.json["message"]
    # hide 10 of them: exactly 50 left, no refine flag
    root_ldap(slapd, "ldapmodify", "".join(f"dn: uid=bulk{i},{PEOPLE}\nchangetype: modify\nreplace: "
                                            f"mmVisibleMedimail\nmmVisibleMedimail: FALSE\n\n" for i in range(10)))
    r = search(authd, "--name", "zorglub", uid=me)
    assert len(r.json["records"]) == 50, r.stdout and r.json["fields"]["refine"] == "no"
    assert not {f"bulk{i}" for i in range(10)} & found(r)
    # a narrower search
    assert found(search(authd, "zorglub bulk42", uid=me)) == {"bulk42"}


def test_records_come_sorted_and_whole_in_the_frame(authd, slapd, people):
    """The daemon writes each record's fields as slapd sends the entry and puts the reply in
    order at the end: on the wire, "refine" and "count" first, then "#" 0, 1, 2... each
    followed by the fields of one entry only, sorted by folded display name, whatever order
    slapd sent them in (an attacker's view of the frame, not the CLI's)."""
    import random
    names = [f"Ygr{c}{i:02d}" for i, c in enumerate(random.Random(5).sample("ÉeaÀzbmÖoc" * 6, 55))]
    ldif = ""
    for i, n in enumerate(names):
        ldif += (f"dn: uid=ygr{i},{PEOPLE}\nobjectClass: mmAccount\nuid: ygr{i}\nmmAccountType: MED\n"
                 f"mmStatus: active\nmmLoginMail: ygr{i}@example.org\ncn: {n}\nsn: {n}\n"
                 f"givenName: Y\nmmVisibleMedimail: TRUE\nmmSearchKey: ygrec\nmmSearchKey: ygr{i}\n\n")
    root_ldap(slapd, "ldapadd", ldif)
    status, fields = raw_search(authd, [(b"login", people["med"].encode()), (b"q", b"ygrec")])
    assert status == 0, fields
    assert fields[0] == ("refine", "yes") and fields[1] == ("count", "50")
    records, cur = [], None
    for k, v in fields[2:]:
        if k == "#":
            assert v == str(len(records)), fields
            cur = {}
            records.append(cur)
        else:
            assert cur is not None and k not in cur, (k, fields)
            cur[k] = v
    assert len(records) == 50
    # each record whole: the summary view's fields of a MED, no more, no fewer
    assert all(set(rec) == {"login", "type", "login_mail", "name"} for rec in records), records
    by_login = {f"ygr{i}": n for i, n in enumerate(names)}
    for rec in records:
        assert by_login[rec["login"]] == rec["name"], rec
    fold = [unicodedata.normalize("NFKD", r["name"]).encode("ascii", "ignore").decode().lower()
            for r in records]
    assert fold == sorted(fold), fold


def raw_search(authd, fields, uid=None):
    """One MM_REQ_DIR_SEARCH frame built by hand (values the CLI cannot carry)."""
    payload = struct.pack(">I", len(fields))
    for k, v in fields:
        payload += struct.pack(">I", len(k)) + k + struct.pack(">I", len(v)) + v
    data = struct.pack(">IHHI", MAGIC, 1, DIR_SEARCH, len(payload)) + payload
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(str(authd.socket))
    s.sendall(data)
    buf = b""
    while len(buf) < 12 or len(buf) < 12 + struct.unpack(">I", buf[8:12])[0]:
        c = s.recv(65536)
        if not c:
            break
        buf += c
    s.close()
    status = struct.unpack(">i", buf[12:16])[0]
    mlen = struct.unpack(">I", buf[16:20])[0]
    off = 20 + mlen
    n = struct.unpack(">I", buf[off:off + 4])[0]
    off += 4
    out = []
    for _ in range(n):
        kl = struct.unpack(">I", buf[off:off + 4])[0]
        k = buf[off + 4:off + 4 + kl].decode()
        off += 4 + kl
        vl = struct.unpack(">I", buf[off:off + 4])[0]
        out.append((k, buf[off + 4:off + 4 + vl].decode()))
        off += 4 + vl
    return status, out


# The search fields a word is not a valid value of, and the rule that refuses it.
NOT_A_WORD_FIELD = {"profession": "unknown", "postal_code": "syntax"}


@pytest.mark.parametrize("field", ["q", "name", "first_name", "profession", "city", "postal_code", "address",
                                   "raison_sociale"])
def test_injection_attempts_in_every_field(authd, slapd, people, field):
    login = people["med"]
    for value in ("*", ")(", "*)(|", "\\", "(&)"):
        r = authd.ctl("search", "--" + field.replace("_", "-"), value, "--login", login)
        assert r.returncode == 1, (field, value, r.stdout)
        assert r.json["fields"]["field"] == field and r.json["status"] == -22
    # a filter fragment is only words ("uid", "mmstatus"): nothing escapes, nothing hidden shows
    for value in ("*)(uid=*", ")(|(mmStatus=*", "*))(|(objectClass=*"):
        r = authd.ctl("search", "--" + field.replace("_", "-"), value, "--login", login)
        if r.returncode == 0:
            assert found(r) == set(), (field, value)
        else:
            assert r.json["status"] == -22 and r.json["fields"]["field"] == field
    # metacharacters around a real word leave only the word: no filter escapes. A word is a
    # valid value of the text fields; a profession code and a postal code it is not.
    r = authd.ctl("search", "--" + field.replace("_", "-"), "quir*)(", "--login", login)
    if field in NOT_A_WORD_FIELD:
        assert r.returncode == 1, r.stdout
        assert r.json["status"] == -22 and r.json["fields"] == {"field": field, "rule": NOT_A_WORD_FIELD[field]}
    else:
        assert r.returncode == 0, r.stdout
        assert people["hidden"] not in found(r)
    if field in ("q", "name"):
        assert people["med"] in found(r) and people["hidden"] not in found(r)
    # 10 KB
    status, fields = raw_search(authd, [(b"login", login.encode()), (field.encode(), b"a" * 10240)])
    assert status == -22 and ("field", field) in fields and ("rule", "max_length") in fields
    # NUL inside a value
    status, fields = raw_search(authd, [(b"login", login.encode()), (field.encode(), b"quir\x00in")])
    assert status in (-22, -71)  # refused as a field, or as a malformed frame
    # the daemon serves on
    assert authd.ctl("ping").returncode == 0


def test_unknown_and_repeated_fields(authd, people):
    status, fields = raw_search(authd, [(b"login", people["med"].encode()), (b"q", b"quir"),
                                        (b"mmstatus", b"*")])
    assert status == -22 and ("field", "mmstatus") in fields and ("rule", "unknown") in fields
    status, fields = raw_search(authd, [(b"login", people["med"].encode()), (b"q", b"quir"), (b"q", b"x")])
    assert status == -22 and ("rule", "repeated") in fields
    status, fields = raw_search(authd, [(b"login", people["med"].encode())])
    assert status == -22 and ("rule", "required") in fields
    status, fields = raw_search(authd, [(b"login", people["med"].encode()), (b"view", b"all")])
    assert status == -22 and ("field", "view") in fields
    status, fields = raw_search(authd, [(b"login", people["med"].encode()), (b"profession", b"boulanger")])
    assert status == -22 and ("rule", "unknown") in fields
    status, fields = raw_search(authd, [(b"login", people["med"].encode()), (b"q", b"a b c d e f g h i")])
    assert status == -22 and ("rule", "too_many_words") in fields


# ------------------------------------------------------------ visibility

def test_visibility_toggle_hides_and_shows(authd, slapd, people):
    owner = uid_number(slapd, people["int"])
    me = uid_number(slapd, people["med"])
    op = operator(slapd)
    assert people["int"] in found(search(authd, "ilan", uid=me))
    r = authd.ctl("visibility", "medimail", "off", uid=owner)
    assert r.returncode == 0 and r.json["fields"]["visible_medimail"] == "off"
    assert people["int"] not in found(search(authd, "ilan", uid=me))
    assert ldapsearch(slapd, user(people, "med"), SUFFIX, f"(uid={people['int']})") == []
    # still in the national directory
    assert ldapsearch(slapd, op, SUFFIX, "(givenName=Ilan)")
    r = authd.ctl("visibility", "mssante", "off", uid=owner)
    assert r.returncode == 0 and r.json["fields"]["visible_mssante"] == "off"
    assert ldapsearch(slapd, op, SUFFIX, "(givenName=Ilan)") == []
    assert not any(x["name"] == "Ilan QUIRINAL" for x in
                   search(authd, "ilan", "--view", "mssante", uid=me).json.get("records", []))
    for d in ("medimail", "mssante"):
        assert authd.ctl("visibility", d, "on", uid=owner).returncode == 0
    assert people["int"] in found(search(authd, "ilan", uid=me))
    assert ldapsearch(slapd, op, SUFFIX, "(givenName=Ilan)")
    # a MED has no MSSanté address to show
    r = authd.ctl("visibility", "mssante", "on", uid=me)
    assert r.returncode == 1 and r.json["status"] == -1
    # an ORG through its connection account; not through anyone else
    org = people["org"]
    helene = uid_number(slapd, people["helene"])
    assert authd.ctl("visibility", "medimail", "off", "--login", org, uid=me).returncode == 1
    assert authd.ctl("visibility", "medimail", "off", "--login", org, uid=helene).returncode == 0
    assert org not in found(search(authd, "pharmacie quirinal", uid=me))
    assert authd.ctl("visibility", "medimail", "on", "--login", org, uid=helene).returncode == 0
    # bad values
    assert authd.ctl("visibility", "annuaire", "off", uid=owner).json["fields"]["field"] == "directory"
    assert authd.ctl("visibility", "medimail", "maybe", uid=owner).json["fields"]["field"] == "visible"


# ------------------------------------------------------------ favourites

def test_favorites(authd, slapd, people):
    me = uid_number(slapd, people["med"])
    assert authd.ctl("favorite", "list", uid=me).json["fields"]["count"] == "0"
    assert authd.ctl("favorite", "add", people["helene"], uid=me).returncode == 0
    assert authd.ctl("favorite", "add", people["int"], uid=me).returncode == 0
    assert authd.ctl("favorite", "add", people["int"], uid=me).returncode == 0   # twice: no error
    r = authd.ctl("favorite", "add", people["hidden"], uid=me)
    assert r.returncode == 1 and r.json["status"] == -2                         # not in the view
    assert authd.ctl("favorite", "add", "*", uid=me).returncode == 1
    r = authd.ctl("favorite", "list", uid=me)
    assert {x["login"] for x in r.json["records"]} == {people["helene"], people["int"]}
    # favourites are per user
    other = uid_number(slapd, people["helene"])
    assert authd.ctl("favorite", "list", uid=other).json["fields"]["count"] == "0"
    # a contact that hides itself leaves the list, and comes back
    owner = uid_number(slapd, people["int"])
    assert authd.ctl("visibility", "medimail", "off", uid=owner).returncode == 0
    assert {x["login"] for x in authd.ctl("favorite", "list", uid=me).json["records"]} == {people["helene"]}
    assert authd.ctl("visibility", "medimail", "on", uid=owner).returncode == 0
    assert authd.ctl("favorite", "remove", people["int"], uid=me).returncode == 0
    r = authd.ctl("favorite", "remove", people["int"], uid=me)
    assert r.returncode == 1 and r.json["status"] == -2
    assert {x["login"] for x in authd.ctl("favorite", "list", uid=me).json["records"]} == {people["helene"]}
    # stored on the user's entry, written by the daemon only
    [e] = slapd.search(SUFFIX, f"(uid={people['med']})", "mmFavorite")
    assert e["mmFavorite"] == [dn(people, "helene")]
    assert authd.ctl("favorite", "list", uid=NOBODY).returncode == 1


# ------------------------------------------------------------ export

FINESS_TYPES = {"1"}


def test_export_national_format(authd, slapd, people, tmp_path):
    # The ORG is exported once validated and published: test_mssante_view_for_the_national_operator
    # does both; run without that test, this one does.
    if status_of(slapd, people["org"]) == "pending-validation":
        v = authd.ctl("validate", people["org"])
        assert v.returncode == 0, v.stdout
    assert status_of(slapd, people["org"]) == "active"
    if "mmMssPending" in slapd.search(SUFFIX, f"(uid={people['org']})", "mmMssPending")[0]:
        assert authd.ctl("publish", people["org"]).returncode == 0
    out = tmp_path / "export.txt"
    r = authd.ctl("export", "--output", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = out.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""
    header, rows = lines[0].split("|"), [x.split("|") for x in lines[1:-1]]
    assert len(header) == 31 and header[0] == "Type de BAL" and header[30] == "Pays"
    assert header[28] == "Code postal" and header[13] == "Code Profession"
    assert int(r.json["fields"]["count"]) == len(rows)
    # exactly the MSSanté view, as slapd shows it to the national operator
    view = ldapsearch(slapd, operator(slapd), SUFFIX, "(objectClass=mmAccount)", "mmMssAddress")
    assert sorted(x[1] for x in rows) == sorted(e["mmMssAddress"][0] for e in view)
    by_addr = {x[1]: x for x in rows}
    for row in rows:
        assert len(row) == 31, row
        assert row[0] in ("PER", "ORG")
        assert "@" in row[1]
        if row[2] == "8":
            assert len(row[3]) == 11 and luhn_ok(row[3]) and row[4] == "8" + row[3]
        if row[5] == "1":
            finess = row[6][1:]
            assert len(finess) == 9 and luhn_ok(finess.replace("2A", "20").replace("2B", "20"))
        assert row[17] in ("O", "N")
    [h] = slapd.search(SUFFIX, f"(uid={people['helene']})", "mmMssAddress", "mmRpps")
    row = by_addr[h["mmMssAddress"][0]]
    assert row[:5] == ["PER", h["mmMssAddress"][0], "8", h["mmRpps"][0], "8" + h["mmRpps"][0]]
    assert row[9] == "QUÉRUBIN" and row[10] == "Hélène" and row[13] == "10" and row[14] == "Médecin"
    assert row[22] == "14" and row[25] == "avenue Émile Zola"
    assert row[27] == "34500 BEZIERS" and row[28] == "34500" and row[29] == "34"
    # never a MED, never a hidden one, never a login e-mail
    text = out.read_text(encoding="utf-8")
    # (by their own addresses and numbers: other modules on the same directory register an Octave)
    assert "melodie.quirinal" not in text and "octave.quirinal" not in text.lower()
    hidden = slapd.search(SUFFIX, f"(uid={people['hidden']})", "mmMssAddress", "mmRpps")[0]
    for v in hidden.get("mmMssAddress", []) + hidden.get("mmRpps", []):
        assert v not in text, v
    assert "@example.org" not in text
    org = next(x for x in rows if x[1].startswith("pharmacie.quirinal."))
    assert org[0] == "ORG" and org[2:5] == ["", "", ""] and org[5:7] == ["1", "1810000034"]


def test_export_is_for_administrators(authd, slapd, people):
    r = authd.ctl("export", uid=uid_number(slapd, people["helene"]))
    assert r.returncode == 1
    r = authd.ctl("export", uid=NOBODY)
    assert r.returncode == 1
