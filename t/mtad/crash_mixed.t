#!/usr/bin/python3
# mtad killed (SIGKILL to its whole process group: daemon, runner, relay and
# delivery children) at 100 random instants of a mixed load -- SMTP clients,
# mtad-sendmail submissions, a link that is always up so the runner keeps
# flushing to the smart host, local deliveries to an mbox and to a /file
# alias target -- and restarted each time.  At the end, after a restart and
# a final flush, every acknowledged message (250 after the dot, or
# mtad-sendmail exit 0) is with every one of its recipients.
#
# A duplicate is accepted only where an acknowledgement could have been
# lost, as the logs show it:
# - at the smart host: each extra copy arrived over a connection that ended
#   without QUIT (mtad died before it could record the 250s it read);
# - in a mailbox: the extra copies are at most the number of mtad runs
#   killed between the submission (a line the test writes into mtad's log)
#   and the "stat=Sent" line for that recipient (a run killed after the
#   append, before the record).
# Incomplete copies (an append cut by the kill) are reported, never counted.
#
# MTAD_CRASH_SEED=N replays a run's kill times and load; MTAD_CRASH_KILLS=N.
import os
import random
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest  # noqa: E402
import faultutil as F  # noqa: E402
from smtpd_util import Client  # noqa: E402

t = mhtest.Test()
SEED = int(os.environ.get("MTAD_CRASH_SEED") or time.time())
KILLS = int(os.environ.get("MTAD_CRASH_KILLS") or 100)
MAX_MSGS = 260
t.diag("seed %d (replay: MTAD_CRASH_SEED=%d), %d kills"
       % (SEED, SEED, KILLS))
rnd = random.Random(SEED)
tmp = mhtest.tmpdir()
sh = mhtest.SmartHost(tmp)
hub = F.Hub(tmp, None, sh=sh, link="always")
LOCAL = ["root@hub.example", "files@hub.example"]
REMOTE = ["a@remote.example", "b@remote.example"]
SENDMAIL = mhtest.bin("mtad/mtad-sendmail")

lock = threading.Lock()
stop = threading.Event()
acked = {}          # tag -> recipients
tried = [0]


def next_tag(kind):
    with lock:
        if tried[0] >= MAX_MSGS:
            return None
        tried[0] += 1
        return "%s-%04d" % (kind, tried[0])


def mark(text):
    """A line in mtad's log (appended, as mtad's own lines are)."""
    with open(hub.logpath, "ab") as f:
        f.write(("=== crash test: %s\n" % text).encode())


def smtp_client(i):
    r = random.Random(SEED * 16 + i)
    while not stop.is_set():
        tag = next_tag("smtp%d" % i)
        if tag is None:
            return
        rcpts = r.sample(LOCAL + REMOTE, r.randint(1, 3))
        mark("submit " + tag)
        reply = None
        try:
            c = Client(hub.port, timeout=15)
            c.cmd("EHLO lan%d.example" % i)
            reply = F.send(c, rcpts, F.body(tag, lines=r.randint(5, 400)))
            c.close()
        except (OSError, EOFError):
            time.sleep(0.05)
        if reply and reply.startswith("250"):
            with lock:
                acked[tag] = rcpts


def sendmail_client():
    r = random.Random(SEED * 16 + 15)
    while not stop.is_set():
        tag = next_tag("sm")
        if tag is None:
            return
        rcpts = r.sample(LOCAL + REMOTE, r.randint(1, 3))
        mark("submit " + tag)
        res = mhtest.run([SENDMAIL, "-C", hub.conf, "-oi"] + rcpts,
                         input=F.body(tag, lines=r.randint(5, 200))
                         .replace("\r\n", "\n"), timeout=30)
        if res.returncode == 0:
            with lock:
                acked[tag] = rcpts
        time.sleep(r.uniform(0.02, 0.1))


threads = [threading.Thread(target=smtp_client, args=(i,)) for i in range(3)]
threads.append(threading.Thread(target=sendmail_client))
t0 = time.monotonic()
for th in threads:
    th.start()
kills = 0
try:
    for k in range(KILLS):
        time.sleep(rnd.uniform(0.02, 0.3))
        hub.kill()
        kills += 1
        mark("SIGKILL %d" % kills)
        hub.start()
finally:
    stop.set()
    for th in threads:
        th.join(60)
t.eq(kills, KILLS, "mtad killed %d times under load (%.0f s)"
     % (kills, time.monotonic() - t0))
t.ok(len(acked) >= 40, "%d of %d submissions acknowledged"
     % (len(acked), tried[0]))

# Restart with everything due at once, then flush until the queue is empty
# (again, should something have been deferred meanwhile: a retry time must
# not make the test wait).
drop = os.path.join(hub.spool, "maildrop")


def settled():
    return hub.queue_ids() == [] and not [n for n in os.listdir(drop)
                                          if n.endswith(".env")]


def envelopes():
    out = []
    for q in hub.queue_ids():
        try:
            with open(os.path.join(hub.spool, "queue", q + ".env")) as f:
                out.append(f.read())
        except FileNotFoundError:
            pass
    return "\n".join(out)


