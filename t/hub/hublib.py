"""A whole hub on loopback for the t/hub tests: a real mtad (-F, log to a
file), a smart host with implicit TLS and AUTH, a Dovecot with a single-drop
and a multi-drop mailbox, an rc file as samples/fetchmailrc has it, and the
defaults file the ppp hooks read, every path pointing into the build tree
and a temp dir.

    import hublib
    hub = hublib.Hub(**smarthost_options)
    hub.ip_up() / hub.ip_down()  # the hooks as pppd runs them: CompletedProcess
    hub.box("eddy")              # what local delivery wrote for eddy
"""
import os
import re
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest  # noqa: E402

PPP_ARGS = ["ppp0", "/dev/ttyS0", "38400", "10.0.0.2", "10.0.0.1", ""]
LOCALS = ("eddy", "keith", "postmaster", "alice")


class Hub:
    def __init__(self, interval=300, fetchd_user=None, start=True,
                 **smarthost):
        self.tmp = tmp = mhtest.tmpdir("mailhub-hub-")
        os.chmod(tmp, 0o755)
        self.ca = mhtest.CA(os.path.join(tmp, "ca"))
        smarthost.setdefault("auth_required", True)
        self.sh = mhtest.SmartHost(tmp, tls="smtps", ca=self.ca,
                                   auth={"shofar": "isp-secret"}, **smarthost)
        self.dc = mhtest.Dovecot(tmp, users={"shofar.example.co.uk": "secret1",
                                             "shofar": "secret2"}, ca=self.ca)
        self.port = mhtest.free_port()
        self.spool = os.path.join(tmp, "spool")
        self.boxes = os.path.join(tmp, "boxes")
        os.mkdir(self.boxes)
        os.chmod(self.boxes, 0o1777)
        aliases = os.path.join(tmp, "aliases")
        with open(aliases, "w") as f:
            for u in LOCALS:
                f.write("%s: %s/%s\n" % (u, self.boxes, u))
            f.write("root: postmaster\n")
        auth = os.path.join(tmp, "auth.conf")
        with open(auth, "w") as f:
            f.write("shofar|127.0.0.1:isp-secret\n")
        os.chmod(auth, 0o600)
        generics = os.path.join(tmp, "generics")
        with open(generics, "w") as f:
            f.write("keith@shofar.lan\tkeith.smith@isp.example\n")
        self.conf = os.path.join(tmp, "mtad.conf")
        with open(self.conf, "w") as f:
            f.write("hostname hub.shofar.lan\n"
                    "listen 127.0.0.1:%d\n"
                    "relay-from 127.0.0.2/32\n"
                    "local-domains shofar.lan hub.shofar.lan localhost\n"
                    "spool %s\nuser root\naliases %s\n"
                    "mailbox mbox %s\n"
                    "smarthost 127.0.0.1:%d\nsmarthost-tls smtps\n"
                    "tls-ca-file %s\nauth %s\n"
                    "masquerade isp.example\ngenerics %s\n"
                    "link down\n"
                    % (self.port, self.spool, aliases, self.boxes,
                       self.sh.port, self.ca.ca_file, auth, generics))
        self.rc = os.path.join(tmp, "fetchmailrc")
        self.fetchlog = os.path.join(tmp, "fetchd.log")
        with open(self.rc, "w") as f:
            f.write('set postmaster "postmaster"\nset no bouncemail\n'
                    'set logfile "%(log)s"\n'
                    'poll pop.example.net via 127.0.0.1 with proto POP3 '
                    'port %(pop)d\n'
                    '  user "shofar.example.co.uk" there with password '
                    '"secret1" is eddy here options flush\n'
                    '  sslcertfile %(ca)s smtphost 127.0.0.1/%(mta)d\n'
                    'poll mail.example.net via 127.0.0.1 with proto IMAP '
                    'port %(imap)d aka shofar.example.net\n'
                    '  user "shofar" with password "secret2" to eddy '
                    'nelug=keith keith here options flush\n'
                    '  sslcertfile %(ca)s smtphost 127.0.0.1/%(mta)d\n'
                    % {"log": self.fetchlog, "pop": self.dc.pop3,
                       "imap": self.dc.imap, "ca": self.ca.ca_file,
                       "mta": self.port})
        os.chmod(self.rc, 0o600)
        self.pidfile = os.path.join(tmp, "fetchd.pid")
        self.defaults = os.path.join(tmp, "mailhub")
        with open(self.defaults, "w") as f:
            f.write("MTACTL=%s\nMTAD_CONF=%s\nFETCHD=%s\nFETCHD_RC=%s\n"
                    "FETCHD_INTERVAL=%d\nFETCHD_PIDFILE=%s\n"
                    % (mhtest.bin("mtad/mtactl"), self.conf,
                       mhtest.bin("fetchd/fetchd"), self.rc, interval,
                       self.pidfile))
            if fetchd_user:
                f.write("FETCHD_USER=%s\n" % fetchd_user)
        # A fake logger first in PATH: the hooks' failure reports land here.
        self.bindir = os.path.join(tmp, "bin")
        os.mkdir(self.bindir)
        self.loggerlog = os.path.join(tmp, "logger.log")
        fake = os.path.join(self.bindir, "logger")
        with open(fake, "w") as f:
            f.write('#!/bin/sh\nprintf "%%s\\n" "$*" >> %s\n' % self.loggerlog)
        os.chmod(fake, 0o755)
        self.env = {"MAILHUB_DEFAULTS": self.defaults, "HOME": tmp,
                    "PATH": self.bindir + ":" + os.environ["PATH"],
                    "FETCHMAILUSER": "eddy", "FETCHMAILHOME": ""}
        self.logpath = os.path.join(tmp, "mtad.log")
        if start:
            self.start()
        mhtest.on_exit(self.stop_fetchd)

    def start(self):
        self.logf = open(self.logpath, "ab")
        self.mtad = mhtest.Proc([mhtest.bin("mtad/mtad"), "-C", self.conf,
                                 "-F"], stdout=self.logf, stderr=self.logf)
        mhtest.wait_port(self.port, proc=self.mtad)

    def hook(self, which, timeout=30):
        t0 = time.monotonic()
        r = subprocess.run([mhtest.src("ppp/%s.d/mailhub" % which)]
                           + PPP_ARGS, env=dict(os.environ, **self.env),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        r.elapsed = time.monotonic() - t0
        r.out = r.stdout.decode(errors="replace")
        return r

    def ip_up(self, **kw):
        return self.hook("ip-up", **kw)

    def ip_down(self, **kw):
        return self.hook("ip-down", **kw)

    def fetchd_pid(self):
        try:
            with open(self.pidfile) as f:
                pid = int(f.read().split()[0])
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError, IndexError):
            return None

    def fetchd_pids(self):
        """Every running fetchd reading our rc file."""
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    argv = f.read().split(b"\0")
                with open("/proc/%s/stat" % d) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z" and self.rc.encode() in argv:
                out.append(int(d))
        return out

    def stop_fetchd(self):
        import signal
        for pid in self.fetchd_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def mtactl(self, *args):
        return mhtest.run([mhtest.bin("mtad/mtactl"), "-C", self.conf]
                          + list(args), timeout=30)

    def status(self):
        out = {}
        for line in self.mtactl("status").out.splitlines():
            k, _, v = line.partition(":")
            out[k.strip()] = v.strip()
        return out

    def log(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode(errors="replace")

    def logger_lines(self):
        try:
            with open(self.loggerlog) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def box(self, user):
        try:
            with open(os.path.join(self.boxes, user), "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def box_subjects(self, user):
        return re.findall(r"(?m)^Subject: (.*?)\r?$", self.box(user))

    def swaks(self, frm, to, subject, src="127.0.0.2", extra=()):
        r = mhtest.run(["swaks", "--server", "127.0.0.1", "--port",
                        str(self.port), "--local-interface", src,
                        "--helo", "lanhost.shofar.lan", "--from", frm,
                        "--to", to, "--header", "Subject: " + subject,
                        "--body", "body of " + subject] + list(extra),
                       timeout=30)
        m = re.search(r"<[-~] *250 2\.0\.0 queued as (\S+)", r.out)
        r.qid = m.group(1) if m else None
        return r

    def sendmail(self, text, *args):
        return mhtest.run([mhtest.bin("mtad/mtad-sendmail"), "-C", self.conf]
                          + list(args), input=text, timeout=30)
