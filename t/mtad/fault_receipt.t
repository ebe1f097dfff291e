#!/usr/bin/python3
# A full disk or an I/O error at any write, sync or rename while a message is
# received -- over SMTP (DATA) or from mtad-sendmail into the maildrop --
# is answered 4xx (a temporary exit status), leaves no part of the message
# in the spool, and the client's retry once the fault is gone succeeds.
# The faultfs shim counts the calls on the path first, then fails each one
# in turn: from that call on (a full disk), and that call only.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest  # noqa: E402
import faultutil as F  # noqa: E402

t, tmp, ff = F.setup()
hub = F.Hub(tmp, ff)
ff.set(dir=hub.spool)
RCPTS = ["friend@remote.example", "other@remote.example"]


def where(call):
    n, pid, name, path, res = call
    return "%s %s" % (name, os.path.relpath(path, hub.spool))


def path_of(points):
    """The points as one line, runs of one call on one file folded."""
    out = []
    for p in points:
        w = where(p)
        if out and out[-1][0] == w:
            out[-1][1] += 1
        else:
            out.append([w, 1])
    return ", ".join(w if k == 1 else "%s x%d" % (w, k) for w, k in out)


def committed(files):
    return sorted(f for f in files if f.endswith(".env"))


# --- SMTP DATA ----------------------------------------------------------------
c = hub.connect()
c.cmd("EHLO client.example")
ff.count_mode()
r = F.send(c, RCPTS, F.body("count", lines=2000))
t.like(r, "250 2.0.0", "counting run: the message is queued")
points = ff.calls()
t.ok(len(points) >= 6 and {"write", "syncfs", "rename", "fsync"} <=
     set(p[2] for p in points),
     "counting run: %d writes, syncs and renames on the receipt path"
     % len(points), points)
t.diag("receipt path: " + path_of(points))

for mode in ("from", "once"):
    for n, p in F.sweep(points):
        err = "ENOSPC" if n % 2 else "EIO"
        tag = "smtp-%s-%d" % (mode, n)
        what = "SMTP, %s at call %d (%s)%s" % (
            err, n, where(p), " only" if mode == "once" else " and later")
        before = hub.queue_files()
        ff.arm(n, err=err, n=1 if mode == "once" else 0)
        r = F.send(c, RCPTS, F.body(tag, lines=2000))
        ff.disarm()
        after = hub.queue_files()
        if mode == "once" and r.startswith("250"):
            # A failed syncfs falls back to fdatasync per file, which may
            # well succeed: then the message is there, whole.
            new = committed(set(after) - set(before))
            t.ok(len(new) == 1 and
                 F.copies(hub.msg(new[0][:-4]), tag) == 1 and
                 hub.tmp_files() == [],
                 "%s: recovered, and the queued message is whole" % what,
                 "%s %s" % (r, new))
            continue
        t.ok(r[:3] in ("451", "452") and r[4] == "4",
             "%s: answered 4xx" % what, r)
        t.eq(after, before, "%s: nothing new in queue/" % what)
        t.eq(hub.tmp_files(), [], "%s: nothing left in tmp/" % what)
        r = F.send(c, RCPTS, F.body(tag, lines=2000))
        new = committed(set(hub.queue_files()) - set(after))
        t.ok(r.startswith("250") and len(new) == 1 and
             F.copies(hub.msg(new[0][:-4]), tag) == 1,
             "%s: the retry on the same connection is queued whole"
             % what, r)
c.cmd("QUIT")
t.unlike(hub.log(), "ERROR: AddressSanitizer", "mtad reported no memory error")
t.eq(hub.proc.poll(), None, "mtad survived every fault")
hub.stop()

# --- mtad-sendmail into the maildrop (mtad down) -------------------------------
SENDMAIL = mhtest.bin("mtad/mtad-sendmail")
drop = os.path.join(hub.spool, "maildrop")


def sendmail(tag, env=None):
    return mhtest.run([SENDMAIL, "-C", hub.conf, "-oi", "friend@remote.example"],
                      input=F.body(tag, lines=300).replace("\r\n", "\n"),
                      env=env)


def dropped():
    return sorted(os.listdir(drop))


