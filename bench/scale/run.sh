#!/bin/bash
# run.sh: scale figures at N accounts (issue 17 item 5). Generates N accounts
# (bench/dirgen, seed 7), slapadds them into a private slapd (scripts/slapd.sh,
# MM_SLAPADD), then, under /tmp/mm-bench.lock, runs scale.py: two daemons on that
# directory, start to first answer, cache build, file sizes, memory, registrations
# through the real flow, and how long one account change takes to show in getent.
#
# Usage: bench/scale/run.sh [N]            (default 1000000; 20000 is a smoke run)
# Environment:
#   MM_BUILD        build directory (default ./build)
#   MM_SCALE_DIR    scratch (default /tmp/mm-scale): LDIF, a pristine database
#                   per N (reused by the next run), the run's copy
#   MM_SCALE_REGS   registrations in the batch (default 100)
#   MM_SCALE_CHANGES  account changes measured (default 20)
#   MM_SCALE_LDAP_TIMEOUT  the daemons' ldap_timeout (default: the daemon's, 5 s,
#                   too short for the full name-service search at 1M accounts)
#   MM_LDAP_PORT    slapd port (default 3991)
# Must run as root (the NSS measurements bind-mount a private nsswitch.conf).
set -euo pipefail

n=${1:-1000000}
case $n in ''|*[!0-9]*) echo "run.sh: N must be a number" >&2; exit 2 ;; esac
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export MM_BUILD=${MM_BUILD:-$top/build}
dir=${MM_SCALE_DIR:-/tmp/mm-scale}
port=${MM_LDAP_PORT:-3991}
ldif=$dir/dir-$n.ldif
pristine=$dir/pristine-$n
mkdir -p "$dir"
stamp() { date +%s.%N; }
elapsed() { echo "$1 $2" | awk '{printf "%.1f", $2 - $1}'; }

# Load once (not under the lock: data, not a measurement). The daemon's default
# ranges: uids from uid_min 1900000000, ORG gids from gid_min 1910000000.
if [ ! -e "$pristine/slapd/db/data.mdb" ]; then
	rm -rf "$pristine"
	t0=$(stamp)
	if [ ! -s "$ldif" ]; then
		/usr/bin/python3 "$top/bench/dirgen/dirgen.py" --count "$n" --seed 7 \
			--uid-base 1900000000 --gid-base 1910000000 --output "$ldif.tmp"
		mv "$ldif.tmp" "$ldif"
	fi
	t1=$(stamp)
	MM_STATE=$pristine MM_LDAP_PORT=$port MM_SLAPADD=$ldif "$top/scripts/slapd.sh" start >/dev/null
	MM_STATE=$pristine MM_LDAP_PORT=$port "$top/scripts/slapd.sh" stop >/dev/null
	t2=$(stamp)
	echo "load: $n entries generated in $(elapsed "$t0" "$t1") s, slapadd + start in $(elapsed "$t1" "$t2") s" |
		tee "$pristine/load.txt"
fi
run=$dir/run-$n
# The default size writes the committed figures; a smoke run keeps its own.
results=$run/RESULTS.md
[ "$n" != 1000000 ] || results=$top/bench/scale/RESULTS.md
# Every run starts from the same database: the run suspends and registers accounts.
rm -rf "$run"
cp -a --sparse=always "$pristine" "$run"
exec flock /tmp/mm-bench.lock /usr/bin/python3 "$top/bench/scale/scale.py" --state "$run" --port "$port" \
	--accounts "$n" --ldif "$ldif" --regs "${MM_SCALE_REGS:-100}" --changes "${MM_SCALE_CHANGES:-20}" --results "$results" \
	${MM_SCALE_LDAP_TIMEOUT:+--ldap-timeout "$MM_SCALE_LDAP_TIMEOUT"}
