#!/usr/bin/python3
# mtad-sendmail with a real mtad: a message written while mtad was down is
# picked up when it starts; with mtad running the poke gets a message
# delivered at once; -bs speaks SMTP on stdio; -q reaches the daemon.
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest

t = mhtest.Test()
if os.geteuid() != 0:
    t.skip_all("needs root: mtad drops to another user")
if not os.path.exists(mhtest.bin("mtad/mtad")):
    t.skip_all("mtad is not built")

tmp = mhtest.tmpdir()
os.chmod(tmp, 0o755)
spool = os.path.join(tmp, "spool")
mail = os.path.join(tmp, "mail")
os.mkdir(mail)
os.chmod(mail, 0o1777)
aliases = os.path.join(tmp, "aliases")
with open(aliases, "w") as f:
    f.write("eddy: root\n")
port = mhtest.free_port()
conf = os.path.join(tmp, "mtad.conf")
with open(conf, "w") as f:
    f.write("hostname hub.lan\nlisten 127.0.0.1:%d\nlocal-domains hub.lan\n"
            "spool %s\nuser nobody\naliases %s\nmailbox mbox %s\nlink down\n"
            % (port, spool, aliases, mail))
SENDMAIL = mhtest.bin("mtad/mtad-sendmail")


def mbox():
    try:
        with open(os.path.join(mail, "root"), "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def sendmail(args, text):
    return mhtest.run([SENDMAIL, "-C", conf] + args, input=text)


def maildrop():
    d = os.path.join(spool, "maildrop")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


# mtad down
r = sendmail(["-t", "-v"], "To: eddy@hub.lan, bob@example.org\nSubject: while down\n\n"
             "written while mtad was down\n")
t.eq(r.returncode, 0, "mtad-sendmail -t works with mtad down")
m = re.search(r"queued as ([0-9A-F]{19})", r.err)
qid = m.group(1) if m else "?"
t.eq(len([f for f in maildrop() if f.endswith(".env")]), 1, "the message waits in the maildrop")

log = os.path.join(tmp, "mtad.log")
logf = open(log, "w")
mtad = mhtest.Proc([mhtest.bin("mtad/mtad"), "-C", conf, "-F"], stderr=logf, stdout=logf)
mhtest.wait_port(port, proc=mtad)

t.ok(mhtest.wait_for(lambda: "written while mtad was down" in mbox(), 20),
     "picked up at start and delivered to the local recipient", open(log).read())
t.ok(mhtest.wait_for(lambda: maildrop() == [], 10), "maildrop emptied", maildrop())
# The mailbox shows the copy a moment before the delivery child settles the
# recipient in the queue: wait for the queue, not the mailbox.
mhtest.wait_for(lambda: "eddy@hub.lan" not in sendmail(["-bp"], "").out, 10)
r = sendmail(["-bp"], "")
t.like(r.out, qid, "mailq lists the message for its remote recipient")
t.like(r.out, "<bob@example.org>", "with the remote recipient pending")
t.unlike(r.out, "eddy@hub.lan", "not the delivered local one")
t.unlike(r.out, "waiting for pickup", "no longer in the maildrop")

# mtad up: the poke brings it in at once
start = time.monotonic()
r = sendmail(["eddy"], "Subject: poked\n\nsent while mtad runs\n")
t.eq(r.returncode, 0, "mtad-sendmail with mtad running exits 0")
t.ok(mhtest.wait_for(lambda: "sent while mtad runs" in mbox(), 10),
     "the poke gets it delivered", open(log).read())
t.ok(time.monotonic() - start < 5, "within seconds (%.1f s)" % (time.monotonic() - start))
t.like(mbox(), "Message-ID: <", "delivered with the added Message-ID")

# -bs: SMTP on stdin/stdout
dialogue = ("EHLO lanhost\r\nMAIL FROM:<root@hub.lan>\r\nRCPT TO:<eddy@hub.lan>\r\nDATA\r\n"
            "Subject: over bs\r\n\r\nspoken on stdin\r\n.\r\nQUIT\r\n")
r = sendmail(["-bs"], dialogue)
t.eq(r.returncode, 0, "-bs session exits 0")
t.ok(r.out.startswith("220 "), "-bs greets with 220", r.out)
t.like(r.out, "250 2.0.0", "-bs queues the message")
t.ok(mhtest.wait_for(lambda: "spoken on stdin" in mbox(), 10),
     "the -bs message is delivered", r.out)

# -q reaches the daemon; the link is down, so it refuses loudly
r = sendmail(["-q"], "")
t.ok(r.returncode not in (0, 69) and "not running" not in r.err,
     "-q reaches the running mtad, which refuses with the link down",
     "rc %d: %s %s" % (r.returncode, r.out, r.err))
t.like(r.out + r.err, "link is down", "and says why")
t.unlike(open(log).read(), "runner process", "mtad's runner stays up")

mtad.stop()
t.done()
