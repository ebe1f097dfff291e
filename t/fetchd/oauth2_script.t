#!/usr/bin/python3
# OAuth2 IMAP logins against a scripted server (t/lib/scriptserver.py), for
# what Dovecot does not do (oauth2.t covers the real one): a server without
# SASL-IR gets AUTHENTICATE XOAUTH2 alone, then the response after its empty
# challenge, byte for byte as Google documents it; its error challenge is
# answered with an empty line and the NO is followed by one retry with a
# fresh token; a server that offers no AUTH=XOAUTH2 gets no token at all.
# POP3 OAUTHBEARER: the RFC 7628 response (gs2 header, host, port), %x01
# after the error challenge, "*" (cancel) after a second one.  The rc file:
# --configdump shows auth and oauth2file, a missing oauth2file is file:line.
import base64
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fetchdlib as F  # noqa: E402
import mhtest  # noqa: E402
import tokenserver  # noqa: E402

t = mhtest.Test()
tmp = mhtest.tmpdir()
env = F.Env(tmp)
ca = mhtest.CA(tmp + "/ca")
AT1, AT2, RT = "ya29.AT-SECRET-one", "ya29.AT-SECRET-two", "1//RT-SECRET"
ts = tokenserver.TokenServer(tmp, ca, refresh_tokens={RT},
                             access_tokens=[AT1, AT2])
mhtest.on_exit(ts.stop)
acct = os.path.join(tmp, "acct")
with open(acct, "w") as f:
    f.write("token-url %s\nclient-id mailhub-test\nrefresh-token %s\n"
            % (ts.url, RT))
os.chmod(acct, 0o600)


def payload(tok):
    return base64.b64encode(("user=eddy\x01auth=Bearer %s\x01\x01"
                             % tok).encode()).decode()


ERR = base64.b64encode(b'{"status":"401","schemes":"bearer"}').decode()
after_login = [
    {"expect": r"(\S+) CAPABILITY", "send":
     "* CAPABILITY IMAP4rev1 UIDPLUS\r\n{1} OK done\r\n"},
    {"expect": r"(\S+) SELECT", "send":
     "* 0 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n{1} OK [READ-WRITE] done\r\n"},
    {"expect": r"(\S+) ", "reply": "{1} OK done\r\n", "until": "^NEVER$"},
]
ss = mhtest.ScriptServer(tmp, [
    [{"send": "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2] hi\r\n"},
     {"expect": r"1 AUTHENTICATE XOAUTH2$", "send": "+ \r\n"},
     {"expect": re.escape(payload(AT1)) + "$", "send": "+ %s\r\n" % ERR},
     {"expect": r"^$", "send":
      "1 NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)\r\n"},
     {"expect": r"2 AUTHENTICATE XOAUTH2$", "send": "+ \r\n"},
     {"expect": re.escape(payload(AT2)) + "$", "send":
      "2 OK [CAPABILITY IMAP4rev1] eddy authenticated (Success)\r\n"}]
    + after_login,
    [{"send": "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n"},
     {"expect": r"(\S+) ", "reply": "{1} BAD no\r\n", "until": "^NEVER$"}],
], implicit_tls=True, ca=ca)


def rc():
    return env.rc("poll imap.example.net via 127.0.0.1 proto IMAP port %d "
                  "auth xoauth2\n  user eddy there is eddy here ssl "
                  "sslcertfile %s oauth2file %s\n"
                  % (ss.port, ca.ca_file, acct))


r = env.run(rc(), "-c", "-v")
if not t.eq(r.returncode, 1, "no SASL-IR: logged in after one retry (exit 1: "
            "no mail)"):
    t.diag(r.err[-3000:])
got = ss.received(1)
t.eq(got[:3], ["1 AUTHENTICATE XOAUTH2", payload(AT1), ""],
     "the command alone, the response after '+ ', an empty line after the "
     "error challenge")
t.eq(got[3:5], ["2 AUTHENTICATE XOAUTH2", payload(AT2)],
     "the retry with the fresh token")
