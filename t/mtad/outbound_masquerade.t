#!/usr/bin/python3
# The three `masquerade` forms (dma's), masquerade-headers no, and a custom
# exposed-users list, as the smart host sees them.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest
import outbound

t = mhtest.Test()
tmp = mhtest.tmpdir()
sh = mhtest.SmartHost(tmp)
HDR = ("From: Eddy <eddy@pc1.shofar.lan>\r\n"
       "To: alice@remote.example\r\n")


def run_case(name, extra, sender="eddy@pc1.shofar.lan"):
    before = len(sh.messages())
    hub = outbound.Hub(tmp, sh, name=name, extra=extra)
    hub.send(sender, ["alice@remote.example"], subject=name, headers=HDR)
    r = hub.ctl("link", "up")
    hub.stop()
    t.like(r.out, "flush: 1 sent", "%s: sent" % name)
    msgs = sh.messages()
    if len(msgs) != before + 1:
        return {"mail_from": None}, ""
    m = msgs[-1]
    return m, m["data"].split(b"\r\n\r\n")[0].decode()


m, h = run_case("user-at", "masquerade john@\n")
t.eq(m["mail_from"], "john@hub.shofar.lan", "user@: that user at hostname")
t.like(h, "From: Eddy <john@hub.shofar.lan>", "user@: header too")

m, h = run_case("domain", "masquerade isp.example\n")
t.eq(m["mail_from"], "eddy@isp.example", "domain: same user at domain")
t.like(h, "From: Eddy <eddy@isp.example>", "domain: header too")

m, h = run_case("user-at-domain", "masquerade herb@ert.example\n")
t.eq(m["mail_from"], "herb@ert.example", "user@domain: everything as that")
t.like(h, "From: Eddy <herb@ert.example>", "user@domain: header too")

m, h = run_case("noheaders", "masquerade isp.example\nmasquerade-headers no\n")
t.eq(m["mail_from"], "eddy@isp.example", "headers no: envelope rewritten")
t.like(h, "From: Eddy <eddy@pc1.shofar.lan>", "headers no: header as queued")

m, h = run_case("exposed", "masquerade isp.example\nexposed-users eddy\n")
t.eq(m["mail_from"], "eddy@pc1.shofar.lan", "exposed-users eddy: kept")
m, h = run_case("rootnotexposed",
                "masquerade isp.example\nexposed-users eddy\n",
                sender="root@shofar.lan")
t.eq(m["mail_from"], "root@isp.example",
     "a list without root: root is masqueraded")

m, h = run_case("otherdomains",
                "masquerade isp.example\nmasquerade-domains other.lan\n")
t.eq(m["mail_from"], "eddy@pc1.shofar.lan",
     "masquerade-domains without shofar.lan: not rewritten")
t.done()
