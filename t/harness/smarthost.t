#!/usr/bin/python3
# The aiosmtpd smart host of t/lib: TLS modes against the test CA, AUTH,
# scripted replies and dropped connections, seen by Python's smtplib.
import os
import socket
import ssl
import smtplib
import sys
import base64
import hmac
import hashlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest

t = mhtest.Test()
tmp = mhtest.tmpdir()
ca = mhtest.CA(os.path.join(tmp, "ca"))
other = mhtest.CA(os.path.join(tmp, "other"), name="unrelated CA")
MSG = b"From: a@example.org\r\nSubject: t\r\n\r\n.leading dot\r\nbody\r\n"


def connect(sh, ctx, host="127.0.0.1"):
    if sh.tls == "smtps":
        s = smtplib.SMTP_SSL(host, sh.port, context=ctx, timeout=10)
    else:
        s = smtplib.SMTP(host, sh.port, timeout=10)
    s.ehlo("client.test")
    if sh.tls == "starttls":
        s.starttls(context=ctx)
        s.ehlo("client.test")
    return s


for mode in ("starttls", "smtps"):
    sh = mhtest.SmartHost(tmp, tls=mode, ca=ca, auth={"isp": "s3cret"},
                          auth_required=True, name="sh-" + mode)
    s = connect(sh, ca.context())
    t.like(s.esmtp_features.get("auth", ""), "PLAIN", mode + ": AUTH PLAIN offered under TLS")
    t.like(s.esmtp_features.get("auth", ""), "LOGIN", mode + ": AUTH LOGIN offered under TLS")
    t.ok("starttls" not in s.esmtp_features, mode + ": no STARTTLS offered once in TLS")
    try:
        s.login("isp", "wrong")
        t.ok(False, mode + ": wrong password refused")
    except smtplib.SMTPAuthenticationError as e:
        t.eq(e.smtp_code, 535, mode + ": wrong password refused with 535")
    try:
        s.sendmail("a@example.org", ["b@example.net"], MSG)
        t.ok(False, mode + ": unauthenticated MAIL refused")
    except smtplib.SMTPSenderRefused as e:
        t.eq(e.smtp_code, 530, mode + ": unauthenticated MAIL refused with 530")
    s.user, s.password = "isp", "s3cret"
    t.eq(s.auth("LOGIN", s.auth_login)[0], 235, mode + ": AUTH LOGIN accepted")
    s.sendmail("a@example.org", ["b@example.net", "c@example.net"], MSG)
    s.quit()
    s = connect(sh, ca.context())
    s.login("isp", "s3cret")        # smtplib prefers PLAIN
    s.sendmail("<>", ["d@example.net"], MSG)
    s.quit()
    m = sh.messages()
    t.eq(len(m), 2, mode + ": two messages recorded")
    t.eq(m[0]["rcpt_tos"], ["b@example.net", "c@example.net"], mode + ": envelope recipients")
    t.eq(m[0]["mail_from"], "a@example.org", mode + ": envelope sender")
    t.eq(m[1]["mail_from"], "<>", mode + ": null sender kept")
    t.eq(m[0]["data"], MSG, mode + ": data exactly as sent (dot-unstuffed)")
    t.eq((m[0]["auth_user"], m[0]["tls"], m[0]["conn"], m[1]["conn"]),
         ("isp", True, 1, 2), mode + ": auth user, TLS and connection number")
    t.eq(sh.connections(), 2, mode + ": two connections counted")
    cmds = sh.commands(1)
    t.ok(any(c.upper().startswith("AUTH LOGIN") for c in cmds),
         mode + ": command log shows AUTH LOGIN")
    # Verification is real: the unrelated CA and a wrong host name fail.
    try:
        connect(sh, other.context())
        t.ok(False, mode + ": certificate from an unknown CA refused")
    except ssl.SSLCertVerificationError as e:
        t.like(str(e), "unable to get local issuer", mode + ": certificate from an unknown CA refused")
    try:
        ctx = ca.context()
        if mode == "smtps":
            s = smtplib.SMTP_SSL("127.0.0.1", sh.port, context=ctx, timeout=10)
        s = smtplib.SMTP(sh.host, sh.port, timeout=10) if mode == "starttls" else None
        if s:
            s.ehlo("x")
            s._host = "wrong.example"
            s.starttls(context=ctx)
        else:
            with socket.create_connection((sh.host, sh.port), 5) as raw:
                ctx.wrap_socket(raw, server_hostname="wrong.example")
        t.ok(False, mode + ": host name mismatch refused")
    except ssl.SSLCertVerificationError as e:
        t.like(str(e), "mismatch", mode + ": host name mismatch refused")
    sh.stop()

# Plain server, STARTTLS not offered; AUTH only under TLS by default.
sh = mhtest.SmartHost(tmp, tls="none", auth={"isp": "pw"}, name="sh-plain",
                      pipelining=False)
s = connect(sh, None)
t.ok("starttls" not in s.esmtp_features and "auth" not in s.esmtp_features,
     "plain: neither STARTTLS nor AUTH offered")
