#!/usr/bin/python3
# make install DESTDIR=tmp PREFIX=/usr/local, from the tree already built
# (make -o all: nothing is rebuilt): binaries, man pages, README and samples
# under share/doc/mailhub, units and rc scripts with real paths, the ppp
# hooks and the NetworkManager dispatcher, all with the right modes; the
# installed hooks call the installed programs by full path (pppd's PATH has
# no /usr/local/bin).
import os
import re
import stat
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest  # noqa: E402

t = mhtest.Test()
dest = os.path.join(mhtest.tmpdir(), "root")
env = {k: v for k, v in os.environ.items()
       if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
p = subprocess.run(["make", "-s", "-C", mhtest.SRC, "-o", "all", "install",
                    "DESTDIR=" + dest, "PREFIX=/usr/local",
                    "B=" + mhtest.BIN], env=env, capture_output=True,
                   timeout=60)
t.eq(p.returncode, 0, "make install DESTDIR=... PREFIX=/usr/local: exit 0")
if p.returncode:
    t.diag(p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace"))


def mode(rel):
    try:
        return stat.S_IMODE(os.stat(os.path.join(dest, rel)).st_mode)
    except FileNotFoundError:
        return None


def read(rel):
    with open(os.path.join(dest, rel), errors="replace") as f:
        return f.read()


want = {
    "usr/local/sbin/mtad": 0o755, "usr/local/sbin/mtactl": 0o755,
    "usr/local/sbin/mtad-sendmail": 0o755, "usr/local/bin/fetchd": 0o755,
    "usr/local/bin/mtad-oauth2": 0o755,
    "usr/local/share/man/man1/mtad-oauth2.1": 0o644,
    "usr/local/share/man/man8/mtad.8": 0o644,
    "usr/local/share/man/man8/mtactl.8": 0o644,
    "usr/local/share/man/man8/mtad-sendmail.8": 0o644,
    "usr/local/share/man/man5/mtad.conf.5": 0o644,
    "usr/local/share/man/man1/fetchd.1": 0o644,
    "usr/local/share/doc/mailhub/README": 0o644,
    "usr/local/lib/systemd/system/mtad.service": 0o644,
    "usr/local/lib/systemd/system/fetchd.service": 0o644,
    "usr/local/share/doc/mailhub/rc/rc.mtad": 0o755,
    "usr/local/share/doc/mailhub/rc/rc.fetchd": 0o755,
    "etc/ppp/ip-up.d/mailhub": 0o755, "etc/ppp/ip-down.d/mailhub": 0o755,
    "etc/NetworkManager/dispatcher.d/90-mailhub": 0o755,
}
for s in sorted(os.listdir(mhtest.src("samples"))):
    want["usr/local/share/doc/mailhub/samples/" + s] = 0o644
for rel, m in sorted(want.items()):
    t.eq(mode(rel), m, "installed %s (mode %o)" % (rel, m))
t.eq(mode("usr/local/sbin/mtad-oauth2"), None,
     "mtad-oauth2 is a user's command: in bin, not sbin")

r = mhtest.run([os.path.join(dest, "usr/local/sbin/mtad"), "-n", "-C",
                os.path.join(dest, "nonexistent.conf")])
t.like(r.err, "nonexistent.conf", "the installed mtad runs (and names a "
       "missing config)")
for unit, prog in (("mtad.service", "/usr/local/sbin/mtad"),
                   ("fetchd.service", "/usr/local/bin/fetchd")):
    text = read("usr/local/lib/systemd/system/" + unit)
    t.ok(re.search(r"(?m)^ExecStart=%s\b" % re.escape(prog), text),
         "%s: ExecStart=%s" % (unit, prog))
    t.unlike(text, "@", "%s: no @PLACEHOLDER@ left" % unit)
t.like(read("usr/local/lib/systemd/system/mtad.service"),
       "/etc/mtad/mtad.conf", "mtad.service reads /etc/mtad/mtad.conf")
for rc, prog in (("rc.mtad", "/usr/local/sbin/mtad"),
                 ("rc.fetchd", "/usr/local/bin/fetchd")):
    text = read("usr/local/share/doc/mailhub/rc/" + rc)
    t.like(text, prog, "%s runs %s" % (rc, prog))
    t.ok(not re.search(r"@[A-Z]+@", text), "%s: no @PLACEHOLDER@ left" % rc)
for h in ("ip-up", "ip-down"):
    text = read("etc/ppp/%s.d/mailhub" % h)
    t.ok(re.search(r"(?m)^MTACTL=/usr/local/sbin/mtactl$", text)
         and re.search(r"(?m)^FETCHD=/usr/local/bin/fetchd$", text),
         "installed %s hook calls the installed mtactl and fetchd" % h)
    r = mhtest.run(["sh", "-n", os.path.join(dest, "etc/ppp/%s.d/mailhub" % h)])
    t.eq(r.returncode, 0, "installed %s hook is valid sh" % h)
t.like(read("etc/NetworkManager/dispatcher.d/90-mailhub"),
       "/etc/ppp/ip-up.d/mailhub", "the dispatcher runs the installed hook")
t.ok(not os.path.exists(os.path.join(dest, "var")),
     "a DESTDIR install creates no spool")
# install-compat: sendmail, mailq and newaliases name mtad-sendmail
dest2 = os.path.join(mhtest.tmpdir(), "root")
p = subprocess.run(["make", "-s", "-C", mhtest.SRC, "-o", "all",
                    "install-compat", "DESTDIR=" + dest2, "PREFIX=/usr/local",
                    "B=" + mhtest.BIN], env=env, capture_output=True,
                   timeout=60)
t.eq(p.returncode, 0, "make install-compat: exit 0")
for link in ("usr/local/sbin/sendmail", "usr/local/bin/mailq",
             "usr/local/bin/newaliases"):
    path = os.path.join(dest2, link)
    t.eq(os.readlink(path) if os.path.islink(path) else None,
         "/usr/local/sbin/mtad-sendmail",
         "install-compat: %s -> /usr/local/sbin/mtad-sendmail" % link)
t.done()
