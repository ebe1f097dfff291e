#!/usr/bin/python3
# Exactly once: fetchd SIGKILLed at 20 random points of a 100-message POP3
# (and IMAP) drain, then run to the end, delivers every message, and at no point is a
# message gone from the server before the SMTP server has it.  A message is
# delivered twice only if the kill fell in the one window SMTP cannot close:
# after the server took the final "." and before fetchd read its 250 (then
# nobody but the server knows it was accepted).  Everything after the 250 --
# the journal, DELE, QUIT -- is exactly once.
# Then the link dropped after the SMTP 250s but before QUIT (TCP proxy):
# the next poll deletes those messages without delivering them again.
import collections
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fetchdlib as F  # noqa: E402
import mhtest  # noqa: E402

t = mhtest.Test()
tmp = mhtest.tmpdir()
env = F.Env(tmp)
ca = mhtest.CA(tmp + "/ca")
dc = mhtest.Dovecot(tmp, users=dict((u, "pw") for u in (
    "eddy", "eddycal", "ian", "iancal", "dd", "ii")), ca=ca)
sh = mhtest.SmartHost(tmp)
seed = int(os.environ.get("FETCHD_CRASH_SEED", time.time()))
rnd = random.Random(seed)
t.diag("seed %d" % seed)
N = 100


def rc(user, port=None, opts="", proto="POP3"):
    return env.rc(F.poll_line(dc, port, proto) +
                  '  user "%s" there with password "pw" is eddy here %s\n'
                  '  sslcertfile %s smtphost 127.0.0.1/%d\n'
                  % (user, opts, ca.ca_file, sh.port))


def server_subjects(user):
    for _ in range(50):     # Dovecot may be moving files right now
        try:
            msgs = dc.messages(user)
            break
        except FileNotFoundError:
            time.sleep(0.05)
    out = set()
    for m in msgs:
        for line in m.split(b"\r\n"):
            if line.startswith(b"Subject: "):
                out.add(line[9:].decode())
    return out


def drain_with_kills(proto, user, port):
    """100 messages, 20 SIGKILLs, one final run; checks as in the header."""
    cal = user + "cal"
    for i in range(N):
        dc.deliver(cal, F.message(1000 + i))
    t0 = time.time()
    r = env.run(rc(cal, port, proto=proto))
    full = time.time() - t0
    t.eq(r.returncode, 0, "%s: calibration drain works (%.2f s)"
         % (proto, full))
    base = len(sh.messages())
    everything = set("test %d" % i for i in range(N))
    for i in range(N):
        dc.deliver(user, F.message(i))
    crc = rc(user, port, proto=proto)
    kills = 0
    bad = []
    in_doubt = set()
    for k in range(20):
        p = env.start(crc, stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.0, full / 8))
        if p.poll() is None:
            p.kill(signal.SIGKILL)
            kills += 1
        else:
            p.wait()
        before = len(sh.messages())
        time.sleep(0.1)         # let the sink finish what it had
        now = F.subjects(sh)
        # the messages whose 250 may have been in flight when fetchd died
        in_doubt |= set(now[max(before - 2, base):])
        delivered = set(now[base:])
        gone = everything - server_subjects(user)
        if not gone <= delivered:
            bad.append(sorted(gone - delivered))
    t.ok(kills >= 10, "%s: fetchd was killed mid-drain %d times"
         % (proto, kills))
    t.eq(bad, [], "%s: no message ever left the server before it was "
         "delivered" % proto)
    r = env.run(crc)
    t.ok(r.returncode in (0, 1), "%s: the run after the crashes completes "
         "(exit %d)" % (proto, r.returncode), r.err[-2000:])
    counts = collections.Counter(F.subjects(sh)[base:])
    t.eq(set(counts), everything, "%s: every message delivered" % proto)
    dups = sorted(s for s, c in counts.items() if c > 1)
    t.diag("%s: delivered twice (kill between the final dot and the 250): "
           "%r" % (proto, dups))
    t.eq([d for d in dups if d not in in_doubt], [],
         "%s: none delivered twice, except one in flight at a kill" % proto)
    t.eq(dc.count(user), 0, "%s: the mailbox is empty" % proto)


drain_with_kills("POP3", "eddy", dc.pop3)
drain_with_kills("IMAP", "ian", dc.imap)
t.ok(not os.path.exists(env.idfile + ".journal") or
     os.path.getsize(env.idfile + ".journal") == 0,
     "the journal is empty once everything is deleted")

# --- link dropped after the 250s, before QUIT reaches the server -----------
for i in range(5):
    dc.deliver("dd", F.message(200 + i))
px = mhtest.TcpProxy(tmp, dc.pop3, faults=[
    mhtest.TcpProxy.fault(match="QUIT", dir="c2s", action="close", conn=1,
                          at="start")])
base = len(sh.messages())
r = env.run(rc("dd", px.port, "sslproto ''"))
t.eq(r.returncode, 2, "QUIT lost: the poll reports a connection error")
t.eq(len(sh.messages()) - base, 5, "the five messages reached the SMTP server")
t.eq(dc.count("dd"), 5, "not deleted: the server never saw QUIT")
r = env.run(rc("dd", px.port, "sslproto ''"))
t.like(r.err, "already delivered", "next poll: journaled messages deleted")
t.eq(len(sh.messages()) - base, 5, "next poll: no second delivery")
t.eq(dc.count("dd"), 0, "next poll: the mailbox is empty")

# --- link cut in the middle of a message --------------------------------------
for i in range(10):
    dc.deliver("dd", F.message(300 + i, body="line\r\n" * 300))
base = len(sh.messages())
px2 = mhtest.TcpProxy(tmp, dc.pop3, faults=[
    mhtest.TcpProxy.fault(after=12000, dir="s2c", action="reset", conn=1)])
r = env.run(rc("dd", px2.port, "sslproto ''"))
t.eq(r.returncode, 2, "link cut mid-message: connection error")
part = len(sh.messages()) - base
t.ok(0 < part < 10, "the whole messages before the cut were delivered (%d)"
     % part)
r = env.run(rc("dd", px2.port, "sslproto ''"))
subj = F.subjects(sh)[base:]
t.eq(sorted(subj), sorted("test %d" % (300 + i) for i in range(10)),
     "after the cut: each of the ten exactly once")
t.eq(dc.count("dd"), 0, "after the cut: mailbox empty")

# --- IMAP: the link dropped after UID STORE \Deleted, before EXPUNGE ------
for i in range(5):
    dc.deliver("ii", F.message(400 + i))
px3 = mhtest.TcpProxy(tmp, dc.imap, faults=[
    mhtest.TcpProxy.fault(match="EXPUNGE", dir="c2s", action="close",
                          conn=1, at="start")])
base = len(sh.messages())
r = env.run(rc("ii", px3.port, "sslproto ''", proto="IMAP"))
t.ok(r.returncode != 0, "IMAP: EXPUNGE lost: the poll reports an error")
t.eq(len(sh.messages()) - base, 5, "IMAP: the five messages were delivered")
t.eq(dc.count("ii"), 5, "IMAP: still on the server (flagged, not expunged)")
r = env.run(rc("ii", px3.port, "sslproto ''", proto="IMAP"))
t.eq(len(sh.messages()) - base, 5, "IMAP: next poll: no second delivery")
t.eq(dc.count("ii"), 0, "IMAP: next poll: expunged")
t.done()
