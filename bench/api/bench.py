"""Drives the API benchmark: a private slapd, mail sink, PSC-like provider and one
daemon; a real session token obtained by e-CPS; wrk on /v1/introspect; the peers'
ldap-bench doing raw simple binds on the same slapd. Prints one JSON summary."""
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    st = Path(tempfile.mkdtemp(prefix="mm-bench-"))
    os.chmod(st, 0o755)
    slapd = Slapd(st).start()
    smtp = SmtpSink(st).start()
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/v1/psc/callback"
    rpps = luhn_complete("9970000030")
    prov = OidcProvider(st, {"sub-1": {"national_id": "8" + rpps, "given_name": "Jean", "family_name": "BENCH"}},
                        [redirect]).start()
    d = Daemon(st, slapd, smtp.port, name="bench",
               extra=f"http_listen = 127.0.0.1:{port}\nhttp_threads = 2\nhttp_rate = 10000000\n"
                     f"http_rate_burst = 10000000\nsession_cache_ttl = 5\nlog_level = notice\n"
                     + prov.daemon_config(redirect))
    d.start()
    # the same, trusting nothing from memory: every introspection reads the directory
    port0 = free_port()
    d0 = Daemon(st, slapd, smtp.port, name="bench-nocache",
                extra=f"http_listen = 127.0.0.1:{port0}\nhttp_threads = 2\nhttp_rate = 10000000\n"
                      f"http_rate_burst = 10000000\nsession_cache_ttl = 0\nlog_level = notice\n"
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
        # the raw directory: simple binds as the same account, on the same slapd
        lb = TOP / "bench" / "out" / "ldap-bench"
        if lb.exists():
            users = st / "users.txt"
            users.write_text(login + "\n")
            lcmd = [str(lb), "-H", slapd.ldap_url, "-b", SUFFIX, "-u", str(users), "-P", PW, "-m", "bind",
                    "-n", "4000", "-j", "2", "-l", "slapd"]
            lr = subprocess.run(lcmd, capture_output=True, text=True)
            out["slapd_bind"] = {"command": " ".join(lcmd), "output": lr.stdout.strip() + lr.stderr.strip()}
    finally:
        d0.stop()
        d.stop()
        prov.stop()
        smtp.stop()
        slapd.stop()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
