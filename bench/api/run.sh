#!/bin/bash
# bench/api/run.sh: introspections and password steps per second over the HTTP API (wrk, loopback) beside a
# raw slapd simple bind (the peers' ldap-bench) measured in the same run. As root.
# Usage: bench/api/run.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
top="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$top"
scripts/deps.sh
# wrk is for benchmarks only, not for CI
dpkg-query -W -f='${Status}\n' wrk 2>/dev/null | grep -q 'install ok installed' ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
peers="$top/../shared/peers"
mkdir -p bench/out
if [ -f "$peers/ldap-bench.c" ]; then
  make -s -C "$peers" OUT="$top/bench/out" "$top/bench/out/ldap-bench"
fi
MM_BUILD="$top/build" /usr/bin/python3 bench/api/bench.py --seconds "${1:-15}" --connections "${2:-64}"
