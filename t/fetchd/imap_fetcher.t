#!/usr/bin/python3
# fetchd's IMAP fetcher (fetchd/fetch_imap.c) driven through the fetch.h
# contract by t/common/imapfetch, in the poll loop's order (open, list,
# fetch, delete or mark_seen, idle, commit), against a real Dovecot and,
# for what Dovecot will not do, a scripted server:
#   plaintext (sslproto ''), STARTTLS and implicit TLS with the test CA;
#   an unknown CA, a missing STARTTLS and a PREAUTH greeting abort before
#   a password is sent (CVE-2021-39272); messages arrive byte-identical,
#   big ones in partial fetches; BODY.PEEK leaves them unseen and a listing
#   twice gives the same UIDVALIDITY/UID uids; \Deleted + UID EXPUNGE
#   removes exactly the delivered ones; COMPRESS=DEFLATE is used when
#   offered; IDLE wakes on new mail; LOGINDISABLED means AUTHENTICATE
#   PLAIN; the password never shows in the -v trace; malformed server data
#   is a protocol error, never a crash.
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest

PW = 'pw"{7}\\sec-ret'      # quoted and literal-worthy: both trace paths
t = mhtest.Test()
tmp = mhtest.tmpdir()
ca = mhtest.CA(os.path.join(tmp, "ca"))
other = mhtest.CA(os.path.join(tmp, "other"), name="unknown CA")
dc = mhtest.Dovecot(tmp, users={"eddy": PW, "kim": "pw-kim"}, ca=ca,
                    compress=True)
B = mhtest.bin("t/common/imapfetch")


def imapfetch(port, mode, action="fetch", user="eddy", pw=PW, out=None,
              cafile=None, opts=(), timeout=30):
    argv = [B] + list(opts) + ["127.0.0.1", str(port), mode,
                               cafile or ca.ca_file, user, pw, action]
    if out:
        os.makedirs(out, exist_ok=True)
        argv.append(out)
    return mhtest.run(argv, timeout=timeout)


def msgs(out):
    return [line.split() for line in out.splitlines()
            if line.startswith("msg ")]


def bodies(d):
    return [open(os.path.join(d, n), "rb").read()
            for n in sorted(os.listdir(d), key=int)]


small = [b"From: a@b.example\r\nSubject: %d\r\n\r\nbody %d\r\n" % (i, i)
         for i in range(3)]
big = (b"From: a@b.example\r\nSubject: big\r\n\r\n"
       + b"".join(b"%06d " % i + b"y" * 70 + b"\r\n" for i in range(20000)))
for m in small + [big]:
    dc.deliver("eddy", m)
want = small + [big]

# --- the three TLS modes ---------------------------------------------------
for mode, port in (("none", dc.imap), ("starttls", dc.imap),
                   ("ssl", dc.imaps)):
    out = os.path.join(tmp, "out-" + mode)
    r = imapfetch(port, mode, out=out, opts=["-v"])
    t.ok(r.returncode == 0 and "commit" in r.out,
         "%s: open, list, fetch, commit" % mode, r.out + r.err[-2000:])
    t.eq(bodies(out) if os.path.isdir(out) else None, want,
         "%s: 4 messages byte-identical (one of %d octets)" % (mode, len(big)))
    m = msgs(r.out)
    t.ok(len(m) == 4 and all(x[5] == "complete" and x[2] == x[3]
                             for x in m),
         "%s: every message complete, octets as announced" % mode, r.out)
    t.ok(PW not in r.err and "sec-ret" not in r.err and "IMAP> " in r.err,
         "%s: -v traces IMAP but never the password" % mode)
    if mode == "none":
        t.ok(not re.search(r"IMAP> \S+ STARTTLS", r.err),
             "sslproto '': no STARTTLS")
    if mode == "starttls":
        t.like(r.err, "Begin TLS", "STARTTLS negotiated")
    t.like(r.err, "OK Begin compression",
           "%s: COMPRESS=DEFLATE used when offered" % mode)
    t.ok(re.search(r"UID FETCH 1,2,3 \(UID BODY\.PEEK\[\]\)", r.err),
         "%s: small messages in one UID FETCH" % mode)
    t.ok(re.search(r"BODY\.PEEK\[\]<262144\.262144>", r.err)
         and not re.search(r"IMAP< .*yyyy", r.err),
         "%s: the big one in partial fetches, no message text traced"
         % mode)

