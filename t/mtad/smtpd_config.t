#!/usr/bin/python3
# mtad.conf errors: -n checks and exits 0 or 78 (EX_CONFIG) naming
# file:line; the daemon refuses to start on the same errors.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest

t = mhtest.Test()
tmp = mhtest.tmpdir("mtad-conf-")
MTAD = mhtest.bin("mtad/mtad")
port = mhtest.free_port()
GOOD = ("# a hub\nhostname hub.example\nlisten 127.0.0.1:%d\n"
        "relay-from 192.168.1.0/24 ::1/128 10.0.0.1\n"
        "local-domains hub.example lan.example\nspool %s/spool\nuser root\n"
        "aliases %s/aliases\nmailbox maildir \"~/Maildir\"\n"
        "smarthost smtp.isp.example:587\nsmarthost-tls starttls\n"
        "masquerade isp.example\nmasquerade-headers no\n"
        "exposed-users root admin\nlink down\nqueue-lifetime 3d\n"
        "max-message-size 20M\nmax-clients 50\nidle-timeout 2m\n"
        "postmaster admin@hub.example\n" % (port, tmp, tmp))


def conf(text, name="mtad.conf"):
    p = os.path.join(tmp, name)
    with open(p, "w") as f:
        f.write(text)
    return p


r = mhtest.run([MTAD, "-n", "-C", conf(GOOD)])
t.eq(r.returncode, 0, "-n: a good config exits 0")
t.eq(r.err, "", "and says nothing")

cases = [
    ("frobnicate yes\n", 2, "unknown keyword 'frobnicate'"),
    ("max-clients lots\n", 2, "bad value 'lots' for max-clients"),
    ("max-message-size 10Q\n", 2, "bad value '10Q' for max-message-size"),
    ("relay-from 10.0.0.0/33\n", 2, "bad value '10.0.0.0/33' for relay-from"),
    ("link sideways\n", 2, "bad value 'sideways' for link"),
    ("hostname\n", 2, "hostname needs a value"),
    ("spool /a /b\n", 2, "too many values for spool"),
    ("mailbox mbox\n", 2, "mailbox mbox needs one path"),
    ("queue-lifetime forever\n", 2, "bad value 'forever' for queue-lifetime"),
    ("listen 127.0.0.1\n", 2, "bad value '127.0.0.1' for listen"),
]
for text, line, msg in cases:
    p = conf("hostname hub.example\n" + text, "bad.conf")
    r = mhtest.run([MTAD, "-n", "-C", p])
    t.eq(r.returncode, 78, "-n: %s exits 78" % text.strip())
    t.like(r.err, "%s:%d: %s" % (p, line, msg), "names file:line: " + msg)

p = conf("hostname hub.example\ntls-cert /etc/ssl/x.pem\n", "bad.conf")
r = mhtest.run([MTAD, "-n", "-C", p])
t.eq(r.returncode, 78, "tls-cert without tls-key: 78")

r = mhtest.run([MTAD, "-n", "-C", os.path.join(tmp, "missing.conf")])
t.eq(r.returncode, 78, "a missing config file: 78")
t.like(r.err, "missing.conf", "names the file")

# Without -n: refuses to start, says where, listens nowhere.
p = conf(GOOD + "colour blue\n", "bad.conf")
r = mhtest.run([MTAD, "-F", "-C", p], timeout=20)
t.eq(r.returncode, 78, "the daemon refuses a bad line: exit 78")
t.like(r.err, "%s:21: unknown keyword 'colour'" % p, "with file:line")
t.ok(not os.path.exists(os.path.join(tmp, "spool")),
     "nothing was set up")

r = mhtest.run([MTAD, "-x"])
t.eq(r.returncode, 64, "unknown flag: usage, 64")
t.like(r.err, "usage: mtad [-C conf] [-F] [-v] [-n]", "usage line")
t.done()
