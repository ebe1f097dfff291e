#!/usr/bin/python3
# fetchd over IMAP against a real Dovecot (COMPRESS=DEFLATE loaded):
# STARTTLS (the default), implicit TLS and sslproto '' plaintext with the
# test CA; an unknown CA refused; a PREAUTH greeting while TLS is owed
# aborts before anything is sent (CVE-2021-39272); keep twice fetches
# nothing new and marks them \Seen; flush expunges seen ones; \Deleted +
# UID EXPUNGE only after the SMTP server accepted; a 1.5 MB message in
# partial fetches; the password never in the -v trace.  (451, SIGKILL and a
# lost EXPUNGE over IMAP: imap_deliver.t and crash.t.)
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fetchdlib as F  # noqa: E402
import mhtest  # noqa: E402

t = mhtest.Test()
tmp = mhtest.tmpdir()
env = F.Env(tmp)
ca = mhtest.CA(tmp + "/ca")
other = mhtest.CA(tmp + "/other", name="someone else")
PW = "s3cr3t-Imap"
dc = mhtest.Dovecot(tmp, users={"eddy": PW, "lou": "pw3"},
                    ca=ca, compress=True)
sh = mhtest.SmartHost(tmp)


def rc(port, extra="", user="eddy", pw=PW, local="eddy"):
    return env.rc(F.poll_line(dc, port, proto="IMAP",
                              name="imap.example.net") +
                  '  user "%s" there with password "%s" is %s here %s\n'
                  '  smtphost 127.0.0.1/%d\n' % (user, pw, local, extra,
                                                sh.port))


# --- STARTTLS (default), implicit TLS, plaintext ------------------------------
n = 0
for mode, port, extra in (("STARTTLS", dc.imap, ""), ("imaps", dc.imaps, "ssl"),
                          ("sslproto ''", dc.imap, "sslproto ''")):
    base = len(sh.messages())
    for i in range(3):
        dc.deliver("eddy", F.message(n + i))
    r = env.run(rc(port, extra + " sslcertfile " + ca.ca_file), "-v")
    t.eq(r.returncode, 0, "%s: exit 0 (mail delivered)" % mode)
    t.eq(F.subjects(sh)[base:], ["test %d" % (n + i) for i in range(3)],
         "%s: three messages reinjected in order" % mode)
    t.eq(dc.count("eddy"), 0, "%s: all expunged from the server" % mode)
    t.like(r.err, "3 messages for eddy at 127.0.0.1", "%s: count line" % mode)
    t.unlike(r.err, PW, "%s: password never in the -v trace" % mode)
    t.like(r.err, "OK Begin compression", "%s: COMPRESS=DEFLATE used" % mode)
    t.ok(re.search(r"IMAP> \S+ UID FETCH [0-9:,]+ \(UID BODY\.PEEK\[\]\)",
                   r.err), "%s: the batch in one UID FETCH" % mode)
    t.ok(re.search(r"IMAP> \S+ UID EXPUNGE ", r.err)
         and r.err.index("UID EXPUNGE") > r.err.rindex("SMTP< 250 2.0.0"),
         "%s: UID EXPUNGE only after the SMTP server accepted" % mode)
    if mode == "STARTTLS":
        t.like(r.err, "IMAP> 1 STARTTLS", "STARTTLS: negotiated first")
        m = sh.messages()[base]
        t.ok(b"with IMAP (fetchd)" in m["data"].split(b"\r\n")[0],
             "Received: ... with IMAP (fetchd)", m["data"][:200])
    if mode == "sslproto ''":
        t.unlike(r.err, "STARTTLS\n", "sslproto '': no STARTTLS")
    n += 10

r = env.run(rc(dc.imap, "sslcertfile " + ca.ca_file))
t.eq(r.returncode, 1, "no mail: exit 1")

