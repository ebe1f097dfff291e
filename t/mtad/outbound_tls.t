#!/usr/bin/python3
# The smart host over TLS with AUTH: STARTTLS and smtps deliver with the
# certificate checked; an unknown CA is refused and nothing is sent; a server
# without STARTTLS never sees AUTH; a wrong password defers with the server's
# reply logged; no password ever reaches the log or the -v trace.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest
import outbound

PW = "Sekr1t-Pa55w0rd"
t = mhtest.Test()
tmp = mhtest.tmpdir()
ca = mhtest.CA(os.path.join(tmp, "ca"))
logs = []

# --- STARTTLS + AUTH ----------------------------------------------------------
sh = mhtest.SmartHost(tmp, tls="starttls", ca=ca, auth={"isp": PW},
                      auth_required=True, require_starttls=True)
hub = outbound.Hub(tmp, sh, tls="starttls", ca_file=ca.ca_file,
                   auth="isp|127.0.0.1:" + PW)
hub.send("eddy@shofar.lan", ["alice@remote.example"], subject="tls")
r = hub.ctl("link", "up")
t.eq(r.returncode, 0, "starttls: link up exits 0")
t.like(r.out, "flush: 1 sent, 0 deferred, 0 bounced", "starttls: sent")
m = sh.messages()
t.ok(len(m) == 1 and m[0]["tls"], "the message went over TLS")
t.ok(len(m) == 1 and m[0]["auth_user"] == "isp", "after AUTH as isp")
cmds = sh.commands()
t.ok(cmds.index("STARTTLS") < min(i for i, c in enumerate(cmds)
                                  if c.upper().startswith("AUTH")),
     "AUTH only after STARTTLS")
logs.append(hub.log())
hub.stop()
sh.stop()

# --- smtps ------------------------------------------------------------------------
sh = mhtest.SmartHost(tmp, name="smtps", tls="smtps", ca=ca, auth={"isp": PW},
                      auth_required=True)
hub = outbound.Hub(tmp, sh, name="hub2", tls="smtps", ca_file=ca.ca_file,
                   auth="isp|127.0.0.1:" + PW)
hub.send("eddy@shofar.lan", ["alice@remote.example"], subject="smtps")
r = hub.ctl("link", "up")
t.like(r.out, "flush: 1 sent, 0 deferred, 0 bounced", "smtps: sent")
m = sh.messages()
t.ok(len(m) == 1 and m[0]["tls"] and m[0]["auth_user"] == "isp",
     "smtps: over TLS with AUTH")
logs.append(hub.log())
hub.stop()
sh.stop()

# --- unknown CA -----------------------------------------------------------------
other = mhtest.CA(os.path.join(tmp, "other"), name="someone else")
sh = mhtest.SmartHost(tmp, name="rogue", tls="starttls", ca=other,
                      auth={"isp": PW})
hub = outbound.Hub(tmp, sh, name="hub3", tls="starttls", ca_file=ca.ca_file,
                   auth="isp|127.0.0.1:" + PW)
hub.send("eddy@shofar.lan", ["alice@remote.example"], subject="rogue")
r = hub.ctl("link", "up")
t.eq(r.returncode, 1, "unknown CA: link up exits 1")
t.like(r.out, "flush: 0 sent, 1 deferred, 0 bounced", "unknown CA: deferred")
t.eq(len(sh.messages(all=True)), 0, "unknown CA: nothing sent")
t.ok(not any(c.upper().startswith(("AUTH", "MAIL")) for c in sh.commands()),
     "unknown CA: no AUTH, no MAIL")
t.like(hub.log(), "certificate verify failed", "the refusal is logged")
t.like(hub.log(), "stat=Deferred", "with a Deferred to= line")
logs.append(hub.log())
hub.stop()
sh.stop()

# --- no STARTTLS offered ----------------------------------------------------------
sh = mhtest.SmartHost(tmp, name="plain", tls="none", auth={"isp": PW},
                      auth_require_tls=False)
hub = outbound.Hub(tmp, sh, name="hub4", tls="starttls", ca_file=ca.ca_file,
                   auth="isp|127.0.0.1:" + PW)
hub.send("eddy@shofar.lan", ["alice@remote.example"], subject="plain")
r = hub.ctl("link", "up")
t.eq(r.returncode, 1, "no STARTTLS: link up exits 1")
t.like(r.out, "0 sent, 1 deferred", "no STARTTLS: deferred")
t.ok(not any(c.upper().startswith(("AUTH", "MAIL")) for c in sh.commands()),
     "no STARTTLS: AUTH never sent")
t.like(hub.log().lower(), "starttls", "the log says STARTTLS was missing")
logs.append(hub.log())
hub.stop()
sh.stop()

# --- wrong password ------------------------------------------------------------------
sh = mhtest.SmartHost(tmp, name="wrongpw", tls="starttls", ca=ca,
                      auth={"isp": "the-right-one"}, auth_required=True)
hub = outbound.Hub(tmp, sh, name="hub5", tls="starttls", ca_file=ca.ca_file,
                   auth="isp|127.0.0.1:" + PW)
hub.send("eddy@shofar.lan", ["alice@remote.example"], subject="wrongpw")
r = hub.ctl("link", "up")
t.eq(r.returncode, 1, "wrong password: link up exits 1")
t.like(r.out, "0 sent, 1 deferred", "wrong password: deferred")
t.eq(len(sh.messages(all=True)), 0, "wrong password: nothing sent")
t.ok(not any(c.upper().startswith("MAIL") for c in sh.commands()),
     "no fall-back to unauthenticated sending")
t.like(hub.log(), "535", "the server's reply is logged")
t.eq(hub.status().get("queue"), "1 messages", "the message waits")
logs.append(hub.log())
hub.stop()
sh.stop()

# --- the auth file's mode ------------------------------------------------------------
hub6dir = os.path.join(tmp, "hub6")
try:
    outbound.Hub(tmp, None, name="hub6", auth="isp|127.0.0.1:" + PW,
                 extra="")
    started = True
except RuntimeError:
    started = False
t.ok(started, "mode 0640 auth file accepted")
os.chmod(os.path.join(hub6dir, "auth.conf"), 0o644)
r = mhtest.run([mhtest.bin("mtad/mtad"), "-C",
                os.path.join(hub6dir, "mtad.conf"), "-n"])
t.ok(r.returncode != 0, "a world-readable auth file: mtad refuses to start")
t.like(r.err, "auth.conf", "naming the file")
os.chmod(os.path.join(hub6dir, "auth.conf"), 0o660)
r = mhtest.run([mhtest.bin("mtad/mtad"), "-C",
                os.path.join(hub6dir, "mtad.conf"), "-n"])
t.ok(r.returncode != 0, "a group-writable auth file: refused too")

alllogs = "\n".join(logs)
t.like(alllogs, "SMTP> ", "the -v trace was on")
t.like(alllogs, "AUTH ", "and shows the AUTH command")
t.unlike(alllogs, PW, "the password never appears in the log or trace")
import base64
for mech in ("\0isp\0" + PW, PW):
    t.unlike(alllogs, base64.b64encode(mech.encode()).decode(),
             "nor its base64 form")
t.done()
