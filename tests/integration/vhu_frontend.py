#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A minimal vhost-user front end for tests: one connection to a back end's
socket, then the given steps in order, one result line each on stdout.

usage: vhu_frontend.py SOCKET STEP...
  hello             GET_FEATURES, SET_OWNER, GET_PROTOCOL_FEATURES,
                    SET_PROTOCOL_FEATURES (RARP and REPLY_ACK),
                    SET_FEATURES (VERSION_1 and PROTOCOL_FEATURES)
  rarp:MAC          SEND_RARP (8-byte payload, the MAC first) with need_reply
  rarp:MAC:SIZE     the same with a payload of SIZE bytes (malformed unless 8)
  rarp-noreply:MAC:SIZE   the same without need_reply: no answer expected
  garbage           a header announcing a 1 MiB payload: the back end must
                    close the connection

Message layouts from QEMU's docs/interop/vhost-user.rst: a header of three
native-endian u32 (request, flags, size), then `size` bytes of payload.
Flags: version 1 in bits 0-1, bit 2 reply, bit 3 need_reply. Exits 1 when
the back end answers something a front end cannot accept.
"""
import socket
import struct
import sys

GET_FEATURES, SET_FEATURES, SET_OWNER = 1, 2, 3
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, SEND_RARP = 15, 16, 19
VERSION, REPLY, NEED_REPLY = 0x1, 0x4, 0x8
F_VERSION_1, F_PROTOCOL_FEATURES = 1 << 32, 1 << 30
PF_RARP, PF_REPLY_ACK = 1 << 2, 1 << 3


class FrontEnd:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(5)
        self.s.connect(path)

    def send(self, request, payload=b"", flags=0, size=None):
        size = len(payload) if size is None else size
        self.s.sendall(struct.pack("=III", request, VERSION | flags, size) + payload)

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise EOFError("the back end closed the connection")
            buf += chunk
        return buf

    def reply(self, request):
        req, flags, size = struct.unpack("=III", self.recv_exact(12))
        if req != request or flags != VERSION | REPLY:
            sys.exit(f"bad reply header: request {req} flags {flags:#x}")
        return self.recv_exact(size)

    def get_u64(self, request):
        self.send(request)
        payload = self.reply(request)
        if len(payload) != 8:
            sys.exit(f"request {request}: reply of {len(payload)} bytes")
        return struct.unpack("=Q", payload)[0]

    def set_u64(self, request, value, ack=True):
        """Send a u64; with ack, need_reply and return the back end's answer."""
        self.send(request, struct.pack("=Q", value), NEED_REPLY if ack else 0)
        return self.get_ack(request) if ack else None

    def get_ack(self, request):
        payload = self.reply(request)
        if len(payload) != 8:
            sys.exit(f"request {request}: ack of {len(payload)} bytes")
        return struct.unpack("=Q", payload)[0]

    def hello(self):
        features = self.get_u64(GET_FEATURES)
        if not features & F_PROTOCOL_FEATURES or not features & F_VERSION_1:
            sys.exit(f"features {features:#x}: no PROTOCOL_FEATURES or VERSION_1")
        self.send(SET_OWNER)
        pf = self.get_u64(GET_PROTOCOL_FEATURES)
        if pf & (PF_RARP | PF_REPLY_ACK) != PF_RARP | PF_REPLY_ACK:
            sys.exit(f"protocol features {pf:#x}: no RARP or REPLY_ACK")
        self.send(SET_PROTOCOL_FEATURES, struct.pack("=Q", PF_RARP | PF_REPLY_ACK))
        ack = self.set_u64(SET_FEATURES, F_VERSION_1 | F_PROTOCOL_FEATURES)
        print(f"hello features={features:#x} protocol_features={pf:#x} set_features_ack={ack}")

    def rarp(self, mac, size=8, need_reply=True):
        payload = (bytes.fromhex(mac.replace(":", "")) + bytes(8))[:size]
        payload += bytes(size - len(payload))
        self.send(SEND_RARP, payload, NEED_REPLY if need_reply else 0)
        ack = self.get_ack(SEND_RARP) if need_reply else "none"
        print(f"rarp mac={mac} size={size} ack={ack}")

    def garbage(self):
        self.send(SEND_RARP, b"", NEED_REPLY, size=1 << 20)
        try:
            self.reply(SEND_RARP)
            print("garbage answered")
        except EOFError:
            print("garbage closed")


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    fe = FrontEnd(argv[1])
    for step in argv[2:]:
        name, *args = step.split(":", 1)
        if name == "hello":
            fe.hello()
        elif name == "garbage":
            fe.garbage()
        elif name in ("rarp", "rarp-noreply"):
            mac, size = args[0][:17], args[0][18:]  # MAC[:SIZE]
            fe.rarp(mac, int(size or 8), name == "rarp")
        else:
            sys.exit(f"unknown step {step}")


if __name__ == "__main__":
    main(sys.argv)
