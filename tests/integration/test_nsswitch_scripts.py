"""libnss-medimail's maintainer scripts on copies of nsswitch.conf (DPKG_ROOT):
add then remove gives the file back byte for byte, both are idempotent, and
comments, order and the other sources are kept."""
import os
import subprocess

import pytest

from mmstack import TOP

POSTINST = TOP / "debian/libnss-medimail.postinst"
PRERM = TOP / "debian/libnss-medimail.prerm"

DEBIAN_DEFAULT = """\
# /etc/nsswitch.conf
#
# Example configuration of GNU Name Service Switch functionality.

passwd:         files systemd
group:          files systemd
shadow:         files
gshadow:        files

hosts:          files dns
networks:       files

protocols:      db files
services:       db files
ethers:         db files
rpc:            db files

netgroup:       nis
"""

TRICKY = """\
passwd: compat   # keep this comment
group:\tfiles [NOTFOUND=return] sss
#passwd: files medimail-old
shadow: files
passwd_extra: files
hosts: files medimail dns
"""


def run(script, root, *args):
    env = dict(os.environ, DPKG_ROOT=str(root))
    return subprocess.run(["sh", str(script), *args], env=env, capture_output=True, text=True, check=True)


def make_root(tmp_path, text):
    (tmp_path / "etc").mkdir()
    conf = tmp_path / "etc/nsswitch.conf"
    conf.write_text(text)
    return conf


@pytest.mark.parametrize("text", [DEBIAN_DEFAULT, TRICKY], ids=["debian-default", "tricky"])
def test_add_then_remove_is_identity(tmp_path, text):
    conf = make_root(tmp_path, text)
    before = conf.read_bytes()
    run(POSTINST, tmp_path, "configure", "")
    added = conf.read_text()
    assert added != text
    run(PRERM, tmp_path, "remove")
    assert conf.read_bytes() == before


def test_add_touches_only_passwd_and_group(tmp_path):
    conf = make_root(tmp_path, TRICKY)
    run(POSTINST, tmp_path, "configure", "")
    got = conf.read_text().splitlines()
    want = TRICKY.splitlines()
    assert got[0] == "passwd: compat medimail   # keep this comment"
    assert got[1] == "group:\tfiles [NOTFOUND=return] sss medimail"
    assert got[2:] == want[2:]          # comment line, shadow, lookalike key, hosts untouched


def test_debian_default_lines(tmp_path):
    conf = make_root(tmp_path, DEBIAN_DEFAULT)
    run(POSTINST, tmp_path, "configure", "")
    lines = conf.read_text().splitlines()
    assert "passwd:         files systemd medimail" in lines
    assert "group:          files systemd medimail" in lines
    assert "shadow:         files" in lines


def test_idempotent(tmp_path):
    conf = make_root(tmp_path, DEBIAN_DEFAULT)
    run(POSTINST, tmp_path, "configure", "")
    once = conf.read_bytes()
    # a reconfigure of an installed package ($2 set) and a repeated first run
    run(POSTINST, tmp_path, "configure", "0.1.0")
    run(POSTINST, tmp_path, "configure", "")
    assert conf.read_bytes() == once
    assert conf.read_text().count("medimail") == 2
    run(PRERM, tmp_path, "remove")
    removed = conf.read_bytes()
    run(PRERM, tmp_path, "remove")
    assert conf.read_bytes() == removed == DEBIAN_DEFAULT.encode()


def test_admin_placement_kept_and_removed(tmp_path):
    # An administrator moved medimail before systemd: postinst leaves it, prerm takes it out.
    text = "passwd: files medimail systemd\ngroup: files medimail\n"
    conf = make_root(tmp_path, text)
    run(POSTINST, tmp_path, "configure", "")
    assert conf.read_text() == text
    run(PRERM, tmp_path, "remove")
    assert conf.read_text() == "passwd: files systemd\ngroup: files\n"


def test_upgrade_and_missing_file(tmp_path):
    conf = make_root(tmp_path, DEBIAN_DEFAULT)
    run(PRERM, tmp_path, "upgrade", "0.1.1")        # upgrade keeps the entry
    run(POSTINST, tmp_path, "configure", "")
    with_entry = conf.read_bytes()
    run(PRERM, tmp_path, "upgrade", "0.1.1")
    assert conf.read_bytes() == with_entry
    conf.unlink()
    r = run(POSTINST, tmp_path, "configure", "")  # no file: a message, no failure, nothing created
    assert "not found" in r.stderr and not conf.exists()
    run(PRERM, tmp_path, "remove")
    assert not conf.exists()
