"""A hub for the outbound tests: mtad on 127.0.0.1 with a smart host.

    hub = outbound.Hub(t, tmp, sh, tls="starttls", auth="isp|127.0.0.1:pw")
    hub.send("eddy@shofar.lan", ["a@remote.example"], subject="x")
    r = hub.ctl("link", "up")        # CompletedProcess with .out/.err
    hub.log()                        # mtad's stderr (-F -v) so far
"""

import os
import smtplib
import time

import mhtest


class Hub:
    def __init__(self, tmp, sh=None, tls="none", auth=None, link="down",
                 extra="", ca_file=None, name="hub", verbose=True):
        self.verbose = verbose
        self.dir = os.path.join(tmp, name)
        self.spool = os.path.join(self.dir, "spool")
        self.mail = os.path.join(self.dir, "mail")
        os.makedirs(self.spool)
        os.makedirs(self.mail)
        self.port = mhtest.free_port()
        self.conf = os.path.join(self.dir, "mtad.conf")
        aliases = os.path.join(self.dir, "aliases")
        with open(aliases, "w") as f:
            f.write("postmaster: root\n")
        lines = [
            "hostname hub.shofar.lan",
            "listen 127.0.0.1:%d" % self.port,
            "relay-from 127.0.0.0/8",
            "local-domains shofar.lan",
            "spool %s" % self.spool,
            "user root",
            "aliases %s" % aliases,
            "mailbox mbox %s" % self.mail,
            "link %s" % link,
        ]
        if sh is not None:
            lines.append("smarthost %s:%d" % (sh.host, sh.port))
            lines.append("smarthost-tls %s" % tls)
        if ca_file:
            lines.append("tls-ca-file %s" % ca_file)
        if auth is not None:
            path = os.path.join(self.dir, "auth.conf")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
            os.write(fd, (auth + "\n").encode())
            os.close(fd)
            lines.append("auth %s" % path)
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n" + extra)
        self.logpath = os.path.join(self.dir, "mtad.log")
        self.proc = None
        self.start()

    def start(self):
        self._logf = open(self.logpath, "ab")
        self.proc = mhtest.Proc([mhtest.bin("mtad/mtad"), "-C", self.conf,
                                 "-F"] + (["-v"] if self.verbose else []),
                                stdout=self._logf, stderr=self._logf)
        mhtest.wait_port(self.port, proc=self.proc)
        sock = os.path.join(self.spool, "control")
        if not mhtest.wait_for(lambda: os.path.exists(sock), 10):
            raise RuntimeError("no control socket: " + self.log()[-2000:])

    def stop(self):
        if self.proc:
            self.proc.stop()
            self._logf.close()
            self.proc = None

    def log(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def ctl(self, *args, timeout=60):
        return mhtest.run([mhtest.bin("mtad/mtactl"), "-C", self.conf]
                          + list(args), timeout=timeout)

    def send(self, sender, rcpts, subject="test", headers=None, body=None):
        hdrs = headers if headers is not None else \
            "From: %s\r\nTo: %s\r\n" % (sender or "MAILER-DAEMON",
                                         ", ".join(rcpts))
        msg = ("%sSubject: %s\r\nMessage-ID: <%s.%f@hub.shofar.lan>\r\n\r\n%s"
               % (hdrs, subject, subject.replace(" ", "."), time.time(),
                  body or "body of %s\r\n" % subject))
        with smtplib.SMTP("127.0.0.1", self.port, timeout=20) as s:
            s.ehlo("pc1.shofar.lan")
            s.sendmail(sender, rcpts, msg.encode())

    def queue_ids(self):
        q = os.path.join(self.spool, "queue")
        return sorted(f[:-4] for f in os.listdir(q) if f.endswith(".env"))

    def status(self):
        r = self.ctl("status")
        out = {}
        for line in r.out.splitlines():
            k, _, v = line.partition(": ")
            out[k] = v
        return out
