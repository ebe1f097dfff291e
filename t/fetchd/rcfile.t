#!/usr/bin/python3
# fetchd reads an existing .fetchmailrc: --configdump, the file-mode rule,
# syntax errors with file:line and fetchmail's exit codes.
import fcntl
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest

t = mhtest.Test()
FETCHD = mhtest.bin("fetchd/fetchd")
tmp = mhtest.tmpdir()

SEED = """set postmaster "postmaster"
set no bouncemail
poll pop.example.net with proto POP3
       user "shofar.example.co.uk" there with password "secret1"
       is eddy here options flush
poll mail.example.net with proto POP3 aka shofar.example.net
       user "shofar" with password "secret2" to eddy nelug=eddy NELUG-admin
nelug-approval=eddy NELUG-list root keith here options flush
"""


def rcfile(name, text, mode=0o600):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


ENV = {"HOME": tmp, "FETCHMAILUSER": "eddy", "FETCHMAILHOME": ""}


def fetchd(*args, env=None):
    e = dict(ENV)
    if env:
        e.update(env)
    args = list(args)
    # never the shared /run/fetchd.pid: a real daemon must not be signalled
    if "--pidfile" not in args:
        args += ["--pidfile", os.path.join(tmp, "nodaemon.pid")]
    return mhtest.run([FETCHD] + args, env=e, timeout=20)


seed = rcfile("seed.rc", SEED)
r = fetchd("-f", seed, "--configdump")
t.eq(r.returncode, 0, "--configdump of the seed rc file exits 0")
t.unlike(r.out, "secret1", "first password not printed")
t.unlike(r.out, "secret2", "second password not printed")
t.eq(r.out.count('password "****"'), 2, "both passwords shown masked")
t.like(r.out, 'poll "pop.example.net"', "first poll dumped")
t.like(r.out, 'user "shofar.example.co.uk" there', "remote user dumped")
t.like(r.out, 'is "eddy" here', "single-drop local user dumped")
t.like(r.out, 'aka "shofar.example.net"', "aka dumped")
t.like(r.out, 'to "eddy" "nelug"="eddy" "NELUG-admin" "nelug-approval"="eddy"'
       ' "NELUG-list" "root" "keith" here', "multi-drop name map dumped")
t.like(r.out, "set no bouncemail", "set no bouncemail dumped")
t.like(r.out, 'set postmaster "postmaster"', "postmaster dumped")
t.like(r.out, "\t\tflush\n", "flush dumped")
t.like(r.out, 'set idfile "%s/.fetchids"' % tmp, "idfile defaults to ~/.fetchids")
r2 = fetchd("-f", seed, "--configdump")
t.eq(r2.out, r.out, "the dump is stable")

# the dump is itself an rc file that means the same thing
again = rcfile("again.rc", r.out)
r3 = fetchd("-f", again, "--configdump")
t.eq(r3.out.split("\n", 1)[1], r.out.split("\n", 1)[1],
     "the dump parses back to the same configuration")

# readable by group or others: refused with fetchmail's message and code
for mode in (0o640, 0o604, 0o620):
    os.chmod(seed, mode)
    r = fetchd("-f", seed, "--configdump")
    t.eq(r.returncode, 6, "rc file mode %o refused with exit 6" % mode)
    t.like(r.err, "File %s must have no more than -rwx------ (0700) "
           "permissions." % seed, "fetchmail's message for mode %o" % mode)
    t.unlike(r.out, "poll", "nothing dumped for mode %o" % mode)
os.chmod(seed, 0o700)
t.eq(fetchd("-f", seed, "--configdump").returncode, 0, "mode 0700 accepted")
os.chmod(seed, 0o600)

# syntax errors: file:line, the offending token, exit 5
bad = rcfile("bad.rc", SEED + "poll x proto POP3\n  user y there\n  proto IMAP\n")
r = fetchd("-f", bad, "--configdump")
t.eq(r.returncode, 5, "syntax error exits 5")
t.like(r.err, "%s:11: server option 'proto' after user options" % bad,
       "syntax error names file:line and the token")
bad = rcfile("bad2.rc", "poll a.example.net with proto POP3\n"
             "  user joe there with password pw\n  frobnicate\n")
r = fetchd("-f", bad)
t.eq(r.returncode, 5, "unknown keyword exits 5")
t.like(r.err, "%s:3: expected a user option or a new poll entry, got "
       "'frobnicate'" % bad, "unknown keyword named with file:line")
bad = rcfile("bad3.rc", "poll a.example.net proto POP3 user joe there\n"
             "  preconnect \"ssh -f tunnel\"\n")
r = fetchd("-f", bad, "--configdump")
t.eq(r.returncode, 5, "unimplemented keyword exits 5")
t.like(r.err, "%s:2: 'preconnect' is not implemented by fetchd" % bad,
       "unimplemented keyword named, never ignored")

# dropdelivered is accepted and dumped (t/fetchd/dropdelivered.t runs it)
dd = rcfile("dd.rc", "poll 127.0.0.1 with proto POP3\n"
            "  user joe there with password pw dropdelivered\n")
r = fetchd("-f", dd, "--configdump")
t.eq(r.returncode, 0, "dropdelivered is accepted")
t.like(r.out, "dropdelivered", "and dumped")

