#!/usr/bin/python3
# queue-lifetime runs out while the link stays down: the daemon's timer
# bounces the message with a DSN to the sender, and no flush is needed.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest
import outbound

t = mhtest.Test()
tmp = mhtest.tmpdir()
sh = mhtest.SmartHost(tmp)
hub = outbound.Hub(tmp, sh, extra="queue-lifetime 3s\n")
hub.send("root@shofar.lan", ["far@remote.example"], subject="stale")
hub.send("root@shofar.lan", ["near@remote.example"], subject="fresh")
t.eq(len(hub.queue_ids()), 2, "both wait while the link is down")

mbox = os.path.join(hub.mail, "root")


def dsn():
    try:
        with open(mbox, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


t.ok(mhtest.wait_for(lambda: b"far@remote.example" in dsn() and
                     b"near@remote.example" in dsn(), 20),
     "link still down: the expired messages come back to the sender")
# The runner logs once it has settled everything it bounced.
mhtest.wait_for(lambda: "past queue-lifetime bounced" in hub.log(), 10)
d = dsn()
t.like(d.decode("latin-1"), "multipart/report; report-type=delivery-status",
       "as an RFC 3464 DSN")
t.like(d.decode("latin-1"), "4.4.7", "saying the delivery time expired")
log = hub.log()
line = [x for x in log.splitlines() if "to=<far@remote.example>" in x]
t.like("".join(line), "stat=Bounced (4.4.7 Delivery time expired "
       "(queue-lifetime); last: never tried (the link stayed down))",
       "a to= line for the bounce")
t.like(log, "past queue-lifetime bounced", "and what the timer did")
t.ok(mhtest.wait_for(lambda: hub.queue_ids() == [], 10),
     "nothing left in the queue")
t.eq(sh.connections(), 0, "the smart host was never contacted")
st = hub.status()
t.eq(st.get("queue"), "0 messages", "status: nothing waits")

# A message younger than the lifetime is left alone.
hub.stop()
hub2 = outbound.Hub(tmp, sh, name="hub2", extra="queue-lifetime 1h\n")
hub2.send("root@shofar.lan", ["later@remote.example"], subject="young")
hub2.ctl("status")
t.eq(len(hub2.queue_ids()), 1, "a young message stays queued")
t.unlike(hub2.log(), "Bounced", "and is not bounced")
hub2.stop()
t.done()
