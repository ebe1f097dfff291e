#!/usr/bin/python3
"""A TCP proxy for tests and benchmarks: counts, breaks and slows links.

    /usr/bin/python3 t/lib/tcpproxy.py CONFIG.json

Tests normally use the wrapper mhtest.TcpProxy (see mhtest.py), which writes
the config, starts this process, waits until it listens and stops it by PID.

It forwards 127.0.0.1:listen -> target, one upstream connection per client
connection, and counts per connection: bytes each way and client->server
"turns" (the times the client speaks again after the server spoke: a burst of
client bytes counts as a turn when it is the client's first or when server
bytes reached the client since the client last sent; a pipelining client that
sends a whole transaction in one write is one turn).

CONFIG.json keys:
  host, port          listen address (default 127.0.0.1)
  target_host, target_port   where to connect
  stats               stats file (JSON, below)
  record              directory: write conn-N.c2s / conn-N.s2c raw bytes
  faults              list of rules, each
                        {"conn": N (1-based; null/absent = every connection),
                         "dir": "c2s" | "s2c",
                         "after": BYTES (forward exactly this many bytes of
                                  that direction, then act),
                         or "match": "TEXT", "count": N (default 1),
                            "at": "end" | "start": act at the end (or the
                            start) of the N-th occurrence of TEXT in that
                            direction (latin-1; e.g. "\r\n250 " or
                            "+OK"); with "start" bytes of an occurrence that
                            began in an earlier read may have passed,
                         "action": "close" | "reset" | "stall"}
                      close: both sides get FIN; reset: both get RST;
                      stall: nothing more passes either way, sockets stay open
                      until a peer closes (then both are closed).
  line                {"bps": 56000, "delay": 0.075} emulates a line: each
                      direction has one serialisation queue shared by all
                      connections (bytes*8/bps seconds each, in order) followed
                      by a one-way delay (RTT/2); "bps_c2s"/"bps_s2c" override
                      per direction.  Reading from a sender pauses while more
                      than "buffer" bytes (default 65536) of its direction wait.
  refuse              accept and close at once (link down)

Stats file (rewritten on each connection's close, every 0.2 s while changing,
and at once on SIGUSR1), JSON:
  {"gen": N, "connections": N, "c2s_bytes": N, "s2c_bytes": N, "turns": N,
   "conns": [{"n", "c2s_bytes", "s2c_bytes", "turns", "open", "fault",
              "start", "end"} ...]}
start/end are time.time() values.  SIGUSR2 aborts every open connection (the
line drops now).  SIGTERM stops the proxy.
"""

import asyncio
import json
import os
import signal
import socket
import struct
import sys
import time

PIECE = 512          # line emulation granularity (bytes)


class Line:
    def __init__(self, bps, delay):
        self.bps = bps
        self.delay = delay
        self.free_at = 0.0

    def due(self, nbytes, now):
        if self.bps:
            start = max(now, self.free_at)
            self.free_at = start + nbytes * 8.0 / self.bps
            return self.free_at + self.delay
        return now + self.delay


class Side(asyncio.Protocol):
    """One socket of a proxied connection (the client's or the server's)."""

    def __init__(self, conn, which):
        self.conn = conn
        self.which = which        # "c" or "s"
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        if self.which == "s":
            self.conn.server_up(self)
        else:
            self.conn.client_up(self)

    def data_received(self, data):
        self.conn.received(self.which, data)

    def eof_received(self):
        self.conn.eof(self.which)
        return True               # keep our write side open

    def connection_lost(self, exc):
        self.conn.lost(self.which)


