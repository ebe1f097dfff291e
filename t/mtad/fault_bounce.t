#!/usr/bin/python3
# Faults while a local delivery fails for good and its DSN is queued: a full
# disk or an I/O error at any write, sync or rename of the DSN and of the
# queue updates around it never loses the failure report.  The recipient
# stays pending until its DSN is safely queued; once the fault is gone the
# sender gets the DSN -- a second one only where the log said a result
# could not be recorded.
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest  # noqa: E402
import faultutil as F  # noqa: E402

t, tmp, ff = F.setup()
hub = F.Hub(tmp, ff)
with open(os.path.join(hub.dir, "aliases"), "a") as f:
    f.write("gone: nosuchuser-mailhub-test\n")
ff.set(dir=[os.path.join(hub.spool, "queue"), os.path.join(hub.spool, "tmp")])
SENDER = "root@hub.example"
RCPT = "gone@hub.example"


def qid_of(reply):
    m = re.search(r"queued as ([0-9A-F]{19})", reply)
    return m.group(1) if m else None


def dsns(qid):
    """DSNs about qid in root's mailbox."""
    box = hub.mbox().decode(errors="replace")
    return sum(1 for part in re.split(r"(?m)^From ", box)[1:]
               if "with queue ID %s." % qid in part)


def where(p):
    return "%s %s" % (p[2], os.path.relpath(p[3], hub.spool))


def settled(qid):
    return qid not in hub.queue_ids() and not any(
        n.endswith(".env") for n in hub.queue_files())


c = hub.connect()
c.cmd("EHLO client.example")
ff.quiet()
ff.count_mode()
qid = qid_of(F.send(c, [RCPT], F.body("bounce-count"), sender=SENDER))
t.ok(qid and mhtest.wait_for(lambda: dsns(qid) == 1 and settled(qid), 20),
     "counting run: the failure comes back as a DSN")
ff.quiet()
points = [(n, p) for n, p in F.sweep(ff.calls()) if p[1] != hub.proc.pid]
t.ok(len(points) >= 6, "counting run: %d calls queue the DSN and settle"
     % len(points), points)
t.diag("bounce path: " + ", ".join(where(p) for _, p in points))

for mode in ("from", "once"):
    for n, p in points:
        err = "ENOSPC" if n % 2 else "EIO"
        tag = "bounce-%s-%d" % (mode, n)
        what = "%s at call %d (%s)%s" % (
            err, n, where(p), " only" if mode == "once" else " and later")
        ff.quiet()
        ff.arm(n, err=err, n=1 if mode == "once" else 0)
        qid = qid_of(F.send(c, [RCPT], F.body(tag), sender=SENDER))
        t.ok(qid and mhtest.wait_for(lambda: ff.failed() > 0 and
                                     "%s: to=<%s>" % (qid, RCPT) in hub.log(),
                                     20),
             "%s: the delivery ran into the fault" % what)
        ff.disarm()
        c.close()
        # Whatever waits is due at once after a restart.
        hub.stop()
        for q in hub.queue_ids():
            hub.due_now(q)
        hub.start()
        c = hub.connect()
        c.cmd("EHLO client.example")
        t.ok(mhtest.wait_for(lambda: dsns(qid) >= 1 and settled(qid), 30),
             "%s: the sender gets the DSN" % what,
             "%s %s" % (hub.queue_files(), hub.log()[-2500:]))
        unrecorded = sum(1 for ln in hub.log().splitlines()
                         if qid and qid in ln and "cannot record" in ln)
        t.ok(dsns(qid) <= 1 + unrecorded, "%s: %d DSN(s); a second only "
             "where the log said so (%d)" % (what, dsns(qid), unrecorded))
c.close()
t.eq(hub.proc.poll(), None, "mtad survived every fault")
t.eq(hub.tmp_files(), [], "nothing left in tmp/")
hub.stop()
t.done()
