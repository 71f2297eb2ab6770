"""The short soak of issue 18 in CI (bench/soak/soak.py, 45 s at 8 operations/s): two providers,
two daemons, the mix of flows (password+code logins, introspection, NSS lookups, directory
searches, settings writes, registrations). The daemons run from the AddressSanitizer build
(Makefile asan target: build-asan, ASan + UBSan, LeakSanitizer at exit) when it is there, the
clients from MM_BUILD. Zero errors, zero writes lost, and no sanitizer report in the daemons' logs
after their clean stop."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from mmstack import BUILD, TOP

ASAN = Path(os.environ.get("MM_ASAN_BUILD", TOP / "build-asan"))


def test_short_soak_zero_errors_zero_lost_no_sanitizer_report(tmp_path):
    daemon_build = ASAN if (ASAN / "authd" / "medimail-authd").exists() else BUILD
    if daemon_build == BUILD:
        print(f"no AddressSanitizer daemon in {ASAN} (make asan): the soak runs on {BUILD}")
    out = tmp_path / "soak.json"
    # A short directory of its own: pytest-xdist's paths (popen-gwN/<test name>) make the
    # providers' ldapi socket paths longer than a unix socket may be (scripts/slapd.sh refuses).
    state = Path(tempfile.mkdtemp(prefix="mms-", dir="/tmp"))
    os.chmod(state, 0o755)
    try:
        r = subprocess.run([sys.executable, str(TOP / "bench/soak/soak.py"), "--seconds", "45", "--rate", "8",
                            "--interval", "15", "--accounts", "8", "--workers", "16", "--affinity", "--build",
                            str(BUILD), "--daemon-build", str(daemon_build), "--state-dir", str(state), "--json",
                            str(out)], capture_output=True, text=True, timeout=170)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    print(r.stdout[-4000:], r.stderr[-4000:])
    s = json.loads(out.read_text())
    assert s["requests"] >= 45 * 8 * 0.9, s["done"]
    assert all(s["done"].get(f, 0) > 0 for f in ("login", "introspect", "nss", "search", "settings")), s["done"]
    assert s["errors"] == {}, s["errors"]
    assert s["writes"]["sessions"] > 0 and s["writes"]["settings"] > 0, s["writes"]
    assert sum(s["lost"].values()) == 0, (s["lost"], s.get("mismatch"))
    if daemon_build == ASAN:
        assert s["asan"] == [], s["asan"][:20]
    # the daemons held their memory and descriptors: no growth from the first row to the last
    first, last = s["rows"][0]["daemons"], s["rows"][-1]["daemons"]
    for a, b in zip(first, last):
        assert b["fds"] <= a["fds"] + 16, (first, last)
    assert r.returncode == 0, r.stdout[-2000:]
