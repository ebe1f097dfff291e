#!/usr/bin/python3
# `make run`'s demo hub (t/lib/demo.sh) as the README's quick start uses it:
# it starts in the foreground, delivers local mail at once, holds outbound
# mail until `mtactl link up`, which sends it masqueraded to the stand-in
# ISP, and Ctrl-C stops it, stand-in included.
import json
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest

t = mhtest.Test()
tmp = mhtest.tmpdir()
run = os.path.join(tmp, "run")
port, sinkport = mhtest.free_port(), mhtest.free_port()
out = open(os.path.join(tmp, "out"), "wb")
demo = mhtest.Proc(["sh", mhtest.src("t/lib/demo.sh")], cwd=mhtest.SRC,
                   stdout=out, stderr=out,
                   env={"MAILHUB_RUN": run, "MAILHUB_RUN_PORT": str(port),
                        "MAILHUB_RUN_SINK_PORT": str(sinkport)})
mhtest.wait_port(port, proc=demo, timeout=20)
mhtest.wait_port(sinkport, proc=demo, timeout=20)


def output():
    with open(os.path.join(tmp, "out"), "rb") as f:
        return f.read().decode(errors="replace")


conf = os.path.join(run, "mtad.conf")
t.like(output(), "mtad-sendmail -C run/mtad.conf", "it prints the commands to try")
t.like(output(), "mtactl -C run/mtad.conf link up", "including bringing the link up")

me = os.environ.get("USER") or mhtest.run(["id", "-un"]).out.strip()
r = mhtest.run([mhtest.bin("mtad/mtad-sendmail"), "-C", conf, "eddy"],
               input="Subject: hi\n\nhello\n")
t.eq(r.returncode, 0, "a local message is accepted")
box = os.path.join(run, "mail", me)
t.ok(mhtest.wait_for(lambda: os.path.exists(box) and
                     b"Subject: hi" in open(box, "rb").read(), 15),
     "and delivered at once to run/mail/%s" % me, output())

r = mhtest.run([mhtest.bin("mtad/mtad-sendmail"), "-C", conf,
                "-f", "eddy@shofar.lan", "friend@example.org"],
               input="Subject: out\n\nto the world\n")
t.eq(r.returncode, 0, "an outbound message is accepted")
r = mhtest.run([mhtest.bin("mtad/mtad-sendmail"), "-C", conf, "-bp"])
t.like(r.out, "friend@example.org", "mailq shows it held while the link is down")
msgs = os.path.join(run, "smarthost", "messages.jsonl")
t.ok(not os.path.exists(msgs) or os.path.getsize(msgs) == 0,
     "the stand-in ISP has seen nothing")

r = mhtest.run([mhtest.bin("mtad/mtactl"), "-C", conf, "link", "up"],
               timeout=60)
t.eq(r.returncode, 0, "mtactl link up succeeds")
t.like(r.out, "flush: 1 sent, 0 deferred, 0 bounced", "and reports the flush")
got = [json.loads(l) for l in open(msgs)] if os.path.exists(msgs) else []
t.eq([(m["mail_from"], m["rcpt_tos"]) for m in got],
     [("eddy@isp.example", ["friend@example.org"])],
     "the ISP got it once, masqueraded")
t.like(output(), "stat=Sent", "the foreground log shows the delivery")

os.killpg(demo.pid, signal.SIGINT)
try:
    demo.wait(20)
    stopped = True
except Exception:
    stopped = False
t.ok(stopped, "Ctrl-C stops the demo")
t.like(output(), "mtad: exiting", "mtad shuts down cleanly")
import socket
def sink_gone():
    try:
        socket.create_connection(("127.0.0.1", sinkport), timeout=1).close()
        return False
    except OSError:
        return True
t.ok(mhtest.wait_for(sink_gone, 10), "and the stand-in ISP is gone too")
t.done()
