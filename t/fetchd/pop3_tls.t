#!/usr/bin/python3
# fetchd over POP3 against a real Dovecot: STARTTLS (the default), implicit
# TLS, sslproto '' plaintext; an unknown CA refused; no STLS, no password;
# the -v trace never shows the password.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fetchdlib as F  # noqa: E402
import mhtest  # noqa: E402

t = mhtest.Test()
tmp = mhtest.tmpdir()
env = F.Env(tmp)
ca = mhtest.CA(tmp + "/ca")
other = mhtest.CA(tmp + "/other", name="someone else")
PW = "s3cr3t-Pw"
dc = mhtest.Dovecot(tmp, users={"eddy": PW}, ca=ca)
sh = mhtest.SmartHost(tmp)


def user(extra=""):
    return ('  user "eddy" there with password "%s" is eddy here %s\n'
            '  smtphost 127.0.0.1/%d\n' % (PW, extra, sh.port))


# --- STARTTLS by default, with the test CA ---------------------------------
for i in range(3):
    dc.deliver("eddy", F.message(i))
rc = env.rc(F.poll_line(dc) + user("sslcertfile " + ca.ca_file))
r = env.run(rc, "-v")
t.eq(r.returncode, 0, "STLS: exit 0 (mail delivered)")
t.eq(F.subjects(sh), ["test 0", "test 1", "test 2"],
     "STLS: three messages reinjected in order")
t.eq(dc.count("eddy"), 0, "STLS: all deleted from the server")
t.like(r.err, "POP3> STLS", "STLS: trace shows STLS")
t.like(r.err, "3 messages for eddy at 127.0.0.1", "fetchmail's count line")
t.like(r.err, "reading message eddy@pop.example.net:2 of 3", "reading line")
t.like(r.err, " flushed", "flushed")
t.unlike(r.err, PW, "password never in the -v trace")
t.like(r.err, "POP3> ****", "PASS is masked")
m = sh.messages()[0]
t.eq(m["mail_from"], "alice@example.org", "MAIL FROM from the From: header")
t.eq(m["rcpt_tos"], ["eddy@localhost"], "RCPT TO user@localhost")
t.ok(m["data"].startswith(b"Received: from 127.0.0.1 by ")
     and b"with POP3 (fetchd) for <eddy@localhost> (single-drop);"
     in m["data"].split(b"\r\n")[0], "Received: line prepended",
     m["data"][:200])
t.like(m["data"].decode(), "\r\n.a dot line\r\n", "dot-stuffing undone")

# --- nothing there: exit 1 --------------------------------------------------
r = env.run(rc)
t.eq(r.returncode, 1, "no mail: exit 1")
t.like(r.err, "No mail for eddy at 127.0.0.1", "No mail line")

# --- implicit TLS (ssl) -----------------------------------------------------
dc.deliver("eddy", F.message(10, extra="Return-Path: <bounces@lists.example>\r\n"))
rc = env.rc(F.poll_line(dc, dc.pop3s) + user("ssl sslcertfile " + ca.ca_file))
r = env.run(rc, "-v")
t.eq(r.returncode, 0, "pop3s: exit 0")
t.eq(F.subjects(sh)[-1], "test 10", "pop3s: delivered")
t.eq(sh.messages()[-1]["mail_from"], "bounces@lists.example",
     "MAIL FROM from Return-Path")
t.unlike(r.err, "STLS", "pop3s: no STLS inside TLS")

# --- unknown CA: refused, nothing fetched, no login --------------------------
dc.deliver("eddy", F.message(20))
n = len(sh.messages())
rc = env.rc(F.poll_line(dc) + user("sslcertfile " + other.ca_file))
r = env.run(rc, "-v")
t.eq(r.returncode, 2, "unknown CA: exit 2 (connection error)")
t.like(r.err, "certificate verify failed", "unknown CA: the reason is shown")
t.unlike(r.err, "POP3> USER", "unknown CA: no USER sent")
t.eq(dc.count("eddy"), 1, "unknown CA: message left on the server")
t.eq(len(sh.messages()), n, "unknown CA: nothing delivered")
rc = env.rc(F.poll_line(dc, dc.pop3s) + user("ssl sslcertfile " +
                                             other.ca_file))
r = env.run(rc)
t.eq(r.returncode, 2, "unknown CA with implicit TLS: exit 2")

# --- no sslcertck: explicit, logged opt-out ---------------------------------
rc = env.rc(F.poll_line(dc) + user("no sslcertck"))
r = env.run(rc)
t.eq(r.returncode, 0, "no sslcertck: delivers")
t.like(r.err, "certificate verification disabled", "no sslcertck is logged")

# --- sslproto '': plaintext on purpose --------------------------------------
dc.deliver("eddy", F.message(30))
rc = env.rc(F.poll_line(dc) + user("sslproto ''"))
r = env.run(rc, "-v")
t.eq(r.returncode, 0, "sslproto '': plaintext login works")
t.unlike(r.err, "POP3> STLS", "sslproto '': no STLS")
t.eq(F.subjects(sh)[-1], "test 30", "sslproto '': delivered")

# --- a server without STLS gets no password --------------------------------
plain = mhtest.Dovecot(tmp, users={"eddy": PW}, ssl=False, name="plain")
plain.deliver("eddy", F.message(40))
rc = env.rc(F.poll_line(plain) + user())
r = env.run(rc, "-v")
t.eq(r.returncode, 2, "no STLS offered: exit 2")
t.like(r.err, "does not offer STLS", "no STLS: says why")
t.unlike(r.err, "POP3> USER", "no STLS: no USER")
t.unlike(r.err, "POP3> ****", "no STLS: no PASS")
with open(plain.log, errors="replace") as f:
    t.unlike(f.read(), "user=<eddy>", "the server saw no login attempt")
t.eq(plain.count("eddy"), 1, "no STLS: message left on the server")

# --- wrong password: exit 3 ------------------------------------------------
rc = env.rc(F.poll_line(dc) + user("sslcertfile " + ca.ca_file).replace(
    PW, "wrong"))
dc.deliver("eddy", F.message(50))
r = env.run(rc)
t.eq(r.returncode, 3, "wrong password: exit 3 (authentication failed)")
t.eq(dc.count("eddy"), 1, "wrong password: message left on the server")
t.done()
