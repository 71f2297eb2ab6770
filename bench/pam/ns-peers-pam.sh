#!/bin/bash
# bench/pam/ns-peers-pam.sh -- the PAM steps of peers/ns-run.sh only (pam_ldap -> nslcd,
# pam_sss with the default sssd.conf, the pam_permit floor, pam_unix with a local shadow),
# with the peers' own pam-bench, service files and daemon configs, in a PRIVATE mount namespace:
#     unshare -m --propagation private bench/pam/ns-peers-pam.sh
# Same mounts as ns-run.sh (tmpfs /run, private pam.d, nsswitch.conf, /var/lib/sss,
# /var/log/sssd, /etc/nslcd.conf, /etc/passwd and /etc/shadow for pam_unix); they vanish
# with the namespace. Daemons by PID.
# env (from bench/pam/run.sh): PEERS_RUN PEERS_DATA PEERS_BIN PEERS_CONF PEERS_OUT PAM_N PAM_W JOBS
set -euo pipefail
RUN=${PEERS_RUN:?} DATA=${PEERS_DATA:?} BIN=${PEERS_BIN:?} CONF=${PEERS_CONF:?} OUT=${PEERS_OUT:?}
PAM_N=${PAM_N:-1000} PAM_W=${PAM_W:-300} JOBS=${JOBS:-4}
NS=$RUN/ns-pam PIDS=$RUN/pids
PW=$(cat "$DATA/PASSWORD")
if [ "$(readlink /proc/self/ns/mnt)" = "$(readlink /proc/1/ns/mnt)" ]; then
	echo "ns-peers-pam.sh: not in a private mount namespace (use unshare -m); refusing" >&2
	exit 1
fi
mount --make-rprivate /
log() { echo "[peers-pam $(date +%T)] $*" >&2; }
DAEMON_PID=""
stop_daemon() {
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill "$DAEMON_PID"
		wait "$DAEMON_PID" 2>/dev/null || true
	fi
	DAEMON_PID=""
	rm -f "$PIDS"/peers-pam-*.pid
}
trap stop_daemon EXIT
rm -rf "$NS"
mkdir -p "$NS/pam.d" "$NS/sss" "$NS/sssd-log" "$PIDS" "$RUN/conf"

mount -t tmpfs -o mode=755 peers-run /run
cp -a /etc/pam.d/. "$NS/pam.d/"
cp "$CONF"/pam.d/* "$NS/pam.d/"
mount --bind "$NS/pam.d" /etc/pam.d
pambench() { "$BIN/pam-bench" -u "$DATA/users.txt" -P "$PW" "$@" | tee -a "$OUT"; }

# PAM framework floor (as ns-run.sh's files backend)
cp "$CONF/nsswitch.files.conf" "$NS/nsswitch.files.conf"
mount --bind "$NS/nsswitch.files.conf" /etc/nsswitch.conf
pambench -S peers-permit -l pam_permit-floor -p run -n "$PAM_N" -w 0

# pam_unix with a local shadow (as ns-run.sh run_files): SHA-512-crypt hashes of the
# peers' PASSWORD for the first PAM_UNIX_N users of the data set, over bind-mounted copies
python3 -W ignore - "$DATA" "$NS" "${PAM_UNIX_N:-2000}" <<'PY'
import crypt, sys, random
data, ns, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
pw = open(f"{data}/PASSWORD").read().strip()
rng = random.Random(1)
alpha = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
users = [l.rstrip("\n") for l in open(f"{data}/passwd")][:n]
with open(f"{ns}/passwd-unix", "w") as f:
    f.write(open("/etc/passwd").read() + "\n".join(users) + "\n")
with open(f"{ns}/shadow-unix", "w") as f:
    f.write(open("/etc/shadow").read())
    for u in users:
        salt = "$6$" + "".join(rng.choice(alpha) for _ in range(16))
        f.write(f"{u.split(':')[0]}:{crypt.crypt(pw, salt)}:19700:0:99999:7:::\n")
with open(f"{ns}/unix-users.txt", "w") as f:
    f.write("\n".join(u.split(":")[0] for u in users) + "\n")
PY
chmod 640 "$NS/shadow-unix"
mount --bind "$NS/passwd-unix" /etc/passwd
mount --bind "$NS/shadow-unix" /etc/shadow
"$BIN/pam-bench" -u "$NS/unix-users.txt" -P "$PW" -S peers-unix -l files-pam_unix -p run \
	-n "$PAM_N" -w "$PAM_W" | tee -a "$OUT"
"$BIN/pam-bench" -u "$NS/unix-users.txt" -P "$PW" -S peers-unix -l files-pam_unix -p run \
	-n "$PAM_N" -w "$PAM_W" -j "$JOBS" | tee -a "$OUT"
umount /etc/shadow /etc/passwd
umount /etc/nsswitch.conf

# pam_ldap -> nslcd (as ns-run.sh run_nslcd)
install -m 600 "$CONF/nslcd.conf" "$RUN/conf/nslcd.conf"
mount --bind "$RUN/conf/nslcd.conf" /etc/nslcd.conf
mkdir -p /run/nslcd
chown nslcd:nslcd /run/nslcd
cp "$CONF/nsswitch.ldap.conf" "$NS/nsswitch.ldap.conf"
mount --bind "$NS/nsswitch.ldap.conf" /etc/nsswitch.conf
/usr/sbin/nslcd -n &
DAEMON_PID=$!
echo "$DAEMON_PID" >"$PIDS/peers-pam-nslcd.pid"
for _ in $(seq 100); do [ -S /run/nslcd/socket ] && break; sleep 0.1; done
getent passwd peers-ready-probe >/dev/null || true
log "nslcd pid $DAEMON_PID up"
pambench -S peers-ldap -l nslcd -p run -n "$PAM_N" -w "$PAM_W"
pambench -S peers-ldap -l nslcd -p run -n "$PAM_N" -w "$PAM_W" -j "$JOBS"
stop_daemon
umount /etc/nsswitch.conf

# pam_sss, default sssd.conf, empty cache (as ns-run.sh run_sssd's PAM part)
SSS=$NS/sss
mkdir -p "$SSS"/{db,pipes/private,mc,pubconf/krb5.include.d,gpo_cache,keytabs,secrets,deskprofile}
chmod 700 "$SSS/db" "$SSS/pipes/private" "$SSS/keytabs" "$SSS/secrets"
mount --bind "$SSS" /var/lib/sss
mount --bind "$NS/sssd-log" /var/log/sssd
cp "$CONF/nsswitch.sss.conf" "$NS/nsswitch.sss.conf"
mount --bind "$NS/nsswitch.sss.conf" /etc/nsswitch.conf
install -m 600 "$CONF/sssd.conf" "$RUN/conf/sssd.conf"
/usr/sbin/sssd -i -c "$RUN/conf/sssd.conf" --logger=files &
DAEMON_PID=$!
echo "$DAEMON_PID" >"$PIDS/peers-pam-sssd.pid"
for _ in $(seq 100); do [ -S /var/lib/sss/pipes/nss ] && [ -S /var/lib/sss/pipes/private/pam ] && break; sleep 0.1; done
getent passwd peers-ready-probe >/dev/null || true
log "sssd pid $DAEMON_PID up (sssd.conf, empty cache)"
pambench -S peers-sss -l sssd -p cold -n "$PAM_N" -w "$PAM_W"
pambench -S peers-sss -l sssd -p warm -n "$PAM_N" -w "$PAM_W"
pambench -S peers-sss -l sssd -p warm -n "$PAM_N" -w "$PAM_W" -j "$JOBS"
stop_daemon
