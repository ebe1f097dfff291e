#!/usr/bin/python3
"""Relay stdin/stdout to a TCP server: a stand-in for `ssh host nc relay 25`.

    /usr/bin/python3 t/lib/stdio2tcp.py HOST PORT

For mtad's `smarthost-command`: mhtest.stdio_command(port) gives the command
line.  The client's EOF on stdin half-closes the TCP connection; the server's
EOF ends the relay (exit 0); a connection failure exits 1 with a message on
stderr.
"""

import os
import select
import socket
import sys


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    try:
        s = socket.create_connection((host, port), 10)
    except OSError as e:
        sys.stderr.write("stdio2tcp: %s:%d: %s\n" % (host, port, e))
        return 1
    s.settimeout(None)
    inp, out = sys.stdin.fileno(), sys.stdout.fileno()
    fds = [inp, s]
    while True:
        r, _, _ = select.select(fds, [], [])
        if inp in r:
            d = os.read(inp, 65536)
            if d:
                s.sendall(d)
            else:
                s.shutdown(socket.SHUT_WR)
                fds.remove(inp)
        if s in r:
            try:
                d = s.recv(65536)
            except OSError:
                d = b""
            if not d:
                return 0
            view = memoryview(d)
            while view:
                try:
                    n = os.write(out, view)
                except BrokenPipeError:
                    return 0
                view = view[n:]


if __name__ == "__main__":
    sys.exit(main())
