#!/usr/bin/python3
# `mtactl link down` during a flush: no new message starts, the one in hand
# finishes (its 250 recorded), everything not yet delivered stays queued,
# and the next `link up` sends it (nothing twice).  `mtad-sendmail -q`
# flushes too.
import email
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest
import outbound

t = mhtest.Test()
tmp = mhtest.tmpdir()
sh = mhtest.SmartHost(tmp, reply_delay=0.7)
hub = outbound.Hub(tmp, sh)
N = 12
for i in range(N):
    hub.send("eddy@shofar.lan", ["x%d@remote.example" % i], subject="m%d" % i)

up = subprocess.Popen([mhtest.bin("mtad/mtactl"), "-C", hub.conf, "link",
                       "up"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
mhtest.on_exit(lambda: up.poll() is None and up.kill())
t.ok(sh.wait_messages(2, 20), "the flush is under way")
st = hub.status()
t.eq(st.get("flush"), "running", "status: flush: running")
r = hub.ctl("link", "down")
t.eq(r.returncode, 0, "link down during the flush exits 0")
out, err = up.communicate(timeout=20)
out = out.decode()
t.like(out, "flush: ", "the waiting link up returns its result")
time.sleep(1.5)   # a reply the client never read may still be recorded
first = len(sh.messages())
t.ok(2 <= first < N, "only part of the queue went (%d of %d)" % (first, N))
queued = len(hub.queue_ids())
t.ok(queued >= N - first - 1 and queued > 0,
     "the rest stays queued (%d)" % queued)
conns = sh.connections()
time.sleep(2)
t.eq(sh.connections(), conns, "link down: no new connection")
t.eq(hub.status().get("link"), "down", "status: link: down")

# mtad-sendmail -q flushes (the link must be up for that).
hub.ctl("link", "up")
subj = [email.message_from_bytes(m["data"])["Subject"] for m in sh.messages()]
t.eq(sorted(set(subj)), sorted("m%d" % i for i in range(N)),
     "the next link up sends the rest")
dups = [s for s in set(subj) if subj.count(s) > 1]
t.eq(dups, [], "nothing is sent twice: the message in hand finished")
t.eq(hub.queue_ids(), [], "queue empty")

# A flush asked for while one runs joins it: one connection, one result.
hub.ctl("link", "down")
for i in range(4):
    hub.send("eddy@shofar.lan", ["j%d@remote.example" % i], subject="j%d" % i)
conns = sh.connections()
first = subprocess.Popen([mhtest.bin("mtad/mtactl"), "-C", hub.conf, "link",
                          "up"], stdout=subprocess.PIPE)
mhtest.on_exit(lambda: first.poll() is None and first.kill())
mhtest.wait_for(lambda: sh.connections() > conns, 10)
second = hub.ctl("flush")
out1 = first.communicate(timeout=30)[0].decode()
t.like(out1, "flush: 4 sent, 0 deferred, 0 bounced", "the first flush sent 4")
t.like(second.out, "flush: 4 sent, 0 deferred, 0 bounced",
       "a flush during it joined it and reports the same")
t.eq(sh.connections(), conns + 1, "over one connection")
subj = [email.message_from_bytes(m["data"])["Subject"] for m in sh.messages()]

hub.send("eddy@shofar.lan", ["late@remote.example"], subject="late")
r = mhtest.run([mhtest.bin("mtad/mtad-sendmail"), "-C", hub.conf, "-q"],
               timeout=30)
t.eq(r.returncode, 0, "mtad-sendmail -q exits 0")
t.ok(sh.wait_messages(len(subj) + 1, 10), "and the late message left")
hub.stop()
t.done()
