#!/usr/bin/python3
# mailbox mda "CMD" through a real mtad: %u and %s substituted, the command
# runs as the recipient, exit 0 delivers, a failing MDA sends an RFC 3464
# DSN back to the sender, exit 75 defers and the message stays queued.
import os
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest

t = mhtest.Test()
if os.geteuid() != 0:
    t.skip_all("needs root: deliveries change user")
if not os.path.exists(mhtest.bin("mtad/mtad")):
    t.skip_all("mtad is not built")

tmp = mhtest.tmpdir()
os.chmod(tmp, 0o755)
out = os.path.join(tmp, "out")
os.mkdir(out)
os.chmod(out, 0o1777)
script = os.path.join(tmp, "mda.sh")
with open(script, "w") as f:
    f.write("#!/bin/sh\n"
            "user=$1 sender=$2\n"
            "id -un > %s/uid-$user\n"
            "case $user in\n"
            "nobody) cat >/dev/null; echo 'no such folder'; exit 1;;\n"
            "esac\n"
            "printf '%%s\\n' \"$sender\" >> %s/sender-$user\n"
            "cat >> %s/mda-$user\n" % (out, out, out))
os.chmod(script, 0o755)
aliases = os.path.join(tmp, "aliases")
with open(aliases, "w") as f:
    f.write("later: \"|cat >/dev/null; echo mailbox busy; exit 75\"\n")
spool = os.path.join(tmp, "spool")
port = mhtest.free_port()
conf = os.path.join(tmp, "mtad.conf")
with open(conf, "w") as f:
    f.write("hostname hub.lan\nlisten 127.0.0.1:%d\nlocal-domains hub.lan\n"
            "spool %s\nuser nobody\naliases %s\nmailbox mda \"%s %%u %%s\"\n"
            % (port, spool, aliases, script))
log = os.path.join(tmp, "mtad.log")
logf = open(log, "w")
mtad = mhtest.Proc([mhtest.bin("mtad/mtad"), "-C", conf, "-F"], stdout=logf,
                   stderr=logf)
mhtest.wait_port(port, proc=mtad)


def send(rcpts, body, sender="root@hub.lan"):
    with smtplib.SMTP("127.0.0.1", port, local_hostname="lanhost",
                      timeout=20) as s:
        return s.sendmail(sender, rcpts, body)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


send(["root@hub.lan"], "Subject: via mda\r\n\r\nhello\r\n",
     sender="eddy@lan.example")
t.ok(mhtest.wait_for(lambda: "hello" in read(os.path.join(out, "mda-root"))),
     "exit 0: the MDA got the message")
t.eq(read(os.path.join(out, "sender-root")), "eddy@lan.example\n",
     "%s is the envelope sender")
t.eq(read(os.path.join(out, "uid-root")), "root\n", "run as root for root")

send(["nobody@hub.lan"], "Subject: doomed\r\n\r\nnever read\r\n")
t.ok(mhtest.wait_for(lambda: "Status: 5.3.0" in
                     read(os.path.join(out, "mda-root"))),
     "exit 1: a DSN goes back to the sender")
t.eq(read(os.path.join(out, "uid-nobody")), "nobody\n",
     "the failing MDA ran as nobody")
box = read(os.path.join(out, "mda-root"))
dsn = box[box.find("From: Mail Delivery Subsystem"):]
t.like(dsn, "\nTo: <root@hub.lan>\n", "addressed to the envelope sender")
t.like(read(os.path.join(out, "sender-root")), "\n\n",
       "from the null sender <>")
t.like(dsn, "Content-Type: multipart/report; report-type=delivery-status",
       "a multipart/report")
t.like(dsn, "Content-Type: message/delivery-status\n\nReporting-MTA: dns; "
       "hub.lan\nReceived-From-MTA: dns; lanhost\nArrival-Date: ",
       "with the per-message fields")
t.like(dsn, "Final-Recipient: rfc822; nobody@hub.lan\nAction: failed\n"
       "Status: 5.3.0\nDiagnostic-Code: smtp; 554 5.3.0 command exited 1: "
       "no such folder\n", "and the recipient's, with the MDA's words")
t.like(dsn, "Content-Type: text/rfc822-headers", "the original headers")
t.like(dsn, "Subject: doomed", "are returned")
t.unlike(dsn, "never read", "but not the body")

send(["later@hub.lan"], "Subject: not now\r\n\r\nlater\r\n")
t.ok(mhtest.wait_for(lambda: "stat=Deferred" in read(log)),
     "exit 75: the recipient is deferred")
t.like(read(log), "to=<later@hub.lan>, delay=", "logged for the recipient")
t.like(read(log), "mailer=local, stat=Deferred (451 4.3.0 command exited 75 "
       "(temporary failure): mailbox busy)", "with the reason")
# Only this message's envelope: the DSN of the bounce above may still be on
# its way through the queue.
queued = [n for n in os.listdir(os.path.join(spool, "queue"))
          if n.endswith(".env") and
          "later@hub.lan" in read(os.path.join(spool, "queue", n))]
t.eq(len(queued), 1, "and the message stays queued")
env = read(os.path.join(spool, "queue", queued[0])) if queued else ""
t.like(env, "later@hub.lan", "for that recipient")
t.unlike(read(log), "DSN: 451", "no DSN for a deferral")
t.eq(mtad.poll(), None, "mtad is still running")
mtad.stop()
t.done()
