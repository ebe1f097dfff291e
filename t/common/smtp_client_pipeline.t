#!/usr/bin/python3
# Several messages over one connection: with PIPELINING one client turn per
# message (the wait for 354), with CHUNKING no wait per message at all, and
# without either, lock-step.  A refused sender or all recipients refused in
# the middle does not disturb the messages after it (RSET), and every
# message arrives exactly once.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest
from smtpclib import smtpc, show

t = mhtest.Test()
tmp = mhtest.tmpdir()
N = 8


def msgs():
    out = []
    for i in range(1, N + 1):
        out.append(("s%d@shofar.lan" % i, ["r%d@isp.example" % i, "q%d@isp.example" % i],
                    b"Subject: m%d\r\n\r\n" % i + b"text %d\r\n" % i * 50))
    # the fourth: sender refused; the sixth: every recipient refused
    return out


script = dict(mail={"s4@shofar.lan": "550 5.7.1 sender refused"},
              rcpt={"r6@isp.example": 550, "q6@isp.example": "551 5.1.6 moved"})
for name, kw, max_turns in (
        ("pipelining", {}, N + 3),
        ("chunking", {"chunking": True}, 4),
        ("lock-step", {"pipelining": False}, None)):
    sh = mhtest.SmartHost(tmp, name=name, **kw, **script)
    r = smtpc(sh, msgs(), tmp)
    t.eq(r["rc"], 0, name + ": batch done") or t.diag(show(r))
    t.eq(sh.connections(), 1, name + ": one connection")
    got = sh.messages()
    want = [i for i in range(1, N + 1) if i not in (4, 6)]
    t.eq([m["mail_from"] for m in got], ["s%d@shofar.lan" % i for i in want],
         name + ": every other message arrived, once, in order")
    t.ok(all(m["rcpt_tos"] == ["r%d@isp.example" % i, "q%d@isp.example" % i]
             for i, m in zip(want, got)), name + ": each with its own recipients")
    t.ok(all(m["data"] == b"Subject: m%d\r\n\r\n" % i + b"text %d\r\n" % i * 50
             for i, m in zip(want, got)), name + ": each with its own data")
    res = r["msgs"]
    t.eq([m["sent"] for m in res], [0 if i in (4, 6) else 2 for i in range(1, N + 1)],
         name + ": per-message results in order")
    t.eq(res[3]["rcpts"]["r4@isp.example"][:2], (550, "5.7.1"),
         name + ": refused sender's reply reaches its recipients")
    t.eq(res[5]["rcpts"]["q6@isp.example"], (551, "5.1.6", "moved"),
         name + ": refused recipients keep their own replies")
    if "pipelining" in kw:
        t.ok(r["turns"] > N + 3, name + ": lock-step takes more turns (%d)" % r["turns"])
        t.ok(not any(c.upper().startswith("BDAT") for c in sh.commands()), name + ": no BDAT")
    elif max_turns:
        t.ok(r["turns"] <= max_turns, "%s: %d client turns for %d messages (at most %d)"
             % (name, r["turns"], N, max_turns))
    t.diag("%s: %d turns for %d messages" % (name, r["turns"], N))
t.done()
