#!/usr/bin/python3
# OAuth2 smart-host login (auth line "user|host:oauth2:/file"): the access
# token is fetched (by the mtad-oauth2 helper) from a scripted HTTPS token
# endpoint (test CA) when the first flush needs it, not at start-up; the
# runner keeps it, so a second flush within its lifetime makes no refresh
# while an expired one makes another; a token the smart host refuses is
# refreshed once and the flush succeeds; a rotated refresh token is written
# back (mode kept); a revoked refresh token defers with a clear log line;
# no token ever reaches mtad's log (traces on).
import base64
import json
import os
import stat
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest
import tokenserver
from smtpd_util import Mtad, wait_log

t = mhtest.Test()
tmp = mhtest.tmpdir()
ca = mhtest.CA(os.path.join(tmp, "ca"))
ts = tokenserver.TokenServer(tmp, ca, refresh_tokens={"1//RT-SECRET-one"},
                             access_tokens=["ya29.AT-SECRET-one"])
mhtest.on_exit(ts.stop)
sh = mhtest.SmartHost(tmp, tls="starttls", ca=ca, auth_mechs=["XOAUTH2"],
                      auth_required=True,
                      tokens={"eddy@isp.example": "ya29.AT-SECRET-one"})

acct = os.path.join(tmp, "isp.oauth2")
with open(acct, "w") as f:
    f.write("# the ISP account\ntoken-url %s\nclient-id mailhub-test\n"
            "client-secret \"CS-SECRET\"\nscope \"mail\"\n"
            "refresh-token \"1//RT-SECRET-one\"\n" % ts.url)
os.chmod(acct, 0o640)
auth = os.path.join(tmp, "auth.conf")
with open(auth, "w") as f:
    f.write("eddy@isp.example|127.0.0.1:oauth2:%s\n" % acct)
os.chmod(auth, 0o600)

m = Mtad(tmp=tmp, start=False,
         extra="smarthost 127.0.0.1:%d\nsmarthost-tls starttls\n"
         "tls-ca-file %s\nauth %s\nlink up\n" % (sh.port, ca.ca_file, auth))
r = mhtest.run([mhtest.bin("mtad/mtad"), "-n", "-C", m.conf])
t.eq(r.returncode, 0, "mtad -n accepts the oauth2 auth line")
m.start()
mtactl = mhtest.bin("mtad/mtactl")


def send(n):
    r = mhtest.run([mhtest.bin("mtad/mtad-sendmail"), "-C", m.conf,
                    "-f", "eddy@hub.example", "friend@remote.example"],
                   input="Subject: oauth %d\n\nbody %d\n" % (n, n))
    t.eq(r.returncode, 0, "message %d queued" % n)


def flush():
    mhtest.run([mtactl, "-C", m.conf, "flush"], timeout=30)


def restart_smarthost(token):
    sh.stop()
    with open(sh.config) as f:
        cfg = json.load(f)
    cfg["tokens"] = {"eddy@isp.example": token}
    with open(sh.config, "w") as f:
        json.dump(cfg, f)
    sh.start()


t.eq(ts.refreshes, 0, "no token is fetched at start-up")

# 1. A fresh token.
send(1)
flush()
if not t.ok(sh.wait_messages(1, timeout=20),
            "flush 1: the message is delivered"):
    t.diag(m.log()[-3000:])
t.eq(ts.refreshes, 1, "flush 1: one refresh")
req = ts.requests[0]
t.eq((req.get("grant_type"), req.get("refresh_token"), req.get("client_id"),
      req.get("client_secret")),
     ("refresh_token", "1//RT-SECRET-one", "mailhub-test", "CS-SECRET"),
     "the refresh request carries the grant, refresh token and client")
t.ok(any(c.startswith("AUTH XOAUTH2") for c in sh.commands()),
     "flush 1: AUTH XOAUTH2 was used")

# 1b. Within the token's lifetime the runner's cached token is used.
send(11)
flush()
t.ok(sh.wait_messages(2, timeout=20), "flush 1b: delivered")
t.eq(ts.refreshes, 1, "flush 1b: no refresh (the cached token is used)")