# --- refusals ----------------------------------------------------------------
dc.deliver("eddy", F.message(50))
r = env.run(rc(dc.imap, "sslcertfile " + other.ca_file), "-v")
t.eq(r.returncode, 2, "unknown CA: connection error (exit 2)")
t.like(r.err, "certificate verify failed", "unknown CA: the reason is logged")
t.ok(not re.search(r"IMAP> (\S+ LOGIN|\*\*\*\*)", r.err),
     "unknown CA: no LOGIN")
t.eq(dc.count("eddy"), 1, "unknown CA: nothing fetched")

ss = mhtest.ScriptServer(tmp, [
    [{"send": "* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n"},
     {"expect": r"(\S+) ", "send": "{1} BAD no\r\n"}]], tls=True, ca=ca)
r = env.run(env.rc(
    "poll evil.example.net via 127.0.0.1 with proto IMAP port %d\n"
    '  user "eddy" there with password "%s" is eddy here\n'
    "  sslcertfile %s smtphost 127.0.0.1/%d\n"
    % (ss.port, PW, ca.ca_file, sh.port)), "-v")
t.eq(r.returncode, 2, "PREAUTH with TLS required: connection error (exit 2)")
t.like(r.err, "PREAUTH", "PREAUTH: the reason is logged")
t.eq(ss.received(), [], "PREAUTH: not one octet sent (CVE-2021-39272)")
ss.stop()

# --- keep twice ----------------------------------------------------------------
base = len(sh.messages())
dc.deliver("eddy", F.message(51))
k = rc(dc.imap, "keep sslcertfile " + ca.ca_file)
r = env.run(k)
t.eq(r.returncode, 0, "keep: first poll delivers")
t.eq(sorted(F.subjects(sh)[base:]), ["test 50", "test 51"],
     "keep: both delivered")
t.eq(dc.count("eddy"), 2, "keep: both left on the server")
r = env.run(k)
t.eq(r.returncode, 1, "keep: second poll finds nothing new (exit 1)")
t.eq(len(sh.messages()) - base, 2, "keep: nothing fetched twice")
t.like(r.err, "2 messages (2 seen) for eddy", "keep: seen count")
dc.deliver("eddy", F.message(52))
r = env.run(k)
t.eq(F.subjects(sh)[base + 2:], ["test 52"], "keep: only the new one")
t.ok(re.search(r"^eddy@imap\.example\.net [1-9][0-9]*/[1-9][0-9]*$",
               open(env.idfile).read(), re.M),
     "keep: UIDVALIDITY/UID remembered in the idfile")
t.ok(all(":2," in f and "S" in f.split(":2,")[1]
         for f, _ in dc.files("eddy")), "keep: delivered ones marked \\Seen")
n = len(sh.messages())
r = env.run(rc(dc.imap, "sslcertfile " + ca.ca_file))
t.eq((r.returncode, dc.count("eddy"), len(sh.messages()) - n), (1, 3, 0),
     "without keep or flush: seen messages are left alone")
r = env.run(rc(dc.imap, "flush sslcertfile " + ca.ca_file))
t.ok(dc.count("eddy") == 0 and len(sh.messages()) == n,
     "flush: the seen messages are expunged, not fetched", r.err[-1500:])

# --- UID SEARCH UNSEEN selects; the idfile and the journal stay the truth --
cur = os.path.join(dc.dir, "mail", "eddy", "cur")


def set_seen(seen):
    # what a MUA does to the flags (Dovecot reads them from the names)
    for name in os.listdir(cur):
        base = name.split(":2,")[0]
        flags = name.split(":2,")[1].replace("S", "") if ":2," in name \
            else ""
        flags = "".join(sorted(flags + ("S" if seen else "")))
        os.rename(os.path.join(cur, name),
                  os.path.join(cur, base + ":2," + flags))


for i in (60, 61):
    dc.deliver("eddy", F.message(i))
n = len(sh.messages())
r = env.run(k, "-v")
t.ok(re.search(r"IMAP> \S+ UID SEARCH RETURN \(SAVE\) UNSEEN\n"
               r".*IMAP> \S+ UID FETCH \$ \(UID FLAGS RFC822\.SIZE\)\n"
               r".*IMAP< \S+ OK Search", r.err, re.S),
     "IMAP: UID SEARCH UNSEEN selects, its result listed in the same "
     "write (SEARCHRES)", r.err[-3000:])
