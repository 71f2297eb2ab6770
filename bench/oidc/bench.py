"""Drives the provider benchmark: our medimail-authd provider and the node oidc-provider
(tests/oidc/provider.js, the tests' peer) started side by side on this machine, the same
client (confidential, client_secret_basic, PKCE S256), the same wrk and Lua scripts:

- token: POST <token endpoint> grant_type=authorization_code, one pre-minted code per request.
  The codes are minted through the real flow just before each run: GET /oidc/authorize
  with the browser session's cookie (ours: a web session from a real /connexion login,
  password and mailed code, in Chromium; node: its session after one interaction), the
  code read from the 302/303 Location. No bench-only path in either provider.
- introspect: POST <introspection endpoint> token=<one live access token>, HTTP Basic.

Each run also gives the CPU seconds the provider's processes used (ours: the daemon and
slapd; node: its one process), and with --perf the daemon's top symbols (perf record).

Prints one JSON summary (rps of 2xx answers, p50/p99, the command of each run)."""
import argparse
import base64
import hashlib
import http.client
import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TOP / "tests" / "integration"))

from apistack import OidcProvider  # noqa: E402
from mmstack import Slapd, SmtpSink, ctl_ok  # noqa: E402
from webstack import WebStack  # noqa: E402

DONE = r"""
done = function(summary, latency, requests)
  io.write(string.format("JSON {\"requests\":%d,\"seconds\":%.3f,\"errors\":%d,\"non2xx\":%d," ..
    "\"p50_us\":%d,\"p90_us\":%d,\"p99_us\":%d,\"max_us\":%d}\n",
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""

# Each wrk thread reads its own file of codes and sends each once; once they are spent it
# sends "spent" (answered 400, counted in non2xx): the codes minted must outlast the run.
LUA_TOKEN = r"""
local codes, idx = {}, 0
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
function init(args)
  for line in io.lines(CODES .. tid .. ".txt") do codes[#codes + 1] = line end
end
request = function()
  idx = idx + 1
  local c = codes[idx] or "spent"
  return wrk.format("POST", PATH, {["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = AUTH}, "grant_type=authorization_code&redirect_uri=" .. REDIRECT ..
    "&code_verifier=" .. VERIFIER .. "&code=" .. c)
end
local shown = false
response = function(status, headers, body)
  if status ~= 200 and not shown and idx <= #codes then
    shown = true
    io.write("FIRSTERR " .. status .. " " .. body:sub(1, 200) .. "\n")
  end
end
""" + DONE

LUA_INTROSPECT = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = AUTH
wrk.body = "token=" .. TOKEN
""" + DONE


def basic(cid, secret):
    return "Basic " + base64.b64encode(f"{urllib.parse.quote(cid)}:{urllib.parse.quote(secret)}".encode()).decode()


def slapd_pid(st):
    return int(next(st.rglob("slapd.pid")).read_text().split()[0])


def lua_vars(**kw):
    return "".join(f"{k} = {json.dumps(v)}\n" for k, v in kw.items())


class Side:
    """One provider under test: base URL, client, redirect URI, a Cookie header for authorize."""

    def __init__(self, name, base, client, redirect, cookie):
        self.name, self.base, self.client, self.redirect, self.cookie = name, base, client, redirect, cookie

    def mint(self, n, challenge, workers=4):
        """n codes through GET /oidc/authorize (the real flow), a persistent connection per worker."""
        u = urllib.parse.urlsplit(self.base)
        path = urllib.parse.urlsplit(self.authz).path
        local = threading.local()

        def one(i):
            if not hasattr(local, "c"):
                local.c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            q = urllib.parse.urlencode({"client_id": self.client[0], "response_type": "code",
                                        "scope": "openid email", "redirect_uri": self.redirect,
                                        "code_challenge": challenge, "code_challenge_method": "S256",
                                        "state": f"s{i}", "nonce": f"n{i}"})
            local.c.request("GET", f"{path}?{q}", headers={"Cookie": self.cookie})
            r = local.c.getresponse()
            r.read()
            loc = r.getheader("Location") or ""
            code = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query).get("code")
            if r.status not in (302, 303) or not code or not loc.startswith(self.redirect):
                raise RuntimeError(f"{self.name}: authorize gave {r.status} {loc[:200]}")
            return code[0]

        with ThreadPoolExecutor(workers) as ex:
            return list(ex.map(one, range(n)))

    def tokens(self, code, verifier):
        body = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code,
                                       "redirect_uri": self.redirect, "code_verifier": verifier}).encode()
        req = urllib.request.Request(self.token_ep, data=body, headers={"Authorization": basic(*self.client)})
        return json.loads(urllib.request.urlopen(req, timeout=10).read())


