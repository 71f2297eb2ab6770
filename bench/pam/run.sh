#!/bin/bash
# bench/pam/run.sh -- medimail's PAM logins beside pam_ldap -> nslcd and pam_sss, in one run.
#
#   sudo bench/pam/run.sh [--quick]
#
# 1. the peers' PAM measurements, measured now, here: a scratch copy of the peer harness
#    (../shared/peers beside the checkout stays read-only), its install-deps.sh, pam-bench,
#    100k-user data set (gen-users.py, seed 42) in its private slapd (slapd-up.sh), and the
#    PAM steps of its ns-run.sh (ns-peers-pam.sh, private mount namespace):
#    pam_permit floor, pam_unix (local shadow), pam_ldap -> nslcd, pam_sss (default sssd.conf)
# 2. bench/pam/run.py: pam_medimail (password + code by e-mail), per step, and the KDF alone,
#    with the default argon2id cost and with the minimal cost, on the same 100k users
#    (bench/nss/gen-medimail.py) slapadd-ed into medimail's private slapd
# 3. compare.py: one table
#
# /etc/nsswitch.conf and /etc/pam.d are snapshotted first and compared (and restored if
# needed) at exit, as peers/run-all.sh does. Scratch in $MM_BENCH_RUN (default /tmp/mm-pam-run).
# Needs a built tree (ninja -C build).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run.sh needs root (apt, slapd, unshare -m, bind mounts)" >&2; exit 1; }
TOP=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$TOP/bench/pam
PEERS_SRC=${PEERS_SRC:-$TOP/../shared/peers}
RUN=${MM_BENCH_RUN:-/tmp/mm-pam-run}
BUILD=${MM_BUILD:-$TOP/build}
QUICK=0
for a in "$@"; do
	case $a in
	--quick) QUICK=1 ;;
	*) echo "usage: $0 [--quick]" >&2; exit 2 ;;
	esac
done
[ -x "$BUILD/bench/pam/pam-otp-bench" ] || { echo "build first: ninja -C $BUILD" >&2; exit 1; }
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$RUN/results/$STAMP$([ $QUICK = 1 ] && echo -quick || true)
mkdir -p "$OUT" "$RUN/guard"
log() { echo "[pam-bench $(date +%T)] $*" | tee -a "$OUT/run.log" >&2; }

N_USERS=${N_USERS:-100000} N_GROUPS=${N_GROUPS:-2000} SEED=${SEED:-42}
if [ $QUICK = 1 ]; then
	: "${PAM_N:=100}" "${PAM_W:=30}" "${MM_N:=100}"
fi
export PAM_N=${PAM_N:-1000} PAM_W=${PAM_W:-300} JOBS=${JOBS:-4}
MM_N=${MM_N:-400}

