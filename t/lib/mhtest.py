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
"""

import atexit
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


def free_port(host="127.0.0.1"):
    """A port that was free a moment ago (bind to 0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


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
