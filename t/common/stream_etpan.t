#!/usr/bin/python3
# common/stream under libetpan's POP3 and IMAP clients, as fetchd uses them:
# plain, STLS/STARTTLS switched in place, and implicit TLS against a real
# Dovecot; an unknown CA refused before the password; and the STARTTLS
# injection class: a line a man in the middle appends to the "+OK" of STLS
# is discarded, not read as the answer to the next command.
import os
import socket
import ssl
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest

t = mhtest.Test()
tmp = mhtest.tmpdir()
ca = mhtest.CA(os.path.join(tmp, "ca"))
other = mhtest.CA(os.path.join(tmp, "other"), name="unknown CA")
dc = mhtest.Dovecot(tmp, users={"eddy": "pw-1"}, ca=ca)
for i in range(3):
    dc.deliver("eddy", b"From: a@b\r\nSubject: %d\r\n\r\nbody\r\n" % i)


def etpanc(proto, port, mode, cafile=ca.ca_file, pw="pw-1", host="127.0.0.1"):
    return mhtest.run([mhtest.bin("t/common/etpanc"), proto, "127.0.0.1",
                       str(port), mode, cafile, host, "eddy", pw], timeout=30)


for proto, port, sport in (("pop3", dc.pop3, dc.pop3s), ("imap", dc.imap, dc.imaps)):
    for mode, p, steps in (("none", port, "greeting login"),
                           ("starttls", port, "greeting tls login"),
                           ("ssl", sport, "tls greeting login")):
        r = etpanc(proto, p, mode)
        t.eq((r.returncode, r.out.split()), (0, steps.split() + ["messages", "3"]),
             "%s %s: logged in and counted 3 messages" % (proto, mode))
    r = etpanc(proto, port, "starttls", cafile=other.ca_file)
    t.ok(r.returncode == 1 and "fail tls: certificate verify failed" in r.out
         and "login" not in r.out, proto + ": unknown CA refused before login", r.out)
    r = etpanc(proto, sport, "ssl", host="mail.other.example")
    t.like(r.out, "hostname mismatch", proto + ": implicit TLS checks the host name")
    r = etpanc(proto, port, "starttls", pw="wrong")
    t.like(r.out, "fail login", proto + ": a wrong password is a failed login")
t.eq(dc.count("eddy"), 3, "nothing deleted")

# A man in the middle appends a line to the STLS answer.  libetpan fails
# STLS when bytes follow the +OK (CVE-2020-15953) and the stream would
# discard them anyway: either way the password never leaves.
cert, key = ca.issue("fake-pop3", ips=["127.0.0.1"])
sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
sctx.load_cert_chain(cert, key)
lsock = socket.socket()
lsock.bind(("127.0.0.1", 0))
lsock.listen(1)
seen = []


def fake_pop3():
    conn, _ = lsock.accept()
    conn.settimeout(10)
    f = conn.makefile("rb")
    conn.sendall(b"+OK fake POP3\r\n")
    seen.append(f.readline())                   # STLS
    conn.sendall(b"+OK begin TLS\r\n+OK injected\r\n")
    try:
        s = sctx.wrap_socket(conn, server_side=True)
        f = s.makefile("rb")
        while True:
            line = f.readline()
            if not line:
                break
            seen.append(line)
            s.sendall(b"+OK\r\n")
    except (OSError, ssl.SSLError):
        pass
    conn.close()


th = threading.Thread(target=fake_pop3, daemon=True)
th.start()
r = etpanc("pop3", lsock.getsockname()[1], "starttls")
th.join(10)
t.eq(r.out.split("\n")[:2], ["greeting", "fail tls: data after the STLS reply"],
     "injected line after STLS: the session stops at the TLS step")
t.eq([l.split()[0] for l in seen], [b"STLS"], "no USER or PASS was sent")
t.done()
