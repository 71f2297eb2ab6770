"""A TCP relay in front of a real slapd that damages the answer to one chosen search, for the
fault tests: everything else passes through unchanged, byte for byte.

The relay reads whole LDAP messages (BER: a SEQUENCE, its messageID, then the operation's
tag) in both directions. A search request whose bytes contain `trigger` is marked; the
answer to the first marked search is then damaged as `mode` says:
- "end": after `after` entries, the relay sends a SearchResultDone of slapd's form with
  resultCode `code` and drops the rest of that answer: busy (51) is what a slapd under load
  or past a time limit says after some entries, sizeLimitExceeded (4) what a slapd whose
  size limit for the daemon is lower than the daemon's own says;
- "drip": each message of the answer waits `delay` seconds before it goes on (a slapd that
  finds each entry slowly, never silent for long).
Later marked searches pass untouched, so a client that retried would get a whole second
answer and the test can see it (`searches` counts every marked search)."""
import socket
import threading
import time

SEARCH_REQUEST, SEARCH_ENTRY, SEARCH_DONE = 0x63, 0x64, 0x65
BUSY, SIZE_LIMIT = 51, 4


def _ber_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def _read_message(sock, buf):
    """One whole LDAP message from sock, with what was read past it; None at the end."""
    while True:
        if len(buf) >= 2:
            if buf[0] != 0x30:
                raise ValueError(f"not an LDAP message: tag {buf[0]:#x}")
            first = buf[1]
            if first < 0x80:
                head, size = 2, first
            else:
                k = first & 0x7F
                if not 1 <= k <= 4:
                    raise ValueError(f"length of {k} bytes")
                head = 2 + k
                size = int.from_bytes(buf[2:head], "big") if len(buf) >= head else None
            if size is not None and len(buf) >= head + size:
                return buf[:head + size], buf[head + size:]
        chunk = sock.recv(65536)
        if not chunk:
            return None, buf
        buf += chunk


def _id_and_op(msg):
    """The messageID and the operation's tag of one message."""
    off = 2 + (msg[1] & 0x7F if msg[1] & 0x80 else 0)
    if msg[off] != 0x02:
        raise ValueError("no messageID")
    n = msg[off + 1]
    msgid = int.from_bytes(msg[off + 2:off + 2 + n], "big", signed=True)
    return msgid, msg[off + 2 + n]


def _done(msgid, code):
    mid = msgid.to_bytes((msgid.bit_length() + 8) // 8, "big", signed=True)
    op = bytes([SEARCH_DONE, 7, 0x0A, 1, code, 0x04, 0, 0x04, 0])
    body = bytes([0x02, len(mid)]) + mid + op
    return b"\x30" + _ber_len(len(body)) + body


class LdapFault:
    def __init__(self, upstream_port, port):
        self.upstream = ("127.0.0.1", upstream_port)
        self.port = port
        self.lock = threading.Lock()
        self.disarm()
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", port))
        self.lsock.listen(64)
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return f"ldap://127.0.0.1:{self.port}"

    def arm(self, mode, trigger, after=3, delay=0.5, code=BUSY):
        with self.lock:
            self.mode, self.trigger, self.after, self.delay = mode, trigger, after, delay
            self.code = code
            self.armed, self.searches, self.sent = True, 0, 0

    def disarm(self):
        with self.lock:
            self.mode, self.trigger, self.armed = None, None, False
            self.after, self.delay, self.code, self.searches, self.sent = 0, 0.0, BUSY, 0, 0

    def close(self):
        self.closed = True
        self.lsock.close()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                s = socket.create_connection(self.upstream, timeout=5)
                s.settimeout(None)
            except OSError:
                c.close()  # slapd away: the client sees the connection end, the relay goes on
                continue
            marked = {}  # msgid -> entries forwarded, or -1 once the answer was cut
            threading.Thread(target=self._up, args=(c, s, marked), daemon=True).start()
            threading.Thread(target=self._down, args=(s, c, marked), daemon=True).start()

    @staticmethod
    def _end(a, b):
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            x.close()

    def _pump(self, src, dst, each):
        """Each whole message from src handed to each(msg, msgid, op), which passes it to dst
        or not; both ends closed when either is."""
        buf = b""
        try:
            while True:
                msg, buf = _read_message(src, buf)
                if msg is None:
                    break
                each(msg, *_id_and_op(msg))
        except (OSError, ValueError):
            pass
        self._end(src, dst)

    def _up(self, c, s, marked):
        """Client to slapd: passed on, each search request looked at first."""
        def each(msg, msgid, op):
            with self.lock:
                if op == SEARCH_REQUEST and self.trigger and self.trigger in msg:
                    self.searches += 1
                    if self.armed:
                        self.armed = False
                        marked[msgid] = 0
            s.sendall(msg)
        self._pump(c, s, each)

    def _down(self, s, c, marked):
        """slapd to client: the marked answer damaged, the rest passed on."""
        def each(msg, msgid, op):
            with self.lock:
                seen = marked.get(msgid)
                mode, after, delay, code = self.mode, self.after, self.delay, self.code
            if seen is None:
                c.sendall(msg)
                return
            if op == SEARCH_DONE:
                marked.pop(msgid, None)
            if seen < 0:
                return  # the answer was cut: slapd's rest never reaches the client
            if mode == "drip":
                time.sleep(delay)
            c.sendall(msg)
            if op == SEARCH_ENTRY:
                with self.lock:
                    marked[msgid] = seen + 1
                    self.sent += 1
                if mode == "end" and seen + 1 == after:
                    c.sendall(_done(msgid, code))
                    with self.lock:
                        marked[msgid] = -1
        self._pump(s, c, each)
