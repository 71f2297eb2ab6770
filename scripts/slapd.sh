#!/bin/bash
# slapd.sh: run a private slapd (slapd.conf, back-mdb) under a state directory.
#
# Usage: scripts/slapd.sh start|stop|status|url
# Environment:
#   MM_STATE      state directory (required); everything goes in $MM_STATE/slapd
#   MM_LDAP_PORT  TCP port on 127.0.0.1 (default 3890)
#   MM_SUFFIX     database suffix (default dc=medimail,dc=test)
#   MM_AUTHD_PW   password of cn=authd,ou=system,<suffix> (default: random,
#                 kept in $MM_STATE/slapd/authd.pw)
#   MM_SERVER_ID  multi-provider replication (docs/replication.md): this
#                 server's serverID (1..4095); enables syncprov and
#                 "multiprovider on". Only server 1 is seeded with the base
#                 entries; the others receive everything from their peers.
#   MM_SYNCPROV   no: no syncprov overlay (a directory without content
#                 synchronization: the daemons fall back to their timers);
#                 default yes, the daemons follow ou=sessions and the accounts
#   MM_SYNC_PEERS space-separated ldap:// URLs of the other providers
#   MM_REPL_PW    password of cn=replicator,ou=system,<suffix>, the same on
#                 every provider (kept in $MM_STATE/slapd/repl.pw)
#   MM_SLAPADD    an LDIF file loaded with slapadd into a fresh database, after
#                 the base entries (benchmarks: bench/dirgen and bench/nss
#                 write one; MM_SLAPD_LDIF is the same, kept for bench/nss)
#   MM_USER_BINDS yes: accounts of ou=people may simple-bind with their
#                 password (a mail client's address book); default no: only
#                 the system identities bind (ldap-schema/acl-user-binds.conf)
#   MM_LOCKOUT_THRESHOLD, MM_LOCKOUT_DURATION  the first values of the ppolicy
#                 entry cn=lockout,ou=policies,<suffix> (default 5 and 900 s);
#                 medimail-authd puts its lockout_threshold/lockout_duration
#                 there at every start
# The national directory operator cn=annuaire-sante,ou=system,<suffix> (the
# MSSanté view of acl.conf) gets a random password kept in
# $MM_STATE/slapd/annuaire.pw.
# The rootdn cn=admin,<suffix> gets a random password kept in
# $MM_STATE/slapd/admin.pw; local root over ldapi (SASL EXTERNAL) maps to it.
# The mail system's read-only identity cn=mail,ou=system,<suffix> gets a
# random password kept in $MM_STATE/slapd/mail.pw.
set -euo pipefail

prog=${0##*/}
die() { echo "$prog: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $prog start|stop|status|url"
[ -n "${MM_STATE:-}" ] || die "MM_STATE is not set"
mkdir -p "$MM_STATE"
state=$(cd "$MM_STATE" && pwd)/slapd
port=${MM_LDAP_PORT:-3890}
suffix=${MM_SUFFIX:-dc=medimail,dc=test}
case $port in ''|*[!0-9]*) die "bad MM_LDAP_PORT: $port" ;; esac
# The suffix is pasted into config files: keep to plain DN characters.
case $suffix in ''|*[!A-Za-z0-9=,.\ -]*) die "bad MM_SUFFIX: $suffix" ;; esac
server_id=${MM_SERVER_ID:-}
user_binds=${MM_USER_BINDS:-no}
syncprov=${MM_SYNCPROV:-yes}
case $syncprov in yes|no) ;; *) die "bad MM_SYNCPROV: $syncprov (yes or no)" ;; esac
[ -z "$server_id" ] || [ "$syncprov" = yes ] || die "MM_SERVER_ID needs the syncprov overlay (MM_SYNCPROV=yes)"
case $user_binds in yes|no) ;; *) die "bad MM_USER_BINDS: $user_binds (yes or no)" ;; esac
lockout_threshold=${MM_LOCKOUT_THRESHOLD:-5}
lockout_duration=${MM_LOCKOUT_DURATION:-900}
case $lockout_threshold$lockout_duration in *[!0-9]*) die "bad MM_LOCKOUT_THRESHOLD or MM_LOCKOUT_DURATION" ;; esac
sync_peers=${MM_SYNC_PEERS:-}
case $server_id in ''|[1-9]|[1-9][0-9]|[1-9][0-9][0-9]|[1-9][0-9][0-9][0-9]) ;; *) die "bad MM_SERVER_ID: $server_id" ;; esac
for peer in $sync_peers; do
	case $peer in ldap://*) ;; *) die "bad peer in MM_SYNC_PEERS: $peer" ;; esac
	case $peer in *[!A-Za-z0-9:/.-]*) die "bad peer in MM_SYNC_PEERS: $peer" ;; esac
