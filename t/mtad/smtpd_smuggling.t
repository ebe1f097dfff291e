#!/usr/bin/python3
# Only CRLF.CRLF ends DATA; bare CR or LF gets 550 5.6.0 after the dot and
# nothing is queued, so no smuggling variant ever yields two messages.
# PIPELINING: a whole transaction in one write.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest
from smtpd_util import Mtad

t = mhtest.Test()
m = Mtad()

SMUGGLED = (b"MAIL FROM:<evil@remote.example>\r\n"
            b"RCPT TO:<victim@remote.example>\r\n"
            b"DATA\r\n"
            b"Subject: smuggled\r\n\r\nsmuggled\r\n")

variants = {
    "bare LF dot bare LF": b"\n.\n",
    "LF dot CRLF": b"\n.\r\n",
    "CR dot CRLF": b"\r.\r\n",
    "CRLF dot LF": b"\r\n.\n",
    "CRLF dot CR CRLF": b"\r\n.\r\r\n",
}
for name, end in variants.items():
    before = set(m.queue_ids())
    c = m.connect()
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<a@hub.example>")
    c.cmd("RCPT TO:<x@remote.example>")
    c.cmd("DATA")
    c.send(b"Subject: first\r\n\r\nbody" + end + SMUGGLED + b"\r\n.\r\n")
    r = c.reply()
    t.like(r, "550 5.6.0", "%s: refused with 550 5.6.0 after the dot" % name)
    r2 = c.cmd("NOOP")
    t.like(r2, "250", "%s: the smuggled commands were message text" % name)
    c.close()
    t.eq(set(m.queue_ids()) - before, set(), "%s: nothing queued" % name)

c = m.connect()
c.cmd("EHLO client.example")
c.cmd("MAIL FROM:<a@hub.example>")
c.cmd("RCPT TO:<x@remote.example>")
c.cmd("DATA")
c.send(b"Subject: bare\r\n\r\nline with\nbare LF\r\n.\r\n")
t.like(c.reply(), "550 5.6.0", "a bare LF inside a line: 550 5.6.0")
c.cmd("MAIL FROM:<a@hub.example>")
c.cmd("RCPT TO:<x@remote.example>")
c.cmd("DATA")
c.send(b"Subject: bare\r\n\r\nline with\rbare CR\r\n.\r\n")
t.like(c.reply(), "550 5.6.0", "a bare CR inside a line: 550 5.6.0")
t.eq(m.queue_ids(), [], "neither was queued")
c.close()

# PIPELINING: EHLO to QUIT in one write, two transactions.
c = m.connect()
c.send(b"EHLO client.example\r\n"
       b"MAIL FROM:<a@hub.example>\r\nRCPT TO:<x@remote.example>\r\n"
       b"RCPT TO:<nosuchuser@hub.example>\r\nDATA\r\n"
       b"Subject: one\r\n\r\nfirst\r\n.\r\n"
       b"MAIL FROM:<b@hub.example>\r\nRCPT TO:<y@remote.example>\r\nDATA\r\n"
       b"Subject: two\r\n\r\nsecond\r\n.\r\n"
       b"QUIT\r\n")
replies = [c.reply() for i in range(10)]
codes = [r[:3] for r in replies]
t.eq(codes, ["250", "250", "250", "550", "354", "250", "250", "250", "354",
             "250"], "pipelined: every reply, in order")
t.like(c.reply(), "221", "pipelined QUIT answered")
t.ok(c.closed(), "then closed")
ids = [replies[5].split()[-1], replies[9].split()[-1]]
t.eq(sorted(m.queue_ids()), sorted(ids), "pipelined: two messages queued")
t.like(m.msg(ids[0]).decode(), "\nfirst\n", "first message body")
t.like(m.msg(ids[1]).decode(), "\nsecond\n", "second message body")

# Replies to a pipelined group come in one write where possible.
c = m.connect()
c.cmd("EHLO client.example")
c.send(b"MAIL FROM:<a@hub.example>\r\nRCPT TO:<x@remote.example>\r\n"
       b"RCPT TO:<y@remote.example>\r\nDATA\r\n")
got = b""
while got.count(b"\r\n") < 4:
    got += c.s.recv(4096)
t.like(got.decode(), "354", "MAIL RCPT RCPT DATA answered as a group")
c.send(b".\r\n")
t.like(c.reply(), "250", "an empty message is accepted")
c.close()
t.eq(m.stop(), 0, "mtad stops cleanly")
t.done()
