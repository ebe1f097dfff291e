"""Fault injection for the fault tests: drives the LD_PRELOAD shim
t/lib/faultfs.c (built to $MAILHUB_BIN/t/lib/faultfs.so).

    ff = faultfs.FaultFS(tmp)             # shared state + call log under tmp
    env = ff.env()                        # LD_PRELOAD etc. for mhtest.Proc/run
    ff.set(dir=spool)                     # count only calls under spool
    ff.set(dir=[q, tmp], calls=("fsync",))  # or under these, fsync only
    ff.count_mode()                       # nothing fails; ff.count() counts
    ff.arm(5, err="ENOSPC")               # the 5th counted call from now and
                                          # every later one fail (disk full)
    ff.arm(5, n=1)                        # only the 5th
    ff.arm(1, calls=("fsync",))           # only fsync counts, and fails
    ff.disarm()                           # nothing fails any more
    ff.quiet()                            # wait until no call is counted
    ff.count(), ff.failed()               # counted / failed calls so far
    ff = faultfs.FaultFS(tmp, gate=path)  # and syncfs waits while path
                                          # exists, after creating
                                          # path + ".held" (a stalled disk)
    ff.calls()                            # [(n, pid, call, path, result)]
                                          # of the log since the last arm/
                                          # count_mode

Every process started with ff.env() (and its children) shares the count.
Calls counted: write pwrite writev fsync fdatasync syncfs rename link
(renameat/renameat2/linkat count as rename/link), on regular files and
directories only, under `dir` when set.
"""

import errno as _errno
import mmap
import os
import struct

import mhtest

CALLS = ("write", "pwrite", "writev", "fsync", "fdatasync", "syncfs",
         "rename", "link")
MAGIC = 0x31534646
# magic, mask, count, fail_at, fail_n, err, pad, failed, dir[4096]
_FMT = "<IIqqqiiq"
_HDR = struct.calcsize(_FMT)
_SIZE = _HDR + 4096
_OFF = {"magic": 0, "mask": 4, "count": 8, "fail_at": 16, "fail_n": 24,
        "err": 32, "failed": 40}


def shim():
    return mhtest.bin("t/lib/faultfs.so")


def available():
    return os.path.exists(shim())


def sweep(points):
    """The calls to fail, numbered from 1: every distinct point of
    FaultFS.calls(), where a run of the same call on the same file (a
    message written in pieces) counts as its first and its last call."""
    out = []
    for i, p in enumerate(points):
        prev = points[i - 1] if i > 0 else None
        nxt = points[i + 1] if i + 1 < len(points) else None
        if not (prev and prev[2:4] == p[2:4] and nxt and nxt[2:4] == p[2:4]):
            out.append((i + 1, p))
    return out


class FaultFS:
    def __init__(self, tmp, name="faultfs", gate=None):
        self.gate = gate
        self.state = os.path.join(tmp, name + ".state")
        self.logpath = os.path.join(tmp, name + ".log")
        with open(self.state, "wb") as f:
            f.write(struct.pack(_FMT, MAGIC, 0, 0, 0, 0, 0, 0, 0))
            f.write(b"\0" * (_SIZE - _HDR))
        open(self.logpath, "wb").close()
        self._f = open(self.state, "r+b")
        self._m = mmap.mmap(self._f.fileno(), _SIZE)
        self._logpos = 0

    def env(self):
        """Environment for a process under the shim (with its children)."""
        asan = os.environ.get("ASAN_OPTIONS", "")
        asan = (asan + ":" if asan else "") + "verify_asan_link_order=0"
        pre = os.environ.get("LD_PRELOAD", "")
        env = {"LD_PRELOAD": shim() + (":" + pre if pre else ""),
               "FAULTFS_STATE": self.state, "FAULTFS_LOG": self.logpath,
               "ASAN_OPTIONS": asan}
        if self.gate:
            env["FAULTFS_GATE"] = self.gate
        return env

    def _put(self, field, value):
        fmt = "<I" if field in ("magic", "mask") else \
            "<i" if field == "err" else "<q"
        struct.pack_into(fmt, self._m, _OFF[field], value)

    def _get(self, field):
        fmt = "<I" if field in ("magic", "mask") else \
            "<i" if field == "err" else "<q"
        return struct.unpack_from(fmt, self._m, _OFF[field])[0]

    def set(self, dir=None, calls=CALLS):
        """Which calls count (names from CALLS) and under which directory
        or directories (a list; None or "": everywhere)."""
        dirs = [dir] if isinstance(dir, str) else (dir or [])
        d = ":".join(os.path.realpath(x) for x in dirs if x).encode()
        self._m[_HDR:_HDR + 4096] = d + b"\0" * (4096 - len(d))
        mask = 0
        for c in calls:
            mask |= 1 << CALLS.index(c)
        self._put("mask", mask)

    def _restart(self):
        self._put("fail_at", 0)
        self._put("count", 0)
        self._put("failed", 0)
        self._logpos = os.path.getsize(self.logpath)

    def count_mode(self, calls=None):
        """Count from zero, fail nothing."""
        self._restart()
        if calls is not None:
            self.set(self.dir(), calls)

    def arm(self, at, err="ENOSPC", n=0, calls=None):
        """Calls number at.. (counted from now) fail with err; n of them
        (0: every later one, as a full disk)."""
        self._restart()
        if calls is not None:
            self.set(self.dir(), calls)
        self._put("err", getattr(_errno, err) if isinstance(err, str)
                  else err)
        self._put("fail_n", n)
        self._put("fail_at", at)

    def quiet(self, period=0.5, timeout=10.0):
        """Wait until no counted call happened for `period` seconds (the
        processes under the shim finished what they were doing)."""
        import time
        deadline = time.monotonic() + timeout
        last, since = self.count(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = self.count()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= period:
                return True
        return False

    def disarm(self):
        self._put("fail_at", 0)

    def dir(self):
        d = self._m[_HDR:_HDR + 4096].split(b"\0", 1)[0].decode()
        return d.split(":") if d else None

    def count(self):
        return self._get("count")

    def failed(self):
        return self._get("failed")

    def calls(self):
        """The log since the last arm/count_mode: (n, pid, call, path, res)."""
        out = []
        with open(self.logpath, "rb") as f:
            f.seek(self._logpos)
            for line in f.read().decode(errors="replace").splitlines():
                p = line.split(" ")
                if len(p) >= 5:
                    out.append((int(p[0]), int(p[1]), p[2],
                                " ".join(p[3:-1]), p[-1]))
        return out
