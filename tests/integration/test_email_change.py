"""Guide 003, "Identifiants de connexion": the login e-mail changes only through a
single-use link mailed to the new address; the old address is told; no two
accounts share one; every refusal changes nothing."""
import concurrent.futures
import subprocess

from mmstack import SUFFIX, ctl_ok as ok, ctl_refused as refused, med_fields, org_fields

PW = "Adresse#2026"
LINK = r"compte/confirmer-email\?jeton=([0-9a-f]{64})"


def entry(slapd, login):
    found = slapd.search(SUFFIX, f"(uid={login})", "*")
    assert len(found) == 1, found
    return found[0]


def make_med(authd, smtp, mail, sn):
    login = ok(authd.ctl("register", "MED", "--password-stdin", *med_fields(mail, sn, "Anne"), input=PW + "\n"))["login"]
    ok(authd.ctl("confirm", "--token-stdin", input=smtp.token(mail) + "\n"))
    v = ok(authd.ctl("validate", login))
    return {"login": login, "mail": mail, "uid": int(v["uid_number"])}


def request(authd, smtp, who, new):
    """Asks for the change as the account's owner; returns the mailed token."""
    n = len(smtp.messages(new))
    r = ok(authd.ctl("email", "change", new, uid=who["uid"]))
    assert r["pending"] == new and r["login_mail"] == who["mail"]
    return smtp.wait_message(new, LINK, count_before=n).group(1)


def confirm(authd, token, uid=65534):
    return authd.ctl("email", "confirm", "--token-stdin", input=token + "\n", uid=uid)


def drop_last_request(slapd, who):
    """Forgets the account's last request (as a minute passing would for the rate limit)."""
    dn = f"uid={who['login']},ou=people,{SUFFIX}"
    for e in slapd.search(f"ou=sessions,{SUFFIX}", f"(&(description=email-change-last)(mmSessionAccount={dn}))",
                          "1.1", scope="one"):
        subprocess.run(["ldapdelete", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url, e["dn"]], check=True,
                       capture_output=True)


def test_l_adresse_de_connexion_change_par_un_lien_confirme(authd, smtp, slapd):
    """Guide 003: "L’adresse Medimail est l’adresse de connexion à votre compte Medimail. C’est
    votre identifiant." Changing it mails a link to the new address; nothing changes until the
    link's token is submitted (POSTed by its page, never by opening it); the old address is told;
    the link serves once; the account is then found by its new address only."""
    me = make_med(authd, smtp, "anne.avant@example.org", "ADRESSE")
    new = "anne.apres@example.org"
    token = request(authd, smtp, me, new)
    m = smtp.messages(new)[-1]
    sender, text, html = smtp.parts(m)
    assert sender == "cerbere@mipih.fr"
    assert f"https://medimail.localhost/compte/confirmer-email?jeton={token}" in text
    assert "L'adresse Medimail est l'adresse de connexion à votre compte Medimail" in text
    e = entry(slapd, me["login"])
    assert e["mmLoginMail"] == [me["mail"]]  # not yet
    assert token not in str(slapd.search(f"ou=sessions,{SUFFIX}", "(objectClass=*)", "*", scope="one"))
    n_old = len(smtp.messages(me["mail"]))
    r = ok(confirm(authd, token))
    assert r["login"] == me["login"] and r["login_mail"] == new
    e = entry(slapd, me["login"])
    assert e["mmLoginMail"] == [new] and e["mail"] == [new]
    notice = smtp.wait_message(me["mail"], "a été changée", count_before=n_old)
    assert notice
    assert new in smtp.body(smtp.messages(me["mail"])[-1])
    # single use
    again = confirm(authd, token)
    assert again.returncode == 1 and again.json["status"] == -2, again.stdout
    # the account answers to its new address, no longer to the old one
    assert ok(authd.ctl("show", new))["login"] == me["login"]
    assert authd.ctl("show", me["mail"]).returncode == 1
    log = authd.log_text()
    assert 'audit="email-confirm"' in log and token not in log


def test_la_nouvelle_adresse_deja_prise_est_refusee(authd, smtp, slapd):
    """The login mail is unique across accounts: refused at the request, and again at the
    confirmation when another account took it in between."""
    a = make_med(authd, smtp, "paul.un@example.org", "UNIQUEA")
    b = make_med(authd, smtp, "pierre.deux@example.org", "UNIQUEB")
    r = refused(authd.ctl("email", "change", b["mail"], uid=a["uid"]), "login_mail", "duplicate", status=-17)
    assert "existe déjà" in r["message"]
    # the same address in another case is the same address
    refused(authd.ctl("email", "change", b["mail"].upper(), uid=a["uid"]), "login_mail", "duplicate", status=-17)
    refused(authd.ctl("email", "change", a["mail"], uid=a["uid"]), "login_mail", "same")
    # both ask for the same free address; the first to confirm has it
    free = "commune.libre@example.org"
    ta = request(authd, smtp, a, free)
    n = len(smtp.messages(free))
    ok(authd.ctl("email", "change", free, uid=b["uid"]))
    tb = smtp.wait_message(free, LINK, count_before=n).group(1)
    ok(confirm(authd, tb))
    late = confirm(authd, ta)
    refused(late, "login_mail", "duplicate", status=-17)
    assert entry(slapd, a["login"])["mmLoginMail"] == [a["mail"]]
    assert entry(slapd, b["login"])["mmLoginMail"] == [free]


