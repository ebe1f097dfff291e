#!/usr/bin/python3
# SIGTERM (and `mtactl stop`) while the smart host has the message data but
# has not answered yet: mtad finishes the transaction in hand, records the
# 250 and exits; after a restart and a flush the smart host has every
# message exactly once.  A smart host that never answers does not hold
# mtad up for long.
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


def subjects(sh):
    return [email.message_from_bytes(m["data"])["Subject"]
            for m in sh.messages()]


def ends_of_data(hub):
    return hub.log().count("SMTP> .\n")


def link_up(hub):
    p = subprocess.Popen([mhtest.bin("mtad/mtactl"), "-C", hub.conf, "link",
                          "up"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    mhtest.on_exit(lambda: p.poll() is None and p.kill())
    return p


sh = mhtest.SmartHost(tmp, reply_delay=2)
hub = outbound.Hub(tmp, sh)
N = 3
for i in range(N):
    hub.send("eddy@shofar.lan", ["s%d@remote.example" % i], subject="s%d" % i)

# SIGTERM to mtad right after the first end of data, 2 s before its 250.
up = link_up(hub)
t.ok(mhtest.wait_for(lambda: ends_of_data(hub) >= 1, 20),
     "the first message's data went out")
t.eq(len(sh.messages()), 0, "the smart host has not answered yet")
t0 = time.monotonic()
hub.proc.p.send_signal(15)
rc = hub.proc.p.wait(30)
took = time.monotonic() - t0
t.eq(rc, 0, "mtad exits 0 on SIGTERM")
t.ok(took < 10, "within the bound (%.1f s)" % took)
up.communicate(timeout=20)
hub.stop()
log = hub.log()
t.like(log, "to=<s0@remote.example>", "the reply to the message in hand")
t.like(log, "stat=Sent (250 2.0.0 OK queued as", "was read and recorded")
t.unlike(log, "stat=Deferred", "nothing was deferred")
sent = len(sh.messages())
t.ok(1 <= sent < N, "the flush stopped early (%d of %d sent)" % (sent, N))
t.eq(len(hub.queue_ids()), N - sent, "what the smart host accepted left "
     "the queue; the rest waits")

hub.start()
r = hub.ctl("link", "up")
t.like(r.out, "flush: %d sent, 0 deferred, 0 bounced" % (N - sent),
       "after the restart the rest goes")
got = subjects(sh)
t.eq(sorted(got), sorted("s%d" % i for i in range(N)),
     "the smart host has each message exactly once")
t.eq(hub.queue_ids(), [], "queue empty")

# `mtactl stop` does the same.
hub.ctl("link", "down")
hub.send("eddy@shofar.lan", ["t0@remote.example"], subject="t0")
hub.send("eddy@shofar.lan", ["t1@remote.example"], subject="t1")
before = ends_of_data(hub)
up = link_up(hub)
t.ok(mhtest.wait_for(lambda: ends_of_data(hub) > before, 20),
     "a new flush sends data")
r = hub.ctl("stop")
t.eq(r.returncode, 0, "mtactl stop exits 0")
rc = hub.proc.p.wait(30)
up.communicate(timeout=20)
hub.stop()
hub.start()
hub.ctl("link", "up")
got = subjects(sh)
t.eq(sorted(got), sorted(["s%d" % i for i in range(N)] + ["t0", "t1"]),
     "after mtactl stop and a restart, still each exactly once")

# link down while the 250 is delayed, and at once link up again: the
# second waits for the stopping flush and then starts its own.
hub.ctl("link", "down")
for i in range(3):
    hub.send("eddy@shofar.lan", ["u%d@remote.example" % i], subject="u%d" % i)
before = ends_of_data(hub)
up = link_up(hub)
t.ok(mhtest.wait_for(lambda: ends_of_data(hub) > before, 20),
     "another flush sends data")
r = hub.ctl("link", "down")
t.eq(r.returncode, 0, "link down exits 0")
r = hub.ctl("link", "up")
t.eq(r.returncode, 0, "link up right after it exits 0")
t.like(r.out, "0 deferred, 0 bounced", "and reports its own flush")
up.communicate(timeout=20)
got = subjects(sh)
t.eq(sorted(got), sorted(["s%d" % i for i in range(N)] + ["t0", "t1"] +
                         ["u%d" % i for i in range(3)]),
     "every message exactly once")
t.eq(hub.queue_ids(), [], "queue empty")
hub.stop()
sh.stop()

# A smart host that never answers the data: mtad gives up on it after the
# bound, the message stays queued, nothing is recorded as sent.
sh2 = mhtest.SmartHost(tmp, name="mute", reply_delay=3600)
hub2 = outbound.Hub(tmp, sh2, name="hub2")
hub2.send("eddy@shofar.lan", ["m@remote.example"], subject="mute")
up = link_up(hub2)
t.ok(mhtest.wait_for(lambda: ends_of_data(hub2) >= 1, 20),
     "data sent to a mute smart host")
t0 = time.monotonic()
hub2.proc.p.send_signal(15)
rc = hub2.proc.p.wait(30)
took = time.monotonic() - t0
t.ok(took < 10, "mtad still stops within the bound (%.1f s)" % took)
up.communicate(timeout=20)
hub2.stop()
t.eq(len(hub2.queue_ids()), 1, "the unanswered message stays queued")
t.unlike(hub2.log(), "stat=Sent", "and is not recorded as sent")
sh2.stop()
t.done()
