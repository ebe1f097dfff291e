#!/usr/bin/python3
# Kill mtad-sendmail (SIGKILL, injected by strace at each step of the
# commit, or in the middle of the input): never a partial message visible.
import glob
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mhtest

t = mhtest.Test()
d = mhtest.tmpdir()
spool = os.path.join(d, "spool")
conf = os.path.join(d, "mtad.conf")
aliases = os.path.join(d, "aliases")
with open(aliases, "w") as f:
    f.write("dave: root\n")
with open(conf, "w") as f:
    f.write("hostname shofar.lan\nspool %s\naliases %s\n" % (spool, aliases))
SENDMAIL = mhtest.bin("mtad/mtad-sendmail")
# The leak checker cannot run under ptrace; a killed process reports nothing.
ENV = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "").replace(
    "detect_leaks=1", "detect_leaks=0") + ":detect_leaks=0"}
BODY = "Subject: crash\n\n" + "".join("line %04d of the body\n" % i for i in range(400))


def visible():
    """Messages mailq lists, with their sizes."""
    r = mhtest.run([SENDMAIL, "-C", conf, "-bp"])
    return re.findall(r"^([0-9A-F]{19}) +(\d+) ", r.out, re.M)


def complete(qid):
    p = os.path.join(spool, "maildrop", qid + ".msg")
    data = open(p).read()
    return data.endswith("line 0399 of the body\n") and "Subject: crash" in data


def clear():
    for p in glob.glob(os.path.join(spool, "maildrop", "*")):
        os.unlink(p)


mhtest.run([SENDMAIL, "-C", conf, "dave"], input="Subject: init\n\nx\n")
clear()

cases = [("syncfs", 1, False), ("renameat", 1, False), ("renameat", 2, None),
         ("fsync", 1, True)]
for call, when, want in cases:
    clear()
    r = mhtest.run(["strace", "-f", "-o", "/dev/null", "-e", "trace=" + call,
                    "-e", "inject=%s:signal=SIGKILL:when=%d" % (call, when),
                    SENDMAIL, "-C", conf, "dave"], input=BODY, env=ENV)
    t.ok(r.returncode != 0, "killed at %s #%d: no success reported" % (call, when),
         "rc %d %s" % (r.returncode, r.err))
    v = visible()
    if want is False:
        t.eq(v, [], "killed at %s #%d: nothing visible" % (call, when))
    elif want is True:
        t.ok(len(v) == 1 and complete(v[0][0]),
             "killed at %s #%d (after the renames): the whole message" % (call, when), v)
    else:
        t.ok(v == [] or (len(v) == 1 and complete(v[0][0])),
             "killed at %s #%d: nothing, or the whole message" % (call, when), v)
    r = mhtest.run([SENDMAIL, "-C", conf, "dave"], input=BODY)
    t.eq(r.returncode, 0, "a later submission after the %s crash works" % call)
    t.eq(len(visible()), len(v) + 1, "and is listed beside what was there")

# Killed in the middle of the body: nothing visible.
clear()
p = subprocess.Popen([SENDMAIL, "-C", conf, "dave"], stdin=subprocess.PIPE,
                     stderr=subprocess.DEVNULL, start_new_session=True)
mhtest.on_exit(lambda: p.poll() is None and p.kill())
p.stdin.write(BODY[:3000].encode())
p.stdin.flush()
mhtest.wait_for(lambda: glob.glob(os.path.join(spool, "maildrop", "*.msg.tmp")), 10)
p.kill()
p.wait()
t.ok(glob.glob(os.path.join(spool, "maildrop", "*.msg.tmp")) != [],
     "the killed writer left only a temp file")
t.eq(visible(), [], "killed mid-body: nothing visible")

t.done()
