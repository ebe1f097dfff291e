#!/usr/bin/python3
# Privilege separation, read from /proc: mtad started as root with
# `user nobody` leaves a root parent that holds no listener and no spool
# file, a worker (and its runner) with every uid and gid nobody's, no
# capabilities and no way back; mail to a local user lands in an mbox
# written as that user, an alias |command runs as nobody, never as root;
# SIGHUP to the parent reaches the worker; with maildir the directories and
# the message are made by the user's uid.
import os
import pwd
import grp
import shutil
import smtplib
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest

t = mhtest.Test()
if os.geteuid() != 0:
    t.skip_all("needs root: privilege separation only happens as root")
if not os.path.exists(mhtest.bin("mtad/mtad")):
    t.skip_all("mtad is not built")
if shutil.which("useradd") is None:
    t.skip_all("needs useradd")
try:
    nobody = pwd.getpwnam("nobody")
except KeyError:
    t.skip_all("no user nobody")

tmp = mhtest.tmpdir()
os.chmod(tmp, 0o755)
user = "mhp%d" % (os.getpid() % 100000)
r = subprocess.run(["useradd", "-M", "-d", "/nonexistent", "-s",
                    "/usr/sbin/nologin", user], capture_output=True, text=True)
if r.returncode != 0:
    t.skip_all("useradd failed: %s" % r.stderr.strip())
mhtest.on_exit(lambda: subprocess.run(["userdel", user], capture_output=True))
pw = pwd.getpwnam(user)

mail = os.path.join(tmp, "mail")
os.mkdir(mail)
os.chmod(mail, 0o1777)          # as an old /var/mail: users take dotlocks
out = os.path.join(tmp, "out")
os.mkdir(out)
os.chmod(out, 0o1777)
prog_out = os.path.join(out, "prog")
spool = os.path.join(tmp, "spool")
aliases = os.path.join(tmp, "aliases")
with open(aliases, "w") as f:
    f.write("postmaster: root\nprog: \"|id -u >> %s; id -G >> %s\"\n"
            % (prog_out, prog_out))
port = mhtest.free_port()
conf = os.path.join(tmp, "mtad.conf")
with open(conf, "w") as f:
    f.write("hostname hub.lan\nlisten 127.0.0.1:%d\nlocal-domains hub.lan\n"
            "relay-from 127.0.0.1/32\nspool %s\nuser nobody\naliases %s\n"
            "mailbox mbox %s\nlink down\n" % (port, spool, aliases, mail))
logpath = os.path.join(tmp, "log")
logf = open(logpath, "w")
mtad = mhtest.Proc([mhtest.bin("mtad/mtad"), "-C", conf, "-F"], stdout=logf,
                   stderr=logf)
mhtest.wait_port(port, proc=mtad)


def status(pid):
    """Uid/Gid/Groups/CapEff of a process, as lists of ints (or strings)."""
    st = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                st[k] = v.split()
    except FileNotFoundError:
        return None
    return st


def children(pid):
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rfind(")") + 2:].split()
        if int(fields[1]) == pid:
            kids.append(int(d))
    return kids


def fds(pid):
    res = []
    d = "/proc/%d/fd" % pid
    for n in os.listdir(d):
        try:
            res.append(os.readlink(os.path.join(d, n)))
        except OSError:
            pass
    return res


def listening_inodes():
    inodes = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    p = line.split()
                    if p[3] == "0A":
                        inodes.add("socket:[%s]" % p[9])
        except FileNotFoundError:
            pass
    return inodes


# The worker is the parent's one long-lived child; the runner is its child.
workers = []
mhtest.wait_for(lambda: len(children(mtad.pid)) == 1 and
                children(children(mtad.pid)[0]))
workers = children(mtad.pid)
t.eq(len(workers), 1, "the root parent has one child, the worker")
worker = workers[0] if workers else -1
runners = children(worker) if workers else []

ps = status(mtad.pid)
t.eq(ps["Uid"], ["0"] * 4, "parent: real, effective, saved, fs uid are root")
ws = status(worker) or {}
nu, ng = str(nobody.pw_uid), str(nobody.pw_gid)
t.eq(ws.get("Uid"), [nu] * 4,
     "worker: real, effective, saved and fs uid all nobody's")
t.eq(ws.get("Gid"), [ng] * 4, "worker: every gid nobody's group")
t.eq(ws.get("Groups"), [ng], "worker: no supplementary group but its own")
t.eq(ws.get("CapEff"), ["0000000000000000"], "worker: no capability")
t.eq(ws.get("CapPrm"), ["0000000000000000"],
     "worker: no permitted capability to take back")
t.ok(len(runners) >= 1, "the runner is the worker's child")
for r_ in runners:
    rs = status(r_) or {}
    t.eq(rs.get("Uid"), [nu] * 4, "runner %d: every uid nobody's" % r_)

listen = listening_inodes()
pfds = fds(mtad.pid)
wfds = fds(worker) if workers else []
t.ok(any(x in listen for x in wfds), "the worker holds the listener")
t.ok(not any(x in listen for x in pfds), "the parent holds no listener",
     "\n".join(pfds))
t.ok(not any(x.startswith(spool) for x in pfds),
     "the parent holds nothing in the spool (no queue dir, no message)",
     "\n".join(pfds))
unix = set()
with open("/proc/net/unix") as f:
    next(f)
    for line in f:
        unix.add("socket:[%s]" % line.split()[6])
psock = [x for x in pfds if x.startswith("socket:")]
t.ok(all(x in unix for x in psock) and len(psock) <= 2,
     "the parent's sockets: the channel to the worker (and syslog's), "
     "unix ones only", "\n".join(pfds))
