#!/usr/bin/python3
# mda "CMD": each message goes through /bin/sh -c CMD on stdin, %T the
# recipient and %F the sender; exit 0 delivered and deleted, 75 left on the
# server for the next poll, anything else bounced (to the postmaster with
# "set no bouncemail") and deleted.  Multi-drop: one run per recipient.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fetchdlib as F  # noqa: E402
import mhtest  # noqa: E402

t = mhtest.Test()
tmp = mhtest.tmpdir()
env = F.Env(tmp)
ca = mhtest.CA(tmp + "/ca")
dc = mhtest.Dovecot(tmp, users={"eddy": "pw1", "shofar": "pw2"}, ca=ca)
sh = mhtest.SmartHost(tmp)
out = os.path.join(tmp, "out")
os.mkdir(out)
script = os.path.join(tmp, "mda.sh")
with open(script, "w") as f:
    f.write('#!/bin/sh\n'
            '# $1 recipient, $2 sender; exit code from out/exit.$1 (once)\n'
            'd="%s"\n'
            'n=$(ls "$d" | grep -c "^$1\\.")\n'
            'cat > "$d/$1.$n"\n'
            'printf "%%s" "$2" > "$d/$1.$n.from"\n'
            'if [ -f "$d/exit.$1" ]; then\n'
            '  c=$(cat "$d/exit.$1"); rm -f "$d/exit.$1"; exit "$c"\n'
            'fi\n'
            'exit 0\n' % out)
os.chmod(script, 0o755)


def rc(user, pw, names, pre=""):
    return env.rc(pre + "poll mail.example.net via 127.0.0.1 with proto POP3 "
                  "port %d aka shofar.example.net\n"
                  '  user "%s" there with password "%s" %s here\n'
                  '  sslcertfile %s smtphost 127.0.0.1/%d\n'
                  '  mda "%s %%T %%F"\n'
                  % (dc.pop3, user, pw, names, ca.ca_file, sh.port, script))


def delivered(name):
    return sorted(f for f in os.listdir(out)
                  if f.startswith(name + ".") and not f.endswith(".from"))


def read(name):
    with open(os.path.join(out, name), "rb") as f:
        return f.read()


# --- exit 0 ----------------------------------------------------------------
conf = rc("eddy", "pw1", "is eddy")
dc.deliver("eddy", F.message(1))
r = env.run(conf)
t.eq(r.returncode, 0, "mda: exit 0")
t.eq(delivered("eddy"), ["eddy.0"], "mda: run once for eddy (%T)")
msg = read("eddy.0") if delivered("eddy") else b""
t.like(msg.decode(), "Subject: test 1", "mda: the message on stdin")
t.ok(msg.startswith(b"Received: from 127.0.0.1"),
     "mda: the Received: line first", msg[:80])
t.ok(b"\r" not in msg, "mda: CR LF made LF (stripcr is the default)")
t.eq(read("eddy.0.from") if delivered("eddy") else b"",
     b"alice@example.org", "mda: %F is the envelope sender")
t.eq(dc.count("eddy"), 0, "mda: delivered message deleted")
t.eq(len(sh.messages()), 0, "mda: nothing over SMTP")

# --- exit 75: left on the server, delivered next poll -------------------------
with open(os.path.join(out, "exit.eddy"), "w") as f:
    f.write("75")
dc.deliver("eddy", F.message(2))
r = env.run(conf)
t.ok(r.returncode != 0, "mda 75: the poll reports no delivery")
t.like(r.err, "75", "mda 75: logged")
t.eq(dc.count("eddy"), 1, "mda 75: left on the server")
r = env.run(conf)
t.eq(r.returncode, 0, "mda 75: next poll exit 0")
t.eq(dc.count("eddy"), 0, "mda 75: next poll deletes it")
t.eq(len(delivered("eddy")), 3, "mda 75: one more run")

# --- exit 1: bounced to the postmaster, deleted ---------------------------------
with open(os.path.join(out, "exit.eddy"), "w") as f:
    f.write("1")
dc.deliver("eddy", F.message(3))
r = env.run(rc("eddy", "pw1", "is eddy",
               pre='set no bouncemail\nset postmaster "postmaster"\n'))
t.eq(dc.count("eddy"), 0, "mda 1: settled by a bounce, deleted")
b = sh.messages()
t.eq(len(b), 1, "mda 1: one bounce over SMTP")
t.eq(b and b[0]["rcpt_tos"], ["postmaster@localhost"],
     "mda 1: to the postmaster (no bouncemail)")
t.like(b and b[0]["data"].decode() or "", "mda exited 1",
       "mda 1: the bounce says why")

# --- multi-drop: one run per recipient, a deferred one retried alone ----------
with open(os.path.join(out, "exit.bob"), "w") as f:
    f.write("75")
dc.deliver("shofar", F.message(4, to="ann@shofar.example.net, "
                               "bob@shofar.example.net"))
md = rc("shofar", "pw2", "to ann bob")
r = env.run(md)
t.eq((len(delivered("ann")), dc.count("shofar")), (1, 1),
     "multi-drop mda: ann has it, bob deferred, message kept")
r = env.run(md)
t.eq(r.returncode, 0, "multi-drop mda: second poll exit 0")
t.eq((len(delivered("ann")), len(delivered("bob"))), (1, 2),
     "multi-drop mda: ann not run again, bob delivered")
t.eq(dc.count("shofar"), 0, "multi-drop mda: message deleted")
t.done()
