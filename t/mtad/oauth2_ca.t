#!/usr/bin/python3
# The token endpoint's certificate is verified against the account's ca-file
# (else tls-ca-file): a token server whose CA is not trusted gets no
# refresh token and the mail waits; with the right ca-file the flush logs
# in, here with OAUTHBEARER (RFC 7628) as the only mechanism offered.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest
import tokenserver
from smtpd_util import Mtad, wait_log

t = mhtest.Test()
tmp = mhtest.tmpdir()
ca = mhtest.CA(os.path.join(tmp, "ca"))
other = mhtest.CA(os.path.join(tmp, "other"), name="token endpoint CA")
ts = tokenserver.TokenServer(tmp, other, refresh_tokens={"RT-SECRET-x"},
                             access_tokens=["AT-SECRET-x"])
mhtest.on_exit(ts.stop)
sh = mhtest.SmartHost(tmp, tls="starttls", ca=ca, auth_mechs=["OAUTHBEARER"],
                      auth_required=True, tokens={"eddy": "AT-SECRET-x"})

acct = os.path.join(tmp, "acct")


def account(cafile):
    with open(acct, "w") as f:
        f.write("token-url %s\nclient-id mailhub-test\n"
                "refresh-token RT-SECRET-x\n" % ts.url)
        if cafile:
            f.write("ca-file %s\n" % cafile)
    os.chmod(acct, 0o600)


account(None)
auth = os.path.join(tmp, "auth.conf")
with open(auth, "w") as f:
    f.write("eddy|*:oauth2:%s\n" % acct)
os.chmod(auth, 0o600)
m = Mtad(tmp=tmp, extra="smarthost 127.0.0.1:%d\nsmarthost-tls starttls\n"
         "tls-ca-file %s\nauth %s\nlink up\n" % (sh.port, ca.ca_file, auth))


def send(n):
    r = mhtest.run([mhtest.bin("mtad/mtad-sendmail"), "-C", m.conf,
                    "-f", "eddy@hub.example", "friend@remote.example"],
                   input="Subject: oauth %d\n\nbody\n" % n)
    t.eq(r.returncode, 0, "message %d queued" % n)


send(1)
t.ok(wait_log(m, "token endpoint", timeout=20),
     "tls-ca-file does not vouch for the token endpoint: refresh fails")
t.ok(wait_log(m, "Deferred", timeout=20), "the message is deferred",
     m.log()[-2000:])
line = [l for l in m.log().splitlines() if "token endpoint" in l][0]
t.like(line, "certificate", "the log line says the certificate failed")
t.like(line, ca.ca_file, "checked against tls-ca-file (the fallback)")
t.eq(ts.refreshes, 0, "no request reached the token endpoint")
t.eq(sh.connections(), 0, "and the smart host was not bothered")

account(ca.ca_file)
mhtest.run([mhtest.bin("mtad/mtactl"), "-C", m.conf, "flush"], timeout=30)
t.ok(mhtest.wait_for(lambda: m.log().count("token endpoint") >= 2, 20),
     "ca-file naming the wrong CA: refused as well")
t.eq(ts.refreshes, 0, "still no request reached the token endpoint")

account(other.ca_file)
mhtest.run([mhtest.bin("mtad/mtactl"), "-C", m.conf, "flush"], timeout=30)
t.ok(sh.wait_messages(1, timeout=20), "ca-file with the right CA: delivered")
t.eq(ts.refreshes, 1, "one refresh")
t.ok(any(c.startswith("AUTH OAUTHBEARER") for c in sh.commands()),
     "logged in with OAUTHBEARER")
m.stop()
for s in ("AT-SECRET", "RT-SECRET"):
    t.unlike(m.log(), s, "no %s in mtad's log" % s)
t.done()
