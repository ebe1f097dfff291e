#!/usr/bin/python3
# A deferred local recipient is retried by the running mtad once its retry
# time has come (here moved forward by editing the envelope), and delivered
# exactly once.
import os
import re
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest

t = mhtest.Test()
if not os.path.exists(mhtest.bin("mtad/mtad")):
    t.skip_all("mtad is not built")
import pwd
me = pwd.getpwuid(os.getuid()).pw_name

tmp = mhtest.tmpdir()
ok_flag = os.path.join(tmp, "ok")
got = os.path.join(tmp, "got")
aliases = os.path.join(tmp, "aliases")
with open(aliases, "w") as f:
    f.write("later: \"|test -e %s || exit 75; cat >> %s\"\n" % (ok_flag, got))
spool = os.path.join(tmp, "spool")
port = mhtest.free_port()
conf = os.path.join(tmp, "mtad.conf")
with open(conf, "w") as f:
    f.write("hostname hub.lan\nlisten 127.0.0.1:%d\nlocal-domains hub.lan\n"
            "spool %s\nuser %s\naliases %s\nmailbox mbox %s\n"
            % (port, spool, me, aliases, tmp))
log = os.path.join(tmp, "mtad.log")
logf = open(log, "w")
mtad = mhtest.Proc([mhtest.bin("mtad/mtad"), "-C", conf, "-F"], stdout=logf,
                   stderr=logf)
mhtest.wait_port(port, proc=mtad)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


with smtplib.SMTP("127.0.0.1", port, local_hostname="lanhost",
                  timeout=20) as s:
    s.sendmail("eddy@lan.example", ["later@hub.lan"],
               "Subject: retry me\r\n\r\nsecond time lucky\r\n")
t.ok(mhtest.wait_for(lambda: "stat=Deferred" in read(log)),
     "the first attempt is deferred (exit 75)")
qdir = os.path.join(spool, "queue")
envs = [n for n in os.listdir(qdir) if n.endswith(".env")]
t.eq(len(envs), 1, "the message waits in the queue")
env = read(os.path.join(qdir, envs[0])) if envs else ""
m = re.search(r"^rcpt pending local (\d+) (\d+) <later@hub.lan>$", env, re.M)
t.ok(m is not None and int(m.group(2)) > 0, "with a retry time set", env)

# The mailbox is fixed and the retry time moved to now.
open(ok_flag, "w").close()
if m:
    new = env.replace(m.group(0), "rcpt pending local %s 0 <later@hub.lan>"
                      % m.group(1))
    tmpf = os.path.join(spool, "tmp", "edit.env")
    with open(tmpf, "w") as f:
        f.write(new)
    os.rename(tmpf, os.path.join(qdir, envs[0]))
t.ok(mhtest.wait_for(lambda: "second time lucky" in read(got), timeout=45),
     "the running mtad retries it")
t.ok(mhtest.wait_for(lambda: not [n for n in os.listdir(qdir)
                                  if n.endswith(".env")]),
     "and the queue is empty afterwards")
t.eq(read(got).count("second time lucky"), 1, "delivered exactly once")
t.ok(mhtest.wait_for(lambda: "mailer=local, stat=Sent" in read(log)),
     "logged as Sent")
t.like(read(log), "to=<later@hub.lan>, delay=00:00:", "for the recipient")
t.eq(mtad.poll(), None, "mtad is still running")
mtad.stop()
t.done()
