#!/usr/bin/python3
# Daemon mode: -d SECS polls, a plain "fetchd" wakes the daemon for an
# immediate poll, "fetchd -d N" while it runs exits 8 (PS_EXCLUDE, which the
# ppp hook relies on), --quit stops it (exit 8 when none runs), the daemon
# detaches unless -N, and SIGHUP rereads the rc file.
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fetchdlib as F  # noqa: E402
import mhtest  # noqa: E402

t = mhtest.Test()
tmp = mhtest.tmpdir()
env = F.Env(tmp)
ca = mhtest.CA(tmp + "/ca")
dc = mhtest.Dovecot(tmp, users={"eddy": "pw", "kim": "pw"}, ca=ca)
sh = mhtest.SmartHost(tmp)
TEXT = (F.poll_line(dc) +
        '  user "%%s" there with password "pw" is eddy here\n'
        '  sslcertfile %s smtphost 127.0.0.1/%d\n' % (ca.ca_file, sh.port))
rc = env.rc(TEXT % "eddy")
log = os.path.join(tmp, "daemon.log")

dc.deliver("eddy", F.message(1))
d = env.start(rc, "-d", "300", "-N", "-L", log, stdout=subprocess.DEVNULL,
              stderr=subprocess.DEVNULL)
t.ok(sh.wait_messages(1, 15), "daemon: first poll at start-up")
t.ok(mhtest.wait_for(lambda: os.path.exists(env.pidfile), 5),
     "daemon: pid file written")
with open(env.pidfile) as f:
    t.eq(f.read().split()[0], str(d.pid), "pid file holds the daemon's pid")

r = env.run(rc, "-d", "60")
t.eq(r.returncode, 8, "fetchd -d while the daemon runs: exit 8")

dc.deliver("eddy", F.message(2))
t0 = time.time()
r = env.run(rc)
t.eq(r.returncode, 0, "plain fetchd: exit 0")
t.like(r.err, "awakened", "plain fetchd wakes the daemon")
t.ok(sh.wait_messages(2, 15), "woken daemon polls at once (%.1f s)"
     % (time.time() - t0))

# "set daemon" in the rc file: a plain run still wakes the daemon
rcd = env.rc("set daemon 300\n" + TEXT % "eddy")
dc.deliver("eddy", F.message(4))
r = env.run(rcd)
t.eq(r.returncode, 0, "set daemon in the rc file: plain run exits 0")
t.like(r.err, "awakened", "and wakes the daemon (as fetchmail)")
t.ok(sh.wait_messages(3, 15), "woken daemon polls")

# SIGHUP: the daemon reads the rc file again (now kim's mailbox)
with open(rc, "w") as f:
    f.write(TEXT % "kim")
dc.deliver("kim", F.message(3))
os.kill(d.pid, signal.SIGHUP)
t.ok(sh.wait_messages(4, 15), "SIGHUP: rc file reread, the new entry polled")

r = env.run(rc, "--quit")
t.eq(r.returncode, 0, "--quit: exit 0")
try:
    d.wait(15)
except subprocess.TimeoutExpired:
    pass
t.eq(d.poll(), 0, "--quit: the daemon exits 0")
t.ok(not os.path.exists(env.pidfile), "pid file removed")
r = env.run(rc, "--quit")
t.eq(r.returncode, 8, "--quit with no daemon: exit 8")
with open(log) as f:
    text = f.read()
t.like(text, "1 message for eddy at 127.0.0.1", "daemon logs to --logfile")

# --quit in the middle of a slow drain: the daemon stops after the message
# in hand; what it read whole is delivered, the next poll deletes it and
# delivers the rest, each message once.
N = 150                 # more than one batch of 64
for i in range(N):
    dc.deliver("kim", F.message(100 + i, body="y" * 900 + "\r\n"))
slow = mhtest.TcpProxy(tmp, dc.pop3, line={"bps": 100000,
                                                       "delay": 0.01})
src = env.rc(F.poll_line(dc, slow.port) +
             '  user "kim" there with password "pw" is eddy here\n'
             '  sslcertfile %s smtphost 127.0.0.1/%d\n' % (ca.ca_file,
                                                          sh.port))
