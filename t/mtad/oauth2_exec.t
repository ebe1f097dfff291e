#!/usr/bin/python3
# How mtad runs the mtad-oauth2 helper, with a scripted helper placed
# beside a copy of mtad (where mtad looks first): the flush runs
# "mtad-oauth2 token -c TLS-CA-FILE -- FILE" (with -f on the retry after
# a refused login); the helper's stderr lands in mtad's log; exit 77 and a
# malformed answer defer the mail with the helper's reason; a helper that
# stalls is killed when the link goes down, and the flush ends at once; the
# token itself never reaches the log.
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest
from smtpd_util import Mtad, wait_log

t = mhtest.Test()
tmp = mhtest.tmpdir()
ca = mhtest.CA(os.path.join(tmp, "ca"))
sh = mhtest.SmartHost(tmp, tls="starttls", ca=ca, auth_mechs=["XOAUTH2"],
                      auth_required=True, tokens={"eddy": "AT-SECRET-good"})

bindir = os.path.join(tmp, "bin")
os.mkdir(bindir)
shutil.copy(mhtest.bin("mtad/mtad"), os.path.join(bindir, "mtad"))
mode_file = os.path.join(tmp, "mode")
argv_log = os.path.join(tmp, "argv.log")
helper = os.path.join(bindir, "mtad-oauth2")
with open(helper, "w") as f:
    f.write("""#!/bin/sh
echo "$*" >> %s
echo "a note from the helper" >&2
case "$(cat %s)" in
ok)	# expires-in 0: never cached, every flush runs the helper
	printf 'access-token AT-SECRET-good\\nexpires-in 0\\n' ;;
stale)	printf 'access-token AT-SECRET-stale\\nexpires-in 0\\n'
	echo ok > %s ;;
refuse)	echo "acct: token endpoint: HTTP 400, invalid_grant" >&2; exit 77 ;;
garbage) printf 'access-token AT-SECRET has spaces\\nexpires-in 1\\n' ;;
stall)	echo $$ > %s; exec sleep 300 ;;
esac
""" % (argv_log, mode_file, mode_file, os.path.join(tmp, "stall.pid")))
os.chmod(helper, 0o755)


def mode(m):
    with open(mode_file, "w") as f:
        f.write(m + "\n")


def argv_lines():
    try:
        with open(argv_log) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


acct = os.path.join(tmp, "acct")
with open(acct, "w") as f:
    f.write("token-url https://127.0.0.1:1/token\nclient-id x\n"
            "refresh-token RT-SECRET-x\n")
os.chmod(acct, 0o600)
auth = os.path.join(tmp, "auth.conf")
with open(auth, "w") as f:
    f.write("eddy|*:oauth2:%s\n" % acct)
os.chmod(auth, 0o600)
mode("ok")
m = Mtad(tmp=tmp, start=False,
         extra="smarthost 127.0.0.1:%d\nsmarthost-tls starttls\n"
         "tls-ca-file %s\nauth %s\nlink up\n" % (sh.port, ca.ca_file, auth))
# The copy beside the scripted helper, not the build's mtad.
m.start_argv = [os.path.join(bindir, "mtad"), "-C", m.conf, "-F", "-v"]
m.logf = open(m.logpath, "ab")
m.proc = mhtest.Proc(m.start_argv, stdout=m.logf, stderr=m.logf)
mhtest.wait_port(m.port, proc=m.proc)
mtactl = mhtest.bin("mtad/mtactl")


def send(n):
    r = mhtest.run([mhtest.bin("mtad/mtad-sendmail"), "-C", m.conf,
                    "-f", "eddy@hub.example", "friend@remote.example"],
                   input="Subject: exec %d\n\nbody\n" % n)
    t.eq(r.returncode, 0, "message %d queued" % n)


def flush():
    mhtest.run([mtactl, "-C", m.conf, "flush"], timeout=60)


send(1)
flush()
t.ok(sh.wait_messages(1, timeout=30), "a token from the helper: delivered",
     m.log()[-2000:])
t.eq(argv_lines()[:1], ["token -c %s -- %s" % (ca.ca_file, acct)],
     "the helper ran as: token -c TLS-CA-FILE -- FILE")
t.like(m.log(), "mtad-oauth2: a note from the helper",
       "the helper's stderr is in mtad's log")

# A refused token: the retry runs the helper with -f.
mode("stale")
n = len(argv_lines())
send(2)
flush()
t.ok(sh.wait_messages(2, timeout=30), "a refused token, a forced one: "
     "delivered")
t.eq(argv_lines()[n:], ["token -c %s -- %s" % (ca.ca_file, acct),
                        "token -f -c %s -- %s" % (ca.ca_file, acct)],
     "the retry ran the helper with -f")

# Exit 77 (revoked): the mail waits, the log gives the helper's reason.
mode("refuse")
conns = sh.connections()
send(3)
flush()
t.ok(wait_log(m, "HTTP 400, invalid_grant", timeout=30),
     "exit 77: the helper's last line is the reason in the log")
t.eq(sh.connections(), conns, "no connection without a token")
t.eq(len(m.queue_ids()), 1, "the message stays queued")

# A malformed answer is no token.
mode("garbage")
flush()
t.ok(wait_log(m, "mtad-oauth2 gave no token", timeout=30),
     "a malformed answer: no token, said so")
t.eq(sh.connections(), conns, "and no connection")

# A stalled token endpoint does not hold up link down.
mode("stall")
pidfile = os.path.join(tmp, "stall.pid")
mhtest.Proc([mtactl, "-C", m.conf, "flush"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
t.ok(mhtest.wait_for(lambda: os.path.exists(pidfile), 30),
     "the helper stalls")
r = mhtest.run([mtactl, "-C", m.conf, "link", "down"], timeout=30)
t.eq(r.returncode, 0, "link down: exit 0")
t.ok(wait_log(m, "token fetch interrupted", timeout=30),
     "the flush gives up the token fetch at once")
with open(pidfile) as f:
    hpid = int(f.read())
t.ok(mhtest.wait_for(lambda: not os.path.exists("/proc/%d" % hpid)
                     or open("/proc/%d/stat" % hpid).read().split()[2]
                     == "Z", 10), "and the helper is killed")
t.eq(len(m.queue_ids()), 1, "the message is still queued")

m.stop()
log = m.log()
for s in ("AT-SECRET", "RT-SECRET"):
    t.unlike(log, s, "no %s in mtad's log" % s)
t.done()
