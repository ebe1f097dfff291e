#!/usr/bin/python3
# A smart host that goes away: mid-DATA (DATA and BDAT), after N messages,
# and after reading a message without answering.  The client reports the
# failure, and no recipient is ever claimed delivered unless the smart host
# really accepted that message.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest
from smtpclib import smtpc, show

t = mhtest.Test()
tmp = mhtest.tmpdir()


def msg(i):
    return ("eddy@shofar.lan", ["r%d@isp.example" % i],
            b"Subject: m%d\r\n\r\n" % i + b"line of text\r\n" * 200)


def claimed(r):
    """Recipients the client reported with a 2xx."""
    return sorted(a for m in r["msgs"] for a, v in m["rcpts"].items()
                  if 200 <= v[0] < 300)


def accepted(sh):
    return sorted(a for m in sh.messages() for a in m["rcpt_tos"])


for chunking in (False, True):
    via = "BDAT" if chunking else "DATA"
    sh = mhtest.SmartHost(tmp, name="mid-" + via, chunking=chunking,
                          drop_in_data=[2, 500])
    r = smtpc(sh, [msg(i) for i in range(1, 4)], tmp)
    t.eq(r["rc"], 3, via + ": connection lost mid-data is an error") \
        or t.diag(show(r))
    t.ok(r["batch"] and "127.0.0.1" in r["batch"] and
         ("closed" in r["batch"] or "reset" in r["batch"]),
         via + ": the error says the connection was lost", r["batch"])
    t.eq(claimed(r), ["r1@isp.example"], via + ": only the first message is claimed")
    t.eq(accepted(sh), ["r1@isp.example"], via + ": and only it reached the smart host")
    t.eq(r["msgs"][1]["rcpts"]["r2@isp.example"][0], 0,
         via + ": the cut message has no verdict (code 0: defer)")
    t.ok(len(r["msgs"]) >= 2 and all(v[0] == 0 for m in r["msgs"][1:]
                                     for v in m["rcpts"].values()),
         via + ": every message handed out after it is given back, code 0")

sh = mhtest.SmartHost(tmp, name="after3", drop_after_messages=3)
r = smtpc(sh, [msg(i) for i in range(1, 6)], tmp)
t.eq(r["rc"], 3, "drop after 3 messages: an error")
t.eq(claimed(r), accepted(sh), "claimed exactly what the smart host accepted")
t.eq(len(accepted(sh)), 3, "which is three messages")

sh = mhtest.SmartHost(tmp, name="noreply", drop_before_reply=1)
r = smtpc(sh, [msg(1)], tmp)
t.eq(r["rc"], 3, "data read but never answered: an error")
t.eq(claimed(r), [], "nothing claimed delivered without the 250")
t.eq(r["msgs"][0]["sent"], 0, "message counted as not sent")

sh = mhtest.SmartHost(tmp, name="busy", greeting="421 4.3.2 busy, later")
r = smtpc(sh, [msg(1)], tmp)
t.eq((r["rc"], r["kind"]), (2, "reply"), "a 421 greeting fails the session")
t.like(r["hello"], "421 4.3.2 busy, later", "with the server's words")
t.done()
