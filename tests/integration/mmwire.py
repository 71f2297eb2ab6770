"""mmwire: a small client of the medimail-authd wire protocol (common/protocol.h), for tests
that talk to a daemon directly (two daemons, raw frames, exact statuses)."""
import socket
import struct

MAGIC = 0x4D4D4155
VERSION = 1
REPLY = 0x8000

PING = 0x0001
CGU_ACCEPT = 0x010C
AUTH_PASSWORD = 0x0201
OTP_SEND = 0x0202
OTP_VERIFY = 0x0203
ACCT_CHECK = 0x0204
PASSWORD_CHANGE = 0x0205
SESSION_OPEN = 0x0206
SESSION_CLOSE = 0x0207
ACCOUNTS = 0x0208
SWITCH = 0x0209
DEFAULT_SET = 0x020A
MAIL_AUTH = 0x020C
DEVICE_ENROL = 0x0760
DEVICE_COMPLETE = 0x0761
DEVICE_REVOKE = 0x0763
APP_PASSWORD_CREATE = 0x0780
APP_PASSWORD_LIST = 0x0781
APP_PASSWORD_REVOKE = 0x0782


def _s(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">I", len(b)) + b


def encode(code, fields):
    """fields: list of (key, value) pairs; values may be bytes (to send anything)."""
    payload = struct.pack(">I", len(fields)) + b"".join(_s(k) + _s(v) for k, v in fields)
    return struct.pack(">IHHI", MAGIC, VERSION, code, len(payload)) + payload


class Reply:
    def __init__(self, code, status, message, fields):
        self.code, self.status, self.message, self.fields = code, status, message, fields

    def get(self, key, default=None):
        for k, v in self.fields:
            if k == key:
                return v
        return default

    def records(self):
        out, cur = [], None
        for k, v in self.fields:
            if k == "#":
                cur = {}
                out.append(cur)
            elif cur is not None:
                cur[k] = v
        return out

    def __repr__(self):
        return f"Reply(status={self.status}, message={self.message!r}, fields={self.fields!r})"


def _read(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("daemon closed the connection")
        data += chunk
    return data


def decode_reply(sock):
    magic, version, code, length = struct.unpack(">IHHI", _read(sock, 12))
    assert magic == MAGIC and version == VERSION and code & REPLY, (magic, version, code)
    p = _read(sock, length)
    off = 0

    def get_u32():
        nonlocal off
        v = struct.unpack_from(">I", p, off)[0]
        off += 4
        return v

    def get_str():
        nonlocal off
        n = get_u32()
        v = p[off:off + n].decode()
        off += n
        return v
    status = struct.unpack_from(">i", p, 0)[0]
    off = 4
    message = get_str()
    fields = [(get_str(), get_str()) for _ in range(get_u32())]
    assert off == len(p)
    return Reply(code & ~REPLY, status, message, fields)


def call_raw(path, frame, timeout=30):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        s.sendall(frame)
        return decode_reply(s)


def call(path, req, timeout=30, **fields):
    return call_raw(path, encode(req, [(k, v) for k, v in fields.items() if v is not None]), timeout)
