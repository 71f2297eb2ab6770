#!/bin/bash
# run.sh: the directory benchmark of issue 7.  Generates a directory of N
# entries (bench/dirgen), loads it with slapadd into a private slapd
# (scripts/slapd.sh, MM_SLAPADD), starts medimail-authd on it, then measures
# in one run: typeahead searches through the daemon and through raw slapd
# (search-bench, interleaved), the daemon's memory, and the full national
# export streamed through the daemon.
#
# Usage: bench/directory/run.sh [ENTRIES]        (default 1000000)
# Environment:
#   MM_BUILD        build directory (default ./build)
#   MM_BENCH_DIR    where LDIF and databases live (default /var/tmp/mmbench);
#                   a database already loaded there is reused
#   MM_BENCH_QUERIES  queries per measurement (default 20000)
#   MM_LDAP_PORT    slapd port (default 3990)
#   MM_LDAP_POOL    the daemon's ldap_pool (default: the daemon's own default)
set -euo pipefail

n=${1:-1000000}
case $n in ''|*[!0-9]*) echo "run.sh: ENTRIES must be a number" >&2; exit 2 ;; esac
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${MM_BUILD:-$top/build}
dir=${MM_BENCH_DIR:-/var/tmp/mmbench}
queries=${MM_BENCH_QUERIES:-20000}
port=${MM_LDAP_PORT:-3990}
case $n in
1000000) label=1m ;; 100000) label=100k ;; *) label=$n ;;
esac
state=$dir/state-$label
ldif=$dir/dir-$label.ldif
suffix=dc=medimail,dc=test
export MM_STATE=$state MM_LDAP_PORT=$port
mkdir -p "$dir"

stamp() { date +%s.%N; }
elapsed() { echo "$1 $2" | awk '{printf "%.1f", $2 - $1}'; }

if [ ! -e "$state/slapd/db/data.mdb" ]; then
	t0=$(stamp)
	[ -s "$ldif" ] || /usr/bin/python3 "$top/bench/dirgen/dirgen.py" --count "$n" --seed 7 --output "$ldif"
	t1=$(stamp)
	MM_SLAPADD=$ldif "$top/scripts/slapd.sh" start >/dev/null
	t2=$(stamp)
	echo "load: generated $n entries in $(elapsed "$t0" "$t1") s, slapadd + start in $(elapsed "$t1" "$t2") s"
else
	"$top/scripts/slapd.sh" start >/dev/null
fi
ldapi=$("$top/scripts/slapd.sh" url | sed -n 2p)
echo "directory: $(du -sh "$state/slapd/db" | cut -f1) on disk"

work=$(mktemp -d "$dir/run.XXXXXX")
daemon_pid=
cleanup() {
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	"$top/scripts/slapd.sh" stop
	rm -rf "$work"
}
trap cleanup EXIT

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/hash.key"
chmod 600 "$work/hash.key"
cat >"$work/authd.conf" <<CONF
socket = $work/authd.sock
pid_file = $work/authd.pid
ldap_uri = $ldapi
ldap_base = $suffix
ldap_bind_dn = cn=authd,ou=system,$suffix
ldap_bind_password_file = $state/slapd/authd.pw
smtp_url = smtp://127.0.0.1:9
hash_key_file = $work/hash.key
regions_open = Occitanie
domain_default = oc.mssante.fr
cache_dir = $work/mc
CONF
[ -z "${MM_LDAP_POOL:-}" ] || echo "ldap_pool = $MM_LDAP_POOL" >>"$work/authd.conf"
chmod 600 "$work/authd.conf"
"$build/authd/medimail-authd" -f -c "$work/authd.conf" 2>"$work/authd.log" &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$work/authd.sock" ] && break; sleep 0.05; done
[ -S "$work/authd.sock" ] || { cat "$work/authd.log" >&2; exit 1; }

common=(--socket "$work/authd.sock" --ldap-uri "$ldapi" --bind-dn "cn=authd,ou=system,$suffix"
	--bind-pw-file "$state/slapd/authd.pw" --base "$suffix")
# What people type: the words of the directory (names, first names, cities);
# search-bench takes a random one and keeps its first 3 letters.
/usr/bin/python3 - "$top/bench/dirgen/dirgen.py" >"$work/names.txt" <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("dirgen", sys.argv[1])
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
for w in sorted(set(x for n in m.SURNAMES + m.GIVEN + [c[0] for c in m.CITIES] for x in m.fold(n))):
    print(w)
PY
# (-z 1 ends with "size limit exceeded": the status is not an error here)
login=$( (ldapsearch -LLL -Q -Y EXTERNAL -H "$ldapi" -b "ou=people,$suffix" -z 1 \
	"(&(mmStatus=active)(mmAccountType=PER))" uid 2>/dev/null || true) | sed -n 's/^uid: //p' | head -1)

echo "== warm-up (2000 queries, not counted)"
"$build/bench/search-bench" "${common[@]}" --queries 2000 --seed 99 --prefixes "$work/names.txt" >/dev/null
echo "== typeahead: random 3-letter prefixes of directory words, 1 client"
"$build/bench/search-bench" "${common[@]}" --queries "$queries" --seed 1 --prefixes "$work/names.txt"
echo "== typeahead: the same, 2 clients in parallel"
"$build/bench/search-bench" "${common[@]}" --queries "$queries" --seed 2 --prefixes "$work/names.txt" --threads 2
echo "== typeahead: the same, 8 clients in parallel"
"$build/bench/search-bench" "${common[@]}" --queries "$queries" --seed 5 --prefixes "$work/names.txt" --threads 8
echo "== random letters (3 random a-z: mostly no match), 1 client"
"$build/bench/search-bench" "${common[@]}" --queries "$queries" --seed 3
echo "== typeahead as a user (--login $login: the daemon also checks the caller's account)"
"$build/bench/search-bench" "${common[@]}" --queries "$queries" --seed 4 --prefixes "$work/names.txt" --login "$login"
echo "== daemon memory after the searches"
grep -E '^(VmRSS|VmHWM)' "/proc/$daemon_pid/status"

echo "== national export (MSSanté view) through the daemon"
t0=$(stamp)
"$build/ctl/medimailctl" --socket "$work/authd.sock" --timeout 600 export --output "$work/export.txt" >/dev/null
t1=$(stamp)
lines=$(($(wc -l <"$work/export.txt") - 1))
echo "export: $lines mailboxes, $(du -h "$work/export.txt" | cut -f1), $(elapsed "$t0" "$t1") s"
awk -F'|' 'NF != 31 { bad++ } END { printf "export: %d lines without 31 columns\n", bad + 0 }' "$work/export.txt"
grep -E '^(VmRSS|VmHWM)' "/proc/$daemon_pid/status"