t.ok("pipelining" not in s.esmtp_features, "plain: PIPELINING can be withheld")
s.quit()
sh.stop()

# A careless server that offers AUTH in clear: the log shows what was sent.
sh = mhtest.SmartHost(tmp, tls="none", auth={"isp": "pw"}, name="sh-clear",
                      auth_require_tls=False)
s = connect(sh, None)
t.ok("auth" in s.esmtp_features, "auth_require_tls=False: AUTH offered without TLS")
s.login("isp", "pw")
s.quit()
ev = [e for e in sh.conn_log(1) if e["ev"] == "cmd" and e["line"].upper().startswith("AUTH")]
t.eq([e["tls"] for e in ev], [False], "command log marks the AUTH as sent in clear")
sh.stop()

# Scripted replies, drops, SIZE.
sh = mhtest.SmartHost(tmp, name="sh-script", size=10000,
                      rcpt={"bad@example.net": 550,
                            "busy@example.net": {"reply": 450, "times": 2}},
                      data_replies={"2": "451 4.3.0 try again"},
                      drop_after_messages=3)
s = connect(sh, None)
t.ok("pipelining" in s.esmtp_features, "PIPELINING advertised by default")
t.eq(s.esmtp_features.get("size"), "10000", "SIZE limit advertised")
refused = s.sendmail("a@example.org", ["ok@example.net", "bad@example.net",
                                       "busy@example.net"], MSG)
t.eq({k: v[0] for k, v in refused.items()},
     {"bad@example.net": 550, "busy@example.net": 450}, "scripted 550 and 450 per recipient")
try:
    s.sendmail("a@example.org", ["busy@example.net"], MSG)
    t.ok(False, "second 450 for busy@")
except smtplib.SMTPRecipientsRefused as e:
    t.eq(e.recipients["busy@example.net"][0], 450, "450 repeated while times lasts")
try:
    s.sendmail("a@example.org", ["busy@example.net"], MSG)
    t.ok(False, "scripted 451 for the 2nd DATA")
except smtplib.SMTPDataError as e:
    t.eq(e.smtp_code, 451, "scripted 451 for the 2nd DATA; busy@ accepted on the 3rd try")
try:
    s.sendmail("a@example.org", ["x@example.net"], b"x" * 20000 + b"\r\n")
    t.ok(False, "oversize message refused")
except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as e:
    t.eq(e.smtp_code, 552, "oversize message refused with 552")
s.sendmail("a@example.org", ["x@example.net"], MSG)   # accepted no. 2
ok3 = s.sendmail("a@example.org", ["y@example.net"], MSG)   # no. 3, then drop
t.eq(ok3, {}, "third message accepted")
try:
    s.noop()
    dropped = False
except (smtplib.SMTPServerDisconnected, ConnectionError):
    dropped = True
t.ok(dropped, "connection dropped after the 3rd accepted message")
t.eq([m["rcpt_tos"] for m in sh.messages()],
     [["ok@example.net"], ["x@example.net"], ["y@example.net"]],
     "accepted messages recorded once each")
t.eq(len(sh.messages(all=True)), 4, "the 451 message is recorded with all=True")
s = connect(sh, None)
s.sendmail("a@example.org", ["z@example.net"], MSG)
s.quit()
t.eq((len(sh.messages()), sh.connections()), (4, 2), "server goes on after the drop")
sh.stop()

# Mid-DATA drop and drop before the reply.
sh = mhtest.SmartHost(tmp, name="sh-drop", drop_in_data=[1, 20],
                      drop_before_reply=2)
s = connect(sh, None)
try:
    s.sendmail("a@example.org", ["x@example.net"], MSG)
    t.ok(False, "dropped in DATA")
except (smtplib.SMTPServerDisconnected, ConnectionError):
    t.ok(True, "connection dropped in DATA")
s = connect(sh, None)
try:
    s.sendmail("a@example.org", ["x@example.net"], MSG)
    t.ok(False, "dropped before reply")
except (smtplib.SMTPServerDisconnected, ConnectionError):
    t.ok(True, "connection dropped after DATA, before the reply")
m = sh.messages(all=True)
t.eq([(r["dropped"], r["size"]) for r in m], [("in-data", 20), ("before-reply", len(MSG))],
     "dropped transactions recorded with what arrived")
t.eq(sh.messages(), [], "nothing counted as accepted")
sh.stop()

# CHUNKING/BDAT, CRAM-MD5 and XOAUTH2 on a raw socket.
sh = mhtest.SmartHost(tmp, tls="smtps", ca=ca, name="sh-chunk", chunking=True,
                      auth={"isp": "pw"}, tokens={"isp": "tok"},
                      auth_mechs=["PLAIN", "CRAM-MD5", "XOAUTH2"])
