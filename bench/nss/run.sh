#!/bin/bash
# bench/nss/run.sh -- medimail's NSS module against SSSD and nslcd, in one run,
# on the peer baseline's data (100k users / 2000 groups, ../shared/peers beside the checkout).
#
#   sudo bench/nss/run.sh [--quick] [--medimail-only]
#
# 1. the peer baseline (peers/run-all.sh, from a scratch copy: the shared
#    directory stays read-only): sssd, nslcd, files, measured now, here
# 2. the same users and memberships as medimail accounts and BAL ORGs
#    (gen-medimail.py), slapadd-ed into a private slapd (scripts/slapd.sh)
# 3. medimail-authd on it; once its cache files are built, the peers'
#    nss-bench and hyperfine `id` in a private mount namespace (ns-medimail.sh)
# 4. compare.py: one table of every backend, and the issue's goals
#
# Needs a built tree (ninja -C build). Scratch in $MM_BENCH_RUN (default
# /tmp/mm-nss-bench, ~1.5 GB). Everything started is stopped by PID.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run.sh needs root (slapd, unshare -m, bind mounts)" >&2; exit 1; }
TOP=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$TOP/bench/nss
PEERS_SRC=${PEERS_SRC:-$TOP/../shared/peers}
RUN=${MM_BENCH_RUN:-/tmp/mm-nss-bench}
BUILD=${MM_BUILD:-$TOP/build}
QUICK=0 PEERS=1
for a in "$@"; do
	case $a in
	--quick) QUICK=1 ;;
	--medimail-only) PEERS=0 ;;
	*) echo "usage: $0 [--quick] [--medimail-only]" >&2; exit 2 ;;
	esac
done
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$RUN/results/$STAMP$([ $QUICK = 1 ] && echo -quick || true)
mkdir -p "$OUT" "$RUN"
log() { echo "[nss-bench $(date +%T)] $*" | tee -a "$OUT/run.log" >&2; }

# Same knobs as peers/run-all.sh.
N_USERS=${N_USERS:-100000} N_GROUPS=${N_GROUPS:-2000} SEED=${SEED:-42}
if [ $QUICK = 1 ]; then
	: "${NSS_K:=200}" "${NSS_M:=50}" "${NSS_G:=50}" "${NSS_I:=50}" "${NSS_R:=1}" "${HF_RUNS:=30}"
fi
export NSS_K=${NSS_K:-2000} NSS_M=${NSS_M:-200} NSS_G=${NSS_G:-500} NSS_I=${NSS_I:-500}
export NSS_R=${NSS_R:-3} JOBS=${JOBS:-4} HF_RUNS=${HF_RUNS:-300}

DAEMON_PID="" PEERS_STARTED=0
MM_STATE=$RUN/mm
cleanup() {
	set +e
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill "$DAEMON_PID"
		wait "$DAEMON_PID" 2>/dev/null
	fi
	MM_STATE=$MM_STATE "$TOP/scripts/slapd.sh" stop >/dev/null 2>&1
	[ "$PEERS_STARTED" = 0 ] || "$RUN/peers/slapd-up.sh" stop >/dev/null 2>&1
}
trap cleanup EXIT INT TERM

# ---------------------------------------------------------------- 1 peers
rm -rf "$RUN/peers"
cp -a "$PEERS_SRC" "$RUN/peers"
chmod -R u+w "$RUN/peers"
export PEERS_RUN=$RUN/peers-run
if [ $PEERS = 1 ]; then
	log "peer baseline (sssd, nslcd, files): peers/run-all.sh $([ $QUICK = 1 ] && echo --quick)"
	PEERS_RESULTS=$OUT/peers "$RUN/peers/run-all.sh" $([ $QUICK = 1 ] && echo --quick) \
		>>"$OUT/run.log" 2>&1
else
	mkdir -p "$PEERS_RUN"
	make -s -C "$RUN/peers" OUT="$PEERS_RUN/build" >>"$OUT/run.log" 2>&1
fi
GENSUM=$(sha256sum "$RUN/peers/gen-users.py" | cut -c1-12)
DATA=$PEERS_RUN/data-$N_USERS-$N_GROUPS-$SEED-$GENSUM
if [ ! -s "$DATA/PASSWORD" ]; then
	log "generating the peers' data set"
	python3 "$RUN/peers/gen-users.py" --users "$N_USERS" --groups "$N_GROUPS" --seed "$SEED" \
		--out "$DATA.tmp" >>"$OUT/run.log"
	mv "$DATA.tmp" "$DATA"
fi

# ---------------------------------------------------------------- 2 directory
log "medimail directory from $(basename "$DATA")"
python3 "$HERE/gen-medimail.py" "$DATA" "$RUN/medimail.ldif" | tee -a "$OUT/run.log"
MM_STATE=$MM_STATE "$TOP/scripts/slapd.sh" stop >/dev/null 2>&1 || true
rm -rf "$MM_STATE"
mkdir -p "$MM_STATE"
chmod 755 "$MM_STATE"
t0=$(date +%s)
MM_STATE=$MM_STATE MM_LDAP_PORT=3897 MM_SLAPD_LDIF=$RUN/medimail.ldif "$TOP/scripts/slapd.sh" start >/dev/null
log "slapd loaded in $(($(date +%s) - t0)) s"
LDAPI=$(MM_STATE=$MM_STATE MM_LDAP_PORT=3897 "$TOP/scripts/slapd.sh" url | sed -n 2p)

