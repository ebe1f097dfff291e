#!/usr/bin/python3
# A full disk or an I/O error at any write, sync or rename of fetchd's
# journal and id file (the faultfs shim, each point of the path in turn)
# never loses mail: no message leaves the server before the SMTP server has
# it, the next poll (fault gone) leaves every message delivered and the
# mailbox empty, and a message goes twice only where fetchd said it could
# not write its journal.  In keep mode a fault in the id file costs at most
# a second copy, said so, never a message.
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import fetchdlib as F  # noqa: E402
import mhtest  # noqa: E402
import faultfs  # noqa: E402

t = mhtest.Test()
if not faultfs.available():
    t.skip_all("faultfs shim not built (make units)")
tmp = mhtest.tmpdir()
ff = faultfs.FaultFS(tmp)
env = F.Env(tmp)
ids = os.path.join(tmp, "ids")
os.mkdir(ids)
env.idfile = os.path.join(ids, "fetchids")
ff.set(dir=ids)
dc = mhtest.Dovecot(tmp, users={"eddy": "pw", "kim": "pw"}, ssl=False)
sh = mhtest.SmartHost(tmp)
N = 5
SAID = ("cannot write the journal", "cannot sync the journal",
        "cannot save", "cannot write")


def rc(user, keep=False):
    return env.rc(F.poll_line(dc) + '  user "%s" there with password "pw" '
                  "is eddy here sslproto '' %s\n  smtphost 127.0.0.1/%d\n"
                  % (user, "keep" if keep else "", sh.port))


def poll(path, shim=True):
    e = dict(env.env)
    if shim:
        e.update(ff.env())
    return mhtest.run(env.argv(path), env=e, timeout=50)


def fill(user, base):
    for i in range(N):
        dc.deliver(user, F.message(base + i))
    return set("test %d" % (base + i) for i in range(N))


def server_subjects(user):
    out = set()
    for m in dc.messages(user):
        for line in m.split(b"\r\n"):
            if line.startswith(b"Subject: "):
                out.add(line[9:].decode())
    return out


def where(p):
    return "%s %s" % (p[2], os.path.relpath(p[3], ids))


for keep, user in ((False, "eddy"), (True, "kim")):
    mode = "keep" if keep else "delete"
    path = rc(user, keep)
    # A first poll creates the journal; the second shows a poll's path.
    fill(user, 50 if not keep else 450)
    poll(path, shim=False)
    fill(user, 100 if not keep else 500)
    ff.count_mode()
    r = poll(path)
    t.eq(r.returncode, 0, "%s: counting poll delivers" % mode)
    points = ff.calls()
    t.ok(len(points) >= 2, "%s: %d writes, syncs and renames of the journal "
         "and id file" % (mode, len(points)), points)
    t.diag("%s path: %s" % (mode, ", ".join(where(p) for p in points)))
    base = 200 if not keep else 600
    for n, p, once in [(n, p, o) for o in (False, True)
                       for n, p in faultfs.sweep(points)]:
        err = "ENOSPC" if n % 2 else "EIO"
        what = "%s, %s at call %d (%s)%s" % (mode, err, n, where(p),
                                             " only" if once else
                                             " and later")
        before = collections.Counter(F.subjects(sh))
        want = fill(user, base)
        base += 10
        ff.arm(n, err=err, n=1 if once else 0)
        r = poll(path)
        ff.disarm()
        said = any(s in r.err for s in SAID)
        now = collections.Counter(F.subjects(sh)) - before
        gone = want - server_subjects(user)
        t.ok(gone <= set(now), "%s: nothing left the server undelivered"
             % what, sorted(gone - set(now)))
        t.ok(ff.failed() > 0, "%s: the fault was hit" % what)
        r2 = poll(path, shim=False)
        t.ok(r2.returncode in (0, 1), "%s: the next poll completes (exit %d)"
             % (what, r2.returncode), r2.err[-1500:])
        got = collections.Counter(F.subjects(sh)) - before
        twice = sorted(s for s in want if got[s] > 1)
        t.eq(set(got) & want, want, "%s: every message delivered" % what)
        t.ok(not twice or said, "%s: a second copy only where fetchd said "
             "it could not record" % what, "%s\n%s" % (twice, r.err[-1500:]))
        if not keep:
            t.eq(dc.count(user), 0, "%s: the mailbox is empty" % what)
        t.diag("%s: exit %d, twice: %s%s" % (what, r.returncode,
                                             twice or "none",
                                             " (said)" if said else ""))
        if keep:
            # The next poll with a sound disk delivers nothing again.
            r3 = poll(path, shim=False)
            again = collections.Counter(F.subjects(sh)) - before - got
            t.eq(sorted(again), [], "%s: a third poll delivers nothing"
                 % what)

# A journal that cannot be written ends the poll after the batch in hand
# (64 messages): the rest stays on the server for the next poll instead of
# being delivered now and again then.
BIG = 70
path = rc("eddy")
before = collections.Counter(F.subjects(sh))
want = set()
for i in range(BIG):
    dc.deliver("eddy", F.message(900 + i))
    want.add("test %d" % (900 + i))
ff.arm(1, err="ENOSPC", n=0)
r = poll(path)
ff.disarm()
now = collections.Counter(F.subjects(sh)) - before
t.ok("cannot write the journal" in r.err, "journal full: fetchd says so",
     "\n".join(l for l in r.err.splitlines() if "reading" not in l))
t.ok(r.returncode != 0, "journal full: the poll fails (exit %d)"
     % r.returncode)
t.ok(len(set(now) & want) <= 64, "journal full: at most one batch "
     "delivered (%d)" % len(set(now) & want))
t.eq(dc.count("eddy"), BIG, "journal full: nothing deleted")
r2 = poll(path, shim=False)
got = collections.Counter(F.subjects(sh)) - before
t.eq(set(got) & want, want, "journal full: the next poll delivers the rest")
t.ok(max(got[s] for s in want) <= 2, "journal full: no message more than "
     "twice")
t.eq(dc.count("eddy"), 0, "journal full: the mailbox is empty after")
t.done()
