"""Shared pieces of the fault tests (t/mtad/fault_*.t): an mtad started
under the faultfs shim (t/lib/faultfs.py), with a spool, local mailboxes
(mbox or Maildir) and optionally a smart host, and raw SMTP to it.

    t, tmp, ff = faultutil.setup()      # or ff = None: no shim
    hub = faultutil.Hub(tmp, ff, mailbox="mbox", sh=None)
    hub.kill()                         # SIGKILL the whole process group
    c = hub.connect()                  # smtpd_util.Client
    hub.ctl("link", "up")              # mtactl (never under the shim)
    hub.restart()                      # SIGTERM, start again (same spool)
    hub.retry_now(qid)                 # restart with qid's recipients due
    hub.queue_files(), hub.tmp_files() # what lies in queue/ and tmp/
    faultutil.sweep(ff.calls())        # the calls to fail (faultfs.sweep)
"""

import os
import re
import signal

import faultfs
import mhtest
from smtpd_util import Client

BODY_LINES = 40
sweep = faultfs.sweep


def setup():
    """The start of a fault test: its Test, a tmpdir and a FaultFS on it;
    skips the whole test when the shim is not built."""
    t = mhtest.Test()
    if not faultfs.available():
        t.skip_all("faultfs shim not built (make units)")
    tmp = mhtest.tmpdir()
    return t, tmp, faultfs.FaultFS(tmp)


def body(tag, lines=BODY_LINES, width=60):
    """A message whose every line names it, ending in an END line."""
    hdr = ("From: <eddy@lan.example>\r\nSubject: %s\r\n"
           "Message-ID: <%s@lan.example>\r\n\r\n" % (tag, tag))
    text = "".join("%s line %05d %s\r\n" % (tag, i, "x" * width)
                   for i in range(lines))
    return hdr + text + "END %s\r\n" % tag


class Hub:
    def __init__(self, tmp, ff, mailbox="mbox", sh=None, link="down",
                 extra="", name="hub"):
        self.ff = ff
        self.dir = os.path.join(tmp, name)
        self.spool = os.path.join(self.dir, "spool")
        self.mail = os.path.join(self.dir, "mail")
        self.filebox = os.path.join(self.dir, "filebox")
        os.makedirs(self.mail)
        self.port = mhtest.free_port()
        self.conf = os.path.join(self.dir, "mtad.conf")
        aliases = os.path.join(self.dir, "aliases")
        with open(aliases, "w") as f:
            f.write("postmaster: root\nfiles: %s\n" % self.filebox)
        box = ("mbox %s" % self.mail if mailbox == "mbox"
               else "maildir %s/%%u" % self.mail)
        lines = ["hostname hub.example", "listen 127.0.0.1:%d" % self.port,
                 "relay-from 127.0.0.1/32", "local-domains hub.example",
                 "spool %s" % self.spool, "user root",
                 "aliases %s" % aliases, "mailbox %s" % box,
                 "link %s" % link]
        if sh is not None:
            lines += ["smarthost %s:%d" % (sh.host, sh.port),
                      "smarthost-tls none"]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n" + extra)
        self.logpath = os.path.join(self.dir, "mtad.log")
        self.proc = None
        self.start()

    def start(self):
        self._logf = open(self.logpath, "ab")
        self.proc = mhtest.Proc([mhtest.bin("mtad/mtad"), "-C", self.conf,
                                 "-F", "-v"],
                                env=self.ff.env() if self.ff else None,
                                stdout=self._logf, stderr=self._logf)
        mhtest.wait_port(self.port, proc=self.proc, timeout=20)
        sock = os.path.join(self.spool, "control")
        if not mhtest.wait_for(lambda: os.path.exists(sock), 10):
            raise RuntimeError("no control socket: " + self.log()[-2000:])

    def stop(self):
        if self.proc:
            self.proc.stop()
            self._logf.close()
            self.proc = None

    def kill(self):
        """SIGKILL mtad and every process of its group (runner, relay and
        delivery children): a crash."""
        if self.proc:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            self._logf.close()
            self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def due_now(self, qid):
        """Make every pending recipient of qid due at once (as if its retry
        time had come).  Only while mtad is stopped."""
        path = os.path.join(self.spool, "queue", qid + ".env")
        with open(path) as f:
            env = f.read()
        env = re.sub(r"^(rcpt pending \w+ \d+) \d+ ", r"\1 0 ", env,
                     flags=re.M)
        tmpf = os.path.join(self.spool, "tmp", qid + ".edit")
        with open(tmpf, "w") as f:
            f.write(env)
        os.rename(tmpf, path)

    def retry_now(self, qid):
        """Restart with qid's recipients due: the start-up scan retries."""
        self.stop()
        self.due_now(qid)
        self.start()

    def log(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def ctl(self, *args, timeout=60):
        return mhtest.run([mhtest.bin("mtad/mtactl"), "-C", self.conf]
                          + list(args), timeout=timeout)

    def connect(self):
        return Client(self.port, timeout=30)

    def _ls(self, sub):
        d = os.path.join(self.spool, sub)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def queue_files(self):
        return self._ls("queue")

    def tmp_files(self):
        return self._ls("tmp")

    def queue_ids(self):
        return sorted(n[:-4] for n in self.queue_files() if n.endswith(".env"))

    def msg(self, qid):
        with open(os.path.join(self.spool, "queue", qid + ".msg"), "rb") as f:
            return f.read()

    def mbox(self, user="root"):
        try:
            with open(os.path.join(self.mail, user), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def maildir(self, user="root"):
        """{sub: sorted names} of a user's Maildir."""
        out = {}
        for sub in ("tmp", "new", "cur"):
            d = os.path.join(self.mail, user, sub)
            out[sub] = sorted(os.listdir(d)) if os.path.isdir(d) else []
        return out

    def maildir_texts(self, user="root"):
        out = []
        d = os.path.join(self.mail, user, "new")
        for n in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            with open(os.path.join(d, n), "rb") as f:
                out.append(f.read())
        return out


def send(c, rcpts, data, sender="eddy@lan.example"):
    """One transaction on an open Client; the reply to the final dot (or
    the first refusal before it)."""
    r = c.cmd("MAIL FROM:<%s>" % sender)
    if not r.startswith("250"):
        return r
    for rc in rcpts:
        r = c.cmd("RCPT TO:<%s>" % rc)
        if not r.startswith("250"):
            return r
    r = c.cmd("DATA")
    if not r.startswith("354"):
        return r
    c.send(data + ".\r\n")
    return c.reply()


def copies(blob, tag):
    """Complete copies of message `tag` in an mbox or file: its END line."""
    if isinstance(blob, bytes):
        blob = blob.decode(errors="replace")
    return blob.count("END %s\n" % tag) + blob.count("END %s\r\n" % tag)
