#!/usr/bin/python3
# Relay policy: relay-from may send anywhere, everyone else only to the
# local domains; '%', '!' and source routes never open a relay.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest
from smtpd_util import Mtad

t = mhtest.Test()
m = Mtad(relay_from="127.0.0.1/32 ::1/128")

inside = m.connect()
inside.cmd("EHLO lan.example")
inside.cmd("MAIL FROM:<a@hub.example>")
t.like(inside.cmd("RCPT TO:<x@remote.example>"), "250 2.1.5",
       "client in relay-from: remote recipient accepted")
t.like(inside.cmd("RCPT TO:<@hub.example:y@remote.example>"), "250",
       "client in relay-from: source route to a remote address accepted")

out = m.connect(src="127.0.0.2")
out.cmd("EHLO outside.example")
out.cmd("MAIL FROM:<a@outside.example>")
t.like(out.cmd("RCPT TO:<x@remote.example>"), "554 5.7.1",
       "client outside relay-from: 554 5.7.1 relaying denied")
t.like(out.cmd("RCPT TO:<x@REMOTE.example>"), "554 5.7.1",
       "case does not matter")
t.like(out.cmd("RCPT TO:<root@hub.example>"), "250 2.1.5",
       "outside client may send to a local domain")
t.like(out.cmd("RCPT TO:<root@LAN.example>"), "250 2.1.5",
       "... any of the local domains, in any case")
t.like(out.cmd("RCPT TO:<x%remote.example@hub.example>"), "550 5.1.1",
       "'%' in a local part is not a route: 550 5.1.1")
t.like(out.cmd("RCPT TO:<remote.example!x@hub.example>"), "550 5.1.1",
       "'!' in a local part is not a route: 550 5.1.1")
t.like(out.cmd("RCPT TO:<@hub.example:x@remote.example>"), "554 5.7.1",
       "source route via a local hop judged by its final address")
t.like(out.cmd("RCPT TO:<@remote.example:root@hub.example>"), "250",
       "source route ending at a local user is local")
t.like(out.cmd("RCPT TO:<\"x@remote.example\"@hub.example>"), "550 5.1.1",
       "quoted '@' in a local part is not a route")
t.like(out.cmd("RCPT TO:<x@hub.example.remote.example>"), "554 5.7.1",
       "a local domain as a prefix is not local")
out.cmd("QUIT")
inside.cmd("QUIT")
t.eq(m.queue_ids(), [], "nothing queued")
t.eq(m.stop(), 0, "mtad stops cleanly")
t.done()