t.eq(ts.refreshes, 2, "one forced refresh")
t.like(r.err, 'Invalid credentials (Failure) (server said {"status":"401",'
       '"schemes":"bearer"})', "the NO and the error document logged")
t.like(r.err, "IMAP> 1 AUTHENTICATE XOAUTH2\n", "the command traced")
t.eq(len(re.findall(r"IMAP> \*\*\*\*\n", r.err)), 3, "the three responses "
     "traced as ****")
t.unlike(r.err, "AT-SECRET", "no token in the trace")
t.unlike(r.err, payload(AT1)[:20], "no SASL payload in the trace")

r = env.run(rc(), "-v")
t.eq(r.returncode, 3, "no AUTH=XOAUTH2 offered: exit 3")
t.like(r.err, "offers no AUTH=XOAUTH2", "the reason logged")
t.ok(not any("AUTHENTICATE" in line for line in ss.received(2)),
     "nothing sent for it", ss.received(2))

# POP3 OAUTHBEARER: an error challenge, then another: cancelled.
def bearer(tok, port):
    return base64.b64encode(("n,a=eddy,\x01host=127.0.0.1\x01port=%d\x01"
                             "auth=Bearer %s\x01\x01" % (port, tok))
                            .encode()).decode()


pport = mhtest.free_port()
capa = ("+OK\r\nUIDL\r\nPIPELINING\r\nSASL PLAIN OAUTHBEARER\r\n"
        ".\r\n")
ps = mhtest.ScriptServer(tmp, [
    [{"send": "+OK hi\r\n"},
     {"expect": r"CAPA$", "send": capa},
     {"expect": r"AUTH OAUTHBEARER (\S+)$", "send": "+ %s\r\n" % ERR},
     {"expect": r"AQ==$", "send": "+ eyJtb3JlIjoxfQ==\r\n"},
     {"expect": r"\*$", "send": "-ERR [AUTH] cancelled\r\n"},
     {"expect": r"AUTH OAUTHBEARER (\S+)$", "send": "+OK welcome\r\n"},
     {"expect": r"LIST$", "send": "+OK\r\n.\r\n"},
     {"expect": r"UIDL$", "send": "+OK\r\n.\r\n"},
     {"expect": r"QUIT$", "send": "+OK bye\r\n"}]],
    implicit_tls=True, ca=ca, port=pport)
ts.access_tokens = [AT1, AT2]
prc = env.rc("poll pop.example.net via 127.0.0.1 proto POP3 port %d "
             "auth oauthbearer\n  user eddy there is eddy here ssl "
             "sslcertfile %s oauth2file %s\n" % (pport, ca.ca_file, acct))
r = env.run(prc, "-c", "-v")
if not t.eq(r.returncode, 1, "POP3 OAUTHBEARER: in after a cancelled try "
            "and one retry (exit 1: no mail)"):
    t.diag(r.err[-3000:])
got = ps.received(1)
t.eq(got[1:5], ["AUTH OAUTHBEARER " + bearer(AT1, pport), "AQ==", "*",
                "AUTH OAUTHBEARER " + bearer(AT2, pport)],
     "RFC 7628 response, %x01 after the error, * after the second "
     "challenge, the retry")
t.like(r.err, "POP3> AUTH OAUTHBEARER ****\n", "the initial response traced "
       "as ****")
t.unlike(r.err, bearer(AT1, pport)[:20], "no payload in the trace")
t.unlike(r.err, "AT-SECRET", "no token in the trace")

# The rc file.
r = env.run(prc, "--configdump")
t.like(r.out, "auth oauthbearer", "--configdump shows the auth")
t.like(r.out, 'oauth2file "%s"' % acct, "--configdump shows the oauth2file")
bad = env.rc("poll pop.example.net proto POP3 auth xoauth2\n"
             "  user eddy is eddy here\n")
r = env.run(bad, "--configdump")
t.eq(r.returncode, 5, "auth xoauth2 without oauth2file: exit 5")
t.like(r.err, "%s:2: auth xoauth2 needs an oauth2file" % bad,
       "the error names file and line")
t.done()