t.unlike(r.err, "UID FETCH 1:*", "IMAP: no listing of the whole mailbox")
t.eq(len(sh.messages()) - n, 2, "keep: both delivered")
set_seen(False)
r = env.run(k)
t.eq((r.returncode, len(sh.messages()) - n), (1, 2),
     "keep: kept messages a MUA marked unseen are not fetched again "
     "(the idfile, not \\Seen)")
# Delivered, then the link died before the expunge (journaled), then a
# MUA read them: not found by UID SEARCH UNSEEN, deleted all the same.
with open(env.idfile) as f:
    kept = [line for line in f.read().splitlines()
            if re.match(r"eddy@imap\.example\.net \d+/\d+$", line)]
with open(env.idfile + ".journal", "a") as f:
    f.write("".join(line + "\n" for line in kept))
set_seen(True)
r = env.run(rc(dc.imap, "sslcertfile " + ca.ca_file))
t.eq((len(kept), dc.count("eddy"), len(sh.messages()) - n), (2, 0, 2),
     "journaled messages since marked \\Seen: deleted, not delivered again")
# fetchall: seen messages too, all listed by one UID FETCH 1:*
dc.deliver("eddy", F.message(62))
r = env.run(rc(dc.imap, "keep sslcertfile " + ca.ca_file))
set_seen(True)
r = env.run(rc(dc.imap, "fetchall sslcertfile " + ca.ca_file), "-v")
t.like(r.err, "UID FETCH 1:* (UID FLAGS RFC822.SIZE)",
       "fetchall: the whole mailbox listed, no search")
t.eq(F.subjects(sh)[-2:], ["test 62", "test 62"],
     "fetchall: a seen message fetched")
t.eq(dc.count("eddy"), 0, "fetchall: and deleted")

# --- a folder other than INBOX (SELECT in the listing's write) -------------
wd = os.path.join(dc.dir, "mail", "eddy", ".Work")
for sub in ("", "cur", "new", "tmp"):
    os.makedirs(os.path.join(wd, sub), exist_ok=True)
    os.chown(os.path.join(wd, sub), dc.uid, dc.gid)
with open(os.path.join(wd, "new", "1700000000.M1P1.mailhub-test"), "wb") as f:
    f.write(F.message(80))
r = env.run(rc(dc.imap, 'folder "Work" sslcertfile ' + ca.ca_file), "-v")
t.ok(r.returncode == 0 and re.search(r'IMAP> \S+ SELECT "Work"\n', r.err),
     "folder Work: selected, in one write with the search", r.err[-2000:])
t.eq(F.subjects(sh)[-1], "test 80", "folder Work: its message delivered")
t.eq(os.listdir(os.path.join(wd, "cur")) + os.listdir(os.path.join(wd, "new")),
     [], "folder Work: expunged")
r = env.run(rc(dc.imap, 'folder "No such" sslcertfile ' + ca.ca_file))
t.ok(r.returncode == 4 and "SELECT failed" in r.err,
     "a folder the server does not have: SELECT failed, exit 4",
     r.err[-1000:])

# --- a big message, in partial fetches --------------------------------------------
big = "".join("%06d %s\r\n" % (i, "z" * 70) for i in range(20000))
dc.deliver("lou", F.message(70, body=big))
r = env.run(rc(dc.imap, "sslcertfile " + ca.ca_file, user="lou", pw="pw3",
               local="lou"), "-v")
t.eq(r.returncode, 0, "1.5 MB message: delivered")
t.ok(sh.messages()[-1]["data"].endswith(big.encode()),
     "1.5 MB message: body intact")
t.like(r.err, "BODY.PEEK[]<262144.262144>", "1.5 MB message: partial fetches")
t.eq(dc.count("lou"), 0, "1.5 MB message: expunged")
t.done()