class Conn:
    def __init__(self, proxy, n):
        self.p = proxy
        self.n = n
        self.c = None
        self.s = None
        self.early = []           # client bytes before the server is up
        self.st = {"n": n, "c2s_bytes": 0, "s2c_bytes": 0, "turns": 0,
                   "open": True, "fault": None, "start": time.time(),
                   "end": None}
        self.seen_server = True   # so that the client's first bytes count
        self.stalled = False
        self.closed = False
        self.eofs = set()         # directions whose EOF was passed on
        self.pending = {"c2s": 0, "s2c": 0}
        self.paused = {"c2s": False, "s2c": False}
        self.rules = [dict(r) for r in proxy.cfg.get("faults") or []
                      if r.get("conn") in (None, n)]
        self.rec = {}
        if proxy.cfg.get("record"):
            for d in ("c2s", "s2c"):
                self.rec[d] = open(os.path.join(
                    proxy.cfg["record"], "conn-%d.%s" % (n, d)), "ab")

    # --- set-up -----------------------------------------------------------
    def client_up(self, side):
        self.c = side
        side.transport.pause_reading()
        loop = self.p.loop
        loop.create_task(self.connect())

    async def connect(self):
        cfg = self.p.cfg
        try:
            await self.p.loop.create_connection(
                lambda: Side(self, "s"), cfg.get("target_host", "127.0.0.1"),
                cfg["target_port"])
        except OSError as e:
            self.st["fault"] = "connect: %s" % e
            self.close_both(reset=False)

    def server_up(self, side):
        self.s = side
        if self.closed:
            side.transport.close()
            return
        early, self.early = self.early, []
        for data in early:
            if data is None:
                self.eof("c")
            else:
                self.received("c", data)
        self.c.transport.resume_reading()

    # --- data -------------------------------------------------------------
    def received(self, which, data):
        if self.stalled or self.closed:
            return
        if which == "c" and self.s is None:
            self.early.append(data)       # the server is not connected yet
            return
        d = "c2s" if which == "c" else "s2c"
        # A fault rule cuts the data at its byte offset; the earliest wins.
        act = None
        cut = None
        for r in self.rules:
            if r["dir"] != d or r.get("_done"):
                continue
            pos = self.cut_point(r, data)
            if pos is not None and (cut is None or pos < cut):
                cut, act = pos, r
        if act is not None:
            act["_done"] = True
            data = data[:cut]
        if data:
            self.st[d + "_bytes"] += len(data)
            if d == "c2s":
                if self.seen_server:
                    self.st["turns"] += 1
                    self.seen_server = False
            if d in self.rec:
                self.rec[d].write(data)
                self.rec[d].flush()
            self.p.dirty = True
            self.forward(d, data)
        if act is not None:
            self.st["fault"] = "%s after %d %s bytes" % (
                act["action"], self.st[d + "_bytes"], d)
            self.p.dirty = True
            self.forward(d, None, action=act["action"])

    def cut_point(self, r, data):
        """Where in data rule r fires, or None."""
        if "match" not in r:
            left = r["after"] - self.st[r["dir"] + "_bytes"]
            return max(0, left) if len(data) >= left else None
        m = r["match"].encode("latin-1")
        tail = r.get("_tail", b"")
        buf = tail + data
        r["_tail"] = buf[-(len(m) - 1):] if len(m) > 1 else b""
        i = 0
        while True:
            i = buf.find(m, i)
            if i < 0:
                return None
            r["_seen"] = r.get("_seen", 0) + 1
            if r["_seen"] >= r.get("count", 1):
                at = i if r.get("at") == "start" else i + len(m)
                return max(0, at - len(tail))
            i += len(m)

    def dst(self, d):
        return self.s if d == "c2s" else self.c

    def src(self, d):
        return self.c if d == "c2s" else self.s

    def forward(self, d, data, action=None):
        line = self.p.lines.get(d)
        if line is None:
            self.deliver(d, data, action)
            return
        now = self.p.loop.time()
        loop = self.p.loop
        if data is None:
            loop.call_at(line.due(0, now), self.deliver, d, None, action)
            return
        for i in range(0, len(data), PIECE):
            piece = data[i:i + PIECE]
            self.pending[d] += len(piece)
            loop.call_at(line.due(len(piece), now), self.deliver, d, piece,
                         None)
        if self.pending[d] > self.p.buffer and not self.paused[d]:
            src = self.src(d)
            if src and src.transport:
                src.transport.pause_reading()
                self.paused[d] = True

    def deliver(self, d, data, action):
        if data is not None:
            if self.p.lines.get(d) is not None:
                self.pending[d] -= len(data)
                if self.paused[d] and self.pending[d] < self.p.buffer // 4:
                    src = self.src(d)
                    if src and src.transport and not self.closed:
                        src.transport.resume_reading()
                    self.paused[d] = False
            if self.closed or self.stalled:
                return
            dst = self.dst(d)
            if dst and dst.transport and not dst.transport.is_closing():
                dst.transport.write(data)
            if d == "s2c":
                self.seen_server = True
            return
        if action == "eof":
            dst = self.dst(d)
            if dst and dst.transport and not dst.transport.is_closing():
                try:
                    dst.transport.write_eof()
                except (OSError, RuntimeError):
                    pass
            self.eofs.add(d)
            if len(self.eofs) == 2:
                self.close_both(reset=False)
        elif action == "stall":
            self.stalled = True
            for side in (self.c, self.s):
                if side and side.transport:
                    side.transport.pause_reading()
        elif action in ("close", "reset"):
            self.close_both(reset=(action == "reset"))

    def eof(self, which):
        if which == "c" and self.s is None and not self.closed:
            self.early.append(None)
            return
        if self.stalled:
            self.hang_up(which)
            return
        self.forward("c2s" if which == "c" else "s2c", None, action="eof")

    def lost(self, which):
        if self.closed:
            return
        if self.stalled:
            self.hang_up(which)
            return
        # Let what is queued reach the other side first.
        d = "c2s" if which == "c" else "s2c"
        self.forward(d, None, action="close")

    def hang_up(self, which):
        """On a stalled link a peer that gives up is let go; the other one
        learns nothing until it gives up too."""
        side = self.c if which == "c" else self.s
        if side and side.transport:
            side.transport.close()
        self.eofs.add(which)
        if "c" in self.eofs and "s" in self.eofs:
            self.close_both(reset=False)

    def close_both(self, reset):
        if self.closed:
            return
        self.closed = True
        for side in (self.c, self.s):
            if side and side.transport:
                if reset:
                    sock = side.transport.get_extra_info("socket")
                    if sock is not None:
                        try:
                            sock.setsockopt(socket.SOL_SOCKET,
                                            socket.SO_LINGER,
                                            struct.pack("ii", 1, 0))
                        except OSError:
                            pass
                    side.transport.abort()
                else:
                    side.transport.close()
        self.st["open"] = False
        self.st["end"] = time.time()
        for f in self.rec.values():
            f.close()
        self.rec = {}
        self.p.dirty = True
        self.p.write_stats()


