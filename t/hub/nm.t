#!/usr/bin/python3
# The NetworkManager dispatcher script: up/down of NM_INTERFACE (from the
# hooks' defaults file) run the ip-up/ip-down hooks; other interfaces and
# other actions do nothing.  The script's /etc/ppp/ paths point at the
# source hooks here, as make install points them at SYSCONFDIR.
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hublib  # noqa: E402
import mhtest  # noqa: E402

t = mhtest.Test()
if os.geteuid() != 0:
    t.skip_all("needs root: mtad delivers as the recipient")
hub = hublib.Hub()
with open(mhtest.src("ppp/nm-dispatcher/90-mailhub")) as f:
    text = f.read()
t.like(text, "/etc/ppp/ip-up.d/mailhub", "the dispatcher runs the ip-up hook")
disp = os.path.join(hub.tmp, "90-mailhub")
with open(disp, "w") as f:
    f.write(text.replace("/etc/ppp/", mhtest.src("ppp") + "/"))
os.chmod(disp, 0o755)
with open(hub.defaults, "a") as f:
    f.write("NM_INTERFACE=wwan0\n")


def nm(iface, action):
    p = subprocess.run([disp, iface, action], env=dict(os.environ, **hub.env),
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=30)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


hub.dc.deliver("shofar.example.co.uk",
               b"From: a@example.org\r\nSubject: over lte\r\n\r\nx\r\n")
t.eq(nm("eth0", "up"), (0, ""), "eth0 up: exit 0, quiet")
t.eq(hub.status().get("link"), "down", "another interface changes nothing")
t.eq(nm("wwan0", "dhcp4-change"), (0, ""), "wwan0 dhcp4-change: exit 0")
t.eq(hub.status().get("link"), "down", "another action changes nothing")
t.eq(hub.fetchd_pids(), [], "and starts no fetchd")
t.eq(nm("wwan0", "up"), (0, ""), "wwan0 up: exit 0, quiet")
t.ok(mhtest.wait_for(lambda: hub.status().get("link") == "up", 10),
     "wwan0 up: link up")
t.ok(mhtest.wait_for(lambda: "over lte" in hub.box_subjects("eddy"), 20),
     "wwan0 up: fetchd polls")
t.eq(nm("wwan0", "down"), (0, ""), "wwan0 down: exit 0, quiet")
t.eq(hub.status().get("link"), "down", "wwan0 down: link down")
t.ok(mhtest.wait_for(lambda: not hub.fetchd_pids(), 15),
     "wwan0 down: fetchd stopped")
t.eq(hub.logger_lines(), "", "no failure logged")
t.done()
