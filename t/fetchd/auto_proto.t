#!/usr/bin/python3
# proto AUTO as fetchmail: IMAP first, POP3 when the IMAP session cannot be
# opened (nothing listening, or a server that does not speak IMAP).
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fetchdlib as F  # noqa: E402
import mhtest  # noqa: E402

t = mhtest.Test()
tmp = mhtest.tmpdir()
env = F.Env(tmp)
ca = mhtest.CA(tmp + "/ca")
dc = mhtest.Dovecot(tmp, users={"eddy": "pw1"}, ca=ca)
sh = mhtest.SmartHost(tmp)


def rc(port, extra=""):
    return env.rc("poll mail.example.net via 127.0.0.1 with proto AUTO "
                  "port %d timeout 10\n"
                  '  user "eddy" there with password "pw1" is eddy here\n'
                  '  sslcertfile %s smtphost 127.0.0.1/%d %s\n'
                  % (port, ca.ca_file, sh.port, extra))


def received():
    return [m["data"].split(b"\r\n")[0].decode() for m in sh.messages()]


dc.deliver("eddy", F.message(1))
r = env.run(rc(dc.imap))
t.eq(r.returncode, 0, "AUTO on an IMAP server: exit 0")
t.like(received()[-1] if received() else "", "with IMAP",
       "AUTO: IMAP is tried first and used")
t.unlike(r.err, "trying POP3", "AUTO: no fallback when IMAP works")
t.eq(dc.count("eddy"), 0, "AUTO/IMAP: drained")

dc.deliver("eddy", F.message(2))
r = env.run(rc(dc.pop3))
t.eq(r.returncode, 0, "AUTO on a POP3-only port: exit 0")
t.like(r.err, "IMAP failed, trying POP3", "AUTO: the fallback is logged")
t.like(received()[-1] if len(received()) == 2 else "", "with POP3",
       "AUTO: delivered over POP3")
t.eq(F.subjects(sh), ["test 1", "test 2"], "AUTO: each message once")
t.eq(dc.count("eddy"), 0, "AUTO/POP3: drained")

closed = mhtest.free_port()
dc.deliver("eddy", F.message(3))
r = env.run(rc(closed))
t.eq(r.returncode, 2, "AUTO, nothing listening: connection error (exit 2)")
t.like(r.err, "trying POP3", "AUTO: POP3 tried after IMAP was refused")
t.eq(dc.count("eddy"), 1, "AUTO: nothing lost")

# keep over IMAP: the idfile holds IMAP uids, which POP3 cannot match (its
# UIDLs differ), so falling back would deliver the kept messages again.
# AUTO sticks to IMAP while the idfile tracks messages of the account.
dc.deliver("eddy", F.message(4))
n0 = len(sh.messages())
r = env.run(rc(dc.imap, "keep"))
t.eq(len(sh.messages()) - n0, 2, "AUTO/IMAP keep: two delivered and kept")
r = env.run(rc(dc.pop3, "keep"))
t.eq(len(sh.messages()) - n0, 2,
     "AUTO: what IMAP kept is not delivered again over POP3")
t.eq(r.returncode, 4, "AUTO, no IMAP there, IMAP uids tracked: protocol "
     "error (exit 4)")
t.like(r.err, "not trying POP3: 2 messages of eddy@mail.example.net are "
       "tracked by IMAP uids", "AUTO: why there is no fallback is logged")
r = env.run(rc(dc.imap, "keep"))
t.eq(r.returncode, 1, "AUTO/IMAP keep: back on IMAP, nothing new")
t.eq(len(sh.messages()) - n0, 2, "AUTO/IMAP keep: nothing twice")

# A refused login is not a reason to try another protocol.
bad = env.rc("poll mail.example.net via 127.0.0.1 with proto AUTO "
             "port %d timeout 10\n"
             '  user "eddy" there with password "wrong" is eddy here\n'
             '  sslcertfile %s smtphost 127.0.0.1/%d\n'
             % (dc.imap, ca.ca_file, sh.port))
r = env.run(bad)
t.eq(r.returncode, 3, "AUTO, IMAP login refused: exit 3")
t.unlike(r.err, "trying POP3", "AUTO: no fallback after a refused login")
t.done()
