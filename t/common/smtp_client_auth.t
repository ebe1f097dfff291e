#!/usr/bin/python3
# AUTH PLAIN, LOGIN, CRAM-MD5, XOAUTH2 and OAUTHBEARER against the smart host
# under STARTTLS: success delivers as that user; failure is an error with the
# server's reply and no MAIL follows.  No password or token reaches the trace.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest
from smtpclib import smtpc, show

t = mhtest.Test()
tmp = mhtest.tmpdir()
ca = mhtest.CA(os.path.join(tmp, "ca"))
PW, TOKEN = "pa55-Word-9", "ya29.tok-EN-77"
sh = mhtest.SmartHost(tmp, tls="starttls", ca=ca, auth={"isp": PW},
                      tokens={"isp": TOKEN}, auth_required=True,
                      auth_mechs=["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2",
                                  "OAUTHBEARER"])
MSG = b"Subject: auth\r\n\r\nbody\r\n"
traces = []


def run(mech, secret, good, token=False):
    before = len(sh.messages(all=True))
    conns = sh.connections()
    kw = {"token": secret} if token else {"password": secret}
    r = smtpc(sh, [("eddy@shofar.lan", ["x@isp.example"], MSG)], tmp,
              tls="starttls", ca=ca.ca_file, user="isp", mech=mech, **kw)
    traces.append(r["trace"])
    new = sh.messages(all=True)[before:]
    cmds = sh.commands(conns + 1)
    if good:
        t.eq((r["rc"], r["auth"]), (0, mech), mech + ": accepted") or t.diag(show(r))
        t.eq([m["auth_user"] for m in new], ["isp"], mech + ": delivered as isp")
    else:
        t.eq((r["rc"], r["kind"]), (2, "auth"), mech + ": wrong secret is an error")
        t.like(r["hello"], "535", mech + ": with the server's reply")
        t.eq(new, [], mech + ": nothing delivered")
        t.ok(not any(c.upper().startswith(("MAIL", "RCPT", "DATA")) for c in cmds),
             mech + ": no MAIL after the failed AUTH")


for mech in ("PLAIN", "LOGIN", "CRAM-MD5"):
    run(mech, PW, True)
    run(mech, "wrong-" + PW, False)
run("XOAUTH2", TOKEN, True, token=True)
run("XOAUTH2", "expired-" + TOKEN, False, token=True)
run("OAUTHBEARER", TOKEN, True, token=True)

# Left to choose, the client takes PLAIN for a password, XOAUTH2 for a token.
r = smtpc(sh, [], tmp, tls="starttls", ca=ca.ca_file, user="isp", password=PW)
t.eq(r["auth"], "PLAIN", "password: PLAIN chosen from what is offered")
traces.append(r["trace"])
r = smtpc(sh, [], tmp, tls="starttls", ca=ca.ca_file, user="isp", token=TOKEN)
t.eq(r["auth"], "XOAUTH2", "token: XOAUTH2 chosen")
traces.append(r["trace"])

alltrace = "\n".join(traces)
t.like(alltrace, "SMTP> AUTH PLAIN ****", "trace shows AUTH PLAIN masked")
t.like(alltrace, "SMTP> ****", "SASL continuations traced as ****")
t.ok(PW not in alltrace and TOKEN not in alltrace, "no password or token in the trace")
import base64
leaks = [base64.b64encode(s.encode()).decode()[:12] for s in ("isp", PW, TOKEN)]
t.ok(not any(l in alltrace for l in leaks[1:]), "nor their base64")
t.done()
