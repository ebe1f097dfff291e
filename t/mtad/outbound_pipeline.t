#!/usr/bin/python3
# The flush pipelines across messages (RFC 2920 3.1): beyond EHLO and the
# first transaction the client speaks once per message -- the next
# MAIL/RCPT/DATA group goes right behind the previous end of data -- and
# with CHUNKING it hardly waits at all.  Counted by a TCP proxy.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest
import outbound


class Fwd:
    host = "127.0.0.1"

    def __init__(self, port):
        self.port = port


t = mhtest.Test()
tmp = mhtest.tmpdir()
N = 10
for chunking in (False, True):
    name = "bdat" if chunking else "data"
    sh = mhtest.SmartHost(tmp, name="sh-" + name, chunking=chunking)
    px = mhtest.TcpProxy(tmp, sh.port, record=True, name="px-" + name)
    hub = outbound.Hub(tmp, Fwd(px.port), name="hub-" + name)
    for i in range(N):
        hub.send("eddy@shofar.lan", ["p%d@remote.example" % i],
                 subject="%s %d" % (name, i))
    r = hub.ctl("link", "up")
    t.like(r.out, "flush: %d sent, 0 deferred, 0 bounced" % N,
           "%s: all sent" % name)
    st = px.stats()
    t.eq(st["connections"], 1, "%s: over one connection" % name)
    c2s = px.recorded(1, "c2s")
    if not chunking:
        # EHLO, the first group, one per message (its data and the next
        # group, after the 354), and QUIT.
        t.ok(st["turns"] <= N + 3, "DATA: %d client turns for %d messages"
             % (st["turns"], N))
        t.eq(c2s.count(b"\r\n.\r\nMAIL FROM:"), N - 1,
             "DATA: every next MAIL right behind the end of data")
    else:
        t.ok(st["turns"] <= 2 + N // 4 + 2,
             "BDAT: %d client turns for %d messages" % (st["turns"], N))
        t.eq(c2s.count(b" LAST\r\n"), N, "BDAT: each message ends LAST")
        t.eq(c2s.count(b"DATA\r\n"), 0, "and none waits for a 354")
    hub.stop()
    px.stop()
    sh.stop()
t.done()
