#!/usr/bin/python3
# Per-recipient results: 550 bounced with a DSN while the others are
# delivered; 450 deferred and delivered by the next flush; the connection
# dropped after 3 of 10 messages: 3 delivered exactly once, 7 on the next
# flush; queue-lifetime expiry bounces.
import email
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest
import outbound

t = mhtest.Test()
tmp = mhtest.tmpdir()


def subjects(sh, **kw):
    return sorted(email.message_from_bytes(m["data"])["Subject"]
                  for m in sh.messages(**kw))


def wait_idle(hub):
    return mhtest.wait_for(lambda: hub.status().get("flush") == "idle", 15)


# --- 550 and 450 -------------------------------------------------------------
sh = mhtest.SmartHost(tmp, rcpt={
    "bad@remote.example": "550 5.1.1 <bad@remote.example>: no such user",
    "slow@remote.example": {"reply": "450 4.2.0 mailbox busy", "times": 1}})
hub = outbound.Hub(tmp, sh)
hub.send("alice@remote.example", ["good@remote.example", "bad@remote.example"],
         subject="mixed")
hub.send("alice@remote.example", ["slow@remote.example"], subject="slow")
r = hub.ctl("link", "up")
t.eq(r.returncode, 0, "link up: exit 0 (no connection failure)")
t.like(r.out, "flush: 0 sent, 1 deferred, 1 bounced",
       "one message bounced (for one recipient), one deferred")
got = [m for m in sh.messages()
       if email.message_from_bytes(m["data"])["Subject"] == "mixed"]
t.eq(len(got), 1, "the mixed message was delivered once")
t.eq(got and got[0]["rcpt_tos"], ["good@remote.example"],
     "to the recipient the server accepted")
log = hub.log()
t.like(log, "to=<bad@remote.example>", "the 550 has a to= line")
t.like(log, "stat=Bounced (550 5.1.1", "stat=Bounced with the server's reply")
t.like(log, "to=<slow@remote.example>", "the 450 has a to= line")
t.like(log, "stat=Deferred (450 4.2.0 mailbox busy)",
       "stat=Deferred with the server's reply")

# The DSN goes to the (remote) sender through the smart host from <>.
t.ok(mhtest.wait_for(lambda: any(m["mail_from"] in ("", "<>")
                                 for m in sh.messages()), 15),
     "a DSN left for the sender")
dsn = [m for m in sh.messages() if m["mail_from"] in ("", "<>")]
if dsn:
    t.eq(dsn[0]["rcpt_tos"], ["alice@remote.example"], "DSN to the sender")
    body = dsn[0]["data"].decode(errors="replace")
    t.like(body, "multipart/report", "an RFC 3464 report")
    t.like(body, "bad@remote.example", "naming the failed recipient")
    t.like(body, "5.1.1", "with the status")
wait_idle(hub)
t.eq(hub.status().get("queue"), "1 messages", "the deferred message waits")
r = hub.ctl("flush")
t.eq(r.returncode, 0, "mtactl flush exits 0")
t.like(r.out, "flush: 1 sent, 0 deferred, 0 bounced",
       "the 450 is delivered by the next flush")
t.eq(subjects(sh).count("slow"), 1, "exactly once")
hub.stop()
sh.stop()

# --- SIZE, and a DSN for a local sender -------------------------------------
sh = mhtest.SmartHost(tmp, name="small", size=3000,
                      rcpt={"bad@remote.example": 550})
hub = outbound.Hub(tmp, sh, name="hub4")
hub.send("alice@remote.example", ["big@remote.example"], subject="big",
         body="y" * 70 + "\r\n" * 1 + ("z" * 70 + "\r\n") * 60)
hub.send("alice@remote.example", ["fits@remote.example"], subject="fits")
hub.send("root@shofar.lan", ["bad@remote.example"], subject="localdsn")
r = hub.ctl("link", "up")
t.like(r.out, "flush: 1 sent, 0 deferred, 2 bounced",
       "SIZE: the oversize message bounced, the other sent")
t.ok(not any("big@remote.example" in c for c in sh.commands()),
     "the oversize message was never offered to the smart host")
t.like(hub.log(), "stat=Bounced (552 5.3.4 Message size",
       "logged as too big for the smart host")
mbox = os.path.join(hub.mail, "root")
t.ok(mhtest.wait_for(lambda: os.path.exists(mbox) and
                     b"bad@remote.example" in open(mbox, "rb").read(), 15),
     "the DSN for a local sender is delivered locally at once")
hub.stop()
sh.stop()

# --- dropped after 3 of 10 --------------------------------------------------
sh = mhtest.SmartHost(tmp, name="dropper", drop_after_messages=3)
hub = outbound.Hub(tmp, sh, name="hub2")
for i in range(10):
    hub.send("eddy@shofar.lan", ["x%d@remote.example" % i], subject="m%d" % i)
r = hub.ctl("link", "up")
t.eq(r.returncode, 1, "a lost connection: link up exits 1")
t.like(r.out, "flush: 3 sent, 7 deferred, 0 bounced",
       "3 sent, the other 7 deferred")
t.eq(len(sh.messages()), 3, "the smart host has 3")
t.eq(hub.status().get("queue"), "7 messages", "7 wait in the queue")
r = hub.ctl("flush")
t.like(r.out, "flush: 7 sent, 0 deferred, 0 bounced",
       "the next flush sends the 7")
t.eq(subjects(sh), sorted("m%d" % i for i in range(10)),
     "all 10 delivered exactly once")
t.eq(sh.connections(), 2, "over two connections in all")
hub.stop()
sh.stop()

# --- queue-lifetime ------------------------------------------------------------
sh = mhtest.SmartHost(tmp, name="busy", rcpt={
    "later@remote.example": "451 4.3.0 try later"})
hub = outbound.Hub(tmp, sh, name="hub3", extra="queue-lifetime 3\n")
hub.send("alice@remote.example", ["later@remote.example"], subject="old")
r = hub.ctl("link", "up")
t.like(r.out, "flush: 0 sent, 1 deferred, 0 bounced", "first deferred")
# The daemon's timer bounces it, without waiting for the next flush.
t.ok(mhtest.wait_for(lambda: "stat=Bounced (4.4.7 Delivery time expired"
                     in hub.log(), 20),
     "older than queue-lifetime: bounced, logged as expired")
# The 451 comes at RCPT: no DATA, so count the RCPT commands themselves.
t.eq(len([c for c in sh.commands() if c.upper().startswith("RCPT TO:")
          and "later@remote.example" in c]), 1,
     "the smart host was not tried again")
t.ok(mhtest.wait_for(lambda: any(m["mail_from"] in ("", "<>")
                                 for m in sh.messages()), 15),
     "and a DSN went to the sender")
t.ok(mhtest.wait_for(lambda: hub.queue_ids() == [], 10),
     "nothing left in the queue")
hub.stop()
t.done()
