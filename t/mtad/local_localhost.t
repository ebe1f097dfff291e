#!/usr/bin/python3
# user@localhost is local mail whatever local-domains says, as in sendmail:
# fetchd (like fetchmail) reinjects fetched mail as user@localhost, and a
# client that may not relay must still reach it.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest
from smtpd_util import Mtad, code

t = mhtest.Test()
if os.getuid() != 0:
    t.skip_all("needs root: deliveries change user")
m = Mtad(relay_from=None)
c = m.connect(src="127.0.0.2")
t.eq(code(c.cmd("EHLO outsider.example")), "250", "EHLO from a non-relay client")
t.eq(code(c.cmd("MAIL FROM:<a@remote.example>")), "250", "MAIL")
t.eq(code(c.cmd("RCPT TO:<root@localhost>")), "250",
     "RCPT root@localhost accepted without relaying rights")
t.eq(code(c.cmd("RCPT TO:<root@LocalHost>")), "250", "case does not matter")
t.eq(code(c.cmd("RCPT TO:<nosuchuser@localhost>")), "550",
     "an unknown user at localhost is 550, as for any local domain")
t.eq(code(c.cmd("RCPT TO:<x@localhost.remote.example>")), "554",
     "a domain that merely starts with localhost is not local")
t.eq(code(c.cmd("DATA")), "354", "DATA")
c.send("Subject: to localhost\r\n\r\nhello\r\n.\r\n")
t.eq(code(c.reply()), "250", "queued")
c.cmd("QUIT")
mbox = os.path.join(m.tmp, "mail", "root")
t.ok(mhtest.wait_for(lambda: os.path.exists(mbox) and
                     b"Subject: to localhost" in open(mbox, "rb").read()),
     "delivered to root's mailbox")
t.ok(mhtest.wait_for(lambda: m.queue_ids() == []), "nothing left queued")
t.done()
