#!/bin/bash
# bench/nss/icount.sh -- instructions per warm lookup through libnss_medimail.so.2's entry points,
# counted by callgrind (repeatable whatever the machine's load), on cache files the daemon built.
#
#   bench/nss/icount.sh <cache-dir> <data-dir> [<build-dir>] [N]
#
# cache-dir: the daemon's cache_dir (run.sh leaves it in $MM_BENCH_RUN/mm/mc);
# data-dir: the peers' data set (users.txt, groups.txt). Prints one line per op:
# instructions per call of the measured pass (the same N keys were looked up once before it).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
MC=${1:?cache dir} DATA=${2:?data dir} BUILD=${3:-$TOP/build} N=${4:-2000}
LIB=${MM_NSS_SO:-$BUILD/nss_medimail/libnss_medimail.so.2} PREFIX=${MM_NSS_PREFIX:-medimail}
T=$(mktemp -d /tmp/mm-icount.XXXXXX)
trap 'rm -rf "$T"' EXIT
cc -O2 -fno-ipa-icf -o "$T/icount" "$TOP/bench/nss/icount.c" -ldl
for op in getpwnam getpwuid getgrnam getgrouplist; do
	MEDIMAIL_NSS_CACHE_DIR=$MC MEDIMAIL_SOCKET=$T/no-socket \
		valgrind --tool=callgrind --toggle-collect=measured_loop --callgrind-out-file="$T/cg.$op" \
		"$T/icount" "$LIB" "$PREFIX" "$DATA/users.txt" "$DATA/groups.txt" 100000 "$op:$N" \
		>"$T/out.$op" 2>"$T/err.$op" || { cat "$T/out.$op" "$T/err.$op" >&2; exit 1; }
	ir=$(sed -n 's/^summary: //p' "$T/cg.$op")
	awk -v op="$op" -v ir="$ir" -v n="$N" \
		'BEGIN { printf "ICOUNT op=%s n=%d ir_total=%d ir_per_call=%.0f\n", op, n, ir, ir / n }'
done
