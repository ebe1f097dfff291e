#!/usr/bin/python3
# Faults during local delivery and while the queue records its result.
# - A full disk or an I/O error at any write, sync or rename into an mbox or
#   a Maildir defers the recipient and leaves the mailbox as it was (the mbox
#   byte for byte, no stray file in the Maildir); once the fault is gone the
#   message is delivered, once.
# - The same faults while the queue records the result of a delivery never
#   lose the message: it may be delivered again, and then the log said that
#   the result could not be recorded.
# The faultfs shim counts the calls on each path first, then fails each.
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest  # noqa: E402
import faultutil as F  # noqa: E402

t, tmp, ff = F.setup()
ROOT = "root@hub.example"
FILES = "files@hub.example"


def qid_of(reply):
    m = re.search(r"queued as ([0-9A-F]{19})", reply)
    return m.group(1) if m else None


def to_lines(hub, qid, rcpt):
    return [ln for ln in hub.log().splitlines()
            if "%s: to=<%s>" % (qid, rcpt) in ln]


def wait_stat(hub, qid, rcpt, stat, k=1, timeout=30):
    return mhtest.wait_for(lambda: sum(stat in ln for ln in
                                       to_lines(hub, qid, rcpt)) >= k,
                           timeout)


def where(hub, p):
    return "%s %s" % (p[2], os.path.relpath(p[3], hub.dir))


def snapshot(hub, kind):
    if kind == "mbox":
        return hub.mbox()
    return (hub.maildir(), hub.maildir_texts())


# --- delivery into the mailbox -------------------------------------------------
for kind in ("mbox", "maildir"):
    hub = F.Hub(tmp, ff, mailbox=kind, name=kind)
    ff.set(dir=hub.mail)
    c = hub.connect()
    c.cmd("EHLO client.example")
    ff.count_mode()
    r = F.send(c, [ROOT], F.body("seed-" + kind, lines=1500))
    qid = qid_of(r)
    t.ok(qid and wait_stat(hub, qid, ROOT, "stat=Sent"),
         "%s: counting run delivered" % kind, r)
    points = ff.calls()
    t.ok(len(points) >= 2 and "fsync" in [p[2] for p in points],
         "%s: counting run: %d calls on the delivery path" % (kind,
                                                             len(points)),
         points)
    t.diag("%s path: %s" % (kind, ", ".join(where(hub, p) for p in points)))
    for n, p in F.sweep(points):
        err = "ENOSPC" if n % 2 else "EIO"
        tag = "%s-%d" % (kind, n)
        what = "%s, %s from call %d (%s)" % (kind, err, n, where(hub, p))
        ff.quiet()
        before = snapshot(hub, kind)
        ff.arm(n, err=err)
        r = F.send(c, [ROOT], F.body(tag, lines=1500))
        qid = qid_of(r)
        t.ok(qid and wait_stat(hub, qid, ROOT, "stat=Deferred"),
             "%s: the delivery is deferred" % what, r)
        t.ok(ff.failed() > 0, "%s: the fault was hit" % what)
        ff.disarm()
        t.ok(snapshot(hub, kind) == before,
             "%s: the mailbox is as it was" % what,
             hub.maildir() if kind == "maildir" else None)
        t.ok(qid in hub.queue_ids(), "%s: the message waits in the queue"
             % what)
        c.close()
        hub.retry_now(qid)
        c = hub.connect()
        c.cmd("EHLO client.example")
        t.ok(wait_stat(hub, qid, ROOT, "stat=Sent"),
             "%s: fault gone: delivered after a restart" % what)
        if kind == "mbox":
            now = hub.mbox()
            t.ok(now.startswith(before) and F.copies(now[len(before):], tag)
                 == 1 and F.copies(now, tag) == 1,
                 "%s: appended once after what was there" % what)
        else:
            md = hub.maildir()
            t.ok(md["tmp"] == [] and len(md["new"]) == len(before[0]["new"])
                 + 1 and sum(F.copies(x, tag) for x in hub.maildir_texts())
                 == 1, "%s: one new file, nothing in tmp/" % what, md)
    c.close()
    t.eq(hub.proc.poll(), None, "%s: mtad survived every fault" % kind)
    hub.stop()

# --- recording the result of a local delivery ----------------------------------
hub = F.Hub(tmp, ff, mailbox="mbox", name="update")
q = os.path.join(hub.spool, "queue")
ff.set(dir=[q, os.path.join(hub.spool, "tmp")])
c = hub.connect()
c.cmd("EHLO client.example")
ff.count_mode()
r = F.send(c, [ROOT, FILES], F.body("update-count"))
qid = qid_of(r)
t.ok(qid and wait_stat(hub, qid, ROOT, "stat=Sent") and
     wait_stat(hub, qid, FILES, "stat=Sent") and
     mhtest.wait_for(lambda: hub.queue_ids() == [], 10),
     "update: counting run delivered to both", r)
ff.quiet()
points = ff.calls()
update = [(n, p) for n, p in F.sweep(points) if p[1] != hub.proc.pid]
t.ok(len(update) >= 3, "update: %d calls record the two results (after %d "
     "for the receipt)" % (len(update), len(points) - len(update)), points)
t.diag("update path: " + ", ".join(where(hub, p) for _, p in update))


def fbox():
    try:
        with open(hub.filebox, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


for mode in ("from", "once"):
    for n, p in update:
        err = "ENOSPC" if n % 2 else "EIO"
        tag = "update-%s-%d" % (mode, n)
        what = "update, %s at call %d (%s)%s" % (
            err, n, where(hub, p), " only" if mode == "once" else " and later")
        ff.quiet()
        ff.arm(n, err=err, n=1 if mode == "once" else 0)
        r = F.send(c, [ROOT, FILES], F.body(tag))
        qid = qid_of(r)
        t.ok(qid and wait_stat(hub, qid, ROOT, "stat=") and
             wait_stat(hub, qid, FILES, "stat="),
             "%s: both delivered" % what, r)
        ff.disarm()
        c.close()
        # Recorded or not, the next start finishes what is left.
        hub.restart()
        c = hub.connect()
        c.cmd("EHLO client.example")
        t.ok(mhtest.wait_for(lambda: qid not in hub.queue_ids(), 30),
             "%s: the queue is done with it after a restart" % what,
             hub.log()[-3000:])
        ok = True
        diag = []
        for rcpt, box in ((ROOT, hub.mbox()), (FILES, fbox())):
            k = F.copies(box, tag)
            lost = sum(("%s: cannot record the result for <%s>"
                        % (qid, rcpt)) in ln for ln in hub.log().splitlines())
            diag.append("%s: %d copies, %d unrecorded" % (rcpt, k, lost))
            if not 1 <= k <= 1 + lost:
                ok = False
        t.ok(ok, "%s: each recipient has it; a second copy only where the "
             "log said the result was not recorded" % what, diag)
        t.diag("%s: %s" % (what, "; ".join(diag)))
c.close()
t.eq(hub.proc.poll(), None, "update: mtad survived every fault")
t.eq(hub.tmp_files(), [], "update: nothing left in tmp/")
hub.stop()
t.done()
