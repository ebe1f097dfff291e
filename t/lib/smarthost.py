#!/usr/bin/python3
"""A scriptable SMTP smart host on aiosmtpd, run as its own process.

    /usr/bin/python3 t/lib/smarthost.py CONFIG.json

Tests normally use the wrapper mhtest.SmartHost (see mhtest.py), which writes
the config, starts this process, waits for the port and stops it by PID.

CONFIG.json keys (all optional except port and outdir):
  host, port          listen address (default 127.0.0.1)
  outdir              where received messages and connection logs go
  hostname            name in the greeting/EHLO (default smarthost.test)
  tls                 "none" | "starttls" | "smtps" (implicit TLS)
  cert, key           PEM files (from mhtest.CA.issue) for starttls/smtps
  require_starttls    530 to everything but EHLO/NOOP/QUIT before STARTTLS
  users               {"user": "password"}  (AUTH PLAIN, LOGIN, CRAM-MD5)
  tokens              {"user": "access-token"}  (AUTH XOAUTH2 / OAUTHBEARER)
  auth_mechs          mechanisms offered (default ["PLAIN", "LOGIN"]);
                      may add "CRAM-MD5", "XOAUTH2", "OAUTHBEARER"
  auth_required       530 5.7.0 for MAIL/RCPT/DATA until AUTH succeeded
  auth_require_tls    offer/accept AUTH only under TLS (default true)
  ehlo                false: EHLO gets 502 (HELO works), for HELO fallback
  ehlo_extra          extra EHLO capability lines, e.g. ["X-TEST", "DSN"]
  starttls_reply      STARTTLS (still advertised) gets this reply instead,
                      e.g. "454 4.7.0 TLS not available due to temporary reason"
  auth_reply          every AUTH gets this reply, e.g. "454 4.7.0 Temporary
                      authentication failure"
  pipelining          advertise PIPELINING (default true; aiosmtpd reads
                      pipelined commands either way)
  chunking            advertise CHUNKING and accept BDAT (default false)
  size                SIZE limit: advertised and enforced (552); 0 = none
                      advertised, no limit; default 33554432
  rcpt                {"addr": REPLY} scripted RCPT replies, where REPLY is
                      "550 5.1.1 text", or 450/550 (default text), or
                      {"reply": "450 4.2.0 later", "times": N} = the first N
                      RCPTs for that address get it, later ones are accepted.
                      Addresses compare case-insensitively, no brackets.
  mail                the same for MAIL FROM senders
  data_replies        {"N": REPLY} reply to the N-th DATA/BDAT-LAST (counting
                      from 1 over the server's life) instead of 250
  drop_after_messages N: after the 250 for the N-th accepted message (over the
                      server's life) the connection is closed at once
  drop_before_reply   N: the N-th message's data is read in full, then the
                      connection is closed with no reply (recorded, reply null)
  drop_in_data        [N, K]: close the connection after K bytes of the N-th
                      message's DATA/BDAT payload (recorded, reply null)
  reply_delay         seconds to wait before answering each DATA/BDAT LAST
  greeting_delay      seconds to wait before the greeting
  timeout             idle seconds before the server hangs up (default 60)
  greeting            refuse every connection with this line (e.g.
                      "421 4.3.2 busy"), then hang up

Output in outdir (append-only; read them through mhtest.SmartHost):
  data.bin            message data, one after another: DATA after removing
                      the dot-stuffing and the final ".", line endings as sent
                      (bare CR/LF kept); or the BDAT chunks concatenated
  messages.jsonl      one line per DATA/BDAT transaction, written after its
                      data: {"seq", "conn", "peer": [ip, port], "helo", "tls",
                       "tls_version", "auth_user", "mail_from", "mail_options",
                       "rcpt_tos", "rcpt_options", "size", "data_offset",
                       "via": "DATA"|"BDAT", "reply": "250 ..." or null when
                       dropped, "dropped": why or null}
                      seq counts transactions over the server's life (from 1).
  conns.jsonl         one line per connection event, "conn" numbered from 1:
                      {"ev": "connect", "peer"} / {"ev": "cmd", "line", "tls"}
                      (AUTH continuation lines are not logged) /
                      {"ev": "auth", "user", "mech", "ok"} / {"ev": "drop"} /
                      {"ev": "close"}
  ready               written once listening (no probe connection needed)
  A restart on the same outdir continues the numbering.

Stops on SIGTERM.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import signal
import ssl
import sys
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, MISSING

DEFAULT_TEXT = {450: "450 4.2.0 Mailbox busy, try later",
                451: "451 4.3.0 Local error, try later",
                452: "452 4.3.1 Insufficient storage",
                550: "550 5.1.1 No such user",
                552: "552 5.3.4 Message too big",
                554: "554 5.7.1 Rejected"}


def reply_text(r):
    if isinstance(r, int):
        return DEFAULT_TEXT.get(r, "%d Scripted reply" % r)
    return r


class Script:
    """Per-address scripted replies with attempt counting."""

    def __init__(self, table):
        self.table = {}
        for addr, r in (table or {}).items():
            if isinstance(r, dict):
                self.table[addr.lower()] = [reply_text(r["reply"]),
                                            r.get("times")]
            else:
                self.table[addr.lower()] = [reply_text(r), None]

    def reply(self, addr):
        ent = self.table.get(addr.lower().strip("<>"))
        if ent is None:
            return None
        if ent[1] is None:
            return ent[0]
        if ent[1] > 0:
            ent[1] -= 1
            return ent[0]
        return None


class State:
    def __init__(self, cfg):
        self.cfg = cfg
        self.outdir = cfg["outdir"]
        # Numbering goes on across a restart on the same outdir.
        self.conns = self.seq = self.accepted = 0
        for rec in read_jsonl(os.path.join(self.outdir, "conns.jsonl")):
            if rec["ev"] == "connect":
                self.conns = max(self.conns, rec["conn"])
        for rec in read_jsonl(os.path.join(self.outdir, "messages.jsonl")):
            self.seq = max(self.seq, rec["seq"])
            if (rec["reply"] or "").startswith("2"):
                self.accepted += 1
        # Append-only files, each record one write(): cheap enough for
        # benchmarks (no file per message, no rename).
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        self.conns_fd = os.open(os.path.join(self.outdir, "conns.jsonl"),
                                flags, 0o644)
        self.msgs_fd = os.open(os.path.join(self.outdir, "messages.jsonl"),
                               flags, 0o644)
        self.data_fd = os.open(os.path.join(self.outdir, "data.bin"),
                               flags, 0o644)
        self.data_size = os.fstat(self.data_fd).st_size
        self.rcpt = Script(cfg.get("rcpt"))
        self.mail = Script(cfg.get("mail"))
        self.by_peer = {}     # peer -> Server, for the command log

    def log_conn(self, ev):
        os.write(self.conns_fd, (json.dumps(ev) + "\n").encode())

    def add_message(self, rec, data):
        off = self.data_size
        view = memoryview(data)
        while view:
            n = os.write(self.data_fd, view)
            view = view[n:]
        self.data_size += len(data)
        rec["data_offset"] = off
        os.write(self.msgs_fd, (json.dumps(rec) + "\n").encode())


def read_jsonl(path):
    """Complete lines of an append-only JSON-lines file."""
    out = []
    try:
        with open(path, "rb") as f:
            for line in f:
                if line.endswith(b"\n"):
                    out.append(json.loads(line))
    except FileNotFoundError:
        pass
    return out


class CmdLog(logging.Handler):
    """aiosmtpd logs every command line as '%r >> %r': turn that into
    per-connection records (which also show what was sent before TLS)."""

    def __init__(self, state):
        super().__init__(logging.INFO)
        self.state = state

    def emit(self, rec):
        if rec.msg != "%r >> %r" or len(rec.args) != 2:
            return
        srv = self.state.by_peer.get(rec.args[0])
        if srv is None:
            return
        line = rec.args[1]
        if isinstance(line, bytes):
            line = line.decode("utf-8", "backslashreplace")
        srv.event({"ev": "cmd", "line": line, "tls": srv.is_tls()})


class Handler:
    def __init__(self, state):
        self.state = state
        cfg = state.cfg
        self.users = cfg.get("users") or {}
        self.tokens = cfg.get("tokens") or {}
        mechs = cfg.get("auth_mechs") or ["PLAIN", "LOGIN"]
        # aiosmtpd names handler mechanisms after auth_* methods.
        if "CRAM-MD5" in mechs:
            self.auth_CRAM__MD5 = self._cram_md5
        if "XOAUTH2" in mechs:
            self.auth_XOAUTH2 = self._xoauth2
        if "OAUTHBEARER" in mechs:
            self.auth_OAUTHBEARER = self._oauthbearer

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        cfg = self.state.cfg
        if cfg.get("ehlo", True) is False:
            session.extended_smtp = False
            return ["502 5.5.1 Error: command \"EHLO\" not recognized"]
        session.host_name = hostname
        server.helo = hostname
        last = responses.pop()                    # "250 HELP"
        for extra in cfg.get("ehlo_extra") or []:
            responses.append("250-" + extra)
        if cfg.get("pipelining", True):
            responses.append("250-PIPELINING")
        if cfg.get("chunking"):
            responses.append("250-CHUNKING")
        responses.append("250-ENHANCEDSTATUSCODES")
        responses.append(last)
        return responses

    async def handle_AUTH(self, server, session, envelope, args):
        r = self.state.cfg.get("auth_reply")
        if r:
            self._auth_event(server, args[0], None, False)
            return r
        return MISSING

    async def handle_HELO(self, server, session, envelope, hostname):
        session.host_name = hostname
        server.helo = hostname
        return "250 %s" % server.hostname

    async def handle_MAIL(self, server, session, envelope, address, options):
        r = self.state.mail.reply(address)
        if r is not None:
            return r
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        r = self.state.rcpt.reply(address)
        if r is not None:
            return r
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    def _auth_event(self, server, mech, user, ok):
        server.event({"ev": "auth", "mech": mech, "user": user, "ok": ok})

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        user = auth_data.login.decode("utf-8", "replace")
        pw = auth_data.password.decode("utf-8", "replace")
        ok = user in self.users and hmac.compare_digest(
            self.users[user].encode(), pw.encode())
        self._auth_event(server, mechanism, user, ok)
        if ok:
            server.authed_user = user
        return AuthResult(success=ok, handled=False,
                          auth_data=auth_data if ok else None)

    async def _cram_md5(self, server, args):
        if len(args) != 1:
            await server.push("501 5.5.2 No initial response for CRAM-MD5")
            return AuthResult(success=False, handled=True)
        chal = "<%d.%d@%s>" % (os.getpid(), time.monotonic_ns(),
                                server.hostname)
        resp = await server.challenge_auth(chal)
        if resp is MISSING:
            return AuthResult(success=False, handled=True)
        try:
            user, digest = resp.decode().rsplit(" ", 1)
        except ValueError:
            return AuthResult(success=False, handled=False)
        pw = self.users.get(user)
        ok = pw is not None and hmac.compare_digest(
            hmac.new(pw.encode(), chal.encode(), hashlib.md5).hexdigest(),
            digest.lower())
        self._auth_event(server, "CRAM-MD5", user, ok)
        if ok:
            server.authed_user = user
        return AuthResult(success=ok, handled=False,
                          auth_data=LoginPassword(user.encode(), b"")
                          if ok else None)

    async def _bearer(self, server, args, mech, parse):
        if len(args) == 2:
            blob = args[1]
            try:
                raw = base64.b64decode(blob, validate=True)
            except Exception:
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        else:
            raw = await server.challenge_auth("")
            if raw is MISSING:
                return AuthResult(success=False, handled=True)
        user, token = parse(raw.decode("utf-8", "replace"))
        ok = (user is not None and user in self.tokens
              and hmac.compare_digest(self.tokens[user].encode(),
                                      (token or "").encode()))
        self._auth_event(server, mech, user, ok)
        if ok:
            server.authed_user = user
            return AuthResult(success=True,
                              auth_data=LoginPassword(user.encode(), b""))
        # As Gmail: a 334 with a JSON error, the client answers empty, 535.
        err = json.dumps({"status": "401", "schemes": "bearer",
                          "scope": "https://mail.google.com/"})
        await server.challenge_auth(err)
        await server.push("535 5.7.8 Username and Password not accepted")
        return AuthResult(success=False, handled=True)

    async def _xoauth2(self, server, args):
        def parse(s):
            user = token = None
            for part in s.split("\x01"):
                if part.startswith("user="):
                    user = part[5:]
                elif part.startswith("auth=Bearer "):
                    token = part[12:]
            return user, token
        return await self._bearer(server, args, "XOAUTH2", parse)

    async def _oauthbearer(self, server, args):
        def parse(s):
            user = token = None
            fields = s.split("\x01")
            gs2 = fields[0].split(",")
            for g in gs2:
                if g.startswith("a="):
                    user = g[2:]
            for part in fields[1:]:
                if part.startswith("auth=Bearer "):
                    token = part[12:]
            return user, token
        return await self._bearer(server, args, "OAUTHBEARER", parse)


class Server(SMTP):
    def __init__(self, state, handler, implicit_tls, **kw):
        self.state = state
        self.implicit_tls = implicit_tls
        self.helo = None
        self.authed_user = None
        self.conn = None
        self.closed_logged = False
        self.bdat_buf = None
        self.out = []
        super().__init__(handler, **kw)

    # --- bookkeeping -----------------------------------------------------
    def is_tls(self):
        return bool(self.implicit_tls or self._tls_protocol)

    def event(self, ev):
        if self.conn is not None and not self.closed_logged:
            ev["conn"] = self.conn
            self.state.log_conn(ev)

    def connection_made(self, transport):
        first = self.conn is None
        super().connection_made(transport)
        if first:
            st = self.state
            st.conns += 1
            self.conn = st.conns
            self.peer = self.session.peer
            st.by_peer[self.peer] = self
            self.event({"ev": "connect", "peer": list(self.peer[:2])})

    def connection_lost(self, error):
        if self.conn is not None and not self.closed_logged:
            self.event({"ev": "close"})
            self.closed_logged = True
            self.state.by_peer.pop(self.peer, None)
        super().connection_lost(error)

    async def _handle_client(self):
        if self.state.cfg.get("greeting_delay"):
            await asyncio.sleep(self.state.cfg["greeting_delay"])
        g = self.state.cfg.get("greeting")
        if g:
            # A scripted refusal (e.g. "421 4.3.2 busy"): say it, hang up.
            await self.push(g)
            self.transport.close()
            return
        return await super()._handle_client()

    async def push(self, status):
        """Replies to pipelined commands leave in one write, once no
        further command is waiting in the input (as RFC 2920 servers do)."""
        if isinstance(status, str):
            status = status.encode("utf-8" if self.enable_SMTPUTF8
                                   else "ascii")
        self.out.append(status + b"\r\n")
        if status[3:4] == b"-":
            return
        if (status[:3] in (b"220", b"221", b"334", b"354")
                or not self._reader._buffer or len(self.out) > 64):
            self.flush()
            await self._writer.drain()

    def flush(self):
        if self.out and self.transport is not None:
            self._writer.write(b"".join(self.out))
        self.out = []

    def drop(self):
        self.flush()
        self.event({"ev": "drop"})
        t = self._original_transport or self.transport
        # abort(): no TLS close_notify, no FIN handshake niceties
        if self.transport is not None:
            self.transport.abort()
        if t is not None and t is not self.transport:
            t.abort()

    # --- message end ------------------------------------------------------
    def record(self, data, via, reply, dropped=None):
        st = self.state
        sslobj = self.transport.get_extra_info("ssl_object") \
            if self.transport is not None else None
        env = self.envelope
        rec = {"seq": st.seq, "conn": self.conn,
               "peer": list(self.peer[:2]), "helo": self.helo,
               "tls": self.is_tls(),
               "tls_version": sslobj.version() if sslobj else None,
               "auth_user": self.authed_user,
               "mail_from": env.mail_from, "mail_options": env.mail_options,
               "rcpt_tos": env.rcpt_tos, "rcpt_options": env.rcpt_options,
               "size": len(data), "via": via, "reply": reply,
               "dropped": dropped}
        st.add_message(rec, data)

    async def finish(self, data, via):
        """Reply to a complete message; returns False if the connection
        was dropped."""
        st = self.state
        cfg = st.cfg
        st.seq += 1
        if cfg.get("drop_before_reply") == st.seq:
            self.record(data, via, None, "before-reply")
            self.drop()
            return False
        if cfg.get("reply_delay"):
            await asyncio.sleep(cfg["reply_delay"])
        reply = (cfg.get("data_replies") or {}).get(str(st.seq))
        if reply is not None:
            reply = reply_text(reply)
        else:
            reply = "250 2.0.0 OK queued as %06d" % st.seq
        if reply.startswith("2"):
            st.accepted += 1
        self.record(data, via, reply)
        self._set_post_data_state()
        self.bdat_buf = None
        await self.push(reply)
        if reply.startswith("2") and cfg.get("drop_after_messages") == st.accepted:
            self.drop()
            return False
        return True

    def drop_point(self):
        d = self.state.cfg.get("drop_in_data")
        if d and d[0] == self.state.seq + 1:
            return d[1]
        return None

    async def smtp_DATA(self, arg):
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        if not self.envelope.rcpt_tos:
            return await self.push("503 5.5.1 Error: need RCPT command")
        if arg:
            return await self.push("501 5.5.4 Syntax: DATA")
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        limit = self.data_size_limit
        dropat = self.drop_point()
        raw = 0
        lines = []
        too_big = False
        while True:
            try:
                line = await self._reader.readuntil(b"\r\n")
            except asyncio.LimitOverrunError as e:
                line = await self._reader.read(e.consumed)
            except asyncio.IncompleteReadError:
                return
            if dropat is not None and raw + len(line) > dropat:
                part = line[:dropat - raw]
                self.state.seq += 1
                self.record(b"".join(lines) + part, "DATA", None, "in-data")
                self.drop()
                return
            raw += len(line)
            if line == b".\r\n" and (not lines or lines[-1].endswith(b"\r\n")):
                break
            if line.startswith(b".") and (not lines
                                          or lines[-1].endswith(b"\r\n")):
                line = line[1:]
            if limit and raw > limit:
                too_big = True
                lines = []
                continue
            lines.append(line)
        if too_big:
            self._set_post_data_state()
            return await self.push("552 5.3.4 Error: Too much mail data")
        await self.finish(b"".join(lines), "DATA")

    async def smtp_BDAT(self, arg):
        if not self.state.cfg.get("chunking"):
            return await self.push('500 Error: command "BDAT" not recognized')
        parts = (arg or "").split()
        if (not parts or len(parts) > 2 or not parts[0].isdigit()
                or (len(parts) == 2 and parts[1].upper() != "LAST")):
            # Syntax error: the client's chunk length is unknown; hang up as
            # RFC 3030 permits.
            await self.push("501 5.5.4 Syntax: BDAT size [LAST]")
            self.drop()
            return
        size = int(parts[0])
        last = len(parts) == 2
        dropat = self.drop_point()
        base = len(self.bdat_buf) if self.bdat_buf is not None else 0
        if dropat is not None and base + size > dropat:
            chunk = await self._reader.readexactly(max(0, dropat - base))
            self.state.seq += 1
            self.record((self.bdat_buf or b"") + chunk, "BDAT", None, "in-data")
            self.drop()
            return
        try:
            chunk = await self._reader.readexactly(size)
        except asyncio.IncompleteReadError:
            return
        # Checks after reading: the chunk must be consumed either way.
        if not self.session.host_name:
            return await self.push("503 5.5.1 Error: send EHLO first")
        if self._auth_required and not self.session.authenticated:
            return await self.push("530 5.7.0 Authentication required")
        if not self.envelope.rcpt_tos:
            self.bdat_buf = None
            return await self.push("503 5.5.1 Error: need RCPT command")
        if self.bdat_buf is None:
            self.bdat_buf = bytearray()
        self.bdat_buf += chunk
        limit = self.data_size_limit
        if limit and len(self.bdat_buf) > limit:
            self.bdat_buf = None
            self._set_post_data_state()
            return await self.push("552 5.3.4 Error: Too much mail data")
        if not last:
            return await self.push("250 2.0.0 %d octets received" % size)
        await self.finish(bytes(self.bdat_buf), "BDAT")

    async def smtp_STARTTLS(self, arg):
        r = self.state.cfg.get("starttls_reply")
        if r and not arg:
            return await self.push(r)
        return await super().smtp_STARTTLS(arg)

    async def smtp_RSET(self, arg):
        self.bdat_buf = None
        return await super().smtp_RSET(arg)


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    os.makedirs(cfg["outdir"], exist_ok=True)
    state = State(cfg)
    logging.getLogger("mail.log").setLevel(logging.INFO)
    logging.getLogger("mail.log").addHandler(CmdLog(state))
    logging.getLogger("mail.log").propagate = False

    tls = cfg.get("tls", "none")
    ctx = None
    if tls in ("starttls", "smtps"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cfg["cert"], cfg["key"])
    handler = Handler(state)
    size = cfg.get("size", 33554432)
    mechs = cfg.get("auth_mechs") or ["PLAIN", "LOGIN"]
    exclude = [m for m in ("PLAIN", "LOGIN") if m not in mechs]
    kw = dict(hostname=cfg.get("hostname", "smarthost.test"),
              ident="ESMTP mailhub-test",
              data_size_limit=size or None,
              tls_context=ctx if tls == "starttls" else None,
              require_starttls=bool(cfg.get("require_starttls")),
              auth_required=bool(cfg.get("auth_required")),
              # Under implicit TLS the whole connection is encrypted.
              auth_require_tls=(cfg.get("auth_require_tls", True)
                                and tls != "smtps"),
              auth_exclude_mechanism=exclude,
              authenticator=handler.authenticator,
              timeout=cfg.get("timeout", 60))

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def factory():
        return Server(state, handler, tls == "smtps", loop=loop, **kw)

    srv = loop.run_until_complete(loop.create_server(
        factory, host=cfg.get("host", "127.0.0.1"), port=cfg["port"],
        ssl=ctx if tls == "smtps" else None, reuse_address=True))
    with open(os.path.join(cfg["outdir"], "ready"), "w") as f:
        f.write("%d\n" % os.getpid())
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.run_until_complete(stop.wait())
    srv.close()
    loop.close()


if __name__ == "__main__":
    import warnings
    warnings.simplefilter("ignore")
    main()
