#!/usr/bin/python3
# What a user reads is what was sent: an 8-bit message and a 10 MB one,
# through a real mtad into Maildir and into mbox, come out byte for byte
# (line ends aside: the spool keeps LF), minus the Received: header mtad
# adds and the mbox framing (From_ line, >From quoting, blank separator).
import os
import random
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest

t = mhtest.Test()
if not os.path.exists(mhtest.bin("mtad/mtad")):
    t.skip_all("mtad is not built")
user = "root" if os.geteuid() == 0 else None
if user is None:
    import pwd
    user = pwd.getpwuid(os.getuid()).pw_name

tmp = mhtest.tmpdir()
os.chmod(tmp, 0o755)


def start(name, mailbox):
    d = os.path.join(tmp, name)
    os.mkdir(d)
    port = mhtest.free_port()
    conf = os.path.join(d, "mtad.conf")
    with open(conf, "w") as f:
        f.write("hostname hub.lan\nlisten 127.0.0.1:%d\n"
                "local-domains hub.lan\nspool %s/spool\nuser %s\n"
                "aliases %s/aliases\nmailbox %s\n"
                "max-message-size 20M\n" % (port, d, user, d, mailbox))
    logf = open(os.path.join(d, "log"), "w")
    p = mhtest.Proc([mhtest.bin("mtad/mtad"), "-C", conf, "-F"],
                    stdout=logf, stderr=logf)
    mhtest.wait_port(port, proc=p)
    return p, port


def send(port, body):
    with smtplib.SMTP("127.0.0.1", port, local_hostname="lanhost",
                      timeout=60) as s:
        s.sendmail("eddy@lan.example", ["%s@hub.lan" % user], body,
                   mail_options=["BODY=8BITMIME"])


def strip_received(msg):
    """Drop the first header field (mtad's Received:) with its folds."""
    if not msg.startswith(b"Received:"):
        return None
    i = 0
    while True:
        j = msg.index(b"\n", i) + 1
        if msg[j:j + 1] not in (b" ", b"\t"):
            return msg[j:]
        i = j


def mbox_messages(data):
    """Split an mboxrd file, undoing the framing and the quoting."""
    out = []
    msgs = []
    if data.endswith(b"\n"):
        data = data[:-1]
    cur = None
    for line in data.split(b"\n"):
        if line.startswith(b"From "):
            if cur is not None:
                msgs.append(cur)
            cur = []
            continue
        if cur is None:
            return []
        if line.lstrip(b">").startswith(b"From ") and line.startswith(b">"):
            line = line[1:]
        cur.append(line)
    if cur is not None:
        msgs.append(cur)
    for m in msgs:
        # each message ends with "\n\n": the last two pieces are empty
        out.append(b"\n".join(m[:-1]))
    return out


rng = random.Random(3)
eightbit = ("Subject: caf\u00e9 cr\u00e8me\r\nFrom: \u00c9ddy <eddy@lan.example>\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
            "Gr\u00fc\u00dfe aus K\u00f6ln \u2014 \u65e5\u672c\u8a9e\r\n"
            "From the start\r\n>From quoted\r\n.leading dot\r\n"
            "\r\n\r\ntrailing blank lines kept\r\n").encode("utf-8")
alphabet = bytes(range(0x20, 0x7f)) + "\u00e4\u00f6\u00fc\u00df\u00e9".encode()
lines = [b"Subject: big one\r\n", b"Content-Type: text/plain; charset=utf-8\r\n",
         b"\r\n"]
size = sum(len(x) for x in lines)
while size < 10 * 1024 * 1024:
    n = rng.randint(0, 990)
    line = bytes(rng.choice(alphabet) for _ in range(min(n, 60))) * (n // 60 + 1)
    line = line[:n]
    if rng.random() < 0.01:
        line = b"From " + line[:900]
    if rng.random() < 0.01:
        line = b"." + line[:900]
    lines.append(line + b"\r\n")
    size += len(line) + 2
big = b"".join(lines)


def lf(b):
    return b.replace(b"\r\n", b"\n")


md, md_port = start("md", "maildir %s/md/Maildir-%%u" % tmp)
send(md_port, eightbit)
send(md_port, big)
newdir = os.path.join(tmp, "md", "Maildir-%s" % user, "new")


def maildir_files():
    try:
        names = sorted(os.listdir(newdir))
    except FileNotFoundError:
        return []
    return [open(os.path.join(newdir, n), "rb").read() for n in names]


t.ok(mhtest.wait_for(lambda: len(maildir_files()) == 2, timeout=40),
     "both messages are in Maildir/new")
got = [strip_received(m) for m in maildir_files()]
t.ok(lf(eightbit) in got, "the 8-bit message is byte-identical in Maildir")
t.ok(lf(big) in got, "the 10 MB message is byte-identical in Maildir")
md.stop()

mb, mb_port = start("mb", "mbox %s/mb/mail" % tmp)
os.makedirs(os.path.join(tmp, "mb", "mail"))
os.chmod(os.path.join(tmp, "mb", "mail"), 0o1777)
send(mb_port, eightbit)
send(mb_port, big)
box = os.path.join(tmp, "mb", "mail", user)


def mbox_now():
    try:
        return open(box, "rb").read()
    except FileNotFoundError:
        return b""


t.ok(mhtest.wait_for(lambda: len(mbox_messages(mbox_now())) == 2
                     and len(mbox_now()) > len(lf(big)), timeout=40),
     "both messages are in the mbox")
got = [strip_received(m + b"\n") for m in mbox_messages(mbox_now())]
t.ok(lf(eightbit) in got, "the 8-bit message is byte-identical in the mbox")
t.ok(lf(big) in got, "the 10 MB message is byte-identical in the mbox")
t.like(mbox_now().decode("utf-8", "replace"), "\n>From the start\n",
       "From_ lines in the body are quoted on disk")
mb.stop()
t.done()
