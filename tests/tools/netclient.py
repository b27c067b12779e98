#!/usr/bin/env python3
"""Clients the network tests need beyond curl.

  netclient.py halfclose HOST PORT TEXT   send TEXT, shut down writing, print the reply
  netclient.py many HOST PORT N           N connections open at once, each an HTTP GET;
                                          prints how many got a 200
  netclient.py udp HOST PORT TEXT         one datagram; prints the reply
"""
import selectors
import socket
import sys


def halfclose(host, port, text):
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(text.encode())
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    sys.stdout.write(reply.decode())


def many(host, port, n):
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(int(n)):
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        s.connect((host, int(port)))
        socks.append(s)
    # All open at once before any request is sent.
    for s in socks:
        s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, bytearray())
    ok = 0
    pending = len(socks)
    while pending:
        events = sel.select(timeout=30)
        if not events:
            break
        for key, _ in events:
            try:
                chunk = key.fileobj.recv(65536)
            except ConnectionError:
                chunk = b""
            if chunk:
                key.data.extend(chunk)
                continue
            if key.data.startswith(b"HTTP/1.") and b" 200 " in key.data[:16]:
                ok += 1
            sel.unregister(key.fileobj)
            key.fileobj.close()
            pending -= 1
    print(ok)


def udp(host, port, text):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(text.encode(), (host, int(port)))
        print(s.recv(65536).decode())


if __name__ == "__main__":
    {"halfclose": halfclose, "many": many, "udp": udp}[sys.argv[1]](*sys.argv[2:])