n0 = len(sh.messages())
d = env.start(src, "-d", "300", "-N", stdout=subprocess.DEVNULL,
              stderr=subprocess.DEVNULL)
t.ok(sh.wait_messages(n0 + 2, 30), "slow drain under way")
t0 = time.time()
r = env.run(src, "--quit")
try:
    d.wait(20)
except subprocess.TimeoutExpired:
    pass
took = time.time() - t0
t.eq(d.poll(), 0, "--quit mid-drain: the daemon exits 0")
# Generous: the drain of all 150 takes far longer; a loaded machine must
# not fail this.
t.ok(took < 20, "--quit mid-drain: within the message in hand (%.1f s)"
     % took)
got = len(sh.messages()) - n0
t.ok(got < N, "--quit mid-drain: stopped before the end (%d of %d)"
     % (got, N))
r = env.run(src)
subj = F.subjects(sh)[n0:]
want = sorted("test %d" % (100 + i) for i in range(N))
t.eq(sorted(subj), want, "after --quit: every message exactly once")
t.eq(dc.count("kim"), 0, "after --quit: the mailbox is empty")

# IMAP IDLE in daemon mode: new mail is delivered at once, not at the next
# poll an hour later; a wake-up ends the IDLE for a poll; --quit ends it.
irc = env.rc(F.poll_line(dc, dc.imap, "IMAP") +
             '  user "eddy" there with password "pw" is eddy here idle\n'
             '  sslcertfile %s smtphost 127.0.0.1/%d\n' % (ca.ca_file,
                                                          sh.port))
ilog = os.path.join(tmp, "idle.log")
n0 = len(sh.messages())
d = env.start(irc, "-d", "3600", "-N", "-v", "-L", ilog,
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
t.ok(mhtest.wait_for(lambda: "IDLE: waiting" in open(ilog).read()
                     if os.path.exists(ilog) else False, 15),
     "idle: the daemon waits in IDLE")
dc.deliver("eddy", F.message(500))
t.ok(sh.wait_messages(n0 + 1, 15), "idle: new mail delivered at once")
t.eq(F.subjects(sh)[-1], "test 500", "idle: the new message")
t.ok(mhtest.wait_for(lambda: open(ilog).read().count("IDLE: waiting") >= 2,
                     15), "idle: back in IDLE after the delivery",
     open(ilog).read()[-3000:])
r = env.run(irc)
t.like(r.err, "awakened", "idle: a plain fetchd wakes the idling daemon")
t.ok(mhtest.wait_for(lambda: "awakened: polling eddy" in open(ilog).read()
                     and open(ilog).read().count("IDLE: waiting") >= 3, 15),
     "idle: the wake-up ends the IDLE for a poll, then it idles again",
     open(ilog).read()[-3000:])
r = env.run(irc, "--quit")
try:
    d.wait(20)
except subprocess.TimeoutExpired:
    pass
t.eq(d.poll(), 0, "idle: --quit ends the IDLE and the daemon")
t.eq(dc.count("eddy"), 0, "idle: the message was expunged at the end")

# Detached (no -N): the command returns, the daemon lives on.
r = env.run(rc, "-d", "300", "-L", log)
t.eq(r.returncode, 0, "detaching daemon: the command exits 0")
t.ok(mhtest.wait_for(lambda: os.path.exists(env.pidfile), 5),
     "detached daemon holds the pid file")
with open(env.pidfile) as f:
    pid = int(f.read().split()[0])
on = mhtest.on_exit(lambda: os.kill(pid, signal.SIGKILL)
                    if os.path.exists("/proc/%d" % pid) else None)
r = env.run(rc, "--quit")
t.eq(r.returncode, 0, "--quit stops the detached daemon")
t.ok(mhtest.wait_for(lambda: not os.path.exists("/proc/%d" % pid)
                     or open("/proc/%d/stat" % pid).read().split()[2] == "Z",
                     10), "the detached daemon is gone")
t.done()
