#!/bin/bash
# bench/soak/run.sh: the soak of issue 18 (bench/soak/soak.py): two providers, two daemons, a steady
# mix of flows for a bounded time (30 min by default; it stops by itself), a report line a minute,
# the writes lost at the end. As root (slapd, the NSS module in a private mount namespace).
# Usage: bench/soak/run.sh [--minutes N] [--rate OPS_PER_S] [--daemon-build build-asan] [soak.py options]
# The summary goes to bench/out/soak-<date>.json, the plot (if python3-matplotlib is installed) beside it.
set -euo pipefail
top="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$top"
scripts/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
for a in "$@"; do
  if [ "$a" = build-asan ] || [ "$a" = "$top/build-asan" ]; then
    [ -f build-asan/build.ninja ] ||
      CC=clang meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug >/dev/null
    ninja -C build-asan authd/medimail-authd >/dev/null
  fi
done
mkdir -p bench/out
stamp=$(date -u +%Y%m%dT%H%M%SZ)
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
rc=0
MM_BUILD="$top/build" /usr/bin/python3 bench/soak/soak.py --json "bench/out/soak-$stamp.json" \
  --plot "bench/out/soak-$stamp.png" "$@" || rc=$?
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); summary bench/out/soak-$stamp.json"
exit $rc