# command-line options override the rc file
r = fetchd("-f", seed, "--configdump", "-k", "-p", "IMAP", "-u", "other",
           "--smtphost", "127.0.0.1/2525", "--ssl", "-d", "60", "-a",
           "--syslog", "-L", "/tmp/fetchd.log", "--idfile", "/tmp/ids",
           "--pidfile", "/tmp/fetchd.pid")
t.eq(r.returncode, 0, "dump with overrides exits 0")
t.eq(r.out.count("\t\tkeep\n"), 2, "-k sets keep on every user")
t.eq(r.out.count("proto IMAP"), 2, "-p IMAP overrides proto POP3")
t.eq(r.out.count('user "other" there'), 2, "-u sets the remote user")
t.eq(r.out.count('smtphost "127.0.0.1/2525"'), 2, "--smtphost HOST/PORT")
t.unlike(r.out, "localhost/25", "--smtphost replaces the default")
t.eq(r.out.count("\t\tssl\n"), 2, "--ssl")
t.eq(r.out.count("\t\tfetchall\n"), 2, "-a")
t.like(r.out, "set daemon 60", "-d 60")
t.like(r.out, "set syslog", "--syslog")
t.like(r.out, 'set logfile "/tmp/fetchd.log"', "-L")
t.like(r.out, 'set idfile "/tmp/ids"', "--idfile")
t.like(r.out, 'set pidfile "/tmp/fetchd.pid"', "--pidfile")
r = fetchd("-f", seed, "--configdump", "-E", "X-Original-To", "-Q", "ns-",
           "-U", "--norewrite")
t.eq(r.out.count('envelope "X-Original-To"'), 2, "-E sets the envelope header")
t.eq(r.out.count('qvirtual "ns-"'), 2, "-Q sets the qvirtual prefix")
t.eq(r.out.count("\tuidl\n"), 2, "-U sets uidl")
r = fetchd("-f", seed, "--configdump", "-c", "-d", "60")
t.like(r.out, "set daemon 0", "-c turns daemon mode off")

# trailing names select servers; unknown ones are polled with defaults
r = fetchd("-f", seed, "--configdump", "other.example.org")
t.like(r.out, 'poll "other.example.org"', "unknown server name gets an entry")
t.like(r.out, 'is "eddy" here\t# the invoking user',
       "its mail goes to the invoking user")
r = fetchd("-f", seed, "-p", "pop2")
t.eq(r.returncode, 5, "bad -p exits 5")
t.like(r.err, "invalid protocol 'pop2'", "bad -p explained")
r = fetchd("-f", seed, "--no-such-option")
t.eq(r.returncode, 5, "unknown option exits 5")

# ~/.fetchmailrc by default; none at all means no servers
home = os.path.join(tmp, "home")
os.mkdir(home)
r = fetchd("--configdump", env={"HOME": home})
t.eq(r.returncode, 0, "no rc file: empty configuration dumps")
r = fetchd(env={"HOME": home})
t.eq(r.returncode, 5, "no rc file and no server: exit 5")
t.like(r.err, "no mailservers have been specified", "fetchmail's message")
rcfile("home/.fetchmailrc", "poll home.example.net user me there\n")
r = fetchd("--configdump", env={"HOME": home})
t.like(r.out, 'poll "home.example.net"', "~/.fetchmailrc read by default")

# the shipped sample parses, and "-f -" reads standard input
with open(mhtest.src("samples/fetchmailrc")) as f:
    sample = f.read()
sp = rcfile("sample.rc", sample)
r = fetchd("-f", sp, "--configdump")
t.eq(r.returncode, 0, "samples/fetchmailrc parses")
entries = sum(1 for l in sample.split("\n") if l.split()[:1] in (["poll"], ["skip"]))
t.ok(entries > 0 and r.out.count("\npoll ") + r.out.count("\nskip ") == entries,
     "every sample entry dumped")
r = mhtest.run([FETCHD, "-f", "-", "--configdump", "--pidfile",
                os.path.join(tmp, "nodaemon.pid")], input=SEED,
               env=ENV, timeout=20)
t.eq(r.returncode, 0, "-f - reads the rc file from stdin")
t.like(r.out, 'poll "mail.example.net"', "stdin rc file dumped")

# --quit: the daemon is whoever holds the pid file's lock
pidfile = os.path.join(tmp, "fetchd.pid")
r = fetchd("-f", seed, "--quit", "--pidfile", pidfile)
t.eq(r.returncode, 8, "--quit with no daemon exits 8")
t.like(r.err, "no other fetchd is running", "and says so")
holder = mhtest.Proc(["/usr/bin/python3", "-c", """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.lockf(fd, fcntl.LOCK_EX)
os.write(fd, b"%d\\n" % os.getpid())
print("locked", flush=True)
for i in range(300):
    time.sleep(0.1)
""", pidfile], stdout=subprocess.PIPE)
holder.p.stdout.readline()

r = fetchd("-f", seed, "--quit", "--pidfile", pidfile)
t.eq(r.returncode, 0, "--quit stops the running daemon")
try:
    holder.wait(10)
except subprocess.TimeoutExpired:
    pass
t.ok(holder.poll() is not None, "the lock holder got SIGTERM")

t.done()
