#!/usr/bin/python3
# The smart host's credentials: mtad refuses to start (and -n to pass) when
# the auth file grants anything to others or write to its group, or is
# missing; a root:mtad 0640 file is fine.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest

t = mhtest.Test()
tmp = mhtest.tmpdir()
auth = os.path.join(tmp, "auth.conf")
with open(auth, "w") as f:
    f.write("shofar|127.0.0.1:sekrit-pw\n")
conf = os.path.join(tmp, "mtad.conf")
port = mhtest.free_port()
with open(conf, "w") as f:
    f.write("hostname hub.shofar.lan\nlisten 127.0.0.1:%d\n"
            "local-domains shofar.lan\nspool %s/spool\nuser root\n"
            "smarthost 127.0.0.1:1\nauth %s\n" % (port, tmp, auth))
mtad = mhtest.bin("mtad/mtad")

for mode, ok in ((0o640, True), (0o600, True), (0o644, False),
                 (0o660, False), (0o604, False)):
    os.chmod(auth, mode)
    r = mhtest.run([mtad, "-n", "-C", conf])
    if ok:
        t.eq(r.returncode, 0, "auth file mode %o: mtad -n accepts it" % mode)
    else:
        t.eq(r.returncode, 78, "auth file mode %o: mtad -n exits 78" % mode)
        t.like(r.err, auth, "and names the file")
    t.unlike(r.err + r.out, "sekrit-pw", "mode %o: the password is not shown"
             % mode)

os.chmod(auth, 0o644)
r = mhtest.run([mtad, "-F", "-C", conf], timeout=20)
t.eq(r.returncode, 78, "the daemon refuses to start with a 0644 auth file")
t.like(r.err, "grants access to others", "saying why")

os.unlink(auth)
r = mhtest.run([mtad, "-n", "-C", conf])
t.eq(r.returncode, 78, "a missing auth file: exit 78")
t.like(r.err, "No such file", "saying so")
t.done()
