#!/usr/bin/python3
# A multi-drop message whose recipients get a mix of 2xx and 4xx: the
# accepted ones are journaled, the retry goes only to the others, and the
# message leaves the server once every recipient has it: nobody gets two
# copies (fetchmail resends to everyone).  POP3 and IMAP.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fetchdlib as F  # noqa: E402
import mhtest  # noqa: E402

t = mhtest.Test()
tmp = mhtest.tmpdir()
env = F.Env(tmp)
ca = mhtest.CA(tmp + "/ca")
dc = mhtest.Dovecot(tmp, users={"shofar": "pw1", "drop2": "pw2"}, ca=ca)
sh = mhtest.SmartHost(tmp, rcpt={
    "bob@localhost": {"reply": "450 4.2.0 later", "times": 1},
    "dan@localhost": {"reply": "450 4.2.0 later", "times": 1},
    "fay@localhost": {"reply": "450 4.2.0 later", "times": 1}})


def rc(user, pw, names, port, proto):
    return env.rc(F.poll_line(dc, port=port, proto=proto,
                              name="mail.example.net") +
                  '  aka shofar.example.net\n'
                  '  user "%s" there with password "%s" to %s here\n'
                  '  sslcertfile %s smtphost 127.0.0.1/%d\n'
                  % (user, pw, names, ca.ca_file, sh.port))


def copies(subject):
    out = {}
    for m in sh.messages():
        if ("Subject: " + subject + "\r\n").encode() not in m["data"]:
            continue
        for a in m["rcpt_tos"]:
            out[a.lower()] = out.get(a.lower(), 0) + 1
    return out


for proto, user, pw, port, a, b, n in (
        ("POP3", "shofar", "pw1", dc.pop3, "ann", "bob", 1),
        ("IMAP", "drop2", "pw2", dc.imap, "cat", "dan", 2)):
    subj = "test %d" % n
    dc.deliver(user, F.message(n, to="%s@shofar.example.net, "
                               "%s@shofar.example.net" % (a, b)))
    # a second message to the accepted one alone: delivered, deleted
    dc.deliver(user, F.message(n + 10, to="%s@shofar.example.net" % a))
    conf = rc(user, pw, "%s %s" % (a, b), port, proto)
    r = env.run(conf)
    t.eq(copies(subj), {"%s@localhost" % a: 1},
         "%s: first poll: %s has it, %s was deferred" % (proto, a, b))
    t.eq(dc.count(user), 1, "%s: the deferred message stays on the server"
         % proto)
    t.like(r.err, "450 4.2.0", "%s: the 450 is logged" % proto)
    with open(env.idfile + ".journal") as f:
        j = f.read()
    t.like(j, r"%s@localhost" % a, "%s: the accepted recipient is "
           "journaled" % proto)
    r = env.run(conf)
    t.eq(r.returncode, 0, "%s: second poll: exit 0" % proto)
    t.eq(copies(subj), {"%s@localhost" % a: 1, "%s@localhost" % b: 1},
         "%s: after two polls each user has exactly one copy" % proto)
    t.like(r.err, "already delivered to <%s@localhost>" % a,
           "%s: the retry says who already has it" % proto)
    t.eq(dc.count(user), 0, "%s: the message is gone from the server"
         % proto)
    r = env.run(conf)
    t.eq(r.returncode, 1, "%s: third poll: nothing (exit 1)" % proto)
    t.eq(copies(subj), {"%s@localhost" % a: 1, "%s@localhost" % b: 1},
         "%s: nothing sent again" % proto)
    with open(env.idfile + ".journal") as f:
        j = f.read()
    t.unlike(j, r"%s@localhost" % a, "%s: journal compacted once settled"
             % proto)

# A crash after the retry's 250 but before the message was journaled whole:
# every recipient is journaled one by one, so the next poll sends nothing
# and deletes it.
dc.deliver("shofar", F.message(3, to="eve@shofar.example.net, "
                               "fay@shofar.example.net"))
conf = rc("shofar", "pw1", "eve fay", dc.pop3, "POP3")
r = env.run(conf)
t.eq(copies("test 3"), {"eve@localhost": 1}, "crash case: eve has it")
with open(env.idfile + ".journal") as f:
    eve = [ln for ln in f if ln.rstrip().endswith(" eve@localhost")]
t.eq(len(eve), 1, "crash case: eve journaled")
with open(env.idfile + ".journal", "a") as f:
    f.write(eve[0].replace("eve@localhost", "fay@localhost"))
r = env.run(conf)
t.eq(r.returncode, 0, "crash case: exit 0")
t.eq(copies("test 3"), {"eve@localhost": 1},
     "crash case: nothing sent again (fay's copy was journaled)")
t.like(r.err, "already delivered to <fay@localhost>",
       "crash case: the retry knows fay has it")
t.eq(dc.count("shofar"), 0, "crash case: deleted from the server")
t.done()
