#!/usr/bin/python3
# SIGHUP reloads mtad.conf (a broken one is refused and the old one kept);
# SIGTERM lets the transaction in hand finish, closes idle sessions with
# 421 and exits.
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest
from smtpd_util import Mtad, wait_log

t = mhtest.Test()
m = Mtad(extra="max-message-size 20K\n")
c = m.connect()
t.like(c.cmd("EHLO a.example"), "SIZE 20480", "SIZE from the config")
c.close()

with open(m.conf) as f:
    orig = f.read()
with open(m.conf, "w") as f:
    f.write(orig.replace("max-message-size 20K", "max-message-size 1K")
            .replace("relay-from 127.0.0.1/32", "relay-from 10.9.9.0/24"))
os.kill(m.proc.pid, signal.SIGHUP)
t.ok(wait_log(m, "configuration reloaded"), "SIGHUP: reloaded")
c = m.connect()
t.like(c.cmd("EHLO a.example"), "SIZE 1024", "new max-message-size in use")
c.cmd("MAIL FROM:<a@hub.example>")
t.like(c.cmd("RCPT TO:<x@remote.example>"), "554 5.7.1",
       "new relay-from in use")
c.close()

with open(m.conf, "w") as f:
    f.write(orig + "bogus-keyword 1\n")
os.kill(m.proc.pid, signal.SIGHUP)
t.ok(wait_log(m, "reload failed"), "a broken config is refused on SIGHUP")
t.like(m.log(), "unknown keyword 'bogus-keyword'", "saying why")
c = m.connect()
t.like(c.cmd("EHLO a.example"), "SIZE 1024", "and the last good one kept")
c.close()
t.eq(m.proc.poll(), None, "mtad still running")

# SIGTERM: a session in DATA finishes, an idle one gets 421.
with open(m.conf, "w") as f:
    f.write(orig)
os.kill(m.proc.pid, signal.SIGHUP)
t.ok(mhtest.wait_for(lambda: m.log().count("configuration reloaded") == 2),
     "reloaded again")
busy = m.connect()
idle = m.connect()
idle.cmd("EHLO idle.example")
busy.cmd("EHLO busy.example")
busy.cmd("MAIL FROM:<a@hub.example>")
busy.cmd("RCPT TO:<x@remote.example>")
busy.cmd("DATA")
busy.send("Subject: in hand\r\n\r\nfirst half\r\n")
os.kill(m.proc.pid, signal.SIGTERM)
t.like(idle.reply(), "421 4.3.2", "SIGTERM: an idle session gets 421")
t.ok(idle.closed(), "and is closed")
busy.send("second half\r\n.\r\n")
r = busy.reply()
t.like(r, "250 2.0.0 queued as", "the transaction in hand is finished")
t.like(busy.reply(), "421 4.3.2", "then 421")
t.ok(busy.closed(), "and closed")
t.eq(m.proc.wait(10), 0, "mtad exits 0")
qid = r.split()[-1]
t.eq(m.queue_ids(), [qid], "the message is queued")
t.like(m.msg(qid).decode(), "first half\nsecond half\n", "whole")
t.done()
