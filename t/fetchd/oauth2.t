#!/usr/bin/python3
# fetchd with auth xoauth2 / oauthbearer against a real Dovecot whose oauth2
# passdb checks every access token at a local RFC 7662 introspection
# endpoint (t/lib/introspection.py), the tokens coming from the scripted
# HTTPS token endpoint (tokenserver.TokenServer, test CA: the account file
# names no ca-file, so the refresh only works because fetchd hands the
# poll's sslcertfile to libcurl).  Single-drop into the aiosmtpd sink.
#   - IMAP (AUTHENTICATE XOAUTH2, SASL-IR) and POP3 (AUTH OAUTHBEARER) drain
#     a mailbox over STARTTLS, one refresh per run, not before it is needed;
#   - a token the server refuses (introspection says inactive) is answered
#     with exactly one forced refresh and a second login in the same session;
#     the POP3 case uses a token too long for RFC 5034's 255-octet AUTH line,
#     so the response goes after the server's empty challenge;
#   - every token refused: the server's reply and its error document are
#     logged, exit 3, nothing deleted;
#   - a revoked refresh token: a clear log line, exit 3, no connection to the
#     mailbox, nothing deleted;
#   - daemon mode: the access token is kept from poll to poll until
#     shortly before it expires (expires_in), then fetched again;
#   - no access token, refresh token or SASL payload in any -v trace.
import base64
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fetchdlib as F  # noqa: E402
import mhtest  # noqa: E402
import introspection  # noqa: E402
import tokenserver  # noqa: E402

t = mhtest.Test()
tmp = mhtest.tmpdir()
env = F.Env(tmp)
ca = mhtest.CA(tmp + "/ca")
AT1 = "ya29.AT-SECRET-one"
AT2 = "ya29.AT-SECRET-two-" + "x" * 300      # no room for it in AUTH's line
RT = "1//RT-SECRET-one"
ts = tokenserver.TokenServer(tmp, ca, refresh_tokens={RT},
                             access_tokens=[AT1])
mhtest.on_exit(ts.stop)
intro = introspection.Introspection({AT1: "eddy"})
mhtest.on_exit(intro.stop)
dc = mhtest.Dovecot(tmp, users={"eddy": "imap-Secret9"}, ca=ca,
                    oauth2=intro.url)
sh = mhtest.SmartHost(tmp)

acct = os.path.join(tmp, "gmail.oauth2")
with open(acct, "w") as f:
    f.write("token-url %s\nclient-id mailhub-test\n"
            "client-secret \"CS-SECRET\"\nrefresh-token \"%s\"\n"
            % (ts.url, RT))
os.chmod(acct, 0o600)


def rc(proto, mech, port=None):
    return env.rc(F.poll_line(dc, port or (dc.imap if proto == "IMAP"
                                           else dc.pop3), proto) +
                  "  auth %s\n"
                  "  user eddy there is eddy here\n"
                  "  oauth2file \"%s\" sslcertfile %s\n"
                  "  smtphost 127.0.0.1/%d\n"
                  % (mech, acct, ca.ca_file, sh.port))


def secrets_absent(text, what):
    payloads = [base64.b64encode(("user=eddy\x01auth=Bearer %s\x01\x01"
                                  % tok).encode()).decode()
                for tok in (AT1, AT2)]
    bad = [s for s in [AT1, AT2[:30], RT, "CS-SECRET", "AT-SECRET",
                       "RT-SECRET"] + [p[:24] for p in payloads]
           if s in text]
    t.eq(bad, [], "%s: no token, secret or SASL payload in the trace" % what)


def deliver(n0, n):
    for i in range(n0, n0 + n):
        dc.deliver("eddy", F.message(i))


# 1. IMAP, XOAUTH2: one refresh, the mailbox drained.
deliver(0, 3)
imap_x = rc("IMAP", "xoauth2")
r = env.run(imap_x, "-c")
t.eq(r.returncode, 0, "fetchd -c lists the mailbox through OAuth2")
t.eq(ts.refreshes, 1, "the token is fetched when the poll needs it")
t.eq(ts.requests[0].get("refresh_token"), RT, "with the account's refresh "
     "token")
r = env.run(imap_x, "-v")
if not t.eq(r.returncode, 0, "IMAP XOAUTH2: exit 0"):
    t.diag(r.err[-3000:])
t.eq(F.subjects(sh), ["test 0", "test 1", "test 2"], "IMAP XOAUTH2: "
     "delivered in order")
t.eq(dc.count("eddy"), 0, "IMAP XOAUTH2: expunged")
t.eq(ts.refreshes, 2, "IMAP XOAUTH2: one refresh for the run")
t.like(r.err, "AUTHENTICATE XOAUTH2 ****", "IMAP trace: the command shown, "
       "the response masked")
t.ok(any(s == AT1 for s in intro.checks), "Dovecot checked the token at the "
     "introspection endpoint")
with open(dc.log, errors="replace") as f:
    t.like(f.read(), "method=XOAUTH2", "Dovecot logged an XOAUTH2 login")
secrets_absent(r.err, "IMAP XOAUTH2")

# 2. POP3, OAUTHBEARER.
deliver(10, 2)
pop_o = rc("POP3", "oauthbearer")
r = env.run(pop_o, "-v")
if not t.eq(r.returncode, 0, "POP3 OAUTHBEARER: exit 0"):
    t.diag(r.err[-3000:])
