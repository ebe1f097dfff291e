#!/usr/bin/python3
# mailq / mtad-sendmail -bp: what is queued, as sendmail's mailq shows it.
import glob
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mhtest

t = mhtest.Test()
d = mhtest.tmpdir()
spool = os.path.join(d, "spool")
conf = os.path.join(d, "mtad.conf")
aliases = os.path.join(d, "aliases")
with open(aliases, "w") as f:
    f.write("dave: root\n")
with open(conf, "w") as f:
    f.write("hostname shofar.lan\nspool %s\naliases %s\n" % (spool, aliases))
SENDMAIL = mhtest.bin("mtad/mtad-sendmail")
mailq = os.path.join(d, "mailq")
os.symlink(SENDMAIL, mailq)

r = mhtest.run([mailq, "-C", conf])
t.eq(r.returncode, 0, "mailq on an empty queue exits 0")
t.like(r.out, "is empty", "says the queue is empty")
t.like(r.out, "Total requests: 0", "and counts 0")

r1 = mhtest.run([SENDMAIL, "-C", conf, "-v", "-f", "eddy@shofar.lan", "bob@example.org"],
                input="Subject: one\n\nfirst\n")
r2 = mhtest.run([SENDMAIL, "-C", conf, "-v", "-f", "eddy@shofar.lan", "dave", "carol@example.net"],
                input="Subject: two\n\nsecond message\n")
ids = [m.group(1) for r in (r1, r2) for m in [re.search(r"queued as ([0-9A-F]{19})", r.err)] if m]
t.eq(len(ids), 2, "-v prints the queue ID of each submission")

r = mhtest.run([mailq, "-C", conf])
t.eq(r.returncode, 0, "mailq exits 0")
t.like(r.out, "(2 requests)", "header counts two requests")
for i in ids:
    t.like(r.out, i, "lists %s" % i)
t.like(r.out, "<eddy@shofar.lan>", "shows the sender")
for a in ("bob@example.org", "dave", "carol@example.net"):
    t.like(r.out, "<%s>" % a, "shows recipient %s" % a)
t.like(r.out, "(waiting for pickup)", "marks maildrop entries not yet picked up")
size = os.path.getsize(os.path.join(spool, "maildrop", ids[0] + ".msg"))
t.ok(re.search(r"%s +%d " % (ids[0], size), r.out), "shows the size in octets", r.out)
t.ok(re.search(r"%s +\d+ \w{3} \w{3} [ \d]\d \d\d:\d\d " % ids[0], r.out),
     "shows the arrival time", r.out)
t.like(r.out, "Total requests: 2", "counts two")
t.ok(r.out.index(ids[0]) < r.out.index(ids[1]), "in arrival order")

# A message in queue/ (picked up) with a deferred recipient and its error.
for ext in (".msg", ".env"):
    os.rename(os.path.join(spool, "maildrop", ids[0] + ext),
              os.path.join(spool, "queue", ids[0] + ext))
envp = os.path.join(spool, "queue", ids[0] + ".env")
env = open(envp).read().replace(
    "rcpt pending remote 0 0 <bob@example.org>\n",
    "rcpt pending remote 1 0 <bob@example.org>\nerror 451 4.4.1 smart host not answering\n")
open(envp, "w").write(env)
r = mhtest.run([SENDMAIL, "-C", conf, "-bp"])
t.eq(r.returncode, 0, "-bp exits 0")
t.like(r.out, "(451 4.4.1 smart host not answering)", "shows the last error")
seg = r.out[r.out.index(ids[0]):r.out.index(ids[1])]
t.unlike(seg, "waiting for pickup", "a picked-up message is not marked")

# Settled recipients are not listed.
env = open(envp).read().replace("rcpt pending remote 1 0 <bob@example.org>",
                                "rcpt sent remote 1 0 <bob@example.org>")
open(envp, "w").write(env)
# (a message whose every recipient is settled would have been removed;
# give it a second, pending one)
env = env.replace("end\n", "rcpt pending remote 0 0 <zed@example.org>\nend\n")
open(envp, "w").write(env)
r = mhtest.run([SENDMAIL, "-C", conf, "-bp"])
seg = r.out[r.out.index(ids[0]):r.out.index(ids[1])]
t.unlike(seg, "bob@example.org", "delivered recipients are not listed")
t.like(seg, "<zed@example.org>", "pending ones are")

# A broken envelope does not stop the listing.
open(envp, "w").write("version 1\nsize banana\nend\n")
r = mhtest.run([SENDMAIL, "-C", conf, "-bp"])
t.eq(r.returncode, 0, "mailq survives a malformed envelope")
t.like(r.out, ids[1], "and lists the rest")

t.done()
