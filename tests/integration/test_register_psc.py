"""Guide 000, "Inscription simplifiée par Pro Santé Connect": "Suivre la procédure indiquée
sur le site (certaines informations personnelles seront déjà préremplies)". A PSC login of
an unmapped identity offers a single-use handle; the form is filled from the identity's
claims (names, RPPS, profession, the site of SubjectRefPro), the RPPS is the identity's,
and the identity is linked to the new account at once. Through the real test provider."""
import pytest

from apistack import Api, OidcProvider
from mmstack import SUFFIX, Daemon, _port_open, free_port, luhn_complete, wait_for
from test_psc import Browser

PW = "Inscrit#Psc2026"
FINESS = "310000120"


def ref_pro(code, site, street_no, street, postcode, city):
    return {"codeCivilite": "M", "exercices": [{
        "codeProfession": code, "codeCategorieProfessionnelle": "C", "nomDexercice": "", "prenomDexercice": "",
        "activities": [{"codeModeExercice": "L", "raisonSocialeSite": site, "numeroVoie": street_no,
                        "indiceRepetitionVoie": "", "codeTypeDeVoie": "R", "libelleVoie": street,
                        "codePostal": postcode, "bureauCedex": f"{postcode} {city}", "numeroFinessSite": FINESS,
                        "numeroSiretSite": ""}]}]}


@pytest.fixture(scope="module")
def stack(state, slapd, smtp, authd):
    ids = {"marie": luhn_complete("9970000310"), "jules": luhn_complete("9970000320"),
           "ada": luhn_complete("9970000330")}
    accounts = {
        "psc-reg-marie": {"national_id": "8" + ids["marie"], "given_name": "Marie", "family_name": "CURIE",
                          "ref_pro": ref_pro("21", "PHARMACIE DU PONT", "3", "DU PONT NEUF", "31000", "TOULOUSE")},
        "psc-reg-jules": {"national_id": "8" + ids["jules"], "given_name": "Jules", "family_name": "VERNE",
                          "ref_pro": ref_pro("10", "CABINET VERNE", "12", "DES LILAS", "34000", "MONTPELLIER")},
        "psc-reg-ada": {"national_id": "8" + ids["ada"], "given_name": "Ada", "family_name": "LOVELACE",
                        "ref_pro": ref_pro("21", "PHARMACIE ADA", "1", "DE LA PAIX", "81000", "ALBI")},
        "psc-reg-norpps": {"national_id": "ANS20261202", "given_name": "Test", "family_name": "SANSRPPS"},
    }
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/v1/psc/callback"
    prov = OidcProvider(state, accounts, [redirect], name="oidc-reg").start()
    d = Daemon(state, slapd, smtp.port, name="psc-reg",
               extra=f"http_listen = 127.0.0.1:{port}\nhttp_rate = 2000\nhttp_rate_burst = 4000\n"
                     f"{prov.daemon_config(redirect)}").start()
    wait_for(lambda: _port_open(port), what="http listener")
    r = d.ctl("service", "add", "inscription")
    assert r.returncode == 0, r.stdout

    class S:
        pass
    s = S()
    s.provider, s.d, s.url, s.rpps = prov, d, f"http://127.0.0.1:{port}", ids
    s.svc = Api(s.url, "inscription", r.json["fields"]["secret"])
    yield s
    d.stop()
    prov.stop()


def offer(s, who):
    """A PSC login of an unmapped identity: its link_required answer and handle."""
    s.provider.control(account=who, acr="eidas1")
    b = Browser(s.url)
    r = b.visit(b.authorize())
    assert r.status == 403 and r.json["error"] == "link_required", r
    assert r.json["register"] == "/v1/psc/register"
    return r.json["link"]


def form(link, mail, **extra):
    body = {"link": link, "login_mail": mail, "password": PW, "password_confirm": PW, "region": "Occitanie"}
    body.update(extra)
    return body


def test_inscription_simplifiee_preremplie_et_liee(stack, slapd, smtp):
    """"certaines informations personnelles seront déjà préremplies": names, RPPS, profession
    and the site from SubjectRefPro; the account is a PER with the identity's RPPS, and the
    identity is linked at once, so the next PSC login opens the account."""
    s = stack
    link = offer(s, "psc-reg-marie")
    p = s.svc.post("/v1/psc/register/prefill", {"link": link})
    assert p.status == 200, p
    j = p.json
    assert j["rpps"] == s.rpps["marie"] and j["national_id"] == "8" + s.rpps["marie"]
    assert (j["sn"], j["given_name"], j["profession"]) == ("CURIE", "Marie", "21")
    assert j["raison_sociale"] == "PHARMACIE DU PONT" and j["street"] == "3 rue DU PONT NEUF"
    assert (j["postal_code"], j["city"], j["struct_type"], j["struct_id"]) == ("31000", "TOULOUSE", "FINESS", FINESS)
    assert set(j["fixed"]) == {"rpps", "sn", "given_name", "profession"}
    # the prefill spends nothing: the same handle registers
    r = s.svc.post("/v1/psc/register", form(link, "marie.curie@example.org", phone="05 61 00 00 09"))
    assert r.status == 201, r
    login = r.json["login"]
    assert r.json["psc_linked"] is True and r.json["status"] == "pending-confirmation"
    e = slapd.search(SUFFIX, f"(uid={login})", "*")[0]
    assert e["mmAccountType"] == ["PER"] and e["mmRpps"] == [s.rpps["marie"]]
    assert e["mmNationalId"] == ["8" + s.rpps["marie"]] and e["mmPscSub"] == ["psc-reg-marie"]
    assert e["sn"] == ["CURIE"] and e["givenName"] == ["Marie"] and e["mmProfessionCode"] == ["21"]
    assert e["o"] == ["PHARMACIE DU PONT"] and e["l"] == ["TOULOUSE"] and e["mmStructId"] == [FINESS]
    assert e["mmStatus"] == ["pending-confirmation"]
    # then as every registration: the e-mail confirmed, the service centre validates
    ok = s.d.ctl("confirm", "--token-stdin", input=smtp.token("marie.curie@example.org") + "\n")
    assert ok.returncode == 0, ok.stdout
    assert s.d.ctl("validate", login).returncode == 0
    assert s.d.ctl("cgu", "accept", login).returncode == 0
    s.provider.control(account="psc-reg-marie", acr="eidas1")
    b = Browser(s.url)
    again = b.visit(b.authorize())
    assert again.status == 200, again
    assert again.json["account"] == login and again.json["method"] == "psc"
    assert 'audit="register-psc"' in s.d.log_text()


