#!/usr/bin/python3
# The smart host accepted a recipient but the queue would not take the
# record (a full disk): the log says so, and the runner records it before
# anything flushes again -- the message is not sent to that recipient a
# second time once the disk has room, and not again and again meanwhile.
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest  # noqa: E402
import faultutil as F  # noqa: E402

t, tmp, ff = F.setup()
sh = mhtest.SmartHost(tmp, rcpt={"later@remote.example": 450})
hub = F.Hub(tmp, ff, sh=sh)
ff.set(dir=[os.path.join(hub.spool, "queue"), os.path.join(hub.spool, "tmp")],
       calls=("rename",))
c = hub.connect()
c.cmd("EHLO client.example")
r = F.send(c, ["friend@remote.example", "later@remote.example"],
           F.body("unrec"))
t.like(r, "250 2.0.0", "queued")
c.close()


def copies(rcpt):
    return sum(1 for m in sh.messages()
               if rcpt in m["rcpt_tos"] and F.copies(m["data"], "unrec"))


# Every rename in the queue fails from now on: the disk is full.
ff.arm(1, err="ENOSPC")
r = hub.ctl("link", "up")
t.ok(sh.wait_messages(1, 20), "the smart host took it for friend@")
t.ok(ff.failed() > 0, "the record failed")
t.ok(mhtest.wait_for(lambda: "recorded in the queue; no flush" in hub.log(),
                     20), "the runner holds further flushes back")
time.sleep(2)
t.eq(copies("friend@remote.example"), 1,
     "friend@ got it once while the write keeps failing")
t.like(hub.log(), "delivered to <friend@remote.example> but the queue could "
       "not record it", "the log says the delivery was not recorded")

# Room again: the runner records it before the next flush, which sends
# only what is left (later@ is still refused, 450).
ff.disarm()
r = hub.ctl("flush")
t.ok(mhtest.wait_for(lambda: "the delivery to <friend@remote.example> is "
                     "recorded now" in hub.log(), 20),
     "the delivery is recorded once there is room")
t.eq(copies("friend@remote.example"), 1, "friend@ still has exactly one copy")
ids = hub.queue_ids()
t.eq(len(ids), 1, "the message waits for later@ only")
if ids:
    env = open(os.path.join(hub.spool, "queue", ids[0] + ".env")).read()
    t.like(env, "friend@remote.example", "the envelope names friend@")
    t.unlike([x for x in env.splitlines() if "friend@" in x][0],
             "pending", "as done")
hub.stop()
t.done()