def cpu(pid):
    """CPU seconds (user + system) a process has used so far."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def memory(pid):
    """Resident and peak resident KiB of a process now (VmRSS, VmHWM)."""
    st = dict(ln.split(":", 1) for ln in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in ln)
    return {k: int(st[k].split()[0]) for k in ("VmRSS", "VmHWM")}


SYNC_EVENTS = "syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync,syscalls:sys_enter_msync"


def run_wrk(a, lua, url, connections, perf_side=None, sync_pid=None, threads=None):
    """wrk once; perf_side: perf record the daemon meanwhile, its top symbols kept."""
    perf = None
    if perf_side:
        data = lua.with_suffix(".perf")
        perf = subprocess.Popen(["perf", "record", "-q", "-g", "-o", str(data), "-p", str(perf_side.pids["authd"]),
                                 "--", "sleep", str(max(1, a.seconds - 1))], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    syncs = None
    if sync_pid:
        # the directory's durable commits during the run (mdb: one fdatasync per write transaction)
        syncs = subprocess.Popen(["perf", "stat", "-x", ",", "-e", SYNC_EVENTS, "-p", str(sync_pid), "--",
                                  "sleep", str(a.seconds)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 text=True)
    cmd = ["wrk", "-t", str(threads or a.threads), "-c", str(connections), "-d", f"{a.seconds}s", "--latency",
           "--timeout", "10s", "-s", str(lua), url]
    w = subprocess.run(cmd, capture_output=True, text=True, check=True)
    if syncs:
        err = syncs.communicate()[1]
        res_syncs = {ln.split(",")[2].split(":")[-1].replace("sys_enter_", ""): int(ln.split(",")[0])
                     for ln in err.splitlines() if ln.count(",") >= 2 and ln.split(",")[0].isdigit()}
    res = json.loads(re.search(r"^JSON (.*)$", w.stdout, re.M).group(1))
    ok = res["requests"] - res["non2xx"]
    res["ok"] = ok
    if syncs:
        res["slapd_syncs"] = res_syncs
    m = re.search(r"^FIRSTERR (.*)$", w.stdout, re.M)
    if m:
        res["first_error_with_a_code"] = m.group(1)
    res["rps"] = round(ok / res["seconds"], 1)
    res["command"] = " ".join(cmd[:-3]) + f" -s {lua.name} " + cmd[-1]
    if perf:
        perf.wait()
        rep = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--sort", "dso,symbol",
                              "--stdio", "-g", "none", "--percent-limit", "1.5"], capture_output=True, text=True)
        res["perf_top"] = [ln.strip() for ln in rep.stdout.splitlines() if "%" in ln and not ln.startswith("#")][:25]
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=8, help="introspection run length; token runs end with their codes")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", default="16,64")
    ap.add_argument("--codes-ours", type=int, default=6000)
    ap.add_argument("--codes-node", type=int, default=3000)
    ap.add_argument("--perf", action="store_true", help="perf record the daemon during its 64-connection runs")
    ap.add_argument("--keep", action="store_true", help="keep the state directory (logs, codes) for a look")
    ap.add_argument("--conf", action="append", default=[],
                    help="one more line of our daemon's configuration, e.g. 'ldap_follow = no' (what it costs)")
    a = ap.parse_args()
    conns = [int(x) for x in a.connections.split(",")]
    st = Path(tempfile.mkdtemp(prefix="mm-bench-oidc-"))
    os.chmod(st, 0o755)
    slapd = Slapd(st).start()
    smtp = SmtpSink(st).start()
    ws = node = None
    out = {"load_before": os.getloadavg(), "cpus": os.cpu_count()}
    verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    try:
        # ours: the web stack (daemon serving web/, provider on), the limits that would
        # otherwise throttle one source with 64 connections lifted; codes live 600 s
        ws = WebStack(st, slapd, smtp, "bench-op", extra=(
            f"op_key_file = {st / 'oidc-keys.json'}\nop_code_ttl = 600\nlog_level = notice\n"
            "http_rate = 10000000\nhttp_rate_burst = 10000000\nhttp_max_conn_per_source = 4096\n"
            "rate_per_source = 0\nrate_per_account = 0\n" + "".join(f"{x}\n" for x in a.conf)))
        redirect = f"{ws.url}/rp/bench/callback"
        secret = ctl_ok(ws.authd.ctl("oidc", "client", "add", "bench", "--redirect-uris", redirect,
                                     "--type", "confidential", "--first-party", "yes",
                                     "--token-endpoint-auth-method", "client_secret_basic"))["secret"]
        login, mail = ws.account("PER")
        ws.reset()
        ws.login(mail)
        ours = Side("ours", ws.url, ("bench", secret), redirect, "mm_session=" + ws.cookie())
        ours.pids = {"authd": ws.authd.proc.pid, "slapd": slapd_pid(st)}
        ws.driver.quit()
        ws.driver = None
        meta = json.loads(urllib.request.urlopen(ws.url + "/.well-known/openid-configuration").read())
        ours.authz, ours.token_ep, ours.intro = (meta["authorization_endpoint"], meta["token_endpoint"],
                                                  meta["introspection_endpoint"])
        # node: the same client at the node oidc-provider; one interaction, then its session
        # cookie goes straight back to the redirect URI with a code
        nredirect = "http://127.0.0.1:9/bench-cb"
        ncl = ("bench", base64.b32encode(os.urandom(20)).decode().lower())
        os.environ["STORE_UNBOUNDED"] = "1"  # provider.js: no 1000-entry LRU evicting the minted codes
        node = OidcProvider(st, {"bench-sub": {"national_id": "899700000000", "given_name": "Jean",
                                               "family_name": "BENCH", "email": "jean.bench@example.org"}},
                            ["http://127.0.0.1:9/unused"], name="bench-node", extra_clients=[
                                {"client_id": ncl[0], "client_secret": ncl[1], "redirect_uris": [nredirect],
                                 "response_types": ["code"], "grant_types": ["authorization_code"],
                                 "token_endpoint_auth_method": "client_secret_basic"}]).start()
        node.control(account="bench-sub")
        nmeta = json.loads(urllib.request.urlopen(node.issuer + "/.well-known/openid-configuration").read())
        jar = http.cookiejar.CookieJar()

        class Stop(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, req, fp, code, msg, hdrs, newurl):
                if newurl.startswith(nredirect):
                    raise StopIteration(newurl)
                return super().redirect_request(req, fp, code, msg, hdrs, newurl)

        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), Stop())
        q = urllib.parse.urlencode({"client_id": ncl[0], "response_type": "code", "scope": "openid email",
                                    "redirect_uri": nredirect, "code_challenge": challenge,
                                    "code_challenge_method": "S256", "state": "first", "nonce": "first"})
        try:
            opener.open(nmeta["authorization_endpoint"] + "?" + q, timeout=10)
            raise RuntimeError("node: no redirect back")
        except StopIteration:
            pass
        ncookie = "; ".join(f"{c.name}={c.value}" for c in jar)
        nside = Side("node", node.issuer, ncl, nredirect, ncookie)
        nside.pids = {"node": node.proc.pid}
        nside.authz, nside.token_ep, nside.intro = (nmeta["authorization_endpoint"], nmeta["token_endpoint"],
                                                     nmeta["introspection_endpoint"])
        for side, ncodes in ((ours, a.codes_ours), (nside, a.codes_node)):
            res = out.setdefault(side.name, {})
            # a live access token for the introspection runs, checked active
            tok = side.tokens(side.mint(1, challenge)[0], verifier)["access_token"]
            ilua = st / f"introspect-{side.name}.lua"
            ilua.write_text(lua_vars(AUTH=basic(*side.client), TOKEN=tok) + LUA_INTROSPECT)
            body = urllib.parse.urlencode({"token": tok}).encode()
            iv = json.loads(urllib.request.urlopen(urllib.request.Request(
                side.intro, data=body, headers={"Authorization": basic(*side.client)}), timeout=10).read())
            assert iv["active"] is True, iv
            for c in conns:
                t0 = time.time()
                codes = side.mint(ncodes, challenge)
                mint_s = time.time() - t0
                prefix = st / f"codes-{side.name}-{c}-"
                # one wrk thread for the token runs: each Lua state has its own codes, and with two
                # one of them ran out first and spun on "spent" while the other still had codes
                Path(f"{prefix}0.txt").write_text("\n".join(codes) + "\n")
                tlua = st / f"token-{side.name}.lua"
                tlua.write_text(lua_vars(CODES=str(prefix), AUTH=basic(*side.client),
                                         REDIRECT=urllib.parse.quote(side.redirect, safe=""),
                                         PATH=urllib.parse.urlsplit(side.token_ep).path,
                                         VERIFIER=verifier) + LUA_TOKEN)
                cpu0 = {k: cpu(p) for k, p in side.pids.items()}
                r = run_wrk(a, tlua, side.token_ep, c, side if a.perf and side.name == "ours" and c == conns[-1] else None,
                            side.pids.get("slapd") if a.perf else None, threads=1)
                r["cpu_seconds"] = {k: round(cpu(p) - cpu0[k], 2) for k, p in side.pids.items()}
                r.update(codes=len(codes), mint_seconds=round(mint_s, 1), mint_rps=round(len(codes) / mint_s, 1),
                         load=os.getloadavg())
                res[f"token_c{c}"] = r
                cpu0 = {k: cpu(p) for k, p in side.pids.items()}
                r = run_wrk(a, ilua, side.intro, c, side if a.perf and side.name == "ours" and c == conns[-1] else None)
                r["cpu_seconds"] = {k: round(cpu(p) - cpu0[k], 2) for k, p in side.pids.items()}
                r["load"] = os.getloadavg()
                res[f"introspect_c{c}"] = r
            # after every code minted (ours: 8192 kept grant slots, filled) and every run
            res["memory_kib"] = {k: memory(p) for k, p in side.pids.items() if k != "slapd"}
    finally:
        if node:
            node.stop()
        if ws:
            if ws.driver is None:
                ws.authd.stop()
            else:
                ws.stop()
        smtp.stop()
        slapd.stop()
        if a.keep:
            print(f"state kept in {st}", file=sys.stderr)
        else:
            shutil.rmtree(st, ignore_errors=True)  # spent codes, the node client's secret, logs
    out["load_after"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
