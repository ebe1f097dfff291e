#!/usr/bin/python3
# The link to the mailbox server (Dovecot behind a TCP proxy) breaks in the
# middle of a drain of six messages: closed at byte offsets across the
# transfer, right after a message's final "." (POP3), or stalled until
# fetchd's timeout; and the link to the SMTP server breaks inside DATA or
# loses the 250.  After each break: no message left the server before the
# SMTP server had it; the next poll delivers the rest; nothing is delivered
# twice (except the one message whose SMTP 250 was lost, which nobody but
# the SMTP server knows was accepted); the mailbox ends empty.
# (t/fetchd/crash.t covers QUIT and EXPUNGE lost and a reset mid-message.)
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fetchdlib as F  # noqa: E402
import mhtest  # noqa: E402

t = mhtest.Test()
tmp = mhtest.tmpdir()
env = F.Env(tmp)
USERS = ["cal1", "cal2", "p25", "p50", "p75", "pdot", "pstall", "i25", "i50",
         "i75", "istall", "sdata", "s250"]
dc = mhtest.Dovecot(tmp, users=dict((u, "pw") for u in USERS), ssl=False)
sh = mhtest.SmartHost(tmp)
N = 6
BODY = "".join("line %03d of a message that is long enough\r\n" % i
               for i in range(120))


def fill(user, base):
    for i in range(N):
        dc.deliver(user, F.message(base + i, body=BODY))
    return set("test %d" % (base + i) for i in range(N))


def rc(user, port, proto, smtp_port=None, timeout=None):
    poll = F.poll_line(dc, port, proto)
    if timeout:
        poll = poll.rstrip("\n") + " timeout %d\n" % timeout
    return env.rc(poll + '  user "%s" there with password "pw" is eddy here '
                  "sslproto ''\n  smtphost 127.0.0.1/%d\n"
                  % (user, smtp_port or sh.port))


def server_subjects(user):
    out = set()
    for m in dc.messages(user):
        for line in m.split(b"\r\n"):
            if line.startswith(b"Subject: "):
                out.add(line[9:].decode())
    return out


def port_of(proto):
    return dc.pop3 if proto == "POP3" else dc.imap


# Clean drains through a proxy measure each protocol's transfer.
total = {}
rec = {}
for proto, user in (("POP3", "cal1"), ("IMAP", "cal2")):
    fill(user, 100)
    px = mhtest.TcpProxy(tmp, port_of(proto), name="cal-" + proto,
                         record=True)
    r = env.run(rc(user, px.port, proto))
    total[proto] = px.stats()["s2c_bytes"]
    rec[proto] = px.recorded(1, "s2c")
    t.eq(r.returncode, 0, "%s: clean drain through the proxy (%d bytes from "
         "the server)" % (proto, total[proto]))
    px.stop()


def case(name, user, proto, base, fault, smtp_fault=None, timeout=None,
         dups_allowed=0):
    want = fill(user, base)
    before = collections.Counter(F.subjects(sh))
    px = mhtest.TcpProxy(tmp, port_of(proto), faults=[fault] if fault else [],
                         name=name)
    spx = None
    smtp_port = None
    if smtp_fault:
        spx = mhtest.TcpProxy(tmp, sh.port, faults=[smtp_fault],
                              name=name + "-smtp")
        smtp_port = spx.port
    r = env.run(rc(user, px.port, proto, smtp_port, timeout))
    broke = px if fault else spx
    t.ok(broke.stats()["conns"][0]["fault"], "%s: the link broke" % name)
    t.ok(r.returncode not in (0, 1), "%s: the poll reports the failure "
         "(exit %d)" % (name, r.returncode), r.err[-1500:])
    now = collections.Counter(F.subjects(sh)) - before
    gone = want - server_subjects(user)
    t.ok(gone <= set(now), "%s: nothing left the server undelivered "
         "(%d gone, %d delivered)" % (name, len(gone), len(now)),
         sorted(gone - set(now)))
    px.stop()
    if spx:
        spx.stop()
    r = env.run(rc(user, port_of(proto), proto))
    t.ok(r.returncode in (0, 1), "%s: the next poll completes (exit %d)"
         % (name, r.returncode), r.err[-1500:])
    got = collections.Counter(F.subjects(sh)) - before
    t.eq(set(got), want, "%s: every message delivered" % name)
    twice = sorted(s for s, k in got.items() if k > 1)
    t.ok(len(twice) <= dups_allowed and all(got[s] == 2 for s in twice),
         "%s: %s" % (name, "none delivered twice" if not dups_allowed else
                     "at most the message whose 250 was lost twice"), twice)
    t.eq(dc.count(user), 0, "%s: the mailbox is empty" % name)
    t.diag("%s: %d delivered at the break, twice: %s"
           % (name, len(now), twice or "none"))


base = 200
for proto, p in (("POP3", "p"), ("IMAP", "i")):
    for pct in (25, 50, 75):
        case("%s close at %d%%" % (proto, pct), "%s%d" % (p, pct), proto,
             base, mhtest.TcpProxy.fault(after=total[proto] * pct // 100,
                                         dir="s2c", action="close", conn=1))
        base += 10
    case("%s stall at 50%%" % proto, p + "stall", proto, base,
         mhtest.TcpProxy.fault(after=total[proto] // 2, dir="s2c",
                               action="stall", conn=1), timeout=3)
    base += 10
# The server's bytes are the same for every user's six messages: the third
# RETR's final dot ends where it ended in the calibration drain.
third = rec["POP3"].index(b"Subject: test 102")
dot = rec["POP3"].index(b"\r\n.\r\n", third) + 5
case("POP3 close after the third message's final dot", "pdot", "POP3", base,
     mhtest.TcpProxy.fault(after=dot, dir="s2c", action="close", conn=1))
base += 10
case("SMTP close inside DATA", "sdata", "POP3", base, None,
     smtp_fault=mhtest.TcpProxy.fault(match="\r\n.\r\n", count=3, dir="c2s",
                                      action="close", at="start", conn=1))
base += 10
case("SMTP 250 lost", "s250", "POP3", base, None,
     smtp_fault=mhtest.TcpProxy.fault(match="250 2.0.0", count=3, dir="s2c",
                                      action="close", at="start", conn=1),
     dups_allowed=1)
t.done()
