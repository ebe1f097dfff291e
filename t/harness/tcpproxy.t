#!/usr/bin/python3
# The TCP proxy of t/lib: turn and byte counting on a known SMTP dialogue,
# faults at byte offsets, and the emulated 56 kbit/s 150 ms line.
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest

t = mhtest.Test()
tmp = mhtest.tmpdir()
P = mhtest.TcpProxy


class Server:
    """A loopback server running handler(conn) per connection in a thread."""

    def __init__(self, handler):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.got = []
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.run, args=(c,), daemon=True).start()

    def run(self, c):
        c.settimeout(10)
        try:
            self.handler(self, c)
        except OSError:
            pass
        finally:
            c.close()


def read_all(c):
    buf = b""
    while True:
        try:
            d = c.recv(65536)
        except (ConnectionResetError, socket.timeout) as e:
            return buf, e
        if not d:
            return buf, None
        buf += d


def sink(srv, c):
    data, _ = read_all(c)
    srv.got.append(data)


def source(srv, c):
    c.sendall(bytes(range(256)) * 4)       # 1024 bytes, then EOF


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.settimeout(5)
    return s


# --- turns and bytes on a known SMTP dialogue ------------------------------
sh = mhtest.SmartHost(tmp)
px = P(tmp, sh.port, record=True)
s = connect(px.port)
f = s.makefile("rb")


def replies(n):
    out = b""
    for _ in range(n):
        while True:
            line = f.readline()
            out += line
            if line[3:4] != b"-":
                break
    return out


sent = b""
got = replies(1)                                        # greeting
for chunk, n in ((b"EHLO c.test\r\n", 1),
                 (b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n"
                  b"RCPT TO:<c@y.test>\r\nDATA\r\n", 4),
                 (b"Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n", 2)):
    s.sendall(chunk)
    sent += chunk
    got += replies(n)
s.close()
mhtest.wait_for(lambda: not px.stats()["conns"][0]["open"], 5)
st = px.stats()
t.eq(st["turns"], 3, "pipelined dialogue: 3 client turns (EHLO, MAIL..DATA, data+QUIT)")
t.eq((st["c2s_bytes"], st["s2c_bytes"]), (len(sent), len(got)), "bytes counted per direction")
t.eq(px.recorded(1, "c2s"), sent, "recorded client bytes")
t.eq(st["connections"], 1, "one connection counted")
t.eq(len(sh.messages()), 1, "the message went through the proxy")

import smtplib
c = smtplib.SMTP("127.0.0.1", px.port, timeout=5)
c.ehlo("c.test")
c.sendmail("a@x.test", ["b@y.test"], b"Subject: y\r\n\r\nbody\r\n")
c.quit()
mhtest.wait_for(lambda: not px.stats()["conns"][1]["open"], 5)
st = px.stats()
t.eq(st["conns"][1]["turns"], 6, "smtplib without pipelining: 6 turns (EHLO MAIL RCPT DATA data QUIT)")
t.eq((st["connections"], st["turns"]), (2, 9), "totals over both connections")
px.stop()
sh.stop()

# --- faults at byte offsets ---------------------------------------------------
src = Server(source)
px = P(tmp, src.port, faults=[P.fault(100, "s2c", "close", conn=1),
                              P.fault(300, "s2c", "reset", conn=2),
                              P.fault(200, "s2c", "stall", conn=3)])
data, err = read_all(connect(px.port))
t.eq((len(data), err), (100, None), "close after 100 server bytes: client reads exactly 100, then EOF")
t.eq(data, (bytes(range(256)) * 4)[:100], "and they are the right bytes")
data, err = read_all(connect(px.port))
t.ok(len(data) == 300 and isinstance(err, ConnectionResetError),
     "reset after 300 bytes: 300 bytes then ECONNRESET", (len(data), err))
s = connect(px.port)
s.settimeout(0.7)
data, err = read_all(s)
t.ok(len(data) == 200 and isinstance(err, socket.timeout),
     "stall after 200 bytes: 200 bytes, then nothing, connection still open", (len(data), err))
s.close()
data, err = read_all(connect(px.port))
t.eq((len(data), err), (1024, None), "4th connection has no fault: all 1024 bytes")
st = px.stats()
t.eq([c["fault"] for c in st["conns"]][:2],
     ["close after 100 s2c bytes", "reset after 300 s2c bytes"], "faults reported in the stats")