r = imapfetch(dc.imap, "starttls", action="list")
uids1 = [x.split()[1] for x in r.out.splitlines() if x.startswith("uid ")]
r2 = imapfetch(dc.imap, "starttls", action="list")
t.ok(r.returncode == 0 and "list 4" in r.out and r.out == r2.out,
     "a second listing gives the same uids", r.out + r2.out)
t.ok(all(re.fullmatch(r"[1-9][0-9]*/[1-4]", u) for u in uids1)
     and len(set(u.split("/")[0] for u in uids1)) == 1,
     "uids are UIDVALIDITY/UID", uids1)
t.ok(not any(":2," in n and "S" in n.split(":2,")[1]
             for n, _ in dc.files("eddy")),
     "BODY.PEEK leaves messages unseen on the server")

# --- refusals before the password ------------------------------------------
r = imapfetch(dc.imap, "starttls", cafile=other.ca_file)
t.ok(r.returncode == 1 and "fail open 2:" in r.out
     and "certificate verify failed" in r.out,
     "unknown CA: refused (PS_SOCKET)", r.out)
r = imapfetch(dc.imaps, "ssl", cafile=other.ca_file)
t.like(r.out, "certificate verify failed", "unknown CA refused on imaps")

ss = mhtest.ScriptServer(tmp, [
    [{"send": "* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n"},
     {"expect": r"(\S+) ", "send": "{1} BAD no\r\n"}],
], tls=True, ca=ca)
r = imapfetch(ss.port, "starttls")
time.sleep(0.2)
t.ok(r.returncode == 1 and "fail open 2:" in r.out and "PREAUTH" in r.out,
     "PREAUTH greeting with TLS required: aborted (PS_SOCKET)", r.out)
t.eq(ss.received(), [], "PREAUTH: not one octet sent (CVE-2021-39272)")
ss.stop()

ss = mhtest.ScriptServer(tmp, [
    [{"send": "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n"},
     {"expect": r"(\S+) CAPABILITY",
      "send": "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{1} OK done\r\n"},
     {"expect": r"(\S+) ", "send": "{1} OK whatever\r\n"}],
])
r = imapfetch(ss.port, "starttls")
time.sleep(0.2)
t.ok(r.returncode == 1 and "fail open 2:" in r.out
     and "STARTTLS" in r.out, "no STARTTLS offered: refused", r.out)
t.ok(not any("LOGIN" in x or "AUTHENTICATE" in x for x in ss.received()),
     "no STARTTLS: no password sent", ss.received())
ss.stop()

# --- LOGINDISABLED: AUTHENTICATE PLAIN, its payload masked ------------------
ss = mhtest.ScriptServer(tmp, [
    [{"send": "* OK [CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=PLAIN] hi\r\n"},
     {"expect": r"(\S+) AUTHENTICATE PLAIN", "send": "+ \r\n"},
     {"expect": r"(\S+)$", "send": "* CAPABILITY IMAP4rev1\r\n"},
     {"expect": r"(\S+) CAPABILITY",
      "send": "* CAPABILITY IMAP4rev1\r\n{1} OK done\r\n"},
     {"expect": r"(\S+) SELECT",
      "send": "* 0 EXISTS\r\n* OK [UIDVALIDITY 7] x\r\n{1} OK sel\r\n"},
     {"expect": r"(\S+) LOGOUT", "send": "* BYE\r\n{1} OK bye\r\n"}],
])
r = imapfetch(ss.port, "none", action="list", opts=["-v"])
rec = ss.received()
t.ok(any(re.match(r"\S+ AUTHENTICATE PLAIN$", x) for x in rec)
     and not any(" LOGIN " in x for x in rec),
     "LOGINDISABLED: AUTHENTICATE PLAIN, not LOGIN", rec)
