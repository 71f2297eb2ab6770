"""Slow HTTP clients, run in a process of their own so that their work does not
slow the measuring client: COUNT connections from SOURCE that send a request
line and then one header line every INTERVAL seconds (or, with --body, a POST
whose declared body trickles), and never finish. Prints one JSON object: how
many connected, and for each connection the seconds from its connect to the
moment the server closed it (null when still open after DURATION)."""
import argparse
import errno
import json
import resource
import selectors
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--source", default="127.0.0.2")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--byte", action="store_true", help="one byte per interval instead of one line")
    ap.add_argument("--body", type=int, default=0, help="POST with this Content-Length, trickled")
    ap.add_argument("--header", action="append", default=[], help="an extra header line of the request")
    a = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sel = selectors.DefaultSelector()
    socks, opened, cut = [], [], []
    extra = b"".join(h.encode() + b"\r\n" for h in a.header)
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + extra
    if a.body:
        head = (b"POST /v1/introspect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra +
                b"Content-Length: %d\r\n\r\n" % a.body)
    elif a.byte:
        head += b"X-Pad: " + b"a" * 1000 + b"\r\n\r\n"  # a 1 KB header
    for i in range(a.count):
        s = socket.socket()
        s.bind((a.source, 0))
        s.setblocking(False)
        err = s.connect_ex(("127.0.0.1", a.port))
        if err not in (0, errno.EINPROGRESS):
            print(json.dumps({"error": f"connect: {errno.errorcode.get(err, err)}"}))
            return 1
        socks.append(s)
        opened.append(None)
        cut.append(None)
        sel.register(s, selectors.EVENT_WRITE | selectors.EVENT_READ, i)
    start = time.monotonic()
    sent = [0] * a.count
    pending = bytearray()
    next_tick = start
    line = 0
    while time.monotonic() - start < a.duration:
        now = time.monotonic()
        timeout = max(0.0, min(next_tick - now, 0.05))
        for key, ev in sel.select(timeout):
            i = key.data
            s = socks[i]
            now = time.monotonic()
            if opened[i] is None and ev & selectors.EVENT_WRITE:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    opened[i] = now
                    cut[i] = 0.0
                    sel.unregister(s)
                    continue
                opened[i] = now
                try:
                    first = head[:1] if a.byte else head
                    s.send(first)
                    sent[i] = len(first)
                except OSError:
                    cut[i] = 0.0
                    sel.unregister(s)
                    continue
                sel.modify(s, selectors.EVENT_READ, i)
                continue
            if ev & selectors.EVENT_READ:
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    cut[i] = now - opened[i]
                    sel.unregister(s)
        now = time.monotonic()
        if now >= next_tick:
            next_tick = now + a.interval
            line += 1
            for i, s in enumerate(socks):
                if opened[i] is None or cut[i] is not None:
                    continue
                if a.body:
                    chunk = b"x"
                elif a.byte:
                    rest = head[sent[i]:] or b"X"
                    chunk = rest[:1]
                else:
                    chunk = b"X-Slow-%d: %d\r\n" % (line, i)
                try:
                    s.send(chunk)
                    sent[i] += len(chunk)
                except OSError:
                    cut[i] = now - opened[i]
                    sel.unregister(s)
    print(json.dumps({"connected": sum(1 for o in opened if o is not None), "cut": cut}))
    sys.stdout.flush()
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
