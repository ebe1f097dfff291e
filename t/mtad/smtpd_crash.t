#!/usr/bin/python3
# kill -9 of mtad in the middle of 200 concurrent submissions loses no
# message that got its 250: each is whole in queue/ after the crash and
# after the restart (which clears tmp/).
import os
import random
import signal
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest
from smtpd_util import Mtad, Client

t = mhtest.Test()
m = Mtad(verbose=False, extra="max-clients 200\n")
acked = {}
lock = threading.Lock()
kill_after = random.randint(20, 150)
t.diag("kill -9 after %d acknowledgements" % kill_after)
killed = threading.Event()


def submit(n):
    try:
        c = Client(m.port, timeout=20)
        c.cmd("EHLO load%d.example" % n)
        c.cmd("MAIL FROM:<s%d@hub.example>" % n)
        c.cmd("RCPT TO:<r%d@remote.example>" % n)
        c.cmd("DATA")
        c.send("Subject: %d\r\n\r\n" % n + ("line %d\r\n" % n) * 100
               + ".\r\n")
        r = c.reply()
        c.close()
    except (OSError, EOFError):
        return
    if r.startswith("250"):
        with lock:
            acked[r.split()[-1]] = n
            if len(acked) == kill_after and not killed.is_set():
                killed.set()
                os.kill(m.proc.pid, signal.SIGKILL)


threads = [threading.Thread(target=submit, args=(i,)) for i in range(200)]
for th in threads:
    th.start()
for th in threads:
    th.join(30)
if not killed.is_set():
    os.kill(m.proc.pid, signal.SIGKILL)
m.proc.wait()
t.ok(len(acked) >= kill_after, "%d messages acknowledged" % len(acked))


def whole(qid, n):
    try:
        data = m.msg(qid).decode()
        env = m.env(qid)
    except FileNotFoundError:
        return False
    return ("Subject: %d\n" % n in data and data.endswith("line %d\n" % n)
            and "r%d@remote.example" % n in env)


lost = [q for q, n in acked.items() if not whole(q, n)]
t.eq(lost, [], "every acknowledged message is whole in queue/ after kill -9")

m.start()
t.eq(os.listdir(os.path.join(m.spool, "tmp")), [],
     "restart: tmp/ is cleared")
lost = [q for q, n in acked.items() if not whole(q, n)]
t.eq(lost, [], "every acknowledged message is still queued after restart")
orphans = [f for f in os.listdir(os.path.join(m.spool, "queue"))
           if f.endswith(".msg") and not os.path.exists(
               os.path.join(m.spool, "queue", f[:-4] + ".env"))]
t.eq(orphans, [], "no data file without its envelope")
c = m.connect()
t.like(c.greeting, "220", "the restarted mtad serves again")
c.close()
t.eq(m.stop(), 0, "mtad stops cleanly")
t.done()
