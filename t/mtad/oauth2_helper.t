#!/usr/bin/python3
# mtad-oauth2, the OAuth2 helper, against a scripted HTTPS token and device
# endpoint (test CA): "authorize" runs the device-code consent (RFC 8628):
# prints the URL and code, polls honouring interval and slow_down, stores
# the refresh token (file's other lines and mode kept); access_denied and
# expired_token store nothing and say why; "token" prints the access token
# for the daemons and exits 0 / 75 (temporary) / 77 (revoked) / 78 (bad
# file); the CA comes from ca-file, else -c.  No secret reaches stderr.
# The daemons no longer load libcurl or GnuTLS: ldd shows none.
import os
import re
import stat
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest
import tokenserver

t = mhtest.Test()
tmp = mhtest.tmpdir()
ca = mhtest.CA(os.path.join(tmp, "ca"))
ts = tokenserver.TokenServer(tmp, ca, refresh_tokens=set(),
                             access_tokens=["ya29.AT-SECRET-dev"])
mhtest.on_exit(ts.stop)
ts.device_refresh_token = "1//RT-SECRET-device"
helper = mhtest.bin("mtad/mtad-oauth2")
SECRETS = ("AT-SECRET", "RT-SECRET", "CS-SECRET", "DC-SECRET")


def account(name, cafile=True, mode=0o640):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write("# my mail account\ntoken-url %s\ndevice-url %s\n"
                "client-id mailhub-test\nclient-secret \"CS-SECRET\"\n"
                "scope \"https://mail.example/\"\n" % (ts.url, ts.device_url))
        if cafile:
            f.write("ca-file %s\n" % ca.ca_file)
    os.chmod(path, mode)
    return path


def read(path):
    with open(path) as f:
        return f.read()


def no_secrets(text, what):
    t.ok(not any(s in text for s in SECRETS), "no secret in %s" % what,
         text[-2000:])


# 1. The consent: pending, slow_down, then granted.
acct = account("gmail")
ts.device_script = ["authorization_pending", "slow_down", "ok"]
r = mhtest.run([helper, "authorize", acct], timeout=50)
t.eq(r.returncode, 0, "authorize: exit 0 once the user consents")
if r.returncode:
    t.diag(r.err)
t.like(r.out, "https://127.0.0.1:%d/verify" % ts.port,
       "authorize prints the verification URL")
t.like(r.out, "WDJB-MJH1", "and the user code")
text = read(acct)
t.like(text, 'refresh-token "1//RT-SECRET-device"',
       "the refresh token is stored in the account file")
t.like(text, "# my mail account\n", "the file's other lines are kept")
t.like(text, "client-secret \"CS-SECRET\"\n", "the client secret too")
t.eq(stat.S_IMODE(os.stat(acct).st_mode), 0o640, "the file's mode is kept")
dreq = ts.device_requests[0]
t.eq((dreq.get("client_id"), dreq.get("scope")),
     ("mailhub-test", "https://mail.example/"),
     "the device request carries client_id and scope")
t.eq(len(ts.polls), 3, "the token endpoint was polled 3 times")
form = ts.polls[0][1]
t.eq((form.get("grant_type"), form.get("device_code"),
      form.get("client_id"), form.get("client_secret")),
     ("urn:ietf:params:oauth:grant-type:device_code", "DC-SECRET-1",
      "mailhub-test", "CS-SECRET"),
     "each poll carries the device_code grant and the client")
gaps = [b[0] - a[0] for a, b in zip(ts.polls, ts.polls[1:])]
# interval 1 s; slow_down (2nd answer) adds 5 s to every later wait.
t.ok(len(gaps) == 2 and gaps[0] >= 0.9 and gaps[1] >= 5.9,
     "polls honour interval and slow_down",
     "gaps %s" % gaps)
