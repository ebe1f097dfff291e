#!/usr/bin/python3
# mtad-sendmail with the daemon down: what it writes into the maildrop.
import glob
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mhtest

t = mhtest.Test()
d = mhtest.tmpdir()
spool = os.path.join(d, "spool")
conf = os.path.join(d, "mtad.conf")
aliases = os.path.join(d, "aliases")
with open(aliases, "w") as f:
    f.write("alice: root\ncarol: root\ndave: root\n")
with open(conf, "w") as f:
    f.write("hostname shofar.lan\nspool %s\naliases %s\n" % (spool, aliases))
SENDMAIL = mhtest.bin("mtad/mtad-sendmail")


def drop():
    return os.path.join(spool, "maildrop")


def clear():
    for p in glob.glob(os.path.join(drop(), "*")):
        os.unlink(p)


def submit(args, text):
    """Run mtad-sendmail; return (result, message text, envelope text)."""
    clear()
    r = mhtest.run([SENDMAIL, "-C", conf] + args, input=text)
    envs = glob.glob(os.path.join(drop(), "*.env"))
    msg = env = None
    if len(envs) == 1:
        env = open(envs[0]).read()
        msg = open(envs[0][:-4] + ".msg", "rb").read().decode("utf-8", "replace")
    r.nenv = len(envs)
    r.files = sorted(os.listdir(drop())) if os.path.isdir(drop()) else []
    return r, msg, env


def rcpts(env):
    return [l.split()[-1].strip("<>") for l in (env or "").splitlines()
            if l.startswith("rcpt ")]


def header_block(msg):
    return (msg or "").split("\n\n", 1)[0]


# -t: recipients from To/Cc/Bcc, Bcc removed, missing headers added
r, msg, env = submit(["-t"], "To: Alice <alice@shofar.lan>, bob@example.org\n"
                     "Cc: carol\nBcc: secret@example.org\nSubject: hi\n\n"
                     "body line\n")
t.eq(r.returncode, 0, "-t with the daemon down exits 0")
t.eq(r.err, "", "nothing on stderr")
t.eq(r.nenv, 1, "one committed message in the maildrop")
t.eq(len(r.files), 2, "exactly its .msg and .env, no temp files left")
t.eq(sorted(rcpts(env)), sorted(["alice@shofar.lan", "bob@example.org",
                                  "carol", "secret@example.org"]),
     "recipients from To, Cc and Bcc")
h = header_block(msg)
t.unlike(h, "Bcc:", "Bcc header removed")
t.unlike(msg, "secret@example.org", "Bcc address appears nowhere in the message")
t.like(h, "\nDate: ", "Date added")
t.like(h, "\nMessage-ID: <", "Message-ID added")
t.like(h, "@shofar.lan>", "Message-ID / From use the configured hostname")
t.ok(any(l.startswith("From: ") and "@shofar.lan" in l for l in h.split("\n")),
     "From added as user@hostname", h)
t.ok(h.startswith("Received: (from "), "Received prepended", h)
t.like(msg, "\n\nbody line\n", "body kept after the header")
t.like(env, "\nsender <", "envelope has a sender")
t.like(env, "rcpt pending remote 0 0 <bob@example.org>", "remote recipient marked remote")
t.like(env, "rcpt pending local 0 0 <alice@shofar.lan>", "local recipient marked local")
mid = [l for l in h.split("\n") if l.startswith("Message-ID: ")][0][12:]
t.like(env, "msgid " + mid, "envelope records the Message-ID")
t.ok(os.stat(os.path.join(spool, "maildrop")).st_mode & 0o7777 == 0o1733,
     "maildrop created 1733")

# existing headers are kept, not doubled; -F and -f
r, msg, env = submit(["-f", "eddy@shofar.lan", "-F", "Eddy Q", "dave@shofar.lan"],
                     "From: Someone <someone@example.org>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
                     "Message-ID: <keep@example.org>\nSubject: x\n\nhi\n")
h = header_block(msg)
t.eq(r.returncode, 0, "command-line recipient accepted")
t.eq(h.count("\nFrom: "), 1, "existing From kept, none added")
t.eq(h.count("\nDate: "), 1, "existing Date kept")
t.like(h, "Message-ID: <keep@example.org>", "existing Message-ID kept")
t.like(env, "msgid <keep@example.org>", "its Message-ID recorded")
t.like(env, "sender <eddy@shofar.lan>", "-f sets the envelope sender")

