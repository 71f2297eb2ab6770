"""Pro Sante Connect over mutual TLS (issue 14, item 17): every call of the relying party
to the provider (discovery, JWKS, token, userinfo, CIBA) shows a client certificate
when psc_mtls is on. DOMAIN.md: "every RP <-> PSC call needs a client certificate since
June 2024 in the bac a sable, production six months later". The test provider is served
over https and refuses any connection without a certificate of its CA."""
import os
import urllib.error
import urllib.request

import pytest

from apistack import Api, OidcProvider, poll_until
from mmstack import Daemon, _port_open, free_port, wait_for
from test_api import assert_error
from test_psc import Browser, params
from tlspki import Pki


@pytest.fixture(scope="module")
def mtls(state, slapd, smtp, api):
    pki = Pki(state, "psc-mtls")
    srv_cert, srv_key = pki.issue("provider", server=True)
    rp_cert, rp_key = pki.issue("medimail-rp")
    browser_cert, browser_key = pki.issue("browser")
    other = Pki(state, "other-ca")
    stranger_cert, stranger_key = other.issue("stranger")
    port, port_off, port_bad = free_port(), free_port(), free_port()
    redirects = [f"http://127.0.0.1:{p}/v1/psc/callback" for p in (port, port_off, port_bad)]
    accounts = {"psc-sub-linked": {"national_id": "8" + api.rpps_linked, "given_name": "Paul",
                                   "family_name": "DURAND"}}
    ctx = pki.client_context(browser_cert, browser_key)
    prov = OidcProvider(state, accounts, redirects, name="oidc-mtls",
                        tls={"cert": srv_cert, "key": srv_key, "ca": pki.ca, "client_context": ctx}).start()
    common = f"http_rate = 2000\nhttp_rate_burst = 4000\npsc_tls_ca_file = {pki.ca}\npsc_timeout = 5\n"
    on = Daemon(state, slapd, smtp.port, name="api-mtls",
                extra=f"http_listen = 127.0.0.1:{port}\n{common}{prov.daemon_config(redirects[0])}"
                      f"psc_mtls = yes\npsc_tls_client_cert = {rp_cert}\npsc_tls_client_key = {rp_key}\n").start()
    off = Daemon(state, slapd, smtp.port, name="api-mtls-off",
                 extra=f"http_listen = 127.0.0.1:{port_off}\n{common}{prov.daemon_config(redirects[1])}"
                       f"psc_mtls = no\npsc_tls_client_cert = {rp_cert}\npsc_tls_client_key = {rp_key}\n").start()
    bad = Daemon(state, slapd, smtp.port, name="api-mtls-stranger",
                 extra=f"http_listen = 127.0.0.1:{port_bad}\n{common}{prov.daemon_config(redirects[2])}"
                       f"psc_mtls = yes\npsc_tls_client_cert = {stranger_cert}\n"
                       f"psc_tls_client_key = {stranger_key}\n").start()
    wait_for(lambda: _port_open(port) and _port_open(port_off) and _port_open(port_bad), what="listeners")

    class M:
        pass
    m = M()
    m.pki, m.prov, m.ctx, m.on, m.off, m.bad = pki, prov, ctx, on, off, bad
    m.url, m.url_off, m.url_bad = (f"http://127.0.0.1:{p}" for p in (port, port_off, port_bad))
    m.common, m.rp_cert, m.rp_key, m.api = common, rp_cert, rp_key, api
    yield m
    for d in (on, off, bad):
        d.stop()
    prov.stop()


def test_the_test_provider_requires_a_client_certificate(mtls):
    """The peer is what PSC is said to be: no certificate, no answer."""
    plain = mtls.pki.client_context()
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(mtls.prov.issuer + "/.well-known/openid-configuration", timeout=5,
                               context=plain).read()
    assert urllib.request.urlopen(mtls.prov.issuer + "/.well-known/openid-configuration", timeout=5,
                                  context=mtls.ctx).status == 200


def test_psc_login_over_mutual_tls(mtls):
    """"every RP <-> PSC call needs a client certificate": discovery, JWKS, token and
    userinfo made with psc_tls_client_cert, the login goes through."""
    mtls.prov.control(account="psc-sub-linked", acr="eidas1")
    b = Browser(mtls.url, mtls.ctx)
    cb = b.authorize()
    assert params(cb)["state"]
    r = b.visit(cb)
    assert r.status == 200, (r, mtls.on.log_text()[-2000:])
    assert r.json["method"] == "psc" and r.json["account"] == mtls.api.per
    assert str(mtls.rp_key) not in r.body


def test_ecps_push_over_mutual_tls(mtls):
    """The CIBA backchannel request and the token polls carry the client certificate too."""
    mtls.prov.control(ciba="approve", ciba_ttl=120)
    svc = Api(mtls.url, "webmail", mtls.api.secret)
    r = svc.post("/v1/ecps/start", {"user": mtls.api.per})
    assert r.status == 200, (r, mtls.on.log_text()[-1500:])
    assert mtls.prov.ciba_last()["login_hint"] == "8" + mtls.api.rpps_linked
    done = poll_until(lambda: svc.post("/v1/ecps/poll", {"request_id": r.json["request_id"]}))
    assert done.status == 200 and done.json["status"] == "authenticated", done
    assert done.json["account"] == mtls.api.per


