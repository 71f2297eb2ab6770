#!/bin/bash
# fuzz.sh BUILD SECONDS: run every libFuzzer harness of BUILD for SECONDS each,
# from the seed corpus in tests/fuzz/corpus/<name> (copied: the run never
# changes the checkout).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$1 secs=${2:-20}
for h in "$build"/tests/fuzz_*; do
  [ -f "$h" ] && [ -x "$h" ] || continue  # not the meson object dirs (fuzz_x.p)
  name=${h##*/fuzz_}
  work=$(mktemp -d)
  [ -d "$top/tests/fuzz/corpus/$name" ] && cp -r "$top/tests/fuzz/corpus/$name/." "$work/"
  echo "[fuzz] $name for ${secs}s"
  "$h" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=1024 -print_final_stats=0 "$work" 2>"$work.log" || {
    tail -40 "$work.log"; rm -rf "$work" "$work.log"; exit 1; }
  grep -E '^#[0-9]+.*DONE' "$work.log" | tail -1 || true
  rm -rf "$work" "$work.log"
done
