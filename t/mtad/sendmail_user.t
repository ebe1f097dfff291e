#!/usr/bin/python3
# mtad-sendmail run by an ordinary user: the maildrop (1733) is writable
# but not readable, the queue not readable at all.
import os
import pwd
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mhtest

t = mhtest.Test()
if os.geteuid() != 0:
    t.skip_all("needs root to become another user")
nobody = pwd.getpwnam("nobody")
SENDMAIL = mhtest.bin("mtad/mtad-sendmail")
tmp = mhtest.tmpdir()
os.chmod(tmp, 0o755)
spool = os.path.join(tmp, "spool")
conf = os.path.join(tmp, "mtad.conf")
aliases = os.path.join(tmp, "aliases")
with open(aliases, "w") as f:
    f.write("dave: root\n")
with open(conf, "w") as f:
    f.write("hostname shofar.lan\nspool %s\naliases %s\n" % (spool, aliases))
os.chmod(conf, 0o644)
os.chmod(aliases, 0o644)
# The spool as root (mtad, make install) creates it.
r = mhtest.run([SENDMAIL, "-C", conf, "-bp"])
t.eq(r.returncode, 0, "root creates the spool")


def as_nobody():
    os.setgroups([])
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)


def run(args, text=""):
    p = subprocess.run([SENDMAIL, "-C", conf] + args, input=text.encode(),
                       capture_output=True, timeout=60, preexec_fn=as_nobody)
    p.out = p.stdout.decode(errors="replace")
    p.err = p.stderr.decode(errors="replace")
    return p


r = run(["-v", "dave"], "Subject: from nobody\n\nhello\n")
t.ok(r.returncode == 0, "an ordinary user can submit", r.err)
drop = os.path.join(spool, "maildrop")
envs = [f for f in os.listdir(drop) if f.endswith(".env")]
t.eq(len(envs), 1, "one committed message in the maildrop")
t.eq(len(os.listdir(drop)), 2, "no temp files left")
if envs:
    st = os.stat(os.path.join(drop, envs[0]))
    t.eq((st.st_uid, st.st_mode & 0o777), (nobody.pw_uid, 0o644),
         "owned by the user, readable by mtad")
    env = open(os.path.join(drop, envs[0])).read()
    t.like(env, "sender <nobody@shofar.lan>", "the sender is the user")
    msg = open(os.path.join(drop, envs[0][:-4] + ".msg")).read()
    t.like(msg, "Received: (from nobody@localhost)", "Received names the user")

r = run(["-bp"])
t.eq(r.returncode, 77, "mailq without the daemon, for a user who may not read the queue: EX_NOPERM")
t.like(r.err, "Permission denied", "says why")
t.like(r.err, "not running", "and that the daemon is not there to ask")

t.done()
