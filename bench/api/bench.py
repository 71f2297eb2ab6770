"""Drives the API benchmark: a private slapd, mail sink, PSC-like provider and one
daemon; a real session token obtained by e-CPS; wrk on /v1/introspect and on the
password step (/v1/login/password) for an account hashed at the test argon2id cost
and one at the default cost; the peers' ldap-bench doing raw simple binds as the
same accounts on the same slapd. Prints one JSON summary."""
import argparse
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TOP / "tests" / "integration"))

from apistack import Api, OidcProvider, PW, luhn_complete, poll_until, register_active  # noqa: E402
from mmstack import Daemon, Slapd, SmtpSink, SUFFIX, _port_open, free_port, per_fields, wait_for  # noqa: E402

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "%s"
wrk.body = '{"token":"%s"}'
done = function(summary, latency, requests)
  io.write(string.format("JSON {\\"requests\\":%%d,\\"seconds\\":%%.3f,\\"errors\\":%%d,\\"non2xx\\":%%d," ..
    "\\"p50_us\\":%%d,\\"p90_us\\":%%d,\\"p99_us\\":%%d,\\"max_us\\":%%d}\\n",
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""

LUA_PASSWORD = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "%s"
wrk.body = '{"user":"%s","password":"%s"}'
""" + LUA[LUA.index("done = function"):]

# libsodium's interactive limits, the daemon's defaults (authd/core/config.c)
DEFAULT_COST = "argon2_opslimit = 2\nargon2_memlimit = 67108864\n"


def run_wrk(a, lua, url, connections):
    cmd = ["wrk", "-t", str(a.threads), "-c", str(connections), "-d", f"{a.seconds}s", "--latency",
           "-s", str(lua), url]
    w = subprocess.run(cmd, capture_output=True, text=True, check=True)
    res = json.loads(re.search(r"^JSON (.*)$", w.stdout, re.M).group(1))
    res["rps"] = round(res["requests"] / res["seconds"], 1)
    res["command"] = " ".join(cmd[:-3]) + f" -s {lua.name} " + cmd[-1]
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--password-connections", type=int, default=8)
    a = ap.parse_args()
    st = Path(tempfile.mkdtemp(prefix="mm-bench-"))
    os.chmod(st, 0o755)
    slapd = Slapd(st, env={"MM_USER_BINDS": "yes"}).start()  # the raw bind comparison binds as accounts
    smtp = SmtpSink(st).start()
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/v1/psc/callback"
    rpps = luhn_complete("9970000030")
    prov = OidcProvider(st, {"sub-1": {"national_id": "8" + rpps, "given_name": "Jean", "family_name": "BENCH"}},
                        [redirect]).start()
    d = Daemon(st, slapd, smtp.port, name="bench",
               extra=f"http_listen = 127.0.0.1:{port}\nhttp_threads = 2\nhttp_rate = 10000000\n"
                     f"http_rate_burst = 10000000\nsession_cache_ttl = 5\nlog_level = notice\n"
                     f"rate_per_source = 0\nrate_per_account = 0\n"
                     # wrk is one source with many connections
                     f"http_max_conn_per_source = 4096\n"
                     + prov.daemon_config(redirect))
    d.start()
    # the same, trusting nothing from memory: every introspection reads the directory
    port0 = free_port()
    d0 = Daemon(st, slapd, smtp.port, name="bench-nocache",
                extra=f"http_listen = 127.0.0.1:{port0}\nhttp_threads = 2\nhttp_rate = 10000000\n"
                      f"http_rate_burst = 10000000\nsession_cache_ttl = 0\nlog_level = notice\n"
                      f"http_max_conn_per_source = 4096\n"
                      + prov.daemon_config(redirect)).start()
    out = {}
    try:
        wait_for(lambda: _port_open(port), what="listener")
        login = register_active(d, smtp, "PER", per_fields("jean.bench@example.org", "BENCH", "Jean", rpps),
                                "jean.bench@example.org")
        secret = d.ctl("service", "add", "bench").json["fields"]["secret"]
        svc = Api(f"http://127.0.0.1:{port}", "bench", secret)
        r = svc.post("/v1/ecps/start", {"user": login})
        done = poll_until(lambda: svc.post("/v1/ecps/poll", {"request_id": r.json["request_id"]}))
        token = done.json["session_token"]
        assert svc.post("/v1/introspect", {"token": token}).json["active"] is True
        auth = "Basic " + base64.b64encode(f"bench:{secret}".encode()).decode()
        lua = st / "introspect.lua"
        lua.write_text(LUA % (auth, token))
        wait_for(lambda: _port_open(port0), what="listener")
        for name, p in (("introspect_cached", port), ("introspect_nocache", port0)):
            cmd = ["wrk", "-t", str(a.threads), "-c", str(a.connections), "-d", f"{a.seconds}s", "--latency",
                   "-s", str(lua), f"http://127.0.0.1:{p}/v1/introspect"]
            w = subprocess.run(cmd, capture_output=True, text=True, check=True)
            res = json.loads(re.search(r"^JSON (.*)$", w.stdout, re.M).group(1))
            res["rps"] = round(res["requests"] / res["seconds"])
            res["command"] = " ".join(cmd[:-3]) + " -s introspect.lua " + cmd[-1]
            out[name] = res
        # a second account whose password was hashed at the default argon2id cost
        dd = Daemon(st, slapd, smtp.port, name="bench-defcost", extra="log_level = notice\n" + DEFAULT_COST).start()
        try:
            rpps2 = luhn_complete("9970000040")
            login2 = register_active(dd, smtp, "PER", per_fields("anne.bench@example.org", "BENCHDEF", "Anne", rpps2),
                                     "anne.bench@example.org")
        finally:
            dd.stop()
        stored = {e["uid"][0]: e["userPassword"][0] for e in
                  slapd.search(SUFFIX, "(|(uid=%s)(uid=%s))" % (login, login2), "uid", "userPassword")}
        out["password_hashes"] = {k: re.sub(r"\$[^$]*\$[^$]*$", "$...", v) for k, v in stored.items()}
        # the password step: argon2id verify, lockout bookkeeping, a transaction stored; the
        # first request mails a code, later ones within the resend interval keep it pending
        for name, user in (("login_password_test_cost", login), ("login_password_default_cost", login2)):
            first = svc.post("/v1/login/password", {"user": user, "password": PW})
            assert first.status == 200 and first.json["code_sent"] is True, first
            lua = st / f"{name}.lua"
            lua.write_text(LUA_PASSWORD % (auth, user, PW))
            out[name] = run_wrk(a, lua, f"http://127.0.0.1:{port}/v1/login/password", a.password_connections)
        # the raw directory: simple binds as the same account, on the same slapd
        lb = TOP / "bench" / "out" / "ldap-bench"
        if lb.exists():
            for name, user, n in (("slapd_bind", login, 4000), ("slapd_bind_default_cost", login2, 400)):
                users = st / f"users-{name}.txt"
                users.write_text(user + "\n")
                lcmd = [str(lb), "-H", slapd.ldap_url, "-b", SUFFIX, "-u", str(users), "-P", PW, "-m", "bind",
                        "-n", str(n), "-j", "2", "-l", "slapd"]
                lr = subprocess.run(lcmd, capture_output=True, text=True)
                out[name] = {"command": " ".join(lcmd), "output": lr.stdout.strip() + lr.stderr.strip()}
    finally:
        d0.stop()
        d.stop()
        prov.stop()
        smtp.stop()
        slapd.stop()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
