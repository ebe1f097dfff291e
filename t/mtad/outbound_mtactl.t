#!/usr/bin/python3
# mtactl without a running mtad: a clear message and exit 2, for every command.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest

t = mhtest.Test()
tmp = mhtest.tmpdir()
spool = os.path.join(tmp, "spool")
os.makedirs(spool)
conf = os.path.join(tmp, "mtad.conf")
with open(conf, "w") as f:
    f.write("hostname hub.shofar.lan\nlocal-domains shofar.lan\n"
            "spool %s\nsmarthost 127.0.0.1:1\n" % spool)

for cmd in (["status"], ["link", "up"], ["flush"], ["mailq"], ["stop"]):
    r = mhtest.run([mhtest.bin("mtad/mtactl"), "-C", conf] + cmd, timeout=20)
    t.eq(r.returncode, 2, "mtactl %s without mtad exits 2" % " ".join(cmd))
    t.like(r.err, "mtad is not running", "and says mtad is not running")

# A stale socket left by a dead daemon is "not running" too.
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(os.path.join(spool, "control"))
s.close()
r = mhtest.run([mhtest.bin("mtad/mtactl"), "-C", conf, "status"], timeout=20)
t.eq(r.returncode, 2, "a stale socket: exit 2")
t.like(r.err, "mtad is not running", "a stale socket: not running")

r = mhtest.run([mhtest.bin("mtad/mtactl"), "-C", conf, "link", "sideways"])
t.eq(r.returncode, 1, "an unknown command exits 1")
t.like(r.err, "usage: mtactl", "and prints the usage")

r = mhtest.run([mhtest.bin("mtad/mtactl"), "-C", os.path.join(tmp, "nope"),
                "status"])
t.eq(r.returncode, 1, "a missing config exits 1")
t.like(r.err, "nope", "naming the file")
t.done()
