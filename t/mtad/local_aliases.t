#!/usr/bin/python3
# Local delivery through a real mtad into mbox files: users, alias lists,
# |pipes, /files, :include:, unknown users refused at RCPT, alias loops
# bounced with a DSN, sendmail-shaped to= lines.  Deliveries run as the
# recipient (root here, and nobody); pipes and files as the mtad user.
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
os.chmod(tmp, 0o755)            # nobody must reach its files below
spool = os.path.join(tmp, "spool")
mail = os.path.join(tmp, "mail")
out = os.path.join(tmp, "out")
for d in (mail, out):
    os.mkdir(d)
    os.chmod(d, 0o1777)
members = os.path.join(tmp, "members")
with open(members, "w") as f:
    f.write("# the list\nnobody\n")
aliases = os.path.join(tmp, "aliases")
with open(aliases, "w") as f:
    f.write("# test aliases\n"
            "Team: root,\n"
            "\tnobody@hub.lan\n"
            "piper: \"|cat > %s/pipe.txt; id -un > %s/pipe.user\"\n"
            "filer: %s/file.mbox\n"
            "inc: :include:%s\n"
            "loopa: loopb\n"
            "loopb: loopa\n" % (out, out, out, members))
port = mhtest.free_port()
conf = os.path.join(tmp, "mtad.conf")
with open(conf, "w") as f:
    f.write("hostname hub.lan\nlisten 127.0.0.1:%d\nlocal-domains hub.lan\n"
            "spool %s\nuser nobody\naliases %s\nmailbox mbox %s\n"
            % (port, spool, aliases, mail))
log = os.path.join(tmp, "mtad.log")
logf = open(log, "w")
mtad = mhtest.Proc([mhtest.bin("mtad/mtad"), "-C", conf, "-F"], stderr=logf,
                   stdout=logf)
mhtest.wait_port(port, proc=mtad)


def send(rcpts, body, sender="root@hub.lan"):
    with smtplib.SMTP("127.0.0.1", port, local_hostname="lanhost",
                      timeout=20) as s:
        return s.sendmail(sender, rcpts, body)


def mbox(name):
    try:
        with open(os.path.join(mail, name), "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def wait_text(fn, needle, timeout=20):
    return mhtest.wait_for(lambda: needle in fn(), timeout=timeout)


send(["root@hub.lan"], "Subject: direct\r\n\r\nhello root\r\n")
t.ok(wait_text(lambda: mbox("root"), "Subject: direct"),
     "a user's mail lands in DIR/USER")
t.like(mbox("root"), "\nhello root\n", "with its body")
t.ok(mbox("root").startswith("From root@hub.lan "), "after a From_ line")
st = os.stat(os.path.join(mail, "root"))
t.eq((st.st_uid, st.st_mode & 0o777), (0, 0o600), "root's mbox is root's, 0600")

send(["team@HUB.LAN"], "Subject: to the team\r\n\r\nlist mail\r\n")
t.ok(wait_text(lambda: mbox("nobody"), "Subject: to the team"),
     "an alias list reaches its second member (name@localdomain)")
t.ok(wait_text(lambda: mbox("root"), "Subject: to the team"),
     "and its first, names case-insensitive")
st = os.stat(os.path.join(mail, "nobody"))
t.eq(st.st_uid, 65534, "nobody's mbox was written as nobody")

send(["piper@hub.lan"], "Subject: piped\r\n\r\nthrough a pipe\r\n")
t.ok(wait_text(lambda: read(os.path.join(out, "pipe.txt")), "through a pipe"),
     "a |command alias gets the message on stdin")
t.like(read(os.path.join(out, "pipe.txt")), "Subject: piped\n",
       "the whole message, LF line ends")
t.ok(wait_text(lambda: read(os.path.join(out, "pipe.user")), "nobody"),
     "and runs as the mtad user")

send(["filer@hub.lan"], "Subject: filed\r\n\r\nFrom here on\r\n")
t.ok(wait_text(lambda: read(os.path.join(out, "file.mbox")), "Subject: filed"),
     "a /file alias is appended to")
t.like(read(os.path.join(out, "file.mbox")), "\n>From here on\n",
       "mbox-style, with >From quoting")

send(["inc@hub.lan"], "Subject: included\r\n\r\nvia include\r\n")
t.ok(wait_text(lambda: mbox("nobody"), "Subject: included"),
     ":include: members are delivered to")

try:
    send(["nosuchuser@hub.lan"], "Subject: x\r\n\r\ny\r\n")
    t.ok(False, "an unknown user is refused at RCPT")
except smtplib.SMTPRecipientsRefused as e:
    code, text = e.recipients["nosuchuser@hub.lan"]
    t.eq(code, 550, "an unknown user is refused at RCPT with 550")
    t.like(text.decode(), "5.1.1", "and enhanced status 5.1.1")

send(["loopa@hub.lan"], "Subject: going round\r\n\r\nloop\r\n")
t.ok(wait_text(lambda: mbox("root"), "Status: 5.4.6"),
     "an alias loop comes back to the sender as a DSN")
box = mbox("root")
dsn = box[box.rfind("\nFrom MAILER-DAEMON "):]
t.like(dsn, "Content-Type: multipart/report; report-type=delivery-status;",
       "a multipart/report")
t.like(dsn, "Final-Recipient: rfc822; loopa@hub.lan\nAction: failed\n",
       "naming the failed recipient")
t.like(dsn, "Content-Type: text/rfc822-headers", "returning the headers")
t.like(dsn, "Subject: going round", "of the original")

# A bounce of a bounce is never sent: the failure goes to the postmaster.
send(["loopa@hub.lan"], "Subject: null sender\r\n\r\nx\r\n", sender="")
t.ok(wait_text(lambda: mbox("root"), "Subject: null sender"),
     "a <> message that fails is reported to the postmaster (root)")

t.ok(mhtest.wait_for(lambda: "to=<root@hub.lan>, delay=" in read(log)),
     "a to= line per recipient")
t.like(read(log), ", mailer=local, stat=Sent", "with mailer=local, stat=Sent")
t.like(read(log), "to=<loopa@hub.lan>, delay=",
       "the looping recipient is logged")
t.like(read(log), "stat=Bounced (554 5.4.6 alias loop: loopa -> loopb -> "
       "loopa)", "as Bounced, with the loop")
t.eq(mtad.poll(), None, "mtad is still running")
mtad.stop()
t.done()
