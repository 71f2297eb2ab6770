"""Fixtures: one private slapd, one SMTP sink and one medimail-authd per test session."""
import os

import pytest

from mmstack import Daemon, Slapd, SmtpSink


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
    s = Slapd(state).start()
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
