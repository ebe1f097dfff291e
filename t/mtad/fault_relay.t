#!/usr/bin/python3
# Faults while the queue records what the smart host accepted: a full disk
# or an I/O error at any write, sync or rename of that update never loses
# the message.  While the fault lasts it is not sent again at once; a later
# flush may send it again -- and then the log said,
# for that recipient, that the delivery could not be recorded.
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest  # noqa: E402
import faultutil as F  # noqa: E402

t, tmp, ff = F.setup()
sh = mhtest.SmartHost(tmp)
hub = F.Hub(tmp, ff, sh=sh)
ff.set(dir=[os.path.join(hub.spool, "queue"), os.path.join(hub.spool, "tmp")])
RCPTS = ["friend@remote.example", "other@remote.example"]


def qid_of(reply):
    m = re.search(r"queued as ([0-9A-F]{19})", reply)
    return m.group(1) if m else None


def flush():
    r = hub.ctl("link", "up")
    hub.ctl("link", "down")
    return r


def copies(tag, rcpt):
    return sum(1 for m in sh.messages()
               if rcpt in m["rcpt_tos"] and F.copies(m["data"], tag))


def where(p):
    return "%s %s" % (p[2], os.path.relpath(p[3], hub.spool))


c = hub.connect()
c.cmd("EHLO client.example")
r = F.send(c, RCPTS, F.body("relay-count"))
t.like(r, "250 2.0.0", "counting run: queued")
ff.count_mode()
r = flush()
t.like(r.out, "flush: 1 sent", "counting run: flushed", )
points = ff.calls()
# Both recipients accepted: one grouped update, which removes the message
# (unlinks, not intercepted) and syncs the directory once.
t.ok(len(points) >= 1 and all(copies("relay-count", x) == 1 for x in RCPTS),
     "counting run: %d calls record the results" % len(points), points)
t.diag("update path: " + ", ".join(where(p) for p in points))

for mode in ("from", "once"):
    for i, p in enumerate(points):
        n = i + 1
        err = "ENOSPC" if n % 2 else "EIO"
        tag = "relay-%s-%d" % (mode, n)
        what = "%s at call %d (%s)%s" % (
            err, n, where(p), " only" if mode == "once" else " and later")
        qid = qid_of(F.send(c, RCPTS, F.body(tag)))
        ff.arm(n, err=err, n=1 if mode == "once" else 0)
        r = hub.ctl("link", "up")
        k = [copies(tag, x) for x in RCPTS]
        ff.disarm()
        # A later flush (while the link is still up) records it.
        mhtest.wait_for(lambda: qid not in hub.queue_ids(), 10)
        hub.ctl("link", "down")
        t.ok(all(x >= 1 for x in k), "%s: the smart host has it" % what,
             "%s %r" % (r.out, k))
        t.ok(ff.failed() > 0, "%s: the fault was hit" % what)
        t.ok(all(x == 1 for x in k), "%s: sent once while the fault lasts "
             "(%r copies): the runner does not send it again at once"
             % (what, k))
        if qid in hub.queue_ids():
            hub.stop()
            hub.due_now(qid)
            hub.start()
            c = hub.connect()
            c.cmd("EHLO client.example")
            flush()
        t.ok(qid not in hub.queue_ids(), "%s: done after the next flush"
             % what, hub.log()[-2000:])
        ok, diag = True, []
        for rcpt in RCPTS:
            k = copies(tag, rcpt)
            said = sum(("%s: delivered to <%s> but the queue could not "
                        "record it" % (qid, rcpt)) in ln
                       for ln in hub.log().splitlines())
            diag.append("%s: %d copies, %d unrecorded" % (rcpt, k, said))
            ok = ok and 1 <= k <= 1 + said
        t.ok(ok, "%s: every recipient has it; a second copy only where the "
             "log said the delivery was not recorded" % what, diag)
        t.diag("%s: %s" % (what, "; ".join(diag)))
c.close()
t.eq(hub.proc.poll(), None, "mtad survived every fault")
t.eq(hub.tmp_files(), [], "nothing left in tmp/")
hub.stop()

# --- one recipient sent, one deferred: the update rewrites the envelope -------
sh2 = mhtest.SmartHost(tmp, name="deferring",
                       rcpt={"later@remote.example": 450})
hub = F.Hub(tmp, ff, sh=sh2, name="hub2")
ff.set(dir=[os.path.join(hub.spool, "queue"), os.path.join(hub.spool, "tmp")])
MIX = ["friend@remote.example", "later@remote.example"]


def copies2(tag):
    return sum(1 for m in sh2.messages()
               if "friend@remote.example" in m["rcpt_tos"] and
               F.copies(m["data"], tag))


c = hub.connect()
c.cmd("EHLO client.example")
qid = qid_of(F.send(c, MIX, F.body("mix-count")))
ff.count_mode()
flush()
points = ff.calls()
t.ok(len(points) >= 3 and "rename" in [p[2] for p in points],
     "mixed: %d calls rewrite the envelope" % len(points), points)
t.diag("mixed update path: " + ", ".join(where(p) for p in points))
for i, p in enumerate(points):
    n = i + 1
    err = "ENOSPC" if n % 2 else "EIO"
    tag = "mix-%d" % n
    what = "mixed, %s at call %d (%s) and later" % (err, n, where(p))
    qid = qid_of(F.send(c, MIX, F.body(tag)))
    ff.arm(n, err=err)
    r = hub.ctl("link", "up")
    k = copies2(tag)
    ff.disarm()
    hub.ctl("link", "down")
    t.ok(k >= 1, "%s: the smart host has it for the accepted recipient"
         % what, r.out)
    t.ok(k == 1, "%s: sent once while the fault lasts (%d copies)"
         % (what, k))
    t.ok(qid in hub.queue_ids(), "%s: the message waits for the deferred "
         "recipient" % what)
    said = sum(("%s: delivered to <friend@remote.example> but the queue "
                "could not record it" % qid) in ln
               for ln in hub.log().splitlines())
    t.ok(copies2(tag) <= 1 + said, "%s: a second copy only where the log "
         "said so (%d copies, %d said)" % (what, copies2(tag), said))
c.close()
t.eq(hub.proc.poll(), None, "mixed: mtad survived every fault")
hub.stop()
t.done()
