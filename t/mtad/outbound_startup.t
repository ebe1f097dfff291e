#!/usr/bin/python3
# Mail handed to mtad-sendmail while mtad was down leaves for the smart host
# as soon as mtad starts with the link up: the runner is told about it the
# moment it is born (it once died of that very first signal).
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest
from smtpd_util import Mtad

t = mhtest.Test()
tmp = mhtest.tmpdir()
sink = mhtest.SmartHost(tmp, tls="none")
m = Mtad(extra="smarthost 127.0.0.1:%d\nsmarthost-tls none\nlink up\n"
         % sink.port, start=False, tmp=tmp)

for i in range(3):
    r = mhtest.run([mhtest.bin("mtad/mtad-sendmail"), "-C", m.conf,
                    "-f", "eddy@hub.example", "friend%d@remote.example" % i],
                   input="Subject: while down %d\n\nbody\n" % i)
    t.eq(r.returncode, 0, "mtad-sendmail queues message %d with mtad down" % i)

for run in range(3):
    m.start()
    sink.wait_messages(3 * (run + 1), timeout=20)
    got = sink.messages()
    t.eq(len(got), 3 * (run + 1),
         "start %d: the queued mail reaches the smart host" % (run + 1))
    t.unlike(m.log(), "runner process", "start %d: the runner never died"
             % (run + 1))
    # The sink has the message a moment before the relay settles it.
    t.ok(mhtest.wait_for(lambda: m.queue_ids() == [], 10),
         "start %d: the queue is empty" % (run + 1), m.queue_ids())
    m.stop()
    if run < 2:
        for i in range(3):
            mhtest.run([mhtest.bin("mtad/mtad-sendmail"), "-C", m.conf,
                        "-f", "eddy@hub.example", "again%d@remote.example" % i],
                       input="Subject: again\n\nbody\n")
t.done()