done
[ -z "$sync_peers" ] || [ -n "$server_id" ] || die "MM_SYNC_PEERS needs MM_SERVER_ID"

schemadir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../ldap-schema" && pwd)
sysschema=/etc/ldap/schema
conf=$state/slapd.conf
pidfile=$state/slapd.pid
socket=$state/ldapi
admin_dn="cn=admin,$suffix"
authd_dn="cn=authd,ou=system,$suffix"
repl_dn="cn=replicator,ou=system,$suffix"
mail_dn="cn=mail,ou=system,$suffix"
annuaire_dn="cn=annuaire-sante,ou=system,$suffix"

# Percent-encode a path for an ldapi:// URL (byte by byte).
urlencode() {
	local LC_ALL=C s=$1 out='' c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[A-Za-z0-9._~-]) out+=$c ;;
		*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	printf '%s' "$out"
}

ldap_url="ldap://127.0.0.1:$port/"
ldapi_url="ldapi://$(urlencode "$socket")"

running_pid() {
	local pid
	[ -s "$pidfile" ] || return 1
	pid=$(<"$pidfile")
	case $pid in ''|*[!0-9]*) return 1 ;; esac
	kill -0 "$pid" 2>/dev/null || return 1
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = slapd ] || return 1
	echo "$pid"
}

# A random secret made of URL- and shell-safe characters.
random_secret() {
	head -c 32 /dev/urandom | base64 | tr -d '/+=\n' | head -c 32
}

# Write a secret file once (0600, no trailing newline).
secret_file() {
	local file=$1 value=$2
	(umask 077 && printf '%s' "$value" >"$file.tmp" && mv "$file.tmp" "$file")
}

hash_file() {
	slappasswd -n -h '{SSHA}' -T "$1"
}

write_conf() {
	local s
	sed "s|@SUFFIX@|$suffix|g" "$schemadir/authz.conf" >"$state/authz.conf"
	{
		if [ "$user_binds" = yes ]; then
			sed "s|@SUFFIX@|$suffix|g" "$schemadir/acl-user-binds.conf"
		fi
		sed "s|@SUFFIX@|$suffix|g" "$schemadir/acl.conf"
	} >"$state/acl.conf"
	{
		echo "# Generated by $prog; rewritten at every start."
		for s in core cosine nis inetorgperson; do
			echo "include \"$sysschema/$s.schema\""
		done
		echo "include \"$schemadir/medimail.schema\""
		echo
		echo "modulepath /usr/lib/ldap"
		echo "moduleload back_mdb"
		echo "moduleload argon2"
		echo "moduleload syncprov"
		echo "moduleload unique"
		echo "moduleload ppolicy"
		echo
		echo "pidfile \"$pidfile\""
		echo "argsfile \"$state/slapd.args\""
		echo "loglevel none"
		echo "password-hash {ARGON2}"
		echo "include \"$state/authz.conf\""
		[ -z "$server_id" ] || echo "serverID $server_id"
		echo
		echo "database mdb"
		echo "maxsize 8589934592"
		echo "suffix \"$suffix\""
		echo "rootdn \"$admin_dn\""
		echo "rootpw $(hash_file "$state/admin.pw")"
		echo "directory \"$state/db\""
		echo "# The daemon streams the national export: no size or time limit for it."
		echo "limits dn.exact=\"$authd_dn\" size=unlimited time=unlimited"
		echo "include \"$schemadir/indexes.conf\""
		if [ -n "$server_id" ]; then
			echo "# Replication: the replicator reads everything, secrets included."
			echo "limits dn.exact=\"$repl_dn\" size=unlimited time=unlimited"
			echo "access to * by dn.exact=\"$repl_dn\" read by * break"
		fi
		echo "include \"$state/acl.conf\""
		if [ -n "$server_id" ]; then
			echo
			echo "# Multi-provider replication with the peers."
			local rid=0 peer
			for peer in $sync_peers; do
				rid=$((rid + 1))
				printf 'syncrepl rid=%03d provider=%s bindmethod=simple binddn="%s" credentials="%s" searchbase="%s" type=refreshAndPersist retry="1 +" timeout=3 network-timeout=3 schemachecking=on\n' \
					"$rid" "$peer" "$repl_dn" "$(cat "$state/repl.pw")" "$suffix"
			done
			echo "multiprovider on"
		fi
		echo "# The daemon reads whole maps (the NSS cache): no size limit for it."
		echo "limits dn.exact=\"$authd_dn\" size=unlimited time=unlimited"
		echo
		echo "# Failed simple binds count and lock like failed logins (docs: lockout)."
		echo "overlay ppolicy"
		echo "ppolicy_default \"cn=lockout,ou=policies,$suffix\""
		echo
		echo "# Uniqueness enforced by slapd, so that concurrent daemons cannot collide."
		echo "overlay unique"
		for a in uid mmLoginMail mmMssAddress mmRpps; do
			echo "unique_uri \"ldap:///?$a?sub\""
		done
		echo "unique_uri \"ldap:///ou=people,$suffix?uidNumber?sub\""
		echo "unique_uri \"ldap:///ou=orgs,$suffix?gidNumber?sub\""
		if [ "$syncprov" = yes ]; then
			echo
			echo "# Content synchronization: the peers' replication and the daemons' follow"
			echo "# of ou=sessions and the accounts (docs/architecture.md, store/follow.c)."
			echo "overlay syncprov"
			echo "syncprov-checkpoint 100 1"
		fi
	} >"$conf.tmp"
	chmod 0600 "$conf.tmp"
	mv "$conf.tmp" "$conf"
}

