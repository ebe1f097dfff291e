#!/usr/bin/python3
# The ppp hooks as pppd runs them: ip-up returns at once even when the
# flush is slow (the smart host greets after 6 s), running ip-up twice
# leaves one fetchd and wakes it for an immediate poll, ip-down twice is
# harmless, both are quiet on success, and failures go through logger.
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hublib  # noqa: E402
import mhtest  # noqa: E402

t = mhtest.Test()
if os.geteuid() != 0:
    t.skip_all("needs root: mtad delivers as the recipient")
hub = hublib.Hub(greeting_delay=6)
sh, dc = hub.sh, hub.dc


def msg(i, to="whoever@example.co.uk"):
    return ("From: a@example.org\r\nTo: %s\r\nSubject: fetched %d\r\n"
            "Message-ID: <h%d@example.org>\r\n\r\nbody\r\n" % (to, i, i)
            ).encode()


r = hub.sendmail("From: eddy@shofar.lan\nTo: far@remote.example\n"
                 "Subject: slow flush\n\nx\n", "-t")
t.eq(r.returncode, 0, "a message queued for the smart host")
dc.deliver("shofar.example.co.uk", msg(1))

r = hub.ip_up()
t.eq((r.returncode, r.out), (0, ""), "ip-up: exit 0, no output")
t.ok(r.elapsed < 4, "ip-up returns promptly although the smart host greets "
     "after 6 s (%.1f s)" % r.elapsed)
t.eq(len(sh.messages()), 0, "the flush was still running when ip-up returned")
t.ok(sh.wait_messages(1, 30), "the flush completes in the background")
t.ok(mhtest.wait_for(lambda: "fetched 1" in hub.box_subjects("eddy"), 20),
     "fetchd's first poll delivered the waiting message")
pids = hub.fetchd_pids()
t.eq(len(pids), 1, "one fetchd runs")

# ip-up again (pppd renegotiating, or an admin re-running it): no second
# fetchd, and the running one polls now although its interval is 300 s.
dc.deliver("shofar.example.co.uk", msg(2))
r = hub.ip_up()
t.eq((r.returncode, r.out), (0, ""), "ip-up again: exit 0, no output")
t.ok(mhtest.wait_for(lambda: "fetched 2" in hub.box_subjects("eddy"), 20),
     "the second ip-up woke fetchd for an immediate poll")
time.sleep(0.5)
t.eq(hub.fetchd_pids(), pids, "still the same single fetchd")
t.eq(hub.box_subjects("eddy").count("fetched 1"), 1, "nothing fetched twice")
t.eq(hub.logger_lines(), "", "no failure logged")
t.eq(hub.status().get("link"), "up", "link up")

r = hub.ip_down()
t.eq((r.returncode, r.out), (0, ""), "ip-down: exit 0, no output")
t.ok(mhtest.wait_for(lambda: not hub.fetchd_pids(), 15), "fetchd stopped")
t.eq(hub.status().get("link"), "down", "link down")
r = hub.ip_down()
t.eq((r.returncode, r.out), (0, ""), "ip-down again: exit 0, no output")
t.eq(hub.logger_lines(), "", "ip-down twice: no failure logged")

# Failures: mtad not running, fetchd refusing its rc file.
hub.mtad.stop()
os.chmod(hub.rc, 0o644)
r = hub.ip_up()
t.eq((r.returncode, r.out), (0, ""),
     "ip-up with mtad down: exit 0 (pppd goes on), no output")
t.ok(mhtest.wait_for(lambda: "mtactl link up" in hub.logger_lines(), 10),
     "mtactl's failure logged through logger")
lines = hub.logger_lines()
t.like(lines, "-t mailhub -p mail.err", "with tag mailhub, priority mail.err")
t.like(lines, "ip-up ppp0: mtactl link up (exit 2)", "naming hook, interface "
       "and exit status")
t.like(lines, "ip-up ppp0: fetchd (exit", "fetchd's refusal logged too")
t.eq(hub.fetchd_pids(), [], "no fetchd runs")
open(hub.loggerlog, "w").close()
r = hub.ip_down()
t.eq((r.returncode, r.out), (0, ""), "ip-down with mtad down: exit 0")
t.like(hub.logger_lines(), "ip-down ppp0: mtactl link down (exit 2)",
       "mtactl's failure logged")
t.done()