def test_un_lien_ne_sert_qu_une_fois(stack, slapd):
    """A handle reused: the second registration is refused and creates nothing."""
    s = stack
    link = offer(s, "psc-reg-jules")
    other = offer(s, "psc-reg-jules")  # a second login before registering: a second handle
    r = s.svc.post("/v1/psc/register", form(link, "jules.verne@example.org"))
    assert r.status == 201, r
    # the other handle of the same identity registers nothing more
    p = s.svc.post("/v1/psc/register/prefill", {"link": other})
    assert p.status == 409 and p.json["error"] == "already_linked", p
    p = s.svc.post("/v1/psc/register", form(other, "jules.ter@example.org"))
    assert p.status == 409 and p.json["error"] == "already_linked", p
    again = s.svc.post("/v1/psc/register", form(link, "jules.bis@example.org"))
    assert again.status == 410 and again.json["error"] == "link_expired", again
    assert s.svc.post("/v1/psc/register/prefill", {"link": link}).status == 410
    assert slapd.search(SUFFIX, "(mmLoginMail=jules.bis@example.org)", "uid") == []
    # the identity is linked now: no new handle is offered for it, its login finds the account
    s.provider.control(account="psc-reg-jules", acr="eidas1")
    b = Browser(s.url)
    r = b.visit(b.authorize())
    assert r.status == 403 and r.json["error"] == "not_permitted", r  # pending confirmation


def test_identite_sans_rpps(stack):
    """The simplified registration is for professionals identified by their RPPS."""
    s = stack
    link = offer(s, "psc-reg-norpps")
    r = s.svc.post("/v1/psc/register/prefill", {"link": link})
    assert r.status == 403 and r.json["reason"] == "no_rpps", r
    r = s.svc.post("/v1/psc/register", form(link, "sans.rpps@example.org", sn="SANSRPPS", given_name="Test"))
    assert r.status == 403 and r.json["reason"] == "no_rpps", r


def test_les_revendications_priment_sur_le_formulaire(stack, slapd, smtp):
    """Claims overridden by the form: the RPPS (and the names, the profession) must be the
    identity's; another identity's RPPS with this handle is refused; a refusal spends nothing."""
    s = stack
    ident, rpps = "psc-reg-ada", s.rpps["ada"]
    link = offer(s, ident)
    mail = "ada.lovelace@example.org"
    for extra, field in (({"rpps": s.rpps["jules"]}, "rpps"),   # another identity's RPPS
                         ({"rpps": luhn_complete("9970000340")}, "rpps"),
                         ({"sn": "AUTRE"}, "sn"), ({"given_name": "Eve"}, "given_name"),
                         ({"profession": "10"}, "profession"), ({"type": "MED"}, "type"),
                         ({"adeli": "123456789"}, "adeli")):
        r = s.svc.post("/v1/psc/register", form(link, mail, **extra))
        assert r.status == 400 and r.json["field"] == field and r.json["rule"] == "psc_claim", (extra, r)
    # a newline in the address, an oversized one
    r = s.svc.post("/v1/psc/register", form(link, "ada@example.org\nBcc: x@example.org"))
    assert r.status == 400 and r.json["field"] == "login_mail", r
    r = s.svc.post("/v1/psc/register", form(link, "a" * 2000 + "@example.org"))
    assert r.status == 400, r
    # the address of another account
    r = s.svc.post("/v1/psc/register", form(link, "jules.verne@example.org"))
    assert r.status == 409 and r.json["field"] == "login_mail", r
    assert slapd.search(SUFFIX, f"(mmRpps={rpps})", "uid") == []
    # the RPPS as printed, with spaces, is the identity's: accepted
    spaced = " ".join([rpps[:3], rpps[3:6], rpps[6:9], rpps[9:]])
    r = s.svc.post("/v1/psc/register", form(link, mail, rpps=spaced, sn="Lovelace"))
    assert r.status == 201, r
    e = slapd.search(SUFFIX, f"(uid={r.json['login']})", "*")[0]
    assert e["mmRpps"] == [rpps] and e["mmPscSub"] == [ident]


def test_lien_malforme_ou_sans_service(stack):
    s = stack
    r = s.svc.post("/v1/psc/register/prefill", {"link": "zz" * 32})
    assert r.status == 400 and r.json["field"] == "link", r
    r = s.svc.post("/v1/psc/register", {"link": "0" * 64, "unknown_field": "x"})
    assert r.status == 400 and r.json["error"] == "unknown_field", r
    r = Api(s.url).post("/v1/psc/register/prefill", {"link": "0" * 64})
    assert r.status == 401, r
    r = s.svc.post("/v1/psc/register", form("0" * 64, "personne@example.org"))
    assert r.status == 410, r
