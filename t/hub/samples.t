#!/usr/bin/python3
# Every sample a user copies is accepted by the program that reads it:
# samples/mtad.conf (with aliases, auth.conf and generics, paths moved into
# a temp dir) passes mtad -n, the aliases pass newaliases, the fetchmailrc
# passes fetchd --configdump, mailhub.default is shell with exactly the keys
# the hooks read, and the LAN client configs point at the hub's listener;
# the OAuth2 account sample parses, the SSH-tunnel recipe for the relay's
# sshd is well formed and the hub's setup script makes a key and prints
# lines that work.
import os
import re
import shutil
import stat
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

# The OAuth2 account sample parses: only the refresh token is missing (the
# consent adds it); with one, mtad -n takes it through an oauth2 auth line.
acct = os.path.join(tmp, "account.oauth2")
shutil.copy(S("account.oauth2"), acct)
os.chmod(acct, 0o600)
r = mhtest.run([mhtest.bin("mtad/mtad-oauth2"), "token", acct])
t.eq(r.returncode, 78, "samples/account.oauth2 before the consent: "
     "mtad-oauth2 token exits 78")
t.like(r.err, "no refresh-token", "saying only the refresh token is missing")
with open(acct, "a") as f:
    f.write('refresh-token "1//from-the-consent"\n')
auth2 = os.path.join(tmp, "auth-oauth2.conf")
with open(auth2, "w") as f:
    f.write("me@gmail.com|*:oauth2:%s\n" % acct)
os.chmod(auth2, 0o600)
conf2 = os.path.join(tmp, "mtad-oauth2.conf")
with open(conf2, "w") as f:
    f.write(re.sub(r"(?m)^auth\s.*$", "auth " + auth2, read(conf_path)))
r = mhtest.run([mhtest.bin("mtad/mtad"), "-n", "-C", conf2])
t.eq(r.returncode, 0, "samples/account.oauth2 (+ a refresh token) passes "
     "mtad -n as an oauth2 auth line")
if r.returncode:
    t.diag(r.err)

# The SSH tunnel: the relay's sshd recipe and the hub's setup script.
sshd = read(S("sshd_config.mailtunnel"))
t.ok(re.search(r"(?m)^Match User mailtunnel$", sshd)
     and re.search(r"(?m)^\s+ForceCommand nc 127\.0\.0\.1 25$", sshd),
     "sshd_config.mailtunnel: Match User mailtunnel, ForceCommand to the "
     "relay's own port 25")
# Keywords sshd_config(5) allows inside Match (a typo would stop sshd).
MATCH_OK = {"AllowAgentForwarding", "AllowStreamLocalForwarding",
            "AllowTcpForwarding", "AuthenticationMethods", "ForceCommand",
            "KbdInteractiveAuthentication", "PasswordAuthentication",
            "PermitTTY", "PermitTunnel", "PermitUserRC", "X11Forwarding"}
inside = re.findall(r"(?m)^\s+([A-Za-z]+)\s", sshd.split("\nMatch ", 1)[1])
t.ok(inside and set(inside) <= MATCH_OK,
     "sshd_config.mailtunnel: only keywords valid in a Match block",
     sorted(set(inside) - MATCH_OK))
setup = S("mailtunnel-setup.sh")
r = mhtest.run(["sh", "-n", setup])
t.eq(r.returncode, 0, "mailtunnel-setup.sh is valid sh")
if os.path.exists("/usr/bin/ssh-keygen"):
    kd = os.path.join(tmp, "ssh")
    r = mhtest.run(["sh", setup, "192.0.2.7", "root", kd])
    t.eq(r.returncode, 0, "mailtunnel-setup.sh 192.0.2.7 root DIR: exit 0")
    if r.returncode:
        t.diag(r.err)
    key = os.path.join(kd, "id_ed25519")
    t.eq(stat.S_IMODE(os.stat(key).st_mode) if os.path.exists(key) else None,
         0o600, "it creates the key, mode 600")
    pub = read(key + ".pub").strip() if os.path.exists(key + ".pub") else "?"
    t.like(r.out, 'restrict,command="nc 127.0.0.1 25" ' + pub,
           "and prints the restricted authorized_keys line")
    m = re.search(r"(?m)^smarthost-command .*mailtunnel@192\.0\.2\.7\"$",
                  r.out)
    t.ok(m, "and the smarthost-command line", r.out)
    conf3 = os.path.join(tmp, "mtad-tunnel.conf")
    with open(conf3, "w") as f:
        f.write(re.sub(r"(?m)^smarthost(-tls)?\s.*$", "", read(conf_path))
                + (m.group(0) if m else "") + "\n")
    r = mhtest.run([mhtest.bin("mtad/mtad"), "-n", "-C", conf3])
    t.eq(r.returncode, 0, "the printed line passes mtad -n")
    r = mhtest.run(["sh", setup, "192.0.2.7", "root", kd])
    t.ok(r.returncode == 0 and read(key + ".pub").strip() == pub,
         "run again, it keeps the key")
t.done()
