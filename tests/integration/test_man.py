"""Manual pages: they render without a groff warning and stay accurate to the
code (every configuration key of config.c, every medimailctl command)."""
import os
import re
import subprocess

import pytest

from mmstack import TOP

MAN = TOP / "man"
PAGES = ["medimail-authd.8", "medimailctl.1", "pam_medimail.8", "nss_medimail.8", "medimail-authd.conf.5"]


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_without_warnings(page):
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80")
    r = subprocess.run(["man", "--warnings", "-l", str(MAN / page)], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    name = page.rsplit(".", 1)[0]
    assert re.search(rf"^NAME\s*\n\s+{re.escape(name)} ", r.stdout, re.M), r.stdout[:300]
    g = subprocess.run(["groff", "-man", "-ww", "-z", str(MAN / page)], capture_output=True, text=True, env=env)
    assert g.returncode == 0 and g.stderr == "", g.stderr


def _rendered(page):
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="200", MAN_KEEP_FORMATTING="")
    r = subprocess.run(["man", "-l", str(MAN / page)], capture_output=True, text=True, env=env, check=True)
    return re.sub(r".\x08", "", r.stdout)


def _terms(page):
    """Words that start an indented term line of the rendered page (.TP tags)."""
    terms = set()
    for line in _rendered(page).splitlines():
        m = re.match(r"^ {7}(\S.*)$", line)
        if m:
            terms.update(t.strip() for t in re.split(r",\s*|\s+", m.group(1)) if t.strip())
    return terms


def test_conf_page_documents_every_option():
    src = (TOP / "authd/core/config.c").read_text()
    keys = set(re.findall(r'O\("([a-z0-9_]+)"', src))
    keys |= set(re.findall(r'strcmp\(key, "([a-z_]+)"\)', src))
    assert {"ldap_uri", "hash_key_file", "admin_group", "regions_open"} <= keys
    terms = _terms("medimail-authd.conf.5")
    assert keys - terms == set()
    assert "domain.profession" in terms


def test_ctl_page_documents_every_command():
    src = (TOP / "ctl/medimailctl.c").read_text()
    # the first word of every row of the command table
    cmds = set(re.findall(r'\.name = "([a-z-]+)', src))
    assert {"register", "validate", "org", "ping"} <= cmds
    assert cmds - _terms("medimailctl.1") == set()


def test_daemon_page_lists_every_option():
    build = os.environ.get("MM_BUILD", str(TOP / "build"))
    usage = subprocess.run([build + "/authd/medimail-authd", "-h"], capture_output=True, text=True).stdout
    longs = set(re.findall(r"--([a-z]+)", usage))
    assert longs >= {"config", "foreground", "test"}
    terms = _terms("medimail-authd.8")
    assert {"--" + o for o in longs} - terms == set()


def test_pam_page_documents_every_module_option():
    src = (TOP / "pam_medimail/options.c").read_text()
    opts = set(re.findall(r'!strcmp\(a, "([a-z_=]+)"\)', src))
    opts |= set(re.findall(r'!strncmp\(a, "([a-z_]+=)"', src))
    assert {"debug", "cps", "cps_auto", "ecps", "ecps_timeout=", "lang=en"} <= opts
    text = _rendered("pam_medimail.8")
    terms = _terms("pam_medimail.8")
    for o in opts:
        assert o in terms or (o.endswith("=") and any(t.startswith(o) for t in terms)), o
    assert "Code PIN de la carte CPS :" in text
    example = (TOP / "conf/pam.d-medimail.example").read_text()
    for o in opts:
        assert (o.split("=")[0] + "=" if "=" in o else o) in example, o


def test_ctl_page_lists_every_registration_field():
    """medimailctl register passes each --field to the daemon: the page names
    every field of the catalogue's registration (CAT_REGISTER) and the
    parameters, the form's boxes included (issue 14, item 6)."""
    src = (TOP / "authd/core/catalog.c").read_text()
    rows = re.findall(r'\{"([a-z_0-9]+)", "[A-Za-z]+", CAT_\w+, \d+, "[^"]*",\s*([^,}]*)', src)
    fields = {k for k, where in rows if re.search(r"\bREG\b", where)}
    params = set(re.findall(r'\{"([a-z_]+)", offsetof\(struct account_registration',
                            (TOP / "authd/account/register.c").read_text()))
    assert {"visible_medimail", "visible_mssante", "dematerialisation", "region", "rpps"} <= fields
    assert {"type", "org_name", "member", "password"} <= params
    # The type is the first argument, the passwords are read from the terminal or stdin; the
    # member's transaction and code (issue 14, item 1) come from its proof step, never argv.
    fields |= params - {"type", "password", "password_confirm", "member_txn", "member_code"}
    text = _rendered("medimailctl.1")
    entry = text[text.index("register PER|INT|MED|ORG"):text.index("confirm [--token-stdin]")]
    entry = re.sub(r"\s+", " ", entry)
    missing = {f for f in fields if "--" + f.replace("_", "-") not in re.findall(r"--[a-z0-9-]+", entry)}
    assert missing == set()
    usage = (TOP / "ctl/medimailctl.c").read_text()
    block = usage[usage.index('.name = "register"'):usage.index('.name = "confirm"')]
    assert {f for f in fields if "--" + f.replace("_", "-") not in block} == set()