class Proxy:
    def __init__(self, cfg, loop):
        self.cfg = cfg
        self.loop = loop
        self.conns = []
        self.dirty = True
        self.gen = 0
        self.lines = {}
        line = cfg.get("line")
        if line:
            for d in ("c2s", "s2c"):
                self.lines[d] = Line(line.get("bps_" + d, line.get("bps", 0)),
                                     line.get("delay", 0.0))
        self.buffer = (line or {}).get("buffer", 65536)

    def factory(self):
        n = len(self.conns) + 1
        conn = Conn(self, n)
        self.conns.append(conn)
        self.dirty = True
        return _Accept(self, conn)

    def write_stats(self):
        path = self.cfg.get("stats")
        if not path:
            return
        self.gen += 1
        conns = [c.st for c in self.conns]
        out = {"gen": self.gen, "connections": len(conns),
               "c2s_bytes": sum(c["c2s_bytes"] for c in conns),
               "s2c_bytes": sum(c["s2c_bytes"] for c in conns),
               "turns": sum(c["turns"] for c in conns),
               "conns": conns}
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(out, f)
        os.rename(tmp, path)
        self.dirty = False

    async def ticker(self):
        while True:
            await asyncio.sleep(0.2)
            if self.dirty:
                self.write_stats()

    def cut_all(self):
        for c in self.conns:
            if not c.closed:
                c.st["fault"] = "cut"
                c.close_both(reset=True)


class _Accept(Side):
    def __init__(self, proxy, conn):
        super().__init__(conn, "c")
        self.proxy = proxy

    def connection_made(self, transport):
        if self.proxy.cfg.get("refuse"):
            self.transport = transport
            self.conn.c = self
            self.conn.st["fault"] = "refused"
            self.conn.close_both(reset=False)
            return
        super().connection_made(transport)


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    proxy = Proxy(cfg, loop)
    srv = loop.run_until_complete(loop.create_server(
        proxy.factory, cfg.get("host", "127.0.0.1"), cfg["port"],
        reuse_address=True))
    proxy.write_stats()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, proxy.write_stats)
    loop.add_signal_handler(signal.SIGUSR2, proxy.cut_all)
    loop.create_task(proxy.ticker())
    if cfg.get("ready"):
        with open(cfg["ready"], "w") as f:
            f.write("%d\n" % os.getpid())
    loop.run_until_complete(stop.wait())
    srv.close()
    proxy.cut_all()
    proxy.write_stats()


if __name__ == "__main__":
    main()
