#!/usr/bin/python3
# Resource bounds under load.  1,000 connections at once against
# max-clients 100: exactly 100 greeted, 900 told 421 4.3.2.  Slowloris
# clients dripping a byte a second are dropped by a 3 s idle timeout long
# before their line is done.  SIZE=1 GB is refused at MAIL; a client that
# declares a small SIZE and streams past max-message-size gets 552 and
# nothing stays in the spool.  A message with 31 Received: fields bounces
# with a DSN (30 is delivered); an alias loop bounces; 150 RCPTs get 100
# 250s and 50 452 4.5.3.  The worker's peak RSS (VmHWM) is printed.
import os
import pwd
import resource
import selectors
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest
from smtpd_util import Mtad, code

t = mhtest.Test()
if not os.path.exists(mhtest.bin("mtad/mtad")):
    t.skip_all("mtad is not built")
N = 1000
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = N + 200
if soft < want:
    try:
        if hard != resource.RLIM_INFINITY and hard < want:
            hard = want if os.geteuid() == 0 else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    except (ValueError, OSError):
        pass
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < want:
    t.skip_all("RLIMIT_NOFILE %d: cannot hold %d connections" % (soft, N))

me = "root" if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name


def status(pid):
    st = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                st[k] = v.strip()
    except OSError:
        pass
    return st


def worker_pid(m):
    """The process running the sessions: mtad itself, or (privilege
    separation) its child that holds the listener."""
    pid = m.proc.pid
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    s = f.read()
            except OSError:
                continue
            f_ = s[s.rfind(")") + 2:].split()
            if int(f_[1]) == pid and "(mtad)" in s:
                return int(d)
    return pid


peaks = []


def report(m, what):
    st = status(worker_pid(m))
    t.diag("mtad worker after %s: VmHWM %s, VmRSS %s" % (
        what, st.get("VmHWM", "?"), st.get("VmRSS", "?")))
    if "VmHWM" in st:
        peaks.append((what, int(st["VmHWM"].split()[0])))


# --- 1,000 idle connections against max-clients 100 ------------------------
m1 = Mtad(verbose=False, extra="max-clients 100\nidle-timeout 120\n")
report(m1, "start")
sel = selectors.DefaultSelector()
socks = []
first = {}
bufs = {}
pending = set()     # connecting, not yet writable


def pump(timeout):
    for key, ev in sel.select(timeout=timeout):
        s, i = key.fileobj, key.data
        if ev & selectors.EVENT_WRITE and i in pending:
            pending.discard(i)
            sel.modify(s, selectors.EVENT_READ, i)
        if not ev & selectors.EVENT_READ:
            continue
        try:
            data = s.recv(4096)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        bufs[i] = bufs.get(i, b"") + data
        if b"\n" in bufs[i] or not data:
            first[i] = bufs[i].split(b"\n")[0].decode(errors="replace")
            sel.unregister(s)
            pending.discard(i)


# In waves of 100, each connected before the next starts, so that the
# listen backlog never drops a SYN (a retried SYN waits seconds).
deadline = time.monotonic() + 40
for wave in range(N // 100):
    for i in range(wave * 100, wave * 100 + 100):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", m1.port))
        socks.append(s)
        pending.add(i)
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, i)
    while pending and time.monotonic() < deadline:
        pump(1)
while len(first) < N and time.monotonic() < deadline:
    pump(1)
greeted = [i for i, line in first.items() if line.startswith("220")]
busy = [i for i, line in first.items() if line.startswith("421 4.3.2")]
t.eq(len(first), N, "every one of %d connections got an answer" % N)
t.eq(len(greeted), 100, "max-clients 100: 100 greeted with 220")
t.eq(len(busy), N - 100, "the other %d told 421 4.3.2" % (N - 100))
report(m1, "%d connections" % N)
# The greeted ones are still being served: one of them can talk.
if greeted:
    s = socks[greeted[0]]
    s.setblocking(True)
    s.settimeout(10)
    s.sendall(b"NOOP\r\n")
    t.ok(s.recv(100).startswith(b"250"), "a held connection still answers")
for s in socks:
    s.close()


def fresh_greeting():
    try:
        c = socket.create_connection(("127.0.0.1", m1.port), timeout=5)
        line = c.recv(100)
        c.close()
        return line.startswith(b"220")
    except OSError:
        return False


