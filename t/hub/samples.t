#!/usr/bin/python3
# Every sample a user copies is accepted by the program that reads it:
# samples/mtad.conf (with aliases, auth.conf and generics, paths moved into
# a temp dir) passes mtad -n, the aliases pass newaliases, the fetchmailrc
# passes fetchd --configdump, mailhub.default is shell with exactly the keys
# the hooks read, and the LAN client configs point at the hub's listener.
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest  # noqa: E402

t = mhtest.Test()
tmp = mhtest.tmpdir()
S = lambda name: mhtest.src("samples/" + name)  # noqa: E731


def read(path):
    with open(path) as f:
        return f.read()


for name in ("aliases", "auth.conf", "generics"):
    shutil.copy(S(name), os.path.join(tmp, name))
os.chmod(os.path.join(tmp, "auth.conf"), 0o600)
os.mkdir(os.path.join(tmp, "mail"))
conf = read(S("mtad.conf"))
repl = {"spool": os.path.join(tmp, "spool"), "user": "root",
        "aliases": os.path.join(tmp, "aliases"),
        "auth": os.path.join(tmp, "auth.conf"),
        "generics": os.path.join(tmp, "generics"),
        "mailbox": "mbox " + os.path.join(tmp, "mail")}
out, listens = [], []
for line in conf.splitlines():
    m = re.match(r"(\S+)\s+(.*)", line)
    if m and not line.startswith("#"):
        key = m.group(1)
        if key == "listen":
            listens.append(m.group(2).strip())
            line = "listen 127.0.0.1:%d" % mhtest.free_port()
        elif key in repl:
            line = "%s %s" % (key, repl[key])
    out.append(line)
conf_path = os.path.join(tmp, "mtad.conf")
with open(conf_path, "w") as f:
    f.write("\n".join(out) + "\n")

r = mhtest.run([mhtest.bin("mtad/mtad"), "-n", "-C", conf_path])
t.eq(r.returncode, 0, "samples/mtad.conf (+auth.conf, generics, aliases) "
     "passes mtad -n", )
if r.returncode:
    t.diag(r.err)
# the check is real: a wrong keyword in the same file is refused
with open(conf_path, "a") as f:
    f.write("smarthost-tsl smtps\n")
r = mhtest.run([mhtest.bin("mtad/mtad"), "-n", "-C", conf_path])
t.ok(r.returncode != 0 and "smarthost-tsl" in r.err,
     "and mtad -n does refuse a misspelt keyword", r.err)
with open(conf_path, "w") as f:
    f.write("\n".join(out) + "\n")
# auth.conf copied world-readable is refused, as DESIGN says
os.chmod(os.path.join(tmp, "auth.conf"), 0o644)
r = mhtest.run([mhtest.bin("mtad/mtad"), "-n", "-C", conf_path])
t.ok(r.returncode != 0, "auth.conf readable by others is refused", r.err)
os.chmod(os.path.join(tmp, "auth.conf"), 0o600)

r = mhtest.run([mhtest.bin("mtad/mtad-sendmail"), "-C", conf_path, "-bi"])
t.eq(r.returncode, 0, "samples/aliases passes newaliases (-bi)")
if r.returncode:
    t.diag(r.out + r.err)

t.like(" ".join(listens), "192.168.1.1:25",
       "sample hub listens on the LAN address 192.168.1.1:25")
t.like(conf, "192.168.1.0/24", "and lets the LAN 192.168.1.0/24 relay")
t.ok(re.search(r"(?m)^smarthost\s+\S+:465$", conf)
     and re.search(r"(?m)^smarthost-tls\s+smtps$", conf),
     "smart host on 465 with implicit TLS")

rc = os.path.join(tmp, "fetchmailrc")
shutil.copy(S("fetchmailrc"), rc)
os.chmod(rc, 0o600)
r = mhtest.run([mhtest.bin("fetchd/fetchd"), "-f", rc, "--configdump"],
               env={"HOME": tmp, "FETCHMAILHOME": ""})
t.eq(r.returncode, 0, "samples/fetchmailrc passes fetchd --configdump")
if r.returncode:
    t.diag(r.err)
t.like(r.out, "pop.example.net", "configdump shows the single-drop server")
t.like(r.out, "mail.example.net", "and the multi-drop server")
os.chmod(rc, 0o644)
r = mhtest.run([mhtest.bin("fetchd/fetchd"), "-f", rc, "--configdump"],
               env={"HOME": tmp, "FETCHMAILHOME": ""})
t.ok(r.returncode != 0, "the same file readable by others is refused")

d = read(S("mailhub.default"))
keys = set(re.findall(r"(?m)^#?([A-Z_]+)=", d))
t.eq(keys, {"MTACTL", "MTAD_CONF", "FETCHD", "FETCHD_RC", "FETCHD_INTERVAL",
            "FETCHD_PIDFILE", "FETCHD_USER", "NM_INTERFACE"},
     "mailhub.default documents exactly the hooks' keys")
hooks = read(mhtest.src("ppp/ip-up.d/mailhub"))
for k in ("MTACTL", "MTAD_CONF", "FETCHD", "FETCHD_RC", "FETCHD_INTERVAL",
          "FETCHD_PIDFILE", "FETCHD_USER"):
    t.like(hooks, "$" + k if k != "FETCHD_RC" else "FETCHD_RC",
           "ip-up reads %s" % k)
r = mhtest.run(["sh", "-n", S("mailhub.default")])
t.eq(r.returncode, 0, "mailhub.default is valid shell")
for script in ("ppp/ip-up.d/mailhub", "ppp/ip-down.d/mailhub",
               "ppp/nm-dispatcher/90-mailhub", "rc/rc.mtad", "rc/rc.fetchd"):
    r = mhtest.run(["sh", "-n", mhtest.src(script)])
    t.eq(r.returncode, 0, "%s is valid sh" % script)
    t.ok(os.access(mhtest.src(script), os.X_OK), "%s is executable" % script)

# LAN clients point at the hub's LAN listener
t.like(read(S("nullclient.mc")), "FEATURE(`nullclient', `[192.168.1.1]')",
       "sendmail nullclient.mc relays to [192.168.1.1]")
t.ok(re.search(r"(?m)^SMARTHOST\s+192\.168\.1\.1$", read(S("dma.conf")))
     and re.search(r"(?m)^PORT\s+25$", read(S("dma.conf"))),
     "dma.conf: SMARTHOST 192.168.1.1, PORT 25")
t.ok(re.search(r"(?m)^192\.168\.1\.1 smtp( --port=25)?$",
               read(S("nullmailer-remotes"))),
     "nullmailer remotes: 192.168.1.1 smtp")
t.done()
