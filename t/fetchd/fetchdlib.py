"""Helpers for fetchd's integration tests: an rc file, a run, a message.

    import fetchdlib as F
    env = F.Env(tmp)                      # HOME, pid file and idfile under tmp
    rc = env.rc('poll x via 127.0.0.1 ...')
    r = env.run(rc, "-v")                 # mhtest.run result (.returncode .err)
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest  # noqa: E402

FETCHD = mhtest.bin("fetchd/fetchd")


class Env:
    def __init__(self, tmp, user="eddy"):
        self.tmp = tmp
        self.pidfile = os.path.join(tmp, "fetchd.pid")
        self.idfile = os.path.join(tmp, "fetchids")
        self.env = {"HOME": tmp, "FETCHMAILUSER": user, "FETCHMAILHOME": "",
                    "TMPDIR": tmp}
        self.n = 0

    def rc(self, text, mode=0o600):
        self.n += 1
        path = os.path.join(self.tmp, "rc%d" % self.n)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def argv(self, rc, *args):
        return [FETCHD, "-f", rc, "--pidfile", self.pidfile,
                "--idfile", self.idfile] + list(args)

    def run(self, rc, *args, timeout=50):
        return mhtest.run(self.argv(rc, *args), env=self.env,
                          timeout=timeout)

    def start(self, rc, *args, **kw):
        return mhtest.Proc(self.argv(rc, *args), env=self.env, **kw)


def message(i, to="eddy@example.net", frm="Alice <alice@example.org>",
            extra="", body=None):
    body = body if body is not None else "message %d\r\n.a dot line\r\n" % i
    return ("From: %s\r\nTo: %s\r\nSubject: test %d\r\n"
            "Message-ID: <m%d@example.org>\r\n%s\r\n%s"
            % (frm, to, i, i, extra, body)).encode()


def subjects(sh):
    out = []
    for m in sh.messages():
        for line in m["data"].split(b"\r\n"):
            if line.startswith(b"Subject: "):
                out.append(line[9:].decode())
    return out


def poll_line(dc, port=None, proto="POP3", name="pop.example.net"):
    return "poll %s via 127.0.0.1 with proto %s port %d\n" % (
        name, proto, port or dc.pop3)