# ---------------------------------------------------------------- 3 daemon
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$MM_STATE/hash.key"
chmod 600 "$MM_STATE/hash.key"
cat >"$MM_STATE/authd.conf" <<EOF
socket = $MM_STATE/authd.sock
log_stderr = yes
log_level = info
ldap_uri = $LDAPI
ldap_base = dc=medimail,dc=test
ldap_bind_dn = cn=authd,ou=system,dc=medimail,dc=test
ldap_bind_password_file = $MM_STATE/slapd/authd.pw
ldap_timeout = 10
smtp_url = smtp://127.0.0.1:1
hash_key_file = $MM_STATE/hash.key
argon2_opslimit = 1
argon2_memlimit = 8388608
domain_default = oc.mssante.fr
uid_min = 100000
uid_max = 199999
gid_min = 200000
gid_max = 209999
# the peers' data set numbers from 100000, where useradd puts subordinate ids:
# this throwaway bench host delegates none
subuid_file = $MM_STATE/no-subuid
subgid_file = $MM_STATE/no-subgid
user_gid = 100
cache_dir = $MM_STATE/mc
cache_refresh = 3600
EOF
chmod 600 "$MM_STATE/authd.conf"
t0=$(date +%s%N)
"$BUILD/authd/medimail-authd" -f -c "$MM_STATE/authd.conf" >"$OUT/authd.log" 2>&1 &
DAEMON_PID=$!
# Ready when both cache files exist and are current (stale flag, offset 24, is 0).
fresh() {
	local f
	for f in passwd group; do
		[ -s "$MM_STATE/mc/$f" ] || return 1
		[ "$(od -An -tu4 -j24 -N4 "$MM_STATE/mc/$f" | tr -d ' ')" = 0 ] || return 1
	done
}
for _ in $(seq 600); do fresh && break; sleep 0.1; done
fresh || { log "cache not built"; cat "$OUT/authd.log" >&2; exit 1; }
log "daemon up, cache built in $((($(date +%s%N) - t0) / 1000000)) ms: $(grep -o 'rebuilt.*' "$OUT/authd.log" | tail -1)"
# The builds the follow's start asks for (it may start during the first) are over: the socket
# rows measure the settled daemon, not a build competing for slapd.
n=0
while [ "$n" != "$(grep -c rebuilt "$OUT/authd.log")" ]; do n=$(grep -c rebuilt "$OUT/authd.log"); sleep 2.5; done
log "settled after $n builds"
ls -l "$MM_STATE/mc" >>"$OUT/run.log"

# ---------------------------------------------------------------- 4 measure
log "medimail NSS (private mount namespace)"
MM_RESULTS=$OUT/medimail-results.txt PEERS_DATA=$DATA PEERS_BIN=$PEERS_RUN/build MM_STATE=$MM_STATE \
	MM_NSS_LIB=$BUILD/nss_medimail RUN=$RUN \
	unshare -m --propagation private "$HERE/ns-medimail.sh" 2>>"$OUT/run.log" >/dev/null
log "$(grep -c RESULT "$OUT/medimail-results.txt") medimail RESULT lines"

kill "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=""
MM_STATE=$MM_STATE "$TOP/scripts/slapd.sh" stop >/dev/null 2>&1 || true

# SSSD in the "medimail-first" order ("sss files"), on the peers' slapd.
if [ $PEERS = 1 ]; then
	log "sssd with 'passwd: sss files' (private mount namespace)"
	"$RUN/peers/slapd-up.sh" start >>"$OUT/run.log" 2>&1
	PEERS_STARTED=1
	MM_RESULTS=$OUT/medimail-results.txt PEERS_DATA=$DATA PEERS_BIN=$PEERS_RUN/build \
		PEERS_CONF=$RUN/peers/conf RUN=$RUN \
		unshare -m --propagation private "$HERE/ns-sssd-first.sh" 2>>"$OUT/run.log" >/dev/null
	"$RUN/peers/slapd-up.sh" stop >>"$OUT/run.log" 2>&1
	PEERS_STARTED=0
fi
{
	echo "date_utc: $STAMP"
	echo "host: $(uname -srm); cpu: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc)"
	echo "tree: $(git -C "$TOP" rev-parse --short HEAD) $(git -C "$TOP" status --porcelain | grep -q . && echo '(dirty)' || true)"
	echo "dataset: $(basename "$DATA")"
	echo "params: NSS_K=$NSS_K NSS_M=$NSS_M NSS_G=$NSS_G NSS_I=$NSS_I NSS_R=$NSS_R JOBS=$JOBS HF_RUNS=$HF_RUNS quick=$QUICK"
} >"$OUT/env.txt"
python3 "$HERE/compare.py" "$OUT/peers/results.txt" "$OUT/medimail-results.txt" >"$OUT/compare.md"
log "done: $OUT/compare.md"
cat "$OUT/compare.md"
