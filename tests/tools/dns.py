#!/usr/bin/python3
"""A DNS server for tests: answers every A question with one address.

    dns.py ADDRESS PORT ANSWER   (prints "ready" once listening)
"""
import socket
import struct
import sys


def answer(query, address):
    ident, _flags, qdcount = struct.unpack("!HHH", query[:6])
    end = 12
    while query[end] != 0:  # the question's name, label by label
        end += query[end] + 1
    question = query[12:end + 5]
    qtype = struct.unpack("!H", query[end + 1:end + 3])[0]
    header = struct.pack("!HHHHHH", ident, 0x8180, qdcount, 1 if qtype == 1 else 0, 0, 0)
    if qtype != 1:
        return header + question
    record = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(address)
    return header + question + record


def main():
    host, port, address = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, port))
    print("ready", flush=True)
    while True:
        query, peer = sock.recvfrom(512)
        try:
            sock.sendto(answer(query, address), peer)
        except (IndexError, struct.error):
            pass


if __name__ == "__main__":
    main()