t.ok(all(x.startswith(("socket:", "anon_inode:[signalfd]", "/dev/", "pipe:"))
         or not x.startswith("/") or os.path.samefile(x, logpath)
         for x in pfds), "the parent has no other file open (stdio aside)",
     "\n".join(pfds))
t.diag("parent fds: %s" % " ".join(sorted(pfds)))

# Mail still flows: to the user's mbox, and through an alias command.
s = smtplib.SMTP("127.0.0.1", port, timeout=30)
s.ehlo("lanhost")
s.sendmail("eddy@lan.example", ["%s@hub.lan" % user, "prog@hub.lan"],
           "From: eddy@lan.example\r\nSubject: privsep\r\n\r\nhello user\r\n")
s.quit()
box = os.path.join(mail, user)
t.ok(mhtest.wait_for(lambda: os.path.exists(box) and
                     b"hello user" in open(box, "rb").read(), timeout=20),
     "the message is in the user's mbox")
st = os.stat(box) if os.path.exists(box) else None
t.eq(st.st_uid if st else None, pw.pw_uid, "the mbox belongs to the user")
t.ok(mhtest.wait_for(lambda: os.path.exists(prog_out) and
                     len(open(prog_out).read().split("\n")) >= 3, timeout=20),
     "the alias command ran")
lines = open(prog_out).read().split("\n") if os.path.exists(prog_out) else []
t.eq(lines[:1], [nu], "the alias command ran as nobody, not root")
t.ok(len(lines) > 1 and "0" not in lines[1].split(),
     "the alias command has no root group")
log = open(logpath).read()
t.like(log, "to=<%s@hub.lan>" % user, "a to= line for the user")
t.like(log, "stat=Sent", "logged as Sent")
t.eq(status(worker).get("Uid") if status(worker) else None, [nu] * 4,
     "worker: still nobody after delivering")

# Signals go to the parent's pid: SIGHUP reaches the worker, which reloads.
os.kill(mtad.pid, signal.SIGHUP)
t.ok(mhtest.wait_for(lambda: "configuration reloaded" in open(logpath).read()),
     "SIGHUP to the parent: the worker reloads")
t.eq(children(mtad.pid), [worker], "the same worker goes on")

# Maildir, switched to by mtactl reload: the parent rereads the file too
# (the worker asks it); nothing is prepared as root, the directories and
# the message are made by the child as the user.
md = os.path.join(tmp, "md")
os.mkdir(md)
os.chmod(md, 0o1777)
with open(conf, "w") as f:
    f.write("hostname hub.lan\nlisten 127.0.0.1:%d\nlocal-domains hub.lan\n"
            "relay-from 127.0.0.1/32\nspool %s\nuser nobody\naliases %s\n"
            "mailbox maildir %s/%%u\nlink down\n" % (port, spool, aliases, md))
r = mhtest.run([mhtest.bin("mtad/mtactl"), "-C", conf, "reload"])
t.eq(r.returncode, 0, "mtactl reload")
t.ok(mhtest.wait_for(lambda: open(logpath).read().count(
    "configuration reloaded") >= 2), "the worker reloads")
s = smtplib.SMTP("127.0.0.1", port, timeout=30)
s.sendmail("eddy@lan.example", ["%s@hub.lan" % user],
           "From: eddy@lan.example\r\nSubject: md\r\n\r\nto the maildir\r\n")
s.quit()
new = os.path.join(md, user, "new")
t.ok(mhtest.wait_for(lambda: os.path.isdir(new) and os.listdir(new),
                     timeout=20), "a message in the user's Maildir",
     open(logpath).read()[-1500:])
files = [os.path.join(new, n) for n in os.listdir(new)] \
    if os.path.isdir(new) else []
t.ok(files and all(os.stat(x).st_uid == pw.pw_uid for x in files) and
     os.stat(os.path.join(md, user)).st_uid == pw.pw_uid,
     "the Maildir and the message were made by the user's uid")

# A stop goes through the parent; both are gone afterwards.
rc = mtad.stop()
t.eq(rc, 0, "SIGTERM to the parent: mtad exits 0")
t.ok(mhtest.wait_for(lambda: status(worker) is None or
                     status(worker).get("State", [""])[0] == "Z"),
     "the worker is gone with it")

# What a worker taken over could leave for root's next start: symbolic
# links in the spool it owns.  Root neither empties nor chowns through them.
victim = os.path.join(tmp, "victim")
os.mkdir(victim, 0o700)
canary = os.path.join(victim, "canary")
open(canary, "w").close()
rootfile = os.path.join(tmp, "rootfile")
open(rootfile, "w").close()
os.rename(os.path.join(spool, "tmp"), os.path.join(spool, "tmp.real"))
os.symlink(victim, os.path.join(spool, "tmp"))
r = mhtest.run([mhtest.bin("mtad/mtad"), "-C", conf, "-F"], timeout=30)
t.ok(r.returncode != 0, "a spool whose tmp/ is a symbolic link: mtad refuses "
     "to start", r.stderr)
t.ok(os.path.exists(canary), "and the link's target is left alone")
os.unlink(os.path.join(spool, "tmp"))
os.rename(os.path.join(spool, "tmp.real"), os.path.join(spool, "tmp"))
lock = os.path.join(spool, "deliver.lock")
if os.path.lexists(lock):
    os.unlink(lock)
os.symlink(rootfile, lock)
mtad = mhtest.Proc([mhtest.bin("mtad/mtad"), "-C", conf, "-F"], stdout=logf,
                   stderr=logf)
mhtest.wait_port(port, proc=mtad)
t.eq(os.stat(rootfile).st_uid, 0,
     "a symbolic link in the spool is not followed to chown its target")
t.eq(mtad.stop(), 0, "mtad exits 0")
t.done()
