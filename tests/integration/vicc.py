"""vicc: a virtual smart card for vsmartcard-vpcd. Connecting to vpcd's port is inserting
the card in the "Virtual PCD" reader; exiting is removing it. It answers power
commands and the ATR request, and refuses every APDU (the tests reach the card's
keys through PKCS#11/SoftHSM2; the reader only says whether a card is there)."""
import socket
import struct
import sys
import time

ATR = bytes.fromhex("3B8880010000000000000000")


def main(port):
    for _ in range(100):
        try:
            s = socket.create_connection(("127.0.0.1", port))
            break
        except OSError:
            time.sleep(0.1)
    else:
        sys.exit(1)

    def recvn(n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c:
                sys.exit(0)
            b += c
        return b

    while True:
        (n,) = struct.unpack(">H", recvn(2))
        p = recvn(n)
        if n == 1:
            if p[0] == 4:  # get ATR; 0 power off, 1 power on, 2 reset need no answer
                s.sendall(struct.pack(">H", len(ATR)) + ATR)
        else:
            s.sendall(struct.pack(">H", 2) + bytes.fromhex("6D00"))  # INS not supported


if __name__ == "__main__":
    main(int(sys.argv[1]))