t.eq(F.subjects(sh)[3:], ["test 10", "test 11"], "POP3 OAUTHBEARER: "
     "delivered")
t.eq(dc.count("eddy"), 0, "POP3 OAUTHBEARER: deleted")
t.like(r.err, "POP3> AUTH OAUTHBEARER ****", "POP3 trace: initial response "
       "masked")
with open(dc.log, errors="replace") as f:
    t.like(f.read(), "method=OAUTHBEARER", "Dovecot logged an OAUTHBEARER "
           "login")
secrets_absent(r.err, "POP3 OAUTHBEARER")

# 3. The server stops accepting the token (expired early): one forced
# refresh, a second AUTH in the same session, mail delivered.
intro.valid = {AT2: "eddy"}
ts.access_tokens = [AT1, AT2]
for proto, mech, n0 in (("IMAP", "oauthbearer", 20), ("POP3", "xoauth2", 30)):
    deliver(n0, 2)
    before, nmsg = ts.refreshes, len(sh.messages())
    r = env.run(rc(proto, mech), "-v")
    if not t.eq(r.returncode, 0, "%s %s, token refused once: exit 0"
                % (proto, mech)):
        t.diag(r.err[-3000:])
    t.eq(ts.refreshes - before, 2, "%s: the run's refresh and exactly one "
         "forced refresh" % proto)
    t.eq(r.err.count("getting a new OAuth2 access token"), 1,
         "%s: one retry, logged" % proto)
    t.like(r.err, "invalid_token" if mech == "oauthbearer" else '"401"',
           "%s: the server's error document is logged" % proto)
    t.eq(len(sh.messages()) - nmsg, 2, "%s: delivered after the retry"
         % proto)
    t.eq(dc.count("eddy"), 0, "%s: deleted" % proto)
    secrets_absent(r.err, "%s retry" % proto)
    ts.access_tokens = [AT1, AT2]
t.like(r.err, "POP3> AUTH XOAUTH2\n", "POP3: a response too long for the "
       "AUTH line waits for the server's challenge")

# 4. Every token refused: two tries, the reply logged, nothing deleted.
intro.valid = {}
deliver(40, 2)
before, nmsg = ts.refreshes, len(sh.messages())
for proto, mech in (("IMAP", "xoauth2"), ("POP3", "oauthbearer")):
    r = env.run(rc(proto, mech), "-v")
    t.eq(r.returncode, 3, "%s: token refused twice: exit 3 (authentication "
         "failed)" % proto)
    t.like(r.err, "as eddy at 127.0.0.1 failed: ", "%s: the failure names "
           "the user and server" % proto)
    t.like(r.err, "Authentication failed.", "%s: with the server's reply"
           % proto)
    secrets_absent(r.err, "%s refused" % proto)
t.eq(ts.refreshes - before, 4, "two refreshes per run, no more")
t.eq(dc.count("eddy"), 2, "nothing deleted")
t.eq(len(sh.messages()), nmsg, "nothing delivered")

# 5. A revoked refresh token: a clear line, no login attempt, mail kept.
intro.valid = {AT1: "eddy", AT2: "eddy"}
ts.revoke()
checks = len(intro.checks)
r = env.run(imap_x, "-v")
t.eq(r.returncode, 3, "revoked refresh token: exit 3")
t.like(r.err, "invalid_grant (refresh token revoked or expired",
       "revoked refresh token: a clear log line")
t.unlike(r.err, "IMAP> ", "revoked refresh token: no session with the server")
t.eq(len(intro.checks), checks, "no token reached the server")
t.eq(dc.count("eddy"), 2, "revoked refresh token: nothing deleted")
secrets_absent(r.err, "revoked")

# 6. The account file keeps the auth file's permission rule.
os.chmod(acct, 0o644)
r = env.run(imap_x)
t.eq(r.returncode, 3, "a world-readable account file: exit 3")
t.like(r.err, acct, "the refusal names the account file")
t.eq(dc.count("eddy"), 2, "nothing deleted")

# 7. Daemon mode: one token for every poll while it is fresh.
os.chmod(acct, 0o600)
ts.valid = {RT}
ts.access_tokens = [AT1]
intro.valid = {AT1: "eddy"}
for expires_in, want in ((3600, 1), (60, 2)):
    ts.expires_in = expires_in
    if dc.count("eddy") == 0:
        deliver(60 + expires_in, 1)
    pending = dc.count("eddy")
    before, nmsg = ts.refreshes, len(sh.messages())
    log = os.path.join(tmp, "daemon%d.log" % expires_in)
    d = env.start(imap_x, "-d", "300", "-N", "-L", log,
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t.ok(sh.wait_messages(nmsg + pending, 20), "daemon (expires_in %d): first "
         "poll delivers" % expires_in)
    deliver(50 + expires_in, 1)
    r = env.run(imap_x)
    t.like(r.err, "awakened", "a plain run wakes the daemon")
    t.ok(sh.wait_messages(nmsg + pending + 1, 20), "the second poll delivers")
    t.eq(ts.refreshes - before, want, "expires_in %d: %d refresh%s for two "
         "polls" % (expires_in, want, "" if want == 1 else "es"))
    r = env.run(imap_x, "--quit")
    t.ok(d.wait(20) is not None, "--quit stops the daemon")
    with open(log, errors="replace") as f:
        secrets_absent(f.read(), "daemon log")
t.done()
