#!/usr/bin/python3
"""smtp-sink.py: a local SMTP server (aiosmtpd) that keeps every message in a Maildir.

Usage: smtp-sink.py --listen 127.0.0.1:2525 --maildir DIR [--pidfile FILE]
Runs in the foreground until SIGTERM. Only for development and tests.
"""
import argparse
import asyncio
import mailbox
import os
import signal
import sys

from aiosmtpd.controller import Controller


class MaildirHandler:
    def __init__(self, path):
        self.box = mailbox.Maildir(path, create=True)

    async def handle_DATA(self, server, session, envelope):
        msg = mailbox.MaildirMessage(envelope.original_content)
        msg["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.box.add(msg)
        return "250 OK"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:2525")
    ap.add_argument("--maildir", required=True)
    ap.add_argument("--pidfile")
    a = ap.parse_args()
    host, port = a.listen.rsplit(":", 1)
    ctl = Controller(MaildirHandler(a.maildir), hostname=host, port=int(port))
    ctl.start()
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    print(f"smtp-sink listening on {host}:{port}, Maildir {a.maildir}", flush=True)
    loop.run_until_complete(stop.wait())
    ctl.stop()
    if a.pidfile:
        os.unlink(a.pidfile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