t.ok(mhtest.wait_for(fresh_greeting, timeout=15),
     "slots come back once the clients are gone: a new client gets 220")
report(m1, "the flood")
t.eq(m1.stop(), 0, "mtad exits 0 after the flood")

# --- the rest: a small idle timeout and size limit ---------------------------
tmp = mhtest.tmpdir("mtad-load-")
os.chmod(tmp, 0o755)
mail = os.path.join(tmp, "mail")
os.makedirs(mail)
loopdst = os.path.join(tmp, "loopdst")
with open(os.path.join(tmp, "aliases"), "w") as f:
    f.write("postmaster: root\nloopa: loopb\nloopb: loopc\nloopc: loopa\n"
            "loopdst: %s\n" % loopdst)
m = Mtad(verbose=False, tmp=tmp,
         extra="max-clients 100\nidle-timeout 3\nmax-message-size 1M\n"
         "link down\n")
report(m, "start")

# Slowloris: a byte a second; a line takes 40 s, the timeout is 3 s.
line = b"EHLO slowloris-" + b"x" * 23 + b"\r\n"
slow = []
for i in range(20):
    c = socket.create_connection(("127.0.0.1", m.port), timeout=10)
    c.recv(100)
    c.setblocking(False)
    slow.append([c, b"", False])
sent = 0
deadline = time.monotonic() + 30
while sent < len(line) and not all(x[2] for x in slow) and \
        time.monotonic() < deadline:
    for x in slow:
        if x[2]:
            continue
        # Read first: the 421 is waiting before the close is noticed.
        try:
            while True:
                data = x[0].recv(4096)
                if not data:
                    x[2] = True
                    break
                x[1] += data
        except BlockingIOError:
            pass
        except OSError:
            x[2] = True
        if x[2]:
            continue
        try:
            x[0].send(line[sent:sent + 1])
        except OSError:
            x[2] = True
    sent += 1
    time.sleep(1)
for x in slow:      # what came before a close noticed on send
    try:
        while True:
            data = x[0].recv(4096)
            if not data:
                break
            x[1] += data
    except OSError:
        pass
dropped = [x for x in slow if x[2]]
t.eq(len(dropped), 20, "all 20 slowloris clients dropped")
t.ok(sent < len(line), "dropped before finishing one %d-octet line "
     "(after %d octets)" % (len(line), sent))
t.ok(all(b"421 4.4.2" in x[1] for x in slow),
     "each told 421 4.4.2 before the close",
     "\n".join(repr(x[1]) for x in slow if b"421 4.4.2" not in x[1]))
for x in slow:
    x[0].close()

# SIZE: 1 GB declared is refused at MAIL.
c = m.connect()
c.cmd("EHLO client.example")
r = c.cmd("MAIL FROM:<%s@hub.example> SIZE=1073741824" % me)
t.like(r, "552 5.3.4", "MAIL SIZE=1073741824: 552 5.3.4")
# A client that lies about SIZE: 1.25 MB against max-message-size 1M.
t.like(c.cmd("MAIL FROM:<%s@hub.example> SIZE=1000" % me), "250",
       "a small SIZE is taken at its word")
t.like(c.cmd("RCPT TO:<x@remote.example>"), "250", "RCPT")
t.like(c.cmd("DATA"), "354", "DATA")
chunk = (b"y" * 998 + b"\r\n") * 64
c.send(b"Subject: liar\r\n\r\n")
for i in range(20):
    c.send(chunk)
c.send(b".\r\n")
r = c.reply()
t.like(r, "552 5.3.4", "streaming past max-message-size: 552 5.3.4 at the dot")
t.like(c.cmd("NOOP"), "250", "the session goes on")
c.close()
spool_files = []
for sub in ("queue", "tmp", "maildrop"):
    d = os.path.join(m.spool, sub)
    if os.path.isdir(d):
        spool_files += [os.path.join(sub, n) for n in os.listdir(d)]
t.eq(spool_files, [], "nothing of it stays in the spool")
report(m, "the oversized DATA")


def send(rcpts, body, sender="%s@hub.example" % me):
    c = m.connect()
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<%s>" % sender)
    for r in rcpts:
        c.cmd("RCPT TO:<%s>" % r)
    c.cmd("DATA")
    c.send(body.replace("\n", "\r\n") + ".\r\n")
    r = c.reply()
    c.cmd("QUIT")
    c.close()
    return r