no_secrets(r.out + r.err, "authorize's output")
r = mhtest.run([helper, "authorize", acct])
t.eq(r.returncode, 0, "authorize again (a new consent): exit 0")
t.eq(read(acct).count("refresh-token"), 1,
     "the refresh token is replaced, not added twice")

# 2. token: what the daemons read.
r = mhtest.run([helper, "token", acct])
t.eq(r.returncode, 0, "token: exit 0")
t.like(r.out, "access-token ya29.AT-SECRET-dev\n",
       "token prints the access token")
t.ok(re.search(r"(?m)^expires-in 3600$", r.out)
     and re.search(r"(?m)^expires \d+$", r.out),
     "and its lifetime and expiry")
t.eq(r.err, "", "token: nothing on stderr")
t.eq(ts.requests[-1].get("refresh_token"), "1//RT-SECRET-device",
     "token used the stored refresh token")

# 3. The CA: ca-file, else -c, else the system store (which refuses).
acct2 = os.path.join(tmp, "noca")
with open(acct2, "w") as f:
    f.write(read(acct).replace("ca-file %s\n" % ca.ca_file, ""))
os.chmod(acct2, 0o600)
r = mhtest.run([helper, "token", acct2])
t.eq(r.returncode, 75, "token without a CA for the endpoint: exit 75")
t.like(r.err, "certificate", "saying the certificate was not trusted")
r = mhtest.run([helper, "token", "-c", ca.ca_file, acct2])
t.eq(r.returncode, 0, "token -c CAFILE: exit 0")

# 4. A revoked refresh token: 77, and what to do.
ts.revoke()
r = mhtest.run([helper, "token", "-f", acct])
t.eq(r.returncode, 77, "token with a revoked refresh token: exit 77")
t.like(r.err, "invalid_grant", "naming invalid_grant")
t.like(r.err, "mtad-oauth2 authorize", "and the way out")
t.eq(r.out, "", "nothing on stdout")
no_secrets(r.out + r.err, "token's output")

# 5. The user refuses; the code expires: nothing stored.
for name, step, rc, says in (("denied", "access_denied", 77, "refused"),
                              ("late", "expired_token", 75,
                               "run authorize again")):
    a = account(name)
    ts.device_script = ["authorization_pending", step]
    r = mhtest.run([helper, "authorize", a], timeout=30)
    t.eq(r.returncode, rc, "authorize, %s: exit %d" % (step, rc))
    t.like(r.err, says, "authorize, %s: says %s" % (step, says))
    t.ok("refresh-token" not in read(a), "authorize, %s: nothing stored"
         % step)

# 6. Bad use.
bad = account("open", mode=0o644)
r = mhtest.run([helper, "token", bad])
t.eq(r.returncode, 78, "an account file readable by others: exit 78")
t.like(r.err, "grants access to others", "saying why")
r = mhtest.run([helper, "token", account("consentless")])
t.eq(r.returncode, 78, "token with no refresh-token yet: exit 78")
t.like(r.err, "no refresh-token", "saying so")
r = mhtest.run([helper, "token"])
t.eq(r.returncode, 64, "no file: usage, exit 64")
r = mhtest.run([helper, "authorize", "-f", acct])
t.eq(r.returncode, 64, "authorize takes no -f")

# 7. The daemons load neither libcurl nor GnuTLS nor jansson.
for prog in ("mtad/mtad", "fetchd/fetchd"):
    out = subprocess.run(["ldd", mhtest.bin(prog)], capture_output=True,
                         text=True).stdout
    libs = [l.split()[0] for l in out.splitlines() if l.strip()]
    t.ok(libs and not any(re.search(r"curl|gnutls|jansson|krb5|ldap", l)
                          for l in libs),
         "%s links no libcurl, GnuTLS, jansson (%d libraries)"
         % (prog, len(libs)), out)
out = subprocess.run(["ldd", helper], capture_output=True, text=True).stdout
t.like(out, "libcurl", "mtad-oauth2 does")
t.done()