px.stop()

snk = Server(sink)
px = P(tmp, snk.port, faults=[P.fault(300, "c2s", "close")])
s = connect(px.port)
try:
    s.sendall(b"z" * 1000)
except OSError:
    pass
mhtest.wait_for(lambda: snk.got, 5)
t.eq([len(g) for g in snk.got], [300], "close after 300 client bytes: server received exactly 300")
s.close()

s = connect(px.port)
s.sendall(b"abc")
time.sleep(0.2)
px.cut()
data, err = read_all(s)
t.ok(isinstance(err, ConnectionResetError) or data == b"", "cut() drops open connections", err)
px.stop()

px = P(tmp, snk.port, refuse=True)
data, err = read_all(connect(px.port))
t.eq((data, err is None or isinstance(err, ConnectionResetError)), (b"", True), "refuse=True: closed at once")
px.stop()

# A fault on text: the 2nd message's 250 never reaches the client.
sh = mhtest.SmartHost(tmp, name="sh-match")
px = P(tmp, sh.port, faults=[P.fault(match="250 2.0.0", count=2, at="start",
                                     conn=1)])
c = smtplib.SMTP("127.0.0.1", px.port, timeout=5)
c.ehlo("c.test")
c.sendmail("a@x.test", ["b@y.test"], b"Subject: 1\r\n\r\none\r\n")
try:
    c.sendmail("a@x.test", ["b@y.test"], b"Subject: 2\r\n\r\ntwo\r\n")
    t.ok(False, "2nd reply cut")
except smtplib.SMTPServerDisconnected:
    t.ok(True, "match fault: the client loses the connection before the 2nd 250")
t.eq(len(sh.messages()), 2, "while the server accepted both messages")
t.like(px.stats()["conns"][0]["fault"], "close after", "match fault reported")
c = smtplib.SMTP("127.0.0.1", px.port, timeout=5)
c.ehlo("c.test")
c.sendmail("a@x.test", ["b@y.test"], b"Subject: 3\r\n\r\nthree\r\n")
c.quit()
t.eq(len(sh.messages()), 3, "conn=1: the next connection is not cut")
px.stop()
sh.stop()

# --- the emulated line ----------------------------------------------------------


def echo_done(srv, c):
    data, _ = b"", None
    while not data.endswith(b"END"):
        d = c.recv(65536)
        if not d:
            break
        data += d
    srv.got.append(len(data))
    c.sendall(b"K")


def pingpong(srv, c):
    while True:
        d = c.recv(1)
        if not d:
            return
        c.sendall(d)


eds = Server(echo_done)
px = P(tmp, eds.port, line=P.modem())
s = connect(px.port)
N = 7000
t0 = time.monotonic()
s.sendall(b"x" * (N - 3) + b"END")
t.eq(s.recv(1), b"K", "bulk transfer over the line")
el = time.monotonic() - t0
floor = P.floor(N)          # bytes*8/56000 + one RTT
t.ok(floor * 0.97 <= el <= floor + 0.6,
     "7000 bytes at 56 kbit/s, 150 ms RTT: %.2fs (floor %.2fs)" % (el, floor))
s.close()
px.stop()

pp = Server(pingpong)
px = P(tmp, pp.port, line=P.modem())
s = connect(px.port)
t0 = time.monotonic()
for _ in range(5):
    s.sendall(b"p")
    s.recv(1)
el = time.monotonic() - t0
t.ok(0.75 <= el <= 1.5, "5 one-byte round trips take 5 RTTs: %.2fs" % el)
t.eq(px.turns(), 5, "5 turns counted through the line")
s.close()
px.stop()

# Two connections share one line: together they cannot beat the bandwidth.
px = P(tmp, eds.port, line=P.modem())
a, b = connect(px.port), connect(px.port)
t0 = time.monotonic()
a.sendall(b"a" * 3497 + b"END")
b.sendall(b"b" * 3497 + b"END")
a.recv(1)
b.recv(1)
el = time.monotonic() - t0
t.ok(el >= P.floor(7000) * 0.97, "two connections share the line's bandwidth: %.2fs" % el)
px.stop()
t.done()
