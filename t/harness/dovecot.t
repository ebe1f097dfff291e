#!/usr/bin/python3
# The private Dovecot of t/lib: POP3 and IMAP over plaintext, STARTTLS and
# implicit TLS verified against the test CA, pre-filled Maildirs.
import hashlib
import imaplib
import os
import poplib
import ssl
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest

t = mhtest.Test()
tmp = mhtest.tmpdir()
ca = mhtest.CA(os.path.join(tmp, "ca"))
other = mhtest.CA(os.path.join(tmp, "other"), name="unrelated CA")
dc = mhtest.Dovecot(tmp, users={"eddy": "pw1", "keith": "pw2"}, ca=ca,
                    compress=True, apop=True)
M = [b"From: a@example.org\r\nSubject: m%d\r\n\r\nbody %d\r\n" % (i, i)
     for i in range(3)]
for m in M:
    dc.deliver("eddy", m)
dc.deliver("keith", M[0])
t.eq(dc.count("eddy"), 3, "three messages pre-filled for eddy")
H = "127.0.0.1"


def pop_login(mode, ctx):
    if mode == "pop3s":
        p = poplib.POP3_SSL(H, dc.pop3s, context=ctx, timeout=10)
    else:
        p = poplib.POP3(H, dc.pop3, timeout=10)
        if mode == "stls":
            p.stls(context=ctx)
    p.user("eddy")
    p.pass_("pw1")
    return p


for mode in ("plain", "stls", "pop3s"):
    p = pop_login(mode, ca.context())
    n, size = p.stat()
    t.eq(n, 3, "POP3 %s: sees the 3 pre-filled messages" % mode)
    t.eq(b"\r\n".join(p.retr(2)[1]) + b"\r\n", M[1], "POP3 %s: RETR returns the message" % mode)
    p.quit()

p = poplib.POP3(H, dc.pop3, timeout=10)
capa = p.capa()
t.ok("STLS" in capa and "PIPELINING" in capa and "UIDL" in capa,
     "POP3 CAPA lists STLS, PIPELINING, UIDL", capa)
ts = p.welcome.split()[-1]
t.ok(ts.startswith(b"<"), "APOP timestamp in the greeting")
p.apop("keith", "pw2")
t.eq(p.stat()[0], 1, "APOP login works (keith sees 1 message)")
p.quit()

try:
    pop_login("pop3s", other.context())
    t.ok(False, "POP3S: unknown CA refused")
except ssl.SSLCertVerificationError as e:
    t.like(str(e), "unable to get local issuer", "POP3S: unknown CA refused")
p = poplib.POP3(H, dc.pop3, timeout=10)
p.user("eddy")
try:
    p.pass_("wrong")
    t.ok(False, "wrong password refused")
except poplib.error_proto as e:
    t.like(str(e), "-ERR", "POP3: wrong password refused")
p.close()

p = pop_login("stls", ca.context())
p.dele(1)
p.quit()
t.eq(dc.messages("eddy"), M[1:], "POP3 DELE+QUIT removes the message from the Maildir")

for mode in ("plain", "starttls", "imaps"):
    ctx = ca.context()
    if mode == "imaps":
        i = imaplib.IMAP4_SSL(H, dc.imaps, ssl_context=ctx, timeout=10)
    else:
        i = imaplib.IMAP4(H, dc.imap, timeout=10)
        if mode == "plain":
            t.ok("STARTTLS" in i.capabilities, "IMAP advertises STARTTLS")
        else:
            i.starttls(ssl_context=ctx)
    i.login("eddy", "pw1")
    typ, data = i.select("INBOX")
    t.eq(data, [b"2"], "IMAP %s: INBOX holds 2 messages" % mode)
    typ, data = i.uid("FETCH", "1:*", "(BODY.PEEK[])")
    bodies = [d[1] for d in data if isinstance(d, tuple)]
    t.eq(bodies, M[1:], "IMAP %s: UID FETCH returns them" % mode)
    if mode == "imaps":
        typ, caps = i.capability()
        t.like(caps[0].decode(), "COMPRESS=DEFLATE", "IMAP COMPRESS=DEFLATE after login with compress=True")
        i.store("1", "+FLAGS", "\\Seen")
        i.close()
    i.logout()
t.ok(dc.files("eddy")[0][0].endswith(":2,S"), "a \\Seen flag shows in the Maildir file name")

try:
    imaplib.IMAP4_SSL(H, dc.imaps, ssl_context=other.context(), timeout=10)
    t.ok(False, "IMAPS: unknown CA refused")
except ssl.SSLCertVerificationError as e:
    t.like(str(e), "unable to get local issuer", "IMAPS: unknown CA refused")

# Restart keeps ports and mail.
dc.stop()
dc.start()
p = pop_login("plain", None)
t.eq(p.stat()[0], 2, "after a restart the same port serves the same mailbox")
p.quit()
dc.stop()

# ssl=False: no STARTTLS at all.
dn = mhtest.Dovecot(tmp, users={"eddy": "pw"}, ssl=False, name="plain")
p = poplib.POP3(H, dn.pop3, timeout=10)
t.ok("STLS" not in p.capa(), "ssl=False: POP3 offers no STLS")
p.quit()
i = imaplib.IMAP4(H, dn.imap, timeout=10)
t.ok("STARTTLS" not in i.capabilities, "ssl=False: IMAP offers no STARTTLS")
t.ok("COMPRESS=DEFLATE" not in i.capabilities, "no COMPRESS without compress=True")
i.logout()
t.eq((dn.pop3s, dn.imaps), (None, None), "ssl=False: no implicit TLS ports")
t.done()
