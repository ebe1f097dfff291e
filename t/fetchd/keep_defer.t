#!/usr/bin/python3
# keep remembers UIDs in the idfile; SMTP 451 leaves the message on the
# server and the next poll delivers it; 550 bounces (to the postmaster with
# "set no bouncemail") and the message goes; fetchlimit and limit.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fetchdlib as F  # noqa: E402
import mhtest  # noqa: E402

t = mhtest.Test()
tmp = mhtest.tmpdir()
env = F.Env(tmp)
ca = mhtest.CA(tmp + "/ca")
dc = mhtest.Dovecot(tmp, users={"eddy": "pw1", "kim": "pw2", "lou": "pw3"},
                    ca=ca)
sh = mhtest.SmartHost(tmp, rcpt={
    "kim@localhost": {"reply": "451 4.3.0 try later", "times": 1},
    "nobody@localhost": "550 5.1.1 no such user"})


def rc(user, pw, local, opts="", pre=""):
    return env.rc(pre + F.poll_line(dc) +
                  '  user "%s" there with password "%s" is %s here %s\n'
                  '  sslcertfile %s smtphost 127.0.0.1/%d\n'
                  % (user, pw, local, opts, ca.ca_file, sh.port))


# --- keep -------------------------------------------------------------------
dc.deliver("eddy", F.message(1))
dc.deliver("eddy", F.message(2))
k = rc("eddy", "pw1", "eddy", "keep")
r = env.run(k)
t.eq(r.returncode, 0, "keep: first poll delivers")
t.eq(F.subjects(sh), ["test 1", "test 2"], "keep: both delivered")
t.eq(dc.count("eddy"), 2, "keep: both left on the server")
t.like(r.err, "not flushed", "keep: not flushed")
r = env.run(k)
t.eq(r.returncode, 1, "keep: second poll finds no new mail (exit 1)")
t.eq(len(sh.messages()), 2, "keep: nothing fetched twice")
t.like(r.err, "2 messages (2 seen) for eddy", "keep: seen count")
dc.deliver("eddy", F.message(3))
r = env.run(k)
t.eq(F.subjects(sh)[2:], ["test 3"], "keep: only the new message next time")
t.ok(os.path.exists(env.idfile), "idfile written")
r = env.run(k, "-a")
t.eq(len(sh.messages()), 6, "fetchall (-a): seen ones fetched again")
r = env.run(rc("eddy", "pw1", "eddy"))
t.eq(dc.count("eddy"), 0, "without keep the seen messages are drained")

# --- 451 then success --------------------------------------------------------
base = len(sh.messages())
dc.deliver("kim", F.message(20))
r451 = rc("kim", "pw2", "kim")
r = env.run(r451)
t.ok(r.returncode != 0, "451: the poll reports no delivery (exit %d)"
     % r.returncode)
t.eq(dc.count("kim"), 1, "451: message left on the server")
t.like(r.err, "451", "451: the SMTP reply is logged")
t.like(r.err, "not flushed", "451: not flushed")
r = env.run(r451)
t.eq(r.returncode, 0, "next poll: exit 0")
t.eq(dc.count("kim"), 0, "next poll: deleted")
t.eq(F.subjects(sh)[base:], ["test 20"], "delivered exactly once")

# --- 550: bounce, then delete ------------------------------------------------
dc.deliver("lou", F.message(30))
b = rc("lou", "pw3", "nobody", pre="set no bouncemail\n"
       "set postmaster \"postmaster\"\n")
r = env.run(b)
t.eq(dc.count("lou"), 0, "550: message settled by the bounce and deleted")
bounces = [m for m in sh.messages() if m["mail_from"] in ("", "<>")]
t.eq(len(bounces), 1, "550: one bounce with the null sender")
t.eq(bounces and bounces[0]["rcpt_tos"], ["postmaster@localhost"],
     "no bouncemail: the bounce goes to the postmaster")
t.like(bounces and bounces[0]["data"].decode() or "", "550 5.1.1",
       "bounce names the refusal")
dc.deliver("lou", F.message(31))
r = env.run(rc("lou", "pw3", "nobody"))
bounces = [m for m in sh.messages() if m["mail_from"] in ("", "<>")]
t.eq(bounces[-1]["rcpt_tos"], ["alice@example.org"],
     "bouncemail (default): the bounce goes to the sender")

# --- fetchlimit and limit --------------------------------------------------
for i in range(5):
    dc.deliver("eddy", F.message(40 + i))
dc.deliver("eddy", F.message(50, body="x" * 5000 + "\r\n"))
n = len(sh.messages())
r = env.run(rc("eddy", "pw1", "eddy", "fetchlimit 2 limit 4000"))
t.eq(r.returncode, 13, "fetchlimit reached: exit 13")
t.eq(len(sh.messages()) - n, 2, "fetchlimit 2: two messages")
r = env.run(rc("eddy", "pw1", "eddy", "limit 4000"))
t.like(r.err, "oversized", "limit: oversized message skipped")
t.eq(dc.count("eddy"), 1, "limit: the big one stays on the server")
t.done()
