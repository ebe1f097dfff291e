"""Test support for mailhub's integration tests.

A test is a Python script (t/**/*.t, #!/usr/bin/python3) that prints TAP.
It starts the servers it needs on 127.0.0.1 with free ports, and everything it
starts is stopped by PID and its temp directory removed when it exits, pass or
fail.  Binaries come from $MAILHUB_BIN (the sanitizer build under make check),
sources from $MAILHUB_SRC.

    import mhtest
    t = mhtest.Test()
    t.ok(cond, "what a user would notice")
    t.eq(got, want, "...")
    t.done()

Servers and helpers (each class documents itself below):
    mhtest.CA(dir)              test CA made with openssl: .ca_file,
                                .issue(name, ips=[...], dns=[...]) -> (cert, key),
                                .context() client SSLContext trusting only it
    mhtest.SmartHost(tmp, tls="none"|"starttls"|"smtps", ca=, auth={u: pw}, ...)
                                aiosmtpd smart host process (t/lib/smarthost.py):
                                .port .messages() .connections() .commands()
    mhtest.stdio_command(port)  shell command relaying stdin/stdout to a port
                                (for smarthost-command)
    mhtest.Dovecot(tmp, users={u: pw}, ca=, ssl=True, compress=False)
                                private Dovecot: .pop3 .pop3s .imap .imaps ports,
                                .deliver(user, bytes) .count(user) .messages(user)
    mhtest.TcpProxy(tmp, target_port, faults=[...], line=TcpProxy.modem())
                                proxy process (t/lib/tcpproxy.py): .port,
                                .stats() .turns() .connections() .cut();
                                faults: TcpProxy.fault(after, dir, action, conn)
    mhtest.ScriptServer(tmp, [[{"send": ..}, {"expect": ..}, {"tls": True}]])
                                scripted line server (t/lib/scriptserver.py) for
                                PREAUTH, STARTTLS injection, odd replies:
                                .port .received() .events()
"""

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

SRC = os.environ.get("MAILHUB_SRC") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("MAILHUB_BIN") or SRC

_cleanups = []


def _run_cleanups():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception:  # cleanup must go on
            traceback.print_exc(file=sys.stderr)


atexit.register(_run_cleanups)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))


def on_exit(fn):
    """Run fn at exit (last registered runs first)."""
    _cleanups.append(fn)


def bin(name):
    """Path of a built program, e.g. bin('mtad/mtad')."""
    return os.path.join(BIN, name)


def src(name):
    return os.path.join(SRC, name)


def tmpdir(prefix="mailhub-"):
    d = tempfile.mkdtemp(prefix=prefix)
    on_exit(lambda: shutil.rmtree(d, ignore_errors=True))
    return d


_ports_given = set()


def free_port(host="127.0.0.1"):
    """A port that was free a moment ago (bind to 0, read, close), never one
    this process was given before (the kernel may hand the same one out
    twice in a row, e.g. two listeners of one Dovecot)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def wait_port(port, host="127.0.0.1", timeout=10.0, proc=None):
    """Wait until something accepts on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with %s before listening on %d"
                               % (proc.args, proc.returncode, port))
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listening on %s:%d after %.0fs"
                       % (host, port, timeout))


def wait_for(pred, timeout=10.0, interval=0.05):
    """Poll pred() until it is true; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


class Proc:
    """A child process stopped by PID at exit (SIGTERM, then SIGKILL)."""

    def __init__(self, argv, env=None, stdout=None, stderr=None, **kw):
        e = dict(os.environ)
        if env:
            e.update(env)
        self.argv = argv
        self.p = subprocess.Popen(argv, env=e, stdout=stdout, stderr=stderr,
                                  start_new_session=True, **kw)
        self.pid = self.p.pid
        on_exit(self.stop)

    def poll(self):
        return self.p.poll()

    @property
    def args(self):
        return self.argv

    @property
    def returncode(self):
        return self.p.returncode

    def kill(self, sig=signal.SIGKILL):
        if self.p.poll() is None:
            os.kill(self.pid, sig)
            self.p.wait()

    def stop(self, timeout=10.0):
        if self.p.poll() is not None:
            return self.p.returncode
        try:
            os.kill(self.pid, signal.SIGTERM)
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.p.wait()
        except ProcessLookupError:
            pass
        return self.p.returncode

    def wait(self, timeout=None):
        return self.p.wait(timeout)


def run(argv, input=None, timeout=60, env=None, **kw):
    """Run a command to completion; returns CompletedProcess (text mode)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    if isinstance(input, str):
        input = input.encode()
    r = subprocess.run(argv, input=input, capture_output=True,
                       timeout=timeout, env=e, **kw)
    r.out = r.stdout.decode(errors="replace")
    r.err = r.stderr.decode(errors="replace")
    return r


