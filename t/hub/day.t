#!/usr/bin/python3
# A day at the hub, everything real on loopback (issue 6): a LAN host and a
# local user submit while the link is down; local mail is delivered at once,
# outbound mail waits; the ip-up hook, run as pppd runs it, flushes the queue
# to the smart host (implicit TLS + AUTH, masqueraded, one connection) and
# starts fetchd, which drains a single-drop and a multi-drop mailbox through
# mtad into local mailboxes; the ip-down hook stops fetchd and holds new
# outbound mail again.  Every message is counted at every end and followed
# through mtad's log by queue ID.
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hublib  # noqa: E402
import mhtest  # noqa: E402

t = mhtest.Test()
if os.geteuid() != 0:
    t.skip_all("needs root: mtad delivers as the recipient")
hub = hublib.Hub()
sh, dc = hub.sh, hub.dc


def msg(i, to, frm="Alice <alice@example.org>", extra=""):
    return ("From: %s\r\nTo: %s\r\nSubject: fetched %d\r\n"
            "Message-ID: <f%d@example.org>\r\n%s\r\nfetched body %d\r\n"
            % (frm, to, i, i, extra, i)).encode()


# --- morning: the link is down ----------------------------------------------
t.eq(hub.status().get("link"), "down", "the day starts with the link down")

qids = {}
r = hub.swaks("keith@shofar.lan", "friend@remote.example", "lan out 1")
t.ok(r.qid, "LAN host (127.0.0.2, relay-from) relays to a remote address",
     r.out[-800:])
qids["lan out 1"] = r.qid
r = hub.swaks("alice@shofar.lan", "eddy@shofar.lan", "lan local 1")
t.ok(r.qid, "LAN host sends to a local user", r.out[-800:])
qids["lan local 1"] = r.qid
r = hub.swaks("mallory@shofar.lan", "friend@remote.example", "not relayed",
              src="127.0.0.3")
t.ok(r.qid is None and "554 5.7.1" in r.out,
     "a host outside relay-from cannot relay (554 5.7.1)", r.out[-800:])

r = hub.sendmail("From: Eddy <eddy@shofar.lan>\n"
                 "To: Pen Friend <pen@far.example>\n"
                 "Cc: keith@shofar.lan\n"
                 "Bcc: alice@shofar.lan\n"
                 "Subject: sendmail out 1\n\nfrom eddy's MUA\n", "-t", "-i",
                 "-f", "eddy@shofar.lan", "-v")
t.eq(r.returncode, 0, "mtad-sendmail -t: exit 0")
# mtad-sendmail logs its from= line itself (to syslog; -v: stderr too)
sublog = r.err
m = re.search(r"(\S+): from=<eddy@shofar.lan>", r.err)
t.ok(m, "mtad-sendmail logs from= with the queue ID", r.err)
qids["sendmail out 1"] = m and m.group(1)
r = hub.sendmail("From: eddy@shofar.lan\nTo: friend@remote.example\n"
                 "Subject: sendmail out 2\n\nsecond\n", "-t", "-v")
t.eq(r.returncode, 0, "mtad-sendmail -t: second message, exit 0")
sublog += r.err
m = re.search(r"(\S+): from=<root@", r.err)
qids["sendmail out 2"] = m and m.group(1)

t.ok(mhtest.wait_for(lambda: "lan local 1" in hub.box_subjects("eddy")
                     and "sendmail out 1" in hub.box_subjects("keith")
                     and "sendmail out 1" in hub.box_subjects("alice"), 10),
     "local mail delivered at once while the link is down (eddy, Cc keith, "
     "Bcc alice)")
t.unlike(hub.box("alice"), "Bcc:", "Bcc: dropped by -t")
t.eq(sh.connections(), 0, "link down: the smart host sees no connection")
t.ok(mhtest.wait_for(lambda: hub.status().get("queue") == "3 messages", 10),
     "three outbound messages wait in the queue",
     repr(hub.status()))

# mail waiting at the ISP
for i in (1, 2):
    dc.deliver("shofar.example.co.uk", msg(i, "whoever@example.co.uk"))
dc.deliver("shofar", msg(11, "nelug@shofar.example.net, "
                             "keith@shofar.example.net"))
dc.deliver("shofar", msg(12, "eddy@shofar.example.net",
                         extra="Cc: keith@shofar.example.net\r\n"))
dc.deliver("shofar", msg(13, "stranger@shofar.example.net"))

# --- the link comes up ------------------------------------------------------
r = hub.ip_up()
t.eq(r.returncode, 0, "ip-up hook: exit 0")
t.eq(r.out, "", "ip-up hook: quiet on success")
t.ok(r.elapsed < 10, "ip-up returns promptly (%.1f s)" % r.elapsed)
t.ok(sh.wait_messages(3, 30), "the smart host receives the 3 queued messages")
t.ok(mhtest.wait_for(lambda: dc.count("shofar.example.co.uk") == 0
                     and dc.count("shofar") == 0, 30),
     "fetchd (started by the hook) drains both ISP mailboxes")
t.ok(hub.fetchd_pid(), "fetchd's poll loop runs (pid file)")
t.eq(hub.logger_lines(), "", "nothing logged as a failure")

out = sh.messages()
t.eq(len(out), 3, "smart host: exactly 3 messages, none doubled")
t.eq(sh.connections(), 1, "smart host: one connection carried them all")
cmds = [c.upper() for c in sh.commands(1)]
t.ok(any(c.startswith("AUTH") for c in cmds), "smart host: AUTH was used")
t.unlike("\n".join(sh.commands(1)), "isp-secret",
         "the password is not sent in clear in a command line")
