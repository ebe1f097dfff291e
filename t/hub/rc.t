#!/usr/bin/python3
# The Slackware/SysV rc scripts, installed as make install writes them
# (@SBINDIR@/@BINDIR@ replaced, here by the build tree) and reading the
# same defaults file as the hooks: start, status, reload, restart, stop.
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hublib  # noqa: E402
import mhtest  # noqa: E402

t = mhtest.Test()
if os.geteuid() != 0:
    t.skip_all("needs root: mtad delivers as the recipient")
hub = hublib.Hub(start=False)
bindir = os.path.join(hub.tmp, "rc")
os.mkdir(bindir)
scripts = {}
for name, sub in (("rc.mtad", os.path.dirname(mhtest.bin("mtad/mtad"))),
                  ("rc.fetchd", os.path.dirname(mhtest.bin("fetchd/fetchd")))):
    with open(mhtest.src("rc/" + name)) as f:
        text = f.read()
    text = (text.replace("@SBINDIR@", sub).replace("@BINDIR@", sub)
            .replace("@SYSCONFDIR@", "/nonexistent"))
    scripts[name] = os.path.join(bindir, name)
    with open(scripts[name], "w") as f:
        f.write(text)
    os.chmod(scripts[name], 0o755)


def rc(name, action):
    p = subprocess.run([scripts[name], action],
                       env=dict(os.environ, **hub.env),
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=40)
    p.out = (p.stdout + p.stderr).decode(errors="replace")
    return p


def mtad_pids():
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    argv = f.read().split(b"\0")
                with open("/proc/%s/stat" % d) as f:
                    st = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if st != "Z" and hub.conf.encode() in argv and \
                    argv[0].endswith(b"mtad"):
                out.append(int(d))
    return out


def kill_mtad():
    import signal
    for p in mtad_pids():
        os.kill(p, signal.SIGKILL)


mhtest.on_exit(kill_mtad)

r = rc("rc.mtad", "status")
t.ok(r.returncode != 0, "rc.mtad status before start: non-zero", r.out)
r = rc("rc.mtad", "start")
t.eq(r.returncode, 0, "rc.mtad start: exit 0")
t.ok(mhtest.wait_for(lambda: rc("rc.mtad", "status").returncode == 0, 10),
     "rc.mtad status: running")
t.like(rc("rc.mtad", "status").out, "link: down", "status shows the link")
first = mtad_pids()     # the daemon and its runner child
t.ok(first, "mtad runs, detached (pids %s)" % first)
r = rc("rc.mtad", "start")
t.like(r.out, "already running", "start again: already running")
time.sleep(0.3)
t.eq(mtad_pids(), first, "and no second mtad")
r = rc("rc.mtad", "reload")
t.eq(r.returncode, 0, "rc.mtad reload: exit 0")
old = mtad_pids()
r = rc("rc.mtad", "restart")
t.eq(r.returncode, 0, "rc.mtad restart: exit 0")
t.ok(mhtest.wait_for(lambda: rc("rc.mtad", "status").returncode == 0, 10),
     "running after restart")
new = mtad_pids()
t.ok(new and not set(new) & set(old), "restart: a new mtad (%s -> %s)"
     % (old, new))

hub.dc.deliver("shofar.example.co.uk",
               b"From: a@example.org\r\nSubject: via rc.fetchd\r\n\r\nx\r\n")
r = rc("rc.fetchd", "status")
t.eq(r.returncode, 3, "rc.fetchd status before start: exit 3")
r = rc("rc.fetchd", "start")
t.eq(r.returncode, 0, "rc.fetchd start: exit 0", )
t.ok(mhtest.wait_for(lambda: "via rc.fetchd" in hub.box_subjects("eddy"),
                     20), "fetchd started by rc.fetchd delivers through mtad")
r = rc("rc.fetchd", "status")
t.eq(r.returncode, 0, "rc.fetchd status: running")
t.ok(re.search(r"running \(pid %d\)" % hub.fetchd_pids()[0], r.out)
     if hub.fetchd_pids() else False, "and names fetchd's pid", r.out)
r = rc("rc.fetchd", "reload")
t.eq(r.returncode, 0, "rc.fetchd reload: exit 0")
old = hub.fetchd_pids()
r = rc("rc.fetchd", "restart")
t.ok(r.returncode == 0, "rc.fetchd restart: exit 0", r.out)
time.sleep(0.5)
new = hub.fetchd_pids()
t.ok(len(new) == 1 and new != old, "restart: a new fetchd (%s -> %s)"
     % (old, new), r.out)
r = rc("rc.fetchd", "stop")
t.eq(r.returncode, 0, "rc.fetchd stop: exit 0")
t.ok(mhtest.wait_for(lambda: not hub.fetchd_pids(), 15), "fetchd stopped")
t.eq(rc("rc.fetchd", "status").returncode, 3, "status: not running (3)")

r = rc("rc.mtad", "stop")
t.eq(r.returncode, 0, "rc.mtad stop: exit 0")
t.ok(mhtest.wait_for(lambda: not mtad_pids(), 15), "mtad stopped")
t.ok(rc("rc.mtad", "status").returncode != 0, "status: not running")
t.done()
