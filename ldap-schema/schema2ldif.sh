#!/bin/bash
# Generate medimail.ldif (cn=config format) from medimail.schema with slaptest.
# Usage: schema2ldif.sh [OUTPUT]   (default: medimail.ldif next to this script;
#                                   "-" writes to standard output)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
schema="$here/medimail.schema"
out="${1:-$here/medimail.ldif}"
sysschema=/etc/ldap/schema

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

{
	for s in core cosine nis inetorgperson; do
		printf 'include "%s/%s.schema"\n' "$sysschema" "$s"
	done
	printf 'include "%s"\n' "$schema"
} >"$tmp/slapd.conf"
mkdir "$tmp/slapd.d"

if ! slaptest -Q -f "$tmp/slapd.conf" -F "$tmp/slapd.d" >"$tmp/log" 2>&1; then
	cat "$tmp/log" >&2
	echo "schema2ldif: slaptest failed on $schema" >&2
	exit 1
fi

gen=$(find "$tmp/slapd.d/cn=config/cn=schema" -name 'cn={*}medimail.ldif')
if [ -z "$gen" ]; then
	echo "schema2ldif: slaptest produced no medimail schema entry" >&2
	exit 1
fi

# Give the entry its full DN, drop the {N} ordering prefixes, the
# operational attributes and slapd's own comment lines.  Continuation lines
# (leading space) of the dropped attributes are never produced: all of them
# are short.
convert() {
	printf '# medimail.ldif: medimail-auth schema for cn=config.\n'
	printf '# GENERATED from medimail.schema by schema2ldif.sh: do not edit.\n'
	printf '# Load with: ldapadd -Y EXTERNAL -H ldapi:/// -f medimail.ldif\n'
	printf '# (after core, cosine, nis and inetorgperson).\n'
	sed -E \
		-e '/^#/d' \
		-e '/^(structuralObjectClass|entryUUID|creatorsName|createTimestamp|entryCSN|modifiersName|modifyTimestamp):/d' \
		-e 's/^dn: cn=\{[0-9]+\}medimail$/dn: cn=medimail,cn=schema,cn=config/' \
		-e 's/^cn: \{[0-9]+\}medimail$/cn: medimail/' \
		-e 's/^(olc[A-Za-z]+: )\{[0-9]+\}/\1/' \
		"$gen"
}

if [ "$out" = "-" ]; then
	convert
else
	convert >"$tmp/out.ldif"
	mv "$tmp/out.ldif" "$out"
	chmod 0644 "$out"
fi
