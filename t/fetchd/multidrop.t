#!/usr/bin/python3
# The seed rc file from issue 5, pointed at a private Dovecot: single-drop
# to eddy; multi-drop with aka, mappings, de-duplication, Received "for"
# envelope, unmapped names to the postmaster.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fetchdlib as F  # noqa: E402
import mhtest  # noqa: E402

t = mhtest.Test()
tmp = mhtest.tmpdir()
env = F.Env(tmp)
ca = mhtest.CA(tmp + "/ca")
dc = mhtest.Dovecot(tmp, users={"shofar.example.co.uk": "secret1",
                                "shofar": "secret2"}, ca=ca)
sh = mhtest.SmartHost(tmp)

SEED = """set postmaster "postmaster"
set no bouncemail
poll pop.example.net via 127.0.0.1 with proto POP3 port %(port)d
       user "shofar.example.co.uk" there with password "secret1"
       is eddy here options flush sslcertfile %(ca)s smtphost 127.0.0.1/%(sh)d
poll mail.example.net via 127.0.0.1 with proto POP3 port %(port)d aka shofar.example.net
       user "shofar" with password "secret2" to eddy nelug=eddy NELUG-admin
nelug-approval=eddy NELUG-list root keith here options flush
       sslcertfile %(ca)s smtphost 127.0.0.1/%(sh)d
""" % {"port": dc.pop3, "ca": ca.ca_file, "sh": sh.port}

single = "shofar.example.co.uk"
dc.deliver(single, F.message(1, to="whoever@example.co.uk"))
dc.deliver(single, F.message(2, to="someone@else.example"))

multi = [
    # envelope: the Received "for" clause of our server wins over To:
    F.message(11, to="root@shofar.example.net", extra=(
        "Received: from relay.example by mail.example.net with ESMTP\r\n"
        " for <keith@shofar.example.net>; Sun, 22 Nov 2026 03:00:00 +0000\r\n")),
    # To/Cc mapped and de-duplicated: nelug=eddy and eddy give one copy
    F.message(12, to="nelug@shofar.example.net, eddy@shofar.example.net",
              extra="Cc: NELUG-admin@shofar.example.net\r\n"),
    # nobody we know: the postmaster
    F.message(13, to="stranger@shofar.example.net"),
    F.message(14, to="bob@elsewhere.example"),
    # server name itself, and the mapping nelug-approval=eddy
    F.message(15, to="nelug-approval@mail.example.net, NELUG-list@shofar.example.net"),
]
for m in multi:
    dc.deliver("shofar", m)

rc = env.rc(SEED)
r = env.run(rc, "-v")
t.eq(r.returncode, 0, "seed rc: exit 0")
t.unlike(r.err, "secret1", "password 1 not traced")
t.unlike(r.err, "secret2", "password 2 not traced")
t.eq(dc.count(single), 0, "single-drop mailbox drained (flush)")
t.eq(dc.count("shofar"), 0, "multi-drop mailbox drained")

got = {}
for m in sh.messages():
    subj = [ln for ln in m["data"].split(b"\r\n") if ln.startswith(b"Subject:")]
    got[subj[0][9:].decode()] = sorted(a.lower() for a in m["rcpt_tos"])
t.eq(got.get("test 1"), ["eddy@localhost"], "single-drop: to eddy")
t.eq(got.get("test 2"), ["eddy@localhost"],
     "single-drop: every message to eddy, whatever its To:")
t.eq(got.get("test 11"), ["keith@localhost"],
     "multi-drop: Received for <keith@aka> decides")
t.eq(got.get("test 12"), ["eddy@localhost", "nelug-admin@localhost"],
     "multi-drop: nelug=eddy mapped, eddy once, Cc kept")
t.eq(got.get("test 13"), ["postmaster@localhost"],
     "multi-drop: unmapped local name to postmaster")
t.eq(got.get("test 14"), ["postmaster@localhost"],
     "multi-drop: foreign domain only: postmaster")
t.eq(got.get("test 15"), ["eddy@localhost", "nelug-list@localhost"],
     "multi-drop: server name and aka both local")
hdr = [m["data"].split(b"\r\n")[0] for m in sh.messages()]
t.ok(any(b"(multi-drop)" in h for h in hdr) and
     any(b"(single-drop)" in h for h in hdr),
     "Received: says single-drop / multi-drop", hdr)
t.eq(sh.connections(), 2, "one SMTP connection per poll (two users)")

# Only one entry selected on the command line.
dc.deliver(single, F.message(3))
dc.deliver("shofar", F.message(16, to="keith@shofar.example.net"))
r = env.run(rc, "mail.example.net")
t.eq(r.returncode, 0, "named server only: exit 0")
t.eq(dc.count(single), 1, "the other server was not polled")
t.eq(dc.count("shofar"), 0, "the named one was")
t.done()
