#!/usr/bin/python3
# Per-recipient results: one RCPT refused (550), one deferred (450), the
# others delivered; each recipient learns its own verdict, and the smart host
# received the message for exactly the accepted ones.  A message over the
# server's SIZE is refused before anything is sent for it.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest
from smtpclib import smtpc, show

t = mhtest.Test()
tmp = mhtest.tmpdir()
sh = mhtest.SmartHost(tmp, rcpt={"bad@isp.example": "550 5.1.1 No such user here",
                                 "busy@isp.example": 450}, size=4000)
MSG = b"From: eddy@shofar.lan\r\nSubject: hi\r\n\r\nbody\r\n"
BIG = b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 100

r = smtpc(sh, [("eddy@shofar.lan",
                ["a@isp.example", "bad@isp.example", "busy@isp.example",
                 "b@isp.example"], MSG),
               ("eddy@shofar.lan", ["c@isp.example"], BIG),
               ("", ["d@isp.example"], MSG)], tmp)
t.eq(r["rc"], 0, "client finished the batch", ) or t.diag(show(r))
m = r["msgs"]
t.eq(len(m), 3, "three messages reported back")
rc = m[0]["rcpts"]
t.eq(rc["a@isp.example"][0], 250, "first recipient delivered")
t.like(rc["a@isp.example"][2], "queued as", "its result is the end-of-data reply")
t.eq(rc["bad@isp.example"], (550, "5.1.1", "No such user here"),
     "refused recipient has the server's code, enhanced code and text")
t.eq(rc["busy@isp.example"][:2], (450, "4.2.0"), "busy recipient deferred with 450")
t.eq(rc["b@isp.example"][0], 250, "last recipient delivered")
t.eq(m[0]["sent"], 2, "two recipients counted as sent")
t.eq(m[1]["rcpts"]["c@isp.example"][:2], (552, "5.3.4"),
     "oversize message refused with 552 5.3.4 from SIZE")
t.like(m[1]["rcpts"]["c@isp.example"][2], "exceeds", "and the reason says so")
t.eq(m[2]["rcpts"]["d@isp.example"][0], 250, "the next message still goes")
got = sh.messages()
t.eq(len(got), 2, "smart host accepted two messages")
t.eq(got[0]["rcpt_tos"], ["a@isp.example", "b@isp.example"],
     "it holds the first for exactly the accepted recipients")
t.eq(got[1]["mail_from"], "<>", "null sender sent as <>")
t.ok(not any("c@isp.example" in c for c in sh.commands()),
     "nothing of the oversize message reached the server")
t.eq(sh.connections(), 1, "one connection")
t.done()
