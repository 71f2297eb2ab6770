"""Fixtures: one private slapd, one SMTP sink and one medimail-authd per test session."""
import os

import pytest

from mmstack import Daemon, Slapd, SmtpSink, _port_open, free_port, wait_for


# The modules that take longest (browsers, real relying parties, hundreds of PAM clients) go to
# the workers first, so that side by side (make integration, pytest-xdist --dist loadfile) the
# run does not end waiting on one of them started last. The figures printed at the end of a
# run (the modules' times) are how this list is kept true.
SLOW_FIRST = ["test_web_register.py", "test_rp_clients.py", "test_web_login.py", "test_web_compte.py",
              "test_web_gestion.py", "test_access.py", "test_oidc_provider.py", "test_pam_failures.py",
              "test_fault_matrix.py", "test_registration_org.py", "test_mail_clients.py", "test_follow.py",
              "test_load.py", "test_soak.py",
              "test_card.py", "test_lifecycle.py", "test_web_annuaire.py"]


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda it: rank.get(it.path.name, len(rank)))  # stable: file order kept otherwise


def pytest_terminal_summary(terminalreporter):
    per_module = {}
    for reports in terminalreporter.stats.values():
        for r in reports:
            if hasattr(r, "duration") and hasattr(r, "nodeid"):
                name = r.nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
                per_module[name] = per_module.get(name, 0.0) + r.duration
    if per_module:
        terminalreporter.write_sep("=", "time per module (setup + call + teardown)")
        for name, secs in sorted(per_module.items(), key=lambda kv: -kv[1])[:20]:
            terminalreporter.write_line(f"{secs:8.1f} s  {name}")


def pytest_configure(config):
    # The stack binds ldapi as local root and runs clients as other users.
    if os.geteuid() != 0:
        raise pytest.UsageError("the integration tests run as root (they start slapd and use setpriv)")


@pytest.fixture(scope="session")
def state(tmp_path_factory):
    d = tmp_path_factory.mktemp("stack")
    # Unprivileged test clients must reach the daemon's socket in here.
    os.chmod(d, 0o755)
    for p in d.parents:
        if str(p).startswith("/tmp/"):
            os.chmod(p, 0o755)
    return d


@pytest.fixture(scope="session")
def slapd(state):
    # These tests read the directory views as bound accounts: user binds on.
    s = Slapd(state, env={"MM_USER_BINDS": "yes"}).start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def smtp(state):
    s = SmtpSink(state).start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def authd(state, slapd, smtp):
    d = Daemon(state, slapd, smtp.port).start()
    yield d
    d.stop()


# --- the HTTP API stack: a PSC-like provider and two daemons on the same slapd ---

@pytest.fixture(scope="session")
def api(state, slapd, smtp, authd):
    from apistack import Api, OidcProvider, luhn_complete, register_active
    from mmstack import per_fields, med_fields

    rpps_linked = luhn_complete("9970000010")
    rpps_unlinked = luhn_complete("9970000020")
    port_a, port_b = free_port(), free_port()
    redirect_a = f"http://127.0.0.1:{port_a}/v1/psc/callback"
    redirect_b = f"http://127.0.0.1:{port_b}/v1/psc/callback"
    accounts = {
        "psc-sub-linked": {"national_id": "8" + rpps_linked, "given_name": "Paul", "family_name": "DURAND"},
        "psc-sub-unlinked": {"national_id": "8" + rpps_unlinked, "given_name": "Anne", "family_name": "LEROY"},
    }
    prov = OidcProvider(state, accounts, [redirect_a, redirect_b]).start()
    common = "http_rate = 2000\nhttp_rate_burst = 4000\nsession_cache_ttl = 1\nservice_cache_ttl = 1\n"
    a = Daemon(state, slapd, smtp.port, name="api-a",
               extra=f"http_listen = 127.0.0.1:{port_a}\n{common}{prov.daemon_config(redirect_a)}").start()
    b = Daemon(state, slapd, smtp.port, name="api-b",
               extra=f"http_listen = 127.0.0.1:{port_b}\n{common}{prov.daemon_config(redirect_b)}").start()
    wait_for(lambda: _port_open(port_a) and _port_open(port_b), what="http listeners")
    per = register_active(a, smtp, "PER", per_fields("paul.durand@example.org", "DURAND", "Paul", rpps_linked),
                          "paul.durand@example.org")
    med = register_active(a, smtp, "MED", med_fields("sam.noid@example.org", "NOID", "Sam"), "sam.noid@example.org")
    r = a.ctl("service", "add", "webmail")
    assert r.returncode == 0, r.stdout
    secret = r.json["fields"]["secret"]

    class Stack:
        pass
    s = Stack()
    s.provider, s.a, s.b = prov, a, b
    s.url_a, s.url_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    s.svc_a = Api(s.url_a, "webmail", secret)
    s.svc_b = Api(s.url_b, "webmail", secret)
    s.secret = secret
    s.per, s.med = per, med
    s.rpps_linked, s.rpps_unlinked = rpps_linked, rpps_unlinked
    yield s
    a.stop()
    b.stop()
    prov.stop()
