#!/bin/bash
# bench/oidc/run.sh: our OpenID Connect provider beside the node oidc-provider (tests/oidc), same
# machine, same run, same client and wrk scripts: the token endpoint (code -> tokens) and
# introspection at 16 and 64 connections. As root. A benchmark, not a test (RESULTS.md).
# Usage: bench/oidc/run.sh [SECONDS] [CODES_OURS] [CODES_NODE] (the codes must outlast the token runs: rps <= codes / SECONDS)
set -euo pipefail
top="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$top"
# wrk is for benchmarks only, not for CI
dpkg-query -W -f='${Status}\n' wrk 2>/dev/null | grep -q 'install ok installed' ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
uptime
MM_BUILD="$top/build" /usr/bin/python3 bench/oidc/bench.py --perf --seconds "${1:-6}" \
  --codes-ours "${2:-14000}" --codes-node "${3:-20000}"
uptime
