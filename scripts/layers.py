#!/usr/bin/env python3
"""The daemon's layers, checked: what a folder of authd/ includes and what its
library calls may only point down (docs/architecture.md).

    core < store < services (account login settings directory nss card psc oidc) < doors (ipc http) < main.c

1. Includes: a file includes headers of its own folder or of a lower layer
   (services may include each other's headers; a door never includes the
   other door's).
2. Calls: the undefined symbols of each folder's static library are defined
   in its own or a lower layer's library (nm), so no call circle exists
   between layers; within the services layer the call graph has no cycle.
3. The doors' seam: no service folder and no HTTP file names `struct req`
   (the socket's request type), so no policy reads a wire message and HTTP
   never fakes a socket request. The one way between the doors: HTTP's
   web pages call the request table through the bridge (ipc/json_door.h,
   json_door_call), and nothing else of ipc.

Usage: layers.py SOURCE_ROOT BUILD_ROOT
"""
import re
import subprocess
import sys
from pathlib import Path

RANK = {"core": 0, "store": 1, "account": 2, "login": 2, "settings": 2, "directory": 2, "nss": 2,
        "card": 2, "psc": 2, "oidc": 2, "ipc": 3, "http": 3}
SERVICES = [f for f, r in RANK.items() if r == 2]
# The bridge of the web pages (docs/architecture.md, "Web pages"): the one
# header and the one call of ipc that http may use.
BRIDGE_HEADER = ("http", "ipc", "json_door.h")
BRIDGE_CALLS = {("http", "ipc", "json_door_call")}


def headers(authd):
    where = {}
    for folder in RANK:
        for h in (authd / folder).glob("*.h"):
            where[h.name] = folder
    return where


def check_includes(authd, where, errors):
    for folder in RANK:
        for f in sorted((authd / folder).glob("*.[ch]")):
            for n, line in enumerate(f.read_text().splitlines(), 1):
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if not m or m.group(1) not in where:
                    continue
                to = where[m.group(1)]
                if to == folder or (folder, to, m.group(1)) == BRIDGE_HEADER:
                    continue
                bad = RANK[to] > RANK[folder] or (RANK[to] == RANK[folder] == 3)
                if bad:
                    errors.append(f"{f.relative_to(authd.parent)}:{n}: {folder} includes {m.group(1)} of {to}")


def symbols(lib):
    out = subprocess.run(["nm", "-g", str(lib)], capture_output=True, text=True, check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            undefined.add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDBRCW":
            defined.add(parts[2])
    return defined, undefined


def check_calls(build, errors):
    defs, uses = {}, {}
    for folder in RANK:
        lib = build / "authd" / folder / f"libauthd_{folder}.a"
        if not lib.exists():
            errors.append(f"{lib}: not built")
            continue
        defs[folder], uses[folder] = symbols(lib)
    owner = {}
    for folder, d in defs.items():
        for s in d:
            owner[s] = folder
    edges = {f: set() for f in defs}
    for folder, u in uses.items():
        for s in sorted(u - defs[folder]):
            to = owner.get(s)
            if to is None or to == folder or (folder, to, s) in BRIDGE_CALLS:
                continue
            edges[folder].add(to)
            if RANK[to] > RANK[folder] or (RANK[to] == RANK[folder] == 3):
                what = "the other door" if RANK[to] == 3 == RANK[folder] else "a higher layer"
                errors.append(f"libauthd_{folder} calls {s} of {to} ({what})")
    # no cycle among the services
    state = {}

    def visit(f, path):
        state[f] = 1
        for t in edges[f]:
            if RANK[t] != 2 or RANK[f] != 2:
                continue
            if state.get(t) == 1:
                errors.append("call circle among services: " + " -> ".join(path + [t]))
            elif not state.get(t):
                visit(t, path + [t])
        state[f] = 2

    for f in SERVICES:
        if f in edges and not state.get(f):
            visit(f, [f])


def check_seam(authd, errors):
    for folder in SERVICES + ["http", "core", "store"]:
        for f in sorted((authd / folder).glob("*.[ch]")):
            for n, line in enumerate(f.read_text().splitlines(), 1):
                if re.search(r"\bstruct req\b", line):
                    errors.append(f"{f.relative_to(authd.parent)}:{n}: names struct req")


def main():
    src, build = Path(sys.argv[1]), Path(sys.argv[2])
    authd = src / "authd"
    errors = []
    check_includes(authd, headers(authd), errors)
    check_calls(build, errors)
    check_seam(authd, errors)
    for e in errors:
        print(e)
    print(f"{len(errors)} layering error(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