ff.count_mode()
r = sendmail("sm-count", env=ff.env())
t.eq(r.returncode, 0, "counting run: mtad-sendmail exits 0")
points = ff.calls()
t.ok(len(points) >= 5 and {"write", "rename"} <= set(p[2] for p in points),
     "counting run: %d writes, syncs and renames into the maildrop"
     % len(points), points)
t.diag("maildrop path: " + path_of(points))
good = 1
for mode in ("from", "once"):
    for n, p in F.sweep(points):
        err = "ENOSPC" if n % 2 else "EIO"
        tag = "sm-%s-%d" % (mode, n)
        what = "mtad-sendmail, %s at call %d (%s)%s" % (
            err, n, where(p), " only" if mode == "once" else " and later")
        before = dropped()
        ff.arm(n, err=err, n=1 if mode == "once" else 0)
        r = sendmail(tag, env=ff.env())
        ff.disarm()
        if mode == "once" and r.returncode == 0:
            new = committed(set(dropped()) - set(before))
            t.ok(len(new) == 1 and len(dropped()) == len(before) + 2,
                 "%s: recovered, the entry is committed" % what, dropped())
            good += 1
            continue
        t.ok(r.returncode in (74, 75),
             "%s: exit %d (EX_TEMPFAIL/EX_IOERR)" % (what, r.returncode),
             r.err)
        t.eq(dropped(), before, "%s: nothing left in the maildrop" % what)
        r = sendmail(tag)
        t.ok(r.returncode == 0 and len(dropped()) == len(before) + 2,
             "%s: the retry is committed" % what, r.err)
        good += 1

# mtad picks every committed entry up, each whole.
hub.start()
t.ok(mhtest.wait_for(lambda: [f for f in dropped() if f.endswith(".env")]
                     == [], 20),
     "mtad picks the maildrop entries up", dropped())
ids = hub.queue_ids()
texts = b"".join(hub.msg(q) for q in ids)
t.eq(sum(1 for q in ids if b"Subject: sm-" in hub.msg(q)), good,
     "all %d acknowledged submissions are queued" % good)
t.ok(all(F.copies(hub.msg(q), hub.msg(q).split(b"Subject: ")[1]
                  .split(b"\n")[0].decode()) == 1 for q in ids),
     "each of them whole")

# --- mtad's pickup from the maildrop into the queue ------------------------------
# mtad-sendmail (not under the shim) drops and pokes; mtad's renames and
# syncs fail.  The message waits in the maildrop (or half-moved, which the
# next pickup finishes) and the next poke queues it, once.
def whole_in_queue(tag):
    return [q for q in hub.queue_ids()
            if ("Subject: %s\n" % tag).encode() in hub.msg(q)]


def stray():
    """A .msg in queue/ without its .env, or an entry left in maildrop/."""
    files = hub.queue_files()
    return ([f for f in files if f.endswith(".msg") and
             f[:-4] + ".env" not in files] + dropped())


ff.count_mode()
r = sendmail("pickup-count")
t.ok(r.returncode == 0 and mhtest.wait_for(
    lambda: whole_in_queue("pickup-count") and not dropped(), 20),
    "counting run: mtad picks the entry up")
points = ff.calls()
t.ok(len(points) >= 2 and "rename" in [p[2] for p in points],
     "counting run: %d renames and syncs in the pickup" % len(points),
     points)
t.diag("pickup path: " + path_of(points))
for mode in ("from", "once"):
    for n, p in F.sweep(points):
        err = "ENOSPC" if n % 2 else "EIO"
        tag = "pickup-%s-%d" % (mode, n)
        what = "pickup, %s at call %d (%s)%s" % (
            err, n, where(p), " only" if mode == "once" else " and later")
        ff.arm(n, err=err, n=1 if mode == "once" else 0)
        r = sendmail(tag)
        t.ok(r.returncode == 0 and mhtest.wait_for(
            lambda: ff.failed() > 0, 20), "%s: submitted, the fault hit"
            % what, r.err)
        ff.disarm()
        r = sendmail(tag + "-next")
        t.ok(mhtest.wait_for(lambda: len(whole_in_queue(tag)) == 1 and
                             len(whole_in_queue(tag + "-next")) == 1 and
                             stray() == [], 40),
             "%s: the next poke queues it, once and whole" % what,
             "%s %s" % (stray(), hub.log()[-1500:]))
t.eq(hub.proc.poll(), None, "mtad survived every pickup fault")
hub.stop()
t.done()
