"""Shared pieces of the SMTP-server tests (t/mtad/smtpd_*.t): start a real
mtad on a free loopback port with a temp spool, talk raw SMTP to it, look at
its queue."""

import os
import socket
import time

import mhtest


class Mtad:
    """mtad -F -v on 127.0.0.1:<free port>, spool and log in a temp dir."""

    def __init__(self, extra="", relay_from="127.0.0.1/32", start=True,
                 verbose=True, tmp=None):
        self.tmp = tmp or mhtest.tmpdir("mtad-smtpd-")
        self.port = mhtest.free_port()
        self.spool = os.path.join(self.tmp, "spool")
        self.conf = os.path.join(self.tmp, "mtad.conf")
        self.logpath = os.path.join(self.tmp, "mtad.log")
        os.makedirs(os.path.join(self.tmp, "mail"), exist_ok=True)
        aliases = os.path.join(self.tmp, "aliases")
        if not os.path.exists(aliases):
            with open(aliases, "w") as f:
                f.write("postmaster: root\nlist: root\n")
        with open(self.conf, "w") as f:
            f.write("hostname hub.example\n"
                    "listen 127.0.0.1:%d\n"
                    "local-domains hub.example lan.example\n"
                    "spool %s\n"
                    "user root\n"
                    "aliases %s\n"
                    "mailbox mbox %s\n"
                    % (self.port, self.spool, aliases,
                       os.path.join(self.tmp, "mail")))
            if relay_from:
                f.write("relay-from %s\n" % relay_from)
            f.write(extra)
        self.proc = None
        self.verbose = verbose
        if start:
            self.start()

    def start(self):
        argv = [mhtest.bin("mtad/mtad"), "-C", self.conf, "-F"]
        if self.verbose:
            argv.append("-v")
        self.logf = open(self.logpath, "ab")
        self.proc = mhtest.Proc(argv, stdout=self.logf, stderr=self.logf)
        mhtest.wait_port(self.port, proc=self.proc)
        return self

    def stop(self):
        rc = self.proc.stop()
        self.logf.close()
        return rc

    def log(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode(errors="replace")

    def queue_ids(self):
        d = os.path.join(self.spool, "queue")
        if not os.path.isdir(d):
            return []
        return sorted(n[:-4] for n in os.listdir(d) if n.endswith(".env"))

    def msg(self, qid):
        with open(os.path.join(self.spool, "queue", qid + ".msg"), "rb") as f:
            return f.read()

    def env(self, qid):
        with open(os.path.join(self.spool, "queue", qid + ".env")) as f:
            return f.read()

    def connect(self, src=None, timeout=10):
        return Client(self.port, src=src, timeout=timeout)


class Client:
    """Raw SMTP: send bytes, read whole replies (multi-line joined)."""

    def __init__(self, port, src=None, timeout=10):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        if src:
            self.s.bind((src, 0))
        self.s.connect(("127.0.0.1", port))
        self.buf = b""
        self.greeting = self.reply()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.s.sendall(data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode(errors="replace")

    def reply(self):
        """One reply: all its lines joined by \\n."""
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.line())
        return "\n".join(lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def closed(self, timeout=5):
        """True when the server closes the connection (no more bytes)."""
        self.s.settimeout(timeout)
        try:
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.s.close()


def transaction(c, sender="a@hub.example", rcpts=("x@remote.example",),
                body="Subject: t\r\n\r\nhello\r\n"):
    """EHLO..DATA..dot on a Client; returns the reply to the final dot."""
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<%s>" % sender)
    for r in rcpts:
        c.cmd("RCPT TO:<%s>" % r)
    c.cmd("DATA")
    c.send(body + ".\r\n")
    return c.reply()


def wait_log(m, needle, timeout=5.0):
    return mhtest.wait_for(lambda: needle in m.log(), timeout)


def code(reply):
    return reply[:3]


def now():
    return time.monotonic()