t.ok("cHc" not in r.err and "sec-ret" not in r.err
     and not any(x in r.err for x in rec if re.fullmatch(r"[A-Za-z0-9+/=]{8,}", x)),
     "the SASL payload is masked in the trace", r.err[-1500:])
ss.stop()

# --- untrusted server data -------------------------------------------------
def select_then(lines):
    return [[{"send": "* OK [CAPABILITY IMAP4rev1] hi\r\n"},
             {"expect": r"(\S+) LOGIN", "send": "{1} OK in\r\n"},
             {"expect": r"(\S+) CAPABILITY",
              "send": "* CAPABILITY IMAP4rev1\r\n{1} OK done\r\n"},
             {"expect": r"(\S+) SELECT", "send": lines[0]},
             {"expect": r"(\S+) UID SEARCH UNSEEN",
              "send": lines[2] if len(lines) > 2 else
              "* SEARCH 5\r\n{1} OK s\r\n"},
             {"expect": r"(\S+) UID FETCH", "send": lines[1]},
             {"expect": r"(\S+) ", "send": "{1} BAD no\r\n"}]]


bad = [
    ("a UIDVALIDITY-less SELECT",
     ("* 1 EXISTS\r\n{1} OK sel\r\n", ""), "open 4"),
    ("4294967295 messages announced",
     ("* 4294967295 EXISTS\r\n* OK [UIDVALIDITY 3] x\r\n{1} OK sel\r\n", ""),
     "open 4"),
    ("a listing without RFC822.SIZE",
     ("* 1 EXISTS\r\n* OK [UIDVALIDITY 3] x\r\n{1} OK sel\r\n",
      "* 1 FETCH (UID 5 FLAGS ())\r\n{1} OK f\r\n"), "list 4"),
    ("UID 0",
     ("* 1 EXISTS\r\n* OK [UIDVALIDITY 3] x\r\n{1} OK sel\r\n",
      "* 1 FETCH (UID 0 FLAGS () RFC822.SIZE 10)\r\n{1} OK f\r\n"), "list 4"),
    ("a duplicate UID",
     ("* 2 EXISTS\r\n* OK [UIDVALIDITY 3] x\r\n{1} OK sel\r\n",
      "* 1 FETCH (UID 5 FLAGS () RFC822.SIZE 10)\r\n"
      "* 2 FETCH (UID 5 FLAGS () RFC822.SIZE 10)\r\n{1} OK f\r\n"), "list 4"),
    ("garbage in a FETCH response",
     ("* 1 EXISTS\r\n* OK [UIDVALIDITY 3] x\r\n{1} OK sel\r\n",
      "* 1 FETCH (UID 5 RFC822.SIZE 10\r\n{1} OK f\r\n"), "list 4"),
    ("a UID SEARCH answered with garbage",
     ("* 1 EXISTS\r\n* OK [UIDVALIDITY 3] x\r\n{1} OK sel\r\n", "",
      "* SEARCH 5 x\r\n{1} OK s\r\n"), "list 4"),
    ("a UID FETCH answered NO",
     ("* 1 EXISTS\r\n* OK [UIDVALIDITY 3] x\r\n{1} OK sel\r\n",
      "{1} NO [SERVERBUG] nope\x01\r\n"), "list 4"),
]
for name, lines, want_fail in bad:
    ss = mhtest.ScriptServer(tmp, select_then(lines))
    r = imapfetch(ss.port, "none", action="list")
    t.ok(r.returncode == 1 and ("fail " + want_fail + ":") in r.out,
         "untrusted data: %s is a protocol error" % name, r.out + r.err[-800:])
    ss.stop()