base_ldif() {
	local dc=${suffix%%,*}
	dc=${dc#*=}
	cat <<-LDIF
	dn: $suffix
	objectClass: dcObject
	objectClass: organization
	dc: $dc
	o: medimail

	dn: ou=people,$suffix
	objectClass: organizationalUnit
	ou: people

	dn: ou=orgs,$suffix
	objectClass: organizationalUnit
	ou: orgs

	dn: ou=sessions,$suffix
	objectClass: organizationalUnit
	ou: sessions

	dn: ou=services,$suffix
	objectClass: organizationalUnit
	ou: services

	dn: ou=system,$suffix
	objectClass: organizationalUnit
	ou: system

	dn: $authd_dn
	objectClass: applicationProcess
	objectClass: simpleSecurityObject
	cn: authd
	description: medimail-auth daemon
	userPassword: $(hash_file "$state/authd.pw")

	$(mail_ldif)

	$(policy_ldif)

	dn: $annuaire_dn
	objectClass: applicationProcess
	objectClass: simpleSecurityObject
	cn: annuaire-sante
	description: national MSSanté directory operator (MSSanté view only)
	userPassword: $(hash_file "$state/annuaire.pw")
	LDIF
	if [ -n "$server_id" ]; then
		cat <<-LDIF

		dn: $repl_dn
		objectClass: applicationProcess
		objectClass: simpleSecurityObject
		cn: replicator
		description: syncrepl between the providers
		userPassword: $(hash_file "$state/repl.pw")
		LDIF
	fi
}

mail_ldif() {
	cat <<-LDIF
	dn: $mail_dn
	objectClass: applicationProcess
	objectClass: simpleSecurityObject
	cn: mail
	description: mail system lookups (read only)
	userPassword: $(hash_file "$state/mail.pw")
	LDIF
}

# ppolicy's entry: failed binds lock the account as failed logins do.
policy_ldif() {
	sed -e '/^#/d' -e "s|@SUFFIX@|$suffix|g" -e "s|@THRESHOLD@|$lockout_threshold|g" \
		-e "s|@DURATION@|$lockout_duration|g" "$schemadir/lockout.ldif"
}

# A directory made before the lockout policy existed gets it at start.
ensure_policy() {
	ldapsearch -Q -LLL -Y EXTERNAL -H "$ldapi_url" -b "cn=lockout,ou=policies,$suffix" -s base dn \
		>/dev/null 2>&1 && return 0
	policy_ldif | quiet ldapadd -c -Q -Y EXTERNAL -H "$ldapi_url" || true
}

# A directory made before cn=mail existed gets it at start.
ensure_mail_dn() {
	ldapsearch -Q -LLL -Y EXTERNAL -H "$ldapi_url" -b "$mail_dn" -s base dn >/dev/null 2>&1 && return 0
	mail_ldif | quiet ldapadd -Q -Y EXTERNAL -H "$ldapi_url"
}

# Run a command, showing its output only if it fails.
quiet() {
	local out
	if ! out=$("$@" 2>&1); then
		printf '%s\n' "$out" >&2
		return 1
	fi
}

ldapi_ok() {
	# The root DSE: a replica may not hold the suffix entry yet.
	ldapsearch -Q -LLL -Y EXTERNAL -H "$ldapi_url" -b "" -s base dn \
		>/dev/null 2>&1
}

# MM_AUTHD_PW wins over the stored password; returns 0 if it changed.
update_authd_pw_file() {
	local want=${MM_AUTHD_PW:-}
	if [ ! -s "$state/authd.pw" ]; then
		secret_file "$state/authd.pw" "${want:-$(random_secret)}"
		return 1
	fi
	[ -n "$want" ] && [ "$want" != "$(cat "$state/authd.pw")" ] || return 1
	secret_file "$state/authd.pw" "$want"
}

# Put the stored password on cn=authd of a running server.
sync_authd_pw() {
	quiet ldapmodify -Q -Y EXTERNAL -H "$ldapi_url" <<-LDIF
	dn: $authd_dn
	changetype: modify
	replace: userPassword
	userPassword: $(hash_file "$state/authd.pw")
	LDIF
	if [ -n "$server_id" ]; then
		cat <<-LDIF

		dn: $repl_dn
		objectClass: applicationProcess
		objectClass: simpleSecurityObject
		cn: replicator
		description: syncrepl between the providers
		userPassword: $(hash_file "$state/repl.pw")
		LDIF
	fi
}

do_start() {
	local i fresh=0 pw_changed=0
	mkdir -p "$state"
	chmod 0700 "$state"
	update_authd_pw_file && pw_changed=1
	if running_pid >/dev/null; then
		[ $pw_changed -eq 0 ] || sync_authd_pw
		echo "$ldap_url $ldapi_url"
		return 0
	fi
	rm -f "$pidfile"
	[ ${#socket} -lt 100 ] || die "ldapi socket path too long: $socket"

	[ -s "$state/admin.pw" ] || secret_file "$state/admin.pw" "$(random_secret)"
	if [ -n "$server_id" ]; then
		[ -n "${MM_REPL_PW:-}" ] || [ -s "$state/repl.pw" ] || die "MM_REPL_PW is needed with MM_SERVER_ID"
		[ -z "${MM_REPL_PW:-}" ] || secret_file "$state/repl.pw" "$MM_REPL_PW"
	fi
	[ -s "$state/mail.pw" ] || secret_file "$state/mail.pw" "$(random_secret)"
	[ -s "$state/annuaire.pw" ] || secret_file "$state/annuaire.pw" "$(random_secret)"
	mkdir -p "$state/db"
	chmod 0700 "$state/db"
	write_conf
	quiet slaptest -u -f "$conf" || die "slaptest failed on $conf"

	if [ ! -e "$state/db/data.mdb" ] && [ "${server_id:-1}" != 1 ]; then
		fresh=1    # an empty replica: everything comes from the peers
	elif [ ! -e "$state/db/data.mdb" ]; then
		fresh=1
		base_ldif >"$state/base.ldif"
		quiet slapadd -f "$conf" -b "$suffix" -l "$state/base.ldif" ||
			die "slapadd of the base entries failed"
		rm -f "$state/base.ldif"
		MM_SLAPADD=${MM_SLAPADD:-${MM_SLAPD_LDIF:-}}
		if [ -n "${MM_SLAPADD:-}" ]; then
			[ -r "$MM_SLAPADD" ] || die "MM_SLAPADD: cannot read $MM_SLAPADD"
			quiet slapadd -q -f "$conf" -b "$suffix" -l "$MM_SLAPADD" ||
				die "slapadd of $MM_SLAPADD failed"
		fi
	fi

	rm -f "$socket"
	quiet slapd -h "$ldap_url $ldapi_url" -f "$conf" ||
		die "slapd failed to start"
	for ((i = 0; i < 100; i++)); do
		ldapi_ok && break
		sleep 0.1
	done
	ldapi_ok || die "slapd does not answer on $ldapi_url"
	[ $fresh -eq 1 ] || [ $pw_changed -eq 0 ] || sync_authd_pw
	[ $fresh -eq 1 ] || ensure_mail_dn
	[ $fresh -eq 1 ] || [ "${server_id:-1}" != 1 ] || ensure_policy
	echo "$ldap_url $ldapi_url"
}

do_stop() {
	local pid i
	pid=$(running_pid) || { rm -f "$pidfile"; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 20; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -f "$pidfile" "$socket"
}

case $1 in
start) do_start ;;
stop) do_stop ;;
status) running_pid >/dev/null ;;
url) printf '%s\n%s\n' "$ldap_url" "$ldapi_url" ;;
*) die "usage: $prog start|stop|status|url" ;;
esac