by_subj = {}
for m in out:
    s = re.search(rb"(?m)^Subject: (.*?)\r?$", m["data"]).group(1).decode()
    by_subj[s] = m
t.eq(sorted(by_subj), ["lan out 1", "sendmail out 1", "sendmail out 2"],
     "smart host: every outbound message, once")
m = by_subj.get("lan out 1", {})
t.eq(m.get("mail_from"), "keith.smith@isp.example",
     "LAN sender masqueraded by generics", )
m = by_subj.get("sendmail out 1", {})
t.eq(m.get("mail_from"), "eddy@isp.example",
     "local user's envelope sender masqueraded")
t.eq(m.get("rcpt_tos"), ["pen@far.example"],
     "only the remote recipient goes to the smart host")
t.like(m.get("data", b"").decode(errors="replace"),
       "From: Eddy <eddy@isp.example>", "From: header masqueraded")
t.unlike(m.get("data", b"").decode(errors="replace"), "Bcc:",
         "no Bcc: leaves the hub")
m = by_subj.get("sendmail out 2", {})
t.eq(m.get("mail_from"), "root@hub.shofar.lan",
     "root's own submission keeps its address (exposed-users)")
t.like(m.get("data", b"").decode(errors="replace"),
       "From: eddy@isp.example", "but its From: header is masqueraded")

# fetched mail, mapped as the rc file says
def fetched(user):
    return sorted(s for s in hub.box_subjects(user) if s.startswith("fetched"))


# Local deliveries run in parallel children: wait for all six copies.
t.ok(mhtest.wait_for(lambda: len(fetched("eddy")) + len(fetched("keith")) +
                     len(fetched("postmaster")) >= 6, 30),
     "fetched mail reached the local mailboxes")
eddy, keith, pm = fetched("eddy"), fetched("keith"), fetched("postmaster")
t.eq(eddy, ["fetched 1", "fetched 12", "fetched 2"],
     "eddy: the single-drop mail and his multi-drop mail, once each")
t.eq(keith, ["fetched 11", "fetched 12"],
     "keith: nelug=keith and keith give one copy each")
t.eq(pm, ["fetched 13"], "the unmapped name goes to the postmaster")

# --- the link goes down -----------------------------------------------------
fpid = hub.fetchd_pid()
r = hub.ip_down()
t.eq(r.returncode, 0, "ip-down hook: exit 0")
t.eq(r.out, "", "ip-down hook: quiet on success")
t.ok(mhtest.wait_for(lambda: not hub.fetchd_pids(), 15),
     "ip-down stops fetchd (pid %s)" % fpid)
t.eq(hub.status().get("link"), "down", "mtactl status: link down")
r = hub.swaks("alice@shofar.lan", "late@remote.example", "lan out late")
t.ok(r.qid, "a late LAN message is accepted", r.out[-500:])
qids["lan out late"] = r.qid
t.ok(mhtest.wait_for(lambda: hub.status().get("queue") == "1 messages"
                     or hub.status().get("queue") == "1 message", 10),
     "and waits in the queue", repr(hub.status()))
import time  # noqa: E402
time.sleep(1)
t.eq(len(sh.messages(all=True)), 3, "link down again: nothing more leaves")
t.eq(sh.connections(), 1, "and the smart host sees no new connection")
t.eq(hub.logger_lines(), "", "no hook failure logged all day")

# --- mtad's log: each message from submission to stat= ----------------------
log = hub.log()
froms = dict(re.findall(r"(\S+): from=<([^>]*)>, size=", log + sublog))
stats = re.findall(r"(\S+): to=<([^>]*)>,.*? mailer=(\w+),.*?stat=(\w+)", log)
for subj in ("lan out 1", "lan local 1", "lan out late", "sendmail out 1",
             "sendmail out 2"):
    t.ok(qids.get(subj) in froms, "log: %s: from= line under its queue ID %s"
         % (subj, qids.get(subj)))
sent = {}
for qid, rcpt, mailer, st in stats:
    sent.setdefault(qid, []).append((rcpt, mailer, st))
t.ok(("friend@remote.example", "relay", "Sent") in sent.get(qids["lan out 1"],
                                                           []),
     "log: the LAN message reaches stat=Sent via the relay by its queue ID",
     repr(sent.get(qids["lan out 1"])))
t.eq([s for s in sent.get(qids["lan local 1"], [])
      if s[2] == "Sent"][:1] and sent[qids["lan local 1"]][0][1], "local",
     "log: the local message: mailer=local, stat=Sent")
for subj in ("sendmail out 1", "sendmail out 2"):
    t.ok(("relay", "Sent") in [x[1:] for x in sent.get(qids[subj], [])],
         "log: %s: stat=Sent via the relay by its queue ID" % subj,
         repr(sent.get(qids[subj])))
t.ok(not any(st == "Sent" for _, _, st in sent.get(qids["lan out late"], [])),
     "log: the late message is not Sent")
done = [q for q in froms if q != qids["lan out late"]]
t.ok(len(done) >= 2 + 2 + 5, "log: a from= line for every message "
     "(%d)" % len(done))
t.ok(all(any(st == "Sent" for _, _, st in sent.get(q, [])) for q in done),
     "log: every other message reaches stat=Sent",
     "\n".join(q for q in done
               if not any(st == "Sent" for _, _, st in sent.get(q, []))))
t.unlike(log, "stat=Bounced", "log: nothing bounced")
t.unlike(log, "isp-secret", "log: the smart host password never logged")
relay_sent = [x for x in stats if x[2] == "relay" and x[3] == "Sent"]
t.eq(len(relay_sent), 3, "log: exactly 3 relay deliveries Sent")
if os.environ.get("HUB_DUMP"): print(hub.log())
t.done()
