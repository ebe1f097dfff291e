#!/usr/bin/python3
# maildir ~/Maildir for a real user (created here, removed at exit): swaks
# sends, mtad makes the Maildir in the user's home as that user, the message
# is in new/ and nothing is left in tmp/.  An unknown user is refused at RCPT.
import os
import pwd
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest

t = mhtest.Test()
if os.geteuid() != 0:
    t.skip_all("needs root: creates a user")
if not os.path.exists(mhtest.bin("mtad/mtad")):
    t.skip_all("mtad is not built")
if shutil.which("swaks") is None or shutil.which("useradd") is None:
    t.skip_all("needs swaks and useradd")

tmp = mhtest.tmpdir()
os.chmod(tmp, 0o755)
user = "mhl%d" % (os.getpid() % 100000)
home = os.path.join(tmp, "home")
r = subprocess.run(["useradd", "-M", "-d", home, "-s", "/usr/sbin/nologin",
                    user], capture_output=True, text=True)
if r.returncode != 0:
    t.skip_all("useradd failed: %s" % r.stderr.strip())
mhtest.on_exit(lambda: subprocess.run(["userdel", user], capture_output=True))
pw = pwd.getpwnam(user)
os.mkdir(home, 0o755)
os.chown(home, pw.pw_uid, pw.pw_gid)

port = mhtest.free_port()
conf = os.path.join(tmp, "mtad.conf")
with open(conf, "w") as f:
    f.write("hostname hub.lan\nlisten 127.0.0.1:%d\nlocal-domains hub.lan\n"
            "spool %s/spool\nuser nobody\naliases %s/aliases\n"
            "mailbox maildir ~/Maildir\n" % (port, tmp, tmp))
logf = open(os.path.join(tmp, "log"), "w")
mtad = mhtest.Proc([mhtest.bin("mtad/mtad"), "-C", conf, "-F"], stdout=logf,
                   stderr=logf)
mhtest.wait_port(port, proc=mtad)


def swaks(to, body):
    return mhtest.run(["swaks", "--server", "127.0.0.1", "--port", str(port),
                       "--helo", "lanhost", "--from", "eddy@lan.example",
                       "--to", to, "--data", body], timeout=30)


r = swaks("%s@hub.lan" % user, "Subject: home delivery\n\nto the Maildir\n")
t.eq(r.returncode, 0, "swaks: the message is accepted")
new = os.path.join(home, "Maildir", "new")
t.ok(mhtest.wait_for(lambda: os.path.isdir(new) and len(os.listdir(new)) == 1),
     "one message in ~/Maildir/new")
files = os.listdir(new) if os.path.isdir(new) else []
body = open(os.path.join(new, files[0])).read() if files else ""
t.like(body, "Subject: home delivery\n", "the message, LF line ends")
t.like(body, "\nto the Maildir\n", "with its body")
t.like(body, "Received: from lanhost", "after mtad's Received: header")
for name in ("Maildir", "Maildir/new", "Maildir/cur", "Maildir/tmp"):
    st = os.stat(os.path.join(home, name))
    t.eq((st.st_uid, st.st_mode & 0o777), (pw.pw_uid, 0o700),
         "%s made by the user, 0700" % name)
if files:
    st = os.stat(os.path.join(new, files[0]))
    t.eq((st.st_uid, st.st_mode & 0o777), (pw.pw_uid, 0o600),
         "the message file is the user's, 0600")
t.eq(os.listdir(os.path.join(home, "Maildir", "tmp")), [], "tmp/ is empty")

r = swaks("%sx@hub.lan" % user, "Subject: x\n\ny\n")
t.ok(r.returncode != 0, "swaks: an unknown user is refused")
t.like(r.out, "550 5.1.1", "with 550 5.1.1 at RCPT")
t.eq(mtad.poll(), None, "mtad is still running")
mtad.stop()
t.done()