# ---------------------------------------------------------------- guard
cp -a /etc/nsswitch.conf "$RUN/guard/nsswitch.conf"
tar -C /etc -czf "$RUN/guard/pam.d.tgz" pam.d
PEERS_STARTED=0
cleanup() {
	set +e
	for f in "$RUN"/peers-run/pids/*.pid; do # leftovers of an aborted namespace run
		[ -f "$f" ] || continue
		p=$(cat "$f")
		if kill -0 "$p" 2>/dev/null && grep -qaE 'sssd|nslcd' "/proc/$p/cmdline"; then
			log "killing leftover $(basename "$f" .pid) pid $p"
			kill "$p"
		fi
		rm -f "$f"
	done
	[ "$PEERS_STARTED" = 0 ] || "$RUN/peers/slapd-up.sh" stop >/dev/null 2>&1
	if ! cmp -s "$RUN/guard/nsswitch.conf" /etc/nsswitch.conf; then
		log "WARNING /etc/nsswitch.conf changed during the run -- restoring"
		cp -a "$RUN/guard/nsswitch.conf" /etc/nsswitch.conf
	fi
	rm -rf "$RUN/guard/now"
	mkdir -p "$RUN/guard/now"
	tar -C "$RUN/guard/now" -xzf "$RUN/guard/pam.d.tgz"
	if ! diff -r "$RUN/guard/now/pam.d" /etc/pam.d >/dev/null; then
		log "WARNING /etc/pam.d changed during the run -- restoring"
		rm -rf /etc/pam.d && tar -C /etc -xzf "$RUN/guard/pam.d.tgz"
	fi
}
trap cleanup EXIT INT TERM
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- 1 peers
rm -rf "$RUN/peers"
cp -a "$PEERS_SRC" "$RUN/peers"
chmod -R u+w "$RUN/peers"
export PEERS_RUN=$RUN/peers-run
mkdir -p "$PEERS_RUN/pids" "$PEERS_RUN/conf"
log "peers: install-deps.sh, pam-bench build"
"$RUN/peers/install-deps.sh" >>"$OUT/run.log" 2>&1
make -s -C "$RUN/peers" OUT="$PEERS_RUN/build" >>"$OUT/run.log" 2>&1
GENSUM=$(sha256sum "$RUN/peers/gen-users.py" | cut -c1-12)
DATA=$PEERS_RUN/data-$N_USERS-$N_GROUPS-$SEED-$GENSUM
if [ ! -s "$DATA/PASSWORD" ]; then
	log "generating the peers' data set ($N_USERS users, seed $SEED)"
	rm -rf "$DATA.tmp"
	python3 "$RUN/peers/gen-users.py" --users "$N_USERS" --groups "$N_GROUPS" --seed "$SEED" \
		--out "$DATA.tmp" >>"$OUT/run.log"
	mv "$DATA.tmp" "$DATA"
fi
log "peers' private slapd with $(basename "$DATA")"
PEERS_STARTED=1
"$RUN/peers/slapd-up.sh" start "$DATA/data.ldif" >>"$OUT/run.log" 2>&1
log "peers' PAM steps: pam_permit floor, pam_unix, pam_ldap -> nslcd, pam_sss (PAM_N=$PAM_N PAM_W=$PAM_W JOBS=$JOBS)"
: >"$OUT/peers-results.txt"
PEERS_DATA=$DATA PEERS_BIN=$PEERS_RUN/build PEERS_CONF=$RUN/peers/conf PEERS_OUT=$OUT/peers-results.txt \
	unshare -m --propagation private "$HERE/ns-peers-pam.sh" 2>>"$OUT/run.log" >/dev/null
"$RUN/peers/slapd-up.sh" stop >>"$OUT/run.log" 2>&1
PEERS_STARTED=0
log "$(grep -c '^RESULT' "$OUT/peers-results.txt") peer RESULT lines"

# ---------------------------------------------------------------- 2 medimail
log "medimail: bench/pam/run.py $MM_N"
MM_BUILD=$BUILD MM_BENCH_STATE=$RUN/mm /usr/bin/python3 "$HERE/run.py" "$DATA" "$MM_N" \
	>"$OUT/medimail-results.txt" 2>>"$OUT/run.log"
log "$(grep -c '^RESULT' "$OUT/medimail-results.txt") medimail RESULT lines"

# ---------------------------------------------------------------- 3 table
{
	echo "date_utc: $STAMP"
	echo "host: $(uname -srm); cpu: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc)"
	echo "tree: $(git -C "$TOP" rev-parse --short HEAD) $(git -C "$TOP" status --porcelain | grep -q . && echo '(dirty)' || true)"
	dpkg-query -W -f='pkg: ${Package} ${Version}\n' slapd sssd libpam-sss nslcd libpam-ldapd libpam0g libsodium23 2>/dev/null || true
	echo "peers dataset: $(basename "$DATA")"
	echo "params: PAM_N=$PAM_N PAM_W=$PAM_W JOBS=$JOBS MM_N=$MM_N quick=$QUICK"
	echo "loadavg_start: $(grep -o 'load average at start: .*' "$OUT/run.log" | cut -d: -f2-)"
	echo "loadavg_end: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/env.txt"
python3 "$HERE/compare.py" "$OUT/peers-results.txt" "$OUT/medimail-results.txt" >"$OUT/compare.md"
cleanup
trap - EXIT INT TERM
cmp -s "$RUN/guard/nsswitch.conf" /etc/nsswitch.conf && diff -r "$RUN/guard/now/pam.d" /etc/pam.d >/dev/null &&
	log "/etc/nsswitch.conf and /etc/pam.d unchanged"
left=$(ps -eo pid=,comm= | awk '$2 ~ /^(slapd|sssd|nslcd|medimail-authd)$/' || true)
log "left running after the run (slapd, sssd, nslcd, medimail-authd): ${left:-none}"
log "done: $OUT/compare.md"
cat "$OUT/env.txt" "$OUT/compare.md"
