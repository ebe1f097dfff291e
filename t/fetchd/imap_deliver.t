#!/usr/bin/python3
# fetchd's poll loop over IMAP against Dovecot: STARTTLS (the default) and
# imaps delivery with UID FETCH batches and \Deleted+EXPUNGE; keep tracks
# UIDVALIDITY+UID in the idfile (not \Seen); SMTP 451 leaves the message.
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fetchdlib as F  # noqa: E402
import mhtest  # noqa: E402

t = mhtest.Test()
tmp = mhtest.tmpdir()
env = F.Env(tmp)
ca = mhtest.CA(tmp + "/ca")
PW = "imap-Secret9"
dc = mhtest.Dovecot(tmp, users={"eddy": PW, "kim": PW}, ca=ca)
sh = mhtest.SmartHost(tmp, rcpt={
    "kim@localhost": {"reply": "451 4.3.0 try later", "times": 1}})


def rc(user, port, opts=""):
    return env.rc(F.poll_line(dc, port, "IMAP") +
                  '  user "%s" there with password "%s" is %s here %s\n'
                  '  sslcertfile %s smtphost 127.0.0.1/%d\n'
                  % (user, PW, user, opts, ca.ca_file, sh.port))


for i in range(3):
    dc.deliver("eddy", F.message(i))
r = env.run(rc("eddy", dc.imap), "-v")
t.eq(r.returncode, 0, "IMAP STARTTLS: exit 0")
t.eq(F.subjects(sh), ["test 0", "test 1", "test 2"], "IMAP: delivered in order")
t.eq(dc.count("eddy"), 0, "IMAP: expunged")
t.like(r.err, "IMAP> ", "IMAP trace")
t.like(r.err, "STARTTLS", "IMAP: STARTTLS used")
t.unlike(r.err, PW, "IMAP: password never traced")
t.ok(sh.messages()[0]["data"].split(b"\r\n")[0].find(b"with IMAP (fetchd)")
     > 0, "Received: says IMAP")
t.eq(r.err.count("UID FETCH"), 2, "one UID FETCH for the list, one for the "
     "batch")

dc.deliver("eddy", F.message(5))
r = env.run(rc("eddy", dc.imaps, "ssl"))
t.eq(r.returncode, 0, "imaps: exit 0")
t.eq(F.subjects(sh)[-1], "test 5", "imaps: delivered")

# keep: UIDVALIDITY+UID in the idfile
dc.deliver("eddy", F.message(6))
dc.deliver("eddy", F.message(7))
k = rc("eddy", dc.imap, "keep")
n = len(sh.messages())
r = env.run(k)
t.eq(len(sh.messages()) - n, 2, "keep: two delivered")
t.eq(dc.count("eddy"), 2, "keep: left on the server")
r = env.run(k)
t.eq(r.returncode, 1, "keep: second poll: no new mail")
t.eq(len(sh.messages()) - n, 2, "keep: nothing twice")
with open(env.idfile) as f:
    ids = f.read()
t.like(ids, "eddy@pop.example.net ", "idfile has the IMAP account")
t.ok(all("/" in line.split(" ")[1] for line in ids.splitlines()
         if line.startswith("eddy@") and " %20" not in line),
     "IMAP uids are UIDVALIDITY/UID", ids)
t.like(ids, "eddy@pop.example.net %20proto IMAP\n",
       "the idfile says the uids are IMAP's")

# A new UIDVALIDITY (the server rebuilt its index): logged, the old uids
# forgotten; the kept messages are \Seen, so not fetched again.
md = os.path.join(dc.dir, "mail", "eddy")
with open(os.path.join(md, "dovecot-uidlist")) as f:
    head, rest = f.read().split("\n", 1)
old_v = re.search(r" V(\d+)", head).group(1)
new_v = str(int(old_v) + 1000)
with open(os.path.join(md, "dovecot-uidlist"), "w") as f:
    f.write(head.replace(" V" + old_v, " V" + new_v) + "\n" + rest)
for name in os.listdir(md):
    if name.startswith("dovecot.index"):
        os.unlink(os.path.join(md, name))
r = env.run(k)
t.like(r.err, "changed the UIDVALIDITY of INBOX for eddy (%s -> %s)"
       % (old_v, new_v), "UIDVALIDITY change: logged with both values")
t.eq(len(sh.messages()) - n, 2, "UIDVALIDITY change, keep: \\Seen ones not "
     "fetched again")
with open(env.idfile) as f:
    ids = f.read()
t.ok(not re.search(r" %s/\d+$" % old_v, ids, re.M)
     and re.search(r"uidvalidity %s$" % new_v, ids, re.M),
     "UIDVALIDITY change: old uids forgotten, the new value remembered", ids)
dc.deliver("eddy", F.message(8))
r = env.run(k)
t.unlike(r.err, "UIDVALIDITY", "same UIDVALIDITY: nothing logged")
t.eq(F.subjects(sh)[-1], "test 8", "new mail after the change delivered")
t.ok(re.search(r" %s/\d+$" % new_v, open(env.idfile).read(), re.M),
     "and remembered under the new UIDVALIDITY")

# 451 then delivered
dc.deliver("kim", F.message(20))
r = env.run(rc("kim", dc.imap))
t.eq(dc.count("kim"), 1, "451: left on the server")
r = env.run(rc("kim", dc.imap))
t.eq(dc.count("kim"), 0, "next poll: delivered and expunged")
t.eq(F.subjects(sh).count("test 20"), 1, "exactly once")
t.done()