class Test:
    """TAP producer.  Any uncaught exception is reported as a failure."""

    def __init__(self, plan=None):
        self.n = 0
        self.failed = 0
        self.planned = plan
        if plan is not None:
            print("1..%d" % plan, flush=True)
        sys.excepthook = self._excepthook

    def _excepthook(self, typ, val, tb):
        self.n += 1
        self.failed += 1
        print("not ok %d - uncaught %s: %s" % (self.n, typ.__name__, val),
              flush=True)
        for line in traceback.format_exception(typ, val, tb):
            for part in line.rstrip().split("\n"):
                print("# " + part, flush=True)
        if self.planned is None:
            print("1..%d" % self.n, flush=True)
        _run_cleanups()
        os._exit(1)

    def ok(self, cond, name, diag=None):
        self.n += 1
        if not cond:
            self.failed += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", self.n, name),
              flush=True)
        if not cond and diag:
            self.diag(diag)
        return bool(cond)

    def eq(self, got, want, name):
        return self.ok(got == want, name,
                       "got:  %r\nwant: %r" % (got, want))

    def like(self, text, needle, name):
        return self.ok(needle in (text or ""), name,
                       "%r not found in:\n%s" % (needle, text))

    def unlike(self, text, needle, name):
        return self.ok(needle not in (text or ""), name,
                       "%r found in:\n%s" % (needle, text))

    def diag(self, msg):
        for line in str(msg).split("\n"):
            print("# " + line, flush=True)

    def skip_all(self, why):
        print("1..0 # SKIP %s" % why, flush=True)
        sys.exit(0)

    def done(self):
        if self.planned is None:
            print("1..%d" % self.n, flush=True)
        sys.exit(1 if self.failed else 0)


# ---------------------------------------------------------------------------
# Test certificate authority

class CA:
    """A throw-away certificate authority made with the openssl command.

        ca = mhtest.CA(dir)                    # dir: where its files go
        ca.ca_file                             # PEM of the CA cert (trust this)
        cert, key = ca.issue("localhost", ips=["127.0.0.1"], dns=["localhost"])
        ca.issue("expired", ips=[...], days=-1) # not valid any more (notAfter past)

    issue() makes a server (and client) certificate whose subjectAltName holds
    the given IP addresses and DNS names (CN = name); files are
    DIR/NAME.crt and DIR/NAME.key (EC P-256, unencrypted, mode 0600).
    Two CA() objects are unrelated: use a second one for "unknown CA" tests.
    ca.context() returns an ssl.SSLContext for a client that trusts only
    this CA and checks host names (never verify-none).
    """

    def __init__(self, dir, name="mailhub test CA"):
        self.dir = dir
        os.makedirs(dir, exist_ok=True)
        self.ca_file = os.path.join(dir, "ca.crt")
        self.ca_key = os.path.join(dir, "ca.key")
        self._serial = 1
        _openssl(["req", "-x509", "-new", "-nodes",
                  "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                  "-keyout", self.ca_key, "-out", self.ca_file,
                  "-days", "30", "-subj", "/O=mailhub tests/CN=" + name,
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                  "-addext", "subjectKeyIdentifier=hash"])

    def issue(self, name, ips=("127.0.0.1",), dns=(), days=30):
        base = os.path.join(self.dir, name.replace("/", "_"))
        cert, key, csr = base + ".crt", base + ".key", base + ".csr"
        ext = base + ".ext"
        san = ["IP:" + i for i in ips] + ["DNS:" + d for d in dns]
        with open(ext, "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n"
                    "authorityKeyIdentifier=keyid\n")
            if san:
                f.write("subjectAltName=" + ",".join(san) + "\n")
        _openssl(["req", "-new", "-nodes",
                  "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                  "-keyout", key, "-out", csr,
                  "-subj", "/O=mailhub tests/CN=" + name])
        self._serial += 1
        argv = ["x509", "-req", "-in", csr, "-CA", self.ca_file,
                "-CAkey", self.ca_key, "-set_serial", str(self._serial),
                "-out", cert, "-extfile", ext]
        if days >= 0:
            argv += ["-days", str(days)]
        else:
            # Valid yesterday, expired already: -not_before/-not_after need
            # OpenSSL 3.4, so sign with a CA clock (-preserve_dates) instead.
            argv = ["ca", "-batch", "-notext", "-config", self._ca_conf(),
                    "-in", csr, "-out", cert, "-extfile", ext,
                    "-startdate", time.strftime(
                        "%Y%m%d%H%M%SZ", time.gmtime(time.time() - 2 * 86400)),
                    "-enddate", time.strftime(
                        "%Y%m%d%H%M%SZ", time.gmtime(time.time() + 86400 * days))]
        _openssl(argv)
        os.chmod(key, 0o600)
        os.unlink(csr)
        return cert, key

    def _ca_conf(self):
        d = os.path.join(self.dir, "ca.db")
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "ca.cnf")
        if not os.path.exists(conf):
            open(os.path.join(d, "index.txt"), "w").close()
            with open(os.path.join(d, "serial"), "w") as f:
                f.write("1000\n")
            with open(conf, "w") as f:
                f.write("[ca]\ndefault_ca=test\n[test]\n"
                        "dir=%s\ndatabase=$dir/index.txt\nserial=$dir/serial\n"
                        "new_certs_dir=$dir\ncertificate=%s\nprivate_key=%s\n"
                        "default_md=sha256\npolicy=any\nunique_subject=no\n"
                        "[any]\norganizationName=optional\ncommonName=supplied\n"
                        % (d, self.ca_file, self.ca_key))
        return conf

    def context(self, check_hostname=True):
        import ssl
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                         cafile=self.ca_file)
        ctx.check_hostname = check_hostname
        return ctx

    def server_context(self, cert, key):
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        return ctx