s = connect(sh, ca.context())
t.ok("chunking" in s.esmtp_features, "CHUNKING advertised on request")
t.eq(sorted(s.esmtp_features["auth"].split()), ["CRAM-MD5", "PLAIN", "XOAUTH2"], "AUTH mechanisms as configured")
code, chal = s.docmd("AUTH", "CRAM-MD5")
t.eq(code, 334, "CRAM-MD5 challenge")
digest = hmac.new(b"pw", base64.b64decode(chal), hashlib.md5).hexdigest()
t.eq(s.docmd(base64.b64encode(b"isp " + digest.encode()).decode())[0], 235, "CRAM-MD5 accepted")
s.docmd("MAIL", "FROM:<a@example.org>")
s.docmd("RCPT", "TO:<b@example.net>")
s.send(b"BDAT 10\r\n" + MSG[:10])
t.eq(s.getreply()[0], 250, "BDAT chunk accepted")
s.send(b"BDAT %d LAST\r\n" % (len(MSG) - 10) + MSG[10:])
t.eq(s.getreply()[0], 250, "BDAT LAST accepted")
s.quit()
s = connect(sh, ca.context())
bad = base64.b64encode(b"user=isp\x01auth=Bearer nope\x01\x01").decode()
code, _ = s.docmd("AUTH", "XOAUTH2 " + bad)
t.eq((code, s.docmd("")[0]), (334, 535), "XOAUTH2 with a bad token: 334 error, then 535")
good = base64.b64encode(b"user=isp\x01auth=Bearer tok\x01\x01").decode()
t.eq(s.docmd("AUTH", "XOAUTH2 " + good)[0], 235, "XOAUTH2 with the right token accepted")
s.quit()
m = sh.messages()
t.eq((m[0]["via"], m[0]["data"], m[0]["auth_user"]), ("BDAT", MSG, "isp"), "BDAT message recorded whole")
sh.stop()

# EHLO refused (HELO fallback), extra capabilities, STARTTLS and AUTH replies.
sh = mhtest.SmartHost(tmp, name="sh-helo", ehlo=False)
s = smtplib.SMTP("127.0.0.1", sh.port, timeout=10)
t.eq(s.ehlo("c.test")[0], 502, "ehlo=False: EHLO answered 502")
t.eq(s.helo("c.test")[0], 250, "and HELO works")
s.sendmail("a@example.org", ["b@example.net"], MSG)
s.quit()
t.eq(sh.messages()[0]["helo"], "c.test", "message received after HELO")
sh.stop()
sh = mhtest.SmartHost(tmp, tls="starttls", ca=ca, name="sh-454",
                      starttls_reply="454 4.7.0 TLS not available",
                      ehlo_extra=["X-TEST-CAP", "DSN"])
s = smtplib.SMTP("127.0.0.1", sh.port, timeout=10)
s.ehlo("c.test")
t.ok("x-test-cap" in s.esmtp_features and "starttls" in s.esmtp_features,
     "extra capabilities advertised next to STARTTLS")
t.eq(s.docmd("STARTTLS")[0], 454, "starttls_reply: STARTTLS answered 454")
s.quit()
sh.stop()
sh = mhtest.SmartHost(tmp, tls="smtps", ca=ca, name="sh-auth454", auth={"isp": "pw"},
                      auth_reply="454 4.7.0 Temporary authentication failure")
s = connect(sh, ca.context())
try:
    s.login("isp", "pw")
    t.ok(False, "auth_reply")
except smtplib.SMTPAuthenticationError as e:
    t.eq(e.smtp_code, 454, "auth_reply: AUTH answered 454 even with the right password")
s.quit()
sh.stop()

# Over a command's stdin/stdout (smarthost-command): swaks speaks through it.
import subprocess
sh = mhtest.SmartHost(tmp, name="sh-pipe")
r = mhtest.run(["swaks", "--pipe", mhtest.stdio_command(sh.port), "--from", "a@example.org",
                "--to", "b@example.net", "--helo", "c.test", "--body", "via a pipe"], timeout=30)
t.eq(r.returncode, 0, "swaks over stdio_command() delivers", )
m = sh.messages()
t.ok(len(m) == 1 and b"via a pipe" in m[0]["data"], "message arrived through the relay command",
     r.out + r.err)
sh.stop()

# Slow greeting, short idle timeout.
import time
sh = mhtest.SmartHost(tmp, name="sh-slow", greeting_delay=0.5, timeout=1)
t0 = time.monotonic()
s = smtplib.SMTP("127.0.0.1", sh.port, timeout=5)
t.ok(time.monotonic() - t0 >= 0.45, "greeting_delay holds the greeting back")
time.sleep(1.5)
try:
    s.noop()
    t.ok(False, "idle timeout")
except (smtplib.SMTPServerDisconnected, ConnectionError):
    t.ok(True, "timeout=1: an idle client is dropped")
sh.stop()

# A refusing greeting.
sh = mhtest.SmartHost(tmp, name="sh-421", greeting="421 4.3.2 busy")
try:
    smtplib.SMTP("127.0.0.1", sh.port, timeout=5)
    t.ok(False, "421 greeting")
except smtplib.SMTPConnectError as e:
    t.eq(e.smtp_code, 421, "scripted 421 greeting refuses the connection")
sh.stop()
t.done()
