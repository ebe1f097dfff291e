#!/usr/bin/python3
# mtad-sendmail -bs: mtad's SMTP session on stdin/stdout, messages durable
# in the maildrop before their 250, picked up when mtad starts.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest
from smtpd_util import Mtad

t = mhtest.Test()
m = Mtad(start=False, relay_from=None)
dialogue = ("EHLO mua.example\r\nMAIL FROM:<eddy@hub.example>\r\n"
            "RCPT TO:<x@remote.example>\r\nRCPT TO:<nosuchuser@hub.example>\r\n"
            "DATA\r\nSubject: via -bs\r\n\r\nhello\r\n.\r\n"
            "MAIL FROM:<eddy@hub.example>\r\nRCPT TO:<y@remote.example>\r\n"
            "DATA\r\nbare\nLF\r\n.\r\nQUIT\r\n")
r = mhtest.run([mhtest.bin("mtad/mtad-sendmail"), "-C", m.conf, "-bs"],
               input=dialogue, timeout=30)
t.ok(r.returncode == 0, "-bs exits 0 (%d)" % r.returncode, r.err[-2000:])
codes = [l[:3] for l in r.out.split("\r\n") if l and l[3:4] != "-"]
t.eq(codes, ["220", "250", "250", "250", "550", "354", "250", "250", "250",
             "354", "550", "221"], "every reply of the dialogue, in order")
t.like(r.out, "250 2.0.0 queued as ", "the message was queued")
t.like(r.out, "550 5.6.0", "bare LF refused here too")
qid = r.out.split("queued as ")[1].split("\r\n")[0]
drop = os.path.join(m.spool, "maildrop")
t.ok(os.path.exists(os.path.join(drop, qid + ".env")),
     "durable in the maildrop with mtad down")
m.start()
t.ok(mhtest.wait_for(lambda: qid in m.queue_ids()),
     "mtad picks it up at start")
t.like(m.msg(qid).decode(), "Subject: via -bs\n\nhello\n", "whole")
t.eq(m.stop(), 0, "mtad stops cleanly")
t.done()