def _openssl(args):
    r = subprocess.run(["openssl"] + args, capture_output=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s"
                           % (" ".join(args[:2]), r.stderr.decode(errors="replace")))
    return r


# ---------------------------------------------------------------------------
# Smart host (t/lib/smarthost.py, aiosmtpd in its own process)

PYTHON = "/usr/bin/python3"


def stdio_command(port, host="127.0.0.1"):
    """A shell command speaking to host:port over its stdin/stdout (for
    mtad's smarthost-command): "/usr/bin/python3 .../stdio2tcp.py HOST PORT"."""
    return "%s %s %s %d" % (PYTHON, os.path.join(SRC, "t/lib/stdio2tcp.py"),
                            host, port)


class SmartHost:
    """An aiosmtpd smart host on 127.0.0.1, stopped by PID at exit.

        ca = mhtest.CA(tmp + "/ca")
        sh = mhtest.SmartHost(tmp, tls="starttls", ca=ca,
                              auth={"isp": "secret"}, auth_required=True,
                              rcpt={"bad@x.example": 550,
                                    "slow@x.example": {"reply": 450, "times": 1}},
                              drop_after_messages=3)
        sh.port, sh.host, sh.pid
        sh.messages()      # accepted messages (reply 2xx), ordered by seq
        sh.messages(all=True)   # also refused/dropped ones
        sh.connections()   # number of TCP connections accepted so far
        sh.conn_log(n)     # list of events of connection n (1-based)
        sh.commands(n)     # command lines of connection n (None: all conns)
        sh.wait_messages(k, timeout)  # wait until k messages accepted
        sh.stop(); sh.start()         # restart on the same port
        sh.log             # path of the process's stderr

    tls: "none" | "starttls" | "smtps" (implicit TLS).  With tls != "none",
    the certificate is issued by `ca` (an mhtest.CA; one is made under tmp if
    none given) for 127.0.0.1 and DNS "localhost"/hostname, or pass cert= and
    key=.  auth is the users table {"user": "password"}; the other keyword
    arguments are the CONFIG.json keys documented in smarthost.py
    (auth_mechs, auth_required, auth_require_tls, require_starttls,
    pipelining, chunking, size, rcpt, mail, data_replies,
    drop_after_messages, drop_before_reply, drop_in_data, reply_delay,
    greeting, greeting_delay, timeout, ehlo, ehlo_extra, starttls_reply,
    auth_reply, tokens, hostname).

    Each record from messages() is the JSON envelope (see smarthost.py) plus
    "data": the message bytes exactly as received (dot-unstuffed).
    """

    def __init__(self, tmp, tls="none", ca=None, auth=None, cert=None,
                 key=None, port=None, name="smarthost", **cfg):
        self.dir = os.path.join(tmp, name)
        self.outdir = os.path.join(self.dir, "out")
        os.makedirs(self.outdir, exist_ok=True)
        self.host = cfg.pop("host", "127.0.0.1")
        self.port = port or free_port(self.host)
        self.tls = tls
        hostname = cfg.setdefault("hostname", "smarthost.test")
        if tls != "none" and not cert:
            if ca is None:
                ca = CA(os.path.join(self.dir, "ca"))
            cert, key = ca.issue(name, ips=[self.host],
                                 dns=["localhost", hostname])
        self.ca = ca
        self.cert, self.key = cert, key
        cfg.update(host=self.host, port=self.port, outdir=self.outdir,
                   tls=tls, cert=cert, key=key, users=auth or {})
        self.config = os.path.join(self.dir, "config.json")
        with open(self.config, "w") as f:
            json.dump(cfg, f, indent=1)
        self.log = os.path.join(self.dir, "stderr.log")
        self.proc = None
        self.start()

    def start(self):
        self._logf = open(self.log, "ab")
        self.proc = Proc([PYTHON, os.path.join(SRC, "t/lib/smarthost.py"),
                          self.config], stdout=self._logf, stderr=self._logf)
        self.pid = self.proc.pid
        ready = os.path.join(self.outdir, "ready")
        if not wait_for(lambda: os.path.exists(ready)
                        or self.proc.poll() is not None, 15):
            raise RuntimeError("smart host not ready after 15s: see "
                               + self.log)
        if self.proc.poll() is not None:
            with open(self.log, errors="replace") as f:
                raise RuntimeError("smart host exited: " + f.read()[-2000:])

    def stop(self):
        if self.proc:
            self.proc.stop()
            self._logf.close()
            try:
                os.unlink(os.path.join(self.outdir, "ready"))
            except FileNotFoundError:
                pass

    def _jsonl(self, name):
        out = []
        try:
            with open(os.path.join(self.outdir, name), "rb") as f:
                for line in f:
                    if line.endswith(b"\n"):   # complete records only
                        out.append(json.loads(line))
        except FileNotFoundError:
            pass
        return out

    def connections(self):
        """TCP connections accepted so far (the readiness check makes none)."""
        return sum(1 for e in self._jsonl("conns.jsonl")
                   if e["ev"] == "connect")

    def messages(self, all=False):
        recs = self._jsonl("messages.jsonl")
        if not all:
            recs = [r for r in recs if (r["reply"] or "").startswith("2")]
        if recs:
            with open(os.path.join(self.outdir, "data.bin"), "rb") as f:
                for r in recs:
                    f.seek(r["data_offset"])
                    r["data"] = f.read(r["size"])
        return recs

    def wait_messages(self, n, timeout=10.0):
        return wait_for(lambda: len(self.messages()) >= n, timeout)

    def conn_log(self, n):
        """Events of connection n (1 = the first after start-up)."""
        return [e for e in self._jsonl("conns.jsonl") if e["conn"] == n]

    def commands(self, n=None):
        """Command lines received on connection n, or on all connections."""
        if n is not None:
            return [e["line"] for e in self.conn_log(n) if e["ev"] == "cmd"]
        out = []
        for i in range(1, self.connections() + 1):
            out += self.commands(i)
        return out


