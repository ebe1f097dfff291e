#!/usr/bin/python3
# A delivery killed while it held the mailbox's dotlock (a crash) leaves the
# lock file behind.  It names the dead process, so the next delivery removes
# it at once instead of waiting for it to grow old (5 minutes) and deferring
# the mail meanwhile.  A lock naming a live process is respected.
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest  # noqa: E402
import faultutil as F  # noqa: E402

t = mhtest.Test()
tmp = mhtest.tmpdir()
hub = F.Hub(tmp, None)
lock = os.path.join(hub.mail, "root.lock")
gone = subprocess.Popen(["true"])
gone.wait()
with open(lock, "w") as f:
    f.write("%d\n" % gone.pid)
c = hub.connect()
c.cmd("EHLO client.example")
r = F.send(c, ["root@hub.example"], F.body("after-crash"))
t.like(r, "250 2.0.0", "queued")
# Well before the 30 s a busy lock is waited for, let alone 5 minutes.
t.ok(mhtest.wait_for(lambda: F.copies(hub.mbox(), "after-crash") == 1, 20),
     "delivered at once although a dotlock was left behind")
t.like(hub.log(), "removing stale lock %s" % lock, "the removal is logged")
t.ok(not os.path.exists(lock), "the delivery's own lock is gone too")

# A lock held by a live process: the delivery waits for it.
sleeper = mhtest.Proc(["sleep", "60"])
with open(lock, "w") as f:
    f.write("%d\n" % sleeper.pid)
r = F.send(c, ["root@hub.example"], F.body("while-locked"))
t.like(r, "250 2.0.0", "queued while the mailbox is locked")
time.sleep(2)
t.eq(F.copies(hub.mbox(), "while-locked"), 0,
     "not delivered while a live process holds the lock")
t.ok(os.path.exists(lock), "and its lock is left alone")
os.unlink(lock)
t.ok(mhtest.wait_for(lambda: F.copies(hub.mbox(), "while-locked") == 1, 40),
     "delivered once the lock is released")
c.close()
hub.stop()
t.done()
