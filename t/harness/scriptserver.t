#!/usr/bin/python3
# The scripted server of t/lib: PREAUTH greeting, STARTTLS with injected
# bytes, scripted close, each seen by Python's clients.
import imaplib
import os
import poplib
import socket
import ssl
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest

t = mhtest.Test()
tmp = mhtest.tmpdir()
ca = mhtest.CA(os.path.join(tmp, "ca"))

# An IMAP server greeting with PREAUTH, answering tags.
ss = mhtest.ScriptServer(tmp, [[
    {"send": "* PREAUTH IMAP4rev1 server logged in as eddy\r\n"},
    {"expect": r"(\S+) CAPABILITY",
     "send": "* CAPABILITY IMAP4rev1\r\n{1} OK done\r\n"},
    {"expect": r"(\S+) LOGOUT", "send": "* BYE\r\n{1} OK bye\r\n"},
    {"close": True}]])
i = imaplib.IMAP4("127.0.0.1", ss.port, timeout=5)
t.eq(i.state, "AUTH", "PREAUTH greeting: imaplib is logged in without a password")
i.logout()
mhtest.wait_for(lambda: any(e["ev"] == "eof" or e["ev"] == "send" and "bye" in e["text"]
                            for e in ss.events()), 5)
t.ok(any(l.endswith("LOGOUT") for l in ss.received()), "the client's lines are logged")
t.ok(not any("LOGIN" in l for l in ss.received()), "no LOGIN was sent")
ss.stop()

# POP3 STLS with bytes injected after "+OK Begin TLS": the server drops what
# the client sent before the handshake, a correct client ignores the extra.
ss = mhtest.ScriptServer(tmp, [[
    {"send": "+OK ready\r\n"},
    {"expect": "CAPA", "send": "+OK\r\nSTLS\r\nUSER\r\n.\r\n"},
    {"expect": "STLS", "send": "+OK Begin TLS\r\n-ERR injected\r\n"},
    {"tls": True},
    {"expect": "USER (.*)", "send": "+OK\r\n"},
    {"expect": "PASS", "send": "+OK 0 messages\r\n"},
    {"expect": "QUIT", "send": "+OK bye\r\n"},
    {"close": True}]], tls=True, ca=ca)
p = poplib.POP3("127.0.0.1", ss.port, timeout=5)
p.stls(context=ca.context())
p.user("eddy")
p.pass_("pw")
p.quit()
ev = ss.events(1)
t.eq([e["line"] for e in ev if e["ev"] == "recv" and e["tls"]], ["USER eddy", "PASS pw", "QUIT"],
     "after STLS the server saw USER/PASS/QUIT under TLS")
t.ok(any(e["ev"] == "send" and "-ERR injected" in e["text"] for e in ev),
     "injected bytes were sent before the handshake")
ss.stop()

# Bytes the client sends before the handshake are discarded by the server.
ss = mhtest.ScriptServer(tmp, [[
    {"send": "220 hi\r\n"},
    {"expect": "STARTTLS", "send": "220 go\r\n"},
    {"tls": True},
    {"expect": ".*", "send": "250 ok\r\n"}]], tls=True, ca=ca)
s = socket.create_connection(("127.0.0.1", ss.port), 5)
f = s.makefile("rb")
f.readline()
s.sendall(b"STARTTLS\r\nMAIL FROM:<evil@x>\r\n")   # injection attempt
f.readline()
ts = ca.context().wrap_socket(s, server_hostname="127.0.0.1")
ts.sendall(b"NOOP\r\n")
t.eq(ts.recv(100), b"250 ok\r\n", "TLS after the scripted handshake")
ts.close()
mhtest.wait_for(lambda: len(ss.received()) >= 2, 5)
t.eq(ss.received(), ["STARTTLS", "NOOP"], "pre-handshake bytes dropped, not read as commands")
ss.stop()

# Implicit TLS, scripted reset, per-connection scripts, "until" loops.
ss = mhtest.ScriptServer(tmp, [
    [{"send": "+OK one\r\n"}, {"expect": "X"}, {"reset": True}],
    [{"send": "+OK two\r\n"},
     {"expect": "NOOP", "reply": "+OK\r\n", "until": "QUIT"},
     {"send": "+OK bye\r\n"}, {"close": True}]], implicit_tls=True, ca=ca)
ctx = ca.context()
a = ctx.wrap_socket(socket.create_connection(("127.0.0.1", ss.port), 5),
                    server_hostname="localhost")
t.eq(a.recv(100), b"+OK one\r\n", "implicit TLS: first connection's script")
a.sendall(b"X\r\n")
try:
    r = a.recv(100)
    t.eq(r, b"", "reset: connection ends")
except (ConnectionResetError, ssl.SSLError):
    t.ok(True, "reset: connection ends")
b = ctx.wrap_socket(socket.create_connection(("127.0.0.1", ss.port), 5),
                    server_hostname="localhost")
bf = b.makefile("rb")
t.eq(bf.readline(), b"+OK two\r\n", "second connection, second script")
b.sendall(b"NOOP\r\nNOOP\r\nQUIT\r\n")
t.eq([bf.readline() for _ in range(3)], [b"+OK\r\n", b"+OK\r\n", b"+OK bye\r\n"],
     "reply loop until QUIT")
t.eq(ss.connections(), 2, "two connections logged")
try:
    other = mhtest.CA(os.path.join(tmp, "other"))
    other.context().wrap_socket(socket.create_connection(("127.0.0.1", ss.port), 5),
                                server_hostname="localhost")
    t.ok(False, "unknown CA refused")
except ssl.SSLCertVerificationError:
    t.ok(True, "implicit TLS certificate from the test CA only")
ss.stop()
t.done()
