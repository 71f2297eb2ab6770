#!/bin/bash
# ns-medimail.sh -- the peers' NSS measurements against libnss_medimail, run by
# bench/nss/run.sh as:  unshare -m --propagation private ns-medimail.sh
# A test nsswitch.conf ("files medimail") is bind-mounted in this mount
# namespace only; the module comes from the build tree (LD_LIBRARY_PATH).
# env: MM_RESULTS PEERS_DATA PEERS_BIN MM_STATE MM_NSS_LIB RUN NSS_* JOBS HF_RUNS
set -euo pipefail
if [ "$(readlink /proc/self/ns/mnt)" = "$(readlink /proc/1/ns/mnt)" ]; then
	echo "ns-medimail.sh: not in a private mount namespace (use unshare -m); refusing" >&2
	exit 1
fi
mount --make-rprivate /
DATA=${PEERS_DATA:?} BIN=${PEERS_BIN:?} OUT=${MM_RESULTS:?}
NS=$RUN/ns-medimail
rm -rf "$NS"
mkdir -p "$NS/empty-cache"
printf 'passwd: files medimail\ngroup: files medimail\nshadow: files\nhosts: files\n' >"$NS/nsswitch.conf"
mount --bind "$NS/nsswitch.conf" /etc/nsswitch.conf
export LD_LIBRARY_PATH=$MM_NSS_LIB MEDIMAIL_SOCKET=$MM_STATE/authd.sock MEDIMAIL_NSS_CACHE_DIR=$MM_STATE/mc
PROBE_USER=$(sed -n "$(($(wc -l <"$DATA/users.txt") / 2))p" "$DATA/users.txt")

nssbench() { "$BIN/nss-bench" -u "$DATA/users.txt" -g "$DATA/groups.txt" -U 100000 "$@" | tee -a "$OUT"; }
hf() {
	local tag=$1 cmd=$2 label=$3
	hyperfine -N --style none --warmup 20 --runs "${HF_RUNS:-300}" --export-json "$NS/hf-$tag.json" "$cmd" \
		>/dev/null 2>&1 || { echo "hyperfine $tag failed" >&2; return 0; }
	python3 - "$NS/hf-$tag.json" "$label" "$tag" <<'PY' | tee -a "$OUT"
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]; t = sorted(r["times"])
p = lambda q: t[min(len(t) - 1, int(q * (len(t) - 1) + .5))] * 1e6
print(f"RESULT label={sys.argv[2]} phase=process op=hyperfine:{sys.argv[3]} procs=1 n={len(t)} ok={len(t)} err=0 "
      f"p50_us={p(.5):.1f} p90_us={p(.9):.1f} p99_us={p(.99):.1f} max_us={t[-1]*1e6:.1f} "
      f"mean_us={r['mean']*1e6:.1f} ops_s={1/r['mean']:.0f}")
PY
}

getent passwd "$PROBE_USER" >/dev/null || { echo "probe user $PROBE_USER not resolved" >&2; exit 1; }
: >"$OUT"
# The cache path: "cold" is the first pass of a fresh process (nothing looked up
# before in it; the daemon built its cache files at start), then warm passes.
nssbench -l medimail -k "$NSS_K" -m "$NSS_M" -G "$NSS_G" -I "$NSS_I" -r "$NSS_R"
nssbench -l medimail -W -r 1 -j "$JOBS" -k "$NSS_K" -m "$NSS_M" -G "$NSS_G" -I "$NSS_I"
hf id "id $PROBE_USER" medimail
# The fallback path alone: no cache files, every lookup is a socket round trip
# to the daemon, which asks slapd (what a miss or a brand-new account costs).
MEDIMAIL_NSS_CACHE_DIR=$NS/empty-cache nssbench -l medimail-socket -k "$NSS_K" -m "$NSS_M" -G "$NSS_G" \
	-I "$NSS_I" -r 1
MEDIMAIL_NSS_CACHE_DIR=$NS/empty-cache hf id "id $PROBE_USER" medimail-socket
# Not the peers' order: "medimail files", to show what the module itself costs
# once glibc's files backend (which reads /etc/passwd first on every call in
# the "files X" order every backend above uses) is out of the way.
printf 'passwd: medimail files\ngroup: medimail files\nshadow: files\nhosts: files\n' >"$NS/nsswitch-first.conf"
mount --bind "$NS/nsswitch-first.conf" /etc/nsswitch.conf
nssbench -l medimail-first -k "$NSS_K" -m "$NSS_M" -G "$NSS_G" -I "$NSS_I" -r "$NSS_R"
