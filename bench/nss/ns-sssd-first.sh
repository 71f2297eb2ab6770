#!/bin/bash
# ns-sssd-first.sh -- SSSD with "passwd: sss files", the order of the
# "medimail-first" figures, so that both are compared without glibc's files
# backend in front. Run by bench/nss/run.sh as:
#     unshare -m --propagation private ns-sssd-first.sh
# Same sssd.conf, data and nss-bench as the peer baseline (peers/ns-run.sh);
# sssd starts with an empty cache, is tracked by PID and killed by PID.
# env: MM_RESULTS PEERS_DATA PEERS_BIN PEERS_CONF RUN NSS_*
set -euo pipefail
if [ "$(readlink /proc/self/ns/mnt)" = "$(readlink /proc/1/ns/mnt)" ]; then
	echo "ns-sssd-first.sh: not in a private mount namespace (use unshare -m); refusing" >&2
	exit 1
fi
mount --make-rprivate /
DATA=${PEERS_DATA:?} BIN=${PEERS_BIN:?} OUT=${MM_RESULTS:?} CONF=${PEERS_CONF:?}
NS=$RUN/ns-sssd-first
SSS=$NS/sss
PID=""
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill "$PID"
		wait "$PID" 2>/dev/null || true
	fi
}
trap cleanup EXIT
rm -rf "$NS"
mkdir -p "$SSS"/{db,pipes/private,mc,pubconf/krb5.include.d,gpo_cache,keytabs,secrets,deskprofile} "$NS/log"
chmod 700 "$SSS/db" "$SSS/pipes/private" "$SSS/keytabs" "$SSS/secrets"
mount -t tmpfs -o mode=755 mm-bench-run /run
mount --bind "$SSS" /var/lib/sss
mount --bind "$NS/log" /var/log/sssd
printf 'passwd: sss files\ngroup: sss files\nshadow: files\nhosts: files\n' >"$NS/nsswitch.conf"
mount --bind "$NS/nsswitch.conf" /etc/nsswitch.conf
install -m 600 "$CONF/sssd.conf" "$NS/sssd.conf"
/usr/sbin/sssd -i -c "$NS/sssd.conf" --logger=files &
PID=$!
for _ in $(seq 100); do [ -S /var/lib/sss/pipes/nss ] && break; sleep 0.1; done
getent passwd peers-ready-probe >/dev/null || true
"$BIN/nss-bench" -u "$DATA/users.txt" -g "$DATA/groups.txt" -U 100000 -l sssd-first \
	-k "$NSS_K" -m "$NSS_M" -G "$NSS_G" -I "$NSS_I" -r "$NSS_R" | tee -a "$OUT"
