#!/usr/bin/python3
# The link to the smart host breaks in the middle of a flush of several
# messages (a TCP proxy closes, resets or stalls the connection at chosen
# points: inside a message's DATA, right after its final dot, just before and
# just after its 250, and at byte offsets across the whole transfer).  The
# next flush resumes: every message reaches every recipient, and a message
# goes twice only when the smart host had accepted it but its 250 never
# reached mtad -- at most one per break.  A stalled link is ended by
# `mtactl link down` (as ip-down does), which leaves every message queued.
import collections
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest  # noqa: E402
import faultutil as F  # noqa: E402

t = mhtest.Test()
tmp = mhtest.tmpdir()
sh = mhtest.SmartHost(tmp)
Fwd = collections.namedtuple("Fwd", "host port")
PORT = mhtest.free_port()
hub = F.Hub(tmp, None, sh=Fwd("127.0.0.1", PORT))
RCPTS = ["friend@remote.example", "other@remote.example"]
NMSG = 5
px = None


def proxy(name, faults, record=False):
    global px
    if px is not None:
        px.stop()
    px = mhtest.TcpProxy(tmp, sh.port, faults=faults, port=PORT, name=name,
                         record=record)
    return px


def queue(name):
    c = hub.connect()
    c.cmd("EHLO client.example")
    tags = []
    for i in range(NMSG):
        tag = "%s-%d" % (name, i)
        r = F.send(c, RCPTS, F.body(tag, lines=150))
        if r.startswith("250"):
            tags.append(tag)
    c.close()
    return tags


def copies(tag):
    """{rcpt: [connection numbers of the copies]} at the smart host."""
    out = collections.defaultdict(list)
    for m in sh.messages():
        if F.copies(m["data"], tag):
            for rc in m["rcpt_tos"]:
                out[rc].append(m["conn"])
    return out


def broken_flush(name, faults, stall=False):
    """Queue NMSG messages, flush through a proxy that breaks the first
    connection, then flush again through a sound one.  Returns the tags and
    the smart-host connections made by the broken flush."""
    tags = queue(name)
    conns0 = sh.connections()
    proxy(name, faults)
    if stall:
        up = subprocess.Popen([mhtest.bin("mtad/mtactl"), "-C", hub.conf,
                               "link", "up"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
        mhtest.on_exit(lambda: up.poll() is None and up.kill())
        t.ok(mhtest.wait_for(lambda: any(c["fault"] for c in
                                         px.stats()["conns"]), 20),
             "%s: the link stalls" % name)
        r = hub.ctl("link", "down")
        t.eq(r.returncode, 0, "%s: link down while stalled" % name)
        out = up.communicate(timeout=30)[0].decode(errors="replace")
        t.like(out, "flush:", "%s: the stalled flush ends with its result"
               % name)
        t.eq(sorted(hub.queue_ids()).__len__() >= 1, True,
             "%s: messages stay queued" % name)
    else:
        hub.ctl("link", "up")
        hub.ctl("link", "down")
    broken = set(range(conns0 + 1, sh.connections() + 1))
    st = px.stats()
    t.ok(st["conns"] and st["conns"][0]["fault"],
         "%s: the proxy broke the connection" % name, st)
    proxy(name + "-ok", [])
    r = hub.ctl("flush")
    r = hub.ctl("link", "up")
    hub.ctl("link", "down")
    t.ok(mhtest.wait_for(lambda: hub.queue_ids() == [], 15),
         "%s: the next flush empties the queue" % name, r.out + r.err)
    return tags, broken


def check(name, tags, broken):
    lost, dup = [], []
    for tag in tags:
        cp = copies(tag)
        for rc in RCPTS:
            if not cp.get(rc):
                lost.append((tag, rc))
            elif len(cp[rc]) > 1:
                dup.append((tag, rc, cp[rc]))
    t.eq(lost, [], "%s: every message reached every recipient" % name)
    dup_tags = set(d[0] for d in dup)
    t.ok(len(dup_tags) <= 1 and all(
        len(d[2]) == 2 and d[2][0] in broken for d in dup),
        "%s: at most the one message in flight went twice, its first copy "
        "over the broken connection" % name, dup)
    t.diag("%s: %d messages, twice: %s" % (name, len(tags),
                                           sorted(dup_tags) or "none"))
    return dup_tags


# A clean run measures the transfer.
tags = queue("clean")
proxy("clean", [], record=True)
r = hub.ctl("link", "up")
hub.ctl("link", "down")
t.like(r.out, "flush: %d sent" % NMSG, "clean flush through the proxy")
total = px.stats()["c2s_bytes"]
# Where the third message's 250 ends in the server's byte stream (the same
# in every flush of five messages: the replies do not vary in length).
s2c = px.recorded(1, "s2c")
ends = [m.end() for m in re.finditer(rb"OK queued as \S+\r\n", s2c)]
t.eq(len(ends), NMSG, "clean flush: %d replies to DATA" % NMSG)
t.ok(total > NMSG * 9000, "the flush moved %d bytes to the smart host"
     % total)

DOT = "\r\n.\r\n"
cases = [
    ("in-data", [mhtest.TcpProxy.fault(match=DOT, count=3, dir="c2s",
                                       action="close", at="start", conn=1)],
     False),
    ("after-dot", [mhtest.TcpProxy.fault(match=DOT, count=3, dir="c2s",
                                         action="close", at="end", conn=1)],
     None),
    ("250-lost", [mhtest.TcpProxy.fault(match="OK queued as", count=3,
                                        dir="s2c", action="close",
                                        at="start", conn=1)], True),
    ("after-250", [mhtest.TcpProxy.fault(after=ends[2], dir="s2c",
                                         action="reset", conn=1)], False),
]
for frac in (0.2, 0.5, 0.8):
    cases.append(("reset-%d%%" % (frac * 100),
                  [mhtest.TcpProxy.fault(after=int(total * frac), dir="c2s",
                                         action="reset", conn=1)], None))
    cases.append(("close-s2c-%d%%" % (frac * 100),
                  [mhtest.TcpProxy.fault(after=int(px.stats()["s2c_bytes"]
                                                   * frac), dir="s2c",
                                         action="close", conn=1)], None))

for name, faults, want_dup in cases:
    tags, broken = broken_flush(name, faults)
    dups = check(name, tags, broken)
    if want_dup is True:
        t.eq(len(dups), 1, "%s: the message whose 250 was lost went twice"
             % name)
    elif want_dup is False:
        t.eq(len(dups), 0, "%s: nothing went twice" % name)

tags, broken = broken_flush("stall", [mhtest.TcpProxy.fault(
    after=int(total * 0.5), dir="c2s", action="stall", conn=1)], stall=True)
check("stall", tags, broken)
t.unlike(hub.log(), "AddressSanitizer", "no memory error in mtad")
t.eq(hub.proc.poll(), None, "mtad still runs")
hub.stop()
px.stop()
t.done()
