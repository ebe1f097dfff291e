#!/usr/bin/python3
# STARTTLS with the test CA: offered only with tls-cert/tls-key, the
# session restarts after it, commands pipelined before the handshake are
# thrown away, and the protocol becomes ESMTPS.
import os
import smtplib
import ssl
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest
from smtpd_util import Mtad

t = mhtest.Test()
tmp = mhtest.tmpdir("mtad-tls-")
ca = mhtest.CA(os.path.join(tmp, "ca"))
cert, key = ca.issue("hub.example", ips=["127.0.0.1"], dns=["hub.example"])
m = Mtad(tmp=tmp, extra="tls-cert %s\ntls-key %s\n" % (cert, key))

with smtplib.SMTP("127.0.0.1", m.port, local_hostname="client.example",
                  timeout=20) as s:
    s.ehlo()
    t.ok(s.has_extn("starttls"), "EHLO offers STARTTLS")
    code, _ = s.starttls(context=ca.context(check_hostname=False))
    t.eq(code, 220, "STARTTLS: 220")
    s.ehlo()
    t.ok(not s.has_extn("starttls"), "no STARTTLS offered inside TLS")
    t.ok(s.has_extn("pipelining"), "extensions offered again after TLS")
    der = s.sock.getpeercert(binary_form=False)
    t.ok(der is not None, "the certificate verifies against the test CA")
    refused = s.sendmail("a@hub.example", ["x@remote.example"],
                         "Subject: tls\r\n\r\nover TLS\r\n")
    t.eq(refused, {}, "a message over TLS is accepted")
qids = m.queue_ids()
t.eq(len(qids), 1, "and queued")
t.like(m.msg(qids[0]).decode(), "with ESMTPS id " + qids[0],
       "Received: says ESMTPS")
t.ok(mhtest.wait_for(lambda: "proto=ESMTPS" in m.log()),
     "from= line says proto=ESMTPS")

# STARTTLS command injection: bytes after STARTTLS in the same write must
# not be executed inside the TLS session.
c = m.connect()
c.cmd("EHLO client.example")
c.send("STARTTLS\r\nMAIL FROM:<evil@remote.example>\r\n")
t.like(c.reply(), "220 2.0.0", "STARTTLS: 220")
ctx = ca.context(check_hostname=False)
tls = ctx.wrap_socket(c.s, server_hostname="hub.example")
tls.settimeout(10)
tls.sendall(b"RCPT TO:<x@remote.example>\r\n")
r = tls.recv(4096).decode()
t.like(r, "503 5.5.1", "the MAIL sent before the handshake was discarded")
tls.sendall(b"QUIT\r\n")
tls.close()

# A client that never completes the handshake does not stall the server.
c = m.connect()
c.cmd("EHLO client.example")
t.like(c.cmd("STARTTLS"), "220", "STARTTLS accepted")
c.send(b"this is not TLS\r\n" * 4)
t.ok(c.closed(), "garbage instead of a handshake: connection closed")
with smtplib.SMTP("127.0.0.1", m.port, timeout=10) as s:
    t.eq(s.noop()[0], 250, "the daemon still serves others")

# Without a certificate, STARTTLS is refused.
m2 = Mtad()
c = m2.connect()
c.cmd("EHLO client.example")
t.like(c.cmd("STARTTLS"), "502 5.5.1", "no certificate: STARTTLS 502")
t.eq(m.stop(), 0, "mtad stops cleanly")
t.eq(m2.stop(), 0, "mtad stops cleanly")
t.done()
