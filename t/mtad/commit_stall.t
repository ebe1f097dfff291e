#!/usr/bin/python3
# A disk that stalls holds back the 250 of the messages being synced, and
# nothing else.  While a group commit waits in syncfs (the faultfs gate),
# other clients are greeted, talk and send their DATA; no message of the
# held groups is in the queue, and none is acknowledged, until the sync
# returns; then every one of them is.  (mtad/commit.c: the commit runs in a
# thread of its own while the event loop goes on.)
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest  # noqa: E402
import faultfs  # noqa: E402
import faultutil as F  # noqa: E402

t = mhtest.Test()
if not faultfs.available():
    t.skip_all("faultfs shim not built (make units)")
tmp = mhtest.tmpdir()
gate = os.path.join(tmp, "gate")
ff = faultfs.FaultFS(tmp, gate=gate)
hub = F.Hub(tmp, ff)
mhtest.on_exit(hub.stop)


def silent(c, secs=0.5):
    """Nothing from the server for secs (the reply is held)."""
    c.s.settimeout(secs)
    try:
        data = c.s.recv(65536)
    except socket.timeout:
        return True
    finally:
        c.s.settimeout(30)
    c.buf += data
    return False


def start_message(c, tag):
    """A transaction up to the final dot; the dot's reply left unread."""
    c.cmd("EHLO pc1.lan.example")
    for cmd in ("MAIL FROM:<eddy@lan.example>", "RCPT TO:<%s@remote.example>"
                % tag, "DATA"):
        r = c.cmd(cmd)
        if not r.startswith(("250", "354")):
            return r
    c.send(F.body(tag) + ".\r\n")
    return "sent"


open(gate, "w").close()
a = hub.connect()
t.eq(start_message(a, "first"), "sent", "first client: dialogue up to the dot")
t.ok(mhtest.wait_for(lambda: os.path.exists(gate + ".held"), 20),
     "its group commit is held in syncfs")
t.ok(silent(a), "no reply to the first message while its sync is held")

# The loop goes on: a new client is greeted and sends a whole message.
b = hub.connect()
t.like(b.greeting, "220 hub.example", "a second client is greeted meanwhile")
t.eq(start_message(b, "second"), "sent",
     "second client: EHLO, MAIL, RCPT, DATA and the message meanwhile")
c = hub.connect()
t.like(c.cmd("NOOP"), "250", "a third client's NOOP is answered meanwhile")
t.ok(silent(a, 0.2) and silent(b, 0.2),
     "neither message is acknowledged while the disk holds")
t.eq([f for f in hub.queue_files() if f.endswith(".env")], [],
     "nothing is in the queue before its sync returned")

os.unlink(gate)
ra, rb = a.reply(), b.reply()
t.like(ra, "250 2.0.0 queued as", "the first message is acknowledged after "
       "its sync")
t.like(rb, "250 2.0.0 queued as", "the second one too, in the next group")
ids = [r.split()[-1] for r in (ra, rb)]
t.eq(sorted(ids), hub.queue_ids(), "both are in the queue, under those IDs")
t.ok(all(F.copies(hub.msg(i), tag) == 1
         for i, tag in zip(ids, ("first", "second"))),
     "each queued whole")
t.like(a.cmd("QUIT"), "221", "the first session goes on after its 250")
for x in (a, b, c):
    x.close()
hub.stop()
t.done()
