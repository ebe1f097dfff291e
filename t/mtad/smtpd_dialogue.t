#!/usr/bin/python3
# mtad's SMTP server: every command, every limit and its reply code, the
# queued message (Received: header, envelope) and the from= log line.
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest
from smtpd_util import Mtad, transaction, code, wait_log

t = mhtest.Test()
m = Mtad(extra="max-message-size 20K\nidle-timeout 2\nmax-clients 3\n")

c = m.connect()
t.like(c.greeting, "220 hub.example ESMTP", "greeting names the host")
r = c.cmd("MAIL FROM:<a@hub.example>")
t.like(r, "503 5.5.1", "MAIL before HELO: 503")
r = c.cmd("EHLO client.example")
for ext in ("PIPELINING", "8BITMIME", "SIZE 20480", "ENHANCEDSTATUSCODES",
            "HELP"):
    t.like(r, "250-" + ext if ext != "HELP" else "250 HELP",
           "EHLO offers " + ext)
t.unlike(r, "STARTTLS", "no STARTTLS without a certificate")
t.like(c.cmd("RCPT TO:<x@remote.example>"), "503 5.5.1",
       "RCPT before MAIL: 503")
t.like(c.cmd("DATA"), "503 5.5.1", "DATA before RCPT: 503")
t.like(c.cmd("NOOP"), "250 2.0.0", "NOOP: 250")
t.like(c.cmd("HELP"), "214 2.0.0", "HELP: 214")
t.like(c.cmd("VRFY root"), "252 2.5.0", "VRFY: 252, reveals nothing")
t.like(c.cmd("EXPN list"), "252 2.5.0", "EXPN: 252")
t.like(c.cmd("FROB"), "500 5.5.1", "unknown command: 500 5.5.1")
t.like(c.cmd("NOOP " + "x" * 600), "500 5.5.2",
       "command line over 512 octets: 500 5.5.2")
t.like(c.cmd("NOOP"), "250", "the session goes on after a long line")
t.like(c.cmd("MAIL FROM:<a@hub.example> SIZE=999999"), "552 5.3.4",
       "SIZE= over max-message-size: 552 5.3.4")
t.like(c.cmd("MAIL FROM:<a@hub.example> BODY=9BIT"), "501 5.5.4",
       "bad BODY=: 501")
t.like(c.cmd("MAIL FROM:<a@hub.example> FOO=1"), "555 5.5.4",
       "unknown MAIL parameter: 555")
t.like(c.cmd("MAIL FROM:<not an address>"), "501", "bad sender syntax: 501")
t.like(c.cmd("MAIL FROM:<a@hub.example> SIZE=100 BODY=8BITMIME"),
       "250 2.1.0", "MAIL with SIZE= and BODY=8BITMIME: 250")
t.like(c.cmd("MAIL FROM:<b@hub.example>"), "503 5.5.1", "nested MAIL: 503")
t.like(c.cmd("RCPT TO:<nosuchuser@hub.example>"), "550 5.1.1",
       "unknown local user: 550 5.1.1 at RCPT")
t.like(c.cmd("DATA"), "554 5.5.1", "DATA with no valid recipient: 554")
t.like(c.cmd("RCPT TO:<x@remote.example>"), "250 2.1.5",
       "remote recipient from relay-from: 250")
t.like(c.cmd("RSET"), "250 2.0.0", "RSET: 250")
t.like(c.cmd("RCPT TO:<x@remote.example>"), "503",
       "RSET ended the transaction")

# 100 recipients, the 101st refused.
c.cmd("MAIL FROM:<a@hub.example>")
codes = [code(c.cmd("RCPT TO:<r%d@remote.example>" % i)) for i in range(101)]
t.eq(codes[:100], ["250"] * 100, "100 recipients accepted")
r = c.cmd("RCPT TO:<r100@remote.example>")
t.like(r, "452 4.5.3", "the 101st recipient: 452 4.5.3")
c.cmd("RSET")

# A message over max-message-size is refused at the dot, nothing queued.
c.cmd("MAIL FROM:<a@hub.example>")
c.cmd("RCPT TO:<x@remote.example>")
t.like(c.cmd("DATA"), "354", "DATA: 354")
c.send(("y" * 70 + "\r\n") * 400 + ".\r\n")
t.like(c.reply(), "552 5.3.4", "message over max-message-size: 552 5.3.4")
t.eq(m.queue_ids(), [], "nothing queued for it")

