#!/usr/bin/python3
# smarthost-command: SMTP over a command's stdio, with AUTH from a `*` auth
# line, masquerading and to= lines as over TCP; the command's stderr is
# logged.
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
t.done()