# A server that closes in the middle of a literal: libetpan would spin on
# the end of file forever; the fetcher gives up at once.
ss = mhtest.ScriptServer(tmp, [
    [{"send": "* OK [CAPABILITY IMAP4rev1] hi\r\n"},
     {"expect": r"(\S+) LOGIN", "send": "{1} OK in\r\n"},
     {"expect": r"(\S+) CAPABILITY",
      "send": "* CAPABILITY IMAP4rev1\r\n{1} OK done\r\n"},
     {"expect": r"(\S+) SELECT",
      "send": "* 1 EXISTS\r\n* OK [UIDVALIDITY 3] x\r\n{1} OK sel\r\n"},
     {"expect": r"(\S+) UID SEARCH UNSEEN",
      "send": "* SEARCH 5\r\n{1} OK s\r\n"},
     {"expect": r"(\S+) UID FETCH",
      "send": "* 1 FETCH (UID 5 FLAGS () RFC822.SIZE 100)\r\n{1} OK f\r\n"},
     {"expect": r"(\S+) UID FETCH",
      "send": "* 1 FETCH (UID 5 BODY[] {100}\r\nFrom: a@b\r\n"},
     {"close": True}]])
t0 = time.time()
r = imapfetch(ss.port, "none", timeout=20)
t.ok(r.returncode == 1 and "fail fetch 2:" in r.out and time.time() - t0 < 5,
     "connection closed inside a literal: a connection error at once",
     r.out + " %.1fs" % (time.time() - t0))
t.ok(not re.search(r" complete$", r.out, re.M), "the cut message is not handed over as whole",
     r.out)
ss.stop()

# --- mark seen, then drain: \Deleted + UID EXPUNGE ---------------------------
dc.deliver("kim", b"From: x@y\r\nSubject: s\r\n\r\nhi\r\n")
r = imapfetch(dc.imap, "starttls", action="seen", user="kim", pw="pw-kim")
t.ok(r.returncode == 0 and all(":2," in n and "S" in n.split(":2,")[1]
                               for n, _ in dc.files("kim")),
     "mark_seen sets \\Seen", r.out)
r = imapfetch(dc.imap, "starttls", action="list", user="kim", pw="pw-kim")
t.ok("list 0" in r.out, "a seen message is not listed (UID SEARCH UNSEEN; "
     "the loop's remembered uids aside)", r.out)

r = imapfetch(dc.imap, "starttls", action="drain", opts=["-v"])
t.ok(r.returncode == 0 and "deleted 4" in r.out and "commit" in r.out,
     "drain: 4 fetched, 4 deleted, committed", r.out + r.err[-1500:])
t.ok(re.search(r"IMAP> \S+ UID STORE 1:4 \+FLAGS\.SILENT \(\\Deleted\)",
               r.err) or re.search(r"IMAP> \S+ UID STORE 1,2,3,4 ", r.err),
     "one UID STORE +FLAGS.SILENT (\\Deleted) for the batch")
t.like(r.err, "UID EXPUNGE", "UID EXPUNGE of exactly those (UIDPLUS)")
t.eq(dc.count("eddy"), 0, "the mailbox is empty afterwards")

# A message \Deleted by someone else is not expunged by our commit.
dc.deliver("eddy", small[0])
ss_keep = imapfetch(dc.imap, "starttls", action="list")
t.ok("list 1" in ss_keep.out, "a new message after the drain", ss_keep.out)

# --- IDLE ------------------------------------------------------------------
r = imapfetch(dc.imap, "starttls", action="list", opts=["-i", "1"])
t.ok(r.returncode == 0 and "idle 0" in r.out,
     "IDLE times out with 0 when nothing arrives", r.out)


def later():
    time.sleep(1.5)
    dc.deliver("eddy", small[1])


th = threading.Thread(target=later)
th.start()
t0 = time.time()
r = imapfetch(dc.imap, "starttls", action="list", opts=["-i", "20"])
th.join()
t.ok(r.returncode == 0 and "idle 1" in r.out and time.time() - t0 < 15,
     "IDLE wakes on new mail (compressed session)",
     r.out + " %.1fs" % (time.time() - t0))
t.eq(dc.count("eddy"), 2, "nothing deleted by list/idle")

t.done()
