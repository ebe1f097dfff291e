#!/usr/bin/python3
# TLS is never optional once asked for: STARTTLS and implicit TLS verified
# against the test CA, a certificate from an unknown CA or for another name
# refused before anything is sent, a server without STARTTLS gets no AUTH
# and no mail, and credentials never go out in plaintext.
import os
import socket
import ssl
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest
from smtpclib import smtpc, show

t = mhtest.Test()
tmp = mhtest.tmpdir()
ca = mhtest.CA(os.path.join(tmp, "ca"))
other = mhtest.CA(os.path.join(tmp, "other"), name="unknown CA")
MSG = [("eddy@shofar.lan", ["x@isp.example"], b"Subject: s\r\n\r\nsecret body\r\n")]
AUTH = {"isp": "s3cret-pw"}


def mail_cmds(sh):
    return [c for c in sh.commands()
            if c.split(" ")[0].upper() in ("MAIL", "RCPT", "DATA", "AUTH", "BDAT")]


for mode, flag in (("starttls", "starttls"), ("smtps", "smtps")):
    sh = mhtest.SmartHost(tmp, tls=mode, ca=ca, auth=AUTH, auth_required=True,
                          name="sh-" + mode)
    r = smtpc(sh, MSG, tmp, tls=flag, ca=ca.ca_file, user="isp",
              password="s3cret-pw")
    t.eq(r["rc"], 0, mode + ": verified TLS, AUTH and delivery") or t.diag(show(r))
    got = sh.messages()
    t.eq((len(got), got[0]["tls"] if got else None,
          got[0]["auth_user"] if got else None), (1, True, "isp"),
         mode + ": message arrived over TLS, authenticated")

    r = smtpc(sh, MSG, tmp, tls=flag, ca=other.ca_file, user="isp",
              password="s3cret-pw")
    t.eq((r["rc"], r["kind"]), (2, "tls"), mode + ": unknown CA refused")
    t.like(r["hello"], "certificate verify failed", mode + ": reason names the verify failure")
    t.like(r["hello"], "unable to get local issuer", mode + ": and the verify result")
    t.eq(len(sh.messages(all=True)), 1, mode + ": nothing more sent")
    t.unlike(r["trace"], "AUTH", mode + ": no AUTH attempted")

    before = sh.connections()
    r = smtpc(sh, MSG, tmp, tls=flag, ca=ca.ca_file, certhost="mail.elsewhere.example",
              user="isp", password="s3cret-pw")
    t.eq((r["rc"], r["kind"]), (2, "tls"), mode + ": wrong host name refused")
    t.like(r["hello"], "hostname mismatch", mode + ": reason says hostname mismatch")
    cmds = [c for n in range(before + 1, sh.connections() + 1)
            for c in sh.commands(n)]
    t.eq([c for c in cmds if not c.upper().startswith(("EHLO", "STARTTLS"))],
         [], mode + ": at most EHLO/STARTTLS were sent on that connection")

# A server that offers no STARTTLS, but would take AUTH in plaintext.
sh = mhtest.SmartHost(tmp, tls="none", auth=AUTH, auth_require_tls=False,
                      name="sh-plain")
r = smtpc(sh, MSG, tmp, tls="starttls", ca=ca.ca_file, user="isp",
          password="s3cret-pw")
t.eq((r["rc"], r["kind"]), (2, "tls"), "STARTTLS required but not offered: refused")
t.like(r["hello"], "does not offer STARTTLS", "the error says why")
t.eq(mail_cmds(sh), [], "no AUTH, no MAIL went to that server")

r = smtpc(sh, MSG, tmp, tls="none", user="isp", password="s3cret-pw")
t.eq((r["rc"], r["kind"]), (2, "auth"), "no TLS at all: credentials withheld")
t.like(r["hello"], "without TLS", "the error says why")
t.eq(mail_cmds(sh), [], "still no AUTH and no MAIL")
t.eq(sh.messages(all=True), [], "nothing delivered unauthenticated")

r = smtpc(sh, MSG, tmp, tls="none", user="isp", password="s3cret-pw",
          plain_ok=True)
t.eq(r["rc"], 0, "plaintext AUTH to loopback only when the caller allows it") \
    or t.diag(show(r))

# STARTTLS injection (CVE-2011-0411 class): a man in the middle appends a
# reply to the server's 220.  Read as the answer to the EHLO inside TLS it
# would fail the session; the client discards it with the plaintext.
cert, key = ca.issue("fake-smtp", ips=["127.0.0.1"])
sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
sctx.load_cert_chain(cert, key)
lsock = socket.socket()
lsock.bind(("127.0.0.1", 0))
lsock.listen(1)
seen = []


class Fake:
    host, port = "127.0.0.1", lsock.getsockname()[1]


def fake_smtp():
    conn, _ = lsock.accept()
    conn.settimeout(10)
    f = conn.makefile("rb")
    conn.sendall(b"220 fake ESMTP\r\n")
    seen.append(f.readline())                               # EHLO
    conn.sendall(b"250-fake\r\n250 STARTTLS\r\n")
    seen.append(f.readline())                               # STARTTLS
    conn.sendall(b"220 go ahead\r\n554 5.7.0 injected\r\n")
    s = sctx.wrap_socket(conn, server_side=True)
    f = s.makefile("rb")
    replies = {b"EHLO": b"250-fake\r\n250 PIPELINING\r\n", b"MAIL": b"250 ok\r\n",
               b"RCPT": b"250 ok\r\n", b"DATA": b"354 go\r\n",
               b"QUIT": b"221 bye\r\n"}
    data = False
    while True:
        line = f.readline()
        if not line:
            break
        seen.append(line)
        if data:
            if line == b".\r\n":
                data = False
                s.sendall(b"250 2.0.0 queued\r\n")
            continue
        w = line.split()[0].upper() if line.split() else b""
        data = w == b"DATA"
        s.sendall(replies.get(w, b"500 what\r\n"))
        if w == b"QUIT":
            break
    s.close()


th = threading.Thread(target=fake_smtp, daemon=True)
th.start()
r = smtpc(Fake, MSG, tmp, tls="starttls", ca=ca.ca_file)
th.join(10)
t.eq(r["rc"], 0, "reply injected before the TLS handshake is not read as a reply") \
    or t.diag(show(r))
t.like(r["trace"], "discarded 20 octets received before the TLS handshake",
       "the discard is logged")
t.eq(r["msgs"][0]["rcpts"]["x@isp.example"][0] if r["msgs"] else None, 250,
     "and the message went through over TLS")
t.done()