def test_without_the_client_certificate_the_login_fails_with_a_clear_error(mtls):
    """psc_mtls = no against a provider that requires it: refused, and the log says why."""
    r = Api(mtls.url_off).get("/v1/psc/login")
    assert_error(r, 502, "provider_error")
    assert "TLS" in r.json["message"]
    log = mtls.off.log_text()
    assert "it may require a client certificate (psc_mtls" in log, log[-2000:]
    # e-CPS the same: nothing reaches the provider without the certificate
    svc = Api(mtls.url_off, "webmail", mtls.api.secret)
    r = svc.post("/v1/ecps/start", {"user": mtls.api.per})
    assert r.status == 502, r
    # and over the unix socket (PAM, medimailctl ecps): refused, the log says why
    before = mtls.off.log_text().count("e-CPS: https://")
    c = mtls.off.ctl("ecps", mtls.api.per)
    assert c.returncode != 0, c.stdout
    log = mtls.off.log_text()
    assert log.count("e-CPS: https://") == before + 1 and "client certificate (psc_mtls" in log


def test_a_certificate_of_another_ca_is_refused_by_the_provider(mtls):
    r = Api(mtls.url_bad).get("/v1/psc/login")
    assert_error(r, 502, "provider_error")
    assert "is psc_tls_client_cert a certificate it accepts?" in mtls.bad.log_text()


def _start_refused(state, slapd, smtp, name, extra):
    d = Daemon(state, slapd, smtp.port, name=name, extra=extra)
    try:
        with pytest.raises(RuntimeError) as e:
            d.start()
    finally:
        d.stop()
    return str(e.value)


def test_client_key_readable_by_others_is_refused_at_start(state, slapd, smtp, mtls):
    """The TLS client key is root's alone: a world-readable one stops the daemon at start."""
    cert, key = mtls.pki.issue("loose-rp")
    base = (f"{mtls.common}{mtls.prov.daemon_config('http://127.0.0.1:1/v1/psc/callback')}"
            f"psc_mtls = yes\npsc_tls_client_cert = {cert}\npsc_tls_client_key = {key}\n")
    os.chmod(key, 0o644)
    msg = _start_refused(state, slapd, smtp, "mtls-loose", base)
    assert f"psc_tls_client_key {key}" in msg and "group or others may read it" in msg, msg
    os.chmod(key, 0o640)
    assert "group or others may read it" in _start_refused(state, slapd, smtp, "mtls-loose", base)
    # a symlink to a good key is not followed
    os.chmod(key, 0o600)
    link = key.with_suffix(".link")
    link.symlink_to(key)
    msg = _start_refused(state, slapd, smtp, "mtls-link", base.replace(f"= {key}\n", f"= {link}\n"))
    assert f"psc_tls_client_key {link}" in msg, msg
    # a key that is not the certificate's
    _, other_key = mtls.pki.issue("other-rp")
    msg = _start_refused(state, slapd, smtp, "mtls-mismatch", base.replace(f"= {key}\n", f"= {other_key}\n"))
    assert "psc_tls_client_cert/psc_tls_client_key" in msg, msg
    # psc_mtls without a certificate is a configuration error
    msg = _start_refused(state, slapd, smtp, "mtls-nocert",
                         f"{mtls.prov.daemon_config('http://127.0.0.1:1/v1/psc/callback')}psc_mtls = yes\n")
    assert "psc_mtls needs psc_tls_client_cert and psc_tls_client_key" in msg, msg


def test_reload_checks_the_client_key_again(state, slapd, smtp, mtls):
    """A reload (SIGHUP) checks the key as the start does and is refused with a loose
    one; a key that became readable by others since is not shown to the provider."""
    import shutil
    import signal
    import time
    cert, key = mtls.pki.dir / "reload-rp.pem", mtls.pki.dir / "reload-rp.key"
    shutil.copy(mtls.rp_cert, cert)
    shutil.copy(mtls.rp_key, key)
    os.chmod(key, 0o600)
    port = free_port()
    d = Daemon(state, slapd, smtp.port, name="mtls-reload",
               extra=f"http_listen = 127.0.0.1:{port}\n{mtls.common}"
                     f"{mtls.prov.daemon_config(f'http://127.0.0.1:{port}/v1/psc/callback')}"
                     f"psc_mtls = yes\npsc_tls_client_cert = {cert}\npsc_tls_client_key = {key}\n").start()
    try:
        wait_for(lambda: _port_open(port), what="listener")
        svc = Api(f"http://127.0.0.1:{port}", "webmail", mtls.api.secret)
        mtls.prov.control(ciba="approve", ciba_ttl=120)
        assert svc.post("/v1/ecps/start", {"user": mtls.api.per}).status == 200
        os.chmod(key, 0o644)
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in d.log_text(), what="reload refused")
        assert "group or others may read it" in d.log_text()
        r = svc.post("/v1/ecps/start", {"user": mtls.api.per})
        assert r.status == 502, r
        assert f"psc_tls_client_key {key}: no longer a root-only regular file" in d.log_text()
        os.chmod(key, 0o600)
        assert svc.post("/v1/ecps/start", {"user": mtls.api.per}).status == 200
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in d.log_text(), what="reload")
        time.sleep(0.2)
        assert svc.post("/v1/ecps/start", {"user": mtls.api.per}).status == 200
    finally:
        d.stop()