def test_deux_confirmations_simultanees(authd, smtp, slapd):
    """One link confirmed by many at once: exactly one changes the address."""
    me = make_med(authd, smtp, "lucie.course@example.org", "COURSE")
    new = "lucie.arrivee@example.org"
    token = request(authd, smtp, me, new)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: confirm(authd, token), range(8)))
    assert sorted(r.returncode for r in results) == [0] + [1] * 7, [r.stdout for r in results]
    assert entry(slapd, me["login"])["mmLoginMail"] == [new]
    # two accounts racing for one address: one has it (slapd's unique overlay alone would let
    # both through: it searches before it writes)
    x = make_med(authd, smtp, "xavier.course@example.org", "COURSEX")
    y = make_med(authd, smtp, "yann.course@example.org", "COURSEY")
    target = "disputee@example.org"
    tx = request(authd, smtp, x, target)
    n = len(smtp.messages(target))
    ok(authd.ctl("email", "change", target, uid=y["uid"]))
    ty = smtp.wait_message(target, LINK, count_before=n).group(1)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda t: confirm(authd, t), [tx, ty]))
    assert sorted(r.returncode for r in results) == [0, 1], [r.stdout for r in results]
    owners = slapd.search(SUFFIX, f"(mmLoginMail={target})", "uid")
    assert len(owners) == 1


def test_adresse_avec_un_saut_de_ligne_ou_trop_longue(authd, smtp, slapd):
    """A value with a newline (a header injection) or oversized is refused; no mail leaves."""
    me = make_med(authd, smtp, "nina.ligne@example.org", "LIGNE")
    for bad in ("nina.new@example.org\nBcc: victim@example.org", "nina new@example.org",
                "a" * 65 + "@example.org", "n@" + "d" * 250 + ".org", "pas-une-adresse"):
        refused(authd.ctl("email", "change", bad, uid=me["uid"]), "login_mail", "syntax")
    assert smtp.messages("victim@example.org") == []
    assert entry(slapd, me["login"])["mmLoginMail"] == [me["mail"]]
    # spaces around it, as a person pastes it, are dropped as at registration
    n = len(smtp.messages("nina.espace@example.org"))
    r = ok(authd.ctl("email", "change", "  nina.espace@example.org ", uid=me["uid"]))
    assert r["pending"] == "nina.espace@example.org"
    assert smtp.wait_message("nina.espace@example.org", LINK, count_before=n)
    # a malformed token is refused before any look-up
    r = confirm(authd, "zz" * 32)
    refused(r, "token", "syntax")


def test_une_demande_par_minute_et_la_derniere_seule_sert(authd, smtp, slapd):
    """Rate-limited: a second request within the interval is refused with retry_after; a newer
    request voids the link of the earlier one."""
    me = make_med(authd, smtp, "omar.limite@example.org", "LIMITE")
    first = request(authd, smtp, me, "omar.premier@example.org")
    r = authd.ctl("email", "change", "omar.second@example.org", uid=me["uid"])
    assert r.returncode == 1 and r.json["status"] == -11, r.stdout
    assert 0 < int(r.json["fields"]["retry_after"]) <= 60
    assert smtp.messages("omar.second@example.org") == []
    drop_last_request(slapd, me)
    second = request(authd, smtp, me, "omar.second@example.org")
    stale = confirm(authd, first)
    assert stale.returncode == 1 and stale.json["status"] == -116, stale.stdout  # -ESTALE
    assert entry(slapd, me["login"])["mmLoginMail"] == [me["mail"]]
    ok(confirm(authd, second))
    assert entry(slapd, me["login"])["mmLoginMail"] == ["omar.second@example.org"]


def test_le_compte_d_un_autre_est_refuse(authd, smtp, slapd):
    """Another user's account: the access rule refuses it, and nothing is sent."""
    a = make_med(authd, smtp, "rita.moi@example.org", "AUTREA")
    b = make_med(authd, smtp, "sam.lui@example.org", "AUTREB")
    r = authd.ctl("email", "change", "volee@example.org", "--login", b["login"], uid=a["uid"])
    assert r.returncode == 1 and r.json["status"] in (-2, -13), r.stdout
    assert smtp.messages("volee@example.org") == []
    assert entry(slapd, b["login"])["mmLoginMail"] == [b["mail"]]
    # the token is never taken from the command line
    old = authd.ctl("email", "confirm", "0" * 64, uid=65534)
    assert old.returncode == 2 and "--token-stdin" in old.stderr


def test_l_adresse_de_la_boite_organisationnelle_se_visualise(authd, smtp, slapd):
    """Guide 003 (BAL ORG): "Dans cet encart, vous pouvez visualiser l’adresse mail qui est associée
    à votre boite organisationnelle": its connection accounts see it, only an administrator
    changes it (through the same confirmed link)."""
    me = make_med(authd, smtp, "carla.membre@example.org", "MEMBRE")
    org_mail = "officine.adresse@example.org"
    org = ok(authd.ctl("register", "ORG", *org_fields(me["mail"], mail=org_mail, name="Officine Adresse")))["login"]
    ok(authd.ctl("confirm", "--token-stdin", input=smtp.token(org_mail) + "\n"))
    ok(authd.ctl("validate", org))
    assert ok(authd.ctl("profile", "show", "--login", org, uid=me["uid"]))["login_mail"] == org_mail
    r = authd.ctl("email", "change", "officine.nouvelle@example.org", "--login", org, uid=me["uid"])
    refused(r, "login_mail", "admin_only", status=-13)
    assert smtp.messages("officine.nouvelle@example.org") == []
    n = len(smtp.messages("officine.nouvelle@example.org"))
    ok(authd.ctl("email", "change", "officine.nouvelle@example.org", "--login", org))
    token = smtp.wait_message("officine.nouvelle@example.org", LINK, count_before=n).group(1)
    ok(confirm(authd, token))
    e = slapd.search(SUFFIX, f"(uid={org})", "mmLoginMail")[0]
    assert e["mmLoginMail"] == ["officine.nouvelle@example.org"]
