#!/usr/bin/python3
# pppd runs the hooks as root; with FETCHD_USER set, fetchd's poll loop
# runs as that user (here nobody, reading an rc file nobody owns), drains
# the mailbox into mtad, and ip-down stops it.
import os
import pwd
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hublib  # noqa: E402
import mhtest  # noqa: E402

t = mhtest.Test()
if os.geteuid() != 0:
    t.skip_all("needs root: the hook switches to FETCHD_USER")
if not os.path.exists("/usr/sbin/runuser") and not os.path.exists(
        "/sbin/runuser"):
    t.skip_all("no runuser")
hub = hublib.Hub(fetchd_user="nobody")
nobody = pwd.getpwnam("nobody")
# nobody's own corner: the rc file (its passwords), pid file and log
home = os.path.join(hub.tmp, "nobody")
os.mkdir(home)
os.chown(home, nobody.pw_uid, nobody.pw_gid)
with open(hub.rc) as f:
    rc = f.read().replace(hub.fetchlog, os.path.join(home, "fetchd.log"))
hub.fetchlog = os.path.join(home, "fetchd.log")
hub.rc = os.path.join(home, "fetchmailrc")
with open(hub.rc, "w") as f:
    f.write(rc)
os.chmod(hub.rc, 0o600)
os.chown(hub.rc, nobody.pw_uid, nobody.pw_gid)
hub.pidfile = os.path.join(home, "fetchd.pid")
with open(hub.defaults) as f:
    d = f.read()
d = "".join(line + "\n" for line in d.splitlines()
            if not line.startswith(("FETCHD_RC=", "FETCHD_PIDFILE=")))
with open(hub.defaults, "w") as f:
    f.write(d + "FETCHD_RC=%s\nFETCHD_PIDFILE=%s\n" % (hub.rc, hub.pidfile))

hub.dc.deliver("shofar.example.co.uk",
               b"From: a@example.org\r\nTo: x@example.co.uk\r\n"
               b"Subject: fetched as nobody\r\n\r\nbody\r\n")
r = hub.ip_up()
t.eq((r.returncode, r.out), (0, ""), "ip-up as root: exit 0, no output")
t.ok(mhtest.wait_for(lambda: "fetched as nobody" in hub.box_subjects("eddy"),
                     20), "fetchd drained the mailbox into eddy's box",
     hub.logger_lines() + (open(hub.fetchlog).read()
                           if os.path.exists(hub.fetchlog) else ""))
pids = hub.fetchd_pids()
t.eq(len(pids), 1, "one fetchd runs")
uids = set()
for pid in pids:
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                uids.update(int(x) for x in line.split()[1:])
t.eq(uids, {nobody.pw_uid}, "and it runs as nobody (real, effective, saved)")
t.eq(hub.logger_lines(), "", "no failure logged")
r = hub.ip_down()
t.eq((r.returncode, r.out), (0, ""), "ip-down: exit 0, no output")
t.ok(mhtest.wait_for(lambda: not hub.fetchd_pids(), 15),
     "ip-down stopped nobody's fetchd")
t.eq(hub.logger_lines(), "", "no failure logged")
t.done()
