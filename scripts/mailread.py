#!/usr/bin/python3
"""mailread.py: read the development mail sink.

Usage: mailread.py MAILDIR list | last [ADDRESS] | token ADDRESS | code ADDRESS
  token prints the confirmation token of the newest link sent to ADDRESS,
  code the newest one-time code.
"""
import email
import email.header
import email.policy
import mailbox
import re
import sys


def messages(path, to=None):
    box = mailbox.Maildir(path, create=False)
    out = []
    for key in box.keys():
        raw = box.get_bytes(key)
        m = email.message_from_bytes(raw, policy=email.policy.default)
        if to and to.lower() not in str(m["To"]).lower():
            continue
        out.append((box.get_file(key)._file.name, m))
    # Maildir keys start with the delivery time: sort by file mtime to be safe.
    import os
    out.sort(key=lambda x: os.stat(x[0]).st_mtime_ns)
    return [m for _, m in out]


def body(m):
    return m.get_body(preferencelist=("plain",)).get_content()


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, cmd = argv[1], argv[2]
    arg = argv[3] if len(argv) > 3 else None
    msgs = messages(path, arg)
    if cmd == "list":
        for m in msgs:
            print(f"{m['Date']}  {m['To']}  {m['Subject']}")
        return 0
    if not msgs:
        print("no message" + (f" for {arg}" if arg else ""), file=sys.stderr)
        return 1
    last = msgs[-1]
    if cmd == "last":
        print(f"To: {last['To']}\nSubject: {last['Subject']}\n\n{body(last)}")
        return 0
    if cmd == "token":
        for m in reversed(msgs):
            found = re.search(r"jeton=([0-9a-f]{64})", body(m))
            if found:
                print(found.group(1))
                return 0
        return 1
    if cmd == "code":
        for m in reversed(msgs):
            found = re.search(r"Ce code est le : (\d{6})", body(m))
            if found:
                print(found.group(1))
                return 0
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
