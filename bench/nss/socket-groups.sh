#!/bin/bash
# bench/nss/socket-groups.sh -- the socket path of a cache miss (getgrnam of every group, no cache
# files on the client side), p50/p99 per call, and the CPU time slapd and the daemon spent on it.
#
#   bench/nss/socket-groups.sh <build-dir> [N]
#
# Needs the state run.sh leaves in $MM_BENCH_RUN (default /tmp/mm-nss-bench): mm/ (slapd data,
# authd.conf) and peers-run/data-*. Starts slapd and the daemon of <build-dir>, stops both by PID.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:?build dir} N=${2:-2000}
RUN=${MM_BENCH_RUN:-/tmp/mm-nss-bench} MM_STATE=${MM_BENCH_RUN:-/tmp/mm-nss-bench}/mm
DATA=$(ls -d "$RUN"/peers-run/data-* | head -1)
T=$(mktemp -d /tmp/mm-sockg.XXXXXX)
DPID=""
cleanup() {
	set +e
	[ -z "$DPID" ] || { kill "$DPID"; wait "$DPID"; } 2>/dev/null
	MM_STATE=$MM_STATE "$TOP/scripts/slapd.sh" stop >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT INT TERM
MM_STATE=$MM_STATE MM_LDAP_PORT=3897 "$TOP/scripts/slapd.sh" start >/dev/null
"$BUILD/authd/medimail-authd" -f -c "$MM_STATE/authd.conf" >"$T/authd.log" 2>&1 &
DPID=$!
for _ in $(seq 600); do [ -S "$MM_STATE/authd.sock" ] && grep -q rebuilt "$T/authd.log" && break; sleep 0.1; done
grep -q rebuilt "$T/authd.log" || { cat "$T/authd.log" >&2; exit 1; }
# The builds the follow's start asks for (it may start during the first) are over: measure the
# settled daemon, not a build competing for slapd.
n=0
while [ "$n" != "$(grep -c rebuilt "$T/authd.log")" ]; do n=$(grep -c rebuilt "$T/authd.log"); sleep 2.5; done
cc -O2 -fno-ipa-icf -o "$T/icount" "$TOP/bench/nss/icount.c" -ldl
mkdir "$T/empty"
SPID=$(cat "$MM_STATE/slapd/slapd.pid")
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Two passes over the same names: the first asks the host's own sources about each group
# (names.c: a name the host knows is never served; nss-systemd's userdb probing, ~0.2 ms), the
# second finds those answers in the daemon's 30 s memo of them.
for pass in 1 2; do
	s0=$(ticks "$SPID") d0=$(ticks "$DPID")
	echo "pass $pass ($([ $pass = 1 ] && echo "host answers not yet remembered" || echo "host answers remembered"))"
	ICOUNT_TIMED=1 MEDIMAIL_NSS_CACHE_DIR=$T/empty MEDIMAIL_SOCKET=$MM_STATE/authd.sock \
		"$T/icount" "$BUILD/nss_medimail/libnss_medimail.so.2" medimail "$DATA/users.txt" "$DATA/groups.txt" \
		100000 "getgrnam:$N"
	s1=$(ticks "$SPID") d1=$(ticks "$DPID")
	echo "CPU slapd_ms=$(((s1 - s0) * 1000 / $(getconf CLK_TCK))) authd_ms=$(((d1 - d0) * 1000 / $(getconf CLK_TCK))) calls=$N load=$(cut -d' ' -f1 /proc/loadavg)"
done
