#!/usr/bin/python3
# A 10 MB message with 8-bit text is accepted and queued byte for byte
# (CRLF as LF, dots unstuffed, Received: prepended).
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest
from smtpd_util import Mtad

t = mhtest.Test()
m = Mtad(verbose=False, extra="max-message-size 12M\n")
lines = []
i = 0
size = 0
while size < 10 * 1024 * 1024:
    line = ("%06d caf\u00e9 \u00fcber na\u00efve " % i).encode() + \
        bytes(range(0xa0, 0xff)) + (b"." if i % 7 == 0 else b"")
    if i % 7 == 0:
        line = b"." + line      # dot at line start: stuffed on the wire
    lines.append(line)
    size += len(line) + 2
    i += 1
header = b"Subject: big\r\nMIME-Version: 1.0\r\n" \
    b"Content-Type: text/plain; charset=utf-8\r\n" \
    b"Content-Transfer-Encoding: 8bit\r\n\r\n"
wire = header + b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n"
                         for l in lines) + b".\r\n"
c = m.connect(timeout=60)
t.like(c.cmd("EHLO big.example"), "8BITMIME", "8BITMIME offered")
t.like(c.cmd("MAIL FROM:<a@hub.example> BODY=8BITMIME SIZE=%d" % len(wire)),
       "250", "MAIL with SIZE= of 10 MB and BODY=8BITMIME")
c.cmd("RCPT TO:<x@remote.example>")
c.cmd("DATA")
c.send(wire)
r = c.reply()
t.like(r, "250 2.0.0 queued as ", "10 MB message accepted")
c.close()
qid = r.split()[-1]
data = m.msg(qid)
want = header.replace(b"\r\n", b"\n") + b"".join(l + b"\n" for l in lines)
body = data[data.index(b"\nSubject: big\n") + 1:]
t.ok(body == want, "queued byte for byte (LF line ends, dots unstuffed)")
t.like(m.env(qid), "body8bit 1", "the envelope says 8BITMIME")
t.eq(m.stop(), 0, "mtad stops cleanly")
t.done()