# ---------------------------------------------------------------------------
# Dovecot (real POP3/IMAP server) with a private configuration

class Dovecot:
    """A private Dovecot on 127.0.0.1 for POP3 and IMAP, stopped by PID.

        dc = mhtest.Dovecot(tmp, users={"eddy": "pw"}, ca=ca)
        dc.pop3, dc.pop3s, dc.imap, dc.imaps   # ports (plain+STARTTLS, implicit)
        dc.host                                # "127.0.0.1"
        dc.deliver("eddy", b"From: ...\\r\\n\\r\\nbody\\r\\n")  # into Maildir new/
        dc.count("eddy")                       # messages left (new/ + cur/)
        dc.messages("eddy")                    # their bytes, in delivery order
        dc.files("eddy")                       # [(name, bytes)]: names carry
                                               # flags, e.g. ...:2,S once seen
        dc.log                                 # Dovecot's log file
        dc.stop(); dc.start()                  # restart, same ports

    Options: ssl=True (False: no STARTTLS and no implicit-TLS ports, i.e.
    dc.pop3s = dc.imaps = None; the capability lists show no STARTTLS),
    cert=/key= (else issued by `ca` for 127.0.0.1 and "localhost",
    hostname; a CA is made under tmp when none is given), compress=True
    loads imap_zlib (COMPRESS=DEFLATE), hostname="mail.test",
    extra="raw dovecot.conf lines", oauth2="http://.../introspect" adds
    AUTH XOAUTH2 and OAUTHBEARER checked by Dovecot's oauth2 passdb
    against that RFC 7662 introspection endpoint (POST token=...; the
    answer's "active" must be true and "username" the login name; see
    introspection.Introspection).  Plaintext logins are allowed on the
    plain ports (disable_plaintext_auth = no) so that tests can show that
    the client, not the server, refuses to send a password in clear.
    AUTH mechanisms: PLAIN and LOGIN (apop=True adds APOP; passwords are
    stored in clear).  COMPRESS=DEFLATE shows in the capabilities after
    login only.  Mail is stored as Maildir under tmp, owned by the running
    uid (as root: by the "mail" user, since Dovecot refuses uid 0); the Dovecot is independent of any system one (own config,
    base_dir, ports; /etc/dovecot untouched).  Started with
    `dovecot -F -c CONF`.
    """

    def __init__(self, tmp, users=None, ca=None, ssl=True, cert=None,
                 key=None, compress=False, hostname="mail.test",
                 name="dovecot", extra="", apop=False, oauth2=None):
        import pwd
        self.host = "127.0.0.1"
        self.dir = os.path.join(tmp, name)
        self.users = dict(users or {})
        self.ssl = ssl
        self.hostname = hostname
        for d in ("run", "state", "mail", "home"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        # Login processes run as dovenull and are chrooted into base_dir:
        # every directory above it must be traversable.
        p = self.dir
        while p.startswith(tmp) and len(p) >= len(tmp):
            os.chmod(p, 0o711 if p != os.path.join(self.dir, "run") else 0o755)
            if p == tmp:
                break
            p = os.path.dirname(p)
        self.pop3 = free_port()
        self.imap = free_port()
        self.pop3s = free_port() if ssl else None
        self.imaps = free_port() if ssl else None
        if ssl and not cert:
            if ca is None:
                ca = CA(os.path.join(self.dir, "ca"))
            cert, key = ca.issue(name, ips=[self.host],
                                 dns=["localhost", hostname])
        self.ca = ca
        self.cert, self.key = cert, key
        uid, gid = os.getuid(), os.getgid()
        me = pwd.getpwuid(uid).pw_name
        if uid == 0:
            # Dovecot never gives mail access as uid 0: as root, the mail
            # processes run as Debian's "mail" user, which owns the Maildirs.
            pw = pwd.getpwnam("mail")
            uid, gid = pw.pw_uid, pw.pw_gid
            internal, login = "dovecot", "dovenull"
            group = "dovecot"
            chroot = ""
        else:
            # Unprivileged: Dovecot cannot change users; run all as us.
            import grp
            internal = login = me
            group = grp.getgrgid(os.getgid()).gr_name
            chroot = "  chroot =\n"
        self.passwd = os.path.join(self.dir, "passwd")
        with open(self.passwd, "w") as f:
            for u, pw in self.users.items():
                f.write("%s:{PLAIN}%s::::::\n" % (u, pw))
        os.chmod(self.passwd, 0o644)
        self.log = os.path.join(self.dir, "dovecot.log")
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.uid, self.gid = uid, gid
        for sub in ("mail", "home"):
            os.chown(os.path.join(self.dir, sub), uid, gid)
        d = self.dir
        ssl_conf = ("ssl = yes\nssl_cert = <%s\nssl_key = <%s\n"
                    "ssl_dh = </usr/share/dovecot/dh.pem\n"
                    "ssl_min_protocol = TLSv1.2\n" % (cert, key)) \
            if ssl else "ssl = no\n"

        def listeners(proto, port, sport):
            s = ("  inet_listener %s {\n    address = %s\n    port = %d\n"
                 "  }\n" % (proto, self.host, port))
            s += ("  inet_listener %ss {\n    address = %s\n    port = %d\n"
                  "    ssl = yes\n  }\n" % (proto, self.host, sport)) \
                if sport else ("  inet_listener %ss {\n    port = 0\n  }\n"
                               % proto)
            return s
        mechs = "plain login" + (" apop" if apop else "")
        oauth = ""
        if oauth2:
            args = os.path.join(self.dir, "oauth2.conf.ext")
            with open(args, "w") as f:
                f.write("introspection_mode = post\n"
                        "introspection_url = %s\n"
                        "force_introspection = yes\n"
                        "username_attribute = username\n"
                        "active_attribute = active\n"
                        "active_value = true\n" % oauth2)
            os.chmod(args, 0o644)
            mechs += " xoauth2 oauthbearer"
            oauth = ("passdb {\n  driver = oauth2\n"
                     "  mechanisms = xoauth2 oauthbearer\n"
                     "  args = %s\n}\n" % args)
        zlib = ""
        if compress:
            zlib = ("mail_plugins = $mail_plugins zlib\n"
                    "protocol imap {\n  mail_plugins = $mail_plugins imap_zlib\n}\n")
        with open(self.conf, "w") as f:
            f.write(f"""# mailhub test Dovecot: private, nothing from /etc/dovecot
instance_name = mailhub-{os.path.basename(tmp)}-{name}
base_dir = {d}/run
state_dir = {d}/state
log_path = {self.log}
protocols = pop3 imap
listen = {self.host}
hostname = {hostname}
login_greeting = Dovecot ready.
login_trusted_networks =
default_internal_user = {internal}
default_internal_group = {group}
default_login_user = {login}
first_valid_uid = 1
first_valid_gid = 1
disable_plaintext_auth = no
auth_mechanisms = {mechs}
auth_verbose = yes
auth_cache_size = 0
auth_failure_delay = 0
{ssl_conf}{oauth}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.passwd}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/home/%u
}}
mail_location = maildir:{d}/mail/%u
namespace inbox {{
  inbox = yes
}}
pop3_uidl_format = %08Xu%08Xv
{zlib}service imap-login {{
{listeners("imap", self.imap, self.imaps)}{chroot}}}
service pop3-login {{
{listeners("pop3", self.pop3, self.pop3s)}{chroot}}}
service anvil {{
  # No auth penalty: a test's wrong password must not slow the next login.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
{extra}
""")
        self._t0 = int(time.time())
        for u in self.users:
            self._maildir(u)
        self.proc = None
        self.start()

    def start(self):
        self._errf = open(os.path.join(self.dir, "stderr.log"), "ab")
        self.proc = Proc(["dovecot", "-F", "-c", self.conf],
                         stdout=self._errf, stderr=self._errf)
        self.pid = self.proc.pid
        for port in (self.pop3, self.imap, self.pop3s, self.imaps):
            if port:
                try:
                    wait_port(port, self.host, timeout=15, proc=self.proc)
                except RuntimeError as e:
                    raise RuntimeError("%s\n%s" % (e, self._tail()))

    def _tail(self):
        out = ""
        for f in (self.log, os.path.join(self.dir, "stderr.log")):
            try:
                with open(f, errors="replace") as fh:
                    out += fh.read()[-3000:]
            except OSError:
                pass
        return out

    def stop(self):
        if self.proc:
            # The master may linger for seconds waiting for its children;
            # they hold nothing a test needs, so the group gets SIGKILL
            # after a short grace.
            self.proc.stop(timeout=1.5)
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._errf.close()

    def _maildir(self, user):
        md = os.path.join(self.dir, "mail", user)
        home = os.path.join(self.dir, "home", user)
        for p in (home, md) + tuple(os.path.join(md, s)
                                    for s in ("new", "cur", "tmp")):
            if not os.path.isdir(p):
                os.mkdir(p)
                os.chown(p, self.uid, self.gid)
        return md

    _seq = 0

    def deliver(self, user, data):
        """Put one message (bytes; str is encoded) in user's Maildir new/."""
        if isinstance(data, str):
            data = data.encode()
        md = self._maildir(user)
        Dovecot._seq += 1
        # Dovecot gives UIDs to new/ in file-name order: names sort as
        # delivered (fixed-width time and sequence).
        base = "%010d.M%08dP%dQ%08d.mailhub-test,S=%d" % (
            self._t0, Dovecot._seq, os.getpid(), Dovecot._seq, len(data))
        tmpf = os.path.join(md, "tmp", base)
        with open(tmpf, "wb") as f:
            f.write(data)
        os.chown(tmpf, self.uid, self.gid)
        os.rename(tmpf, os.path.join(md, "new", base))
        return base

    def files(self, user):
        """[(file name, bytes)] of the messages left, in delivery order."""
        md = self._maildir(user)
        out = []
        # new/ before cur/: a message Dovecot moves from new/ to cur/ while
        # we look is found in cur/; one it deletes is simply gone.
        for sub in ("new", "cur"):
            for n in os.listdir(os.path.join(md, sub)):
                try:
                    with open(os.path.join(md, sub, n), "rb") as f:
                        out.append((n, f.read()))
                except FileNotFoundError:
                    pass

        def order(item):
            q = item[0].split("Q", 1)[-1].split(".", 1)[0]
            return (int(q) if q.isdigit() else 1 << 62, item[0])
        return sorted(out, key=order)

    def messages(self, user):
        return [data for _, data in self.files(user)]

    def count(self, user):
        return len(self.files(user))


# ---------------------------------------------------------------------------
# TCP proxy (t/lib/tcpproxy.py): turn counting, faults, line emulation

class TcpProxy:
    """A TCP proxy on 127.0.0.1 in front of target_port, stopped by PID.

        px = mhtest.TcpProxy(tmp, target_port=sh.port)
        px.port                    # point the program under test here
        px.stats()                 # fresh totals and per-connection figures:
            {"connections", "c2s_bytes", "s2c_bytes", "turns",
             "conns": [{"n", "c2s_bytes", "s2c_bytes", "turns", "open",
                        "fault", "start", "end"}]}
        px.turns(), px.connections()
        px.cut()                   # abort every open connection now (RST)
        px.recorded(n, "c2s")      # raw bytes of connection n (record=True)

    Faults (a list of rules; conn None = every connection):
        faults=[{"dir": "s2c", "after": 1200, "action": "close", "conn": 1}]
        or TcpProxy.fault(after, dir="s2c", action="close", conn=None)
        or TcpProxy.fault(match="250 2.0.0", count=3, at="start") (the
        3rd message's 250 never reaches the client: the server has the
        message, the client does not know) -- matching on text works when
        the dialogue is in clear; under TLS use byte offsets
        action: "close" (FIN), "reset" (RST) or "stall" (nothing passes, the
        sockets stay open until a peer gives up).  Exactly `after` bytes of
        that direction are forwarded first.
    Line emulation: line=TcpProxy.modem() (56 kbit/s each way, 150 ms RTT),
        or line={"bps": 56000, "delay": 0.075, "bps_c2s": .., "bps_s2c": ..,
        "buffer": 65536}: one serialisation queue per direction shared by all
        connections, then the one-way delay.  TcpProxy.floor(bytes, bps=56000,
        rtt=0.150) = bytes*8/bps + rtt, the figure benchmarks compare with.
    refuse=True accepts and closes every connection (link down).
    A turn is a client burst that is its first, or that follows server bytes
    delivered to the client (see tcpproxy.py).
    """

    def __init__(self, tmp, target_port, target_host="127.0.0.1",
                 faults=None, line=None, record=False, refuse=False,
                 name=None, port=None):
        TcpProxy._n = getattr(TcpProxy, "_n", 0) + 1
        name = name or "proxy%d" % TcpProxy._n
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.statsfile = os.path.join(self.dir, "stats.json")
        self.readyfile = os.path.join(self.dir, "ready")
        cfg = {"host": self.host, "port": self.port,
               "target_host": target_host, "target_port": target_port,
               "stats": self.statsfile, "ready": self.readyfile,
               "faults": faults or [], "refuse": refuse}
        if line:
            cfg["line"] = line
        if record:
            cfg["record"] = os.path.join(self.dir, "rec")
            os.makedirs(cfg["record"], exist_ok=True)
        self.config = os.path.join(self.dir, "config.json")
        with open(self.config, "w") as f:
            json.dump(cfg, f, indent=1)
        self.cfg = cfg
        self.log = os.path.join(self.dir, "stderr.log")
        self.proc = None
        self.start()

    @staticmethod
    def fault(after=None, dir="s2c", action="close", conn=None, match=None,
              count=1, at="end"):
        """A fault rule: at byte offset `after` of direction `dir`, or at
        the end (at="start": the start) of the count-th occurrence of the
        text `match` (str or bytes) in that direction."""
        r = {"dir": dir, "action": action, "conn": conn}
        if match is not None:
            if isinstance(match, bytes):
                match = match.decode("latin-1")
            r.update(match=match, count=count, at=at)
        else:
            r["after"] = after
        return r

    @staticmethod
    def modem(bps=56000, rtt=0.150):
        return {"bps": bps, "delay": rtt / 2.0}

    @staticmethod
    def floor(nbytes, bps=56000, rtt=0.150):
        return nbytes * 8.0 / bps + rtt

    def start(self):
        for f in (self.readyfile, self.statsfile):
            if os.path.exists(f):
                os.unlink(f)
        self._logf = open(self.log, "ab")
        self.proc = Proc([PYTHON, os.path.join(SRC, "t/lib/tcpproxy.py"),
                          self.config], stdout=self._logf, stderr=self._logf)
        self.pid = self.proc.pid
        if not wait_for(lambda: os.path.exists(self.readyfile)
                        or self.proc.poll() is not None, 15) \
                or self.proc.poll() is not None:
            with open(self.log, errors="replace") as f:
                raise RuntimeError("tcpproxy did not start: "
                                   + f.read()[-2000:])

    def stop(self):
        if self.proc:
            self.proc.stop()
            self._logf.close()

    def _read(self):
        try:
            with open(self.statsfile) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def stats(self):
        """Figures as of now (asks the proxy to write them, SIGUSR1)."""
        old = self._read()
        if self.proc.poll() is not None:
            return old
        gen = old["gen"] if old else 0
        os.kill(self.pid, signal.SIGUSR1)
        new = wait_for(lambda: (lambda s: s if s and s["gen"] > gen
                                else None)(self._read()), 5)
        return new or self._read()

    def turns(self):
        return self.stats()["turns"]

    def connections(self):
        return self.stats()["connections"]

    def cut(self):
        os.kill(self.pid, signal.SIGUSR2)
        wait_for(lambda: all(not c["open"] for c in self.stats()["conns"]), 5)

    def recorded(self, n, direction):
        path = os.path.join(self.cfg["record"], "conn-%d.%s" % (n, direction))
        with open(path, "rb") as f:
            return f.read()


# ---------------------------------------------------------------------------
# Scripted server (t/lib/scriptserver.py) for what real servers will not do

class ScriptServer:
    """A line server that follows a script, stopped by PID at exit.

        ss = mhtest.ScriptServer(tmp, [            # one script per connection
            [{"send": "* PREAUTH IMAP4rev1 ready\\r\\n"},
             {"expect": r"(\\S+) ", "send": "{1} BAD no\\r\\n"}],
        ], tls=True, ca=ca)
        ss.port
        ss.events(n=None)     # log events (of connection n)
        ss.received(n=None)   # lines the client sent (of connection n)
        ss.connections()

    Steps (see scriptserver.py): {"send": TEXT}, {"expect": REGEX} (optional
    "send"/"reply"/"until"), {"tls": true} (handshake now; earlier client
    bytes are discarded), {"sleep": S}, {"close": true}, {"reset": true}.
    The last script serves every further connection.  tls=True issues a
    certificate from `ca` (a CA is made when none is given) for 127.0.0.1
    and "localhost"; implicit_tls=True starts TLS at once.
    """

    def __init__(self, tmp, conns, tls=False, implicit_tls=False, ca=None,
                 name=None, port=None):
        ScriptServer._n = getattr(ScriptServer, "_n", 0) + 1
        name = name or "script%d" % ScriptServer._n
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        cfg = {"host": self.host, "port": self.port, "conns": conns,
               "implicit_tls": implicit_tls,
               "log": os.path.join(self.dir, "log.jsonl"),
               "ready": os.path.join(self.dir, "ready")}
        if tls or implicit_tls:
            if ca is None:
                ca = CA(os.path.join(self.dir, "ca"))
            cfg["cert"], cfg["key"] = ca.issue(name, ips=[self.host],
                                               dns=["localhost"])
        self.ca = ca
        self.cfg = cfg
        self.config = os.path.join(self.dir, "config.json")
        with open(self.config, "w") as f:
            json.dump(cfg, f, indent=1)
        self.logfile = os.path.join(self.dir, "stderr.log")
        self._errf = open(self.logfile, "ab")
        self.proc = Proc([PYTHON, os.path.join(SRC, "t/lib/scriptserver.py"),
                          self.config], stdout=self._errf, stderr=self._errf)
        self.pid = self.proc.pid
        if not wait_for(lambda: os.path.exists(cfg["ready"])
                        or self.proc.poll() is not None, 15) \
                or self.proc.poll() is not None:
            with open(self.logfile, errors="replace") as f:
                raise RuntimeError("scriptserver did not start: "
                                   + f.read()[-2000:])

    def stop(self):
        self.proc.stop()
        self._errf.close()

    def events(self, n=None):
        out = []
        try:
            with open(self.cfg["log"], "rb") as f:
                for line in f:
                    if line.endswith(b"\n"):
                        e = json.loads(line)
                        if n is None or e["conn"] == n:
                            out.append(e)
        except FileNotFoundError:
            pass
        return out

    def received(self, n=None):
        return [e["line"] for e in self.events(n) if e["ev"] == "recv"]

    def connections(self):
        return sum(1 for e in self.events() if e["ev"] == "connect")