for attempt in range(3):
    hub.stop()
    for qid in hub.queue_ids():
        hub.due_now(qid)
    hub.start()
    deadline = time.monotonic() + 30
    while not settled() and time.monotonic() < deadline:
        hub.ctl("flush")
        mhtest.wait_for(settled, 3)
    if settled():
        break
    t.diag("not settled after round %d:\n%s" % (attempt + 1, envelopes()))
t.ok(settled(), "after a restart and a flush the queue is empty",
     "%s\n%s" % (envelopes(), hub.log()[-3000:]))
t.eq(hub.proc.poll(), None, "the last mtad still runs")


# --- what arrived where --------------------------------------------------------
def tag_qid(data):
    if isinstance(data, bytes):
        data = data.decode(errors="replace")
    m = re.search(r"^Subject: (\S+)", data, re.M)
    q = re.search(r"\bid ([0-9A-F]{19})\b", data)
    return (m.group(1) if m else None), (q.group(1) if q else None)


def mbox_messages(blob):
    """(tag, qid, complete) of each message of an mbox."""
    out = []
    text = blob.decode(errors="replace")
    for part in re.split(r"(?m)^From ", text)[1:]:
        tag, qid = tag_qid(part)
        out.append((tag, qid, tag is not None and "END %s\n" % tag in part))
    return out


remote = {}         # (tag, rcpt) -> [conn numbers]
qids = {}           # tag -> queue ID
for m in sh.messages():
    tag, qid = tag_qid(m["data"])
    if tag is None or F.copies(m["data"], tag) != 1:
        continue
    qids.setdefault(tag, qid)
    for rc in m["rcpt_tos"]:
        remote.setdefault((tag, rc), []).append(m["conn"])
local = {}          # (tag, rcpt) -> complete copies
partial = 0
with open(hub.filebox, "rb") as f:
    fbox = f.read()
for rc, blob in (("root@hub.example", hub.mbox()),
                 ("files@hub.example", fbox)):
    for tag, qid, whole in mbox_messages(blob):
        if not whole:
            partial += 1
            continue
        qids.setdefault(tag, qid)
        local[(tag, rc)] = local.get((tag, rc), 0) + 1

missing = []
for tag, rcpts in sorted(acked.items()):
    for rc in rcpts:
        n = len(remote.get((tag, rc), [])) if rc in REMOTE \
            else local.get((tag, rc), 0)
        if n == 0:
            missing.append((tag, rc))
t.eq(missing, [], "every acknowledged message reached every recipient "
     "(%d messages, %d deliveries)"
     % (len(acked), sum(len(r) for r in acked.values())))

# Smart host: an extra copy only from a connection mtad never closed.
quit_conns = set()
for n in range(1, sh.connections() + 1):
    if any(c.upper() == "QUIT" for c in sh.commands(n)):
        quit_conns.add(n)
bad, dups = [], 0
for (tag, rc), conns in sorted(remote.items()):
    if len(conns) > 1:
        dups += len(conns) - 1
        cut = [c for c in conns if c not in quit_conns]
        if len(cut) < len(conns) - 1:
            bad.append((tag, rc, conns))
t.eq(bad, [], "smart host: every second copy came after a connection mtad "
     "did not get to close (%d such copies over %d connections)"
     % (dups, sh.connections()))

# Mailboxes: an extra copy only where a run was killed before the record.
log = hub.log().splitlines()
kill_at = [i for i, ln in enumerate(log)
           if ln.startswith("=== crash test: SIGKILL")]
bad, ldups = [], 0
for (tag, rc), k in sorted(local.items()):
    if k <= 1:
        continue
    ldups += k - 1
    qid = qids.get(tag)
    first = next((i for i, ln in enumerate(log)
                  if ln == "=== crash test: submit " + tag), None)
    sent = [i for i, ln in enumerate(log) if qid and
            ("%s: to=<%s>" % (qid, rc)) in ln and "stat=Sent" in ln]
    end = sent[-1] if sent else len(log)
    killed = sum(1 for i in kill_at if first is not None and first < i < end)
    if first is None or k - 1 > killed:
        bad.append((tag, rc, qid, k, killed))
if not t.eq(bad, [], "mailboxes: every second copy follows a run killed "
            "between the delivery and its record (%d such copies)" % ldups):
    for b in bad:
        t.diag("\n".join(ln for ln in log if b[2] in ln or
                          ln.startswith("=== crash test: SIGKILL") or
                          ln.endswith(" " + b[0])))
# Each kill can catch each of mtad's 4 delivery processes between one append
# and its record, no more.
t.ok(ldups <= 4 * kills, "mailboxes: %d second copies for %d kills"
     % (ldups, kills))
t.diag("acknowledged %d of %d; duplicates: %d at the smart host, %d in "
       "mailboxes; %d incomplete appends cut by a kill"
       % (len(acked), tried[0], dups, ldups, partial))
hub.stop()
t.done()