# A text line over 1000 octets.
c.cmd("MAIL FROM:<a@hub.example>")
c.cmd("RCPT TO:<x@remote.example>")
c.cmd("DATA")
c.send("Subject: long\r\n\r\n" + "z" * 1200 + "\r\n.\r\n")
t.like(c.reply(), "550 5.6.0", "text line over 1000 octets: 550 5.6.0")
t.eq(m.queue_ids(), [], "nothing queued for it")

# A good one.
c.cmd("MAIL FROM:<a@hub.example>")
c.cmd("RCPT TO:<x@remote.example>")
c.cmd("DATA")
c.send("Subject: hi\r\nMessage-ID: <m1@client.example>\r\n\r\n"
       "..dot stuffed\r\nline two\r\n.\r\n")
r = c.reply()
t.like(r, "250 2.0.0 queued as ", "DATA: 250 2.0.0 queued as ID")
qid = r.split()[-1]
t.eq(m.queue_ids(), [qid], "the message is in the queue under that ID")
body = m.msg(qid).decode()
t.like(body, "Received: from client.example (localhost [127.0.0.1])",
       "Received: names helo and client")
t.like(body, "by hub.example (mtad) with ESMTP id " + qid,
       "Received: names host, protocol and queue ID")
t.like(body, "for <x@remote.example>", "Received: for <rcpt> with one rcpt")
t.like(body, "\n.dot stuffed\nline two\n", "dot unstuffed, LF line ends")
t.like(m.env(qid), "x@remote.example", "envelope holds the recipient")
t.ok(wait_log(m, qid + ": from=<a@hub.example>, size=%d, nrcpts=1, "
              "msgid=<m1@client.example>, proto=ESMTP, relay=localhost "
              "[127.0.0.1]" % len(body)), "from= line in sendmail's shape")
t.like(m.log(), "SMTP< MAIL FROM:<a@hub.example>", "-v traces commands")
t.like(m.log(), "SMTP> 250 2.0.0 queued as " + qid, "-v traces replies")

# Two recipients: no for clause.
c.cmd("MAIL FROM:<>")
c.cmd("RCPT TO:<x@remote.example>")
c.cmd("RCPT TO:<y@remote.example>")
c.cmd("DATA")
c.send("Subject: two\r\n\r\nbody\r\n.\r\n")
r = c.reply()
qid2 = r.split()[-1]
t.unlike(m.msg(qid2).decode().split("\n\n")[0], "for <",
         "no for clause with two recipients")
t.like(c.cmd("QUIT"), "221 2.0.0", "QUIT: 221")
t.ok(c.closed(), "connection closed after QUIT")

# HELO is plain SMTP.
c = m.connect()
t.like(c.cmd("HELO client.example"), "250 hub.example", "HELO: 250")
t.like(c.cmd("MAIL FROM:<a@hub.example> SIZE=10"), "555",
       "no MAIL parameters after HELO")
c.cmd("MAIL FROM:<a@hub.example>")
c.cmd("RCPT TO:<x@remote.example>")
c.cmd("DATA")
c.send("Subject: smtp\r\n\r\nx\r\n.\r\n")
qid3 = c.reply().split()[-1]
t.like(m.msg(qid3).decode(), "with SMTP id " + qid3, "HELO: protocol SMTP")
c.close()

# max-clients 3: the fourth connection gets 421 4.3.2.
held = [m.connect() for i in range(3)]
c4 = m.connect()
t.like(c4.greeting, "421 4.3.2", "over max-clients: 421 4.3.2")
t.ok(c4.closed(), "and is closed")
for h in held:
    h.close()

# Idle timeout: 421 4.4.2 then close.  (mtad may not have seen the
# closes above yet: retry until a slot is free.)
def fresh():
    c = m.connect()
    if c.greeting.startswith("220"):
        return c
    c.close()
    return None
c = mhtest.wait_for(fresh, 5)
c.cmd("EHLO client.example")
start = time.monotonic()
r = c.reply()
t.like(r, "421 4.4.2", "idle client: 421 4.4.2")
t.ok(time.monotonic() - start < 6, "within the idle timeout (2s) plus a tick")
t.ok(c.closed(), "and the connection is closed")

t.eq(m.stop(), 0, "SIGTERM: mtad exits 0")
t.done()
