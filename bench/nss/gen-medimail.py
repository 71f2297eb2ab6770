#!/usr/bin/env python3
"""gen-medimail.py PEERS_DATA OUT.ldif [--password-hash H]... [--cgu]
-- the peer baseline's directory, as medimail accounts.

Reads the files gen-users.py wrote (passwd, group) and writes an LDIF for
slapadd with the same people and the same memberships:
  each user  -> an active MED mmAccount under ou=people: same login (uid),
                same uidNumber, givenName/sn/cn from the gecos, a login e-mail
  each group -> an active BAL ORG (mmAccountType ORG) under ou=orgs: uid = the
                group name, same gidNumber, mmMember = the DNs of the users the
                group lists (memberUid), so a user's ORGs are its extra groups.
The users' primary group is the daemon's user_gid (as for every medimail user).
--password-hash H (repeatable; bench/pam): user number i (line i of passwd, from 0) gets
  userPassword H[i % k] of the k values given, each a daemon "{ARGON2}" value of the peers'
  PASSWORD made once per cost (bench/pam/kdf-bench -H), so that k daemons, one a cost, log in
  users of the same directory. --cgu: mmCguAcceptedAt set, as after a first login."""
import argparse
import base64

SUFFIX = "dc=medimail,dc=test"


def line(attr, value):
    if value and all(0x20 < ord(c) < 0x7F or c == " " for c in value) and value[0] not in " :<" \
            and value[-1] != " ":
        return f"{attr}: {value}\n"
    return f"{attr}:: {base64.b64encode(value.encode()).decode()}\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--password-hash", action="append", default=[])
    ap.add_argument("--cgu", action="store_true")
    a = ap.parse_args()
    data, out, hashes = a.data, a.out, a.password_hash
    if any(not h.startswith("{ARGON2}$argon2id$") for h in hashes):
        ap.error("--password-hash: an {ARGON2}$argon2id$... value")
    people, orgs = f"ou=people,{SUFFIX}", f"ou=orgs,{SUFFIX}"
    n_users = n_orgs = n_links = 0
    with open(out, "w", encoding="utf-8") as w:
        for row in open(f"{data}/passwd", encoding="utf-8"):
            login, _, uid, _gid, gecos, _home, _shell = row.rstrip("\n").split(":")
            given, _, sn = gecos.partition(" ")
            w.write(f"dn: uid={login},{people}\nobjectClass: mmAccount\nuid: {login}\n")
            w.write("mmAccountType: MED\nmmStatus: active\n")
            w.write(f"mmLoginMail: {login}@bench.medimail.test\n")
            w.write(line("cn", gecos) + line("givenName", given) + line("sn", sn or given))
            w.write(f"uidNumber: {uid}\ngidNumber: 100\nhomeDirectory: /home/{login}\nloginShell: /bin/bash\n")
            if hashes:
                w.write(f"userPassword: {hashes[n_users % len(hashes)]}\n")
            if a.cgu:
                w.write("mmCguAcceptedAt: 20260101000000Z\n")
            w.write("\n")
            n_users += 1
        for row in open(f"{data}/group", encoding="utf-8"):
            name, _, gid, members = row.rstrip("\n").split(":")
            w.write(f"dn: uid={name},{orgs}\nobjectClass: mmAccount\nuid: {name}\n")
            w.write("mmAccountType: ORG\nmmStatus: active\n")
            w.write(f"mmLoginMail: {name}@orgs.bench.medimail.test\ncn: {name}\ngidNumber: {gid}\n")
            for m in filter(None, members.split(",")):
                w.write(f"mmMember: uid={m},{people}\n")
                n_links += 1
            w.write("\n")
            n_orgs += 1
    print(f"medimail ldif: {n_users} users, {n_orgs} ORGs, {n_links} memberships -> {out}")


if __name__ == "__main__":
    main()