# 2. The smart host no longer takes the cached token: refreshed once.  From
# here on tokens live 30 s, less than the 60 s margin: never cached.
ts.access_tokens = ["ya29.AT-SECRET-two"]
ts.expires_in = 30
restart_smarthost("ya29.AT-SECRET-two")
conns = sh.connections()
send(2)
flush()
t.ok(sh.wait_messages(3, timeout=20), "flush 2: delivered after a refresh")
t.eq(ts.refreshes, 2, "flush 2: exactly one refresh after the 535")
t.eq(sh.connections() - conns, 2, "flush 2: one failed login, one retry")
t.like(m.log(), "refreshing the oauth2 access token",
       "the retry is logged")

# 3. The token has expired: a new one.  The server rotates the refresh
# token, which is stored and used next time.
ts.rotate = "1//RT-SECRET-rotated"
send(3)
flush()
t.ok(sh.wait_messages(4, timeout=20), "flush 3: delivered")
t.eq(ts.refreshes, 3, "flush 3: the expired token made a refresh")
with open(acct) as f:
    text = f.read()
t.like(text, '"1//RT-SECRET-rotated"', "the rotated refresh token is stored")
t.unlike(text, "RT-SECRET-one", "the old one is gone")
t.like(text, "# the ISP account", "the rest of the file is kept")
t.eq(stat.S_IMODE(os.stat(acct).st_mode), 0o640, "the file's mode is kept")
send(4)
flush()
t.ok(sh.wait_messages(5, timeout=20), "flush 4: delivered with the new one")
t.eq(ts.requests[-1].get("refresh_token"), "1//RT-SECRET-rotated",
     "flush 4 refreshed with the rotated token")

# 4. A revoked refresh token: the mail waits, the log says why.
ts.revoke()
conns = sh.connections()
send(5)
flush()
t.ok(wait_log(m, "invalid_grant", timeout=20), "flush 5: the log names "
     "invalid_grant")
t.like(m.log(), "refresh token revoked or expired: renew the consent",
       "and says what to do")
t.eq(len(sh.messages()), 5, "flush 5: nothing delivered")
t.eq(len(m.queue_ids()), 1, "flush 5: the message is still queued")
t.eq(sh.connections(), conns, "flush 5: no connection without a token")

# 4b. A cached token the smart host refuses while the refresh token is
# revoked: one failed login, and the runner forgets the token, so the next
# flush makes no connection at all.
ts.valid = {"1//RT-SECRET-rotated"}
ts.expires_in = 3600
ts.access_tokens = ["ya29.AT-SECRET-three"]
restart_smarthost("ya29.AT-SECRET-three")
flush()
t.ok(sh.wait_messages(6, timeout=20), "flush 6: message 5 delivered with a "
     "token the runner keeps")
refreshes = ts.refreshes
restart_smarthost("ya29.AT-SECRET-four")
ts.revoke()
# With the link up the new message goes out on arrival; mtactl's flush
# joins that attempt or follows it: one or two flushes, one connection.
conns = sh.connections()
send(6)
flush()
t.eq(sh.connections() - conns, 1, "flush 7: the cached token is refused "
     "once")
t.ok(ts.refreshes - refreshes in (1, 2), "flush 7: one refresh per flush, "
     "refused (%d)" % (ts.refreshes - refreshes))
conns = sh.connections()
flush()
t.eq(sh.connections(), conns, "flush 8: the refused token is not tried "
     "again")
t.eq(len(m.queue_ids()), 1, "flush 8: the message is still queued")

# 5. Bad account files are refused at start-up check.
os.chmod(acct, 0o644)
r = mhtest.run([mhtest.bin("mtad/mtad"), "-n", "-C", m.conf])
t.eq(r.returncode, 78, "an account file readable by others: mtad -n exits 78")
t.like(r.err, "grants access to others", "saying why")
os.chmod(acct, 0o640)

m.stop()
log = m.log()
secrets = ["AT-SECRET", "RT-SECRET", "CS-SECRET", "SECRET"]
for tok in ("ya29.AT-SECRET-one", "ya29.AT-SECRET-two"):
    x = base64.b64encode(("user=eddy@isp.example\x01auth=Bearer %s\x01\x01"
                          % tok).encode()).decode()
    secrets.append(x)
t.like(log, "AUTH XOAUTH2", "the log holds the (masked) trace of the login")
for s in secrets:
    t.unlike(log, s, "no %s in mtad's log" % (s if len(s) < 12 else
                                         "base64 XOAUTH2 payload"))
t.done()
