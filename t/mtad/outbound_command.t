#!/usr/bin/python3
# smarthost-command: SMTP over a command's stdio, with AUTH from a `*` auth
# line, masquerading and to= lines as over TCP; the command's stderr is
# logged; a command that stalls is timed out and its process group killed.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest
import outbound

t = mhtest.Test()
tmp = mhtest.tmpdir()
sh = mhtest.SmartHost(tmp, auth={"isp": "tunnelpw"}, auth_required=True,
                      auth_require_tls=False)
cmd = "echo tunnel up >&2; exec " + mhtest.stdio_command(sh.port)
hub = outbound.Hub(tmp, None, auth="isp|*:tunnelpw",
                   extra='smarthost-command "%s"\nmasquerade isp.example\n'
                   % cmd)
hub.send("eddy@shofar.lan", ["a@remote.example", "b@remote.example"],
         subject="tunnel")
r = hub.ctl("link", "up")
t.eq(r.returncode, 0, "link up exits 0")
t.like(r.out, "flush: 1 sent, 0 deferred, 0 bounced", "sent through the command")
m = sh.messages()
t.eq(len(m), 1, "the smart host got it")
if m:
    t.eq(m[0]["auth_user"], "isp", "after AUTH with the * credentials")
    t.eq(m[0]["mail_from"], "eddy@isp.example", "masqueraded")
    t.eq(sorted(m[0]["rcpt_tos"]), ["a@remote.example", "b@remote.example"],
         "both recipients")
log = hub.log()
t.like(log, "smarthost-command: tunnel up", "the command's stderr is logged")
t.like(log, "stat=Sent (250", "to= lines as over TCP")
t.unlike(log, "tunnelpw", "no password in the log")

# A command that fails: deferred, and said why.
hub.stop()
hub2 = outbound.Hub(tmp, None, name="hub2",
                    extra='smarthost-command "echo no route >&2; exit 1"\n')
hub2.send("eddy@shofar.lan", ["a@remote.example"], subject="fail")
r = hub2.ctl("link", "up")
t.eq(r.returncode, 1, "a failing command: link up exits 1")
t.like(r.out, "0 sent, 1 deferred", "the message is deferred")
t.like(hub2.log(), "smarthost-command: no route", "its stderr is logged")
hub2.stop()

# A command that greets and then stalls (and left a child behind): the
# smart-host timeout defers the mail like a dropped connection, and the
# command's whole process group is killed.
pids = os.path.join(tmp, "stall.pids")
script = os.path.join(tmp, "stall.sh")
with open(script, "w") as f:
    f.write("#!/bin/sh\n"
            "sleep 100000 &\n"
            "echo $! >> %s\n"
            "echo $$ >> %s\n"
            "printf '220 tunnel ESMTP\\r\\n'\n"
            "exec sleep 100000\n" % (pids, pids))
os.chmod(script, 0o755)
hub3 = outbound.Hub(tmp, None, name="hub3",
                    extra='smarthost-command "%s"\nsmarthost-timeout 2s\n'
                    % script)
hub3.send("eddy@shofar.lan", ["a@remote.example"], subject="stall")
r = hub3.ctl("link", "up")
t.eq(r.returncode, 1, "a stalled command: link up exits 1")
t.like(r.out, "0 sent, 1 deferred", "the message is deferred")
t.like(r.out, "timeout", "and says it timed out")
t.like(hub3.log(), "stat=Deferred", "a to= line for the deferral")
t.eq(len(hub3.queue_ids()), 1, "the message stays queued")


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


with open(pids) as f:
    plist = [int(x) for x in f.read().split()]
t.eq(len(plist), 2, "the command and its child ran")
t.ok(mhtest.wait_for(lambda: not any(alive(p) for p in plist), 10),
     "both are gone: the process group was killed")
hub3.stop()

# A timeout that makes no sense is refused, naming file and line.
conf = os.path.join(tmp, "badtimeout.conf")
with open(conf, "w") as f:
    f.write("hostname hub.shofar.lan\nspool %s\nsmarthost-timeout 0\n"
            % os.path.join(tmp, "spool-bad"))
r = mhtest.run([mhtest.bin("mtad/mtad"), "-C", conf, "-n"])
t.eq(r.returncode, 78, "smarthost-timeout 0: EX_CONFIG")
t.like(r.err, "badtimeout.conf:3", "naming file and line")
t.done()