def hops(n, subject):
    h = "".join("Received: from relay%d.example by relay%d.example; "
                "Sun, 22 Nov 2026 06:00:00 +0000\n" % (i, i + 1)
                for i in range(n))
    return h + "From: <%s@hub.example>\nSubject: %s\n\nround and round\n" % (
        me, subject)


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


mybox = os.path.join(mail, me)
t.like(send(["loopdst@hub.example"], hops(30, "hops-thirty")), "250",
       "30 Received: fields: accepted")
t.ok(mhtest.wait_for(lambda: "hops-thirty" in read(loopdst), timeout=20),
     "30 Received: fields: delivered")
t.like(send(["loopdst@hub.example", "far@remote.example"],
            hops(31, "hops-thirty-one")), "250",
       "31 Received: fields: accepted (then bounced)")
t.ok(mhtest.wait_for(lambda: "Too many hops" in read(mybox) and
                     "hops-thirty-one" in read(mybox), timeout=20),
     "31 Received: fields: a DSN to the sender says Too many hops",
     read(mybox)[-2000:])
t.like(read(mybox), "Status: 5.4.6", "the DSN's status is 5.4.6")
t.unlike(read(loopdst), "hops-thirty-one", "the looping message is not "
         "delivered")
t.ok(mhtest.wait_for(lambda: "to=<far@remote.example>" in m.log() and
                     "Too many hops" in m.log()),
     "its remote recipient is bounced too, not left for the smart host")

# The same through mtad-sendmail (which adds a Received: of its own).
for n, subj in ((30, "drop-thirty"), (31, "drop-thirty-one")):
    r = mhtest.run([mhtest.bin("mtad/mtad-sendmail"), "-C", m.conf, "-f",
                    "%s@hub.example" % me, "loopdst@hub.example"],
                   input=hops(n, subj))
    t.eq(r.returncode, 0, "mtad-sendmail takes %d Received: fields" % n)
t.ok(mhtest.wait_for(lambda: "Subject: drop-thirty\n" in read(loopdst),
                    timeout=40),
     "mtad-sendmail, 30 Received: fields: delivered")
t.ok(mhtest.wait_for(lambda: "drop-thirty-one" in read(mybox), timeout=40),
     "mtad-sendmail, 31 Received: fields: a DSN to the sender",
     read(mybox)[-2000:])
t.unlike(read(loopdst), "drop-thirty-one", "and not delivered")

t.like(send(["loopa@hub.example"], "Subject: alias-loop\n\nloop\n"), "250",
       "a message into an alias loop is accepted")
t.ok(mhtest.wait_for(lambda: "alias loop" in read(mybox) and
                     "alias-loop" in read(mybox), timeout=20),
     "the alias loop bounces: a DSN to the sender", read(mybox)[-2000:])

# A recipient flood: 150 RCPTs pipelined.
c = m.connect()
c.cmd("EHLO client.example")
c.cmd("MAIL FROM:<%s@hub.example>" % me)
c.send("".join("RCPT TO:<r%d@remote.example>\r\n" % i for i in range(150)))
replies = [c.reply() for i in range(150)]
t.eq(sum(1 for r in replies if code(r) == "250"), 100, "100 RCPTs taken")
t.eq(sum(1 for r in replies if r.startswith("452 4.5.3")), 50,
     "the other 50: 452 4.5.3")
t.like(c.cmd("DATA"), "354", "DATA for the 100")
c.send("Subject: flood\r\n\r\nmany\r\n.\r\n")
r = c.reply()
t.like(r, "250", "the message for 100 recipients is queued")
c.close()
qid = r.split()[-1] if code(r) == "250" else None
env = m.env(qid) if qid and qid in m.queue_ids() else ""
t.eq(env.count("@remote.example"), 100, "its envelope holds 100 recipients")
report(m, "all of it")

t.eq(m.stop(), 0, "mtad exits 0")
peak = max(peaks, key=lambda p: p[1]) if peaks else ("?", 0)
t.diag("peak RSS of the mtad worker: %d kB (after %s)%s; load average %s" % (
    peak[1], peak[0], " (ASan build)" if "build-san" in
    mhtest.bin("mtad/mtad") else "", " ".join(
        "%.2f" % x for x in os.getloadavg())))
t.done()
