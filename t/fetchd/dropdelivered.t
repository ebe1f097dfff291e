#!/usr/bin/python3
# dropdelivered, as fetchmail: the Delivered-To: fields (folded ones whole)
# are dropped from the message before it is reinjected, over SMTP and
# through an mda; every other line of the header and the body arrive as
# fetched.  Without the keyword the message is untouched.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fetchdlib as F  # noqa: E402
import mhtest  # noqa: E402

t = mhtest.Test()
tmp = mhtest.tmpdir()
env = F.Env(tmp)
ca = mhtest.CA(tmp + "/ca")
dc = mhtest.Dovecot(tmp, users={"eddy": "pw1"}, ca=ca)
sh = mhtest.SmartHost(tmp)
out = os.path.join(tmp, "mda.out")

HEAD = ("Delivered-To: eddy@isp.example.net\r\n"
        "Return-Path: <alice@example.org>\r\n"
        "From: Alice <alice@example.org>\r\n"
        "delivered-to: folded@isp.example.net,\r\n"
        "  second-line@isp.example.net\r\n"
        "To: eddy@example.net\r\n"
        "X-Delivered-To: stays@example.net\r\n"
        "Subject: drop %d\r\n")
BODY = "\r\nDelivered-To: in the body stays\r\nbye\r\n"


def rc(proto, port, opts, mda=""):
    return env.rc(F.poll_line(dc, port, proto) +
                  '  user "eddy" there with password "pw1" is eddy here '
                  '%s\n  sslcertfile %s smtphost 127.0.0.1/%d %s\n'
                  % (opts, ca.ca_file, sh.port, mda))


def headers(data):
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    return [line for line in head.split("\r\n")[1:]]   # after Received:


def check(data, i, name):
    want = ["Return-Path: <alice@example.org>",
            "From: Alice <alice@example.org>", "To: eddy@example.net",
            "X-Delivered-To: stays@example.net", "Subject: drop %d" % i]
    t.eq(headers(data), want, name + ": Delivered-To: fields dropped, the "
         "rest in order")
    t.ok(data.endswith(BODY.encode()), name + ": the body as fetched",
         data[-80:])


for i, (proto, port) in enumerate((("POP3", dc.pop3), ("IMAP", dc.imap))):
    dc.deliver("eddy", (HEAD % i + BODY).encode())
    r = env.run(rc(proto, port, "dropdelivered"))
    t.eq(r.returncode, 0, "%s dropdelivered: exit 0" % proto)
    msgs = sh.messages()
    check(msgs[-1]["data"] if msgs else b"", i, proto + " over SMTP")

dc.deliver("eddy", (HEAD % 2 + BODY).encode())
r = env.run(rc("POP3", dc.pop3, "dropdelivered", 'mda "cat > %s"' % out))
t.eq(r.returncode, 0, "mda dropdelivered: exit 0")
with open(out, "rb") as f:
    data = f.read().replace(b"\n", b"\r\n")    # stripcr with an mda
check(data, 2, "mda")

dc.deliver("eddy", (HEAD % 3 + BODY).encode())
r = env.run(rc("POP3", dc.pop3, ""))
msgs = sh.messages()
t.like(msgs[-1]["data"].decode() if msgs else "",
       "\r\n" + HEAD % 3 + BODY, "without dropdelivered: untouched")
t.done()
