#!/bin/bash
# bench/follow/run.sh: a revocation through one daemon, refused by another: how soon, with and
# without the directory followed (store/follow.c); introspection throughput meanwhile. As root.
# Usage: bench/follow/run.sh [SESSIONS] [WRK_SECONDS]
set -euo pipefail
top="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$top"
scripts/deps.sh
dpkg-query -W -f='${Status}\n' wrk 2>/dev/null | grep -q 'install ok installed' ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
MM_BUILD="$top/build" /usr/bin/python3 bench/follow/follow_bench.py --sessions "${1:-50}" --seconds "${2:-10}"
