#!/usr/bin/python3
# Mail waits while the link is down, then leaves over ONE connection when the
# link comes up, masqueraded (envelope and headers), and the link state
# survives a restart.
import email
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest
import outbound

t = mhtest.Test()
tmp = mhtest.tmpdir()
sh = mhtest.SmartHost(tmp)
gen = os.path.join(tmp, "generics")
with open(gen, "w") as f:
    f.write("sam sam.jones@mail.example\n"
            "keith@shofar.lan keith.smith@isp.example\n")
hub = outbound.Hub(tmp, sh, extra="masquerade isp.example\ngenerics %s\n" % gen)

hub.send("eddy@shofar.lan", ["alice@remote.example"], subject="one",
         headers='From: "Eddy \\"E\\" Smith" <eddy@shofar.lan> (at home)\r\n'
                 'Sender: eddy@pc1.shofar.lan\r\n'
                 'Reply-To: Eddy <eddy@shofar.lan>,\r\n'
                 '\tKeith (boss) <keith@shofar.lan>\r\n'
                 'To: alice@remote.example\r\n')
hub.send("keith@pc1.shofar.lan", ["bob@remote.example", "carol@remote.example"],
         subject="two")
hub.send("root@shofar.lan", ["alice@remote.example"], subject="three")
hub.send("", ["alice@remote.example"], subject="four")
hub.send("sam@shofar.lan", ["alice@remote.example"], subject="five")

time.sleep(1.5)
t.eq(sh.connections(), 0, "link down: the smart host sees no connection")
st = hub.status()
t.eq(st.get("link"), "down", "status: link: down")
t.eq(st.get("queue"), "5 messages", "status: 5 messages waiting")
t.ok(st.get("oldest", "-") != "-", "status: age of the oldest message")
t.eq(st.get("last flush"), "never", "status: no flush yet")
r = hub.ctl("mailq")
t.like(r.out, "<bob@remote.example>", "mailq lists the waiting recipients")
t.like(r.out, "Total requests: 5", "in mailq(1)'s shape")
q = mhtest.run([mhtest.bin("mtad/mtad-sendmail"), "-C", hub.conf, "-bp"])
t.eq(r.out, q.out, "mtactl mailq prints what mtad-sendmail -bp prints")

r = hub.ctl("link", "up")
t.eq(r.returncode, 0, "mtactl link up exits 0")
t.like(r.out, "flush: 5 sent, 0 deferred, 0 bounced", "and reports the flush")
t.eq(sh.connections(), 1, "everything went over ONE connection")
msgs = {email.message_from_bytes(m["data"])["Subject"]: m
        for m in sh.messages()}
t.eq(sorted(msgs), ["five", "four", "one", "three", "two"],
     "all five messages arrived")

one = msgs["one"]
t.eq(one["mail_from"], "eddy@isp.example", "envelope sender masqueraded")
hdr = one["data"].split(b"\r\n\r\n")[0].decode()
t.like(hdr, 'From: "Eddy \\"E\\" Smith" <eddy@isp.example> (at home)\r\n',
       "From: rewritten, display name and comment kept")
t.like(hdr, "Sender: eddy@isp.example\r\n", "Sender: subdomain rewritten")
t.like(hdr, "Reply-To: Eddy <eddy@isp.example>,\r\n"
       "\tKeith (boss) <keith.smith@isp.example>\r\n",
       "Reply-To: rewritten (generics for keith), folding kept")
t.like(hdr, "To: alice@remote.example", "To: untouched")
t.like(hdr, "Received: ", "the Received: header travels too")

two = msgs["two"]
t.eq(two["mail_from"], "keith@isp.example",
     "keith@pc1.shofar.lan: full-address generics key does not cover a "
     "subdomain; masquerade does")
t.eq(sorted(two["rcpt_tos"]), ["bob@remote.example", "carol@remote.example"],
     "both recipients in one transaction")
t.eq(msgs["three"]["mail_from"], "root@shofar.lan", "exposed root untouched")
t.ok(msgs["four"]["mail_from"] in ("", "<>"), "<> untouched")
t.eq(msgs["five"]["mail_from"], "sam.jones@mail.example", "generics map first")

log = hub.log()
t.like(log, "to=<alice@remote.example>, delay=", "a to= line per recipient")
t.like(log, "mailer=relay, relay=127.0.0.1 [127.0.0.1], stat=Sent (250",
       "with relay=host [ip] and stat=Sent (reply)")
t.like(log, "xdelay=00:00:0", "and xdelay=")

st = hub.status()
t.eq(st.get("link"), "up", "status: link: up")
t.eq(st.get("queue"), "0 messages", "status: queue empty")
t.like(st.get("last flush", ""), "5 sent, 0 deferred, 0 bounced",
       "status: last flush result")
t.eq(hub.queue_ids(), [], "nothing left in the queue")

# The link state persists across a restart, and new mail leaves at once.
hub.stop()
hub.start()
t.eq(hub.status().get("link"), "up", "link up survives a restart")
hub.send("eddy@shofar.lan", ["alice@remote.example"], subject="six")
t.ok(sh.wait_messages(6, 20), "with the link up, new mail leaves by itself")

r = hub.ctl("link", "down")
t.eq(r.returncode, 0, "mtactl link down exits 0")
hub.stop()
hub.start()
t.eq(hub.status().get("link"), "down", "link down survives a restart")
hub.send("eddy@shofar.lan", ["alice@remote.example"], subject="seven")
time.sleep(1.5)
t.eq(len(sh.messages()), 6, "and holds mail again")
r = hub.ctl("flush")
t.eq(r.returncode, 1, "flush while the link is down fails")
t.like(r.out, "link is down", "saying why")
hub.stop()
t.unlike(hub.log(), "ERROR: AddressSanitizer", "no sanitizer report")
t.done()
