#!/usr/bin/python3
# mtad-sendmail exit codes (sysexits.h) and that a refused message leaves
# nothing behind.
import glob
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mhtest

EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_NOUSER, EX_TEMPFAIL, EX_CONFIG = 64, 65, 66, 67, 75, 78

t = mhtest.Test()
d = mhtest.tmpdir()
spool = os.path.join(d, "spool")
conf = os.path.join(d, "mtad.conf")
aliases = os.path.join(d, "aliases")
with open(aliases, "w") as f:
    f.write("dave: root\n")
with open(conf, "w") as f:
    f.write("hostname shofar.lan\nspool %s\naliases %s\nmax-message-size 2K\n" % (spool, aliases))
SENDMAIL = mhtest.bin("mtad/mtad-sendmail")


def run(args, text="Subject: x\n\nhi\n", c=conf):
    return mhtest.run([SENDMAIL, "-C", c] + args, input=text)


def leftovers():
    return sorted(os.listdir(os.path.join(spool, "maildrop")))


r = run(["dave"])
t.eq(r.returncode, 0, "a good submission exits 0")
for p in glob.glob(os.path.join(spool, "maildrop", "*")):
    os.unlink(p)

r = run([])
t.eq(r.returncode, EX_USAGE, "no recipients and no -t: EX_USAGE")
t.like(r.err, "no recipients", "and says so")
r = run(["-t"], "Subject: nobody\n\nhi\n")
t.eq(r.returncode, EX_DATAERR, "-t with no To/Cc/Bcc: EX_DATAERR")
t.like(r.err, "no recipients", "and says so")
t.eq(leftovers(), [], "nothing left in the maildrop")

r = run(["-t"], "To: a@@b\n\nhi\n")
t.eq(r.returncode, EX_DATAERR, "unparsable To: EX_DATAERR")
t.like(r.err, "To: header", "error names the header")
r = run(["a@@b"])
t.eq(r.returncode, EX_DATAERR, "bad command-line address: EX_DATAERR")
t.eq(leftovers(), [], "nothing left after bad addresses")

r = run(["nosuchuser"])
t.eq(r.returncode, EX_NOUSER, "unknown local user: EX_NOUSER")
t.like(r.err, "nosuchuser", "names the user")
r = run(["-t", "bob@example.org"], "To: nosuchuser@shofar.lan\n\nhi\n")
t.eq(r.returncode, EX_NOUSER, "unknown local user from -t: EX_NOUSER")
r = run(["postmaster"])
t.eq(r.returncode, 0, "postmaster always exists")
for p in glob.glob(os.path.join(spool, "maildrop", "*")):
    os.unlink(p)

r = run(["dave"], "Subject: big\n\n" + ("x" * 99 + "\n") * 40)
t.eq(r.returncode, EX_DATAERR, "message over max-message-size: EX_DATAERR")
t.like(r.err, "limit", "says it is too large")
t.eq(leftovers(), [], "nothing left after a too large message")

r = run(["dave"], "X-Long: " + "y" * (1100 * 1024) + "\n\nhi\n")
t.eq(r.returncode, EX_DATAERR, "header over 1 MB: EX_DATAERR")

bad = os.path.join(d, "bad.conf")
with open(bad, "w") as f:
    f.write("hostname shofar.lan\nfrobnicate yes\n")
r = run(["dave"], c=bad)
t.eq(r.returncode, EX_CONFIG, "bad config line: EX_CONFIG")
t.like(r.err, "bad.conf:2:", "error names file:line")
r = run(["dave"], c=os.path.join(d, "missing.conf"))
t.eq(r.returncode, EX_CONFIG, "missing config: EX_CONFIG")

r = run(["-X", "dave"])
t.eq(r.returncode, EX_USAGE, "unknown flag: EX_USAGE")
t.like(r.err, "usage:", "prints usage")
r = run(["-bp", "-bi"])
t.eq(r.returncode, EX_USAGE, "two modes: EX_USAGE")
r = run(["-oem", "-odb", "-B", "8BITMIME", "-N", "never", "-m", "dave"])
t.eq(r.returncode, 0, "options MUAs pass (-oem -odb -B -N -m) are accepted")
for p in glob.glob(os.path.join(spool, "maildrop", "*")):
    os.unlink(p)

# a spool that cannot be used
fconf = os.path.join(d, "file.conf")
notdir = os.path.join(d, "notadir")
open(notdir, "w").close()
with open(fconf, "w") as f:
    f.write("hostname shofar.lan\nspool %s\n" % notdir)
r = run(["dave"], c=fconf)
t.eq(r.returncode, EX_TEMPFAIL, "unusable spool: EX_TEMPFAIL")
t.like(r.err, "notadir", "error names the spool")

# newaliases
r = mhtest.run([SENDMAIL, "-C", conf, "-bi"])
t.eq(r.returncode, 0, "-bi on a good aliases file exits 0")
t.like(r.out, "1 aliases", "and counts the aliases")
with open(aliases, "a") as f:
    f.write("broken line without colon\n")
link = os.path.join(d, "newaliases")
os.symlink(SENDMAIL, link)
r = mhtest.run([link, "-C", conf])
t.eq(r.returncode, EX_DATAERR, "newaliases (argv[0]) on a bad file: EX_DATAERR")
t.like(r.err, "aliases:2:", "names file:line")
with open(conf, "a") as f:
    f.write("aliases %s/none\n" % d)
r = mhtest.run([link, "-C", conf])
t.eq(r.returncode, EX_NOINPUT, "newaliases with a missing file: EX_NOINPUT")

# -q with no daemon: a loud failure, not a fake success
qconf = os.path.join(d, "q.conf")
with open(qconf, "w") as f:
    f.write("hostname shofar.lan\nspool %s\n" % spool)
r = mhtest.run([SENDMAIL, "-C", qconf, "-q"])
t.eq(r.returncode, 69, "-q with mtad down: EX_UNAVAILABLE")
t.like(r.err, "not running", "says mtad is not running")

t.done()