r, msg, env = submit(["-F", 'Eddy "the" Q', "-f", "eddy", "dave"], "Subject: x\n\nhi\n")
t.like(header_block(msg), 'From: "Eddy \\"the\\" Q" <eddy@shofar.lan>',
       "-F full name quoted, -f bare name qualified with hostname")
r, msg, env = submit(["-f", "<>", "dave"], "Subject: bounce\n\nhi\n")
t.like(env, "sender <>\n", "-f <> gives the null sender")

# recipients from the command line (lists, brackets), plus -t
r, msg, env = submit(["--", "alice@shofar.lan, <bob@example.org>", "Carol Q <carol@shofar.lan>"],
                     "Subject: x\n\nhi\n")
t.eq(rcpts(env), ["alice@shofar.lan", "bob@example.org", "carol@shofar.lan"],
     "recipients from command-line arguments and lists")
r, msg, env = submit(["-t", "dave@shofar.lan"], "To: bob@example.org, bob@example.org\n\nhi\n")
t.eq(sorted(rcpts(env)), ["bob@example.org", "dave@shofar.lan"],
     "-t adds header recipients to the command line's, without duplicates")
r, msg, env = submit(["-t"], "Resent-To: carol@shofar.lan\nTo: bob@example.org\n"
                     "Resent-Bcc: hidden@example.org\n\nhi\n")
t.eq(sorted(rcpts(env)), ["carol@shofar.lan", "hidden@example.org"],
     "-t uses Resent- headers when present")
t.unlike(msg, "hidden@example.org", "Resent-Bcc removed")

# "." handling
text = "Subject: dots\n\nline one\n..two dots\n.\nafter the dot\n"
r, msg, env = submit(["dave"], text)
t.ok(r.returncode == 0 and "line one\n..two dots\n" in msg and "after the dot" not in msg,
     "a lone '.' line ends the input", msg)
r, msg, env = submit(["-i", "dave"], text)
t.ok("\n.\nafter the dot\n" in (msg or ""), "-i: a lone '.' is text", msg)
r, msg, env = submit(["-oi", "dave"], text)
t.ok("\n.\nafter the dot\n" in (msg or ""), "-oi: the same", msg)
r, msg, env = submit(["dave"], "Subject: crlf\r\n\r\nline\r\n.\r\nnot this\r\n")
t.ok(msg is not None and "\r" not in msg and msg.endswith("\n\nline\n"),
     "CRLF input stored with LF, '.\\r\\n' ends it", msg)

# mbox From_ line and a header with no blank line after it
r, msg, env = submit(["dave"], "From eddy Sun Nov 22 03:14:12 2026\nSubject: x\nno colon here\n")
t.ok(msg is not None and not msg.startswith("From ") and "\nFrom eddy" not in msg,
     "a leading mbox From_ line is dropped", msg)
t.like(msg, "Subject: x\n", "header kept")
t.like(msg, "\n\nno colon here\n", "a non-header line starts the body after a blank line")

# 8-bit
r, msg, env = submit(["dave"], "Subject: x\n\ngr\u00fc\u00dfe\n")
t.like(env, "body8bit 1", "8-bit body flagged in the envelope")
t.like(msg, "gr\u00fc\u00dfe", "8-bit bytes kept")

# durable before exit: the data is synced before the .env appears, and the
# directory after it (strace, leak checker off: it cannot run under ptrace)
env_vars = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "").replace(
    "detect_leaks=1", "detect_leaks=0") + ":detect_leaks=0"}
clear()
tr = os.path.join(d, "strace.out")
r = mhtest.run(["strace", "-f", "-o", tr, "-e", "trace=syncfs,fsync,fdatasync,renameat,renameat2,rename",
                SENDMAIL, "-C", conf, "dave"], input="Subject: x\n\nhi\n", env=env_vars)
calls = [l.split(None, 1)[1] for l in open(tr).read().splitlines() if " " in l.strip()]
calls = [c for c in calls if not c.startswith("+++") and not c.startswith("---")]
idx_sync = next((i for i, c in enumerate(calls) if c.startswith(("syncfs", "fdatasync"))), None)
idx_env = next((i for i, c in enumerate(calls) if c.startswith("rename") and ".env\")" in c), None)
idx_dir = next((i for i, c in enumerate(calls) if idx_env is not None and i > idx_env and c.startswith("fsync")), None)
t.eq(r.returncode, 0, "submission under strace exits 0")
t.ok(idx_sync is not None and idx_env is not None and idx_sync < idx_env,
     "message data synced before the envelope is renamed into place", "\n".join(calls))
t.ok(idx_dir is not None, "maildrop directory fsync'd after the rename, before exit", "\n".join(calls))

t.done()
